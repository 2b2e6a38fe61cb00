"""Field tables and arrays: value and byte-exact round trips, errors, pamqp differential."""

from __future__ import annotations

import contextlib
import math
import struct
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leveret.amqp.errors import AMQPError, FrameError
from leveret.amqp.table import (
    MAX_DEPTH,
    Float32,
    Int8,
    Int16,
    Int64,
    LongStrBytes,
    Timestamp,
    UInt8,
    UInt16,
    UInt32,
    decode_array,
    decode_shortstr,
    decode_table,
    encode_array,
    encode_shortstr,
    encode_table,
)

# Other work shares this machine: no per-example deadline, no slow-generation failures.
RELAXED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- strategies ---------------------------------------------------------------------------

keys = st.binary(max_size=255).map(lambda b: b.decode("utf-8", "surrogateescape"))
decimals = st.builds(
    lambda unscaled, scale: Decimal(unscaled).scaleb(-scale),
    st.integers(0, 2**32 - 1),
    st.integers(0, 255),
)
invalid_utf8 = st.binary(max_size=40).map(lambda b: LongStrBytes(b + b"\xff"))

# Every wire type, as the tagged or natural value its decoding produces (no NaN here:
# NaN != NaN; NaN bit patterns are covered by the wire-level strategy below).
scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**7), 2**7 - 1).map(Int8),
    st.integers(0, 2**8 - 1).map(UInt8),
    st.integers(-(2**15), 2**15 - 1).map(Int16),
    st.integers(0, 2**16 - 1).map(UInt16),
    st.integers(-(2**31), 2**31 - 1),
    st.integers(0, 2**32 - 1).map(UInt32),
    st.integers(-(2**63), 2**63 - 1).map(Int64),
    st.floats(width=32, allow_nan=False).map(Float32),
    st.floats(allow_nan=False),
    decimals,
    st.text(),
    invalid_utf8,
    st.integers(0, 2**64 - 1).map(Timestamp),
    st.none(),
    st.binary(),
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=5),
    max_leaves=25,
)
tables = st.dictionaries(keys, values, max_size=8)


def _raw_value(draw: st.DrawFn, depth: int) -> bytes:
    """One encoded field value with arbitrary (valid) payload bytes."""
    tag = draw(st.sampled_from("tbBsuIilfdDSATFVx" if depth < 3 else "tbBsuIilfdDSTVx"))
    fixed = {"b": 1, "B": 1, "s": 2, "u": 2, "I": 4, "i": 4, "l": 8, "f": 4, "d": 8, "D": 5}
    fixed["T"] = 8
    if tag == "t":
        return b"t" + draw(st.sampled_from([b"\x00", b"\x01"]))
    if tag in fixed:
        return tag.encode() + draw(st.binary(min_size=fixed[tag], max_size=fixed[tag]))
    if tag in "Sx":
        raw = draw(st.binary(max_size=30) | st.text(max_size=10).map(str.encode))
        return tag.encode() + struct.pack(">I", len(raw)) + raw
    if tag == "V":
        return b"V"
    if tag == "A":
        body = b"".join(_raw_value(draw, depth + 1) for _ in range(draw(st.integers(0, 4))))
        return b"A" + struct.pack(">I", len(body)) + body
    return b"F" + _raw_table(draw, depth + 1)


def _raw_table(draw: st.DrawFn, depth: int) -> bytes:
    raw_keys = draw(st.lists(st.binary(max_size=255), max_size=4, unique=True))
    body = b"".join(bytes([len(k)]) + k + _raw_value(draw, depth) for k in raw_keys)
    return struct.pack(">I", len(body)) + body


@st.composite
def wire_tables(draw: st.DrawFn) -> bytes:
    return _raw_table(draw, 0)


