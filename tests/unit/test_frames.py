"""Sans-IO frame layer: FrameReader, frame encoders, content frames, fuzz, pamqp."""

from __future__ import annotations

import struct
from typing import NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leveret.amqp import spec
from leveret.amqp.errors import FrameError
from leveret.amqp.frames import (
    FRAME_OVERHEAD,
    HEARTBEAT_FRAME,
    FrameReader,
    decode_content_header,
    encode_content_frames,
    encode_content_header,
    encode_deliver_head,
    encode_deliver_tail,
    encode_deliver_tail_pieces,
    encode_frame,
    encode_method_frame,
    encode_shortstrs,
)


class Frame(NamedTuple):
    """A frame as the reader returns it, (type, channel, payload), with names for the tests."""

    type: int
    channel: int
    payload: bytes


RELAXED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

frames = st.builds(
    Frame,
    st.sampled_from([1, 2, 3, 8]),
    st.integers(0, 65535),
    st.binary(max_size=300),
)


def drain(reader: FrameReader) -> list[Frame]:
    out = []
    while (frame := reader.next_frame()) is not None:
        out.append(Frame(*frame))
    return out


# -- reader -------------------------------------------------------------------------------


def test_single_frame() -> None:
    reader = FrameReader()
    raw = encode_frame(1, 7, b"abc")
    assert raw == b"\x01\x00\x07\x00\x00\x00\x03abc\xce"
    reader.feed(raw[:-1])
    assert reader.next_frame() is None
    assert reader.buffered == len(raw) - 1
    reader.feed(raw[-1:])
    frame = reader.next_frame()
    assert frame == (1, 7, b"abc")
    assert frame is not None and type(frame[2]) is bytes
    assert reader.next_frame() is None
    assert reader.buffered == 0


def test_heartbeat() -> None:
    assert HEARTBEAT_FRAME == b"\x08\x00\x00\x00\x00\x00\x00\xce"
    reader = FrameReader()
    reader.feed(HEARTBEAT_FRAME * 3)
    assert drain(reader) == [Frame(8, 0, b"")] * 3


def test_method_frame() -> None:
    method = spec.ChannelOpen()
    raw = encode_method_frame(3, method)
    assert raw == encode_frame(1, 3, method.encode())
    reader = FrameReader()
    reader.feed(memoryview(raw))
    frame = reader.next_frame()
    assert frame is not None
    assert spec.decode_method(frame[2]) == method


@given(st.lists(frames, max_size=20), st.data())
@RELAXED
def test_split_at_random_points(items: list[Frame], data: st.DataObject) -> None:
    stream = b"".join(encode_frame(*f) for f in items)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    reader = FrameReader()
    got: list[Frame] = []
    prev = 0
    for cut in [*cuts, len(stream)]:
        reader.feed(stream[prev:cut])
        prev = cut
        got += drain(reader)
    assert got == items
    assert reader.buffered == 0


@given(st.lists(frames, max_size=20))
@RELAXED
def test_byte_at_a_time(items: list[Frame]) -> None:
    stream = b"".join(encode_frame(*f) for f in items)
    reader = FrameReader()
    got: list[Frame] = []
    for i in range(len(stream)):
        reader.feed(stream[i : i + 1])
        got += drain(reader)
    assert got == items


def test_many_frames_compacts_buffer() -> None:
    reader = FrameReader()
    frame = encode_frame(3, 1, b"x" * 1000)
    reader.feed(frame * 200 + frame[:5])
    assert len(drain(reader)) == 200
    assert reader.buffered == 5
    reader.feed(frame[5:])
    assert len(reader._buf) == len(frame)  # consumed bytes were dropped at the next feed
    assert drain(reader) == [Frame(3, 1, b"x" * 1000)]


def test_frame_max_boundary() -> None:
    reader = FrameReader(frame_max=4096)
    reader.feed(encode_frame(3, 1, b"x" * (4096 - FRAME_OVERHEAD)))
    assert drain(reader) == [Frame(3, 1, b"x" * 4088)]
    # Rejected from the 7-byte header alone, before the payload is buffered.
    reader.feed(struct.pack(">BHI", 3, 1, 4089))
    with pytest.raises(FrameError, match="frame size 4097 exceeds frame_max 4096"):
        reader.next_frame()


