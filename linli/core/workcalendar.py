"""The working calendar and clock arithmetic for time limits (时限) in working hours and working days.

A day is a working day when it is a weekday without a ``holiday`` row, or a weekend day with a ``workday``
row (a 调休 make-up working day). Working time is the working periods of a working day (by default
08:30–12:00 and 13:30–17:30, Asia/Shanghai). The rows are seeded from the ``chinese-calendar`` package for the
years it covers (``seed_calendar``; also after every ``migrate`` for years not yet in the database) and
district administrators add or correct them in the configuration admin, e.g. next year's schedule once the
国务院办公厅 publishes it.

Units
    ``working_hour``: that many hours of working time. ``working_day``: one full day's working time per day
    (7.5 h by default) counted from the start, so Friday 15:00 + 1 working day is the next working day 15:00.
    ``natural_hour`` / ``natural_day``: clock time, the calendar ignored. When the start lies outside working
    time, counting begins at the next working period; a due time that falls on the end of a period is that end
    (Friday 12:30 + 1 working day is Monday 12:00, not 13:30: the same working time has passed).

Speed and caching
    The calendar is held in memory per year (a flag and a running count of working days per day of the year),
    so a call makes no database query and long spans are bisected, not walked day by day. A change to a
    calendar row or a working period (admin, shell, command) clears this process's cache at once and again on
    commit; other processes re-read after ``LINLI_CALENDAR_CACHE_SECONDS`` (default 60 s). See
    docs/working-calendar.md.
"""

from __future__ import annotations

import threading
import time as monotonic_time
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models.signals import post_delete, post_migrate, post_save
from django.utils.translation import gettext_lazy as _

DEFAULT_PERIODS: tuple[tuple[time, time], ...] = ((time(8, 30), time(12, 0)), (time(13, 30), time(17, 30)))
DEFAULT_CACHE_SECONDS = 60
US = 1_000_000  # microseconds per second: all arithmetic is in whole microseconds, so it is exact
DAY_US = 86_400 * US
MAX_YEARS_AHEAD = 100  # a calendar with no working day at all must not loop forever


class TimeUnit(models.TextChoices):
    WORKING_HOUR = "working_hour", _("working hours")
    WORKING_DAY = "working_day", _("working days")
    NATURAL_HOUR = "natural_hour", _("natural hours")
    NATURAL_DAY = "natural_day", _("natural days")


# --- Models -------------------------------------------------------------------------------------------------


class DayKind(models.TextChoices):
    HOLIDAY = "holiday", _("Holiday (no work)")
    WORKDAY = "workday", _("Make-up working day (调休)")


class DaySource(models.TextChoices):
    SEEDED = "seeded", _("Seeded from chinese-calendar")
    ADMIN = "admin", _("Entered by an administrator")


