"""The console pages and the REST API as staff use them."""

import io

import pytest
from openpyxl import Workbook
from rest_framework.test import APIClient

from linli.iot import pipeline, services
from linli.iot.models import Alarm, AlarmRule, Device, Downlink, Kind, LightingGroup
from linli.iot.pipeline import Reading
from linli.iot.testing import make_device, make_profile, make_rule, now_ms

GRID = "370198001001001"
COMMUNITY = "370198001001"


@pytest.fixture
def worker(regions, user_factory):
    return user_factory("community_worker", COMMUNITY)


@pytest.fixture
def hot_device(regions):
    device = make_device(GRID, label="1号楼温感")
    make_rule(device.profile, value=60, severity="critical")
    ts = now_ms()
    pipeline.store_telemetry([Reading(device.pk, ts - 60_000, {"temperature": 21.5})])
    pipeline.store_telemetry([Reading(device.pk, ts, {"temperature": 65})])
    return device


def test_device_list_and_detail(client, worker, hot_device):
    client.force_login(worker)
    page = client.get("/iot/").content.decode()
    assert hot_device.name in page and "在线" in page or "Online" in page
    detail = client.get(f"/iot/devices/{hot_device.pk}/").content.decode()
    assert "65" in detail and hot_device.access_token in detail  # community workers provision devices
    assert 'data-type="high_temperature"' in detail


def test_grid_worker_does_not_see_tokens(client, regions, user_factory, hot_device):
    client.force_login(user_factory("grid_worker", GRID))
    detail = client.get(f"/iot/devices/{hot_device.pk}/").content.decode()
    assert hot_device.name in detail and hot_device.access_token not in detail


def test_acknowledge_and_clear_an_alarm_on_the_queue(client, worker, hot_device):
    client.force_login(worker)
    alarm = Alarm.objects.get(device=hot_device)
    assert hot_device.label in client.get("/iot/alarms/").content.decode()
    client.post(f"/iot/alarms/{alarm.pk}/ack/")
    alarm.refresh_from_db()
    assert alarm.status == "ACTIVE_ACK" and alarm.acknowledged_by == worker
    response = client.post(f"/iot/alarms/{alarm.pk}/clear/", HTTP_HX_REQUEST="true")
    assert 'data-status="CLEARED_ACK"' in response.content.decode()
    assert "alarm-row" not in client.get("/iot/alarms/").content.decode()  # the queue shows active ones
    assert hot_device.label in client.get("/iot/alarms/?status=cleared").content.decode()


def test_auditors_read_but_do_not_operate(client, regions, user_factory, hot_device):
    auditor = user_factory("auditor", "370198")
    client.force_login(auditor)
    assert client.get("/iot/alarms/").status_code == 200
    alarm = Alarm.objects.get(device=hot_device)
    assert client.post(f"/iot/alarms/{alarm.pk}/ack/").status_code == 403
    assert not Alarm.objects.get(pk=alarm.pk).acknowledged


def test_residents_and_service_providers_have_no_iot_pages(client, regions, user_factory):
    client.force_login(user_factory("service_provider", COMMUNITY))
    assert client.get("/iot/").status_code == 404


def test_rule_editing_is_for_district_administrators(client, regions, user_factory):
    profile = make_profile(name="烟感-测试")
    client.force_login(user_factory("community_worker", COMMUNITY))
    assert client.get(f"/iot/profiles/{profile.pk}/rules/new/").status_code == 403
    client.force_login(user_factory("district_admin", "370198"))
    data = {
        "alarm_type": "smoke",
        "kind": "threshold",
        "key": "smoke",
        "op": "==",
        "value": "true",
        "duration_s": 0,
        "period_s": 0,
        "min_clear_s": 30,
        "severity": "critical",
        "grid_category": "fire_safety",
        "enabled": "on",
    }
    response = client.post(f"/iot/profiles/{profile.pk}/rules/new/", data)
    assert response.status_code == 302
    rule = AlarmRule.objects.get(profile=profile)
    assert rule.value is True and rule.min_clear_s == 30
    page = client.get(f"/iot/profiles/{profile.pk}/").content.decode()
    assert "smoke == True" in page
    # A rule needs its key and value.
    bad = client.post(f"/iot/profiles/{profile.pk}/rules/new/", {**data, "key": "", "value": ""})
    assert bad.status_code == 200 and AlarmRule.objects.count() == 1
    # The engine picks up the new rule.
    device = make_device(GRID, profile)
    changes = pipeline.store_telemetry([Reading(device.pk, now_ms(), {"smoke": True})])
    assert [c.type for c in changes] == ["smoke"]


