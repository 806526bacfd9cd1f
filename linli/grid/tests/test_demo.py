"""The grid demo data: events in every state with real histories made by the services, every light on the
open ones, departments with members, and a reset that leaves nothing behind."""

from collections import Counter
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from linli.core import clock, demo
from linli.core.models import Role, User
from linli.grid import demo as grid_demo
from linli.grid.models import (
    OPEN_STATES,
    Category,
    Department,
    Event,
    Evidence,
    Notification,
    Request,
    State,
    Transition,
)

# A small district (60 grids, two events each) built by the same code as `linli demo`.
SMALL = demo.Scale("small", streets=2, towns=1, communities=9, grids=60, residents=3)


@pytest.fixture(scope="module")
def built(django_db_setup, django_db_blocker, tmp_path_factory):
    """The small demo district with its grid data, built once for the module and rolled back after it."""
    media = tmp_path_factory.mktemp("grid-demo-media")
    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=str(media)):
        with transaction.atomic():
            result = demo.build(SMALL)
            yield result, media
            transaction.set_rollback(True)


def test_the_extension_is_registered_and_says_what_it_made(db, built):
    result, _media = built
    assert grid_demo.demo_extension in demo.EXTENSIONS and grid_demo.delete_grid in demo.RESET_HOOKS
    line = next(line for line in result.extension_lines if line.startswith("网格 Grid"))
    assert f"{Event.objects.count():,} 事件 events" in line
    assert Event.objects.count() >= 100


def test_every_state_appears(db, built):
    states = Counter(Event.objects.values_list("state", flat=True))
    assert set(states) == set(State.values), f"missing: {set(State.values) - set(states)}"


def test_open_events_show_every_light_now(db, built):
    now = timezone.now()
    lights = Counter(e.light(now) for e in Event.objects.filter(state__in=OPEN_STATES))
    assert lights["green"] and lights["yellow"] and lights["red"], lights


def test_the_special_cases_are_there(db, built):
    assert Event.objects.filter(state=State.CLOSED, rework_count__gt=0).exists()
    assert Event.objects.filter(state=State.IN_PROGRESS, rework_count__gt=0).exists()
    assert Event.objects.filter(state=State.SUSPENDED, remaining_seconds__isnull=False).exists()
    assert Event.objects.filter(state=State.EVALUATED, satisfaction__isnull=False).exists()
    assert Event.objects.filter(duplicate_of__isnull=False, state=State.CANCELLED).exists()
    assert (
        Event.objects.filter(closed_on_time=True).exists()
        and Event.objects.filter(closed_on_time=False).exists()
    )
    assert Request.objects.filter(decision=Request.Decision.PENDING, kind="extension").exists()
    assert Request.objects.filter(decision=Request.Decision.APPROVED, kind="suspension").exists()
    assert Request.objects.filter(decision=Request.Decision.APPROVED, kind="return").exists()
    assert Transition.objects.filter(action="reopen").exists()
    assert Notification.objects.filter(
        kind="duplicate"
    ).exists()  # the merged pairs were reported side by side
    sources = set(Event.objects.values_list("source", flat=True))
    assert {"resident", "grid_worker", "hotline", "iot"} <= sources


def test_histories_are_real_and_in_order(db, built):
    now = timezone.now()
    assert abs((clock.now() - now).total_seconds()) < 60, "the demo left the clock moved"
    for event in Event.objects.prefetch_related("history"):
        steps = list(event.history.all())
        assert steps[0].action == "report" and steps[0].at == event.created_at
        assert all(a.at <= b.at for a, b in zip(steps, steps[1:], strict=False)), event.number
        assert steps[-1].at < now
        assert steps[-1].to_state == event.state or steps[-1].action.startswith(("request_", "escalate"))
        assert event.created_at > now - timedelta(days=120)
    # Closing steps carry the facts the figures read.
    for step in Transition.objects.filter(action__in=["inspect_ok", "approve_self"]):
        assert step.on_time is not None and step.duration_seconds is not None


def test_photos_are_real_files_of_their_steps(db, built, settings):
    _result, media = built
    settings.MEDIA_ROOT = str(media)
    photos = list(Evidence.objects.select_related("transition"))
    assert {p.kind for p in photos} >= {"report", "before", "after"}
    for photo in photos[:20]:
        assert default_storage.open(photo.file.name).read(8) == b"\x89PNG\r\n\x1a\n"
        assert photo.uploaded_at == photo.transition.at
    assert str(media) in default_storage.path(photos[0].file.name)


def test_departments_have_members_and_their_categories(db, built):
    departments = Department.objects.filter(code__startswith="DEMO-")
    assert {d.name for d in departments} >= {"环卫所", "市政所", "城管中队", "派出所联络", "物业办"}
    for department in departments:
        assert department.members.exists(), department.name
        assert Category.objects.filter(department=department).exists(), department.name
    assert Event.objects.filter(department__in=departments).exists()


def test_the_tick_has_told_people_about_overdue_cases(db, built):
    overdue = Event.objects.filter(state__in=OPEN_STATES, due_at__lt=timezone.now())
    assert overdue.exists()
    assert Notification.objects.filter(kind="overdue", event__in=overdue).exists()
    assert not overdue.filter(overdue_notified=False).exists()


def test_demo_accounts_see_their_grids_events_through_the_api(db, built):
    worker = User.objects.filter(role=Role.GRID_WORKER, is_demo=True).order_by("username").first()
    client = APIClient()
    client.force_authenticate(worker)
    rows = client.get("/api/v1/grid/events/?limit=100").json()["results"]
    assert rows and {r["grid"] for r in rows} <= set(worker.scope_codes) | {
        r["grid"] for r in rows if r["department"] or r["assignee"]
    }
    resident = User.objects.filter(role=Role.RESIDENT, is_demo=True, reported_events__isnull=False).first()
    client.force_authenticate(resident)
    mine = client.get("/api/v1/grid/events/?limit=100").json()
    assert mine["count"] == Event.objects.filter(reporter=resident).count() > 0


def test_reset_deletes_events_departments_and_photo_files(db, built, settings):
    settings.MEDIA_ROOT = str(built[1])
    names = list(Evidence.objects.values_list("file", flat=True))
    assert names and all(default_storage.exists(name) for name in names)
    with transaction.atomic():
        grid_demo.delete_grid(demo.DISTRICT_CODE)
        assert not Event.objects.exists() and not Transition.objects.exists()
        assert not Department.objects.filter(code__startswith="DEMO-").exists()
        assert not Category.objects.filter(department__isnull=False).exists()
        assert not any(default_storage.exists(name) for name in names)
        assert not (built[1] / "grid").exists() or not any((built[1] / "grid").iterdir())
        transaction.set_rollback(True)
