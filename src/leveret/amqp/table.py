"""AMQP 0-9-1 field tables and field arrays, with RabbitMQ's errata value types.

Decoding is byte-exact: ``encode_table(decode_table(b)[0]) == b`` for every valid ``b``.
Where the natural Python type of a decoded value would not say which wire type it came
from, the value is a small tagged subclass (``Int8``, ``UInt16``, ``Float32``, ``Timestamp``,
``LongStrBytes``...). Tagged values compare equal to natural values (``Int8(5) == 5``).

Natural Python values encode as RabbitMQ clients would send them:

    str -> S    bool -> t    int -> I (int32 range) or l    float -> d    Decimal -> D
    bytes/bytearray/memoryview -> x    None -> V    list/tuple -> A    Mapping -> F
    datetime -> T (seconds since the epoch; naive datetimes are taken as UTC)

A str holding surrogate escapes (a name from basic.publish that is not UTF-8) encodes
back to its original bytes.

Two wire forms are accepted but not reproduced byte for byte: a 't' octet other than 0/1
(decoded as True, like RabbitMQ) and a table repeating a key (the first occurrence wins,
like RabbitMQ's table lookup).
"""

from __future__ import annotations

import calendar
import math
import struct
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, cast

from leveret.amqp.errors import FrameError

__all__ = [
    "MAX_DEPTH",
    "Float32",
    "Int8",
    "Int16",
    "Int64",
    "LongLong",
    "LongStrBytes",
    "Timestamp",
    "UInt8",
    "UInt16",
    "UInt32",
    "decode_array",
    "decode_shortstr",
    "decode_table",
    "encode_array",
    "encode_shortstr",
    "encode_table",
    "encode_value",
]

Buffer = bytes | bytearray | memoryview

#: Deepest nesting of tables/arrays accepted (decoding) or produced (encoding).
MAX_DEPTH = 64

_U8 = struct.Struct(">B")
_I8 = struct.Struct(">b")
_I16 = struct.Struct(">h")
_U16 = struct.Struct(">H")
_I32 = struct.Struct(">i")
_U32 = struct.Struct(">I")
_I64 = struct.Struct(">q")
_U64 = struct.Struct(">Q")
_F32 = struct.Struct(">f")
_F64 = struct.Struct(">d")
_DEC = struct.Struct(">BI")

_unpack_u32 = _U32.unpack_from
_pack_u32 = _U32.pack


# -- tagged value types -------------------------------------------------------------------


class _TaggedInt(int):
    """An int that remembers its AMQP field type."""

    __slots__ = ()
    TAG: ClassVar[bytes]
    STRUCT: ClassVar[struct.Struct]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({int(self)})"

    def __str__(self) -> str:
        # Texts show the number (RabbitMQ's "received the value '5'"), the repr its type.
        return str(int(self))


class Int8(_TaggedInt):
    """'b': signed 8-bit integer."""

    __slots__ = ()
    TAG = b"b"
    STRUCT = _I8


class UInt8(_TaggedInt):
    """'B': unsigned 8-bit integer."""

    __slots__ = ()
    TAG = b"B"
    STRUCT = _U8


class Int16(_TaggedInt):
    """'s': signed 16-bit integer (RabbitMQ's errata meaning of 's')."""

    __slots__ = ()
    TAG = b"s"
    STRUCT = _I16


class UInt16(_TaggedInt):
    """'u': unsigned 16-bit integer."""

    __slots__ = ()
    TAG = b"u"
    STRUCT = _U16


class UInt32(_TaggedInt):
    """'i': unsigned 32-bit integer."""

    __slots__ = ()
    TAG = b"i"
    STRUCT = _U32


class Int64(_TaggedInt):
    """'l': signed 64-bit integer (plain ints in int32 range encode as 'I')."""

    __slots__ = ()
    TAG = b"l"
    STRUCT = _I64


