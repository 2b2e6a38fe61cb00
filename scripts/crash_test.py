#!/usr/bin/env python3
"""Crash (kill -9) durability test for Leveret.

Starts ``python -m leveret serve`` on a free loopback port with a data directory, runs
publisher threads (pika, publisher confirms, persistent messages, unique ids) and consumer
threads (manual ack, prefetch 50), kills the broker with SIGKILL at random moments and
restarts it on the same data directory and port. At the end publishing stops, every queue
is drained, and the run checks that every confirmed message came out of every queue it was
routed to at least once (duplicates are counted, not failures), that nothing was received
that was never published, and that a redelivery within one broker lifetime carries
``redelivered=True``. Last, the broker is stopped cleanly and restarted once more: the
drained (acked) queues must stay empty.

Topology (all durable): fanout exchange ``crash.fanout`` bound to queues ``crash.fan.a``
and ``crash.fan.b``, and queue ``crash.direct`` published to through the default exchange.
Every third message of a publisher goes to ``crash.direct``, the others to the fanout.

Usable standalone (``python scripts/crash_test.py --kills 50 --seconds 5``) and importable
(``run(CrashConfig(...))`` returns a ``CrashResult``). Exit status: 0 pass, 1 failed check,
2 harness error (the broker would not start, ...).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

HOST = "127.0.0.1"
FANOUT = "crash.fanout"
FAN_QUEUES = ("crash.fan.a", "crash.fan.b")
DIRECT_QUEUE = "crash.direct"
ALL_QUEUES = (*FAN_QUEUES, DIRECT_QUEUE)
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0

# Everything a lost connection or a dead broker can raise in a pika client.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    pika.exceptions.AMQPError,
    OSError,
    EOFError,
    AssertionError,  # pika asserts on some half-closed states
)


# ---------------------------------------------------------------------------------------
# Broker process
# ---------------------------------------------------------------------------------------


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class BrokerError(RuntimeError):
    """The broker would not start, or died on its own."""


class BrokerProcess:
    """One ``leveret serve`` subprocess at a time, on a fixed port and data directory.

    Every start is a new *generation*; each gets its own stderr log file in ``log_dir``.
    ``generation`` is bumped *before* the process is spawned, so a client that reads the
    same generation before and after connecting knows which process it talks to.
    """

    def __init__(
        self,
        data_dir: Path,
        log_dir: Path,
        port: int | None = None,
        host: str = HOST,
        log_level: str = "warning",
    ):
        self.data_dir = Path(data_dir)
        self.log_dir = Path(log_dir)
        self.host = host
        self.port = port or free_port(host)
        self.log_level = log_level
        self.proc: subprocess.Popen[bytes] | None = None
        self.generation = 0
        self.log_paths: list[Path] = []

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "leveret",
            "serve",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--log-level",
            self.log_level,
        ]

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start the process without waiting for it to listen."""
        if self.proc is not None and self.proc.poll() is None:
            raise BrokerError(f"broker pid {self.proc.pid} is still running")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.generation += 1
        path = self.log_dir / f"broker-{self.generation:03d}.log"
        self.log_paths.append(path)
        with path.open("wb") as log_file:
            self.proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        return self.proc

    def start(self, timeout: float = START_TIMEOUT) -> float:
        """Start and wait until the port accepts connections; returns seconds taken."""
        started = time.monotonic()
        proc = self.spawn()
        deadline = started + timeout
        while not port_accepts(self.host, self.port):
            if proc.poll() is not None:
                raise BrokerError(
                    f"broker (generation {self.generation}) exited with code "
                    f"{proc.returncode} before listening:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.kill9()
                raise BrokerError(
                    f"broker (generation {self.generation}) did not accept connections on "
                    f"{self.host}:{self.port} within {timeout:.0f} s:\n{self.log_tail()}"
                )
            time.sleep(0.02)
        return time.monotonic() - started

    def kill9(self) -> None:
        """SIGKILL the process we started (by its pid) and reap it."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=STOP_TIMEOUT)

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM (clean shutdown) and wait; SIGKILL if it takes too long. Returns the code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
                raise BrokerError(
                    f"broker pid {proc.pid} ignored SIGTERM for {timeout:.0f} s"
                ) from None
        return proc.returncode

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, limit: int = 4000) -> str:
        if not self.log_paths:
            return "(no log)"
        try:
            data = self.log_paths[-1].read_bytes()
        except OSError:
            return "(no log)"
        return data[-limit:].decode("utf-8", "replace")

    def log_lines(self) -> Iterator[tuple[int, str]]:
        """(generation, line) for every line any generation logged."""
        for generation, path in enumerate(self.log_paths, start=1):
            try:
                text = path.read_text("utf-8", "replace")
            except OSError:
                continue
            for line in text.splitlines():
                yield generation, line

    def params(self, **overrides: object) -> pika.ConnectionParameters:
        return connection_params(self.host, self.port, **overrides)


def connection_params(host: str, port: int, **overrides: object) -> pika.ConnectionParameters:
    """Parameters that never let a client hang for long on a dead or stuck broker."""
    settings: dict[str, object] = {
        "host": host,
        "port": port,
        "heartbeat": 10,
        "blocked_connection_timeout": 15,
        "socket_timeout": 3,
        "stack_timeout": 5,
        "connection_attempts": 1,
        "retry_delay": 0,
    }
    settings.update(overrides)
    return pika.ConnectionParameters(**settings)  # type: ignore[arg-type]


def safe_close(connection: BlockingConnection | None) -> None:
    if connection is None:
        return
    with contextlib.suppress(Exception):
        if connection.is_open:
            connection.close()


def declare_topology(channel: BlockingChannel) -> None:
    channel.exchange_declare(FANOUT, exchange_type="fanout", durable=True)
    for queue in ALL_QUEUES:
        channel.queue_declare(queue, durable=True)
    for queue in FAN_QUEUES:
        channel.queue_bind(queue, FANOUT)


# ---------------------------------------------------------------------------------------
# Messages and bookkeeping
# ---------------------------------------------------------------------------------------


def message_id(publisher: int, number: int) -> str:
    return f"p{publisher}.{number}"


def route_of(mid: str) -> str:
    """``direct`` for every third message of a publisher, else ``fanout``."""
    number = int(mid.rsplit(".", 1)[1])
    return "direct" if number % 3 == 2 else "fanout"


def expected_queues(mid: str) -> tuple[str, ...]:
    return (DIRECT_QUEUE,) if route_of(mid) == "direct" else FAN_QUEUES


def make_body(mid: str, size: int, attempt: int = 0) -> bytes:
    """``id|attempt|padding``: each publish of an id is a separate copy in the queue."""
    head = f"{mid}|{attempt}|".encode()
    return head + b"x" * max(0, size - len(head))


def id_from_body(body: bytes) -> str:
    return body.split(b"|", 1)[0].decode("utf-8", "replace")


def attempt_from_body(body: bytes) -> int:
    parts = body.split(b"|", 2)
    try:
        return int(parts[1])
    except (IndexError, ValueError):
        return -1


@dataclass
class Delivery:
    generation: int | None  # which broker process delivered it; None when unsure
    redelivered: bool
    source: str  # "consume" or "get"
    attempt: int  # which publish of the id this copy came from


class Ledger:
    """What the clients saw, shared by all client threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.published: set[str] = set()  # sent at least once
        self.confirmed: set[str] = set()
        self.publish_attempts = 0
        self.republished = 0
        self.nacked = 0
        self.returned: list[str] = []  # basic.return: bindings or queues missing
        self.deliveries: dict[str, dict[str, list[Delivery]]] = {q: {} for q in ALL_QUEUES}
        self.received = 0
        self.bad_message_id: list[tuple[str, str, str | None]] = []
        self.client_errors: list[str] = []  # unexpected exceptions in client threads
        self.reconnects = Counter[str]()
        self.last_receive = time.monotonic()

    def record(self, queue: str, mid: str, delivery: Delivery) -> None:
        with self.lock:
            self.deliveries[queue].setdefault(mid, []).append(delivery)
            self.received += 1
            self.last_receive = time.monotonic()


# ---------------------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------------------


class Clients:
    def __init__(self, broker: BrokerProcess, config: CrashConfig, ledger: Ledger):
        self.broker = broker
        self.config = config
        self.ledger = ledger
        self.stop_publishing = threading.Event()
        self.stop_consuming = threading.Event()
        self.consumers_paused = threading.Event()  # consumers stay away: a backlog builds
        self.publishers: list[threading.Thread] = []
        self.consumers: list[threading.Thread] = []

    def connect(self) -> tuple[BlockingConnection, int | None]:
        """Connect; also say which broker generation this connection belongs to."""
        before = self.broker.generation
        connection = BlockingConnection(self.broker.params())
        after = self.broker.generation
        return connection, (before if before == after else None)

    def start(self) -> None:
        for index in range(self.config.publishers):
            thread = threading.Thread(
                target=self._guard, args=(self._publisher, index), name=f"publisher-{index}"
            )
            thread.daemon = True
            self.publishers.append(thread)
        for index in range(self.config.consumers):
            thread = threading.Thread(
                target=self._guard, args=(self._consumer, index), name=f"consumer-{index}"
            )
            thread.daemon = True
            self.consumers.append(thread)
        for thread in self.publishers + self.consumers:
            thread.start()

    def _guard(self, target: object, index: int) -> None:
        try:
            target(index)  # type: ignore[operator]
        except BaseException as error:  # never let a client thread die silently
            with self.ledger.lock:
                self.ledger.client_errors.append(
                    f"{threading.current_thread().name}: {type(error).__name__}: {error}"
                )

    def join(self, threads: list[threading.Thread], timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        hung = []
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                hung.append(thread.name)
        return hung

    # -- publisher ------------------------------------------------------------------------

    def _publisher(self, index: int) -> None:
        ledger = self.ledger
        size = self.config.message_size
        number = 0
        pending: dict[str, int] = {}  # id -> publishes so far, for ids not yet confirmed
        while not self.stop_publishing.is_set():
            connection = None
            try:
                connection, _ = self.connect()
                channel = connection.channel()
                channel.confirm_delivery()
                while not self.stop_publishing.is_set():
                    if pending:
                        mid = next(iter(pending))
                        pending[mid] += 1
                        with ledger.lock:
                            ledger.republished += 1
                    else:
                        mid = message_id(index, number)
                        number += 1
                        pending[mid] = 0
                        with ledger.lock:
                            ledger.published.add(mid)
                    exchange, key = (
                        ("", DIRECT_QUEUE) if route_of(mid) == "direct" else (FANOUT, "")
                    )
                    with ledger.lock:
                        ledger.publish_attempts += 1
                    try:
                        channel.basic_publish(
                            exchange,
                            key,
                            make_body(mid, size, pending[mid]),
                            pika.BasicProperties(delivery_mode=2, message_id=mid),
                            mandatory=True,
                        )
                    except pika.exceptions.UnroutableError:
                        with ledger.lock:
                            ledger.returned.append(mid)
                        time.sleep(0.05)  # retried: it stays pending
                        continue
                    except pika.exceptions.NackError:
                        with ledger.lock:
                            ledger.nacked += 1
                        time.sleep(0.01)
                        continue
                    del pending[mid]
                    with ledger.lock:
                        ledger.confirmed.add(mid)
            except CONNECTION_ERRORS:
                with ledger.lock:
                    ledger.reconnects[threading.current_thread().name] += 1
                time.sleep(0.05)
            finally:
                safe_close(connection)

    # -- consumer -------------------------------------------------------------------------

    def _consumer(self, index: int) -> None:
        ledger = self.ledger
        rng = random.Random(self.config.seed * 1009 + index)
        churn = self.config.consumer_churn
        while not self.stop_consuming.is_set():
            if self.consumers_paused.is_set():
                time.sleep(0.05)
                continue
            connection = None
            try:
                connection, generation = self.connect()
                channel = connection.channel()
                channel.basic_qos(prefetch_count=self.config.prefetch)
                state = {"leave": False}

                def on_message(
                    ch: BlockingChannel,
                    method: pika.spec.Basic.Deliver,
                    props: pika.BasicProperties,
                    body: bytes,
                    queue: str,
                    generation: int | None = generation,
                    state: dict[str, bool] = state,
                ) -> None:
                    mid = id_from_body(body)
                    if props.message_id != mid:
                        with ledger.lock:
                            ledger.bad_message_id.append((queue, mid, props.message_id))
                    ledger.record(
                        queue,
                        mid,
                        Delivery(
                            generation, method.redelivered, "consume", attempt_from_body(body)
                        ),
                    )
                    if state["leave"]:
                        return  # leaving: everything unacked is requeued on close
                    if churn and rng.random() < churn:
                        state["leave"] = True  # walk away without acking this one
                        return
                    ch.basic_ack(method.delivery_tag)

                for queue in ALL_QUEUES:
                    channel.basic_consume(
                        queue,
                        lambda ch, m, p, b, queue=queue: on_message(ch, m, p, b, queue),
                    )
                while not (
                    self.stop_consuming.is_set() or self.consumers_paused.is_set() or state["leave"]
                ):
                    connection.process_data_events(time_limit=0.2)
            except CONNECTION_ERRORS:
                with ledger.lock:
                    ledger.reconnects[threading.current_thread().name] += 1
                time.sleep(0.05)
            finally:
                safe_close(connection)


# ---------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------


@dataclass
class CrashConfig:
    kills: int = 10
    seconds: float = 5.0  # longest run time between two kills
    min_seconds: float | None = None  # shortest (default: a quarter of ``seconds``)
    publishers: int = 4
    consumers: int = 2
    seed: int | None = None
    data_dir: Path | None = None
    message_size: int = 256
    prefetch: int = 50
    consumer_churn: float = 0.001  # chance per delivery that a consumer leaves without acking
    backlog: float = 0.3  # chance per round that consumers stay away (queues grow, page out)
    settle_seconds: float = 1.5  # traffic after the last restart before publishing stops
    drain_timeout: float = 60.0
    keep: bool = False  # keep the temporary directory even when the run passes
    quiet: bool = False


@dataclass
class CrashResult:
    seed: int
    kills: int
    published: int
    confirmed: int
    received: int
    duplicates: int
    lost: dict[str, list[str]]
    unexpected: dict[str, list[str]]
    redelivered_violations: list[str]
    ghosts: dict[str, list[str]]
    anomalies: list[str]
    elapsed: float
    work_dir: Path
    data_dir: Path
    restart_seconds: list[float] = field(default_factory=list)
    torn_tails: int = 0
    stats: dict[str, object] = field(default_factory=dict)
    ledger: Ledger | None = field(default=None, repr=False)

    @property
    def lost_count(self) -> int:
        return sum(len(ids) for ids in self.lost.values())

    @property
    def unexpected_count(self) -> int:
        return sum(len(ids) for ids in self.unexpected.values())

    @property
    def ok(self) -> bool:
        return not (
            self.lost_count
            or self.unexpected_count
            or self.redelivered_violations
            or any(self.ghosts.values())
            or self.anomalies
        )

    def summary(self) -> str:
        return (
            f"crash-test {'PASS' if self.ok else 'FAIL'}: seed={self.seed} kills={self.kills} "
            f"published={self.published} confirmed={self.confirmed} received={self.received} "
            f"duplicates={self.duplicates} lost={self.lost_count} "
            f"unexpected={self.unexpected_count} "
            f"redelivered_violations={len(self.redelivered_violations)} "
            f"ghosts={sum(len(g) for g in self.ghosts.values())} "
            f"anomalies={len(self.anomalies)} elapsed={self.elapsed:.1f}s"
        )

    def report(self) -> str:
        lines = [self.summary()]
        restart = self.restart_seconds
        if restart:
            lines.append(
                f"  restarts: {len(restart)}, ready in max {max(restart):.2f}s, "
                f"mean {sum(restart) / len(restart):.2f}s; torn tails truncated: "
                f"{self.torn_tails}"
            )
        lines.append("  " + ", ".join(f"{k}={v}" for k, v in self.stats.items()))
        for title, table in (("LOST", self.lost), ("UNEXPECTED", self.unexpected)):
            for queue, ids in table.items():
                if ids:
                    shown = ", ".join(ids[:30]) + (" ..." if len(ids) > 30 else "")
                    lines.append(f"  {title} from {queue} ({len(ids)}): {shown}")
        for queue, ids in self.ghosts.items():
            if ids:
                lines.append(f"  GHOSTS in {queue} after a clean restart ({len(ids)}): {ids[:30]}")
        lines.extend(f"  REDELIVERED FLAG: {v}" for v in self.redelivered_violations[:30])
        lines.extend(f"  ANOMALY: {a}" for a in self.anomalies[:30])
        lines.append(f"  work dir: {self.work_dir}")
        return "\n".join(lines)


def _queue_counts(broker: BrokerProcess) -> dict[str, int]:
    connection = BlockingConnection(broker.params())
    try:
        channel = connection.channel()
        return {q: channel.queue_declare(q, passive=True).method.message_count for q in ALL_QUEUES}
    finally:
        safe_close(connection)


def _drain_with_get(
    broker: BrokerProcess, ledger: Ledger | None, limit: float
) -> dict[str, list[tuple[str, bool]]]:
    """basic.get (and ack) every queue until empty; returns what came out, per queue."""
    got: dict[str, list[tuple[str, bool]]] = {q: [] for q in ALL_QUEUES}
    deadline = time.monotonic() + limit
    generation = broker.generation
    connection = BlockingConnection(broker.params())
    try:
        channel = connection.channel()
        for queue in ALL_QUEUES:
            while time.monotonic() < deadline:
                method, props, body = channel.basic_get(queue, auto_ack=False)
                if method is None:
                    break
                mid = id_from_body(body)
                if ledger is not None and props.message_id != mid:
                    with ledger.lock:
                        ledger.bad_message_id.append((queue, mid, props.message_id))
                got[queue].append((mid, bool(method.redelivered)))
                if ledger is not None:
                    ledger.record(
                        queue,
                        mid,
                        Delivery(generation, method.redelivered, "get", attempt_from_body(body)),
                    )
                channel.basic_ack(method.delivery_tag)
    finally:
        safe_close(connection)
    return got


def _check_redelivered(ledger: Ledger) -> list[str]:
    """Within one broker lifetime a second delivery of a copy must say redelivered=True.

    A copy is one publish of an id: a message stored just before a kill and republished
    after it (its confirm never came) is in the queue twice, both never delivered before.
    """
    violations = []
    for queue, table in ledger.deliveries.items():
        for mid, deliveries in table.items():
            last: dict[tuple[int, int | None], Delivery] = {}
            for delivery in deliveries:
                key = (delivery.attempt, delivery.generation)
                if delivery.generation is not None and key in last and not delivery.redelivered:
                    violations.append(
                        f"{queue} {mid} (publish #{delivery.attempt}): delivered twice by "
                        f"broker generation {delivery.generation}, second time "
                        f"redelivered=False ({last[key].source}, then {delivery.source})"
                    )
                last[key] = delivery
    return violations


def run(config: CrashConfig) -> CrashResult:
    seed = config.seed if config.seed is not None else random.SystemRandom().randrange(2**31)
    config.seed = seed
    rng = random.Random(seed)
    started = time.monotonic()
    work_dir = Path(tempfile.mkdtemp(prefix="leveret-crash-"))
    data_dir = Path(config.data_dir) if config.data_dir is not None else work_dir / "data"
    broker = BrokerProcess(data_dir, work_dir / "logs")
    ledger = Ledger()
    clients = Clients(broker, config, ledger)
    anomalies: list[str] = []
    restart_seconds: list[float] = []
    low = config.min_seconds if config.min_seconds is not None else config.seconds / 4
    high = max(config.seconds, low)
    say = (lambda *a: None) if config.quiet else (lambda *a: print(*a, flush=True))
    say(
        f"crash-test: seed={seed} port={broker.port} data={data_dir} logs={work_dir / 'logs'} "
        f"kills={config.kills} rounds of {low:.1f}-{high:.1f}s"
    )
    kills = 0
    result: CrashResult | None = None
    try:
        broker.start()
        setup = BlockingConnection(broker.params())
        try:
            declare_topology(setup.channel())
        finally:
            safe_close(setup)
        clients.start()

        def run_for(seconds: float) -> None:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                if not broker.alive():
                    code = broker.proc.returncode if broker.proc else None
                    anomalies.append(
                        f"broker generation {broker.generation} died on its own (code {code}): "
                        f"{broker.log_tail(1500)}"
                    )
                    restart_seconds.append(broker.start())
                time.sleep(0.02)

        for round_number in range(1, config.kills + 1):
            paused = rng.random() < config.backlog
            if paused:
                clients.consumers_paused.set()
            run_for(rng.uniform(low, high))
            broker.kill9()
            kills += 1
            time.sleep(rng.uniform(0.0, 0.3))
            took = broker.start()
            restart_seconds.append(took)
            with ledger.lock:
                confirmed, received = len(ledger.confirmed), ledger.received
            clients.consumers_paused.clear()
            say(
                f"  kill {round_number}/{config.kills}: restarted in {took:.2f}s; "
                f"confirmed={confirmed} received={received}"
                + (" (consumers were paused)" if paused else "")
            )

        # Let publishers republish what was in flight, then stop them.
        run_for(config.settle_seconds)
        clients.stop_publishing.set()
        hung = clients.join(clients.publishers, 30.0)
        anomalies.extend(f"{name} did not stop within 30 s" for name in hung)

        # Drain: consumers run until nothing arrives and the queues are empty.
        deadline = time.monotonic() + config.drain_timeout
        while clients.consumers and time.monotonic() < deadline:
            run_for(0.3)
            with ledger.lock:
                idle = time.monotonic() - ledger.last_receive
            if idle < 1.0:
                continue
            try:
                if not any(_queue_counts(broker).values()):
                    break
            except CONNECTION_ERRORS:
                continue
        clients.stop_consuming.set()
        hung = clients.join(clients.consumers, 30.0)
        anomalies.extend(f"{name} did not stop within 30 s" for name in hung)
        leftover = _drain_with_get(broker, ledger, config.drain_timeout)
        leftover_count = sum(len(v) for v in leftover.values())

        # A clean restart must not bring back anything that was acked.
        code = broker.terminate()
        if code != 0:
            anomalies.append(f"clean shutdown exited with code {code}: {broker.log_tail(1500)}")
        restart_seconds.append(broker.start())
        ghosts = {
            q: [mid for mid, _ in got] for q, got in _drain_with_get(broker, None, 30).items()
        }
        code = broker.terminate()
        if code != 0:
            anomalies.append(f"final shutdown exited with code {code}")

        # -- check ------------------------------------------------------------------------
        with ledger.lock:
            published = set(ledger.published)
            confirmed_ids = set(ledger.confirmed)
        lost: dict[str, list[str]] = {}
        unexpected: dict[str, list[str]] = {}
        duplicates = 0
        for queue in ALL_QUEUES:
            table = ledger.deliveries[queue]
            duplicates += sum(len(d) - 1 for d in table.values())
            want = sorted(
                (mid for mid in confirmed_ids if queue in expected_queues(mid)), key=_id_key
            )
            lost[queue] = [mid for mid in want if mid not in table]
            unexpected[queue] = sorted(
                (mid for mid in table if mid not in published or queue not in expected_queues(mid)),
                key=_id_key,
            )
        if ledger.returned:
            anomalies.append(
                f"{len(ledger.returned)} publishes were returned unroutable (bindings or queues "
                f"missing after a restart?), e.g. {ledger.returned[:5]}"
            )
        if ledger.bad_message_id:
            anomalies.append(f"message_id property did not match body: {ledger.bad_message_id[:5]}")
        anomalies.extend(f"client thread crashed: {e}" for e in ledger.client_errors)
        log_errors = [
            f"gen {gen}: {line}"
            for gen, line in broker.log_lines()
            if " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback")
        ]
        anomalies.extend(f"broker log: {line}" for line in log_errors[:20])
        torn = sum(1 for _, line in broker.log_lines() if "truncating" in line)
        result = CrashResult(
            seed=seed,
            kills=kills,
            published=len(published),
            confirmed=len(confirmed_ids),
            received=ledger.received,
            duplicates=duplicates,
            lost=lost,
            unexpected=unexpected,
            redelivered_violations=_check_redelivered(ledger),
            ghosts=ghosts,
            anomalies=anomalies,
            ledger=ledger,
            elapsed=time.monotonic() - started,
            work_dir=work_dir,
            data_dir=data_dir,
            restart_seconds=restart_seconds,
            torn_tails=torn,
            stats={
                "publish_attempts": ledger.publish_attempts,
                "republished": ledger.republished,
                "nacked": ledger.nacked,
                "reconnects": sum(ledger.reconnects.values()),
                "drained_by_get": leftover_count,
                "redelivered_deliveries": sum(
                    d.redelivered
                    for table in ledger.deliveries.values()
                    for ds in table.values()
                    for d in ds
                ),
            },
        )
        return result
    finally:
        clients.stop_publishing.set()
        clients.stop_consuming.set()
        clients.join(clients.publishers + clients.consumers, 10.0)
        with contextlib.suppress(Exception):
            broker.kill9()
        if result is not None and result.ok and not config.keep:
            shutil.rmtree(work_dir, ignore_errors=True)


def _id_key(mid: str) -> tuple[str, int]:
    head, _, number = mid.rpartition(".")
    return head, int(number) if number.isdigit() else -1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10, help="SIGKILLs (default 10)")
    parser.add_argument(
        "--seconds",
        "--duration",
        type=float,
        default=5.0,
        help="longest run time between two kills, in seconds (default 5)",
    )
    parser.add_argument(
        "--min-seconds", type=float, default=None, help="shortest (default: seconds / 4)"
    )
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument("--consumers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--data-dir", type=Path, default=None, help="default: a temp dir")
    parser.add_argument("--message-size", type=int, default=256, help="body bytes")
    parser.add_argument("--prefetch", type=int, default=50)
    parser.add_argument(
        "--consumer-churn",
        type=float,
        default=0.001,
        help="chance per delivery that a consumer disconnects without acking",
    )
    parser.add_argument(
        "--backlog",
        type=float,
        default=0.3,
        help="chance per round that consumers pause so a backlog builds (default 0.3)",
    )
    parser.add_argument("--keep", action="store_true", help="keep logs and data on success")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    config = CrashConfig(
        kills=args.kills,
        seconds=args.seconds,
        min_seconds=args.min_seconds,
        publishers=args.publishers,
        consumers=args.consumers,
        seed=args.seed,
        data_dir=args.data_dir,
        message_size=args.message_size,
        prefetch=args.prefetch,
        consumer_churn=args.consumer_churn,
        backlog=args.backlog,
        keep=args.keep,
    )
    try:
        result = run(config)
    except BrokerError as error:
        print(f"crash-test ERROR (seed={config.seed}): {error}", file=sys.stderr)
        return 2
    print(result.report())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
