"""Cheap reads of basic properties from raw content-header bytes, without decoding them all."""

from __future__ import annotations

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
# 3 octet, 4 timestamp. Bits 1 and 0 (unused, flag continuation) are ignored, as
# RabbitMQ and BasicProperties.decode do.
_SHORTSTR = 1
_TABLE = 2
_OCTET = 3
_TIMESTAMP = 4
PROPERTY_KINDS: tuple[int, ...] = (
    _SHORTSTR,  # content-type
    _SHORTSTR,  # content-encoding
    _TABLE,  # headers
    _OCTET,  # delivery-mode
    _OCTET,  # priority
    _SHORTSTR,  # correlation-id
    _SHORTSTR,  # reply-to
    _SHORTSTR,  # expiration
    _SHORTSTR,  # message-id
    _TIMESTAMP,  # timestamp
    _SHORTSTR,  # type
    _SHORTSTR,  # user-id
    _SHORTSTR,  # app-id
    _SHORTSTR,  # cluster-id
)

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


class MalformedProperties(FrameError):
    """Content-header properties that do not decode: 501 FRAME_ERROR, a connection error."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"cannot decode basic properties: {detail}")


def check_properties(raw: bytes) -> None:
    """Raise MalformedProperties unless ``raw`` (property flags, then the values the flags
    announce) is well formed: every value complete, nothing after the last one, field
    tables that decode (known value types, lengths that add up, at most 64 levels
    deep). What passes decodes with ``BasicProperties.decode``."""
    size = len(raw)
    if size < 2:
        raise MalformedProperties("property flags missing")
    flags = (raw[0] << 8) | raw[1]
    pos = 2
    bit = 0x8000
    for kind in PROPERTY_KINDS:
        if flags & bit:
            if pos >= size:
                raise MalformedProperties("a property announced by the flags is missing")
            if kind == _SHORTSTR:
                pos += 1 + raw[pos]
            elif kind == _TABLE:
                pos = _skip_table(raw, pos, 0)
            elif kind == _OCTET:
                pos += 1
            else:
                pos += 8
            if pos > size:
                raise MalformedProperties("a property runs past the end of the content header")
        bit >>= 1
    if pos != size:
        raise MalformedProperties(f"{size - pos} bytes after the last property")


def _length(raw: bytes, pos: int) -> int:
    """The 32-bit length at ``pos``, which must be inside ``raw``."""
    if pos + 4 > len(raw):
        raise MalformedProperties("truncated field length")
    return (raw[pos] << 24) | (raw[pos + 1] << 16) | (raw[pos + 2] << 8) | raw[pos + 3]


def _skip_table(raw: bytes, pos: int, depth: int) -> int:
    """The offset after the field table (length prefix first) at ``pos``."""
    if depth > _MAX_DEPTH:
        raise MalformedProperties("field table nested too deeply")
    end = pos + 4 + _length(raw, pos)
    if end > len(raw):
        raise MalformedProperties("field table length exceeds available data")
    pos += 4
    while pos < end:
        key_end = pos + 1 + raw[pos]
        if key_end >= end:  # (keys may be any bytes, as in RabbitMQ)
            raise MalformedProperties("field table contents overrun its length")
        pos = _skip_value(raw, key_end, depth)
    if pos != end:
        raise MalformedProperties("field table contents overrun its length")
    return end


def _skip_array(raw: bytes, pos: int, depth: int) -> int:
    if depth > _MAX_DEPTH:
        raise MalformedProperties("field array nested too deeply")
    end = pos + 4 + _length(raw, pos)
    if end > len(raw):
        raise MalformedProperties("field array length exceeds available data")
    pos += 4
    while pos < end:
        pos = _skip_value(raw, pos, depth)
    if pos != end:
        raise MalformedProperties("field array contents overrun its length")
    return end


def _skip_value(raw: bytes, pos: int, depth: int) -> int:
    """The offset after the field value (type tag first) at ``pos`` < len(raw)."""
    tag = raw[pos]
    pos += 1
    fixed = _FIXED_SIZES.get(tag, -1)
    if fixed >= 0:
        return pos + fixed  # an overrun shows when the enclosing table or array ends
    if tag in (_LONGSTR, _BYTES):
        end = pos + 4 + _length(raw, pos)
        if end > len(raw):
            raise MalformedProperties("long string length exceeds available data")
        return end
    if tag == _FIELD_TABLE:
        return _skip_table(raw, pos, depth + 1)
    if tag == _ARRAY:
        return _skip_array(raw, pos, depth + 1)
    raise MalformedProperties(f"unknown field value type {chr(tag)!r}")
