"""Scope isolation of every IoT surface: devices, alarms, commands, lighting groups — pages and API."""

from linli.core.testing import ScopedSurface, scope_test_class
from linli.iot import services
from linli.iot.models import Alarm, LightingGroup
from linli.iot.testing import make_device

READERS = tuple(sorted(services.READ_ROLES))


def make_alarm(code):
    device = make_device(code)
    from linli.core import clock

    now = clock.now()
    return Alarm.objects.create(
        device=device, region_code=code, type="smoke", severity="critical", start_ts=now, end_ts=now
    )


def make_command(code):
    return services.send_rpc(make_device(code), "setLevel", {"level": 30})


_groups = iter(range(1, 100_000))


def make_group(code):
    return LightingGroup.objects.create(region_id=code, name=f"路灯组{next(_groups)}")


SURFACES = [
    ScopedSurface(
        "device",
        make=make_device,
        marker=lambda d: d.name,
        api_detail=lambda d: f"/api/v1/iot/devices/{d.pk}/",
        api_list="/api/v1/iot/devices/?limit=1000",
        page_detail=lambda d: f"/iot/devices/{d.pk}/",
        page_list="/iot/",
        roles=READERS,
    ),
    ScopedSurface(
        "device-telemetry",
        make=make_device,
        marker=lambda d: "{",
        api_detail=lambda d: f"/api/v1/iot/devices/{d.pk}/telemetry/",
        roles=READERS,
    ),
    ScopedSurface(
        "alarm",
        make=make_alarm,
        marker=lambda a: a.device.name,
        api_detail=lambda a: f"/api/v1/iot/alarms/{a.pk}/",
        api_list="/api/v1/iot/alarms/?limit=1000",
        page_list="/iot/alarms/",
        roles=READERS,
    ),
    ScopedSurface(
        "command",
        make=make_command,
        marker=lambda c: f'"id":{c.pk},',
        api_detail=lambda c: f"/api/v1/iot/commands/{c.pk}/",
        api_list="/api/v1/iot/commands/?limit=1000",
        roles=READERS,
    ),
    ScopedSurface(
        "lighting-group",
        make=make_group,
        marker=lambda g: f"/iot/lighting/{g.pk}/",
        page_detail=lambda g: f"/iot/lighting/{g.pk}/",
        page_list="/iot/lighting/",
        roles=READERS,
    ),
]

TestIotScope = scope_test_class(SURFACES)
