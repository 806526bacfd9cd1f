"""Grid events: intake from every source, the closed loop as a state machine, clocks, escalation, notices.

Pages, the API, Open311, the hotline and city-centre intake and IoT alarms all call these functions, so the
rules of who may take which step, what a step needs, and how the clock runs are written once, here.

The loop (anchors_grid.md §1.2.4)::

    VERIFYING ─verify→ REPORTED ─register→ REGISTERED ─dispatch→ DISPATCHED ─accept→ IN_PROGRESS
    IN_PROGRESS ─report_done→ HANDLED ─inspect_ok→ CLOSED ─evaluate→ EVALUATED
    HANDLED ─inspect_fail→ IN_PROGRESS (rework)          CLOSED|EVALUATED ─reopen→ DISPATCHED
    REPORTED ─self_handle→ SELF_HANDLED ─approve_self→ CLOSED
    VERIFYING|REPORTED|REGISTERED ─cancel→ CANCELLED     any open ─merge→ CANCELLED (duplicate)
    approvals: return (DISPATCHED|IN_PROGRESS → REGISTERED), extension (new due),
    suspension (→ SUSPENDED, clock paused) ─resume→ IN_PROGRESS
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from linli.core import clock, workcalendar
from linli.core.identifiers import parse_mobile
from linli.core.models import Region, Role, User
from linli.core.regions import Level
from linli.core.scope import code_within

from .locate import locate_grid
from .models import (
    LEVEL_CODE_LENGTH,
    OPEN_STATES,
    Category,
    Department,
    Event,
    Evidence,
    Notification,
    Request,
    Source,
    Stage,
    State,
    Transition,
    Urgency,
)
from .signals import step_recorded

SUPERVISORS = {Role.COMMUNITY_WORKER, Role.STREET_OFFICER, Role.DISTRICT_ADMIN}
WARN_FRACTION = getattr(settings, "LINLI_GRID_WARN_FRACTION", 0.8)

# When a category says nothing for a stage: short intake steps, three working days to handle, one to inspect.
DEFAULT_LIMITS = {
    (Stage.VERIFY, Urgency.NORMAL): (Decimal(2), workcalendar.TimeUnit.WORKING_HOUR),
    (Stage.REGISTER, Urgency.NORMAL): (Decimal(1), workcalendar.TimeUnit.WORKING_HOUR),
    (Stage.DISPATCH, Urgency.NORMAL): (Decimal(1), workcalendar.TimeUnit.WORKING_HOUR),
    (Stage.ACCEPT, Urgency.NORMAL): (Decimal(1), workcalendar.TimeUnit.WORKING_HOUR),
    (Stage.HANDLE, Urgency.NORMAL): (Decimal(3), workcalendar.TimeUnit.WORKING_DAY),
    (Stage.HANDLE, Urgency.URGENT): (Decimal(4), workcalendar.TimeUnit.WORKING_HOUR),
    (Stage.HANDLE, Urgency.MAJOR): (Decimal(2), workcalendar.TimeUnit.NATURAL_HOUR),
    (Stage.INSPECT, Urgency.NORMAL): (Decimal(1), workcalendar.TimeUnit.WORKING_DAY),
}

# The clock a state starts. Entering IN_PROGRESS continues the handling clock set at dispatch.
STATE_STAGE = {
    State.VERIFYING: Stage.VERIFY,
    State.REPORTED: Stage.REGISTER,
    State.REGISTERED: Stage.DISPATCH,
    State.DISPATCHED: Stage.ACCEPT,
    State.IN_PROGRESS: Stage.HANDLE,
    State.HANDLED: Stage.INSPECT,
    State.SELF_HANDLED: Stage.INSPECT,
}

# Sources whose reports a grid worker must first check on the spot (核实).
NEEDS_VERIFICATION = {Source.RESIDENT, Source.IOT, Source.HOTLINE, Source.CITY_CENTRE, Source.OPEN311}


class StepRefused(ValidationError):
    """A step that may not be taken now, by this user, or without what it needs; the message says which."""


# --- What a user sees ---------------------------------------------------------------------------------------


def visible_events(user: User, region_code: str | None = None):
    """Events in the user's scope, and those handed to them or to their department wherever they are: a
    district department's member may work in one community yet handle cases of the whole district."""
    scoped = Event.objects.visible_to(user, region_code)
    if user is None or not user.is_authenticated or not user.is_active or user.is_resident or region_code:
        return scoped
    departments = list(user.departments.values_list("pk", flat=True))
    handed = Q(assignee=user) | Q(department_id__in=departments) if departments else Q(assignee=user)
    return scoped | Event.objects.filter(handed)


def get_visible_event(user: User, **lookup) -> Event:
    """One event the user may see, or 404 (another region's event is answered as if it did not exist)."""
    from django.http import Http404

    try:
        return visible_events(user).get(**lookup)
    except (Event.DoesNotExist, ValueError, ValidationError) as exc:
        raise Http404 from exc


