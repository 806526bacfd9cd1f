"""Alarm rows: create-or-update atomically per (device, type), clear, acknowledge, notify.

"One active alarm per device and type" is the partial unique index ``iot_alarm_one_active`` (uncleared rows);
creation runs in a savepoint and, when another connection won the race, updates the row that won instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F, Q

from linli.core import clock
from linli.core.models import Role, User

from . import hooks
from .models import SEVERITY_RANK, Alarm, Notification

log = logging.getLogger(__name__)

# Roles told of a new alarm, when their scope covers the device's region.
NOTIFIED_ROLES = [Role.GRID_WORKER, Role.COMMUNITY_WORKER, Role.PROPERTY_MANAGER]


@dataclass(frozen=True)
class AlarmChange:
    alarm_id: int
    device_id: int
    type: str
    severity: str
    action: str  # "created" | "updated" | "cleared"
    ts_ms: int  # the reading (or sweep time) that caused it
    at: datetime  # when it was written


def raise_alarm(
    *, device_id: int, region_code: str, type: str, severity: str, ts_ms: int, details: dict, rule_id=None
) -> AlarmChange | None:
    """Create the active alarm of this type, or update the one that is active (severity up, count)."""
    now = clock.now()
    for _attempt in range(3):
        try:
            with transaction.atomic():
                alarm = Alarm.objects.create(
                    device_id=device_id,
                    region_code=region_code,
                    type=type,
                    severity=severity,
                    rule_id=rule_id,
                    start_ts=now,
                    end_ts=now,
                    details=details,
                )
            transaction.on_commit(lambda alarm=alarm: after_created(alarm))
            return AlarmChange(alarm.pk, device_id, type, severity, "created", ts_ms, now)
        except IntegrityError:
            pass
        # Another message (or process) has the active alarm already: update it.
        existing = Alarm.objects.filter(device_id=device_id, type=type, cleared=False).first()
        if existing is None:
            continue  # cleared meanwhile: try creating again
        changes = {"end_ts": now, "occurrences": F("occurrences") + 1}
        escalated = SEVERITY_RANK.get(severity, 0) > SEVERITY_RANK.get(existing.severity, 0)
        if escalated:
            changes["severity"] = severity
            changes["details"] = details
        Alarm.objects.filter(pk=existing.pk).update(**changes)
        return AlarmChange(
            existing.pk, device_id, type, severity if escalated else existing.severity, "updated", ts_ms, now
        )
    return None


def clear_alarm(
    *, device_id: int, type: str, ts_ms: int, details: dict | None = None, user=None
) -> AlarmChange | None:
    now = clock.now()
    alarm = Alarm.objects.filter(device_id=device_id, type=type, cleared=False).first()
    if alarm is None:
        return None
    merged = {**alarm.details, **(details or {})}
    updated = Alarm.objects.filter(pk=alarm.pk, cleared=False).update(
        cleared=True, clear_ts=now, end_ts=now, cleared_by=user, details=merged
    )
    if not updated:
        return None
    return AlarmChange(alarm.pk, device_id, type, alarm.severity, "cleared", ts_ms, now)


def acknowledge(alarm: Alarm, user) -> bool:
    updated = Alarm.objects.filter(pk=alarm.pk, acknowledged=False).update(
        acknowledged=True, ack_ts=clock.now(), acknowledged_by=user
    )
    return bool(updated)


def clear_by_user(alarm: Alarm, user) -> bool:
    change = (
        clear_alarm(
            device_id=alarm.device_id, type=alarm.type, ts_ms=int(clock.now().timestamp() * 1000), user=user
        )
        if not alarm.cleared
        else None
    )
    if change is not None:
        from .rules import engine

        engine.forget_alarm(alarm.device_id, alarm.type)
    return change is not None


def recipients(region_code: str):
    """Staff whose scope covers the region and whose role handles alarms (grid workers of the device's grid,
    the community's workers, property managers)."""
    ancestors = [region_code[:n] for n in range(6, len(region_code) + 1, 3)]
    return (
        User.objects.filter(is_active=True, role__in=NOTIFIED_ROLES, scopes__region_id__in=ancestors)
        .filter(~Q(role=Role.RESIDENT))
        .distinct()
    )


def after_created(alarm: Alarm) -> None:
    """After commit: the notification feed, then the sinks (e.g. the grid app opening an event)."""
    try:
        Notification.objects.bulk_create(
            [
                Notification(alarm=alarm, user=user, region_code=alarm.region_code)
                for user in recipients(alarm.region_code)
            ],
            ignore_conflicts=True,
        )
    except Exception:  # noqa: BLE001 - a notification failure must not lose the alarm
        log.exception("iot: notifications for alarm %s failed", alarm.pk)
    for sink in list(hooks.ALARM_SINKS):
        try:
            sink(alarm)
        except Exception:  # noqa: BLE001
            log.exception("iot: alarm sink %r failed for alarm %s", sink, alarm.pk)
