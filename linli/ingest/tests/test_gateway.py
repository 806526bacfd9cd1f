"""The device gateway with real clients (paho MQTT 3.1.1 and 5), the real seam and a real database."""

from __future__ import annotations

import threading
import time

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from linli.iot import services
from linli.iot.models import Alarm, Attribute, Downlink, RejectCounter, Telemetry

from .conftest import wait_for

VERSIONS = {"3.1.1": mqtt.MQTTv311, "5": mqtt.MQTTv5}


class Device:
    """A paho client as a device: username = access token, records what it receives and its PUBACK codes."""

    def __init__(self, port, token, version=mqtt.MQTTv5, client_id="", clean=True, expiry=0, password=None):
        self.messages: list[tuple[str, object]] = []
        self.connack = None
        self.acks: dict[int, int] = {}
        self.subacks: list = []
        self.connected = threading.Event()
        self.version = version
        if version == mqtt.MQTTv311 and not client_id:
            client_id = f"dev-{time.monotonic_ns()}"
        kwargs = {} if version == mqtt.MQTTv5 else {"clean_session": clean}
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=version, **kwargs
        )
        self.client.username_pw_set(token, password)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_publish = lambda c, u, mid, rc, props: self.acks.__setitem__(mid, rc.value)
        self.client.on_subscribe = lambda c, u, mid, rcs, props: self.subacks.append([r.value for r in rcs])
        self.disconnects = 0
        self.client.on_disconnect = lambda *args: setattr(self, "disconnects", self.disconnects + 1)
        properties = None
        if version == mqtt.MQTTv5:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = expiry
        connect_kwargs = {"clean_start": clean} if version == mqtt.MQTTv5 else {}
        self.client.connect("127.0.0.1", port, keepalive=30, properties=properties, **connect_kwargs)
        self.client.loop_start()
        assert self.connected.wait(10), "no CONNACK"

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.connack = (reason_code.value, properties, flags)
        self.connected.set()

    def _on_message(self, client, userdata, message):
        try:
            payload = orjson.loads(message.payload)
        except orjson.JSONDecodeError:
            payload = message.payload
        self.messages.append((message.topic, payload))

    def subscribe(self, *topics):
        count = len(self.subacks)
        self.client.subscribe([(topic, 1) for topic in topics])
        assert wait_for(lambda: len(self.subacks) > count)
        return self.subacks[-1]

    def publish(self, topic, payload, qos=1):
        data = payload if isinstance(payload, bytes | str) else orjson.dumps(payload)
        info = self.client.publish(topic, data, qos=qos)
        info.wait_for_publish(10)
        assert wait_for(lambda: info.mid in self.acks) or qos == 0
        return self.acks.get(info.mid)

    def received(self, topic, timeout=10.0):
        found = wait_for(lambda: [p for t, p in self.messages if t == topic], timeout)
        return found[-1] if found else None

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def connect(gateway):
    opened = []

    def open_device(token, version="5", **kwargs):
        device = Device(gateway.port, token, VERSIONS[version], **kwargs)
        opened.append(device)
        return device

    yield open_device
    for device in opened:
        device.close()


def rows(device):
    return sorted(Telemetry.objects.filter(device=device).values_list("key", "ts", "num"))


def now_ms():
    return int(time.time() * 1000)


@pytest.mark.parametrize("version", ["3.1.1", "5"])
def test_every_telemetry_form_is_stored_and_acknowledged_after_it_is_durable(devices, connect, version):
    client = connect(devices.device.access_token, version)
    ts = now_ms() - 60_000
    assert client.publish("v1/devices/me/telemetry", {"temperature": 21.5}) == 0
    assert client.publish("v1/devices/me/telemetry", [{"humidity": 45}]) == 0
    assert client.publish("v1/devices/me/telemetry", {"ts": ts, "values": {"temperature": 22.0}}) == 0
    batch = [
        {"ts": ts + 1000, "values": {"temperature": 23.0}},
        {"ts": ts + 2000, "values": {"temperature": 24}},
    ]
    assert client.publish("v1/devices/me/telemetry", batch) == 0
    # the PUBACK came after the commit: the rows are there now, without waiting
    stored = rows(devices.device)
    assert ("temperature", ts, 22.0) in stored
    assert ("temperature", ts + 1000, 23.0) in stored and ("temperature", ts + 2000, 24.0) in stored
    assert {key for key, _, _ in stored} == {"temperature", "humidity"}
    assert len(stored) == 5


def test_mqtt5_client_without_id_gets_one_assigned_and_the_limits_of_the_session(devices, connect):
    client = connect(devices.device.access_token, "5")
    code, properties, _ = client.connack
    assert code == 0
    assert properties.AssignedClientIdentifier.startswith("linli-")
    assert properties.MaximumQoS == 1
    assert properties.ReceiveMaximum > 0


@pytest.mark.parametrize("version", ["3.1.1", "5"])
def test_unknown_token_is_refused_at_connect_and_counted(devices, gateway, version):
    client = Device(gateway.port, "NOT-A-KNOWN-token-0000", VERSIONS[version])
    client.client.loop_stop()
    # 3.1.1 return code 5 and MQTT 5 reason 0x87 both reach paho as "Not authorized" (135)
    assert client.connack[0] == 0x87
    assert wait_for(lambda: RejectCounter.objects.filter(reason="unknown_token").exists(), 5)


