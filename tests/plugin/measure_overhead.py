"""Measure what the pytest plugin costs: ``python tests/plugin/measure_overhead.py [N]``.

Runs a generated test project in a fresh ``python -m pytest`` process and prints

* the time from the test session's start (``pytest_sessionstart``) to the first publish
  confirmed by the session broker (this includes collecting the 2N+1 tests, starting the
  broker, creating the test's vhost, connecting with pika and publishing with confirms), and
  from launching the process; run with N=0 for the start-up alone;
* the per-test cost of a fresh vhost: mean setup+teardown time of N tests using ``amqp_url``
  minus that of N tests using no fixture.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

CONFTEST = """
import json
import os
import time

import pytest

TIMES = {"setup": {}, "teardown": {}}


def pytest_sessionstart(session):
    TIMES["session_start"] = time.perf_counter()
    TIMES["session_start_wall"] = time.time()


@pytest.fixture(scope="session")
def timings():
    return TIMES


def _timed(phase):
    @pytest.hookimpl(wrapper=True)
    def hook(item, *args):
        start = time.perf_counter()
        try:
            return (yield)
        finally:
            TIMES[phase][item.name] = time.perf_counter() - start
    return hook


pytest_runtest_setup = _timed("setup")
pytest_runtest_teardown = _timed("teardown")


def pytest_sessionfinish(session):
    with open(os.environ["MEASURE_OUT"], "w") as out:
        json.dump(TIMES, out)
"""

TESTS = """
import time

import pika


def test_0_first_publish(amqp_url, timings):
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    ch = conn.channel()
    ch.confirm_delivery()
    ch.queue_declare("q")
    ch.basic_publish("", "q", b"first")
    timings["first_publish"] = time.perf_counter() - timings["session_start"]
    timings["first_publish_wall"] = time.time()
    conn.close()


{tests}
"""


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    tests = "\n".join(
        f"def test_vhost_{i}(amqp_url):\n    pass\n\n\ndef test_plain_{i}():\n    pass\n"
        for i in range(n)
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pytest.ini").write_text("[pytest]\n")
        (root / "conftest.py").write_text(CONFTEST)
        (root / "test_measure.py").write_text(TESTS.format(tests=textwrap.dedent(tests)))
        out = root / "times.json"
        launched = time.time()
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x"],
            cwd=root,
            env={**os.environ, "MEASURE_OUT": str(out)},
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wall = time.time() - launched
        times = json.loads(out.read_text())

    def per_test(prefix: str) -> list[float]:
        return [
            times["setup"][name] + times["teardown"][name]
            for name in times["setup"]
            if name.startswith(prefix)
        ]

    vhost, plain = per_test("test_vhost_"), per_test("test_plain_")
    print(f"session start -> first confirmed publish: {times['first_publish'] * 1000:.1f} ms")
    print(
        "process launch -> first confirmed publish: "
        f"{(times['first_publish_wall'] - launched) * 1000:.1f} ms"
    )
    first_setup = times["setup"]["test_0_first_publish"]
    print(f"  (test_0's setup, which starts the broker: {first_setup * 1000:.1f} ms)")
    print(f"whole run: {wall:.2f} s for {2 * n + 1} tests")
    if not n:
        return
    overhead = statistics.mean(vhost) - statistics.mean(plain)
    print(
        f"fresh vhost per test ({n} tests): mean {overhead * 1000:.2f} ms "
        f"(median setup+teardown {statistics.median(vhost) * 1000:.2f} ms with amqp_url, "
        f"{statistics.median(plain) * 1000:.2f} ms without)"
    )


if __name__ == "__main__":
    main()
