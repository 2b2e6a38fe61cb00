"""RabbitMQ extension: priority queues (x-max-priority).

https://www.rabbitmq.com/docs/priority: messages with a higher ``priority`` property are
delivered first; a message without one counts as priority 0; a priority above the queue's
maximum counts as the maximum; within one priority the order is FIFO.
"""

from __future__ import annotations

import pika
import pytest

from .helpers import channel_closed, consume_n, drain, invalid_arg


def priority_queue(channel, cleanup, name, max_priority):
    channel.queue_declare(cleanup.queue(name), arguments={"x-max-priority": max_priority})
    return name


def publish(channel, queue, items):
    """Publish (body, priority) pairs; priority None leaves the property unset."""
    channel.confirm_delivery()
    for body, priority in items:
        channel.basic_publish("", queue, body, pika.BasicProperties(priority=priority))


def test_higher_priority_is_delivered_first(channel, unique_name, cleanup):
    q = priority_queue(channel, cleanup, unique_name(), 10)
    publish(channel, q, [(b"p1", 1), (b"p5", 5), (b"p10", 10), (b"p3", 3)])
    assert drain(channel, q) == [b"p10", b"p5", b"p3", b"p1"]


def test_fifo_within_a_priority(channel, unique_name, cleanup):
    q = priority_queue(channel, cleanup, unique_name(), 5)
    publish(channel, q, [(b"a2", 2), (b"b1", 1), (b"c2", 2), (b"d1", 1), (b"e2", 2)])
    assert drain(channel, q) == [b"a2", b"c2", b"e2", b"b1", b"d1"]


def test_priority_above_the_maximum_counts_as_the_maximum(channel, unique_name, cleanup):
    q = priority_queue(channel, cleanup, unique_name(), 5)
    publish(channel, q, [(b"p4", 4), (b"p9", 9), (b"p5", 5), (b"p255", 255), (b"p6", 6)])
    # 9, 255 and 6 all count as 5, in publication order with the real 5.
    assert drain(channel, q) == [b"p9", b"p5", b"p255", b"p6", b"p4"]


def test_no_priority_counts_as_zero(channel, unique_name, cleanup):
    q = priority_queue(channel, cleanup, unique_name(), 3)
    publish(channel, q, [(b"none", None), (b"zero", 0), (b"one", 1), (b"none-again", None)])
    assert drain(channel, q) == [b"one", b"none", b"zero", b"none-again"]


def test_delivered_message_keeps_its_priority_property(channel, unique_name, cleanup):
    q = priority_queue(channel, cleanup, unique_name(), 5)
    publish(channel, q, [(b"high", 9), (b"plain", None)])
    _, props, body = channel.basic_get(q, auto_ack=True)
    assert (body, props.priority) == (b"high", 9)
    _, props, body = channel.basic_get(q, auto_ack=True)
    assert (body, props.priority) == (b"plain", None)


def test_consumer_gets_backlog_in_priority_order(channel, unique_name, cleanup):
    q = priority_queue(channel, cleanup, unique_name(), 10)
    publish(channel, q, [(f"m{p}".encode(), p) for p in (0, 7, 3, 9, 1)])
    got = consume_n(channel, q, 5, auto_ack=True, timeout=5)
    assert [body for _, _, body in got] == [b"m9", b"m7", b"m3", b"m1", b"m0"]


def test_requeued_message_keeps_its_priority(channel, unique_name, cleanup):
    q = priority_queue(channel, cleanup, unique_name(), 10)
    publish(channel, q, [(b"high", 8), (b"low", 1)])
    method, _, body = channel.basic_get(q)
    assert body == b"high"
    channel.basic_reject(method.delivery_tag, requeue=True)
    publish(channel, q, [(b"mid", 5)])
    assert drain(channel, q) == [b"high", b"mid", b"low"]


