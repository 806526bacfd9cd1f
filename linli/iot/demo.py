"""IoT demo data: device profiles with alarm rules, and devices in every grid of the demo district.

Registered as a ``linli.core.demo`` extension (after the registry's, so houses and facilities exist), it
writes inside the demo's one transaction; ``--reset`` deletes it first (``delete_iot``).

What each grid gets (``demo`` scale; ``district`` scale about 34 devices per grid, over 100,000 in all):
smoke detectors, a temperature/humidity sensor, a water-leak sensor, a gas detector, a camera; each lone
elderly person's house gets a water meter (rule: no use for 12 hours) and an SOS button; each community
gets street lights in a lighting group with an evening schedule, elevator monitors, EV charging piles, an
electricity meter, a door controller and an environment station. ``Scale.extra["iot_devices_per_grid"]``
overrides the number of generic sensors per grid.

Tokens are derived from the demo seed (the same seed gives the same tokens), so the simulator
(``linli simulate``) finds them with ``linli.iot.pipeline.list_devices(region_prefix=…)``. Rows are written
with COPY on PostgreSQL and ``executemany`` on SQLite, with primary keys assigned here.
"""

from __future__ import annotations

import random
import time

from django.core.management.color import no_style
from django.db import connection, models

from linli.core import clock
from linli.core.demo import Scale
from linli.core.models import Region
from linli.core.regions import Level
from linli.registry.models import Facility, PersonTag, Residency, Tag

from . import alarms, storage
from .models import (
    Alarm,
    AlarmRule,
    Attribute,
    Device,
    DeviceProfile,
    Downlink,
    Kind,
    LatestValue,
    LightingGroup,
    LightingSchedule,
    Notification,
    Telemetry,
)

# Generic sensors per grid at each scale (plus the per-house and per-community devices).
SENSORS_PER_GRID = {"demo": 6, "district": 29}
LIGHTS_PER_COMMUNITY = {"demo": 12, "district": 40}
SCHEDULE = [{"time": "05:30", "level": 0}, {"time": "18:30", "level": 100}, {"time": "23:00", "level": 50}]


def _keys(*items):
    return [{"key": k, "label": label, "unit": unit} for k, label, unit in items]


