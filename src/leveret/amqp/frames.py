"""Sans-IO AMQP 0-9-1 frame layer: split a byte stream into frames, and build frames.

A frame is ``type:u8 channel:u16 size:u32 payload[size] 0xCE``. The 8-byte protocol
header that opens a connection is not handled here.
"""

from __future__ import annotations

import struct

from leveret.amqp.errors import FrameError
from leveret.amqp.method import Method
from leveret.amqp.spec import (
    FRAME_BODY,
    FRAME_END,
    FRAME_HEADER,
    FRAME_HEARTBEAT,
    FRAME_METHOD,
)
from leveret.amqp.table import encode_shortstr

__all__ = [
    "FRAME_OVERHEAD",
    "HEARTBEAT_FRAME",
    "FrameReader",
    "decode_content_header",
    "encode_content_frames",
    "encode_content_header",
    "encode_deliver_head",
    "encode_deliver_tail",
    "encode_deliver_tail_pieces",
    "encode_frame",
    "encode_method_frame",
    "encode_shortstrs",
]

#: Bytes a frame adds around its payload: 7-byte header and the end octet.
FRAME_OVERHEAD = 8

_HEADER = struct.Struct(">BHI")
_DELIVER_HEAD = struct.Struct(">BHIHH")  # a method frame's header, then class 60 method 60
_DELIVER_TAG = struct.Struct(">QB")
_END_AND_CONTENT_HEADER = struct.Struct(">BBHIHHQ")  # a frame end, then a content header
_END_AND_FRAME_HEADER = struct.Struct(">BBHI")  # a frame end, then a frame header
_CONTENT_HEADER = struct.Struct(">HHQ")
_VALID_TYPES = frozenset((FRAME_METHOD, FRAME_HEADER, FRAME_BODY, FRAME_HEARTBEAT))
_END = bytes((FRAME_END,))
_EMPTY_PROPERTIES = b"\x00\x00"

HEARTBEAT_FRAME = _HEADER.pack(FRAME_HEARTBEAT, 0, 0) + _END


class FrameReader:
    """Accumulates bytes with ``feed`` and yields complete frames with ``next_frame``.

    ``frame_max`` is the largest total frame size accepted (header and end octet
    included, as negotiated by connection.tune); 0 means no limit. It may be changed
    at any time, e.g. after tune-ok.
    """

    __slots__ = ("_buf", "_pos", "frame_max")

    def __init__(self, frame_max: int = 131072) -> None:
        self.frame_max = frame_max
        # Immutable bytes, not a bytearray: slicing a payload out is then a single copy,
        # and a read that starts on a frame boundary becomes the buffer without any copy.
        self._buf = b""
        self._pos = 0

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as frames."""
        return len(self._buf) - self._pos

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return  # (resuming a deferred parse: keep the buffer as it is, uncopied)
        buf = self._buf
        pos = self._pos
        if pos >= len(buf):
            self._buf = data if type(data) is bytes else bytes(data)
        else:
            self._buf = buf[pos:] + data
        self._pos = 0

    def next_frame(self) -> tuple[int, int, bytes] | None:
        """The next complete frame as (type, channel, payload), or None until more bytes.

        Raises FrameError for an unknown frame type, a frame larger than ``frame_max``
        (detected from the header, before its payload is buffered) or a bad end octet.
        """
        buf = self._buf
        pos = self._pos
        if len(buf) - pos < 7:
            return None
        frame_type, channel, length = _HEADER.unpack_from(buf, pos)
        if frame_type not in _VALID_TYPES:
            # At once, not after waiting for a payload that garbage may never complete;
            # in RabbitMQ's words, with the octets that did arrive.
            raise FrameError(unknown_frame_text(frame_type, buf[pos + 7 : pos + 7 + length]))
        frame_max = self.frame_max
        if frame_max and length + FRAME_OVERHEAD > frame_max:
            raise FrameError(f"frame size {length + FRAME_OVERHEAD} exceeds frame_max {frame_max}")
        end = pos + 7 + length
        if end >= len(buf):
            return None
        if buf[end] != FRAME_END:
            raise FrameError(f"invalid frame end marker {buf[end]:#04x}")
        self._pos = end + 1
        return frame_type, channel, buf[pos + 7 : end]

    def next_content(self, channel: int, max_size: int) -> tuple[int, bytes, bytes] | None:
        """Fast path for the usual publish: a content header on ``channel`` followed by
        one body frame holding the whole body (or no body), all already buffered.

        Returns (class id, raw properties, body) and consumes those frames; otherwise
        consumes nothing and returns None, and ``next_frame`` takes the general path,
        which also reports every error.
        """
        buf = self._buf
        pos = self._pos
        size = len(buf)
        if size - pos < 22:
            return None
        frame_type, frame_channel, length = _HEADER.unpack_from(buf, pos)
        end = pos + 7 + length
        frame_max = self.frame_max
        if (
            frame_type != FRAME_HEADER
            or frame_channel != channel
            or length < 14
            or end >= size
            or buf[end] != FRAME_END
            or (frame_max and length + FRAME_OVERHEAD > frame_max)
        ):
            return None
        class_id, _weight, body_size = _CONTENT_HEADER.unpack_from(buf, pos + 7)
        if body_size > max_size:
            return None
        properties_raw = buf[pos + 19 : end]
        if not body_size:
            self._pos = end + 1
            return class_id, properties_raw, b""
        body_start = end + 8
        body_end = body_start + body_size
        if body_end >= size:
            return None
        frame_type, frame_channel, length = _HEADER.unpack_from(buf, end + 1)
        if (
            frame_type != FRAME_BODY
            or frame_channel != channel
            or length != body_size
            or buf[body_end] != FRAME_END
            or (frame_max and length + FRAME_OVERHEAD > frame_max)
        ):
            return None
        self._pos = body_end + 1
        return class_id, properties_raw, buf[body_start:body_end]


def encode_frame(frame_type: int, channel: int, payload: bytes) -> bytes:
    """A complete frame around ``payload``."""
    return _HEADER.pack(frame_type, channel, len(payload)) + payload + _END


def encode_method_frame(channel: int, method: Method) -> bytes:
    """A complete method frame."""
    payload = method.encode()
    return _HEADER.pack(FRAME_METHOD, channel, len(payload)) + payload + _END


def encode_content_header(class_id: int, body_size: int, properties_raw: bytes) -> bytes:
    """A content header frame payload: class id, weight 0, body size, properties.

    ``properties_raw`` is the property flags and values (``BasicProperties.encode()``);
    an empty value stands for "no properties" (flags 0).
    """
    return _CONTENT_HEADER.pack(class_id, 0, body_size) + (properties_raw or _EMPTY_PROPERTIES)


def decode_content_header(payload: bytes | bytearray | memoryview) -> tuple[int, int, bytes]:
    """Split a content header payload into (class id, body size, raw properties)."""
    if len(payload) < 14:
        raise FrameError(f"content header too short ({len(payload)} bytes)")
    class_id, _weight, body_size = _CONTENT_HEADER.unpack_from(payload, 0)
    return class_id, body_size, bytes(payload[12:])


def encode_content_frames(
    channel: int,
    class_id: int,
    properties_raw: bytes,
    body: bytes | bytearray | memoryview,
    frame_max: int,
) -> list[bytes]:
    """The header frame, then body frames of at most ``frame_max - 8`` payload bytes each.

    An empty body gives no body frame. ``frame_max`` 0 means no limit.
    """
    size = len(body)
    header = _CONTENT_HEADER.pack(class_id, 0, size) + (properties_raw or _EMPTY_PROPERTIES)
    frames = [_HEADER.pack(FRAME_HEADER, channel, len(header)) + header + _END]
    if not size:
        return frames
    chunk = frame_max - FRAME_OVERHEAD if frame_max else size
    if chunk <= 0:
        raise ValueError(f"frame_max {frame_max} leaves no room for a body")
    pack = _HEADER.pack
    if size <= chunk:
        frames.append(pack(FRAME_BODY, channel, size) + bytes(body) + _END)
        return frames
    view = memoryview(body)
    for start in range(0, size, chunk):
        part = view[start : start + chunk]
        frames.append(pack(FRAME_BODY, channel, len(part)) + part + _END)
    return frames


def encode_deliver_tail(
    channel: int, fields: bytes, properties_raw: bytes, body: bytes, frame_max: int
) -> bytes:
    """What every basic.deliver of one message on ``channel`` shares: ``fields`` (the
    exchange and routing key as short strings, see ``encode_shortstrs``), the method
    frame's end, then the content frames. ``encode_deliver_head`` supplies the rest."""
    return b"".join(encode_deliver_tail_pieces(channel, fields, properties_raw, body, frame_max))


