"""basic.publish: mandatory returns, properties, bodies of every size, ordering."""

from __future__ import annotations

import datetime
import decimal
import time

import amqp
import pika
import pika.exceptions
import pytest
from pamqp import commands, header
from pamqp.body import ContentBody

from .helpers import channel_closed, consume_n, get_message, pump, pump_until


def _collect_returns(channel):
    returned = []
    channel.add_on_return_callback(
        lambda ch, method, props, body: returned.append((method, props, body))
    )
    return returned


def test_mandatory_unroutable_is_returned_with_312(connection, unique_name):
    ch = connection.channel()
    returned = _collect_returns(ch)
    key = unique_name("nowhere")
    props = pika.BasicProperties(message_id="m1", headers={"h": 1})
    ch.basic_publish("", key, b"bounce", props, mandatory=True)
    pump_until(connection, lambda: returned, message="basic.return")
    method, rprops, body = returned[0]
    assert (method.reply_code, method.reply_text) == (312, "NO_ROUTE")
    assert (method.exchange, method.routing_key) == ("", key)
    assert (rprops.message_id, rprops.headers, body) == ("m1", {"h": 1}, b"bounce")
    assert ch.is_open


def test_mandatory_unroutable_via_exchange_without_bindings(connection, unique_name, cleanup):
    ex = cleanup.exchange(unique_name("ex"))
    ch = connection.channel()
    ch.exchange_declare(ex, exchange_type="topic")
    returned = _collect_returns(ch)
    ch.basic_publish(ex, "a.b", b"x", mandatory=True)
    pump_until(connection, lambda: returned, message="basic.return")
    assert (returned[0][0].exchange, returned[0][0].routing_key) == (ex, "a.b")
    assert returned[0][0].reply_code == 312


def test_non_mandatory_unroutable_is_dropped_silently(connection, unique_name):
    ch = connection.channel()
    returned = _collect_returns(ch)
    ch.basic_publish("", unique_name("nowhere"), b"dropped")
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"marker", mandatory=True)
    assert get_message(ch, q, auto_ack=True)[2] == b"marker"
    pump(connection, 0.1)
    assert returned == []
    assert ch.is_open


def test_mandatory_routed_is_not_returned(connection):
    ch = connection.channel()
    returned = _collect_returns(ch)
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"routed", mandatory=True)
    assert get_message(ch, q, auto_ack=True)[2] == b"routed"
    pump(connection, 0.1)
    assert returned == []


ALL_PROPERTIES = pika.BasicProperties(
    content_type="application/json",
    content_encoding="gzip",
    headers={
        "str": "text",
        "int": 42,
        "negative": -7,
        "long": 2**40,
        "bool": True,
        "false": False,
        "none": None,
        "bytes": b"\x00\xff raw",
        "decimal": decimal.Decimal("3.14"),
        "timestamp": datetime.datetime(2024, 5, 17, 12, 30, 45, tzinfo=datetime.UTC),
        "list": [1, "two", [3, {"four": 4}], False],
        "nested": {"a": {"b": {"c": "deep"}}, "empty": {}},
        "unicode": "häschen ✓",
    },
    delivery_mode=2,
    priority=5,
    correlation_id="corr-1",
    reply_to="reply.queue",
    expiration="600000",
    message_id="msg-1",
    timestamp=1_700_000_000,
    type="order.created",
    user_id="guest",
    app_id="leveret-tests",
    cluster_id="cluster-a",
)

PROPERTY_NAMES = [
    "content_type",
    "content_encoding",
    "headers",
    "delivery_mode",
    "priority",
    "correlation_id",
    "reply_to",
    "expiration",
    "message_id",
    "timestamp",
    "type",
    "user_id",
    "app_id",
    "cluster_id",
]


def test_all_fourteen_properties_are_forwarded_unchanged(channel):
    q = channel.queue_declare("", exclusive=True).method.queue
    channel.basic_publish("", q, b"{}", ALL_PROPERTIES)
    _, props, body = get_message(channel, q, auto_ack=True)
    assert body == b"{}"
    for name in PROPERTY_NAMES:
        assert getattr(props, name) == getattr(ALL_PROPERTIES, name), name


def test_properties_forwarded_to_consumer_and_on_return(connection, unique_name):
    ch = connection.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"c", ALL_PROPERTIES)
    ((_, props, _),) = consume_n(ch, q, 1, auto_ack=True)
    assert {n: getattr(props, n) for n in PROPERTY_NAMES} == {
        n: getattr(ALL_PROPERTIES, n) for n in PROPERTY_NAMES
    }
    returned = _collect_returns(ch)
    ch.basic_publish("", unique_name("nowhere"), b"r", ALL_PROPERTIES, mandatory=True)
    pump_until(connection, lambda: returned, message="basic.return")
    assert returned[0][1].headers == ALL_PROPERTIES.headers


