"""The broker's side of an AMQP channel: consumers, delivery tags, unacked messages, QoS.

Everything here is synchronous; what must reach the client goes through the ``DeliverySink``
the server layer provides, so this module never touches frames or sockets.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from leveret.amqp.errors import NOT_ALLOWED, PRECONDITION_FAILED, ChannelError, ConnectionError_
from leveret.broker.consumer import Consumer
from leveret.broker.message import Message, QueueEntry
from leveret.broker.queue import Queue
from leveret.broker.stats import MessageStats


class DeliverySink(Protocol):
    """What a channel needs from the connection that carries it."""

    @property
    def writable(self) -> bool:
        """False while the client's socket buffer is full: stop delivering."""
        ...

    def deliver(
        self,
        consumer_tag: str,
        delivery_tag: int,
        redelivered: bool,
        message: Message,
    ) -> None: ...

    def consumer_cancelled(self, consumer_tag: str) -> None:
        """The broker cancelled a consumer (its queue went away)."""
        ...


class Delivery:
    __slots__ = ("at", "consumer", "entry", "queue", "tag")

    def __init__(
        self,
        tag: int,
        queue: Queue,
        entry: QueueEntry,
        consumer: Consumer | None,
        at: float = 0.0,
    ):
        self.tag = tag
        self.queue = queue
        self.entry = entry
        self.consumer = consumer
        self.at = at  # monotonic time of delivery (for the consumer timeout)


def random_name(prefix: str) -> str:
    """RabbitMQ-style generated names: prefix + 22 characters of url-safe base64."""
    return prefix + base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")


