"""Run ``celery worker`` (and the ``celery`` command line) as subprocesses, by PID."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .app import SETTINGS_ENV

PACKAGE = __name__.rpartition(".")[0]  # e.g. "behaviour.celery_app"
# The directory that PACKAGE's top-level package lives in, for the subprocesses' PYTHONPATH.
IMPORT_ROOT = Path(__file__).resolve().parents[PACKAGE.count(".") + 1]
APP_MODULE = f"{PACKAGE}.worker"

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


def subprocess_env(settings: dict[str, Any]) -> dict[str, str]:
    env = dict(os.environ)
    env[SETTINGS_ENV] = json.dumps(settings)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(IMPORT_ROOT), env.get("PYTHONPATH", "")) if p
    )
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("CELERY_BROKER_URL", None)
    env.pop("CELERY_RESULT_BACKEND", None)
    return env


def tail(path: Path, limit: int = 12000) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return "(no log)"
    text = data[-limit:].decode("utf-8", "replace")
    return text if len(data) <= limit else "...\n" + text


class WorkerProcess:
    """One ``celery worker`` subprocess with its log file."""

    def __init__(
        self,
        settings: dict[str, Any],
        log_path: Path,
        *,
        hostname: str,
        queues: Sequence[str] = (),
        events: bool = False,
        loglevel: str = "INFO",
        extra_args: Sequence[str] = (),
    ) -> None:
        self.settings = settings
        self.log_path = log_path
        self.hostname = hostname
        self.cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            APP_MODULE,
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            f"--hostname={hostname}",
            f"--loglevel={loglevel}",
        ]
        if queues:
            self.cmd.append("--queues=" + ",".join(queues))
        if events:
            self.cmd.append("--task-events")
        self.cmd.extend(extra_args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.killed = False
        self.stop_seconds: float | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=subprocess_env(self.settings),
                cwd=str(self.log_path.parent),
            )

    def log(self) -> str:
        return tail(self.log_path)

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Wait for the worker's "<hostname> ready." log line."""
        assert self.proc is not None
        needle = f"{self.hostname} ready."
        deadline = time.monotonic() + timeout
        while True:
            if needle in self.log_path.read_text(encoding="utf-8", errors="replace"):
                return
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"celery worker exited with code {self.proc.returncode} before it was"
                    f" ready:\n{self.log()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"celery worker not ready within {timeout:.0f} s:\n{self.log()}"
                )
            time.sleep(0.1)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM (warm shutdown), then SIGKILL after ``timeout`` seconds; by PID."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.killed = True
            proc.kill()
            proc.wait(timeout=10)
        self.stop_seconds = time.monotonic() - started

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None


def run_celery_cli(
    settings: dict[str, Any], args: Sequence[str], timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    """``python -m celery -A <app> ARGS...`` with the same settings as the workers."""
    cmd = [sys.executable, "-m", "celery", "-A", APP_MODULE, *args]
    return subprocess.run(
        cmd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=subprocess_env(settings),
        timeout=timeout,
        check=False,
    )
