"""Durability across kill -9 and clean restarts, against a real ``leveret serve`` process.

The crash test proper lives in ``scripts/crash_test.py`` (see docs/durability-testing.md);
here it runs in a short form. The other tests pin down restart behaviour exactly.
Set ``LEVERET_CRASH_SEED`` to replay a crash-test seed.
"""

from __future__ import annotations

import importlib.util
import os
import random
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pika
import pika.exceptions
import pytest
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

pytestmark = pytest.mark.leveret_only

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "crash_test.py"


def _load_script() -> ModuleType:
    name = "leveret_crash_test_script"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


crash = _load_script()

PERSISTENT = pika.BasicProperties(delivery_mode=2)
TRANSIENT = pika.BasicProperties(delivery_mode=1)


@pytest.fixture
def new_broker(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Makes ``BrokerProcess`` objects; every one still running is killed at teardown."""
    made: list[Any] = []

    def make(data_dir: Path | None = None, name: str = "broker") -> Any:
        broker = crash.BrokerProcess(data_dir or tmp_path / "data", tmp_path / f"logs-{name}")
        made.append(broker)
        return broker

    yield make
    for broker in made:
        broker.kill9()


def _connect(broker: Any) -> BlockingConnection:
    return BlockingConnection(broker.params())


def _publish_confirmed(
    channel: BlockingChannel, queue: str, body: str, props: pika.BasicProperties
) -> None:
    channel.basic_publish("", queue, body.encode(), props, mandatory=True)


def _get_all(channel: BlockingChannel, queue: str) -> list[tuple[str, bool]]:
    """basic.get and ack until empty: (body, redelivered) in order."""
    got = []
    while True:
        method, _props, body = channel.basic_get(queue, auto_ack=False)
        if method is None:
            return got
        got.append((body.decode(), bool(method.redelivered)))
        channel.basic_ack(method.delivery_tag)


def _assert_gone(connection: BlockingConnection, kind: str, name: str) -> None:
    channel = connection.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as closed:
        if kind == "queue":
            channel.queue_declare(name, passive=True)
        else:
            channel.exchange_declare(name, passive=True)
    assert closed.value.reply_code == 404


@pytest.mark.timeout(90)
def test_kill9_loses_no_confirmed_message() -> None:
    """Short crash test: 3 SIGKILLs under load; every confirmed message comes out of
    every queue it was routed to, nothing unexpected, redelivered flags honest."""
    seed = int(os.environ.get("LEVERET_CRASH_SEED", random.SystemRandom().randrange(2**31)))
    config = crash.CrashConfig(
        kills=3,
        seconds=3.0,
        min_seconds=1.0,
        publishers=2,
        consumers=2,
        seed=seed,
        message_size=512,
        backlog=0.3,
        drain_timeout=30.0,
        quiet=True,
    )
    result = crash.run(config)
    print(result.report())
    assert result.ok, result.report()
    assert result.kills == 3
    assert result.confirmed > 0
    assert result.received >= result.confirmed  # fanout: most ids arrive in two queues


def test_clean_restart_keeps_exactly_the_unacked_messages_in_order(
    new_broker: Callable[..., Any],
) -> None:
    broker = new_broker()
    broker.start()
    n, held = 200, 5
    connection = _connect(broker)
    channel = connection.channel()
    channel.confirm_delivery()
    channel.queue_declare("keep", durable=True)
    channel.queue_declare("scratch", durable=False)
    channel.exchange_declare("scratch.x", exchange_type="fanout", durable=False)
    channel.exchange_declare("keep.x", exchange_type="fanout", durable=True)
    channel.queue_bind("keep", "keep.x", routing_key="")
    for i in range(n):
        _publish_confirmed(channel, "keep", f"m{i}", PERSISTENT)
        if i % 4 == 0:
            _publish_confirmed(channel, "keep", f"t{i}", TRANSIENT)
    for i in range(10):
        _publish_confirmed(channel, "scratch", f"s{i}", PERSISTENT)

    # Ack the first half of the persistent messages (and the transient ones among them).
    acked = 0
    while acked < n // 2:
        method, _props, body = channel.basic_get("keep", auto_ack=False)
        assert method is not None
        channel.basic_ack(method.delivery_tag)
        if body.startswith(b"m"):
            acked += 1
    # Take a few more without acking: delivered, unacked when the broker stops.
    holding = []
    while len(holding) < held:
        method, _props, body = channel.basic_get("keep", auto_ack=False)
        assert method is not None
        if body.startswith(b"m"):
            holding.append(body.decode())
    assert holding == [f"m{i}" for i in range(n // 2, n // 2 + held)]

    assert broker.terminate() == 0
    crash.safe_close(connection)
    broker.start()

    connection = _connect(broker)
    try:
        channel = connection.channel()
        got = _get_all(channel, "keep")
        assert [body for body, _ in got] == [f"m{i}" for i in range(n // 2, n)]
        assert [body for body, redelivered in got if redelivered] == holding
        _assert_gone(connection, "queue", "scratch")
        _assert_gone(connection, "exchange", "scratch.x")
        channel = connection.channel()
        channel.exchange_declare("keep.x", passive=True)  # durable exchange survives
        channel.confirm_delivery()
        channel.basic_publish("keep.x", "", b"via-binding", PERSISTENT, mandatory=True)
        assert _get_all(channel, "keep") == [("via-binding", False)]
    finally:
        crash.safe_close(connection)

    # Everything was acked: a further clean restart brings nothing back.
    assert broker.terminate() == 0
    broker.start()
    connection = _connect(broker)
    try:
        assert _get_all(connection.channel(), "keep") == []
    finally:
        crash.safe_close(connection)
    assert broker.terminate() == 0


def test_unacked_at_kill9_come_back_redelivered(new_broker: Callable[..., Any]) -> None:
    broker = new_broker()
    broker.start()
    connection = _connect(broker)
    channel = connection.channel()
    channel.confirm_delivery()
    channel.queue_declare("work", durable=True)
    for i in range(50):
        _publish_confirmed(channel, "work", f"m{i}", PERSISTENT)
    for _ in range(10):  # m0..m9: acked
        method, _props, _body = channel.basic_get("work", auto_ack=False)
        assert method is not None
        channel.basic_ack(method.delivery_tag)
    unacked = []
    for _ in range(10):  # m10..m19: delivered, never acked
        method, _props, body = channel.basic_get("work", auto_ack=False)
        assert method is not None and not method.redelivered
        unacked.append(body.decode())
    # A confirm after the acks and deliveries means one sync cycle wrote them all (the
    # store flushes every buffered record before the fsync that releases a confirm).
    _publish_confirmed(channel, "work", "barrier", PERSISTENT)

    broker.kill9()
    crash.safe_close(connection)
    broker.start()

    connection = _connect(broker)
    try:
        got = _get_all(connection.channel(), "work")
    finally:
        crash.safe_close(connection)
    assert [body for body, _ in got] == [f"m{i}" for i in range(10, 50)] + ["barrier"]
    assert [body for body, redelivered in got if redelivered] == unacked
    assert unacked == [f"m{i}" for i in range(10, 20)]


def test_second_broker_on_same_data_dir_refuses_to_start(
    new_broker: Callable[..., Any], tmp_path: Path
) -> None:
    first = new_broker(name="first")
    first.start()
    second = new_broker(name="second")
    proc = second.spawn()
    code = proc.wait(timeout=30)
    output = second.log_tail()
    assert code != 0, output
    assert "in use by another broker" in output, output
    assert str(tmp_path / "data") in output, output
    assert "Traceback" not in output, output
    assert not crash.port_accepts("127.0.0.1", second.port)
    # The first broker is unharmed and still serves.
    assert first.alive()
    connection = _connect(first)
    try:
        connection.channel().queue_declare("still-here", durable=True)
    finally:
        crash.safe_close(connection)
    assert first.terminate() == 0
