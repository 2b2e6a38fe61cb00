"""kombu's own usage patterns (the layer under Celery), over py-amqp.

``SimpleQueue`` (basic.get and a consumer), a producer with ``confirm_publish``, a consumer
with a prefetch count, both values of ``basic.qos`` ``global``, and py-amqp's encoding of
large integers in field tables (what Celery's native delayed delivery declares).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import amqp.exceptions
import kombu
import kombu.simple
import pytest

from .conftest import Cleanup

DRAIN_QUIET = 0.4  # seconds without a delivery after which a drain is considered done


@pytest.fixture
def kombu_connect(broker_url: str) -> Iterator[Callable[..., kombu.Connection]]:
    opened: list[kombu.Connection] = []

    def make(**kwargs: Any) -> kombu.Connection:
        conn = kombu.Connection(broker_url, connect_timeout=10, **kwargs)
        conn.connect()
        opened.append(conn)
        return conn

    yield make
    for conn in opened:
        conn.release()


def _drain(conn: kombu.Connection, quiet: float = DRAIN_QUIET, limit: float = 5.0) -> None:
    """Process deliveries until none arrived for ``quiet`` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            conn.drain_events(timeout=quiet)
        except TimeoutError:  # socket.timeout
            return


def _message_count(conn: kombu.Connection, queue: str) -> int:
    channel = conn.channel()
    try:
        _name, count, _consumers = channel.queue_declare(queue=queue, passive=True)
        return int(count)
    finally:
        channel.close()


def _fill(conn: kombu.Connection, queue: kombu.Queue, count: int, prefix: str = "m") -> None:
    with conn.Producer() as producer:
        for i in range(count):
            producer.publish(
                {"n": i, "tag": prefix},
                routing_key=queue.name,
                declare=[queue],
                serializer="json",
            )


# ----------------------------------------------------------------------------- SimpleQueue


def test_simple_queue_basic_get_and_consume(
    kombu_connect: Callable[..., kombu.Connection],
    unique_name: Callable[..., str],
    cleanup: Cleanup,
) -> None:
    conn = kombu_connect()
    name = cleanup.queue(unique_name("simple"))
    cleanup.exchange(name)
    with conn.SimpleQueue(name, serializer="json") as simple:
        simple.put({"i": "purged"})
        assert _wait_count(conn, name, 1) == 1
        assert simple.clear() == 1
        assert simple.qsize() == 0
        with pytest.raises(simple.Empty):
            simple.get_nowait()

        for i in range(4):
            simple.put({"i": i})
        assert _wait_count(conn, name, 4) == 4
        assert len(simple) == 4

        # get_nowait is basic.get
        first = simple.get_nowait()
        assert first.payload == {"i": 0}
        assert not first.delivery_info["redelivered"]
        first.ack()
        second = simple.get_nowait()
        assert second.payload == {"i": 1}
        second.requeue()
        again = simple.get_nowait()
        assert again.payload == {"i": 1}
        assert again.delivery_info["redelivered"]
        again.ack()
        assert simple.qsize() == 2

        # get(block=True) starts a consumer (basic.consume) and waits on it
        third = simple.get(block=True, timeout=5)
        assert third.payload == {"i": 2}
        fourth = simple.get(block=True, timeout=5)
        assert fourth.payload == {"i": 3}
        with pytest.raises(simple.Empty):
            simple.get(block=True, timeout=0.3)
        fourth.ack()
        third.ack()
        assert simple.qsize() == 0


def _wait_count(conn: kombu.Connection, queue: str, want: int, timeout: float = 5) -> int:
    deadline = time.monotonic() + timeout
    while True:
        count = _message_count(conn, queue)
        if count >= want or time.monotonic() > deadline:
            return count
        time.sleep(0.02)


# ----------------------------------------------------------------------------- confirms


