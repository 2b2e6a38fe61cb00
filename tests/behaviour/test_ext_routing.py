"""RabbitMQ routing extensions: alternate exchanges, exchange-to-exchange bindings and
sender-selected distribution (CC / BCC headers).

Sources: https://www.rabbitmq.com/docs/ae, https://www.rabbitmq.com/docs/e2e and
https://www.rabbitmq.com/docs/sender-selected; behaviour and texts observed on 3.10.8.
"""

from __future__ import annotations

import time

import pika
import pika.exceptions
import pytest

from .helpers import channel_closed, drain, get_message, wait_ready


def exchange(channel, cleanup, name, kind="direct", **arguments):
    channel.exchange_declare(cleanup.exchange(name), kind, arguments=arguments or None)
    return name


def queue(channel, cleanup, name, bind_to=None, key=""):
    channel.queue_declare(cleanup.queue(name))
    if bind_to is not None:
        channel.queue_bind(name, bind_to, key)
    return name


def settle(channel, queues, seconds=0.1):
    """Give routing a moment, then return each queue's ready count."""
    time.sleep(seconds)
    return [channel.queue_declare(q, passive=True).method.message_count for q in queues]


# --------------------------------------------------------------------------------------
# Alternate exchanges


@pytest.fixture
def with_ae(channel, unique_name, cleanup):
    """A direct exchange whose alternate exchange is a fanout with one queue:
    (exchange, routed queue bound on "known", alternate queue)."""
    ae = exchange(channel, cleanup, unique_name("ae"), "fanout")
    main = exchange(channel, cleanup, unique_name("main"), **{"alternate-exchange": ae})
    routed = queue(channel, cleanup, unique_name("routed"), main, "known")
    caught = queue(channel, cleanup, unique_name("caught"), ae)
    return main, routed, caught


def test_unroutable_message_goes_to_the_alternate_exchange(channel, with_ae):
    main, routed, caught = with_ae
    channel.basic_publish(main, "unknown", b"stray")
    method, _, body = get_message(channel, caught, auto_ack=True)
    # The delivery names the exchange and key the message was published with.
    assert (body, method.exchange, method.routing_key) == (b"stray", main, "unknown")
    assert drain(channel, routed) == []


def test_routable_message_does_not_reach_the_alternate_exchange(channel, with_ae):
    main, routed, caught = with_ae
    channel.confirm_delivery()
    channel.basic_publish(main, "known", b"ok")
    assert drain(channel, routed) == [b"ok"]
    assert drain(channel, caught) == []


def test_mandatory_message_taken_by_the_alternate_exchange_is_not_returned(channel, with_ae):
    main, _, caught = with_ae
    channel.confirm_delivery()
    channel.basic_publish(main, "unknown", b"m", mandatory=True)  # raises if returned
    assert drain(channel, caught) == [b"m"]


def test_mandatory_message_unroutable_by_the_alternate_exchange_too_is_returned(
    channel, unique_name, cleanup
):
    ae = exchange(channel, cleanup, unique_name("ae"), "direct")
    main = exchange(channel, cleanup, unique_name("main"), **{"alternate-exchange": ae})
    channel.confirm_delivery()
    with pytest.raises(pika.exceptions.UnroutableError) as info:
        channel.basic_publish(main, "nowhere", b"m", mandatory=True)
    (returned,) = info.value.messages
    assert (returned.method.reply_code, returned.method.reply_text) == (312, "NO_ROUTE")
    assert (returned.method.exchange, returned.method.routing_key) == (main, "nowhere")


def test_missing_alternate_exchange_counts_as_unroutable(channel, unique_name, cleanup):
    main = exchange(
        channel, cleanup, unique_name("main"), **{"alternate-exchange": unique_name("absent")}
    )
    channel.confirm_delivery()
    with pytest.raises(pika.exceptions.UnroutableError):
        channel.basic_publish(main, "k", b"m", mandatory=True)
    channel.basic_publish(main, "k", b"dropped quietly")
    assert channel.is_open


def test_alternate_exchanges_chain(channel, unique_name, cleanup):
    last = exchange(channel, cleanup, unique_name("last"), "fanout")
    middle = exchange(channel, cleanup, unique_name("middle"), **{"alternate-exchange": last})
    first = exchange(channel, cleanup, unique_name("first"), **{"alternate-exchange": middle})
    caught = queue(channel, cleanup, unique_name("caught"), last)
    channel.basic_publish(first, "k", b"down the chain")
    method, _, body = get_message(channel, caught, auto_ack=True)
    assert (body, method.exchange) == (b"down the chain", first)


def test_alternate_exchange_cycle_terminates(channel, unique_name, cleanup):
    a_name, b_name = unique_name("a"), unique_name("b")
    exchange(channel, cleanup, a_name, **{"alternate-exchange": b_name})
    exchange(channel, cleanup, b_name, **{"alternate-exchange": a_name})
    channel.confirm_delivery()
    with pytest.raises(pika.exceptions.UnroutableError):
        channel.basic_publish(a_name, "k", b"m", mandatory=True)
    assert channel.is_open


