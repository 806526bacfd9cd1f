"""Figures on a hand-built history whose every count and rate is known (July 2026, local time).

The events and steps are written as rows with chosen times, not through the services, so the expected numbers
below follow from this table alone:

    grid                 event  steps (day of July unless said)                         outcome
    东一社区第一网格 G1   A      report(gw1) register dispatch(ENV,h1) accept done✓ ok✓    on time, 2 d
                         B      report(resident) verify register dispatch(ENV,h1)
                                accept done✗ fail done✗ ok✗                               late, 1 rework, 5 d
                         C      report(gw1) self_handle approve_self                      on the spot, 1 h
                         D      report(resident) cancel (while verifying)                 not filed
                         L      report(gw1) 20th register dispatch(gw1) accept;
                                done 4 Aug, ok 5 Aug                                      overdue on 1 Aug
    东一社区第二网格 G2   E      report register dispatch(gw2) accept; suspended 4th      due 10th
                         F      report register dispatch(gw2) accept                      open, due 10th
                         G      report register cancel                                    cancelled, filed
    东二社区第一网格 G3   H      report register dispatch(ENV,h1) accept done✓ ok✓        on time, 1 d
    西一村第一网格 G4     I      report(gw4) register dispatch(gw4) accept done✓ ok✓      on time, 2 h
                         J      report… in June; done✗ 1st, ok✗ 2nd                      late, 10 d
                         K      report 1 Aug                                              outside
"""

from datetime import datetime, timedelta
from io import BytesIO
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.urls import reverse
from openpyxl import load_workbook

from linli.core import clock
from linli.core.audit import AuditAction, AuditLog
from linli.core.models import Role
from linli.core.testing import make_user
from linli.grid import figures
from linli.grid.figures import Base, Grouping, Options, Period
from linli.grid.models import Department, Event, Source, State, Transition
from linli.grid.testing import category

pytestmark = pytest.mark.django_db

TZ = ZoneInfo("Asia/Shanghai")
G1, G2, G3, G4 = "370198001001001", "370198001001002", "370198001002001", "370198002001001"
EAST, WEST = "370198001", "370198002"
C11, C12 = "370198001001", "370198001002"
JULY = Period.parse("2026-07")


def at(day: int, hour: int = 9, month: int = 7) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=TZ)


class History:
    """Events and steps written directly, the way the services would have left them."""

    def __init__(self):
        self.gw1 = make_user(Role.GRID_WORKER, G1, username="gw1")
        self.gw2 = make_user(Role.GRID_WORKER, G2, username="gw2")
        self.gw3 = make_user(Role.GRID_WORKER, G3, username="gw3")
        self.gw4 = make_user(Role.GRID_WORKER, G4, username="gw4")
        self.cw1 = make_user(Role.COMMUNITY_WORKER, C11, username="cw1")
        self.cw2 = make_user(Role.COMMUNITY_WORKER, C12, username="cw2")
        self.cw4 = make_user(Role.COMMUNITY_WORKER, G4[:12], username="cw4")
        self.east = make_user(Role.STREET_OFFICER, EAST, username="east")
        self.admin = make_user(Role.DISTRICT_ADMIN, "370198", username="admin")
        self.h1 = make_user(Role.SERVICE_PROVIDER, C11, username="h1")
        self.resident = make_user(Role.RESIDENT, username="resident")
        self.env = Department.objects.create(code="ENV", name="环卫所", region_id="370198")
        self.category = category()
        self.count = 0

    def event(self, grid, steps, **fields) -> Event:
        """``steps``: (action, from, to, actor, when, extra facts); the event ends as they leave it."""
        self.count += 1
        first = steps[0][4]
        event = Event.objects.create(
            number=f"T{self.count:04d}",
            title=f"事件{self.count}",
            category=self.category,
            state=steps[-1][2],
            source=fields.pop("source", Source.GRID_WORKER),
            region_id=grid,
            created_at=first,
            updated_at=steps[-1][4],
            **fields,
        )
        department = None
        for action, from_state, to_state, actor, when, *extra in steps:
            facts = extra[0] if extra else {}
            department = facts.pop("department", department)
            Transition.objects.create(
                event=event,
                action=action,
                from_state=from_state,
                to_state=to_state,
                actor=actor,
                actor_name=actor.username if actor else "",
                at=when,
                region_code=grid,
                category_id_at=self.category.pk,
                department_id_at=department.pk if department else None,
                assignee_id_at=event.assignee_id,
                **facts,
            )
        return event

    def loop(
        self,
        handler,
        department,
        start,
        done_on_time,
        close_at,
        *,
        duration,
        rework=False,
        reporter=None,
        by=None,
    ):
        """report → register → dispatch → accept → done [→ fail → done] → ok, from ``start`` on."""
        reporter = reporter or self.gw1
        by = by or self.cw1
        steps = [("report", "", "reported", reporter, start)]
        if reporter.is_resident:
            steps = [
                ("report", "", "verifying", reporter, start),
                ("verify", "verifying", "reported", None, start),
            ]
        steps += [
            ("register", "reported", "registered", by, start + timedelta(hours=1)),
            (
                "dispatch",
                "registered",
                "dispatched",
                by,
                start + timedelta(hours=2),
                {"department": department},
            ),
            ("accept", "dispatched", "in_progress", handler, start + timedelta(hours=3)),
        ]
        done = close_at - timedelta(hours=2)
        if rework:
            steps += [
                (
                    "report_done",
                    "in_progress",
                    "handled",
                    handler,
                    done - timedelta(days=1),
                    {"on_time": False},
                ),
                ("inspect_fail", "handled", "in_progress", self.gw1, done - timedelta(hours=20)),
            ]
        steps += [
            ("report_done", "in_progress", "handled", handler, done, {"on_time": done_on_time}),
            (
                "inspect_ok",
                "handled",
                "closed",
                self.gw1,
                close_at,
                {"on_time": done_on_time, "duration_seconds": duration},
            ),
        ]
        return steps


