"""Performance figures (绩效) computed from the transition history: counts, rates and handling time.

Every figure is a count of steps (``Transition`` rows) whose time ``at`` falls in the period ``[start, end)``,
grouped by one key: the first 6/9/12/15 digits of the step's ``region_code`` (district, street, community,
grid), the department the case was with at that step (``department_id_at``), or a worker. The counting is
one aggregate query over the history table (GROUP BY grid code and action, plus department or worker, with
FILTER counts), folded to the grouping in Python; ended months and days are counted once and cached (see
"Tallies" below), the rest live through ``Transition.objects.visible_to(user)``. Only the base "closed +
still open and overdue" needs a second aggregate, over the events.

The counts (the step actions of linli/grid/services.py that make them)
    reported 上报数           ``report``
    cancelled 作废数          ``cancel`` and ``merge`` (a duplicate merged into another case)
    registered 立案数         ``register`` and ``self_handle`` (a case handled on the spot is filed by it)
    self_handled 自行处置数   ``self_handle``
    dispatched 派遣数         ``dispatch``
    handled 处置数            ``report_done`` (each handling reported, reworks included)
    handled_on_time 按期处置数 ``report_done`` with ``on_time`` (reported before the handling deadline)
    inspected 核查数          ``inspect_ok`` and ``inspect_fail``
    closed 结案数             ``inspect_ok`` and ``approve_self`` (reopened and closed again: counted twice)
    closed_on_time 按期结案数 closing steps with ``on_time`` (the last handling was reported in time;
                              self-handled cases are on time)
    rework 返工数             ``inspect_fail``
    suspended 缓办数          ``approve_suspension`` (挂账/缓办 approved)
    reopened 重新派遣数        ``reopen``
    average handling time 平均处置时长: mean of the closing steps' ``duration_seconds`` (natural time from the
    first dispatch, or from the report for self-handled cases, to the close), in hours.

The rates and their denominators (``Options``; defaults from ``settings.LINLI_GRID_FIGURES``)
    应结案数 (due), by ``base``:
        ``registered``          立案数 in the period;
        ``reported``            上报数 in the period;
        ``closed_and_overdue``  结案数 in the period + cases still open and past their handling deadline at
                                the period's end (or now, if earlier), as the event rows record them now.
    minus, when ``exclude_suspended``, 缓办数 (Jinhua: 按期结案数 / (应结案数 − 缓办数)); for
    ``closed_and_overdue`` that is the overdue cases now suspended, otherwise the suspensions approved in the
    period; minus, when ``exclude_cancelled``, the cases cancelled in the period (for ``registered``: only
    those cancelled after registration; ``closed_and_overdue`` never holds cancelled cases).
    结案率 closing rate       = 结案数 / 应结案数
    按期结案率 on-time rate    = 按期结案数 / 应结案数 (``on_time_over="due"``) or / 结案数 (``"closed"``)
    返工率 rework rate        = 返工数 / 处置数 (``rework_over="handled"``), / 核查数 (``"inspected"``) or
                              / 应结案数 (``"due"``)
    A rate with a denominator of 0 or less is empty (shown as —), never 0 % or an error.

Workers
    A worker's row counts the steps they took (report, register, dispatch, report_done, self_handle, ...)
    and, for the judging steps (inspect_ok, approve_self, inspect_fail), the *handler* whose work was judged:
    the event's assignee (``HANDLER_FIELD``). Steps of residents, of the system and of nobody are one row,
    "others". See docs/grid-figures.md.
"""

from __future__ import annotations

import calendar
import hashlib
import re
import time as time_module
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connections, transaction
from django.db.models import Case, Count, F, IntegerField, Q, Sum, Value, When
from django.db.models.functions import Substr
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from linli.core import clock
from linli.core.models import Region, Role, User
from linli.core.scope import code_within

from .models import Department, Event, State, Transition


class Grouping:
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    GRID = "grid"
    DEPARTMENT = "department"
    WORKER = "worker"

    choices = [
        (DISTRICT, _("District")),
        (STREET, _("Street / town")),
        (COMMUNITY, _("Community / village")),
        (GRID, _("Grid")),
        (DEPARTMENT, _("Department")),
        (WORKER, _("Worker")),
    ]
    values = [value for value, _label in choices]


