"""The consumer process: one or more consuming connections, driven by one select loop.

Each read lands in a preallocated buffer that is scanned frame header by frame header
(no object per frame); a delivery is complete at its last body frame. Latencies come
from the 8-byte timestamp at the start of each body, recorded once per run of equal
timestamps (a producer stamps a whole batch at once). The acks of one read go out in one
send.
"""

from __future__ import annotations

import os
import struct
import time
from multiprocessing.connection import Connection as Pipe

from leveret.amqp import spec
from leveret.perf import wire
from leveret.perf.config import Counters, PerfConfig
from leveret.perf.hist import Histogram
from leveret.perf.wire import PerfError
from leveret.perf.worker import (
    SharedArray,
    make_waiter,
    open_worker_connection,
    quiet_signals,
    send_some,
)

__all__ = ["Consumer", "consumer_main"]

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_HEADER = wire.HEADER
#: basic.ack on channel 1: frame header, class 60 method 80, tag, multiple, end octet.
_ACK = struct.Struct(">BHIHHQBB")
_READ_SIZE = 262144
_DELIVER = wire.DELIVER
_NO_FAST = 1 << 62  # "fast path off": no buffer holds this many bytes
_NO_LAYOUT = struct.Struct(">BHIIQBBHIHHQBBHIQB")  # a stand-in, never used to unpack