class Channel:
    __slots__ = (
        "connection",
        "consumer_unacked",
        "consumers",
        "defer_dispatch",
        "expired_tags",
        "global_prefetch",
        "last_queue",
        "next_tag",
        "number",
        "prefetch_count",
        "sink",
        "stats",
        "unacked",
        "vhost_stats",
    )

    def __init__(
        self,
        number: int,
        connection: object,
        sink: DeliverySink,
        defer_dispatch: Callable[[Queue], None] | None = None,
        vhost_stats: MessageStats | None = None,
    ):
        self.number = number
        # This channel's counters, and its vhost's totals (bumped alongside: RabbitMQ's
        # vhost message_stats are the sum over its channels, closed ones included).
        self.stats = MessageStats()
        self.vhost_stats = vhost_stats if vhost_stats is not None else MessageStats()
        # Where an ack's freed credit asks for a dispatch: the server collects them and
        # dispatches once per read (many acks, one pass); without it, at once.
        self.defer_dispatch = defer_dispatch
        self.connection = connection
        self.sink = sink
        self.consumers: dict[str, Consumer] = {}
        self.unacked: dict[int, Delivery] = {}  # insertion order is delivery-tag order
        self.next_tag = 1
        self.prefetch_count = 0  # applies to consumers created after basic.qos(global=false)
        self.global_prefetch = 0  # shared by all consumers of the channel
        self.consumer_unacked = 0
        self.last_queue: str | None = None  # for the empty queue-name shortcut
        # Tags taken back by the consumer timeout: a late ack of one is ignored, not a 406.
        self.expired_tags: set[int] = set()

    # -- consuming ------------------------------------------------------------------------

    def consume(
        self, queue: Queue, tag: str, *, no_ack: bool, exclusive: bool, priority: int = 0
    ) -> Consumer:
        if not tag:
            tag = random_name("amq.ctag-")
        elif tag in self.consumers:
            raise ConnectionError_(NOT_ALLOWED, f"attempt to reuse consumer tag '{tag}'")
        consumer = Consumer(
            tag,
            self,
            queue,
            no_ack=no_ack,
            exclusive=exclusive,
            prefetch=self.prefetch_count,
            priority=priority,
        )
        self.consumers[tag] = consumer
        return consumer

    def cancel(self, tag: str) -> Consumer | None:
        consumer = self.consumers.pop(tag, None)
        if consumer is not None:
            consumer.queue.remove_consumer(consumer)
        return consumer

    def forget_consumer(self, tag: str) -> None:
        """The queue is gone: drop the consumer without touching the queue."""
        self.consumers.pop(tag, None)

    def deliver(self, consumer: Consumer, queue: Queue, entry: QueueEntry) -> None:
        tag = self.next_tag
        self.next_tag = tag + 1
        stats, queue_stats, vhost_stats = self.stats, queue.stats, self.vhost_stats
        if consumer.no_ack:
            queue.settle(entry)
            stats.deliver_no_ack += 1
            queue_stats.deliver_no_ack += 1
            vhost_stats.deliver_no_ack += 1
        else:
            self.unacked[tag] = Delivery(tag, queue, entry, consumer, time.monotonic())
            consumer.unacked += 1
            self.consumer_unacked += 1
            if entry.segment is not None:
                queue.mark_delivered(entry)
            stats.deliver += 1
            queue_stats.deliver += 1
            vhost_stats.deliver += 1
        if entry.redelivered:
            stats.redeliver += 1
            queue_stats.redeliver += 1
            vhost_stats.redeliver += 1
        self.sink.deliver(consumer.tag, tag, entry.redelivered, queue.outgoing(entry))

    def get(self, queue: Queue, *, no_ack: bool) -> tuple[int, QueueEntry] | None:
        entry = queue.get()
        stats, queue_stats, vhost_stats = self.stats, queue.stats, self.vhost_stats
        if entry is None:
            stats.get_empty += 1
            queue_stats.get_empty += 1
            vhost_stats.get_empty += 1
            return None
        tag = self.next_tag
        self.next_tag = tag + 1
        if no_ack:
            queue.settle(entry)
            stats.get_no_ack += 1
            queue_stats.get_no_ack += 1
            vhost_stats.get_no_ack += 1
        else:
            self.unacked[tag] = Delivery(tag, queue, entry, None)
            queue.mark_delivered(entry)
            stats.get += 1
            queue_stats.get += 1
            vhost_stats.get += 1
        if entry.redelivered:
            stats.redeliver += 1
            queue_stats.redeliver += 1
            vhost_stats.redeliver += 1
        return tag, entry

    # -- settling -------------------------------------------------------------------------

    def take_deliveries(self, delivery_tag: int, multiple: bool) -> list[Delivery]:
        """Remove and return the deliveries an ack/nack/reject names; 406 if there are none."""
        # As in RabbitMQ, the named tag must be outstanding even with multiple=true.
        if delivery_tag == 0 and multiple:
            settled = list(self.unacked.values())
            self.unacked.clear()
        elif delivery_tag not in self.unacked:
            if delivery_tag in self.expired_tags:
                self.expired_tags.discard(delivery_tag)
                return []
            raise ChannelError(PRECONDITION_FAILED, f"unknown delivery tag {delivery_tag}")
        elif multiple:
            settled = []
            for tag in list(self.unacked):
                if tag > delivery_tag:
                    break
                settled.append(self.unacked.pop(tag))
        else:
            settled = [self.unacked.pop(delivery_tag)]
        for delivery in settled:
            consumer = delivery.consumer
            if consumer is not None:
                consumer.unacked -= 1
                self.consumer_unacked -= 1
        return settled

    def ack(self, delivery_tag: int, multiple: bool) -> None:
        if not multiple:
            delivery = self.unacked.pop(delivery_tag, None)
            if delivery is not None:  # the usual single ack, without building lists and sets
                if delivery.consumer is not None:
                    delivery.consumer.unacked -= 1
                    self.consumer_unacked -= 1
                queue = delivery.queue
                queue.settle(delivery.entry)
                self.stats.ack += 1
                queue.stats.ack += 1
                self.vhost_stats.ack += 1
                if queue.consumers:
                    if self.defer_dispatch is not None:
                        self.defer_dispatch(queue)
                    else:
                        queue.dispatch()
                return
        settled = self.take_deliveries(delivery_tag, multiple)
        for delivery in settled:
            delivery.queue.settle(delivery.entry)
            delivery.queue.stats.ack += 1
        self.stats.ack += len(settled)
        self.vhost_stats.ack += len(settled)
        self._dispatch(settled)

    def reject(self, delivery_tag: int, multiple: bool, requeue: bool) -> None:
        settled = self.take_deliveries(delivery_tag, multiple)
        if requeue:
            requeue_deliveries(settled)
        else:
            for delivery in settled:
                delivery.queue.discard(delivery.entry, "rejected")
            self._dispatch(settled)

    def recover(self) -> None:
        settled = self.take_deliveries(0, True)
        requeue_deliveries(settled)

    def check_tags(self, delivery_tag: int, multiple: bool) -> None:
        """Validate an ack inside a transaction without settling it yet."""
        if (delivery_tag != 0 or not multiple) and delivery_tag not in self.unacked:
            raise ChannelError(PRECONDITION_FAILED, f"unknown delivery tag {delivery_tag}")

    def _dispatch(self, settled: Iterable[Delivery]) -> None:
        """Settling frees prefetch credit: let the queues involved deliver again."""
        for queue in {d.queue for d in settled}:
            if queue.consumers:
                queue.dispatch()

    def resume(self) -> None:
        """The client can take deliveries again (its socket drained)."""
        for queue in {c.queue for c in self.consumers.values()}:
            queue.dispatch()

    def expire_slow_consumers(self, deadline: float) -> list[str]:
        """Cancel consumers holding a delivery since before ``deadline``; requeue their
        deliveries. Returns the cancelled tags (the caller tells the client)."""
        slow: set[Consumer] = set()
        for delivery in self.unacked.values():
            if delivery.at >= deadline:
                break  # deliveries are in time order
            if delivery.consumer is not None:
                slow.add(delivery.consumer)
        if not slow:
            return []
        taken = [d for d in self.unacked.values() if d.consumer in slow]
        for delivery in taken:
            del self.unacked[delivery.tag]
            self.expired_tags.add(delivery.tag)
            self.consumer_unacked -= 1
        for consumer in slow:
            consumer.unacked = 0
            self.cancel(consumer.tag)
        requeue_deliveries(taken)
        return [consumer.tag for consumer in slow]

    # -- closing --------------------------------------------------------------------------

    def close(self) -> None:
        """Cancel every consumer, then requeue every unacked delivery in original order."""
        for tag in list(self.consumers):
            self.cancel(tag)
        pending = list(self.unacked.values())
        self.unacked.clear()
        self.consumer_unacked = 0
        requeue_deliveries(pending)


def requeue_deliveries(deliveries: Iterable[Delivery]) -> None:
    by_queue: dict[Queue, list[QueueEntry]] = {}
    for delivery in deliveries:
        if not delivery.queue.deleted:
            by_queue.setdefault(delivery.queue, []).append(delivery.entry)
    for queue, entries in by_queue.items():
        queue.requeue(entries)