def dispatchable_departments(user: User):
    """Departments a supervisor may dispatch to: those in their scope and those above it (a district's
    环卫所 serves every community of the district)."""
    ancestors = {code[:n] for code in user.scope_codes for n in range(6, len(code), 3)}
    return Department.objects.filter(
        Q(pk__in=Department.objects.visible_to(user).values("pk")) | Q(region_code__in=ancestors)
    )


# --- Who may take a step ------------------------------------------------------------------------------------


def is_supervisor(user: User, event: Event) -> bool:
    return user.role in SUPERVISORS and code_within(event.region_code, user.scope_codes)


def is_grid_worker_of(user: User, event: Event) -> bool:
    return user.role == Role.GRID_WORKER and code_within(event.region_code, user.scope_codes)


def is_handler(user: User, event: Event) -> bool:
    """The person the case is dispatched to, or a member of the department it was dispatched to."""
    if event.assignee_id == user.pk:
        return True
    return event.department_id is not None and user.departments.filter(pk=event.department_id).exists()


def is_reporter(user: User, event: Event) -> bool:
    return user.is_resident and event.reporter_id == user.pk


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    sources: frozenset[State]
    target: State | None  # None: the state does not change (extension, escalation, requests)
    may: Callable[[User, Event], bool]
    note_required: bool = False
    photos_required: tuple[str, ...] = ()
    style: str = "primary"


def _supervisor(user, event):
    return is_supervisor(user, event)


def _grid_worker_or_supervisor(user, event):
    return is_grid_worker_of(user, event) or is_supervisor(user, event)


def _handler(user, event):
    return not user.is_resident and is_handler(user, event)


def _inspector(user, event):
    # Whoever did the work does not inspect it.
    return _grid_worker_or_supervisor(user, event) and event.assignee_id != user.pk


def _evaluator(user, event):
    return is_reporter(user, event) or is_supervisor(user, event)


OPEN = frozenset(OPEN_STATES)

ACTIONS: dict[str, Action] = {
    a.name: a
    for a in [
        Action(
            "verify",
            gettext_noop("Confirm on site"),
            frozenset({State.VERIFYING}),
            State.REPORTED,
            _grid_worker_or_supervisor,
        ),
        Action(
            "cancel",
            gettext_noop("Cancel (not filed)"),
            frozenset({State.VERIFYING, State.REPORTED, State.REGISTERED}),
            State.CANCELLED,
            _grid_worker_or_supervisor,
            note_required=True,
            style="outline-danger",
        ),
        Action(
            "relocate",
            gettext_noop("Move to another grid"),
            frozenset({State.VERIFYING, State.REPORTED, State.REGISTERED}),
            None,
            _grid_worker_or_supervisor,
            note_required=True,
            style="outline-secondary",
        ),
        Action(
            "register",
            gettext_noop("Register (立案)"),
            frozenset({State.REPORTED}),
            State.REGISTERED,
            _supervisor,
        ),
        Action(
            "dispatch", gettext_noop("Dispatch"), frozenset({State.REGISTERED}), State.DISPATCHED, _supervisor
        ),
        Action("accept", gettext_noop("Accept"), frozenset({State.DISPATCHED}), State.IN_PROGRESS, _handler),
        Action(
            "report_done",
            gettext_noop("Report done"),
            frozenset({State.IN_PROGRESS}),
            State.HANDLED,
            _handler,
            note_required=True,
            photos_required=(Evidence.Kind.AFTER,),
        ),
        Action(
            "inspect_ok",
            gettext_noop("Inspection passed"),
            frozenset({State.HANDLED}),
            State.CLOSED,
            _inspector,
        ),
        Action(
            "inspect_fail",
            gettext_noop("Inspection failed (rework)"),
            frozenset({State.HANDLED}),
            State.IN_PROGRESS,
            _inspector,
            note_required=True,
            style="outline-danger",
        ),
        Action(
            "self_handle",
            gettext_noop("Handled on the spot"),
            frozenset({State.REPORTED}),
            State.SELF_HANDLED,
            is_grid_worker_of,
            note_required=True,
            photos_required=(Evidence.Kind.BEFORE, Evidence.Kind.AFTER),
        ),
        Action(
            "approve_self",
            gettext_noop("Approve on-the-spot handling"),
            frozenset({State.SELF_HANDLED}),
            State.CLOSED,
            _supervisor,
        ),
        Action("evaluate", gettext_noop("Evaluate"), frozenset({State.CLOSED}), State.EVALUATED, _evaluator),
        Action(
            "reopen",
            gettext_noop("Reopen"),
            frozenset({State.CLOSED, State.EVALUATED}),
            State.DISPATCHED,
            _supervisor,
            note_required=True,
            style="outline-danger",
        ),
        Action(
            "request_return",
            gettext_noop("Ask to return (回退)"),
            frozenset({State.DISPATCHED, State.IN_PROGRESS}),
            None,
            _handler,
            note_required=True,
            style="outline-secondary",
        ),
        Action(
            "request_extension",
            gettext_noop("Ask for more time (延期)"),
            frozenset({State.DISPATCHED, State.IN_PROGRESS}),
            None,
            _handler,
            note_required=True,
            style="outline-secondary",
        ),
        Action(
            "request_suspension",
            gettext_noop("Ask to suspend (挂账)"),
            frozenset({State.IN_PROGRESS}),
            None,
            _handler,
            note_required=True,
            style="outline-secondary",
        ),
        Action(
            "resume", gettext_noop("Resume"), frozenset({State.SUSPENDED}), State.IN_PROGRESS, _supervisor
        ),
        Action(
            "escalate",
            gettext_noop("Escalate"),
            OPEN - {State.SUSPENDED},
            None,
            _supervisor,
            style="outline-warning",
        ),
        Action(
            "merge",
            gettext_noop("Merge into another event"),
            OPEN,
            State.CANCELLED,
            _supervisor,
            note_required=False,
            style="outline-secondary",
        ),
    ]
}