@pytest.fixture(autouse=True)
def no_cached_tallies():
    """Ended months are cached per process; every test builds its own history for the same months."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def h(regions, monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: at(1, 9, month=9))
    h = History()
    day = 86400
    # G1
    h.a = h.event(G1, h.loop(h.h1, h.env, at(3), True, at(5, 11), duration=2 * day), assignee=h.h1)
    h.b = h.event(
        G1,
        h.loop(h.h1, h.env, at(6), False, at(11, 11), duration=5 * day, rework=True, reporter=h.resident),
        assignee=h.h1,
        reporter=h.resident,
        source=Source.RESIDENT,
    )
    h.c = h.event(
        G1,
        [
            ("report", "", "reported", h.gw1, at(7)),
            ("self_handle", "reported", "self_handled", h.gw1, at(7, 10), {"on_time": True}),
            (
                "approve_self",
                "self_handled",
                "closed",
                h.cw1,
                at(7, 11),
                {"on_time": True, "duration_seconds": 3600},
            ),
        ],
        assignee=h.gw1,
    )
    h.d = h.event(
        G1,
        [
            ("report", "", "verifying", h.resident, at(8)),
            ("cancel", "verifying", "cancelled", h.gw1, at(8, 15)),
        ],
        reporter=h.resident,
        source=Source.RESIDENT,
    )
    l_steps = h.loop(h.gw1, None, at(20), False, at(5, 11, month=8), duration=16 * day)
    h.l_event = h.event(
        G1,
        l_steps,
        assignee=h.gw1,
        handle_due_at=at(23),
        dispatched_at=at(20, 11),
        closed_at=at(5, 11, month=8),
        closed_on_time=False,
    )
    # G2
    h.e = h.event(
        G2,
        [
            ("report", "", "reported", h.gw2, at(2)),
            ("register", "reported", "registered", h.cw1, at(2, 10)),
            ("dispatch", "registered", "dispatched", h.cw1, at(2, 11)),
            ("accept", "dispatched", "in_progress", h.gw2, at(2, 12)),
            ("request_suspension", "in_progress", "in_progress", h.gw2, at(4)),
            ("approve_suspension", "in_progress", "suspended", h.cw1, at(4, 10)),
        ],
        assignee=h.gw2,
        handle_due_at=at(10),
        dispatched_at=at(2, 11),
    )
    h.f = h.event(
        G2,
        [
            ("report", "", "reported", h.gw2, at(2)),
            ("register", "reported", "registered", h.cw1, at(2, 10)),
            ("dispatch", "registered", "dispatched", h.cw1, at(2, 11)),
            ("accept", "dispatched", "in_progress", h.gw2, at(2, 12)),
        ],
        assignee=h.gw2,
        handle_due_at=at(10),
        dispatched_at=at(2, 11),
    )
    h.g = h.event(
        G2,
        [
            ("report", "", "reported", h.gw2, at(9)),
            ("register", "reported", "registered", h.cw1, at(9, 10)),
            ("cancel", "registered", "cancelled", h.cw1, at(9, 11)),
        ],
    )
    # G3
    h.event(
        G3,
        h.loop(h.h1, h.env, at(12), True, at(13, 11), duration=day, reporter=h.gw3, by=h.cw2),
        assignee=h.h1,
    )
    # G4
    i_steps = h.loop(h.gw4, None, at(14), True, at(14, 16), duration=7200, reporter=h.gw4, by=h.cw4)
    h.event(G4, i_steps, assignee=h.gw4)
    j_steps = h.loop(
        h.gw4, None, at(20, 9, month=6), False, at(2, 11), duration=10 * day, reporter=h.gw4, by=h.cw4
    )
    j_steps[-2] = j_steps[-2][:4] + (at(1, 9),) + j_steps[-2][5:]  # done on 1 July, in the period
    h.event(G4, j_steps, assignee=h.gw4, closed_at=at(2, 11), closed_on_time=False)
    h.event(G4, [("report", "", "reported", h.gw4, at(1, 9, month=8))])
    return h


def rows_by_key(result):
    return {row.key: row for row in result.rows}


COUNTS_JULY = {
    "reported": 10,
    "cancelled": 2,
    "cancelled_registered": 1,
    "registered": 9,
    "self_handled": 1,
    "dispatched": 7,
    "handled": 6,
    "handled_on_time": 3,
    "inspected": 6,
    "closed": 6,
    "closed_on_time": 4,
    "rework": 1,
    "suspended": 1,
    "reopened": 0,
}


def test_district_counts_and_default_rates(h):
    result = figures.compute(h.admin, JULY, Grouping.DISTRICT, Options())
    assert [row.key for row in result.rows] == ["370198"]
    (row,) = result.rows
    assert row.label == "测试区"
    assert row.counts == COUNTS_JULY
    # 应结案数 = 立案数 9 − 缓办数 1 (E) − 立案后作废数 1 (G) = 7 (Jinhua's rule)
    assert row.due == 7
    assert row.closing_rate == pytest.approx(6 / 7)
    assert row.on_time_rate == pytest.approx(4 / 7)
    assert row.rework_rate == pytest.approx(1 / 6)
    # (2 d + 5 d + 1 h + 1 d + 2 h + 10 d) / 6 closings
    assert row.average_hours == pytest.approx((48 + 120 + 1 + 24 + 2 + 240) / 6)
    assert result.total.counts == COUNTS_JULY


@pytest.mark.parametrize(
    "options, due, closing, on_time, rework",
    [
        (Options(exclude_suspended=False, exclude_cancelled=False), 9, 6 / 9, 4 / 9, 1 / 6),
        (Options(exclude_suspended=True, exclude_cancelled=False), 8, 6 / 8, 4 / 8, 1 / 6),
        (
            Options(base=Base.REPORTED, exclude_suspended=False, exclude_cancelled=True),
            8,
            6 / 8,
            4 / 8,
            1 / 6,
        ),
        (Options(base=Base.REPORTED, exclude_suspended=True, exclude_cancelled=True), 7, 6 / 7, 4 / 7, 1 / 6),
        (Options(base=Base.REPORTED, exclude_suspended=False, exclude_cancelled=False), 10, 0.6, 0.4, 1 / 6),
        # 结案数 6 + open and overdue on 1 Aug: E (suspended), F, L (closed only on 5 Aug) = 9; minus E = 8
        (Options(base=Base.CLOSED_AND_OVERDUE, exclude_suspended=False), 9, 6 / 9, 4 / 9, 1 / 6),
        (Options(base=Base.CLOSED_AND_OVERDUE, exclude_suspended=True), 8, 6 / 8, 4 / 8, 1 / 6),
        (Options(on_time_over="closed"), 7, 6 / 7, 4 / 6, 1 / 6),
        (Options(rework_over="inspected"), 7, 6 / 7, 4 / 7, 1 / 6),
        (Options(rework_over="due"), 7, 6 / 7, 4 / 7, 1 / 7),
    ],
)
def test_denominator_options(h, options, due, closing, on_time, rework):
    (row,) = figures.compute(h.admin, JULY, Grouping.DISTRICT, options).rows
    assert row.counts == COUNTS_JULY
    assert row.due == due
    assert row.closing_rate == pytest.approx(closing)
    assert row.on_time_rate == pytest.approx(on_time)
    assert row.rework_rate == pytest.approx(rework)


def test_by_street(h):
    result = figures.compute(h.admin, JULY, Grouping.STREET, Options())
    rows = rows_by_key(result)
    assert list(rows) == [EAST, WEST]
    east, west = rows[EAST], rows[WEST]
    assert (east.label, west.label) == ("东街道", "西街道")
    assert (east.reported, east.registered, east.closed, east.closed_on_time, east.rework) == (9, 8, 4, 3, 1)
    assert east.due == 8 - 1 - 1
    assert east.closing_rate == pytest.approx(4 / 6)
    assert east.on_time_rate == pytest.approx(3 / 6)
    assert east.rework_rate == pytest.approx(1 / 4)
    assert east.average_hours == pytest.approx((48 + 120 + 1 + 24) / 4)
    # West: I was reported and closed in July, J only closed (reported in June). Counting flows, the closing
    # rate passes 100 %; the closed + overdue base does not.
    assert (west.reported, west.registered, west.closed, west.closed_on_time, west.handled) == (1, 1, 2, 1, 2)
    assert west.closing_rate == pytest.approx(2.0)
    assert west.average_hours == pytest.approx((2 + 240) / 2)
    (west2,) = [
        r
        for r in figures.compute(h.admin, JULY, Grouping.STREET, Options(base=Base.CLOSED_AND_OVERDUE)).rows
        if r.key == WEST
    ]
    assert west2.due == 2 and west2.closing_rate == 1.0 and west2.on_time_rate == 0.5
    assert result.total.counts == COUNTS_JULY


def test_by_community_and_grid(h):
    rows = rows_by_key(figures.compute(h.admin, JULY, Grouping.COMMUNITY, Options()))
    assert list(rows) == [C11, C12, G4[:12]]
    c11 = rows[C11]
    assert (c11.reported, c11.registered, c11.cancelled, c11.closed, c11.closed_on_time) == (8, 7, 2, 3, 2)
    assert c11.due == 7 - 1 - 1
    assert (c11.closing_rate, c11.on_time_rate) == (pytest.approx(3 / 5), pytest.approx(2 / 5))
    assert rows[C12].closing_rate == 1.0 and rows[C12].on_time_rate == 1.0

    grids = rows_by_key(figures.compute(h.admin, JULY, Grouping.GRID, Options()))
    assert list(grids) == [G1, G2, G3, G4]
    g1, g2 = grids[G1], grids[G2]
    assert (g1.reported, g1.registered, g1.cancelled, g1.closed, g1.closed_on_time) == (5, 4, 1, 3, 2)
    # D was cancelled before registration: not subtracted from 立案数.
    assert g1.due == 4
    assert (g1.closing_rate, g1.on_time_rate) == (0.75, 0.5)
    assert (g2.reported, g2.registered, g2.suspended, g2.closed) == (3, 3, 1, 0)
    assert g2.due == 1 and g2.closing_rate == 0.0
    assert grids[G3].label == "东二社区第一网格"


def test_by_department(h):
    result = figures.compute(h.admin, JULY, Grouping.DEPARTMENT, Options())
    rows = rows_by_key(result)
    env = rows[h.env.pk]
    assert env.label == "环卫所"
    # A, B and H were with 环卫所 from their dispatch on; their reports and registrations were not.
    assert (env.reported, env.registered, env.dispatched, env.handled, env.handled_on_time) == (0, 0, 3, 4, 2)
    assert (env.closed, env.closed_on_time, env.rework) == (3, 2, 1)
    assert env.due == 0 and env.closing_rate is None and env.on_time_rate is None
    assert env.rework_rate == pytest.approx(1 / 4)
    by_closed = rows_by_key(
        figures.compute(h.admin, JULY, Grouping.DEPARTMENT, Options(on_time_over="closed"))
    )
    assert by_closed[h.env.pk].on_time_rate == pytest.approx(2 / 3)
    overdue = rows_by_key(
        figures.compute(h.admin, JULY, Grouping.DEPARTMENT, Options(base=Base.CLOSED_AND_OVERDUE))
    )
    assert overdue[h.env.pk].due == 3 and overdue[h.env.pk].closing_rate == 1.0
    assert rows[None].label and rows[None].reported == 10
    assert result.total.counts == COUNTS_JULY


def test_by_worker(h):
    result = figures.compute(h.admin, JULY, Grouping.WORKER, Options())
    rows = {row.label.split(" ")[0]: row for row in result.rows}
    h1 = rows["h1"]
    # The handler is credited with the inspections of their work, not the grid worker who inspected.
    assert (h1.handled, h1.handled_on_time, h1.closed, h1.closed_on_time, h1.rework) == (4, 2, 3, 2, 1)
    assert h1.reported == 0
    gw1 = rows["gw1"]
    assert (gw1.reported, gw1.registered, gw1.self_handled, gw1.cancelled, gw1.closed) == (3, 1, 1, 1, 1)
    assert gw1.average_hours == 1.0
    cw1 = rows["cw1"]
    assert (cw1.registered, cw1.dispatched, cw1.suspended, cw1.cancelled, cw1.closed) == (6, 5, 1, 1, 0)
    # The resident's two reports are not a worker's.
    others = result.rows[-1]
    assert others.key is None and others.reported == 2
    assert "resident" not in rows
    assert result.total.counts == COUNTS_JULY


def test_scope_a_community_worker_sees_only_their_community(h):
    result = figures.compute(h.cw1, JULY, Grouping.GRID, Options())
    assert [row.key for row in result.rows] == [G1, G2]
    assert result.total.reported == 8
    assert figures.compute(h.cw1, JULY, Grouping.GRID, Options(), region_code=G3).rows == []
    assert [r.key for r in figures.compute(h.cw1, JULY, Grouping.GRID, Options(), region_code=G2).rows] == [
        G2
    ]
    only_gw4 = figures.compute(h.gw4, JULY, Grouping.DISTRICT, Options())
    assert only_gw4.total.reported == 1 and only_gw4.total.closed == 2
    assert [value for value, _label in figures.groupings_for(h.cw1)] == [
        "community",
        "grid",
        "department",
        "worker",
    ]
    assert not figures.can_view(h.resident)
    assert figures.compute(h.resident, JULY, Grouping.DISTRICT, Options()).rows == []


def test_periods():
    assert Period.parse("2026Q3").start == datetime(2026, 7, 1, tzinfo=TZ)
    assert Period.parse("2026Q3").end == datetime(2026, 10, 1, tzinfo=TZ)
    assert Period.parse("2026").end == datetime(2027, 1, 1, tzinfo=TZ)
    assert Period.parse("2026-02").end == datetime(2026, 3, 1, tzinfo=TZ)
    days = Period.parse("2026-07-01~2026-07-02")
    assert (days.start, days.end) == (datetime(2026, 7, 1, tzinfo=TZ), datetime(2026, 7, 3, tzinfo=TZ))
    for bad in ("July", "2026-13", "2026-07-05~2026-07-01", "2026Q5"):
        with pytest.raises(ValidationError):
            Period.parse(bad)
    with pytest.raises(ValidationError):
        Options(base="everything").checked()


def test_half_month_period_and_boundaries(h):
    """Steps exactly at the end of the period belong to the next one."""
    first_half = figures.compute(h.admin, Period.parse("2026-07-01~2026-07-05"), Grouping.DISTRICT, Options())
    # In 1–5 July: reports E, F, A; J done (1st) and closed (2nd), A closed on the 5th; E suspended (4th).
    (row,) = first_half.rows
    assert (row.reported, row.closed, row.suspended, row.handled) == (3, 2, 1, 2)
    end = Period(at(1, 9), at(2, 11), "x")  # J's close is at 2 July 11:00, the end: not counted
    (row,) = figures.compute(h.admin, end, Grouping.DISTRICT, Options()).rows
    assert row.closed == 0 and row.handled == 1


def test_settings_change_the_default(h, settings):
    settings.LINLI_GRID_FIGURES = {
        "base": Base.REPORTED,
        "exclude_suspended": False,
        "exclude_cancelled": False,
    }
    (row,) = figures.compute(h.admin, JULY, Grouping.DISTRICT).rows
    assert row.due == 10 and row.closing_rate == 0.6
    assert figures.Options.default().formulas()["closing_rate"] == "结案率 = 结案数 / 应结案数"
    assert Options().formulas()["due"] == "应结案数 = 立案数 − 缓办数 − 立案后作废数"


# --- The page and the export --------------------------------------------------------------------------------


def test_page_shows_the_figures_and_their_definitions(h, client):
    client.force_login(h.east)
    response = client.get(reverse("grid_figures:figures"), {"period": "2026-07", "grouping": "community"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "东一社区" in body and "东二社区" in body and "西一村" not in body
    assert "60.0 %" in body  # 东一社区: closing rate 3 / 5
    assert "应结案数 = 立案数 − 缓办数 − 立案后作废数" in body
    assert "结案率 = 结案数 / 应结案数" in body
    # Unticking both exclusions changes the denominator and the rate: 3 / 7.
    response = client.get(
        reverse("grid_figures:figures"), {"period": "2026-07", "grouping": "community", "base": "registered"}
    )
    assert "42.9 %" in response.content.decode()


def test_page_refuses_other_regions_and_residents(h, client):
    client.force_login(h.cw1)
    assert client.get(reverse("grid_figures:figures"), {"region": C12}).status_code == 404
    assert client.get(reverse("grid_figures:export"), {"region": WEST}).status_code == 404
    response = client.get(reverse("grid_figures:figures"), {"period": "nonsense"})
    assert response.status_code == 200 and "2026-07-01~2026-07-15" in response.content.decode()
    client.force_login(h.resident)
    assert client.get(reverse("grid_figures:figures")).status_code == 404
    client.logout()
    assert client.get(reverse("grid_figures:figures")).status_code == 302


def test_export_is_a_workbook_with_chinese_headers_and_is_audited(h, client):
    client.force_login(h.admin)
    response = client.get(reverse("grid_figures:export"), {"period": "2026-07", "grouping": "street"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(BytesIO(response.content))
    assert book.sheetnames == ["绩效统计", "口径说明"]
    sheet = book["绩效统计"]
    header = [cell.value for cell in sheet[3]]
    assert header[:4] == ["名称", "代码", "上报数", "立案数"]
    assert {"结案数", "按期结案数", "返工数", "应结案数", "结案率", "按期结案率", "返工率"} <= set(header)
    rows = {r[1]: dict(zip(header, r, strict=True)) for r in sheet.iter_rows(min_row=4, values_only=True)}
    east = rows[EAST]
    assert east["名称"] == "东街道"
    assert (east["上报数"], east["立案数"], east["结案数"], east["按期结案数"], east["应结案数"]) == (
        9,
        8,
        4,
        3,
        6,
    )
    assert east["结案率"] == pytest.approx(4 / 6) and east["按期结案率"] == pytest.approx(0.5)
    assert sheet.cell(row=4, column=header.index("结案率") + 1).number_format == "0.0%"
    total = rows[None]
    assert total["上报数"] == 10 and total["结案率"] == pytest.approx(6 / 7)
    notes = [row for row in book["口径说明"].iter_rows(values_only=True)]
    terms = [row[0] for row in notes]
    assert "按期结案率" in terms and "应结案数" in terms
    assert any(
        row[2] == "按期结案率 = 按期结案数 / 应结案数 (立案数 − 缓办数 − 立案后作废数)" for row in notes
    )
    entry = AuditLog.objects.filter(action=AuditAction.GRID_FIGURES_EXPORTED).get()
    assert entry.actor == h.admin
    assert entry.detail["period"] == "2026-07" and entry.detail["grouping"] == "street"
    assert entry.detail["options"]["base"] == "registered"


def test_export_of_a_community_worker_holds_only_their_community(h, client):
    client.force_login(h.cw1)
    response = client.get(reverse("grid_figures:export"), {"period": "2026-07", "grouping": "grid"})
    sheet = load_workbook(BytesIO(response.content))["绩效统计"]
    codes = [row[1] for row in sheet.iter_rows(min_row=4, values_only=True)]
    assert codes == [G1, G2, None]
    assert AuditLog.objects.filter(action=AuditAction.GRID_FIGURES_EXPORTED, region_code=C11).count() == 1


def test_empty_period(h):
    result = figures.compute(h.admin, Period.parse("2025"), Grouping.STREET, Options())
    assert result.rows == [] and result.total.closing_rate is None and result.total.average_hours is None


def test_event_states_as_built(h):
    """The hand-built rows are the states the table says (guards the fixture itself)."""
    assert Event.objects.filter(state=State.CLOSED).count() == 7  # L closed in August
    assert Event.objects.get(pk=h.e.pk).state == State.SUSPENDED
    assert Transition.objects.count() == 58


def test_ended_months_come_from_the_cache_and_agree_with_a_live_count(h, monkeypatch):
    """July has ended (now is 1 September): its tallies are counted once, then read from the cache."""
    queries = []
    real = figures._query_tallies
    monkeypatch.setattr(figures, "_query_tallies", lambda steps, dim: queries.append(dim) or real(steps, dim))
    first = figures.compute(h.admin, JULY, Grouping.STREET, Options())
    assert queries == ["region"]
    # Another user, another grouping of regions: the same cached month, folded to their scope.
    again = figures.compute(h.cw1, JULY, Grouping.GRID, Options())
    assert queries == ["region"]
    assert [row.key for row in again.rows] == [G1, G2]
    assert first.total.counts == COUNTS_JULY
    # The same days as a range that is not a whole month are counted live, with the same result.
    live = figures.compute(h.admin, Period.parse("2026-06-30~2026-07-31"), Grouping.STREET, Options())
    assert queries == ["region", "region"]  # 30 June counted live, July from the cache
    assert live.total.counts == COUNTS_JULY
    # In the middle of July the month has not ended: its ended days are cached one by one, today is live.
    monkeypatch.setattr(clock, "now", lambda: at(20, 12))
    cache.clear()
    queries.clear()
    figures.compute(h.admin, JULY, Grouping.STREET, Options())
    assert len(queries) == 19 + 1  # 1–19 July, then the 20th onwards live
    middle = figures.compute(h.admin, JULY, Grouping.STREET, Options())
    assert len(queries) == 21
    # Up to now: A, B, C, D, E, F, G, H, I and L (reported on the 20th at 09:00) are reported.
    assert middle.total.reported == 10 and middle.total.closed == 6
    # After forgetting, everything is counted afresh.
    figures.forget_tallies()
    figures.compute(h.admin, JULY, Grouping.STREET, Options())
    assert len(queries) == 41


def test_a_period_in_chunks():
    now = at(15, 12, month=9)

    def kinds(text):
        return [
            (c.kind, f"{c.start:%m-%d}", f"{c.end:%m-%d %H}") for c in figures.chunks(Period.parse(text), now)
        ]

    year = kinds("2026")
    assert year[:8] == [("month", f"{m:02d}-01", f"{m + 1:02d}-01 00") for m in range(1, 9)]
    assert year[8:22] == [("day", f"09-{d:02d}", f"09-{d + 1:02d} 00") for d in range(1, 15)]
    assert year[22:] == [("live", "09-15", "01-01 00")]
    assert kinds("2026-02-10~2026-04-20") == [
        *[("day", f"02-{d:02d}", f"{'03-01' if d == 28 else f'02-{d + 1:02d}'} 00") for d in range(10, 29)],
        ("month", "03-01", "04-01 00"),
        *[("day", f"04-{d:02d}", f"04-{d + 1:02d} 00") for d in range(1, 21)],
    ]
    odd = figures.chunks(Period(at(3, 14, month=5), at(5, 10, month=5), "x"), now)
    assert [(c.kind, c.start, c.end) for c in odd] == [
        ("live", at(3, 14, month=5), at(4, 0, month=5)),
        ("day", at(4, 0, month=5), at(5, 0, month=5)),
        ("live", at(5, 0, month=5), at(5, 10, month=5)),
    ]


def test_warm_counts_ended_months_ahead_of_the_first_request(h, monkeypatch):
    assert figures.warm(months=3) == 3 * 3  # June, July and August (ended), in three dimensions
    queries = []
    real = figures._query_tallies
    monkeypatch.setattr(figures, "_query_tallies", lambda steps, dim: queries.append(dim) or real(steps, dim))
    for grouping in (Grouping.STREET, Grouping.DEPARTMENT, Grouping.WORKER):
        figures.compute(h.admin, JULY, grouping, Options())
    assert queries == []
    worker = figures.compute(h.admin, JULY, Grouping.WORKER, Options())
    assert worker.total.counts == COUNTS_JULY
