"""Alarm rules without code, evaluated in memory inside ``store_telemetry``.

Each profile has rows of ``AlarmRule``; each rule *fires* when its condition has held long enough, and stops
firing when the value has been normal long enough. An alarm of the rule's type is created when a rule starts
firing, and cleared when no rule of that type fires any more. Kinds:

- ``threshold``: ``value <op> threshold`` for at least ``duration_s`` (0 = at once);
- ``rate``: change per minute between consecutive readings ``<op> threshold``, same duration logic;
- ``no_data``: no reading of ``key`` (any key if blank) for ``period_s`` — raised by the periodic sweep,
  cleared by the next reading;
- ``no_change``: the reading of ``key`` (a cumulative meter) did not increase for ``period_s`` — raised by the
  sweep from ``LatestValue.changed_ts``, cleared when the reading increases;
- ``offline``: no activity for the profile's offline timeout — raised by the sweep, cleared by any activity.

Storm damping (so that a flapping value does not create and clear hundreds of alarms):

1. hysteresis: with ``clear_value`` set, a ``> 60`` rule only stops firing once the value is back below the
   clear value (e.g. 55), not at 59.9;
2. minimum clear duration: the value must stay normal for ``min_clear_s`` before the alarm clears; going back
   over the threshold meanwhile keeps the same alarm (its ``occurrences`` count goes up, no new row);
3. while an alarm is active, further readings write nothing (only a severity escalation updates the row);
4. per-device cap: at most ``LINLI_IOT_ALARMS_PER_DEVICE_HOUR`` (default 6) alarms are created per device in a
   rolling hour; beyond it the rule stays pending (no row), the suppression is counted under the rejection
   reason ``alarm_storm_suppressed``, and the alarm is created once the hour allows it if still firing.

State (when each condition started, previous values, which alarms are active) lives in a process cache built
lazily per device from ``LatestValue`` and the active alarms, so a restart loses no alarm and creates no
duplicate. Alarms cleared by a person are noticed at most ``SYNC_S`` seconds later.
"""

from __future__ import annotations

import operator
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings

from . import alarms
from .models import SEVERITY_RANK, Alarm, AlarmRule, Device, LatestValue

SYNC_S = 10.0
RULES_TTL_S = 5.0

OPS = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}

STREAM_KINDS = (AlarmRule.RuleKind.THRESHOLD, AlarmRule.RuleKind.RATE)


@dataclass(frozen=True)
class Rule:
    id: int
    alarm_type: str
    kind: str
    key: str
    op: str
    value: object
    duration_ms: int
    period_ms: int
    clear_value: float | None
    min_clear_ms: int
    severity: str

    @classmethod
    def from_row(cls, row: AlarmRule) -> Rule:
        return cls(
            id=row.pk,
            alarm_type=row.alarm_type,
            kind=row.kind,
            key=row.key,
            op=row.op or ">",
            value=row.value,
            duration_ms=row.duration_s * 1000,
            period_ms=row.period_s * 1000,
            clear_value=row.clear_value,
            min_clear_ms=row.min_clear_s * 1000,
            severity=row.severity,
        )

    def condition(self, value) -> bool | None:
        """Whether the condition holds; None when the value cannot be compared (then nothing changes)."""
        threshold = self.value
        try:
            if isinstance(threshold, bool) or isinstance(value, bool):
                return OPS[self.op](value, threshold) if self.op in ("==", "!=") else None
            if isinstance(threshold, int | float):
                return OPS[self.op](float(value), float(threshold))
            return OPS[self.op](str(value), str(threshold)) if self.op in ("==", "!=") else None
        except (TypeError, ValueError, KeyError):
            return None

    def normal(self, value) -> bool | None:
        """Whether the value counts as normal again (past the clear value when hysteresis is set)."""
        held = self.condition(value)
        if held is None:
            return None
        if held:
            return False
        if self.clear_value is None or self.op not in (">", ">=", "<", "<="):
            return True
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        return number < self.clear_value if self.op in (">", ">=") else number > self.clear_value


@dataclass(slots=True)
class RuleState:
    firing: bool = False
    pending_since: int | None = None  # condition held since (ms)
    normal_since: int | None = None  # back to normal since (ms), while firing


