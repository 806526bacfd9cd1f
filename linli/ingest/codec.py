"""MQTT 3.1.1 and 5.0 packet codec: bytes in, packet objects out, and back.

Our own because no library on PyPI covers both protocol levels for a server: `mqtt5` (Rust) refuses a 3.1.1
CONNECT ("Invalid protocol version") and cannot parse a 3.1.1 PUBLISH (it expects a properties field), amqtt
refuses MQTT 5, and paho/gmqtt are clients. Only the packets a QoS 0/1 device endpoint needs are here; QoS 2
and AUTH are parsed so that they can be refused properly. The hot path (PUBLISH, PUBACK) avoids allocations
beyond the packet object itself.
"""

from __future__ import annotations

import struct

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 13, 14, 15

MQTT311, MQTT5 = 4, 5
MAX_REMAINING = 268_435_455

# Property identifiers (MQTT 5 §2.2.2.2) and their wire types.
_BYTE, _U16, _U32, _VARINT, _STR, _BIN, _PAIR = range(7)
PAYLOAD_FORMAT, MESSAGE_EXPIRY, CONTENT_TYPE, RESPONSE_TOPIC, CORRELATION_DATA = 0x01, 0x02, 0x03, 0x08, 0x09
SUBSCRIPTION_ID, SESSION_EXPIRY, ASSIGNED_CLIENT_ID, SERVER_KEEP_ALIVE = 0x0B, 0x11, 0x12, 0x13
AUTH_METHOD, AUTH_DATA, REQUEST_PROBLEM_INFO, WILL_DELAY, REQUEST_RESPONSE_INFO = 0x15, 0x16, 0x17, 0x18, 0x19
RESPONSE_INFO, SERVER_REFERENCE, REASON_STRING, RECEIVE_MAXIMUM = 0x1A, 0x1C, 0x1F, 0x21
TOPIC_ALIAS_MAXIMUM, TOPIC_ALIAS, MAXIMUM_QOS, RETAIN_AVAILABLE, USER_PROPERTY = 0x22, 0x23, 0x24, 0x25, 0x26
MAXIMUM_PACKET_SIZE, WILDCARD_SUB_AVAILABLE, SUB_ID_AVAILABLE, SHARED_SUB_AVAILABLE = 0x27, 0x28, 0x29, 0x2A
PROPERTY_TYPES = {
    PAYLOAD_FORMAT: _BYTE,
    MESSAGE_EXPIRY: _U32,
    CONTENT_TYPE: _STR,
    RESPONSE_TOPIC: _STR,
    CORRELATION_DATA: _BIN,
    SUBSCRIPTION_ID: _VARINT,
    SESSION_EXPIRY: _U32,
    ASSIGNED_CLIENT_ID: _STR,
    SERVER_KEEP_ALIVE: _U16,
    AUTH_METHOD: _STR,
    AUTH_DATA: _BIN,
    REQUEST_PROBLEM_INFO: _BYTE,
    WILL_DELAY: _U32,
    REQUEST_RESPONSE_INFO: _BYTE,
    RESPONSE_INFO: _STR,
    SERVER_REFERENCE: _STR,
    REASON_STRING: _STR,
    RECEIVE_MAXIMUM: _U16,
    TOPIC_ALIAS_MAXIMUM: _U16,
    TOPIC_ALIAS: _U16,
    MAXIMUM_QOS: _BYTE,
    RETAIN_AVAILABLE: _BYTE,
    USER_PROPERTY: _PAIR,
    MAXIMUM_PACKET_SIZE: _U32,
    WILDCARD_SUB_AVAILABLE: _BYTE,
    SUB_ID_AVAILABLE: _BYTE,
    SHARED_SUB_AVAILABLE: _BYTE,
}
_REPEATABLE = {USER_PROPERTY, SUBSCRIPTION_ID}

