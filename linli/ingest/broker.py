"""Broker mode: ingest workers behind an existing MQTT broker (Mosquitto, EMQX), one shared subscription.

The broker authenticates devices (username = access token, password = access token) and its ACL lets a device
use only the topics under its own token: `v1/devices/{token}/…` for what ThingsBoard calls `v1/devices/me/…`,
and `v1/gateway/{token}/…` for `v1/gateway/…` (Mosquitto's `pattern … %u` ACL can enforce exactly that; it
cannot rewrite `me`). Each worker subscribes at QoS 1 with a persistent session (fixed client id, session
expiry) and acknowledges manually, only once the message is durable: a killed worker's unacknowledged messages
come back when it reconnects, and its queued ones wait for it in the broker.

N workers split the devices between them by partition: each subscribes to every device's topics with a session
of its own and keeps the devices whose token hashes to its partition, acknowledging the rest at once (they are
in another partition's session too). So a device's messages are all evaluated by one worker, in the order the
broker received them, and that worker's in-memory rule state is the only one for the device. A shared
subscription (`$share/…`, `shared=True`) costs the broker less, but Mosquitto deals its messages round robin,
which splits a device's readings across workers; use it only with a broker that dispatches by publisher
(EMQX's `hash_clientid`).

Downlink (replies, shared attributes, RPC) is published by the workers to the same per-device topics with the
user property `linli=down`; workers skip messages carrying it, because in ThingsBoard's topic scheme the same
topic (`…/attributes`, `…/rpc/request/{id}`) carries both directions.
"""

from __future__ import annotations

import asyncio
import logging
import os
import zlib
from urllib.parse import unquote, urlparse

from . import codec, payloads
from .client import MqttClient
from .front import FORBIDDEN_TOPIC, UNKNOWN_TOKEN, Front, downlink_message, gateway_downlink_message

log = logging.getLogger("linli.ingest.broker")

SHARE_GROUP = "linli"
DOWN_PROPERTY = ("linli", "down")
SUBSCRIPTIONS = ("v1/devices/+/#", "v1/gateway/+/#")
SHARED_SUBSCRIPTIONS = tuple(f"$share/{SHARE_GROUP}/{t}" for t in SUBSCRIPTIONS)
SESSION_EXPIRY = 7 * 24 * 3600
RECEIVE_MAXIMUM = 20_000


def device_topic(token: str, topic: str) -> str:
    """Broker-mode topic: `v1/devices/me/x` → `v1/devices/{token}/x`; likewise `v1/gateway/…`."""
    if topic.startswith("v1/devices/me/"):
        return f"v1/devices/{token}/{topic[len('v1/devices/me/') :]}"
    if topic.startswith("v1/gateway/"):
        return f"v1/gateway/{token}/{topic[len('v1/gateway/') :]}"
    raise ValueError(f"no broker-mode topic for {topic}")


def split_topic(topic: str) -> tuple[str, str] | None:
    """`v1/devices/{token}/x` → (token, `v1/devices/me/x`); likewise `v1/gateway/{token}/x`."""
    parts = topic.split("/", 3)
    if len(parts) < 4 or parts[0] != "v1" or not parts[2]:
        return None
    if parts[1] == "devices":
        return parts[2], "v1/devices/me/" + parts[3]
    if parts[1] == "gateway":
        return parts[2], "v1/gateway/" + parts[3]
    return None


def partition_of(token: str, count: int) -> int:
    """The partition that owns a device token: stable across processes and restarts (unlike `hash`)."""
    return zlib.crc32(token.encode()) % count if count > 1 else 0


def parse_partition(text: str) -> tuple[int, int]:
    """`2/4` → (2, 4): the third of four partitions."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"a partition looks like 0/2 (this one of so many), not {text!r}") from None
    if not 0 <= index < count:
        raise ValueError(f"partition {text}: the first number must be from 0 to {count - 1}")
    return index, count


def session_name(partition: tuple[int, int] = (0, 1), worker_id: str | None = None) -> str:
    """A worker's client id. Its session holds the partition's queued messages, so the name says which
    partition of how many: a worker started with another count never takes over (and drops) a queue that was
    split another way."""
    if worker_id is None:
        worker_id = "0" if partition[1] == 1 else f"{partition[0]}-of-{partition[1]}"
    return f"linli-ingest-{worker_id}"


async def end_sessions(url: str, client_ids: list[str]) -> None:
    """End workers' persistent sessions, and the messages queued in them (after changing the partitions)."""
    config = parse_url(url)
    for client_id in client_ids:
        client = await MqttClient.connect(
            config["host"], config["port"], config["username"], config["password"], client_id=client_id
        )  # clean start, session expiry 0: the broker drops the old session, and this one ends with it
        await client.disconnect()


