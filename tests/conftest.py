"""Shared fixtures: the broker under test and client helpers.

By default the suite starts Leveret itself (``python -m leveret serve``) on a free
loopback port for the whole session. With ``LEVERET_TEST_BROKER_URL`` set, the suite
runs against that external broker instead (RabbitMQ, for differential testing): tests
marked ``leveret_only`` are then skipped, and tests marked ``newer_than_310`` are
skipped too when ``LEVERET_TEST_BROKER_VERSION`` starts with ``3.10``.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pika
import pika.adapters.blocking_connection
import pytest

pytest_plugins = ["pytester"]

BROKER_URL_ENV = "LEVERET_TEST_BROKER_URL"
BROKER_VERSION_ENV = "LEVERET_TEST_BROKER_VERSION"
# With an external broker: its management API and Prometheus endpoint (http://HOST:PORT).
MANAGEMENT_URL_ENV = "LEVERET_TEST_MANAGEMENT_URL"
PROMETHEUS_URL_ENV = "LEVERET_TEST_PROMETHEUS_URL"
# Brokers the tests start turn their HTTP listeners off unless a test asks for them, so
# that none of them fights another (or a developer's RabbitMQ) for 15672 and 15692.
os.environ.setdefault("LEVERET_MANAGEMENT_PORT", "0")
os.environ.setdefault("LEVERET_PROMETHEUS_PORT", "0")
LEVERET_START_TIMEOUT = 15.0
LEVERET_STOP_TIMEOUT = 5.0


def external_broker_url() -> str | None:
    return os.environ.get(BROKER_URL_ENV) or None


def external_broker_version() -> str:
    return os.environ.get(BROKER_VERSION_ENV, "")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if external_broker_url() is None:
        for item in items:
            missing = item.get_closest_marker("leveret_missing")
            if missing is not None:
                reason = missing.args[0] if missing.args else "not implemented in Leveret yet"
                item.add_marker(pytest.mark.xfail(strict=True, reason=reason))
        return
    version = external_broker_version()
    skip_leveret = pytest.mark.skip(reason=f"Leveret-only behaviour; {BROKER_URL_ENV} is set")
    skip_old = pytest.mark.skip(reason=f"needs RabbitMQ 4.x behaviour; broker is {version}")
    for item in items:
        if item.get_closest_marker("leveret_only") is not None:
            item.add_marker(skip_leveret)
        if item.get_closest_marker("newer_than_310") is not None and version.startswith("3.10"):
            item.add_marker(skip_old)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nobody listens on right now."""
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


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=LEVERET_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=LEVERET_STOP_TIMEOUT)


@pytest.fixture(scope="session")
def is_external_broker() -> bool:
    """True when the suite runs against a broker given by ``LEVERET_TEST_BROKER_URL``."""
    return external_broker_url() is not None


@pytest.fixture(scope="session")
def broker_version() -> str:
    """``LEVERET_TEST_BROKER_VERSION`` for an external broker (e.g. "3.10"), else "leveret"."""
    return external_broker_version() if external_broker_url() is not None else "leveret"


@pytest.fixture(scope="session")
def session_leveret(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LeveretProcess | None]:
    """The suite's own Leveret process, or None when the tests run against an external
    broker (``LEVERET_TEST_BROKER_URL``)."""
    if external_broker_url() is not None:
        yield None
        return
    log_dir = tmp_path_factory.mktemp("leveret-log")
    with spawn_leveret(
        tmp_path_factory.mktemp("leveret-data"), log_dir, "--log-level", "warning"
    ) as started:
        yield started


@pytest.fixture(scope="session")
def broker_url(session_leveret: LeveretProcess | None) -> str:
    """AMQP URL of the broker under test (``amqp://guest:guest@127.0.0.1:PORT/%2F``)."""
    if session_leveret is None:
        external = external_broker_url()
        assert external is not None
        return external
    return session_leveret.url


@pytest.fixture(scope="session")
def management_url(session_leveret: LeveretProcess | None) -> str:
    """``http://127.0.0.1:PORT`` of the broker under test's management API (RabbitMQ's:
    ``LEVERET_TEST_MANAGEMENT_URL``; tests that need it are skipped without it)."""
    if session_leveret is None:
        url = os.environ.get(MANAGEMENT_URL_ENV)
        if not url:
            pytest.skip(f"{MANAGEMENT_URL_ENV} is not set for the external broker")
        return url.rstrip("/")
    return f"http://{session_leveret.host}:{session_leveret.management_port}"


@pytest.fixture(scope="session")
def prometheus_url(session_leveret: LeveretProcess | None) -> str:
    """``http://127.0.0.1:PORT`` of the broker under test's Prometheus endpoint."""
    if session_leveret is None:
        url = os.environ.get(PROMETHEUS_URL_ENV)
        if not url:
            pytest.skip(f"{PROMETHEUS_URL_ENV} is not set for the external broker")
        return url.rstrip("/")
    return f"http://{session_leveret.host}:{session_leveret.prometheus_port}"