REQUEST_KINDS = {
    "request_return": Request.Kind.RETURN,
    "request_extension": Request.Kind.EXTENSION,
    "request_suspension": Request.Kind.SUSPENSION,
}


def action_label(name: str) -> str:
    return _(ACTIONS[name].label)


def allowed_actions(event: Event, user: User) -> list[Action]:
    """The steps this user may take on this event now (the buttons a page shows)."""
    if user is None or not user.is_authenticated:
        return []
    return [a for a in ACTIONS.values() if event.state in a.sources and a.may(user, event)]


def pending_requests(event: Event) -> list[Request]:
    return list(event.requests.filter(decision=Request.Decision.PENDING).select_related("requested_by"))


# --- Clocks -------------------------------------------------------------------------------------------------


def time_limit(category: Category, stage: str, urgency: str) -> tuple[Decimal, str]:
    """The limit for a stage: the category's own for this urgency, else its normal one, else its major
    class's, else the platform default."""
    for cat in (category, category.parent):
        if cat is None:
            continue
        rows = {(t.stage, t.urgency): t for t in cat.time_limits.all()}
        for key in ((stage, urgency), (stage, Urgency.NORMAL)):
            if key in rows:
                return rows[key].amount, rows[key].unit
    for key in ((stage, urgency), (stage, Urgency.NORMAL)):
        if key in DEFAULT_LIMITS:
            return DEFAULT_LIMITS[key]
    return Decimal(1), workcalendar.TimeUnit.WORKING_DAY


def _start_clock(event: Event, stage: str | None, now: datetime, *, due: datetime | None = None) -> None:
    event.stage = stage or ""
    event.warned = False
    event.overdue_notified = False
    if not stage:
        event.stage_started_at = event.due_at = event.warn_at = None
        return
    amount, unit = time_limit(event.category, stage, event.urgency)
    event.stage_started_at = now
    event.due_at = due or workcalendar.add_time(now, amount, unit)
    event.warn_at = workcalendar.add_time(now, amount * Decimal(str(WARN_FRACTION)), unit)
    if event.warn_at > event.due_at:
        event.warn_at = event.due_at


def _enter(event: Event, state: str, now: datetime) -> None:
    event.state = state
    if state == State.IN_PROGRESS:
        # The handling clock runs from dispatch (派遣即计时); accepting does not restart it.
        _start_clock(event, Stage.HANDLE, now, due=event.handle_due_at)
    else:
        _start_clock(event, STATE_STAGE.get(state), now)


# --- Intake -------------------------------------------------------------------------------------------------


@dataclass
class Intake:
    event: Event
    created: bool
    duplicates: list[Event] = field(default_factory=list)


def _text(value) -> str:
    return str(value or "").replace("\x00", "")


def _check_point(lon, lat) -> tuple[float | None, float | None]:
    if lon in (None, "") and lat in (None, ""):
        return None, None
    errors = {}
    values = {}
    for name, value, low, high in (("lon", lon, 73.0, 136.0), ("lat", lat, 3.0, 54.0)):
        try:
            number = float(value)
        except (TypeError, ValueError):
            errors[name] = _("%(field)s must be a number, not %(value)r.") % {"field": name, "value": value}
            continue
        if not math.isfinite(number) or not low <= number <= high:
            errors[name] = _("%(field)s %(value)s lies outside China (%(low)s–%(high)s, WGS-84).") % {
                "field": name,
                "value": value,
                "low": low,
                "high": high,
            }
        values[name] = number
    if errors:
        raise ValidationError(errors)
    return values["lon"], values["lat"]


def find_duplicates(category: Category, lon, lat, at: datetime, *, exclude: int | None = None) -> list[Event]:
    """Open events of the same category within the category's radius and time window: merge candidates."""
    if lon is None or lat is None:
        return []
    radius = category.duplicate_radius_m
    dlat = radius / 111_320
    dlon = radius / (111_320 * max(math.cos(math.radians(lat)), 0.01))
    since = at - timedelta(hours=category.duplicate_window_hours)
    rows = Event.objects.filter(
        category=category,
        state__in=OPEN_STATES,
        created_at__gte=since,
        lon__range=(lon - dlon, lon + dlon),
        lat__range=(lat - dlat, lat + dlat),
    )
    if exclude is not None:
        rows = rows.exclude(pk=exclude)
    found = []
    for candidate in rows.order_by("created_at")[:20]:
        if _metres(lon, lat, candidate.lon, candidate.lat) <= radius:
            found.append(candidate)
    return found


