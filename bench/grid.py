"""Grid benchmark on PostgreSQL: a year of district history, then the figures, a street's queue, locating.

Writes ``docs/benchmarks/grid.md``. Creates its own database (dropped first; kept afterwards with ``--keep``,
and reused without regenerating by ``--reuse``) and its own keys in a temporary directory.

    .venv/bin/python bench/grid.py [--database-url postgres://postgres@127.0.0.1:5432/linli_gbench]

Targets (issue 4): with one year of district history (≥ 1,000,000 events, ≥ 6,000,000 transitions) the
district's figures for a year ≤ 2 s; a street's queue page p95 ≤ 150 ms; locating the grid of a point ≤ 1 ms
with 3,000 grids.

The history is generated here, not through the services (a million events through ``take_step`` would take
hours): per event a plausible timeline (report, verification, registration, dispatch, acceptance, handling,
inspection with 8 % rework, closing, evaluation; self-handling, cancellations, merges, suspensions,
extensions, escalations), with the same denormalised facts the services write (region, category and
department at the step, ``on_time``, ``duration_seconds``), cut at "now": steps planned after now are not
written, so recent and slow cases are open in the state their last step left them, with their clocks. Rows
go in with ``COPY``; the two tables' secondary indexes are dropped during the load and rebuilt after it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIGURES_TARGET_S, QUEUE_TARGET_MS, LOCATE_TARGET_MS = 2.0, 150.0, 1.0
HOUR = 3600.0


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    parts = urlsplit(url)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}"')


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    q = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else ordered * 99
    return {"p50": q[49], "p95": q[94], "max": ordered[-1], "n": len(ordered)}


# --- The history --------------------------------------------------------------------------------------------


class History:
    """Generates events and their steps for every grid of the district, written with COPY in batches."""

    SOURCES = [("grid_worker", 40), ("resident", 35), ("hotline", 15), ("city_centre", 5), ("iot", 5)]
    VERIFIED = {"resident", "hotline", "city_centre", "iot", "open311"}

    def __init__(self, rng: random.Random, start: datetime, now: datetime):
        from linli.core.models import Region, Role, User
        from linli.grid.models import Category

        self.rng = rng
        self.start, self.now = start, now
        self.span = (now - start).total_seconds()
        regions = Region.objects.filter(code__startswith="370198").values_list(
            "code", "level", "centre_lon", "centre_lat"
        )
        self.grids = sorted((c, lon, lat) for c, level, lon, lat in regions if level == "grid")
        users = User.objects.filter(is_demo=True).values_list("pk", "role", "username", "scopes__region_id")
        self.by_scope: dict[tuple[str, str], list[tuple[int, str]]] = {}
        self.residents: list[tuple[int, str]] = []
        for pk, role, username, scope in users:
            if role == Role.RESIDENT:
                self.residents.append((pk, username))
            elif scope:
                self.by_scope.setdefault((role, scope), []).append((pk, username))
        self.district_admin = self.by_scope[(Role.DISTRICT_ADMIN, "370198")][0]
        categories = Category.objects.filter(parent__isnull=False, active=True).select_related("department")
        self.categories = [(c.pk, c.name, c.department_id) for c in categories]
        from linli.grid.models import Department

        self.members: dict[int, list[tuple[int, str]]] = {}
        for department in Department.objects.prefetch_related("members"):
            self.members[department.pk] = [(u.pk, u.username) for u in department.members.all()]
        self.Role = Role

    def person(self, role: str, code: str):
        people = self.by_scope.get((role, code))
        return self.rng.choice(people) if people else self.district_admin

    def generate(self, events: int, first_event: int, first_step: int, write, progress=None):
        """Write ``events`` events (ids from ``first_event``) and their steps; returns the step count."""
        rng = self.rng
        event_rows, step_rows = [], []
        event_id, step_id = first_event, first_step
        gaps = sorted(rng.random() * self.span for _ in range(events))
        batch = 20_000
        for n, offset in enumerate(gaps, start=1):
            created = self.start + timedelta(seconds=offset)
            created = self._office_time(created)
            if created >= self.now:
                created = self.now - timedelta(minutes=rng.randint(1, 600))
            grid, lon, lat = self.grids[int(rng.random() ** 1.3 * len(self.grids))]
            event, steps = self._event(event_id, created, grid, lon, lat)
            event_rows.append(event)
            for step in steps:
                step_rows.append((step_id, *step))
                step_id += 1
            event_id += 1
            if len(event_rows) >= batch or n == events:
                write("event", event_rows)
                write("transition", step_rows)
                event_rows, step_rows = [], []
                if progress:
                    progress(n, step_id - first_step)
        return step_id - first_step

    def _office_time(self, moment: datetime) -> datetime:
        """Most reports come in the daytime: fold night-time moments into 08:00–20:00 (local UTC+8)."""
        local_hour = (moment.hour + 8) % 24
        if 8 <= local_hour < 20 or self.rng.random() < 0.08:
            return moment
        return moment + timedelta(hours=(8 - local_hour) % 24 + self.rng.random() * 10)

    def _event(self, pk: int, created: datetime, grid: str, lon: float, lat: float):
        rng, R = self.rng, self.Role
        community = grid[:12]
        category, title, category_department = rng.choice(self.categories)
        source = _weighted(rng, self.SOURCES)
        urgency = _weighted(rng, [("normal", 92), ("urgent", 7), ("major", 1)])
        worker = self.person(R.GRID_WORKER, grid)
        supervisor = self.person(R.COMMUNITY_WORKER, community)
        resident = rng.choice(self.residents) if source == "resident" else None
        reporter = resident if resident else (worker if source == "grid_worker" else None)
        steps: list[tuple] = []
        ctx = {"department": None, "assignee": worker[0], "t": created}

        def step(action, from_state, to_state, actor, delay_hours=0.0, on_time=None, duration=None, note=""):
            ctx["t"] = ctx["t"] + timedelta(seconds=delay_hours * HOUR)
            steps.append(
                (
                    ctx["t"],
                    action,
                    from_state,
                    to_state,
                    actor[0] if actor else None,
                    actor[1] if actor else "",
                    note,
                    ctx["department"],
                    on_time,
                    duration,
                )
            )

        state = "verifying" if source in self.VERIFIED else "reported"
        step("report", "", state, reporter)
        if state == "verifying":
            step("verify", "verifying", "reported", worker, rng.expovariate(1 / 1.5))
            state = "reported"
        fate = rng.random()
        handle_limit = {"normal": 72.0, "urgent": 4.0, "major": 2.0}[urgency]
        facts = {"dispatched": None, "handle_due": None, "closed": None, "on_time": None, "rework": 0}
        facts["extensions"] = 0
        if fate < 0.05:
            canceller = rng.choice([worker, supervisor])
            step("cancel", state, "cancelled", canceller, rng.expovariate(1 / 2), note="不符合立案条件")
            state = "cancelled"
        elif fate < 0.07:
            step("merge", state, "cancelled", supervisor, rng.expovariate(1 / 3), note="重复上报")
            state = "cancelled"
        elif source == "grid_worker" and rng.random() < 0.35:
            step("self_handle", state, "self_handled", worker, rng.expovariate(1 / 0.7), on_time=True)
            step("approve_self", "self_handled", "closed", supervisor, rng.expovariate(1 / 6), on_time=True)
            facts["closed"], facts["on_time"] = ctx["t"], True
            steps[-1] = steps[-1][:9] + (int((ctx["t"] - created).total_seconds()),)
            state = "closed"
        else:
            step("register", state, "registered", supervisor, rng.expovariate(1 / 1.0))
            department = category_department if rng.random() < 0.6 else None
            members = self.members.get(department) if department else None
            handler = rng.choice(members) if members else worker
            ctx["department"] = department
            ctx["assignee"] = handler[0]
            step("dispatch", "registered", "dispatched", supervisor, rng.expovariate(1 / 0.8))
            dispatched = facts["dispatched"] = ctx["t"]
            due = facts["handle_due"] = dispatched + timedelta(hours=handle_limit)
            step("accept", "dispatched", "in_progress", handler, rng.expovariate(1 / 1.2))
            slow = rng.random()
            # Handling takes a fraction of the limit mostly, longer now and then, very long for a few.
            work = handle_limit * (rng.betavariate(2, 4) * 1.3 if slow < 0.86 else rng.uniform(1.0, 6.0))
            if slow > 0.995:
                work = rng.uniform(300, 2000)
            if rng.random() < 0.03:
                step("request_extension", "in_progress", "in_progress", handler, work * 0.3)
                step("approve_extension", "in_progress", "in_progress", supervisor, rng.expovariate(1 / 2))
                due = facts["handle_due"] = due + timedelta(hours=24)
                facts["extensions"] = 1
                work *= 0.6
            if rng.random() < 0.012:
                step("request_suspension", "in_progress", "in_progress", handler, work * 0.2)
                step("approve_suspension", "in_progress", "suspended", supervisor, rng.expovariate(1 / 3))
                pause = rng.uniform(24 * 7, 24 * 90)
                step("resume", "suspended", "in_progress", supervisor, pause)
                due = facts["handle_due"] = due + timedelta(hours=pause)
                work *= 0.5
            if ctx["t"] + timedelta(hours=work) > due and rng.random() < 0.5:
                late = max((due - ctx["t"]).total_seconds() / HOUR + 4, 0.1)
                step("escalate", "in_progress", "in_progress", None, late)
            state = "in_progress"
            for attempt in range(3):
                step("report_done", "in_progress", "handled", handler, max(work, 0.2), on_time=None)
                on_time = ctx["t"] <= due
                steps[-1] = steps[-1][:8] + (on_time, None)
                if attempt < 2 and rng.random() < 0.08:
                    wait = rng.expovariate(1 / 3)
                    step("inspect_fail", "handled", "in_progress", worker, wait, note="未整改到位")
                    facts["rework"] += 1
                    due = facts["handle_due"] = ctx["t"] + timedelta(hours=handle_limit)
                    work = handle_limit * rng.betavariate(2, 5)
                    continue
                step("inspect_ok", "handled", "closed", worker, rng.expovariate(1 / 4), on_time=on_time)
                steps[-1] = steps[-1][:9] + (int((ctx["t"] - dispatched).total_seconds()),)
                facts["closed"], facts["on_time"] = ctx["t"], on_time
                state = "closed"
                break
        if state == "closed" and rng.random() < 0.45:
            rater = resident or supervisor
            step("evaluate", "closed", "evaluated", rater, rng.expovariate(1 / 20))
            state = "evaluated"

        # Cut at now: what is planned later has not happened yet.
        kept = [s for s in steps if s[0] < self.now]
        last = kept[-1]
        state, at = last[3], last[0]
        closed = state in ("closed", "evaluated")
        open_ = state not in ("closed", "evaluated", "cancelled")
        dispatched_at = (
            facts["dispatched"] if facts["dispatched"] and facts["dispatched"] < self.now else None
        )
        handle_due = facts["handle_due"] if dispatched_at else None
        stage, due_at, warn_at, remaining = "", None, None, None
        if open_:
            stage_hours = {
                "verifying": ("verify", 2.0),
                "reported": ("register", 1.0),
                "registered": ("dispatch", 1.0),
                "dispatched": ("accept", 1.0),
                "handled": ("inspect", 24.0),
                "self_handled": ("inspect", 24.0),
            }
            if state == "in_progress":
                stage, due_at = "handle", handle_due
                warn_at = due_at - timedelta(hours=handle_limit * 0.2)
            elif state == "suspended":
                remaining = 3600 * 8
            else:
                stage, hours = stage_hours[state]
                due_at = at + timedelta(hours=hours)
                warn_at = at + timedelta(hours=hours * 0.8)
        satisfaction = rng.choice([3, 4, 4, 5, 5, 5]) if state == "evaluated" else None
        assignee = ctx["assignee"] if state not in ("cancelled",) else worker[0]
        department = ctx["department"] if dispatched_at else None
        rows = [
            (
                pk,
                at_,
                action,
                from_state,
                to_state,
                actor,
                actor_name,
                note,
                lon,
                lat,
                grid,
                category,
                department_at,
                on_time,
                duration,
            )
            for (
                at_,
                action,
                from_state,
                to_state,
                actor,
                actor_name,
                note,
                department_at,
                on_time,
                duration,
            ) in (kept)
        ]
        local = created + timedelta(hours=8)
        event = {
            "id": pk,
            "number": f"{local:%Y%m%d}{pk:08d}",
            "title": title,
            "category_id": category,
            "urgency": urgency,
            "state": state,
            "source": source,
            "region_id": grid,
            "region_code": grid,
            "lon": lon + (self.rng.random() - 0.5) * 0.001,
            "lat": lat + (self.rng.random() - 0.5) * 0.001,
            "reporter_id": reporter[0] if reporter else None,
            "assignee_id": assignee,
            "department_id": department,
            "stage": stage,
            "stage_started_at": at if stage else None,
            "warn_at": warn_at,
            "due_at": due_at,
            "remaining_seconds": remaining,
            "warned": bool(warn_at and warn_at < self.now),
            "overdue_notified": bool(due_at and due_at < self.now),
            "dispatched_at": dispatched_at,
            "handle_due_at": handle_due,
            "rework_count": facts["rework"],
            "extension_count": facts["extensions"],
            "satisfaction": satisfaction,
            "closed_at": facts["closed"] if closed else None,
            "closed_on_time": facts["on_time"] if closed else None,
            "created_at": created,
            "updated_at": at,
        }
        return event, rows


def _weighted(rng, pairs):
    total = sum(w for _v, w in pairs)
    pick = rng.random() * total
    for value, weight in pairs:
        pick -= weight
        if pick < 0:
            return value
    return pairs[-1][0]


def load(events: int, seed: int) -> dict:
    """Generate and COPY the history; returns sizes and timings."""
    from django.core.management.color import no_style
    from django.db import connection, transaction

    from linli.core import clock
    from linli.grid.models import Event, Transition

    now = clock.now().astimezone(UTC).replace(microsecond=0)
    start = now - timedelta(days=365)
    quote = connection.ops.quote_name
    event_fields = [f for f in Event._meta.concrete_fields]
    step_columns = [
        "id",
        "event_id",
        "at",
        "action",
        "from_state",
        "to_state",
        "actor_id",
        "actor_name",
        "note",
        "lon",
        "lat",
        "region_code",
        "category_id_at",
        "department_id_at",
        "on_time",
        "duration_seconds",
    ]
    defaults = {f.attname: (f.get_default() if not f.null else None) for f in event_fields}
    defaults.update({"description": "", "upstream_system": "", "upstream_id": "", "address": ""})
    defaults.update({"reporter_name": "", "reporter_phone": "", "anonymous": False, "escalation_level": ""})
    event_columns = [f.attname for f in event_fields]
    tables = {"event": Event._meta.db_table, "transition": Transition._meta.db_table}
    copy_sql = {
        "event": f"COPY {quote(tables['event'])} ({', '.join(quote(c) for c in event_columns)}) FROM STDIN",
        "transition": f"COPY {quote(tables['transition'])} ({', '.join(quote(c) for c in step_columns)}) "
        "FROM STDIN",
    }

    def write(kind, rows):
        with connection.cursor() as cursor, cursor.cursor.copy(copy_sql[kind]) as copy:
            if kind == "event":
                for row in rows:
                    copy.write_row([row.get(c, defaults[c]) for c in event_columns])
            else:
                for row in rows:
                    copy.write_row(row)

    history = History(random.Random(seed), start, now)
    first_event = (Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    first_step = (Transition.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    timings = {}
    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN (%s, %s) "
            "AND indexname NOT LIKE '%%_pkey' AND indexdef NOT LIKE 'CREATE UNIQUE%%'",
            [tables["event"], tables["transition"]],
        )
        indexes = cursor.fetchall()
        for name, _definition in indexes:
            cursor.execute(f"DROP INDEX {quote(name)}")
        # Foreign keys are checked by triggers per row; the generator's keys are right by construction.
        cursor.execute("SET LOCAL session_replication_role = replica")

        def progress(done, steps):
            if done % 100_000 < 20_000:
                print(f"  {done:,} events, {steps:,} steps, {time.monotonic() - started:.0f} s", flush=True)

        steps = history.generate(events, first_event, first_step, write, progress)
        timings["generate_and_copy"] = time.monotonic() - started
        mark = time.monotonic()
        for _name, definition in indexes:
            cursor.execute(definition)
        timings["indexes"] = time.monotonic() - mark
        cursor.execute("SET LOCAL session_replication_role = origin")
        for sql in connection.ops.sequence_reset_sql(no_style(), [Event, Transition]):
            cursor.execute(sql)
    mark = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {quote(tables['event'])}")
        cursor.execute(f"VACUUM ANALYZE {quote(tables['transition'])}")
    timings["vacuum_analyze"] = time.monotonic() - mark
    timings["total"] = time.monotonic() - started
    return {"events": events, "steps": steps, "start": start, "now": now, "timings": timings}


# --- Measurements -------------------------------------------------------------------------------------------


def measure_figures(history: dict, repeat: int) -> dict:
    """The district administrator's figures, per grouping: cold (no cached month) and warm."""
    from django.core.cache import cache

    from linli.core.models import User
    from linli.grid import figures

    admin = User.objects.get(username="admin")
    start, now = history["start"], history["now"]
    periods = {
        "365 days": figures.Period(start, now, f"{start:%Y-%m-%d}~{now:%Y-%m-%d}"),
        "calendar year": figures.Period.parse(f"{timezone_year(now)}"),
    }
    results = {}
    plans = [("365 days", grouping, figures.Options()) for grouping in figures.Grouping.values]
    plans.append(("365 days", figures.Grouping.STREET, figures.Options(base=figures.Base.CLOSED_AND_OVERDUE)))
    plans.append(("calendar year", figures.Grouping.STREET, figures.Options()))
    for period_name, grouping, options in plans:
        period = periods[period_name]
        label = f"{grouping}, {period_name}"
        if options.base != figures.Base.REGISTERED:
            label += f", base {options.base}"
        cache.clear()
        started = time.perf_counter()
        figures.compute(admin, period, grouping, options)
        cold = time.perf_counter() - started
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            result = figures.compute(admin, period, grouping, options)
            samples.append(time.perf_counter() - started)
        results[label] = {
            **percentiles(samples),
            "cold": cold,
            "rows": len(result.rows),
            "total": result.total,
            "period": period.label,
        }
        print(
            f"  figures by {label}: cold {cold:.2f} s, warm {samples} s, {len(result.rows)} rows", flush=True
        )
    return results


