"""The MQTT codec and the ThingsBoard payload parser: round trips, refusals, arbitrary bytes (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linli.ingest import codec, payloads
from linli.ingest.broker import device_topic, split_topic
from linli.ingest.payloads import PayloadError

topics = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00+#"), min_size=1, max_size=80
)


@given(
    topic=topics,
    payload=st.binary(max_size=3000),
    qos=st.sampled_from([0, 1]),
    version=st.sampled_from([4, 5]),
)
def test_publish_round_trip_in_both_protocol_levels(topic, payload, qos, version):
    packet = codec.publish(topic, payload, qos, 77 if qos else None, version=version)
    reader = codec.Reader(version=version)
    # fed one byte at a time: a packet may arrive split anywhere
    parsed = [p for i in range(len(packet)) for p in reader.feed(packet[i : i + 1])]
    assert len(parsed) == 1
    message = parsed[0]
    assert (message.topic, message.payload, message.qos) == (topic, payload, qos)
    assert message.packet_id == (77 if qos else None)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_the_reader(data):
    reader = codec.Reader()
    try:
        reader.feed(data)
    except (codec.MalformedPacket, codec.ProtocolError):
        pass


@given(st.integers(min_value=0, max_value=codec.MAX_REMAINING))
def test_variable_byte_integer_round_trip(value):
    encoded = codec.encode_varint(value)
    assert len(encoded) <= 4
    assert codec._varint(encoded, 0) == (value, len(encoded))


@pytest.mark.parametrize("version", [4, 5])
def test_connect_round_trip(version):
    """(Third-party clients' CONNECTs are parsed in the gateway tests: paho and the ThingsBoard SDK.)"""
    ours = codec.connect("abc", version=version, username="TOKEN-0000000000000001", password="secret")
    packet = codec.Reader().feed(ours)[0]
    assert (packet.version, packet.client_id, packet.username, packet.password) == (
        version,
        "abc",
        "TOKEN-0000000000000001",
        b"secret",
    )


def test_mqtt31_and_unknown_levels_are_told_apart_from_malformed():
    body = b"\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x01x"
    packet = codec.Reader().feed(bytes([0x10, len(body)]) + body)[0]
    assert packet.client_id is None and packet.version == 3


def test_properties_round_trip():
    props = {
        codec.SESSION_EXPIRY: 3600,
        codec.RECEIVE_MAXIMUM: 20,
        codec.USER_PROPERTY: [("linli", "down"), ("a", "b")],
        codec.CORRELATION_DATA: b"\x00\x01",
        codec.SUBSCRIPTION_ID: [5],
    }
    decoded, end = codec._properties(codec.encode_properties(props), 0)
    assert decoded == props


@pytest.mark.parametrize(
    "topic_filter,topic,matches",
    [
        ("v1/devices/me/rpc/request/+", "v1/devices/me/rpc/request/5", True),
        ("v1/devices/me/rpc/request/+", "v1/devices/me/rpc/request/5/x", False),
        ("v1/devices/me/#", "v1/devices/me/attributes", True),
        ("v1/devices/me/attributes", "v1/devices/me/attributes/response/1", False),
        ("#", "anything/at/all", True),
    ],
)
def test_topic_filters(topic_filter, topic, matches):
    assert codec.topic_matches(topic_filter, topic) is matches


def test_invalid_filters():
    assert not codec.valid_filter("a/#/b") and not codec.valid_filter("a+/b") and not codec.valid_filter("")
    assert codec.valid_filter("v1/devices/me/attributes/response/+")


# --- ThingsBoard payloads ---------------------------------------------------------------------------------


NOW = 1_790_000_000_000


@pytest.mark.parametrize(
    "body,expected",
    [
        ({"temperature": 21.5, "on": True}, [(NOW, {"temperature": 21.5, "on": True})]),
        ([{"a": 1}, {"b": "x"}], [(NOW, {"a": 1}), (NOW, {"b": "x"})]),
        ({"ts": 1_700_000_000_000, "values": {"a": 1}}, [(1_700_000_000_000, {"a": 1})]),
        (
            [{"ts": 1_700_000_000_000, "values": {"a": 1}}, {"ts": 1_700_000_001_000, "values": {"a": 2}}],
            [(1_700_000_000_000, {"a": 1}), (1_700_000_001_000, {"a": 2})],
        ),
        ({"nested": {"x": [1, 2]}}, [(NOW, {"nested": '{"x":[1,2]}'})]),  # JSON values kept as JSON text
        ({}, []),  # the HTTP SDK's connection probe
        ({"a": None}, []),
        (
            {"ts": 1_700_000_000_000, "values": {"a": 1}, "metadata": {"publishedTs": 1}},
            [(1_700_000_000_000, {"a": 1})],
        ),
    ],
)
def test_every_telemetry_form(body, expected):
    assert payloads.telemetry(body, NOW) == expected


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"42",
        b'"text"',
        b"[1, 2]",
        b'{"ts": "yesterday", "values": {}}',
        b'{"ts": 12, "values": {"a": 1}}',  # seconds, not milliseconds
        b'{"ts": 1700000000000, "values": [1]}',
        b'{"": 1}',
    ],
)
def test_malformed_telemetry_is_refused(body):
    with pytest.raises(PayloadError):
        payloads.telemetry(payloads.loads(body), NOW)


@given(st.binary(max_size=200))
def test_arbitrary_payloads_are_parsed_or_refused_never_crash(data):
    try:
        payloads.telemetry(payloads.loads(data), NOW)
    except PayloadError:
        pass


def test_attribute_request_forms():
    assert payloads.attribute_request({"clientKeys": "a, b", "sharedKeys": "c"}) == (["a", "b"], ["c"])
    assert payloads.attribute_request({}) == (None, None)
    documented = payloads.gateway_attribute_request({"id": 1, "device": "D", "client": True, "key": "k"})
    assert documented["client_keys"] == ["k"] and documented["single"] == "k"
    sdk = payloads.gateway_attribute_request({"keys": ["k"], "device": "D", "client": False, "id": 2})
    assert sdk["shared_keys"] == ["k"] and sdk["client_keys"] == []
    alternative = payloads.gateway_attribute_request(
        {"id": 3, "device": "D", "client": ["a"], "shared": ["b"]}
    )
    assert (alternative["client_keys"], alternative["shared_keys"]) == (["a"], ["b"])
    answer = payloads.gateway_attribute_response(documented, {"client": {"k": 5}, "shared": {}})
    assert answer == {"id": 1, "device": "D", "value": 5}


def test_broker_mode_topics_map_both_ways():
    assert device_topic("TOKEN", "v1/devices/me/rpc/request/5") == "v1/devices/TOKEN/rpc/request/5"
    assert device_topic("TOKEN", "v1/gateway/attributes/response") == "v1/gateway/TOKEN/attributes/response"
    assert split_topic("v1/devices/TOKEN/telemetry") == ("TOKEN", "v1/devices/me/telemetry")
    assert split_topic("v1/gateway/TOKEN/telemetry") == ("TOKEN", "v1/gateway/telemetry")
    assert split_topic("v1/devices/TOKEN") is None and split_topic("other/x/y/z") is None