# name, kind, keys, reporting period (s), offline timeout (s), rated power (W), rules. ``grid_category`` is a
# category code of the grid app's catalogue (IOT01 smoke, IOT02 gas, IOT03 water leak, IOT04 lone elderly
# person, IOT05 lift, 01037 street light, SG0402 noise): a new alarm of the rule opens an event of it.
PROFILES = [
    (
        "温湿度传感器",
        Kind.TEMPERATURE_HUMIDITY,
        _keys(("temperature", "温度", "°C"), ("humidity", "湿度", "%"), ("battery", "电量", "%")),
        60,
        600,
        None,
        [
            dict(
                alarm_type="high_temperature",
                kind="threshold",
                key="temperature",
                op=">",
                value=60,
                duration_s=30,
                clear_value=55,
                min_clear_s=60,
                severity="critical",
                grid_category="IOT01",
            ),
            dict(
                alarm_type="fast_temperature_rise",
                kind="rate",
                key="temperature",
                op=">",
                value=8,
                severity="major",
            ),
            dict(
                alarm_type="low_battery",
                kind="threshold",
                key="battery",
                op="<",
                value=10,
                clear_value=20,
                severity="warning",
            ),
            dict(alarm_type="offline", kind="offline", severity="warning"),
        ],
    ),
    (
        "烟感",
        Kind.SMOKE,
        _keys(("smoke", "烟雾报警", ""), ("battery", "电量", "%")),
        300,
        3600,
        None,
        [
            dict(
                alarm_type="smoke",
                kind="threshold",
                key="smoke",
                op="==",
                value=True,
                severity="critical",
                min_clear_s=60,
                grid_category="IOT01",
            ),
            dict(
                alarm_type="low_battery",
                kind="threshold",
                key="battery",
                op="<",
                value=10,
                clear_value=20,
                severity="warning",
            ),
            dict(alarm_type="offline", kind="offline", severity="minor"),
        ],
    ),
    (
        "水浸传感器",
        Kind.WATER_LEAK,
        _keys(("leak", "水浸", ""), ("battery", "电量", "%")),
        300,
        3600,
        None,
        [
            dict(
                alarm_type="water_leak",
                kind="threshold",
                key="leak",
                op="==",
                value=True,
                severity="major",
                grid_category="IOT03",
            )
        ],
    ),
    (
        "可燃气体探测器",
        Kind.GAS_DETECTOR,
        _keys(("gas", "可燃气体浓度", "%LEL")),
        60,
        600,
        None,
        [
            dict(
                alarm_type="combustible_gas",
                kind="threshold",
                key="gas",
                op=">",
                value=20,
                duration_s=10,
                clear_value=10,
                min_clear_s=60,
                severity="critical",
                grid_category="IOT02",
            ),
            dict(alarm_type="offline", kind="offline", severity="major"),
        ],
    ),
    (
        "智能水表",
        Kind.WATER_METER,
        _keys(("water", "累计用水", "m³"), ("flow", "瞬时流量", "m³/h")),
        900,
        7200,
        None,
        [
            dict(
                alarm_type="no_water_use",
                kind="no_change",
                key="water",
                period_s=12 * 3600,
                severity="major",
                grid_category="IOT04",
            ),
            dict(alarm_type="offline", kind="offline", severity="minor"),
        ],
    ),
    (
        "智能电表",
        Kind.ELECTRICITY_METER,
        _keys(("energy", "累计电量", "kWh"), ("power", "功率", "W"), ("voltage", "电压", "V")),
        300,
        1800,
        None,
        [
            dict(
                alarm_type="overload",
                kind="threshold",
                key="power",
                op=">",
                value=20000,
                duration_s=60,
                severity="major",
            )
        ],
    ),
    ("燃气表", Kind.GAS_METER, _keys(("gas_volume", "累计用气", "m³")), 900, 7200, None, []),
    (
        "热量表",
        Kind.HEAT_METER,
        _keys(("heat", "累计热量", "GJ"), ("supply_temp", "供水温度", "°C")),
        900,
        7200,
        None,
        [],
    ),
    (
        "电梯监测",
        Kind.ELEVATOR,
        _keys(("floor", "楼层", ""), ("trapped", "困人", ""), ("fault_code", "故障码", "")),
        30,
        300,
        None,
        [
            dict(
                alarm_type="elevator_trapped",
                kind="threshold",
                key="trapped",
                op="==",
                value=True,
                severity="critical",
                grid_category="IOT05",
            ),
            dict(
                alarm_type="elevator_fault",
                kind="threshold",
                key="fault_code",
                op="!=",
                value=0,
                severity="major",
            ),
            dict(alarm_type="offline", kind="offline", severity="major"),
        ],
    ),
    (
        "充电桩",
        Kind.EV_CHARGER,
        _keys(("power", "充电功率", "kW"), ("temperature", "枪头温度", "°C"), ("charging", "充电中", "")),
        60,
        600,
        None,
        [
            dict(
                alarm_type="charger_overheat",
                kind="threshold",
                key="temperature",
                op=">",
                value=70,
                duration_s=20,
                clear_value=60,
                severity="critical",
                grid_category="IOT01",
            )
        ],
    ),
    (
        "智慧路灯",
        Kind.STREET_LIGHT,
        _keys(
            ("level", "亮度", "%"),
            ("power", "功率", "W"),
            ("energy", "累计电量", "kWh"),
            ("lamp_fault", "灯具故障", ""),
        ),
        300,
        1800,
        120.0,
        [
            dict(
                alarm_type="lamp_fault",
                kind="threshold",
                key="lamp_fault",
                op="==",
                value=True,
                severity="minor",
                grid_category="01037",
            ),
            dict(alarm_type="offline", kind="offline", severity="warning"),
        ],
    ),
    (
        "门禁控制器",
        Kind.DOOR_CONTROLLER,
        _keys(("door_open", "门状态", ""), ("forced", "强行开门", "")),
        60,
        600,
        None,
        [
            dict(
                alarm_type="door_forced",
                kind="threshold",
                key="forced",
                op="==",
                value=True,
                severity="major",
            )
        ],
    ),
    (
        "一键报警",
        Kind.SOS_BUTTON,
        _keys(("sos", "求助", ""), ("battery", "电量", "%")),
        3600,
        86400,
        None,
        [
            dict(
                alarm_type="sos",
                kind="threshold",
                key="sos",
                op="==",
                value=True,
                severity="critical",
                grid_category="IOT04",
            )
        ],
    ),
    (
        "摄像头",
        Kind.CAMERA,
        _keys(("online", "在线", "")),
        60,
        300,
        None,
        [dict(alarm_type="offline", kind="offline", severity="minor")],
    ),
    (
        "环境监测站",
        Kind.ENVIRONMENT,
        _keys(("pm25", "PM2.5", "μg/m³"), ("noise", "噪声", "dB"), ("temperature", "气温", "°C")),
        60,
        600,
        None,
        [
            dict(
                alarm_type="air_pollution",
                kind="threshold",
                key="pm25",
                op=">",
                value=150,
                duration_s=600,
                clear_value=115,
                severity="warning",
            ),
            dict(
                alarm_type="noise",
                kind="threshold",
                key="noise",
                op=">",
                value=70,
                duration_s=300,
                severity="minor",
                grid_category="SG0402",
            ),
        ],
    ),
    ("网关", Kind.GATEWAY, [], 60, 600, None, []),
]

