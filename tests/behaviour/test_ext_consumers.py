"""RabbitMQ consumer extensions: single active consumer (x-single-active-consumer).

https://www.rabbitmq.com/docs/consumers#single-active-consumer: of all the consumers of
such a queue only one receives messages; when it is cancelled or its channel goes, the
next registered consumer takes over (and gets the requeued unacknowledged messages).

Not covered here:
- consumer priorities (``x-priority``) are covered in test_consume.py;
- the consumer (delivery acknowledgement) timeout is a broker setting
  (``consumer_timeout`` in rabbitmq.conf, 30 minutes by default; the per-queue
  ``x-consumer-timeout`` queue argument of 4.x is not in 3.10). A test would have
  to reconfigure the broker under test, which an external broker does not allow.
"""

from __future__ import annotations

import pytest

from .helpers import channel_closed, invalid_arg, pump, pump_until


class Recorder:
    """A consumer that records deliveries as (delivery_tag, body, redelivered)."""

    def __init__(self, channel, queue, auto_ack=False):
        self.channel = channel
        self.got = []
        self.tag = channel.basic_consume(queue, self.on_message, auto_ack=auto_ack)

    def on_message(self, ch, method, props, body):
        self.got.append((method.delivery_tag, body, method.redelivered))

    @property
    def bodies(self):
        return [body for _, body, _ in self.got]


@pytest.fixture
def sac_queue(channel, unique_name, cleanup):
    q = cleanup.queue(unique_name("sac"))
    channel.queue_declare(q, arguments={"x-single-active-consumer": True})
    return q


def test_only_one_consumer_gets_messages(connection, channel, sac_queue):
    first = Recorder(connection.channel(), sac_queue, auto_ack=True)
    second = Recorder(connection.channel(), sac_queue, auto_ack=True)
    for i in range(4):
        channel.basic_publish("", sac_queue, f"m{i}".encode())
    pump_until(connection, lambda: len(first.bodies) + len(second.bodies) == 4, timeout=5)
    pump(connection, 0.1)
    assert first.bodies == [b"m0", b"m1", b"m2", b"m3"]
    assert second.bodies == []
    # Both consumers are registered, whether active or not.
    assert channel.queue_declare(sac_queue, passive=True).method.consumer_count == 2


def test_next_consumer_takes_over_after_cancel(connection, channel, sac_queue):
    first = Recorder(connection.channel(), sac_queue, auto_ack=True)
    second = Recorder(connection.channel(), sac_queue, auto_ack=True)
    third = Recorder(connection.channel(), sac_queue, auto_ack=True)
    channel.basic_publish("", sac_queue, b"to first")
    pump_until(connection, lambda: first.bodies, timeout=5)
    first.channel.basic_cancel(first.tag)
    channel.basic_publish("", sac_queue, b"to second")
    channel.basic_publish("", sac_queue, b"also to second")
    pump_until(connection, lambda: len(second.bodies) == 2, timeout=5)
    pump(connection, 0.1)
    assert (first.bodies, second.bodies, third.bodies) == (
        [b"to first"],
        [b"to second", b"also to second"],
        [],
    )


def test_unacked_messages_go_to_the_next_consumer_when_the_channel_closes(
    connect, channel, sac_queue
):
    first_conn = connect()
    first = Recorder(first_conn.channel(), sac_queue)
    conn = connect()
    second = Recorder(conn.channel(), sac_queue)
    for i in range(3):
        channel.basic_publish("", sac_queue, f"m{i}".encode())
    pump_until(first_conn, lambda: len(first.got) == 3, timeout=5)
    first.channel.basic_ack(first.got[0][0])
    first.channel.close()
    pump_until(conn, lambda: len(second.got) == 2, timeout=5)
    assert [(body, redelivered) for _, body, redelivered in second.got] == [
        (b"m1", True),
        (b"m2", True),
    ]


def test_waiting_consumer_gets_nothing_while_the_active_one_is_busy(connection, channel, sac_queue):
    busy_channel = connection.channel()
    busy_channel.basic_qos(prefetch_count=1)
    busy = Recorder(busy_channel, sac_queue)
    idle = Recorder(connection.channel(), sac_queue)
    for i in range(3):
        channel.basic_publish("", sac_queue, f"m{i}".encode())
    pump_until(connection, lambda: busy.got, timeout=5)
    pump(connection, 0.2)
    # The active consumer's prefetch is full, yet the others still wait.
    assert (busy.bodies, idle.bodies) == ([b"m0"], [])
    assert channel.queue_declare(sac_queue, passive=True).method.message_count == 2


def test_queue_without_the_argument_round_robins(connection, channel, unique_name, cleanup):
    q = cleanup.queue(unique_name())
    channel.queue_declare(q, arguments={"x-single-active-consumer": False})
    first = Recorder(connection.channel(), q, auto_ack=True)
    second = Recorder(connection.channel(), q, auto_ack=True)
    for i in range(4):
        channel.basic_publish("", q, f"m{i}".encode())
    pump_until(connection, lambda: len(first.bodies) + len(second.bodies) == 4, timeout=5)
    assert first.bodies and second.bodies


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        pytest.param(
            "yes",
            "{unacceptable_type,longstr}",
        ),
        pytest.param(
            1,
            "{unacceptable_type,signedint}",
        ),
    ],
    ids=repr,
)
def test_non_boolean_single_active_consumer_is_406(connection, unique_name, value, detail):
    ch = connection.channel()
    q = unique_name()
    with channel_closed(406, invalid_arg("x-single-active-consumer", q, detail)):
        ch.queue_declare(q, arguments={"x-single-active-consumer": value})
