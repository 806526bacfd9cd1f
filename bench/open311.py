"""Open311 and hotline intake benchmark: filing requests, listing 1,000 of them in XML and JSON, updates.

Writes ``docs/benchmarks/open311.md``. In-process through Django's test client (views, services, the
grid's ``report`` and the database; no network), on a fresh SQLite file in a temporary directory, or on
PostgreSQL with ``--database-url`` (the database is emptied first: give it a scratch one).

    .venv/bin/python bench/open311.py [--requests 1000] [--database-url postgres://…/linli_bench]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.95) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--reads", type=int, default=20)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="linli-bench-open311-")
    os.environ["LINLI_VAR_DIR"] = workdir
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{workdir}/bench.sqlite3"
    os.environ["LINLI_ALLOWED_HOSTS"] = "testserver"
    os.environ["DJANGO_SETTINGS_MODULE"] = "linli.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    if args.database_url:
        call_command("flush", interactive=False, verbosity=0)
    call_command("migrate", interactive=False, verbosity=0)
    from linli.core.testing import build_region_tree
    from linli.exchange import outbound, services
    from linli.grid import services as grid
    from linli.grid.models import Event
    from linli.grid.testing import GRID_CODES, cast, centre_of, draw_grids, photo

    build_region_tree()
    draw_grids()
    people = cast()
    open311 = services.create_client(name="bench", kind="open311", region_code="370198001")
    hotline = services.create_client(name="bench-12345", kind="hotline", region_code="370198")
    web = Client()
    grids = [code for code in GRID_CODES if code.startswith("370198001")]

    post_times = []
    for n in range(args.requests):
        lon, lat = centre_of(grids[n % len(grids)])
        data = {
            "api_key": open311.key,
            "service_code": "06010",
            "lat": f"{lat + (n % 7) * 0.0004:.6f}",
            "long": f"{lon + (n % 11) * 0.0003:.6f}",
            "description": f"垃圾堆积 第{n}处",
            "attribute[waste_kind][]": ["household", "bulky"],
            "attribute[fixmystreet_id]": f"fms-{n}",
            "first_name": "明",
            "last_name": "李",
            "phone": "13800138000",
        }
        started = time.perf_counter()
        response = web.post("/open311/v2/requests.xml", data)
        post_times.append(time.perf_counter() - started)
        assert response.status_code == 201, response.content
    started = time.perf_counter()
    repeat = web.post("/open311/v2/requests.xml", data)
    repeat_time = time.perf_counter() - started
    assert repeat.status_code == 200

    hotline_times = []
    for n in range(min(args.requests, 300)):
        lon, lat = centre_of(GRID_CODES[n % len(GRID_CODES)])
        body = {
            "upstream_id": f"12345-{n:06d}",
            "request_type": "投诉",
            "category_code": "09009",
            "title": "车辆乱停",
            "lon": lon,
            "lat": lat,
        }
        started = time.perf_counter()
        response = web.post(
            "/api/v1/exchange/cases/", body, content_type="application/json", HTTP_X_API_KEY=hotline.key
        )
        hotline_times.append(time.perf_counter() - started)
        assert response.status_code == 201, response.content

    # Take a tenth of the Open311 requests through to closing, so lists carry notes and updates exist.
    home = Event.objects.filter(source="open311", region_code=people.grid).order_by("id")
    for event in home[: max(args.requests // 10, 1)]:
        grid.take_step(event, "verify", people.grid_worker)
        grid.take_step(event, "register", people.community_worker)
        grid.take_step(event, "dispatch", people.community_worker, department=people.department)
        grid.take_step(event, "accept", people.department_member)
        grid.take_step(
            event, "report_done", people.department_member, note="已清理", photos={"after": [photo()]}
        )
        grid.take_step(event, "inspect_ok", people.grid_worker)

    hotline_events = Event.objects.filter(source="hotline").order_by("id")[:100]
    for event in hotline_events:
        if event.region_code == people.grid:
            grid.take_step(event, "verify", people.grid_worker)
    started = time.perf_counter()
    delivery = outbound.deliver(limit=10_000)
    deliver_time = time.perf_counter() - started

    reads = {}
    for name, url, params in [
        ("GET requests.xml (1,000 rows, public)", "/open311/v2/requests.xml", {}),
        ("GET requests.json (1,000 rows, public)", "/open311/v2/requests.json", {}),
        ("GET requests.xml (1,000 rows, with key)", "/open311/v2/requests.xml", {"api_key": open311.key}),
        ("GET requests/{id}.xml", None, {}),
        ("GET services.xml", "/open311/v2/services.xml", {}),
        ("GET servicerequestupdates.xml", "/open311/v2/servicerequestupdates.xml", {"api_key": open311.key}),
    ]:
        if url is None:
            url = f"/open311/v2/requests/{Event.objects.filter(source='open311').first().number}.xml"
        samples = []
        size = 0
        for _ in range(args.reads):
            started = time.perf_counter()
            response = web.get(url, params)
            samples.append(time.perf_counter() - started)
            assert response.status_code == 200, response.content[:500]
            size = len(response.content)
        reads[name] = (*percentiles(samples), size)

    post_p50, post_p95 = percentiles(post_times)
    hot_p50, hot_p95 = percentiles(hotline_times)
    lines = [
        "# Open311 and hotline intake benchmark",
        "",
        f"Measured by `bench/open311.py` on {platform.node()} "
        f"({platform.processor() or platform.machine()}, Python {platform.python_version()}), database "
        f"{connection.vendor}, in-process through Django's test client (view, services, the grid's "
        "`report`, the database; no network, no TLS).",
        "",
        "| What | p50 | p95 |",
        "|---|---|---|",
        f"| POST requests.xml, FixMyStreet-shaped, new event ({args.requests:,} posts) | {post_p50:.1f} ms | "
        f"{post_p95:.1f} ms |",
        f"| POST requests.xml, resend of a known `fixmystreet_id` (one post) | {repeat_time * 1000:.1f} ms "
        "| – |",
        f"| POST /api/v1/exchange/cases/, 12345 case ({len(hotline_times):,} posts) | {hot_p50:.1f} ms | "
        f"{hot_p95:.1f} ms |",
    ]
    for name, (p50, p95, size) in reads.items():
        lines.append(f"| {name}, {size / 1024:,.0f} KiB | {p50:.1f} ms | {p95:.1f} ms |")
    lines += [
        "",
        f"Outbox: {delivery.delivered:,} status changes delivered by the recording sink in "
        f"{deliver_time * 1000:.0f} ms.",
        "",
        f"Reads are {args.reads} runs each after {Event.objects.count():,} events exist; a tenth of the "
        "Open311 requests were taken through to closing first, so lists carry status notes and updates "
        "exist.",
        "",
    ]
    load = os.getloadavg()
    lines.insert(
        3,
        f"Load average when done: {load[0]:.1f} (1 min) on {os.cpu_count()} CPUs — the machine was shared; "
        "on a quiet one expect lower times.\n",
    )
    out = ROOT / "docs" / "benchmarks" / "open311.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
