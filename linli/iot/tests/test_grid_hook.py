"""With the grid app installed: a new alarm of a rule that names a grid category opens exactly one event."""

import pytest
from django.apps import apps
from django.test import TestCase

from linli.iot import pipeline
from linli.iot.alarms import after_created
from linli.iot.models import Alarm
from linli.iot.pipeline import Reading
from linli.iot.testing import make_device, make_rule, now_ms

pytestmark = pytest.mark.skipif(not apps.is_installed("linli.grid"), reason="the grid app is not installed")
GRID = "370198001001001"


def test_a_new_alarm_opens_one_grid_event_of_the_rules_category(regions):
    from linli.grid.models import Event
    from linli.grid.testing import draw_grids

    draw_grids()
    device = make_device(GRID, label="5号楼烟感")
    make_rule(
        device.profile,
        alarm_type="smoke",
        key="smoke",
        op="==",
        value=True,
        severity="critical",
        grid_category="IOT01",
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        changes = pipeline.store_telemetry([Reading(device.pk, now_ms(), {"smoke": True})])
    assert [c.action for c in changes] == ["created"]
    event = Event.objects.get(upstream_system="iot", upstream_id=str(changes[0].alarm_id))
    assert event.category.code == "IOT01" and device.name in event.title
    # The sinks run again (a redelivered notification): still one event.
    after_created(Alarm.objects.get(pk=changes[0].alarm_id))
    assert Event.objects.filter(upstream_system="iot").count() == 1


def test_an_alarm_of_a_rule_without_category_opens_no_event(regions):
    from linli.grid.models import Event

    device = make_device(GRID)
    make_rule(device.profile, value=60)
    with TestCase.captureOnCommitCallbacks(execute=True):
        pipeline.store_telemetry([Reading(device.pk, now_ms(), {"temperature": 80})])
    assert (
        Alarm.objects.filter(device=device).exists()
        and not Event.objects.filter(upstream_system="iot").exists()
    )