class LeveretProcess:
    """A broker started by a test: its URL, its process and where its stderr goes."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        host: str,
        port: int,
        data_dir: Path,
        stderr: Path,
        management_port: int | None = None,
        prometheus_port: int | None = None,
    ):
        self.proc = proc
        self.data_dir = data_dir
        self.host = host
        self.port = port
        self.stderr_path = stderr
        self.management_port = management_port
        self.prometheus_port = prometheus_port

    @property
    def management_url(self) -> str:
        return f"http://{self.host}:{self.management_port}"

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@{self.host}:{self.port}/%2F"

    def stderr(self) -> str:
        return _read_tail(self.stderr_path)


@contextlib.contextmanager
def spawn_leveret(data_dir: Path, log_dir: Path, *args: str) -> Iterator[LeveretProcess]:
    """Run ``python -m leveret serve`` on a free port until the block ends. The management
    API and Prometheus get free ports too, unless ``args`` choose them."""
    host = "127.0.0.1"
    port = free_port(host)
    http_ports: dict[str, int | None] = {}
    for option in ("--management-port", "--prometheus-port"):
        if option in args:
            chosen = int(args[args.index(option) + 1])
            http_ports[option] = chosen or None
        else:
            http_ports[option] = free_port(host)
            args = (*args, option, str(http_ports[option]))
    stderr_path = log_dir / "stderr.log"
    stdout_path = log_dir / "stdout.log"
    cmd = [
        sys.executable,
        "-m",
        "leveret",
        "serve",
        "--host",
        host,
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        *args,
    ]
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    try:
        deadline = time.monotonic() + LEVERET_START_TIMEOUT
        waiting_for = [port, *(p for p in http_ports.values() if p is not None)]
        while not all(port_accepts(host, p) for p in waiting_for):
            if proc.poll() is not None:
                pytest.fail(
                    f"Leveret exited with code {proc.returncode} before listening:\n"
                    + _read_tail(stderr_path),
                    pytrace=False,
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"Leveret did not accept connections on {host}:{port} within "
                    f"{LEVERET_START_TIMEOUT:.0f} s:\n" + _read_tail(stderr_path),
                    pytrace=False,
                )
            time.sleep(0.05)
        yield LeveretProcess(
            proc,
            host,
            port,
            data_dir,
            stderr_path,
            http_ports["--management-port"],
            http_ports["--prometheus-port"],
        )
    finally:
        _stop_process(proc)


@pytest.fixture
def leveret_process(tmp_path: Path) -> Iterator[Callable[..., LeveretProcess]]:
    """Factory of private brokers with extra ``serve`` options, stopped at teardown:
    ``leveret_process("--memory-high-watermark", "100000000")``."""
    with contextlib.ExitStack() as stack:
        count = 0

        def start(*args: str) -> LeveretProcess:
            nonlocal count
            count += 1
            data_dir = tmp_path / f"leveret-data-{count}"
            log_dir = tmp_path / f"leveret-log-{count}"
            log_dir.mkdir()
            return stack.enter_context(spawn_leveret(data_dir, log_dir, *args))

        yield start


def _read_tail(path: Path, limit: int = 8000) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return "(no stderr captured)"
    return data[-limit:].decode("utf-8", "replace")


@pytest.fixture(scope="session")
def broker_address(broker_url: str) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(broker_url)
    return parsed.hostname or "127.0.0.1", parsed.port or 5672


@pytest.fixture(scope="session")
def broker_host(broker_address: tuple[str, int]) -> str:
    return broker_address[0]


@pytest.fixture(scope="session")
def broker_port(broker_address: tuple[str, int]) -> int:
    return broker_address[1]


@pytest.fixture(scope="session")
def broker_vhost(broker_url: str) -> str:
    path = urllib.parse.urlsplit(broker_url).path
    return urllib.parse.unquote(path[1:]) if len(path) > 1 else "/"


def make_unique_name(test_name: str, prefix: str = "") -> str:
    """A queue/exchange name unique to one test, e.g. ``q.test_purge.3f9a1c0d``."""
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)[:80]
    parts = [p for p in (prefix, base, secrets.token_hex(4)) if p]
    return ".".join(parts)


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[..., str]:
    """Factory for names unique to this test: ``unique_name()`` or ``unique_name("ex")``."""

    def make(prefix: str = "t") -> str:
        return make_unique_name(request.node.name, prefix)

    return make


@pytest.fixture
def pika_params(broker_url: str) -> Callable[..., pika.URLParameters]:
    """Factory of pika connection parameters for the broker under test.

    Keyword arguments override attributes, e.g. ``pika_params(heartbeat=5)``.
    """

    def make(**overrides: Any) -> pika.URLParameters:
        params = pika.URLParameters(broker_url)
        params.connection_attempts = 1
        params.socket_timeout = 10
        params.blocked_connection_timeout = 30
        for key, value in overrides.items():
            setattr(params, key, value)
        return params

    return make


BlockingConnection = pika.adapters.blocking_connection.BlockingConnection
BlockingChannel = pika.adapters.blocking_connection.BlockingChannel


@pytest.fixture
def connect(
    pika_params: Callable[..., pika.URLParameters],
) -> Iterator[Callable[..., BlockingConnection]]:
    """Factory of pika BlockingConnections; every one still open is closed at teardown."""
    opened: list[BlockingConnection] = []

    def make(**overrides: Any) -> BlockingConnection:
        conn = pika.BlockingConnection(pika_params(**overrides))
        opened.append(conn)
        return conn

    yield make
    for conn in opened:
        if conn.is_open:
            with contextlib.suppress(Exception):  # the broker may be closing it already
                conn.close()


@pytest.fixture
def connection(connect: Callable[..., BlockingConnection]) -> BlockingConnection:
    """One pika BlockingConnection to the broker under test."""
    return connect()


@pytest.fixture
def channel(connection: BlockingConnection) -> BlockingChannel:
    """A channel on ``connection``."""
    return connection.channel()