CODE_LENGTH = {Grouping.DISTRICT: 6, Grouping.STREET: 9, Grouping.COMMUNITY: 12, Grouping.GRID: 15}

# Which steps make which count.
REPORT = ("report",)
CANCEL = ("cancel", "merge")
REGISTER = ("register", "self_handle")
SELF_HANDLE = ("self_handle",)
DISPATCH = ("dispatch",)
HANDLE = ("report_done",)
INSPECT = ("inspect_ok", "inspect_fail")
CLOSE = ("inspect_ok", "approve_self")
REWORK = ("inspect_fail",)
SUSPEND = ("approve_suspension",)
REOPEN = ("reopen",)
COUNTED_ACTIONS = sorted(
    {*REPORT, *CANCEL, *REGISTER, *DISPATCH, *HANDLE, *INSPECT, *CLOSE, *SUSPEND, *REOPEN}
)
BEFORE_REGISTRATION = (State.VERIFYING, State.REPORTED)
# Steps whose credit goes to the handler judged by them, not to the inspector who took them.
JUDGED = ("inspect_ok", "approve_self", "inspect_fail")
# Where the handler of a judged step comes from: the assignee when the step was taken (the closing step's
# actor is the inspector, not the handler).
HANDLER_FIELD = "assignee_id_at"

COUNTS = [
    "reported",
    "cancelled",
    "registered",
    "self_handled",
    "dispatched",
    "handled",
    "handled_on_time",
    "inspected",
    "closed",
    "closed_on_time",
    "rework",
    "suspended",
    "reopened",
]


class Base:
    REGISTERED = "registered"
    REPORTED = "reported"
    CLOSED_AND_OVERDUE = "closed_and_overdue"
    choices = [
        (REGISTERED, _("registered in the period (立案数)")),
        (REPORTED, _("reported in the period (上报数)")),
        (CLOSED_AND_OVERDUE, _("closed in the period + still open and overdue at its end")),
    ]
    values = [value for value, _label in choices]


ON_TIME_OVER = [("due", _("due to close (应结案数)")), ("closed", _("closed (结案数)"))]
REWORK_OVER = [
    ("handled", _("handled (处置数)")),
    ("inspected", _("inspected (核查数)")),
    ("due", _("due to close (应结案数)")),
]

DEFAULT_OPTIONS = {
    "base": Base.REGISTERED,
    "exclude_suspended": True,
    "exclude_cancelled": True,
    "on_time_over": "due",
    "rework_over": "handled",
}


@dataclass(frozen=True)
class Options:
    """How the rates are computed: what is due to close, and what is left out of it."""

    base: str = Base.REGISTERED
    exclude_suspended: bool = True
    exclude_cancelled: bool = True
    on_time_over: str = "due"
    rework_over: str = "handled"

    @classmethod
    def default(cls) -> Options:
        return cls(**{**DEFAULT_OPTIONS, **getattr(settings, "LINLI_GRID_FIGURES", {})}).checked()

    def checked(self) -> Options:
        errors = {}
        if self.base not in Base.values:
            errors["base"] = _("Unknown denominator %(value)r.") % {"value": self.base}
        if self.on_time_over not in dict(ON_TIME_OVER):
            errors["on_time_over"] = _("Unknown denominator %(value)r.") % {"value": self.on_time_over}
        if self.rework_over not in dict(REWORK_OVER):
            errors["rework_over"] = _("Unknown denominator %(value)r.") % {"value": self.rework_over}
        if errors:
            raise ValidationError(errors)
        return self

    def formulas(self) -> dict[str, str]:
        """The formulas as used, in the standard's Chinese terms."""
        base = {
            Base.REGISTERED: "立案数",
            Base.REPORTED: "上报数",
            Base.CLOSED_AND_OVERDUE: "(结案数 + 超期未结案数)",
        }[self.base]
        due = base
        if self.exclude_suspended:
            due += " − 缓办数"
        if self.exclude_cancelled and self.base != Base.CLOSED_AND_OVERDUE:
            due += " − 作废数" if self.base == Base.REPORTED else " − 立案后作废数"
        due_term = "应结案数" if due == base else f"应结案数 ({due})"
        return {
            "due": f"应结案数 = {due}",
            "closing_rate": f"结案率 = 结案数 / {due_term}",
            "on_time_rate": "按期结案率 = 按期结案数 / "
            + (due_term if self.on_time_over == "due" else "结案数"),
            "rework_rate": "返工率 = 返工数 / "
            + {"handled": "处置数", "inspected": "核查数", "due": due_term}[self.rework_over],
        }


