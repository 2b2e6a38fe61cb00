"""RabbitMQ extension: dead-letter exchanges (x-dead-letter-exchange / -routing-key).

Header shapes are as RabbitMQ 3.10.8 writes them, checked against 4.x's
deps/rabbit/src/mc_amqpl.erl (death_table/7) and https://www.rabbitmq.com/docs/dlx:
``x-death`` is an array of tables, most recent event first, one per {queue, reason} with a
``count`` (long), ``reason``, ``queue``, ``time`` (timestamp), ``exchange`` and
``routing-keys`` (array of longstr, CC included, BCC excluded), plus
``original-expiration`` when the message had an expiration property. 3.10 appends that
last key, 4.x puts it first, so its position is not asserted; and 3.10 re-sorts the keys
of every entry alphabetically when it dead-letters a message a second time, so key order
is asserted for a message's first death only.
"""

from __future__ import annotations

import datetime
import time

import pika
import pytest

from .helpers import (
    channel_closed,
    drain,
    get_message,
    invalid_arg,
    is_long,
    wait_ready,
)

DEATH_KEYS = ["count", "reason", "queue", "time", "exchange", "routing-keys"]


def assert_death(
    entry,
    *,
    count,
    reason,
    queue,
    exchange,
    routing_keys,
    original_expiration=None,
    first_death=None,
):
    """Check one x-death table completely: keys, their order, values and value types.

    Key order is checked only for a message's first death (``first_death`` defaults to
    ``count == 1``): 3.10 re-sorts the keys of every x-death entry when it dead-letters a
    message again, while 4.x writes each entry in DEATH_KEYS order."""
    assert isinstance(entry, dict), entry
    keys = [k for k in entry if k != "original-expiration"]
    if first_death is None:
        first_death = count == 1
    if first_death:
        assert keys == DEATH_KEYS, entry
    else:
        assert sorted(keys) == sorted(DEATH_KEYS), entry
    assert entry.get("original-expiration") == original_expiration, entry
    assert is_long(entry["count"]), f"count should be a long ('l'): {entry['count']!r}"
    assert entry["count"] == count
    assert entry["reason"] == reason
    assert entry["queue"] == queue
    assert entry["exchange"] == exchange
    assert entry["routing-keys"] == routing_keys
    stamp = entry["time"]
    assert isinstance(stamp, datetime.datetime), f"time should be a timestamp: {stamp!r}"
    now = datetime.datetime.now(datetime.UTC)
    assert abs((now - stamp).total_seconds()) < 30, stamp


def assert_first_death(headers, *, reason, queue, exchange):
    assert headers["x-first-death-reason"] == reason
    assert headers["x-first-death-queue"] == queue
    assert headers["x-first-death-exchange"] == exchange


@pytest.fixture
def dlx(channel, unique_name, cleanup):
    """A fanout DLX with one queue bound: (exchange, dead-letter queue)."""
    exchange = cleanup.exchange(unique_name("dlx"))
    channel.exchange_declare(exchange, "fanout")
    dead = cleanup.queue(unique_name("dead"))
    channel.queue_declare(dead)
    channel.queue_bind(dead, exchange)
    return exchange, dead


def source_queue(channel, cleanup, name, dlx_name, **arguments):
    arguments["x-dead-letter-exchange"] = dlx_name
    channel.queue_declare(cleanup.queue(name), arguments=arguments)
    return name


# --------------------------------------------------------------------------------------
# Rejected messages


def test_rejected_message_is_dead_lettered_with_x_death(channel, unique_name, cleanup, dlx):
    exchange, dead = dlx
    q = source_queue(channel, cleanup, unique_name(), exchange)
    props = pika.BasicProperties(
        headers={"app": "kept"},
        priority=3,
        message_id="m-1",
        content_type="text/plain",
        delivery_mode=2,
    )
    channel.basic_publish("", q, b"payload", props)
    method, _, _ = get_message(channel, q)
    channel.basic_reject(method.delivery_tag, requeue=False)

    method, props, body = get_message(channel, dead, auto_ack=True)
    assert body == b"payload"
    # Republished to the DLX with the original routing key.
    assert (method.exchange, method.routing_key, method.redelivered) == (exchange, q, False)
    assert (props.priority, props.message_id, props.content_type, props.delivery_mode) == (
        3,
        "m-1",
        "text/plain",
        2,
    )
    headers = props.headers
    assert headers["app"] == "kept"
    deaths = headers["x-death"]
    assert len(deaths) == 1
    assert_death(deaths[0], count=1, reason="rejected", queue=q, exchange="", routing_keys=[q])
    assert_first_death(headers, reason="rejected", queue=q, exchange="")
    assert drain(channel, q) == []