def test_sending_a_light_command_and_following_its_status(client, worker):
    light = make_device(GRID, make_profile(Kind.STREET_LIGHT))
    client.force_login(worker)
    client.post(f"/iot/devices/{light.pk}/command/", {"action": "dim", "level": 40})
    command = Downlink.objects.get(device=light)
    assert command.payload == {"method": "setLevel", "params": {"level": 40}} and command.status == "queued"
    pipeline.downlink_delivered(command.pk)
    pipeline.rpc_response(light.pk, command.rpc_id, {"level": 40})
    fragment = client.get(f"/iot/devices/{light.pk}/commands/").content.decode()
    assert 'data-status="successful"' in fragment


def test_lighting_group_schedule_command_and_energy(client, worker):
    profile = make_profile(Kind.STREET_LIGHT, rated_power_w=100)
    lights = [make_device(GRID, profile) for _ in range(3)]
    group = LightingGroup.objects.create(region_id=COMMUNITY, name="东一路灯")
    group.devices.set(lights)
    client.force_login(worker)
    response = client.post(
        f"/iot/lighting/{group.pk}/",
        {"form": "schedule", "entries": "18:30 100\n23:00 50\n05:30 0", "enabled": "on"},
    )
    assert response.status_code == 302
    assert group.schedule.entries[0] == {"time": "05:30", "level": 0}
    client.post(f"/iot/lighting/{group.pk}/", {"form": "command", "action": "off"})
    assert Downlink.objects.filter(group=group, payload__method="setState").count() == 3
    page = client.get(f"/iot/lighting/{group.pk}/").content.decode()
    assert "kWh" in page


def test_energy_saved_by_a_schedule_from_meter_data(regions):
    from datetime import timedelta

    from linli.core import clock

    profile = make_profile(Kind.STREET_LIGHT, rated_power_w=100)
    light = make_device(GRID, profile)
    group = LightingGroup.objects.create(region_id=COMMUNITY, name="测试路灯")
    group.devices.set([light])
    services.save_schedule(group, [{"time": "00:00", "level": 50}], True, None)  # half power all day
    end = clock.now()
    start = end - timedelta(hours=10)
    start_ms = now_ms(start)
    # The lamp's energy counter rose by 0.5 kWh in 10 hours: 50 W on average.
    pipeline.store_telemetry(
        [
            Reading(light.pk, start_ms + 60_000, {"energy": 10.0}),
            Reading(light.pk, start_ms + 36_000_000 - 60_000, {"energy": 10.5}),
        ]
    )
    report = services.energy_saved(group, start, end)
    assert report.full_kwh == pytest.approx(1.0, abs=0.01)
    assert report.actual_kwh == pytest.approx(0.5, abs=0.01)
    assert report.saved_kwh == pytest.approx(0.5, abs=0.01) and report.metered == 1


def test_schedules_send_the_level_once_per_change(regions):
    from datetime import datetime

    from django.utils import timezone

    group = LightingGroup.objects.create(region_id=COMMUNITY, name="定时路灯")
    group.devices.set([make_device(GRID, make_profile(Kind.STREET_LIGHT)) for _ in range(2)])
    services.save_schedule(
        group,
        [{"time": "18:30", "level": 100}, {"time": "23:00", "level": 50}, {"time": "05:30", "level": 0}],
        True,
        None,
    )
    evening = timezone.make_aware(datetime(2026, 11, 29, 19, 0))
    assert services.run_schedules(evening) == 2
    assert services.run_schedules(evening) == 0
    night = timezone.make_aware(datetime(2026, 11, 29, 23, 30))
    assert services.run_schedules(night) == 2
    assert set(Downlink.objects.values_list("payload__params__level", flat=True)) == {100, 50}


# --- API ---


@pytest.fixture
def api(worker):
    client = APIClient()
    client.force_authenticate(worker)
    return client


def test_api_devices_and_telemetry(api, hot_device):
    listing = api.get("/api/v1/iot/devices/?kind=temperature_humidity").json()
    assert [d["name"] for d in listing["results"]] == [hot_device.name]
    detail = api.get(f"/api/v1/iot/devices/{hot_device.pk}/").json()
    assert detail["latest"][0]["key"] == "temperature" and detail["latest"][0]["value"] == 65
    series = api.get(f"/api/v1/iot/devices/{hot_device.pk}/telemetry/?keys=temperature").json()
    assert [p["value"] for p in series["temperature"]] == [21.5, 65]


