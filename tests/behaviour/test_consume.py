"""basic.consume / cancel / get: tags, exclusivity, cancel notifications, dispatch."""

from __future__ import annotations

import itertools

import amqp
import pika
import pika.exceptions
import pytest

from .helpers import (
    channel_closed,
    consume_n,
    get_message,
    no_queue,
    pump,
    pump_until,
    wait_for,
    wait_ready,
)


def test_server_generated_consumer_tags(broker_host, broker_port):
    # pika makes its own tags; py-amqp sends an empty tag and lets the server choose.
    conn = amqp.Connection(f"{broker_host}:{broker_port}")
    conn.connect()
    try:
        ch = conn.channel()
        q, _, _ = ch.queue_declare(exclusive=True)
        tags = {ch.basic_consume(q, callback=lambda m: None) for _ in range(3)}
        assert len(tags) == 3
        assert all(tag.startswith("amq.ctag-") for tag in tags), tags
    finally:
        conn.close()


def test_server_generated_consumer_tag_on_the_wire(raw_client):
    from pamqp import commands

    client = raw_client()
    client.handshake()
    client.open_channel(1)
    client.send(commands.Queue.Declare(queue="", exclusive=True), 1)
    q = client.recv_method().queue
    client.send(commands.Basic.Consume(queue=q, consumer_tag=""), 1)
    ok = client.recv_method()
    assert isinstance(ok, commands.Basic.ConsumeOk)
    assert ok.consumer_tag.startswith("amq.ctag-")


def test_client_consumer_tag_is_echoed_in_deliveries(connection):
    ch = connection.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    received = []
    tag = ch.basic_consume(q, lambda c, m, p, b: received.append(m), consumer_tag="my-tag")
    assert tag == "my-tag"
    ch.basic_publish("", q, b"x")
    pump_until(connection, lambda: received, message="delivery")
    method = received[0]
    assert (method.consumer_tag, method.delivery_tag, method.redelivered) == ("my-tag", 1, False)
    assert (method.exchange, method.routing_key) == ("", q)


def test_consume_on_missing_queue_is_404(connection, unique_name):
    q = unique_name("missing")
    with channel_closed(404, no_queue(q)):
        connection.channel().basic_consume(q, lambda *args: None)


def test_exclusive_consumer_blocks_other_consumers(connect, unique_name, cleanup):
    q = cleanup.queue(unique_name("q"))
    first = connect()
    ch = first.channel()
    ch.queue_declare(q)
    ch.basic_consume(q, lambda *args: None, exclusive=True)
    other = connect()
    text = f"ACCESS_REFUSED - queue '{q}' in vhost '/' in exclusive use"
    with channel_closed(403, text):
        other.channel().basic_consume(q, lambda *args: None)
    with channel_closed(403, text):
        other.channel().basic_consume(q, lambda *args: None, exclusive=True)
    with channel_closed(403, text):
        first.channel().basic_consume(q, lambda *args: None)  # same connection too
    first.close()
    wait_for(lambda: other.channel().basic_consume(q, lambda *args: None), message="consume")


def test_exclusive_consume_on_queue_with_consumers_is_403(connect, unique_name, cleanup):
    q = cleanup.queue(unique_name("q"))
    ch = connect().channel()
    ch.queue_declare(q)
    ch.basic_consume(q, lambda *args: None)
    with channel_closed(403, f"ACCESS_REFUSED - queue '{q}' in vhost '/' in exclusive use"):
        connect().channel().basic_consume(q, lambda *args: None, exclusive=True)


def test_consumer_tag_reuse_on_a_channel_is_530(broker_host, broker_port):
    conn = amqp.Connection(f"{broker_host}:{broker_port}")
    conn.connect()
    try:
        ch = conn.channel()
        q, _, _ = ch.queue_declare(exclusive=True)
        ch.basic_consume(q, consumer_tag="dup", callback=lambda m: None)
        with pytest.raises(amqp.exceptions.NotAllowed) as info:
            ch.basic_consume(q, consumer_tag="dup", callback=lambda m: None)
        assert info.value.reply_code == 530
        assert info.value.reply_text == "NOT_ALLOWED - attempt to reuse consumer tag 'dup'"
    finally:
        conn.collect()


def test_same_consumer_tag_on_different_channels_is_fine(connection):
    ch1, ch2 = connection.channel(), connection.channel()
    q = ch1.queue_declare("", exclusive=True).method.queue
    assert ch1.basic_consume(q, lambda *args: None, consumer_tag="same") == "same"
    assert ch2.basic_consume(q, lambda *args: None, consumer_tag="same") == "same"
    assert ch1.queue_declare(q, passive=True).method.consumer_count == 2


def test_consumer_tag_can_be_reused_after_cancel(broker_host, broker_port):
    conn = amqp.Connection(f"{broker_host}:{broker_port}")
    conn.connect()
    try:
        ch = conn.channel()
        q, _, _ = ch.queue_declare(exclusive=True, auto_delete=False)
        assert ch.basic_consume(q, consumer_tag="again", callback=lambda m: None) == "again"
        assert ch.basic_cancel("again") == "again"
        assert ch.basic_consume(q, consumer_tag="again", callback=lambda m: None) == "again"
        ch.basic_cancel("not-a-consumer")  # cancelling an unknown tag is not an error
        assert ch.is_open
    finally:
        conn.close()