def test_nacked_message_is_dead_lettered_as_rejected(channel, unique_name, cleanup, dlx):
    exchange, dead = dlx
    q = source_queue(channel, cleanup, unique_name(), exchange)
    channel.queue_bind(q, "amq.direct", "via-direct")
    channel.confirm_delivery()
    for i in range(3):
        channel.basic_publish("amq.direct", "via-direct", f"m{i}".encode())
    tags = [get_message(channel, q)[0].delivery_tag for _ in range(3)]
    channel.basic_nack(tags[-1], multiple=True, requeue=False)

    got = [get_message(channel, dead, auto_ack=True) for _ in range(3)]
    assert [body for _, _, body in got] == [b"m0", b"m1", b"m2"]
    for method, props, _ in got:
        assert (method.exchange, method.routing_key) == (exchange, "via-direct")
        (death,) = props.headers["x-death"]
        assert_death(
            death,
            count=1,
            reason="rejected",
            queue=q,
            exchange="amq.direct",
            routing_keys=["via-direct"],
        )
        assert_first_death(props.headers, reason="rejected", queue=q, exchange="amq.direct")


def test_requeued_message_is_not_dead_lettered(channel, unique_name, cleanup, dlx):
    exchange, dead = dlx
    q = source_queue(channel, cleanup, unique_name(), exchange)
    channel.basic_publish("", q, b"again")
    method, _, _ = get_message(channel, q)
    channel.basic_reject(method.delivery_tag, requeue=True)
    method, _, body = get_message(channel, q)
    assert (body, method.redelivered) == (b"again", True)
    channel.basic_nack(method.delivery_tag, requeue=True)
    wait_ready(channel, q, 1)
    assert channel.queue_declare(dead, passive=True).method.message_count == 0


def test_dead_letter_routing_key_replaces_the_routing_key(channel, unique_name, cleanup):
    exchange = cleanup.exchange(unique_name("dlx"))
    channel.exchange_declare(exchange, "direct")
    dead = cleanup.queue(unique_name("dead"))
    channel.queue_declare(dead)
    channel.queue_bind(dead, exchange, "parked")
    q = source_queue(
        channel, cleanup, unique_name(), exchange, **{"x-dead-letter-routing-key": "parked"}
    )
    channel.basic_publish("", q, b"x")
    method, _, _ = get_message(channel, q)
    channel.basic_reject(method.delivery_tag, requeue=False)
    method, props, _ = get_message(channel, dead, auto_ack=True)
    assert (method.exchange, method.routing_key) == (exchange, "parked")
    # x-death records the routing keys the message had before, not the new one.
    (death,) = props.headers["x-death"]
    assert_death(death, count=1, reason="rejected", queue=q, exchange="", routing_keys=[q])


def test_default_exchange_as_dlx(channel, unique_name, cleanup):
    dead = cleanup.queue(unique_name("dead"))
    channel.queue_declare(dead)
    q = source_queue(channel, cleanup, unique_name(), "", **{"x-dead-letter-routing-key": dead})
    channel.basic_publish("", q, b"x")
    method, _, _ = get_message(channel, q)
    channel.basic_reject(method.delivery_tag, requeue=False)
    method, props, _ = get_message(channel, dead, auto_ack=True)
    assert (method.exchange, method.routing_key) == ("", dead)
    assert props.headers["x-death"][0]["queue"] == q