def test_api_alarm_ack_and_clear(api, hot_device):
    alarm = api.get("/api/v1/iot/alarms/?status=ACTIVE_UNACK").json()["results"][0]
    assert alarm["type"] == "high_temperature" and alarm["status"] == "ACTIVE_UNACK"
    assert api.post(f"/api/v1/iot/alarms/{alarm['id']}/ack/").json()["status"] == "ACTIVE_ACK"
    assert api.post(f"/api/v1/iot/alarms/{alarm['id']}/clear/").json()["status"] == "CLEARED_ACK"
    assert api.get("/api/v1/iot/alarms/?status=ACTIVE").json()["count"] == 0


def test_api_rpc_with_delivery_status(api, hot_device):
    response = api.post(
        f"/api/v1/iot/devices/{hot_device.pk}/rpc/", {"method": "reboot", "params": {}}, format="json"
    )
    assert response.status_code == 201
    command = response.json()
    assert command["status"] == "queued" and command["rpc_id"] == 1
    pipeline.downlink_delivered(command["id"])
    assert api.get(f"/api/v1/iot/commands/{command['id']}/").json()["status"] == "delivered"


def test_api_refuses_writes_to_auditors(regions, user_factory, hot_device):
    client = APIClient()
    client.force_authenticate(user_factory("auditor", "370198"))
    alarm = Alarm.objects.get(device=hot_device)
    assert client.get(f"/api/v1/iot/alarms/{alarm.pk}/").status_code == 200
    assert client.post(f"/api/v1/iot/alarms/{alarm.pk}/ack/").status_code == 403


def test_api_group_command(api):
    group = LightingGroup.objects.create(region_id=COMMUNITY, name="API路灯")
    group.devices.set([make_device(GRID, make_profile(Kind.STREET_LIGHT))])
    response = api.post(
        f"/api/v1/iot/lighting-groups/{group.pk}/command/", {"action": "dim", "level": 30}, format="json"
    )
    assert response.status_code == 201 and response.json()[0]["payload"]["params"] == {"level": 30}
    assert (
        api.post(
            f"/api/v1/iot/lighting-groups/{group.pk}/command/", {"action": "dim"}, format="json"
        ).status_code
        == 400
    )
    report = api.get(f"/api/v1/iot/lighting-groups/{group.pk}/energy/?days=2").json()
    assert report["lights"] == 1 and {"full_kwh", "actual_kwh", "saved_kwh", "saved_percent"} <= set(report)


# --- Provisioning import ---


def _sheet(rows, headers=("设备名称", "设备配置", "区域编码", "访问令牌", "网关")):
    book = Workbook()
    sheet = book.active
    sheet.append(list(headers))
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_import_creates_all_devices_with_tokens(worker):
    make_profile(Kind.SMOKE, name="烟感")
    data = _sheet(
        [("烟感-1", "烟感", GRID, "", "否"), ("烟感-2", "烟感", GRID, "smoke-2-token-abcdefgh", "否")]
    )
    result = services.import_devices(data, "devices.xlsx", worker)
    assert result.ok and len(result.created) == 2
    assert Device.objects.get(name="烟感-2").access_token == "smoke-2-token-abcdefgh"
    assert pipeline.valid_token(Device.objects.get(name="烟感-1").access_token)


def test_import_errors_name_row_and_column_and_write_nothing(worker, regions):
    make_profile(Kind.SMOKE, name="烟感")
    make_device(GRID, name="已有设备")
    data = _sheet(
        [
            ("烟感-1", "烟感", GRID, "", "否"),
            ("已有设备", "烟感", GRID, "", "否"),
            ("烟感-3", "不存在", GRID, "", "否"),
            ("烟感-4", "烟感", "370198002001001", "", "否"),  # another street: outside the worker's scope
            ("烟感-1", "烟感", GRID, "short", "也许"),
        ]
    )
    result = services.import_devices(data, "devices.xlsx", worker)
    assert not result.ok and result.created == []
    found = {(e.row, e.column) for e in result.errors}
    assert {
        (3, "设备名称"),
        (4, "设备配置"),
        (5, "区域编码"),
        (6, "设备名称"),
        (6, "访问令牌"),
        (6, "网关"),
    } <= found
    assert all(e.letter for e in result.errors)
    assert not Device.objects.filter(name="烟感-1").exists()
    assert "Row 3, column A" in str(next(e for e in result.errors if e.row == 3)) or "第" in str(
        result.errors[0]
    )


