"""Acknowledgements, QoS and requeueing of unacked deliveries."""

from __future__ import annotations

import pika
import pika.exceptions

from .helpers import (
    channel_closed,
    connection_closed,
    get_message,
    pump,
    pump_until,
    unknown_delivery_tag,
    wait_for,
    wait_ready,
)


def _fill(channel, n, prefix=""):
    q = channel.queue_declare("", exclusive=True).method.queue
    for i in range(n):
        channel.basic_publish("", q, f"{prefix}{i}".encode())
    wait_ready(channel, q, n)
    return q


def _ready(channel, q):
    return channel.queue_declare(q, passive=True).method.message_count


def _drain(channel, q):
    """Every ready message, by basic.get with auto-ack: [(body, redelivered)]."""
    out = []
    while True:
        method, _, body = channel.basic_get(q, auto_ack=True)
        if method is None:
            return out
        out.append((body, method.redelivered))


def test_ack_removes_the_message(channel):
    q = _fill(channel, 2)
    method, _, _ = get_message(channel, q)
    channel.basic_ack(method.delivery_tag)
    assert _ready(channel, q) == 1


def test_ack_multiple(connection):
    ch = connection.channel()
    q = _fill(ch, 5)
    tags = [get_message(ch, q)[0].delivery_tag for _ in range(5)]
    assert tags == [1, 2, 3, 4, 5]
    ch.basic_ack(3, multiple=True)
    ch.close()  # 4 and 5 go back
    ch = connection.channel()
    wait_ready(ch, q, 2)
    assert _drain(ch, q) == [(b"3", True), (b"4", True)]


def test_ack_multiple_with_tag_zero_acks_everything(connection):
    ch = connection.channel()
    q = _fill(ch, 3)
    for _ in range(3):
        get_message(ch, q)
    ch.basic_ack(0, multiple=True)
    ch.close()
    ch = connection.channel()
    pump(connection, 0.05)
    assert _ready(ch, q) == 0


def test_nack_requeue_redelivers_at_original_position(connection):
    ch = connection.channel()
    q = _fill(ch, 3)
    tags = [get_message(ch, q)[0].delivery_tag for _ in range(3)]
    ch.basic_nack(tags[1], requeue=True)
    method, _, body = get_message(ch, q)
    assert (body, method.redelivered, method.delivery_tag) == (b"1", True, 4)
    ch.basic_ack(0, multiple=True)


def test_nack_without_requeue_drops(channel):
    q = _fill(channel, 2)
    method, _, _ = get_message(channel, q)
    channel.basic_nack(method.delivery_tag, requeue=False)
    assert _drain(channel, q) == [(b"1", False)]


def test_nack_multiple_requeues_in_order(channel):
    q = _fill(channel, 4)
    for _ in range(3):
        get_message(channel, q)
    channel.basic_nack(3, multiple=True, requeue=True)
    wait_ready(channel, q, 4)
    assert _drain(channel, q) == [(b"0", True), (b"1", True), (b"2", True), (b"3", False)]


def test_reject_requeue_and_drop(channel):
    q = _fill(channel, 2)
    first, _, _ = get_message(channel, q)
    channel.basic_reject(first.delivery_tag, requeue=True)
    again, _, body = get_message(channel, q)
    assert (body, again.redelivered) == (b"0", True)
    channel.basic_reject(again.delivery_tag, requeue=False)
    assert _drain(channel, q) == [(b"1", False)]


def test_ack_unknown_delivery_tag_is_406(connection):
    ch = connection.channel()
    with channel_closed(406, unknown_delivery_tag(42)):
        ch.basic_ack(42)
        ch.queue_declare("", exclusive=True)
    assert connection.is_open


def test_double_ack_is_406(connection):
    ch = connection.channel()
    q = _fill(ch, 1)
    method, _, _ = get_message(ch, q)
    ch.basic_ack(method.delivery_tag)
    with channel_closed(406, unknown_delivery_tag(1)):
        ch.basic_ack(method.delivery_tag)
        ch.queue_declare(q, passive=True)


