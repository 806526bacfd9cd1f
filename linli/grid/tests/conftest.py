import pytest

from linli.grid.testing import cast, draw_grids


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