def _metres(lon1, lat1, lon2, lat2) -> float:
    """Great-circle distance; plenty for tens of metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(a))


def grid_worker_for(grid_code: str) -> User | None:
    """The grid's own worker; with several, the one with fewest open cases."""
    workers = (
        User.objects.filter(role=Role.GRID_WORKER, is_active=True, scopes__region_id=grid_code)
        .annotate(open_cases=Count("assigned_events", filter=Q(assigned_events__state__in=OPEN_STATES)))
        .order_by("open_cases", "pk")
    )
    return workers.first()


def supervisors_of(region_code: str, level: str) -> list[User]:
    """Who answers for a region at one rung of the ladder (community workers, street officers, ...)."""
    role = {
        Level.GRID: Role.GRID_WORKER,
        Level.COMMUNITY: Role.COMMUNITY_WORKER,
        Level.STREET: Role.STREET_OFFICER,
        Level.DISTRICT: Role.DISTRICT_ADMIN,
    }[level]
    code = region_code[: LEVEL_CODE_LENGTH[level]]
    return list(User.objects.filter(role=role, is_active=True, scopes__region_id=code).distinct())


def report(
    *,
    category: Category,
    title: str,
    source: str,
    description: str = "",
    lon=None,
    lat=None,
    address: str = "",
    region_code: str | None = None,
    reporter: User | None = None,
    reporter_name: str = "",
    reporter_phone: str = "",
    anonymous: bool = False,
    urgency: str = Urgency.NORMAL,
    photos: Iterable[UploadedFile] = (),
    upstream_system: str = "",
    upstream_id: str = "",
    within: list[str] | None = None,
) -> Intake:
    """Take in a case from any source. The same upstream case twice is one event (``created`` says which)."""
    # PostgreSQL cannot store NUL in text; it has no meaning in a report, so it is dropped, not refused.
    title, description, address = (_text(v) for v in (title, description, address))
    reporter_name, reporter_phone = _text(reporter_name), _text(reporter_phone)
    upstream_id = _text(upstream_id).strip()
    if upstream_id:
        existing = Event.objects.filter(upstream_system=upstream_system, upstream_id=upstream_id).first()
        if existing is not None:
            return Intake(existing, created=False)
    errors: dict[str, str] = {}
    title = (title or "").strip()
    if not title:
        errors["title"] = _("Say in a few words what is wrong.")
    if len(title) > 100:
        errors["title"] = _("The title may have at most 100 characters.")
    if len(description or "") > 4000:
        errors["description"] = _("The description may have at most 4000 characters.")
    if source not in Source.values:
        errors["source"] = _("Unknown source %(value)r.") % {"value": source}
    if urgency not in Urgency.values:
        errors["urgency"] = _("Unknown urgency %(value)r.") % {"value": urgency}
    if not category.active or category.parent_id is None:
        errors["category"] = _("Choose an active minor category, not a major class.")
    if reporter_phone:
        try:
            reporter_phone = parse_mobile(reporter_phone).number
        except ValidationError as exc:
            errors["reporter_phone"] = exc.messages[0]
    try:
        lon, lat = _check_point(lon, lat)
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
        lon = lat = None
    grid_code = None
    if lon is not None and "lon" not in errors:
        grid_code = locate_grid(lon, lat)
    if grid_code is None and region_code:
        grid_code = region_code if len(region_code) == 15 else None
        if grid_code is None:
            errors["region"] = _("Give the grid (a 15-digit code) or a point inside one.")
    if grid_code is None and "lon" not in errors and "region" not in errors:
        errors["location" if lon is None else "lon"] = (
            _("Give the place: a point on the map or the grid.")
            if lon is None
            else _("The point (%(lon)s, %(lat)s) lies outside every grid of this district.")
            % {"lon": lon, "lat": lat}
        )
    if grid_code is not None and within is not None and not code_within(grid_code, within):
        errors["location"] = _("Grid %(code)s is outside your region.") % {"code": grid_code}
    if errors:
        raise ValidationError(errors)
    grid = Region.objects.filter(code=grid_code, level=Level.GRID).first()
    if grid is None:
        raise ValidationError({"region": _("There is no grid %(code)s.") % {"code": grid_code}})

    now = clock.now()
    first_state = State.VERIFYING if source in NEEDS_VERIFICATION else State.REPORTED
    try:
        with transaction.atomic():
            event = Event(
                number="tmp-" + secrets.token_hex(8),  # replaced by the real number below
                title=title,
                description=description or "",
                category=category,
                urgency=urgency,
                state=first_state,
                source=source,
                upstream_system=upstream_system if upstream_id else "",
                upstream_id=upstream_id,
                region=grid,
                lon=lon,
                lat=lat,
                address=address or "",
                reporter=reporter,
                reporter_name=reporter_name or "",
                reporter_phone=reporter_phone or "",
                anonymous=anonymous,
                created_at=now,
                updated_at=now,
            )
            if source == Source.GRID_WORKER and reporter is not None and reporter.role == Role.GRID_WORKER:
                event.assignee = reporter
            else:
                event.assignee = grid_worker_for(grid.code)
            _enter(event, first_state, now)
            event.save()
            event.number = f"{timezone.localtime(now):%Y%m%d}{event.pk:08d}"
            Event.objects.filter(pk=event.pk).update(number=event.number)
            step = _record(
                event, "report", "", first_state, reporter, now, note=description[:2000], lon=lon, lat=lat
            )
            for photo in photos:
                Evidence.objects.create(event=event, transition=step, kind=Evidence.Kind.REPORT, file=photo)
            step_recorded.send(Event, event=event, transition=step)
    except IntegrityError:
        # Two deliveries of one upstream case at once: the other one won; answer with its event.
        if upstream_id:
            existing = Event.objects.filter(upstream_system=upstream_system, upstream_id=upstream_id).first()
            if existing is not None:
                return Intake(existing, created=False)
        raise
    duplicates = find_duplicates(category, lon, lat, now, exclude=event.pk)
    if event.assignee_id:
        notify([event.assignee], event, Notification.Kind.ASSIGNED)
        if duplicates:
            notify([event.assignee], event, Notification.Kind.DUPLICATE)
    return Intake(event, created=True, duplicates=duplicates)


