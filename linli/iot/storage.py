"""Time-series storage: batched writes, monthly partitions (PostgreSQL) and retention.

PostgreSQL: ``iot_telemetry`` is a table partitioned by month of ``ts`` (epoch ms, UTC months). A batch is
copied in binary straight into it inside a savepoint; if the batch holds a point stored before (a redelivery
after a crash), the savepoint is rolled back and the batch inserted with ``ON CONFLICT DO NOTHING``, so each
point is stored once. The latest values are updated from the batch's newest values passed as arrays.
Partitions are created ahead by the sweep and on demand (before the batch's transaction); retention detaches
old partitions ``CONCURRENTLY`` (no lock that blocks inserts) and drops them.

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
from typing import NamedTuple

from django.conf import settings
from django.db import connection

from linli.core import clock

log = logging.getLogger(__name__)

TABLE = "iot_telemetry"
MAX_KEY_LENGTH = 64


class Point(NamedTuple):
    device_id: int
    key: str
    ts: int
    num: float | None
    str: str | None  # noqa: A003
    bool: bool | None  # noqa: A003


def split_value(value) -> tuple[float | None, str | None, bool | None] | None:
    """A JSON value as (num, str, bool); objects and arrays are kept as JSON text; None is skipped."""
    kind = type(value)
    if kind is float:
        # NaN and ±infinity are no numbers to compare or chart: keep their text.
        return (value, None, None) if value - value == 0 else (None, str(value), None)
    if kind is int:
        return float(value), None, None
    if kind is str:
        return None, value, None
    if kind is bool:
        return None, None, value
    if value is None:
        return None
    if isinstance(value, bool):
        return None, None, bool(value)
    if isinstance(value, int | float):
        return split_value(float(value))
    if isinstance(value, str):
        return None, str(value), None
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

# Latest values: one UPDATE joined to the batch's newest values passed as arrays (no temporary table: one with
# ON COMMIT DELETE ROWS costs a truncation at every commit); HOT updates thanks to the table's fillfactor.
UNNEST = (
    "unnest(%b::int8[], %b::text[], %b::int8[], %b::float8[], %b::text[], %b::bool[]) "
    "AS s(device_id, key, ts, num, str, bool)"
)
LATEST_UPDATE_SQL = (
    "UPDATE iot_latestvalue l SET ts = s.ts, num = s.num, str = s.str, bool = s.bool, changed_ts = CASE "
    "WHEN (l.num, l.str, l.bool) IS DISTINCT FROM (s.num, s.str, s.bool) THEN s.ts ELSE l.changed_ts END "
    f"FROM {UNNEST} WHERE l.device_id = s.device_id AND l.key = s.key AND s.ts > l.ts"
)
LATEST_INSERT_SQL = (
    "INSERT INTO iot_latestvalue AS l (device_id, key, ts, changed_ts, num, str, bool) "
    f"SELECT s.device_id, s.key, s.ts, s.ts, s.num, s.str, s.bool FROM {UNNEST} "
    # A device deleted while its readings were in flight gets no latest value (and no foreign-key error).
    "WHERE EXISTS (SELECT 1 FROM iot_device d WHERE d.id = s.device_id) "
    "ON CONFLICT (device_id, key) DO UPDATE SET ts = EXCLUDED.ts, num = EXCLUDED.num, str = EXCLUDED.str, "
    "bool = EXCLUDED.bool, changed_ts = CASE WHEN (l.num, l.str, l.bool) IS DISTINCT FROM "
    "(EXCLUDED.num, EXCLUDED.str, EXCLUDED.bool) THEN EXCLUDED.ts ELSE l.changed_ts END "
    "WHERE EXCLUDED.ts > l.ts"
)
TELEMETRY_INSERT_SQL = (
    f"INSERT INTO {TABLE} (device_id, key, ts, num, str, bool) "
    f"SELECT s.device_id, s.key, s.ts, s.num, s.str, s.bool FROM {UNNEST} ON CONFLICT DO NOTHING"
)
COPY_SQL = f"COPY {TABLE} (device_id, key, ts, num, str, bool) FROM STDIN (FORMAT BINARY)"
COPY_TYPES = ["int8", "text", "int8", "float8", "text", "bool"]
LATEST_SQLITE_SQL = (
    "INSERT INTO iot_latestvalue (device_id, key, ts, changed_ts, num, str, bool) "
    "SELECT %s, %s, %s, %s, %s, %s, %s WHERE EXISTS (SELECT 1 FROM iot_device d WHERE d.id = %s) "
    "ON CONFLICT (device_id, key) DO UPDATE SET ts = excluded.ts, num = excluded.num, str = excluded.str, "
    "bool = excluded.bool, changed_ts = CASE WHEN iot_latestvalue.num IS excluded.num AND "
    "iot_latestvalue.str IS excluded.str AND iot_latestvalue.bool IS excluded.bool "
    "THEN iot_latestvalue.changed_ts ELSE excluded.ts END "
    "WHERE excluded.ts > iot_latestvalue.ts"
)


def _columns(points) -> list[list]:
    return [
        [p.device_id for p in points],
        [p.key for p in points],
        [p.ts for p in points],
        [p.num for p in points],
        [p.str for p in points],
        [p.bool for p in points],
    ]


def newest_per_key(points: list[Point]) -> list[Point]:
    latest: dict[tuple[int, str], Point] = {}
    for p in points:
        latest[(p.device_id, p.key)] = p  # sorted by ts within a key: the last one wins
    return list(latest.values())


def write_points(points: list[Point]) -> None:
    """Store points and update latest values, inside the caller's transaction. ``points`` sorted, unique."""
    if not points:
        return
    if connection.vendor == "postgresql":
        _write_postgresql(points)
    else:
        _write_sqlite(points)


