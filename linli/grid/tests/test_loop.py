"""The closed loop: every step by every kind of person in every state, taken where allowed, else refused."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from linli.core import clock
from linli.grid import services
from linli.grid.models import Event, Evidence, Notification, Request, Source, State, Transition
from linli.grid.services import StepRefused, decide, take_step
from linli.grid.testing import category, centre_of, photo, resident_report

SUPERVISORS = {"community_worker", "street_officer", "district_admin"}
ON_SITE = {"grid_worker"} | SUPERVISORS
HANDLERS = {"handler", "department_member"}

# Written out by hand from the design (anchors_grid.md §1.2.4), not read from the code under test.
ALLOWED = {
    "verify": ({State.VERIFYING}, ON_SITE),
    "cancel": ({State.VERIFYING, State.REPORTED, State.REGISTERED}, ON_SITE),
    "relocate": ({State.VERIFYING, State.REPORTED, State.REGISTERED}, ON_SITE),
    "register": ({State.REPORTED}, SUPERVISORS),
    "dispatch": ({State.REGISTERED}, SUPERVISORS),
    "accept": ({State.DISPATCHED}, HANDLERS),
    "report_done": ({State.IN_PROGRESS}, HANDLERS),
    "inspect_ok": ({State.HANDLED}, ON_SITE),
    "inspect_fail": ({State.HANDLED}, ON_SITE),
    "self_handle": ({State.REPORTED}, {"grid_worker"}),
    "approve_self": ({State.SELF_HANDLED}, SUPERVISORS),
    "evaluate": ({State.CLOSED}, {"reporter"} | SUPERVISORS),
    "reopen": ({State.CLOSED, State.EVALUATED}, SUPERVISORS),
    "request_return": ({State.DISPATCHED, State.IN_PROGRESS}, HANDLERS),
    "request_extension": ({State.DISPATCHED, State.IN_PROGRESS}, HANDLERS),
    "request_suspension": ({State.IN_PROGRESS}, HANDLERS),
    "resume": ({State.SUSPENDED}, SUPERVISORS),
    "escalate": (set(State) - {State.SUSPENDED, State.CLOSED, State.EVALUATED, State.CANCELLED}, SUPERVISORS),
    "merge": (set(State) - {State.CLOSED, State.EVALUATED, State.CANCELLED}, SUPERVISORS),
}

EXPECTED_TARGET = {
    "verify": State.REPORTED,
    "cancel": State.CANCELLED,
    "register": State.REGISTERED,
    "dispatch": State.DISPATCHED,
    "accept": State.IN_PROGRESS,
    "report_done": State.HANDLED,
    "inspect_ok": State.CLOSED,
    "inspect_fail": State.IN_PROGRESS,
    "self_handle": State.SELF_HANDLED,
    "approve_self": State.CLOSED,
    "evaluate": State.EVALUATED,
    "reopen": State.DISPATCHED,
    "resume": State.IN_PROGRESS,
    "merge": State.CANCELLED,
}


def event_in(people, state: State) -> Event:
    """An event standing in ``state``, handled by ``people.handler`` within ``people.department``."""
    event = resident_report(people, title=f"事件 {state}")
    now = clock.now()
    fields = {"state": state, "updated_at": now}
    if state in (
        State.DISPATCHED,
        State.IN_PROGRESS,
        State.SUSPENDED,
        State.HANDLED,
        State.CLOSED,
        State.EVALUATED,
    ):
        fields |= {"assignee": people.handler, "department": people.department, "dispatched_at": now}
    if state == State.SUSPENDED:
        fields |= {"remaining_seconds": 3600, "due_at": None}
    if state == State.SELF_HANDLED:
        fields |= {"assignee": people.grid_worker}
    Event.objects.filter(pk=event.pk).update(**fields)
    event.refresh_from_db()
    return event


def arguments(action: str, people, event: Event) -> dict:
    extra: dict = {"note": "已到现场"}
    if action == "report_done":
        extra["photos"] = {Evidence.Kind.AFTER: [photo()]}
    if action == "self_handle":
        extra["photos"] = {Evidence.Kind.BEFORE: [photo()], Evidence.Kind.AFTER: [photo()]}
    if action == "evaluate":
        extra["rating"] = 5
    if action == "request_extension":
        extra["extra_hours"] = 4
    if action == "relocate":
        extra["grid"] = "370198001001002"  # the sibling grid in the same community
    if action == "merge":
        extra["into"] = resident_report(people, title="另一处")
    return extra


@pytest.mark.django_db
@pytest.mark.parametrize("action", sorted(ALLOWED))
def test_every_step_by_every_person_in_every_state(people, action):
    states, roles = ALLOWED[action]
    for state in State:
        event = event_in(people, state)
        for name, user in people.everyone().items():
            should = state in states and name in roles
            before = Transition.objects.filter(event=event).count()
            try:
                with transaction.atomic():
                    step = take_step(event, action, user, **arguments(action, people, event))
                    taken = True
                    event.refresh_from_db()
                    if action in EXPECTED_TARGET:
                        assert event.state == EXPECTED_TARGET[action], (action, state, name)
                    assert step.actor == user and step.action == action
                    transaction.set_rollback(True)
            except (PermissionDenied, ValidationError):
                taken = False
            assert taken == should, f"{action} in {state} by {name}: {'taken' if taken else 'refused'}"
            event.refresh_from_db()
            assert event.state == state and Transition.objects.filter(event=event).count() == before


@pytest.mark.django_db
def test_refusals_say_why(people):
    event = event_in(people, State.IN_PROGRESS)
    with pytest.raises(StepRefused) as refused:
        take_step(event, "report_done", people.handler, photos={Evidence.Kind.AFTER: [photo()]})
    assert "note" in refused.value.message_dict
    with pytest.raises(StepRefused) as refused:
        take_step(event, "report_done", people.handler, note="已清理")
    assert "photos" in refused.value.message_dict
    assert "After handling" in refused.value.message_dict["photos"][0]
    with pytest.raises(PermissionDenied, match="may not"):
        take_step(event, "report_done", people.grid_worker, note="x", photos={Evidence.Kind.AFTER: [photo()]})
    with pytest.raises(StepRefused, match="cannot be taken while"):
        take_step(event, "register", people.community_worker)
    reported = event_in(people, State.REPORTED)
    with pytest.raises(StepRefused) as refused:
        take_step(reported, "self_handle", people.grid_worker, note="扶正", photos={"after": [photo()]})
    assert "Before handling" in refused.value.message_dict["photos"][0]
    closed = event_in(people, State.CLOSED)
    with pytest.raises(StepRefused) as refused:
        take_step(closed, "evaluate", people.reporter, rating=9)
    assert "rating" in refused.value.message_dict
    assert (
        Transition.objects.filter(event__in=[event, reported, closed]).exclude(action="report").count() == 0
    )


@pytest.mark.django_db
def test_whoever_did_the_work_does_not_inspect_it(people):
    event = event_in(people, State.HANDLED)
    Event.objects.filter(pk=event.pk).update(assignee=people.grid_worker)
    with pytest.raises(PermissionDenied):
        take_step(event, "inspect_ok", people.grid_worker)
    take_step(event, "inspect_ok", people.community_worker, note="现场已清理")
    event.refresh_from_db()
    assert event.state == State.CLOSED


@pytest.mark.django_db
def test_a_resident_report_goes_all_the_way_round(people):
    lon, lat = centre_of(people.grid)
    intake = services.report(
        category=category(),
        title="小区门口垃圾成堆",
        source=Source.RESIDENT,
        lon=lon,
        lat=lat,
        reporter=people.reporter,
        reporter_phone="138 0013 8000",
        photos=[photo()],
    )
    event = intake.event
    assert intake.created and event.state == State.VERIFYING
    assert event.region_code == people.grid and event.assignee == people.grid_worker
    assert event.number.startswith(f"{clock.now():%Y}")
    assert event.reporter_phone == "13800138000"
    take_step(event, "verify", people.grid_worker, note="属实", lon=lon, lat=lat)
    take_step(event, "register", people.community_worker, urgency="urgent")
    take_step(event, "dispatch", people.community_worker, department=people.department)
    event.refresh_from_db()
    assert event.handle_due_at is not None and event.dispatched_at is not None
    assert Notification.objects.filter(user=people.department_member, event=event, kind="assigned").exists()
    take_step(event, "accept", people.department_member)
    take_step(event, "report_done", people.department_member, note="已清运", photos={"after": [photo()]})
    take_step(event, "inspect_fail", people.grid_worker, note="还有残留")
    event.refresh_from_db()
    assert event.state == State.IN_PROGRESS and event.rework_count == 1
    take_step(event, "report_done", people.department_member, note="清理干净", photos={"after": [photo()]})
    take_step(event, "inspect_ok", people.grid_worker, note="核查通过")
    take_step(event, "evaluate", people.reporter, rating=2, note="太慢了")
    event.refresh_from_db()
    assert event.state == State.EVALUATED and event.satisfaction == 2
    take_step(event, "reopen", people.community_worker, note="回访不满意，复发")
    event.refresh_from_db()
    assert event.state == State.DISPATCHED and event.closed_at is None
    history = list(event.history.values_list("action", "from_state", "to_state"))
    assert [h[0] for h in history] == [
        "report",
        "verify",
        "register",
        "dispatch",
        "accept",
        "report_done",
        "inspect_fail",
        "report_done",
        "inspect_ok",
        "evaluate",
        "reopen",
    ]
    assert history[1][1:] == (State.VERIFYING, State.REPORTED)
    assert (
        event.evidence.filter(kind="report").count() == 1 and event.evidence.filter(kind="after").count() == 2
    )


@pytest.mark.django_db
def test_self_handling_on_the_spot(people):
    lon, lat = centre_of(people.grid)
    event = services.report(
        category=category("09011"),
        title="单车倒地",
        source=Source.GRID_WORKER,
        lon=lon,
        lat=lat,
        reporter=people.grid_worker,
    ).event
    assert event.state == State.REPORTED
    take_step(
        event,
        "self_handle",
        people.grid_worker,
        note="已扶正",
        photos={"before": [photo()], "after": [photo()]},
    )
    take_step(event, "approve_self", people.community_worker)
    event.refresh_from_db()
    assert event.state == State.CLOSED and event.closed_on_time is True


@pytest.mark.django_db
def test_return_extension_and_suspension_need_approval(people):
    event = event_in(people, State.IN_PROGRESS)
    Event.objects.filter(pk=event.pk).update(handle_due_at=clock.now().replace(microsecond=0))
    event.refresh_from_db()
    take_step(event, "request_extension", people.handler, note="需采购配件", extra_hours=Decimal(8))
    with pytest.raises(StepRefused, match="already waiting"):
        take_step(event, "request_extension", people.handler, note="再延", extra_hours=2)
    pending = Request.objects.get(event=event, kind="extension")
    with pytest.raises(PermissionDenied):
        decide(pending, people.grid_worker, approve=True)
    with pytest.raises(StepRefused, match="denied"):
        decide(pending, people.community_worker, approve=False)
    due_before = event.handle_due_at
    decide(pending, people.community_worker, approve=True)
    event.refresh_from_db()
    assert event.handle_due_at > due_before and event.extension_count == 1

    take_step(event, "request_suspension", people.handler, note="待雨季过后施工")
    event.refresh_from_db()
    assert event.state == State.IN_PROGRESS, "a suspension waits for approval"
    decide(Request.objects.get(event=event, kind="suspension"), people.street_officer, approve=True)
    event.refresh_from_db()
    assert event.state == State.SUSPENDED and event.due_at is None and event.remaining_seconds is not None
    take_step(event, "resume", people.community_worker)
    event.refresh_from_db()
    assert event.state == State.IN_PROGRESS and event.due_at is not None

    take_step(event, "request_return", people.handler, note="不属本单位职责")
    decide(
        Request.objects.get(event=event, kind="return"), people.community_worker, approve=True, note="改派"
    )
    event.refresh_from_db()
    assert event.state == State.REGISTERED and event.assignee is None and event.department is None
    assert Notification.objects.filter(user=people.handler, kind="decided").count() == 3


@pytest.mark.django_db
def test_merge_into_the_original(people):
    first = resident_report(people)
    second = resident_report(people, title="同一堆垃圾")
    take_step(second, "merge", people.community_worker, into=first)
    second.refresh_from_db()
    assert second.state == State.CANCELLED and second.duplicate_of == first


@pytest.mark.django_db
def test_relocating_to_the_right_grid_hands_it_to_that_grids_worker(people):
    event = resident_report(people, lon=None, lat=None, region_code=people.grid)
    sibling_worker = people.other_grid_worker
    take_step(event, "relocate", people.grid_worker, note="实际在二网格", grid="370198001001002")
    event.refresh_from_db()
    assert event.region_code == "370198001001002" and event.assignee == sibling_worker
    step = event.history.get(action="relocate")
    assert people.grid in step.note and step.from_state == step.to_state == State.VERIFYING
    with pytest.raises(StepRefused, match="outside your region"):
        take_step(event, "relocate", people.other_grid_worker, note="移到西街道", grid="370198002001001")
    with pytest.raises(StepRefused, match="no grid"):
        take_step(event, "relocate", people.community_worker, note="x", grid="370198001001999")


@pytest.mark.django_db
def test_dispatch_only_to_departments_and_people_within_reach(people):
    from linli.core.models import Role
    from linli.core.testing import make_user
    from linli.grid.models import Department

    west = Department.objects.create(code="WEST", name="西街道城管中队", region_id="370198002")
    stranger = make_user(Role.SERVICE_PROVIDER, "370198002001", username="west-provider")
    event = event_in(people, State.REGISTERED)
    with pytest.raises(StepRefused) as refused:
        take_step(event, "dispatch", people.community_worker, department=west)
    assert "department" in refused.value.message_dict
    with pytest.raises(StepRefused) as refused:
        take_step(event, "dispatch", people.community_worker, assignee=stranger)
    assert "assignee" in refused.value.message_dict
    # The district's department serves every community below it.
    take_step(event, "dispatch", people.community_worker, department=people.department)
    event.refresh_from_db()
    assert event.department == people.department


@pytest.mark.django_db
def test_a_department_member_sees_the_cases_handed_to_the_department(people):
    from linli.core.models import Role
    from linli.core.testing import make_user
    from linli.grid.services import get_visible_event, visible_events

    west_member = make_user(Role.PROPERTY_MANAGER, "370198002001", username="west-member")
    people.department.members.add(west_member)
    event = event_in(people, State.DISPATCHED)
    elsewhere = resident_report(people, title="别处")
    assert list(visible_events(west_member)) == [event]
    assert get_visible_event(west_member, pk=event.pk) == event
    from django.http import Http404

    with pytest.raises(Http404):
        get_visible_event(west_member, pk=elsewhere.pk)
    take_step(event, "accept", west_member)
    assert elsewhere in visible_events(people.community_worker)


@pytest.mark.django_db
def test_staff_file_events_only_inside_their_region(people):
    lon, lat = centre_of("370198002001001")
    with pytest.raises(ValidationError) as refused:
        services.report(
            category=category(),
            title="越界",
            source=Source.GRID_WORKER,
            lon=lon,
            lat=lat,
            reporter=people.grid_worker,
            within=people.grid_worker.scope_codes,
        )
    assert "outside your region" in refused.value.message_dict["location"][0]


@pytest.mark.django_db
def test_every_step_is_announced_after_the_event_is_saved(people):
    from linli.grid.signals import step_recorded

    seen = []

    def receiver(sender, event, transition, **kwargs):
        stored = Event.objects.get(pk=event.pk)
        seen.append((transition.action, stored.state, transition.to_state))

    step_recorded.connect(receiver)
    try:
        event = resident_report(people)
        take_step(event, "verify", people.grid_worker)
    finally:
        step_recorded.disconnect(receiver)
    assert seen == [("report", State.VERIFYING, State.VERIFYING), ("verify", State.REPORTED, State.REPORTED)]