DEVICE_COLUMNS = (
    "id", "region_id", "region_code", "name", "label", "profile_id", "access_token", "house_id",
    "facility_id",
    "is_gateway", "lon", "lat", "created_at", "connected", "is_demo",
)  # fmt: skip


def ensure_profiles() -> dict[str, DeviceProfile]:
    """The demo's device profiles and their rules (created once; an operator's later edits are kept)."""
    profiles = {}
    for name, kind, keys, period, timeout, power, rules in PROFILES:
        profile, created = DeviceProfile.objects.get_or_create(
            name=name,
            defaults={
                "kind": kind,
                "keys": keys,
                "reporting_period_s": period,
                "offline_timeout_s": timeout,
                "rated_power_w": power,
            },
        )
        if created:
            AlarmRule.objects.bulk_create(AlarmRule(profile=profile, **rule) for rule in rules)
        profiles[kind] = profile
    return profiles


def _writer(model, columns):
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    names = ", ".join(quote(model._meta.get_field(c).column) for c in columns)
    if connection.vendor == "postgresql":

        def write(rows):
            if rows:
                with (
                    connection.cursor() as cursor,
                    cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
                ):
                    for row in rows:
                        copy.write_row(row)

    else:
        sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(columns))})"
        adapt = connection.ops.adapt_datetimefield_value

        def write(rows):
            if rows:
                with connection.cursor() as cursor:
                    cursor.executemany(
                        sql, [tuple(adapt(v) if hasattr(v, "tzinfo") else v for v in r) for r in rows]
                    )

    return write


def _lone_elderly_houses(district_code: str) -> dict[str, list[int]]:
    """Houses (by grid) where a person tagged as living alone in old age lives now."""
    people = PersonTag.objects.filter(region_code__startswith=district_code, tag=Tag.ELDERLY_ALONE).values(
        "person_id"
    )
    result: dict[str, list[int]] = {}
    rows = Residency.objects.filter(person_id__in=people, end=None).values_list("region_code", "house_id")
    for code, house_id in rows.distinct():
        result.setdefault(code, []).append(house_id)
    return result


