"""What only a real PostgreSQL with several connections shows: concurrent alarms, retention under load."""

import threading
import time

import pytest
from django.db import connection

from linli.core import clock
from linli.iot import storage
from linli.iot.models import Alarm, Telemetry
from linli.iot.pipeline import Reading, store_telemetry
from linli.iot.rules import RuleEngine
from linli.iot.testing import make_device, make_rule, now_ms

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL's concurrency")
GRID = "370198001001001"


def run_threads(count, work):
    """Start ``count`` threads at the same moment; each gets its index; returns their exceptions."""
    barrier = threading.Barrier(count)
    errors = []

    def body(index):
        from django.db import connection as own

        try:
            barrier.wait()
            work(index)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


@pytest.mark.django_db(transaction=True)
def test_concurrent_messages_make_exactly_one_active_alarm(regions):
    device = make_device(GRID)
    make_rule(device.profile, value=60)
    start = now_ms() - 10_000
    results = []

    def work(index):
        # Each thread is its own "ingest process": its own rule state (a fresh engine, rebuilt from the
        # database) and its own connection; all race to raise the same alarm at once.
        changes = store_telemetry(
            [Reading(device.pk, start + index, {"temperature": 70 + index})], engine=RuleEngine()
        )
        results.extend(c.action for c in changes)

    for round_number in range(3):
        start += round_number * 100
        errors = run_threads(8, work)
        assert errors == []
    assert Alarm.objects.filter(device=device, type="high_temperature", cleared=False).count() == 1
    assert Alarm.objects.filter(device=device).count() == 1
    assert results.count("created") == 1
    assert Alarm.objects.get(device=device).occurrences == 1 + results.count("updated")


@pytest.mark.django_db(transaction=True)
def test_concurrent_redeliveries_store_each_point_once(regions):
    devices = [make_device(GRID) for _ in range(5)]
    base = now_ms() - 10_000
    batch = [
        Reading(d.pk, base + i * 1000, {"a": i, "b": i * 2, "c": True}) for d in devices for i in range(50)
    ]

    def work(index):
        store_telemetry(list(reversed(batch)) if index % 2 else batch)

    assert run_threads(6, work) == []
    assert Telemetry.objects.count() == len(batch) * 3


@pytest.mark.django_db(transaction=True)
def test_retention_drops_old_partitions_while_messages_keep_arriving(regions, settings):
    settings.LINLI_IOT_RETENTION_MONTHS = 24
    device = make_device(GRID)
    now = clock.now()
    year, month = storage.add_months(now.year, now.month, -8)
    old_ts = storage.month_start(year, month) + 3_600_000
    store_telemetry([Reading(device.pk, old_ts + i * 1000, {"t": i}) for i in range(100)])
    old_partition = storage.partition_name(year, month)
    assert old_partition in storage.existing_partitions()
    assert Telemetry.objects.filter(ts__lt=storage.month_start(now.year, now.month)).count() == 100

    stop = threading.Event()
    stored = []
    errors = []

    def ingest():
        from django.db import connection as own

        try:
            i = 0
            while not stop.is_set():
                ts = now_ms() - 5000 + i
                store_telemetry([Reading(device.pk, ts, {"live": i})])
                stored.append(ts)
                i += 1
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            own.close()

    thread = threading.Thread(target=ingest)
    thread.start()
    try:
        time.sleep(0.3)
        before = len(stored)
        result = storage.retention(months=3)
        time.sleep(0.3)
        assert len(stored) > before, "ingestion stopped while retention ran"
    finally:
        stop.set()
        thread.join(30)
    assert errors == []
    assert old_partition in result.dropped_partitions
    assert old_partition not in storage.existing_partitions()
    assert not Telemetry.objects.filter(ts=old_ts).exists()
    assert Telemetry.objects.filter(key="live").count() == len(stored)
    current = storage.partition_name(now.year, now.month)
    assert current in storage.existing_partitions()