@dataclass(slots=True)
class DeviceState:
    """Kept only for devices whose profile has rules, with the values of the keys rules read, and a rule's
    state only while it is pending or firing (about 0.7 KB per device: 100,000 devices ≈ 70 MB)."""

    device_id: int
    profile_id: int
    region_code: str
    rules: dict[int, RuleState] = field(default_factory=dict)
    active: dict[str, str] = field(default_factory=dict)  # alarm type -> severity
    last: dict[str, tuple[int, object]] = field(default_factory=dict)  # rule key -> (ts, value)
    created: list[float] = field(default_factory=list)  # monotonic times of alarm creations (rate cap)


@dataclass(frozen=True)
class AlarmOp:
    action: str  # "raise" | "clear"
    device_id: int
    region_code: str
    alarm_type: str
    severity: str
    ts_ms: int
    rule_id: int | None
    details: dict


def cap_per_hour() -> int:
    return int(getattr(settings, "LINLI_IOT_ALARMS_PER_DEVICE_HOUR", 6))


class RuleEngine:
    """One per process (``engine``); tests make more to act as separate ingest processes."""

    def __init__(self):
        self.lock = threading.RLock()
        self.devices: dict[int, DeviceState] = {}
        self.unruled: dict[int, int] = {}  # devices whose profile has no rule: device -> profile
        self.rule_keys: dict[int, frozenset[str]] = {}  # profile -> keys its rules read
        self.rules_by_profile: dict[int, list[Rule]] = {}
        self.rules_loaded = 0.0
        self.rules_stamp = None
        self.synced_at = time.monotonic()
        self.suppressed = 0

    # --- caches ---

    def reset(self) -> None:
        with self.lock:
            self.devices.clear()
            self.unruled.clear()
            self.rules_by_profile.clear()
            self.rules_loaded = 0.0
            self.rules_stamp = None

    def invalidate_rules(self) -> None:
        with self.lock:
            self.rules_loaded = 0.0
            self.rules_stamp = None
            self.devices.clear()
            self.unruled.clear()

    def forget(self, device_ids) -> None:
        with self.lock:
            for device_id in device_ids:
                self.devices.pop(device_id, None)
                self.unruled.pop(device_id, None)

    def forget_alarm(self, device_id: int, alarm_type: str) -> None:
        """A person cleared the alarm: the rules of that type start over (and raise again if still true)."""
        with self.lock:
            state = self.devices.get(device_id)
            if state is None:
                return
            state.active.pop(alarm_type, None)
            for rule in self.rules_by_profile.get(state.profile_id, []):
                if rule.alarm_type == alarm_type:
                    state.rules[rule.id] = RuleState()

    def _load_rules(self) -> None:
        now = time.monotonic()
        if self.rules_stamp is not None and now - self.rules_loaded < RULES_TTL_S:
            return
        rows = list(AlarmRule.objects.filter(enabled=True).order_by("id"))
        stamp = tuple((r.pk, r.updated_at) for r in rows)
        if stamp != self.rules_stamp:
            by_profile: dict[int, list[Rule]] = {}
            for row in rows:
                by_profile.setdefault(row.profile_id, []).append(Rule.from_row(row))
            self.rules_by_profile = by_profile
            self.rule_keys = {
                profile: frozenset(r.key for r in rules if r.key) for profile, rules in by_profile.items()
            }
            if self.rules_stamp is not None:
                self.devices.clear()  # rules changed: rebuild rule state from the database
                self.unruled.clear()
            self.rules_stamp = stamp
        self.rules_loaded = now

    def _sync_cleared(self) -> None:
        """Alarms cleared by a person (or another process) since the last look: drop their active state."""
        now = time.monotonic()
        if now - self.synced_at < SYNC_S or not self.devices:
            return
        from datetime import timedelta

        from linli.core import clock

        since = clock.now() - timedelta(seconds=now - self.synced_at + 1)
        self.synced_at = now
        for device_id, alarm_type in Alarm.objects.filter(cleared=True, clear_ts__gte=since).values_list(
            "device_id", "type"
        ):
            state = self.devices.get(device_id)
            if state is None or alarm_type not in state.active:
                continue  # not known here, or this engine cleared it itself
            if not Alarm.objects.filter(device_id=device_id, type=alarm_type, cleared=False).exists():
                self.forget_alarm(device_id, alarm_type)

    def _states(self, device_ids: set[int]) -> dict[int, DeviceState]:
        missing = [d for d in device_ids if d not in self.devices and d not in self.unruled]
        if missing:
            built = []
            for device_id, profile_id, region_code in Device.objects.filter(pk__in=missing).values_list(
                "pk", "profile_id", "region_code"
            ):
                if self.rules_by_profile.get(profile_id):
                    state = self.devices[device_id] = DeviceState(device_id, profile_id, region_code)
                    built.append(state)
                else:
                    self.unruled[device_id] = profile_id
            if built:
                self._rebuild(built)
        return {d: self.devices[d] for d in device_ids if d in self.devices}

    def _rebuild(self, states: list[DeviceState]) -> None:
        by_id = {s.device_id: s for s in states}
        keys = {
            r.key
            for s in states
            for r in self.rules_by_profile[s.profile_id]
            if r.kind in (AlarmRule.RuleKind.RATE, AlarmRule.RuleKind.NO_CHANGE)
        }
        if keys:
            for device_id, key, ts, num, text, flag in LatestValue.objects.filter(
                device_id__in=by_id, key__in=keys
            ).values_list("device_id", "key", "ts", "num", "str", "bool"):
                value = num if num is not None else flag if flag is not None else text
                by_id[device_id].last[key] = (ts, value)
        for device_id, alarm_type, severity in Alarm.objects.filter(
            device_id__in=by_id, cleared=False
        ).values_list("device_id", "type", "severity"):
            state = by_id[device_id]
            state.active[alarm_type] = severity
            for rule in self.rules_by_profile[state.profile_id]:
                if rule.alarm_type == alarm_type:
                    state.rules[rule.id] = RuleState(firing=True)

    # --- evaluation ---

    def evaluate(self, points_by_device: dict[int, list[tuple[int, str, object]]]) -> list[AlarmOp]:
        """Decide alarm operations for new readings ``{device_id: [(ts, key, value), …]}`` (sorted by ts).

        Updates the in-memory state at once; if the caller's transaction fails it must ``forget`` the devices.
        """
        ops: list[AlarmOp] = []
        with self.lock:
            self._load_rules()
            self._sync_cleared()
            if not self.rules_by_profile:
                return ops
            states = self._states(set(points_by_device))
            for device_id in sorted(states):
                state = states[device_id]
                rules = self.rules_by_profile.get(state.profile_id)
                if not rules:
                    continue
                self._evaluate_device(
                    state,
                    rules,
                    self.rule_keys.get(state.profile_id, frozenset()),
                    points_by_device[device_id],
                    ops,
                )
        return ops

    def _evaluate_device(
        self, state: DeviceState, rules: list[Rule], keys: frozenset[str], points, ops: list[AlarmOp]
    ) -> None:
        first_ts = points[0][0]
        for rule in rules:
            if rule.kind == AlarmRule.RuleKind.OFFLINE and rule.alarm_type in state.active:
                self._stop(state, rule, first_ts, ops, {"cleared_by": "activity"})
        watches_any_key = any(r.kind == AlarmRule.RuleKind.NO_DATA and not r.key for r in rules)
        for ts, key, value in points:
            if key not in keys and not watches_any_key:
                continue  # no rule reads this key
            previous = state.last.get(key)
            if previous is not None and ts <= previous[0]:
                continue  # a redelivered or late reading: already evaluated
            for rule in rules:
                if rule.kind in STREAM_KINDS:
                    if rule.key != key:
                        continue
                    if rule.kind == AlarmRule.RuleKind.RATE:
                        if previous is None or not isinstance(value, int | float) or isinstance(value, bool):
                            continue
                        try:
                            observed = (float(value) - float(previous[1])) / ((ts - previous[0]) / 60000)
                        except (TypeError, ValueError, ZeroDivisionError):
                            continue
                    else:
                        observed = value
                    self._stream(state, rule, ts, key, observed, ops)
                elif rule.kind == AlarmRule.RuleKind.NO_DATA:
                    if (not rule.key or rule.key == key) and rule.alarm_type in state.active:
                        self._stop(state, rule, ts, ops, {"cleared_by": "data"})
                elif rule.kind == AlarmRule.RuleKind.NO_CHANGE and rule.key == key:
                    increased = previous is not None and _greater(value, previous[1])
                    if increased and rule.alarm_type in state.active:
                        self._stop(state, rule, ts, ops, {"cleared_by": "increase", key: value})
            if key in keys:
                state.last[key] = (ts, value)

    def _stream(
        self, state: DeviceState, rule: Rule, ts: int, key: str, observed, ops: list[AlarmOp]
    ) -> None:
        rs = state.rules.setdefault(rule.id, RuleState())
        held = rule.condition(observed)
        if held is None:
            return
        if held:
            rs.normal_since = None
            if rs.firing:
                if rule.alarm_type not in state.active:
                    self._start(state, rule, ts, ops, {key: observed})  # held back by the cap before
                return
            if rs.pending_since is None:
                rs.pending_since = ts
            if ts - rs.pending_since >= rule.duration_ms:
                rs.firing = True
                self._start(state, rule, ts, ops, {key: observed, "since_ms": rs.pending_since})
            return
        rs.pending_since = None
        if not rs.firing:
            state.rules.pop(rule.id, None)  # the usual case: nothing to remember (saves memory per device)
            return
        if not rule.normal(observed):
            rs.normal_since = None  # inside the hysteresis band: still firing
            return
        if rs.normal_since is None:
            rs.normal_since = ts
        if ts - rs.normal_since >= rule.min_clear_ms:
            self._stop(state, rule, ts, ops, {key: observed})

    def _start(self, state: DeviceState, rule: Rule, ts: int, ops: list[AlarmOp], details: dict) -> None:
        rs = state.rules.setdefault(rule.id, RuleState())
        rs.firing = True
        current = state.active.get(rule.alarm_type)
        if current is not None:
            if SEVERITY_RANK.get(rule.severity, 0) > SEVERITY_RANK.get(current, 0):
                state.active[rule.alarm_type] = rule.severity
                ops.append(self._op("raise", state, rule, ts, details))
            return
        # The per-device cap against alarm storms.
        now = time.monotonic()
        while state.created and now - state.created[0] > 3600:
            state.created.pop(0)
        if len(state.created) >= cap_per_hour():
            self.suppressed += 1
            return
        state.created.append(now)
        state.active[rule.alarm_type] = rule.severity
        ops.append(self._op("raise", state, rule, ts, details))

    def _stop(self, state: DeviceState, rule: Rule, ts: int, ops: list[AlarmOp], details: dict) -> None:
        rs = state.rules.setdefault(rule.id, RuleState())
        rs.firing = False
        rs.pending_since = None
        rs.normal_since = None
        if rule.alarm_type not in state.active:
            return
        others = [
            r
            for r in self.rules_by_profile.get(state.profile_id, [])
            if r.alarm_type == rule.alarm_type
            and r.id != rule.id
            and state.rules.get(r.id, RuleState()).firing
        ]
        if others:
            return
        del state.active[rule.alarm_type]
        ops.append(self._op("clear", state, rule, ts, details))

    @staticmethod
    def _op(action: str, state: DeviceState, rule: Rule, ts: int, details: dict) -> AlarmOp:
        return AlarmOp(
            action,
            state.device_id,
            state.region_code,
            rule.alarm_type,
            rule.severity,
            ts,
            rule.id,
            {"rule": rule.id, "kind": rule.kind, **_jsonable(details)},
        )

    # --- the sweep (time passes without messages) ---

    def mark_raised(self, device_id: int, rule_id: int, alarm_type: str, severity: str) -> None:
        with self.lock:
            state = self.devices.get(device_id)
            if state is not None:
                state.active[alarm_type] = severity
                state.rules[rule_id] = RuleState(firing=True)


def _greater(value, previous) -> bool:
    try:
        return float(value) > float(previous)
    except (TypeError, ValueError):
        return False


def _jsonable(details: dict) -> dict:
    return {
        k: v if isinstance(v, int | float | str | bool) or v is None else str(v) for k, v in details.items()
    }


def apply_ops(ops: list[AlarmOp]) -> list[alarms.AlarmChange]:
    """Write the decided operations (inside the caller's transaction), in device order."""
    changes = []
    for op in ops:
        if op.action == "raise":
            change = alarms.raise_alarm(
                device_id=op.device_id,
                region_code=op.region_code,
                type=op.alarm_type,
                severity=op.severity,
                ts_ms=op.ts_ms,
                details=op.details,
                rule_id=op.rule_id,
            )
        else:
            change = alarms.clear_alarm(
                device_id=op.device_id, type=op.alarm_type, ts_ms=op.ts_ms, details=op.details
            )
        if change is not None:
            changes.append(change)
    return changes


engine = RuleEngine()