# CONNACK return codes (3.1.1) and reason codes (5).
V3_ACCEPTED, V3_BAD_PROTOCOL, V3_ID_REJECTED, V3_UNAVAILABLE, V3_BAD_CREDENTIALS, V3_NOT_AUTHORISED = range(6)
RC_SUCCESS = 0x00
RC_NO_MATCHING_SUBSCRIBERS = 0x10
RC_UNSPECIFIED = 0x80
RC_MALFORMED = 0x81
RC_PROTOCOL_ERROR = 0x82
RC_IMPLEMENTATION_SPECIFIC = 0x83
RC_UNSUPPORTED_PROTOCOL = 0x84
RC_CLIENT_ID_INVALID = 0x85
RC_BAD_CREDENTIALS = 0x86
RC_NOT_AUTHORISED = 0x87
RC_SERVER_BUSY = 0x89
RC_KEEP_ALIVE_TIMEOUT = 0x8D
RC_SESSION_TAKEN_OVER = 0x8E
RC_TOPIC_FILTER_INVALID = 0x8F
RC_TOPIC_NAME_INVALID = 0x90
RC_PACKET_TOO_LARGE = 0x95
RC_QUOTA_EXCEEDED = 0x97
RC_PAYLOAD_FORMAT_INVALID = 0x99
RC_QOS_NOT_SUPPORTED = 0x9B
RC_SHARED_SUB_NOT_SUPPORTED = 0x9E
RC_WILDCARD_SUB_NOT_SUPPORTED = 0xA2


class MalformedPacket(ValueError):
    """The bytes are not a valid MQTT packet; the connection must be closed (MQTT 5: reason 0x81)."""


class ProtocolError(ValueError):
    """A valid packet where the protocol does not allow it (MQTT 5: reason 0x82)."""


class Connect:
    __slots__ = (
        "version",
        "client_id",
        "clean_start",
        "keepalive",
        "username",
        "password",
        "will_topic",
        "will_payload",
        "will_qos",
        "will_retain",
        "properties",
    )

    def __init__(
        self, version=MQTT5, client_id="", clean_start=True, keepalive=60, username=None, password=None
    ):
        self.version = version
        self.client_id = client_id
        self.clean_start = clean_start
        self.keepalive = keepalive
        self.username = username
        self.password = password
        self.will_topic = None
        self.will_payload = None
        self.will_qos = 0
        self.will_retain = False
        self.properties: dict = {}


class Publish:
    __slots__ = ("topic", "payload", "qos", "retain", "dup", "packet_id", "properties")

    def __init__(self, topic, payload, qos=0, retain=False, dup=False, packet_id=None, properties=None):
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.dup = dup
        self.packet_id = packet_id
        self.properties = properties

    def __repr__(self):
        return f"Publish({self.topic!r}, {bytes(self.payload)[:60]!r}, qos={self.qos}, id={self.packet_id})"


class Ack:
    """CONNACK, PUBACK/PUBREC/PUBREL/PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH: an id and reason code(s)."""

    __slots__ = ("type", "packet_id", "reason", "reasons", "session_present", "properties")

    def __init__(self, type, packet_id=None, reason=0, reasons=None, session_present=False, properties=None):
        self.type = type
        self.packet_id = packet_id
        self.reason = reason
        self.reasons = reasons
        self.session_present = session_present
        self.properties = properties or {}

    def __repr__(self):
        return f"Ack(type={self.type}, id={self.packet_id}, reason={self.reason}, reasons={self.reasons})"


class Subscribe:
    __slots__ = ("type", "packet_id", "filters", "properties")

    def __init__(self, type, packet_id, filters, properties=None):
        self.type = type  # SUBSCRIBE or UNSUBSCRIBE
        self.packet_id = packet_id
        self.filters = filters  # [(filter, options byte)] for SUBSCRIBE, [filter] for UNSUBSCRIBE
        self.properties = properties or {}


class Ping:
    __slots__ = ("type",)

    def __init__(self, type):
        self.type = type


# --- primitive readers ------------------------------------------------------------------------------------


def _varint(buf, pos):
    value = shift = 0
    for _ in range(4):
        if pos >= len(buf):
            raise MalformedPacket("truncated variable byte integer")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise MalformedPacket("variable byte integer longer than 4 bytes")


def _u16(buf, pos):
    if pos + 2 > len(buf):
        raise MalformedPacket("truncated two-byte integer")
    return (buf[pos] << 8) | buf[pos + 1], pos + 2


def _bin(buf, pos):
    size, pos = _u16(buf, pos)
    end = pos + size
    if end > len(buf):
        raise MalformedPacket("truncated string or binary field")
    return bytes(buf[pos:end]), end


