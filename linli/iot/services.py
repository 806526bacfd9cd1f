"""Business rules of the IoT hub: provisioning, commands and lighting schedules, state sweeps, energy."""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, Max, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from linli.core import audit, clock
from linli.core.models import Region, Role
from linli.core.scope import code_within
from linli.registry import excel
from linli.registry.models import Facility, House

from . import alarms, storage
from .models import (
    Alarm,
    AlarmRule,
    Attribute,
    Device,
    DeviceProfile,
    Downlink,
    LatestValue,
    LightingGroup,
    LightingSchedule,
    Telemetry,
)
from .pipeline import new_token, valid_token

log = logging.getLogger(__name__)

RPC_TIMEOUT = timedelta(minutes=2)
DEFAULT_LIGHT_POWER_W = 100.0

# Who may do what with devices (always within their region scope).
READ_ROLES = {
    Role.DISTRICT_ADMIN,
    Role.STREET_OFFICER,
    Role.COMMUNITY_WORKER,
    Role.GRID_WORKER,
    Role.PROPERTY_MANAGER,
    Role.AUDITOR,
}
OPERATE_ROLES = READ_ROLES - {Role.AUDITOR}  # acknowledge and clear alarms, send commands
PROVISION_ROLES = {Role.DISTRICT_ADMIN, Role.STREET_OFFICER, Role.COMMUNITY_WORKER}  # add devices, see tokens
CONFIGURE_ROLES = {Role.DISTRICT_ADMIN}  # profiles and rules apply to every region


def can_read(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.role in READ_ROLES)


def can_operate(user) -> bool:
    return can_read(user) and user.role in OPERATE_ROLES


def can_provision(user) -> bool:
    return can_read(user) and user.role in PROVISION_ROLES


def can_configure(user) -> bool:
    return can_read(user) and user.role in CONFIGURE_ROLES


def now_ms(now: datetime | None = None) -> int:
    return int((now or clock.now()).timestamp() * 1000)


# --- Devices ---


def create_device(user, **fields) -> Device:
    fields.setdefault("access_token", new_token())
    device = Device.objects.create(**fields)
    audit.record("iot.device.created", actor=user, target=device, region_code=device.region_code)
    return device


def regenerate_token(device: Device, user) -> str:
    device.access_token = new_token()
    device.save(update_fields=["access_token"])
    audit.record("iot.device.token_regenerated", actor=user, target=device, region_code=device.region_code)
    return device.access_token


def delete_device(device: Device, user) -> None:
    """Delete a device with its time series (the table has no foreign key: see models.Telemetry)."""
    from . import pipeline

    pipeline._known_devices.discard(device.pk)
    with transaction.atomic():
        Telemetry.objects.filter(device_id=device.pk).delete()
        audit.record("iot.device.deleted", actor=user, target=device, region_code=device.region_code)
        device.delete()


# --- Bulk provisioning from Excel or CSV ---

# The column headers are the file format (fixed Chinese words, like the registry's templates).
IMPORT_COLUMNS = [
    ("name", "设备名称", True),
    ("profile", "设备配置", True),
    ("region", "区域编码", True),
    ("token", "访问令牌", False),
    ("label", "显示名称", False),
    ("house", "房屋地址", False),
    ("facility", "部件编码", False),
    ("gateway", "网关", False),
    ("lon", "经度", False),
    ("lat", "纬度", False),
]
HEADERS = {header: key for key, header, _required in IMPORT_COLUMNS}
YES = {"是", "Y", "y", "yes", "Yes", "true", "True", "1"}
NO = {"否", "N", "n", "no", "No", "false", "False", "0", ""}


@dataclass
class ImportError_:
    row: int
    column: str  # the header
    letter: str
    message: str

    def __str__(self) -> str:
        if self.column:
            return _("Row %(row)d, column %(letter)s (%(header)s): %(message)s") % {
                "row": self.row,
                "letter": self.letter,
                "header": self.column,
                "message": self.message,
            }
        return _("Row %(row)d: %(message)s") % {"row": self.row, "message": self.message}


@dataclass
class ProvisionResult:
    total: int = 0
    created: list[Device] = field(default_factory=list)
    errors: list[ImportError_] = field(default_factory=list)
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem and not self.errors


def import_template() -> bytes:
    example = ["1号楼烟感-01", "烟感", "370198001001001", "", "1号楼1单元烟感", "", "", "否", "", ""]
    return excel.write_sheet("设备", [header for _k, header, _r in IMPORT_COLUMNS], [example])


