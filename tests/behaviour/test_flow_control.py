"""Open-loop publishing: a publisher faster than its consumer must not starve it.

RabbitMQ's credit flow slows such a publisher by not reading its socket; Leveret pauses a
publisher into a queue whose consumers fall behind, and serves every connection in turn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pika
import pytest

from leveret import Broker
from leveret.perf import PerfConfig, run

from .helpers import pump, pump_until, wait_for


def test_open_loop_publisher_does_not_starve_its_consumer(
    broker_url: str, unique_name: Callable[..., str]
) -> None:
    result = run(
        PerfConfig(
            uri=broker_url,
            queue_prefix=unique_name("flow"),
            size=16,
            prefetch=100,
            max_backlog=0,  # open loop: publish as fast as the socket takes it
            warmup=1.0,
            duration=3.0,
        )
    )
    assert result["errors"] == 0, result["error_messages"]
    assert result["sent"] > 0
    # Starved, the consumer got about 0.1% of what was published (a few hundred messages a
    # second against a hundred thousand); served fairly, it gets 40-100% on an idle machine.
    # The margin leaves room for a busy CI machine.
    assert result["received"] > 0.1 * result["sent"], (result["sent"], result["received"])


# --------------------------------------------------------------------------------------
# Resource alarms. RabbitMQ blocks a connection, and sends it connection.blocked, when it
# publishes while an alarm is in force; connections that only consume are left alone, so
# they keep draining the queues (the way out of a memory alarm). Raising an alarm needs
# the embedded broker's test hook, hence leveret_only.


@pytest.fixture
def alarm_broker() -> Iterator[Broker]:
    with Broker() as broker:
        yield broker


def watch_blocking(conn: pika.BlockingConnection) -> list[str]:
    events: list[str] = []
    conn.add_on_connection_blocked_callback(lambda _conn, _frame: events.append("blocked"))
    conn.add_on_connection_unblocked_callback(lambda _conn, _frame: events.append("unblocked"))
    return events


def connect_to(broker: Broker, blocked_timeout: float) -> pika.BlockingConnection:
    params = pika.URLParameters(broker.url)
    params.blocked_connection_timeout = blocked_timeout
    return pika.BlockingConnection(params)


@pytest.mark.leveret_only
def test_alarm_blocks_the_publisher_and_lets_the_consumer_drain(alarm_broker: Broker) -> None:
    # pika drops a connection that stays blocked longer than blocked_connection_timeout:
    # a consumer told it is blocked would be dropped, exactly the client that helps most.
    consumer = connect_to(alarm_broker, blocked_timeout=1.0)
    publisher = connect_to(alarm_broker, blocked_timeout=30.0)
    try:
        consumer_events = watch_blocking(consumer)
        publisher_events = watch_blocking(publisher)
        cch = consumer.channel()
        cch.queue_declare("work")
        pch = publisher.channel()
        for i in range(10):
            pch.basic_publish("", "work", b"before %d" % i)
        wait_for(lambda: alarm_broker.message_count("work") == 10)
        alarm_broker.set_memory_alarm(True)
        try:
            pch.basic_publish("", "work", b"under alarm")
            pump_until(publisher, lambda: publisher_events, message="connection.blocked")
            assert publisher_events == ["blocked"]
            received: list[bytes] = []

            def on_message(ch: Any, method: Any, _props: Any, body: bytes) -> None:
                received.append(body)
                ch.basic_ack(method.delivery_tag)

            cch.basic_qos(prefetch_count=2)  # deliveries go on only as acks are read
            cch.basic_consume("work", on_message)
            pump_until(consumer, lambda: len(received) == 11, message="11 deliveries")
            assert received[-1] == b"under alarm"
            pump(consumer, 1.5)  # past its blocked_connection_timeout
            assert consumer.is_open
            assert consumer_events == []
            assert alarm_broker.message_count("work") == 0
        finally:
            alarm_broker.set_memory_alarm(False)
        pump_until(publisher, lambda: len(publisher_events) == 2, message="unblocked")
        assert publisher_events == ["blocked", "unblocked"]
        pump(consumer, 0.1)
        assert consumer_events == []
    finally:
        for conn in (consumer, publisher):
            if conn.is_open:
                conn.close()


@pytest.mark.leveret_only
def test_a_past_publisher_is_blocked_at_its_next_publish_not_when_the_alarm_rises(
    alarm_broker: Broker,
) -> None:
    conn = connect_to(alarm_broker, blocked_timeout=30.0)
    try:
        events = watch_blocking(conn)
        ch = conn.channel()
        ch.queue_declare("q")
        ch.basic_publish("", "q", b"before")
        wait_for(lambda: alarm_broker.message_count("q") == 1)
        alarm_broker.set_memory_alarm(True)
        try:
            pump(conn, 0.3)
            assert events == []
            ch.basic_publish("", "q", b"under alarm")
            pump_until(conn, lambda: events, message="connection.blocked")
            assert events == ["blocked"]
        finally:
            alarm_broker.set_memory_alarm(False)
        pump_until(conn, lambda: len(events) == 2, message="connection.unblocked")
        assert events == ["blocked", "unblocked"]
        wait_for(lambda: alarm_broker.message_count("q") == 2)
    finally:
        if conn.is_open:
            conn.close()
