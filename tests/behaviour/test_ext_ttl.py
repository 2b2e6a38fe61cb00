"""RabbitMQ extensions: per-queue message TTL (x-message-ttl), per-message TTL (the
``expiration`` property) and queue expiry (x-expires).

RabbitMQ documents (https://www.rabbitmq.com/docs/ttl) that expired messages are removed
at the head of the queue: a message whose TTL ran out behind an unexpired one stays (and
is counted) until it reaches the head, but it is never delivered.
"""

from __future__ import annotations

import time
from decimal import Decimal

import pika
import pytest

from .helpers import (
    channel_closed,
    drain,
    get_message,
    invalid_arg,
    pump,
    pump_until,
    queue_exists,
    wait_for,
    wait_ready,
)

EXPIRES = 200  # ms


def declare(channel, cleanup, name, **arguments):
    channel.queue_declare(cleanup.queue(name), arguments=arguments)
    return name


def wait_expired(connect, queue, expires_ms):
    """Wait for an x-expires queue to go. A passive declare (how queue_exists looks) counts
    as a use on RabbitMQ and restarts the timer, so poll at intervals longer than the TTL."""
    interval = 2 * expires_ms / 1000
    wait_for(
        lambda: not queue_exists(connect, queue),
        timeout=4,
        interval=interval,
        message=f"{queue} to expire",
    )


# --------------------------------------------------------------------------------------
# x-message-ttl


def test_queue_ttl_expires_messages_without_consumer(channel, unique_name, cleanup):
    q = declare(channel, cleanup, unique_name(), **{"x-message-ttl": 300})
    channel.confirm_delivery()
    for i in range(3):
        channel.basic_publish("", q, f"m{i}".encode())
    assert channel.queue_declare(q, passive=True).method.message_count == 3
    # Nobody consumes: the count still drops to zero once the TTL has passed.
    wait_ready(channel, q, 0, timeout=3)
    assert channel.basic_get(q, auto_ack=True) == (None, None, None)


def test_queue_ttl_expired_messages_are_not_delivered(channel, unique_name, cleanup):
    q = declare(channel, cleanup, unique_name(), **{"x-message-ttl": 100})
    channel.confirm_delivery()
    channel.basic_publish("", q, b"old")
    time.sleep(0.3)
    channel.basic_publish("", q, b"new")
    assert drain(channel, q) == [b"new"]


def test_queue_ttl_expired_messages_are_not_delivered_to_consumers(
    connection, channel, unique_name, cleanup
):
    q = declare(channel, cleanup, unique_name(), **{"x-message-ttl": 100})
    channel.confirm_delivery()
    channel.basic_publish("", q, b"old")
    time.sleep(0.3)
    channel.basic_publish("", q, b"new")
    got: list[bytes] = []
    channel.basic_consume(q, lambda ch, m, p, body: got.append(body), auto_ack=True)
    pump_until(connection, lambda: got, timeout=3, message="a delivery")
    pump(connection, 0.2)
    assert got == [b"new"]


def test_queue_ttl_message_taken_in_time_is_delivered_unchanged(channel, unique_name, cleanup):
    q = declare(channel, cleanup, unique_name(), **{"x-message-ttl": 60_000})
    channel.basic_publish("", q, b"fresh")
    _, props, body = get_message(channel, q, auto_ack=True)
    # The queue's TTL is not written into the message as an expiration property.
    assert (body, props.expiration) == (b"fresh", None)


def test_queue_ttl_zero_drops_messages_nobody_can_take(channel, unique_name, cleanup):
    q = declare(channel, cleanup, unique_name(), **{"x-message-ttl": 0})
    channel.confirm_delivery()
    channel.basic_publish("", q, b"lost")
    wait_ready(channel, q, 0, timeout=2)
    assert channel.basic_get(q, auto_ack=True) == (None, None, None)


