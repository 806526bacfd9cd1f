"""The seam the ingest service uses: telemetry storage, attributes, RPC, provisioning."""

import pytest
from django.db import connection

from linli.iot import pipeline
from linli.iot.models import Alarm, Device, Downlink, LatestValue, Telemetry
from linli.iot.pipeline import Reading
from linli.iot.testing import make_device, make_profile, make_rule, now_ms

GRID = "370198001001001"


@pytest.fixture
def device(regions):
    return make_device(GRID)


def test_authenticate_by_token(device):
    ref = pipeline.authenticate(device.access_token)
    assert ref.id == device.pk and ref.region_code == GRID and ref.keys == ("temperature",)
    assert pipeline.authenticate("no-such-token") is None
    assert pipeline.authenticate("") is None


def test_downlink_goes_to_the_device_or_to_the_gateway_that_speaks_for_it(device):
    gateway = make_device(GRID, is_gateway=True)
    child = make_device(GRID, name="Meter-7", gateway=gateway)
    routes = pipeline.downlink_routes([device.pk, child.pk, 10**9])
    assert routes[device.pk] == (device.access_token, None)
    assert routes[child.pk] == (gateway.access_token, "Meter-7")
    assert 10**9 not in routes


def test_duplicate_readings_are_stored_once(device):
    ts = now_ms()
    batch = [
        Reading(device.pk, ts, {"temperature": 21.5, "humidity": 40}),
        Reading(device.pk, ts, {"temperature": 21.5}),
    ]
    pipeline.store_telemetry(batch)
    pipeline.store_telemetry(batch)  # redelivered after a crash
    assert Telemetry.objects.filter(device=device).count() == 2
    latest = LatestValue.objects.get(device=device, key="temperature")
    assert latest.value == 21.5 and latest.ts == ts
    device.refresh_from_db()
    assert device.last_activity is not None and device.online


def test_values_of_every_json_type(device):
    ts = now_ms()
    pipeline.store_telemetry(
        [Reading(device.pk, ts, {"n": 3, "s": "ok", "b": True, "o": {"a": [1, 2]}, "x": None})]
    )
    values = {t.key: t.value for t in Telemetry.objects.filter(device=device)}
    assert values == {"n": 3.0, "s": "ok", "b": True, "o": '{"a":[1,2]}'}


def test_readings_far_in_the_past_or_future_are_refused(device):
    ts = now_ms()
    pipeline.store_telemetry(
        [Reading(device.pk, ts + 3 * 86_400_000, {"t": 1}), Reading(device.pk, 0, {"t": 2})]
    )
    assert not Telemetry.objects.filter(device=device).exists()


def test_threshold_alarm_is_created_and_cleared(device):
    make_rule(device.profile, value=60, severity="critical")
    ts = now_ms()
    changes = pipeline.store_telemetry([Reading(device.pk, ts, {"temperature": 65})])
    assert [c.action for c in changes] == ["created"]
    alarm = Alarm.objects.get(device=device)
    assert (
        alarm.type == "high_temperature" and alarm.severity == "critical" and alarm.status == "ACTIVE_UNACK"
    )
    changes = pipeline.store_telemetry([Reading(device.pk, ts + 1000, {"temperature": 20})])
    assert [c.action for c in changes] == ["cleared"]
    alarm.refresh_from_db()
    assert alarm.cleared and alarm.status == "CLEARED_UNACK"


def test_attributes_round_trip(device):
    pipeline.store_client_attributes(device.pk, {"fw": "1.0", "model": "TH-2"})
    pipeline.store_client_attributes(device.pk, {"fw": "1.1"})
    assert pipeline.get_attributes(device.pk, ["fw"], None) == {"client": {"fw": "1.1"}, "shared": {}}
    assert pipeline.get_attributes(device.pk, None, None)["client"] == {"fw": "1.1", "model": "TH-2"}