def timezone_year(moment) -> int:
    from django.utils import timezone

    return timezone.localtime(moment).year


def explain_figures(history: dict) -> str:
    """The plan PostgreSQL runs for one month of the district's tallies (what a cold month costs)."""
    from django.db import connection

    from linli.grid import figures
    from linli.grid.models import Transition

    month = figures._month_start(history["now"] - timedelta(days=40))
    steps = Transition.objects.filter(at__gte=month, at__lt=figures._next_month(month))
    sql, params = figures.tally_queryset(steps, "region").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET jit = off")
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET jit")
    return plan


def measure_queue(samples: int, rng: random.Random) -> dict:
    """A street officer's queue: the real page if it exists, else its query; plus the query alone."""
    from django.conf import settings
    from django.test import Client
    from django.urls import NoReverseMatch, reverse

    from linli.core.models import Role, User
    from linli.grid.models import OPEN_STATES, Event

    officers = list(User.objects.filter(role=Role.STREET_OFFICER, is_demo=True).order_by("username"))
    results = {}
    try:
        from linli.grid import queries
    except ImportError:
        queries = None

    def plain(user):
        rows = Event.objects.visible_to(user).filter(state__in=OPEN_STATES).order_by("due_at", "-created_at")
        page = list(rows.select_related("category", "assignee")[:50])
        total = rows.count()
        return page, total

    surfaces = [("query: open events of the street by due time, first 50 + count", plain)]
    if queries is not None:

        def real(user):
            return queries.queue_page(user, queries.QueueFilters(), 1, count=True)

        surfaces.append(("`queries.queue_page(user, QueueFilters(), count=True)`", real))
    for label, function in surfaces:
        function(officers[0])
        timings = []
        for i in range(samples):
            user = officers[i % len(officers)]
            started = time.perf_counter()
            function(user)
            timings.append((time.perf_counter() - started) * 1000)
        results[label] = percentiles(timings)
    open_counts = {
        o.username: Event.objects.visible_to(o).filter(state__in=OPEN_STATES).count() for o in officers[:3]
    }
    results["_open"] = open_counts
    try:
        url = reverse("grid:queue")
    except NoReverseMatch:
        url = None
    if url:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
        clients = []
        for officer in officers:
            client = Client()
            client.force_login(officer)
            clients.append(client)
        response = clients[0].get(url)
        if response.status_code == 200:
            timings = []
            for i in range(samples):
                started = time.perf_counter()
                response = clients[i % len(clients)].get(url)
                timings.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
            results[f"page: GET {url} (Django test client, whole response)"] = percentiles(timings)
        else:
            results["_page_status"] = response.status_code
    return results