def test_alternate_exchange_of_the_wrong_type_is_406(connection, unique_name):
    ch = connection.channel()
    name = unique_name("x")
    text = (
        "PRECONDITION_FAILED - invalid type 'signedint' for arg 'alternate-exchange' in "
        f"exchange '{name}' in vhost '/'"
    )
    with channel_closed(406, text):
        ch.exchange_declare(name, "direct", arguments={"alternate-exchange": 5})


# --------------------------------------------------------------------------------------
# Exchange-to-exchange bindings


def test_exchange_binding_chain(channel, unique_name, cleanup):
    a = exchange(channel, cleanup, unique_name("a"), "topic")
    b = exchange(channel, cleanup, unique_name("b"), "direct")
    c = exchange(channel, cleanup, unique_name("c"), "fanout")
    channel.exchange_bind(destination=b, source=a, routing_key="orders.*")
    channel.exchange_bind(destination=c, source=b, routing_key="orders.new")
    q = queue(channel, cleanup, unique_name("end"), c)
    channel.confirm_delivery()
    channel.basic_publish(a, "orders.new", b"routed")
    channel.basic_publish(a, "orders.old", b"stops at b")
    channel.basic_publish(a, "other", b"stops at a")
    method, _, body = get_message(channel, q, auto_ack=True)
    assert (body, method.exchange, method.routing_key) == (b"routed", a, "orders.new")
    assert drain(channel, q) == []


def test_exchange_binding_cycle_delivers_once(channel, unique_name, cleanup):
    a = exchange(channel, cleanup, unique_name("a"), "fanout")
    b = exchange(channel, cleanup, unique_name("b"), "fanout")
    channel.exchange_bind(destination=b, source=a)
    channel.exchange_bind(destination=a, source=b)
    qa = queue(channel, cleanup, unique_name("qa"), a)
    qb = queue(channel, cleanup, unique_name("qb"), b)
    channel.confirm_delivery()
    channel.basic_publish(a, "", b"once")
    channel.basic_publish(b, "", b"twice?")
    assert settle(channel, [qa, qb]) == [2, 2]
    assert drain(channel, qa) == [b"once", b"twice?"]
    assert drain(channel, qb) == [b"once", b"twice?"]


def test_diamond_of_exchange_bindings_delivers_once(channel, unique_name, cleanup):
    top = exchange(channel, cleanup, unique_name("top"), "fanout")
    left = exchange(channel, cleanup, unique_name("left"), "fanout")
    right = exchange(channel, cleanup, unique_name("right"), "fanout")
    bottom = exchange(channel, cleanup, unique_name("bottom"), "fanout")
    for src, dst in ((top, left), (top, right), (left, bottom), (right, bottom)):
        channel.exchange_bind(destination=dst, source=src)
    q = queue(channel, cleanup, unique_name("q"), bottom)
    channel.queue_bind(q, top)  # and straight from the top as well
    channel.confirm_delivery()
    channel.basic_publish(top, "", b"one copy")
    assert settle(channel, [q]) == [1]


def test_exchange_unbind_cuts_the_route(channel, unique_name, cleanup):
    a = exchange(channel, cleanup, unique_name("a"), "direct")
    b = exchange(channel, cleanup, unique_name("b"), "fanout")
    channel.exchange_bind(destination=b, source=a, routing_key="k")
    q = queue(channel, cleanup, unique_name("q"), b)
    channel.confirm_delivery()
    channel.basic_publish(a, "k", b"before")
    channel.exchange_unbind(destination=b, source=a, routing_key="k")
    with pytest.raises(pika.exceptions.UnroutableError):
        channel.basic_publish(a, "k", b"after", mandatory=True)
    assert drain(channel, q) == [b"before"]


def test_mandatory_routed_through_an_exchange_binding_is_not_returned(
    channel, unique_name, cleanup
):
    a = exchange(channel, cleanup, unique_name("a"), "direct")
    b = exchange(channel, cleanup, unique_name("b"), "direct")
    channel.exchange_bind(destination=b, source=a, routing_key="k")
    q = queue(channel, cleanup, unique_name("q"), b, "k")
    channel.confirm_delivery()
    channel.basic_publish(a, "k", b"m", mandatory=True)
    # Bound to b but no queue behind it for "j" -> returned.
    channel.exchange_bind(destination=b, source=a, routing_key="j")
    with pytest.raises(pika.exceptions.UnroutableError):
        channel.basic_publish(a, "j", b"m", mandatory=True)
    assert drain(channel, q) == [b"m"]


