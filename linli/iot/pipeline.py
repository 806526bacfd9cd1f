"""The seam between the ingest service (``linli.ingest``: MQTT/HTTP transports) and the IoT hub's storage.

Plain synchronous functions, safe to call from several threads at once (each thread uses its own Django
database connection). The ingest service calls nothing else of ``linli.iot``. See docs/iot.md.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Q

from linli.core import audit, clock

from . import rules, storage
from .alarms import AlarmChange
from .models import Attribute, Device, DeviceProfile, Kind
from .models import Downlink as DownlinkRow

log = logging.getLogger(__name__)

__all__ = [
    "AlarmChange",
    "DeviceRef",
    "Downlink",
    "Reading",
    "authenticate",
    "downlink_routes",
    "authenticate_many",
    "gateway_children",
    "downlink_delivered",
    "gateway_child",
    "get_attributes",
    "list_devices",
    "mark_connected",
    "mark_connected_many",
    "pending_downlink",
    "provision",
    "record_rejected",
    "rpc_from_device",
    "rpc_response",
    "store_client_attributes",
    "store_telemetry",
    "sweep",
]

# Last-activity writes are thinned out: at most one per device per this many seconds and process.
ACTIVITY_WRITE_S = 30.0


@dataclass(frozen=True)
class DeviceRef:
    id: int
    name: str
    token: str
    profile_id: int
    region_code: str
    is_gateway: bool
    profile_kind: str = ""
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reading:
    device_id: int
    ts_ms: int
    values: dict


@dataclass(frozen=True)
class Downlink:
    """A queued server→device message as the ingest service sees it (the row is ``models.Downlink``)."""

    id: int
    device_id: int
    kind: str  # "attributes" | "rpc"
    payload: dict
    rpc_id: int | None
    expires_at: datetime | None


_profile_cache: dict[int, tuple[str, tuple[str, ...]]] = {}


def _profile_info(profile_id: int) -> tuple[str, tuple[str, ...]]:
    info = _profile_cache.get(profile_id)
    if info is None:
        profile = DeviceProfile.objects.get(pk=profile_id)
        info = (profile.kind, tuple(k.get("key", "") for k in profile.keys or [] if k.get("key")))
        _profile_cache[profile_id] = info
    return info


def _ref(device: Device) -> DeviceRef:
    kind, keys = _profile_info(device.profile_id)
    return DeviceRef(
        id=device.pk,
        name=device.name,
        token=device.access_token,
        profile_id=device.profile_id,
        region_code=device.region_code,
        is_gateway=device.is_gateway,
        profile_kind=kind,
        keys=keys,
    )


def new_token() -> str:
    return secrets.token_urlsafe(15)  # 20 characters, like ThingsBoard's generated tokens


def valid_token(token) -> bool:
    """20–64 characters without spaces or slashes: the HTTP device API has the token in its path."""
    return (
        isinstance(token, str)
        and 20 <= len(token) <= 64
        and not any(ch.isspace() or ch == "/" for ch in token)
    )


# --- Devices ---


def authenticate(token: str) -> DeviceRef | None:
    return authenticate_many([token]).get(token)


def authenticate_many(tokens: list[str]) -> dict[str, DeviceRef]:
    """The devices of several tokens in one query (a reconnect storm, or broker mode's first messages);
    unknown tokens are left out."""
    wanted = [token for token in tokens if token and len(token) <= 64]
    return {device.access_token: _ref(device) for device in Device.objects.filter(access_token__in=wanted)}


def downlink_routes(device_ids) -> dict[int, tuple[str, str | None]]:
    """Where each device's downlink goes, in one query: the token whose topics carry it, and the device's name
    when a gateway speaks for it (the message then goes to the gateway's topics, naming the device). Deleted
    devices are left out."""
    rows = Device.objects.filter(pk__in=list(device_ids)).values_list(
        "pk", "access_token", "name", "gateway__access_token"
    )
    return {
        pk: (gateway_token, name) if gateway_token is not None else (token, None)
        for pk, token, name, gateway_token in rows
    }


def sweep() -> dict[str, int]:
    """What happens because time passes (offline and no-data alarms, RPC timeouts, lighting schedules, next
    months' partitions). The core worker runs it about once a minute (job ``iot.sweep``); it is idempotent,
    so several processes calling it is harmless."""
    from . import services

    return services.sweep()


def list_devices(limit: int | None = None, region_prefix: str = "") -> list[DeviceRef]:
    """Devices (all, or under a region code) with tokens: for the simulator and the broker's password file."""
    rows = Device.objects.order_by("pk")
    if region_prefix:
        rows = rows.filter(region_code__startswith=region_prefix)
    if limit is not None:
        rows = rows[:limit]
    return [
        _ref(d) for d in rows.only("pk", "name", "access_token", "profile_id", "region_code", "is_gateway")
    ]


def provision(
    provision_key: str, provision_secret: str, device_name: str | None, credentials: dict | None
) -> dict:
    """ThingsBoard's device self-provisioning: a profile's key and secret let a device create itself."""
    failure = {"status": "FAILURE", "errorMsg": "Provision data was not found!"}
    if not provision_key or not provision_secret:
        return failure
    profile = DeviceProfile.objects.filter(provision_key=provision_key).exclude(provision_key="").first()
    if profile is None or not hmac.compare_digest(profile.provision_secret or "", provision_secret):
        return failure
    if profile.provision_region_id is None:
        return {"status": "FAILURE", "errorMsg": "Provisioning is not enabled for this profile."}
    credentials = credentials or {}
    kind = (credentials.get("credentialsType") or "ACCESS_TOKEN").upper()
    if kind != "ACCESS_TOKEN":
        return {"status": "FAILURE", "errorMsg": f"Credentials type {kind} is not supported."}
    token = credentials.get("token") or new_token()
    if not valid_token(token):
        return {"status": "FAILURE", "errorMsg": "A token has 20 to 64 characters, without spaces or '/'."}
    name = (device_name or "").strip() or f"{profile.name}-{secrets.token_hex(4)}"
    if len(name) > 100:
        return {"status": "FAILURE", "errorMsg": "Device name is too long."}
    if Device.objects.filter(name=name).exists():
        return {"status": "FAILURE", "errorMsg": f"Device with name {name} is already provisioned."}
    try:
        with transaction.atomic():
            device = Device.objects.create(
                name=name, profile=profile, region_id=profile.provision_region_id, access_token=token
            )
            audit.record(
                "iot.device.self_provisioned",
                actor_name="device",
                target=device,
                region_code=device.region_code,
                profile=profile.name,
            )
    except IntegrityError:
        return {"status": "FAILURE", "errorMsg": "Device name or token is already in use."}
    return {"status": "SUCCESS", "credentialsType": "ACCESS_TOKEN", "credentialsValue": token}


def _profile_for_type(device_type: str | None) -> DeviceProfile:
    name = (device_type or "default").strip()[:100] or "default"
    profile = DeviceProfile.objects.filter(Q(name=name) | Q(kind=name)).order_by("pk").first()
    if profile is not None:
        return profile
    kind = name if name in Kind.values else Kind.OTHER
    profile, _created = DeviceProfile.objects.get_or_create(name=name, defaults={"kind": kind})
    return profile


def gateway_children(gateway: DeviceRef) -> dict[str, DeviceRef]:
    """A gateway's devices by name, in one query (its first message would otherwise look each one up)."""
    return {device.name: _ref(device) for device in Device.objects.filter(gateway_id=gateway.id)}


def gateway_child(gateway: DeviceRef, name: str, device_type: str | None) -> DeviceRef:
    """The device a gateway speaks for, created on first sight in the gateway's region (as ThingsBoard does).

    Raises ``PermissionError`` when the name belongs to a device that is not this gateway's child: a gateway
    must not write into another device's data.
    """
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValueError("invalid device name")
    if not gateway.is_gateway:
        raise PermissionError("not a gateway")
    for _attempt in range(2):
        device = Device.objects.filter(name=name).first()
        if device is not None:
            if device.gateway_id != gateway.id:
                raise PermissionError(f"device {name} does not belong to gateway {gateway.name}")
            return _ref(device)
        profile = _profile_for_type(device_type)
        try:
            with transaction.atomic():
                device = Device.objects.create(
                    name=name,
                    profile=profile,
                    region_id=gateway.region_code,
                    gateway_id=gateway.id,
                    access_token=new_token(),
                )
            return _ref(device)
        except IntegrityError:
            continue  # another worker created it at the same moment
    raise PermissionError(f"device {name} could not be created")


# --- Telemetry ---


def _points(readings: list[Reading]) -> tuple[list[storage.Point], int]:
    low, high = storage.accepted_window()
    unique: dict[tuple[int, str, int], storage.Point] = {}
    refused = 0
    for reading in readings:
        ts = int(reading.ts_ms)
        if not (low <= ts < high):
            refused += len(reading.values)
            continue
        for key, value in reading.values.items():
            if not isinstance(key, str) or not key or len(key) > storage.MAX_KEY_LENGTH:
                refused += 1
                continue
            split = storage.split_value(value)
            if split is None:
                continue
            unique[(reading.device_id, key, ts)] = storage.Point(reading.device_id, key, ts, *split)
    points = [unique[k] for k in sorted(unique)]
    return points, refused


_activity_written: dict[int, float] = {}


def _activity_due(device_ids) -> list[int]:
    now = time.monotonic()
    due = []
    for device_id in device_ids:
        if now - _activity_written.get(device_id, -1e9) >= ACTIVITY_WRITE_S:
            due.append(device_id)
    return due


_known_devices: set[int] = set()


def _existing(device_ids) -> set[int]:
    """The ids that are devices (a positive cache; a device deleted meanwhile trips the foreign key)."""
    missing = [d for d in device_ids if d not in _known_devices]
    if missing:
        _known_devices.update(Device.objects.filter(pk__in=missing).values_list("pk", flat=True))
    return {d for d in device_ids if d in _known_devices}


# Seconds spent in each part of store_telemetry by this process, for the ingest service's stats line
# ("commit" includes the parts inside the transaction, the commit itself and what runs after it).
STORE_SECONDS: Counter = Counter()


@contextlib.contextmanager
def _timed(part: str):
    start = time.perf_counter()
    try:
        yield
    finally:
        STORE_SECONDS[part] += time.perf_counter() - start


def store_telemetry(readings: list[Reading], *, engine: rules.RuleEngine | None = None) -> list[AlarmChange]:
    """Store a batch durably (one transaction), update latest values and activity, evaluate the rules and
    write alarm changes; returns them. Duplicate (device, key, ts) points are stored once; readings of unknown
    devices are refused and counted, never fail the batch. The rules must see a device's readings in order:
    callers storing batches at once give each device's readings to one of them (see ingest.front.Batcher)."""
    engine = engine or rules.engine
    points, refused = _points(readings)
    if refused:
        record_rejected("timestamp_or_key_out_of_range", refused)
    if not points:
        return []
    for attempt in range(4):
        with _timed("lookups"):
            known = _existing({p.device_id for p in points})
        if len(known) < len({p.device_id for p in points}):
            dropped = [p for p in points if p.device_id not in known]
            record_rejected("unknown_device", len(dropped))
            points = [p for p in points if p.device_id in known]
            if not points:
                return []
        storage.prepare_partitions(points)
        by_device: dict[int, list[tuple[int, str, object]]] = {}
        for p in points:
            value = p.num if p.num is not None else p.bool if p.bool is not None else p.str
            by_device.setdefault(p.device_id, []).append((p.ts, p.key, value))
        for items in by_device.values():
            items.sort(key=lambda item: item[0])
        device_ids = sorted(by_device)
        try:
            with _timed("rules"):
                ops = engine.evaluate(by_device)
            due = _activity_due(device_ids)
            with _timed("commit"), transaction.atomic():
                with _timed("points"):
                    storage.write_points(points)
                if due:
                    with _timed("activity"):
                        Device.objects.filter(pk__in=due).update(last_activity=clock.now())
                with _timed("alarms"):
                    changes = rules.apply_ops(ops)
            stamp = time.monotonic()
            for device_id in due:
                _activity_written[device_id] = stamp
            return changes
        except Exception as exc:
            engine.forget(device_ids)
            state = _sqlstate(exc)
            if state == "23503" or "FOREIGN KEY" in str(exc):  # a device was deleted meanwhile: look again
                _known_devices.clear()
            # Deadlocks and serialization failures are retried; anything else is the caller's to handle.
            elif attempt == 3 or not (state in ("40P01", "40001") or "database is locked" in str(exc)):
                raise
            time.sleep(0.05 * (attempt + 1))
    raise RuntimeError("store_telemetry: the batch could not be stored")


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error, raised by psycopg directly or wrapped by Django."""
    for error in (exc, exc.__cause__):
        state = getattr(error, "sqlstate", None)
        if state:
            return state
    return None


# --- Attributes ---


def store_client_attributes(device_id: int, attributes: dict) -> None:
    now = clock.now()
    with transaction.atomic():
        for key, value in attributes.items():
            if not isinstance(key, str) or not key or len(key) > 64:
                continue
            Attribute.objects.update_or_create(
                device_id=device_id,
                scope=Attribute.Scope.CLIENT,
                key=key,
                defaults={"value": value, "updated_at": now},
            )
        Device.objects.filter(pk=device_id).update(last_activity=now)


def get_attributes(device_id: int, client_keys: list[str] | None, shared_keys: list[str] | None) -> dict:
    """ThingsBoard's answer ``{"client": {…}, "shared": {…}}``; with no keys at all, every attribute."""
    everything = client_keys is None and shared_keys is None
    result: dict[str, dict] = {"client": {}, "shared": {}}
    rows = Attribute.objects.filter(device_id=device_id, scope__in=["client", "shared"])
    for scope, keys in (("client", client_keys), ("shared", shared_keys)):
        if everything:
            wanted = rows.filter(scope=scope)
        elif keys:
            wanted = rows.filter(scope=scope, key__in=keys)
        else:
            continue
        result[scope] = dict(wanted.values_list("key", "value"))
    return result


# --- RPC and downlink ---


def _touch(device_id: int) -> None:
    Device.objects.filter(pk=device_id).update(last_activity=clock.now())


def rpc_from_device(device_id: int, method: str, params) -> object | None:
    _touch(device_id)
    if method == "getCurrentTime":
        return {"currentTime": int(clock.now().timestamp() * 1000)}
    return None


def pending_downlink(
    since_id: int = 0, limit: int = 1000, device_id: int | None = None, device_ids=None
) -> list[Downlink]:
    """Queued server→device messages after ``since_id`` (ids only grow), for one device or several if asked;
    expired ones time out."""
    now = clock.now()
    DownlinkRow.objects.filter(status=DownlinkRow.Status.QUEUED, expires_at__lt=now).update(
        status=DownlinkRow.Status.TIMEOUT
    )
    rows = DownlinkRow.objects.filter(status=DownlinkRow.Status.QUEUED, pk__gt=since_id)
    if device_id is not None:
        rows = rows.filter(device_id=device_id)
    if device_ids is not None:
        rows = rows.filter(device_id__in=list(device_ids))
    return [
        Downlink(r.pk, r.device_id, r.kind, r.payload, r.rpc_id, r.expires_at)
        for r in rows.order_by("pk")[:limit]
    ]


def downlink_delivered(downlink_id: int) -> None:
    row = DownlinkRow.objects.filter(pk=downlink_id).first()
    if row is None:
        return
    # Shared-attribute pushes and one-way RPC have no answer: delivery is their success.
    final = row.kind == DownlinkRow.Kind.ATTRIBUTES or bool(row.payload.get("oneway"))
    DownlinkRow.objects.filter(pk=downlink_id, status=DownlinkRow.Status.QUEUED).update(
        status=DownlinkRow.Status.SUCCESSFUL if final else DownlinkRow.Status.DELIVERED,
        delivered_at=clock.now(),
    )


def rpc_response(device_id: int, rpc_id: int, response) -> None:
    _touch(device_id)
    failed = isinstance(response, dict) and "error" in response and len(response) == 1
    DownlinkRow.objects.filter(
        device_id=device_id,
        rpc_id=rpc_id,
        status__in=[DownlinkRow.Status.QUEUED, DownlinkRow.Status.DELIVERED],
    ).update(
        status=DownlinkRow.Status.FAILED if failed else DownlinkRow.Status.SUCCESSFUL,
        response=response,
        responded_at=clock.now(),
    )


# --- Sessions and counters ---


def mark_connected(device_id: int, connected: bool) -> None:
    mark_connected_many({device_id: connected})


def mark_connected_many(changes: dict[int, bool]) -> None:
    """Connection state of many devices at once ({device id: connected}); connecting counts as activity."""
    now = clock.now()
    up = [device_id for device_id, connected in changes.items() if connected]
    down = [device_id for device_id, connected in changes.items() if not connected]
    with transaction.atomic():
        if up:
            Device.objects.filter(pk__in=up).update(connected=True, last_activity=now)
        if down:
            Device.objects.filter(pk__in=down).update(connected=False)


def record_rejected(reason: str, count: int = 1) -> None:
    hour = clock.now().replace(minute=0, second=0, microsecond=0)
    reason = (reason or "unknown")[:64]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO iot_rejectcounter (reason, hour, count) VALUES (%s, %s, %s) "
            "ON CONFLICT (reason, hour) DO UPDATE SET count = iot_rejectcounter.count + EXCLUDED.count",
            [
                reason,
                hour if connection.vendor == "postgresql" else hour.astimezone(UTC).replace(tzinfo=None),
                count,
            ],
        )


def expire_rpcs(now: datetime | None = None, delivered_timeout: timedelta = timedelta(minutes=5)) -> int:
    """RPCs queued past their expiry, or delivered and never answered, time out (run by the sweep)."""
    now = now or clock.now()
    count = DownlinkRow.objects.filter(status=DownlinkRow.Status.QUEUED, expires_at__lt=now).update(
        status=DownlinkRow.Status.TIMEOUT
    )
    count += (
        DownlinkRow.objects.filter(status=DownlinkRow.Status.DELIVERED, kind=DownlinkRow.Kind.RPC)
        .filter(Q(expires_at__lt=now) | Q(expires_at=None, delivered_at__lt=now - delivered_timeout))
        .update(status=DownlinkRow.Status.TIMEOUT)
    )
    return count