class CalendarDay(models.Model):
    """An exception to the weekly rhythm: a public holiday, or a weekend day that is worked."""

    date = models.DateField(_("date"), unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=DayKind.choices)
    name = models.CharField(_("name"), max_length=60, blank=True, help_text=_("e.g. 春节, 国庆节"))
    source = models.CharField(
        _("source"), max_length=10, choices=DaySource.choices, default=DaySource.ADMIN, editable=False
    )
    updated_by = models.ForeignKey(
        "core.User",
        verbose_name=_("updated by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        app_label = "core"
        verbose_name = _("calendar day")
        verbose_name_plural = _("working calendar: holidays and make-up working days")
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.get_kind_display()} {self.name}".strip()

    def clean(self):
        super().clean()
        if self.date and self.kind == DayKind.WORKDAY and self.date.weekday() < 5:
            raise ValidationError(
                {"kind": _("%(date)s is a weekday, a working day anyway; only weekend days are made up.")},
                params={"date": self.date.isoformat()},
            )


class WorkingPeriod(models.Model):
    """One stretch of working time in a working day; the day's working time is all periods together."""

    start = models.TimeField(_("start"))
    end = models.TimeField(_("end"))
    updated_by = models.ForeignKey(
        "core.User",
        verbose_name=_("updated by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        app_label = "core"
        verbose_name = _("working period")
        verbose_name_plural = _("working periods (working hours of a working day)")
        ordering = ["start"]

    def __str__(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"

    def clean(self):
        super().clean()
        if self.start is None or self.end is None:
            return
        if self.start >= self.end:
            raise ValidationError(_("A period ends after it starts, on the same day."))
        others = WorkingPeriod.objects.exclude(pk=self.pk)
        clash = others.filter(start__lt=self.end, end__gt=self.start).first()
        if clash is not None:
            raise ValidationError(
                _("This period overlaps the period %(other)s."), params={"other": str(clash)}
            )


# --- The in-memory calendar ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Year:
    """One year: whether each day works, and how many working days come before each day."""

    year: int
    first: int  # the ordinal of 1 January
    working: bytes  # working[i] is 1 when day i of the year (0 = 1 January) is a working day
    before: list[int]  # before[i] = working days among days 0 … i-1; before[-1] = the year's total

    @classmethod
    def build(cls, year: int, overrides: dict[date, str]) -> _Year:
        first = date(year, 1, 1)
        length = (date(year + 1, 1, 1) - first).days
        flags = bytearray(length)
        weekday = first.weekday()
        for i in range(length):
            flags[i] = (weekday + i) % 7 < 5
        for day, kind in overrides.items():
            flags[(day - first).days] = kind == DayKind.WORKDAY
        before = [0] * (length + 1)
        running = 0
        for i in range(length):
            running += flags[i]
            before[i + 1] = running
        return cls(year, first.toordinal(), bytes(flags), before)


@dataclass
class _Calendar:
    """The working periods (microseconds from midnight) and the years loaded so far."""

    loaded_at: float
    expires_at: float
    zone: ZoneInfo
    origin: datetime  # local midnight, 1 January of year 1
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    day_us: int  # a working day's working time
    years: dict[int, _Year] = field(default_factory=dict)

    @classmethod
    def load(cls) -> _Calendar:
        rows = list(WorkingPeriod.objects.order_by("start").values_list("start", "end"))
        periods = [(start, end) for start, end in rows if start < end] or list(DEFAULT_PERIODS)
        starts = tuple(_time_us(start) for start, _end in periods)
        ends = tuple(_time_us(end) for _start, end in periods)
        day_us = sum(end - start for start, end in zip(starts, ends, strict=True))
        now = monotonic_time.monotonic()
        ttl = getattr(settings, "LINLI_CALENDAR_CACHE_SECONDS", DEFAULT_CACHE_SECONDS)
        zone = ZoneInfo(settings.TIME_ZONE)
        return cls(now, now + ttl, zone, datetime(1, 1, 1, tzinfo=zone), starts, ends, day_us)

    def year(self, year: int) -> _Year:
        found = self.years.get(year)
        if found is None:
            rows = CalendarDay.objects.filter(date__year=year).values_list("date", "kind")
            found = self.years[year] = _Year.build(year, dict(rows))
        return found

    def is_working(self, day: date) -> bool:
        days = self.year(day.year)
        return bool(days.working[day.toordinal() - days.first])

    def elapsed_in_day(self, tod: int) -> int:
        """Working time of a working day before the time of day ``tod`` (microseconds)."""
        total = 0
        for start, end in zip(self.starts, self.ends, strict=True):
            if tod <= start:
                break
            total += (tod if tod < end else end) - start
        return total

    def time_at(self, elapsed: int) -> int:
        """The earliest time of day by which ``elapsed`` (0 < elapsed ≤ day_us) of working time has passed."""
        for start, end in zip(self.starts, self.ends, strict=True):
            length = end - start
            if elapsed <= length:
                return start + elapsed
            elapsed -= length
        return self.ends[-1]

    def working_days(self, first: _Year, first_index: int, stop: _Year, stop_index: int) -> int:
        """How many working days lie from day ``first_index`` of ``first`` up to (not incl.) ``stop_index``.

        ``first_index`` may be the year's length (the day after 31 December).
        """
        if first is stop:
            return stop.before[stop_index] - first.before[first_index]
        total = first.before[-1] - first.before[first_index]
        for year in range(first.year + 1, stop.year):
            total += self.year(year).before[-1]
        return total + stop.before[stop_index]

    def nth_working_day_after(self, days: _Year, index: int, n: int) -> tuple[_Year, int]:
        """The n-th working day (n ≥ 1) after day ``index`` of ``days``, bisecting the running counts."""
        index += 1
        for _attempt in range(MAX_YEARS_AHEAD):
            target = days.before[index] + n
            if target <= days.before[-1]:
                # The first position with ``target`` working days before it comes right after that day.
                return days, bisect_left(days.before, target, index) - 1
            n = target - days.before[-1]
            days, index = self.year(days.year + 1), 0
        raise ValueError(
            f"No working day in the {MAX_YEARS_AHEAD} years after {days.year}: check the calendar."
        )


_lock = threading.Lock()
_calendar: _Calendar | None = None


def _current() -> _Calendar:
    global _calendar
    calendar = _calendar
    if calendar is None or monotonic_time.monotonic() >= calendar.expires_at:
        with _lock:
            calendar = _calendar = _Calendar.load()
    return calendar


def clear_cache() -> None:
    """Forget the calendar held in memory; the next call reads the database again."""
    global _calendar
    _calendar = None


def _changed(**kwargs) -> None:
    clear_cache()
    # Once more after commit: a call made between the save and the commit may have cached the old rows.
    transaction.on_commit(clear_cache, using=kwargs.get("using"))


for _model in (CalendarDay, WorkingPeriod):
    post_save.connect(_changed, sender=_model, dispatch_uid=f"workcalendar-save-{_model.__name__}")
    post_delete.connect(_changed, sender=_model, dispatch_uid=f"workcalendar-delete-{_model.__name__}")


# --- The interface ------------------------------------------------------------------------------------------


def _time_us(moment: time) -> int:
    return ((moment.hour * 60 + moment.minute) * 60 + moment.second) * US + moment.microsecond


def _local(calendar: _Calendar, moment: datetime) -> tuple[_Year, int, int]:
    """A moment as (its local year, the day's index in it, microseconds since local midnight)."""
    if moment.tzinfo is None:
        raise ValueError("The working calendar needs aware datetimes.")
    local = moment.astimezone(calendar.zone)
    days = calendar.years.get(local.year) or calendar.year(local.year)
    tod = ((local.hour * 60 + local.minute) * 60 + local.second) * US + local.microsecond
    return days, local.toordinal() - days.first, tod


def _clock(tod: int) -> time:
    seconds, micro = divmod(tod, US)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return time(hour, minute, second, micro)


def _moment(calendar: _Calendar, days: _Year, index: int, tod: int) -> datetime:
    # Wall-clock arithmetic from local midnight of 1 January of year 1 (ordinal 1).
    return calendar.origin + timedelta(days=days.first + index - 1, microseconds=tod)


def is_working_day(day: date) -> bool:
    return _current().is_working(day)


def working_periods() -> list[tuple[time, time]]:
    """The working periods of a working day, local time, in order."""
    calendar = _current()
    return [(_clock(s), _clock(e)) for s, e in zip(calendar.starts, calendar.ends, strict=True)]


def working_day_seconds() -> int:
    """A working day's working time in seconds (27,000 with the default periods)."""
    return _current().day_us // US


def working_seconds_between(start: datetime, end: datetime) -> int:
    """Working time from ``start`` to ``end`` in whole seconds; 0 when ``end`` is not after ``start``."""
    if end <= start:
        return 0
    calendar = _current()
    first, first_index, first_tod = _local(calendar, start)
    last, last_index, last_tod = _local(calendar, end)
    if first is last and first_index == last_index:
        if not first.working[first_index]:
            return 0
        return (calendar.elapsed_in_day(last_tod) - calendar.elapsed_in_day(first_tod)) // US
    total = calendar.working_days(first, first_index + 1, last, last_index) * calendar.day_us
    if first.working[first_index]:
        total += calendar.day_us - calendar.elapsed_in_day(first_tod)
    if last.working[last_index]:
        total += calendar.elapsed_in_day(last_tod)
    return total // US


def add_working_seconds(start: datetime, seconds: int) -> datetime:
    """The earliest moment by which ``seconds`` of working time have passed since ``start``.

    With ``seconds`` = 0 this is ``start`` itself. Used to resume a paused clock: the remaining working time
    (``working_seconds_between(paused_at, due)``) is added to the moment of resumption.
    """
    return _add_working(_current(), start, int(seconds) * US)


def _add_working(calendar: _Calendar, start: datetime, remaining: int) -> datetime:
    if remaining < 0:
        raise ValueError("The working time to add cannot be negative.")
    days, index, tod = _local(calendar, start)
    if remaining == 0:
        return start
    if days.working[index]:
        done = calendar.elapsed_in_day(tod)
        if remaining <= calendar.day_us - done:
            return _moment(calendar, days, index, calendar.time_at(done + remaining))
        remaining -= calendar.day_us - done
    skip, rest = divmod(remaining, calendar.day_us)
    if rest == 0:  # ends exactly at the end of a working day: that day's last period end
        skip, rest = skip - 1, calendar.day_us
    due_days, due_index = calendar.nth_working_day_after(days, index, skip + 1)
    return _moment(calendar, due_days, due_index, calendar.time_at(rest))


def _microseconds(amount: float | Decimal | int, per_unit: int) -> int:
    """``amount`` units of ``per_unit`` microseconds each, exactly for integers and decimals."""
    if type(amount) is int:  # the common case, without Decimal's cost
        if amount < 0:
            raise ValueError(f"A time limit must be a finite amount ≥ 0, not {amount!r}.")
        return amount * per_unit
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    if not value.is_finite() or value < 0:
        raise ValueError(f"A time limit must be a finite amount ≥ 0, not {amount!r}.")
    return int((value * per_unit).to_integral_value())


def add_time(start: datetime, amount: float | Decimal | int, unit: str) -> datetime:
    """The due time of a limit of ``amount`` ``unit``s (a ``TimeUnit``) started at ``start``.

    Working units are cut to the whole second, as ``add_working_seconds`` counts; natural units are exact.
    """
    calendar = _current()
    if unit == TimeUnit.WORKING_HOUR:
        return _add_working(calendar, start, _microseconds(amount, 3600 * US) // US * US)
    if unit == TimeUnit.WORKING_DAY:
        return _add_working(calendar, start, _microseconds(amount, calendar.day_us) // US * US)
    if unit == TimeUnit.NATURAL_HOUR:
        microseconds = _microseconds(amount, 3600 * US)
    elif unit == TimeUnit.NATURAL_DAY:
        microseconds = _microseconds(amount, 86_400 * US)
    else:
        raise ValueError(f"Unknown time unit {unit!r}; one of {', '.join(TimeUnit.values)}.")
    if start.tzinfo is None:
        raise ValueError("The working calendar needs aware datetimes.")
    return start.astimezone(calendar.zone) + timedelta(microseconds=microseconds)


# --- Seeding from chinese-calendar --------------------------------------------------------------------------

# The package names holidays in English; the calendar shows the names of the 国务院办公厅 notices.
HOLIDAY_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利70周年纪念日",
}


class YearNotCovered(LookupError):
    """The chinese-calendar package does not know this year's holidays (yet)."""


@dataclass(frozen=True)
class SeedResult:
    year: int
    holidays: int  # holiday rows written from the package
    workdays: int  # make-up working day rows written from the package
    kept: int  # dates an administrator set, left as they are
    removed: int  # seeded rows the package no longer lists


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chinese-calendar")
    except PackageNotFoundError:  # pragma: no cover - installed under its other distribution name
        return version("chinesecalendar")


def package_years() -> range:
    """The years whose holidays and make-up days the installed chinese-calendar knows."""
    import chinese_calendar

    years = {day.year for day in chinese_calendar.holidays}
    return range(min(years), max(years) + 1)


def package_days(year: int) -> dict[date, tuple[str, str]]:
    """The package's days of ``year``: date → (kind, Chinese name)."""
    import chinese_calendar

    if year not in package_years():
        raise YearNotCovered(year)
    days: dict[date, tuple[str, str]] = {}
    for day, name in chinese_calendar.holidays.items():
        if day.year == year:
            days[day] = (DayKind.HOLIDAY, HOLIDAY_NAMES.get(name, name))
    for day, name in chinese_calendar.workdays.items():
        # Only weekend days worked in exchange (调休) are exceptions; a weekday works anyway.
        if day.year == year and day.weekday() >= 5:
            days[day] = (DayKind.WORKDAY, f"{HOLIDAY_NAMES.get(name, name)}调休")
    return days


def years_in_database() -> list[int]:
    return sorted({day.year for day in CalendarDay.objects.values_list("date", flat=True)})


def seed_year(year: int, *, using: str | None = None) -> SeedResult:
    """Write the package's holidays and make-up days of ``year``; an administrator's rows win."""
    wanted = package_days(year)
    rows = CalendarDay.objects.using(using) if using else CalendarDay.objects
    with transaction.atomic(using=using):
        existing = {row.date: row for row in rows.filter(date__year=year)}
        kept = {day for day, row in existing.items() if row.source == DaySource.ADMIN}
        seeded = [(day, row) for day, row in existing.items() if row.source == DaySource.SEEDED]
        stale = [row.pk for day, row in seeded if day not in wanted]
        rows.filter(pk__in=stale).delete()
        new, changed = [], []
        for day, (kind, name) in sorted(wanted.items()):
            if day in kept:
                continue
            row = existing.get(day)
            if row is None:
                new.append(CalendarDay(date=day, kind=kind, name=name, source=DaySource.SEEDED))
            elif (row.kind, row.name) != (kind, name):
                row.kind, row.name = kind, name
                changed.append(row)
        rows.bulk_create(new)
        rows.bulk_update(changed, ["kind", "name"])
    clear_cache()
    written = [kind for day, (kind, _name) in wanted.items() if day not in kept]
    return SeedResult(
        year,
        holidays=written.count(DayKind.HOLIDAY),
        workdays=written.count(DayKind.WORKDAY),
        kept=len(kept & wanted.keys()),
        removed=len(stale),
    )


def seed_missing(using: str | None = None) -> list[int]:
    """Seed every year the package covers that has no row yet, and the default periods if there are none.

    Runs after every ``migrate`` (and after a test database is flushed), so a fresh install has the calendar
    and upgrading chinese-calendar brings in its new years. A year with any row (seeded or an
    administrator's) is left alone; ``linli manage seed_calendar --year Y`` refreshes it.
    """
    periods = WorkingPeriod.objects.using(using) if using else WorkingPeriod.objects
    if not periods.exists():
        periods.bulk_create(WorkingPeriod(start=start, end=end) for start, end in DEFAULT_PERIODS)
    rows = CalendarDay.objects.using(using) if using else CalendarDay.objects
    present = {day.year for day in rows.values_list("date", flat=True)}
    missing = [year for year in package_years() if year not in present]
    for year in missing:
        seed_year(year, using=using)
    clear_cache()
    return missing


def _seed_after_migrate(sender, app_config=None, using=None, apps=None, **kwargs) -> None:
    if app_config is None or app_config.label != "core":
        return
    if apps is None:  # a test database flush sends post_migrate without the migration state
        from django.apps import apps
    try:
        # Only once the migration that makes the tables has run (not when migrating backwards past it).
        apps.get_model("core", "CalendarDay")
        apps.get_model("core", "WorkingPeriod")
    except LookupError:
        return
    seed_missing(using=using)


post_migrate.connect(_seed_after_migrate, dispatch_uid="workcalendar-seed")