class Consumer:
    """One consuming connection (channel 1, one consumer)."""

    __slots__ = (
        "ack_bits",
        "ack_every",
        "autoack",
        "blocked",
        "buf",
        "cancelled",
        "closed",
        "dead",
        "end",
        "error",
        "fast",
        "fast_sizes",
        "hist",
        "index",
        "left",
        "out",
        "received",
        "shared",
        "slot",
        "sock",
        "start",
        "tag",
        "ts",
        "unacked",
        "view",
        "want_ts",
    )

    def __init__(self, index: int, conn: wire.Connection, cfg: PerfConfig, shared: SharedArray):
        self.index = index
        self.sock = conn.sock
        self.shared = shared
        self.slot = Counters(cfg.producers, cfg.consumers).received + index
        size = max(4 * _READ_SIZE, 2 * (conn.frame_max or 131072) + _READ_SIZE)
        self.buf = bytearray(size)
        self.view = memoryview(self.buf)
        pending = conn.pending
        self.buf[: len(pending)] = pending
        self.start = 0
        self.end = len(pending)
        conn.pending.clear()
        self.autoack = cfg.autoack
        self.ack_every = cfg.ack_every
        self.ack_bits = 1 if cfg.ack_every > 1 else 0
        self.unacked = 0
        self.received = 0
        self.hist = Histogram()
        self.left = 0  # body bytes still to come for the current delivery
        self.want_ts = False  # the next body frame is the first of its delivery
        self.ts = -1
        self.tag = 0
        self.fast: struct.Struct | None = None  # layout of a whole delivery, once learnt
        self.fast_sizes = (0, 0, 0)
        self.out: memoryview | None = None
        self.blocked = 0
        self.dead = False
        self.closed = False
        self.cancelled = False
        self.error: str | None = None

    def fail(self, message: str) -> None:
        if not self.dead:
            self.dead = True
            self.error = f"consumer {self.index}: {message}"

    def read(self, now: int, measuring: bool) -> None:
        """Take what the socket has, count complete deliveries, ack them."""
        end = self.end
        if end > len(self.buf) - 65536:
            self._make_room()
            end = self.end
        try:
            n = self.sock.recv_into(self.view[end:])
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:
            self.fail(f"connection lost: {error.strerror or error}")
            self.closed = True
            return
        if not n:
            if not self.closed:
                self.fail("the broker closed the connection")
            self.closed = True
            return
        self.end = end = end + n
        self._scan(end, now, measuring)

    def _make_room(self) -> None:
        start, end = self.start, self.end
        keep = end - start
        if start:
            self.buf[:keep] = self.buf[start:end]
            self.start, self.end = 0, keep
        if keep > len(self.buf) - 65536:  # one frame larger than the buffer: grow it
            self.view.release()
            self.buf += bytes(len(self.buf))
            self.view = memoryview(self.buf)

    def _learn(self, deliver_size: int, tag_size: int, header_size: int, body_size: int) -> None:
        """Compile the layout of one whole delivery: deliver, header and one body frame.

        Deliveries to one consumer differ only in delivery tag, redelivered flag and body
        bytes, so after the first one a single ``unpack_from`` reads a whole delivery; the
        frame types, sizes and end octets it returns confirm that the layout still holds.
        """
        self.fast = struct.Struct(
            f">BHII{1 + tag_size}xQ{deliver_size - 13 - tag_size}x"  # basic.deliver
            f"BBHIHHQ{header_size - 12}x"  # its end octet; the content header
            f"BBHIQ{body_size - 8}xB"  # its end octet; the body frame (stamp first)
        )
        self.fast_sizes = (deliver_size, header_size, body_size)

    def _scan(self, end: int, now: int, measuring: bool) -> None:
        buf = self.buf
        pos = self.start
        unpack_header = _HEADER.unpack_from
        unpack_u64 = _U64.unpack_from
        left = self.left
        want_ts = self.want_ts
        ts = self.ts
        tag = self.tag
        autoack = self.autoack
        ack_every = self.ack_every
        unacked = self.unacked
        acks: list[int] = []
        count = 0
        run_ts = -1
        run_n = 0
        record = self.hist.record
        fast = self.fast
        fast_len = fast.size if fast is not None else _NO_FAST
        unpack_fast = fast.unpack_from if fast is not None else _NO_LAYOUT.unpack_from
        fast_d, fast_h, fast_b = self.fast_sizes
        deliver_size = header_size = tag_size = 0
        while end - pos >= 8:
            done = False
            if end - pos >= fast_len and buf[pos] == 1:
                (_, _, d, mid, dtag, e1, t2, _, h, _, _, b, e2, t3, _, b3, stamp, e3) = unpack_fast(
                    buf, pos
                )
                if (
                    d == fast_d
                    and h == fast_h
                    and b == fast_b
                    and b3 == fast_b
                    and mid == _DELIVER
                    and t2 == 2
                    and t3 == 3
                    and e1 == 206
                    and e2 == 206
                    and e3 == 206
                ):
                    tag = dtag
                    ts = stamp
                    pos += fast_len
                    left = 0
                    want_ts = False
                    done = True
                else:  # another layout: the general path takes over (and learns anew)
                    fast_len = _NO_FAST
                    self.fast = None
            if not done:
                kind, channel, size = unpack_header(buf, pos)
                frame_end = pos + 7 + size
                if frame_end >= end:
                    break
                if buf[frame_end] != 206:
                    self.fail(f"bad frame end octet from the broker ({buf[frame_end]:#04x})")
                    self.closed = True
                    break
                if kind == 3:  # body
                    if want_ts:
                        want_ts = False
                        ts = unpack_u64(buf, pos + 7)[0] if size >= 8 else -1
                        # Learn from a delivery whose three frames all came in this read.
                        if self.fast is None and size == left and size >= 8 and header_size:
                            self._learn(deliver_size, tag_size, header_size, size)
                            fast = self.fast
                            assert fast is not None
                            fast_len = fast.size
                            unpack_fast = fast.unpack_from
                            fast_d, fast_h, fast_b = self.fast_sizes
                    left -= size
                    done = left <= 0
                elif kind == 2:  # content header: class, weight, body size, properties
                    left = unpack_u64(buf, pos + 11)[0]
                    header_size = size if deliver_size else 0
                    done = left == 0
                elif kind == 1:
                    mid = _U32.unpack_from(buf, pos + 7)[0]
                    if mid == _DELIVER:
                        tag_size = buf[pos + 11]
                        tag = unpack_u64(buf, pos + 12 + tag_size)[0]
                        deliver_size = size
                        header_size = 0
                        want_ts = True
                        ts = -1
                    else:
                        self._control(mid, channel, bytes(buf[pos + 7 : frame_end]))
                pos = frame_end + 1
            if done:
                count += 1
                if ts >= 0 and measuring:
                    if ts == run_ts:
                        run_n += 1
                    else:
                        if run_n:
                            record(now - run_ts, run_n)
                        run_ts = ts
                        run_n = 1
                if not autoack:
                    unacked += 1
                    if unacked >= ack_every:
                        acks.append(tag)
                        unacked = 0
        if run_n:
            record(now - run_ts, run_n)
        self.start = pos
        if pos == end:
            self.start = self.end = 0
        self.left = left
        self.want_ts = want_ts
        self.ts = ts
        self.tag = tag
        self.unacked = unacked
        if count:
            self.received += count
            self.shared[self.slot] = self.received
        if acks and not self.dead:
            pack = _ACK.pack
            bits = self.ack_bits
            self.send(b"".join([pack(1, 1, 13, 60, 80, t, bits, 206) for t in acks]))

    def _control(self, mid: int, channel: int, payload: bytes) -> None:
        if mid == wire.CONNECTION_CLOSE:
            self._send_now(wire.method_frame(0, spec.ConnectionCloseOk()))
            self.fail(str(wire.broker_closed(mid, payload)))
            self.closed = True
        elif mid == wire.CHANNEL_CLOSE:
            self._send_now(wire.method_frame(channel, spec.ChannelCloseOk()))
            self.fail(str(wire.broker_closed(mid, payload)))
        elif mid == wire.CANCEL:
            self.fail("the broker cancelled the consumer (queue deleted?)")
        elif mid == wire.CANCEL_OK:
            self.cancelled = True
        elif mid == wire.CONNECTION_CLOSE_OK:
            self.closed = True
        elif mid == wire.CONNECTION_BLOCKED:
            self.blocked += 1

    def send(self, data: bytes) -> None:
        if self.out is not None:
            self.out = memoryview(bytes(self.out) + data)
            return
        self.out = send_some(self.sock, data, self.fail)

    def flush(self) -> None:
        if self.out is not None:
            self.out = send_some(self.sock, self.out, self.fail)

    def _send_now(self, data: bytes) -> None:
        try:
            self.sock.settimeout(wire.CLOSE_TIMEOUT)
            if self.out is not None:
                self.sock.sendall(self.out)
                self.out = None
            self.sock.sendall(data)
        except OSError:
            pass
        finally:
            self.sock.setblocking(False)

    def shutdown(self, consumer_tag: str) -> None:
        """basic.cancel and connection.close; read (and drop) until close-ok or a timeout."""
        if self.closed:
            self.sock.close()
            return
        if not self.dead:
            self._send_now(wire.method_frame(1, spec.BasicCancel(consumer_tag=consumer_tag)))
        self._send_now(wire.method_frame(0, spec.ConnectionClose(200, "bye")))
        wait = make_waiter([self.sock])
        deadline = time.monotonic() + wire.CLOSE_TIMEOUT
        self.autoack = True  # nothing more to ack: the close requeues what is unacked
        while not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            readable, _ = wait([self.sock], [], left)
            if readable:
                self.read(time.monotonic_ns(), False)
        self.sock.close()


