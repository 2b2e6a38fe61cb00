"""The data directory's lock file: it names the running broker, and nobody after a stop."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from leveret.server.node import DataDirLock, DataDirLocked


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_lock_file_holds_the_pid_while_running_and_nothing_after_a_clean_stop(
    leveret_process: Callable[..., Any], stop_signal: signal.Signals
) -> None:
    broker = leveret_process()
    lock_file = broker.data_dir / "leveret.lock"
    assert lock_file.read_text() == f"{broker.proc.pid}\n"

    broker.proc.send_signal(stop_signal)
    assert broker.proc.wait(timeout=10) == 0, broker.stderr()
    assert lock_file.read_text() == ""


def test_released_lock_is_empty_and_can_be_taken_again(tmp_path: Path) -> None:
    first = DataDirLock(tmp_path)
    first.acquire()
    with pytest.raises(DataDirLocked):
        DataDirLock(tmp_path).acquire()
    first.release()
    assert (tmp_path / "leveret.lock").read_text() == ""

    second = DataDirLock(tmp_path)
    second.acquire()
    try:
        assert (tmp_path / "leveret.lock").read_text().strip().isdigit()
    finally:
        second.release()
