"""`linli simulate` and the embedded mode of `linli demo`: gateway and simulator in a background thread."""

from __future__ import annotations

import threading

import pytest

from linli.ingest.service import Embedded
from linli.ingest.simulator import Model
from linli.iot.models import Alarm, Telemetry

from .conftest import free_port, wait_for


def test_embedded_gateway_and_simulator_store_the_devices_reports(devices):
    embedded = Embedded(port=free_port(), interval=0.3).start()
    try:
        assert embedded.gateway is not None and embedded.gateway.port == embedded.port
        reporting = Telemetry.objects.filter(device__in=[devices.device, devices.other])
        assert wait_for(lambda: reporting.values("device").distinct().count() == 2, 20)
        keys = set(Telemetry.objects.filter(device=devices.device).values_list("key", flat=True))
        assert keys <= {"temperature", "humidity"} and keys
    finally:
        embedded.stop()
    assert embedded.simulator.sent > 0 and embedded.simulator.errors == 0


@pytest.mark.django_db(transaction=True)
def test_a_spike_is_far_out_of_range_and_raises_the_alarm(devices):
    import random

    model = Model(["temperature", "humidity", "water_m3"], random.Random(1))
    normal = [model.sample(0, None) for _ in range(200)]
    assert all(10 < s["temperature"] < 35 for s in normal)
    counters = [s["water_m3"] for s in normal]
    assert counters == sorted(counters)  # a meter only counts up
    assert model.sample(0, "temperature")["temperature"] > 60  # above the rule's threshold
    embedded = Embedded(port=free_port(), interval=0.2)
    embedded.simulate = False
    embedded.start()
    try:
        import asyncio

        from linli.ingest.simulator import Simulator
        from linli.iot import pipeline

        ref = pipeline.authenticate(devices.device.access_token)  # what the simulator gets: keys, kind, token
        sim = Simulator([ref], "127.0.0.1", embedded.port, interval=0.2, spike_rate=1.0, miss_rate=0, seed=3)
        # in a thread of its own: the browser tests' Playwright keeps an event loop in the main thread
        runner = threading.Thread(target=lambda: asyncio.run(sim.run(duration=1.5)))
        runner.start()
        runner.join(30)
        assert wait_for(lambda: Alarm.objects.filter(device=devices.device).exists(), 10)
    finally:
        embedded.stop()
