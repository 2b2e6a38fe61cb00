"""RabbitMQ extension: queue types (x-queue-type classic / quorum / stream) and what each
type accepts, plus RabbitMQ's handling of unknown and misplaced x- arguments.

Texts observed on RabbitMQ 3.10.8 and compared with 4.x's rabbit_amqqueue.erl,
rabbit_queue_type_util.erl, rabbit_quorum_queue.erl and rabbit_stream_queue.erl; where
they differ the test asserts 4.x and is marked newer_than_310.
"""

from __future__ import annotations

import pika
import pika.exceptions
import pytest

from .helpers import (
    channel_closed,
    connection_closed,
    drain,
    get_message,
    inequivalent,
    invalid_arg,
    invalid_arg_for_queue_type,
    invalid_property,
    pump_until,
)


def declare(channel, cleanup, name, queue_type=None, durable=True, **arguments):
    if queue_type is not None:
        arguments["x-queue-type"] = queue_type
    channel.queue_declare(cleanup.queue(name), durable=durable, arguments=arguments)
    return name


# --------------------------------------------------------------------------------------
# Declaring


@pytest.mark.parametrize("queue_type", ["classic", "quorum", "stream"])
def test_queue_types_are_accepted(channel, unique_name, cleanup, queue_type):
    q = declare(channel, cleanup, unique_name(), queue_type)
    ok = channel.queue_declare(q, durable=True, arguments={"x-queue-type": queue_type})
    assert (ok.method.queue, ok.method.message_count, ok.method.consumer_count) == (q, 0, 0)
    assert channel.queue_declare(q, passive=True).method.queue == q


def test_classic_type_may_be_transient_exclusive_and_auto_delete(channel):
    ok = channel.queue_declare(
        "", exclusive=True, auto_delete=True, arguments={"x-queue-type": "classic"}
    )
    assert ok.method.queue.startswith("amq.gen-")


def flag_param(flags, prop, marks=()):
    name = "-".join(f"{k}={v}" for k, v in flags.items())
    return pytest.param(flags, prop, marks=marks, id=name)


@pytest.mark.parametrize("queue_type", ["quorum", "stream"])
@pytest.mark.parametrize(
    ("flags", "prop"),
    [
        # RabbitMQ checks auto-delete, then exclusive, then durable (3.10.8 observed;
        # rabbit_quorum_queue:declare/2 and rabbit_stream_queue:declare/2 in 4.x).
        flag_param({"durable": False}, "non-durable"),
        flag_param({"durable": True, "exclusive": True}, "exclusive-owner"),
        flag_param({"durable": False, "exclusive": True}, "exclusive-owner"),
        flag_param({"durable": True, "auto_delete": True}, "auto-delete"),
        flag_param({"durable": False, "auto_delete": True}, "auto-delete"),
        flag_param(
            {"durable": True, "exclusive": True, "auto_delete": True},
            "auto-delete",
        ),
    ],
)
def test_replicated_queues_must_be_durable_shared_and_kept(
    connection, unique_name, queue_type, flags, prop
):
    ch = connection.channel()
    q = unique_name()
    with channel_closed(406, invalid_property(prop, q)):
        ch.queue_declare(q, arguments={"x-queue-type": queue_type}, **flags)


@pytest.mark.parametrize(
    ("queue_type", "module"), [("quorum", "rabbit_quorum_queue"), ("stream", "rabbit_stream_queue")]
)
def test_replicated_queues_cannot_be_server_named(connection, queue_type, module):
    ch = connection.channel()
    text = f"PRECONDITION_FAILED - Cannot declare a server-named queue for type {module}"
    with channel_closed(406, text):
        ch.queue_declare("", durable=True, arguments={"x-queue-type": queue_type})


def test_unknown_queue_type_is_406(connection, unique_name):
    ch = connection.channel()
    q = unique_name()
    with channel_closed(406, invalid_arg("x-queue-type", q, "\"unsupported queue type 'bogus'\"")):
        ch.queue_declare(q, durable=True, arguments={"x-queue-type": "bogus"})


def test_non_string_queue_type_is_406(connection, unique_name):
    ch = connection.channel()
    q = unique_name()
    with channel_closed(406, invalid_arg("x-queue-type", q, "{unacceptable_type,signedint}")):
        ch.queue_declare(q, durable=True, arguments={"x-queue-type": 5})


def test_redeclaring_with_another_type_is_406(connection, unique_name, cleanup):
    ch = connection.channel()
    q = declare(ch, cleanup, unique_name(), "quorum")
    with channel_closed(406, inequivalent("queue", q, "x-queue-type", "'classic'", "'quorum'")):
        ch.queue_declare(q, durable=True, arguments={"x-queue-type": "classic"})


