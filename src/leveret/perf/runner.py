"""The coordinator: topology, worker processes, the measurement window, the result.

Producers and consumers run in their own processes (``multiprocessing``, spawn context),
so the tool uses more than one core and the coordinator's bookkeeping never slows the
hot loops. They share one array of int64 counters (see :class:`Counters`) and report
readiness, errors and their latency histograms over pipes.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

from leveret import __version__
from leveret.amqp import spec
from leveret.perf import wire
from leveret.perf.config import Counters, PerfConfig
from leveret.perf.consumer import consumer_main
from leveret.perf.hist import Histogram
from leveret.perf.producer import producer_main
from leveret.perf.wire import PerfError

__all__ = ["Result", "run"]

Result = dict[str, Any]

READY_TIMEOUT = 60.0
DONE_TIMEOUT = 15.0
_CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Snapshot:
    t: float
    sent: int
    received: int
    confirmed: int
    nacked: int
    returned: int
    client_cpu: float
    broker_cpu: float | None


def _proc_cpu(pid: int) -> float | None:
    """utime + stime of ``pid`` (all threads) in seconds, from /proc; None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK
    except (IndexError, ValueError):
        return None


class _Run:
    def __init__(self, cfg: PerfConfig, log: Callable[[str], None]) -> None:
        self.cfg = cfg
        self.log = log
        self.ctx = multiprocessing.get_context("spawn")
        self.counters = Counters(cfg.producers, cfg.consumers)
        self.shared = self.ctx.RawArray("q", self.counters.size)
        self.procs: list[BaseProcess] = []
        # reading end of each worker's pipe -> its role, while it may still send
        self.pipes: dict[multiprocessing.connection.Connection, str] = {}
        self.waiting_ready: set[multiprocessing.connection.Connection] = set()
        self.proc_of: dict[
            multiprocessing.connection.Connection, multiprocessing.process.BaseProcess
        ] = {}
        self.done: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.fatal: str | None = None
        self.stopping = False
        self.declared: list[str] = []  # queues this run declared (teardown deletes them)
        self.exchange_declared = False
        self.t0 = time.monotonic()

    # ---------------------------------------------------------------- topology

    def declare(self, conn: wire.Connection) -> None:
        cfg = self.cfg
        exchange = cfg.exchange_name
        if exchange:
            conn.call(
                spec.ExchangeDeclare(exchange=exchange, type=cfg.exchange, durable=cfg.durable),
                wire.EXCHANGE_DECLARE_OK,
            )
            self.exchange_declared = True
        for k in range(cfg.queues):
            queue = cfg.queue_name(k)
            conn.call(spec.QueueDeclare(queue=queue, durable=cfg.durable), wire.QUEUE_DECLARE_OK)
            self.declared.append(queue)
            key = cfg.binding_key(k)
            if key is not None:
                conn.call(
                    spec.QueueBind(queue=queue, exchange=exchange, routing_key=key),
                    wire.QUEUE_BIND_OK,
                )
            conn.call(spec.QueuePurge(queue=queue), wire.QUEUE_PURGE_OK)

    def teardown(self, conn: wire.Connection | None) -> None:
        """Delete the queues and the exchange this run declared.

        On ``conn`` if given; if that fails (the broker may have closed it, as it does with
        every connection of a vhost on a forced close), once more on a new connection.
        """
        if self.cfg.keep or not (self.declared or self.exchange_declared):
            if conn is not None:
                conn.close()
            return
        for attempt in (conn, None):
            try:
                self._delete(attempt)
                return
            except PerfError as error:
                if attempt is None:
                    self.warnings.append(f"teardown: {error}")

    def _delete(self, conn: wire.Connection | None) -> None:
        cfg = self.cfg
        if conn is None:
            conn = wire.Connection.open(cfg.target, "leveret-perf-teardown", cfg.frame_max)
        try:
            for queue in self.declared:
                conn.call(spec.QueueDelete(queue=queue), wire.QUEUE_DELETE_OK)
            if self.exchange_declared:
                conn.call(spec.ExchangeDelete(exchange=cfg.exchange_name), wire.EXCHANGE_DELETE_OK)
        finally:
            conn.close()

    # ---------------------------------------------------------------- processes

    def spawn(self, role: str, target: Callable[..., None], count: int, nprocs: int) -> None:
        nprocs = min(nprocs, count)
        for k in range(nprocs):
            indexes = list(range(k, count, nprocs))
            reader, writer = self.ctx.Pipe(duplex=False)
            proc = self.ctx.Process(
                target=target,
                args=(self.cfg, indexes, self.shared, writer, os.getpid()),
                name=f"leveret-perf-{role}-{k}",
                daemon=True,
            )
            # Started with SIGINT blocked: Ctrl-C is the coordinator's to handle.
            old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                proc.start()
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, old)
            writer.close()
            self.procs.append(proc)
            self.proc_of[reader] = proc
            self.pipes[reader] = f"{role} process {k}"
            self.waiting_ready.add(reader)

    def poll(self, timeout: float) -> None:
        """Take messages from the workers; notice workers that died."""
        # A worker's sentinel only matters while its pipe is open: once it said "done" it
        # exits, and a sentinel left in the list would make wait() return at once forever.
        sentinels = [self.proc_of[pipe].sentinel for pipe in self.pipes]
        ready = multiprocessing.connection.wait([*self.pipes, *sentinels], timeout)
        for obj in ready:
            pipe = self._pipe_of(obj)
            if pipe is None:
                continue  # a worker exited: its pipe is at EOF as well, handled as such
            try:
                kind, data = pipe.recv()
            except (EOFError, OSError):
                role = self.pipes.pop(pipe)
                self.waiting_ready.discard(pipe)
                if not self.stopping:
                    self.fail(f"{role} exited unexpectedly")
                continue
            if kind == "ready":
                self.waiting_ready.discard(pipe)
            elif kind in ("fatal", "error"):
                self.fail(str(data))
            elif kind == "done":
                self.done.append(data)
                del self.pipes[pipe]

    def _pipe_of(self, obj: object) -> multiprocessing.connection.Connection | None:
        for pipe in self.pipes:
            if pipe is obj:
                return pipe
        return None

    def fail(self, message: str) -> None:
        if message not in self.errors:
            self.errors.append(message)
        if self.fatal is None:
            self.fatal = message

    def stop_workers(self) -> None:
        self.stopping = True
        self.shared[Counters.STOP] = 1
        deadline = time.monotonic() + DONE_TIMEOUT
        while self.pipes and time.monotonic() < deadline:
            self.poll(0.1)
        for proc in self.procs:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                self.warnings.append(f"{proc.name} did not stop; terminated")
                proc.terminate()
                proc.join(2)

    # ---------------------------------------------------------------- measuring

    def snapshot(self) -> Snapshot:
        c = self.counters
        s = self.shared
        p = c.producers
        client = resource.getrusage(resource.RUSAGE_SELF)
        cpu = client.ru_utime + client.ru_stime
        for proc in self.procs:
            if proc.pid is not None:
                cpu += _proc_cpu(proc.pid) or 0.0
        broker = _proc_cpu(self.cfg.broker_pid) if self.cfg.broker_pid else None
        return Snapshot(
            t=time.monotonic(),
            sent=sum(s[c.sent : c.sent + p]),
            received=sum(s[c.received : c.received + c.consumers]),
            confirmed=sum(s[c.confirmed : c.confirmed + p]),
            nacked=sum(s[c.nacked : c.nacked + p]),
            returned=sum(s[c.returned : c.returned + p]),
            client_cpu=cpu,
            broker_cpu=broker,
        )

    def finished(self) -> bool:
        """With --pmessages: everything published, confirmed and received."""
        cfg = self.cfg
        c = self.counters
        s = self.shared
        sent = sum(s[c.sent : c.sent + c.producers])
        if not cfg.pmessages or sent < cfg.producers * cfg.pmessages:
            return False
        if cfg.confirm and sum(s[c.confirmed : c.confirmed + c.producers]) < sent:
            return False
        received = sum(s[c.received : c.received + c.consumers])
        return not cfg.consumers or received >= cfg.expected_deliveries()

    def phase(self, seconds: float) -> None:
        """Let the run go on for ``seconds`` (less if it fails or --pmessages completes)."""
        end = time.monotonic() + seconds
        last = self.snapshot() if self.cfg.verbose else None
        next_log = time.monotonic() + 1.0
        while self.fatal is None:
            now = time.monotonic()
            if now >= end:
                return
            self.poll(min(0.05, end - now))
            if self.cfg.pmessages and self.finished():
                return
            if last is not None and time.monotonic() >= next_log:
                snap = self.snapshot()
                dt = snap.t - last.t
                self.log(
                    f"[{snap.t - self.t0:6.1f}s] sent {(snap.sent - last.sent) / dt:,.0f}/s"
                    f"  received {(snap.received - last.received) / dt:,.0f}/s"
                    f"  confirmed {(snap.confirmed - last.confirmed) / dt:,.0f}/s"
                )
                last = snap
                next_log += 1.0


