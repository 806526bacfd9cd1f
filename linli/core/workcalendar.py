"""TEMPORARY shim until the working-calendar branch lands (weekends only, 08:30–12:00 and 13:30–17:30)."""

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import models
from django.utils import timezone


class TimeUnit(models.TextChoices):
    WORKING_HOUR = "working_hour", "working hour"
    WORKING_DAY = "working_day", "working day"
    NATURAL_HOUR = "natural_hour", "natural hour"
    NATURAL_DAY = "natural_day", "natural day"


PERIODS = [(time(8, 30), time(12, 0)), (time(13, 30), time(17, 30))]
DAY_SECONDS = sum((e.hour * 60 + e.minute - s.hour * 60 - s.minute) * 60 for s, e in PERIODS)


def working_periods():
    return PERIODS


def is_working_day(day: date) -> bool:
    return day.weekday() < 5


def _intervals(start: datetime):
    local = timezone.localtime(start)
    day = local.date()
    while True:
        if is_working_day(day):
            for s, e in PERIODS:
                a = timezone.make_aware(datetime.combine(day, s))
                b = timezone.make_aware(datetime.combine(day, e))
                if b > start:
                    yield max(a, start), b
        day += timedelta(days=1)


def add_working_seconds(start: datetime, seconds: int) -> datetime:
    left = seconds
    for a, b in _intervals(start):
        span = (b - a).total_seconds()
        if left <= span:
            return a + timedelta(seconds=left)
        left -= span
    raise AssertionError


def working_seconds_between(start: datetime, end: datetime) -> int:
    if end <= start:
        return 0
    total = 0
    for a, b in _intervals(start):
        if a >= end:
            break
        total += (min(b, end) - a).total_seconds()
    return int(total)


def add_time(start: datetime, amount, unit: str) -> datetime:
    amount = Decimal(str(amount))
    if unit == TimeUnit.NATURAL_HOUR:
        return start + timedelta(hours=float(amount))
    if unit == TimeUnit.NATURAL_DAY:
        return start + timedelta(days=float(amount))
    per = 3600 if unit == TimeUnit.WORKING_HOUR else DAY_SECONDS
    return add_working_seconds(start, int(amount * per))