def test_bad_json_is_refused_counted_and_stores_nothing(devices, connect):
    client = connect(devices.device.access_token, "5")
    assert client.publish("v1/devices/me/telemetry", b"{not json") == 0x99  # payload format invalid
    assert client.publish("v1/devices/me/telemetry", b'{"ts": "yesterday", "values": {}}') == 0x99
    assert client.publish("v1/devices/me/telemetry", {"temperature": 20}) == 0  # the session goes on
    assert len(rows(devices.device)) == 1
    assert wait_for(
        lambda: RejectCounter.objects.filter(reason="malformed_payload", count__gte=2).exists(), 5
    )


@pytest.mark.parametrize("version", ["3.1.1", "5"])
def test_a_device_cannot_publish_to_another_devices_or_the_gateway_topics(devices, connect, version):
    client = connect(devices.device.access_token, version)
    refused = 0x87 if version == "5" else 0  # 3.1.1 has no negative PUBACK: dropped and counted
    assert client.publish(f"v1/devices/{devices.other.access_token}/telemetry", {"temperature": 1}) == refused
    assert client.publish("v1/devices/thermo-2/telemetry", {"temperature": 1}) == refused
    assert client.publish("v1/gateway/telemetry", {"thermo-2": [{"temperature": 1}]}) == refused
    assert client.subscribe("v1/devices/+/rpc/request/+", "#")[0] in (0x80, 0x87)
    assert Telemetry.objects.count() == 0
    assert wait_for(lambda: RejectCounter.objects.filter(reason="forbidden_topic", count__gte=3).exists(), 5)


@pytest.mark.parametrize("version", ["3.1.1", "5"])
def test_client_attributes_are_stored_and_attribute_requests_answered(devices, connect, version):
    services.set_shared_attributes(devices.device, {"targetTemp": 23})
    client = connect(devices.device.access_token, version)
    client.subscribe("v1/devices/me/attributes/response/+")
    assert client.publish("v1/devices/me/attributes", {"firmwareVersion": "1.0.2", "model": "T-1"}) == 0
    client_attrs = Attribute.objects.filter(device=devices.device, scope="client")
    assert dict(client_attrs.values_list("key", "value")) == {"firmwareVersion": "1.0.2", "model": "T-1"}
    client.publish("v1/devices/me/attributes/request/7", {"clientKeys": "model", "sharedKeys": "targetTemp"})
    answer = client.received("v1/devices/me/attributes/response/7")
    assert answer == {"client": {"model": "T-1"}, "shared": {"targetTemp": 23}}


@pytest.mark.parametrize("version", ["3.1.1", "5"])
def test_shared_attribute_update_is_pushed_to_the_subscribed_device(devices, connect, version):
    client = connect(devices.device.access_token, version)
    client.subscribe("v1/devices/me/attributes")
    downlink = services.set_shared_attributes(devices.device, {"reportPeriod": 30})
    assert client.received("v1/devices/me/attributes") == {"reportPeriod": 30}
    assert wait_for(lambda: Downlink.objects.get(pk=downlink.pk).status == "successful")


@pytest.mark.parametrize("version", ["3.1.1", "5"])
def test_server_side_rpc_round_trip(devices, connect, version):
    client = connect(devices.device.access_token, version)
    client.subscribe("v1/devices/me/rpc/request/+")
    command = services.send_rpc(devices.device, "setGpio", {"pin": 4, "value": 1})
    topic = f"v1/devices/me/rpc/request/{command.rpc_id}"
    assert client.received(topic) == {"method": "setGpio", "params": {"pin": 4, "value": 1}}
    assert wait_for(lambda: Downlink.objects.get(pk=command.pk).status == "delivered")
    client.publish(f"v1/devices/me/rpc/response/{command.rpc_id}", {"pin": 4, "value": 1})
    command.refresh_from_db()
    assert command.status == "successful" and command.response == {"pin": 4, "value": 1}


@pytest.mark.parametrize("version", ["3.1.1", "5"])
def test_client_side_rpc_and_get_session_limits(devices, connect, version):
    client = connect(devices.device.access_token, version)
    client.subscribe("v1/devices/me/rpc/response/+")
    client.publish("v1/devices/me/rpc/request/1", {"method": "getSessionLimits", "params": {"timeout": 5000}})
    limits = client.received("v1/devices/me/rpc/response/1")
    assert limits["maxPayloadSize"] > 0 and limits["maxInflightMessages"] > 0
    assert set(limits["rateLimits"]) == {"messages", "telemetryMessages", "telemetryDataPoints"}
    assert "gatewayRateLimits" not in limits
    client.publish("v1/devices/me/rpc/request/2", {"method": "getCurrentTime", "params": {}})
    assert abs(client.received("v1/devices/me/rpc/response/2")["currentTime"] - now_ms()) < 60_000