@dataclass(frozen=True)
class Period:
    """``[start, end)`` in local time, with a label such as 2026, 2026Q3, 2026-07 or 2026-07-01~2026-07-15."""

    start: datetime
    end: datetime
    label: str

    @classmethod
    def of_dates(cls, first: date, last: date, label: str | None = None) -> Period:
        """From the first to the last day, both included."""
        if last < first:
            raise ValidationError({"period": _("The period ends before it starts.")})
        zone = timezone.get_current_timezone()
        start = datetime.combine(first, time.min, tzinfo=zone)
        end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone)
        return cls(start, end, label or f"{first:%Y-%m-%d}~{last:%Y-%m-%d}")

    @classmethod
    def parse(cls, text: str) -> Period:
        """2026 (a year), 2026Q3 (a quarter), 2026-07 (a month) or 2026-07-01~2026-07-15 (days, inclusive)."""
        text = (text or "").strip()
        try:
            if m := re.fullmatch(r"(\d{4})", text):
                year = int(m[1])
                return cls.of_dates(date(year, 1, 1), date(year, 12, 31), text)
            if m := re.fullmatch(r"(\d{4})[Qq]([1-4])", text):
                year, quarter = int(m[1]), int(m[2])
                first = date(year, 3 * quarter - 2, 1)
                last_month = 3 * quarter
                last = date(year, last_month, calendar.monthrange(year, last_month)[1])
                return cls.of_dates(first, last, f"{year}Q{quarter}")
            if m := re.fullmatch(r"(\d{4})-(\d{1,2})", text):
                year, month = int(m[1]), int(m[2])
                last = date(year, month, calendar.monthrange(year, month)[1])
                return cls.of_dates(date(year, month, 1), last, f"{year}-{month:02d}")
            if m := re.fullmatch(r"(\d{4}-\d{2}-\d{2})\s*[~/]\s*(\d{4}-\d{2}-\d{2})", text):
                return cls.of_dates(date.fromisoformat(m[1]), date.fromisoformat(m[2]))
        except ValueError:
            pass
        raise ValidationError(
            {
                "period": _(
                    "Give the period as 2026, 2026Q3, 2026-07 or 2026-07-01~2026-07-15, not %(value)r."
                )
                % {"value": text}
            }
        )

    @classmethod
    def this_year(cls) -> Period:
        today = timezone.localdate(clock.now())
        return cls.parse(str(today.year))


@dataclass
class Row:
    key: object
    label: str
    counts: dict[str, int]
    duration_total: int = 0
    overdue_open: int = 0
    overdue_suspended: int = 0
    options: Options = field(default_factory=Options)

    def __getattr__(self, name):
        # row.closed, row.reported ... for templates.
        counts = self.__dict__.get("counts", {})
        if name in counts:
            return counts[name]
        raise AttributeError(name)

    @property
    def due(self) -> int:
        """应结案数 after the exclusions the options ask for."""
        o, c = self.options, self.counts
        if o.base == Base.CLOSED_AND_OVERDUE:
            due = c["closed"] + self.overdue_open
            if o.exclude_suspended:
                due -= self.overdue_suspended
            return due
        due = c["registered"] if o.base == Base.REGISTERED else c["reported"]
        if o.exclude_suspended:
            due -= c["suspended"]
        if o.exclude_cancelled:
            due -= c["cancelled_registered"] if o.base == Base.REGISTERED else c["cancelled"]
        return due

    @staticmethod
    def _rate(numerator: int, denominator: int) -> float | None:
        return numerator / denominator if denominator > 0 else None

    @property
    def closing_rate(self) -> float | None:
        return self._rate(self.counts["closed"], self.due)

    @property
    def on_time_rate(self) -> float | None:
        over = self.due if self.options.on_time_over == "due" else self.counts["closed"]
        return self._rate(self.counts["closed_on_time"], over)

    @property
    def rework_rate(self) -> float | None:
        over = {
            "handled": lambda: self.counts["handled"],
            "inspected": lambda: self.counts["inspected"],
            "due": lambda: self.due,
        }[self.options.rework_over]()
        return self._rate(self.counts["rework"], over)

    @property
    def average_hours(self) -> float | None:
        closed = self.counts["closed"]
        return self.duration_total / 3600 / closed if closed else None

    def add(self, other: Row) -> None:
        for name, value in other.counts.items():
            self.counts[name] = self.counts.get(name, 0) + value
        self.duration_total += other.duration_total
        self.overdue_open += other.overdue_open
        self.overdue_suspended += other.overdue_suspended