# --- Steps --------------------------------------------------------------------------------------------------


def _record(
    event, action, from_state, to_state, actor, now, *, note="", lon=None, lat=None, **facts
) -> Transition:
    return Transition.objects.create(
        event=event,
        action=action,
        from_state=from_state,
        to_state=to_state,
        actor=actor if actor is not None and actor.pk else None,
        actor_name=(actor.get_full_name() or actor.username) if actor is not None and actor.pk else "",
        at=now,
        note=note or "",
        lon=lon,
        lat=lat,
        region_code=event.region_code,
        category_id_at=event.category_id,
        department_id_at=event.department_id,
        assignee_id_at=event.assignee_id,
        **facts,
    )


def _locked(pk: int) -> Event:
    """The event row, locked until the transaction ends (only the event: its category may have no parent)."""
    return (
        Event.objects.select_for_update(of=("self",))
        .select_related("category__parent")
        .prefetch_related("category__time_limits", "category__parent__time_limits")
        .get(pk=pk)
    )


def take_step(
    event: Event,
    action: str,
    user: User,
    *,
    note: str = "",
    photos: dict[str, list[UploadedFile]] | None = None,
    lon=None,
    lat=None,
    assignee: User | None = None,
    department: Department | None = None,
    rating: int | None = None,
    extra_hours=None,
    into: Event | None = None,
    urgency: str | None = None,
    category: Category | None = None,
    grid: str | None = None,
) -> Transition:
    """Take one step of the loop, or refuse with a message saying why. The event row is locked meanwhile."""
    spec = ACTIONS.get(action)
    if spec is None:
        raise StepRefused(_("Unknown step %(action)r.") % {"action": action})
    photos = photos or {}
    note = _text(note).strip()
    with transaction.atomic():
        event = _locked(event.pk)
        if event.state not in spec.sources:
            raise StepRefused(
                _("“%(step)s” cannot be taken while the event is “%(state)s”.")
                % {"step": _(spec.label), "state": event.get_state_display()}
            )
        if not spec.may(user, event):
            raise PermissionDenied(
                _("Your role may not take the step “%(step)s” on this event.") % {"step": _(spec.label)}
            )
        if spec.note_required and not note:
            raise StepRefused({"note": _("“%(step)s” needs a reason or note.") % {"step": _(spec.label)}})
        missing = [kind for kind in spec.photos_required if not photos.get(kind)]
        if missing:
            names = ", ".join(str(Evidence.Kind(kind).label) for kind in missing)
            raise StepRefused(
                {
                    "photos": _("“%(step)s” needs a photo: %(kinds)s.")
                    % {"step": _(spec.label), "kinds": names}
                }
            )
        lon, lat = _check_point(lon, lat)
        now = clock.now()
        step = _STEPS[action](
            event,
            user,
            now,
            note=note,
            lon=lon,
            lat=lat,
            assignee=assignee,
            department=department,
            rating=rating,
            extra_hours=extra_hours,
            into=into,
            urgency=urgency,
            category=category,
            grid=grid,
        )
        event.updated_at = now
        event.save()
        for kind, files in photos.items():
            for photo in files:
                Evidence.objects.create(event=event, transition=step, kind=kind, file=photo)
        step_recorded.send(Event, event=event, transition=step)
    return step


def _move(event, action, user, now, to_state, *, note, lon, lat, **facts) -> Transition:
    from_state = event.state
    _enter(event, to_state, now)
    return _record(event, action, from_state, to_state, user, now, note=note, lon=lon, lat=lat, **facts)


def _verify(event, user, now, *, note, lon, lat, **__):
    return _move(event, "verify", user, now, State.REPORTED, note=note, lon=lon, lat=lat)