@pytest.mark.parametrize(
    ("queue_type", "arg", "value", "module"),
    [
        ("quorum", "x-max-priority", 5, "rabbit_quorum_queue"),
        ("quorum", "x-queue-mode", "lazy", "rabbit_quorum_queue"),
        ("stream", "x-overflow", "drop-head", "rabbit_stream_queue"),
        ("stream", "x-max-length", 10, "rabbit_stream_queue"),
        ("stream", "x-dead-letter-exchange", "dlx", "rabbit_stream_queue"),
        ("classic", "x-delivery-limit", 5, "rabbit_classic_queue"),
        ("classic", "x-max-age", "1D", "rabbit_classic_queue"),
    ],
    ids=lambda v: str(v),
)
def test_argument_unsupported_by_the_queue_type_is_406(
    connection, unique_name, queue_type, arg, value, module
):
    ch = connection.channel()
    q = unique_name()
    with channel_closed(406, invalid_arg_for_queue_type(arg, q, module)):
        ch.queue_declare(q, durable=True, arguments={"x-queue-type": queue_type, arg: value})


def test_quorum_queue_with_message_ttl_expires_messages(channel, unique_name, cleanup):
    # Quorum queues have supported x-message-ttl since RabbitMQ 3.10.
    q = declare(channel, cleanup, unique_name(), "quorum", **{"x-message-ttl": 50})
    channel.confirm_delivery()
    channel.basic_publish("", q, b"x")
    pump_until(
        channel.connection,
        lambda: channel.queue_declare(q, passive=True).method.message_count == 0,
        timeout=3,
    )


def test_unknown_x_argument_is_accepted_and_ignored(channel, unique_name, cleanup):
    q = declare(channel, cleanup, unique_name(), **{"x-made-up": 5, "other": "x"})
    channel.basic_publish("", q, b"x")
    assert get_message(channel, q, auto_ack=True)[2] == b"x"
    # Unknown arguments take no part in the equivalence check.
    channel.queue_declare(q, durable=True, arguments={"x-made-up": 6})
    channel.queue_declare(q, durable=True)


# --------------------------------------------------------------------------------------
# Quorum queues: delivery count and delivery limit


def test_quorum_queue_basic_flow(channel, unique_name, cleanup):
    q = declare(channel, cleanup, unique_name(), "quorum")
    channel.confirm_delivery()
    for i in range(3):
        channel.basic_publish("", q, f"m{i}".encode(), pika.BasicProperties(delivery_mode=2))
    assert channel.queue_declare(q, passive=True).method.message_count == 3
    assert drain(channel, q) == [b"m0", b"m1", b"m2"]


def test_quorum_queue_counts_deliveries_in_a_header(channel, unique_name, cleanup):
    q = declare(channel, cleanup, unique_name(), "quorum")
    channel.basic_publish("", q, b"again")
    method, _, _ = get_message(channel, q)
    # The first delivery's header differs: 3.10 writes x-delivery-count 0, 4.x leaves it
    # out (rabbit_fifo_client:add_delivery_count_header/2). Redeliveries agree.
    assert method.redelivered is False
    for count in (1, 2, 3):
        channel.basic_nack(method.delivery_tag, requeue=True)
        method, props, _ = get_message(channel, q)
        assert method.redelivered is True
        assert props.headers["x-delivery-count"] == count
    channel.basic_ack(method.delivery_tag)


def test_quorum_delivery_limit_dead_letters_the_message(channel, unique_name, cleanup):
    dead = cleanup.queue(unique_name("dead"))
    channel.queue_declare(dead)
    q = declare(
        channel,
        cleanup,
        unique_name(),
        "quorum",
        **{
            "x-delivery-limit": 2,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": dead,
        },
    )
    channel.basic_publish("", q, b"poison")
    # Delivered 1 + 2 times; the third return goes over the limit.
    for _ in range(3):
        method, _, _ = get_message(channel, q)
        channel.basic_reject(method.delivery_tag, requeue=True)
    _, props, body = get_message(channel, dead, auto_ack=True)
    assert body == b"poison"
    (death,) = props.headers["x-death"]
    assert (death["reason"], death["queue"], death["count"]) == ("delivery_limit", q, 1)
    assert props.headers["x-first-death-reason"] == "delivery_limit"
    assert drain(channel, q) == []


