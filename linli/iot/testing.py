"""Factories for the IoT hub's tests (and for other apps' tests that need a device)."""

from __future__ import annotations

import itertools

from linli.core import clock

from .models import AlarmRule, Device, DeviceProfile, Kind

_seq = itertools.count(1)


def make_profile(kind: str = Kind.TEMPERATURE_HUMIDITY, name: str | None = None, **fields) -> DeviceProfile:
    keys = fields.pop("keys", [{"key": "temperature", "label": "温度", "unit": "°C"}])
    return DeviceProfile.objects.create(name=name or f"{kind}-{next(_seq)}", kind=kind, keys=keys, **fields)


def make_device(
    region_code: str, profile: DeviceProfile | None = None, name: str | None = None, **fields
) -> Device:
    profile = profile or make_profile()
    number = next(_seq)
    return Device.objects.create(
        name=name or f"dev-{number:06d}",
        profile=profile,
        region_id=region_code,
        access_token=fields.pop("access_token", f"token-{number}"),
        **fields,
    )


def make_rule(profile: DeviceProfile, **fields) -> AlarmRule:
    fields.setdefault("alarm_type", "high_temperature")
    fields.setdefault("kind", AlarmRule.RuleKind.THRESHOLD)
    fields.setdefault("key", "temperature")
    fields.setdefault("op", ">")
    fields.setdefault("value", 60)
    rule = AlarmRule.objects.create(profile=profile, **fields)
    from .rules import engine

    engine.invalidate_rules()
    return rule


def now_ms(now=None) -> int:
    return int((now or clock.now()).timestamp() * 1000)