def _empty_counts() -> dict[str, int]:
    return dict.fromkeys([*COUNTS, "cancelled_registered"], 0)


@dataclass
class Figures:
    period: Period
    grouping: str
    options: Options
    rows: list[Row]
    total: Row
    region_code: str | None = None

    def formulas(self) -> dict[str, str]:
        return self.options.formulas()


def can_view(user) -> bool:
    """Staff with a region see the figures of their region; residents never."""
    return (
        user is not None
        and user.is_authenticated
        and user.is_active
        and not user.is_resident
        and bool(user.scope_codes)
    )


def groupings_for(user) -> list[tuple[str, str]]:
    """Region groupings no wider than the user's widest scope, then department and worker."""
    if not can_view(user):
        return []
    widest = min(len(code) for code in user.scope_codes)
    return [
        (value, label)
        for value, label in Grouping.choices
        if value not in CODE_LENGTH or CODE_LENGTH[value] >= widest
    ]


def _key(grouping: str, *, events: bool = False):
    """The second key of a tally (the first is always the grid): department or worker, else nothing."""
    if grouping == Grouping.DEPARTMENT:
        return F("department_id" if events else "department_id_at")
    if grouping == Grouping.WORKER:
        if events:
            return F("assignee_id")
        return Case(
            When(action__in=JUDGED, then=F(HANDLER_FIELD)), default=F("actor_id"), output_field=IntegerField()
        )
    return Value(None, output_field=IntegerField())


def _tally(counts: dict[str, int], action: str, n: int, on_time: int, early: int) -> None:
    """Add ``n`` steps of one action (``on_time`` of them on time, ``early`` of them taken before
    registration) to the counts they make."""
    if action in REPORT:
        counts["reported"] += n
    if action in CANCEL:
        counts["cancelled"] += n
        counts["cancelled_registered"] += n - early
    if action in REGISTER:
        counts["registered"] += n
    if action in SELF_HANDLE:
        counts["self_handled"] += n
    if action in DISPATCH:
        counts["dispatched"] += n
    if action in HANDLE:
        counts["handled"] += n
        counts["handled_on_time"] += on_time
    if action in INSPECT:
        counts["inspected"] += n
    if action in CLOSE:
        counts["closed"] += n
        counts["closed_on_time"] += on_time
    if action in REWORK:
        counts["rework"] += n
    if action in SUSPEND:
        counts["suspended"] += n
    if action in REOPEN:
        counts["reopened"] += n


# --- Tallies: the one aggregate query, by month and day ----------------------------------------------------
#
# A tally is (grid code, second key, action) → [steps, on time, before registration, handling seconds]. The
# query groups by the grid code and the action only (plus department or worker), and counts on_time and
# from_state with FILTER: grouping by those columns too makes PostgreSQL expect a million groups and sort
# millions of rows on disk instead of hashing a few tens of thousands. Region groupings fold the grid codes to
# 6/9/12 digits afterwards.
#
# Steps are only ever recorded at the time they happen (``at = now``), so the tallies of an ended calendar
# month or day never change. They are kept in Django's cache (``CACHE_SECONDS``): raw for all regions, and
# folded per scope and grouping; a period's ended part is merged once more and kept. Today and partial days
# are always counted live, scoped by ``Transition.objects.visible_to``. ``forget_tallies()`` drops it all
# (after importing history, say); ``warm()`` fills it ahead of requests.

CACHE_SECONDS = getattr(settings, "LINLI_GRID_FIGURES_CACHE_SECONDS", 7 * 24 * 3600)
CACHE_PREFIX = "linli.grid.figures.v1"


