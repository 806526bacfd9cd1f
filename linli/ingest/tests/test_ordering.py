"""Rules see each device's readings in the order they arrived, whatever the ingest path does in parallel.

Found by the ingest benchmark: a threshold crossing followed a moment later by a normal reading sometimes left
no alarm row, because two writer threads stored adjacent batches at once and the rules evaluated the newer one
first (the older reading then counted as late and was skipped); the two writers also deadlocked on the same
device's latest values. Now a device's readings always go to one writer. Broker mode had a second cause: a
message that waited for its device's token lookup could be overtaken by the device's next message.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from linli.ingest.front import Batcher, Front
from linli.iot import pipeline
from linli.iot.models import Alarm, Device, Telemetry
from linli.iot.pipeline import Reading
from linli.iot.testing import make_device

from .conftest import wait_for


def in_own_thread(coroutine):
    """asyncio.run in a thread of its own: the browser tests leave a loop running in the main thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def until(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


class CountingSeam:
    """The real seam, counting token lookups (and queries) and making each query take a moment."""

    def __init__(self, delay: float = 0.0):
        self.lookups: list[str] = []
        self.queries = 0
        self.delay = delay

    def __getattr__(self, name):
        return getattr(pipeline, name)

    def authenticate_many(self, tokens):
        self.lookups += tokens
        self.queries += 1
        time.sleep(self.delay)
        return pipeline.authenticate_many(tokens)


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite has one writer (its writes cannot overlap)"
)
def test_a_devices_batches_are_stored_in_order_by_one_writer_while_another_stores_other_devices(devices):
    """Batch 1 holds 85 °C, batch 2 the same device's next reading (20 °C) a second later, batch 3 another
    device. The first write is slow to start: the device's second batch must wait for it (else the rules would
    see 20 °C first and skip 85 °C as late, and the two writes would lock the same rows), the other device's
    batch must not."""
    device, other = devices.device.pk, devices.other.pk
    now = int(time.time() * 1000)
    calls = []

    def store(readings, **kwargs):
        calls.append((readings[0].device_id, readings[0].values["temperature"], time.monotonic()))
        if len(calls) == 1:
            time.sleep(0.5)  # the first writer is slow (a long lookup, a busy core)
        return pipeline.store_telemetry(readings, **kwargs)

    async def run():
        batcher = Batcher(asyncio.get_running_loop(), store, max_batch=1, writers=2)
        acks = []
        started = time.monotonic()
        batcher.add([Reading(device, now, {"temperature": 85})], acks.append, device)
        batcher.add([Reading(device, now + 1000, {"temperature": 20})], acks.append, device)
        batcher.add([Reading(other, now, {"temperature": 21})], acks.append, other)
        await batcher.drain()
        batcher.close()
        return acks, started

    acks, started = in_own_thread(run())
    assert acks == [0, 0, 0]
    assert [(d, t) for d, t, _ in calls] == [(device, 85), (other, 21), (device, 20)]
    assert calls[1][2] - started < 0.3  # the other device did not wait for the slow write
    assert calls[2][2] - started >= 0.5  # the device's next batch did
    alarm = Alarm.objects.get(device_id=device, type="high_temperature")
    assert alarm.cleared  # raised by 85 °C, then cleared by the normal reading after it


def test_broker_worker_keeps_a_devices_messages_in_order_while_its_token_is_looked_up(devices):
    """Messages 1 and 2 arrive while the device's token is looked up; message 3 arrives just as message 1 is
    handed on (the next socket read in the same turn of the loop). 3 must not overtake 2, the hot reading."""
    from linli.ingest.broker import BrokerWorker

    device = devices.device
    now = int(time.time() * 1000)
    temperatures = [20.0, 85.0, 20.0]
    seam = CountingSeam(delay=0.2)

    async def run():
        front = Front(max_delay=0.005, max_batch=1)
        front.pipeline = seam
        worker = BrokerWorker(front, "mqtt://127.0.0.1:1", "order")
        acked, order = [], []

        def message(i):
            payload = f'{{"ts":{now + i * 1000},"values":{{"temperature":{temperatures[i]}}}}}'
            worker._route(device.access_token, "v1/devices/me/telemetry", payload.encode(), acked.append)

        add = front.batcher.add

        def add_and_receive_the_next(readings, callback, key):
            order.append(readings[0].ts_ms - now)
            add(readings, callback, key)
            if len(order) == 1:
                message(2)

        front.batcher.add = add_and_receive_the_next
        message(0)
        message(1)
        await until(lambda: len(acked) == 3)
        await front.batcher.drain()
        front.close()
        return acked, order

    acked, order = in_own_thread(run())
    assert acked == [0, 0, 0]
    assert order == [0, 1000, 2000]
    assert seam.lookups == [device.access_token]  # one lookup for all of them
    alarm = wait_for(lambda: Alarm.objects.filter(device=device, type="high_temperature").first())
    assert alarm is not None and alarm.cleared