def _r(value: float, digits: int = 1) -> float:
    return round(value, digits)


def run(cfg: PerfConfig, log: Callable[[str], None] | None = None) -> Result:
    """Run one measurement and return its result (the fields of ``--json``).

    Raises PerfError when the run cannot start (cannot connect, topology refused).
    Failures during the run (a broker closing a connection, a worker dying) end it early;
    the result then has ``fatal`` set and lists them in ``error_messages``. Ctrl-C ends
    it early too, with ``interrupted`` set.
    """
    if log is None:

        def log(line: str) -> None:
            print(line, file=sys.stderr, flush=True)

    r = _Run(cfg, log)
    setup = wire.Connection.open(cfg.target, "leveret-perf-setup", cfg.frame_max)
    result: Result = {}
    interrupted = False
    try:
        r.declare(setup)
    except (PerfError, KeyboardInterrupt) as error:
        # The broker may have closed the channel: delete what was declared on a new connection.
        setup.close()
        r.teardown(None)
        if isinstance(error, PerfError):
            raise
        interrupted = True
    else:
        try:
            try:
                result, interrupted = _measure(r)
            finally:
                r.stop_workers()
        except KeyboardInterrupt:
            interrupted = True
        finally:
            r.teardown(setup)
    if not result:
        result = {"mode": "throughput", "sent": 0, "received": 0}
    _finish(r, result, interrupted)
    return result