def test_missing_dlx_drops_dead_letters_silently(connection, unique_name, cleanup):
    ch = connection.channel()
    q = source_queue(ch, cleanup, unique_name(), unique_name("absent"))
    ch.basic_publish("", q, b"x")
    method, _, _ = get_message(ch, q)
    ch.basic_reject(method.delivery_tag, requeue=False)
    # No error for anybody; the message is gone.
    wait_ready(ch, q, 0)
    assert drain(ch, q) == []
    assert ch.is_open and connection.is_open


# --------------------------------------------------------------------------------------
# Expired messages


def test_queue_ttl_expiry_is_dead_lettered(channel, unique_name, cleanup):
    exchange = cleanup.exchange(unique_name("dlx"))
    channel.exchange_declare(exchange, "topic")
    dead = cleanup.queue(unique_name("dead"))
    channel.queue_declare(dead)
    channel.queue_bind(dead, exchange, "expired.#")
    q = source_queue(
        channel,
        cleanup,
        unique_name(),
        exchange,
        **{"x-message-ttl": 50, "x-dead-letter-routing-key": "expired.one"},
    )
    channel.basic_publish("", q, b"late")
    method, props, body = get_message(channel, dead, auto_ack=True, timeout=3)
    assert (body, method.exchange, method.routing_key) == (b"late", exchange, "expired.one")
    (death,) = props.headers["x-death"]
    # No expiration property was set, so no original-expiration either.
    assert_death(death, count=1, reason="expired", queue=q, exchange="", routing_keys=[q])
    assert_first_death(props.headers, reason="expired", queue=q, exchange="")
    assert props.expiration is None


def test_per_message_expiry_moves_expiration_into_x_death(channel, unique_name, cleanup, dlx):
    exchange, dead = dlx
    q = source_queue(channel, cleanup, unique_name(), exchange)
    channel.basic_publish("", q, b"short", pika.BasicProperties(expiration="50"))
    _, props, body = get_message(channel, dead, auto_ack=True, timeout=3)
    assert body == b"short"
    # The copy has no expiration (it would expire again downstream)...
    assert props.expiration is None
    (death,) = props.headers["x-death"]
    # ...RabbitMQ keeps the original value in x-death.
    assert_death(
        death,
        count=1,
        reason="expired",
        queue=q,
        exchange="",
        routing_keys=[q],
        original_expiration="50",
    )


def test_rejected_message_with_expiration_keeps_it_in_x_death(channel, unique_name, cleanup, dlx):
    exchange, dead = dlx
    q = source_queue(channel, cleanup, unique_name(), exchange)
    channel.basic_publish("", q, b"x", pika.BasicProperties(expiration="60000"))
    method, props, _ = get_message(channel, q)
    assert props.expiration == "60000"
    channel.basic_reject(method.delivery_tag, requeue=False)
    _, props, _ = get_message(channel, dead, auto_ack=True)
    assert props.expiration is None
    (death,) = props.headers["x-death"]
    assert_death(
        death,
        count=1,
        reason="rejected",
        queue=q,
        exchange="",
        routing_keys=[q],
        original_expiration="60000",
    )


# --------------------------------------------------------------------------------------
# Max-length overflow


def test_max_length_drop_head_is_dead_lettered_as_maxlen(channel, unique_name, cleanup, dlx):
    exchange, dead = dlx
    q = source_queue(channel, cleanup, unique_name(), exchange, **{"x-max-length": 1})
    channel.confirm_delivery()
    channel.basic_publish("", q, b"oldest")
    channel.basic_publish("", q, b"newest")
    _, props, body = get_message(channel, dead, auto_ack=True)
    assert body == b"oldest"
    (death,) = props.headers["x-death"]
    assert_death(death, count=1, reason="maxlen", queue=q, exchange="", routing_keys=[q])
    assert_first_death(props.headers, reason="maxlen", queue=q, exchange="")
    assert drain(channel, q) == [b"newest"]


# --------------------------------------------------------------------------------------
# Repeated dead-lettering