def test_alternate_exchange_applies_to_every_exchange_on_the_route(channel, unique_name, cleanup):
    # RabbitMQ walks the exchange graph and gives each exchange that routes nowhere its own
    # alternate exchange, including one reached over an exchange binding
    # (rabbit_exchange:route1/4 and process_alternate/2, unchanged from 3.10 to 4.x).
    ae = exchange(channel, cleanup, unique_name("ae"), "fanout")
    caught = queue(channel, cleanup, unique_name("caught"), ae)
    inner = exchange(channel, cleanup, unique_name("inner"), **{"alternate-exchange": ae})
    outer = exchange(channel, cleanup, unique_name("outer"), "fanout")
    channel.exchange_bind(destination=inner, source=outer)
    channel.confirm_delivery()
    channel.basic_publish(outer, "nothing-bound", b"m", mandatory=True)
    method, _, body = get_message(channel, caught, auto_ack=True)
    assert (body, method.exchange, method.routing_key) == (b"m", outer, "nothing-bound")


# --------------------------------------------------------------------------------------
# Sender-selected distribution: CC and BCC


@pytest.fixture
def keyed_queues(channel, unique_name, cleanup):
    """A direct exchange with queues bound on keys a, b, c and d: (exchange, {key: queue})."""
    ex = exchange(channel, cleanup, unique_name("ssd"), "direct")
    queues = {key: queue(channel, cleanup, unique_name(key), ex, key) for key in "abcd"}
    return ex, queues


def test_cc_adds_routing_keys_and_is_kept(channel, keyed_queues):
    ex, queues = keyed_queues
    channel.basic_publish(ex, "a", b"m", pika.BasicProperties(headers={"CC": ["b", "c"]}))
    for key in "abc":
        method, props, _ = get_message(channel, queues[key], auto_ack=True)
        assert method.routing_key == "a"
        assert props.headers == {"CC": ["b", "c"]}
    assert drain(channel, queues["d"]) == []


def test_bcc_adds_routing_keys_and_is_stripped(channel, keyed_queues):
    ex, queues = keyed_queues
    headers = {"CC": ["b"], "BCC": ["d"], "app": 1}
    channel.basic_publish(ex, "a", b"m", pika.BasicProperties(headers=headers))
    for key in "abd":
        method, props, _ = get_message(channel, queues[key], auto_ack=True)
        assert method.routing_key == "a"
        assert props.headers == {"CC": ["b"], "app": 1}
    assert drain(channel, queues["c"]) == []


def test_bcc_only_header_leaves_an_empty_header_table_or_none(channel, keyed_queues):
    ex, queues = keyed_queues
    channel.basic_publish(ex, "a", b"m", pika.BasicProperties(headers={"BCC": ["b"]}))
    for key in "ab":
        _, props, _ = get_message(channel, queues[key], auto_ack=True)
        assert not props.headers


def test_duplicate_keys_deliver_once(channel, keyed_queues):
    ex, queues = keyed_queues
    headers = {"CC": ["a", "b"], "BCC": ["b", "a"]}
    channel.confirm_delivery()
    channel.basic_publish(ex, "a", b"m", pika.BasicProperties(headers=headers))
    assert settle(channel, [queues[k] for k in "abcd"]) == [1, 1, 0, 0]


def test_cc_on_a_topic_exchange_is_pattern_matched(channel, unique_name, cleanup):
    ex = exchange(channel, cleanup, unique_name("topic"), "topic")
    stock = queue(channel, cleanup, unique_name("stock"), ex, "stock.#")
    news = queue(channel, cleanup, unique_name("news"), ex, "*.news")
    channel.basic_publish(
        ex, "stock.nyse.ibm", b"m", pika.BasicProperties(headers={"CC": ["world.news"]})
    )
    get_message(channel, stock, auto_ack=True)
    get_message(channel, news, auto_ack=True)


def test_cc_on_the_default_exchange_names_queues(channel, unique_name, cleanup):
    first = queue(channel, cleanup, unique_name("first"))
    second = queue(channel, cleanup, unique_name("second"))
    channel.basic_publish("", first, b"m", pika.BasicProperties(headers={"BCC": [second]}))
    get_message(channel, first, auto_ack=True)
    get_message(channel, second, auto_ack=True)


def test_mandatory_routed_by_cc_only_is_not_returned(channel, unique_name, cleanup):
    q = queue(channel, cleanup, unique_name())
    channel.confirm_delivery()
    channel.basic_publish(
        "", unique_name("absent"), b"m", pika.BasicProperties(headers={"CC": [q]}), mandatory=True
    )
    wait_ready(channel, q, 1)


def test_non_string_cc_entries_are_ignored(channel, keyed_queues):
    ex, queues = keyed_queues
    channel.confirm_delivery()
    channel.basic_publish(ex, "a", b"m", pika.BasicProperties(headers={"CC": [1, "b"]}))
    assert settle(channel, [queues[k] for k in "abcd"]) == [1, 1, 0, 0]


@pytest.mark.parametrize("header", ["CC", "BCC"])
def test_cc_that_is_not_an_array_is_406(connection, unique_name, cleanup, header):
    ch = connection.channel()
    q = queue(ch, cleanup, unique_name())
    text = (
        f'PRECONDITION_FAILED - invalid message: {{unacceptable_type_in_header,"{header}",longstr}}'
    )
    with channel_closed(406, text):
        ch.basic_publish("", q, b"m", pika.BasicProperties(headers={header: "other"}))
        ch.queue_declare(q, passive=True)