def test_frame_max_settable_and_zero_unlimited() -> None:
    reader = FrameReader()
    assert reader.frame_max == 131072
    reader.frame_max = 0
    big = encode_frame(3, 1, b"y" * 200000)
    reader.feed(big)
    assert drain(reader) == [Frame(3, 1, b"y" * 200000)]
    reader.frame_max = 4096
    reader.feed(big[:7])
    with pytest.raises(FrameError, match="exceeds frame_max"):
        reader.next_frame()


def test_huge_declared_size_rejected_early() -> None:
    reader = FrameReader()
    reader.feed(b"\x03\x00\x01\xff\xff\xff\xff")
    with pytest.raises(FrameError, match="exceeds frame_max"):
        reader.next_frame()


@pytest.mark.parametrize("frame_type", [0, 4, 9, 65, 206, 255])
def test_unknown_frame_type(frame_type: int) -> None:
    reader = FrameReader()
    reader.feed(bytes([frame_type]) + b"\x00\x00\x00\x00\x00\x00\xce")
    text = rf"^FRAME_ERROR - type {frame_type}, all octets = <<>>: unknown_frame$"
    with pytest.raises(FrameError, match=text):
        reader.next_frame()


def test_protocol_header_is_not_a_frame() -> None:
    reader = FrameReader()
    reader.feed(spec.PROTOCOL_HEADER)
    with pytest.raises(FrameError, match="type 65, all octets = <<"):
        reader.next_frame()


def test_bad_end_marker() -> None:
    reader = FrameReader()
    reader.feed(encode_frame(1, 0, b"abc")[:-1] + b"\x00")
    with pytest.raises(FrameError, match="invalid frame end marker"):
        reader.next_frame()


