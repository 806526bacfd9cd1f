"""Rules see each device's readings in the order they arrived, whatever the ingest path does in parallel.

Found by the ingest benchmark: a threshold crossing followed a moment later by a normal reading sometimes left
no alarm row, because two writer threads stored adjacent batches at once and the rules evaluated the newer one
first (the older reading then counted as late and was skipped). Broker mode had a second cause: a message that
waited for its device's token lookup could be overtaken by the device's next message.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from django.db import connection

from linli.ingest.front import Batcher, Front, Turns
from linli.iot import pipeline
from linli.iot.models import Alarm
from linli.iot.pipeline import Reading

from .conftest import wait_for


class CountingSeam:
    """The real seam, counting token lookups and making each take a moment."""

    def __init__(self, delay: float = 0.0):
        self.lookups: list[str] = []
        self.delay = delay

    def __getattr__(self, name):
        return getattr(pipeline, name)

    def authenticate(self, token):
        self.lookups.append(token)
        time.sleep(self.delay)
        return pipeline.authenticate(token)


def test_turns_are_taken_in_ticket_order_even_when_the_later_thread_comes_first():
    turns = Turns()
    first, second = turns.ticket(), turns.ticket()
    order = []

    def take(ticket, delay):
        time.sleep(delay)
        with turns.turn(ticket):
            order.append(ticket)

    threads = [threading.Thread(target=take, args=args) for args in ((first, 0.3), (second, 0))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert order == [first, second]


def test_a_failed_store_gives_up_its_turn():
    turns = Turns()
    failed, after = turns.ticket(), turns.ticket()
    turns.done(failed)  # the writer failed before its rules ran: Batcher._write ends the turn in `finally`
    start = time.monotonic()
    with turns.turn(after):
        pass
    assert time.monotonic() - start < 1


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite has one writer (its writes cannot overlap)"
)
def test_two_writers_raise_the_alarm_of_the_older_batch_when_the_newer_one_is_stored_first(devices):
    """Batch 1 holds 85 °C, batch 2 the device's next reading (20 °C) a second later. The first writer is
    slowed down, so without turns the second would evaluate first and the crossing would be lost."""
    device = devices.device.pk
    now = int(time.time() * 1000)
    calls = []

    def store(readings, **kwargs):
        calls.append(readings[0].values["temperature"])
        if len(calls) == 1:
            time.sleep(0.5)  # the first writer is slow to start (a long lookup, a busy core)
        return pipeline.store_telemetry(readings, **kwargs)

    async def run():
        batcher = Batcher(asyncio.get_running_loop(), store, max_batch=1, writers=2)
        acks = []
        batcher.add([Reading(device, now, {"temperature": 85})], acks.append)
        batcher.add([Reading(device, now + 1000, {"temperature": 20})], acks.append)
        await batcher.drain()
        batcher.close()
        return acks

    acks = asyncio.run(run())
    assert acks == [0, 0]
    assert calls == [85, 20]  # both batches were stored by separate writers at the same time
    alarm = Alarm.objects.get(device_id=device, type="high_temperature")
    assert alarm.cleared  # raised by 85 °C, then cleared by the normal reading after it


def test_broker_worker_keeps_a_devices_messages_in_order_while_its_token_is_looked_up(devices):
    """Messages 1 and 2 arrive while the device's token is looked up; message 3 arrives just as message 1 is
    handed on (the next socket read in the same turn of the loop). 3 must not overtake 2, the hot reading."""
    from linli.ingest.broker import BrokerWorker

    device = devices.device
    now = int(time.time() * 1000)
    temperatures = [20.0, 85.0, 20.0]
    seam = CountingSeam(delay=0.2)

    async def run():
        front = Front(max_delay=0.005, max_batch=1)
        front.pipeline = seam
        worker = BrokerWorker(front, "mqtt://127.0.0.1:1", "order")
        acked, order = [], []

        def message(i):
            payload = f'{{"ts":{now + i * 1000},"values":{{"temperature":{temperatures[i]}}}}}'
            worker._route(device.access_token, "v1/devices/me/telemetry", payload.encode(), acked.append)

        add = front.batcher.add

        def add_and_receive_the_next(readings, callback):
            order.append(readings[0].ts_ms - now)
            add(readings, callback)
            if len(order) == 1:
                message(2)

        front.batcher.add = add_and_receive_the_next
        message(0)
        message(1)
        while len(acked) < 3:
            await asyncio.sleep(0.01)
        await front.batcher.drain()
        front.close()
        return acked, order

    acked, order = asyncio.run(run())
    assert acked == [0, 0, 0]
    assert order == [0, 1000, 2000]
    assert seam.lookups == [device.access_token]  # one lookup for all of them
    alarm = wait_for(lambda: Alarm.objects.filter(device=device, type="high_temperature").first())
    assert alarm is not None and alarm.cleared


def test_broker_worker_answers_from_an_expired_entry_and_looks_the_token_up_again_meanwhile(devices):
    from linli.ingest.broker import BrokerWorker

    device = devices.device
    seam = CountingSeam(delay=0.2)

    async def run():
        front = Front(max_delay=0.005, auth_ttl=0.0)
        front.pipeline = seam
        worker = BrokerWorker(front, "mqtt://127.0.0.1:1", "stale")
        acked = []
        payload = b'{"temperature": 21}'
        worker._route(device.access_token, "v1/devices/me/telemetry", payload, acked.append)
        while not acked:
            await asyncio.sleep(0.01)
        # the entry has expired (ttl 0): the next message goes on at once, while the token is looked up again
        worker._route(device.access_token, "v1/devices/me/telemetry", payload, acked.append)
        handed_on = front.batcher.pending + front.batcher.stored
        while len(seam.lookups) < 2:
            await asyncio.sleep(0.01)
        await front.batcher.drain()
        front.close()
        return acked, handed_on

    acked, handed_on = asyncio.run(run())
    assert handed_on == 2  # the second message did not wait for the 0.2 s lookup
    assert acked == [0, 0] and seam.lookups == [device.access_token] * 2
