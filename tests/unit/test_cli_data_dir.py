"""``leveret serve --data-dir``: a directory the broker cannot use is a readable error,
given before anything listens, naming the path and the reason.

The tests run as root, for whom permission bits mean nothing, so the unusable places are
ones even root cannot write: a path under a regular file, and sysfs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def serve(data_dir: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``leveret serve`` (a broken one would serve forever: the timeout ends it)."""
    return subprocess.run(
        [sys.executable, "-m", "leveret", "serve", "--port", "0", "--data-dir", data_dir],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def assert_refused(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "listening" not in result.stderr
    assert "cannot listen" not in result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr


def test_empty_data_dir_is_refused(tmp_path: Path) -> None:
    result = serve("", tmp_path)
    assert_refused(result, "--data-dir", "must not be empty")
    assert list(tmp_path.iterdir()) == []  # nothing written into the current directory


def test_data_dir_under_a_regular_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("not a directory\n")
    target = tmp_path / "plain" / "data"
    result = serve(str(target), tmp_path)
    assert_refused(result, f"cannot create data directory {target}: Not a directory")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs sysfs")
@pytest.mark.parametrize(
    ("data_dir", "reason"),
    [
        ("/sys/kernel", f"cannot write in data directory /sys/kernel: {os.strerror(13)}"),
        ("/sys/leveret-data", f"cannot create data directory /sys/leveret-data: {os.strerror(1)}"),
    ],
    ids=["existing", "missing"],
)
def test_unwritable_data_dir_is_refused(tmp_path: Path, data_dir: str, reason: str) -> None:
    assert_refused(serve(data_dir, tmp_path), reason)