def test_persistent_session_gets_an_unacknowledged_rpc_again_after_reconnecting(devices, gateway):
    token = devices.device.access_token
    first = Device(gateway.port, token, mqtt.MQTTv311, client_id="thermo-1", clean=False)
    first.subscribe("v1/devices/me/rpc/request/+")
    first.close()
    command = services.send_rpc(devices.device, "reboot", {})
    time.sleep(1.0)  # queued while the device is away
    again = Device(gateway.port, token, mqtt.MQTTv311, client_id="thermo-1", clean=False)
    try:
        assert again.connack[2].session_present
        assert again.received(f"v1/devices/me/rpc/request/{command.rpc_id}") == {
            "method": "reboot",
            "params": {},
        }
    finally:
        again.close()


def test_gateway_topics_create_children_and_carry_their_data(devices, connect):
    gateway = connect(devices.gateway.access_token, "5")
    gateway.subscribe("v1/gateway/attributes/response", "v1/gateway/rpc", "v1/gateway/attributes")
    assert gateway.publish("v1/gateway/connect", {"device": "Meter-B2-301", "type": "water_meter"}) == 0
    ts = now_ms() - 5000
    telemetry = {
        "Meter-B2-301": [{"ts": ts, "values": {"volume_m3": 123.4}}],
        "Meter-B2-302": {"volume_m3": 7},
    }
    assert gateway.publish("v1/gateway/telemetry", telemetry) == 0
    from linli.iot.models import Device as DeviceRow

    child = DeviceRow.objects.get(name="Meter-B2-301")
    assert child.gateway_id == devices.gateway.pk and child.region_id == devices.gateway.region_id
    assert rows(child) == [("volume_m3", ts, 123.4)]
    assert DeviceRow.objects.filter(name="Meter-B2-302", gateway=devices.gateway).exists()
    assert gateway.publish("v1/gateway/attributes", {"Meter-B2-301": {"serial": "WM-0001"}}) == 0
    request = {"keys": ["serial"], "device": "Meter-B2-301", "client": True, "id": 1}
    gateway.publish("v1/gateway/attributes/request", request)
    answer = gateway.received("v1/gateway/attributes/response")
    assert answer == {"id": 1, "device": "Meter-B2-301", "values": {"serial": "WM-0001"}}
    # RPC to a device behind the gateway goes through the gateway's session, in the gateway envelope
    command = services.send_rpc(child, "close_valve", {})
    pushed = gateway.received("v1/gateway/rpc")
    assert pushed == {
        "device": "Meter-B2-301",
        "data": {"id": command.rpc_id, "method": "close_valve", "params": {}},
    }
    gateway.publish("v1/gateway/rpc", {"device": "Meter-B2-301", "id": command.rpc_id, "data": {"ok": True}})
    command.refresh_from_db()
    assert command.status == "successful"
    # a gateway cannot take over a device that is not its own
    assert gateway.publish("v1/gateway/telemetry", {"thermo-2": [{"temperature": 99}]}) == 0x87
    assert rows(devices.other) == []
    assert gateway.publish("v1/gateway/disconnect", {"device": "Meter-B2-301"}) == 0


def test_alarm_rule_fires_from_a_message_through_the_gateway(devices, connect):
    client = connect(devices.device.access_token, "5")
    assert client.publish("v1/devices/me/telemetry", {"temperature": 85}) == 0
    alarm = Alarm.objects.get(device=devices.device, type="high_temperature")
    assert not alarm.cleared


def test_provisioning_with_the_provision_username(devices, connect):
    profile = devices.profile
    profile.provision_key, profile.provision_secret = "prov-key-123", "prov-secret-456"
    profile.provision_region_id = devices.device.region_id
    profile.save()
    client = connect("provision", "3.1.1")
    client.subscribe("/provision/response")
    request = {
        "deviceName": "new-thermo",
        "provisionDeviceKey": "prov-key-123",
        "provisionDeviceSecret": "prov-secret-456",
    }
    client.publish("/provision/request", request)
    answer = client.received("/provision/response")
    assert answer["status"] == "SUCCESS" and answer["credentialsType"] == "ACCESS_TOKEN"
    assert client.publish("v1/devices/me/telemetry", {"temperature": 1}) == 0  # 3.1.1: dropped, counted
    fresh = Device(client.client._port, answer["credentialsValue"], mqtt.MQTTv5)
    try:
        assert fresh.publish("v1/devices/me/telemetry", {"temperature": 20}) == 0
    finally:
        fresh.close()
    from linli.iot.models import Device as DeviceRow

    assert len(rows(DeviceRow.objects.get(name="new-thermo"))) == 1


def test_malformed_packet_closes_only_that_connection(devices, gateway, connect):
    import socket

    raw = socket.create_connection(("127.0.0.1", gateway.port))
    raw.sendall(b"\x10\xff\xff\xff\xff\x7f")  # a remaining length longer than 4 bytes
    raw.settimeout(5)
    assert raw.recv(10) == b""  # closed by the gateway
    raw.close()
    client = connect(devices.device.access_token, "5")
    assert client.publish("v1/devices/me/telemetry", {"temperature": 20}) == 0
