"""What producer and consumer processes share: signals, the start gate, waiting on sockets."""

from __future__ import annotations

import math
import os
import select
import signal
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

from leveret.perf import wire
from leveret.perf.config import Counters, PerfConfig

__all__ = [
    "SharedArray",
    "Waiter",
    "make_waiter",
    "open_worker_connection",
    "quiet_signals",
    "send_some",
    "wait_for_go",
]

#: The shared ``multiprocessing.RawArray('q', ...)`` of counters (see Counters).
SharedArray = Any

#: wait(readers, writers, timeout) -> (readable, writable)
Waiter = Callable[
    [Sequence[socket.socket], Sequence[socket.socket], float],
    tuple[list[socket.socket], list[socket.socket]],
]


def open_worker_connection(
    cfg: PerfConfig, role: str, index: int, setup: Callable[[wire.Connection], None]
) -> wire.Connection:
    """Connect one producer or consumer, run its setup calls, then make the socket
    non-blocking for the hot loop. Errors name the worker; a failed setup closes the socket."""
    try:
        conn = wire.Connection.open(cfg.target, f"leveret-perf-{role}-{index}", cfg.frame_max)
    except wire.PerfError as error:
        raise wire.PerfError(f"{role} {index}: {error}") from None
    try:
        setup(conn)
    except wire.PerfError as error:
        conn.sock.close()
        raise wire.PerfError(f"{role} {index}: {error}") from None
    conn.sock.settimeout(None)
    conn.sock.setblocking(False)
    return conn


def send_some(
    sock: socket.socket, data: bytes | bytearray | memoryview, fail: Callable[[str], None]
) -> memoryview | None:
    """Send what a non-blocking socket takes now; return the rest, or None when all went
    (or the connection is lost: then ``fail`` has been told)."""
    try:
        n = sock.send(data)
    except BlockingIOError:
        n = 0
    except OSError as error:
        fail(f"connection lost: {error.strerror or error}")
        return None
    return memoryview(data)[n:] if n < len(data) else None


def quiet_signals() -> None:
    """Workers leave Ctrl-C to the coordinator, which stops them in order.

    The coordinator starts them with SIGINT blocked (so a Ctrl-C during interpreter start
    does not kill them); here SIGINT is ignored for good, then unblocked.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def wait_for_go(shared: SharedArray, parent: int) -> bool:
    """Block until the coordinator opens the gate (True) or stops the run (False)."""
    while not shared[Counters.GO]:
        if shared[Counters.STOP] or os.getppid() != parent:
            return False
        time.sleep(0.001)
    return not shared[Counters.STOP]


def _select_wait(
    readers: Sequence[socket.socket], writers: Sequence[socket.socket], timeout: float
) -> tuple[list[socket.socket], list[socket.socket]]:
    try:
        readable, writable, _ = select.select(readers, writers, [], timeout)
    except InterruptedError:
        return [], []
    return readable, writable


def make_waiter(socks: Sequence[socket.socket]) -> Waiter:
    """select() (microsecond timeouts) while every fd fits in an fd_set, else poll()."""
    if all(s.fileno() < 1000 for s in socks):
        return _select_wait
    by_fd = {s.fileno(): s for s in socks}

    def poll_wait(
        readers: Sequence[socket.socket], writers: Sequence[socket.socket], timeout: float
    ) -> tuple[list[socket.socket], list[socket.socket]]:
        poller = select.poll()
        for s in readers:
            poller.register(s, select.POLLIN)
        for s in writers:
            if s in readers:
                poller.modify(s, select.POLLIN | select.POLLOUT)
            else:
                poller.register(s, select.POLLOUT)
        try:
            events = poller.poll(math.ceil(timeout * 1000))
        except InterruptedError:
            return [], []
        readable = [by_fd[fd] for fd, ev in events if ev & ~select.POLLOUT]
        writable = [by_fd[fd] for fd, ev in events if ev & select.POLLOUT]
        return readable, writable

    return poll_wait
