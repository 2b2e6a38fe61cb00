"""Cheap reads of basic properties from raw content-header bytes, without decoding them all."""

from __future__ import annotations

import struct

from leveret.amqp.errors import FrameError

# Property flag bits (of the 16-bit flags word that starts the raw properties), spec order.
CONTENT_TYPE = 0x8000
CONTENT_ENCODING = 0x4000
HEADERS = 0x2000
DELIVERY_MODE = 0x1000
PRIORITY = 0x0800
REPLY_TO = 0x0200
EXPIRATION = 0x0100
USER_ID = 0x0010


def delivery_mode(raw: bytes) -> int:
    """The delivery-mode property (2 = persistent), or 0 when absent or unreadable."""
    if len(raw) < 2:
        return 0
    flags = (raw[0] << 8) | raw[1]
    if not flags & DELIVERY_MODE:
        return 0
    pos = 2
    try:
        if flags & CONTENT_TYPE:
            pos += 1 + raw[pos]
        if flags & CONTENT_ENCODING:
            pos += 1 + raw[pos]
        if flags & HEADERS:
            pos += 4 + int.from_bytes(raw[pos : pos + 4], "big")
        return raw[pos]
    except IndexError:
        return 0


# -- validation -----------------------------------------------------------------------------
# A publish's properties are checked once, when its content header arrives, so that what is
# stored and delivered always decodes (``BasicProperties.decode``). The check walks the bytes
# without building anything; the usual empty properties (flags 0) are not even walked.

#: Raw properties with no property present: nothing to check.
NO_PROPERTIES = b"\x00\x00"

# Basic properties in flag order (bit 15 first), by wire type: 1 shortstr, 2 table,
# 3 octet, 4 timestamp (check_properties is this list unrolled). Bits 1 and 0 (unused,
# flag continuation) are ignored, as RabbitMQ and BasicProperties.decode do.
PROPERTY_KINDS: tuple[int, ...] = (1, 1, 2, 3, 3, 1, 1, 1, 1, 4, 1, 1, 1, 1)

#: Deepest nesting of field tables/arrays accepted (as leveret.amqp.table.MAX_DEPTH).
_MAX_DEPTH = 64

# Field value tags of fixed size -> their size in bytes (RabbitMQ's errata types).
_FIXED_SIZES: dict[int, int] = {
    0x74: 1,  # t boolean
    0x62: 1,  # b int8
    0x42: 1,  # B uint8
    0x73: 2,  # s int16
    0x75: 2,  # u uint16
    0x49: 4,  # I int32
    0x69: 4,  # i uint32
    0x66: 4,  # f float32
    0x44: 5,  # D decimal
    0x6C: 8,  # l int64
    0x4C: 8,  # L int64 (py-amqp)
    0x64: 8,  # d float64
    0x54: 8,  # T timestamp
    0x56: 0,  # V void
}
_LONGSTR = 0x53  # S
_BYTES = 0x78  # x
_ARRAY = 0x41  # A
_FIELD_TABLE = 0x46  # F
_unpack_u32 = struct.Struct(">I").unpack_from

# Properties that passed check_properties lately (at most 512 of at most 512 bytes each).
_checked: dict[bytes, None] = {}
_REMEMBER_COUNT = 512
_REMEMBER_SIZE = 512