def encode_deliver_tail_pieces(
    channel: int, fields: bytes, properties_raw: bytes, body: bytes, frame_max: int
) -> list[bytes]:
    """``encode_deliver_tail`` in pieces that leave a large body uncopied: the caller
    may write them with one scatter write instead of joining megabytes."""
    size = len(body)
    properties_raw = properties_raw or _EMPTY_PROPERTIES
    if size and (not frame_max or size <= frame_max - FRAME_OVERHEAD):
        prefix = b"".join(
            (
                fields,
                _END_AND_CONTENT_HEADER.pack(
                    FRAME_END, FRAME_HEADER, channel, 12 + len(properties_raw), 60, 0, size
                ),
                properties_raw,
                _END_AND_FRAME_HEADER.pack(FRAME_END, FRAME_BODY, channel, size),
            )
        )
        return [prefix, body, _END]
    return [fields + _END, *encode_content_frames(channel, 60, properties_raw, body, frame_max)]


def encode_shortstrs(first: str, second: str) -> bytes:
    """Two short strings back to back (basic.deliver's exchange and routing key)."""
    return encode_shortstr(first) + encode_shortstr(second)


def encode_deliver_head(
    channel: int, consumer_tag: bytes, delivery_tag: int, redelivered: bool, fields_size: int
) -> bytes:
    """The start of a basic.deliver frame up to its redelivered flag. ``consumer_tag`` is
    already a short string; ``fields_size`` comes from ``encode_deliver_tail``."""
    size = 13 + len(consumer_tag) + fields_size
    return (
        _DELIVER_HEAD.pack(FRAME_METHOD, channel, size, 60, 60)
        + consumer_tag
        + _DELIVER_TAG.pack(delivery_tag, redelivered)
    )


def unknown_frame_text(frame_type: int, payload: bytes) -> str:
    """RabbitMQ's text for a frame of unknown type, its payload shown as an Erlang binary."""
    octets = ",".join(str(octet) for octet in payload[:64])
    if len(payload) > 64:
        octets += ",..."
    return f"type {frame_type}, all octets = <<{octets}>>: unknown_frame"