def generate(district: Region, scale: Scale, rng: random.Random) -> dict[str, int]:
    profiles = ensure_profiles()
    now = clock.now()
    next_id = (Device.objects.aggregate(m=models.Max("id"))["m"] or 0) + 1
    sensors = int(scale.extra.get("iot_devices_per_grid", SENSORS_PER_GRID.get(scale.name, 6)))
    lights_per_community = LIGHTS_PER_COMMUNITY.get(scale.name, 12)
    regions = list(
        Region.objects.filter(code__startswith=district.code, level__in=[Level.COMMUNITY, Level.GRID])
        .only("code", "name", "level", "centre_lon", "centre_lat")
        .order_by("code")
    )
    elderly = _lone_elderly_houses(district.code)
    lamp_posts: dict[str, list[int]] = {}
    for code, facility_id in Facility.objects.filter(
        region_code__startswith=district.code, kind="路灯"
    ).values_list("region_code", "id"):
        lamp_posts.setdefault(code[:12], []).append(facility_id)
    rows: list[tuple] = []
    lights_by_community: dict[str, list[int]] = {}
    seq: dict[str, int] = {}
    generic = [
        Kind.SMOKE,
        Kind.SMOKE,
        Kind.TEMPERATURE_HUMIDITY,
        Kind.WATER_LEAK,
        Kind.GAS_DETECTOR,
        Kind.CAMERA,
    ]
    district_generic = [
        *(Kind.SMOKE, Kind.TEMPERATURE_HUMIDITY, Kind.WATER_LEAK, Kind.GAS_DETECTOR, Kind.CAMERA),
        *(Kind.GAS_METER, Kind.HEAT_METER, Kind.ELECTRICITY_METER, Kind.DOOR_CONTROLLER),
    ]

    def add(region, kind, label, house_id=None, facility_id=None):
        nonlocal next_id
        number = seq[kind] = seq.get(kind, 0) + 1
        lon = (region.centre_lon or 117.1) + rng.uniform(-0.002, 0.002)
        lat = (region.centre_lat or 36.6) + rng.uniform(-0.002, 0.002)
        token = f"{rng.getrandbits(128):032x}"
        rows.append(
            (
                next_id, region.code, region.code, f"{district.code}-{kind}-{number:06d}", label,
                profiles[kind].pk, token, house_id, facility_id, kind == Kind.GATEWAY, round(lon, 6),
                round(lat, 6), now, False, True,
            )
        )  # fmt: skip
        next_id += 1
        return next_id - 1

    for region in regions:
        if region.level == Level.COMMUNITY:
            community = region
            posts = lamp_posts.get(community.code, [])
            lights = lights_by_community.setdefault(community.code, [])
            for i in range(lights_per_community):
                post = posts[i] if i < len(posts) else None
                lights.append(
                    add(community, Kind.STREET_LIGHT, f"{community.name}路灯{i + 1:02d}", facility_id=post)
                )
            for i in range(rng.randint(2, 4)):
                add(community, Kind.ELEVATOR, f"{community.name}电梯{i + 1}")
            for i in range(2):
                add(community, Kind.EV_CHARGER, f"{community.name}充电桩{i + 1}")
            add(community, Kind.ELECTRICITY_METER, f"{community.name}公共照明电表")
            add(community, Kind.DOOR_CONTROLLER, f"{community.name}东门门禁")
            add(community, Kind.ENVIRONMENT, f"{community.name}环境监测站")
            add(community, Kind.GATEWAY, f"{community.name}物联网关")
            continue
        kinds = generic if sensors <= len(generic) else district_generic
        for i in range(sensors):
            kind = kinds[i % len(kinds)]
            add(region, kind, f"{region.name}{profiles[kind].name}{i // len(kinds) + 1}")
        for house_id in elderly.get(region.code, []):
            add(region, Kind.WATER_METER, "独居老人水表", house_id=house_id)
            add(region, Kind.SOS_BUTTON, "独居老人一键报警", house_id=house_id)
    write = _writer(Device, DEVICE_COLUMNS)
    for start in range(0, len(rows), 20_000):
        write(rows[start : start + 20_000])
    # Lighting groups, one per community, with the evening schedule.
    groups = []
    for community_code in lights_by_community:
        groups.append(LightingGroup(region_id=community_code, region_code=community_code, name="社区路灯"))
    LightingGroup.objects.bulk_create(groups, batch_size=2000)
    created = {g.region_code: g for g in LightingGroup.objects.filter(region_code__startswith=district.code)}
    through = LightingGroup.devices.through
    through.objects.bulk_create(
        [
            through(lightinggroup_id=created[code].pk, device_id=device_id)
            for code, lights in lights_by_community.items()
            for device_id in lights
        ],
        batch_size=5000,
    )
    LightingSchedule.objects.bulk_create(
        [LightingSchedule(group=g, entries=SCHEDULE) for g in created.values()], batch_size=2000
    )
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), [Device]):
            cursor.execute(sql)
    _history(district, rng)
    return {
        "devices": len(rows),
        "groups": len(created),
        "water_meters": sum(len(v) for v in elderly.values()),
    }


