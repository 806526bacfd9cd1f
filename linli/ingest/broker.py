"""Broker mode: ingest workers behind an existing MQTT broker (Mosquitto, EMQX), one shared subscription.

The broker authenticates devices (username = access token, password = access token) and its ACL lets a device
use only the topics under its own token: `v1/devices/{token}/…` for what ThingsBoard calls `v1/devices/me/…`,
and `v1/gateway/{token}/…` for `v1/gateway/…` (Mosquitto's `pattern … %u` ACL can enforce exactly that; it
cannot rewrite `me`). N workers subscribe with `$share/linli/…` at QoS 1 with a persistent session (fixed
client id, session expiry) and acknowledge manually, only once the message is durable: a killed worker's
unacknowledged messages come back when it reconnects, and its queued ones wait for it in the broker.

Downlink (replies, shared attributes, RPC) is published by the workers to the same per-device topics with the
user property `linli=down`; workers skip messages carrying it, because in ThingsBoard's topic scheme the same
topic (`…/attributes`, `…/rpc/request/{id}`) carries both directions.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from urllib.parse import unquote, urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from . import codec, payloads
from .front import FORBIDDEN_TOPIC, UNKNOWN_TOKEN, Front, downlink_message, gateway_downlink_message

log = logging.getLogger("linli.ingest.broker")

SHARE_GROUP = "linli"
DOWN_PROPERTY = ("linli", "down")
SUBSCRIPTIONS = ("v1/devices/+/#", "v1/gateway/+/#")
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
    """One ingest worker: a paho MQTT 5 client feeding the shared Front (in this process's event loop)."""

    def __init__(self, front: Front, url: str, worker_id: str = "0", *, downlink: bool = True):
        self.front = front
        self.loop = front.loop
        self.config = parse_url(url)
        self.client_id = f"linli-ingest-{worker_id}"
        self.downlink = downlink
        self.connected = asyncio.Event()
        self._pending_publish: dict[int, int] = {}  # mid -> downlink id
        self._lock = threading.Lock()
        self._delivered: set[int] = set()
        self._cursor = 0
        self._tasks: list = []
        self._child_names: dict[int, tuple] = {}  # child id -> (gateway DeviceRef, child name)
        front.on_child = self._child_seen
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if self.config["username"]:
            client.username_pw_set(self.config["username"], self.config["password"])
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        self.client = client

    # --- lifecycle ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        self.client.reconnect_delay_set(0.2, 5)
        self.client.connect_async(
            self.config["host"], self.config["port"], keepalive=30, clean_start=False, properties=props
        )
        self.client.loop_start()
        await asyncio.wait_for(self.connected.wait(), 30)
        self._tasks.append(self.loop.create_task(self.front.report_rejections()))
        if self.downlink:
            self._tasks.append(self.loop.create_task(self._poll_downlink()))

    async def stop(self) -> None:
        await self.front.batcher.drain()
        await self.front.flush_rejections()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.client.disconnect()
        self.client.loop_stop()

    # --- paho callbacks (network thread) ------------------------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("broker refused the worker: %s", reason_code)
            return
        options = mqtt.SubscribeOptions(qos=1)
        client.subscribe([(f"$share/{SHARE_GROUP}/{topic}", options) for topic in SUBSCRIPTIONS])
        log.info("worker %s connected (session present: %s)", self.client_id, flags.session_present)
        self.loop.call_soon_threadsafe(self.connected.set)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        log.warning("worker %s disconnected: %s", self.client_id, reason_code)
        self.loop.call_soon_threadsafe(self.connected.clear)

    def _on_message(self, client, userdata, message):
        self.loop.call_soon_threadsafe(self._handle, message)

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        with self._lock:
            downlink_id = self._pending_publish.pop(mid, None)
        if downlink_id is not None and not reason_code.is_failure:
            self.loop.call_soon_threadsafe(self._delivered_downlink, downlink_id)

    # --- in the event loop --------------------------------------------------------------------------------

    def _ack_for(self, message):
        if message.qos == 0:
            return lambda reason: None
        mid, client = message.mid, self.client
        # In broker mode the device already got its PUBACK from the broker; our ack only releases the message
        # from the broker, so a rejected message is acknowledged too (it was counted and must not come back).
        return lambda reason: client.ack(mid, 1)

    def _handle(self, message) -> None:
        ack = self._ack_for(message)
        props = getattr(message, "properties", None)
        if props is not None and DOWN_PROPERTY in (getattr(props, "UserProperty", None) or []):
            ack(0)
            return
        split = split_topic(message.topic)
        if split is None:
            self.front.reject(FORBIDDEN_TOPIC)
            ack(codec.RC_NOT_AUTHORISED)
            return
        token, topic = split
        cached = self.front._auth.get(token)
        if cached and cached[1] > time.monotonic() and cached[0] is not None:
            self._dispatch(cached[0], token, topic, message.payload, ack)
        else:
            self.loop.create_task(self._authenticate_then(token, topic, message.payload, ack))

    async def _authenticate_then(self, token, topic, payload, ack) -> None:
        try:
            device = await self.front.authenticate(token)
        except Exception:
            log.exception("authenticate failed; the broker will redeliver")
            return
        if device is None:
            self.front.reject(UNKNOWN_TOKEN)
            ack(codec.RC_NOT_AUTHORISED)
            return
        self._dispatch(device, token, topic, payload, ack)

    def _dispatch(self, device, token, topic, payload, ack) -> None:
        def respond(reply_topic, answer, _token=token):
            self.publish(device_topic(_token, reply_topic), payloads.dumps(answer))

        self.front.handle(device, topic, payload, ack, respond)

    def publish(self, topic: str, payload: bytes, downlink_id: int | None = None) -> None:
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = [DOWN_PROPERTY]
        with self._lock:
            info = self.client.publish(topic, payload, qos=1, properties=props)
            if downlink_id is not None:
                self._pending_publish[info.mid] = downlink_id

    def _delivered_downlink(self, downlink_id: int) -> None:
        self._delivered.add(downlink_id)
        self.front.fire(self.front.pipeline.downlink_delivered, downlink_id)

    def _child_seen(self, gateway_device, child) -> None:
        self._child_names[child.id] = (gateway_device, child.name)

    async def _poll_downlink(self, interval: float = 0.5) -> None:
        """Publish queued shared-attribute updates and RPC to the devices' topics (the broker queues them for
        devices with a persistent session). Run exactly one worker with downlink on (`--downlink`)."""
        pipeline = self.front.pipeline
        tokens: dict[int, str] = {}
        while True:
            await asyncio.sleep(interval)
            try:
                batch = await self.front.call(pipeline.pending_downlink, self._cursor, 1000)
                for downlink in batch:
                    self._cursor = max(self._cursor, downlink.id)
                    if downlink.id in self._delivered:
                        continue
                    if downlink.device_id in self._child_names:
                        gateway, name = self._child_names[downlink.device_id]
                        topic, payload = gateway_downlink_message(downlink, name)
                        self.publish(device_topic(gateway.token, topic), payloads.dumps(payload), downlink.id)
                        continue
                    token = tokens.get(downlink.device_id)
                    if token is None:
                        device = await self.front.call(_device_by_id, pipeline, downlink.device_id)
                        if device is None:
                            continue
                        token = tokens[downlink.device_id] = device.token
                    topic, payload = downlink_message(downlink)
                    self.publish(device_topic(token, topic), payloads.dumps(payload), downlink.id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("downlink polling failed")
                await asyncio.sleep(2)


def _device_by_id(pipeline, device_id: int):
    finder = getattr(pipeline, "device_by_id", None)
    if finder is not None:
        return finder(device_id)
    for device in pipeline.list_devices():
        if device.id == device_id:
            return device
    return None