def _dimension(grouping: str) -> str:
    return grouping if grouping in (Grouping.DEPARTMENT, Grouping.WORKER) else "region"


def tally_queryset(steps, dimension: str):
    """The aggregate: per grid code, second key and action, the steps, how many on time, how many before
    registration, and the handling seconds of the closings."""
    return (
        steps.filter(action__in=COUNTED_ACTIONS)
        .annotate(second=_key(dimension))
        .values("region_code", "second", "action")
        .annotate(
            n=Count("id"),
            on_time_n=Count("id", filter=Q(on_time=True)),
            early=Count("id", filter=Q(from_state__in=BEFORE_REGISTRATION)),
            duration=Sum("duration_seconds", filter=Q(action__in=CLOSE)),
        )
        .order_by()
        .values_list("region_code", "second", "action", "n", "on_time_n", "early", "duration")
    )


def _query_tallies(steps, dimension: str) -> list[tuple]:
    grouped = tally_queryset(steps, dimension)
    with transaction.atomic(using=steps.db):
        if connections[steps.db].vendor == "postgresql":
            # Compiling this one scan costs seconds of JIT and saves nothing.
            with connections[steps.db].cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        return list(grouped)


def _month_start(moment: datetime) -> datetime:
    local = timezone.localtime(moment)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(start: datetime) -> datetime:
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return datetime(year, month, 1, tzinfo=start.tzinfo)


def _day_start(moment: datetime) -> datetime:
    local = timezone.localtime(moment)
    return datetime.combine(local.date(), time.min, tzinfo=local.tzinfo)


def _next_day(start: datetime) -> datetime:
    return datetime.combine(start.date() + timedelta(days=1), time.min, tzinfo=start.tzinfo)


@dataclass(frozen=True)
class Chunk:
    """A piece of a period: an ended calendar month or day (cached), or a stretch counted live."""

    kind: str  # "month", "day" or "live"
    start: datetime
    end: datetime


def chunks(period: Period, now: datetime) -> list[Chunk]:
    """Whole ended months, then whole ended days, then what is left (partial days, today) live."""
    today = _day_start(now)
    out: list[Chunk] = []
    cursor = timezone.localtime(period.start)
    while cursor < period.end:
        if cursor == _month_start(cursor) and (following := _next_month(cursor)) <= min(period.end, today):
            out.append(Chunk("month", cursor, following))
        elif cursor == _day_start(cursor) and (following := _next_day(cursor)) <= min(period.end, today):
            out.append(Chunk("day", cursor, following))
        else:
            # A partial day in the past ends at its midnight; from today on, everything is live.
            following = period.end if cursor >= today else min(period.end, _next_day(_day_start(cursor)))
            out.append(Chunk("live", cursor, following))
        cursor = following
    return out


def _generation() -> int:
    """Part of every cache key; ``forget_tallies`` replaces it, so old entries are never read again. If the
    cache has dropped it (a full memory cache culls), a new one is taken: counting again is safe."""
    key = f"{CACHE_PREFIX}:generation"
    generation = cache.get(key)
    if generation is None:
        generation = time_module.time_ns()
        cache.set(key, generation, None)
    return generation


def _raw(chunk: Chunk, dimension: str, generation: int) -> list[tuple]:
    """Every region's tallies of an ended month or day (unscoped: they are folded to a scope before use)."""
    key = f"{CACHE_PREFIX}:{generation}:raw:{dimension}:{chunk.kind}:{chunk.start:%Y-%m-%d}"
    found = cache.get(key)
    if found is None:
        steps = Transition.objects.filter(at__gte=chunk.start, at__lt=chunk.end)
        found = _query_tallies(steps, dimension)
        cache.set(key, found, CACHE_SECONDS)
    return found


def _fold(tallies, prefixes: tuple[str, ...] | None, length: int | None) -> dict[tuple, list[int]]:
    """(key, action) → [steps, on time, before registration, seconds]; the key is the grid code cut to
    ``length`` digits, or the second key (department, worker). ``prefixes``: keep only these regions."""
    sums: dict[tuple, list[int]] = {}
    for grid, second, action, n, on_time, early, duration in tallies:
        if prefixes is not None and not grid.startswith(prefixes):
            continue
        key = (grid[:length] if length else second, action)
        acc = sums.get(key)
        if acc is None:
            sums[key] = [n, on_time, early, duration or 0]
        else:
            acc[0] += n
            acc[1] += on_time
            acc[2] += early
            acc[3] += duration or 0
    return sums