def test_x_death_counts_merge_per_queue_and_reason_through_a_cycle(channel, unique_name, cleanup):
    # a --(expired)--> b --(rejected by us)--> a --(expired)--> b ...
    a = cleanup.queue(unique_name("a"))
    b = cleanup.queue(unique_name("b"))
    channel.queue_declare(
        a,
        arguments={
            "x-message-ttl": 50,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": b,
        },
    )
    channel.queue_declare(
        b, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": a}
    )
    channel.basic_publish("", a, b"round")

    method, props, _ = get_message(channel, b, timeout=3)
    (death,) = props.headers["x-death"]
    assert_death(death, count=1, reason="expired", queue=a, exchange="", routing_keys=[a])

    for rounds in (1, 2, 3):
        channel.basic_reject(method.delivery_tag, requeue=False)
        method, props, body = get_message(channel, b, timeout=3)
        assert body == b"round"
        deaths = props.headers["x-death"]
        # One entry per {queue, reason}; the most recent event comes first.
        assert [(d["queue"], d["reason"]) for d in deaths] == [(a, "expired"), (b, "rejected")]
        assert_death(
            deaths[0], count=rounds + 1, reason="expired", queue=a, exchange="", routing_keys=[a]
        )
        assert_death(
            deaths[1],
            count=rounds,
            reason="rejected",
            queue=b,
            exchange="",
            routing_keys=[b],
            first_death=False,
        )
        # The first death is never rewritten.
        assert_first_death(props.headers, reason="expired", queue=a, exchange="")
    channel.basic_ack(method.delivery_tag)


def test_fully_automatic_dead_letter_cycle_drops_the_message(channel, unique_name, cleanup):
    # The queue dead-letters expired messages back to itself: without a rejection in the
    # cycle RabbitMQ drops the message instead of looping.
    q = cleanup.queue(unique_name())
    channel.queue_declare(q, arguments={"x-message-ttl": 50, "x-dead-letter-exchange": ""})
    channel.confirm_delivery()
    channel.basic_publish("", q, b"loop")
    wait_ready(channel, q, 0, timeout=3)
    time.sleep(0.3)
    assert drain(channel, q) == []


def test_rejection_in_the_cycle_keeps_the_message_going(channel, unique_name, cleanup):
    # The same queue dead-letters rejected messages to itself: each pass adds to the count.
    q = cleanup.queue(unique_name())
    channel.queue_declare(q, arguments={"x-dead-letter-exchange": ""})
    channel.basic_publish("", q, b"again")
    for count in (1, 2, 3):
        method, _, _ = get_message(channel, q)
        channel.basic_reject(method.delivery_tag, requeue=False)
        method, props, _ = get_message(channel, q)
        (death,) = props.headers["x-death"]
        assert_death(death, count=count, reason="rejected", queue=q, exchange="", routing_keys=[q])
        channel.basic_nack(method.delivery_tag, requeue=True)
    drain(channel, q)


@pytest.mark.newer_than_310
def test_x_last_death_headers_follow_the_latest_event(channel, unique_name, cleanup):
    # RabbitMQ 3.13+ adds x-last-death-reason/-queue/-exchange (updated on each death) next
    # to the x-first-death-* headers; 3.10 writes only x-first-death-*.
    # Source: https://www.rabbitmq.com/docs/dlx ("Dead-Lettered Effects on Messages") and
    # mc:record_death/3 in rabbitmq-server 4.x.
    # a --(expired)--> b --(rejected)--> c
    a, b, c = (cleanup.queue(unique_name(n)) for n in "abc")
    channel.queue_declare(
        a,
        arguments={
            "x-message-ttl": 50,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": b,
        },
    )
    channel.queue_declare(
        b, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": c}
    )
    channel.queue_declare(c)
    channel.basic_publish("", a, b"x")
    method, props, _ = get_message(channel, b, timeout=3)
    headers = props.headers
    assert (
        headers["x-last-death-reason"],
        headers["x-last-death-queue"],
        headers["x-last-death-exchange"],
    ) == ("expired", a, "")
    channel.basic_reject(method.delivery_tag, requeue=False)
    _, props, _ = get_message(channel, c, auto_ack=True)
    headers = props.headers
    assert_first_death(headers, reason="expired", queue=a, exchange="")
    assert (
        headers["x-last-death-reason"],
        headers["x-last-death-queue"],
        headers["x-last-death-exchange"],
    ) == ("rejected", b, "")