def _measure(r: _Run) -> tuple[Result, bool]:
    cfg = r.cfg
    interrupted = False
    a = b = None
    try:
        if cfg.consumers:
            r.spawn("consumer", consumer_main, cfg.consumers, cfg.consumer_processes)
        if cfg.producers:
            r.spawn("producer", producer_main, cfg.producers, cfg.producer_processes)
        deadline = time.monotonic() + READY_TIMEOUT
        while r.waiting_ready and r.fatal is None:
            if time.monotonic() > deadline:
                r.fail("workers did not get ready in time")
                break
            r.poll(0.1)
        if r.fatal is not None:
            return {}, False
        if cfg.warmup:
            r.shared[Counters.GO] = 1
            r.phase(cfg.warmup)
        # Without warm-up the window opens before the first publish: it sees every message.
        a = r.snapshot()
        r.shared[Counters.MEASURING] = 1
        r.shared[Counters.GO] = 1
        r.phase(cfg.duration)
        b = r.snapshot()
        r.shared[Counters.MEASURING] = 0
    except KeyboardInterrupt:
        interrupted = True
        if a is None:
            a = r.snapshot()
        b = r.snapshot()
        r.shared[Counters.MEASURING] = 0
    return _throughput(r, a, b), interrupted


def _throughput(r: _Run, a: Snapshot, b: Snapshot) -> Result:
    cfg = r.cfg
    secs = max(b.t - a.t, 1e-9)
    sent = b.sent - a.sent
    received = b.received - a.received
    confirmed = b.confirmed - a.confirmed
    result: Result = {
        "mode": "throughput",
        "duration_s": round(b.t - a.t, 3),
        "sent": sent,
        "received": received,
        "confirmed": confirmed,
        "send_rate": _r(sent / secs),
        "recv_rate": _r(received / secs),
        "confirm_rate": _r(confirmed / secs),
        "send_MBps": _r(sent * cfg.size / secs / 1e6, 2),
        "recv_MBps": _r(received * cfg.size / secs / 1e6, 2),
        "totals": {
            "sent": b.sent,
            "received": b.received,
            "confirmed": b.confirmed,
            "nacked": b.nacked,
            "returned": b.returned,
        },
    }
    events = max(1, sent + received)
    cpu = b.client_cpu - a.client_cpu
    result["client"] = {
        "cpu_s": round(cpu, 3),
        "cpu_util": round(cpu / secs, 3),
        "cpu_us_per_msg": round(cpu / events * 1e6, 3),
        "processes": len(r.procs) + 1,
    }
    if a.broker_cpu is not None and b.broker_cpu is not None:
        bcpu = b.broker_cpu - a.broker_cpu
        per = received or sent
        result["broker"] = {
            "pid": cfg.broker_pid,
            "cpu_s": round(bcpu, 3),
            "cpu_util": round(bcpu / secs, 3),
            "cpu_us_per_msg": round(bcpu / per * 1e6, 3) if per else None,
        }
    if r.fatal is None and not cfg.pmessages and b.t - a.t > 0.5:
        if cfg.producers and sent == 0:
            r.errors.append("no progress in the measurement window: nothing published")
        elif cfg.consumers and received == 0:
            r.errors.append("no progress in the measurement window: nothing received")
    return result