def _folded(chunk: Chunk, dimension: str, prefixes: tuple[str, ...], length: int | None) -> dict:
    """An ended chunk folded to one scope and grouping, itself cached (a year is then ~400 small reads)."""
    generation = _generation()
    scope = hashlib.sha1("|".join(prefixes).encode()).hexdigest()[:16]
    key = f"{CACHE_PREFIX}:{generation}:fold:{dimension}:{length}:{scope}:{chunk.kind}:{chunk.start:%Y-%m-%d}"
    found = cache.get(key)
    if found is None:
        found = _fold(_raw(chunk, dimension, generation), prefixes, length)
        cache.set(key, found, CACHE_SECONDS)
    return found


def forget_tallies() -> None:
    """Drop every cached tally (after importing or correcting old history): the next figures count afresh."""
    cache.set(f"{CACHE_PREFIX}:generation", time_module.time_ns(), None)


def warm(months: int = 13, dimensions: tuple[str, ...] = ("region", "department", "worker")) -> int:
    """Count the ended months and days of the last ``months`` months into the cache ahead of the first
    request (a periodic job, where the cache is shared between processes); returns the chunks counted."""
    now = clock.now()
    start = _month_start(now)
    for _i in range(months):
        start = _month_start(start - timedelta(days=1))
    period = Period(start, _day_start(now), "warm")
    generation = _generation()
    done = 0
    for chunk in chunks(period, now):
        for dimension in dimensions:
            _raw(chunk, dimension, generation)
            done += 1
    return done


def _scope_prefixes(user, region_code: str | None) -> tuple[str, ...]:
    """The region prefixes the user's rows start with: the same rule as ``visible_to`` for staff."""
    if not can_view(user):
        return ()
    if region_code is not None:
        return (region_code,) if code_within(region_code, user.scope_codes) else ()
    return tuple(user.scope_codes)


def sums(user, period: Period, grouping: str, region_code: str | None = None) -> dict[tuple, list[int]]:
    """(key, action) → [steps, on time, before registration, handling seconds] over the period, inside the
    user's scope: ended months and days from the cache, the rest counted live through ``visible_to``."""
    prefixes = _scope_prefixes(user, region_code)
    if not prefixes:
        return {}
    dimension = _dimension(grouping)
    length = CODE_LENGTH.get(grouping)
    pieces = chunks(period, clock.now())
    ended = [c for c in pieces if c.kind != "live"]
    total: dict[tuple, list[int]] = {}
    if ended:
        # The ended chunks of this period, merged once and kept: the same page again is one cache read.
        generation = _generation()
        scope = hashlib.sha1("|".join(prefixes).encode()).hexdigest()[:16]
        key = (
            f"{CACHE_PREFIX}:{generation}:merged:{dimension}:{length}:{scope}:"
            f"{ended[0].start:%Y-%m-%d}:{ended[-1].end:%Y-%m-%d}:{len(ended)}"
        )
        merged = cache.get(key)
        if merged is None:
            merged = {}
            for chunk in ended:
                _merge(merged, _folded(chunk, dimension, prefixes, length))
            cache.set(key, merged, CACHE_SECONDS)
        total = merged
    for chunk in pieces:
        if chunk.kind == "live":
            steps = Transition.objects.visible_to(user, region_code).filter(
                at__gte=chunk.start, at__lt=chunk.end
            )
            _merge(total, _fold(_query_tallies(steps, dimension), None, length))
    return total


def _merge(total: dict[tuple, list[int]], part: dict[tuple, list[int]]) -> None:
    for key, values in part.items():
        acc = total.get(key)
        if acc is None:
            total[key] = list(values)
        else:
            for i in range(4):
                acc[i] += values[i]


