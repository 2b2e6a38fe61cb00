"""The producer process: one or more publishing connections, driven by one select loop.

Every publish is a copy of one pre-encoded basic.publish (method, header and body frames);
a batch is that template times k with the send timestamp patched in once, handed to the
kernel in one ``send``. Counters go to the shared array after each batch and each read.
"""

from __future__ import annotations

import os
import struct
import time
from multiprocessing.connection import Connection as Pipe
from typing import Any

from leveret.amqp import spec
from leveret.perf import wire
from leveret.perf.config import Counters, PerfConfig
from leveret.perf.wire import PerfError
from leveret.perf.worker import (
    SharedArray,
    make_waiter,
    open_worker_connection,
    quiet_signals,
    send_some,
    wait_for_go,
)

__all__ = ["Confirms", "Producer", "producer_main"]

_U32 = wire._U32
_U64 = wire._U64
_HEADER = wire.HEADER
_QB = struct.Struct(">QB")


class Confirms:
    """Which delivery tags the broker confirmed (basic.ack/nack, single or multiple)."""

    __slots__ = ("below", "count", "singles")

    def __init__(self) -> None:
        self.count = 0  # distinct tags confirmed
        self.below = 0  # every tag <= below is confirmed
        self.singles: set[int] = set()  # tags > below confirmed one by one

    def confirm(self, tag: int, multiple: int) -> int:
        """Record one ack/nack; returns how many tags it newly confirms."""
        below = self.below
        singles = self.singles
        if multiple:
            if tag <= below:
                return 0
            n = tag - below
            if singles:
                done = [t for t in singles if t <= tag]
                singles.difference_update(done)
                n -= len(done)
            self.below = tag
        elif tag == below + 1 and not singles:
            self.below = tag
            n = 1
        elif tag > below and tag not in singles:
            singles.add(tag)
            n = 1
            while below + 1 in singles:
                below += 1
                singles.discard(below)
            self.below = below
        else:
            return 0
        self.count += n
        return n


