"""End to end: real Celery workers (``celery worker`` subprocesses, amqp transport).

A Celery application pointed at the broker must work unchanged: workers receive tasks,
``countdown``/``eta`` tasks run at the right time, retries with backoff and chains work,
remote control (``celery inspect``, ``celery control``) and events work, and Celery's
native delayed delivery for quorum queues (a 28-level TTL/dead-letter topology with
exchange-to-exchange bindings) delivers delayed tasks.

Every test gets its own task queue/exchange, control exchange and event exchange, so the
tests do not see each other's workers. Tasks record their runs in a JSON-lines journal
(see ``celery_app.app``), which lets most tests run without a result backend. The worker
logs are printed at teardown, so pytest shows them for a failing test.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import subprocess
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pika
import pika.exceptions
import pytest
from celery import Celery, chain
from celery.events.receiver import EventReceiver
from kombu.transport.native_delayed_delivery import level_name

from .celery_app.app import ADD, FLAKY, JOURNAL_KEY, RECORD, make_app, read_journal
from .celery_app.process import WorkerProcess, run_celery_cli
from .conftest import Cleanup

JOURNAL_TIMEOUT = 15.0
# Scheduling slack: a delayed task may not run earlier than its delay minus this.
EARLY_SLACK = 0.25


# ----------------------------------------------------------------------------- fixtures


class CeleryEnv:
    """Settings shared by the test's client app and its workers, plus helpers."""

    def __init__(self, settings: dict[str, Any], journal: Path, tmp_path: Path) -> None:
        self.settings = settings
        self.journal = journal
        self.tmp_path = tmp_path
        self.queue: str = settings["task_default_queue"]
        self.workers: list[WorkerProcess] = []
        self.apps: list[Celery] = []

    def app(self) -> Celery:
        app = make_app(self.settings)
        self.apps.append(app)
        return app

    def worker(self, name: str = "w1", *, start: bool = True, **kwargs: Any) -> WorkerProcess:
        hostname = f"{name}.{self.queue}@leveret-test"
        kwargs.setdefault("queues", [self.queue])
        worker = WorkerProcess(
            self.settings, self.tmp_path / f"worker-{name}.log", hostname=hostname, **kwargs
        )
        self.workers.append(worker)
        if start:
            worker.start()
            worker.wait_ready()
        return worker

    def logs(self) -> str:
        return "\n".join(f"===== {w.hostname} (pid {w.pid})\n{w.log()}" for w in self.workers)

    def wait_journal(
        self,
        predicate: Callable[[list[dict[str, Any]]], bool],
        timeout: float = JOURNAL_TIMEOUT,
        what: str = "task runs",
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            entries = read_journal(self.journal)
            if predicate(entries):
                return entries
            for worker in self.workers:
                if worker.proc is not None and worker.proc.poll() is not None:
                    pytest.fail(
                        f"worker {worker.hostname} exited with code {worker.proc.returncode}"
                        f" while waiting for {what}; journal={entries}\n{self.logs()}"
                    )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"timed out after {timeout} s waiting for {what}; journal={entries}\n"
                    + self.logs()
                )
            time.sleep(0.05)


@pytest.fixture
def celery_env_factory(
    broker_url: str, unique_name: Callable[..., str], tmp_path: Path, cleanup: Cleanup
) -> Iterator[Callable[..., CeleryEnv]]:
    envs: list[CeleryEnv] = []

    def make(**overrides: Any) -> CeleryEnv:
        name = unique_name("celery")
        journal = tmp_path / f"journal-{len(envs)}.jsonl"
        settings: dict[str, Any] = {
            "broker_url": broker_url,
            "task_default_queue": cleanup.queue(name),
            "task_default_exchange": cleanup.exchange(name),
            "task_default_routing_key": name,
            "control_exchange": f"{name}.ctl",
            "event_exchange": cleanup.exchange(f"{name}.ev"),
            "event_queue_prefix": f"{name}.evq",
            JOURNAL_KEY: str(journal),
        }
        cleanup.exchange(f"{name}.ctl.pidbox")
        cleanup.exchange(f"reply.{name}.ctl.pidbox")
        settings.update(overrides)
        env = CeleryEnv(settings, journal, tmp_path)
        envs.append(env)
        return env

    yield make
    for env in envs:
        for worker in env.workers:
            worker.stop()
            if worker.killed:
                print(f"!!! {worker.hostname} ignored SIGTERM and was killed")
        for app in env.apps:
            _close_app(app)
        if env.workers:
            print(env.logs())
    _collect_leaked_sockets()