def _cancel(event, user, now, *, note, lon, lat, **__):
    return _move(event, "cancel", user, now, State.CANCELLED, note=note, lon=lon, lat=lat)


def _relocate(event, user, now, *, note, lon, lat, grid, **__):
    """Move a case to the grid it really is in (a report without a point lands on the fallback grid)."""
    target = locate_grid(lon, lat) if lon is not None else (grid or None)
    if target is None:
        raise StepRefused({"grid": _("Give the new place: a point inside a grid, or the grid's code.")})
    region = Region.objects.filter(code=target, level=Level.GRID).first()
    if region is None:
        raise StepRefused({"grid": _("There is no grid %(code)s.") % {"code": target}})
    if target == event.region_code:
        raise StepRefused({"grid": _("The event is already in grid %(code)s.") % {"code": target}})
    if not (code_within(target, user.scope_codes) or target[:12] == event.region_code[:12]):
        raise StepRefused({"grid": _("Grid %(code)s is outside your region.") % {"code": target}})
    old = event.region_code
    event.region = region
    event.region_code = target
    if lon is not None:
        event.lon, event.lat = lon, lat
    if event.assignee is None or event.assignee.role == Role.GRID_WORKER:
        event.assignee = grid_worker_for(target)
    text = _("Moved from grid %(old)s to %(new)s: %(note)s") % {"old": old, "new": target, "note": note}
    step = _record(event, "relocate", event.state, event.state, user, now, note=text, lon=lon, lat=lat)
    if event.assignee_id:
        notify([event.assignee], event, Notification.Kind.ASSIGNED)
    return step


def _register(event, user, now, *, note, lon, lat, urgency, category, **__):
    if urgency:
        if urgency not in Urgency.values:
            raise StepRefused({"urgency": _("Unknown urgency %(value)r.") % {"value": urgency}})
        event.urgency = urgency
    if category is not None:
        if category.parent_id is None or not category.active:
            raise StepRefused({"category": _("Choose an active minor category, not a major class.")})
        event.category = category
    return _move(event, "register", user, now, State.REGISTERED, note=note, lon=lon, lat=lat)


def _dispatch(event, user, now, *, note, lon, lat, assignee, department, **__):
    if department is not None and not dispatchable_departments(user).filter(pk=department.pk).exists():
        raise StepRefused(
            {"department": _("You cannot dispatch to the department %(name)s.") % {"name": department}}
        )
    if assignee is not None and not User.objects.visible_to(user).filter(pk=assignee.pk).exists():
        raise StepRefused({"assignee": _("%(name)s is not in your region.") % {"name": assignee.username}})
    department = department or (event.category.department if assignee is None else None)
    if assignee is None and department is None:
        assignee = grid_worker_for(event.region_code)
    if assignee is not None and (assignee.is_resident or not assignee.is_active):
        raise StepRefused({"assignee": _("A case can only be dispatched to an active staff member.")})
    if assignee is None and department is None:
        raise StepRefused(
            {
                "assignee": _(
                    "Nobody to dispatch to: choose a department or a person (the grid has no worker)."
                )
            }
        )
    event.assignee = assignee
    event.department = department
    _start_handling_clock(event, now)
    step = _move(event, "dispatch", user, now, State.DISPATCHED, note=note, lon=lon, lat=lat)
    notify(_handlers(event), event, Notification.Kind.ASSIGNED)
    return step


def _start_handling_clock(event, now):
    amount, unit = time_limit(event.category, Stage.HANDLE, event.urgency)
    event.dispatched_at = event.dispatched_at or now
    event.handle_due_at = workcalendar.add_time(now, amount, unit)


def _handlers(event) -> list[User]:
    people = [event.assignee] if event.assignee_id else []
    if event.department_id:
        people += list(event.department.members.filter(is_active=True))
    return list({u.pk: u for u in people}.values())


def _accept(event, user, now, *, note, lon, lat, **__):
    if event.assignee_id is None:
        event.assignee = user  # the department member who signs for it becomes the handler
    return _move(event, "accept", user, now, State.IN_PROGRESS, note=note, lon=lon, lat=lat)


def _report_done(event, user, now, *, note, lon, lat, **__):
    on_time = event.handle_due_at is None or now <= event.handle_due_at
    return _move(event, "report_done", user, now, State.HANDLED, note=note, lon=lon, lat=lat, on_time=on_time)


def _close(event, action, user, now, *, note, lon, lat, on_time):
    started = event.dispatched_at or event.created_at
    event.closed_at = now
    event.closed_on_time = on_time
    duration = int((now - started).total_seconds())
    return _move(
        event,
        action,
        user,
        now,
        State.CLOSED,
        note=note,
        lon=lon,
        lat=lat,
        on_time=on_time,
        duration_seconds=duration,
    )


def _inspect_ok(event, user, now, *, note, lon, lat, **__):
    last_done = event.history.filter(action="report_done").order_by("-at", "-id").first()
    on_time = last_done.on_time if last_done is not None else True
    return _close(event, "inspect_ok", user, now, note=note, lon=lon, lat=lat, on_time=on_time)