def test_reject_and_nack_unknown_tag_are_406(connection):
    with channel_closed(406, unknown_delivery_tag(7)):
        ch = connection.channel()
        ch.basic_reject(7)
        ch.queue_declare("", exclusive=True)
    with channel_closed(406, unknown_delivery_tag(8)):
        ch = connection.channel()
        ch.basic_nack(8, multiple=True)
        ch.queue_declare("", exclusive=True)


def test_ack_of_auto_ack_delivery_is_406(connection):
    ch = connection.channel()
    q = _fill(ch, 1)
    method, _, _ = get_message(ch, q, auto_ack=True)
    with channel_closed(406, unknown_delivery_tag(method.delivery_tag)):
        ch.basic_ack(method.delivery_tag)
        ch.queue_declare(q, passive=True)


def test_ack_on_another_channel_is_406(connection):
    ch = connection.channel()
    q = _fill(ch, 1)
    method, _, _ = get_message(ch, q)
    other = connection.channel()
    with channel_closed(406, unknown_delivery_tag(method.delivery_tag)):
        other.basic_ack(method.delivery_tag)
        other.queue_declare(q, passive=True)
    ch.basic_ack(method.delivery_tag)


def test_unknown_tag_error_requeues_the_channel_unacked(connection):
    ch = connection.channel()
    q = _fill(ch, 2)
    get_message(ch, q)
    get_message(ch, q)
    with channel_closed(406, unknown_delivery_tag(99)):
        ch.basic_ack(99)
        ch.queue_declare(q, passive=True)
    ch = connection.channel()
    wait_ready(ch, q, 2)
    assert _drain(ch, q) == [(b"0", True), (b"1", True)]


def test_recover_requeues_unacked(connection):
    ch = connection.channel()
    q = _fill(ch, 2)
    get_message(ch, q)
    get_message(ch, q)
    ch.basic_recover(requeue=True)
    wait_ready(ch, q, 2)
    assert _drain(ch, q) == [(b"0", True), (b"1", True)]


def test_recover_without_requeue_is_not_implemented(connection):
    ch = connection.channel()
    with connection_closed(540, "NOT_IMPLEMENTED - requeue=false"):
        ch.basic_recover(requeue=False)


def test_unacked_requeued_on_channel_close_in_original_order(connection):
    ch = connection.channel()
    q = _fill(ch, 6)
    got = [get_message(ch, q) for _ in range(4)]
    assert [b for _, _, b in got] == [b"0", b"1", b"2", b"3"]
    ch.basic_ack(got[1][0].delivery_tag)
    ch.close()
    ch = connection.channel()
    wait_ready(ch, q, 5)
    assert _drain(ch, q) == [
        (b"0", True),
        (b"2", True),
        (b"3", True),
        (b"4", False),
        (b"5", False),
    ]


def test_unacked_requeued_on_connection_close(connect):
    conn = connect()
    ch = conn.channel()
    q = ch.queue_declare("", auto_delete=False).method.queue
    try:
        for i in range(3):
            ch.basic_publish("", q, str(i).encode())
        consumer = connect()
        cch = consumer.channel()
        received = []
        cch.basic_consume(q, lambda c, m, p, b: received.append(b))
        pump_until(consumer, lambda: len(received) == 3, message="3 deliveries")
        consumer.close()
        wait_ready(ch, q, 3)
        assert _drain(ch, q) == [(b"0", True), (b"1", True), (b"2", True)]
    finally:
        ch.queue_delete(q)


def test_prefetch_count_limits_unacked_per_consumer(connection):
    ch = connection.channel()
    q = _fill(ch, 10)
    ch.basic_qos(prefetch_count=3)
    received = []
    ch.basic_consume(q, lambda c, m, p, b: received.append(m.delivery_tag))
    pump_until(connection, lambda: len(received) == 3, message="3 deliveries")
    pump(connection, 0.1)
    assert len(received) == 3
    ch.basic_ack(received[0])
    pump_until(connection, lambda: len(received) == 4, message="4th delivery")
    ch.basic_ack(received[-1], multiple=True)
    pump_until(connection, lambda: len(received) == 7, message="3 more deliveries")
    pump(connection, 0.1)
    assert len(received) == 7