def consumer_tag(index: int) -> str:
    return f"leveret-perf-{index}"


def consumer_main(
    cfg: PerfConfig, indexes: list[int], shared: SharedArray, pipe: Pipe, parent: int
) -> None:
    """Process entry point: connect and consume, report ready, count until told to stop."""
    quiet_signals()
    consumers: list[Consumer] = []
    try:
        for j in indexes:

            def subscribe(conn: wire.Connection, j: int = j) -> None:
                if cfg.prefetch:
                    conn.call(spec.BasicQos(prefetch_count=cfg.prefetch), wire.QOS_OK)
                conn.call(
                    spec.BasicConsume(
                        queue=cfg.queue_name(j % cfg.queues),
                        consumer_tag=consumer_tag(j),
                        no_ack=cfg.autoack,
                    ),
                    wire.CONSUME_OK,
                )

            conn = open_worker_connection(cfg, "consumer", j, subscribe)
            consumers.append(Consumer(j, conn, cfg, shared))
    except PerfError as error:
        for c in consumers:
            c.shutdown(consumer_tag(c.index))
        pipe.send(("fatal", str(error)))
        return
    pipe.send(("ready", None))
    _consume_loop(consumers, shared, pipe, parent)
    for c in consumers:
        c.shutdown(consumer_tag(c.index))
    hist = Histogram()
    for c in consumers:
        hist.merge(c.hist)
    pipe.send(
        (
            "done",
            {
                "hist": hist.to_sparse(),
                "blocked": sum(c.blocked for c in consumers),
                "errors": [c.error for c in consumers if c.error],
            },
        )
    )


def _consume_loop(consumers: list[Consumer], shared: SharedArray, pipe: Pipe, parent: int) -> None:
    stop = Counters.STOP
    measuring_slot = Counters.MEASURING
    by_fd = {c.sock.fileno(): c for c in consumers}
    wait = make_waiter([c.sock for c in consumers])
    live = list(consumers)
    socks = [c.sock for c in live]
    monotonic_ns = time.monotonic_ns
    # Deliveries that came with basic.consume-ok are already in the buffers.
    for c in live:
        if c.end:
            c._scan(c.end, monotonic_ns(), bool(shared[measuring_slot]))
    while live and not shared[stop]:
        writers = [c.sock for c in live if c.out is not None]
        readable, writable = wait(socks, writers, 0.05)
        if not readable and not writable:
            if os.getppid() != parent:
                return
            continue
        now = monotonic_ns()
        measuring = bool(shared[measuring_slot])
        for sock in readable:
            by_fd[sock.fileno()].read(now, measuring)
        for sock in writable:
            by_fd[sock.fileno()].flush()
        if any(c.dead for c in live):
            for c in live:
                if c.dead and c.error:
                    pipe.send(("error", c.error))
            live = [c for c in live if not c.dead]
            socks = [c.sock for c in live]