def _inspect_fail(event, user, now, *, note, lon, lat, **__):
    event.rework_count += 1
    _start_handling_clock(event, now)
    return _move(event, "inspect_fail", user, now, State.IN_PROGRESS, note=note, lon=lon, lat=lat)


def _self_handle(event, user, now, *, note, lon, lat, **__):
    event.assignee = user
    return _move(
        event, "self_handle", user, now, State.SELF_HANDLED, note=note, lon=lon, lat=lat, on_time=True
    )


def _approve_self(event, user, now, *, note, lon, lat, **__):
    return _close(event, "approve_self", user, now, note=note, lon=lon, lat=lat, on_time=True)


def _evaluate(event, user, now, *, note, lon, lat, rating, **__):
    try:
        rating = int(rating)
    except (TypeError, ValueError):
        raise StepRefused(
            {"rating": _("Give a rating from 1 (very unsatisfied) to 5 (very satisfied).")}
        ) from None
    if not 1 <= rating <= 5:
        raise StepRefused({"rating": _("Give a rating from 1 (very unsatisfied) to 5 (very satisfied).")})
    event.satisfaction = rating
    return _move(event, "evaluate", user, now, State.EVALUATED, note=note, lon=lon, lat=lat)


def _reopen(event, user, now, *, note, lon, lat, **__):
    event.closed_at = None
    event.closed_on_time = None
    event.satisfaction = None
    _start_handling_clock(event, now)
    step = _move(event, "reopen", user, now, State.DISPATCHED, note=note, lon=lon, lat=lat)
    notify(_handlers(event), event, Notification.Kind.ASSIGNED)
    return step


def _request(kind):
    def step(event, user, now, *, note, lon, lat, extra_hours, **__):
        hours = None
        if kind == Request.Kind.EXTENSION:
            try:
                hours = Decimal(str(extra_hours))
            except Exception:
                raise StepRefused({"extra_hours": _("Say how many more working hours are needed.")}) from None
            if not Decimal(0) < hours <= Decimal(9999):
                raise StepRefused({"extra_hours": _("Say how many more working hours are needed.")})
        if event.requests.filter(kind=kind, decision=Request.Decision.PENDING).exists():
            raise StepRefused(_("A request of this kind is already waiting for a decision."))
        Request.objects.create(
            event=event, kind=kind, reason=note, extra_hours=hours, requested_by=user, requested_at=now
        )
        step = _record(
            event, f"request_{kind}", event.state, event.state, user, now, note=note, lon=lon, lat=lat
        )
        approvers = supervisors_of(event.region_code, Level.COMMUNITY) or supervisors_of(
            event.region_code, Level.STREET
        )
        notify(approvers, event, Notification.Kind.APPROVAL)
        return step

    return step


def _resume(event, user, now, *, note, lon, lat, **__):
    remaining = event.remaining_seconds or 0
    event.remaining_seconds = None
    event.handle_due_at = workcalendar.add_working_seconds(now, remaining)
    return _move(event, "resume", user, now, State.IN_PROGRESS, note=note, lon=lon, lat=lat)


def _escalate(event, user, now, *, note, lon, lat, **__):
    return escalate(event, now, actor=user, note=note)


def _merge(event, user, now, *, note, lon, lat, into, **__):
    if into is None or into.pk == event.pk:
        raise StepRefused({"into": _("Choose the event this one duplicates.")})
    if not into.is_open and into.state != State.CLOSED:
        raise StepRefused({"into": _("Event %(number)s is not open.") % {"number": into.number}})
    event.duplicate_of = into
    text = note or _("Duplicate of %(number)s.") % {"number": into.number}
    return _move(event, "merge", user, now, State.CANCELLED, note=text, lon=lon, lat=lat)


_STEPS = {
    "verify": _verify,
    "cancel": _cancel,
    "relocate": _relocate,
    "register": _register,
    "dispatch": _dispatch,
    "accept": _accept,
    "report_done": _report_done,
    "inspect_ok": _inspect_ok,
    "inspect_fail": _inspect_fail,
    "self_handle": _self_handle,
    "approve_self": _approve_self,
    "evaluate": _evaluate,
    "reopen": _reopen,
    "request_return": _request(Request.Kind.RETURN),
    "request_extension": _request(Request.Kind.EXTENSION),
    "request_suspension": _request(Request.Kind.SUSPENSION),
    "resume": _resume,
    "escalate": _escalate,
    "merge": _merge,
}


# --- Approvals ----------------------------------------------------------------------------------------------


