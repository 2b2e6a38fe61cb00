"""``leveret perf`` against a real broker over real sockets.

The broker is the pytest plugin's embedded Leveret (``amqp_broker``), each test on its own
vhost (``amqp_url``), so the tests can look at the broker's side: queue contents, open
connections, forced closes. Runs use ``--pmessages`` (a fixed number of messages) and no
warm-up, so every count is exact; nothing here depends on how fast anything is.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from leveret.embedded import Broker
from leveret.perf import PerfConfig, PerfError, run

pytestmark = pytest.mark.leveret_only

RUN_TIMEOUT = 60


def perf_run(url: str, **options: Any) -> dict[str, Any]:
    options.setdefault("warmup", 0)
    options.setdefault("duration", 30)
    return run(PerfConfig(uri=url, **options), log=lambda line: None)


def perf_cli(*args: str, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leveret", "perf", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_clean(result: dict[str, Any]) -> None:
    assert result["error_messages"] == []
    assert "fatal" not in result
    assert "warnings" not in result


def assert_latency_ordered(latency: dict[str, float]) -> None:
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["p999"]
    assert latency["p999"] <= latency["max"]


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_every_message_published_is_received_and_confirmed(
    amqp_broker: Broker, amqp_url: str, amqp_vhost: str
) -> None:
    result = perf_run(amqp_url, pmessages=500, confirm=50, prefetch=20, size=64)
    assert_clean(result)
    totals = result["totals"]
    assert totals == {"sent": 500, "received": 500, "confirmed": 500, "nacked": 0, "returned": 0}
    # No warm-up: the measurement window saw the whole run, and every body carried a stamp.
    assert (result["sent"], result["received"], result["confirmed"]) == (500, 500, 500)
    assert result["latency_us"]["n"] == 500
    assert_latency_ordered(result["latency_us"])
    # The tool deleted its queue and closed all its connections.
    assert amqp_broker.queues(amqp_vhost) == []
    wait_for(lambda: amqp_broker.connections(amqp_vhost) == [])


def test_without_consumers_the_default_is_the_open_loop(
    amqp_broker: Broker, amqp_url: str, amqp_vhost: str
) -> None:
    # More than the default window of 1000: a closed loop would stop at 1000.
    result = perf_run(amqp_url, consumers=0, pmessages=1500, keep=True, queue_prefix="open")
    assert_clean(result)
    assert result["config"]["max_backlog"] == 0
    assert amqp_broker.message_count("open-0", amqp_vhost) == 1500


def test_what_is_published_is_what_the_broker_holds(
    amqp_broker: Broker, amqp_url: str, amqp_vhost: str
) -> None:
    result = perf_run(
        amqp_url,
        consumers=0,
        pmessages=40,
        size=10_000,
        frame_max=8192,  # bodies go out in two frames
        persistent=True,
        durable=True,
        confirm=10,
        keep=True,
        queue_prefix="kept",
    )
    assert_clean(result)
    assert result["totals"]["sent"] == result["totals"]["confirmed"] == 40
    (queue,) = amqp_broker.queues(amqp_vhost)
    assert (queue.name, queue.durable, queue.messages_ready) == ("kept-0", True, 40)
    before = time.monotonic_ns()
    for message in amqp_broker.peek("kept-0", amqp_vhost):
        assert len(message.body) == 10_000
        assert message.properties.delivery_mode == 2
        (stamp,) = struct.unpack(">Q", message.body[:8])
        assert 0 < stamp < before  # the sender's time.monotonic_ns()
        assert message.body[8:] == (bytes(range(97, 123)) * 400)[8:10_000]  # "ijk...z", "ab..."


def test_fanout_multi_process_counts(amqp_broker: Broker, amqp_url: str, amqp_vhost: str) -> None:
    result = perf_run(
        amqp_url,
        producers=2,
        consumers=3,
        queues=3,
        exchange="fanout",
        pmessages=200,
        prefetch=10,
        multi_ack=4,
        producer_processes=2,
        consumer_processes=2,
    )
    assert_clean(result)
    # Each publish reaches all three queues, each read by one consumer.
    assert result["totals"]["sent"] == 400
    assert result["totals"]["received"] == 1200
    assert result["latency_us"]["n"] == 1200
    assert result["client"]["processes"] == 5
    assert amqp_broker.queues(amqp_vhost) == []


@pytest.mark.parametrize("exchange", ["default", "direct", "topic"])
def test_routing_spreads_producers_over_queues(amqp_url: str, exchange: str) -> None:
    result = perf_run(
        amqp_url, producers=3, consumers=2, queues=2, exchange=exchange, pmessages=50, autoack=True
    )
    assert_clean(result)
    assert result["totals"]["sent"] == 150
    assert result["totals"]["received"] == 150


def test_small_bodies_carry_no_timestamp(amqp_url: str) -> None:
    result = perf_run(amqp_url, pmessages=100, size=4, autoack=True, rate=2000)
    assert_clean(result)
    assert result["totals"]["received"] == 100
    assert result["latency_us"]["n"] == 0


def test_json_output(amqp_url: str) -> None:
    done = perf_cli(
        "--uri", amqp_url, "--json", "--pmessages", "200", "--warmup", "0", "--confirm", "20"
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["tool"] == "leveret-perf"
    assert result["totals"]["received"] == result["totals"]["confirmed"] == 200
    assert result["config"]["max_backlog"] == 1000  # closed loop by default: 1000 x queues
    assert_latency_ordered(result["latency_us"])


def test_text_output(amqp_url: str) -> None:
    done = perf_cli("--uri", amqp_url, "--pmessages", "100", "--warmup", "0", "--open-loop")
    assert done.returncode == 0, done.stderr
    assert "open loop" in done.stdout
    assert "received" in done.stdout
    assert "p99.9" in done.stdout


def test_refused_connection_fails_readably() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nobody listens on the port any more.
    done = perf_cli("--uri", f"amqp://guest:guest@127.0.0.1:{port}/", timeout=30)
    assert done.returncode == 1
    assert f"cannot connect to 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("http://127.0.0.1:5672/", "only amqp:// is supported"),
        ("amqp://127.0.0.1:notaport/", "invalid URI"),
        ("amqp://127.0.0.1/a/b", "%2F"),
    ],
)
def test_bad_uri_is_a_usage_error(uri: str, message: str) -> None:
    done = perf_cli("--uri", uri, timeout=30)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_wrong_password_reports_the_broker_reply(amqp_broker: Broker, amqp_vhost: str) -> None:
    url = amqp_broker.url_for(amqp_vhost, password="not-the-password")
    done = perf_cli("--uri", url, timeout=30)
    assert done.returncode == 1
    assert "403" in done.stderr
    assert "ACCESS_REFUSED" in done.stderr


def test_topology_refused_by_broker(amqp_broker: Broker, amqp_url: str, amqp_vhost: str) -> None:
    perf_run(amqp_url, consumers=0, pmessages=1, keep=True, queue_prefix="q")
    with pytest.raises(PerfError) as failure:
        perf_run(amqp_url, pmessages=1, durable=True, queue_prefix="q")
    assert "406 PRECONDITION_FAILED" in str(failure.value)
    # The queue was not the run's own: it is left alone.
    assert [q.name for q in amqp_broker.queues(amqp_vhost)] == ["q-0"]


def test_connection_closed_by_broker_mid_run(
    amqp_broker: Broker, amqp_url: str, amqp_vhost: str
) -> None:
    # Popen as a context manager closes the pipes even when the test fails: left open,
    # they would fail a later test with a ResourceWarning.
    with subprocess.Popen(
        [sys.executable, "-m", "leveret", "perf", "--uri", amqp_url, "--duration", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            wait_for(lambda: len(amqp_broker.connections(amqp_vhost)) >= 3)
            amqp_broker.close_connections(amqp_vhost, reason="perf test")
            out, err = proc.communicate(timeout=RUN_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 1
    assert "320 CONNECTION_FORCED" in out  # in the summary's error lines
    assert "320" in err
    assert "CONNECTION_FORCED" in err
    assert "perf test" in err
    assert "Traceback" not in err
    # The coordinator's own connection was closed too: it tore down on a new one.
    assert "warning" not in out
    assert amqp_broker.queues(amqp_vhost) == []


def test_ctrl_c_stops_cleanly(amqp_broker: Broker, amqp_url: str, amqp_vhost: str) -> None:
    # A new session, so that the signal can go to the whole process group as a terminal's
    # Ctrl-C does.
    # It must work even when this test runs with SIGINT ignored (a background job,
    # ``nohup``): the child inherits that, and ``leveret perf`` restores Ctrl-C itself.
    with subprocess.Popen(
        [sys.executable, "-m", "leveret", "perf", "--uri", amqp_url, "--duration", "60", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            wait_for(lambda: len(amqp_broker.connections(amqp_vhost)) >= 3)
            time.sleep(0.3)
            os.killpg(proc.pid, signal.SIGINT)
            out, err = proc.communicate(timeout=RUN_TIMEOUT)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)  # its workers too
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    result = json.loads(out)
    assert result["interrupted"] is True
    assert result["error_messages"] == []
    assert amqp_broker.queues(amqp_vhost) == []
    wait_for(lambda: amqp_broker.connections(amqp_vhost) == [])


def test_blocked_connections_are_counted(amqp_broker: Broker, amqp_url: str) -> None:
    amqp_broker.set_memory_alarm(True)
    try:
        result = perf_run(amqp_url, pmessages=10, duration=1.0)
    finally:
        amqp_broker.set_memory_alarm(False)
    # Publishers heard connection.blocked (at their first publish under the alarm).
    assert result["blocked_events"] >= 1
