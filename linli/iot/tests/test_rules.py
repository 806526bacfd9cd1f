"""Alarm rules as an operator configures them: duration, rate, no data, no use, offline, storm damping."""

from datetime import timedelta

import pytest

from linli.core import clock
from linli.iot import services
from linli.iot.models import Alarm, AlarmRule, Kind
from linli.iot.pipeline import Reading, store_telemetry
from linli.iot.rules import RuleEngine
from linli.iot.testing import make_device, make_profile, make_rule, now_ms

GRID = "370198001001001"
S = 1000  # ms


@pytest.fixture
def sensor(regions):
    return make_device(GRID)


def send(device, ts, **values):
    return [c.action for c in store_telemetry([Reading(device.pk, ts, values)])]


def active(device, alarm_type="high_temperature"):
    return Alarm.objects.filter(device=device, type=alarm_type, cleared=False).first()


def test_threshold_with_duration_waits_for_the_duration(sensor):
    make_rule(sensor.profile, value=60, duration_s=30)
    t0 = now_ms() - 60 * S
    assert send(sensor, t0, temperature=65) == []
    assert send(sensor, t0 + 10 * S, temperature=66) == []
    assert send(sensor, t0 + 29 * S, temperature=67) == []
    assert active(sensor) is None
    assert send(sensor, t0 + 30 * S, temperature=68) == ["created"]
    assert active(sensor).details["temperature"] == 68


def test_a_dip_below_the_threshold_restarts_the_duration(sensor):
    make_rule(sensor.profile, value=60, duration_s=30)
    t0 = now_ms() - 60 * S
    send(sensor, t0, temperature=65)
    send(sensor, t0 + 20 * S, temperature=50)
    send(sensor, t0 + 35 * S, temperature=65)
    assert active(sensor) is None
    assert send(sensor, t0 + 65 * S, temperature=65) == ["created"]


def test_readings_in_one_batch_are_evaluated_in_time_order(sensor):
    make_rule(sensor.profile, value=60, duration_s=30)
    t0 = now_ms() - 60 * S
    batch = [
        Reading(sensor.pk, t0 + 30 * S, {"temperature": 70}),
        Reading(sensor.pk, t0, {"temperature": 70}),
    ]
    assert [c.action for c in store_telemetry(batch)] == ["created"]


def test_hysteresis_and_minimum_clear_time_absorb_flapping(sensor):
    make_rule(sensor.profile, value=60, clear_value=55, min_clear_s=60)
    t0 = now_ms() - 600 * S
    actions = []
    # A value flapping around the threshold every 5 s for 3 minutes.
    for i in range(36):
        actions += send(sensor, t0 + i * 5 * S, temperature=61 if i % 2 == 0 else 58)
    assert actions == ["created"]  # 58 is inside the hysteresis band: never normal
    t1 = t0 + 200 * S
    send(sensor, t1, temperature=50)
    send(sensor, t1 + 30 * S, temperature=62)  # over again before a minute of normal: same alarm
    send(sensor, t1 + 40 * S, temperature=50)
    assert send(sensor, t1 + 90 * S, temperature=50) == []
    assert send(sensor, t1 + 100 * S, temperature=50) == ["cleared"]
    assert Alarm.objects.filter(device=sensor).count() == 1


def test_per_device_cap_stops_an_alarm_storm(sensor, settings):
    settings.LINLI_IOT_ALARMS_PER_DEVICE_HOUR = 3
    make_rule(sensor.profile, value=60)
    t0 = now_ms() - 1000 * S
    for i in range(20):
        send(sensor, t0 + i * 20 * S, temperature=70)
        send(sensor, t0 + i * 20 * S + 10 * S, temperature=20)
    assert Alarm.objects.filter(device=sensor).count() == 3


def test_severity_escalates_on_the_same_alarm(sensor):
    make_rule(sensor.profile, value=50, severity="minor")
    make_rule(sensor.profile, value=70, severity="critical")
    t0 = now_ms() - 60 * S
    assert send(sensor, t0, temperature=55) == ["created"]
    assert send(sensor, t0 + S, temperature=75) == ["updated"]
    alarm = active(sensor)
    assert alarm.severity == "critical" and Alarm.objects.filter(device=sensor).count() == 1
    assert send(sensor, t0 + 2 * S, temperature=60) == []  # the minor rule still holds
    assert send(sensor, t0 + 3 * S, temperature=20) == ["cleared"]


def test_rate_of_change(sensor):
    make_rule(sensor.profile, alarm_type="fast_rise", kind="rate", value=5)  # more than 5 °C a minute
    t0 = now_ms() - 600 * S
    assert send(sensor, t0, temperature=20) == []
    assert send(sensor, t0 + 60 * S, temperature=24) == []
    assert send(sensor, t0 + 90 * S, temperature=28) == ["created"]  # 8 °C/min
    assert send(sensor, t0 + 150 * S, temperature=29) == ["cleared"]


