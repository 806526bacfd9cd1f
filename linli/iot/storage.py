"""Time-series storage: batched writes, monthly partitions (PostgreSQL) and retention.

PostgreSQL: ``iot_telemetry`` is a table partitioned by month of ``ts`` (epoch ms, UTC months). A batch is
copied in binary into a per-connection temporary staging table and moved with one ``INSERT … SELECT … ON
CONFLICT DO NOTHING`` (so a redelivered reading is stored once), and the latest values are upserted from the
same staging rows. Partitions are created ahead by the sweep and on demand; retention detaches old partitions
``CONCURRENTLY`` (no lock that blocks inserts) and drops them.

SQLite: a plain table with the same primary key; ``INSERT OR IGNORE`` in one transaction; retention deletes in
small batches so that writers are never held up for long.
"""

from __future__ import annotations

import calendar
import json
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection

from linli.core import clock

log = logging.getLogger(__name__)

TABLE = "iot_telemetry"
MAX_KEY_LENGTH = 64


@dataclass(frozen=True)
class Point:
    device_id: int
    key: str
    ts: int
    num: float | None
    str: str | None
    bool: bool | None


def split_value(value) -> tuple[float | None, str | None, bool | None] | None:
    """A JSON value as (num, str, bool); objects and arrays are kept as JSON text; None is skipped."""
    if value is None:
        return None
    if isinstance(value, bool):
        return None, None, value
    if isinstance(value, int | float):
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            return None, str(value), None
        return number, None, None
    if isinstance(value, str):
        return None, value, None
    return None, json.dumps(value, ensure_ascii=False, separators=(",", ":")), None


def retention_months() -> int:
    return int(getattr(settings, "LINLI_IOT_RETENTION_MONTHS", 12))


# --- Months and partitions ---


def month_start(year: int, month: int) -> int:
    return calendar.timegm((year, month, 1, 0, 0, 0)) * 1000