def decide(request: Request, user: User, *, approve: bool, note: str = "") -> Transition:
    """Approve or deny a waiting request. Approval carries it out: return, a new due time, or suspension."""
    with transaction.atomic():
        request = Request.objects.select_for_update().get(pk=request.pk)
        event = _locked(request.event_id)
        if request.decision != Request.Decision.PENDING:
            raise StepRefused(_("This request has already been decided."))
        if not is_supervisor(user, event):
            raise PermissionDenied(_("Your role may not decide requests on this event."))
        if request.requested_by_id == user.pk:
            raise PermissionDenied(_("A request cannot be decided by the person who made it."))
        note = (note or "").strip()
        if not approve and not note:
            raise StepRefused({"note": _("Say why the request is denied.")})
        now = clock.now()
        request.decision = Request.Decision.APPROVED if approve else Request.Decision.DENIED
        request.decided_by = user
        request.decided_at = now
        request.decision_note = note
        request.save()
        action = f"{'approve' if approve else 'deny'}_{request.kind}"
        if not approve:
            step = _record(event, action, event.state, event.state, user, now, note=note)
        elif request.kind == Request.Kind.RETURN:
            if event.state not in (State.DISPATCHED, State.IN_PROGRESS):
                raise StepRefused(_("The event is no longer with its handler; nothing to return."))
            event.assignee = None
            event.department = None
            event.dispatched_at = None
            event.handle_due_at = None
            step = _move(
                event, action, user, now, State.REGISTERED, note=note or request.reason, lon=None, lat=None
            )
        elif request.kind == Request.Kind.EXTENSION:
            event.extension_count += 1
            extra = request.extra_hours or Decimal(0)
            base = event.handle_due_at or now
            event.handle_due_at = workcalendar.add_time(base, extra, workcalendar.TimeUnit.WORKING_HOUR)
            if event.state == State.IN_PROGRESS:
                event.due_at = event.handle_due_at
                event.warned = event.overdue_notified = False
            step = _record(event, action, event.state, event.state, user, now, note=note or request.reason)
        else:  # suspension: the clock stops, keeping what was left of it
            if event.state != State.IN_PROGRESS:
                raise StepRefused(_("Only a case being handled can be suspended."))
            due = event.handle_due_at or now
            event.remaining_seconds = workcalendar.working_seconds_between(now, due)
            event.state = State.SUSPENDED
            event.stage = ""
            event.stage_started_at = event.due_at = event.warn_at = None
            step = _record(
                event, action, State.IN_PROGRESS, State.SUSPENDED, user, now, note=note or request.reason
            )
        event.updated_at = now
        event.save()
        step_recorded.send(Event, event=event, transition=step)
        notify([request.requested_by], event, Notification.Kind.DECIDED)
    return step


# --- Time: warnings, overdue, escalation --------------------------------------------------------------------


def notify(users: Iterable[User | None], event: Event, kind: str) -> None:
    Notification.objects.bulk_create(
        [Notification(user=u, event=event, kind=kind, created_at=clock.now()) for u in users if u is not None]
    )


def escalate(event: Event, now: datetime, *, actor: User | None = None, note: str = "") -> Transition:
    """Climb one rung of the category's ladder and tell the people there; at the top, tell them again."""
    ladder = [lvl for lvl in event.category.ladder if lvl in LEVEL_CODE_LENGTH]
    current = event.escalation_level or ladder[0]
    position = ladder.index(current) if current in ladder else 0
    level = ladder[min(position + 1, len(ladder) - 1)]
    event.escalation_level = level
    event.escalated_at = now
    notify(supervisors_of(event.region_code, level), event, Notification.Kind.ESCALATED)
    text = note or _("Escalated to the %(level)s level.") % {"level": Level(level).label}
    return _record(event, "escalate", event.state, event.state, actor, now, note=text)


@dataclass
class TickReport:
    warned: int = 0
    overdue: int = 0
    escalated: int = 0


def tick(now: datetime | None = None) -> TickReport:
    """Yellow and red lights with their notices, and escalation of cases still overdue. Run every minute."""
    now = now or clock.now()
    report = TickReport()
    open_with_clock = Event.objects.filter(state__in=OPEN_STATES, due_at__isnull=False)
    # Each notice is claimed by a conditional update first, so two workers never send it twice.
    for event in open_with_clock.filter(warned=False, warn_at__lte=now, due_at__gte=now).select_related(
        "assignee"
    ):
        if Event.objects.filter(pk=event.pk, warned=False).update(warned=True):
            notify([event.assignee], event, Notification.Kind.WARNING)
            report.warned += 1
    for event in open_with_clock.filter(overdue_notified=False, due_at__lt=now).select_related("assignee"):
        if Event.objects.filter(pk=event.pk, overdue_notified=False).update(
            overdue_notified=True, warned=True
        ):
            notify([event.assignee, *supervisors_of(event.region_code, Level.COMMUNITY)], event, "overdue")
            report.overdue += 1
    overdue = open_with_clock.filter(due_at__lt=now).select_related("category", "category__parent")
    for event in overdue:
        since = max(event.due_at, event.escalated_at or event.due_at)
        if (
            workcalendar.working_seconds_between(since, now)
            < max(event.category.escalate_after_hours, 1) * 3600
        ):
            continue
        with transaction.atomic():
            locked = _locked(event.pk)
            if locked.escalated_at != event.escalated_at:
                continue  # another worker escalated it meanwhile
            step = escalate(locked, now)
            locked.save(update_fields=["escalation_level", "escalated_at"])
            step_recorded.send(Event, event=locked, transition=step)
        report.escalated += 1
    return report
