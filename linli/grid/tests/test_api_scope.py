"""Scope isolation of the grid API: events, their photos and approval requests, for every role and level."""

from linli.core.models import STAFF_ROLES, Role
from linli.core.testing import ScopedSurface, make_user, scope_test_class
from linli.grid import services
from linli.grid.models import Event, Evidence, Request, Source, State
from linli.grid.testing import category, photo


def make_event(code: str, reporter=None) -> Event:
    """An event filed straight into grid ``code`` (no point needed), by staff or by a resident."""
    source = Source.RESIDENT if reporter is not None else Source.STAFF
    return services.report(
        category=category(), title="路灯不亮", source=source, region_code=code, reporter=reporter
    ).event


def make_owned_event(resident) -> Event:
    return make_event("370198001001001", reporter=resident)


def make_photo(code: str, reporter=None) -> Evidence:
    event = make_event(code, reporter)
    return Evidence.objects.create(event=event, kind=Evidence.Kind.REPORT, file=photo())


def make_request(code: str) -> Request:
    """A suspension waiting for a decision on a case being handled in grid ``code``."""
    event = make_event(code)
    name = f"handler-{Request.objects.count()}-{code}"
    handler = make_user(Role.SERVICE_PROVIDER, code[:12], username=name)
    Event.objects.filter(pk=event.pk).update(state=State.IN_PROGRESS, assignee=handler)
    event.refresh_from_db()
    services.take_step(event, "request_suspension", handler, note="等待管线改造")
    return Request.objects.get(event=event)


SURFACES = [
    ScopedSurface(
        "event",
        make=make_event,
        marker=lambda e: f'"number":"{e.number}"',
        api_detail=lambda e: f"/api/v1/grid/events/{e.pk}/",
        api_list="/api/v1/grid/events/?limit=1000",
        api_search=lambda e: f"/api/v1/grid/events/?q={e.number}",
        roles=tuple(STAFF_ROLES),
        make_owned=make_owned_event,
    ),
    ScopedSurface(
        "event-photo",
        make=make_photo,
        marker=lambda p: "",
        api_detail=lambda p: f"/api/v1/grid/events/{p.event_id}/photos/{p.pk}/",
        roles=tuple(STAFF_ROLES),
        make_owned=lambda resident: make_photo("370198001001001", reporter=resident),
    ),
    ScopedSurface(
        "approval-request",
        make=make_request,
        marker=lambda r: f'"id":{r.pk},"event"',
        api_detail=lambda r: f"/api/v1/grid/requests/{r.pk}/",
        api_list="/api/v1/grid/requests/?limit=1000",
        roles=tuple(STAFF_ROLES),
        api_denied=403,
    ),
]

TestGridApiScope = scope_test_class(SURFACES)
