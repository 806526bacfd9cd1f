"""Due times on the working calendar (08:30–12:00, 13:30–17:30; 2025 holidays and make-up days as published),
yellow and red lights, pause and resume, and escalation of overdue cases up the ladder."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from linli.grid import services
from linli.grid.models import Event, Notification, Request, Source, State, TimeLimit
from linli.grid.services import decide, take_step
from linli.grid.testing import category, centre_of

SH = ZoneInfo("Asia/Shanghai")


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


def dispatched(people, at, when: datetime, code: str = "06010") -> Event:
    """A grid worker's report, registered and dispatched to the handler at ``when``."""
    at.set(when)
    lon, lat = centre_of(people.grid)
    event = services.report(
        category=category(code),
        title="clock",
        source=Source.GRID_WORKER,
        lon=lon,
        lat=lat,
        reporter=people.grid_worker,
    ).event
    take_step(event, "register", people.community_worker)
    take_step(event, "dispatch", people.community_worker, assignee=people.handler)
    event.refresh_from_db()
    return event


@pytest.mark.django_db
@pytest.mark.parametrize(
    "start, due, why",
    [
        (local(2025, 9, 19, 15, 0), local(2025, 9, 22, 15, 0), "Friday + 1 working day skips the weekend"),
        (
            local(2025, 9, 26, 15, 0),
            local(2025, 9, 28, 15, 0),
            "Sunday 28 September 2025 was a make-up working day",
        ),
        (
            local(2025, 9, 30, 15, 0),
            local(2025, 10, 9, 15, 0),
            "1–8 October 2025: National Day and Mid-Autumn",
        ),
        (
            local(2025, 9, 20, 10, 0),
            local(2025, 9, 22, 17, 30),
            "from a Saturday, counting starts Monday 08:30 and takes all of Monday",
        ),
    ],
)
def test_one_working_day_to_handle(people, at, start, due, why):
    event = dispatched(people, at, start)  # 暴露垃圾: 1 working day to handle
    assert event.handle_due_at == due, why


@pytest.mark.django_db
def test_working_hours_skip_lunch_and_night(people, at):
    event = dispatched(people, at, local(2025, 9, 19, 11, 0), code="09009")  # 机动车乱停放: 2 working hours
    assert event.handle_due_at == local(2025, 9, 19, 14, 30)
    late = dispatched(people, at, local(2025, 9, 19, 17, 0), code="09009")
    assert late.handle_due_at == local(2025, 9, 22, 10, 0)


@pytest.mark.django_db
def test_urgency_picks_its_own_limit(people, at):
    at.set(local(2025, 9, 19, 15, 0))
    lon, lat = centre_of(people.grid)
    event = services.report(
        category=category("06010"),
        title="紧急",
        source=Source.GRID_WORKER,
        lon=lon,
        lat=lat,
        reporter=people.grid_worker,
    ).event
    take_step(event, "register", people.community_worker, urgency="urgent")
    take_step(event, "dispatch", people.community_worker, assignee=people.handler)
    event.refresh_from_db()
    assert event.handle_due_at == local(2025, 9, 22, 10, 0)  # 4 working hours: 2.5 on Friday, 1.5 on Monday


@pytest.mark.django_db
def test_a_suspension_pauses_the_clock_and_resume_continues_it(people, at):
    event = dispatched(people, at, local(2025, 9, 15, 9, 0))
    assert event.handle_due_at == local(2025, 9, 16, 9, 0)
    take_step(event, "accept", people.handler)
    at.set(local(2025, 9, 15, 13, 30))  # 3 working hours used, 4.5 left
    take_step(event, "request_suspension", people.handler, note="等待材料")
    decide(Request.objects.get(event=event), people.community_worker, approve=True)
    event.refresh_from_db()
    assert event.state == State.SUSPENDED and event.remaining_seconds == 4.5 * 3600
    assert event.light() == ""
    at.set(local(2025, 9, 18, 16, 0))
    take_step(event, "resume", people.community_worker)
    event.refresh_from_db()
    # 16:00–17:30 uses 1.5 hours; the other 3 run Friday from 08:30.
    assert event.due_at == event.handle_due_at == local(2025, 9, 19, 11, 30)


@pytest.mark.django_db
def test_an_approved_extension_adds_working_hours(people, at):
    event = dispatched(people, at, local(2025, 9, 15, 9, 0))
    take_step(event, "accept", people.handler)
    take_step(event, "request_extension", people.handler, note="需要配件", extra_hours=8)
    decide(Request.objects.get(event=event), people.street_officer, approve=True)
    event.refresh_from_db()
    assert event.due_at == local(2025, 9, 17, 9, 30)  # Tuesday 09:00 + 8 working hours


@pytest.mark.django_db
def test_lights_notices_and_escalation(people, at):
    TimeLimit.objects.filter(category=category(), stage="handle").update(amount=1)
    event = dispatched(people, at, local(2025, 9, 15, 9, 0))
    take_step(event, "accept", people.handler)
    event.refresh_from_db()
    assert event.warn_at == local(2025, 9, 15, 16, 30)  # 80 % of 7.5 working hours
    assert event.light(local(2025, 9, 15, 16, 0)) == "green"
    assert event.light(local(2025, 9, 15, 16, 30)) == "yellow"
    assert event.light(local(2025, 9, 16, 9, 1)) == "red"

    def notices(kind):
        return set(
            Notification.objects.filter(event=event, kind=kind).values_list("user__username", flat=True)
        )

    at.set(local(2025, 9, 15, 16, 31))
    assert services.tick().warned == 1 and notices("warning") == {"handler"}
    assert services.tick().warned == 0, "a warning is sent once"
    at.set(local(2025, 9, 16, 9, 1))
    assert services.tick().overdue == 1
    assert notices("overdue") == {"handler", "community"}
    assert services.tick().escalated == 0, "escalation waits 4 working hours past due"
    at.set(local(2025, 9, 16, 14, 30))  # 09:00–12:00 and 13:30–14:30
    assert services.tick().escalated == 1
    event.refresh_from_db()
    assert event.escalation_level == "community" and notices("escalated") == {"community"}
    at.set(local(2025, 9, 17, 9, 30))  # another 4 working hours
    assert services.tick().escalated == 1
    event.refresh_from_db()
    assert event.escalation_level == "street" and notices("escalated") == {"community", "street"}
    assert list(event.history.filter(action="escalate").values_list("actor", flat=True)) == [None, None]


@pytest.mark.django_db
def test_closing_on_time_or_late_is_recorded(people, at):
    on_time = dispatched(people, at, local(2025, 9, 15, 9, 0))
    late = dispatched(people, at, local(2025, 9, 15, 9, 0))
    from linli.grid.testing import photo

    for event, done_at in ((on_time, local(2025, 9, 15, 17, 0)), (late, local(2025, 9, 16, 10, 0))):
        take_step(event, "accept", people.handler)
        at.set(done_at)
        take_step(event, "report_done", people.handler, note="完成", photos={"after": [photo()]})
        take_step(event, "inspect_ok", people.grid_worker)
        event.refresh_from_db()
    on_time.refresh_from_db()
    late.refresh_from_db()
    assert on_time.closed_on_time is True and late.closed_on_time is False
    close = late.history.get(action="inspect_ok")
    assert close.on_time is False and close.duration_seconds == 25 * 3600
