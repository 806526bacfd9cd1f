"""The device gateway: Linli's own MQTT 3.1.1/5 endpoint for devices, ThingsBoard's device API on top.

One asyncio server; each TCP connection is a `Connection` (asyncio.Protocol, no task per message). Devices log
in with their access token as the username; an empty client id gets a server-assigned one (MQTT 5 Assigned
Client Identifier). Sessions with clean session off (3.1.1) or a session expiry (5) keep their subscriptions
and unacknowledged downlink messages in this process while the device is away. QoS 1 PUBACKs are sent only
when the message is durable (see front.Batcher). Downlink (shared attributes, RPC) comes from the seam's
pending_downlink() and goes to whichever local session holds the device (or the gateway it sits behind).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from dataclasses import dataclass, field

from . import codec, payloads
from .codec import MQTT5
from .front import (
    FORBIDDEN_TOPIC,
    PROTOCOL_ERROR,
    PROVISION_REQUEST,
    PROVISION_RESPONSE,
    UNKNOWN_TOKEN,
    Front,
)
from .shared import CONNECTED_TTL, SharedSessions

log = logging.getLogger("linli.ingest.gateway")

# Topic filters a device may subscribe to (its own downlink topics), by prefix.
ALLOWED_FILTER_PREFIXES = ("v1/devices/me/", "v2/")
GATEWAY_FILTER_PREFIX = "v1/gateway/"
MAX_SESSION_EXPIRY = 7 * 24 * 3600  # 3.1.1 persistent sessions and larger MQTT 5 expiries are capped here
CONNECT_TIMEOUT = 10.0


@dataclass
class Session:
    client_id: str
    device: object
    persistent: bool
    expiry: int = 0
    subscriptions: dict = field(default_factory=dict)  # filter -> granted QoS
    inflight: dict = field(default_factory=dict)  # packet id -> (topic, payload bytes, downlink id or None)
    next_id: int = 0
    connection: Connection | None = None
    gone_at: float | None = None
    children: dict = field(default_factory=dict)  # child device id -> child name (gateway sessions)
    rescan: bool = False
    attached_at: float = 0.0  # wall-clock time of the latest connect (ordering takeovers across processes)

    def packet_id(self) -> int:
        for _ in range(65535):
            self.next_id = self.next_id % 65535 + 1
            if self.next_id not in self.inflight:
                return self.next_id
        raise RuntimeError("all packet ids in flight")

    def qos_for(self, topic: str) -> int | None:
        granted = None
        for topic_filter, qos in self.subscriptions.items():
            if codec.topic_matches(topic_filter, topic):
                granted = qos if granted is None else max(granted, qos)
        return granted


class Connection(asyncio.Protocol):
    def __init__(self, gateway: DeviceGateway):
        self.gateway = gateway
        self.front = gateway.front
        self.transport = None
        self.reader = codec.Reader(max_packet=gateway.max_packet)
        self.version = None
        self.session: Session | None = None
        self.last_seen = time.monotonic()
        self.keepalive = 0
        self.provisioning = False
        self.closed = False
        self._early: list = []
        self.peer = None

    # --- asyncio.Protocol -------------------------------------------------------------------------------

    def connection_made(self, transport):
        self.transport = transport
        self.peer = transport.get_extra_info("peername")
        self.gateway.connections.add(self)
        if self.front.batcher.paused:
            transport.pause_reading()

    def connection_lost(self, exc):
        self.closed = True
        self.gateway.connections.discard(self)
        session = self.session
        if session is not None and session.connection is self:
            session.connection = None
            self.gateway.session_ended(session)

    def data_received(self, data):
        self.last_seen = time.monotonic()
        try:
            packets = self.reader.feed(data)
        except codec.MalformedPacket as exc:
            self.front.reject(PROTOCOL_ERROR)
            self.abort(codec.RC_MALFORMED, str(exc))
            return
        try:
            for packet in packets:
                if self.closed:
                    return
                self.dispatch(packet)
        except codec.ProtocolError as exc:
            self.front.reject(PROTOCOL_ERROR)
            self.abort(codec.RC_PROTOCOL_ERROR, str(exc))
        except codec.MalformedPacket as exc:
            self.front.reject(PROTOCOL_ERROR)
            self.abort(codec.RC_MALFORMED, str(exc))
        if self.front.batcher.paused and not self.closed:
            self.transport.pause_reading()  # back-pressure: storage is behind, stop reading devices

    def pause_writing(self):  # the device reads slower than we write: stop reading from it too
        self.transport.pause_reading()

    def resume_writing(self):
        if not self.front.batcher.paused:
            self.transport.resume_reading()

    # --- helpers ----------------------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        if not self.closed:
            self.transport.write(data)

    def abort(self, reason: int, why: str = "") -> None:
        if self.closed:
            return
        log.info("closing %s: %s", self.peer, why or hex(reason))
        if self.version == MQTT5 and self.session is not None:
            self.transport.write(codec.disconnect(MQTT5, reason))
        self.closed = True
        self.transport.close()

    def publish(self, topic: str, payload: bytes, qos: int, downlink_id=None) -> None:
        session = self.session
        if qos:
            packet_id = session.packet_id()
            session.inflight[packet_id] = (topic, payload, downlink_id)
            self.send(codec.publish(topic, payload, 1, packet_id, version=self.version))
        else:
            self.send(codec.publish(topic, payload, 0, version=self.version))
            if downlink_id is not None:
                self.gateway.delivered(downlink_id)

    def respond(self, topic: str, answer) -> None:
        """A reply to the device, delivered only if it subscribed to the topic (as a broker would)."""
        session = self.session
        if self.closed or session is None:
            return
        qos = session.qos_for(topic)
        if qos is not None:
            self.publish(topic, payloads.dumps(answer), qos)

    # --- packets ----------------------------------------------------------------------------------------

    def dispatch(self, packet) -> None:
        if self.session is None and not self.provisioning:
            if isinstance(packet, codec.Connect):
                self.on_connect(packet)
            elif self.version is None:
                self.abort(codec.RC_PROTOCOL_ERROR, "first packet is not CONNECT")
            # packets sent right after CONNECT, before the token is checked, are queued by on_connect
            else:
                self._early.append(packet)
            return
        if isinstance(packet, codec.Publish):
            self.on_publish(packet)
        elif isinstance(packet, codec.Ack):
            if packet.type == codec.PUBACK:
                entry = self.session.inflight.pop(packet.packet_id, None) if self.session else None
                if entry and entry[2] is not None:
                    self.gateway.delivered(entry[2])
            elif packet.type == codec.DISCONNECT:
                self.closed = True
                self.transport.close()
            elif packet.type in (codec.PUBREC, codec.PUBREL, codec.PUBCOMP, codec.AUTH):
                raise codec.ProtocolError("QoS 2 and enhanced authentication are not supported")
            else:
                raise codec.ProtocolError("unexpected packet from a client")
        elif isinstance(packet, codec.Subscribe):
            if packet.type == codec.SUBSCRIBE:
                self.on_subscribe(packet)
            else:
                self.on_unsubscribe(packet)
        elif isinstance(packet, codec.Ping):
            if packet.type != codec.PINGREQ:
                raise codec.ProtocolError("PINGRESP from a client")
            self.send(codec.PINGRESP_BYTES)
        elif isinstance(packet, codec.Connect):
            raise codec.ProtocolError("second CONNECT")

    def on_connect(self, packet: codec.Connect) -> None:
        if packet.client_id is None:  # MQTT 3.1 or an unknown protocol level
            self.transport.write(codec.connack(codec.MQTT311, codec.V3_BAD_PROTOCOL))
            self.closed = True
            self.transport.close()
            return
        self.version = packet.version
        self.reader.version = packet.version
        self.keepalive = packet.keepalive
        self.transport.pause_reading()  # nothing else is read until the token is checked
        asyncio.get_running_loop().create_task(self._login(packet))

    async def _login(self, packet: codec.Connect) -> None:
        version = self.version
        username = packet.username
        if username == "provision" or (not username and packet.client_id == "provision"):
            self.provisioning = True
            self.session = Session(packet.client_id or "provision", None, False)
            self.transport.write(
                codec.connack(version, 0, properties=self.gateway.connack_properties(version))
            )
            self._resume()
            return
        if not username:
            self.front.reject(UNKNOWN_TOKEN)
            code = codec.RC_BAD_CREDENTIALS if version == MQTT5 else codec.V3_BAD_CREDENTIALS
            self._refuse(code)
            return
        try:
            device = await self.front.authenticate(username)
        except Exception:
            log.exception("authenticate failed")
            self._refuse(codec.RC_SERVER_BUSY if version == MQTT5 else codec.V3_UNAVAILABLE)
            return
        if device is None:
            self.front.reject(UNKNOWN_TOKEN)
            self._refuse(codec.RC_NOT_AUTHORISED if version == MQTT5 else codec.V3_NOT_AUTHORISED)
            return
        if self.closed:
            return
        client_id = packet.client_id
        assigned = None
        if not client_id:
            if version != MQTT5 and not packet.clean_start:
                self._refuse(codec.V3_ID_REJECTED)  # 3.1.1 §3.1.3-8: an empty id needs clean session
                return
            client_id = assigned = "linli-" + secrets.token_hex(8)
        if version == MQTT5:
            expiry = min(packet.properties.get(codec.SESSION_EXPIRY, 0), MAX_SESSION_EXPIRY)
        else:
            expiry = 0 if packet.clean_start else MAX_SESSION_EXPIRY
        stored = await self.gateway.claim(client_id, packet.clean_start)
        if self.closed:
            return
        session, present = self.gateway.attach(self, client_id, device, packet.clean_start, expiry, stored)
        self.session = session
        props = self.gateway.connack_properties(version)
        if assigned:
            props[codec.ASSIGNED_CLIENT_ID] = assigned
        self.transport.write(codec.connack(version, 0, present, props))
        if present:
            for packet_id, (topic, payload, _) in list(session.inflight.items()):
                self.send(codec.publish(topic, payload, 1, packet_id, version=version, dup=True))
        self.front.connected(device.id, True)
        self.gateway.device_online(session)
        self._resume()

    def _refuse(self, code: int) -> None:
        if not self.closed:
            self.transport.write(codec.connack(self.version, code))
            self.closed = True
            self.transport.close()

    def _resume(self) -> None:
        early, self._early = self._early, []
        for packet in early:
            if self.closed:
                return
            self.dispatch(packet)
        if not self.closed and not self.front.batcher.paused:
            self.transport.resume_reading()

    def on_publish(self, packet: codec.Publish) -> None:
        qos = packet.qos
        if qos == 2:
            raise codec.ProtocolError("QoS 2 is not supported (Maximum QoS is 1)")
        if packet.retain and self.version == MQTT5:
            raise codec.ProtocolError("retained messages are not supported")
        version = self.version
        if qos:
            packet_id = packet.packet_id

            def ack(reason, _send=self.send, _id=packet_id):
                if reason and version != MQTT5:
                    reason = 0  # 3.1.1 has no negative PUBACK; the rejection was counted
                _send(codec.puback(_id, reason, version))
        else:

            def ack(reason):
                return None

        if self.provisioning:
            if packet.topic == PROVISION_REQUEST:
                asyncio.get_running_loop().create_task(self._provision(packet.payload, ack))
            else:
                self.front.reject(FORBIDDEN_TOPIC)
                ack(codec.RC_NOT_AUTHORISED)
            return
        self.front.handle(self.session.device, packet.topic, packet.payload, ack, self.respond)

    async def _provision(self, payload: bytes, ack) -> None:
        answer = await self.front.provision(payload)
        ack(0)
        self.respond(PROVISION_RESPONSE, answer)

    def on_subscribe(self, packet: codec.Subscribe) -> None:
        session = self.session
        is_gateway = bool(session.device and session.device.is_gateway)
        reasons = []
        for topic_filter, options in packet.filters:
            allowed = codec.valid_filter(topic_filter) and (
                topic_filter.startswith(ALLOWED_FILTER_PREFIXES)
                or (is_gateway and topic_filter.startswith(GATEWAY_FILTER_PREFIX))
                or (self.provisioning and topic_filter == PROVISION_RESPONSE)
            )
            if self.provisioning and topic_filter != PROVISION_RESPONSE:
                allowed = False
            if allowed:
                qos = min(options & 3, 1)
                session.subscriptions[topic_filter] = qos
                reasons.append(qos)
            else:
                self.front.reject(FORBIDDEN_TOPIC)
                reasons.append(codec.RC_NOT_AUTHORISED if self.version == MQTT5 else 0x80)
        self.send(codec.suback(packet.packet_id, reasons, self.version))
        self.gateway.save_session(session)
        if any(r <= 1 for r in reasons) and session.device is not None:
            self.gateway.device_online(session)  # deliver what waited for this subscription

    def on_unsubscribe(self, packet: codec.Subscribe) -> None:
        reasons = []
        for topic_filter in packet.filters:
            found = self.session.subscriptions.pop(topic_filter, None)
            reasons.append(0 if found is not None else 0x11)
        self.send(codec.suback(packet.packet_id, reasons, self.version, kind=codec.UNSUBACK))
        self.gateway.save_session(self.session)


class DeviceGateway:
    """The MQTT server: connections, sessions, keep-alive, downlink delivery."""

    def __init__(
        self,
        front: Front,
        host: str = "127.0.0.1",
        port: int = 1883,
        *,
        max_packet: int = 262_144,
        reuse_port: bool = False,
        shared: SharedSessions | None = None,
    ):
        self.front = front
        self.shared = shared  # session takeover and persistent sessions across gateway processes (Redis)
        self.reuse_port = reuse_port  # several gateway processes on one port (`linli ingest --processes N`)
        self.host = host
        self.port = port
        self.max_packet = max_packet
        self.connections: set[Connection] = set()
        self.sessions: dict[str, Session] = {}
        self.by_device: dict[int, Session] = {}  # device id (or child id behind a gateway) -> session
        self.server = None
        self._tasks: list = []
        self._delivered: set[int] = set()
        self._downlink_cursor = 0
        self._wake = asyncio.Event()
        front.batcher.on_drain(self._resume_all)
        front.on_child = self._child_seen

    def connack_properties(self, version: int) -> dict:
        if version != MQTT5:
            return {}
        return {
            codec.MAXIMUM_QOS: 1,
            codec.RETAIN_AVAILABLE: 0,
            codec.SHARED_SUB_AVAILABLE: 0,
            codec.SUB_ID_AVAILABLE: 0,
            codec.RECEIVE_MAXIMUM: self.front.limits.max_inflight,
            codec.MAXIMUM_PACKET_SIZE: self.max_packet,
        }

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: Connection(self),
            self.host,
            self.port,
            reuse_address=True,
            reuse_port=self.reuse_port or None,
            backlog=4096,
        )
        self.port = self.server.sockets[0].getsockname()[1]
        if self.shared is not None:
            await self.shared.start()
        self._tasks = [
            loop.create_task(self._watch_keepalive()),
            loop.create_task(self._downlink()),
            loop.create_task(self.front.report_every_second()),
        ]
        log.info("device gateway listening on %s:%s (pid %s)", self.host, self.port, os.getpid())

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for connection in list(self.connections):
            connection.transport.close()
        await self.front.batcher.drain()
        await self.front.flush()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.shared is not None:
            await self.shared.stop()

    # --- sessions ---------------------------------------------------------------------------------------

    async def claim(self, client_id: str, clean: bool) -> dict | None:
        """Tell the other gateway processes (if any) that this one holds the client id now; the persistent
        session they stored for it."""
        if self.shared is None:
            return None
        try:
            return await self.shared.claim(client_id, clean)
        except Exception as exc:  # Redis away: the device is served; its session is this process's alone
            log.warning("Redis unavailable, session %s not shared: %r", client_id, exc)
            return None

    def save_session(self, session: Session) -> None:
        if self.shared is None or not session.persistent or session.device is None:
            return
        self.front.background(
            self.shared.save(
                session.client_id, session.device.id, session.subscriptions, session.expiry + CONNECTED_TTL
            )
        )

    def taken_over(self, client_id: str, at: float) -> None:
        """Another gateway process accepted this client id: close our connection with it, drop the session."""
        session = self.sessions.get(client_id)
        if session is None or session.attached_at > at:
            return  # not here, or the device has come back here since
        del self.sessions[client_id]
        for device_id in (session.device.id if session.device else None, *session.children):
            if self.by_device.get(device_id) is session:
                del self.by_device[device_id]
        old, session.connection = session.connection, None  # the new holder marks the device connected
        if old is not None:
            old.abort(codec.RC_SESSION_TAKEN_OVER, "session taken over in another gateway process")

    def attach(self, connection: Connection, client_id: str, device, clean: bool, expiry: int, stored=None):
        session = self.sessions.get(client_id)
        if session is not None and session.device is not None and session.device.id != device.id:
            session = None  # another device's id: never hand over its session
        if session is not None and session.connection is not None:
            old = session.connection
            session.connection = None
            old.abort(codec.RC_SESSION_TAKEN_OVER, "session taken over")
        present = session is not None and not clean
        if not present:
            session = Session(client_id, device, persistent=expiry > 0, expiry=expiry)
            self.sessions[client_id] = session
            if stored and not clean and stored.get("device") == device.id:  # left in another process
                session.subscriptions = dict(stored.get("subscriptions") or {})
                present = True
        session.device = device
        session.persistent = expiry > 0
        session.expiry = expiry
        session.gone_at = None
        session.attached_at = time.time()
        session.connection = connection
        self.by_device[device.id] = session
        return session, present

    def session_ended(self, session: Session) -> None:
        if session.device is None:
            self.sessions.pop(session.client_id, None)
            return
        if self.by_device.get(session.device.id) is session:
            self.by_device.pop(session.device.id, None)
        for child_id in session.children:
            if self.by_device.get(child_id) is session:
                self.by_device.pop(child_id, None)
        self.front.connected(session.device.id, False)
        if session.persistent:
            session.gone_at = time.monotonic()
            if self.shared is not None:
                self.front.background(self.shared.away(session.client_id, session.expiry))
        else:
            self.sessions.pop(session.client_id, None)

    def device_online(self, session: Session) -> None:
        """A device (re)connected or subscribed: look for downlink waiting for it."""
        session.rescan = True
        self._wake.set()

    def _resume_all(self) -> None:
        for connection in list(self.connections):
            if connection.session is not None and not connection.closed:
                connection.transport.resume_reading()

    async def _watch_keepalive(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            paused = self.front.batcher.paused
            for connection in list(self.connections):
                idle = now - connection.last_seen
                if connection.session is None and not connection.provisioning and idle > CONNECT_TIMEOUT:
                    connection.abort(codec.RC_PROTOCOL_ERROR, "no CONNECT")
                elif connection.keepalive and idle > connection.keepalive * 1.5 and not paused:
                    connection.abort(codec.RC_KEEP_ALIVE_TIMEOUT, "keep-alive timeout")
                elif paused:
                    connection.last_seen = now  # we stopped reading: the device is not the idle one
            for client_id, session in list(self.sessions.items()):
                if session.gone_at is not None and now - session.gone_at > session.expiry:
                    del self.sessions[client_id]

    # --- downlink ---------------------------------------------------------------------------------------

    def delivered(self, downlink_id: int) -> None:
        self._delivered.add(downlink_id)
        self.front.fire(self.front.pipeline.downlink_delivered, downlink_id)

    def _deliver(self, downlink) -> bool:
        from .front import downlink_message, gateway_downlink_message

        if downlink.id in self._delivered:
            return True
        if downlink.expires_at is not None:
            from django.utils import timezone

            if downlink.expires_at < timezone.now():
                return True
        session = self.by_device.get(downlink.device_id)
        if session is None or session.connection is None or session.connection.closed:
            return False
        if any(entry[2] == downlink.id for entry in session.inflight.values()):
            return True
        if session.device.id == downlink.device_id:
            topic, payload = downlink_message(downlink)
        else:
            topic, payload = gateway_downlink_message(downlink, session.children[downlink.device_id])
        qos = session.qos_for(topic)
        if qos is None:
            return False  # not subscribed (yet): it stays queued
        session.connection.publish(topic, payloads.dumps(payload), qos, downlink.id)
        return True

    async def _downlink(self, interval: float = 0.5) -> None:
        pipeline = self.front.pipeline
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), interval)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                rescan = [s for s in self.sessions.values() if s.rescan and s.device]
                ids = []
                for session in rescan:
                    session.rescan = False
                    ids += [session.device.id, *session.children]
                for start in range(0, len(ids), 1000):  # one query per thousand devices that (re)connected
                    batch = ids[start : start + 1000]
                    found = await self.front.call(pipeline.pending_downlink, 0, 10_000, None, batch)
                    for downlink in found:
                        self._deliver(downlink)
                batch = await self.front.call(pipeline.pending_downlink, self._downlink_cursor, 1000)
                for downlink in batch:
                    self._deliver(downlink)
                    self._downlink_cursor = max(self._downlink_cursor, downlink.id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("downlink polling failed")
                await asyncio.sleep(2)

    def _child_seen(self, gateway_device, child) -> None:
        """A device behind a gateway spoke: its downlink goes through the gateway's session."""
        session = self.by_device.get(gateway_device.id)
        if session is not None and child.id not in session.children:
            session.children[child.id] = child.name
            self.by_device[child.id] = session
            session.rescan = True
            self._wake.set()