def _history(district: Region, rng: random.Random) -> None:
    """Six hours of readings for the first community's devices, so the charts show something at once; the
    simulator adds the rest. One of its lone elderly water meters has shown no use for 13 hours."""
    first = (
        Region.objects.filter(code__startswith=district.code, level=Level.COMMUNITY).order_by("code").first()
    )
    if first is None:
        return
    now_ms = int(clock.now().timestamp() * 1000)
    devices = list(Device.objects.filter(region_code__startswith=first.code).select_related("profile"))
    points: list[storage.Point] = []
    for device in devices:
        kind = device.profile.kind
        base = rng.uniform(18, 26)
        energy = rng.uniform(100, 900)
        for step in range(72):
            ts = now_ms - (72 - step) * 300_000
            hour = (step / 12) % 24
            if kind == Kind.TEMPERATURE_HUMIDITY:
                values = {"temperature": round(base + 2 * rng.random() + hour * 0.2, 2),
                          "humidity": round(rng.uniform(35, 60), 1), "battery": 88}  # fmt: skip
            elif kind == Kind.STREET_LIGHT:
                power = 60.0
                energy += power * 300 / 3_600_000
                values = {"level": 50, "power": power, "energy": round(energy, 4), "lamp_fault": False}
            elif kind == Kind.ENVIRONMENT:
                values = {"pm25": round(rng.uniform(20, 80), 1), "noise": round(rng.uniform(40, 60), 1)}
            elif kind == Kind.WATER_METER:
                values = {"water": round(energy / 10, 3)}  # unchanged: no use
            elif kind == Kind.ELECTRICITY_METER:
                energy += rng.uniform(0.5, 2)
                values = {
                    "energy": round(energy, 3),
                    "power": round(rng.uniform(2000, 9000), 1),
                    "voltage": 228.0,
                }
            else:
                continue
            for key, value in values.items():
                points.append(storage.Point(device.pk, key, ts, *storage.split_value(value)))
    points.sort()
    if points:
        storage.prepare_partitions(points)
        storage.write_points(points)
        Device.objects.filter(pk__in={p.device_id for p in points}).update(last_activity=clock.now())
    meter = (
        Device.objects.filter(region_code__startswith=district.code, profile__kind=Kind.WATER_METER)
        .order_by("pk")
        .first()
    )
    if meter is not None:
        rule = AlarmRule.objects.filter(profile=meter.profile, kind="no_change").first()
        alarms.raise_alarm(
            device_id=meter.pk,
            region_code=meter.region_code,
            type="no_water_use",
            severity="major",
            ts_ms=now_ms,
            details={"kind": "no_change", "key": "water", "period_s": 43200},
            rule_id=rule.pk if rule else None,
        )


def demo_extension(district: Region, scale: Scale, rng: random.Random) -> str:
    """``linli demo`` hook: the demo district's devices; says how many."""
    started = time.monotonic()
    counts = generate(district, scale, rng)
    seconds = time.monotonic() - started
    return (
        f"物联网 IoT: {counts['devices']:,} 设备 devices ({counts['water_meters']:,} 独居老人水表 "
        f"lone-elderly water meters), {counts['groups']:,} 路灯分组 lighting groups ({seconds:.1f} s)."
    )


def delete_iot(district_code: str) -> None:
    """``--reset`` hook: delete the IoT rows of the demo district in plain SQL, dependants first."""
    quote = connection.ops.quote_name
    like = f"{district_code}%"

    def table(model):
        return quote(model._meta.db_table)

    devices = f"SELECT id FROM {table(Device)} WHERE region_code LIKE %s"
    groups = f"SELECT id FROM {table(LightingGroup)} WHERE region_code LIKE %s"
    through = LightingGroup.devices.through
    statements = [
        (f"DELETE FROM {table(Notification)} WHERE region_code LIKE %s", [like]),
        (f"DELETE FROM {table(Alarm)} WHERE device_id IN ({devices})", [like]),
        (f"DELETE FROM {table(Downlink)} WHERE device_id IN ({devices})", [like]),
        (f"DELETE FROM {table(through)} WHERE lightinggroup_id IN ({groups})", [like]),
        (f"DELETE FROM {table(LightingSchedule)} WHERE group_id IN ({groups})", [like]),
        (f"DELETE FROM {table(LightingGroup)} WHERE region_code LIKE %s", [like]),
        (f"DELETE FROM {table(Attribute)} WHERE device_id IN ({devices})", [like]),
        (f"DELETE FROM {table(LatestValue)} WHERE device_id IN ({devices})", [like]),
        (f"DELETE FROM {table(Telemetry)} WHERE device_id IN ({devices})", [like]),
        (f"UPDATE {table(Device)} SET gateway_id = NULL WHERE region_code LIKE %s", [like]),
        (f"DELETE FROM {table(Device)} WHERE region_code LIKE %s", [like]),
    ]
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
    from .rules import engine

    engine.reset()
