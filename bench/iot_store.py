"""The storage half of ingestion on PostgreSQL: ``linli.iot.pipeline.store_telemetry`` with rules on.

Measures rows (data points) per second that the seam stores durably — binary COPY into the monthly
partitions, latest values, activity, in-memory rule evaluation, alarm writes on change — with no network in
front, in 1 and 2 threads (the ingest service calls it from worker threads). Writes its section of
``docs/benchmarks/ingest.md`` between the ``iot_store`` markers (the ingest helper owns the rest of the file).

    .venv/bin/python bench/iot_store.py [--database-url postgres://postgres@127.0.0.1:5432/linli_iot_bench]
        [--devices 10000] [--seconds 30] [--batch 1000]

It creates its own database (dropped first, and again at the end unless ``--keep``) and its own keys.
Target (issue 5): the full pipeline must sustain 6,000 messages/s × 3 points = 18,000 points/s on 2 cores
together with the MQTT side, so this half should need well under half the machine for it.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
START, END = "<!-- iot_store:start -->", "<!-- iot_store:end -->"


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}"')
        conn.execute(f'CREATE DATABASE "{parts.path.lstrip("/")}"')


def drop_database(url: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    parts = urlsplit(url)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}"')


def setup(devices: int) -> list[int]:
    from linli.core.models import Region
    from linli.iot.models import AlarmRule, Device, DeviceProfile, Kind

    district = Region.objects.create(code="370198", name="基准区", level="district")
    street = Region.objects.create(code="370198001", name="基准街道", level="street", parent=district)
    community = Region.objects.create(code="370198001001", name="基准社区", level="community", parent=street)
    grid = Region.objects.create(code="370198001001001", name="基准网格", level="grid", parent=community)
    profile = DeviceProfile.objects.create(
        name="温湿度", kind=Kind.TEMPERATURE_HUMIDITY, keys=[{"key": "temperature"}, {"key": "humidity"}]
    )
    AlarmRule.objects.create(
        profile=profile,
        alarm_type="high_temperature",
        kind="threshold",
        key="temperature",
        op=">",
        value=60,
        duration_s=5,
        clear_value=55,
        min_clear_s=10,
        severity="critical",
    )
    AlarmRule.objects.create(
        profile=profile,
        alarm_type="fast_rise",
        kind="rate",
        key="temperature",
        op=">",
        value=30,
        severity="major",
    )
    AlarmRule.objects.create(
        profile=profile,
        alarm_type="low_battery",
        kind="threshold",
        key="battery",
        op="<",
        value=10,
        severity="warning",
    )
    Device.objects.bulk_create(
        [
            Device(name=f"b{i}", profile=profile, region=grid, region_code=grid.code, access_token=f"t{i}")
            for i in range(devices)
        ],
        batch_size=5000,
    )
    return list(Device.objects.order_by("pk").values_list("pk", flat=True))


def make_batches(device_ids, batch: int, count: int, start_ms: int):
    """Batches of readings of 3 points; a few devices run hot (alarms), most are normal."""
    from linli.iot.pipeline import Reading

    rng = random.Random(7)
    hot = set(rng.sample(device_ids, max(1, len(device_ids) // 500)))
    batches = []
    ts = start_ms
    index = 0
    for _ in range(count):
        readings = []
        for _ in range(batch):
            device = device_ids[index % len(device_ids)]
            index += 1
            ts += 1
            running_hot = device in hot and (ts // 20000) % 2
            temperature = 65 + rng.random() * 5 if running_hot else 20 + rng.random() * 5
            readings.append(
                Reading(
                    device,
                    ts,
                    {
                        "temperature": round(temperature, 2),
                        "humidity": 40 + rng.random() * 20,
                        "battery": 80 + rng.randint(0, 20),
                    },
                )
            )
        batches.append(readings)
    return batches


def run(batches, threads: int) -> dict:
    from django.db import connection

    from linli.iot.pipeline import store_telemetry

    queue = list(batches)
    lock = threading.Lock()
    latencies: list[float] = []
    alarms = [0]

    def worker():
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    readings = queue.pop(0)
                began = time.perf_counter()
                changes = store_telemetry(readings)
                elapsed = time.perf_counter() - began
                with lock:
                    latencies.append(elapsed)
                    alarms[0] += len(changes)
        finally:
            connection.close()

    load = os.getloadavg()[0]
    cpu0 = os.times()
    began = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall = time.perf_counter() - began
    cpu1 = os.times()
    points = sum(len(r.values) for b in batches for r in b)
    ordered = sorted(latencies)
    return {
        "threads": threads,
        "batches": len(batches),
        "messages": sum(len(b) for b in batches),
        "points": points,
        "seconds": wall,
        "points_per_s": points / wall,
        "messages_per_s": sum(len(b) for b in batches) / wall,
        "batch_p50_ms": statistics.median(ordered) * 1000,
        "batch_p99_ms": ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000,
        "client_cpu": (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / wall,
        "alarm_changes": alarms[0],
        "load": load,
    }


def write_report(rows: list[dict], args, total_rows: int) -> None:
    path = ROOT / "docs" / "benchmarks" / "ingest.md"
    lines = [
        START,
        "## Storage seam: `store_telemetry` on PostgreSQL (bench/iot_store.py)",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node() or 'this machine'} "
        f"({os.cpu_count()} cores, Python {platform.python_version()}), {args.devices:,} devices, batches of "
        f"{args.batch:,} messages × 3 points, 3 rules per device (threshold with duration and hysteresis, "
        "rate of change, low battery), 0.2 % of the devices running hot so that alarms are created and "
        "cleared. No MQTT in front: this is the storage half of the ingest budget. Rows are stored durably "
        "(one committed transaction per batch: binary COPY into the month's partition, falling back to "
        "`INSERT … ON CONFLICT DO NOTHING` only when a batch holds a redelivered point; latest values "
        "updated from arrays; activity; alarms written only on change).",
        "",
        "| threads | messages | points | seconds | points/s | messages/s | batch p50 ms | batch p99 ms | "
        "client CPU (cores) | alarm changes | load before |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['threads']} | {r['messages']:,} | {r['points']:,} | {r['seconds']:.1f} | "
            f"**{r['points_per_s']:,.0f}** | {r['messages_per_s']:,.0f} | {r['batch_p50_ms']:.0f} | "
            f"{r['batch_p99_ms']:.0f} | {r['client_cpu']:.2f} | {r['alarm_changes']} | {r['load']:.1f} |"
        )
    lines += [
        "",
        f"Rows in `iot_telemetry` afterwards: {total_rows:,} (the warm-up and both runs: every point once). "
        "The target needs 18,000 points/s for the whole pipeline; the client CPU column is the share of a "
        "core this process used (the rest of the time is PostgreSQL's, on the same 2 cores). *Load before* "
        "is the 1-minute load average when the run started: the machine is shared, and a figure taken "
        "under others' load (above 2) understates the seam.",
        END,
    ]
    section = "\n".join(lines)
    text = path.read_text() if path.exists() else "# Ingestion benchmark\n"
    if START in text and END in text:
        text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _m: section, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/linli_iot_bench")
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=60, help="batches per run")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    recreate_database(args.database_url)
    keys = tempfile.mkdtemp(prefix="linli-bench-keys-")
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["LINLI_KEY_FILE"] = f"{keys}/keys.json"
    os.environ["LINLI_AUDIT_KEY_FILE"] = f"{keys}/audit_key"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "linli.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    device_ids = setup(args.devices)
    now_ms = int(time.time() * 1000) - 3_600_000
    rows = []
    try:
        # Warm up: the rule state of every device is built once per process (from the database).
        from linli.iot.pipeline import store_telemetry

        warm_up = make_batches(device_ids, args.batch, max(1, args.devices // args.batch), now_ms - 600_000)
        for batch in warm_up:
            store_telemetry(batch)
        offset = 0
        for threads in (1, 2):
            batches = make_batches(device_ids, args.batch, args.batches, now_ms + offset)
            offset += args.batch * args.batches + 1000
            rows.append(run(batches, threads))
            print(rows[-1], flush=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM iot_telemetry")
            total = cursor.fetchone()[0]
        write_report(rows, args, total)
    finally:
        if not args.keep:
            drop_database(args.database_url)


if __name__ == "__main__":
    main()