def test_per_consumer_prefetch_applies_to_each_consumer(connection):
    ch = connection.channel()
    q = _fill(ch, 10)
    ch.basic_qos(prefetch_count=2)
    received: dict[str, int] = {"a": 0, "b": 0}
    for name in received:
        ch.basic_consume(
            q, lambda c, m, p, b, name=name: received.__setitem__(name, received[name] + 1)
        )
    pump_until(connection, lambda: sum(received.values()) == 4, message="4 deliveries")
    pump(connection, 0.1)
    assert received == {"a": 2, "b": 2}
    assert _ready(ch, q) == 6


def test_global_prefetch_is_shared_by_the_channel_consumers(connection):
    ch = connection.channel()
    q = _fill(ch, 10)
    ch.basic_qos(prefetch_count=3, global_qos=True)
    received: dict[str, int] = {"a": 0, "b": 0}
    for name in received:
        ch.basic_consume(
            q, lambda c, m, p, b, name=name: received.__setitem__(name, received[name] + 1)
        )
    pump_until(connection, lambda: sum(received.values()) == 3, message="3 deliveries")
    pump(connection, 0.1)
    assert sum(received.values()) == 3
    assert _ready(ch, q) == 7


def test_prefetch_zero_is_unlimited(connection):
    ch = connection.channel()
    q = _fill(ch, 50)
    ch.basic_qos(prefetch_count=0)
    received = []
    ch.basic_consume(q, lambda c, m, p, b: received.append(b))
    pump_until(connection, lambda: len(received) == 50, message="50 deliveries")


def test_prefetch_does_not_limit_basic_get(channel):
    q = _fill(channel, 3)
    channel.basic_qos(prefetch_count=1)
    tags = [get_message(channel, q)[0].delivery_tag for _ in range(3)]
    assert tags == [1, 2, 3]


def test_prefetch_does_not_apply_to_no_ack_consumers(connection):
    ch = connection.channel()
    q = _fill(ch, 5)
    ch.basic_qos(prefetch_count=1)
    received = []
    ch.basic_consume(q, lambda c, m, p, b: received.append(b), auto_ack=True)
    pump_until(connection, lambda: len(received) == 5, message="5 deliveries")


def test_requeued_message_goes_to_another_consumer(connect):
    conn = connect()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_qos(prefetch_count=1)
    seen: list[tuple[str, bytes, bool]] = []

    def rejecting(c, m, p, b):
        seen.append(("a", b, m.redelivered))
        c.basic_reject(m.delivery_tag, requeue=True)
        c.basic_cancel(m.consumer_tag)

    ch.basic_consume(q, rejecting, consumer_tag="a")
    ch.basic_publish("", q, b"job")
    pump_until(conn, lambda: seen, message="first delivery")
    ch.basic_consume(
        q,
        lambda c, m, p, b: (seen.append(("b", b, m.redelivered)), c.basic_ack(m.delivery_tag)),
        consumer_tag="b",
    )
    pump_until(conn, lambda: len(seen) == 2, message="redelivery")
    assert seen == [("a", b"job", False), ("b", b"job", True)]
    wait_for(lambda: _ready(ch, q) == 0, message="empty queue")


def test_redelivered_message_keeps_its_properties(channel):
    q = channel.queue_declare("", exclusive=True).method.queue
    props = pika.BasicProperties(message_id="keep", headers={"n": 1}, delivery_mode=2)
    channel.basic_publish("", q, b"body", props)
    method, _, _ = get_message(channel, q)
    channel.basic_nack(method.delivery_tag, requeue=True)
    method, got, body = get_message(channel, q, auto_ack=True)
    assert (method.redelivered, body) == (True, b"body")
    assert (got.message_id, got.headers, got.delivery_mode) == ("keep", {"n": 1}, 2)