def _collect_leaked_sockets() -> None:
    """Celery's in-process clients (inspect, event receivers) drop sockets without closing
    them. Collect them here, where that is expected, rather than let the garbage collector
    report them later as unraisable ResourceWarnings during some unrelated test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def _close_app(app: Celery) -> None:
    """Close the app's pools and the rpc:// result consumer's connection (app.close() doesn't)."""
    if app.conf.result_backend:
        consumer = getattr(app.backend, "result_consumer", None)
        if consumer is not None and getattr(consumer, "_connection", None) is not None:
            with contextlib.suppress(Exception):  # best effort at teardown
                consumer.stop()
    app.close()


@pytest.fixture
def celery_env(celery_env_factory: Callable[..., CeleryEnv]) -> CeleryEnv:
    return celery_env_factory()


def _runs(entries: list[dict[str, Any]], task: str) -> list[dict[str, Any]]:
    return [e for e in entries if e["task"] == task]


def _queue_message_count(broker_url: str, queue: str) -> int:
    params = pika.URLParameters(broker_url)
    params.connection_attempts = 1
    conn = pika.BlockingConnection(params)
    try:
        ok = conn.channel().queue_declare(queue, passive=True)
        count: int = ok.method.message_count
        return count
    finally:
        conn.close()


# ----------------------------------------------------------------------------- plain tasks


def test_plain_tasks_run_without_result_backend(celery_env: CeleryEnv, broker_url: str) -> None:
    app = celery_env.app()
    celery_env.worker()
    sent = [app.send_task(RECORD, args=[f"value-{i}"]).id for i in range(10)]
    entries = celery_env.wait_journal(lambda e: len(_runs(e, RECORD)) >= 10, what="10 record tasks")
    time.sleep(0.3)  # no task may run twice
    entries = _runs(read_journal(celery_env.journal), RECORD)
    assert sorted(e["id"] for e in entries) == sorted(sent)
    assert sorted(e["value"] for e in entries) == sorted(f"value-{i}" for i in range(10))
    info = entries[0]["delivery_info"]
    # Celery sends to a direct-exchange queue through the default exchange.
    assert info["exchange"] == ""
    assert info["routing_key"] == celery_env.queue
    assert _queue_message_count(broker_url, celery_env.queue) == 0


def test_rpc_result_backend_returns_results(celery_env_factory: Callable[..., CeleryEnv]) -> None:
    env = celery_env_factory(result_backend="rpc://")
    app = env.app()
    env.worker()
    results = [app.send_task(ADD, args=[i, 100]) for i in range(5)]
    assert [r.get(timeout=15) for r in results] == [i + 100 for i in range(5)]
    assert results[0].state == "SUCCESS"


# ----------------------------------------------------------------------------- delays


def test_countdown_task_runs_after_its_delay(celery_env: CeleryEnv) -> None:
    app = celery_env.app()
    celery_env.worker()
    sent_at = time.time()
    delayed = app.send_task(RECORD, args=["delayed"], countdown=3)
    app.send_task(RECORD, args=["immediate"])
    entries = celery_env.wait_journal(
        lambda e: len(_runs(e, RECORD)) >= 2, timeout=15, what="countdown task"
    )
    by_value = {e["value"]: e for e in _runs(entries, RECORD)}
    # The worker holds the countdown task and keeps serving the queue meanwhile.
    assert by_value["immediate"]["time"] < by_value["delayed"]["time"]
    assert by_value["immediate"]["time"] - sent_at < 2.5
    assert by_value["delayed"]["id"] == delayed.id
    assert by_value["delayed"]["time"] - sent_at >= 3 - EARLY_SLACK
    assert by_value["delayed"]["time"] - sent_at < 3 + 5
    assert by_value["delayed"]["eta"] is not None


def test_eta_task_runs_at_its_eta(celery_env: CeleryEnv) -> None:
    app = celery_env.app()
    celery_env.worker()
    eta = datetime.now(UTC) + timedelta(seconds=2)
    app.send_task(RECORD, args=["at-eta"], eta=eta)
    (entry,) = _runs(
        celery_env.wait_journal(lambda e: bool(_runs(e, RECORD)), what="eta task"), RECORD
    )
    assert entry["time"] >= eta.timestamp() - EARLY_SLACK
    assert entry["time"] < eta.timestamp() + 5


def test_retries_with_exponential_backoff(celery_env: CeleryEnv) -> None:
    app = celery_env.app()
    celery_env.worker()
    result = app.send_task(FLAKY, args=["job", 2])
    entries = celery_env.wait_journal(
        lambda e: len(_runs(e, FLAKY)) >= 3, timeout=20, what="two retries and a success"
    )
    time.sleep(0.3)
    runs = _runs(read_journal(celery_env.journal), FLAKY)
    assert [r["attempt"] for r in runs] == [0, 1, 2]
    assert {r["id"] for r in runs} == {result.id}  # a retry keeps the task id
    gaps = [b["time"] - a["time"] for a, b in itertools.pairwise(runs)]
    # retry_backoff=1 without jitter: countdowns of 1 s then 2 s.
    assert gaps[0] >= 1 - EARLY_SLACK, gaps
    assert gaps[1] >= 2 - EARLY_SLACK, gaps
    assert gaps[1] > gaps[0], gaps
    assert all(gap < 6 for gap in gaps), gaps
    assert len(entries) >= 3


def test_retry_result_through_rpc_backend(celery_env_factory: Callable[..., CeleryEnv]) -> None:
    env = celery_env_factory(result_backend="rpc://")
    app = env.app()
    env.worker()
    result = app.send_task(FLAKY, args=["rpc-job", 1])
    assert result.get(timeout=20) == "rpc-job succeeded after 1 retries"


def test_chain_passes_results_along(celery_env: CeleryEnv) -> None:
    app = celery_env.app()
    celery_env.worker()
    workflow = chain(
        app.signature(ADD, args=(1, 2)),
        app.signature(ADD, args=(10,)),
        app.signature(ADD, args=(100,)),
        app.signature(RECORD),
    )
    workflow.apply_async()
    entries = celery_env.wait_journal(lambda e: bool(_runs(e, RECORD)), what="end of the chain")
    assert [e["result"] for e in _runs(entries, ADD)] == [3, 13, 113]
    assert _runs(entries, RECORD)[0]["value"] == 113


# ----------------------------------------------------------------------------- remote control


def test_celery_inspect_ping(celery_env: CeleryEnv) -> None:
    worker = celery_env.worker()
    done = run_celery_cli(
        celery_env.settings,
        ["inspect", "ping", f"--destination={worker.hostname}", "--timeout=10"],
    )
    assert done.returncode == 0, done.stdout + done.stderr + celery_env.logs()
    assert worker.hostname in done.stdout
    assert "pong" in done.stdout

    app = celery_env.app()
    replies = app.control.inspect(destination=[worker.hostname], timeout=5).ping()
    assert replies == {worker.hostname: {"ok": "pong"}}
    queues = app.control.inspect(destination=[worker.hostname], timeout=5).active_queues()
    assert queues is not None
    assert [q["name"] for q in queues[worker.hostname]] == [celery_env.queue]


def test_celery_control_add_consumer_and_shutdown(celery_env: CeleryEnv, cleanup: Cleanup) -> None:
    worker = celery_env.worker()
    extra = cleanup.queue(f"{celery_env.queue}.extra")
    cleanup.exchange(extra)
    done = run_celery_cli(
        celery_env.settings,
        ["control", "add_consumer", extra, f"--destination={worker.hostname}", "--timeout=10"],
    )
    assert done.returncode == 0, done.stdout + done.stderr + celery_env.logs()
    assert f"add consumer {extra}" in done.stdout

    app = celery_env.app()
    app.send_task(RECORD, args=["via-extra"], queue=extra)
    (entry,) = _runs(
        celery_env.wait_journal(lambda e: bool(_runs(e, RECORD)), what="task on extra queue"),
        RECORD,
    )
    assert entry["delivery_info"]["routing_key"] == extra

    replies = app.control.cancel_consumer(
        extra, destination=[worker.hostname], reply=True, timeout=5
    )
    assert replies == [{worker.hostname: {"ok": f"no longer consuming from {extra}"}}]

    # The worker does not answer a shutdown command (`celery control shutdown` reports
    # "No nodes replied"), so send it without waiting for replies.
    app.control.shutdown(destination=[worker.hostname])
    assert worker.proc is not None
    try:
        worker.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail("worker did not exit after a remote shutdown\n" + celery_env.logs())
    assert "Got shutdown from remote" in worker.log()


def test_worker_warm_shutdown_on_sigterm(celery_env: CeleryEnv) -> None:
    app = celery_env.app()
    worker = celery_env.worker()
    app.send_task(RECORD, args=["before-shutdown"])
    celery_env.wait_journal(lambda e: bool(_runs(e, RECORD)), what="a task")
    worker.stop(timeout=15)
    assert not worker.killed, "worker ignored SIGTERM for 15 s:\n" + celery_env.logs()
    assert worker.proc is not None
    assert worker.proc.returncode == 0, celery_env.logs()
    assert worker.stop_seconds is not None
    assert worker.stop_seconds < 10, f"warm shutdown took {worker.stop_seconds:.1f} s"


# ----------------------------------------------------------------------------- events


class _Capture(EventReceiver):  # type: ignore[misc]
    """An event receiver that says when its consumer is ready."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.consuming = threading.Event()

    def on_consume_ready(self, *args: Any, **kwargs: Any) -> None:
        super().on_consume_ready(*args, **kwargs)
        self.consuming.set()


def test_task_events_reach_an_event_receiver(celery_env: CeleryEnv) -> None:
    app = celery_env.app()
    events: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    with app.connection_for_read() as conn:
        receiver = _Capture(conn, handlers={"*": events.append}, app=app, node_id="capture")

        def run() -> None:
            try:
                receiver.capture(limit=None, timeout=None, wakeup=False)
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            assert receiver.consuming.wait(10), f"event receiver never consumed: {errors}"
            worker = celery_env.worker(events=True)
            result = app.send_task(ADD, args=[20, 22])

            deadline = time.monotonic() + 15
            wanted = {"task-received", "task-started", "task-succeeded"}
            while time.monotonic() < deadline:
                seen = {e["type"] for e in list(events) if e.get("uuid") == result.id}
                if wanted <= seen and any(e["type"] == "worker-online" for e in list(events)):
                    break
                time.sleep(0.05)
        finally:
            receiver.should_stop = True
            thread.join(10)
    assert not errors, errors
    by_type = {e["type"]: e for e in events if e.get("uuid") == result.id}
    assert wanted <= set(by_type), (sorted({e["type"] for e in events}), celery_env.logs())
    assert by_type["task-received"]["name"] == ADD
    assert by_type["task-succeeded"]["result"] == "42"
    assert by_type["task-succeeded"]["hostname"] == worker.hostname
    online = [e for e in events if e["type"] == "worker-online"]
    assert online and online[0]["hostname"] == worker.hostname


# ----------------------------------------------------------------------------- quorum queues


DELAYED_LEVELS = 28


def _quorum_settings() -> dict[str, Any]:
    # Native delayed delivery needs the task queue bound to a topic (not direct) exchange.
    return {"task_default_queue_type": "quorum", "task_default_exchange_type": "topic"}


def _cleanup_delayed_topology(cleanup: Cleanup) -> None:
    for level in range(DELAYED_LEVELS):
        cleanup.queue(level_name(level))
        cleanup.exchange(level_name(level))
    cleanup.exchange("celery_delayed_delivery")


def test_quorum_queue_worker_runs_tasks(
    celery_env_factory: Callable[..., CeleryEnv], cleanup: Cleanup
) -> None:
    _cleanup_delayed_topology(cleanup)
    env = celery_env_factory(**_quorum_settings())
    app = env.app()
    env.worker()
    for i in range(3):
        app.send_task(ADD, args=[i, i])
    entries = env.wait_journal(lambda e: len(_runs(e, ADD)) >= 3, what="3 tasks")
    assert sorted(e["result"] for e in _runs(entries, ADD)) == [0, 2, 4]


def test_native_delayed_delivery_with_quorum_queues(
    celery_env_factory: Callable[..., CeleryEnv], cleanup: Cleanup, broker_url: str
) -> None:
    _cleanup_delayed_topology(cleanup)
    env = celery_env_factory(**_quorum_settings())
    app = env.app()
    env.worker()
    # The worker declared the 28-level topology: one TTL queue and topic exchange per level.
    for level in (0, 13, DELAYED_LEVELS - 1):
        _queue_message_count(broker_url, level_name(level))

    sent_at = time.time()
    delayed = app.send_task(RECORD, args=["native-delay"], countdown=3)
    app.send_task(RECORD, args=["immediate"])
    entries = env.wait_journal(
        lambda e: len(_runs(e, RECORD)) >= 2, timeout=12, what="natively delayed task"
    )
    by_value = {e["value"]: e for e in _runs(entries, RECORD)}
    entry = by_value["native-delay"]
    assert entry["id"] == delayed.id
    assert entry["time"] - sent_at >= 3 - EARLY_SLACK
    assert entry["time"] - sent_at < 3 + 5
    # It went through the delay levels: the routing key carries the 28 delay bits.
    routing_key = entry["delivery_info"]["routing_key"]
    bits = routing_key.split(".")[:DELAYED_LEVELS]
    assert "".join(bits) == f"{3:028b}", routing_key
    assert routing_key.endswith(env.queue)
    assert by_value["immediate"]["time"] < entry["time"]