# --------------------------------------------------------------------------------------
# CC and BCC


@pytest.fixture
def cc_setup(channel, unique_name, cleanup):
    """A direct exchange feeding a source queue on key "a", and a direct DLX with queues
    bound on "a", "b" (CC'd), "c" (BCC'd) and "parked"."""

    def make(**arguments):
        source_exchange = cleanup.exchange(unique_name("src"))
        channel.exchange_declare(source_exchange, "direct")
        dlx_name = cleanup.exchange(unique_name("dlx"))
        channel.exchange_declare(dlx_name, "direct")
        q = source_queue(channel, cleanup, unique_name(), dlx_name, **arguments)
        channel.queue_bind(q, source_exchange, "a")
        dead = {}
        for key in ("a", "b", "c", "parked"):
            dead[key] = cleanup.queue(unique_name(f"dead-{key}"))
            channel.queue_declare(dead[key])
            channel.queue_bind(dead[key], dlx_name, key)
        channel.basic_publish(
            source_exchange,
            "a",
            b"cc",
            pika.BasicProperties(headers={"CC": ["b"], "BCC": ["c"]}),
        )
        method, props, _ = get_message(channel, q)
        assert props.headers == {"CC": ["b"]}  # BCC is stripped on publish
        channel.basic_reject(method.delivery_tag, requeue=False)
        return source_exchange, q, dead

    return make


def test_dead_lettering_uses_cc_and_bcc_routing_keys(channel, cc_setup):
    source_exchange, q, dead = cc_setup()
    for key in ("a", "b", "c"):
        method, props, _ = get_message(channel, dead[key], auto_ack=True, timeout=3)
        assert method.routing_key == "a"
        assert props.headers["CC"] == ["b"]
        assert "BCC" not in props.headers
        (death,) = props.headers["x-death"]
        # routing-keys include CC but not BCC.
        assert_death(
            death,
            count=1,
            reason="rejected",
            queue=q,
            exchange=source_exchange,
            routing_keys=["a", "b"],
        )
    assert drain(channel, dead["parked"]) == []


def test_dead_letter_routing_key_drops_cc(channel, cc_setup):
    source_exchange, q, dead = cc_setup(**{"x-dead-letter-routing-key": "parked"})
    method, props, _ = get_message(channel, dead["parked"], auto_ack=True, timeout=3)
    assert method.routing_key == "parked"
    assert "CC" not in props.headers
    (death,) = props.headers["x-death"]
    assert_death(
        death,
        count=1,
        reason="rejected",
        queue=q,
        exchange=source_exchange,
        routing_keys=["a", "b"],
    )
    for key in ("a", "b", "c"):
        assert drain(channel, dead[key]) == []


# --------------------------------------------------------------------------------------
# Invalid arguments (texts observed on RabbitMQ 3.10.8, same code in 4.x)


def test_non_string_dlx_is_406(connection, unique_name):
    ch = connection.channel()
    q = unique_name()
    text = (
        "PRECONDITION_FAILED - invalid type 'signedint' for arg 'x-dead-letter-exchange' "
        f"in queue '{q}' in vhost '/'"
    )
    with channel_closed(406, text):
        ch.queue_declare(q, arguments={"x-dead-letter-exchange": 5})


def test_dead_letter_routing_key_without_dlx_is_406(connection, unique_name):
    ch = connection.channel()
    q = unique_name()
    detail = "routing_key_but_no_dlx_defined"
    with channel_closed(406, invalid_arg("x-dead-letter-routing-key", q, detail)):
        ch.queue_declare(q, arguments={"x-dead-letter-routing-key": "rk"})


def test_non_string_dead_letter_routing_key_is_406(connection, unique_name):
    ch = connection.channel()
    q = unique_name()
    detail = "{unacceptable_type,signedint}"
    with channel_closed(406, invalid_arg("x-dead-letter-routing-key", q, detail)):
        ch.queue_declare(
            q, arguments={"x-dead-letter-exchange": "dlx", "x-dead-letter-routing-key": 5}
        )