def measure_locate(samples: int, rng: random.Random) -> dict:
    from linli.core.demo import BOUNDS
    from linli.core.models import Region
    from linli.grid import locate

    locate.forget_index()
    started = time.perf_counter()
    locate.grid_index()
    build = time.perf_counter() - started
    grids = Region.objects.filter(level="grid", code__startswith="370198").count()
    west, south, east, north = BOUNDS
    points = [(rng.uniform(west, east), rng.uniform(south, north)) for _ in range(samples)]
    timings, found = [], 0
    for lon, lat in points:
        started = time.perf_counter()
        code = locate.locate_grid(lon, lat)
        timings.append((time.perf_counter() - started) * 1000)
        found += code is not None
    return {"build_s": build, "grids": grids, "found": found, **percentiles(timings)}


def sizes() -> dict:
    from django.db import connection

    from linli.grid.models import OPEN_STATES, Event, Transition

    out = {}
    with connection.cursor() as cursor:
        for model in (Event, Transition):
            table = model._meta.db_table
            cursor.execute(
                "SELECT pg_total_relation_size(%s), pg_relation_size(%s), pg_indexes_size(%s)",
                [table, table, table],
            )
            out[table] = cursor.fetchone()
    out["events"] = Event.objects.count()
    out["steps"] = Transition.objects.count()
    out["open"] = Event.objects.filter(state__in=OPEN_STATES).count()
    out["states"] = dict(
        Event.objects.values_list("state").annotate(n=__import__("django.db.models").db.models.Count("id"))
    )
    return out


