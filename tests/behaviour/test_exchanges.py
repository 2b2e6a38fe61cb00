"""Exchanges: predeclared ones, declare/redeclare rules, deletion, internal, headers."""

from __future__ import annotations

import pika
import pika.exceptions
import pytest

from .helpers import (
    channel_closed,
    connection_closed,
    consume_n,
    exchange_exists,
    get_message,
    inequivalent,
    no_exchange,
    wait_for,
)

PREDECLARED = [
    ("amq.direct", "direct"),
    ("amq.fanout", "fanout"),
    ("amq.topic", "topic"),
    ("amq.headers", "headers"),
    ("amq.match", "headers"),
]


@pytest.mark.parametrize(("name", "kind"), PREDECLARED)
def test_predeclared_exchanges_exist(channel, name, kind):
    channel.exchange_declare(name, passive=True)
    # An active declare with the same properties is allowed despite the reserved prefix.
    channel.exchange_declare(name, exchange_type=kind, durable=True)


def test_default_exchange_routes_by_queue_name(channel):
    q = channel.queue_declare("", exclusive=True).method.queue
    channel.basic_publish("", q, b"direct to queue")
    method, _, body = get_message(channel, q, auto_ack=True)
    assert (method.exchange, method.routing_key, body) == ("", q, b"direct to queue")


def test_amq_direct_routes_to_bound_queue(channel):
    q = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(q, "amq.direct", routing_key=q)
    channel.basic_publish("amq.direct", q, b"via amq.direct")
    method, _, body = get_message(channel, q, auto_ack=True)
    assert (method.exchange, body) == ("amq.direct", b"via amq.direct")


def test_declare_is_idempotent(channel, unique_name, cleanup):
    ex = cleanup.exchange(unique_name("ex"))
    for _ in range(3):
        channel.exchange_declare(ex, exchange_type="topic", durable=True)
    channel.exchange_declare(ex, passive=True)


def test_redeclare_with_other_type_is_406(connection, unique_name, cleanup):
    ex = cleanup.exchange(unique_name("ex"))
    connection.channel().exchange_declare(ex, exchange_type="direct")
    with channel_closed(406, inequivalent("exchange", ex, "type", "'fanout'", "'direct'")):
        connection.channel().exchange_declare(ex, exchange_type="fanout")
    assert connection.is_open


def test_redeclare_with_other_durable_is_406(connection, unique_name, cleanup):
    ex = cleanup.exchange(unique_name("ex"))
    connection.channel().exchange_declare(ex, exchange_type="direct", durable=False)
    with channel_closed(406, inequivalent("exchange", ex, "durable", "'true'", "'false'")):
        connection.channel().exchange_declare(ex, exchange_type="direct", durable=True)


def test_redeclare_with_other_auto_delete_is_406(connection, unique_name, cleanup):
    ex = cleanup.exchange(unique_name("ex"))
    connection.channel().exchange_declare(ex, exchange_type="fanout", auto_delete=False)
    with channel_closed(406, inequivalent("exchange", ex, "auto_delete", "'true'", "'false'")):
        connection.channel().exchange_declare(ex, exchange_type="fanout", auto_delete=True)


def test_redeclare_with_other_internal_is_406(connection, unique_name, cleanup):
    ex = cleanup.exchange(unique_name("ex"))
    connection.channel().exchange_declare(ex, exchange_type="fanout", internal=False)
    with channel_closed(406, inequivalent("exchange", ex, "internal", "'true'", "'false'")):
        connection.channel().exchange_declare(ex, exchange_type="fanout", internal=True)


def test_passive_declare_ignores_other_properties(channel, unique_name, cleanup):
    ex = cleanup.exchange(unique_name("ex"))
    channel.exchange_declare(ex, exchange_type="direct")
    channel.exchange_declare(ex, exchange_type="fanout", durable=True, passive=True)


def test_passive_declare_of_missing_exchange_is_404(connection, unique_name):
    ex = unique_name("missing")
    with channel_closed(404, no_exchange(ex)):
        connection.channel().exchange_declare(ex, passive=True)
    assert connection.is_open


def test_amq_prefix_is_reserved(connection, unique_name):
    ex = "amq." + unique_name("ex")
    with channel_closed(
        403, f"ACCESS_REFUSED - exchange name '{ex}' contains reserved prefix 'amq.*'"
    ):
        connection.channel().exchange_declare(ex, exchange_type="direct")
    with channel_closed(404, no_exchange(ex)):
        connection.channel().exchange_declare(ex, passive=True)


def test_delete_if_unused_with_bindings_is_406(connection, unique_name, cleanup):
    ex = cleanup.exchange(unique_name("ex"))
    ch = connection.channel()
    ch.exchange_declare(ex, exchange_type="fanout")
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, ex)
    with channel_closed(406, f"PRECONDITION_FAILED - exchange '{ex}' in vhost '/' in use"):
        ch.exchange_delete(ex, if_unused=True)
    ch = connection.channel()
    ch.exchange_declare(ex, passive=True)
    ch.queue_unbind(q, ex)
    ch.exchange_delete(ex, if_unused=True)
    with channel_closed(404, no_exchange(ex)):
        ch.exchange_declare(ex, passive=True)


