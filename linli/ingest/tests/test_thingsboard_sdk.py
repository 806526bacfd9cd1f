"""The official ThingsBoard device SDK (tb-mqtt-client 1.13.14, unmodified) against our device gateway
(MQTT 5) and our HTTP device API."""

from __future__ import annotations

import threading
import time

import pytest

from linli.iot import services
from linli.iot.models import Attribute, Downlink, Telemetry
from linli.iot.models import Device as DeviceRow

from .conftest import wait_for

tb_device_mqtt = pytest.importorskip("tb_device_mqtt")  # a dev dependency: always there in the test venv
from tb_device_http import TBHTTPDevice  # noqa: E402
from tb_device_mqtt import TBDeviceMqttClient, TBPublishInfo  # noqa: E402
from tb_gateway_mqtt import TBGatewayMqttClient  # noqa: E402


@pytest.fixture
def sdk_device(devices, gateway):
    client = TBDeviceMqttClient("127.0.0.1", port=gateway.port, username=devices.device.access_token)
    client.connect(timeout=10)
    assert wait_for(client.is_connected, 10)
    yield client
    client.disconnect()


def test_sdk_connects_with_mqtt5_and_gets_its_session_limits(sdk_device):
    # The SDK sends getSessionLimits right after connecting and applies the answer.
    assert wait_for(lambda: sdk_device.rate_limits_received, 10)
    assert sdk_device._client._protocol == 5


def test_sdk_telemetry_in_its_array_forms_is_stored(devices, sdk_device):
    ts = int(time.time() * 1000) - 10_000
    assert (
        sdk_device.send_telemetry({"temperature": 21.5, "humidity": 45}).get() == TBPublishInfo.TB_ERR_SUCCESS
    )
    info = sdk_device.send_telemetry(
        [{"ts": ts, "values": {"temperature": 22.0}}, {"ts": ts + 1, "values": {"temperature": 23.0}}]
    )
    assert info.get() == TBPublishInfo.TB_ERR_SUCCESS
    stored = set(Telemetry.objects.filter(device=devices.device).values_list("key", "num"))
    assert {("temperature", 21.5), ("humidity", 45.0), ("temperature", 22.0), ("temperature", 23.0)} <= stored


def test_sdk_attributes_publish_request_and_shared_update(devices, sdk_device):
    services.set_shared_attributes(devices.device, {"targetTemp": 23})
    assert sdk_device.send_attributes({"firmwareVersion": "1.0.2", "model": "SOS-BTN"}).get() == 0
    assert Attribute.objects.filter(
        device=devices.device, scope="client", key="model", value="SOS-BTN"
    ).exists()
    answers = []
    sdk_device.request_attributes(
        client_keys=["model"], shared_keys=["targetTemp"], callback=lambda r, e: answers.append(r)
    )
    assert wait_for(lambda: answers)
    assert answers[0] == {"client": {"model": "SOS-BTN"}, "shared": {"targetTemp": 23}}
    pushed = []
    sdk_device.subscribe_to_all_attributes(lambda result, *args: pushed.append(result))
    services.set_shared_attributes(devices.device, {"reportPeriod": 30})
    # (the update queued before the device connected was delivered too, at its subscription)
    assert wait_for(lambda: {"reportPeriod": 30} in pushed, 10)


def test_sdk_server_side_rpc_round_trip_and_client_side_rpc(devices, sdk_device):
    def on_rpc(request_id, body):
        sdk_device.send_rpc_reply(request_id, {"echo": body["params"]})

    sdk_device.set_server_side_rpc_request_handler(on_rpc)
    time.sleep(0.3)  # the SDK's subscriptions are made right after CONNACK
    command = services.send_rpc(devices.device, "ping", {"n": 1})
    assert wait_for(lambda: Downlink.objects.get(pk=command.pk).status == "successful", 10)
    command.refresh_from_db()
    assert command.response == {"echo": {"n": 1}}
    answers = []
    sdk_device.send_rpc_call("getCurrentTime", {}, lambda request_id, response, *a: answers.append(response))
    assert wait_for(lambda: answers)
    assert abs(answers[0]["currentTime"] - time.time() * 1000) < 60_000


