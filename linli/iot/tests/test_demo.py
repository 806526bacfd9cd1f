"""The demo district's devices: every kind, tokens for the simulator, lone elderly water meters, lights."""

from linli.core import demo
from linli.iot import demo as iot_demo
from linli.iot import pipeline
from linli.iot.models import Alarm, Device, Kind, LatestValue, LightingGroup, Telemetry
from linli.registry.models import Residency

SMALL = demo.Scale("small", streets=1, towns=1, communities=4, grids=12, residents=1)


def test_demo_devices_for_every_kind_with_working_tokens(db):
    result = demo.build(SMALL, reset=True)
    assert any(line.startswith("物联网 IoT:") for line in result.extension_lines)
    kinds = set(Device.objects.values_list("profile__kind", flat=True))
    assert {Kind.SMOKE, Kind.WATER_METER, Kind.STREET_LIGHT, Kind.ELEVATOR, Kind.SOS_BUTTON} <= kinds
    refs = pipeline.list_devices(region_prefix=demo.DISTRICT_CODE)
    assert len(refs) == Device.objects.count() > 100
    assert pipeline.authenticate(refs[0].token).id == refs[0].id
    assert all(pipeline.valid_token(r.token) for r in refs)
    # Water meters sit in houses where a lone elderly person lives now.
    meters = Device.objects.filter(profile__kind=Kind.WATER_METER)
    assert meters.exists()
    for meter in meters[:10]:
        residents = Residency.objects.filter(house=meter.house_id, end=None)
        assert residents.filter(person__tags__tag="elderly_alone").exists()
    group = LightingGroup.objects.first()
    assert group.devices.count() > 0 and group.schedule.entries
    # Some history for the charts, and the one example alarm.
    assert Telemetry.objects.exists() and LatestValue.objects.exists()
    assert Alarm.objects.filter(type="no_water_use", cleared=False).count() == 1


def test_reset_removes_the_devices_and_the_same_seed_gives_the_same_tokens(db):
    demo.build(SMALL, reset=True)
    tokens = sorted(Device.objects.values_list("access_token", flat=True))
    demo.build(SMALL, reset=True)
    assert sorted(Device.objects.values_list("access_token", flat=True)) == tokens
    iot_demo.delete_iot(demo.DISTRICT_CODE)
    assert not Device.objects.exists() and not Telemetry.objects.exists()