def test_delete_removes_bindings(channel, unique_name, cleanup):
    ex = cleanup.exchange(unique_name("ex"))
    channel.exchange_declare(ex, exchange_type="fanout")
    q = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(q, ex)
    channel.exchange_delete(ex)
    channel.exchange_declare(ex, exchange_type="fanout")
    channel.basic_publish(ex, "", b"not routed: binding went with the old exchange")
    channel.basic_publish("", q, b"marker")
    assert get_message(channel, q, auto_ack=True)[2] == b"marker"


def test_delete_of_missing_exchange_is_ok(channel, unique_name):
    channel.exchange_delete(unique_name("missing"))
    channel.exchange_delete(unique_name("missing"), if_unused=True)


def test_delete_of_predeclared_exchange_is_403(connection):
    with channel_closed(
        403, "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed"
    ):
        connection.channel().exchange_delete("amq.direct")
    connection.channel().exchange_declare("amq.direct", passive=True)


def test_publish_to_missing_exchange_is_404(connection, unique_name):
    ch = connection.channel()
    ex = unique_name("missing")
    with channel_closed(404, no_exchange(ex)):
        ch.basic_publish(ex, "key", b"lost")
        ch.queue_declare("", exclusive=True)  # the error arrives asynchronously
    assert connection.is_open


def test_publish_to_internal_exchange_is_403(connection, unique_name, cleanup):
    ex = cleanup.exchange(unique_name("internal"))
    ch = connection.channel()
    ch.exchange_declare(ex, exchange_type="fanout", internal=True)
    with channel_closed(
        403, f"ACCESS_REFUSED - cannot publish to internal exchange '{ex}' in vhost '/'"
    ):
        ch.basic_publish(ex, "", b"forbidden")
        ch.queue_declare("", exclusive=True)


def test_internal_exchange_receives_from_exchange_binding(channel, unique_name, cleanup):
    front = cleanup.exchange(unique_name("front"))
    inner = cleanup.exchange(unique_name("inner"))
    channel.exchange_declare(front, exchange_type="topic")
    channel.exchange_declare(inner, exchange_type="fanout", internal=True)
    channel.exchange_bind(destination=inner, source=front, routing_key="a.*")
    q = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(q, inner)
    channel.basic_publish(front, "a.b", b"routed twice")
    channel.basic_publish(front, "b.b", b"not routed")
    method, _, body = get_message(channel, q, auto_ack=True)
    assert (method.exchange, method.routing_key, body) == (front, "a.b", b"routed twice")


def test_exchange_to_exchange_binding_and_unbind(channel, unique_name, cleanup):
    src = cleanup.exchange(unique_name("src"))
    dst = cleanup.exchange(unique_name("dst"))
    channel.exchange_declare(src, exchange_type="direct")
    channel.exchange_declare(dst, exchange_type="fanout")
    channel.exchange_bind(destination=dst, source=src, routing_key="k")
    q = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(q, dst)
    channel.basic_publish(src, "k", b"one")
    assert get_message(channel, q, auto_ack=True)[2] == b"one"
    channel.exchange_unbind(destination=dst, source=src, routing_key="k")
    channel.exchange_unbind(destination=dst, source=src, routing_key="k")  # idempotent
    channel.basic_publish(src, "k", b"two")
    channel.basic_publish(dst, "", b"three")
    assert get_message(channel, q, auto_ack=True)[2] == b"three"


def test_message_reaching_a_queue_by_two_paths_is_delivered_once(channel, unique_name, cleanup):
    src = cleanup.exchange(unique_name("src"))
    dst = cleanup.exchange(unique_name("dst"))
    channel.exchange_declare(src, exchange_type="fanout")
    channel.exchange_declare(dst, exchange_type="fanout")
    channel.exchange_bind(destination=dst, source=src)
    q = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(q, src)
    channel.queue_bind(q, dst)
    channel.basic_publish(src, "", b"once")
    get_message(channel, q, auto_ack=True)
    channel.basic_publish("", q, b"marker")
    assert get_message(channel, q, auto_ack=True)[2] == b"marker"


def test_exchange_bind_to_missing_exchange_is_404(connection, unique_name, cleanup):
    ex = cleanup.exchange(unique_name("ex"))
    ch = connection.channel()
    ch.exchange_declare(ex, exchange_type="fanout")
    missing = unique_name("missing")
    with channel_closed(404, no_exchange(missing)):
        ch.exchange_bind(destination=ex, source=missing)