def _rows_of(data: bytes, filename: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and rows of an upload (.xlsx, or .csv in UTF-8 or GB18030); raises WorkbookError."""
    if not data.startswith(excel.ZIP_SIGNATURE):
        if not data or len(data) > excel.max_bytes() or data.startswith(excel.OLE2_SIGNATURE):
            excel.check_signature(data)  # explains an empty, too large or old .xls file
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise excel.WorkbookError(_("The CSV file is neither UTF-8 nor GB18030 text."))
        reader = list(csv.reader(io.StringIO(text)))
        if not reader:
            raise excel.WorkbookError(_("The file is empty. Fill in the template and upload it again."))
        return [c.strip() for c in reader[0]], [
            (n, [c.strip() for c in row]) for n, row in enumerate(reader[1:], 2)
        ]
    excel.check_signature(data)
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = book.worksheets[0]
        rows = list(sheet.iter_rows(values_only=True))
        book.close()
    except Exception:  # noqa: BLE001 - openpyxl raises many kinds of errors for damaged files
        raise excel.WorkbookError(
            _(
                "The file could not be read as an Excel workbook (.xlsx); it may be damaged or another "
                "kind of file."
            )
        ) from None
    if not rows:
        raise excel.WorkbookError(
            _("The first sheet is empty: it has no header row. Start from the template.")
        )
    header = [excel.cell_text(c) for c in rows[0]]
    return header, [(n, [excel.cell_text(c) for c in row]) for n, row in enumerate(rows[1:], 2)]


def import_devices(data: bytes, filename: str, user) -> ProvisionResult:
    """Create devices from a sheet, all or nothing: any row error writes nothing and lists every error
    (row, column, reason). Region codes must lie in the user's scope; tokens are generated when blank."""
    result = ProvisionResult()
    try:
        header, rows = _rows_of(data, filename)
    except excel.WorkbookError as exc:
        result.problem = str(exc)
        return result
    positions: dict[str, int] = {}
    for index, title in enumerate(header):
        if title in HEADERS:
            positions[HEADERS[title]] = index
    missing = [h for key, h, required in IMPORT_COLUMNS if required and key not in positions]
    if missing:
        result.problem = _("Missing columns: %(columns)s. Start from the template.") % {
            "columns": "、".join(missing)
        }
        return result
    rows = [(n, cells) for n, cells in rows if any(cells)]
    if len(rows) > excel.max_rows():
        result.problem = _("At most %(limit)d rows can be imported at once.") % {"limit": excel.max_rows()}
        return result
    result.total = len(rows)
    profiles = {p.name: p for p in DeviceProfile.objects.all()}
    scope = user.scope_codes
    codes = {cells[positions["region"]] for _n, cells in rows if positions["region"] < len(cells)}
    regions = set(Region.objects.filter(code__in=codes).values_list("code", flat=True))
    names = [cells[positions["name"]] for _n, cells in rows if positions["name"] < len(cells)]
    taken_names = set(Device.objects.filter(name__in=names).values_list("name", flat=True))
    tokens = [
        cells[positions["token"]]
        for _n, cells in rows
        if "token" in positions and positions["token"] < len(cells)
    ]
    taken_tokens = set(
        Device.objects.filter(access_token__in=[t for t in tokens if t]).values_list(
            "access_token", flat=True
        )
    )
    seen_names: dict[str, int] = {}
    seen_tokens: dict[str, int] = {}
    planned: list[Device] = []

    def cell(cells, key):
        position = positions.get(key)
        return cells[position] if position is not None and position < len(cells) else ""

    def fail(number, key, message):
        position = positions.get(key)
        result.errors.append(
            ImportError_(
                number,
                dict((k, h) for k, h, _r in IMPORT_COLUMNS).get(key, ""),
                excel.column_letter(position) if position is not None else "",
                message,
            )
        )

    for number, cells in rows:
        before = len(result.errors)
        name, profile_name, code = cell(cells, "name"), cell(cells, "profile"), cell(cells, "region")
        token, label = cell(cells, "token"), cell(cells, "label")
        if not name:
            fail(number, "name", _("The device name is required."))
        elif len(name) > 100:
            fail(number, "name", _("At most 100 characters."))
        elif name in taken_names:
            fail(number, "name", _("A device with this name exists already."))
        elif name in seen_names:
            fail(number, "name", _("The same name is on row %(row)d.") % {"row": seen_names[name]})
        else:
            seen_names[name] = number
        profile = profiles.get(profile_name)
        if profile is None:
            fail(number, "profile", _("No device profile is named 「%(name)s」.") % {"name": profile_name})
        if code not in regions:
            fail(number, "region", _("No region has the code 「%(code)s」.") % {"code": code})
        elif len(code) != 15 and len(code) != 12:
            fail(number, "region", _("Give a community (12 digits) or grid (15 digits) code."))
        elif not code_within(code, scope):
            fail(number, "region", _("This region is outside your scope."))
        if token:
            if not valid_token(token):
                fail(number, "token", _("A token has 20 to 64 characters, without spaces or slashes."))
            elif token in taken_tokens:
                fail(number, "token", _("This token is used by another device."))
            elif token in seen_tokens:
                fail(number, "token", _("The same token is on row %(row)d.") % {"row": seen_tokens[token]})
            else:
                seen_tokens[token] = number
        gateway_text = cell(cells, "gateway")
        if gateway_text not in YES | NO:
            fail(number, "gateway", _("Write 是 or 否."))
        coordinates = {}
        for key, low, high in (("lon", 73, 136), ("lat", 3, 54)):
            text = cell(cells, key)
            if not text:
                continue
            try:
                value = float(text)
            except ValueError:
                fail(number, key, _("Not a number."))
                continue
            if not low <= value <= high:
                fail(number, key, _("Outside China (WGS-84 degrees)."))
            coordinates[key] = value
        house = facility = None
        if address := cell(cells, "house"):
            house = House.objects.visible_to(user).filter(address=address).first()
            if house is None:
                fail(number, "house", _("No house with this address in your scope."))
            elif code and not house.region_code.startswith(code[:12]):
                fail(number, "house", _("The house is not in the row's community."))
        if facility_code := cell(cells, "facility"):
            facility = Facility.objects.visible_to(user).filter(code=facility_code).first()
            if facility is None:
                fail(number, "facility", _("No public facility with this code in your scope."))
        if len(result.errors) == before:
            planned.append(
                Device(
                    name=name,
                    label=label[:100],
                    profile=profile,
                    region_id=code,
                    region_code=code,
                    access_token=token or new_token(),
                    house=house,
                    building_id=house.building_id if house else None,
                    facility=facility,
                    is_gateway=gateway_text in YES and gateway_text != "",
                    **coordinates,
                )
            )
    if result.errors:
        return result
    try:
        with transaction.atomic():
            Device.objects.bulk_create(planned, batch_size=2000)
            audit.record("iot.devices.imported", actor=user, count=len(planned), file=filename[:100])
    except IntegrityError:
        result.problem = _(
            "Another import created some of these devices meanwhile; nothing was written. Try again."
        )
        return result
    result.created = planned
    return result


def credentials_workbook(devices: list[Device]) -> bytes:
    return excel.write_sheet(
        "设备令牌",
        ["设备名称", "访问令牌", "区域编码"],
        ((d.name, d.access_token, d.region_code) for d in devices),
    )


# --- Commands ---


def _notify_downlink(downlink_id: int) -> None:
    """Wake the ingest service (it LISTENs on this channel); delivered at commit, with the row."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify('linli_downlink', %s)", [str(downlink_id)])


def send_rpc(
    device: Device,
    method: str,
    params,
    *,
    user=None,
    group: LightingGroup | None = None,
    oneway: bool = False,
    timeout: timedelta = RPC_TIMEOUT,
) -> Downlink:
    """Queue an RPC command for a device; the ingest service delivers it (queued → delivered → successful,
    or timeout/failed)."""
    with transaction.atomic():
        # Per-device RPC ids, like ThingsBoard's request ids; the row lock keeps two senders apart.
        list(Device.objects.select_for_update().filter(pk=device.pk).values_list("pk", flat=True))
        last = Downlink.objects.filter(device=device).aggregate(m=Max("rpc_id"))["m"] or 0
        payload = {"method": method, "params": params}
        if oneway:
            payload["oneway"] = True
        command = Downlink.objects.create(
            device=device,
            region_code=device.region_code,
            kind=Downlink.Kind.RPC,
            payload=payload,
            rpc_id=last + 1,
            expires_at=clock.now() + timeout,
            created_by=user,
            group=group,
        )
        _notify_downlink(command.pk)
    return command


def set_shared_attributes(device: Device, values: dict, *, user=None) -> Downlink:
    """Store shared attributes and queue their push to the device."""
    now = clock.now()
    with transaction.atomic():
        for key, value in values.items():
            Attribute.objects.update_or_create(
                device=device,
                scope=Attribute.Scope.SHARED,
                key=key,
                defaults={"value": value, "updated_at": now},
            )
        downlink = Downlink.objects.create(
            device=device,
            region_code=device.region_code,
            kind=Downlink.Kind.ATTRIBUTES,
            payload=values,
            created_by=user,
        )
        _notify_downlink(downlink.pk)
    return downlink


LIGHT_ACTIONS = {
    "on": ("setState", {"on": True}),
    "off": ("setState", {"on": False}),
}


def light_command(action: str, level: int | None = None) -> tuple[str, dict]:
    """The RPC for a street light: on, off, or dim to a level (0–100)."""
    if action == "dim":
        if level is None or not 0 <= int(level) <= 100:
            raise ValueError(_("The level is a whole number from 0 to 100."))
        return "setLevel", {"level": int(level)}
    if action not in LIGHT_ACTIONS:
        raise ValueError(_("Unknown command."))
    return LIGHT_ACTIONS[action]


def command_group(
    group: LightingGroup, action: str, level: int | None = None, *, user=None
) -> list[Downlink]:
    method, params = light_command(action, level)
    sent = [
        send_rpc(device, method, params, user=user, group=group) for device in group.devices.order_by("pk")
    ]
    audit.record(
        "iot.lighting.command",
        actor=user,
        target=group,
        region_code=group.region_code,
        command=action,
        level=level,
    )
    return sent


def delivery_summary(commands) -> dict[str, int]:
    summary = {status: 0 for status in Downlink.Status.values}
    for status in commands:
        summary[status] += 1
    return summary


# --- Lighting schedules and energy ---


def _parse_entries(entries) -> list[tuple[time, int]]:
    parsed = []
    for entry in entries or []:
        hours, minutes = str(entry["time"]).split(":")
        parsed.append((time(int(hours), int(minutes)), int(entry["level"])))
    return sorted(parsed)


def validate_entries(entries) -> list[dict]:
    try:
        parsed = _parse_entries(entries)
    except (KeyError, ValueError, TypeError):
        raise ValueError(_("Each entry needs a time HH:MM and a level 0–100.")) from None
    if any(not 0 <= level <= 100 for _t, level in parsed):
        raise ValueError(_("Each entry needs a time HH:MM and a level 0–100."))
    return [{"time": t.strftime("%H:%M"), "level": level} for t, level in parsed]


def level_at(entries, moment: datetime) -> int | None:
    """The scheduled level at a local moment: the last entry at or before it (yesterday's last if none)."""
    parsed = _parse_entries(entries)
    if not parsed:
        return None
    local = timezone.localtime(moment).time()
    level = parsed[-1][1]
    for at, value in parsed:
        if at <= local:
            level = value
    return level


def run_schedules(now: datetime | None = None) -> int:
    """Send each group the level its schedule gives now, when that differs from the last one sent."""
    now = now or clock.now()
    sent = 0
    for schedule in LightingSchedule.objects.filter(enabled=True).select_related("group"):
        level = level_at(schedule.entries, now)
        if level is None or level == schedule.last_level:
            continue
        action = "off" if level == 0 else "dim"
        sent += len(command_group(schedule.group, action, level if level else None))
        LightingSchedule.objects.filter(pk=schedule.pk).update(last_level=level, last_applied=now)
    return sent


def _lit_hours(entries, start: datetime, end: datetime) -> tuple[float, float]:
    """(hours lit at any level, level-weighted hours) of a schedule between two moments, local time."""
    parsed = _parse_entries(entries)
    if not parsed:
        return 0.0, 0.0
    lit = weighted = 0.0
    step = timedelta(minutes=5)
    moment = start
    while moment < end:
        level = level_at(entries, moment) or 0
        span = min(step, end - moment).total_seconds() / 3600
        if level > 0:
            lit += span
            weighted += span * level / 100
        moment += step
    return lit, weighted


@dataclass
class EnergyReport:
    lights: int
    lit_hours: float
    full_kwh: float  # all lights at rated power for every lit hour
    actual_kwh: float  # metered (energy counter, or power integrated), or the schedule's levels if unmetered
    saved_kwh: float
    saved_percent: float
    metered: int  # lights whose consumption came from their own data


def energy_saved(group: LightingGroup, start: datetime, end: datetime) -> EnergyReport:
    """Energy saved by the group's schedule versus full power over the same lit hours.

    Actual use per light comes from its telemetry: the increase of the cumulative ``energy`` counter (kWh),
    or else the ``power`` samples (W) integrated over time; a light without such data is counted at the
    schedule's level times its rated power.
    """
    schedule = getattr(group, "schedule", None)
    entries = schedule.entries if schedule else []
    lit, weighted = _lit_hours(entries, start, end)
    lights = list(group.devices.select_related("profile"))
    start_ms, end_ms = now_ms(start), now_ms(end)
    full = actual = 0.0
    metered = 0
    for light in lights:
        rated = light.profile.rated_power_w or DEFAULT_LIGHT_POWER_W
        full += rated * lit / 1000
        points = Telemetry.objects.filter(device_id=light.pk, ts__gte=start_ms, ts__lt=end_ms)
        energy = list(
            points.filter(key="energy", num__isnull=False).order_by("ts").values_list("num", flat=True)
        )
        if len(energy) >= 2:
            actual += max(energy[-1] - energy[0], 0.0)
            metered += 1
            continue
        power = list(points.filter(key="power", num__isnull=False).order_by("ts").values_list("ts", "num"))
        if len(power) >= 2:
            watt_hours = sum(
                (t2 - t1) / 3_600_000 * (p1 + p2) / 2
                for (t1, p1), (t2, p2) in zip(power, power[1:], strict=False)
            )
            actual += watt_hours / 1000
            metered += 1
            continue
        actual += rated * weighted / 1000
    saved = max(full - actual, 0.0)
    return EnergyReport(
        lights=len(lights),
        lit_hours=round(lit, 2),
        full_kwh=round(full, 3),
        actual_kwh=round(actual, 3),
        saved_kwh=round(saved, 3),
        saved_percent=round(100 * saved / full, 1) if full else 0.0,
        metered=metered,
    )


# --- The sweep: what happens because time passes ---


def _active(alarm_type: str):
    return Exists(Alarm.objects.filter(device=OuterRef("pk"), type=alarm_type, cleared=False))


SWEEP_MAX_ALARMS = 2000


def sweep(now: datetime | None = None) -> dict[str, int]:
    """Run every minute (``linli manage iot_sweep``): partitions ahead, offline and no-data alarms, RPC
    timeouts, lighting schedules. Idempotent; safe to run in several processes."""
    from . import pipeline
    from .rules import engine

    now = now or clock.now()
    counts = {"offline": 0, "no_data": 0, "no_change": 0, "timeouts": 0, "light_commands": 0}
    storage.ensure_partitions(now=now)
    current_ms = now_ms(now)
    rules = AlarmRule.objects.filter(
        enabled=True,
        kind__in=[AlarmRule.RuleKind.OFFLINE, AlarmRule.RuleKind.NO_DATA, AlarmRule.RuleKind.NO_CHANGE],
    ).select_related("profile")
    for rule in rules:
        devices = Device.objects.filter(profile=rule.profile).annotate(alarmed=_active(rule.alarm_type))
        devices = devices.filter(alarmed=False)
        if rule.kind == AlarmRule.RuleKind.OFFLINE:
            cutoff = now - timedelta(seconds=rule.profile.offline_timeout_s)
            found = devices.filter(last_activity__lt=cutoff)  # never-reported devices are listed, not alarmed
            details = {"kind": "offline", "timeout_s": rule.profile.offline_timeout_s}
        elif rule.kind == AlarmRule.RuleKind.NO_DATA:
            cutoff = now - timedelta(seconds=rule.period_s)
            if rule.key:
                fresh = LatestValue.objects.filter(
                    device=OuterRef("pk"), key=rule.key, ts__gte=current_ms - rule.period_s * 1000
                )
                seen = LatestValue.objects.filter(device=OuterRef("pk"), key=rule.key)
                found = devices.annotate(fresh=Exists(fresh), seen=Exists(seen)).filter(
                    seen=True, fresh=False
                )
            else:
                found = devices.filter(last_activity__lt=cutoff)
            details = {"kind": "no_data", "key": rule.key, "period_s": rule.period_s}
        else:
            stale = LatestValue.objects.filter(
                device=OuterRef("pk"), key=rule.key, changed_ts__lt=current_ms - rule.period_s * 1000
            )
            found = devices.annotate(stale=Exists(stale)).filter(stale=True)
            details = {"kind": "no_change", "key": rule.key, "period_s": rule.period_s}
        # Bounded per rule and run: a mass outage is alarmed over a few minutes instead of one long sweep.
        for device_id, region_code in found.order_by("pk").values_list("pk", "region_code")[
            :SWEEP_MAX_ALARMS
        ]:
            with transaction.atomic():
                change = alarms.raise_alarm(
                    device_id=device_id,
                    region_code=region_code,
                    type=rule.alarm_type,
                    severity=rule.severity,
                    ts_ms=current_ms,
                    details={"rule": rule.pk, **details},
                    rule_id=rule.pk,
                )
            if change is not None:
                engine.mark_raised(device_id, rule.pk, rule.alarm_type, rule.severity)
                counts[rule.kind] += 1
    counts["timeouts"] = pipeline.expire_rpcs(now)
    counts["light_commands"] = run_schedules(now)
    return counts


# --- Alarms as people handle them ---


def acknowledge_alarm(alarm: Alarm, user) -> bool:
    done = alarms.acknowledge(alarm, user)
    if done:
        audit.record("iot.alarm.acknowledged", actor=user, target=alarm, region_code=alarm.region_code)
    return done


def clear_alarm(alarm: Alarm, user) -> bool:
    done = alarms.clear_by_user(alarm, user)
    if done:
        audit.record("iot.alarm.cleared", actor=user, target=alarm, region_code=alarm.region_code)
    return done


# --- Reading data ---


def online_condition(now: datetime | None = None) -> Q:
    """Devices active within their own profile's offline timeout (one term per timeout in use)."""
    now = now or clock.now()
    condition = Q(pk__in=[])
    for timeout in DeviceProfile.objects.values_list("offline_timeout_s", flat=True).distinct():
        condition |= Q(
            profile__offline_timeout_s=timeout, last_activity__gte=now - timedelta(seconds=timeout)
        )
    return condition


MAX_SERIES_POINTS = 10_000


def series(device: Device, keys: list[str] | None, start_ms: int, end_ms: int, limit: int = 1000) -> dict:
    """ThingsBoard's time-series answer ``{key: [{"ts": …, "value": …}, …]}``, oldest first; per key at most
    ``limit`` points (the newest ones of the range)."""
    limit = max(1, min(int(limit), MAX_SERIES_POINTS))
    if not keys:
        keys = list(LatestValue.objects.filter(device=device).order_by("key").values_list("key", flat=True))
    result = {}
    for key in keys[:20]:
        rows = (
            Telemetry.objects.filter(device_id=device.pk, key=key, ts__gte=start_ms, ts__lt=end_ms)
            .order_by("-ts")
            .values_list("ts", "num", "str", "bool")[:limit]
        )
        points = []
        for ts, num, text, flag in reversed(rows):
            points.append({"ts": ts, "value": num if num is not None else flag if flag is not None else text})
        result[key] = points
    return result


def latest_values(device: Device) -> list[dict]:
    profile = device.profile
    return [
        {
            "key": row.key,
            "label": profile.label_of(row.key),
            "unit": profile.unit_of(row.key),
            "value": row.value,
            "ts": row.ts,
            "at": datetime.fromtimestamp(row.ts / 1000, tz=timezone.get_current_timezone()),
        }
        for row in LatestValue.objects.filter(device=device).order_by("key")
    ]


# --- Configuration ---


def save_rule(rule: AlarmRule, user) -> AlarmRule:
    """Save a rule; the rule engines of every process reload rules within a few seconds (``RULES_TTL_S``)."""
    from .rules import engine

    rule.save()
    engine.invalidate_rules()
    audit.record(
        "iot.rule.saved", actor=user, target=rule, profile=rule.profile.name, alarm_type=rule.alarm_type
    )
    return rule


def delete_rule(rule: AlarmRule, user) -> None:
    from .rules import engine

    audit.record(
        "iot.rule.deleted", actor=user, target=rule, profile=rule.profile.name, alarm_type=rule.alarm_type
    )
    rule.delete()
    engine.invalidate_rules()


def save_schedule(group: LightingGroup, entries: list[dict], enabled: bool, user) -> LightingSchedule:
    entries = validate_entries(entries)
    schedule, _created = LightingSchedule.objects.update_or_create(
        group=group, defaults={"entries": entries, "enabled": enabled, "last_level": None}
    )
    audit.record(
        "iot.lighting.schedule", actor=user, target=group, region_code=group.region_code, entries=entries
    )
    return schedule