def _str(buf, pos):
    raw, pos = _bin(buf, pos)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedPacket("string is not UTF-8") from None
    if "\x00" in text:
        raise MalformedPacket("string contains U+0000")
    return text, pos


def _properties(buf, pos):
    length, pos = _varint(buf, pos)
    end = pos + length
    if end > len(buf):
        raise MalformedPacket("truncated properties")
    props: dict = {}
    while pos < end:
        ident, pos = _varint(buf, pos)
        kind = PROPERTY_TYPES.get(ident)
        if kind is None:
            raise MalformedPacket(f"unknown property 0x{ident:02x}")
        if kind == _BYTE:
            if pos >= end:
                raise MalformedPacket("truncated property")
            value = buf[pos]
            pos += 1
        elif kind == _U16:
            value, pos = _u16(buf, pos)
        elif kind == _U32:
            if pos + 4 > end:
                raise MalformedPacket("truncated property")
            value = struct.unpack_from("!I", buf, pos)[0]
            pos += 4
        elif kind == _VARINT:
            value, pos = _varint(buf, pos)
        elif kind == _STR:
            value, pos = _str(buf, pos)
        elif kind == _BIN:
            value, pos = _bin(buf, pos)
        else:
            key, pos = _str(buf, pos)
            val, pos = _str(buf, pos)
            value = (key, val)
        if ident in _REPEATABLE:
            props.setdefault(ident, []).append(value)
        elif ident in props:
            raise ProtocolError(f"property 0x{ident:02x} given twice")
        else:
            props[ident] = value
    if pos != end:
        raise MalformedPacket("properties overrun their length")
    return props, end


# --- primitive writers ------------------------------------------------------------------------------------


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _wstr(text: str | bytes) -> bytes:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return struct.pack("!H", len(raw)) + raw


def encode_properties(props: dict | None) -> bytes:
    if not props:
        return b"\x00"
    out = bytearray()
    for ident, value in props.items():
        kind = PROPERTY_TYPES[ident]
        values = value if ident in _REPEATABLE and isinstance(value, list) else [value]
        for item in values:
            out += encode_varint(ident)
            if kind == _BYTE:
                out.append(item)
            elif kind == _U16:
                out += struct.pack("!H", item)
            elif kind == _U32:
                out += struct.pack("!I", item)
            elif kind == _VARINT:
                out += encode_varint(item)
            elif kind in (_STR, _BIN):
                out += _wstr(item)
            else:
                out += _wstr(item[0]) + _wstr(item[1])
    return encode_varint(len(out)) + bytes(out)


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + encode_varint(len(body)) + body


# --- decoding ---------------------------------------------------------------------------------------------


