"""Queue, consumer and channel rules of the broker core, against a reference model.

One virtual host holds one queue; several channels consume from it, get from it and
settle what they hold.  The reference model knows where every message must be: ready in
the queue (always in publish order, since requeued messages go back to their original
place, as in RabbitMQ), unacked on exactly one channel, or gone.  Deliveries must follow
round-robin among the consumers that have credit, honour per-consumer and per-channel
(global) prefetch, carry delivery tags 1, 2, 3... per channel and set ``redelivered``
exactly for messages that were requeued.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from leveret.amqp.errors import NOT_ALLOWED, PRECONDITION_FAILED, ChannelError, ConnectionError_
from leveret.broker.channel import Channel
from leveret.broker.message import Message
from leveret.broker.queue import Queue
from leveret.broker.vhost import VirtualHost

QUEUE = "q"
SLOTS = 3
MAX_CONSUMERS = 6

# (channel slot, consumer tag, delivery tag, redelivered, message id)
LogEntry = tuple[int, str, int, bool, int]


class RecordingSink:
    """The client side of a channel: records deliveries into a log shared by all sinks."""

    def __init__(self, slot: int, log: list[LogEntry]) -> None:
        self.slot = slot
        self.log = log
        self.writable = True
        self.cancelled: list[str] = []

    def deliver(self, consumer_tag: str, delivery_tag: int, redelivered: bool, message: Message):
        self.log.append((self.slot, consumer_tag, delivery_tag, redelivered, msg_id(message)))

    def consumer_cancelled(self, consumer_tag: str) -> None:
        self.cancelled.append(consumer_tag)


def make_message(n: int) -> Message:
    return Message("", QUEUE, b"", str(n).encode())


def msg_id(message: Message) -> int:
    return int(message.body)


def publish(vhost: VirtualHost, n: int) -> None:
    message = make_message(n)
    for queue in vhost.route(vhost.exchanges[""], message):
        queue.publish(message)


def unknown_tag(tag: int) -> str:
    return f"unknown delivery tag {tag}"


# -- the reference model ------------------------------------------------------------------


@dataclass
class ModelConsumer:
    tag: str
    slot: int
    no_ack: bool
    prefetch: int
    unacked: int = 0


@dataclass
class ModelChannel:
    next_tag: int = 1
    # delivery tag -> (message id, consumer tag or None for basic.get), in tag order
    unacked: dict[int, tuple[int, str | None]] = field(default_factory=dict)
    prefetch_count: int = 0
    global_prefetch: int = 0
    consumer_unacked: int = 0
    writable: bool = True
    consumer_tags: list[str] = field(default_factory=list)


class Model:
    def __init__(self) -> None:
        self.published = 0
        self.ready: list[int] = []  # always sorted: publish order is restored on requeue
        self.requeued: set[int] = set()
        self.gone: set[int] = set()
        self.ring: list[str] = []  # the queue's consumers, head first
        self.consumers: dict[str, ModelConsumer] = {}  # every consumer ever, by tag
        self.channels: list[ModelChannel | None] = [ModelChannel() for _ in range(SLOTS)]
        self.expected: list[LogEntry] = []

    def channel(self, slot: int) -> ModelChannel:
        ch = self.channels[slot]
        assert ch is not None
        return ch

    def can_take(self, c: ModelConsumer) -> bool:
        ch = self.channel(c.slot)
        if not ch.writable:
            return False
        if c.no_ack:
            return True
        if c.prefetch and c.unacked >= c.prefetch:
            return False
        return not ch.global_prefetch or ch.consumer_unacked < ch.global_prefetch

    def dispatch(self) -> None:
        """Round-robin: the first consumer in ring order with credit takes the head."""
        while self.ready and self.ring:
            ring = self.ring
            i = next((n for n, t in enumerate(ring) if self.can_take(self.consumers[t])), None)
            if i is None:
                return  # no consumer has credit
            tag = ring[i]
            self.ring = ring[i + 1 :] + ring[: i + 1]
            c = self.consumers[tag]
            ch = self.channel(c.slot)
            message = self.ready.pop(0)
            delivery_tag = ch.next_tag
            ch.next_tag += 1
            if c.no_ack:
                self.gone.add(message)
            else:
                ch.unacked[delivery_tag] = (message, c.tag)
                c.unacked += 1
                ch.consumer_unacked += 1
            self.expected.append((c.slot, c.tag, delivery_tag, message in self.requeued, message))

    def publish(self, count: int) -> list[int]:
        ids = list(range(self.published, self.published + count))
        self.published += count
        self.ready.extend(ids)
        self.dispatch()
        return ids

    def requeue(self, messages: list[int]) -> None:
        self.requeued.update(messages)
        self.ready = sorted(self.ready + messages)
        self.dispatch()

    def settled_tags(self, slot: int, tag: int, multiple: bool) -> list[int] | None:
        """The tags an ack/nack/reject settles, or None if it must fail with 406."""
        ch = self.channel(slot)
        if tag == 0 and multiple:
            return list(ch.unacked)
        if tag not in ch.unacked:
            return None
        if multiple:
            return [t for t in ch.unacked if t <= tag]
        return [tag]

    def settle(self, slot: int, tags: list[int], requeue: bool) -> None:
        ch = self.channel(slot)
        messages = []
        for t in tags:
            message, ctag = ch.unacked.pop(t)
            messages.append(message)
            if ctag is not None:
                self.consumers[ctag].unacked -= 1
                ch.consumer_unacked -= 1
        if requeue:
            self.requeue(messages)
        else:
            self.gone.update(messages)
            self.dispatch()

    def cancel(self, tag: str) -> None:
        c = self.consumers[tag]
        self.ring.remove(tag)
        self.channel(c.slot).consumer_tags.remove(tag)

    def close(self, slot: int) -> None:
        ch = self.channel(slot)
        for tag in list(ch.consumer_tags):
            self.cancel(tag)
        pending = [message for message, _ in ch.unacked.values()]
        self.channels[slot] = None
        self.requeue(pending)


# -- the state machine --------------------------------------------------------------------


class QueueMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.vhost = VirtualHost("/")
        self.owner = object()
        self.queue = self.vhost.declare_queue(QUEUE, self.owner)
        self.log: list[LogEntry] = []
        self.channels: list[Channel | None] = [self.new_channel(s) for s in range(SLOTS)]
        self.model = Model()
        self.next_ctag = 0
        self.last_first_delivery = -1

    def new_channel(self, slot: int) -> Channel:
        return Channel(slot + 1, self.owner, RecordingSink(slot, self.log))

    def open_slots(self) -> list[int]:
        return [s for s in range(SLOTS) if self.channels[s] is not None]

    def ch(self, slot: int) -> Channel:
        channel = self.channels[slot]
        assert channel is not None
        return channel

    def slots_with_unacked(self) -> list[int]:
        return [s for s in self.open_slots() if self.model.channel(s).unacked]

    def live_consumers(self) -> list[str]:
        return list(self.model.ring)

    # -- rules ------------------------------------------------------------------------------

    @rule(count=st.integers(1, 3))
    def publish(self, count: int) -> None:
        for n in self.model.publish(count):
            publish(self.vhost, n)

    @precondition(lambda self: self.open_slots())
    @rule(data=st.data(), no_ack=st.booleans())
    def basic_get(self, data: st.DataObject, no_ack: bool) -> None:
        slot = data.draw(st.sampled_from(self.open_slots()), label="slot")
        got = self.ch(slot).get(self.queue, no_ack=no_ack)
        model_ch = self.model.channel(slot)
        if not self.model.ready:
            assert got is None
            return
        message = self.model.ready.pop(0)
        tag = model_ch.next_tag
        model_ch.next_tag += 1
        if no_ack:
            self.model.gone.add(message)
        else:
            model_ch.unacked[tag] = (message, None)
        assert got is not None
        got_tag, entry = got
        assert (got_tag, msg_id(entry.message)) == (tag, message)
        assert entry.redelivered == (message in self.model.requeued)
        if not entry.redelivered:
            assert message > self.last_first_delivery, "FIFO broken for a fresh message"
            self.last_first_delivery = message

    @precondition(lambda self: self.open_slots() and len(self.model.ring) < MAX_CONSUMERS)
    @rule(data=st.data(), no_ack=st.booleans())
    def consume(self, data: st.DataObject, no_ack: bool) -> None:
        slot = data.draw(st.sampled_from(self.open_slots()), label="slot")
        tag = f"ctag-{self.next_ctag}"
        self.next_ctag += 1
        channel = self.ch(slot)
        consumer = channel.consume(self.queue, tag, no_ack=no_ack, exclusive=False)
        model_ch = self.model.channel(slot)
        assert consumer.prefetch == model_ch.prefetch_count
        self.model.consumers[tag] = ModelConsumer(tag, slot, no_ack, model_ch.prefetch_count)
        model_ch.consumer_tags.append(tag)
        self.model.ring.append(tag)
        self.queue.add_consumer(consumer)
        self.model.dispatch()

    @precondition(lambda self: self.model.ring)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        tag = data.draw(st.sampled_from(sorted(self.model.ring)), label="consumer")
        slot = self.model.consumers[tag].slot
        cancelled = self.ch(slot).cancel(tag)
        assert cancelled is not None and cancelled.tag == tag
        self.model.cancel(tag)
        assert self.ch(slot).cancel(tag) is None  # a second cancel is a no-op

    @precondition(lambda self: self.slots_with_unacked())
    @rule(
        data=st.data(),
        op=st.sampled_from(["ack", "nack", "reject"]),
        multiple=st.booleans(),
        requeue=st.booleans(),
    )
    def settle(self, data: st.DataObject, op: str, multiple: bool, requeue: bool) -> None:
        slot = data.draw(st.sampled_from(self.slots_with_unacked()), label="slot")
        tag = data.draw(st.sampled_from(list(self.model.channel(slot).unacked)), label="tag")
        self._settle(slot, op, tag, multiple, requeue)

    @precondition(lambda self: self.open_slots())
    @rule(data=st.data(), op=st.sampled_from(["ack", "nack"]), requeue=st.booleans())
    def settle_everything(self, data: st.DataObject, op: str, requeue: bool) -> None:
        """Delivery tag 0 with multiple=true settles all outstanding deliveries."""
        slot = data.draw(st.sampled_from(self.open_slots()), label="slot")
        self._settle(slot, op, 0, True, requeue)

    @precondition(lambda self: self.open_slots())
    @rule(
        data=st.data(),
        op=st.sampled_from(["ack", "nack", "reject"]),
        multiple=st.booleans(),
        requeue=st.booleans(),
    )
    def settle_unknown(self, data: st.DataObject, op: str, multiple: bool, requeue: bool) -> None:
        slot = data.draw(st.sampled_from(self.open_slots()), label="slot")
        model_ch = self.model.channel(slot)
        if op == "reject":
            multiple = False
        candidates = [
            t
            for t in range(model_ch.next_tag + 3)
            if t not in model_ch.unacked and not (t == 0 and multiple)
        ]
        tag = data.draw(st.sampled_from(candidates), label="tag")
        self._settle(slot, op, tag, multiple, requeue)

    def _settle(self, slot: int, op: str, tag: int, multiple: bool, requeue: bool) -> None:
        channel = self.ch(slot)
        if op == "reject":
            multiple = False
        expected = self.model.settled_tags(slot, tag, multiple)
        if expected is None:
            with pytest.raises(ChannelError) as info:
                self._call_settle(channel, op, tag, multiple, requeue)
            assert info.value.reply_code == PRECONDITION_FAILED
            assert info.value.detail == unknown_tag(tag)
            assert info.value.reply_text == f"PRECONDITION_FAILED - {unknown_tag(tag)}"
            return  # nothing changed: the invariants check that
        self._call_settle(channel, op, tag, multiple, requeue)
        self.model.settle(slot, expected, requeue and op != "ack")

    @staticmethod
    def _call_settle(channel: Channel, op: str, tag: int, multiple: bool, requeue: bool) -> None:
        if op == "ack":
            channel.ack(tag, multiple)
        else:
            channel.reject(tag, multiple, requeue)

    @precondition(lambda self: self.open_slots())
    @rule(data=st.data())
    def recover(self, data: st.DataObject) -> None:
        slot = data.draw(st.sampled_from(self.open_slots()), label="slot")
        self.ch(slot).recover()
        model_ch = self.model.channel(slot)
        self.model.settle(slot, list(model_ch.unacked), True)

    @precondition(lambda self: self.open_slots())
    @rule(data=st.data())
    def close_channel(self, data: st.DataObject) -> None:
        slot = data.draw(st.sampled_from(self.open_slots()), label="slot")
        channel = self.ch(slot)
        self.channels[slot] = None
        channel.close()
        assert not channel.unacked and not channel.consumers
        self.model.close(slot)

    @precondition(lambda self: len(self.open_slots()) < SLOTS)
    @rule(data=st.data())
    def open_channel(self, data: st.DataObject) -> None:
        closed = [s for s in range(SLOTS) if self.channels[s] is None]
        slot = data.draw(st.sampled_from(closed), label="slot")
        self.channels[slot] = self.new_channel(slot)
        self.model.channels[slot] = ModelChannel()

    @rule()
    def purge(self) -> None:
        count = self.vhost.purge_queue(QUEUE, self.owner)
        assert count == len(self.model.ready)
        self.model.gone.update(self.model.ready)
        self.model.ready = []

    @precondition(lambda self: self.open_slots())
    @rule(data=st.data(), prefetch=st.integers(0, 3), global_=st.booleans())
    def qos(self, data: st.DataObject, prefetch: int, global_: bool) -> None:
        slot = data.draw(st.sampled_from(self.open_slots()), label="slot")
        channel = self.ch(slot)
        model_ch = self.model.channel(slot)
        if global_:
            channel.global_prefetch = model_ch.global_prefetch = prefetch
        else:
            channel.prefetch_count = model_ch.prefetch_count = prefetch
        channel.resume()  # as the basic.qos handler does
        self.model.dispatch()

    @precondition(lambda self: self.open_slots())
    @rule(data=st.data(), writable=st.booleans())
    def set_writable(self, data: st.DataObject, writable: bool) -> None:
        slot = data.draw(st.sampled_from(self.open_slots()), label="slot")
        channel = self.ch(slot)
        channel.sink.writable = writable  # type: ignore[misc]
        self.model.channel(slot).writable = writable
        if writable:
            channel.resume()  # the socket drained
            self.model.dispatch()

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def deliveries_match_the_model(self) -> None:
        assert self.log == self.model.expected
        for slot, _ctag, _tag, redelivered, message in self.log:
            if not redelivered:
                assert message > self.last_first_delivery, "FIFO broken for a fresh message"
                self.last_first_delivery = message
            assert self.channels[slot] is not None, "delivery to a closed channel"
        self.log.clear()
        self.model.expected.clear()

    @invariant()
    def every_message_is_in_exactly_one_place(self) -> None:
        places: Counter[int] = Counter(msg_id(e.message) for e in self.queue.ready)
        for channel in self.channels:
            if channel is not None:
                places.update(msg_id(d.entry.message) for d in channel.unacked.values())
        duplicated = [m for m, n in places.items() if n > 1]
        assert not duplicated, f"messages in two places: {duplicated}"
        assert not set(places) & self.model.gone, "a settled message came back"
        lost = set(range(self.model.published)) - set(places) - self.model.gone
        assert not lost, f"messages lost: {sorted(lost)}"

    @invariant()
    def queue_matches_the_model(self) -> None:
        ready = [msg_id(e.message) for e in self.queue.ready]
        assert ready == sorted(ready), "ready messages out of publish order"
        assert ready == self.model.ready
        for entry in self.queue.ready:
            assert entry.redelivered == (msg_id(entry.message) in self.model.requeued)
        assert [c.tag for c in self.queue.consumers] == self.model.ring
        assert self.queue.message_count == len(ready)
        assert self.queue.consumer_count == len(self.model.ring)

    @invariant()
    def channels_match_the_model(self) -> None:
        for slot, channel in enumerate(self.channels):
            model_ch = self.model.channels[slot]
            if channel is None:
                assert model_ch is None
                continue
            assert model_ch is not None
            assert channel.next_tag == model_ch.next_tag
            outstanding = {
                tag: (msg_id(d.entry.message), d.consumer.tag if d.consumer else None)
                for tag, d in channel.unacked.items()
            }
            assert outstanding == model_ch.unacked
            assert list(channel.unacked) == sorted(channel.unacked)
            assert channel.consumer_unacked == model_ch.consumer_unacked
            assert list(channel.consumers) == model_ch.consumer_tags
            for tag, consumer in channel.consumers.items():
                c = self.model.consumers[tag]
                assert consumer.unacked == c.unacked
                if c.prefetch and not c.no_ack:
                    assert consumer.unacked <= c.prefetch, "per-consumer prefetch exceeded"
            assert channel.sink.cancelled == []  # type: ignore[attr-defined]

    @invariant()
    def dispatch_is_maximal(self) -> None:
        """Nothing is left ready while some consumer could take it."""
        if self.model.ready:
            assert not any(self.model.can_take(self.model.consumers[t]) for t in self.model.ring)


QueueMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestQueueModel = QueueMachine.TestCase


# -- examples ---------------------------------------------------------------------------


class Setup:
    def __init__(self, channels: int = 2) -> None:
        self.vhost = VirtualHost("/")
        self.owner = object()
        self.queue: Queue = self.vhost.declare_queue(QUEUE, self.owner)
        self.log: list[LogEntry] = []
        self.channels = [
            Channel(i + 1, self.owner, RecordingSink(i, self.log)) for i in range(channels)
        ]

    def publish(self, *ids: int) -> None:
        for n in ids:
            publish(self.vhost, n)

    def consume(self, slot: int, tag: str, *, no_ack: bool = False) -> None:
        channel = self.channels[slot]
        self.queue.add_consumer(channel.consume(self.queue, tag, no_ack=no_ack, exclusive=False))

    def ready(self) -> list[int]:
        return [msg_id(e.message) for e in self.queue.ready]

    def take_log(self) -> list[LogEntry]:
        log = list(self.log)
        self.log.clear()
        return log


def test_round_robin_between_two_consumers() -> None:
    s = Setup()
    s.consume(0, "a")
    s.consume(1, "b")
    s.publish(0, 1, 2, 3)
    assert s.take_log() == [
        (0, "a", 1, False, 0),
        (1, "b", 1, False, 1),
        (0, "a", 2, False, 2),
        (1, "b", 2, False, 3),
    ]


def test_round_robin_skips_consumers_without_credit() -> None:
    s = Setup(channels=3)
    s.channels[0].prefetch_count = 1
    s.consume(0, "a")
    s.consume(1, "b")
    s.consume(2, "c")
    s.publish(0, 1, 2, 3, 4)
    assert [(ctag, m) for _, ctag, _, _, m in s.take_log()] == [
        ("a", 0),
        ("b", 1),
        ("c", 2),
        ("b", 3),  # a is full
        ("c", 4),
    ]


def test_per_consumer_prefetch_holds_back_messages_until_ack() -> None:
    s = Setup()
    s.channels[0].prefetch_count = 2
    s.consume(0, "a")
    s.publish(0, 1, 2, 3)
    assert [m for *_, m in s.take_log()] == [0, 1]
    assert s.ready() == [2, 3]
    s.channels[0].ack(1, False)
    assert s.take_log() == [(0, "a", 3, False, 2)]
    s.channels[0].ack(3, True)  # tags 2 and 3
    assert s.take_log() == [(0, "a", 4, False, 3)]


def test_prefetch_applies_only_to_consumers_created_afterwards() -> None:
    s = Setup()
    s.consume(0, "before")
    s.channels[0].prefetch_count = 1
    s.consume(0, "after")
    s.publish(*range(6))
    counts = Counter(ctag for _, ctag, *_ in s.take_log())
    assert counts == {"before": 5, "after": 1}


def test_global_prefetch_is_shared_by_the_channel_consumers() -> None:
    s = Setup()
    s.channels[0].global_prefetch = 3
    s.consume(0, "a")
    s.consume(0, "b")
    s.publish(*range(5))
    assert [(ctag, tag) for _, ctag, tag, _, _ in s.take_log()] == [("a", 1), ("b", 2), ("a", 3)]
    assert s.channels[0].consumer_unacked == 3
    s.channels[0].reject(2, False, requeue=False)
    assert [(ctag, tag, m) for _, ctag, tag, _, m in s.take_log()] == [("b", 4, 3)]


def test_no_ack_consumer_ignores_prefetch_and_leaves_nothing_unacked() -> None:
    s = Setup()
    s.channels[0].prefetch_count = 1
    s.channels[0].global_prefetch = 1
    s.consume(0, "a", no_ack=True)
    s.publish(0, 1, 2)
    assert [m for *_, m in s.take_log()] == [0, 1, 2]
    assert s.channels[0].unacked == {}
    assert s.ready() == []


def test_delivery_tags_start_at_one_and_are_shared_by_get_and_deliver() -> None:
    s = Setup()
    s.publish(0, 1, 2)
    got = s.channels[0].get(s.queue, no_ack=True)
    assert got is not None and got[0] == 1
    got = s.channels[0].get(s.queue, no_ack=False)
    assert got is not None and got[0] == 2
    s.consume(0, "a")
    assert s.take_log() == [(0, "a", 3, False, 2)]
    assert s.channels[1].get(s.queue, no_ack=False) is None
    s.publish(3)
    assert s.take_log() == [(0, "a", 4, False, 3)]


def test_nack_multiple_requeues_in_original_order_and_marks_redelivered() -> None:
    s = Setup()
    s.publish(0, 1, 2, 3, 4)
    for _ in range(3):
        s.channels[0].get(s.queue, no_ack=False)  # tags 1..3 hold messages 0..2
    assert s.ready() == [3, 4]
    s.channels[0].reject(3, True, requeue=True)
    assert s.ready() == [0, 1, 2, 3, 4]
    assert [e.redelivered for e in s.queue.ready] == [True, True, True, False, False]
    assert s.channels[0].unacked == {}


def test_requeue_goes_back_between_later_messages() -> None:
    s = Setup()
    s.publish(0, 1, 2, 3)
    ch = s.channels[0]
    ch.get(s.queue, no_ack=False)  # 1 -> 0
    ch.get(s.queue, no_ack=False)  # 2 -> 1
    s.channels[1].get(s.queue, no_ack=False)  # 1 -> 2
    ch.reject(2, False, requeue=True)
    assert s.ready() == [1, 3]
    s.channels[1].reject(1, False, requeue=True)
    assert s.ready() == [1, 2, 3]
    ch.reject(1, False, requeue=True)
    assert s.ready() == [0, 1, 2, 3]


def test_requeued_message_is_redelivered_to_a_consumer_with_the_flag() -> None:
    s = Setup()
    s.consume(0, "a")
    s.publish(0)
    s.channels[0].reject(1, False, requeue=True)
    assert s.take_log() == [(0, "a", 1, False, 0), (0, "a", 2, True, 0)]


def test_reject_without_requeue_drops_the_message() -> None:
    s = Setup()
    s.publish(0, 1)
    s.channels[0].get(s.queue, no_ack=False)
    s.channels[0].reject(1, False, requeue=False)
    assert s.ready() == [1]
    assert s.channels[0].unacked == {}


@pytest.mark.parametrize("multiple", [False, True])
def test_unknown_delivery_tag_is_406(multiple: bool) -> None:
    s = Setup()
    s.publish(0)
    with pytest.raises(ChannelError) as info:
        s.channels[0].ack(1, multiple)
    assert (info.value.reply_code, info.value.detail) == (406, "unknown delivery tag 1")
    s.channels[0].get(s.queue, no_ack=False)
    s.channels[0].ack(1, multiple)
    with pytest.raises(ChannelError) as info:
        s.channels[0].reject(1, multiple, requeue=True)  # already settled
    assert info.value.reply_text == "PRECONDITION_FAILED - unknown delivery tag 1"
    assert s.ready() == []


def test_tag_zero_without_multiple_is_unknown() -> None:
    s = Setup()
    s.publish(0)
    s.channels[0].get(s.queue, no_ack=False)
    with pytest.raises(ChannelError, match="unknown delivery tag 0"):
        s.channels[0].ack(0, False)
    s.channels[0].ack(0, True)  # zero with multiple means "everything"
    assert s.channels[0].unacked == {}


def test_tags_belong_to_their_channel() -> None:
    s = Setup()
    s.publish(0)
    s.channels[0].get(s.queue, no_ack=False)
    with pytest.raises(ChannelError, match="unknown delivery tag 1"):
        s.channels[1].ack(1, False)
    assert 1 in s.channels[0].unacked


def test_recover_requeues_everything_unacked() -> None:
    s = Setup()
    s.consume(0, "a")
    s.publish(0, 1)
    s.channels[0].cancel("a")
    s.channels[0].recover()
    assert s.ready() == [0, 1]
    assert all(e.redelivered for e in s.queue.ready)


def test_closing_a_channel_requeues_to_the_other_consumers() -> None:
    s = Setup()
    s.channels[0].prefetch_count = 2
    s.consume(0, "a")
    s.channels[1].prefetch_count = 1
    s.consume(1, "b")
    s.publish(0, 1, 2, 3)
    s.take_log()  # a: 0, 2  b: 1
    s.channels[1].ack(1, False)
    assert s.take_log() == [(1, "b", 2, False, 3)]
    s.channels[0].close()
    assert s.queue.consumer_count == 1
    s.channels[1].ack(2, False)
    assert s.take_log() == [(1, "b", 3, True, 0)]
    assert s.ready() == [2]


def test_cancelled_consumer_keeps_its_unacked_messages() -> None:
    s = Setup()
    s.consume(0, "a")
    s.publish(0)
    s.channels[0].cancel("a")
    s.publish(1)
    assert s.ready() == [1]
    assert list(s.channels[0].unacked) == [1]
    s.channels[0].ack(1, False)


def test_unwritable_sink_pauses_deliveries_until_resume() -> None:
    s = Setup()
    s.consume(0, "a")
    s.channels[0].sink.writable = False  # type: ignore[misc]
    s.publish(0, 1)
    assert s.take_log() == []
    s.channels[0].sink.writable = True  # type: ignore[misc]
    s.channels[0].resume()
    assert [m for *_, m in s.take_log()] == [0, 1]


def test_purge_drops_ready_but_not_unacked() -> None:
    s = Setup()
    s.publish(0, 1, 2)
    s.channels[0].get(s.queue, no_ack=False)
    assert s.vhost.purge_queue(QUEUE, s.owner) == 2
    assert s.ready() == []
    s.channels[0].reject(1, False, requeue=True)
    assert s.ready() == [0]


def test_reusing_a_consumer_tag_on_a_channel_is_530() -> None:
    s = Setup()
    s.consume(0, "a")
    with pytest.raises(ConnectionError_) as info:
        s.channels[0].consume(s.queue, "a", no_ack=False, exclusive=False)
    assert info.value.reply_code == NOT_ALLOWED
    assert info.value.detail == "attempt to reuse consumer tag 'a'"
    s.channels[1].consume(s.queue, "a", no_ack=False, exclusive=False)  # other channel: fine


def test_empty_consumer_tag_is_generated() -> None:
    s = Setup()
    consumer = s.channels[0].consume(s.queue, "", no_ack=False, exclusive=False)
    assert consumer.tag.startswith("amq.ctag-")
    assert len(consumer.tag) == len("amq.ctag-") + 22