def test_producer_with_confirm_publish(
    kombu_connect: Callable[..., kombu.Connection],
    unique_name: Callable[..., str],
    cleanup: Cleanup,
) -> None:
    conn = kombu_connect(transport_options={"confirm_publish": True})
    queue = kombu.Queue(cleanup.queue(unique_name("confirm")))
    returned: list[Any] = []
    with conn.Producer(on_return=lambda exc, *rest: returned.append(exc)) as producer:
        for i in range(25):
            # With confirm_publish, publish() returns once the broker acked the message.
            producer.publish({"n": i}, routing_key=queue.name, declare=[queue], retry=False)
        # Confirmed messages are routed: no waiting needed.
        assert _message_count(conn, queue.name) == 25

        # Unroutable + mandatory: basic.return arrives before the basic.ack.
        producer.publish(
            {"n": "lost"}, routing_key=unique_name("nowhere"), mandatory=True, retry=False
        )
        assert len(returned) == 1
        assert "NO_ROUTE" in str(returned[0])

    # Publishing to a missing exchange: the channel error surfaces from the confirm wait.
    with conn.Producer() as producer, pytest.raises(amqp.exceptions.NotFound):
        producer.publish(
            {"n": "x"},
            exchange=kombu.Exchange(unique_name("missing-ex"), type="direct"),
            routing_key="rk",
            retry=False,
        )


# ----------------------------------------------------------------------------- prefetch


def test_consumer_prefetch_count_limits_unacked_deliveries(
    kombu_connect: Callable[..., kombu.Connection],
    unique_name: Callable[..., str],
    cleanup: Cleanup,
) -> None:
    conn = kombu_connect()
    queue = kombu.Queue(cleanup.queue(unique_name("prefetch")))
    _fill(conn, queue, 6)
    assert _wait_count(conn, queue.name, 6) == 6
    received: list[kombu.Message] = []
    with kombu.Consumer(
        conn.channel(), queues=[queue], prefetch_count=2, on_message=received.append
    ):
        _drain(conn)
        assert [m.payload["n"] for m in received] == [0, 1]
        received[0].ack()
        _drain(conn)
        assert [m.payload["n"] for m in received] == [0, 1, 2]
        for message in received[1:]:
            message.ack()
        _drain(conn)
        assert [m.payload["n"] for m in received] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(("apply_global", "expected"), [(False, 2), (True, 1)])
def test_basic_qos_global_flag(
    apply_global: bool,
    expected: int,
    kombu_connect: Callable[..., kombu.Connection],
    unique_name: Callable[..., str],
    cleanup: Cleanup,
) -> None:
    """RabbitMQ's reading of basic.qos: global=false limits each consumer (so two consumers
    get one message each), global=true limits the channel as a whole (one message)."""
    conn = kombu_connect()
    queues = [kombu.Queue(cleanup.queue(unique_name(f"qos{i}"))) for i in range(2)]
    for queue in queues:
        _fill(conn, queue, 3, prefix=queue.name)
        assert _wait_count(conn, queue.name, 3) == 3
    channel = conn.channel()
    channel.basic_qos(prefetch_size=0, prefetch_count=1, a_global=apply_global)
    received: list[kombu.Message] = []
    consumers = [
        kombu.Consumer(channel, queues=[queue], on_message=received.append) for queue in queues
    ]
    for consumer in consumers:
        consumer.consume()
    try:
        _drain(conn)
        assert len(received) == expected, [m.payload for m in received]
        first_tags = {m.payload["tag"] for m in received}
        # Acking frees a slot: exactly `expected` more arrive.
        for message in list(received):
            message.ack()
        _drain(conn)
        assert len(received) == 2 * expected
        if not apply_global:
            assert first_tags == {q.name for q in queues}
    finally:
        for consumer in consumers:
            consumer.cancel()


def test_large_integers_in_field_tables(
    kombu_connect: Callable[..., kombu.Connection],
    unique_name: Callable[..., str],
    cleanup: Cleanup,
) -> None:
    """Celery's native delayed delivery declares x-message-ttl = 2**27 * 1000 ms."""
    conn = kombu_connect()
    big = 2**27 * 1000
    queue = kombu.Queue(
        cleanup.queue(unique_name("bigint")), queue_arguments={"x-message-ttl": big}
    )
    with conn.Producer() as producer:
        producer.publish(
            {"n": 1},
            routing_key=queue.name,
            declare=[queue],
            headers={"big": 2**40, "negative": -(2**35)},
            retry=False,
        )
    with conn.SimpleQueue(queue) as simple:
        message = simple.get(block=True, timeout=5)
        message.ack()
    assert message.headers["big"] == 2**40
    assert message.headers["negative"] == -(2**35)