def test_rule_state_survives_a_restart(sensor):
    make_rule(sensor.profile, value=60)
    t0 = now_ms() - 60 * S
    send(sensor, t0, temperature=65)
    # A new process: state is rebuilt from the database, the active alarm is not created twice.
    fresh = RuleEngine()
    assert store_telemetry([Reading(sensor.pk, t0 + S, {"temperature": 66})], engine=fresh) == []
    changes = store_telemetry([Reading(sensor.pk, t0 + 2 * S, {"temperature": 20})], engine=fresh)
    assert [c.action for c in changes] == ["cleared"]
    assert Alarm.objects.filter(device=sensor).count() == 1


def test_a_person_clearing_an_alarm_lets_the_rule_raise_it_again(sensor, user_factory):
    make_rule(sensor.profile, value=60)
    t0 = now_ms() - 60 * S
    send(sensor, t0, temperature=65)
    worker = user_factory("community_worker", "370198001001")
    assert services.clear_alarm(active(sensor), worker)
    assert send(sensor, t0 + S, temperature=66) == ["created"]


@pytest.fixture
def water_meter(regions):
    profile = make_profile(Kind.WATER_METER, keys=[{"key": "water", "label": "累计用水", "unit": "m³"}])
    make_rule(
        profile, alarm_type="no_water_use", kind=AlarmRule.RuleKind.NO_CHANGE, key="water", period_s=12 * 3600
    )
    return make_device(GRID, profile)


def test_lone_elderly_water_meter_without_use_for_12_hours(water_meter):
    now = clock.now()
    start = now_ms(now) - 13 * 3600 * S
    send(water_meter, start, water=100.0)
    for hour in range(1, 13):  # hourly readings, no use
        send(water_meter, start + hour * 3600 * S, water=100.0)
    counts = services.sweep(now)
    assert counts["no_change"] == 1
    alarm = active(water_meter, "no_water_use")
    assert alarm is not None and alarm.details["period_s"] == 12 * 3600
    assert services.sweep(now)["no_change"] == 0  # one alarm, not one per sweep
    assert send(water_meter, now_ms(now), water=100.2) == ["cleared"]


def test_water_meter_in_use_raises_nothing(water_meter):
    now = clock.now()
    start = now_ms(now) - 13 * 3600 * S
    for hour in range(14):
        send(water_meter, start + hour * 3600 * S, water=100.0 + hour * 0.05)
    assert services.sweep(now)["no_change"] == 0


def test_no_data_for_a_period(regions):
    profile = make_profile()
    make_rule(profile, alarm_type="no_data", kind="no_data", key="temperature", period_s=3600)
    quiet, chatty = make_device(GRID, profile), make_device(GRID, profile)
    now = clock.now()
    send(quiet, now_ms(now) - 2 * 3600 * S, temperature=20)
    send(chatty, now_ms(now) - 60 * S, temperature=20)
    assert services.sweep(now)["no_data"] == 1
    assert active(quiet, "no_data") and not active(chatty, "no_data")
    assert send(quiet, now_ms(now), temperature=21) == ["cleared"]


def test_offline_after_the_profile_timeout(regions):
    profile = make_profile(offline_timeout_s=600)
    make_rule(profile, alarm_type="offline", kind="offline", severity="warning")
    device = make_device(GRID, profile)
    send(device, now_ms() - 1000, temperature=20)
    later = clock.now() + timedelta(seconds=601)
    assert services.sweep(clock.now())["offline"] == 0
    never = make_device(GRID, profile)  # installed, never reported: listed, not alarmed
    assert services.sweep(later)["offline"] == 1
    assert active(device, "offline").severity == "warning" and active(never, "offline") is None
    assert send(device, now_ms(), temperature=21) == ["cleared"]


def test_an_alarm_cleared_elsewhere_is_raised_again_by_the_rule(sensor, monkeypatch):
    from linli.iot import alarms, rules

    monkeypatch.setattr(rules, "SYNC_S", 0.0)
    make_rule(sensor.profile, value=60)
    t0 = now_ms() - 60 * S
    send(sensor, t0, temperature=65)
    # Another process (or the API of another server) clears it: this engine notices at its next sync.
    alarms.clear_alarm(device_id=sensor.pk, type="high_temperature", ts_ms=t0)
    assert send(sensor, t0 + S, temperature=66) == ["created"]
    assert Alarm.objects.filter(device=sensor).count() == 2


def test_a_failing_alarm_sink_does_not_lose_the_alarm(sensor):
    from django.test import TestCase

    from linli.iot import hooks

    def broken(alarm):
        raise RuntimeError("grid app down")

    seen = []
    hooks.ALARM_SINKS.extend([broken, seen.append])
    try:
        make_rule(sensor.profile, value=60)
        with TestCase.captureOnCommitCallbacks(execute=True):
            send(sensor, now_ms(), temperature=70)
    finally:
        hooks.ALARM_SINKS.remove(broken)
        hooks.ALARM_SINKS.remove(seen.append)
    assert active(sensor) is not None and [a.type for a in seen] == ["high_temperature"]


def test_the_sweep_times_out_unanswered_commands(sensor):
    command = services.send_rpc(sensor, "reboot", {}, timeout=timedelta(seconds=30))
    assert services.sweep(clock.now() + timedelta(seconds=31))["timeouts"] == 1
    command.refresh_from_db()
    assert command.status == "timeout"
