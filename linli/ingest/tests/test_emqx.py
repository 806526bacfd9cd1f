"""EMQX's HTTP authentication and authorisation hooks for broker mode (the Mosquitto ACL over HTTP)."""

from __future__ import annotations

import pytest

from linli.iot.models import RejectCounter


def post(client, name, body):
    return client.post(f"/ingest/emqx/{name}", body, content_type="application/json").json()


@pytest.mark.django_db(transaction=True)
def test_devices_log_in_with_their_token_and_workers_with_their_secret(devices, client, settings):
    token = devices.device.access_token
    assert post(client, "authenticate", {"username": token, "password": token})["result"] == "allow"
    assert post(client, "authenticate", {"username": token, "password": "guess"})["result"] == "deny"
    assert (
        post(client, "authenticate", {"username": "NOT-A-KNOWN-token-0000", "password": "x"})["result"]
        == "deny"
    )
    settings.LINLI_INGEST_BROKER_PASSWORD = "worker-secret-1"
    worker = {"username": "linli-ingest", "password": "worker-secret-1"}
    assert post(client, "authenticate", worker)["result"] == "allow"
    assert post(client, "authenticate", {**worker, "password": "nope"})["result"] == "deny"
    assert RejectCounter.objects.filter(reason="unknown_token").exists()


@pytest.mark.django_db(transaction=True)
def test_a_device_may_use_only_its_own_topics(devices, client):
    token, other = devices.device.access_token, devices.other.access_token
    own = {"username": token, "topic": f"v1/devices/{token}/telemetry", "action": "publish"}
    assert post(client, "authorize", own)["result"] == "allow"
    assert post(client, "authorize", {**own, "topic": f"v1/devices/{other}/telemetry"})["result"] == "deny"
    assert post(client, "authorize", {**own, "topic": "v1/devices/me/telemetry"})["result"] == "deny"
    assert post(client, "authorize", {**own, "topic": "#"})["result"] == "deny"
    worker = {"username": "linli-ingest", "topic": "$share/linli/v1/devices/+/#", "action": "subscribe"}
    assert post(client, "authorize", worker)["result"] == "allow"