def test_queue_ttl_zero_delivers_to_a_waiting_consumer(connection, channel, unique_name, cleanup):
    q = declare(channel, cleanup, unique_name(), **{"x-message-ttl": 0})
    got: list[bytes] = []
    channel.basic_consume(q, lambda ch, m, p, body: got.append(body), auto_ack=True)
    channel.basic_publish("", q, b"now")
    pump_until(connection, lambda: got, timeout=3, message="the delivery")
    assert got == [b"now"]


def test_queue_ttl_zero_drops_when_consumer_has_no_credit(
    connection, channel, unique_name, cleanup
):
    q = declare(channel, cleanup, unique_name(), **{"x-message-ttl": 0})
    channel.basic_qos(prefetch_count=1)
    got: list[tuple[int, bytes]] = []
    channel.basic_consume(q, lambda ch, m, p, body: got.append((m.delivery_tag, body)))
    channel.basic_publish("", q, b"first")
    pump_until(connection, lambda: got, timeout=3, message="the first delivery")
    # The consumer's prefetch window is full: the second message cannot go out at once.
    channel.basic_publish("", q, b"second")
    pump(connection, 0.2)
    channel.basic_ack(got[0][0])
    pump(connection, 0.3)
    assert [body for _, body in got] == [b"first"]


# --------------------------------------------------------------------------------------
# Per-message TTL: the expiration property


def test_per_message_expiration_expires_messages_at_the_head(channel, unique_name, cleanup):
    q = declare(channel, cleanup, unique_name())
    channel.confirm_delivery()
    channel.basic_publish("", q, b"short", pika.BasicProperties(expiration="50"))
    channel.basic_publish("", q, b"long", pika.BasicProperties(expiration="60000"))
    time.sleep(0.25)
    _, props, body = get_message(channel, q, auto_ack=True)
    # A message delivered in time keeps its expiration property.
    assert (body, props.expiration) == (b"long", "60000")
    assert drain(channel, q) == []


def test_per_message_expired_message_behind_a_live_one_waits_for_the_head(
    channel, unique_name, cleanup
):
    q = declare(channel, cleanup, unique_name())
    channel.confirm_delivery()
    channel.basic_publish("", q, b"long", pika.BasicProperties(expiration="60000"))
    channel.basic_publish("", q, b"short", pika.BasicProperties(expiration="50"))
    time.sleep(0.3)
    # "short" has expired but is not at the head: it is still counted...
    assert channel.queue_declare(q, passive=True).method.message_count == 2
    # ...yet once "long" is taken it is dropped rather than delivered.
    assert drain(channel, q) == [b"long"]
    wait_ready(channel, q, 0, timeout=2)


def test_per_message_expiration_zero_without_consumer_is_dropped(channel, unique_name, cleanup):
    q = declare(channel, cleanup, unique_name())
    channel.confirm_delivery()
    channel.basic_publish("", q, b"zero", pika.BasicProperties(expiration="0"))
    channel.basic_publish("", q, b"kept")
    assert drain(channel, q) == [b"kept"]


def test_lower_of_queue_ttl_and_message_expiration_applies(channel, unique_name, cleanup):
    q = declare(channel, cleanup, unique_name(), **{"x-message-ttl": 300})
    channel.confirm_delivery()
    # The queue's TTL is lower: it applies.
    channel.basic_publish("", q, b"queue-ttl-wins", pika.BasicProperties(expiration="60000"))
    time.sleep(0.5)
    assert drain(channel, q) == []
    # The message's TTL is lower: it applies.
    channel.basic_publish("", q, b"message-ttl-wins", pika.BasicProperties(expiration="20"))
    time.sleep(0.1)
    channel.basic_publish("", q, b"fresh")
    assert drain(channel, q) == [b"fresh"]


# --------------------------------------------------------------------------------------
# x-expires