def _finish(r: _Run, result: Result, interrupted: bool) -> None:
    cfg = r.cfg
    hist = Histogram()
    blocked = 0
    for report in r.done:
        if "hist" in report:
            hist.merge(Histogram.from_sparse(report["hist"]))
        blocked += report.get("blocked", 0)
        for error in report.get("errors", []):
            if error not in r.errors:
                r.errors.append(error)

    def us(ns: float) -> float:
        return round(ns / 1e3, 1)

    result["latency_us"] = {
        "n": hist.n,
        "p50": us(hist.quantile(0.50)),
        "p95": us(hist.quantile(0.95)),
        "p99": us(hist.quantile(0.99)),
        "p999": us(hist.quantile(0.999)),
        "max": us(hist.max),
    }
    totals = result.get("totals", {})
    result["errors"] = len(r.errors) + totals.get("nacked", 0)
    result["nacked"] = totals.get("nacked", 0)
    result["returned"] = totals.get("returned", 0)
    result["blocked_events"] = blocked
    result["error_messages"] = r.errors[:10]
    if r.warnings:
        result["warnings"] = r.warnings
    if r.fatal is not None:
        result["fatal"] = r.fatal
    if interrupted:
        result["interrupted"] = True
    result["tool"] = "leveret-perf"
    result["version"] = __version__
    result["config"] = {
        "uri_host": cfg.target.address,
        "vhost": cfg.target.vhost,
        "producers": cfg.producers,
        "consumers": cfg.consumers,
        "queues": cfg.queues,
        "size": cfg.size,
        "persistent": cfg.persistent,
        "durable": cfg.durable,
        "confirm": cfg.confirm,
        "autoack": cfg.autoack,
        "prefetch": cfg.prefetch,
        "multi_ack": cfg.ack_every,
        "exchange": cfg.exchange,
        "rate": cfg.rate,
        "pmessages": cfg.pmessages,
        "warmup_s": cfg.warmup,
        "duration_s": cfg.duration,
        "max_backlog": cfg.window,
    }