class Reader:
    """Incremental parser for one connection: feed() bytes as they arrive, get whole packets back."""

    def __init__(self, version: int | None = None, max_packet: int = MAX_REMAINING):
        self.version = version  # None until CONNECT (server) or set by the client
        self.max_packet = max_packet
        self._buf = bytearray()

    def feed(self, data: bytes) -> list:
        buf = self._buf
        buf += data
        packets = []
        pos = 0
        size = len(buf)
        while size - pos >= 2:
            first = buf[pos]
            # remaining length (inline for speed: most packets have a 1- or 2-byte length)
            length = shift = 0
            cursor = pos + 1
            while True:
                if cursor >= size:
                    length = -1
                    break
                byte = buf[cursor]
                cursor += 1
                length |= (byte & 0x7F) << shift
                if not byte & 0x80:
                    break
                shift += 7
                if shift > 21:
                    raise MalformedPacket("remaining length longer than 4 bytes")
            if length < 0:
                break
            if length > self.max_packet:
                raise MalformedPacket("packet larger than the maximum packet size")
            end = cursor + length
            if end > size:
                break
            packets.append(self.decode(first, memoryview(buf)[cursor:end]))
            pos = end
        if pos:
            del buf[:pos]
        return packets

    def decode(self, first: int, body) -> object:
        kind = first >> 4
        flags = first & 0x0F
        v5 = self.version == MQTT5
        if kind == PUBLISH:
            qos = (flags >> 1) & 3
            if qos == 3:
                raise MalformedPacket("PUBLISH with QoS 3")
            topic, pos = _str(body, 0)
            packet_id = None
            if qos:
                packet_id, pos = _u16(body, pos)
                if not packet_id:
                    raise MalformedPacket("packet identifier 0")
            props = None
            if v5:
                props, pos = _properties(body, pos)
            return Publish(topic, bytes(body[pos:]), qos, bool(flags & 1), bool(flags & 8), packet_id, props)
        if kind in (PUBACK, PUBREC, PUBREL, PUBCOMP):
            if kind == PUBREL and flags != 2:
                raise MalformedPacket("PUBREL flags must be 0010")
            packet_id, pos = _u16(body, 0)
            reason, props = 0, None
            if v5 and len(body) > 2:
                reason = body[2]
                if len(body) > 3:
                    props, _ = _properties(body, 3)
            return Ack(kind, packet_id, reason, properties=props)
        if kind == CONNECT:
            return self._connect(body)
        if kind in (PINGREQ, PINGRESP):
            return Ping(kind)
        if kind == SUBSCRIBE or kind == UNSUBSCRIBE:
            if flags != 2:
                raise MalformedPacket("SUBSCRIBE/UNSUBSCRIBE flags must be 0010")
            packet_id, pos = _u16(body, 0)
            props = {}
            if v5:
                props, pos = _properties(body, pos)
            filters = []
            while pos < len(body):
                topic, pos = _str(body, pos)
                if kind == SUBSCRIBE:
                    if pos >= len(body):
                        raise MalformedPacket("subscription options missing")
                    options = body[pos]
                    pos += 1
                    if options & 3 == 3 or (options & 0xC0) or (not v5 and options & 0xFC):
                        raise MalformedPacket("reserved subscription option bits set")
                    filters.append((topic, options))
                else:
                    filters.append(topic)
            if not filters:
                raise ProtocolError("SUBSCRIBE/UNSUBSCRIBE without a topic filter")
            return Subscribe(kind, packet_id, filters, props)
        if kind == CONNACK:
            if len(body) < 2:
                raise MalformedPacket("short CONNACK")
            props = {}
            if v5 and len(body) > 2:
                props, _ = _properties(body, 2)
            return Ack(CONNACK, None, body[1], session_present=bool(body[0] & 1), properties=props)
        if kind in (SUBACK, UNSUBACK):
            packet_id, pos = _u16(body, 0)
            props = {}
            if v5:
                props, pos = _properties(body, pos)
            return Ack(kind, packet_id, reasons=list(body[pos:]), properties=props)
        if kind == DISCONNECT or kind == AUTH:
            reason, props = 0, {}
            if v5 and len(body) >= 1:
                reason = body[0]
                if len(body) > 1:
                    props, _ = _properties(body, 1)
            return Ack(kind, None, reason, properties=props)
        raise MalformedPacket(f"reserved packet type {kind}")

    def _connect(self, body) -> Connect:
        name, pos = _str(body, 0)
        if pos >= len(body):
            raise MalformedPacket("short CONNECT")
        level = body[pos]
        pos += 1
        if (name, level) not in (("MQTT", MQTT311), ("MQTT", MQTT5)):
            # 3.1 ("MQIsdp") or an unknown level: answered with "unacceptable protocol version" by the caller
            packet = Connect(version=level)
            packet.client_id = None
            return packet
        self.version = level
        if pos + 3 > len(body):
            raise MalformedPacket("short CONNECT")
        flags = body[pos]
        if flags & 1:
            raise MalformedPacket("CONNECT reserved flag set")
        keepalive = (body[pos + 1] << 8) | body[pos + 2]
        pos += 3
        packet = Connect(version=level, clean_start=bool(flags & 2), keepalive=keepalive)
        if level == MQTT5:
            packet.properties, pos = _properties(body, pos)
        packet.client_id, pos = _str(body, pos)
        if flags & 4:
            if level == MQTT5:
                _, pos = _properties(body, pos)
            packet.will_topic, pos = _str(body, pos)
            packet.will_payload, pos = _bin(body, pos)
            packet.will_qos = (flags >> 3) & 3
            packet.will_retain = bool(flags & 0x20)
        elif flags & 0x38:
            raise MalformedPacket("will QoS/retain without a will")
        if flags & 0x80:
            packet.username, pos = _str(body, pos)
        if flags & 0x40:
            packet.password, pos = _bin(body, pos)
        return packet


