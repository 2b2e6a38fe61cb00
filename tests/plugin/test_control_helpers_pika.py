"""The broker's test-control helpers, driven by pika over real sockets (plugin fixtures)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

import pika
import pika.exceptions
import pytest
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

from leveret import Broker
from leveret.embedded import NotFound


@pytest.fixture
def pika_connect(amqp_url: str) -> Iterator[Callable[[], BlockingConnection]]:
    opened: list[BlockingConnection] = []

    def connect() -> BlockingConnection:
        params = pika.URLParameters(amqp_url)
        params.connection_attempts = 1
        params.socket_timeout = 5
        conn = pika.BlockingConnection(params)
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        if conn.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError):  # the broker closed it
                conn.close()


@pytest.fixture
def channel(pika_connect: Callable[[], BlockingConnection]) -> BlockingChannel:
    return pika_connect().channel()


def publish(ch: BlockingChannel, queue: str, *bodies: bytes, **props: object) -> None:
    for body in bodies:
        ch.basic_publish("", queue, body, pika.BasicProperties(**props))  # type: ignore[arg-type]


def test_queues_list_depths_per_vhost(
    amqp_broker: Broker, amqp_vhost: str, channel: BlockingChannel
) -> None:
    channel.queue_declare("orders", durable=True)
    channel.queue_declare("audit", arguments={"x-max-length": 10})
    publish(channel, "orders", b"1", b"2", b"3")
    publish(channel, "audit", b"a")

    infos = {q.name: q for q in amqp_broker.queues(amqp_vhost)}
    assert set(infos) == {"orders", "audit"}
    assert infos["orders"].messages_ready == 3
    assert infos["orders"].durable
    assert infos["audit"].messages_ready == 1
    assert infos["audit"].arguments == {"x-max-length": 10}
    assert amqp_broker.message_count("orders", amqp_vhost) == 3
    # Another vhost, including the default one, does not see them.
    assert all(q.vhost != amqp_vhost for q in amqp_broker.queues("/"))
    assert {q.vhost for q in amqp_broker.queues(None) if q.name == "orders"} >= {amqp_vhost}


def test_unacked_and_consumers_are_counted(
    amqp_broker: Broker, amqp_vhost: str, channel: BlockingChannel
) -> None:
    channel.queue_declare("jobs")
    publish(channel, "jobs", b"1", b"2", b"3")
    method, _, _ = channel.basic_get("jobs")
    assert method is not None
    (info,) = amqp_broker.queues(amqp_vhost)
    assert (info.messages_ready, info.messages_unacknowledged, info.messages) == (2, 1, 3)
    channel.basic_qos(prefetch_count=1)
    channel.basic_consume("jobs", lambda *args: None)
    (info,) = amqp_broker.queues(amqp_vhost)
    assert info.consumers == 1
    assert (info.messages_ready, info.messages_unacknowledged) == (1, 2)


def test_peek_does_not_consume(
    amqp_broker: Broker, amqp_vhost: str, channel: BlockingChannel
) -> None:
    channel.queue_declare("inbox")
    publish(channel, "inbox", b"first", content_type="text/plain", headers={"n": 1})
    publish(channel, "inbox", b"second")

    peeked = amqp_broker.peek("inbox", amqp_vhost)
    assert [m.body for m in peeked] == [b"first", b"second"]
    assert peeked[0].content_type == "text/plain"
    assert peeked[0].headers == {"n": 1}
    assert peeked[0].routing_key == "inbox"
    assert peeked[0].exchange == ""
    assert not peeked[0].redelivered
    assert [m.body for m in amqp_broker.peek("inbox", amqp_vhost, limit=1)] == [b"first"]

    # Still there, in order, for a real consumer; and mutating a peeked copy is harmless.
    peeked[0].headers["n"] = 2
    peeked[0].properties.headers = {"changed": True}
    method, props, body = channel.basic_get("inbox", auto_ack=True)
    assert method is not None
    assert body == b"first" and props.headers == {"n": 1}


def test_peek_shows_redelivered_after_requeue(
    amqp_broker: Broker, amqp_vhost: str, channel: BlockingChannel
) -> None:
    channel.queue_declare("retry")
    publish(channel, "retry", b"x")
    method, _, _ = channel.basic_get("retry")
    assert method is not None and amqp_broker.peek("retry", amqp_vhost) == []
    channel.basic_nack(method.delivery_tag, requeue=True)
    (message,) = amqp_broker.peek("retry", amqp_vhost)
    assert message.redelivered


def test_unknown_queue_or_vhost(amqp_broker: Broker, amqp_vhost: str) -> None:
    with pytest.raises(NotFound, match="no queue 'missing'"):
        amqp_broker.peek("missing", amqp_vhost)
    with pytest.raises(NotFound, match="no vhost"):
        amqp_broker.queues("no-such-vhost")
    # A queue that does not exist holds nothing: waiting for it to be empty returns at once.
    amqp_broker.wait_until_empty("missing", amqp_vhost, timeout=0.1)


class Worker(threading.Thread):
    """A consumer on its own connection, acking each message after ``delay`` seconds."""

    def __init__(self, url: str, queue: str, delay: float = 0.0, requeue_first: bool = False):
        super().__init__(daemon=True)
        self.url, self.queue, self.delay = url, queue, delay
        self.requeue_first = requeue_first
        self.seen: list[bytes] = []
        self.stopping = threading.Event()
        self.started_consuming = threading.Event()

    def run(self) -> None:
        conn = pika.BlockingConnection(pika.URLParameters(self.url))
        ch = conn.channel()
        ch.basic_qos(prefetch_count=1)

        def on_message(
            ch: BlockingChannel,
            method: pika.spec.Basic.Deliver,
            props: pika.BasicProperties,
            body: bytes,
        ) -> None:
            time.sleep(self.delay)
            self.seen.append(body)
            if self.requeue_first and not method.redelivered:
                ch.basic_nack(method.delivery_tag, requeue=True)
            else:
                ch.basic_ack(method.delivery_tag)

        ch.basic_consume(self.queue, on_message)
        self.started_consuming.set()
        while not self.stopping.is_set():
            conn.process_data_events(time_limit=0.02)
        conn.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)


def test_wait_until_empty_while_a_consumer_works(
    amqp_broker: Broker, amqp_vhost: str, amqp_url: str, channel: BlockingChannel
) -> None:
    channel.queue_declare("work")
    publish(channel, "work", *(str(i).encode() for i in range(20)))
    worker = Worker(amqp_url, "work", delay=0.005)
    worker.start()
    try:
        amqp_broker.wait_until_empty("work", amqp_vhost, include_unacked=True, timeout=10)
        assert len(worker.seen) == 20
        assert amqp_broker.queues(amqp_vhost)[0].messages == 0
    finally:
        worker.stop()


def test_wait_until_empty_times_out_with_what_is_left(
    amqp_broker: Broker, amqp_vhost: str, channel: BlockingChannel
) -> None:
    channel.queue_declare("stuck")
    publish(channel, "stuck", b"a", b"b")
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"'stuck' .* still holds 2 messages after 0\.1 s"):
        amqp_broker.wait_until_empty("stuck", amqp_vhost, timeout=0.1)
    assert time.monotonic() - started < 1.0
    channel.basic_get("stuck")
    channel.basic_get("stuck")
    # Ready messages are gone; only with include_unacked do the two deliveries count.
    amqp_broker.wait_until_empty("stuck", amqp_vhost, timeout=0.1)
    with pytest.raises(TimeoutError, match="0 ready and 2 unacknowledged"):
        amqp_broker.wait_until_empty("stuck", amqp_vhost, include_unacked=True, timeout=0.05)


def test_wait_for_ack_of_one_message(
    amqp_broker: Broker, amqp_vhost: str, amqp_url: str, channel: BlockingChannel
) -> None:
    channel.queue_declare("mail")
    publish(channel, "mail", b"keep-me")  # nobody acks this one
    channel.basic_get("mail")
    publish(channel, "mail", b"send-me")
    with pytest.raises(TimeoutError, match="1 ready and 0 unacknowledged matching"):
        amqp_broker.wait_for_ack("mail", amqp_vhost, body="send-me", timeout=0.05)

    # A worker that requeues each message once before acking it.
    channel.basic_recover(requeue=True)  # give "keep-me" back too
    worker = Worker(amqp_url, "mail", requeue_first=True)
    worker.start()
    try:
        amqp_broker.wait_for_ack("mail", amqp_vhost, body=b"send-me", timeout=5)
        assert worker.seen.count(b"send-me") == 2  # requeued once, then acked
        amqp_broker.wait_for_ack(
            "mail", amqp_vhost, match=lambda m: m.body.startswith(b"keep"), timeout=5
        )
    finally:
        worker.stop()


def test_wait_for_ack_counts_unacked_delivery(
    amqp_broker: Broker, amqp_vhost: str, channel: BlockingChannel
) -> None:
    channel.queue_declare("pending")
    publish(channel, "pending", b"x")
    method, _, _ = channel.basic_get("pending")
    assert method is not None
    with pytest.raises(TimeoutError, match="0 ready and 1 unacknowledged"):
        amqp_broker.wait_for_ack("pending", amqp_vhost, timeout=0.05)
    channel.basic_ack(method.delivery_tag)
    amqp_broker.wait_for_ack("pending", amqp_vhost, timeout=1)


def test_close_connections_from_the_broker(
    amqp_broker: Broker,
    amqp_vhost: str,
    pika_connect: Callable[[], BlockingConnection],
) -> None:
    first, second = pika_connect(), pika_connect()
    assert len(amqp_broker.connections(amqp_vhost)) == 2
    assert amqp_broker.close_connections(vhost=amqp_vhost, reason="chaos test") == 2
    for conn in (first, second):
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as info:
            conn.process_data_events(time_limit=2)
        assert info.value.reply_code == 320
        assert "chaos test" in info.value.reply_text
    # The client can reconnect at once, and the vhost is still there.
    third = pika_connect()
    third.channel().queue_declare("after")
    assert [c.vhost for c in amqp_broker.connections(amqp_vhost)] == [amqp_vhost]


def test_close_connections_only_on_the_given_vhost(
    amqp_broker: Broker, amqp_vhost: str, pika_connect: Callable[[], BlockingConnection]
) -> None:
    mine = pika_connect()
    other_vhost = amqp_broker.add_vhost()
    try:
        other = pika.BlockingConnection(pika.URLParameters(amqp_broker.url_for(other_vhost)))
        assert amqp_broker.close_connections(vhost=other_vhost) == 1
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker):
            other.process_data_events(time_limit=2)
        mine.process_data_events(time_limit=0.05)
        assert mine.is_open
    finally:
        amqp_broker.delete_vhost(other_vhost)


def test_memory_alarm_blocks_and_unblocks_clients(
    amqp_broker: Broker, amqp_vhost: str, pika_connect: Callable[[], BlockingConnection]
) -> None:
    conn = pika_connect()
    events: list[str] = []
    conn.add_on_connection_blocked_callback(lambda _conn, frame: events.append("blocked"))
    conn.add_on_connection_unblocked_callback(lambda _conn, frame: events.append("unblocked"))

    def pump_until(count: int) -> None:
        deadline = time.monotonic() + 5
        while len(events) < count and time.monotonic() < deadline:
            conn.process_data_events(time_limit=0.02)

    ch = conn.channel()
    ch.queue_declare("after-alarm")
    amqp_broker.set_memory_alarm(True)
    try:
        # As in RabbitMQ, a connection is blocked (and told) when it publishes.
        ch.basic_publish("", "after-alarm", b"blocked")
        pump_until(1)
        assert events == ["blocked"]
    finally:
        amqp_broker.set_memory_alarm(False)
    pump_until(2)
    assert events == ["blocked", "unblocked"]
    ch.queue_purge("after-alarm")
    # Publishing works again.
    ch.basic_publish("", "after-alarm", b"ok")
    assert amqp_broker.message_count("after-alarm", amqp_vhost) == 1


def test_vhost_name_is_quoted_in_urls(amqp_broker: Broker) -> None:
    name = amqp_broker.add_vhost("team/a b%c")
    try:
        url = amqp_broker.url_for(name)
        assert url.endswith("/team%2Fa%20b%25c")
        conn = pika.BlockingConnection(pika.URLParameters(url))
        conn.channel().queue_declare("q")
        conn.close()
        assert [q.name for q in amqp_broker.queues(name)] == ["q"]
    finally:
        amqp_broker.delete_vhost(name)
    assert name not in amqp_broker.vhosts()


def test_deleting_a_vhost_closes_its_connections(amqp_broker: Broker) -> None:
    name = amqp_broker.add_vhost()
    conn = pika.BlockingConnection(pika.URLParameters(amqp_broker.url_for(name)))
    try:
        amqp_broker.delete_vhost(name, reason="test finished")
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as info:
            conn.process_data_events(time_limit=2)
        assert info.value.reply_code == 320
        assert "test finished" in info.value.reply_text
        assert name not in amqp_broker.vhosts()
        # Nobody can open it any more.
        with pytest.raises(pika.exceptions.AMQPConnectionError):
            pika.BlockingConnection(pika.URLParameters(amqp_broker.url_for(name)))
    finally:
        if conn.is_open:
            conn.close()


def test_memory_usage_counts_what_clients_make_the_broker_hold(
    amqp_broker: Broker, amqp_vhost: str, pika_connect: Callable[[], BlockingConnection]
) -> None:
    body = b"m" * 100_000
    before = amqp_broker.memory_usage()
    ch = pika_connect().channel()
    ch.queue_declare("heavy")
    for _ in range(50):
        ch.basic_publish("", "heavy", body)
    ch.queue_declare("heavy", passive=True)  # a round trip: every publish has arrived
    queued = amqp_broker.memory_usage()
    # The bodies plus a few hundred bytes of bookkeeping per message.
    assert 50 * len(body) <= queued.queues - before.queues < 50 * (len(body) + 1000)
    assert queued.connections > 0  # at least this test's connection
    assert queued.held == queued.queues + queued.unacked + queued.connections
    assert queued.watermark > queued.baseline > 0
    assert not queued.alarm

    ch.basic_qos(prefetch_count=10)
    ch.basic_consume("heavy", lambda *_: None)  # holds its 10 deliveries, never acks
    deadline = time.monotonic() + 5
    while amqp_broker.queues(amqp_vhost)[0].messages_unacknowledged < 10:
        assert time.monotonic() < deadline, "the consumer got fewer than 10 deliveries"
        ch.connection.process_data_events(time_limit=0.02)
    delivered = amqp_broker.memory_usage()
    assert 10 * len(body) <= delivered.unacked - before.unacked < 10 * (len(body) + 1000)
    assert 40 * len(body) <= delivered.queues - before.queues < 40 * (len(body) + 1000)

    # An alarm raised by hand shows as in force, as one raised by the broker's check.
    amqp_broker.set_memory_alarm(True)
    try:
        assert amqp_broker.memory_usage().alarm
    finally:
        amqp_broker.set_memory_alarm(False)
    assert not amqp_broker.memory_usage().alarm