def compute(
    user,
    period: Period,
    grouping: str = Grouping.STREET,
    options: Options | None = None,
    *,
    region_code: str | None = None,
) -> Figures:
    """The figures of the user's region (or one region inside it) for a period, one row per group."""
    options = (options or Options.default()).checked()
    if grouping not in Grouping.values:
        raise ValidationError({"grouping": _("Unknown grouping %(value)r.") % {"value": grouping}})
    rows: dict[object, Row] = {}
    for (key, action), (n, on_time, early, duration) in sums(user, period, grouping, region_code).items():
        row = rows.setdefault(key, Row(key, "", _empty_counts(), options=options))
        _tally(row.counts, action, n, on_time, early)
        if action in CLOSE:
            row.duration_total += duration
    if options.base == Base.CLOSED_AND_OVERDUE:
        _add_overdue(rows, user, period, grouping, options, region_code)
    ordered = _label(rows, grouping, options)
    total = Row(None, str(_("Total")), _empty_counts(), options=options)
    for row in ordered:
        total.add(row)
    return Figures(period, grouping, options, ordered, total, region_code)


def _add_overdue(rows, user, period, grouping, options, region_code) -> None:
    """Cases open and past their handling deadline at the period's end (or now): the second half of the
    ``closed_and_overdue`` base, from the event rows as they are now."""
    cutoff = min(period.end, clock.now())
    overdue = (
        Event.objects.visible_to(user, region_code)
        .filter(handle_due_at__lt=cutoff, created_at__lt=cutoff)
        .exclude(state=State.CANCELLED)
        .filter(Q(closed_at__isnull=True) | Q(closed_at__gte=cutoff))
        .annotate(
            key=Substr("region_code", 1, CODE_LENGTH[grouping])
            if grouping in CODE_LENGTH
            else _key(grouping, events=True)
        )
        .values("key", "state")
        .annotate(n=Count("id"))
        .order_by()
    )
    for item in overdue:
        row = rows.setdefault(item["key"], Row(item["key"], "", _empty_counts(), options=options))
        row.overdue_open += item["n"]
        if item["state"] == State.SUSPENDED:
            row.overdue_suspended += item["n"]


def _label(rows: dict[object, Row], grouping: str, options: Options) -> list[Row]:
    """Names for the keys, in code (or name) order; workers' non-staff keys folded into one row."""
    keys = [k for k in rows if k is not None]
    if grouping in CODE_LENGTH:
        names = dict(Region.objects.filter(code__in=keys).values_list("code", "name"))
        for key, row in rows.items():
            row.label = names.get(key, key or "—")
        return [rows[k] for k in sorted(rows, key=lambda k: k or "")]
    if grouping == Grouping.DEPARTMENT:
        names = dict(Department.objects.filter(pk__in=keys).values_list("pk", "name"))
        for key, row in rows.items():
            row.label = names.get(key, str(_("(not with a department)")) if key is None else f"#{key}")
        return sorted(rows.values(), key=lambda r: (r.key is None, r.label))
    people = {u.pk: u for u in User.objects.filter(pk__in=keys).exclude(role=Role.RESIDENT)}
    staff: list[Row] = []
    others = Row(None, str(_("(residents, the system and unassigned)")), _empty_counts(), options=options)
    folded = False
    for key, row in rows.items():
        person = people.get(key)
        if person is None:
            others.add(row)
            folded = True
            continue
        row.label = f"{person.get_full_name() or person.username} ({person.get_role_display()})"
        staff.append(row)
    staff.sort(key=lambda r: r.label)
    if folded:
        staff.append(others)
    return staff


# --- What each column means, for the page and the workbook --------------------------------------------------

