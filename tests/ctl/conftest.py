"""Fixtures for ``leveret ctl``: a real ``leveret serve`` process with its own data dir, and
``leveret ctl`` run as a subprocess against it; effects are checked with pika logins."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pika
import pika.exceptions
import pytest

START_TIMEOUT = 15.0


@dataclass
class CtlResult:
    code: int
    out: str
    err: str


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    data_dir: Path
    port: int
    log: Path

    def ctl(
        self, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
    ) -> CtlResult:
        return run_ctl("--data-dir", str(self.data_dir), *args, env=env, stdin=stdin)

    def connect(self, user: str, password: str, vhost: str = "/") -> pika.BlockingConnection:
        params = pika.ConnectionParameters(
            "127.0.0.1",
            self.port,
            vhost,
            pika.PlainCredentials(user, password),
            connection_attempts=1,
            socket_timeout=5,
            blocked_connection_timeout=5,
        )
        return pika.BlockingConnection(params)

    def can_login(self, user: str, password: str, vhost: str = "/") -> bool:
        """True if the login (and the vhost open) succeeds; the connection is closed."""
        try:
            conn = self.connect(user, password, vhost)
        except pika.exceptions.AMQPConnectionError:  # refused login, vhost or limit
            return False
        conn.close()
        return True


def run_ctl(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> CtlResult:
    """Run ``leveret ctl``; ``stdin`` is its input (none: /dev/null)."""
    proc = subprocess.run(
        [sys.executable, "-m", "leveret", "ctl", *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    return CtlResult(proc.returncode, proc.stdout, proc.stderr)


def short_dir() -> Path:
    """A temporary directory with a short path: a Unix socket path must stay under about
    100 bytes, which pytest's tmp_path (named after the test) could pass."""
    return Path(tempfile.mkdtemp(prefix="lvctl-"))


def start_broker(data_dir: Path, env: dict[str, str] | None = None, *args: str) -> Served:
    """``leveret serve`` on a free port; returns once the control socket answers."""
    log = data_dir.parent / f"{data_dir.name}.log"
    # No HTTP listeners unless asked for (later options win): the defaults, 15672 and
    # 15692, may be taken by another broker on this machine.
    command = [
        sys.executable, "-m", "leveret", "serve", "--port", "0",
        "--management-port", "0", "--prometheus-port", "0", *args,
    ]  # fmt: skip
    with log.open("wb") as err:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=err, env=env)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        found = re.search(r"AMQP listening on [\d.]+:(\d+)", log.read_text())
        if found:
            return Served(proc, data_dir, int(found.group(1)), log)
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_broker(proc)
            pytest.fail(f"leveret serve did not start:\n{log.read_text()}", pytrace=False)
        time.sleep(0.05)


def stop_broker(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def broker() -> Iterator[Served]:
    """One broker per test module (the tests use distinct user and vhost names)."""
    base = short_dir()
    data_dir = base / "data"
    served = start_broker(data_dir, None, "--data-dir", str(data_dir))
    try:
        yield served
    finally:
        stop_broker(served.proc)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    base = short_dir()
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def environ() -> dict[str, str]:
    """The test's environment without settings that would point leveret elsewhere."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LEVERET_", "RABBITMQ_")) and k != "XDG_DATA_HOME"
    }