def run(args) -> str:
    os.environ["DATABASE_URL"] = args.database_url
    keys = args.keys or tempfile.mkdtemp(prefix="linli-gbench-keys-")
    os.makedirs(keys, exist_ok=True)
    os.environ["LINLI_KEY_FILE"] = f"{keys}/keys.json"
    os.environ["LINLI_AUDIT_KEY_FILE"] = f"{keys}/audit_key"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "linli.settings")
    if not args.reuse:
        recreate_database(args.database_url)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from linli.core import demo

    rng = random.Random(args.seed)
    built = {}
    if not args.reuse:
        call_command("migrate", verbosity=0)
        # Only the grid's own demo part (departments, a few service-made events); the registry's million
        # people are not needed here.
        demo.EXTENSIONS[:] = [e for e in demo.EXTENSIONS if e.__module__ == "linli.grid.demo"]
        started = time.monotonic()
        result = demo.build("district")
        built["demo_s"] = time.monotonic() - started
        built["demo_lines"] = result.extension_lines
        print(f"demo district built in {built['demo_s']:.1f} s: {result.extension_lines}", flush=True)
        history = load(args.events, args.seed)
        built.update(history)
        print(f"history: {history}", flush=True)
        saved = {**built, "start": built["start"].isoformat(), "now": built["now"].isoformat()}
        (Path(keys) / "history.json").write_text(json.dumps(saved, default=str))
    else:
        built = json.loads((Path(keys) / "history.json").read_text())
        built["start"] = datetime.fromisoformat(built["start"])
        built["now"] = datetime.fromisoformat(built["now"])
    parts = set(args.only or ["figures", "queue", "locate"])
    measured = {"sizes": sizes()}
    if "figures" in parts:
        measured["figures"] = measure_figures(built, args.repeat)
        measured["plan"] = explain_figures(built)
    if "queue" in parts:
        measured["queue"] = measure_queue(args.samples, rng)
    if "locate" in parts:
        measured["locate"] = measure_locate(args.points, rng)
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        measured["pg"] = cursor.fetchone()[0].split(" on ")[0]
        cursor.execute("SHOW shared_buffers")
        measured["shared_buffers"] = cursor.fetchone()[0]
        cursor.execute("SHOW max_parallel_workers_per_gather")
        measured["parallel"] = cursor.fetchone()[0]
    if not args.keep:
        drop_database(args.database_url)
    return report(built, measured, args)


