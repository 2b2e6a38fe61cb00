"""Message statistics move as RabbitMQ 3.10's do, driven by real pika clients.

Leveret-only: the counters are read straight from an embedded broker through
``leveret.broker.admin.stats`` (on the broker's loop). The management API's tests prove the
JSON shapes against RabbitMQ; these prove which traffic moves which counter, with the rules
measured on RabbitMQ 3.10 (see the module docstring of broker/admin/stats.py): one
``publish_out`` per queue reached, unroutable publishes counted as ``publish`` too, a
multiple ack counting each message, rejects and nacks counting nothing, and so on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pika
import pika.exceptions
import pytest

from leveret import Broker
from leveret.broker.admin import stats as admin_stats
from leveret.broker.admin.base import open_connections
from leveret.broker.stats import MessageStats

pytestmark = pytest.mark.leveret_only

T = TypeVar("T")
INTERVAL_MS = 100  # collect_statistics_interval of the test broker


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    with Broker(collect_statistics_interval=INTERVAL_MS) as running:
        yield running


def on_loop(broker: Broker, read: Callable[[], T]) -> T:
    """Run ``read`` on the broker's loop (where its objects live) and return the result."""

    async def call() -> T:
        return read()

    return asyncio.run_coroutine_threadsafe(call(), broker.loop).result(5)


def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


class Traffic:
    """A fresh vhost, a pika connection to it, and readers of its counters."""

    def __init__(self, broker: Broker):
        self.broker = broker
        self.vhost = broker.add_vhost()
        self.conn = pika.BlockingConnection(pika.URLParameters(broker.url_for(self.vhost)))

    def close(self) -> None:
        if self.conn.is_open:
            self.conn.close()
        self.broker.delete_vhost(self.vhost)

    def sync(self) -> None:
        """A round trip, so that everything sent before it has been handled."""
        channel = self.conn.channel()
        channel.close()

    def _counts(self, find: Callable[[], MessageStats]) -> dict[str, int]:
        return on_loop(self.broker, lambda: find().counts())

    def vhost_counts(self) -> dict[str, int]:
        node = self.broker.node
        return self._counts(lambda: admin_stats.vhost_message_stats(node, self.vhost))

    def queue_counts(self, name: str) -> dict[str, int]:
        node = self.broker.node
        return self._counts(lambda: admin_stats.queue_message_stats(node, self.vhost, name))

    def exchange_counts(self, name: str) -> dict[str, int]:
        node = self.broker.node
        return self._counts(lambda: admin_stats.exchange_message_stats(node, self.vhost, name))

    def channel_counts(self, number: int) -> dict[str, int]:
        node = self.broker.node

        def read() -> dict[str, int]:
            channels = admin_stats.channel_message_stats(node, self.vhost)
            (found,) = [stats for (_, n), stats in channels.items() if n == number]
            return found.counts()

        return on_loop(self.broker, read)


@pytest.fixture
def traffic(broker: Broker) -> Iterator[Traffic]:
    made = Traffic(broker)
    yield made
    made.close()


def node_totals(broker: Broker) -> dict[str, int]:
    return on_loop(broker, lambda: admin_stats.global_message_totals(broker.node))