def test_unused_queue_is_deleted_after_x_expires(connect, channel, unique_name, cleanup):
    q = declare(channel, cleanup, unique_name(), **{"x-expires": EXPIRES})
    channel.basic_publish("", q, b"messages do not keep it alive")
    assert queue_exists(connect, q)
    wait_expired(connect, q, EXPIRES)


def test_consumer_keeps_an_expiring_queue_alive(connect, unique_name, cleanup):
    conn = connect()
    ch = conn.channel()
    q = declare(ch, cleanup, unique_name(), **{"x-expires": EXPIRES})
    tag = ch.basic_consume(q, lambda *args: None, auto_ack=True)
    pump(conn, 0.5)
    assert queue_exists(connect, q)
    ch.basic_cancel(tag)
    # The timer restarts when the last consumer goes.
    pump(conn, 0.1)
    assert queue_exists(connect, q)
    wait_expired(connect, q, EXPIRES)


def test_basic_get_resets_x_expires(connect, channel, unique_name, cleanup):
    q = declare(channel, cleanup, unique_name(), **{"x-expires": EXPIRES})
    for _ in range(5):
        time.sleep(0.1)
        channel.basic_get(q, auto_ack=True)
    assert queue_exists(connect, q)
    wait_expired(connect, q, EXPIRES)


def test_redeclare_resets_x_expires(connect, channel, unique_name, cleanup):
    q = declare(channel, cleanup, unique_name(), **{"x-expires": EXPIRES})
    for _ in range(5):
        time.sleep(0.1)
        channel.queue_declare(q, arguments={"x-expires": EXPIRES})
    assert queue_exists(connect, q)
    wait_expired(connect, q, EXPIRES)


# --------------------------------------------------------------------------------------
# Invalid values (texts observed on RabbitMQ 3.10.8; rabbit_amqqueue's validators are the
# same in 4.x)


@pytest.mark.parametrize(
    ("arg", "value", "detail"),
    [
        ("x-message-ttl", -1, "{value_negative,-1}"),
        pytest.param("x-message-ttl", "100", '"expected integer, got longstr"'),
        pytest.param(
            "x-message-ttl",
            Decimal("1.5"),
            '"expected integer, got decimal"',
        ),
        pytest.param("x-message-ttl", True, '"expected integer, got bool"'),
        ("x-expires", 0, "{value_zero,0}"),
        ("x-expires", -5, "{value_negative,-5}"),
        pytest.param("x-expires", "100", '"expected integer, got longstr"'),
    ],
    ids=lambda v: repr(v),
)
def test_invalid_ttl_arguments_are_406(connection, unique_name, arg, value, detail):
    ch = connection.channel()
    q = unique_name()
    with channel_closed(406, invalid_arg(arg, q, detail)):
        ch.queue_declare(q, arguments={arg: value})


def test_zero_message_ttl_and_large_values_are_accepted(channel, unique_name, cleanup):
    declare(channel, cleanup, unique_name(), **{"x-message-ttl": 0})
    declare(channel, cleanup, unique_name(), **{"x-message-ttl": 2**33})
    declare(channel, cleanup, unique_name(), **{"x-expires": 1})


def test_fractional_expiration_property_is_406(connection, unique_name, cleanup):
    ch = connection.channel()
    q = declare(ch, cleanup, unique_name())
    with channel_closed(
        406, "PRECONDITION_FAILED - invalid expiration '1.5': {leftover_string,\".5\"}"
    ):
        ch.basic_publish("", q, b"x", pika.BasicProperties(expiration="1.5"))
        ch.queue_declare(q, passive=True)


def test_empty_expiration_property_is_406(connection, unique_name, cleanup):
    ch = connection.channel()
    q = declare(ch, cleanup, unique_name())
    with channel_closed(406, "PRECONDITION_FAILED - invalid expiration '': no_integer"):
        ch.basic_publish("", q, b"x", pika.BasicProperties(expiration=""))
        ch.queue_declare(q, passive=True)
