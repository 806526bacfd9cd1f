"""The pipeline front shared by every way in: device lookup, batching to durable storage, message routing.

The device gateway (gateway.py) and the broker-mode worker (broker.py) hand each device message to
`Front.handle(...)` with two callbacks: `ack(reason)` (send PUBACK — called only once the message is
durable) and `respond(topic, payload)` (a message back to that device, topic in the device's own
`v1/devices/me/…` view). All database work goes through linli.iot.pipeline (the seam), called from worker
threads so the event loop never blocks; telemetry goes through one `Batcher` so thousands of messages become
one store_telemetry() call.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from . import codec, payloads
from .payloads import PayloadError

log = logging.getLogger("linli.ingest")

TELEMETRY_TOPICS = ("v1/devices/me/telemetry", "v2/t")
ATTRIBUTE_TOPICS = ("v1/devices/me/attributes", "v2/a")
ATTR_REQUEST = "v1/devices/me/attributes/request/"
ATTR_REQUEST_V2 = "v2/a/req/"
RPC_REQUEST = "v1/devices/me/rpc/request/"
RPC_RESPONSE = "v1/devices/me/rpc/response/"
CLAIM_TOPIC = "v1/devices/me/claim"
PROVISION_REQUEST = "/provision/request"
PROVISION_RESPONSE = "/provision/response"
GATEWAY_PREFIX = "v1/gateway/"
AUTH_BATCH = 1000  # tokens per lookup query

# Reasons passed to record_rejected (the counters the IoT pages show).
MALFORMED = "malformed_payload"
UNKNOWN_TOKEN = "unknown_token"
FORBIDDEN_TOPIC = "forbidden_topic"
PROTOCOL_ERROR = "protocol_error"
STORE_ERROR = "store_error"
OVERLOAD = "overload"


@dataclass
class Limits:
    """What a session may do; also the answer to the `getSessionLimits` RPC (ThingsBoard's shape)."""

    max_payload_size: int = 65536
    max_inflight: int = 500
    # ThingsBoard rate-limit strings "N:seconds,…"; empty = not limited by Linli (the SDK then sends freely).
    rate_limits: dict = field(
        default_factory=lambda: {"messages": "", "telemetryMessages": "", "telemetryDataPoints": ""}
    )

    def session_limits(self, is_gateway: bool) -> dict:
        answer = {
            "maxPayloadSize": self.max_payload_size,
            "maxInflightMessages": self.max_inflight,
            "rateLimits": dict(self.rate_limits),
        }
        if is_gateway:
            answer["gatewayRateLimits"] = dict(self.rate_limits)
        return answer


def _seam():
    from linli.iot import pipeline

    return pipeline


def now_ms() -> int:
    return int(time.time() * 1000)


class Lane:
    """One writer thread and the batch growing for it. A device's readings always take the same lane."""

    def __init__(self, index: int):
        self.executor = ThreadPoolExecutor(1, thread_name_prefix=f"linli-store-{index}")
        self.readings: list = []
        self.callbacks: list = []  # (callback, number of readings) per message, in arrival order
        self.timer = None
        self.writing = False


class Batcher:
    """Collects readings from many messages and stores them with one store_telemetry() call per batch.

    A message's callback runs (in the event loop) only after the batch holding it has been committed, so a
    PUBACK means "durable". There are `writers` lanes, each with one writer thread writing one batch at a time
    while its next batch grows, so the batch size adapts to the load. A message goes to the lane of its key
    (the device, or the gateway it comes through), so:
    - a device's readings are stored and evaluated by the rules in the order they arrived (a reading older
      than one already evaluated counts as late and is skipped: out of order, a threshold crossing followed by
      a normal reading could go unseen), and
    - two writers never update the same device's rows at once (latest values, activity, alarms): their commits
      overlap without waiting for each other's row locks, and cannot deadlock.
    Past `max_pending` readings the front reports overload and the transports pause reading (TCP back-pressure
    reaches the devices) until half of it is drained.
    """

    def __init__(
        self, loop, store, *, max_batch=5000, max_delay=0.05, max_pending=50_000, on_changes=None, writers=1
    ):
        self.loop = loop
        self.store = store
        self.max_batch = max_batch
        self.max_delay = max_delay
        self.max_pending = max_pending
        self.on_changes = on_changes
        self.on_failure = None  # fn(reason) for a message that could not be stored
        self.lanes = [Lane(i) for i in range(max(1, writers))]
        self.pending = 0  # readings accepted but not yet durable
        self.paused = False
        self._drain_listeners: list = []
        self.stored = 0
        self.batches = 0
        self.failures = 0
        self.write_times: list[float] = []  # seconds per batch written since the last stats line

    def add(self, readings: list, callback, key: int = 0) -> None:
        lane = self.lanes[key % len(self.lanes)]
        lane.readings.extend(readings)
        lane.callbacks.append((callback, len(readings)))
        self.pending += len(readings)
        if self.pending > self.max_pending and not self.paused:
            self.paused = True
        if lane.writing:
            return
        if len(lane.readings) >= self.max_batch:
            self._flush(lane)
        elif lane.timer is None:
            lane.timer = self.loop.call_later(self.max_delay, self._flush, lane)

    def on_drain(self, listener) -> None:
        self._drain_listeners.append(listener)

    def _flush(self, lane: Lane) -> None:
        if lane.timer is not None:
            lane.timer.cancel()
            lane.timer = None
        if lane.writing or not lane.callbacks:
            return
        readings, callbacks = lane.readings, lane.callbacks
        lane.readings, lane.callbacks = [], []
        lane.writing = True
        future = self.loop.run_in_executor(lane.executor, self._write, readings, callbacks)
        future.add_done_callback(lambda f: self._written(f, lane, callbacks))

    def _write(self, readings, callbacks):
        """In the lane's thread: store, retrying; isolate a poison message rather than block everything."""
        started = time.monotonic()
        try:
            return self._write_batch(readings, callbacks)
        finally:
            self.write_times.append(time.monotonic() - started)

    def _write_batch(self, readings, callbacks):
        delay = 0.2
        for _attempt in range(3):
            try:
                changes = self.store(readings) if readings else []
                return [(cb, 0) for cb, _ in callbacks], changes
            except Exception:
                log.exception("store_telemetry failed for %d readings; retrying", len(readings))
                self._reset_db()
                time.sleep(delay)
                delay *= 2
        # Still failing: store message by message, so one bad message cannot hold the others back forever.
        results, changes, start = [], [], 0
        for callback, count in callbacks:
            part = readings[start : start + count]
            start += count
            try:
                changes.extend(self.store(part) if part else [])
                results.append((callback, 0))
            except Exception:
                log.exception("dropping one message of %d readings that cannot be stored", count)
                self._reset_db()
                results.append((callback, codec.RC_UNSPECIFIED))
        return results, changes

    @staticmethod
    def _reset_db():
        try:
            from django.db import connection

            connection.close()
        except Exception:  # noqa: BLE001 — closing a broken connection may itself fail
            pass

    def _written(self, future, lane: Lane, callbacks):
        lane.writing = False
        count = sum(n for _, n in callbacks)
        self.pending -= count
        try:
            results, changes = future.result()
        except Exception:  # the thread itself died: nothing was acknowledged, devices will resend
            log.exception("writer thread failed")
            results, changes = [], []
        self.batches += 1
        for callback, reason in results:
            if reason:
                self.failures += 1
                if self.on_failure is not None:
                    self.on_failure(STORE_ERROR)
            else:
                self.stored += 1
            try:
                callback(reason)
            except Exception:
                log.exception("ack callback failed")
        if changes and self.on_changes:
            self.on_changes(changes)
        if self.paused and self.pending <= self.max_pending // 2:
            self.paused = False
            for listener in self._drain_listeners:
                listener()
        if lane.callbacks and (len(lane.readings) >= self.max_batch or lane.timer is None):
            self._flush(lane)

    async def drain(self) -> None:
        """Wait until everything accepted so far is durable (used at shutdown)."""
        while self.pending or any(lane.writing or lane.callbacks for lane in self.lanes):
            for lane in self.lanes:
                if not lane.writing and lane.callbacks:
                    self._flush(lane)
            await asyncio.sleep(0.01)

    def close(self) -> None:
        for lane in self.lanes:
            close_executor(lane.executor)


class Front:
    """Routes device messages to the seam; one per process (shared by all connections)."""

    def __init__(
        self,
        loop=None,
        *,
        pipeline=None,
        limits: Limits | None = None,
        max_batch=5000,
        max_delay=0.05,
        max_pending=50_000,
        auth_ttl=60.0,
        writers=1,
    ):
        self.loop = loop or asyncio.get_running_loop()
        self.pipeline = pipeline or _seam()
        self.limits = limits or Limits()
        self.batcher = Batcher(
            self.loop,
            self.pipeline.store_telemetry,
            max_batch=max_batch,
            max_delay=max_delay,
            max_pending=max_pending,
            on_changes=self._alarm_changes,
            writers=writers,
        )
        self.batcher.on_failure = self.reject
        self.executor = ThreadPoolExecutor(4, thread_name_prefix="linli-seam")
        self.auth_ttl = auth_ttl
        self._auth: dict = {}
        self._auth_pending: dict = {}  # token -> future of its lookup
        self._auth_queue: list[str] = []  # tokens to look up in the next query
        self._children_pending: dict = {}  # (gateway id, child name) -> its lookup
        self._gateways_pending: dict = {}  # gateway id -> the lookup of all its children
        self._children: dict = {}  # (gateway id, child name) -> DeviceRef
        self._children_loaded: set[int] = set()  # gateways whose children were all read at once
        self.rejected: Counter = Counter()
        self._connections: dict[int, bool] = {}  # device id -> connected, not yet written
        self._unreported: Counter = Counter()
        self.messages = 0
        self.alarm_changes = 0
        self.change_listeners: list = []
        self.on_child = None  # set by the device gateway: routes downlink for devices behind a gateway
        self._lock = threading.Lock()

    # --- seam calls off the loop --------------------------------------------------------------------------

    def call(self, fn, *args):
        return self.loop.run_in_executor(self.executor, _retry_locked, fn, *args)

    def fire(self, fn, *args) -> None:
        """A seam call whose result nobody waits for (connection state, counters); errors are logged."""
        self.call(fn, *args).add_done_callback(_log_failure)

    def background(self, coro) -> None:
        """Run a coroutine nobody waits for (a cache refresh, a Redis write); errors are logged."""
        self.loop.create_task(coro).add_done_callback(_log_failure)

    async def _single_flight(self, pending: dict, key, fn, *args):
        """One seam call per key at a time: callers asking for the same key meanwhile share its result."""
        future = pending.get(key)
        if future is None:
            future = pending[key] = self.call(fn, *args)
            future.add_done_callback(lambda _done: pending.pop(key, None))
        return await asyncio.shield(future)

    async def authenticate(self, token: str):
        cached = self._auth.get(token)
        now = time.monotonic()
        if cached and cached[1] > now:
            return cached[0]
        # One lookup per token at a time (in broker mode a device's first messages all arrive before the first
        # lookup returns), and the tokens asked for in one turn of the loop share one query: 10,000 devices
        # reconnecting, or broker mode's first message of each, cost tens of queries instead of 10,000.
        pending = self._auth_pending.get(token)
        if pending is None:
            pending = self._auth_pending[token] = self.loop.create_future()
            if not self._auth_queue:
                self.loop.call_soon(self._look_up_queued)
            self._auth_queue.append(token)
        return await asyncio.shield(pending)

    def _look_up_queued(self) -> None:
        tokens, self._auth_queue = self._auth_queue, []
        for start in range(0, len(tokens), AUTH_BATCH):
            chunk = tokens[start : start + AUTH_BATCH]
            self.call(self.pipeline.authenticate_many, chunk).add_done_callback(
                lambda future, chunk=chunk: self._looked_up(chunk, future)
            )

    def _looked_up(self, tokens: list[str], future) -> None:
        error = asyncio.CancelledError() if future.cancelled() else future.exception()
        found = {} if error else future.result()
        now = time.monotonic()
        for token in tokens:
            waiter = self._auth_pending.pop(token)
            if error:
                waiter.set_exception(error)
                continue
            device = found.get(token)
            # unknown tokens are remembered briefly too, so a flood of bad connects does not hit the database
            self._auth[token] = (device, now + (self.auth_ttl if device else min(self.auth_ttl, 10.0)))
            waiter.set_result(device)

    def cached_device(self, token: str) -> tuple[bool, object]:
        """(seen, device) for a token looked up before, without waiting; device None = an unknown token.

        For the per-message path of broker mode, where the broker has authenticated the device already: an
        expired entry is still answered while it is looked up again in the background, so a device's messages
        never wait (or overtake each other) for a lookup of a token the process knows. A revoked token stops
        being accepted one lookup after `auth_ttl`.
        """
        cached = self._auth.get(token)
        if cached is None:
            return False, None
        device, expires = cached
        if expires <= time.monotonic() and token not in self._auth_pending:
            self.background(self.authenticate(token))
        return True, device

    def reject(self, reason: str, count: int = 1) -> None:
        self.rejected[reason] += count
        self._unreported[reason] += count

    async def report_every_second(self, stats_every: float | None = None) -> None:
        """Every second, hand the rejection counters and connection changes to the seam (a few calls, not one
        per message or connection); every `stats_every` seconds (LINLI_INGEST_STATS_S, default 60; 0 = never)
        log what the process did."""
        if stats_every is None:
            stats_every = float(os.environ.get("LINLI_INGEST_STATS_S", 60))
        last, messages = time.monotonic(), self.messages
        while True:
            await asyncio.sleep(1.0)
            await self.flush()
            now = time.monotonic()
            if stats_every and now - last >= stats_every:
                log.info("%s", self.stats(self.messages - messages, now - last))
                last, messages = now, self.messages

    def stats(self, messages: int, seconds: float) -> str:
        """One line for the operator: throughput, batch write times, backlog, rejections."""
        times, self.batcher.write_times = sorted(self.batcher.write_times), []
        line = f"{messages / seconds:,.0f} msg/s over {seconds:.0f} s; {len(times)} batches"
        if times:
            p50, p99 = times[len(times) // 2], times[int(len(times) * 0.99)]
            line += f", write p50 {1000 * p50:.0f} ms, p99 {1000 * p99:.0f} ms, max {1000 * times[-1]:.0f} ms"
        parts = getattr(self.pipeline, "STORE_SECONDS", None)
        if parts:
            spent = dict(parts)
            parts.clear()
            per_batch = ", ".join(f"{k} {1000 * v / max(len(times), 1):.0f}" for k, v in spent.items())
            line += f" (per batch, ms: {per_batch})"
        line += f"; {self.batcher.pending:,} readings waiting; {self.alarm_changes} alarm changes"
        if self.rejected:
            line += "; rejected so far: " + ", ".join(f"{k} {v}" for k, v in sorted(self.rejected.items()))
        return line

    def connected(self, device_id: int, connected: bool) -> None:
        """A device (or a device behind a gateway) connected or went away: written with the next flush, so a
        thousand devices reconnecting after a restart cost one UPDATE, not a thousand."""
        self._connections[device_id] = connected

    async def flush(self) -> None:
        pending, self._unreported = self._unreported, Counter()
        for reason, count in pending.items():
            try:
                await self.call(self.pipeline.record_rejected, reason, count)
            except Exception:
                log.exception("record_rejected failed")
                self._unreported[reason] += count
        changes, self._connections = self._connections, {}
        if changes:
            try:
                await self.call(self.pipeline.mark_connected_many, changes)
            except Exception:
                log.exception("mark_connected_many failed")
                self._connections = {**changes, **self._connections}

    def _alarm_changes(self, changes) -> None:
        self.alarm_changes += len(changes)
        for listener in self.change_listeners:
            listener(changes)

    async def child(self, gateway, name: str, device_type: str | None = None):
        key = (gateway.id, name)
        device = self._children.get(key)
        if device is None and gateway.id not in self._children_loaded:
            # all its known children in one query, once per gateway (not one lookup per child)
            children = await self._single_flight(
                self._gateways_pending, gateway.id, self.pipeline.gateway_children, gateway
            )
            for child_name, known in children.items():
                self._children.setdefault((gateway.id, child_name), known)
            self._children_loaded.add(gateway.id)
            device = self._children.get(key)
        if device is None:
            device = await self._single_flight(
                self._children_pending, key, self.pipeline.gateway_child, gateway, name, device_type
            )
            self._children[key] = device
        if self.on_child is not None:
            self.on_child(gateway, device)
        return device

    # --- message routing ----------------------------------------------------------------------------------

    def handle(self, device, topic: str, payload: bytes, ack, respond) -> None:
        """One PUBLISH from an authenticated device. `ack(reason)` is called exactly once."""
        self.messages += 1
        if topic in TELEMETRY_TOPICS:
            try:
                entries = payloads.telemetry(payloads.loads(payload), now_ms())
            except PayloadError:
                self.reject(MALFORMED)
                ack(codec.RC_PAYLOAD_FORMAT_INVALID)
                return
            self.store(device.id, entries, ack)
            return
        if topic.startswith(GATEWAY_PREFIX):
            if not device.is_gateway:
                self.reject(FORBIDDEN_TOPIC)
                ack(codec.RC_NOT_AUTHORISED)
                return
            self._spawn(self._gateway(device, topic[len(GATEWAY_PREFIX) :], payload, ack, respond), ack)
            return
        if (
            topic in ATTRIBUTE_TOPICS
            or topic.startswith((ATTR_REQUEST, ATTR_REQUEST_V2, RPC_REQUEST, RPC_RESPONSE))
            or topic == CLAIM_TOPIC
        ):
            self._spawn(self._device(device, topic, payload, ack, respond), ack)
            return
        self.reject(FORBIDDEN_TOPIC)
        ack(codec.RC_NOT_AUTHORISED)

    def store(self, device_id: int, entries, ack) -> None:
        Reading = self.pipeline.Reading
        readings = [Reading(device_id, ts, values) for ts, values in entries]
        self.batcher.add(readings, ack, device_id)

    def _spawn(self, coro, ack) -> None:
        task = self.loop.create_task(coro)

        def done(t):
            if t.cancelled():
                return
            error = t.exception()
            if isinstance(error, PermissionError | ValueError) and not isinstance(error, PayloadError):
                # gateway_child: a name that is another gateway's (or no gateway's) device, or invalid
                self.reject(FORBIDDEN_TOPIC)
                ack(codec.RC_NOT_AUTHORISED)
            elif isinstance(error, PayloadError):
                self.reject(MALFORMED)
                ack(codec.RC_PAYLOAD_FORMAT_INVALID)
            elif error is not None:
                log.error("message handling failed: %r", error, exc_info=error)
                ack(codec.RC_UNSPECIFIED)

        task.add_done_callback(done)

    async def _device(self, device, topic, payload, ack, respond) -> None:
        pipeline = self.pipeline
        data = payloads.loads(payload)
        if topic in ATTRIBUTE_TOPICS:
            await self.call(pipeline.store_client_attributes, device.id, payloads.attributes(data))
        elif topic.startswith((ATTR_REQUEST, ATTR_REQUEST_V2)):
            request_id = topic.rsplit("/", 1)[1]
            client_keys, shared_keys = payloads.attribute_request(data)
            found = await self.call(pipeline.get_attributes, device.id, client_keys, shared_keys)
            answer = {k: v for k, v in found.items() if v}
            prefix = (
                "v2/a/res/" if topic.startswith(ATTR_REQUEST_V2) else "v1/devices/me/attributes/response/"
            )
            respond(prefix + request_id, answer)
        elif topic.startswith(RPC_RESPONSE):
            rpc_id = _int_suffix(topic)
            await self.call(pipeline.rpc_response, device.id, rpc_id, data)
        elif topic.startswith(RPC_REQUEST):
            request_id = topic.rsplit("/", 1)[1]
            method, params = payloads.rpc_request(data)
            if method == "getSessionLimits":
                answer = self.limits.session_limits(device.is_gateway)
            else:
                answer = await self.call(pipeline.rpc_from_device, device.id, method, params)
            if answer is not None:
                respond(RPC_RESPONSE + request_id, answer)
        # claim: accepted and acknowledged; device claiming is not part of Linli (devices are placed by staff)
        ack(0)

    async def _gateway(self, gateway, action, payload, ack, respond) -> None:
        pipeline = self.pipeline
        data = payloads.loads(payload)
        if action == "telemetry":
            per_device = payloads.gateway_telemetry(data, now_ms())
            Reading = pipeline.Reading
            readings = []
            for name, entries in per_device.items():
                child = await self.child(gateway, name)
                readings.extend(Reading(child.id, ts, values) for ts, values in entries)
            self.batcher.add(readings, ack, gateway.id)  # its children's readings all come through it
            return
        if action == "connect":
            name, device_type = payloads.gateway_device(data)
            child = await self.child(gateway, name, device_type)
            self.connected(child.id, True)
        elif action == "disconnect":
            name, _ = payloads.gateway_device(data)
            child = await self.child(gateway, name)
            self.connected(child.id, False)
        elif action == "attributes":
            for name, values in payloads.gateway_attributes(data).items():
                child = await self.child(gateway, name)
                await self.call(pipeline.store_client_attributes, child.id, values)
        elif action == "attributes/request":
            request = payloads.gateway_attribute_request(data)
            child = await self.child(gateway, request["device"])
            found = await self.call(
                pipeline.get_attributes, child.id, request["client_keys"], request["shared_keys"]
            )
            respond("v1/gateway/attributes/response", payloads.gateway_attribute_response(request, found))
        elif action == "rpc":
            name, rpc_id, response = payloads.gateway_rpc_reply(data)
            child = await self.child(gateway, name)
            await self.call(pipeline.rpc_response, child.id, rpc_id, response)
        elif action == "claim":
            pass
        else:
            self.reject(FORBIDDEN_TOPIC)
            ack(codec.RC_NOT_AUTHORISED)
            return
        ack(0)

    async def provision(self, payload: bytes) -> dict:
        try:
            key, secret, name, credentials = payloads.provision_request(payloads.loads(payload))
        except PayloadError as exc:
            self.reject(MALFORMED)
            return {"status": "FAILURE", "errorMsg": str(exc)}
        return await self.call(self.pipeline.provision, key, secret, name, credentials or None)

    def close(self) -> None:
        """Stop the worker threads and close their database connections (a test database can be dropped)."""
        close_executor(self.executor)
        self.batcher.close()


def close_executor(executor: ThreadPoolExecutor) -> None:
    """Shut a pool down after every one of its threads has closed its database connection."""
    # one task per possible thread: held at the barrier, no thread can take two
    threads = executor._max_workers
    barrier = threading.Barrier(threads, timeout=5)
    for _ in range(threads):
        executor.submit(_close_db, barrier)
    executor.shutdown(wait=True)


def _retry_locked(fn, *args):
    """SQLite answers "database is locked" / "table is locked" while another thread writes: wait and retry."""
    from django.db import OperationalError

    for attempt in range(6):
        try:
            return fn(*args)
        except OperationalError as exc:
            if "locked" not in str(exc) or attempt == 5:
                raise
            time.sleep(0.05 * 2**attempt)


def _close_db(barrier) -> None:
    from django.db import connections

    connections.close_all()
    try:
        barrier.wait()  # one task per thread: no thread takes two and leaves another's connection open
    except threading.BrokenBarrierError:
        pass


def _log_failure(future) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("background call failed: %r", future.exception(), exc_info=future.exception())


def _int_suffix(topic: str) -> int:
    try:
        return int(topic.rsplit("/", 1)[1])
    except ValueError:
        raise PayloadError("the request id at the end of the topic must be a number") from None


def downlink_message(downlink) -> tuple[str, dict]:
    """A queued server→device message as (topic in the device's view, payload)."""
    if downlink.kind == "rpc":
        return RPC_REQUEST + str(downlink.rpc_id), downlink.payload
    return ATTRIBUTE_TOPICS[0], downlink.payload


def gateway_downlink_message(downlink, child_name: str) -> tuple[str, dict]:
    """The same message for a device behind a gateway, in the gateway API's envelope."""
    if downlink.kind == "rpc":
        data = {"id": downlink.rpc_id, **downlink.payload}
        return "v1/gateway/rpc", {"device": child_name, "data": data}
    return "v1/gateway/attributes", {"device": child_name, "data": downlink.payload}