def test_quorum_delivery_limit_without_dlx_drops_the_message(channel, unique_name, cleanup):
    q = declare(channel, cleanup, unique_name(), "quorum", **{"x-delivery-limit": 1})
    channel.basic_publish("", q, b"poison")
    channel.basic_publish("", q, b"fine")
    for _ in range(2):
        method, _, body = get_message(channel, q)
        assert body == b"poison"
        channel.basic_nack(method.delivery_tag, requeue=True)
    assert drain(channel, q) == [b"fine"]


def test_quorum_reject_without_requeue_dead_letters_as_rejected(channel, unique_name, cleanup):
    dead = cleanup.queue(unique_name("dead"))
    channel.queue_declare(dead)
    q = declare(
        channel,
        cleanup,
        unique_name(),
        "quorum",
        **{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dead},
    )
    channel.basic_publish("", q, b"x")
    method, _, _ = get_message(channel, q)
    channel.basic_reject(method.delivery_tag, requeue=False)
    _, props, _ = get_message(channel, dead, auto_ack=True)
    assert props.headers["x-death"][0]["reason"] == "rejected"


@pytest.mark.newer_than_310
def test_quorum_queue_default_delivery_limit_is_20(channel, unique_name, cleanup):
    # RabbitMQ 4.0 gives quorum queues a default delivery limit of 20
    # (rabbit_quorum_queue.erl DEFAULT_DELIVERY_LIMIT; https://www.rabbitmq.com/docs/
    # quorum-queues#poison-message-handling); 3.10 has no limit unless one is set.
    q = declare(channel, cleanup, unique_name(), "quorum")
    channel.basic_publish("", q, b"poison")
    for _ in range(21):
        method, _, _ = get_message(channel, q)
        channel.basic_nack(method.delivery_tag, requeue=True)
    assert drain(channel, q) == []


# --------------------------------------------------------------------------------------
# Stream queues


def test_stream_consume_from_the_first_offset(connection, unique_name, cleanup):
    ch = connection.channel()
    q = declare(ch, cleanup, unique_name(), "stream")
    ch.confirm_delivery()
    for i in range(3):
        ch.basic_publish("", q, f"s{i}".encode())
    ch.basic_qos(prefetch_count=10)
    got = []
    ch.basic_consume(
        q,
        lambda c, m, p, b: got.append((m.delivery_tag, p.headers, b)),
        arguments={"x-stream-offset": "first"},
    )
    pump_until(connection, lambda: len(got) == 3, timeout=5, message="3 stream deliveries")
    assert [body for _, _, body in got] == [b"s0", b"s1", b"s2"]
    # Each delivery carries its offset in the stream.
    assert [headers["x-stream-offset"] for _, headers, _ in got] == [0, 1, 2]
    ch.basic_ack(got[-1][0], multiple=True)


def test_stream_basic_get_is_540(connection, unique_name, cleanup):
    ch = connection.channel()
    q = declare(ch, cleanup, unique_name(), "stream")
    text = f"NOT_IMPLEMENTED - basic.get not supported by stream queues queue '{q}' in vhost '/'"
    with connection_closed(540, text):
        ch.basic_get(q)


def test_stream_purge_is_540(connection, unique_name, cleanup):
    ch = connection.channel()
    q = declare(ch, cleanup, unique_name(), "stream")
    text = f"NOT_IMPLEMENTED - queue.purge not supported by stream queues queue '{q}' in vhost '/'"
    with connection_closed(540, text):
        ch.queue_purge(q)


@pytest.mark.newer_than_310
def test_stream_consumer_needs_a_prefetch_count(connection, unique_name, cleanup):
    # 4.x text (rabbit_stream_queue:consume/3); 3.10.8 says "... is not set for
    # 'queue 'q' in vhost '/''" (observed), also 406.
    ch = connection.channel()
    q = declare(ch, cleanup, unique_name(), "stream")
    text = (
        "PRECONDITION_FAILED - consumer prefetch count is not set for stream "
        f"queue '{q}' in vhost '/'"
    )
    with channel_closed(406, text):
        ch.basic_consume(q, lambda *args: None)


@pytest.mark.newer_than_310
def test_stream_consumer_cannot_auto_ack(connection, unique_name, cleanup):
    # 4.x text (rabbit_stream_queue:consume/3); 3.10.8 says "... not supported by stream
    # queues queue 'q' in vhost '/'" (observed), also a 540 connection error.
    ch = connection.channel()
    q = declare(ch, cleanup, unique_name(), "stream")
    ch.basic_qos(prefetch_count=10)
    text = (
        "NOT_IMPLEMENTED - automatic acknowledgement not supported by stream "
        f"queue '{q}' in vhost '/'"
    )
    with connection_closed(540, text):
        ch.basic_consume(q, lambda *args: None, auto_ack=True)