def moved(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """What changed, and by how much."""
    return {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}


ZERO = dict.fromkeys(MessageStats().counts(), 0)


def expect(**counts: int) -> dict[str, int]:
    """Every counter: those named have these values, the others are 0; deliver_get is
    the sum of the four kinds of delivery, as RabbitMQ's."""
    found = {**ZERO, **counts}
    found["deliver_get"] = sum(found[k] for k in ("deliver", "deliver_no_ack", "get", "get_no_ack"))
    return found


# -- publishing ----------------------------------------------------------------------------


def test_routing_counts_publish_in_once_and_publish_out_per_queue(
    broker: Broker, traffic: Traffic
) -> None:
    before = node_totals(broker)
    ch = traffic.conn.channel()
    ch.exchange_declare("fan", "fanout")
    ch.exchange_declare("x1", "direct")
    ch.exchange_declare("x2", "fanout")
    for name in ("qa", "qb", "qc"):
        ch.queue_declare(name)
    ch.queue_bind("qa", "fan")
    ch.queue_bind("qb", "fan")
    ch.exchange_bind("x2", "x1", "k")  # x1 --k--> x2 --> qc
    ch.queue_bind("qc", "x2")
    for _ in range(5):
        ch.basic_publish("fan", "", b"to two queues")
    for _ in range(3):
        ch.basic_publish("x1", "k", b"through an exchange-to-exchange binding")
    ch.basic_publish("", "qa", b"through the default exchange")
    traffic.sync()

    assert traffic.exchange_counts("fan") == expect(publish_in=5, publish_out=10)
    # The source exchange counts the queue its message reached through x2; x2 counts nothing.
    assert traffic.exchange_counts("x1") == expect(publish_in=3, publish_out=3)
    assert traffic.exchange_counts("x2") == ZERO
    assert traffic.exchange_counts("") == expect(publish_in=1, publish_out=1)
    assert traffic.queue_counts("qa") == expect(publish=6)
    assert traffic.queue_counts("qb") == expect(publish=5)
    assert traffic.queue_counts("qc") == expect(publish=3)
    assert traffic.channel_counts(ch.channel_number) == expect(publish=9)
    assert traffic.vhost_counts() == expect(publish=9)
    assert moved(before, node_totals(broker)) == {"received_total": 9, "routed_total": 14}


def test_unroutable_publishes_are_returned_or_dropped(broker: Broker, traffic: Traffic) -> None:
    before = node_totals(broker)
    ch = traffic.conn.channel()
    ch.exchange_declare("nowhere", "direct")
    ch.basic_publish("nowhere", "k", b"dropped")
    ch.basic_publish("nowhere", "k", b"dropped")
    ch.basic_publish("nowhere", "k", b"returned", mandatory=True)
    traffic.sync()

    assert traffic.channel_counts(ch.channel_number) == expect(
        publish=3, drop_unroutable=2, return_unroutable=1
    )
    assert traffic.vhost_counts() == expect(publish=3, drop_unroutable=2, return_unroutable=1)
    assert traffic.exchange_counts("nowhere") == expect(publish_in=3)
    assert moved(before, node_totals(broker)) == {
        "received_total": 3,
        "unroutable_dropped_total": 2,
        "unroutable_returned_total": 1,
    }


def test_confirms_count_acks_not_nacks(broker: Broker, traffic: Traffic) -> None:
    before = node_totals(broker)
    ch = traffic.conn.channel()
    ch.queue_declare("full", arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    ch.exchange_declare("nowhere", "direct")
    ch.confirm_delivery()
    ch.basic_publish("", "full", b"stored: acked")
    with pytest.raises(pika.exceptions.NackError):
        ch.basic_publish("", "full", b"refused: nacked")
    with pytest.raises(pika.exceptions.UnroutableError):  # returned, then acked
        ch.basic_publish("nowhere", "k", b"returned", mandatory=True)

    assert traffic.channel_counts(ch.channel_number) == expect(
        publish=3, confirm=2, return_unroutable=1
    )
    assert traffic.vhost_counts() == expect(publish=3, confirm=2, return_unroutable=1)
    # A refused message still entered the queue's count of publishes, as in RabbitMQ.
    assert traffic.queue_counts("full") == expect(publish=2)
    assert moved(before, node_totals(broker)) == {
        "received_total": 3,
        "received_confirm_total": 3,
        "routed_total": 2,
        "unroutable_returned_total": 1,
        "confirmed_total": 2,
    }


def test_confirms_after_the_fsync_are_counted_too(tmp_path: Path) -> None:
    """Persistent messages in a durable queue are confirmed once on disk (another path)."""
    with Broker(data_dir=tmp_path, collect_statistics_interval=INTERVAL_MS) as durable:
        made = Traffic(durable)
        try:
            ch = made.conn.channel()
            ch.queue_declare("q", durable=True)
            ch.confirm_delivery()
            persistent = pika.BasicProperties(delivery_mode=2)
            for _ in range(3):
                ch.basic_publish("", "q", b"on disk", persistent)
            assert made.channel_counts(ch.channel_number) == expect(publish=3, confirm=3)
            assert made.vhost_counts() == expect(publish=3, confirm=3)
        finally:
            made.close()


def test_transactions_count_publishes_at_commit(traffic: Traffic) -> None:
    ch = traffic.conn.channel()
    ch.queue_declare("q")
    ch.tx_select()
    ch.basic_publish("", "q", b"rolled back")
    ch.basic_publish("", "q", b"rolled back")
    traffic.sync()
    assert traffic.channel_counts(ch.channel_number) == ZERO
    ch.tx_rollback()
    ch.basic_publish("", "q", b"committed")
    ch.tx_commit()
    assert traffic.channel_counts(ch.channel_number) == expect(publish=1)
    assert traffic.queue_counts("q") == expect(publish=1)


# -- consuming -----------------------------------------------------------------------------


def fill(traffic: Traffic, queue: str, count: int) -> None:
    ch = traffic.conn.channel()
    ch.queue_declare(queue)
    for i in range(count):
        ch.basic_publish("", queue, str(i).encode())
    ch.close()


def test_consumers_count_deliveries_and_each_acked_message(
    broker: Broker, traffic: Traffic
) -> None:
    fill(traffic, "manual", 6)
    fill(traffic, "auto", 4)
    before = node_totals(broker)
    manual = traffic.conn.channel()
    manual.basic_qos(prefetch_count=10)
    tags: list[int] = []
    manual.basic_consume("manual", lambda _c, method, _p, _b: tags.append(method.delivery_tag))
    auto = traffic.conn.channel()
    received: list[bytes] = []
    auto.basic_consume("auto", lambda _c, _m, _p, body: received.append(body), auto_ack=True)
    until(
        lambda: (traffic.conn.process_data_events(0.01), len(tags) == 6 and len(received) == 4)[1]
    )
    manual.basic_ack(tags[4], multiple=True)  # five messages
    manual.basic_reject(tags[5], requeue=False)  # not an ack
    traffic.sync()

    assert traffic.channel_counts(manual.channel_number) == expect(deliver=6, ack=5)
    assert traffic.channel_counts(auto.channel_number) == expect(deliver_no_ack=4)
    assert traffic.queue_counts("manual") == expect(publish=6, deliver=6, ack=5)
    assert traffic.queue_counts("auto") == expect(publish=4, deliver_no_ack=4)
    assert traffic.vhost_counts() == expect(publish=10, deliver=6, deliver_no_ack=4, ack=5)
    assert moved(before, node_totals(broker)) == {
        "delivered_total": 10,
        "delivered_consume_manual_ack_total": 6,
        "delivered_consume_auto_ack_total": 4,
        "acknowledged_total": 5,
    }


def test_basic_get_counts_gets_empty_gets_and_redeliveries(
    broker: Broker, traffic: Traffic
) -> None:
    fill(traffic, "q", 3)
    traffic.conn.channel().queue_declare("empty")
    before = node_totals(broker)
    ch = traffic.conn.channel()
    method, _, _ = ch.basic_get("q")
    assert method is not None
    ch.basic_nack(method.delivery_tag, requeue=True)  # back, redelivered next time
    method, _, _ = ch.basic_get("q")
    assert method is not None and method.redelivered
    ch.basic_ack(method.delivery_tag)
    method, _, _ = ch.basic_get("q", auto_ack=True)
    assert method is not None
    assert ch.basic_get("empty") == (None, None, None)
    traffic.sync()

    counts = expect(get=2, get_no_ack=1, get_empty=1, redeliver=1, ack=1)
    assert traffic.channel_counts(ch.channel_number) == counts
    assert traffic.queue_counts("q") == {**counts, "publish": 3, "get_empty": 0}
    assert traffic.queue_counts("empty") == expect(get_empty=1)
    assert traffic.vhost_counts() == {**counts, "publish": 3}
    assert moved(before, node_totals(broker)) == {
        "delivered_total": 3,
        "delivered_get_manual_ack_total": 2,
        "delivered_get_auto_ack_total": 1,
        "get_empty_total": 1,
        "redelivered_total": 1,
        "acknowledged_total": 1,
    }


def test_requeued_deliveries_count_as_redelivered(traffic: Traffic) -> None:
    fill(traffic, "q", 2)
    first = traffic.conn.channel()
    first.basic_qos(prefetch_count=2)
    tags: list[int] = []
    first.basic_consume("q", lambda _c, method, _p, _b: tags.append(method.delivery_tag))
    until(lambda: (traffic.conn.process_data_events(0.01), len(tags) == 2)[1])
    first.close()  # both go back to the queue
    second = traffic.conn.channel()
    redelivered: list[bool] = []
    second.basic_consume(
        "q", lambda _c, method, _p, _b: redelivered.append(method.redelivered), auto_ack=True
    )
    until(lambda: (traffic.conn.process_data_events(0.01), len(redelivered) == 2)[1])
    assert redelivered == [True, True]
    traffic.sync()
    assert traffic.channel_counts(second.channel_number) == expect(deliver_no_ack=2, redeliver=2)
    assert traffic.queue_counts("q") == expect(publish=2, deliver=2, deliver_no_ack=2, redeliver=2)


# -- the node, rates and connections -------------------------------------------------------


def test_node_totals_outlive_a_deleted_vhost(broker: Broker) -> None:
    before = node_totals(broker)
    made = Traffic(broker)
    try:
        ch = made.conn.channel()
        ch.queue_declare("q")
        ch.basic_publish("", "q", b"x")
        ch.basic_publish("", "q", b"x")
        made.sync()
    finally:
        made.close()  # deletes the vhost
    assert moved(before, node_totals(broker)) == {"received_total": 2, "routed_total": 2}


def test_rates_follow_traffic_and_fall_back_to_zero(traffic: Traffic) -> None:
    ch = traffic.conn.channel()
    ch.queue_declare("q")
    node = traffic.broker.node

    def rates() -> tuple[float, float, float]:
        def read() -> tuple[float, float, float]:
            queue_stats = admin_stats.queue_message_stats(node, traffic.vhost, "q")
            queue = node.vhosts[traffic.vhost].queues["q"]
            return (
                queue_stats.rate("publish"),
                admin_stats.vhost_message_stats(node, traffic.vhost).rate("publish"),
                queue.depth_rates.rates.get("messages_ready", 0.0),
            )

        return on_loop(traffic.broker, read)

    # Publish steadily for a few sampling intervals: the timer turns counts into rates.
    seen: list[tuple[float, float, float]] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for _ in range(20):
            ch.basic_publish("", "q", b"x")
        traffic.sync()
        seen.append(rates())
        if all(rate > 0 for rate in seen[-1]):
            break
    assert all(rate > 0 for rate in seen[-1]), seen
    # Idle, the next samples bring every rate back to 0.
    until(lambda: rates() == (0.0, 0.0, 0.0))


def test_connections_count_octets_both_ways(traffic: Traffic) -> None:
    node = traffic.broker.node

    def octets() -> tuple[int, int, int, int]:
        (conn,) = open_connections(node, traffic.vhost)
        return conn.recv_oct, conn.recv_cnt, conn.send_oct, conn.send_cnt

    recv_oct, recv_cnt, send_oct, send_cnt = on_loop(traffic.broker, octets)
    assert recv_oct > 0 and recv_cnt > 0 and send_oct > 0 and send_cnt > 0
    ch = traffic.conn.channel()
    ch.queue_declare("q")
    ch.basic_publish("", "q", b"x" * 10_000)
    _, _, body = ch.basic_get("q", auto_ack=True)
    assert body == b"x" * 10_000
    after = on_loop(traffic.broker, octets)
    assert after[0] >= recv_oct + 10_000 and after[1] > recv_cnt
    assert after[2] >= send_oct + 10_000 and after[3] > send_cnt

    def recv_rate() -> float:
        (conn,) = open_connections(node, traffic.vhost)
        return conn.octet_rates.rates.get("recv_oct", 0.0)

    until(lambda: on_loop(traffic.broker, recv_rate) == 0.0)  # idle again, sampled


def test_consumer_utilisation_falls_while_the_consumer_is_blocked(traffic: Traffic) -> None:
    node = traffic.broker.node
    ch = traffic.conn.channel()
    ch.queue_declare("q")

    def utilisation() -> float | None:
        queue = node.vhosts[traffic.vhost].queues["q"]
        return admin_stats.consumer_utilisation(queue, queue.clock.time())

    assert on_loop(traffic.broker, utilisation) is None  # no consumer
    ch.basic_qos(prefetch_count=1)
    ch.basic_consume("q", lambda *_: None)  # never acks: blocked after one message
    traffic.sync()
    assert on_loop(traffic.broker, utilisation) == pytest.approx(1.0)
    publisher = traffic.conn.channel()
    for _ in range(3):
        publisher.basic_publish("", "q", b"x")
    traffic.sync()
    # Half-life of one second: after two seconds blocked, about a quarter is left.
    time.sleep(2)
    value = on_loop(traffic.broker, utilisation)
    assert value is not None and value < 0.3


def test_consumer_utilisation_stays_full_while_consumers_keep_up(traffic: Traffic) -> None:
    node = traffic.broker.node
    ch = traffic.conn.channel()
    ch.queue_declare("q")
    got: list[Any] = []
    ch.basic_consume("q", lambda _c, _m, _p, body: got.append(body), auto_ack=True)
    publisher = traffic.conn.channel()
    for _ in range(50):
        publisher.basic_publish("", "q", b"x")
    until(lambda: (traffic.conn.process_data_events(0.01), len(got) == 50)[1])

    def utilisation() -> float | None:
        queue = node.vhosts[traffic.vhost].queues["q"]
        return admin_stats.consumer_utilisation(queue, queue.clock.time())

    assert on_loop(traffic.broker, utilisation) == pytest.approx(1.0)