def add_months(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def month_of(ts_ms: int) -> tuple[int, int]:
    moment = datetime.fromtimestamp(ts_ms / 1000, UTC)
    return moment.year, moment.month


def partition_name(year: int, month: int) -> str:
    return f"{TABLE}_y{year:04d}m{month:02d}"


def accepted_window(now: datetime | None = None) -> tuple[int, int]:
    """Readings older than the retention or more than a day ahead are refused (a device with a bad clock
    must not create partitions years away)."""
    now = now or clock.now()
    year, month = add_months(now.year, now.month, -retention_months())
    now_ms = int(now.timestamp() * 1000)
    return month_start(year, month), now_ms + 86_400_000


_known_partitions: set[tuple[int, int]] = set()
_partition_lock = threading.Lock()


def existing_partitions(cursor=None) -> dict[str, tuple[int, int]]:
    """{partition table name: (year, month)} attached to the parent table (PostgreSQL)."""
    sql = (
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s"
    )
    own = cursor is None
    cursor = cursor or connection.cursor()
    try:
        cursor.execute(sql, [TABLE])
        names = [row[0] for row in cursor.fetchall()]
    finally:
        if own:
            cursor.close()
    result = {}
    for name in names:
        suffix = name[len(TABLE) + 2 :]
        try:
            result[name] = (int(suffix[:4]), int(suffix[5:7]))
        except ValueError:
            continue
    return result


def create_partition(year: int, month: int, cursor=None) -> None:
    """Create one month's partition if it is missing (PostgreSQL)."""
    if (year, month) in _known_partitions:
        return
    next_year, next_month = add_months(year, month, 1)
    sql = (
        f"CREATE TABLE IF NOT EXISTS {partition_name(year, month)} PARTITION OF {TABLE} "
        f"FOR VALUES FROM ({month_start(year, month)}) TO ({month_start(next_year, next_month)})"
    )
    with _partition_lock:
        own = cursor is None
        cursor = cursor or connection.cursor()
        try:
            cursor.execute(sql)
        finally:
            if own:
                cursor.close()
        # Inside a transaction the creation may still roll back: remember it only once it is committed.
        if connection.get_autocommit():
            _known_partitions.add((year, month))


def ensure_partitions(ahead: int = 2, now: datetime | None = None) -> list[str]:
    """Partitions from the retention start to ``ahead`` months after the current one (PostgreSQL only)."""
    if connection.vendor != "postgresql":
        return []
    now = now or clock.now()
    names = []
    for delta in range(-retention_months(), ahead + 1):
        year, month = add_months(now.year, now.month, delta)
        create_partition(year, month)
        names.append(partition_name(year, month))
    return names


def forget_partitions() -> None:
    """Forget which partitions this process created (after a test database is rebuilt)."""
    _known_partitions.clear()


# --- Writing ---

STAGE_SQL = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS iot_stage (device_id int8 NOT NULL, key text NOT NULL, "
    "ts int8 NOT NULL, num float8, str text, bool boolean) ON COMMIT DELETE ROWS"
)
MOVE_SQL = (
    f"INSERT INTO {TABLE} (device_id, key, ts, num, str, bool) "
    "SELECT device_id, key, ts, num, str, bool FROM iot_stage ORDER BY device_id, key, ts "
    "ON CONFLICT DO NOTHING"
)
LATEST_PG_SQL = (
    "INSERT INTO iot_latestvalue AS l (device_id, key, ts, changed_ts, num, str, bool) "
    "SELECT DISTINCT ON (device_id, key) device_id, key, ts, ts, num, str, bool FROM iot_stage "
    "ORDER BY device_id, key, ts DESC "
    "ON CONFLICT (device_id, key) DO UPDATE SET ts = EXCLUDED.ts, num = EXCLUDED.num, str = EXCLUDED.str, "
    "bool = EXCLUDED.bool, changed_ts = CASE WHEN (l.num, l.str, l.bool) IS DISTINCT FROM "
    "(EXCLUDED.num, EXCLUDED.str, EXCLUDED.bool) THEN EXCLUDED.ts ELSE l.changed_ts END "
    "WHERE EXCLUDED.ts > l.ts"
)
LATEST_SQLITE_SQL = (
    "INSERT INTO iot_latestvalue (device_id, key, ts, changed_ts, num, str, bool) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (device_id, key) DO UPDATE SET ts = excluded.ts, num = excluded.num, str = excluded.str, "
    "bool = excluded.bool, changed_ts = CASE WHEN iot_latestvalue.num IS excluded.num AND "
    "iot_latestvalue.str IS excluded.str AND iot_latestvalue.bool IS excluded.bool "
    "THEN iot_latestvalue.changed_ts ELSE excluded.ts END "
    "WHERE excluded.ts > iot_latestvalue.ts"
)


def write_points(points: list[Point]) -> None:
    """Store points and update latest values, inside the caller's transaction. ``points`` sorted, unique."""
    if not points:
        return
    if connection.vendor == "postgresql":
        _write_postgresql(points)
    else:
        _write_sqlite(points)


def prepare_partitions(points: list[Point]) -> None:
    """Create missing month partitions before the batch's transaction: creating a partition locks the parent
    table, which must not be held for a whole batch."""
    if connection.vendor != "postgresql":
        return
    for year, month in {month_of(p.ts) for p in points}:
        if (year, month) not in _known_partitions:
            create_partition(year, month)


def _write_postgresql(points: list[Point]) -> None:
    prepare_partitions(points)  # a no-op when done before the transaction, as the pipeline does
    with connection.cursor() as cursor:
        raw = cursor.connection  # the psycopg connection
        # Every batch: one cheap catalog look-up, and right even when an earlier creation was rolled back.
        cursor.execute(STAGE_SQL)
        with raw.cursor() as pg:
            with pg.copy(
                "COPY iot_stage (device_id, key, ts, num, str, bool) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["int8", "text", "int8", "float8", "text", "bool"])
                for p in points:
                    copy.write_row((p.device_id, p.key, p.ts, p.num, p.str, p.bool))
        cursor.execute(MOVE_SQL)
        cursor.execute(LATEST_PG_SQL)
        # The staging rows go at commit (ON COMMIT DELETE ROWS); clear now too, for callers that write twice.
        cursor.execute("DELETE FROM iot_stage")


def _write_sqlite(points: list[Point]) -> None:
    rows = [(p.device_id, p.key, p.ts, p.num, p.str, p.bool) for p in points]
    latest: dict[tuple[int, str], Point] = {}
    for p in points:
        latest[(p.device_id, p.key)] = p  # sorted by ts within a key: the last one wins
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT OR IGNORE INTO {TABLE} (device_id, key, ts, num, str, bool) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            rows,
        )
        cursor.executemany(
            LATEST_SQLITE_SQL,
            [(p.device_id, p.key, p.ts, p.ts, p.num, p.str, p.bool) for p in latest.values()],
        )


# --- Retention ---


@dataclass
class RetentionResult:
    dropped_partitions: list[str]
    deleted_rows: int
    cutoff_ms: int


def retention(
    months: int | None = None, batch_size: int = 5000, now: datetime | None = None
) -> RetentionResult:
    """Remove data points older than ``months`` whole months before the current one.

    PostgreSQL: each partition wholly before the cutoff is detached CONCURRENTLY (inserts into the other
    partitions go on meanwhile) and dropped. SQLite: DELETE in batches of ``batch_size`` rows, one short
    transaction each, so that ingestion waits at most one batch.
    """
    months = retention_months() if months is None else months
    now = now or clock.now()
    year, month = add_months(now.year, now.month, -months)
    cutoff = month_start(year, month)
    if connection.vendor == "postgresql":
        dropped = []
        for name, (p_year, p_month) in sorted(existing_partitions().items()):
            if month_start(*add_months(p_year, p_month, 1)) <= cutoff:
                _drop_partition(name)
                _known_partitions.discard((p_year, p_month))
                dropped.append(name)
        return RetentionResult(dropped, 0, cutoff)
    deleted = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {TABLE} WHERE rowid IN (SELECT rowid FROM {TABLE} WHERE ts < %s LIMIT %s)",
                [cutoff, batch_size],
            )
            count = cursor.rowcount
        deleted += count
        if count < batch_size:
            break
    return RetentionResult([], deleted, cutoff)


def _drop_partition(name: str) -> None:
    # DETACH … CONCURRENTLY cannot run inside a transaction block: Django's autocommit is what it needs.
    if not connection.get_autocommit():
        raise RuntimeError("retention must run outside a transaction")
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {name} CONCURRENTLY")
        cursor.execute(f"DROP TABLE {name}")
    log.info("iot retention: dropped partition %s", name)