def test_auto_delete_exchange_goes_with_its_last_binding(connect, unique_name, cleanup):
    ex = cleanup.exchange(unique_name("autodel"))
    ch = connect().channel()
    ch.exchange_declare(ex, exchange_type="direct", auto_delete=True)
    q1 = ch.queue_declare("", exclusive=True).method.queue
    q2 = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q1, ex, routing_key="a")
    ch.queue_bind(q2, ex, routing_key="b")
    ch.queue_unbind(q1, ex, routing_key="a")
    assert exchange_exists(connect, ex)
    ch.queue_unbind(q2, ex, routing_key="b")
    wait_for(lambda: not exchange_exists(connect, ex), message="auto-delete exchange deleted")


def test_auto_delete_exchange_without_bindings_stays(connect, unique_name, cleanup):
    ex = cleanup.exchange(unique_name("autodel"))
    ch = connect().channel()
    ch.exchange_declare(ex, exchange_type="fanout", auto_delete=True)
    ch.close()
    assert exchange_exists(connect, ex)


def _headers_queue(channel, ex, arguments):
    q = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(q, ex, arguments=arguments)
    return q


def _publish_headers(channel, ex, headers, body):
    channel.basic_publish(ex, "ignored", body, pika.BasicProperties(headers=headers))


def test_headers_exchange_x_match_all_and_any(channel, unique_name, cleanup):
    ex = cleanup.exchange(unique_name("headers"))
    channel.exchange_declare(ex, exchange_type="headers")
    q_all = _headers_queue(channel, ex, {"x-match": "all", "format": "pdf", "type": "report"})
    q_any = _headers_queue(channel, ex, {"x-match": "any", "format": "pdf", "type": "report"})
    q_default = _headers_queue(channel, ex, {"format": "pdf", "type": "report"})

    _publish_headers(channel, ex, {"format": "pdf", "type": "report", "extra": 1}, b"both")
    _publish_headers(channel, ex, {"format": "pdf"}, b"format only")
    _publish_headers(channel, ex, {"format": "zip", "type": "log"}, b"neither")
    _publish_headers(channel, ex, None, b"no headers")

    got_all = consume_n(channel, q_all, 1, auto_ack=True)
    assert [b for _, _, b in got_all] == [b"both"]
    got_any = consume_n(channel, q_any, 2, auto_ack=True)
    assert [b for _, _, b in got_any] == [b"both", b"format only"]
    got_default = consume_n(channel, q_default, 1, auto_ack=True)
    assert [b for _, _, b in got_default] == [b"both"]
    for q in (q_all, q_any, q_default):
        assert channel.queue_declare(q, passive=True).method.message_count == 0


def test_headers_exchange_matches_values_and_types(channel, unique_name, cleanup):
    ex = cleanup.exchange(unique_name("headers"))
    channel.exchange_declare(ex, exchange_type="headers")
    q = _headers_queue(channel, ex, {"x-match": "all", "n": 42, "flag": True})
    _publish_headers(channel, ex, {"n": 42, "flag": True}, b"match")
    _publish_headers(channel, ex, {"n": 43, "flag": True}, b"other value")
    _publish_headers(channel, ex, {"n": "42", "flag": True}, b"other type")
    assert [b for _, _, b in consume_n(channel, q, 1, auto_ack=True)] == [b"match"]
    assert channel.queue_declare(q, passive=True).method.message_count == 0


def test_headers_exchange_empty_binding_matches_everything(channel, unique_name, cleanup):
    ex = cleanup.exchange(unique_name("headers"))
    channel.exchange_declare(ex, exchange_type="headers")
    q = _headers_queue(channel, ex, {})
    _publish_headers(channel, ex, {"a": 1}, b"with")
    _publish_headers(channel, ex, None, b"without")
    assert [b for _, _, b in consume_n(channel, q, 2, auto_ack=True)] == [b"with", b"without"]


def test_fanout_ignores_routing_key(channel, unique_name, cleanup):
    ex = cleanup.exchange(unique_name("fanout"))
    channel.exchange_declare(ex, exchange_type="fanout")
    q = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(q, ex, routing_key="only-this")
    channel.basic_publish(ex, "something-else", b"fanned out")
    assert get_message(channel, q, auto_ack=True)[2] == b"fanned out"


def test_unknown_exchange_type_closes_connection_on_310(
    connection, unique_name, cleanup, broker_version
):
    """RabbitMQ 3.10 treats an unknown exchange type as a hard 503 error."""
    if not broker_version.startswith("3.10"):
        pytest.skip("RabbitMQ 3.10 behaviour; 4.x closes only the channel (next test)")
    ex = cleanup.exchange(unique_name("typed"))
    with connection_closed(503, "COMMAND_INVALID - unknown exchange type 'x-no-such-type'"):
        connection.channel().exchange_declare(ex, exchange_type="x-no-such-type")


@pytest.mark.newer_than_310
def test_unknown_exchange_type_is_channel_406(connection, unique_name, cleanup):
    ex = cleanup.exchange(unique_name("typed"))
    with channel_closed(406, "PRECONDITION_FAILED - unknown exchange type 'x-no-such-type'"):
        connection.channel().exchange_declare(ex, exchange_type="x-no-such-type")
    assert connection.is_open
    with channel_closed(404, no_exchange(ex)):
        connection.channel().exchange_declare(ex, passive=True)