def test_cancel_stops_deliveries_and_leaves_messages(connection):
    ch = connection.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    received = []
    tag = ch.basic_consume(q, lambda c, m, p, b: received.append(b), auto_ack=True)
    ch.basic_publish("", q, b"1")
    pump_until(connection, lambda: received, message="delivery")
    ch.basic_cancel(tag)
    ch.basic_publish("", q, b"2")
    wait_ready(ch, q, 1)
    pump(connection, 0.05)
    assert received == [b"1"]
    assert ch.queue_declare(q, passive=True).method.consumer_count == 0


def test_consumer_is_notified_when_its_queue_is_deleted(connect, unique_name, cleanup):
    q = cleanup.queue(unique_name("q"))
    conn = connect()
    ch = conn.channel()
    ch.queue_declare(q)
    cancelled = []
    ch.add_on_cancel_callback(lambda frame: cancelled.append(frame.method))
    tag = ch.basic_consume(q, lambda *args: None)
    connect().channel().queue_delete(q)
    pump_until(conn, lambda: cancelled, message="basic.cancel from the broker")
    assert cancelled[0].consumer_tag == tag
    assert ch.is_open
    ch.queue_declare("", exclusive=True)


def test_no_ack_consumer_removes_messages(connect, unique_name, cleanup):
    q = cleanup.queue(unique_name("q"))
    conn = connect()
    ch = conn.channel()
    ch.queue_declare(q)
    for i in range(3):
        ch.basic_publish("", q, str(i).encode())
    got = consume_n(ch, q, 3, auto_ack=True)
    assert [b for _, _, b in got] == [b"0", b"1", b"2"]
    conn.close()
    check = connect().channel()
    assert check.queue_declare(q, passive=True).method.message_count == 0


def test_round_robin_between_consumers(connection):
    ch = connection.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    received: dict[str, list[int]] = {}
    for name in ("a", "b", "c"):
        received[name] = []
        ch.basic_consume(
            q,
            lambda c, m, p, b, name=name: received[name].append(int(b)),
            auto_ack=True,
            consumer_tag=name,
        )
    for i in range(9):
        ch.basic_publish("", q, str(i).encode())
    pump_until(connection, lambda: sum(map(len, received.values())) == 9, message="9 messages")
    assert sorted(len(v) for v in received.values()) == [3, 3, 3]
    assert sorted(i for v in received.values() for i in v) == list(range(9))
    for values in received.values():
        assert values == sorted(values)
        assert {b - a for a, b in itertools.pairwise(values)} == {3}


def test_higher_priority_consumer_gets_messages_first(connection):
    ch = connection.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    received: dict[str, list[bytes]] = {"low": [], "high": []}
    ch.basic_consume(q, lambda c, m, p, b: received["low"].append(b), auto_ack=True)
    ch.basic_consume(
        q,
        lambda c, m, p, b: received["high"].append(b),
        auto_ack=True,
        arguments={"x-priority": 10},
    )
    for i in range(5):
        ch.basic_publish("", q, str(i).encode())
    pump_until(connection, lambda: len(received["high"]) == 5, message="5 messages")
    pump(connection, 0.05)
    assert received["low"] == []


def test_basic_get_reports_remaining_count(channel):
    q = channel.queue_declare("", exclusive=True).method.queue
    for i in range(3):
        channel.basic_publish("", q, str(i).encode(), pika.BasicProperties(message_id=str(i)))
    wait_ready(channel, q, 3)
    for i in range(3):
        method, props, body = channel.basic_get(q, auto_ack=True)
        assert (body, props.message_id) == (str(i).encode(), str(i))
        assert method.message_count == 2 - i
        assert (method.exchange, method.routing_key, method.redelivered) == ("", q, False)
    assert channel.basic_get(q, auto_ack=True) == (None, None, None)


def test_basic_get_empty_with_py_amqp(broker_host, broker_port):
    conn = amqp.Connection(f"{broker_host}:{broker_port}")
    conn.connect()
    try:
        ch = conn.channel()
        q, _, _ = ch.queue_declare(exclusive=True)
        assert ch.basic_get(q) is None
        ch.basic_publish(amqp.Message(b"one"), routing_key=q)
        msg = wait_for(lambda: ch.basic_get(q), message="basic.get-ok")
        assert msg.body == b"one"
        assert msg.delivery_info["message_count"] == 0
        ch.basic_ack(msg.delivery_tag)
    finally:
        conn.close()


def test_basic_get_on_missing_queue_is_404(connection, unique_name):
    q = unique_name("missing")
    with channel_closed(404, no_queue(q)):
        connection.channel().basic_get(q)


def test_delivery_tags_are_per_channel_and_shared_by_get_and_consume(connection):
    ch = connection.channel()
    other = connection.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    for i in range(4):
        ch.basic_publish("", q, str(i).encode())
    assert get_message(ch, q)[0].delivery_tag == 1
    assert get_message(other, q)[0].delivery_tag == 1
    assert get_message(ch, q)[0].delivery_tag == 2
    ((method, _, _),) = consume_n(ch, q, 1)
    assert method.delivery_tag == 3


def test_consumer_receives_messages_published_before_it_started(connection):
    ch = connection.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    for i in range(5):
        ch.basic_publish("", q, str(i).encode())
    got = consume_n(ch, q, 5, auto_ack=True)
    assert [b for _, _, b in got] == [str(i).encode() for i in range(5)]
