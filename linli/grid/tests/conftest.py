import pytest
from django.utils import translation

from linli.grid.testing import cast, draw_grids


@pytest.fixture(autouse=True)
def _english():
    """Services speak the active language; tests that call them directly read their English msgids.

    Pages and the API still answer in Chinese: the locale middleware picks the language of each request.
    """
    with translation.override("en"):
        yield


@pytest.fixture
def people(regions):
    """The test tree with square grids, and everyone around the first grid."""
    draw_grids()
    return cast()


class Clock:
    """The time services see; tests set it and move it forward."""

    def __init__(self, monkeypatch):
        from linli.core import clock

        self.now = None
        monkeypatch.setattr(clock, "now", lambda: self.now)

    def set(self, moment):
        self.now = moment
        return moment

    def advance(self, **delta):
        from datetime import timedelta

        self.now = self.now + timedelta(**delta)
        return self.now


@pytest.fixture
def at(monkeypatch):
    return Clock(monkeypatch)