@given(st.lists(st.binary(max_size=64), max_size=8), st.integers(0, 5000))
@RELAXED
def test_fuzz_reader(chunks: list[bytes], frame_max: int) -> None:
    reader = FrameReader(frame_max)
    fed = 0
    try:
        for chunk in chunks:
            reader.feed(chunk)
            fed += len(chunk)
            # Every returned frame consumes at least 8 bytes: the loop terminates.
            for _ in range(fed // FRAME_OVERHEAD + 1):
                if reader.next_frame() is None:
                    break
            else:
                pytest.fail("reader returned more frames than the input can hold")
    except FrameError:
        pass


# -- content frames -----------------------------------------------------------------------


def test_content_header_round_trip() -> None:
    props = spec.BasicProperties(content_type="text/plain", delivery_mode=2).encode()
    payload = encode_content_header(60, 12345, props)
    assert payload[:12] == b"\x00\x3c\x00\x00" + struct.pack(">Q", 12345)
    assert decode_content_header(payload) == (60, 12345, props)
    assert decode_content_header(memoryview(payload)) == (60, 12345, props)
    assert encode_content_header(60, 0, b"") == b"\x00\x3c\x00\x00" + b"\x00" * 8 + b"\x00\x00"


@pytest.mark.parametrize("size", [0, 1, 11, 13])
def test_short_content_header(size: int) -> None:
    with pytest.raises(FrameError, match="content header too short"):
        decode_content_header(bytes(size))


@pytest.mark.parametrize(
    ("body_size", "frame_max", "chunks"),
    [
        (0, 4096, []),
        (1, 4096, [1]),
        (4088, 4096, [4088]),
        (4089, 4096, [4088, 1]),
        (3 * 4088, 4096, [4088] * 3),
        (10, 9, [1] * 10),
        (200000, 0, [200000]),
    ],
)
def test_content_frames(body_size: int, frame_max: int, chunks: list[int]) -> None:
    body = bytes(i % 251 for i in range(body_size))
    props = spec.BasicProperties(message_id="m").encode()
    raw = encode_content_frames(4, 60, props, body, frame_max)
    assert len(raw) == 1 + len(chunks)
    reader = FrameReader(0)
    reader.feed(b"".join(raw))
    got = drain(reader)
    assert got[0] == Frame(2, 4, encode_content_header(60, body_size, props))
    assert [len(f.payload) for f in got[1:]] == chunks
    assert all(f.type == 3 and f.channel == 4 for f in got[1:])
    assert b"".join(f.payload for f in got[1:]) == body
    assert all(len(frame) <= frame_max for frame in raw[1:]) or frame_max == 0


def test_content_frames_from_memoryview() -> None:
    raw = encode_content_frames(1, 60, b"\x00\x00", memoryview(b"abcdef"), 11)
    assert raw[1:] == [encode_frame(3, 1, b"abc"), encode_frame(3, 1, b"def")]


def test_content_frames_frame_max_too_small() -> None:
    with pytest.raises(ValueError):
        encode_content_frames(1, 60, b"\x00\x00", b"x", 8)


# -- differential against pamqp -----------------------------------------------------------

pamqp_frame = pytest.importorskip("pamqp.frame")
pamqp_commands = pytest.importorskip("pamqp.commands")
pamqp_header = pytest.importorskip("pamqp.header")
pamqp_body = pytest.importorskip("pamqp.body")
pamqp_heartbeat = pytest.importorskip("pamqp.heartbeat")


@given(st.binary(max_size=5000), st.integers(0, 65535))
@RELAXED
def test_pamqp_frames_read_by_ours(body: bytes, channel: int) -> None:
    stream = (
        pamqp_frame.marshal(pamqp_commands.Basic.Publish(exchange="x", routing_key="k"), channel)
        + pamqp_frame.marshal(pamqp_header.ContentHeader(0, len(body)), channel)
        + pamqp_frame.marshal(pamqp_body.ContentBody(body), channel)
        + pamqp_frame.marshal(pamqp_heartbeat.Heartbeat(), 0)
    )
    reader = FrameReader()
    reader.feed(stream)
    method, header, content, heartbeat = drain(reader)
    assert spec.decode_method(method.payload) == spec.BasicPublish(exchange="x", routing_key="k")
    class_id, body_size, props = decode_content_header(header.payload)
    assert (header.type, header.channel, class_id, body_size) == (2, channel, 60, len(body))
    assert spec.BasicProperties.decode(props) == spec.BasicProperties()
    assert content == Frame(3, channel, body)
    assert heartbeat == Frame(8, 0, b"")


@given(st.binary(max_size=5000), st.integers(1, 65535))
@RELAXED
def test_our_frames_read_by_pamqp(body: bytes, channel: int) -> None:
    stream = encode_method_frame(channel, spec.BasicDeliver("c", 9, False, "x", "k"))
    stream += b"".join(
        encode_content_frames(channel, 60, spec.BasicProperties(priority=3).encode(), body, 1024)
    )
    stream += HEARTBEAT_FRAME
    seen = []
    while stream:
        consumed, chan, value = pamqp_frame.unmarshal(stream)
        seen.append((chan, value))
        stream = stream[consumed:]
    deliver = seen[0][1]
    assert isinstance(deliver, pamqp_commands.Basic.Deliver)
    assert (deliver.consumer_tag, deliver.delivery_tag, deliver.routing_key) == ("c", 9, "k")
    header = seen[1][1]
    assert (header.body_size, header.properties.priority) == (len(body), 3)
    assert b"".join(v.value for _, v in seen[2:-1]) == body
    assert all(c == channel for c, _ in seen[:-1])
    assert isinstance(seen[-1][1], pamqp_heartbeat.Heartbeat)


@given(
    channel=st.integers(0, 65535),
    consumer_tag=st.text(max_size=40),
    delivery_tag=st.integers(0, 2**64 - 1),
    redelivered=st.booleans(),
    exchange=st.text(max_size=40),
    routing_key=st.text(max_size=60),
    properties=st.sampled_from([b"", b"\x00\x00", spec.BasicProperties(delivery_mode=2).encode()]),
    body=st.binary(max_size=600),
    frame_max=st.sampled_from([0, 4096 + 1, 200, 9]),
)
def test_preencoded_deliver_matches_the_general_encoders(
    channel: int,
    consumer_tag: str,
    delivery_tag: int,
    redelivered: bool,
    exchange: str,
    routing_key: str,
    properties: bytes,
    body: bytes,
    frame_max: int,
) -> None:
    """The delivery fast path writes byte for byte what the generic encoders write."""
    fields = encode_shortstrs(exchange, routing_key)
    tail = encode_deliver_tail(channel, fields, properties, body, frame_max)
    head = encode_deliver_head(
        channel, encode_shortstrs(consumer_tag, "")[:-1], delivery_tag, redelivered, len(fields)
    )
    method = spec.BasicDeliver(
        consumer_tag=consumer_tag,
        delivery_tag=delivery_tag,
        redelivered=redelivered,
        exchange=exchange,
        routing_key=routing_key,
    )
    expected = encode_method_frame(channel, method) + b"".join(
        encode_content_frames(channel, 60, properties, body, frame_max)
    )
    assert head + tail == expected
    pieces = encode_deliver_tail_pieces(channel, fields, properties, body, frame_max)
    assert head + b"".join(pieces) == expected
