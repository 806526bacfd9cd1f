"""Two gateway processes sharing sessions through a real Redis (scaled mode, `LINLI_REDIS_URL`).

Each gateway runs in its own thread with its own event loop, Front and SharedSessions, as two processes would;
they share only PostgreSQL/SQLite and Redis. Devices are paho clients.
"""

from __future__ import annotations

import os
import time
import uuid

import paho.mqtt.client as mqtt
import pytest

from linli.iot import services
from linli.iot.models import Device as DeviceRow

from .conftest import ThreadService, wait_for
from .test_gateway import Device

REDIS_URL = os.environ.get("LINLI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def prefix():
    """A key prefix of this test's own, so tests (and CI runs) sharing a Redis never see each other."""
    import redis

    prefix = f"linli-test:{uuid.uuid4().hex[:12]}:"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail(f"these tests need Redis at {REDIS_URL}: run scripts/ensure-redis")
    yield prefix
    for key in client.scan_iter(prefix + "*"):
        client.delete(key)
    client.close()


def start_gateway(prefix):
    from linli.ingest.gateway import DeviceGateway
    from linli.ingest.shared import SharedSessions

    async def factory(front):
        gateway = DeviceGateway(front, "127.0.0.1", 0)
        gateway.shared = SharedSessions(REDIS_URL, gateway.taken_over, prefix=prefix)
        await gateway.start()
        return gateway

    return ThreadService(factory).start()


@pytest.fixture
def two_gateways(devices, prefix):
    first, second = start_gateway(prefix), start_gateway(prefix)
    yield first, second
    first.stop()
    second.stop()


@pytest.mark.parametrize("version", [mqtt.MQTTv311, mqtt.MQTTv5])
def test_a_client_id_connecting_to_another_process_takes_its_session_over(devices, two_gateways, version):
    a, b = (running.service for running in two_gateways)
    token = devices.device.access_token
    persistent = {"clean": False} | ({"expiry": 3600} if version == mqtt.MQTTv5 else {})
    first = Device(a.port, token, version, client_id="thermo-1", **persistent)

    def stay_away(client, *args):  # paho would connect again and take the session back
        first.disconnects += 1
        client.disconnect()

    first.client.on_disconnect = stay_away
    second = None
    try:
        first.subscribe("v1/devices/me/attributes")
        assert wait_for(lambda: DeviceRow.objects.get(pk=devices.device.pk).connected)
        second = Device(b.port, token, version, client_id="thermo-1", **persistent)
        # the older connection is closed by the process that held it, and that process forgets the session
        assert wait_for(lambda: first.disconnects >= 1), "the first connection was not taken over"
        assert wait_for(lambda: "thermo-1" not in a.sessions)
        # the session (its subscription) came along: an update reaches the device without subscribing again
        assert second.connack[2].session_present
        services.set_shared_attributes(devices.device, {"reportPeriod": 45})
        assert second.received("v1/devices/me/attributes") == {"reportPeriod": 45}
        time.sleep(1.5)  # both processes have written their connection changes
        assert DeviceRow.objects.get(pk=devices.device.pk).connected  # the old process did not mark it away
    finally:
        first.client.loop_stop()
        if second is not None:
            second.close()


@pytest.mark.parametrize("second", ["clean start, same device", "persistent, another device"])
def test_a_stored_session_goes_neither_to_a_clean_start_nor_to_another_device(devices, two_gateways, second):
    a, b = (running.service for running in two_gateways)
    persistent = {"client_id": "shared-id", "clean": False, "expiry": 3600}
    first = Device(a.port, devices.device.access_token, mqtt.MQTTv5, **persistent)
    first.subscribe("v1/devices/me/attributes")
    first.close()
    if second == "clean start, same device":
        other = Device(b.port, devices.device.access_token, mqtt.MQTTv5, client_id="shared-id", clean=True)
    else:
        other = Device(b.port, devices.other.access_token, mqtt.MQTTv5, **persistent)
    try:
        assert not other.connack[2].session_present
        assert b.sessions["shared-id"].subscriptions == {}
    finally:
        other.close()


def test_a_late_takeover_notice_does_not_close_a_newer_connection(devices, two_gateways):
    running = two_gateways[0]
    a = running.service
    device = Device(a.port, devices.device.access_token, mqtt.MQTTv5, client_id="thermo-1")
    try:
        # announced a minute ago, before this connection was made (a message Redis delivered late)
        running.loop.call_soon_threadsafe(a.taken_over, "thermo-1", time.time() - 60)
        time.sleep(0.3)
        assert device.disconnects == 0 and "thermo-1" in a.sessions
    finally:
        device.close()