# --- encoding ---------------------------------------------------------------------------------------------


def connect(
    client_id: str = "",
    *,
    version: int = MQTT5,
    username: str | None = None,
    password: bytes | str | None = None,
    clean_start: bool = True,
    keepalive: int = 60,
    properties: dict | None = None,
) -> bytes:
    flags = 0x02 if clean_start else 0
    tail = _wstr(client_id)
    if username is not None:
        flags |= 0x80
        tail += _wstr(username)
    if password is not None:
        flags |= 0x40
        tail += _wstr(password)
    body = _wstr("MQTT") + bytes([version, flags]) + struct.pack("!H", keepalive)
    if version == MQTT5:
        body += encode_properties(properties)
    return _packet(CONNECT << 4, body + tail)


def connack(
    version: int, reason: int, session_present: bool = False, properties: dict | None = None
) -> bytes:
    body = bytes([1 if session_present and reason == 0 else 0, reason])
    if version == MQTT5:
        body += encode_properties(properties)
    return _packet(CONNACK << 4, body)


def publish(
    topic: str,
    payload: bytes,
    qos: int = 0,
    packet_id: int | None = None,
    *,
    version: int = MQTT5,
    retain: bool = False,
    dup: bool = False,
    properties: dict | None = None,
) -> bytes:
    first = (PUBLISH << 4) | (qos << 1) | (8 if dup else 0) | (1 if retain else 0)
    body = _wstr(topic)
    if qos:
        body += struct.pack("!H", packet_id)
    if version == MQTT5:
        body += encode_properties(properties)
    return _packet(first, body + payload)


def puback(packet_id: int, reason: int = 0, version: int = MQTT5, kind: int = PUBACK) -> bytes:
    first = (kind << 4) | (2 if kind == PUBREL else 0)
    if version == MQTT5 and reason:
        return bytes([first, 3, packet_id >> 8, packet_id & 0xFF, reason])
    return bytes([first, 2, packet_id >> 8, packet_id & 0xFF])


def subscribe(packet_id: int, filters: list[tuple[str, int]], version: int = MQTT5) -> bytes:
    body = struct.pack("!H", packet_id)
    if version == MQTT5:
        body += b"\x00"
    for topic, options in filters:
        body += _wstr(topic) + bytes([options])
    return _packet((SUBSCRIBE << 4) | 2, body)


def unsubscribe(packet_id: int, filters: list[str], version: int = MQTT5) -> bytes:
    body = struct.pack("!H", packet_id)
    if version == MQTT5:
        body += b"\x00"
    for topic in filters:
        body += _wstr(topic)
    return _packet((UNSUBSCRIBE << 4) | 2, body)


def suback(packet_id: int, reasons: list[int], version: int = MQTT5, kind: int = SUBACK) -> bytes:
    body = struct.pack("!H", packet_id)
    if version == MQTT5:
        body += b"\x00"
    elif kind == UNSUBACK:
        reasons = []  # 3.1.1 UNSUBACK has no payload
    return _packet(kind << 4, body + bytes(reasons))


PINGREQ_BYTES = bytes([PINGREQ << 4, 0])
PINGRESP_BYTES = bytes([PINGRESP << 4, 0])


def disconnect(version: int = MQTT5, reason: int = 0, properties: dict | None = None) -> bytes:
    if version != MQTT5 or (reason == 0 and not properties):
        return bytes([DISCONNECT << 4, 0])
    body = bytes([reason]) + (encode_properties(properties) if properties else b"")
    return _packet(DISCONNECT << 4, body)


# --- topic filters ----------------------------------------------------------------------------------------


def valid_filter(topic_filter: str) -> bool:
    if not topic_filter:
        return False
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            return False
        if "+" in level and level != "+":
            return False
    return True


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT wildcard match of a topic name against a filter (`+` one level, `#` the rest)."""
    if topic_filter == topic:
        return True
    f_levels = topic_filter.split("/")
    t_levels = topic.split("/")
    for index, level in enumerate(f_levels):
        if level == "#":
            return True
        if index >= len(t_levels):
            return False
        if level != "+" and level != t_levels[index]:
            return False
    return len(f_levels) == len(t_levels)