def parse_url(url: str) -> dict:
    parsed = urlparse(url)
    if parsed.scheme not in ("mqtt", "tcp", ""):
        raise ValueError("the broker URL must look like mqtt://user:password@host:1883")
    return {
        "host": parsed.hostname or "127.0.0.1",
        "port": parsed.port or 1883,
        "username": unquote(parsed.username) if parsed.username else os.environ.get("LINLI_BROKER_USER"),
        "password": unquote(parsed.password) if parsed.password else os.environ.get("LINLI_BROKER_PASSWORD"),
    }


class BrokerWorker:
    """One ingest worker: an MQTT 5 client on our codec, in the same event loop as the Front.

    (Not paho: paho runs its own network thread, so every message and every acknowledgement would cross
    threads; this client reads whole socket buffers in the event loop. Measured with a no-op store, the worker
    costs about 22 µs of CPU per message and kept up with everything the load generator offered.)
    """

    def __init__(
        self,
        front: Front,
        url: str,
        worker_id: str | None = None,
        *,
        downlink: bool = True,
        partition: tuple[int, int] = (0, 1),
        shared: bool = False,
    ):
        if shared and partition[1] > 1:  # the share already splits the messages: a filter would drop some
            raise ValueError("a worker on a shared subscription cannot also keep only one partition")
        self.front = front
        self.loop = front.loop
        self.config = parse_url(url)
        self.partition = partition
        self.shared = shared
        self._subscriptions, self._other_subscriptions = (
            (SHARED_SUBSCRIPTIONS, SUBSCRIPTIONS) if shared else (SUBSCRIPTIONS, SHARED_SUBSCRIPTIONS)
        )
        self.client_id = session_name(partition, worker_id)
        self.skipped = 0  # messages of other partitions' devices
        self.downlink = downlink
        self.client: MqttClient | None = None
        self.connected = asyncio.Event()
        self._cursor = 0
        self._tasks: list = []
        self._stopping = False
        self._waiting: dict[str, list] = {}  # token being looked up -> its messages, in arrival order

    # --- lifecycle ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks.append(self.loop.create_task(self._stay_connected()))
        await asyncio.wait_for(self.connected.wait(), 30)
        self._tasks.append(self.loop.create_task(self.front.report_every_second()))
        if self.downlink:
            self._tasks.append(self.loop.create_task(self._poll_downlink()))

    async def stop(self) -> None:
        self._stopping = True
        await self.front.batcher.drain()
        await self.front.flush()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.client is not None:
            await self.client.disconnect()

    async def _stay_connected(self) -> None:
        """Connect with the persistent session, subscribe, and reconnect whenever the connection drops.

        Quickly (0.1 s, at most 1 s apart): devices reconnect to a restarted broker and publish within a
        second, and what they send waits in the broker until this worker is back."""
        delay = 0.1
        while not self._stopping:
            try:
                client = await MqttClient.connect(
                    self.config["host"],
                    self.config["port"],
                    self.config["username"],
                    self.config["password"],
                    client_id=self.client_id,
                    clean_start=False,
                    session_expiry=SESSION_EXPIRY,
                    receive_maximum=RECEIVE_MAXIMUM,
                    keepalive=30,
                    max_inflight=1000,
                    on_packet=self._handle,
                )
                reasons = await client.subscribe([(t, 1) for t in self._subscriptions])
                if any(r > 1 for r in reasons):
                    raise ConnectionError(f"the broker refused the subscription: {reasons}")
                # a session kept from the other mode (shared or not) would deliver every message twice
                if client.session_present:
                    await client.unsubscribe(list(self._other_subscriptions))
            except (TimeoutError, OSError, ConnectionError) as exc:
                log.warning("worker %s cannot connect: %r", self.client_id, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            delay = 0.1
            self.client = client
            log.info("worker %s connected (session present: %s)", self.client_id, client.session_present)
            self.connected.set()
            await client.closed
            self.connected.clear()
            if not self._stopping:
                log.warning("worker %s lost its broker connection; reconnecting", self.client_id)

    # --- messages -----------------------------------------------------------------------------------------

    @staticmethod
    def _ack_for(client: MqttClient, packet):
        # (the connection it came on: a persistent session's queued messages arrive before connect() returns)
        if not packet.qos:
            return _no_ack
        packet_id = packet.packet_id
        # In broker mode the device already got its PUBACK from the broker; our ack only releases the message
        # from the broker, so a rejected message is acknowledged too (it was counted and must not come back).
        return lambda reason: client.ack(packet_id)

    def _handle(self, client: MqttClient, packet) -> None:
        ack = self._ack_for(client, packet)
        props = packet.properties
        if props and DOWN_PROPERTY in props.get(codec.USER_PROPERTY, ()):
            ack(0)
            return
        split = split_topic(packet.topic)
        if split is None:
            self.front.reject(FORBIDDEN_TOPIC)
            ack(codec.RC_NOT_AUTHORISED)
            return
        token, topic = split
        index, count = self.partition
        if count > 1 and partition_of(token, count) != index:
            self.skipped += 1
            ack(0)  # another partition's device: that worker's session has its own copy
            return
        self._route(token, topic, packet.payload, ack)

    def _route(self, token: str, topic: str, payload: bytes, ack) -> None:
        """Hand a message on in the order the broker delivered it, looking its token up if need be."""
        waiting = self._waiting.get(token)
        if waiting is not None:  # the token is being looked up: queue behind the device's earlier messages
            waiting.append((topic, payload, ack))
            return
        seen, device = self.front.cached_device(token)
        if not seen:
            self._waiting[token] = [(topic, payload, ack)]
            self.loop.create_task(self._look_up(token))
        elif device is None:
            self.front.reject(UNKNOWN_TOKEN)
            ack(codec.RC_NOT_AUTHORISED)
        else:
            self._dispatch(device, token, topic, payload, ack)

    async def _look_up(self, token: str) -> None:
        delay = 0.5
        while True:
            try:
                device = await self.front.authenticate(token)
                break
            except Exception:  # the database is away: the messages wait (unacknowledged) and we try again
                log.exception("looking up a device token failed; trying again in %.1f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        waiting = self._waiting[token]
        while waiting:  # a message received while these are handed on joins the end of the list
            topic, payload, ack = waiting.pop(0)
            if device is None:
                self.front.reject(UNKNOWN_TOKEN)
                ack(codec.RC_NOT_AUTHORISED)
            else:
                self._dispatch(device, token, topic, payload, ack)
        del self._waiting[token]

    def _dispatch(self, device, token, topic, payload, ack) -> None:
        def respond(reply_topic, answer, _token=token):
            self.publish(device_topic(_token, reply_topic), payloads.dumps(answer))

        self.front.handle(device, topic, payload, ack, respond)

    def publish(self, topic: str, payload: bytes, downlink_id: int | None = None) -> None:
        self.loop.create_task(self._publish(topic, payload, downlink_id))

    async def _publish(self, topic: str, payload: bytes, downlink_id: int | None) -> None:
        client = self.client
        if client is None:
            return
        try:
            future = await client.publish(
                topic, payload, 1, properties={codec.USER_PROPERTY: [DOWN_PROPERTY]}
            )
            ack = await asyncio.wait_for(future, 30)
        except (TimeoutError, ConnectionError):
            return  # not marked delivered: published again from the queue
        if downlink_id is not None and ack.reason < 0x80:
            self.front.fire(self.front.pipeline.downlink_delivered, downlink_id)

    async def _poll_downlink(self, interval: float = 0.5) -> None:
        """Publish queued shared-attribute updates and RPC to the topics of this partition's devices (the
        broker queues them for devices with a persistent session); a gateway's children get theirs on the
        gateway's topics."""
        pipeline = self.front.pipeline
        routes: dict[
            int, tuple[str, str | None] | None
        ] = {}  # device id -> (token, child name); None: deleted
        index, count = self.partition
        while True:
            await asyncio.sleep(interval)
            try:
                batch = await self.front.call(pipeline.pending_downlink, self._cursor, 1000)
                unknown = {downlink.device_id for downlink in batch} - routes.keys()
                if unknown:
                    found = await self.front.call(pipeline.downlink_routes, unknown)
                    routes.update((device_id, found.get(device_id)) for device_id in unknown)
                for downlink in batch:
                    self._cursor = max(self._cursor, downlink.id)
                    route = routes[downlink.device_id]
                    if route is None or partition_of(route[0], count) != index:
                        continue  # a deleted device, or another partition's
                    token, child_name = route
                    if child_name is not None:
                        topic, payload = gateway_downlink_message(downlink, child_name)
                    else:
                        topic, payload = downlink_message(downlink)
                    self.publish(device_topic(token, topic), payloads.dumps(payload), downlink.id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("downlink polling failed")
                await asyncio.sleep(2)


def _no_ack(reason) -> None:
    return None