class Producer:
    """One publishing connection (channel 1)."""

    __slots__ = (
        "blocked",
        "closed",
        "confirmed",
        "confirms",
        "conn",
        "dead",
        "error",
        "index",
        "is_blocked",
        "limit",
        "nacked",
        "out",
        "rbuf",
        "returned",
        "seq",
        "shared",
        "slot_confirmed",
        "slot_nacked",
        "slot_returned",
        "slot_sent",
        "sock",
        "stamp_at",
        "t0",
        "template",
    )

    def __init__(self, index: int, conn: wire.Connection, cfg: PerfConfig, shared: Any) -> None:
        counters = Counters(cfg.producers, cfg.consumers)
        self.index = index
        self.conn = conn
        self.sock = conn.sock
        self.shared = shared
        exchange, key = cfg.route(index)
        self.template, self.stamp_at = wire.publish_template(
            1, exchange, key, cfg.size, cfg.persistent, conn.frame_max
        )
        self.rbuf = bytearray(conn.pending)
        conn.pending.clear()
        self.out: memoryview | None = None
        self.seq = 0  # messages published (the last delivery tag used)
        self.limit = cfg.pmessages
        self.confirmed = 0
        self.nacked = 0
        self.returned = 0
        self.blocked = conn.blocked
        self.is_blocked = conn.is_blocked
        self.confirms = Confirms()
        self.dead = False
        self.closed = False
        self.error: str | None = None
        self.t0 = 0.0
        self.slot_sent = counters.sent + index
        self.slot_confirmed = counters.confirmed + index
        self.slot_nacked = counters.nacked + index
        self.slot_returned = counters.returned + index

    # ---------------------------------------------------------------- writing

    def publish(self, k: int) -> None:
        template = self.template
        if self.stamp_at >= 0:
            _U64.pack_into(template, self.stamp_at, time.monotonic_ns())
        data = template * k
        self.seq += k
        self.shared[self.slot_sent] = self.seq
        self.out = send_some(self.sock, data, self.fail)

    def flush(self) -> None:
        if self.out is not None:
            self.out = send_some(self.sock, self.out, self.fail)

    def fail(self, message: str) -> None:
        if not self.dead:
            self.dead = True
            self.error = f"producer {self.index}: {message}"
        self.out = None

    # ---------------------------------------------------------------- reading

    def read(self) -> None:
        try:
            data = self.sock.recv(262144)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:
            self.fail(f"connection lost: {error.strerror or error}")
            self.closed = True
            return
        if not data:
            if not self.closed:
                self.fail("the broker closed the connection")
            self.closed = True
            return
        buf = self.rbuf
        buf += data
        n = len(buf)
        pos = 0
        unpack_header = _HEADER.unpack_from
        confirms = self.confirms
        while n - pos >= 8:
            kind, channel, size = unpack_header(buf, pos)
            end = pos + 7 + size
            if end >= n:
                break
            if buf[end] != wire.FRAME_END:
                self.fail(f"bad frame end octet from the broker ({buf[end]:#04x})")
                self.closed = True
                return
            if kind == wire.FRAME_METHOD:
                mid = _U32.unpack_from(buf, pos + 7)[0]
                if mid == wire.ACK:
                    tag, bits = _QB.unpack_from(buf, pos + 11)
                    confirms.confirm(tag, bits & 1)
                elif mid == wire.NACK:
                    tag, bits = _QB.unpack_from(buf, pos + 11)
                    self.nacked += confirms.confirm(tag, bits & 1)
                elif mid == wire.RETURN:
                    self.returned += 1
                else:
                    self.control(mid, channel, bytes(buf[pos + 7 : end]))
            pos = end + 1
        del buf[:pos]
        shared = self.shared
        self.confirmed = confirms.count
        shared[self.slot_confirmed] = self.confirmed
        shared[self.slot_nacked] = self.nacked
        shared[self.slot_returned] = self.returned

    def control(self, mid: int, channel: int, payload: bytes) -> None:
        if mid == wire.CONNECTION_CLOSE:
            self.send_quietly(wire.method_frame(0, spec.ConnectionCloseOk()))
            self.fail(str(wire.broker_closed(mid, payload)))
            self.closed = True
        elif mid == wire.CHANNEL_CLOSE:
            self.send_quietly(wire.method_frame(channel, spec.ChannelCloseOk()))
            self.fail(str(wire.broker_closed(mid, payload)))
        elif mid == wire.CONNECTION_CLOSE_OK:
            self.closed = True
        elif mid == wire.CONNECTION_BLOCKED:
            self.blocked += 1
            self.is_blocked = True
        elif mid == wire.CONNECTION_UNBLOCKED:
            self.is_blocked = False

    def send_quietly(self, data: bytes) -> None:
        try:
            self.sock.setblocking(True)
            self.sock.settimeout(wire.CLOSE_TIMEOUT)
            self.sock.sendall(data)
        except OSError:
            pass
        finally:
            self.sock.setblocking(False)

    # ---------------------------------------------------------------- shutdown

    def shutdown(self) -> None:
        """Send what is buffered, connection.close, and wait for close-ok (a few seconds)."""
        if self.closed:
            self.sock.close()
            return
        # A blocked connection is not read by the broker (RabbitMQ's rule): no close-ok.
        deadline = time.monotonic() + (0.2 if self.is_blocked else wire.CLOSE_TIMEOUT)
        wait = make_waiter([self.sock])
        pending = bytes(self.out or b"") + wire.method_frame(0, spec.ConnectionClose(200, "bye"))
        self.out = memoryview(pending)
        try:
            while not self.closed and not self.dead:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                writers = [self.sock] if self.out is not None else []
                readable, writable = wait([self.sock], writers, left)
                if writable:
                    self.flush()
                if readable:
                    self.read()
        finally:
            self.sock.close()