# (key, Chinese term as the standards name it, English label, definition)
COLUMNS = [
    ("reported", "上报数", _("Reported"), _("Cases reported in the period, from every source.")),
    (
        "registered",
        "立案数",
        _("Registered"),
        _("Cases registered (立案) in the period, and cases handled on the spot (filed by that act)."),
    ),
    (
        "cancelled",
        "作废数",
        _("Cancelled"),
        _("Cases cancelled (not filed, or filed and then cancelled) or merged into another in the period."),
    ),
    ("self_handled", "自行处置数", _("Handled on the spot"), _("Cases a grid worker handled on the spot.")),
    (
        "dispatched",
        "派遣数",
        _("Dispatched"),
        _("Dispatches in the period (first dispatch and re-dispatch)."),
    ),
    (
        "handled",
        "处置数",
        _("Handled"),
        _("Handlings reported done in the period; a case reworked counts once per handling."),
    ),
    (
        "handled_on_time",
        "按期处置数",
        _("Handled on time"),
        _("Handlings reported done before the handling deadline (extensions and suspensions included)."),
    ),
    (
        "closed",
        "结案数",
        _("Closed"),
        _("Cases closed in the period: inspection passed, or on-the-spot handling approved."),
    ),
    (
        "closed_on_time",
        "按期结案数",
        _("Closed on time"),
        _("Closed cases whose last handling was reported before its deadline; on-the-spot ones are on time."),
    ),
    ("rework", "返工数", _("Rework"), _("Inspections failed in the period (the case went back for rework).")),
    (
        "suspended",
        "缓办数",
        _("Suspended"),
        _("Suspensions (挂账/缓办) approved in the period; the clock of such a case is paused."),
    ),
    ("due", "应结案数", _("Due to close"), _("The denominator of the closing rates, as chosen below.")),
    ("closing_rate", "结案率", _("Closing rate"), _("Closed divided by due to close.")),
    (
        "on_time_rate",
        "按期结案率",
        _("On-time closing rate"),
        _("Closed on time divided by the chosen base."),
    ),
    ("rework_rate", "返工率", _("Rework rate"), _("Rework divided by the chosen base.")),
    (
        "average_hours",
        "平均处置时长(小时)",
        _("Average handling time (h)"),
        _("Mean natural time from first dispatch (or report, for on-the-spot cases) to closing."),
    ),
]
RATES = {"closing_rate", "on_time_rate", "rework_rate"}


def value(row: Row, key: str):
    """One cell: a count, a rate (a fraction, or None) or hours (or None)."""
    if key in row.counts:
        return row.counts[key]
    return getattr(row, key)


def workbook(figures: Figures, *, grouping_label: str, region_label: str) -> bytes:
    """The figures as .xlsx: the table (Chinese headers, rates as percentages) and a sheet of definitions."""
    from io import BytesIO

    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    book = Workbook()
    sheet = book.active
    sheet.title = "绩效统计"
    sheet.append([f"网格事件绩效统计  {region_label}  {figures.period.label}  按{grouping_label}"])
    sheet.append([])
    header = ["名称", "代码"] + [zh for _k, zh, _l, _d in COLUMNS]
    sheet.append(header)
    for cell in sheet[3]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for row in [*figures.rows, figures.total]:
        key = "" if row.key is None else str(row.key)
        cells = [row.label, key]
        for k, _zh, _l, _d in COLUMNS:
            v = value(row, k)
            cells.append(round(v, 2) if isinstance(v, float) and k not in RATES else v)
        sheet.append(cells)
        for index, (k, *_rest) in enumerate(COLUMNS, start=3):
            if k in RATES:
                sheet.cell(row=sheet.max_row, column=index).number_format = "0.0%"
    sheet.cell(row=sheet.max_row, column=1).font = Font(bold=True)
    sheet.column_dimensions["A"].width = 28
    sheet.column_dimensions["B"].width = 18
    sheet.freeze_panes = "C4"

    notes = book.create_sheet("口径说明")
    notes.append(["指标", "English", "定义 Definition"])
    for cell in notes[1]:
        cell.font = Font(bold=True)
    for _k, zh, label, definition in COLUMNS:
        notes.append([zh, str(label), str(definition)])
    notes.append([])
    notes.append(
        [
            "统计期间",
            str(_("Period")),
            f"{figures.period.label} [{figures.period.start:%Y-%m-%d %H:%M}, "
            f"{figures.period.end:%Y-%m-%d %H:%M})",
        ]
    )
    notes.append(["口径", str(_("Formulas")), ""])
    for formula in figures.formulas().values():
        notes.append(["", "", formula])
    notes.append([])
    notes.append(
        [
            "",
            "",
            str(
                _(
                    "Counts are of steps in the period (a case reopened and closed again counts twice). "
                    "A rate whose denominator is 0 is left empty."
                )
            ),
        ]
    )
    notes.column_dimensions["A"].width = 18
    notes.column_dimensions["B"].width = 26
    notes.column_dimensions["C"].width = 100
    out = BytesIO()
    book.save(out)
    return out.getvalue()