def test_absent_properties_stay_absent(channel):
    q = channel.queue_declare("", exclusive=True).method.queue
    channel.basic_publish("", q, b"bare")
    _, props, _ = get_message(channel, q, auto_ack=True)
    assert all(getattr(props, name) is None for name in PROPERTY_NAMES)


def test_user_id_must_match_the_authenticated_user(connection):
    ch = connection.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    with channel_closed(
        406,
        "PRECONDITION_FAILED - user_id property set to 'mallory' but authenticated user was "
        "'guest'",
    ):
        ch.basic_publish("", q, b"x", pika.BasicProperties(user_id="mallory"))
        ch.queue_declare(q, passive=True)


def test_invalid_expiration_is_406(connection):
    ch = connection.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    with channel_closed(406, "PRECONDITION_FAILED - invalid expiration 'soon': no_integer"):
        ch.basic_publish("", q, b"x", pika.BasicProperties(expiration="soon"))
        ch.queue_declare(q, passive=True)


def test_negative_expiration_is_406(connection):
    ch = connection.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    with channel_closed(406, "PRECONDITION_FAILED - invalid expiration '-1': {value_negative,-1}"):
        ch.basic_publish("", q, b"x", pika.BasicProperties(expiration="-1"))
        ch.queue_declare(q, passive=True)


def test_per_message_expiration_drops_expired_messages(channel):
    q = channel.queue_declare("", exclusive=True).method.queue
    channel.basic_publish("", q, b"expires", pika.BasicProperties(expiration="20"))
    channel.basic_publish("", q, b"stays")
    time.sleep(0.1)
    _, props, body = get_message(channel, q, auto_ack=True)
    assert (body, props.expiration) == (b"stays", None)


@pytest.mark.parametrize("size", [0, 1, 131064, 131065, 1024 * 1024], ids=lambda s: f"{s}B")
def test_body_sizes_round_trip(channel, size):
    q = channel.queue_declare("", exclusive=True).method.queue
    body = bytes(i % 251 for i in range(size))
    channel.basic_publish("", q, body)
    _, _, got = get_message(channel, q, auto_ack=True)
    assert got == body


def test_large_body_with_small_frame_max(connect):
    ch = connect(frame_max=8192).channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    body = bytes(range(256)) * 4096  # 1 MiB in 128+ frames
    ch.basic_publish("", q, body)
    ((_, _, got),) = consume_n(ch, q, 1, auto_ack=True)
    assert got == body


def test_body_frames_respect_frame_max(raw_client):
    client = raw_client()
    client.handshake(frame_max=8192)
    client.open_channel(1)
    client.send(commands.Queue.Declare(queue="", exclusive=True), 1)
    q = client.recv_method().queue
    body = b"0123456789abcdef" * 2000  # 32000 bytes
    client.send(commands.Basic.Publish(exchange="", routing_key=q), 1)
    client.send(header.ContentHeader(0, len(body), commands.Basic.Properties()), 1)
    for start in range(0, len(body), 8184):
        client.send(ContentBody(body[start : start + 8184]), 1)
    client.send(commands.Basic.Get(queue=q, no_ack=True), 1)
    get_ok = client.recv_method()
    assert isinstance(get_ok, commands.Basic.GetOk)
    content_header = client.recv_method()
    assert isinstance(content_header, header.ContentHeader)
    assert content_header.body_size == len(body)
    chunks = []
    while sum(map(len, chunks)) < len(body):
        frame_value = client.recv_method()
        assert isinstance(frame_value, ContentBody)
        assert len(frame_value.value) <= 8192 - 8
        chunks.append(frame_value.value)
    assert b"".join(chunks) == body
    assert len(chunks) == 4


def test_order_is_preserved(channel):
    q = channel.queue_declare("", exclusive=True).method.queue
    for i in range(2000):
        channel.basic_publish("", q, str(i).encode())
    got = consume_n(channel, q, 2000, auto_ack=True)
    assert [int(b) for _, _, b in got] == list(range(2000))


def test_immediate_flag_is_not_implemented(broker_host, broker_port):
    conn = amqp.Connection(f"{broker_host}:{broker_port}")
    conn.connect()
    try:
        ch = conn.channel()
        q, _, _ = ch.queue_declare(exclusive=True)
        ch.basic_publish(amqp.Message(b"now"), routing_key=q, immediate=True)
        with pytest.raises(amqp.exceptions.AMQPNotImplementedError) as info:
            ch.queue_declare(q, passive=True)
        assert info.value.reply_code == 540
        assert info.value.reply_text == "NOT_IMPLEMENTED - immediate=true"
    finally:
        conn.collect()


def test_publish_to_default_exchange_with_missing_queue_name_is_dropped(connection, unique_name):
    ch = connection.channel()
    ch.basic_publish("", unique_name("nowhere"), b"dropped")
    ch.queue_declare("", exclusive=True)
    assert ch.is_open
