"""Content-header properties are validated once, at publish: what passes decodes cleanly,
what does not is a 501 FRAME_ERROR (leveret.amqp.properties.check_properties)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from leveret.amqp import spec
from leveret.amqp.connection import (
    PROTOCOL_HEADER,
    ContentReceived,
    Event,
    HeaderReceived,
    MethodReceived,
    ServerConnection,
)
from leveret.amqp.errors import FRAME_ERROR, AMQPError, FrameError
from leveret.amqp.frames import encode_content_frames, encode_frame, encode_method_frame
from leveret.amqp.properties import PROPERTY_KINDS, MalformedProperties, check_properties
from leveret.amqp.spec import BasicProperties
from leveret.amqp.table import MAX_DEPTH, LongStrBytes

FUZZ = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TYPICAL = BasicProperties(
    content_type="application/json",
    content_encoding="utf-8",
    headers={"a": 1, "b": "two", "c": [1.5, None, {"d": b"x"}]},
    delivery_mode=2,
    priority=3,
    correlation_id="c",
    reply_to="r",
    expiration="1000",
    message_id="m",
    timestamp=1_700_000_000,
    type="t",
    user_id="guest",
    app_id="app",
    cluster_id="",
).encode()

NON_UTF8_KEY = b"\x20\x00\x00\x00\x00\x03\x01\xffV"


def verdict(raw: bytes) -> str:
    """ "ok" if check_properties accepts ``raw`` (and then it must decode), else "refused"."""
    try:
        check_properties(raw)
    except MalformedProperties as error:
        assert error.reply_code == FRAME_ERROR
        assert error.hard
        assert error.reply_text.startswith("FRAME_ERROR - cannot decode basic properties: ")
        return "refused"
    BasicProperties.decode(raw)  # must not raise
    return "ok"


def test_property_kinds_follow_the_spec() -> None:
    kinds = {"shortstr": 1, "table": 2, "octet": 3, "timestamp": 4}
    assert tuple(kinds[t] for t in BasicProperties.FIELD_TYPES) == PROPERTY_KINDS


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\x00",
        b"\x00\x01",  # flag continuation bit: ignored, as RabbitMQ does
        b"\x00\x02",  # unused bit: ignored
        TYPICAL,
        BasicProperties(headers={}).encode(),
        BasicProperties(content_type="\udcff").encode(),  # shortstr properties: any bytes
        BasicProperties(headers={"k": LongStrBytes(b"\xff")}).encode(),  # long string: any bytes
        BasicProperties(cluster_id="").encode(),
        NON_UTF8_KEY,  # table keys are not checked, as in RabbitMQ 3.10 (measured)
    ],
)
def test_well_formed_properties_pass(raw: bytes) -> None:
    assert verdict(raw) == "ok"


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\x00", id="half-flags"),
        pytest.param(b"\x00\x00\xff", id="trailing-garbage"),
        pytest.param(TYPICAL + b"\x00", id="trailing-after-all"),
        pytest.param(b"\x80\x00", id="announced-shortstr-absent"),
        pytest.param(b"\x10\x00", id="announced-octet-absent"),
        pytest.param(b"\x00\x40\x00\x00", id="timestamp-short"),
        pytest.param(b"\x00\x04", id="announced-cluster-id-absent"),
        pytest.param(b"\x80\x00\x05ab", id="shortstr-past-the-end"),
        pytest.param(b"\x20\x00\x00\x00\x00\x10", id="table-length-overrun"),
        pytest.param(b"\x20\x00\x00\x00", id="table-length-truncated"),
        pytest.param(b"\x20\x00\x00\x00\x00\x03\x01aZ", id="unknown-field-type"),
        pytest.param(b"\x20\x00\x00\x00\x00\x03\x05aV", id="table-key-overrun"),
        pytest.param(b"\x20\x00\x00\x00\x00\x04\x01aI\x00", id="value-overruns-table"),
        pytest.param(b"\x20\x00\x00\x00\x00\x07\x01aS\x00\x00\x00", id="longstr-truncated"),
        pytest.param(b"\x20\x00\x00\x00\x00\x08\x01aS\x00\x00\x00\x09", id="longstr-overrun"),
        pytest.param(b"\x20\x00\x00\x00\x00\x08\x01aA\x00\x00\x00\x01", id="array-overrun"),
        pytest.param(b"\x20\x00\x00\x00\x00\x09\x01aA\x00\x00\x00\x01Z", id="array-bad-type"),
        pytest.param(b"\x20\x00\x00\x00\x00\x08\x01aF\x00\x00\x00\x01", id="nested-overrun"),
        pytest.param(TYPICAL[:-1], id="truncated-typical"),
    ],
)
def test_malformed_properties_are_refused(raw: bytes) -> None:
    assert verdict(raw) == "refused"
    with pytest.raises(FrameError):
        BasicProperties.decode(raw)


def _nested(depth: int) -> bytes:
    table = b""
    for _ in range(depth):
        inner = b"\x01kF" + struct.pack(">I", len(table)) + table
        table = inner
    return b"\x20\x00" + struct.pack(">I", len(table)) + table


def test_nesting_limit_is_the_decoders() -> None:
    assert verdict(_nested(MAX_DEPTH)) == "ok"
    assert verdict(_nested(MAX_DEPTH + 1)) == "refused"


# -- property tests ---------------------------------------------------------------------------


@st.composite
def mutated_properties(draw: st.DrawFn) -> bytes:
    """Well-formed properties with a few bytes flipped, inserted, deleted or cut."""
    data = bytearray(draw(st.sampled_from([TYPICAL, BasicProperties(headers={"x": 1}).encode()])))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "delete" and data:
            del data[pos : pos + draw(st.integers(1, 4))]
        else:
            data = data[:pos]
    return bytes(data)


@given(raw=st.binary(max_size=200) | mutated_properties())
@example(raw=b"\x20\x00\x00\x00\x00\x03\x01aZ")
@FUZZ
def test_any_bytes_validate_and_decode_or_are_refused_with_501(raw: bytes) -> None:
    """Never another exception: either valid (and BasicProperties.decode works, and the
    re-encoded properties validate too) or a 501 FRAME_ERROR."""
    if verdict(raw) == "ok":
        again = BasicProperties.decode(raw).encode()
        assert verdict(again) == "ok"


@given(raw=st.binary(max_size=200) | mutated_properties())
@FUZZ
def test_whatever_decode_refuses_the_check_refuses(raw: bytes) -> None:
    try:
        BasicProperties.decode(raw)
    except FrameError:
        assert verdict(raw) == "refused"


# -- in the connection: refused before the content is assembled or delivered ------------------


def _started() -> ServerConnection:
    conn = ServerConnection(frame_max=4096)
    assert list(conn.receive(PROTOCOL_HEADER)) == [HeaderReceived()]
    assert list(conn.receive(encode_method_frame(1, spec.ChannelOpen()))) == [
        MethodReceived(1, spec.ChannelOpen())
    ]
    return conn


def _publish(properties: bytes, body: bytes, chunk: int = 0) -> bytes:
    method = encode_method_frame(1, spec.BasicPublish(exchange="", routing_key="q"))
    header = struct.pack(">HHQ", 60, 0, len(body)) + properties
    frames = [encode_frame(spec.FRAME_HEADER, 1, header)]
    if body:
        frames += encode_content_frames(1, 60, b"\x00\x00", body, chunk + 8 if chunk else 0)[1:]
    return method + b"".join(frames)


@pytest.mark.parametrize("chunk", [0, 3], ids=["fast-path", "general-path"])
@pytest.mark.parametrize("body", [b"", b"hello world"], ids=["empty", "body"])
def test_malformed_header_is_a_501_and_no_content_event(chunk: int, body: bytes) -> None:
    conn = _started()
    good = _publish(TYPICAL, body, chunk)
    bad = _publish(b"\x20\x00\x00\x00\x00\x10", body, chunk)
    events: list[Event] = []
    with pytest.raises(AMQPError) as info:
        for event in conn.receive(good + bad + good):
            events.append(event)
    assert info.value.reply_code == FRAME_ERROR
    assert info.value.hard
    assert [type(e) for e in events] == [ContentReceived]  # only the first, good, publish
    assert isinstance(events[0], ContentReceived) and events[0].properties_raw == TYPICAL
