"""RabbitMQ extension: direct reply-to (the ``amq.rabbitmq.reply-to`` pseudo-queue).

https://www.rabbitmq.com/docs/direct-reply-to: the requester consumes from
``amq.rabbitmq.reply-to`` in automatic-acknowledgement mode and publishes its request with
``reply_to = "amq.rabbitmq.reply-to"`` on the same channel; the responder sees a reply-to
rewritten to ``amq.rabbitmq.reply-to.<opaque suffix>`` and publishes its reply to the
default exchange with that routing key. Error texts are the same in 3.10.8 (observed) and
4.x (rabbit_channel.erl).
"""

from __future__ import annotations

import pika
import pika.exceptions
import pytest

from .helpers import channel_closed, get_message, pump, pump_until

REPLY_TO = "amq.rabbitmq.reply-to"


@pytest.fixture
def request_queue(channel, unique_name, cleanup):
    q = cleanup.queue(unique_name("rpc"))
    channel.queue_declare(q)
    return q


class Requester:
    """A channel consuming from the pseudo-queue; replies land in ``self.replies``."""

    def __init__(self, connection):
        self.connection = connection
        self.channel = connection.channel()
        self.replies = []
        self.tag = self.channel.basic_consume(
            REPLY_TO, lambda ch, m, p, b: self.replies.append((m, p, b)), auto_ack=True
        )

    def request(self, queue, body, correlation_id="c1"):
        props = pika.BasicProperties(reply_to=REPLY_TO, correlation_id=correlation_id)
        self.channel.basic_publish("", queue, body, props)

    def wait_reply(self, timeout=5.0):
        pump_until(self.connection, lambda: self.replies, timeout=timeout, message="a reply")
        return self.replies.pop(0)


def test_request_reply_round_trip(connect, request_queue):
    requester = Requester(connect())
    requester.request(request_queue, b"ping", correlation_id="abc")

    responder = connect().channel()
    _, props, body = get_message(responder, request_queue, auto_ack=True)
    assert body == b"ping"
    assert props.reply_to.startswith(REPLY_TO + ".")
    assert len(props.reply_to) > len(REPLY_TO) + 1
    assert props.correlation_id == "abc"
    responder.basic_publish(
        "", props.reply_to, b"pong", pika.BasicProperties(correlation_id=props.correlation_id)
    )

    method, reply_props, reply = requester.wait_reply()
    assert reply == b"pong"
    assert reply_props.correlation_id == "abc"
    assert method.consumer_tag == requester.tag
    assert (method.exchange, method.routing_key) == ("", props.reply_to)
    assert method.redelivered is False


def test_several_replies_to_one_request(connect, request_queue):
    requester = Requester(connect())
    requester.request(request_queue, b"stream me")
    responder = connect().channel()
    _, props, _ = get_message(responder, request_queue, auto_ack=True)
    for i in range(3):
        responder.basic_publish("", props.reply_to, f"part{i}".encode())
    assert [requester.wait_reply()[2] for _ in range(3)] == [b"part0", b"part1", b"part2"]


def test_each_requester_channel_gets_its_own_reply_address(connect, request_queue):
    conn = connect()
    first, second = Requester(conn), Requester(conn)
    first.request(request_queue, b"1")
    second.request(request_queue, b"2")
    responder = connect().channel()
    # RabbitMQ runs each channel as its own process, so requests published on two channels
    # may reach the queue in either order: match each by its body.
    reply_to = {}
    for _ in range(2):
        _, props, body = get_message(responder, request_queue, auto_ack=True)
        reply_to[body] = props.reply_to
    p1, p2 = reply_to[b"1"], reply_to[b"2"]
    assert p1 != p2
    responder.basic_publish("", p2, b"for 2")
    responder.basic_publish("", p1, b"for 1")
    assert first.wait_reply()[2] == b"for 1"
    assert second.wait_reply()[2] == b"for 2"
    assert first.replies == [] and second.replies == []


