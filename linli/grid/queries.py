"""Read-only queries behind the grid pages: the queue, the map of grids, a user's tasks and notices.

Every query starts from ``visible_to`` (the scope rule); nothing here changes data but marking notices read.
The queue is the hot path (a street officer's list over a year of events), so it reads one page plus one row
and counts only up to a cap: an exact COUNT(*) over hundreds of thousands of rows on every page load is what
made such lists slow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import Substr
from django.utils import timezone

from linli.core import clock
from linli.core.models import Region, User
from linli.core.regions import Level
from linli.core.scope import code_within

from . import services
from .models import OPEN_STATES, Category, Event, Notification, State

PAGE_ROWS = 25
COUNT_CAP = 1000  # the queue says "1000+" rather than counting further

STATUS_CHOICES = ("open", "overdue", "yellow", "closed", "all")


@dataclass
class QueueFilters:
    """What the queue is narrowed to. Empty values mean "any"; ``status`` defaults to open events."""

    region: str | None = None
    status: str = "open"  # open | overdue | yellow | closed | all
    state: str = ""
    category: int | None = None  # a minor category, or a major class (all its minor classes)
    source: str = ""
    urgency: str = ""
    since: date | None = None
    until: date | None = None
    assignee: int | None = None
    department: int | None = None
    q: str = ""
    mine: bool = False  # assigned to the user, or dispatched to one of their departments
    extra: dict = field(default_factory=dict)


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _region_range(code: str) -> Q:
    """The same rows as ``startswith(code)`` for digit-only codes, written as a range an index can use.

    PostgreSQL uses a b-tree index for LIKE 'prefix%' only under the C collation; a range works under any.
    """
    return Q(region_code__gte=code, region_code__lte=code.ljust(15, "9"))


def queue(user: User, filters: QueueFilters, now: datetime | None = None) -> QuerySet:
    """The events this user may see, narrowed by ``filters``, soonest due first (then newest)."""
    now = now or clock.now()
    region = filters.region or None
    if filters.mine:
        # One's own work, wherever it lies: a district department's member handles the whole district.
        departments = list(user.departments.values_list("pk", flat=True))
        rows = services.visible_events(user).filter(Q(assignee=user) | Q(department_id__in=departments))
    else:
        rows = Event.objects.visible_to(user, region)
        codes = [region] if region else user.scope_codes
        if not user.is_resident and len(codes) == 1:
            rows = rows.filter(_region_range(codes[0]))
    status = filters.status if filters.status in STATUS_CHOICES else "open"
    if filters.state:
        rows = rows.filter(state=filters.state)
    elif status in ("open", "overdue", "yellow"):
        rows = rows.filter(state__in=OPEN_STATES)
    elif status == "closed":
        rows = rows.exclude(state__in=OPEN_STATES)
    if status == "overdue":
        rows = rows.filter(due_at__lt=now)
    elif status == "yellow":
        rows = rows.filter(warn_at__lte=now, due_at__gte=now)
    if filters.category:
        rows = rows.filter(Q(category_id=filters.category) | Q(category__parent_id=filters.category))
    if filters.source:
        rows = rows.filter(source=filters.source)
    if filters.urgency:
        rows = rows.filter(urgency=filters.urgency)
    if filters.since:
        rows = rows.filter(created_at__gte=_day_start(filters.since))
    if filters.until:
        rows = rows.filter(created_at__lt=_day_start(filters.until + timedelta(days=1)))
    if filters.assignee:
        rows = rows.filter(assignee_id=filters.assignee)
    if filters.department:
        rows = rows.filter(department_id=filters.department)
    text = (filters.q or "").strip()
    if text:
        if text.isdigit() and len(text) >= 8:
            rows = rows.filter(number__startswith=text)
        else:
            rows = rows.filter(Q(title__icontains=text) | Q(number=text))
    rows = rows.select_related("category", "region", "assignee", "department")
    if status in ("closed", "all") and not (filters.state and filters.state in OPEN_STATES):
        # Closed events have no due time: newest first, by arrival, which the primary key's index serves
        # (a sort on created_at would read every row of a street's year).
        return rows.order_by("-pk")
    return rows.order_by(F("due_at").asc(nulls_last=True), "-pk")


@dataclass
class QueuePage:
    rows: list[Event]
    number: int
    has_previous: bool
    has_next: bool
    count: int | None  # None: not counted yet (the page asks for it separately)
    count_capped: bool = False

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1


def queue_count(user: User, filters: QueueFilters, now: datetime | None = None) -> tuple[int, bool]:
    """How many events the queue holds, counted up to ``COUNT_CAP``: (count, whether there are more)."""
    # A LIMITed subquery: it costs the cap at most, never a COUNT(*) over a street's whole year.
    found = queue(user, filters, now).order_by()[: COUNT_CAP + 1].count()
    return min(found, COUNT_CAP), found > COUNT_CAP


def queue_page(
    user: User, filters: QueueFilters, page=1, now: datetime | None = None, *, count: bool = False
) -> QueuePage:
    """One page of the queue, as the page shows it (this is what the benchmark times).

    The page's keys come first, without joins, so the sort reads only the event table; then its rows. The
    total is known for free on the last page; otherwise it is counted only when ``count`` asks (the page
    fetches it after showing the rows).
    """
    try:
        page = max(1, min(int(page or 1), 10_000))
    except (TypeError, ValueError):
        page = 1
    rows = queue(user, filters, now)
    start = (page - 1) * PAGE_ROWS
    ids = list(rows.values_list("pk", flat=True)[start : start + PAGE_ROWS + 1])
    by_id = Event.objects.select_related("category", "region", "assignee", "department").in_bulk(ids)
    found = [by_id[pk] for pk in ids if pk in by_id]
    has_next = len(found) > PAGE_ROWS
    total, capped = None, False
    if not has_next and (found or page == 1):
        total = start + len(found)
    elif count:
        total, capped = queue_count(user, filters, now)
    return QueuePage(
        rows=found[:PAGE_ROWS],
        number=page,
        has_previous=page > 1,
        has_next=has_next,
        count=total,
        count_capped=capped,
    )


# --- Map of grids -------------------------------------------------------------------------------------------


@dataclass
class GridShape:
    code: str
    name: str
    path: str  # SVG path data in the map's own units
    label_x: float
    label_y: float
    open: int = 0
    overdue: int = 0
    colour: str = ""
    band: str = ""
    drill: bool = False  # a street or community standing for its grids: its link opens its own map


@dataclass
class GridMap:
    shapes: list[GridShape]
    width: int
    height: int
    max_open: int
    total_open: int
    total_overdue: int
    without_boundary: int
    drilled: bool = False  # the shapes are the region's children standing for their grids


MAP_WIDTH = 1000
MAP_MAX_SHAPES = 800
# Open-count bands and their colours (legend order); any overdue event paints a grid red whatever its count.
BANDS = [
    ("none", "#e9f3ec"),
    ("few", "#b9dfc4"),
    ("some", "#f7d57a"),
    ("many", "#f0a04b"),
    ("overdue", "#d9463b"),
]


def _band(open_count: int, overdue: int) -> str:
    if overdue:
        return "overdue"
    if open_count == 0:
        return "none"
    if open_count <= 2:
        return "few"
    if open_count <= 9:
        return "some"
    return "many"


def _rings(boundary: dict) -> list[list]:
    kind = boundary.get("type")
    if kind == "Polygon":
        return [boundary["coordinates"][0]]
    if kind == "MultiPolygon":
        return [polygon[0] for polygon in boundary["coordinates"]]
    return []


def grid_map(user: User, region_code: str | None = None, now: datetime | None = None) -> GridMap:
    """The grids of the user's scope (or one region in it) as SVG paths, coloured by open and overdue events.

    One query for the shapes and one GROUP BY for the counts, whatever the number of grids; the projection is
    equirectangular around the middle latitude, enough for a district. Past ``MAP_MAX_SHAPES`` grids (a
    district has 3,000, too small to see or click) the map shows the region's children instead, each
    coloured by the sum of its grids and linking to its own map, when they have boundaries.
    """
    now = now or clock.now()
    codes = [region_code] if region_code else user.scope_codes
    scope_code = codes[0] if len(codes) == 1 else None
    visible_regions = Region.objects.visible_to(user, region_code)
    unit_length = 15
    units = visible_regions.filter(level=Level.GRID)
    if scope_code and len(scope_code) < 12 and units.count() > MAP_MAX_SHAPES:
        children = visible_regions.filter(parent_id=scope_code)
        if children.exists() and not children.filter(boundary__isnull=True).exists():
            units, unit_length = children, len(scope_code) + 3
    shapes_rows = units.order_by("code").values_list("code", "name", "boundary")
    events = Event.objects.visible_to(user, region_code).filter(state__in=OPEN_STATES)
    if scope_code:
        events = events.filter(_region_range(scope_code))
    unit = Substr("region_code", 1, unit_length) if unit_length < 15 else F("region_code")
    counts = {
        row["unit"]: row
        for row in events.annotate(unit=unit)
        .values("unit")
        .order_by()
        .annotate(open=Count("pk"), overdue=Count("pk", filter=Q(due_at__lt=now)))
    }
    outlines = []
    missing = 0
    for code, name, boundary in shapes_rows:
        rings = _rings(boundary) if boundary else []
        if not rings:
            missing += 1
            continue
        outlines.append((code, name, rings))
    if not outlines:
        return GridMap([], MAP_WIDTH, 0, 0, 0, 0, missing)
    lons = [p[0] for _, _, rings in outlines for ring in rings for p in ring]
    lats = [p[1] for _, _, rings in outlines for ring in rings for p in ring]
    west, east, south, north = min(lons), max(lons), min(lats), max(lats)
    x_scale = math.cos(math.radians((south + north) / 2))
    span_x = max((east - west) * x_scale, 1e-9)
    span_y = max(north - south, 1e-9)
    unit = MAP_WIDTH / span_x
    height = max(int(math.ceil(span_y * unit)), 1)
    if height > 2 * MAP_WIDTH:  # a tall narrow scope: fit the height instead
        unit = 2 * MAP_WIDTH / span_y
        height = 2 * MAP_WIDTH
    # Points closer than this (in map units) add nothing visible: drop them.
    tolerance = 0.6

    def project(point):
        return (point[0] - west) * x_scale * unit, (north - point[1]) * unit

    shapes = []
    total_open = total_overdue = max_open = 0
    for code, name, rings in outlines:
        parts = []
        sx = sy = n = 0.0
        for ring in rings:
            kept = []
            for point in ring:
                x, y = project(point)
                if kept and abs(x - kept[-1][0]) < tolerance and abs(y - kept[-1][1]) < tolerance:
                    continue
                kept.append((x, y))
            if len(kept) < 3:
                kept = [project(p) for p in ring]
            parts.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in kept) + "Z")
            for x, y in kept:
                sx, sy, n = sx + x, sy + y, n + 1
        row = counts.get(code, {})
        open_count, overdue = row.get("open", 0), row.get("overdue", 0)
        total_open += open_count
        total_overdue += overdue
        max_open = max(max_open, open_count)
        band = _band(open_count, overdue)
        shapes.append(
            GridShape(
                code=code,
                name=name,
                path="".join(parts),
                label_x=round(sx / n, 1),
                label_y=round(sy / n, 1),
                open=open_count,
                overdue=overdue,
                band=band,
                colour=dict(BANDS)[band],
                drill=len(code) < 15,
            )
        )
    return GridMap(
        shapes, MAP_WIDTH, height, max_open, total_open, total_overdue, missing, drilled=unit_length < 15
    )


# --- A person's work and notices ----------------------------------------------------------------------------


def my_tasks(user: User) -> QuerySet:
    """Open events assigned to the user or to one of their departments, soonest due first."""
    return queue(user, QueueFilters(mine=True))


def grid_tasks(user: User) -> QuerySet:
    """Open events in the user's own grids that someone there must act on (verify, inspect, approve...)."""
    waiting = [State.VERIFYING, State.REPORTED, State.HANDLED, State.SELF_HANDLED]
    return queue(user, QueueFilters()).filter(state__in=waiting)


