"""The load tool's pieces without a broker: the consumer's frame scanner (fed byte streams cut
at every kind of boundary), confirm bookkeeping, publish templates, the histogram, URIs."""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from typing import Any

import pytest

from leveret.amqp.spec import FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_METHOD
from leveret.perf import wire
from leveret.perf.config import PerfConfig
from leveret.perf.consumer import Consumer
from leveret.perf.hist import Histogram
from leveret.perf.producer import Confirms

CTAG = b"leveret-perf-0"
SENT_AT = 1_000_000
READ_AT = 1_250_000  # every latency below is 250 µs


def frame(kind: int, payload: bytes) -> bytes:
    return wire.HEADER.pack(kind, 1, len(payload)) + payload + b"\xce"


def delivery(
    tag: int, body: bytes, frame_max: int, routing_key: bytes = b"leveret-perf-0"
) -> bytes:
    deliver = (
        struct.pack(">HHB", 60, 60, len(CTAG))
        + CTAG
        + struct.pack(">QB", tag, tag % 3 == 0)  # some redelivered
        + b"\x00"
        + bytes([len(routing_key)])
        + routing_key
    )
    out = frame(1, deliver) + frame(2, struct.pack(">HHQ", 60, 0, len(body)) + b"\x10\x00\x02")
    step = frame_max - 8
    for i in range(0, len(body), step):
        out += frame(3, body[i : i + step])
    return out


def body_of(size: int) -> bytes:
    if size < 8:
        return b"z" * size
    return struct.pack(">Q", SENT_AT) + b"y" * (size - 8)


class FakeSocket:
    """Hands the stream out in the chunk sizes given; records what is sent."""

    def __init__(self, data: bytes, chunk: Callable[[], int]) -> None:
        self.data = data
        self.chunk = chunk
        self.pos = 0
        self.sent = bytearray()

    def recv_into(self, buffer: memoryview) -> int:
        n = min(self.chunk(), len(buffer))
        piece = self.data[self.pos : self.pos + n]
        buffer[: len(piece)] = piece
        self.pos += len(piece)
        return len(piece)

    def send(self, data: Any) -> int:
        self.sent += data
        return len(data)

    sendall = send

    def settimeout(self, timeout: float | None) -> None:
        pass

    def setblocking(self, flag: bool) -> None:
        pass


class FakeConnection:
    def __init__(self, sock: FakeSocket, frame_max: int) -> None:
        self.sock = sock
        self.frame_max = frame_max
        self.pending = bytearray()


def split_frames(data: bytes) -> list[tuple[int, int, bytes]]:
    """(type, channel, payload) of each frame; the data must end at a frame boundary."""
    frames = []
    pos = 0
    while pos < len(data):
        kind, channel, size = struct.unpack_from(">BHI", data, pos)
        assert data[pos + 7 + size] == FRAME_END
        frames.append((kind, channel, data[pos + 7 : pos + 7 + size]))
        pos += 8 + size
    return frames


def acked_tags(sent: bytes) -> list[tuple[int, int]]:
    """(delivery tag, multiple) of each basic.ack in ``sent``."""
    acks = []
    for kind, channel, payload in split_frames(bytes(sent)):
        assert (kind, channel, payload[:4]) == (FRAME_METHOD, 1, b"\x00\x3c\x00\x50")
        acks.append(struct.unpack(">QB", payload[4:13]))
    return acks


def consume(stream: bytes, chunk: Callable[[], int], frame_max: int, **options: Any) -> Consumer:
    sock = FakeSocket(stream, chunk)
    cfg = PerfConfig(uri="amqp://127.0.0.1:1/", **options)
    consumer = Consumer(0, FakeConnection(sock, frame_max), cfg, [0] * 16)  # type: ignore[arg-type]
    consumer.sock = sock  # type: ignore[assignment]
    while sock.pos < len(stream):
        consumer.read(READ_AT, True)
    assert not consumer.dead, consumer.error
    return consumer


SIZES = [16, 16, 16, 1024, 1024, 4, 0, 8, 7, 20_000, 16, 16, 100_000, 16, 16, 16]


@pytest.mark.parametrize("seed", range(12))
def test_scanner_counts_every_delivery_however_the_stream_is_cut(seed: int) -> None:
    rng = random.Random(seed)
    frame_max = rng.choice([4096, 8192, 131072])
    sizes = [rng.choice(SIZES) for _ in range(400)]
    stream = bytearray()
    for tag, size in enumerate(sizes, 1):
        key = b"leveret-perf-0" if rng.random() < 0.9 else b"another-key"  # layout changes
        stream += delivery(tag, body_of(size), frame_max, key)
    cuts = [1, 3, 7, 8, 21, 100, 1000, 5000, 65536]
    consumer = consume(bytes(stream), lambda: rng.choice(cuts), frame_max)
    assert consumer.received == len(sizes)
    # Each delivery acked once, in order, one ack per delivery (multiple=false).
    assert acked_tags(consumer.sock.sent) == [(t, 0) for t in range(1, len(sizes) + 1)]  # type: ignore[attr-defined]
    stamped = sum(1 for s in sizes if s >= 8)
    assert consumer.hist.n == stamped
    assert consumer.hist.quantile(0.0) == pytest.approx(250_000, rel=0.01)
    assert consumer.hist.max == 250_000