class MalformedProperties(FrameError):
    """Content-header properties that do not decode: 501 FRAME_ERROR, a connection error."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"cannot decode basic properties: {detail}")


def check_properties(raw: bytes) -> None:
    """Raise MalformedProperties unless ``raw`` (property flags, then the values the flags
    announce) is well formed: every value complete, nothing after the last one, field
    tables that decode (known value types, lengths that add up, at most 64 levels deep).
    What passes decodes with ``BasicProperties.decode``.

    A publisher usually sends the same properties again and again: the last few hundred
    short ones that passed are remembered, and checking them again is a dict lookup."""
    if raw in _checked:
        return
    try:
        end = _walk(raw)
    except (IndexError, struct.error):
        raise MalformedProperties("a property runs past the end of the content header") from None
    if end != len(raw):
        if end > len(raw):
            raise MalformedProperties("a property runs past the end of the content header")
        raise MalformedProperties(f"{len(raw) - end} bytes after the last property")
    if len(raw) <= _REMEMBER_SIZE:
        if len(_checked) >= _REMEMBER_COUNT:
            _checked.clear()
        _checked[raw] = None


def _walk(raw: bytes) -> int:
    """The offset after the last property the flags announce. Offsets only grow, so a value
    that overruns the end shows in the result (or as an IndexError on the way)."""
    flags = (raw[0] << 8) | raw[1]
    pos = 2
    if flags & 0x8000:  # content-type
        pos += 1 + raw[pos]
    if flags & 0x4000:  # content-encoding
        pos += 1 + raw[pos]
    if flags & 0x2000:  # headers
        pos = _skip_table(raw, pos, 0)
    if flags & 0x1800:  # delivery-mode, priority
        pos += (1 if flags & 0x1000 else 0) + (1 if flags & 0x0800 else 0)
    if flags & 0x0400:  # correlation-id
        pos += 1 + raw[pos]
    if flags & 0x0200:  # reply-to
        pos += 1 + raw[pos]
    if flags & 0x0100:  # expiration
        pos += 1 + raw[pos]
    if flags & 0x0080:  # message-id
        pos += 1 + raw[pos]
    if flags & 0x0040:  # timestamp
        pos += 8
    if flags & 0x003C:
        if flags & 0x0020:  # type
            pos += 1 + raw[pos]
        if flags & 0x0010:  # user-id
            pos += 1 + raw[pos]
        if flags & 0x0008:  # app-id
            pos += 1 + raw[pos]
        if flags & 0x0004:  # cluster-id
            pos += 1 + raw[pos]
    return pos


def _skip_table(raw: bytes, pos: int, depth: int) -> int:
    """The offset after the field table (length prefix first) at ``pos``."""
    if depth > _MAX_DEPTH:
        raise MalformedProperties("field table nested too deeply")
    length: int = _unpack_u32(raw, pos)[0]
    end = pos + 4 + length
    if end > len(raw):
        raise MalformedProperties("field table length exceeds available data")
    pos += 4
    while pos < end:
        pos += 2 + raw[pos]  # the key (any bytes, as in RabbitMQ), then the type tag
        if pos > end:
            raise MalformedProperties("field table contents overrun its length")
        tag = raw[pos - 1]
        pos = _skip_value(raw, pos, tag, depth)
    if pos != end:
        raise MalformedProperties("field table contents overrun its length")
    return end


def _skip_value(raw: bytes, pos: int, tag: int, depth: int) -> int:
    """The offset after the value of type ``tag`` at ``pos`` (in a table or an array)."""
    fixed = _FIXED_SIZES.get(tag, -1)
    if fixed >= 0:
        return pos + fixed
    if tag in (_LONGSTR, _BYTES):
        return pos + 4 + int(_unpack_u32(raw, pos)[0])
    if tag == _FIELD_TABLE:
        return _skip_table(raw, pos, depth + 1)
    if tag == _ARRAY:
        return _skip_array(raw, pos, depth + 1)
    raise MalformedProperties(f"unknown field value type {chr(tag)!r}")


def _skip_array(raw: bytes, pos: int, depth: int) -> int:
    """The offset after the field array (length prefix first) at ``pos``."""
    if depth > _MAX_DEPTH:
        raise MalformedProperties("field array nested too deeply")
    length: int = _unpack_u32(raw, pos)[0]
    end = pos + 4 + length
    if end > len(raw):
        raise MalformedProperties("field array length exceeds available data")
    pos += 4
    while pos < end:
        tag = raw[pos]
        pos += 1
        pos = _skip_value(raw, pos, tag, depth)
    if pos != end:
        raise MalformedProperties("field array contents overrun its length")
    return end