def own_grids(user: User) -> list[Region]:
    """The grids a staff user works in (for the manual location fallback of the report form)."""
    if user.is_resident:
        return []
    rows = Region.objects.visible_to(user).filter(level=Level.GRID).order_by("code")
    return list(rows.only("code", "name")[:500])


def relocation_grids(user: User, event: Event) -> list[Region]:
    """Where a case may be moved: the grids of the user's scope and of the event's community."""
    rows = Region.objects.filter(level=Level.GRID).filter(
        Q(pk__in=Region.objects.visible_to(user).filter(level=Level.GRID).values("pk"))
        | Q(code__startswith=event.region_code[:12])
    )
    return list(rows.exclude(code=event.region_code).order_by("code").only("code", "name")[:500])


def grids_for_residents() -> list[Region]:
    """Every grid with its community, for a resident who cannot share their location."""
    return list(
        Region.objects.filter(level=Level.GRID).select_related("parent").only("code", "name", "parent__name")
    )


def public_categories() -> QuerySet:
    return (
        Category.objects.filter(public=True, active=True, parent__isnull=False, parent__active=True)
        .select_related("parent")
        .order_by("parent__code", "code")
    )


def staff_categories() -> QuerySet:
    return (
        Category.objects.filter(active=True, parent__isnull=False, parent__active=True)
        .select_related("parent")
        .order_by("parent__code", "code")
    )


def unread_count(user: User) -> int:
    if user is None or not user.is_authenticated:
        return 0
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def notifications(user: User) -> QuerySet:
    return Notification.objects.filter(user=user).select_related("event").order_by("read_at", "-created_at")


def mark_read(user: User, *, ids=None, event: Event | None = None) -> int:
    """Mark the user's own notices read: some, those of one event, or all."""
    rows = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    if event is not None:
        rows = rows.filter(event=event)
    return rows.update(read_at=clock.now())


def in_scope(user: User, code: str) -> bool:
    """Whether a region code from a request is a real-looking code inside the user's scope."""
    valid = code.isdigit() and len(code) in (6, 9, 12, 15)
    return valid and not user.is_resident and code_within(code, user.scope_codes)