def test_sdk_gateway_client(devices, gateway):
    client = TBGatewayMqttClient("127.0.0.1", port=gateway.port, username=devices.gateway.access_token)
    client.connect(timeout=10)
    try:
        assert wait_for(client.is_connected, 10)
        client.gw_connect_device("Meter-B2-301", "water_meter")
        ts = int(time.time() * 1000) - 1000
        info = client.gw_send_telemetry("Meter-B2-301", [{"ts": ts, "values": {"volume_m3": 123.4}}])
        assert info.get() == TBPublishInfo.TB_ERR_SUCCESS
        child = DeviceRow.objects.get(name="Meter-B2-301")
        assert child.gateway_id == devices.gateway.pk
        assert list(Telemetry.objects.filter(device=child).values_list("key", "ts", "num")) == [
            ("volume_m3", ts, 123.4)
        ]
        assert client.gw_send_attributes("Meter-B2-301", {"serial": "WM-0001"}).get() == 0
        services.set_shared_attributes(child, {"reportPeriod": 60})
        answers = []
        client.gw_request_shared_attributes("Meter-B2-301", ["reportPeriod"], lambda r, e: answers.append(r))
        assert wait_for(lambda: answers)
        assert answers[0]["values"] == {"reportPeriod": 60}
        replies = threading.Event()

        def on_rpc(gw, content):
            gw.gw_send_rpc_reply(content["device"], content["data"]["id"], {"closed": True})
            replies.set()

        client.gw_set_server_side_rpc_request_handler(on_rpc)
        command = services.send_rpc(child, "close_valve", {})
        assert replies.wait(10)
        assert wait_for(lambda: Downlink.objects.get(pk=command.pk).status == "successful")
        client.gw_disconnect_device("Meter-B2-301")
    finally:
        client.disconnect()


@pytest.fixture
def http_device(devices, live_server):
    from django.db import connections

    # the live server's request threads end without closing persistent connections: none for this test, so
    # PostgreSQL's test database can be dropped afterwards
    settings = connections.settings["default"]
    max_age, settings["CONN_MAX_AGE"] = settings["CONN_MAX_AGE"], 0
    device = TBHTTPDevice(live_server.url, devices.device.access_token)
    yield device
    device.stop_publish_worker()
    settings["CONN_MAX_AGE"] = max_age


def test_sdk_http_device(devices, live_server, http_device):
    assert http_device.connect()  # posts {} to telemetry: 200, nothing stored
    assert not Telemetry.objects.filter(device=devices.device).exists()
    http_device.send_telemetry({"temperature": 19.5}, queued=False)
    assert Telemetry.objects.filter(device=devices.device, key="temperature", num=19.5).exists()
    http_device.send_attributes({"model": "T-1"})
    services.set_shared_attributes(devices.device, {"targetTemp": 23})
    answer = http_device.request_attributes(client_keys=["model"], shared_keys=["targetTemp"])
    assert answer == {"client": {"model": "T-1"}, "shared": {"targetTemp": 23}}
    assert http_device.send_rpc("getCurrentTime")["currentTime"] > 0
    assert "maxPayloadSize" in http_device.send_rpc("getSessionLimits")
    bad = TBHTTPDevice(live_server.url, "NOT-A-KNOWN-token-0000")
    assert not bad.test_connection()


@pytest.fixture
def http(devices, live_server):
    """Real HTTP against the live server (the Django test client would run the async long-poll views in this
    thread, where the browser tests' Playwright may already keep an event loop)."""
    import requests
    from django.db import connections

    settings = connections.settings["default"]
    max_age, settings["CONN_MAX_AGE"] = settings["CONN_MAX_AGE"], 0
    with requests.Session() as session:
        session.base = live_server.url
        yield session
    settings["CONN_MAX_AGE"] = max_age


def test_http_rpc_long_poll_and_reply(devices, http):
    token = devices.device.access_token
    response = http.get(f"{http.base}/api/v1/{token}/rpc?timeout=300")
    assert response.status_code == 408  # nothing queued: ThingsBoard's long-poll timeout
    command = services.send_rpc(devices.device, "setState", {"on": True})
    response = http.get(f"{http.base}/api/v1/{token}/rpc?timeout=2000")
    assert response.status_code == 200
    assert response.json() == {"id": command.rpc_id, "method": "setState", "params": {"on": True}}
    assert http.post(f"{http.base}/api/v1/{token}/rpc/{command.rpc_id}", json={"on": True}).status_code == 200
    command.refresh_from_db()
    assert command.status == "successful"


def test_http_status_codes(devices, http):
    token, base = devices.device.access_token, http.base
    assert http.post(f"{base}/api/v1/NOT-A-KNOWN-token-0000/telemetry", json={}).status_code == 401
    bad = http.post(
        f"{base}/api/v1/{token}/telemetry", data=b"{bad", headers={"Content-Type": "application/json"}
    )
    assert bad.status_code == 400
    assert http.post(f"{base}/api/v1/{token}/telemetry", json=[{"temperature": 1}]).status_code == 200
    assert http.get(f"{base}/api/v1/{token}/telemetry").status_code == 405
    assert http.get(f"{base}/api/v1/{token}/attributes/updates?timeout=200").status_code == 408
    services.set_shared_attributes(devices.device, {"x": 1})
    assert http.get(f"{base}/api/v1/{token}/attributes/updates?timeout=2000").json() == {"x": 1}
    # the REST API under /api/v1/ is not shadowed by the device API
    assert http.get(f"{base}/api/v1/schema/").status_code == 200