def test_queue_without_max_priority_ignores_priority(channel, unique_name, cleanup):
    q = cleanup.queue(unique_name())
    channel.queue_declare(q)
    publish(channel, q, [(b"p1", 1), (b"p9", 9), (b"none", None)])
    assert drain(channel, q) == [b"p1", b"p9", b"none"]


def test_max_priority_255_is_accepted(channel, unique_name, cleanup):
    q = priority_queue(channel, cleanup, unique_name(), 255)
    publish(channel, q, [(b"low", 1), (b"top", 255)])
    assert drain(channel, q) == [b"top", b"low"]


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        (-1, "{value_negative,-1}"),
        pytest.param(256, "{max_value_exceeded,256}"),
        pytest.param(1000, "{max_value_exceeded,1000}"),
        pytest.param("5", '"expected integer, got longstr"'),
    ],
    ids=repr,
)
def test_invalid_max_priority_is_406(connection, unique_name, value, detail):
    ch = connection.channel()
    q = unique_name()
    with channel_closed(406, invalid_arg("x-max-priority", q, detail)):
        ch.queue_declare(q, arguments={"x-max-priority": value})


@pytest.mark.leveret_only
def test_durable_priority_queue_keeps_priority_order_across_restart(tmp_path):
    """Recovered messages go back to their priority levels (not all to priority 0)."""
    import leveret

    items = [(b"a0", 0), (b"b5", 5), (b"c9", 9), (b"d5", 5), (b"e1", 1), (b"f9", 9), (b"g", None)]
    with leveret.Broker(data_dir=tmp_path) as broker:
        conn = pika.BlockingConnection(pika.URLParameters(broker.url))
        ch = conn.channel()
        ch.queue_declare("prio", durable=True, arguments={"x-max-priority": 9})
        ch.confirm_delivery()
        for body, priority in items:
            ch.basic_publish(
                "", "prio", body, pika.BasicProperties(priority=priority, delivery_mode=2)
            )
        conn.close()
    with leveret.Broker(data_dir=tmp_path) as broker:
        conn = pika.BlockingConnection(pika.URLParameters(broker.url))
        ch = conn.channel()
        assert drain(ch, "prio") == [b"c9", b"f9", b"b5", b"d5", b"e1", b"a0", b"g"]
        conn.close()


@pytest.mark.leveret_only
def test_durable_priority_queue_pages_to_disk_and_keeps_order_across_restart(tmp_path):
    """Beyond the queue memory budget (made tiny here) a priority queue keeps bodies on
    disk, before and after a restart, and still delivers by priority."""
    import leveret
    from leveret.server.config import Config
    from leveret.server.node import Node

    class SmallBudgetBroker(leveret.Broker):
        def _make_node(self) -> Node:
            node = super()._make_node()
            node.config = Config(**{**vars(node.config), "queue_memory_budget": 4096})
            return node

    def paged(broker) -> int:
        return broker._call(lambda: broker.node.vhosts["/"].queues["prio"].paged_count)

    priorities = [(n * 7) % 11 for n in range(200)]  # 10 counts as the maximum, 9
    with SmallBudgetBroker(data_dir=tmp_path) as broker:
        conn = pika.BlockingConnection(pika.URLParameters(broker.url))
        ch = conn.channel()
        ch.queue_declare("prio", durable=True, arguments={"x-max-priority": 9})
        ch.confirm_delivery()
        for n, priority in enumerate(priorities):
            body = b"%03d" % n + bytes(200)
            ch.basic_publish(
                "", "prio", body, pika.BasicProperties(priority=priority, delivery_mode=2)
            )
        assert paged(broker) > 150
        conn.close()
    with SmallBudgetBroker(data_dir=tmp_path) as broker:
        assert paged(broker) > 150
        conn = pika.BlockingConnection(pika.URLParameters(broker.url))
        ch = conn.channel()
        got = [int(body[:3]) for body in drain(ch, "prio")]
        conn.close()
    expected = sorted(range(200), key=lambda n: (-min(priorities[n], 9), n))
    assert got == expected