def months_of(points: list[Point]) -> set[tuple[int, int]]:
    """The months a batch touches; nearly always one, found from the oldest and newest point alone."""
    low = min(p.ts for p in points)
    high = max(p.ts for p in points)
    first, last = month_of(low), month_of(high)
    if first == last:
        return {first}
    return {month_of(p.ts) for p in points}


def prepare_partitions(points: list[Point]) -> None:
    """Create missing month partitions before the batch's transaction: creating a partition locks the parent
    table, which must not be held for a whole batch."""
    if connection.vendor != "postgresql" or not points:
        return
    for year, month in months_of(points):
        if (year, month) not in _known_partitions:
            create_partition(year, month)


def _write_postgresql(points: list[Point]) -> None:
    import psycopg
    from django.db import transaction
    from psycopg import errors

    prepare_partitions(points)  # a no-op when done before the transaction, as the pipeline does
    connection.ensure_connection()
    raw = connection.connection  # the psycopg connection (inside Django's transaction)
    # A server-side-binding cursor with binary parameters: Django's own cursors bind on the client, which
    # spends ~30 ms per batch quoting the arrays as text.
    with psycopg.Cursor(raw) as cursor:
        # Fast path: binary COPY straight into the partitions. A redelivered point makes COPY fail on the
        # primary key; then (rarely) the savepoint is rolled back and the batch inserted skipping duplicates.
        try:
            with transaction.atomic():
                with cursor.copy(COPY_SQL) as copy:
                    copy.set_types(COPY_TYPES)
                    for p in points:
                        copy.write_row((p.device_id, p.key, p.ts, p.num, p.str, p.bool))
        except errors.UniqueViolation:
            cursor.execute(TELEMETRY_INSERT_SQL, _columns(points))
        latest = newest_per_key(points)
        cursor.execute(LATEST_UPDATE_SQL, _columns(latest))
        if cursor.rowcount < len(latest):
            cursor.execute(LATEST_INSERT_SQL, _columns(latest))


def _write_sqlite(points: list[Point]) -> None:
    rows = [(p.device_id, p.key, p.ts, p.num, p.str, p.bool) for p in points]
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT OR IGNORE INTO {TABLE} (device_id, key, ts, num, str, bool) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            rows,
        )
        cursor.executemany(
            LATEST_SQLITE_SQL,
            [
                (p.device_id, p.key, p.ts, p.ts, p.num, p.str, p.bool, p.device_id)
                for p in newest_per_key(points)
            ],
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