def test_import_csv_in_gb18030_and_the_page(client, worker):
    make_profile(Kind.WATER_METER, name="智能水表")
    data = "设备名称,设备配置,区域编码\n水表-1,智能水表,370198001001001\n".encode("gb18030")
    client.force_login(worker)
    from django.core.files.uploadedfile import SimpleUploadedFile

    page = client.post("/iot/import/", {"file": SimpleUploadedFile("devices.csv", data)})
    assert page.status_code == 200 and Device.objects.filter(name="水表-1").exists()
    tokens = client.get("/iot/import/tokens.xlsx")
    assert tokens.status_code == 200 and tokens.content.startswith(b"PK")


def test_import_refuses_a_file_without_the_columns(worker):
    result = services.import_devices(_sheet([("x",)], headers=("名称",)), "devices.xlsx", worker)
    assert result.problem and not result.ok


def test_notifications_reach_the_grid_workers_of_the_device(client, regions, user_factory):
    grid_worker = user_factory("grid_worker", GRID)
    other_grid = user_factory("grid_worker", "370198001001002")
    device = make_device(GRID)
    make_rule(device.profile, value=60)
    from linli.iot import hooks

    seen = []
    hooks.ALARM_SINKS.append(seen.append)
    try:
        with pytest.MonkeyPatch.context():
            from django.test import TestCase

            with TestCase.captureOnCommitCallbacks(execute=True):
                pipeline.store_telemetry([Reading(device.pk, now_ms(), {"temperature": 80})])
    finally:
        hooks.ALARM_SINKS.remove(seen.append)
    assert [a.type for a in seen] == ["high_temperature"]
    client.force_login(grid_worker)
    assert device.name in client.get("/iot/notifications/").content.decode()
    client.force_login(other_grid)
    assert device.name not in client.get("/iot/notifications/").content.decode()


def test_api_provisions_a_device_inside_the_scope(api, regions, user_factory):
    make_profile(Kind.SMOKE, name="烟感")
    response = api.post(
        "/api/v1/iot/devices/", {"name": "api-烟感", "profile": "烟感", "region": GRID}, format="json"
    )
    assert response.status_code == 201
    token = response.json()["access_token"]
    assert pipeline.authenticate(token).name == "api-烟感"
    outside = api.post(
        "/api/v1/iot/devices/", {"name": "x", "profile": "烟感", "region": "370198002001001"}, format="json"
    )
    assert outside.status_code == 400 and "region" in outside.json()
    grid_worker = APIClient()
    grid_worker.force_authenticate(user_factory("grid_worker", GRID))
    denied = grid_worker.post(
        "/api/v1/iot/devices/", {"name": "y", "profile": "烟感", "region": GRID}, format="json"
    )
    assert denied.status_code == 403


def test_device_list_filters_online_and_offline(client, worker):
    from datetime import timedelta

    from linli.core import clock

    profile = make_profile(offline_timeout_s=600)
    fresh = make_device(GRID, profile, last_activity=clock.now() - timedelta(seconds=60))
    stale = make_device(GRID, profile, last_activity=clock.now() - timedelta(seconds=900))
    never = make_device(GRID, profile)
    client.force_login(worker)
    online = client.get("/iot/?state=online").content.decode()
    offline = client.get("/iot/?state=offline").content.decode()
    assert fresh.name in online and stale.name not in online and never.name not in online
    assert fresh.name not in offline and stale.name in offline and never.name in offline


def test_api_shared_attributes_are_stored_and_pushed(api, hot_device):
    response = api.post(
        f"/api/v1/iot/devices/{hot_device.pk}/shared-attributes/", {"reportPeriod": 30}, format="json"
    )
    assert response.status_code == 201 and response.json()["kind"] == "attributes"
    assert pipeline.get_attributes(hot_device.pk, None, ["reportPeriod"])["shared"] == {"reportPeriod": 30}
    [push] = pipeline.pending_downlink(device_id=hot_device.pk)
    assert push.kind == "attributes" and push.payload == {"reportPeriod": 30}
    pipeline.downlink_delivered(push.id)
    assert Downlink.objects.get(pk=push.id).status == "successful"
    assert (
        api.post(f"/api/v1/iot/devices/{hot_device.pk}/shared-attributes/", [], format="json").status_code
        == 400
    )