def producer_main(
    cfg: PerfConfig, indexes: list[int], shared: SharedArray, pipe: Pipe, parent: int
) -> None:
    """Process entry point: connect, report ready, publish until told to stop."""
    quiet_signals()
    producers: list[Producer] = []
    try:
        for i in indexes:

            def select_confirms(conn: wire.Connection) -> None:
                if cfg.confirm:
                    conn.call(spec.ConfirmSelect(), wire.SELECT_OK)

            conn = open_worker_connection(cfg, "producer", i, select_confirms)
            producers.append(Producer(i, conn, cfg, shared))
    except PerfError as error:
        for p in producers:
            p.shutdown()
        pipe.send(("fatal", str(error)))
        return
    pipe.send(("ready", None))
    if wait_for_go(shared, parent):
        _publish_loop(cfg, producers, shared, pipe, parent)
    for p in producers:
        p.shutdown()
    pipe.send(
        (
            "done",
            {
                "blocked": sum(p.blocked for p in producers),
                "errors": [p.error for p in producers if p.error],
            },
        )
    )


def _publish_loop(
    cfg: PerfConfig, producers: list[Producer], shared: SharedArray, pipe: Pipe, parent: int
) -> None:
    counters = Counters(cfg.producers, cfg.consumers)
    sent_lo, sent_hi = counters.sent, counters.sent + counters.producers
    recv_lo, recv_hi = counters.received, counters.received + counters.consumers
    stop = Counters.STOP
    window = cfg.window
    fanout = cfg.fanout
    confirm = cfg.confirm
    limit = cfg.pmessages
    rate = cfg.rate
    batch = max(1, cfg.flush_bytes // max(1, len(producers[0].template))) if producers else 1
    monotonic = time.monotonic
    now = monotonic()
    for p in producers:
        p.t0 = now
    by_fd = {p.sock.fileno(): p for p in producers}
    wait = make_waiter([p.sock for p in producers])
    live = list(producers)
    first = 0
    next_check = now + 0.5
    while live and not shared[stop]:
        now = monotonic()
        room = 0
        if window:
            room = window - (sum(shared[sent_lo:sent_hi]) * fanout - sum(shared[recv_lo:recv_hi]))
        progress = False
        window_bound = False
        wake = now + 0.05
        # The window is shared: who gets first pick of the room rotates, so that every
        # producer (and its queue) gets its share.
        first = (first + 1) % len(live)
        for p in live[first:] + live[:first] if first else live:
            if p.out is not None:
                p.flush()
                if p.out is not None:
                    continue
            budget = batch
            if confirm:
                budget = min(budget, confirm - (p.seq - p.confirmed))
            if limit:
                budget = min(budget, limit - p.seq)
            if rate:
                due = int((now - p.t0) * rate) + 1 - p.seq
                if due <= 0:
                    wake = min(wake, p.t0 + p.seq / rate)
                budget = min(budget, due)
            if window:
                if room < 0:
                    window_bound = True
                    budget = 0
                else:
                    allowed = room // fanout + 1
                    if allowed < budget:
                        budget = allowed
            if budget > 0:
                p.publish(budget)
                room -= budget * fanout
                progress = True
        if progress:
            timeout = 0.0
        elif window_bound:
            timeout = 0.0002
        else:
            timeout = max(0.0, wake - now)
        writers = [p.sock for p in live if p.out is not None]
        readable, writable = wait([p.sock for p in live], writers, timeout)
        for sock in readable:
            by_fd[sock.fileno()].read()
        for sock in writable:
            by_fd[sock.fileno()].flush()
        if any(p.dead for p in live):
            for p in live:
                if p.dead and p.error:
                    pipe.send(("error", p.error))
            live = [p for p in live if not p.dead]
        if not progress and now >= next_check:
            next_check = now + 0.5
            if os.getppid() != parent:
                return