def shown_arguments() -> list[str]:
    """The command line without the notes (they are printed in the report anyway)."""
    shown, skip = [], False
    for argument in sys.argv[1:]:
        if skip:
            skip = False
        elif argument == "--note":
            skip = True
        else:
            shown.append(argument)
    return shown


def ok(value: float, target: float) -> str:
    return "✅" if value <= target else "❌"


def report(built: dict, m: dict, args) -> str:
    def mb(n: int) -> str:
        return f"{n / 1024 / 1024:,.0f} MB"

    s = m["sizes"]
    out = [
        "# Grid benchmark",
        "",
        f"Generated by `{' '.join(['.venv/bin/python', 'bench/grid.py', *shown_arguments()])}` "
        f"(`make bench-grid` runs it with no arguments) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}, "
        f"{m['pg']} on the same machine, default server settings (shared_buffers {m['shared_buffers']}, "
        f"max_parallel_workers_per_gather {m['parallel']}). Other helpers' test suites shared the two cores "
        "while it ran, so the numbers are noisy and on the slow side.",
        "",
        "## The data",
        "",
        "The district is `linli demo --scale district` (12 streets and towns, 300 communities and villages, "
        "3,000 grids and their demo staff) with the grid app's demo part (departments, a few events made by "
        "the services). The year of history is generated by `bench/grid.py` itself: per event a plausible "
        "timeline (see the module's docstring), cut at the moment of generation so recent and slow cases are "
        "open with their clocks.",
        "",
        f"- events: {s['events']:,} (open now: {s['open']:,}); steps (transitions): {s['steps']:,}",
        "- final states: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(s["states"].items(), key=lambda x: -x[1])),
    ]
    for table, (total, heap, index) in ((k, v) for k, v in s.items() if k.startswith("grid_")):
        out.append(f"- `{table}`: {mb(total)} in all, table {mb(heap)}, indexes {mb(index)}")
    if "timings" in built:
        t = built["timings"]
        out += [
            "",
            "## Generation",
            "",
            "| part | seconds |",
            "|---|---:|",
            f"| demo district (regions, accounts, grid demo) | {built['demo_s']:.1f} |",
            f"| history: generate + COPY ({built['events']:,} events, {built['steps']:,} steps) | "
            f"{t['generate_and_copy']:.1f} |",
            f"| rebuild the secondary indexes | {t['indexes']:.1f} |",
            f"| VACUUM ANALYZE | {t['vacuum_analyze']:.1f} |",
            f"| **history in all** | **{t['total']:.1f}** |",
        ]
    if "figures" in m:
        out += [
            "",
            f"## Figures for a year ({args.repeat} warm runs each after one cold run, seconds; the district "
            "administrator's scope)",
            "",
            "`linli.grid.figures.compute(admin, period, grouping, options)`. *Cold*: nothing cached, so "
            "every month is one aggregate query over that month's transitions (grouped by grid code and "
            "action, counts with FILTER). *Warm*: the ended calendar months come from the cache (their steps "
            "never change); only the running month and partial months are counted live. The "
            "`closed_and_overdue` base adds one aggregate over the events.",
            "",
            "| grouping, period | rows | cold | warm p50 | warm max | target ≤ 2 s (warm) |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for label, r in m["figures"].items():
            out.append(
                f"| {label} ({r['period']}) | {r['rows']:,} | {r['cold']:.2f} | {r['p50']:.2f} | "
                f"{r['max']:.2f} | {ok(r['max'], FIGURES_TARGET_S)} |"
            )
        total = next(iter(m["figures"].values()))["total"]
        pct = lambda v: "—" if v is None else f"{v * 100:.1f} %"  # noqa: E731
        out += [
            "",
            f"District totals: reported {total.reported:,}, registered {total.registered:,}, closed "
            f"{total.closed:,}, closed on time {total.closed_on_time:,}, rework {total.rework:,}; "
            f"closing rate {pct(total.closing_rate)}, on-time closing rate {pct(total.on_time_rate)}, "
            f"rework rate {pct(total.rework_rate)}, average handling time {total.average_hours:.1f} h.",
            "",
            "<details><summary>PostgreSQL plan of one month of the district's tallies (a cold month)"
            "</summary>",
            "",
            "```",
            m["plan"],
            "```",
            "",
            "</details>",
        ]
    if "queue" in m:
        out += [
            "",
            f"## A street's queue ({args.samples} loads, the 12 street officers in turn, milliseconds)",
            "",
            "| surface | p50 | p95 | max | target p95 ≤ 150 ms |",
            "|---|---:|---:|---:|---|",
        ]
        for label, r in m["queue"].items():
            if label.startswith("_"):
                continue
            out.append(
                f"| {label} | {r['p50']:.1f} | {r['p95']:.1f} | {r['max']:.1f} | "
                f"{ok(r['p95'], QUEUE_TARGET_MS)} |"
            )
        out.append("")
        opened = ", ".join(f"{k} {v:,}" for k, v in m["queue"]["_open"].items())
        out.append(f"Open events in the first streets: {opened}.")
        out += [f"\n{note}" for note in args.note]
        if "_page_status" in m["queue"]:
            out.append(
                f"(The queue page answered {m['queue']['_page_status']}; only the query was measured.)"
            )
    if "locate" in m:
        out += locate_section(m["locate"])
    return "\n".join(out)


def locate_section(loc: dict) -> list[str]:
    return [
        "",
        f"## Locating the grid of a point ({loc['n']:,} random points in the district's box, milliseconds)",
        "",
        f"{loc['grids']:,} grids; {loc['found']:,} of the points fell inside one. Building the index "
        f"(once per process, and after a boundary changes): {loc['build_s']:.2f} s.",
        "",
        "| call | p50 | p95 | max | target ≤ 1 ms |",
        "|---|---:|---:|---:|---|",
        f"| `locate.locate_grid(lon, lat)` | {loc['p50']:.3f} | {loc['p95']:.3f} | {loc['max']:.3f} | "
        f"{ok(loc['p95'], LOCATE_TARGET_MS)} (p95) |",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/linli_gbench")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each figures query")
    parser.add_argument("--samples", type=int, default=200, help="queue loads")
    parser.add_argument("--points", type=int, default=10_000, help="points to locate")
    parser.add_argument("--keys", help="key directory (kept, for --reuse)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    parser.add_argument("--reuse", action="store_true", help="measure the kept database, generate nothing")
    parser.add_argument("--note", action="append", default=[], help="a line added to the report")
    parser.add_argument(
        "--only", nargs="+", choices=["figures", "queue", "locate"], help="measure only these"
    )
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks" / "grid.md"))
    args = parser.parse_args()
    text = run(args)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
