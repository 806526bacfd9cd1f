"""The current time, in one place so that tests can move it (idle timeouts, lockouts)."""

from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    return timezone.now()