def test_rpc_lifecycle(device):
    from linli.iot import services

    command = services.send_rpc(device, "setLevel", {"level": 50})
    pending = pipeline.pending_downlink(device_id=device.pk)
    assert [(d.id, d.kind, d.payload["method"]) for d in pending] == [(command.pk, "rpc", "setLevel")]
    pipeline.downlink_delivered(command.pk)
    assert Downlink.objects.get(pk=command.pk).status == "delivered"
    assert pipeline.pending_downlink(device_id=device.pk) == []
    pipeline.rpc_response(device.pk, command.rpc_id, {"level": 50})
    command.refresh_from_db()
    assert command.status == "successful" and command.response == {"level": 50}


def test_get_current_time_is_answered(device):
    assert "currentTime" in pipeline.rpc_from_device(device.pk, "getCurrentTime", {})
    assert pipeline.rpc_from_device(device.pk, "somethingElse", {}) is None


def test_self_provisioning(regions):
    profile = make_profile(provision_key="key-1", provision_secret="secret-1", provision_region_id=GRID)
    answer = pipeline.provision("key-1", "secret-1", "Meter-9", None)
    assert answer["status"] == "SUCCESS" and answer["credentialsType"] == "ACCESS_TOKEN"
    device = Device.objects.get(name="Meter-9")
    assert device.access_token == answer["credentialsValue"] and device.profile == profile
    assert device.region_code == GRID
    assert pipeline.provision("key-1", "wrong", "Meter-10", None)["status"] == "FAILURE"
    assert pipeline.provision("key-1", "secret-1", "Meter-9", None)["status"] == "FAILURE"
    given = pipeline.provision(
        "key-1", "secret-1", "Meter-11", {"credentialsType": "ACCESS_TOKEN", "token": "meter-11-token-abcdef"}
    )
    assert given["credentialsValue"] == "meter-11-token-abcdef"


def test_gateway_children_are_created_in_the_gateways_region(regions):
    gateway = make_device(GRID, is_gateway=True)
    ref = pipeline.authenticate(gateway.access_token)
    child = pipeline.gateway_child(ref, "Meter-1", "water_meter")
    again = pipeline.gateway_child(ref, "Meter-1", "water_meter")
    assert child.id == again.id and child.region_code == GRID
    assert Device.objects.get(pk=child.id).gateway_id == gateway.pk
    other = make_device(GRID, name="not-a-child")
    with pytest.raises(PermissionError):
        pipeline.gateway_child(ref, other.name, None)


def test_rejections_are_counted(db):
    pipeline.record_rejected("bad_json")
    pipeline.record_rejected("bad_json", 4)
    from linli.iot.models import RejectCounter

    assert RejectCounter.objects.get(reason="bad_json").count == 5


@pytest.mark.skipif(
    connection.vendor != "sqlite", reason="PostgreSQL drops partitions: see test_postgresql.py"
)
def test_retention_on_sqlite_deletes_old_rows_in_batches(device, settings):
    from django.core.management import call_command

    from linli.core import clock
    from linli.iot import storage

    settings.LINLI_IOT_RETENTION_MONTHS = 24
    now = clock.now()
    year, month = storage.add_months(now.year, now.month, -6)
    old = storage.month_start(year, month)
    pipeline.store_telemetry([Reading(device.pk, old + i * 1000, {"t": i}) for i in range(30)])
    pipeline.store_telemetry([Reading(device.pk, now_ms(), {"t": 99})])
    call_command("iot_retention", months=3, batch_size=7, stdout=__import__("io").StringIO())
    assert list(Telemetry.objects.filter(device=device).values_list("num", flat=True)) == [99.0]


def test_readings_of_unknown_or_deleted_devices_are_refused_not_fatal(device):
    from linli.iot import services
    from linli.iot.models import RejectCounter

    other = make_device(GRID)
    pipeline.store_telemetry([Reading(other.pk, now_ms(), {"t": 1})])  # the id is now cached as a device
    other_id = other.pk
    services.delete_device(other, None)
    batch = [
        Reading(device.pk, now_ms(), {"t": 2}),
        Reading(other_id, now_ms(), {"t": 3}),
        Reading(10**9, now_ms(), {"t": 4}),
    ]
    pipeline.store_telemetry(batch)
    assert list(Telemetry.objects.values_list("device_id", flat=True)) == [device.pk]
    assert RejectCounter.objects.get(reason="unknown_device").count == 2