def test_reply_after_requester_left_is_dropped_quietly(connect, request_queue):
    requester_conn = connect()
    requester = Requester(requester_conn)
    requester.request(request_queue, b"then leave")
    responder_conn = connect()
    responder = responder_conn.channel()
    _, props, _ = get_message(responder, request_queue, auto_ack=True)
    requester_conn.close()
    responder.basic_publish("", props.reply_to, b"nobody home")
    pump(responder_conn, 0.2)
    assert responder.is_open
    # The responder can carry on.
    responder.queue_declare(request_queue, passive=True)


def test_reply_to_a_made_up_address_is_dropped_quietly(connection):
    ch = connection.channel()
    ch.basic_publish("", REPLY_TO + ".not-a-real-address", b"lost")
    pump(connection, 0.2)
    assert ch.is_open
    ch.basic_qos(prefetch_count=1)  # a round trip: the channel is still usable


@pytest.mark.newer_than_310
def test_mandatory_reply_is_not_returned(connect, request_queue):
    # 4.x: "If the responder publishes with the mandatory flag, amq.rabbitmq.reply-to.* is
    # treated as a queue for routing ... RabbitMQ will not send a basic.return"
    # (https://www.rabbitmq.com/docs/direct-reply-to). RabbitMQ 3.10.8 delivers the reply
    # and also returns it with 312 NO_ROUTE.
    requester = Requester(connect())
    requester.request(request_queue, b"ping")
    responder = connect().channel()
    responder.confirm_delivery()
    _, props, _ = get_message(responder, request_queue, auto_ack=True)
    responder.basic_publish("", props.reply_to, b"pong", mandatory=True)  # raises if returned
    assert requester.wait_reply()[2] == b"pong"


# --------------------------------------------------------------------------------------
# Errors


def test_consuming_with_acks_is_406(connection):
    ch = connection.channel()
    with channel_closed(406, "PRECONDITION_FAILED - reply consumer cannot acknowledge"):
        ch.basic_consume(REPLY_TO, lambda *args: None, auto_ack=False)


def test_publishing_with_reply_to_without_consuming_is_406(connection, request_queue):
    ch = connection.channel()
    props = pika.BasicProperties(reply_to=REPLY_TO)
    with channel_closed(406, "PRECONDITION_FAILED - fast reply consumer does not exist"):
        ch.basic_publish("", request_queue, b"request", props)
        ch.queue_declare(request_queue, passive=True)


def test_consumer_on_another_channel_does_not_count(connection, request_queue):
    Requester(connection)
    ch = connection.channel()
    props = pika.BasicProperties(reply_to=REPLY_TO)
    with channel_closed(406, "PRECONDITION_FAILED - fast reply consumer does not exist"):
        ch.basic_publish("", request_queue, b"request", props)
        ch.queue_declare(request_queue, passive=True)


def test_second_reply_consumer_on_a_channel_is_406(connection):
    requester = Requester(connection)
    with channel_closed(406, "PRECONDITION_FAILED - reply consumer already set"):
        requester.channel.basic_consume(REPLY_TO, lambda *args: None, auto_ack=True)


def test_publishing_with_reply_to_after_cancel_is_406(connection, request_queue):
    requester = Requester(connection)
    requester.channel.basic_cancel(requester.tag)
    with channel_closed(406, "PRECONDITION_FAILED - fast reply consumer does not exist"):
        requester.request(request_queue, b"too late")
        requester.channel.queue_declare(request_queue, passive=True)


def test_consume_again_after_cancel(connect, request_queue):
    conn = connect()
    requester = Requester(conn)
    requester.channel.basic_cancel(requester.tag)
    requester.tag = requester.channel.basic_consume(
        REPLY_TO, lambda ch, m, p, b: requester.replies.append((m, p, b)), auto_ack=True
    )
    requester.request(request_queue, b"again")
    responder = connect().channel()
    _, props, _ = get_message(responder, request_queue, auto_ack=True)
    responder.basic_publish("", props.reply_to, b"ok")
    assert requester.wait_reply()[2] == b"ok"