def test_broker_worker_answers_from_an_expired_entry_and_looks_the_token_up_again_meanwhile(devices):
    from linli.ingest.broker import BrokerWorker

    device = devices.device
    seam = CountingSeam(delay=0.2)

    async def run():
        front = Front(max_delay=0.005, auth_ttl=0.0)
        front.pipeline = seam
        worker = BrokerWorker(front, "mqtt://127.0.0.1:1", "stale")
        acked = []
        payload = b'{"temperature": 21}'
        worker._route(device.access_token, "v1/devices/me/telemetry", payload, acked.append)
        await until(lambda: acked)
        # the entry has expired (ttl 0): the next message goes on at once, while the token is looked up again
        worker._route(device.access_token, "v1/devices/me/telemetry", payload, acked.append)
        handed_on = front.batcher.pending + front.batcher.stored
        await until(lambda: len(seam.lookups) == 2)
        await front.batcher.drain()
        front.close()
        return acked, handed_on

    acked, handed_on = in_own_thread(run())
    assert handed_on == 2  # the second message did not wait for the 0.2 s lookup
    assert acked == [0, 0] and seam.lookups == [device.access_token] * 2


def test_first_messages_of_many_devices_share_their_token_lookups(devices):
    """Broker mode's first message of each of 300 devices (or 300 devices reconnecting to a gateway): tokens
    asked for in one turn of the loop are looked up in one query, and each device's answer is its own."""
    from linli.ingest.broker import BrokerWorker

    region = devices.device.region_id
    profile = devices.device.profile
    many = [make_device(region, profile, access_token=f"MANY-token-{n:06d}") for n in range(300)]
    seam = CountingSeam(delay=0.05)

    async def run():
        front = Front(max_delay=0.005)
        front.pipeline = seam
        worker = BrokerWorker(front, "mqtt://127.0.0.1:1", "many")
        acked = []
        for device in many:
            worker._route(
                device.access_token, "v1/devices/me/telemetry", b'{"temperature": 21}', acked.append
            )
        worker._route(
            "NOT-a-device-token-000", "v1/devices/me/telemetry", b'{"temperature": 21}', acked.append
        )
        await until(lambda: len(acked) == 301)
        await front.batcher.drain()
        answers = [front.cached_device(device.access_token)[1].id for device in many]
        front.close()
        return acked, answers, front.rejected["unknown_token"]

    acked, answers, unknown = in_own_thread(run())
    assert seam.queries == 1 and len(seam.lookups) == 301
    assert answers == [device.pk for device in many]
    assert unknown == 1 and acked.count(0) == 300
    assert wait_for(lambda: Telemetry.objects.filter(device__in=many).count() == 300)


def test_a_gateways_known_children_are_read_in_one_query(devices):
    """A gateway speaking for 50 known devices (and one new): its first message reads its children at once,
    not one query per child; the new one is created as before."""
    gateway = devices.gateway
    children = [
        make_device(gateway.region_id, devices.profile, name=f"child-{n:03d}", gateway=gateway)
        for n in range(50)
    ]
    calls = []

    class Seam(CountingSeam):
        def gateway_child(self, gateway, name, device_type):
            calls.append(name)
            return pipeline.gateway_child(gateway, name, device_type)

        def gateway_children(self, gateway):
            calls.append("all")
            return pipeline.gateway_children(gateway)

    ref = pipeline.authenticate(gateway.access_token)

    async def run():
        front = Front(max_delay=0.005)
        front.pipeline = Seam()
        found = await asyncio.gather(
            *(front.child(ref, c.name) for c in children), front.child(ref, "child-new")
        )
        front.close()
        return [device.id for device in found]

    found = in_own_thread(run())
    assert calls == ["all", "child-new"]
    assert found[:50] == [child.pk for child in children]
    assert Device.objects.get(pk=found[50]).gateway_id == gateway.pk
