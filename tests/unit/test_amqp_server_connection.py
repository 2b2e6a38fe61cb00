"""The sans-IO server connection: protocol header, frames in, events out, protocol errors."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from leveret.amqp import spec
from leveret.amqp.connection import (
    PROTOCOL_HEADER,
    BadProtocolHeader,
    ChannelFault,
    ContentReceived,
    Event,
    HeaderReceived,
    HeartbeatReceived,
    MethodReceived,
    ServerConnection,
)
from leveret.amqp.errors import AMQPError, ChannelError, ConnectionError_
from leveret.amqp.frames import (
    HEARTBEAT_FRAME,
    encode_content_frames,
    encode_frame,
    encode_method_frame,
)

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PROPERTIES = spec.BasicProperties(content_type="text/plain", headers={"a": 1}).encode()
ALL_METHODS = [cls() for cls in spec.METHODS.values()]


def feed(conn: ServerConnection, data: bytes) -> list[Event]:
    return list(conn.receive(data))


def started(**kwargs: int) -> ServerConnection:
    """A connection past the protocol header, with channel 1 open."""
    conn = ServerConnection(**kwargs)
    assert feed(conn, PROTOCOL_HEADER) == [HeaderReceived()]
    assert feed(conn, encode_method_frame(1, spec.ChannelOpen())) == [
        MethodReceived(1, spec.ChannelOpen())
    ]
    return conn


def publish_frames(
    channel: int, body: bytes, chunk: int = 0, properties: bytes = PROPERTIES
) -> bytes:
    """basic.publish + content header + body frames of at most ``chunk`` bytes."""
    method = encode_method_frame(channel, spec.BasicPublish(exchange="x", routing_key="k"))
    frames = encode_content_frames(channel, 60, properties, body, chunk + 8 if chunk else 0)
    return method + b"".join(frames)


def header_frame(channel: int, body_size: int, class_id: int = 60) -> bytes:
    payload = struct.pack(">HHQ", class_id, 0, body_size) + b"\x00\x00"
    return encode_frame(spec.FRAME_HEADER, channel, payload)


def body_frame(channel: int, data: bytes) -> bytes:
    return encode_frame(spec.FRAME_BODY, channel, data)


def expect_error(conn: ServerConnection, data: bytes, code: int, detail: str | None = None):
    with pytest.raises(AMQPError) as info:
        feed(conn, data)
    assert info.value.reply_code == code, info.value
    if detail is not None:
        assert info.value.detail == detail
    return info.value


# -- protocol header ------------------------------------------------------------------------


def test_protocol_header_then_frames_in_one_feed() -> None:
    conn = ServerConnection()
    events = feed(conn, PROTOCOL_HEADER + encode_method_frame(1, spec.ChannelOpen()))
    assert events == [HeaderReceived(), MethodReceived(1, spec.ChannelOpen())]


def test_protocol_header_split_across_feeds() -> None:
    conn = ServerConnection()
    for byte in PROTOCOL_HEADER[:-1]:
        assert feed(conn, bytes([byte])) == []
    assert feed(conn, PROTOCOL_HEADER[-1:] + HEARTBEAT_FRAME) == [
        HeaderReceived(),
        HeartbeatReceived(),
    ]


@pytest.mark.parametrize(
    "header",
    [
        b"AMQP\x00\x00\x09\x00",  # AMQP 0-9-0
        b"AMQP\x01\x01\x00\x0a",  # AMQP 1.0 style
        b"AMQP\x00\x00\x08\x00",
        b"GET / HTTP/1.1\r\n",
        b"\x01\x00\x00\x00\x00\x00\x05",
    ],
)
def test_bad_protocol_header(header: bytes) -> None:
    with pytest.raises(BadProtocolHeader):
        feed(ServerConnection(), header)


@pytest.mark.parametrize("split", range(1, 8))
def test_bad_protocol_header_split_across_feeds(split: int) -> None:
    header = b"AMQP\x00\x00\x09\x00"
    conn = ServerConnection()
    assert feed(conn, header[:split]) == []
    with pytest.raises(BadProtocolHeader):
        feed(conn, header[split:])


def test_bad_protocol_header_detected_at_first_wrong_byte() -> None:
    conn = ServerConnection()
    assert feed(conn, b"AM") == []
    with pytest.raises(BadProtocolHeader):
        feed(conn, b"X")


# -- methods and content --------------------------------------------------------------------


def test_method_frames_become_events() -> None:
    conn = started()
    qos = spec.BasicQos(prefetch_count=10)
    declare = spec.QueueDeclare(queue="q", durable=True, arguments={"x-max-length": 5})
    data = encode_method_frame(1, qos) + encode_method_frame(1, declare)
    assert feed(conn, data) == [MethodReceived(1, qos), MethodReceived(1, declare)]


def test_connection_methods_on_channel_zero() -> None:
    conn = started()
    close = spec.ConnectionClose(reply_code=200, reply_text="bye")
    assert feed(conn, encode_method_frame(0, close)) == [MethodReceived(0, close)]


def test_heartbeat() -> None:
    assert feed(started(), HEARTBEAT_FRAME) == [HeartbeatReceived()]


@pytest.mark.parametrize("chunk", [0, 1, 7, 100])
def test_publish_content_is_reassembled(chunk: int) -> None:
    conn = started()
    body = bytes(range(256)) * 3
    events = feed(conn, publish_frames(1, body, chunk))
    assert events == [
        ContentReceived(1, spec.BasicPublish(exchange="x", routing_key="k"), PROPERTIES, body)
    ]


def test_empty_body_completes_on_the_header() -> None:
    conn = started()
    events = feed(conn, publish_frames(1, b""))
    assert events == [
        ContentReceived(1, spec.BasicPublish(exchange="x", routing_key="k"), PROPERTIES, b"")
    ]


def test_content_fed_one_byte_at_a_time() -> None:
    conn = started()
    data = publish_frames(1, b"hello world", chunk=3) + HEARTBEAT_FRAME
    events: list[Event] = []
    for i in range(len(data)):
        events += feed(conn, data[i : i + 1])
    assert events == [
        ContentReceived(
            1, spec.BasicPublish(exchange="x", routing_key="k"), PROPERTIES, b"hello world"
        ),
        HeartbeatReceived(),
    ]
    assert conn.reader.buffered == 0


def test_content_on_two_channels_interleaved() -> None:
    conn = started()
    feed(conn, encode_method_frame(2, spec.ChannelOpen()))
    publish = encode_method_frame(1, spec.BasicPublish())
    data = (
        publish
        + encode_method_frame(2, spec.BasicPublish())
        + header_frame(1, 2)
        + header_frame(2, 1)
        + body_frame(2, b"B")
        + body_frame(1, b"a")
        + body_frame(1, b"b")
    )
    events = feed(conn, data)
    assert [(e.channel, e.body) for e in events if isinstance(e, ContentReceived)] == [
        (2, b"B"),
        (1, b"ab"),
    ]


@given(
    body=st.binary(max_size=3000),
    chunk=st.integers(1, 700),
    cuts=st.lists(st.integers(0, 4000), max_size=10),
)
@FUZZ
def test_content_reassembly_property(body: bytes, chunk: int, cuts: list[int]) -> None:
    conn = started()
    data = publish_frames(1, body, chunk) + encode_method_frame(1, spec.BasicQos())
    events: list[Event] = []
    start = 0
    for cut in sorted({c for c in cuts if c < len(data)} | {len(data)}):
        events += feed(conn, data[start:cut])
        start = cut
    assert events == [
        ContentReceived(1, spec.BasicPublish(exchange="x", routing_key="k"), PROPERTIES, body),
        MethodReceived(1, spec.BasicQos()),
    ]


@given(
    bodies=st.lists(st.binary(max_size=300), min_size=1, max_size=8),
    chunk=st.integers(0, 200),
    cuts=st.lists(st.integers(0, 3000), max_size=6),
)
@FUZZ
def test_back_to_back_publishes_fast_and_general_paths_agree(
    bodies: list[bytes], chunk: int, cuts: list[int]
) -> None:
    """Whole publishes in one read take a fast path; split ones the general path. The
    events must be the same whichever path each publish took."""
    data = b"".join(publish_frames(1, body, chunk) for body in bodies)
    expected = [
        ContentReceived(1, spec.BasicPublish(exchange="x", routing_key="k"), PROPERTIES, body)
        for body in bodies
    ]
    conn = started()
    events: list[Event] = []
    start = 0
    for cut in sorted({c for c in cuts if c < len(data)} | {len(data)}):
        events += feed(conn, data[start:cut])
        start = cut
    assert events == expected
    assert all(type(e.body) is bytes for e in events if isinstance(e, ContentReceived))


def test_content_at_exactly_max_message_size_is_accepted() -> None:
    conn = started(max_message_size=10)
    events = feed(conn, publish_frames(1, b"0123456789", chunk=4))
    assert [type(e) for e in events] == [ContentReceived]


def test_content_over_max_message_size_is_a_channel_fault() -> None:
    conn = started(max_message_size=10)
    events = feed(conn, publish_frames(1, b"0123456789A", chunk=4))
    assert len(events) == 1
    fault = events[0]
    assert isinstance(fault, ChannelFault) and fault.channel == 1
    error = fault.error
    assert isinstance(error, ChannelError) and not error.hard
    assert error.reply_code == 406
    assert error.reply_text == (
        "PRECONDITION_FAILED - message size 11 is larger than configured max size 10"
    )
    assert (error.class_id, error.method_id) == (60, 40)
    # The rest of the body was swallowed: the channel parses normally again.
    assert feed(conn, encode_method_frame(1, spec.BasicQos())) == [
        MethodReceived(1, spec.BasicQos())
    ]


def test_fault_then_server_closes_channel() -> None:
    conn = started(max_message_size=4)
    method = encode_method_frame(1, spec.BasicPublish())
    events = feed(conn, method + header_frame(1, 100) + body_frame(1, b"x" * 10))
    assert [type(e) for e in events] == [ChannelFault]
    conn.channel_closing(1)
    assert feed(conn, body_frame(1, b"y" * 90)) == []
    close_ok = encode_method_frame(1, spec.ChannelCloseOk())
    assert feed(conn, close_ok) == [MethodReceived(1, spec.ChannelCloseOk())]


# -- the error table --------------------------------------------------------------------------


def test_heartbeat_on_a_channel_is_505() -> None:
    conn = started()
    error = expect_error(conn, encode_frame(spec.FRAME_HEARTBEAT, 1, b""), 505)
    assert isinstance(error, ConnectionError_) and error.hard


def test_heartbeat_with_payload_is_501() -> None:
    expect_error(started(), encode_frame(spec.FRAME_HEARTBEAT, 0, b"x"), 501)


def test_body_without_header_is_505() -> None:
    expect_error(started(), body_frame(1, b"x"), 505)


def test_header_without_method_is_505() -> None:
    expect_error(started(), header_frame(1, 1), 505)


def test_body_when_header_expected_is_505() -> None:
    conn = started()
    data = encode_method_frame(1, spec.BasicPublish()) + body_frame(1, b"x")
    expect_error(conn, data, 505, "expected content header, got non content header frame instead")


def test_method_when_header_expected_is_505() -> None:
    conn = started()
    data = encode_method_frame(1, spec.BasicPublish()) + encode_method_frame(1, spec.BasicQos())
    expect_error(
        conn,
        data,
        505,
        "expected content header for class 60, got non content header frame instead",
    )


def test_method_when_body_expected_is_505() -> None:
    conn = started()
    data = encode_method_frame(1, spec.BasicPublish()) + header_frame(1, 5) + body_frame(1, b"ab")
    data += encode_method_frame(1, spec.BasicQos())
    expect_error(conn, data, 505)


def test_second_header_is_505() -> None:
    conn = started()
    data = encode_method_frame(1, spec.BasicPublish()) + header_frame(1, 5) + header_frame(1, 5)
    expect_error(conn, data, 505)


def test_header_class_mismatch_is_505() -> None:
    conn = started()
    data = encode_method_frame(1, spec.BasicPublish()) + header_frame(1, 1, class_id=50)
    expect_error(conn, data, 505)


def test_short_content_header_is_501() -> None:
    conn = started()
    data = encode_method_frame(1, spec.BasicPublish())
    data += encode_frame(spec.FRAME_HEADER, 1, b"\x00\x3c\x00\x00")
    expect_error(conn, data, 501)


def test_body_longer_than_declared_is_501() -> None:
    conn = started()
    data = encode_method_frame(1, spec.BasicPublish()) + header_frame(1, 3) + body_frame(1, b"abcd")
    expect_error(conn, data, 501)


def test_body_frames_adding_up_past_the_size_is_501() -> None:
    conn = started()
    data = encode_method_frame(1, spec.BasicPublish()) + header_frame(1, 3)
    data += body_frame(1, b"ab") + body_frame(1, b"cd")
    expect_error(conn, data, 501)


def test_oversized_frame_is_501_before_its_payload_arrives() -> None:
    conn = started(frame_max=4096)
    header = struct.pack(">BHI", spec.FRAME_BODY, 1, 4096 - 8 + 1)
    expect_error(conn, header, 501, "frame size 4097 exceeds frame_max 4096")


def test_frame_of_exactly_frame_max_is_accepted() -> None:
    conn = started(frame_max=4096)
    body = b"x" * (4096 - 8)
    events = feed(conn, publish_frames(1, body, chunk=len(body)))
    assert [e.body for e in events if isinstance(e, ContentReceived)] == [body]


def test_set_frame_max_applies_to_later_frames() -> None:
    conn = started(frame_max=0)
    conn.set_frame_max(100)
    expect_error(conn, publish_frames(1, b"x" * 200, chunk=200), 501)


def test_bad_frame_end_is_501() -> None:
    frame = bytearray(encode_method_frame(1, spec.BasicQos()))
    frame[-1] = 0x00
    expect_error(started(), bytes(frame), 501, "invalid frame end marker 0x00")


def test_unknown_frame_type_is_501() -> None:
    expect_error(started(), encode_frame(9, 0, b""), 501)


def test_unknown_method_is_540() -> None:
    expect_error(started(), encode_frame(spec.FRAME_METHOD, 1, b"\x00\x3c\x00\x63"), 540)


@pytest.mark.parametrize(
    "method", [spec.ChannelOpen(), spec.BasicQos(), spec.BasicPublish(), spec.QueueDeclare()]
)
def test_non_connection_method_on_channel_zero_is_504(method: spec.Method) -> None:
    expect_error(started(), encode_method_frame(0, method), 504)


@pytest.mark.parametrize("what", ["header", "body"])
def test_content_frames_on_channel_zero_are_505(what: str) -> None:
    data = header_frame(0, 1) if what == "header" else body_frame(0, b"x")
    expect_error(started(), data, 505)


def test_method_on_a_never_opened_channel_is_504() -> None:
    expect_error(started(), encode_method_frame(2, spec.BasicQos()), 504, "expected 'channel.open'")


def test_late_basic_publish_on_a_never_opened_channel_is_504() -> None:
    expect_error(started(), publish_frames(3, b"x"), 504, "expected 'channel.open'")


def test_second_channel_open_is_504() -> None:
    expect_error(
        started(), encode_method_frame(1, spec.ChannelOpen()), 504, "second 'channel.open' seen"
    )


def test_exceeding_channel_max_is_530() -> None:
    conn = started()
    conn.channel_max = 2
    assert feed(conn, encode_method_frame(2, spec.ChannelOpen())) == [
        MethodReceived(2, spec.ChannelOpen())
    ]
    expect_error(
        conn,
        encode_method_frame(3, spec.ChannelOpen()),
        530,
        "number of channels opened (2) has reached the negotiated channel_max (2)",
    )


def test_channel_max_zero_means_no_limit() -> None:
    conn = started()
    conn.channel_max = 0
    assert feed(conn, encode_method_frame(2, spec.ChannelOpen())) == [
        MethodReceived(2, spec.ChannelOpen())
    ]


def test_frame_max_zero_means_no_limit() -> None:
    conn = started(frame_max=0)
    body = b"x" * 300_000
    events = feed(conn, publish_frames(1, body))
    assert [e.body for e in events if isinstance(e, ContentReceived)] == [body]


def test_closed_channels_free_their_slot() -> None:
    conn = started()
    conn.channel_max = 1
    conn.channel_closed(1)
    assert feed(conn, encode_method_frame(5, spec.ChannelOpen())) == [
        MethodReceived(5, spec.ChannelOpen())
    ]


def test_closing_channel_discards_all_but_close_and_close_ok() -> None:
    conn = started()
    feed(conn, encode_method_frame(1, spec.BasicPublish()) + header_frame(1, 10))
    conn.channel_closing(1)  # half-received content is dropped too
    discarded = (
        body_frame(1, b"rest")
        + encode_method_frame(1, spec.BasicQos())
        + publish_frames(1, b"late", chunk=2)
        + header_frame(1, 3)
        + body_frame(1, b"x")
        + encode_method_frame(1, spec.BasicAck(delivery_tag=1))
    )
    assert feed(conn, discarded) == []
    close = spec.ChannelClose(reply_code=200, reply_text="ok")
    assert feed(conn, encode_method_frame(1, close)) == [MethodReceived(1, close)]
    assert feed(conn, encode_method_frame(1, spec.ChannelCloseOk())) == [
        MethodReceived(1, spec.ChannelCloseOk())
    ]
    conn.channel_closed(1)
    assert feed(conn, encode_method_frame(1, spec.ChannelOpen())) == [
        MethodReceived(1, spec.ChannelOpen())
    ]
    assert feed(conn, encode_method_frame(1, spec.BasicQos())) == [
        MethodReceived(1, spec.BasicQos())
    ]


def test_other_channels_are_unaffected_by_a_closing_one() -> None:
    conn = started()
    feed(conn, encode_method_frame(2, spec.ChannelOpen()))
    conn.channel_closing(1)
    events = feed(conn, publish_frames(1, b"x") + publish_frames(2, b"y"))
    assert [(e.channel, e.body) for e in events if isinstance(e, ContentReceived)] == [(2, b"y")]


@pytest.mark.parametrize(
    "late",
    [
        spec.BasicAck(delivery_tag=1),
        spec.BasicNack(delivery_tag=1, multiple=True),
        spec.BasicReject(delivery_tag=1),
    ],
)
def test_late_settlement_on_a_just_closed_channel_is_ignored(late: spec.Method) -> None:
    conn = started()
    conn.channel_closing(1)
    conn.channel_closed(1)
    assert feed(conn, encode_method_frame(1, late)) == []
    # Anything else on the closed channel is still an error.
    expect_error(conn, encode_method_frame(1, spec.BasicQos()), 504, "expected 'channel.open'")


def test_late_settlement_on_a_never_opened_channel_is_504() -> None:
    expect_error(started(), encode_method_frame(7, spec.BasicAck(delivery_tag=1)), 504)


# -- fuzzing --------------------------------------------------------------------------------


def valid_frame(index: int, channel: int, body: bytes) -> bytes:
    method = ALL_METHODS[index % len(ALL_METHODS)]
    if index % 3 == 0:
        return publish_frames(channel, body, chunk=max(1, len(body) // 3))
    if index % 5 == 0:
        return HEARTBEAT_FRAME
    return encode_method_frame(channel, method)


valid_streams = st.lists(
    st.builds(
        valid_frame,
        st.integers(0, 10_000),
        st.sampled_from([0, 1, 1, 1, 2]),
        st.binary(max_size=40),
    ),
    min_size=1,
    max_size=8,
).map(b"".join)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(valid_streams))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete" and data:
            del data[pos : pos + draw(st.integers(1, 8))]
        else:
            data = data[:pos]
    return bytes(data)


def run_fuzz(data: bytes, cuts: list[int]) -> None:
    conn = started(frame_max=4096, max_message_size=64)
    events: list[Event] = []
    start = 0
    try:
        for cut in sorted({c % (len(data) + 1) for c in cuts} | {len(data)}):
            events += feed(conn, data[start:cut])
            start = cut
    except AMQPError as error:
        assert 300 <= error.reply_code < 600
        assert error.reply_text  # renders
    except BadProtocolHeader:  # pragma: no cover - the header was already accepted
        pytest.fail("BadProtocolHeader after the header was accepted")
    for event in events:
        assert isinstance(
            event,
            HeaderReceived | MethodReceived | ContentReceived | HeartbeatReceived | ChannelFault,
        )
        if isinstance(event, ContentReceived):
            assert len(event.body) <= 64
            # Validated at the header: what is stored and delivered always decodes.
            spec.BasicProperties.decode(event.properties_raw)
        if isinstance(event, MethodReceived) and not event.method.HAS_CONTENT:
            assert_utf8_names(event.method)
    assert conn.reader.buffered <= len(data)


def assert_utf8_names(method: spec.Method) -> None:
    """Names in methods without content are UTF-8 (the rest is a 501 in the codec)."""
    for name, kind in zip(method.FIELDS, method.FIELD_TYPES, strict=True):
        if kind == "shortstr":
            getattr(method, name).encode("utf-8")  # no surrogate escapes


@given(data=st.binary(max_size=600), cuts=st.lists(st.integers(0, 600), max_size=6))
@FUZZ
def test_fuzz_garbage_only_yields_events_or_amqp_errors(data: bytes, cuts: list[int]) -> None:
    run_fuzz(data, cuts)


METHOD_KEYS = [struct.pack(">HH", *key) for key in spec.METHODS]

# Well-formed frames around random payloads: method frames start with a real method id,
# so the argument decoders see garbage; header frames often name class 60.
garbage_payloads = st.one_of(
    st.binary(max_size=60),
    st.builds(bytes.__add__, st.sampled_from(METHOD_KEYS), st.binary(max_size=60)),
    st.builds(
        bytes.__add__,
        st.sampled_from([b"\x00\x3c\x00\x00", b"\x00\x3c\x00\x01", b"\x00\x14\x00\x00"]),
        st.binary(max_size=30),
    ),
)
garbage_frames = st.lists(
    st.builds(
        encode_frame,
        st.sampled_from([spec.FRAME_METHOD] * 3 + [spec.FRAME_HEADER, spec.FRAME_BODY, 8]),
        st.sampled_from([1, 1, 1, 0, 2, 65535]),
        garbage_payloads,
    ),
    min_size=1,
    max_size=8,
).map(b"".join)


@given(data=garbage_frames, cuts=st.lists(st.integers(0, 800), max_size=6))
@FUZZ
def test_fuzz_framed_garbage_only_yields_events_or_amqp_errors(
    data: bytes, cuts: list[int]
) -> None:
    run_fuzz(data, cuts)


@given(data=mutated(), cuts=st.lists(st.integers(0, 2000), max_size=6))
@FUZZ
def test_fuzz_mutated_frames_only_yield_events_or_amqp_errors(data: bytes, cuts: list[int]) -> None:
    run_fuzz(data, cuts)


# Issue 10 (hardening): names that are not UTF-8, and malformed content headers.

NAMED_METHODS = [
    cls
    for cls in spec.METHODS.values()
    if "shortstr" in cls.FIELD_TYPES and not cls.HAS_CONTENT and cls.CLASS_ID != 10
]
not_utf8 = st.binary(min_size=1, max_size=12).filter(lambda b: not _is_utf8(b))


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode()
    except UnicodeDecodeError:
        return False
    return True


@st.composite
def named_method_frame(draw: st.DrawFn) -> bytes:
    """A method with names (queue, exchange, routing key, consumer tag...) on channel 1,
    one of them often not UTF-8."""
    cls = draw(st.sampled_from(NAMED_METHODS))
    values = {}
    for name, kind in zip(cls.FIELDS, cls.FIELD_TYPES, strict=True):
        if kind == "shortstr":
            raw = draw(st.one_of(not_utf8, st.binary(max_size=8)))
            values[name] = raw.decode("utf-8", "surrogateescape")
    return encode_method_frame(1, cls(**values))


@st.composite
def publish_with_bad_header(draw: st.DrawFn) -> bytes:
    """basic.publish whose properties are garbage or well-formed ones mutated."""
    props = bytearray(draw(st.sampled_from([PROPERTIES, TYPICAL_PROPERTIES, b"\x00\x00"])))
    for _ in range(draw(st.integers(0, 3))):
        pos = draw(st.integers(0, len(props)))
        kind = draw(st.sampled_from(["flip", "insert", "cut"]))
        if kind == "flip" and pos < len(props):
            props[pos] = draw(st.integers(0, 255))
        elif kind == "insert":
            props[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        else:
            del props[pos:]
    props = bytearray(draw(st.one_of(st.just(bytes(props)), st.binary(max_size=24))))
    body = draw(st.binary(max_size=20))
    chunk = draw(st.integers(0, 8))
    method = encode_method_frame(1, spec.BasicPublish(exchange="x", routing_key="k"))
    header = struct.pack(">HHQ", 60, 0, len(body)) + bytes(props)
    frames = encode_content_frames(1, 60, b"", body, chunk + 8 if chunk else 0)[1:]
    return method + encode_frame(spec.FRAME_HEADER, 1, header) + b"".join(frames)


TYPICAL_PROPERTIES = spec.BasicProperties(
    content_type="application/json",
    headers={"n": 1, "s": "x", "a": [1, {"t": True}]},
    delivery_mode=2,
    priority=1,
    expiration="100",
    timestamp=1,
).encode()

hardening_streams = st.lists(
    st.one_of(named_method_frame(), publish_with_bad_header(), valid_streams),
    min_size=1,
    max_size=6,
).map(b"".join)


@given(data=hardening_streams, cuts=st.lists(st.integers(0, 1000), max_size=6))
@FUZZ
def test_fuzz_bad_names_and_headers_only_yield_clean_events_or_amqp_errors(
    data: bytes, cuts: list[int]
) -> None:
    """No event carries a name that is not UTF-8 or properties that do not decode."""
    run_fuzz(data, cuts)


def _decodes(properties: bytes) -> bool:
    try:
        spec.BasicProperties.decode(properties)
    except AMQPError:
        return False
    return True


@st.composite
def one_bad_thing(draw: st.DrawFn) -> tuple[bytes, str]:
    """A name that is not UTF-8, or a header whose properties do not decode, and the start
    of the 501 detail it must give."""
    if draw(st.booleans()):
        cls = draw(st.sampled_from(NAMED_METHODS))
        names = [n for n, t in zip(cls.FIELDS, cls.FIELD_TYPES, strict=True) if t == "shortstr"]
        bad = draw(st.sampled_from(names))
        values = {
            name: draw(not_utf8 if name == bad else st.text(max_size=8).map(str.encode)).decode(
                "utf-8", "surrogateescape"
            )
            for name in names
        }
        return encode_method_frame(1, cls(**values)), "Malformed UTF-8 in shortstr"
    frames = draw(publish_with_bad_header())
    properties = _header_properties(frames)
    assume(len(properties) >= 2 and not _decodes(properties))  # really malformed
    return frames, "cannot decode basic properties"


def _header_properties(frames: bytes) -> bytes:
    """The properties of the content header frame in basic.publish ``frames``."""
    method_size = struct.unpack_from(">I", frames, 3)[0]
    header_at = 7 + method_size + 1
    header_size = struct.unpack_from(">I", frames, header_at + 3)[0]
    return frames[header_at + 7 + 12 : header_at + 7 + header_size]


good_publishes = st.lists(
    st.builds(publish_frames, st.just(1), st.binary(max_size=30), st.integers(0, 10)),
    max_size=4,
).map(b"".join)


@given(
    before=good_publishes,
    bad=one_bad_thing(),
    after=good_publishes,
    cuts=st.lists(st.integers(0, 1000), max_size=4),
)
@FUZZ
def test_fuzz_bad_name_or_header_is_exactly_a_501(
    before: bytes, bad: tuple[bytes, str], after: bytes, cuts: list[int]
) -> None:
    """However the bytes are split: the good publishes before it are events, the bad name
    or header is a 501 FRAME_ERROR (RabbitMQ's words for names), nothing after it is."""
    frames, detail = bad
    expected = feed(started(frame_max=4096), before)
    conn = started(frame_max=4096)
    data = before + frames + after
    events: list[Event] = []
    start = 0
    with pytest.raises(AMQPError) as info:
        for cut in sorted({c % (len(data) + 1) for c in cuts} | {len(data)}):
            for event in conn.receive(data[start:cut]):
                events.append(event)
            start = cut
    assert info.value.reply_code == 501 and info.value.hard, info.value
    assert info.value.detail.startswith(detail), info.value.detail
    assert events == expected


@given(data=valid_streams)
@FUZZ
def test_valid_streams_never_fail_on_open_channels(data: bytes) -> None:
    """Sanity check of the fuzz generator: unmutated streams on channel 1 are accepted."""
    conn = started(frame_max=4096)
    try:
        feed(conn, data)
    except AMQPError as error:
        # Only the rule violations the generator can produce by itself.
        assert error.reply_code in (504, 505, 530), error