def test_scanner_multi_ack_and_autoack() -> None:
    stream = b"".join(delivery(t, body_of(16), 131072) for t in range(1, 101))
    consumer = consume(stream, lambda: 977, 131072, multi_ack=7)
    assert consumer.received == 100
    assert consumer.fast is not None  # the layout was learnt: whole deliveries in one unpack
    # Every 7th delivery acks everything up to it.
    assert acked_tags(consumer.sock.sent) == [(t, 1) for t in range(7, 101, 7)]  # type: ignore[attr-defined]
    consumer = consume(stream, lambda: 977, 131072, autoack=True)
    assert consumer.received == 100
    assert consumer.sock.sent == b""  # type: ignore[attr-defined]


def test_scanner_reports_a_broker_close() -> None:
    close = frame(1, struct.pack(">HHH", 10, 50, 320) + b"\x05gone!" + struct.pack(">HH", 0, 0))
    stream = delivery(1, body_of(16), 131072) + close
    sock = FakeSocket(stream, lambda: 1 << 20)
    cfg = PerfConfig(uri="amqp://127.0.0.1:1/", autoack=True)
    consumer = Consumer(0, FakeConnection(sock, 131072), cfg, [0] * 16)  # type: ignore[arg-type]
    consumer.read(READ_AT, True)
    assert consumer.received == 1
    assert consumer.dead and consumer.closed
    assert consumer.error == "consumer 0: connection closed by the broker: 320 gone!"
    assert split_frames(bytes(sock.sent)) == [(FRAME_METHOD, 0, b"\x00\x0a\x00\x33")]  # close-ok


def test_confirms_single_multiple_and_out_of_order() -> None:
    c = Confirms()
    assert c.confirm(1, 0) == 1
    assert c.confirm(3, 0) == 1  # 2 still missing
    assert c.confirm(3, 0) == 0  # duplicate
    assert c.confirm(5, 1) == 3  # 2, 4 and 5 (3 was already counted)
    assert (c.count, c.below, c.singles) == (5, 5, set())
    assert c.confirm(4, 1) == 0
    assert c.confirm(6, 0) == 1
    assert c.confirm(8, 0) == 1
    assert c.confirm(7, 0) == 1
    assert (c.count, c.below, c.singles) == (8, 8, set())


@pytest.mark.parametrize(
    ("size", "frame_max", "persistent"),
    [(0, 131072, False), (4, 131072, True), (16, 131072, False), (10_000, 4096, True)],
)
def test_publish_template_frames(size: int, frame_max: int, persistent: bool) -> None:
    data, stamp_at = wire.publish_template(1, "ex", "key", size, persistent, frame_max)
    frames = split_frames(bytes(data))
    assert all(len(payload) + 8 <= frame_max for _, _, payload in frames)
    kinds = [kind for kind, _, _ in frames]
    assert kinds == [FRAME_METHOD, FRAME_HEADER] + [FRAME_BODY] * -(-size // (frame_max - 8))
    assert frames[0][2] == b"\x00\x3c\x00\x28\x00\x00\x02ex\x03key\x00"
    _, _, header = frames[1]
    assert struct.unpack(">HHQ", header[:12]) == (60, 0, size)
    assert header[12:] == (b"\x10\x00\x02" if persistent else b"\x00\x00")
    assert sum(len(p) for k, _, p in frames if k == FRAME_BODY) == size
    first_body = 8 + len(frames[0][2]) + 8 + len(frames[1][2]) + 7
    assert stamp_at == (-1 if size < 8 else first_body)


def test_histogram_quantiles() -> None:
    h = Histogram()
    for v in range(1, 100_001):
        h.record(v * 1000)
    assert h.n == 100_000
    assert h.max == 100_000_000
    for q in (0.5, 0.95, 0.99, 0.999):
        assert h.quantile(q) == pytest.approx(q * 100_000_000, rel=0.01)
    merged = Histogram.from_sparse(h.to_sparse())
    merged.merge(h)
    assert merged.n == 200_000
    assert merged.quantile(0.5) == h.quantile(0.5)
    assert Histogram().quantile(0.5) == 0.0


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("amqp://", ("127.0.0.1", 5672, "guest", "guest", "/")),
        ("amqp://u:p%40ss@h:5790/%2F", ("h", 5790, "u", "p@ss", "/")),
        ("amqp://u:p@h/vh", ("h", 5672, "u", "p", "vh")),
        ("amqp://h:1/", ("h", 1, "guest", "guest", "/")),
    ],
)
def test_parse_uri(uri: str, expected: tuple[object, ...]) -> None:
    t = wire.parse_uri(uri)
    assert (t.host, t.port, t.user, t.password, t.vhost) == expected
