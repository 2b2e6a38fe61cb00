"""Sans-IO AMQP 0-9-1 frame layer: split a byte stream into frames, and build frames.

A frame is ``type:u8 channel:u16 size:u32 payload[size] 0xCE``. The 8-byte protocol
header that opens a connection is not handled here.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from leveret.amqp.errors import FrameError
from leveret.amqp.method import Method
from leveret.amqp.spec import (
    FRAME_BODY,
    FRAME_END,
    FRAME_HEADER,
    FRAME_HEARTBEAT,
    FRAME_METHOD,
)

__all__ = [
    "FRAME_OVERHEAD",
    "HEARTBEAT_FRAME",
    "Frame",
    "FrameReader",
    "decode_content_header",
    "encode_content_frames",
    "encode_content_header",
    "encode_frame",
    "encode_method_frame",
]

#: Bytes a frame adds around its payload: 7-byte header and the end octet.
FRAME_OVERHEAD = 8

_HEADER = struct.Struct(">BHI")
_CONTENT_HEADER = struct.Struct(">HHQ")
_VALID_TYPES = frozenset((FRAME_METHOD, FRAME_HEADER, FRAME_BODY, FRAME_HEARTBEAT))
_END = bytes((FRAME_END,))
_EMPTY_PROPERTIES = b"\x00\x00"
# Compact the read buffer once this many consumed bytes sit at its front.
_COMPACT_AT = 65536

HEARTBEAT_FRAME = _HEADER.pack(FRAME_HEARTBEAT, 0, 0) + _END


class Frame(NamedTuple):
    type: int
    channel: int
    payload: bytes


class FrameReader:
    """Accumulates bytes with ``feed`` and yields complete frames with ``next_frame``.

    ``frame_max`` is the largest total frame size accepted (header and end octet
    included, as negotiated by connection.tune); 0 means no limit. It may be changed
    at any time, e.g. after tune-ok.
    """

    __slots__ = ("_buf", "_pos", "frame_max")

    def __init__(self, frame_max: int = 131072) -> None:
        self.frame_max = frame_max
        self._buf = bytearray()
        self._pos = 0

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as frames."""
        return len(self._buf) - self._pos

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        self._buf += data

    def next_frame(self) -> Frame | None:
        """The next complete frame, or None until more bytes are fed.

        Raises FrameError for an unknown frame type, a frame larger than ``frame_max``
        (detected from the header, before its payload is buffered) or a bad end octet.
        """
        buf = self._buf
        pos = self._pos
        size = len(buf)
        if size - pos < 7:
            return None
        frame_type, channel, length = _HEADER.unpack_from(buf, pos)
        if frame_type not in _VALID_TYPES:
            raise FrameError(f"unknown frame type {frame_type}")
        frame_max = self.frame_max
        if frame_max and length + FRAME_OVERHEAD > frame_max:
            raise FrameError(f"frame size {length + FRAME_OVERHEAD} exceeds frame_max {frame_max}")
        end = pos + 7 + length
        if end >= size:
            return None
        if buf[end] != FRAME_END:
            raise FrameError(f"invalid frame end marker {buf[end]:#04x}")
        payload = bytes(buf[pos + 7 : end])
        pos = end + 1
        if pos == size:
            buf.clear()
            pos = 0
        elif pos >= _COMPACT_AT:
            del buf[:pos]
            pos = 0
        self._pos = pos
        return Frame(frame_type, channel, payload)


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
