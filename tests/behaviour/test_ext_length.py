"""RabbitMQ extension: queue length limits (x-max-length, x-max-length-bytes) and what
happens on overflow (x-overflow: drop-head, reject-publish, reject-publish-dlx).

https://www.rabbitmq.com/docs/maxlength: only ready messages count (unacknowledged ones do
not); the byte limit counts message bodies only; drop-head drops (or dead-letters) the
oldest; reject-publish(-dlx) refuse the newest and nack it to a confirming publisher, and
only reject-publish-dlx dead-letters the refused message.
"""

from __future__ import annotations

import pika
import pika.exceptions
import pytest

from .helpers import (
    channel_closed,
    drain,
    get_message,
    invalid_arg,
    wait_ready,
)


def declare(channel, cleanup, name, **arguments):
    channel.queue_declare(cleanup.queue(name), arguments=arguments)
    return name


def publish_all(channel, queue, bodies, **kw):
    for body in bodies:
        channel.basic_publish("", queue, body, **kw)


# --------------------------------------------------------------------------------------
# drop-head (the default)


def test_max_length_drops_the_oldest(channel, unique_name, cleanup):
    q = declare(channel, cleanup, unique_name(), **{"x-max-length": 3})
    channel.confirm_delivery()
    publish_all(channel, q, [f"m{i}".encode() for i in range(5)])
    assert channel.queue_declare(q, passive=True).method.message_count == 3
    assert drain(channel, q) == [b"m2", b"m3", b"m4"]


def test_explicit_drop_head_is_the_default(channel, unique_name, cleanup):
    q = declare(channel, cleanup, unique_name(), **{"x-max-length": 1, "x-overflow": "drop-head"})
    channel.confirm_delivery()
    publish_all(channel, q, [b"a", b"b"])
    assert drain(channel, q) == [b"b"]


def test_max_length_zero_keeps_nothing(channel, unique_name, cleanup):
    q = declare(channel, cleanup, unique_name(), **{"x-max-length": 0})
    channel.confirm_delivery()
    publish_all(channel, q, [b"a", b"b"])
    assert drain(channel, q) == []


def test_max_length_bytes_counts_bodies(channel, unique_name, cleanup):
    q = declare(channel, cleanup, unique_name(), **{"x-max-length-bytes": 10})
    channel.confirm_delivery()
    # Headers and properties do not count towards the limit: 4 bytes each.
    props = pika.BasicProperties(headers={"padding": "x" * 200})
    publish_all(channel, q, [b"aaaa", b"bbbb", b"cccc", b"dddd"], properties=props)
    assert drain(channel, q) == [b"cccc", b"dddd"]


def test_max_length_bytes_drops_as_many_as_needed(channel, unique_name, cleanup):
    q = declare(channel, cleanup, unique_name(), **{"x-max-length-bytes": 10})
    channel.confirm_delivery()
    publish_all(channel, q, [b"1", b"2", b"3", b"4", b"5", b"6789abcd"])
    assert drain(channel, q) == [b"4", b"5", b"6789abcd"]


def test_both_limits_apply(channel, unique_name, cleanup):
    q = declare(channel, cleanup, unique_name(), **{"x-max-length": 3, "x-max-length-bytes": 100})
    channel.confirm_delivery()
    publish_all(channel, q, [b"a", b"b", b"c", b"d"])
    assert drain(channel, q) == [b"b", b"c", b"d"]
    publish_all(channel, q, [b"x" * 60, b"y" * 60])
    assert drain(channel, q) == [b"y" * 60]


def test_unacked_messages_do_not_count(channel, unique_name, cleanup):
    q = declare(channel, cleanup, unique_name(), **{"x-max-length": 1})
    channel.confirm_delivery()
    channel.basic_publish("", q, b"taken")
    method, _, body = get_message(channel, q)
    assert body == b"taken"
    # "taken" is unacked: the queue has room for one ready message again.
    channel.basic_publish("", q, b"ready")
    assert channel.queue_declare(q, passive=True).method.message_count == 1
    channel.basic_reject(method.delivery_tag, requeue=True)
    # The requeued message goes back to the head, the queue is over its limit again, and
    # drop-head drops... the message just requeued.
    wait_ready(channel, q, 1, timeout=2)
    assert drain(channel, q) == [b"ready"]


