"""A small asyncio MQTT 3.1.1/5 client on our codec: broker-mode worker, simulator and load generator.

Thousands of connections in one process (one Protocol each, no thread per client, unlike paho), QoS 1 with a
bounded number of unacknowledged messages per connection (paho stalls when 65,535 are outstanding), and, for
the worker, manual acknowledgement (`on_packet` + `ack()`). Tests use third-party clients (paho, the
ThingsBoard SDK) as devices.
"""

from __future__ import annotations

import asyncio

from . import codec


class ConnectRefused(ConnectionError):
    def __init__(self, reason: int):
        super().__init__(f"CONNACK refused: 0x{reason:02x}")
        self.reason = reason


class MqttClient(asyncio.Protocol):
    def __init__(
        self, *, version: int = codec.MQTT5, max_inflight: int = 100, on_message=None, on_packet=None
    ):
        self.version = version
        self.max_inflight = max_inflight
        self.on_message = on_message  # fn(topic, payload); QoS 1 acknowledged at once
        self.on_packet = (
            on_packet  # fn(client, Publish); the caller acknowledges with client.ack(packet_id) when ready
        )
        self.reader = codec.Reader(version=version)
        self.transport = None
        self.connack: asyncio.Future | None = None
        self.inflight: dict[int, asyncio.Future] = {}
        self.slots: asyncio.Semaphore | None = None
        self.next_id = 0
        self.closed: asyncio.Future | None = None
        self.assigned_client_id = None
        self.acked = 0
        self.failed = 0
        self.session_present = False
        self._pinger = None

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        username: str | None,
        password: str | None = None,
        *,
        client_id: str = "",
        version: int = codec.MQTT5,
        clean_start: bool = True,
        keepalive: int = 60,
        session_expiry: int = 0,
        max_inflight: int = 100,
        on_message=None,
        on_packet=None,
        receive_maximum: int | None = None,
        timeout: float = 30.0,
    ) -> MqttClient:
        loop = asyncio.get_running_loop()
        _, client = await asyncio.wait_for(
            loop.create_connection(
                lambda: cls(
                    version=version, max_inflight=max_inflight, on_message=on_message, on_packet=on_packet
                ),
                host,
                port,
            ),
            timeout,
        )
        props = {}
        if version == codec.MQTT5:
            if session_expiry:
                props[codec.SESSION_EXPIRY] = session_expiry
            if receive_maximum:
                props[codec.RECEIVE_MAXIMUM] = receive_maximum
        client.transport.write(
            codec.connect(
                client_id,
                version=version,
                username=username,
                password=password,
                clean_start=clean_start,
                keepalive=keepalive,
                properties=props or None,
            )
        )
        ack = await asyncio.wait_for(client.connack, timeout)
        if ack.reason:
            client.transport.close()
            raise ConnectRefused(ack.reason)
        client.assigned_client_id = ack.properties.get(codec.ASSIGNED_CLIENT_ID)
        client.session_present = ack.session_present
        if keepalive:
            client._pinger = loop.create_task(client._ping(keepalive / 2))
        return client

    async def _ping(self, every: float) -> None:
        while not self.closed.done():
            await asyncio.sleep(every)
            if not self.closed.done():
                self.transport.write(codec.PINGREQ_BYTES)

    def connection_made(self, transport):
        self.transport = transport
        loop = asyncio.get_running_loop()
        self.connack = loop.create_future()
        self.closed = loop.create_future()
        self.slots = asyncio.Semaphore(self.max_inflight)

    def connection_lost(self, exc):
        if self._pinger is not None:
            self._pinger.cancel()
        for future in self.inflight.values():
            if not future.done():
                future.set_exception(ConnectionError("connection lost"))
        self.inflight.clear()
        if not self.connack.done():
            self.connack.set_exception(ConnectionError("connection lost before CONNACK"))
        if not self.closed.done():
            self.closed.set_result(exc)

    def data_received(self, data):
        for packet in self.reader.feed(data):
            if isinstance(packet, codec.Ack):
                if packet.type == codec.CONNACK:
                    if not self.connack.done():
                        self.connack.set_result(packet)
                elif packet.type in (codec.PUBACK, codec.SUBACK, codec.UNSUBACK):
                    future = self.inflight.pop(packet.packet_id, None)
                    if packet.type == codec.PUBACK:
                        self.slots.release()
                        if packet.reason:
                            self.failed += 1
                        else:
                            self.acked += 1
                    if future is not None and not future.done():
                        future.set_result(packet)
                elif packet.type == codec.DISCONNECT:
                    self.transport.close()
            elif isinstance(packet, codec.Publish):
                if self.on_packet is not None:
                    self.on_packet(self, packet)
                    continue
                if packet.qos:
                    self.transport.write(codec.puback(packet.packet_id, 0, self.version))
                if self.on_message is not None:
                    self.on_message(packet.topic, packet.payload)

    def _packet_id(self) -> int:
        while True:
            self.next_id = self.next_id % 65535 + 1
            if self.next_id not in self.inflight:
                return self.next_id

    def ack(self, packet_id: int) -> None:
        """PUBACK a message received through on_packet (no-op once the connection is gone: the broker will
        deliver it again in the resumed session)."""
        if not self.closed.done():
            self.transport.write(codec.puback(packet_id, 0, self.version))

    async def publish(
        self, topic: str, payload: bytes, qos: int = 1, properties: dict | None = None
    ) -> asyncio.Future | None:
        """Send; for QoS 1 wait for a free in-flight slot and return the future of its PUBACK."""
        if self.closed.done():
            raise ConnectionError("not connected")
        if not qos:
            self.transport.write(
                codec.publish(topic, payload, 0, version=self.version, properties=properties)
            )
            return None
        await self.slots.acquire()
        if self.closed.done():
            self.slots.release()
            raise ConnectionError("not connected")
        packet_id = self._packet_id()
        future = asyncio.get_running_loop().create_future()
        self.inflight[packet_id] = future
        self.transport.write(
            codec.publish(topic, payload, 1, packet_id, version=self.version, properties=properties)
        )
        return future

    async def subscribe(self, filters: list[tuple[str, int]]) -> list[int]:
        return await self._acknowledged(lambda packet_id: codec.subscribe(packet_id, filters, self.version))

    async def unsubscribe(self, filters: list[str]) -> list[int]:
        return await self._acknowledged(lambda packet_id: codec.unsubscribe(packet_id, filters, self.version))

    async def _acknowledged(self, packet) -> list[int]:
        """Send a SUBSCRIBE or UNSUBSCRIBE (`packet(packet_id)`) and return its acknowledgement's reasons."""
        packet_id = self._packet_id()
        future = asyncio.get_running_loop().create_future()
        self.inflight[packet_id] = future
        self.transport.write(packet(packet_id))
        ack = await asyncio.wait_for(future, 30)
        return ack.reasons

    async def drain(self, timeout: float = 60.0) -> None:
        """Wait until every QoS 1 message sent so far is acknowledged."""
        pending = [f for f in self.inflight.values() if not f.done()]
        if pending:
            await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), timeout)

    async def disconnect(self) -> None:
        if not self.closed.done():
            self.transport.write(codec.disconnect(self.version))
            self.transport.close()
            await self.closed
