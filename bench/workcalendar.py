"""Working-calendar benchmark: due times and elapsed working time per call, as the grid computes them.

Writes ``docs/benchmarks/working-calendar.md``. The arithmetic runs on the calendar held in memory (no query
per call), so the database hardly matters; the script uses its own SQLite file in a temporary directory,
migrated (and so seeded from chinese-calendar) first.

    .venv/bin/python bench/workcalendar.py [--calls 1000000]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="linli-bench-calendar-")
    os.environ["LINLI_VAR_DIR"] = workdir
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir}/bench.sqlite3"
    os.environ["DJANGO_SETTINGS_MODULE"] = "linli.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from zoneinfo import ZoneInfo

    from linli.core import workcalendar
    from linli.core.workcalendar import TimeUnit

    zone = ZoneInfo("Asia/Shanghai")
    rng = random.Random(2026)
    origin = datetime(2024, 1, 1, tzinfo=zone)
    starts = [origin + timedelta(seconds=rng.randrange(3 * 365 * 86_400)) for _ in range(args.calls)]
    ends = [start + timedelta(seconds=rng.randrange(30 * 86_400)) for start in starts]
    workcalendar.add_time(origin, 900, TimeUnit.WORKING_DAY)  # load the years once, as a running server has

    cases = [
        ("add_time(start, 4, working_hour)", lambda s, e: workcalendar.add_time(s, 4, TimeUnit.WORKING_HOUR)),
        (
            "add_time(start, Decimal(3), working_day)",
            lambda s, e: workcalendar.add_time(s, Decimal(3), "working_day"),
        ),
        ("add_time(start, 15, working_day)", lambda s, e: workcalendar.add_time(s, 15, TimeUnit.WORKING_DAY)),
        ("add_time(start, 2, natural_hour)", lambda s, e: workcalendar.add_time(s, 2, TimeUnit.NATURAL_HOUR)),
        ("working_seconds_between(start, end ≤ 30 days later)", workcalendar.working_seconds_between),
        ("add_working_seconds(start, 50,000)", lambda s, e: workcalendar.add_working_seconds(s, 50_000)),
        ("is_working_day(date)", lambda s, e: workcalendar.is_working_day(s.date())),
    ]
    rows = []
    for name, function in cases:
        began = time.perf_counter()
        for start, end in zip(starts, ends, strict=True):
            function(start, end)
        seconds = time.perf_counter() - began
        rows.append((name, seconds / args.calls * 1e6, seconds))
        print(f"{name}: {rows[-1][1]:.2f} µs per call, {seconds:.2f} s for {args.calls:,}")

    lines = [
        "# Working calendar: clock arithmetic",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `bench/workcalendar.py` on "
        f"{platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} cores shared with other "
        f"work; {args.calls:,} calls each, starts spread over 2024–2026 (holidays, make-up days, weekends, "
        "nights).",
        "",
        "The calendar is held in memory per year (no query per call); long spans are bisected in each year's "
        "running count of working days, so 15 working days cost about what 1 does.",
        "",
        "| call | µs per call | seconds for all calls |",
        "|---|---:|---:|",
        *(f"| `{name}` | {micro:.2f} | {seconds:.1f} |" for name, micro, seconds in rows),
        "",
    ]
    target = ROOT / "docs" / "benchmarks" / "working-calendar.md"
    target.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