def _same(a: object, b: object) -> bool:
    """Equality that also checks the tagged type and treats NaN as equal to itself."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        assert isinstance(b, list)
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)  # type: ignore[arg-type]
    if isinstance(a, Decimal):
        assert isinstance(b, Decimal)
        return a.as_tuple() == b.as_tuple()
    return a == b


# -- round trips --------------------------------------------------------------------------


@RELAXED
@given(tables)
def test_value_round_trip(table: dict[str, object]) -> None:
    encoded = encode_table(table)
    decoded, end = decode_table(encoded)
    assert end == len(encoded)
    assert _same(decoded, table)
    assert encode_table(decoded) == encoded


@RELAXED
@given(wire_tables())
def test_byte_exact_round_trip(raw: bytes) -> None:
    decoded, end = decode_table(raw)
    assert end == len(raw)
    assert encode_table(decoded) == raw


@RELAXED
@given(st.lists(values, max_size=6))
def test_array_round_trip(array: list[object]) -> None:
    encoded = encode_array(array)
    decoded, end = decode_array(encoded)
    assert end == len(encoded)
    assert _same(decoded, array)
    assert encode_array(decoded) == encoded


@RELAXED
@given(wire_tables(), st.binary(max_size=8), st.binary(max_size=8))
def test_decode_at_offset_in_memoryview(raw: bytes, before: bytes, after: bytes) -> None:
    data = memoryview(before + raw + after)
    decoded, end = decode_table(data, len(before))
    assert end == len(before) + len(raw)
    assert encode_table(decoded) == raw


def test_tagged_values_compare_equal_to_natural_values() -> None:
    assert Int8(5) == 5
    assert UInt32(7) == 7
    assert Float32(1.5) == 1.5
    assert Timestamp(10) == 10
    assert LongStrBytes(b"\xff") == b"\xff"
    assert repr(Int16(-3)) == "Int16(-3)"
    table, _ = decode_table(encode_table({"a": UInt8(3), "b": Int64(4), "c": "x"}))
    assert table == {"a": 3, "b": 4, "c": "x"}
    assert type(table["c"]) is str


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        ("héllo", b"S\x00\x00\x00\x06h\xc3\xa9llo"),
        (True, b"t\x01"),
        (False, b"t\x00"),
        (5, b"I\x00\x00\x00\x05"),
        (-(2**31), b"I\x80\x00\x00\x00"),
        (2**31, b"l\x00\x00\x00\x00\x80\x00\x00\x00"),
        (1.5, b"d" + struct.pack(">d", 1.5)),
        (Decimal("1.23"), b"D\x02\x00\x00\x00\x7b"),
        (Decimal("5E+2"), b"D\x00\x00\x00\x01\xf4"),
        (b"\x00\x01", b"x\x00\x00\x00\x02\x00\x01"),
        (bytearray(b"\x02"), b"x\x00\x00\x00\x01\x02"),
        (None, b"V"),
        ([1, "a"], b"A\x00\x00\x00\x0bI\x00\x00\x00\x01S\x00\x00\x00\x01a"),
        ((True,), b"A\x00\x00\x00\x02t\x01"),
        ({"k": None}, b"F\x00\x00\x00\x03\x01kV"),
        (datetime(1970, 1, 1, 0, 0, 10, tzinfo=UTC), b"T" + struct.pack(">Q", 10)),
        (datetime(1970, 1, 1, 0, 0, 10), b"T" + struct.pack(">Q", 10)),
        (Int8(-1), b"b\xff"),
        (UInt8(255), b"B\xff"),
        (Int16(-2), b"s\xff\xfe"),
        (UInt16(65535), b"u\xff\xff"),
        (UInt32(2**32 - 1), b"i\xff\xff\xff\xff"),
        (Int64(1), b"l" + struct.pack(">q", 1)),
        (Float32(0.5), b"f" + struct.pack(">f", 0.5)),
        (Timestamp(3), b"T" + struct.pack(">Q", 3)),
        (LongStrBytes(b"\xff"), b"S\x00\x00\x00\x01\xff"),
    ],
)
def test_natural_and_tagged_encodings(value: object, wire: bytes) -> None:
    encoded = encode_table({"v": value})
    assert encoded[6:] == wire
    assert encoded[:6] == struct.pack(">I", len(wire) + 2) + b"\x01v"


def test_decoded_types() -> None:
    body = (
        b"\x01bb\xff\x01BB\xff\x01ss\xff\xff\x01uu\xff\xff\x01II\x00\x00\x00\x01"
        b"\x01ii\x00\x00\x00\x01\x01ll" + b"\x00" * 8 + b"\x01ff\x00\x00\x00\x00"
        b"\x01dd"
        + b"\x00" * 8
        + b"\x01DD\x01\x00\x00\x00\x0f\x01TT"
        + b"\x00" * 8
        + b"\x01SS\x00\x00\x00\x01a\x01xx\x00\x00\x00\x01a\x01VV"
    )
    table, _ = decode_table(struct.pack(">I", len(body)) + body)
    types = {k: type(v) for k, v in table.items()}
    assert types == {
        "b": Int8, "B": UInt8, "s": Int16, "u": UInt16, "I": int, "i": UInt32, "l": Int64,
        "f": Float32, "d": float, "D": Decimal, "T": Timestamp, "S": str, "x": bytes,
        "V": type(None),
    }  # fmt: skip
    assert table["s"] == -1
    assert table["D"] == Decimal("1.5")


def test_float32_nan_bits_survive() -> None:
    raw = encode_table({"f": Float32(0.0)})[:-4] + b"\x7f\x80\x00\x01"  # signalling NaN
    table, _ = decode_table(raw)
    assert math.isnan(table["f"])  # type: ignore[arg-type]
    assert encode_table(table) == raw


def test_lenient_forms() -> None:
    # 't' with another octet than 0/1 is true (as in RabbitMQ); duplicate keys: first wins.
    table, _ = decode_table(b"\x00\x00\x00\x04\x01at\x07")
    assert table == {"a": True}
    table, _ = decode_table(b"\x00\x00\x00\x0a\x01aI\x00\x00\x00\x01\x01aV")
    assert table == {"a": 1}


def test_shortstr_helpers() -> None:
    raw = b"\xff\xfeok"
    text = raw.decode("utf-8", "surrogateescape")
    assert encode_shortstr(text) == b"\x04" + raw
    assert decode_shortstr(b"\x04" + raw) == (text, 5)
    with pytest.raises(ValueError, match="255"):
        encode_shortstr("x" * 256)
    assert encode_shortstr("x" * 255)[0] == 255
    with pytest.raises(FrameError):
        decode_shortstr(b"\x05abc")
    with pytest.raises(FrameError):
        decode_shortstr(b"")


# -- encoding errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        2**63,
        -(2**63) - 1,
        Int8(128),
        UInt8(-1),
        UInt32(2**32),
        Timestamp(-1),
        Decimal("-1"),
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("0.1") ** 256,
        Decimal(2**32),
        Decimal("1E+20"),
        datetime(1969, 1, 1),
    ],
)
def test_encode_out_of_range(value: object) -> None:
    with pytest.raises(ValueError):
        encode_table({"v": value})


def test_encode_errors() -> None:
    with pytest.raises(TypeError):
        encode_table({"v": object()})
    with pytest.raises(TypeError):
        encode_table({"v": {1, 2}})
    with pytest.raises(ValueError):
        encode_table({"k" * 256: 1})
    nested: dict[str, object] = {}
    for _ in range(MAX_DEPTH + 2):
        nested = {"n": nested}
    with pytest.raises(ValueError, match="deeply"):
        encode_table(nested)
    cyclic: list[object] = []
    cyclic.append(cyclic)
    with pytest.raises(ValueError):
        encode_array(cyclic)


# -- decoding errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\x00",
        b"\x00\x00\x00\x05\x01a",  # declared length beyond the data
        b"\xff\xff\xff\xff",  # 4 GiB declared: rejected without allocating
        b"\x00\x00\x00\x03\x01a?",  # unknown type tag
        b"\x00\x00\x00\x03\x01aI",  # value truncated
        b"\x00\x00\x00\x04\x01aI\x00",  # value overruns the table length
        b"\x00\x00\x00\x07\x01aS\xff\xff\xff\xff",  # long string length overrun
        b"\x00\x00\x00\x07\x01ax\x00\x01\x00\x00",  # byte array length overrun
        b"\x00\x00\x00\x07\x01aA\x00\x00\x00\x09",  # array length overrun
        b"\x00\x00\x00\x08\x01aA\x00\x00\x00\x01Q",  # unknown tag in array
        b"\x00\x00\x00\x02\x05a",  # key longer than the table
    ],
)
def test_malformed_tables(raw: bytes) -> None:
    with pytest.raises(FrameError):
        decode_table(raw)


def test_nesting_limit() -> None:
    raw = b"\x00\x00\x00\x00"
    for _ in range(MAX_DEPTH):
        raw = struct.pack(">I", len(raw) + 3) + b"\x01nF" + raw
    decode_table(raw)
    raw = struct.pack(">I", len(raw) + 3) + b"\x01nF" + raw
    with pytest.raises(FrameError, match="deeply"):
        decode_table(raw)
    arr = b"\x00\x00\x00\x00"
    for _ in range(5000):
        arr = struct.pack(">I", len(arr) + 1) + b"A" + arr
    with pytest.raises(FrameError):
        decode_array(arr)


@RELAXED
@given(wire_tables())
def test_every_truncation_is_a_frame_error(raw: bytes) -> None:
    for cut in range(len(raw)):
        with pytest.raises(FrameError):
            decode_table(raw[:cut])


@RELAXED
@given(st.binary(max_size=200), st.integers(0, 8))
def test_fuzz_decode_only_raises_frame_error(raw: bytes, offset: int) -> None:
    for decode in (decode_table, decode_array):
        with contextlib.suppress(FrameError):
            decode(raw, offset)


@RELAXED
@given(wire_tables(), st.data())
def test_fuzz_mutated_tables(raw: bytes, data: st.DataObject) -> None:
    mutated = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        if not mutated:
            break
        mutated[data.draw(st.integers(0, len(mutated) - 1))] = data.draw(st.integers(0, 255))
    try:
        decode_table(bytes(mutated))
    except AMQPError as exc:
        assert isinstance(exc, FrameError)


# -- differential against pamqp -----------------------------------------------------------
# pamqp differs from RabbitMQ's errata in ways that we avoid in these strategies:
# - its Decimal mantissa is a signed int32 (RabbitMQ: unsigned), so only mantissas
#   below 2**31 are compared;
# - it encodes Python floats as 'f' (float32) where RabbitMQ clients send 'd';
# - it decodes 'T' values above 2**32 as milliseconds;
# - it encodes ints in the smallest type (b/s/u/I/i/l) where pika uses I/l;
# - it only encodes bytearray (not bytes) as 'x', and decodes 'x' as bytearray;
# - it decodes keys as strict UTF-8.

pamqp_encode = pytest.importorskip("pamqp.encode")
pamqp_decode = pytest.importorskip("pamqp.decode")

text_keys = st.text(max_size=20).filter(lambda k: len(k.encode()) <= 255)
common_scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.text(),
    st.none(),
)
# pamqp packs the mantissa as a signed int32.
small_decimals = st.builds(
    lambda unscaled, scale: Decimal(unscaled).scaleb(-scale),
    st.integers(0, 2**31 - 1),
    st.integers(0, 255),
)


def _nest(children: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.lists(children, max_size=4) | st.dictionaries(text_keys, children, max_size=4)


@given(
    st.dictionaries(
        text_keys,
        st.recursive(
            common_scalars | small_decimals | st.floats(allow_nan=False) | st.binary(),
            _nest,
            max_leaves=15,
        ),
        max_size=6,
    )
)
@settings(RELAXED, max_examples=60)
def test_ours_decoded_by_pamqp(table: dict[str, object]) -> None:
    _consumed, theirs = pamqp_decode.field_table(encode_table(table))
    assert theirs == table


def _float32(value: float) -> float:
    result: float = struct.unpack(">f", struct.pack(">f", value))[0]
    return result


@given(
    st.dictionaries(
        text_keys,
        st.recursive(
            common_scalars
            | small_decimals
            | st.floats(width=32, allow_nan=False)
            | st.binary().map(bytearray)
            | st.integers(0, 2**32 - 1).map(lambda s: datetime.fromtimestamp(s, UTC)),
            _nest,
            max_leaves=15,
        ),
        max_size=6,
    )
)
@settings(RELAXED, max_examples=60)
def test_pamqp_decoded_by_ours(table: dict[str, object]) -> None:
    raw = pamqp_encode.field_table(table)
    ours, end = decode_table(raw)
    assert end == len(raw)
    assert encode_table(ours) == raw

    def expected(value: object) -> object:
        if isinstance(value, datetime):
            return int(value.timestamp())
        if isinstance(value, dict):
            return {k: expected(v) for k, v in value.items()}
        if isinstance(value, list):
            return [expected(v) for v in value]
        return value

    assert ours == expected(table)


def test_str_with_surrogate_escapes_encodes_its_original_bytes() -> None:
    """A routing key from basic.publish that is not UTF-8 (kept as surrogate escapes) goes
    into x-death and CC/BCC tables as its original bytes, as RabbitMQ puts them."""
    key = b"k\xff".decode("utf-8", "surrogateescape")
    encoded = encode_table({"routing-keys": [key], "exchange": key})
    assert b"S\x00\x00\x00\x02k\xff" in encoded
    decoded, _ = decode_table(encoded)
    assert decoded == {"routing-keys": [LongStrBytes(b"k\xff")], "exchange": LongStrBytes(b"k\xff")}
    assert encode_table(decoded) == encoded