class LongLong(_TaggedInt):
    """'L': 64-bit integer as py-amqp writes ints outside the int32 range (signed, like
    its writer; RabbitMQ accepts the tag too)."""

    __slots__ = ()
    TAG = b"L"
    STRUCT = _I64


class Timestamp(_TaggedInt):
    """'T': seconds since the epoch, unsigned 64-bit."""

    __slots__ = ()
    TAG = b"T"
    STRUCT = _U64


class Float32(float):
    """'f': IEEE 754 single precision.

    A NaN keeps its exact bit pattern (``bits``) so that it re-encodes byte for byte.
    """

    __slots__ = ("bits",)
    bits: int | None

    def __new__(cls, value: float = 0.0, bits: int | None = None) -> Float32:
        self = super().__new__(cls, value)
        self.bits = bits
        return self

    def __repr__(self) -> str:
        return f"Float32({float(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Float32, (float(self), self.bits))


class LongStrBytes(bytes):
    """'S': a long string that is not valid UTF-8 (valid ones decode to ``str``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"LongStrBytes({bytes(self)!r})"


# -- short strings ------------------------------------------------------------------------


def encode_shortstr(value: str) -> bytes:
    """Length-prefixed short string; surrogate escapes map back to the original bytes.

    Raises ValueError when the encoded value is longer than 255 bytes.
    """
    raw = value.encode("utf-8", "surrogateescape")
    n = len(raw)
    if n > 255:
        raise ValueError(f"short string too long ({n} bytes, at most 255)")
    return _U8.pack(n) + raw


def decode_shortstr(data: Buffer, offset: int = 0) -> tuple[str, int]:
    """Decode a short string at ``offset``; returns it and the offset after it."""
    try:
        end = data[offset] + offset + 1
    except IndexError:
        raise FrameError("truncated short string") from None
    if end > len(data):
        raise FrameError("short string length exceeds available data")
    return str(data[offset + 1 : end], "utf-8", "surrogateescape"), end


# -- encoding -----------------------------------------------------------------------------


def _encode_decimal(value: Decimal) -> bytes:
    sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        raise ValueError(f"cannot encode decimal {value} in a field table")
    unscaled = 0
    for digit in digits:
        unscaled = unscaled * 10 + digit
    if exponent > 0:
        if unscaled and exponent > 9:
            raise ValueError(f"decimal {value} out of range for a field table")
        unscaled *= 10**exponent
        exponent = 0
    if sign and unscaled:
        raise ValueError(f"cannot encode negative decimal {value} (AMQP decimals are unsigned)")
    if -exponent > 255 or unscaled > 0xFFFFFFFF:
        raise ValueError(f"decimal {value} out of range for a field table")
    return b"D" + _DEC.pack(-exponent, unscaled)


def _encode_int(value: int) -> bytes:
    if -0x80000000 <= value <= 0x7FFFFFFF:
        return b"I" + _I32.pack(value)
    if -0x8000000000000000 <= value <= 0x7FFFFFFFFFFFFFFF:
        return b"l" + _I64.pack(value)
    raise ValueError(f"integer {value} out of range for a field table")


def _encode_float32(value: Float32) -> bytes:
    bits = value.bits
    if bits is not None and math.isnan(value):
        return b"f" + _U32.pack(bits)
    return b"f" + _F32.pack(value)


def _encode_datetime(value: datetime) -> bytes:
    return b"T" + _U64.pack(calendar.timegm(value.utctimetuple()))


def encode_value(value: object, depth: int = 0) -> bytes:
    """Encode one field value: type tag followed by the value."""
    kind = type(value)
    if kind is str:
        raw = cast(str, value).encode("utf-8", "surrogateescape")
        return b"S" + _pack_u32(len(raw)) + raw
    if kind is bool:
        return b"t\x01" if value else b"t\x00"
    if kind is int:
        return _encode_int(cast(int, value))
    if kind is dict:
        return b"F" + _encode_table(cast(dict[str, object], value), depth + 1)
    if value is None:
        return b"V"
    if isinstance(value, _TaggedInt):
        return value.TAG + value.STRUCT.pack(value)
    if isinstance(value, Float32):
        return _encode_float32(value)
    if isinstance(value, LongStrBytes):
        return b"S" + _pack_u32(len(value)) + value
    if isinstance(value, bool):
        return b"t\x01" if value else b"t\x00"
    if isinstance(value, int):
        return _encode_int(value)
    if isinstance(value, float):
        return b"d" + _F64.pack(value)
    if isinstance(value, str):
        raw = value.encode("utf-8", "surrogateescape")
        return b"S" + _pack_u32(len(raw)) + raw
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        return b"x" + _pack_u32(len(raw)) + raw
    if isinstance(value, Mapping):
        return b"F" + _encode_table(value, depth + 1)
    if isinstance(value, list | tuple):
        return b"A" + _encode_array(value, depth + 1)
    if isinstance(value, Decimal):
        return _encode_decimal(value)
    if isinstance(value, datetime):
        return _encode_datetime(value)
    raise TypeError(f"cannot encode {kind.__name__} value in a field table")


def _encode_table(table: Mapping[str, object], depth: int) -> bytes:
    if depth > MAX_DEPTH:
        raise ValueError("field table nested too deeply")
    parts = [encode_shortstr(key) + encode_value(value, depth) for key, value in table.items()]
    body = b"".join(parts)
    return _pack_u32(len(body)) + body


def _encode_array(values: list[object] | tuple[object, ...], depth: int) -> bytes:
    if depth > MAX_DEPTH:
        raise ValueError("field array nested too deeply")
    body = b"".join([encode_value(value, depth) for value in values])
    return _pack_u32(len(body)) + body


def encode_table(table: Mapping[str, object]) -> bytes:
    """Encode a field table, including its 4-byte length prefix.

    Raises ValueError (out-of-range value, key over 255 bytes...) or TypeError
    (unsupported value type).
    """
    try:
        return _encode_table(table, 0)
    except struct.error as exc:
        raise ValueError(f"value out of range in field table: {exc}") from None


def encode_array(values: list[object] | tuple[object, ...]) -> bytes:
    """Encode a field array, including its 4-byte length prefix."""
    try:
        return _encode_array(values, 0)
    except struct.error as exc:
        raise ValueError(f"value out of range in field array: {exc}") from None


# -- decoding -----------------------------------------------------------------------------
# Value decoders take (data, offset just past the tag, depth) and return (value, new offset).
# They may raise struct.error/IndexError on truncation; the public functions convert those.

_Decoder = Callable[[Buffer, int, int], tuple[object, int]]


def _d_bool(d: Buffer, o: int, depth: int) -> tuple[object, int]:
    return d[o] != 0, o + 1


def _fixed(cls: type[_TaggedInt]) -> _Decoder:
    unpack = cls.STRUCT.unpack_from
    size = cls.STRUCT.size

    def decode(d: Buffer, o: int, depth: int) -> tuple[object, int]:
        return cls(unpack(d, o)[0]), o + size

    return decode


def _d_int32(d: Buffer, o: int, depth: int) -> tuple[object, int]:
    return _I32.unpack_from(d, o)[0], o + 4


def _d_float32(d: Buffer, o: int, depth: int) -> tuple[object, int]:
    value = _F32.unpack_from(d, o)[0]
    if value != value:  # NaN: keep the exact bits
        return Float32(value, _U32.unpack_from(d, o)[0]), o + 4
    return Float32(value), o + 4


def _d_float64(d: Buffer, o: int, depth: int) -> tuple[object, int]:
    return _F64.unpack_from(d, o)[0], o + 8


def _d_decimal(d: Buffer, o: int, depth: int) -> tuple[object, int]:
    scale, unscaled = _DEC.unpack_from(d, o)
    return Decimal(unscaled).scaleb(-scale), o + 5


def _d_longstr(d: Buffer, o: int, depth: int) -> tuple[object, int]:
    start = o + 4
    end = _unpack_u32(d, o)[0] + start
    if end > len(d):
        raise FrameError("long string length exceeds available data")
    raw = d[start:end]
    try:
        return str(raw, "utf-8"), end
    except UnicodeDecodeError:
        return LongStrBytes(raw), end


def _d_bytes(d: Buffer, o: int, depth: int) -> tuple[object, int]:
    start = o + 4
    end = _unpack_u32(d, o)[0] + start
    if end > len(d):
        raise FrameError("byte array length exceeds available data")
    return bytes(d[start:end]), end


def _d_void(d: Buffer, o: int, depth: int) -> tuple[object, int]:
    return None, o


def _d_table(d: Buffer, o: int, depth: int) -> tuple[object, int]:
    return _decode_table(d, o, depth + 1)


def _d_array(d: Buffer, o: int, depth: int) -> tuple[object, int]:
    return _decode_array(d, o, depth + 1)


_DECODERS: dict[int, _Decoder] = {
    ord("t"): _d_bool,
    ord("b"): _fixed(Int8),
    ord("B"): _fixed(UInt8),
    ord("s"): _fixed(Int16),
    ord("u"): _fixed(UInt16),
    ord("I"): _d_int32,
    ord("i"): _fixed(UInt32),
    ord("l"): _fixed(Int64),
    ord("L"): _fixed(LongLong),
    ord("f"): _d_float32,
    ord("d"): _d_float64,
    ord("D"): _d_decimal,
    ord("S"): _d_longstr,
    ord("A"): _d_array,
    ord("T"): _fixed(Timestamp),
    ord("F"): _d_table,
    ord("V"): _d_void,
    ord("x"): _d_bytes,
}


def _unknown_tag(tag: int) -> FrameError:
    return FrameError(f"unknown field value type {chr(tag)!r}")


def _decode_table(d: Buffer, o: int, depth: int) -> tuple[dict[str, object], int]:
    if depth > MAX_DEPTH:
        raise FrameError("field table nested too deeply")
    o += 4
    end = _unpack_u32(d, o - 4)[0] + o
    if end > len(d):
        raise FrameError("field table length exceeds available data")
    table: dict[str, object] = {}
    decoders = _DECODERS
    while o < end:
        key_end = d[o] + o + 1
        key = str(d[o + 1 : key_end], "utf-8", "surrogateescape")
        tag = d[key_end]
        decoder = decoders.get(tag)
        if decoder is None:
            raise _unknown_tag(tag)
        value, o = decoder(d, key_end + 1, depth)
        if key not in table:
            table[key] = value
    if o != end:
        raise FrameError("field table contents overrun its length")
    return table, o


def _decode_array(d: Buffer, o: int, depth: int) -> tuple[list[object], int]:
    if depth > MAX_DEPTH:
        raise FrameError("field array nested too deeply")
    o += 4
    end = _unpack_u32(d, o - 4)[0] + o
    if end > len(d):
        raise FrameError("field array length exceeds available data")
    values: list[object] = []
    append = values.append
    decoders = _DECODERS
    while o < end:
        tag = d[o]
        decoder = decoders.get(tag)
        if decoder is None:
            raise _unknown_tag(tag)
        value, o = decoder(d, o + 1, depth)
        append(value)
    if o != end:
        raise FrameError("field array contents overrun its length")
    return values, o


def decode_table(data: Buffer, offset: int = 0) -> tuple[dict[str, object], int]:
    """Decode the field table (with its length prefix) at ``offset``.

    Returns the table and the offset just after it. Raises FrameError on malformed input.
    """
    try:
        return _decode_table(data, offset, 0)
    except (struct.error, IndexError):
        raise FrameError("truncated field table") from None


def decode_array(data: Buffer, offset: int = 0) -> tuple[list[object], int]:
    """Decode the field array (with its length prefix) at ``offset``."""
    try:
        return _decode_array(data, offset, 0)
    except (struct.error, IndexError):
        raise FrameError("truncated field array") from None