def test_drop_head_dead_letters_every_dropped_message(channel, unique_name, cleanup):
    dead = cleanup.queue(unique_name("dead"))
    channel.queue_declare(dead)
    q = declare(
        channel,
        cleanup,
        unique_name(),
        **{"x-max-length": 2, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": dead},
    )
    channel.confirm_delivery()
    publish_all(channel, q, [f"m{i}".encode() for i in range(5)])
    wait_ready(channel, dead, 3)
    dropped = [get_message(channel, dead, auto_ack=True) for _ in range(3)]
    assert [body for _, _, body in dropped] == [b"m0", b"m1", b"m2"]
    assert {props.headers["x-death"][0]["reason"] for _, props, _ in dropped} == {"maxlen"}
    assert drain(channel, q) == [b"m3", b"m4"]


# --------------------------------------------------------------------------------------
# reject-publish and reject-publish-dlx


def test_reject_publish_nacks_a_confirming_publisher(channel, unique_name, cleanup):
    q = declare(
        channel, cleanup, unique_name(), **{"x-max-length": 2, "x-overflow": "reject-publish"}
    )
    channel.confirm_delivery()
    publish_all(channel, q, [b"a", b"b"])
    with pytest.raises(pika.exceptions.NackError):
        channel.basic_publish("", q, b"c")
    assert channel.is_open
    assert drain(channel, q) == [b"a", b"b"]
    # Room again: publishes are accepted.
    channel.basic_publish("", q, b"d")
    assert drain(channel, q) == [b"d"]


def test_reject_publish_without_confirms_drops_silently(connection, unique_name, cleanup):
    ch = connection.channel()
    q = declare(ch, cleanup, unique_name(), **{"x-max-length": 2, "x-overflow": "reject-publish"})
    publish_all(ch, q, [b"a", b"b", b"c", b"d"])
    wait_ready(ch, q, 2)
    assert ch.is_open
    assert drain(ch, q) == [b"a", b"b"]


def test_reject_publish_by_bytes(channel, unique_name, cleanup):
    q = declare(
        channel,
        cleanup,
        unique_name(),
        **{"x-max-length-bytes": 5, "x-overflow": "reject-publish"},
    )
    channel.confirm_delivery()
    channel.basic_publish("", q, b"1234")
    # A message that would take the queue past the limit is refused...
    with pytest.raises(pika.exceptions.NackError):
        channel.basic_publish("", q, b"56")
    # ...one that just fits is accepted.
    channel.basic_publish("", q, b"5")
    with pytest.raises(pika.exceptions.NackError):
        channel.basic_publish("", q, b"6")
    assert drain(channel, q) == [b"1234", b"5"]


def test_reject_publish_does_not_dead_letter(channel, unique_name, cleanup):
    dead = cleanup.queue(unique_name("dead"))
    channel.queue_declare(dead)
    q = declare(
        channel,
        cleanup,
        unique_name(),
        **{
            "x-max-length": 1,
            "x-overflow": "reject-publish",
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": dead,
        },
    )
    channel.confirm_delivery()
    channel.basic_publish("", q, b"kept")
    with pytest.raises(pika.exceptions.NackError):
        channel.basic_publish("", q, b"refused")
    assert drain(channel, dead) == []
    assert drain(channel, q) == [b"kept"]


def test_reject_publish_dlx_nacks_and_dead_letters(channel, unique_name, cleanup):
    dead = cleanup.queue(unique_name("dead"))
    channel.queue_declare(dead)
    q = declare(
        channel,
        cleanup,
        unique_name(),
        **{
            "x-max-length": 1,
            "x-overflow": "reject-publish-dlx",
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": dead,
        },
    )
    channel.confirm_delivery()
    channel.basic_publish("", q, b"kept")
    with pytest.raises(pika.exceptions.NackError):
        channel.basic_publish("", q, b"refused")
    _, props, body = get_message(channel, dead, auto_ack=True)
    assert body == b"refused"
    (death,) = props.headers["x-death"]
    assert (death["reason"], death["queue"], death["routing-keys"]) == ("maxlen", q, [q])
    assert props.headers["x-first-death-reason"] == "maxlen"
    assert drain(channel, q) == [b"kept"]


def test_reject_in_one_of_two_queues_nacks_but_the_other_gets_it(channel, unique_name, cleanup):
    exchange = cleanup.exchange(unique_name("fan"))
    channel.exchange_declare(exchange, "fanout")
    full = declare(
        channel, cleanup, unique_name("full"), **{"x-max-length": 0, "x-overflow": "reject-publish"}
    )
    roomy = declare(channel, cleanup, unique_name("roomy"))
    channel.queue_bind(full, exchange)
    channel.queue_bind(roomy, exchange)
    channel.confirm_delivery()
    with pytest.raises(pika.exceptions.NackError):
        channel.basic_publish(exchange, "", b"both")
    assert drain(channel, roomy) == [b"both"]
    assert drain(channel, full) == []


def test_reject_publish_mandatory_is_nacked_not_returned(channel, unique_name, cleanup):
    q = declare(
        channel, cleanup, unique_name(), **{"x-max-length": 0, "x-overflow": "reject-publish"}
    )
    channel.confirm_delivery()
    # The message was routed, so there is no basic.return; the queue's refusal is a nack.
    with pytest.raises(pika.exceptions.NackError):
        channel.basic_publish("", q, b"x", mandatory=True)


# --------------------------------------------------------------------------------------
# Invalid arguments (texts observed on RabbitMQ 3.10.8; the same validators in 4.x)


@pytest.mark.parametrize(
    ("arg", "value", "detail"),
    [
        pytest.param(
            "x-overflow",
            "bogus",
            "invalid_overflow",
        ),
        pytest.param("x-overflow", 5, "{unacceptable_type,signedint}"),
        ("x-max-length", -1, "{value_negative,-1}"),
        ("x-max-length-bytes", -1, "{value_negative,-1}"),
        pytest.param("x-max-length", "abc", '"expected integer, got longstr"'),
        pytest.param("x-max-length-bytes", "10", '"expected integer, got longstr"'),
    ],
    ids=lambda v: repr(v),
)
def test_invalid_length_arguments_are_406(connection, unique_name, arg, value, detail):
    ch = connection.channel()
    q = unique_name()
    with channel_closed(406, invalid_arg(arg, q, detail)):
        ch.queue_declare(q, arguments={arg: value})
