"""The durable store under a durable queue, against a reference model (Hypothesis).

The model knows every message ever published: persistent or not, whether its confirm
said stored, whether it is ready in the queue, unacked on the channel, or settled (and
whether that settlement was synced). Rules publish, get, consume, ack, nack, requeue by
closing the channel, purge, let the store's runner write and fsync, and restart the
broker either cleanly (``MessageStore.close``) or by losing power (only what was fsynced
survives). Paging and segment rotation happen, thanks to a tiny memory budget and
segment size.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from leveret.broker.channel import Channel
from leveret.broker.message import Message
from leveret.broker.queue import Queue
from leveret.store.memory import MemoryDefinitionStore

from .simulated_disk import (
    ManualRunner,
    RecordingSink,
    Rig,
    SimulatedDisk,
    make_message,
    message_id,
    peek,
)

SIZES = dict(segment_size=2048, memory_budget=512)


@dataclass
class Msg:
    id: int
    persistent: bool
    confirmed: bool = False
    settled: bool = False
    settle_durable: bool = False
    delivered: bool = False
    requeued: bool = False


class StoreModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.disk = SimulatedDisk()
        self.definitions = MemoryDefinitionStore()
        self.rig = Rig(self.disk, self.definitions, **SIZES)
        self.queue: Queue = self._declare()
        self.msgs: dict[int, Msg] = {}
        self.ready: set[int] = set()  # ids the queue holds (in memory or paged)
        self.next_id = 1
        self._new_channel()

    @property
    def runner(self) -> ManualRunner:
        assert isinstance(self.rig.runner, ManualRunner)
        return self.rig.runner

    def _new_channel(self) -> None:
        self.sink = RecordingSink()
        self.channel = Channel(1, object(), self.sink)
        self.seen = 0
        self.unacked: dict[int, int] = {}
        self.consumers: dict[str, bool] = {}
        self.serial = 0

    # -- what a variant of the model changes ----------------------------------------------

    def _declare(self) -> Queue:
        return self.rig.declare("q")

    def _message(self, n: int, persistent: bool, padding: int) -> Message:
        return make_message(n, persistent=persistent, padding=padding)

    def _key(self, msg_id: int) -> tuple[int, int]:
        """Messages leave the queue in this order (requeued ones aside)."""
        return (0, msg_id)

    def _found(self) -> list[int]:
        """The ids peek finds, in queue order."""
        return [i for i, _ in peek(self.queue)]

    # -- helpers --------------------------------------------------------------------------

    def _taken(self, msg_id: int, no_ack: bool, tag: int) -> None:
        assert msg_id in self.ready, f"message {msg_id} delivered but not in the queue"
        key = self._key(msg_id)
        older = [i for i in self.ready if self._key(i) < key and not self.msgs[i].requeued]
        if not self.msgs[msg_id].requeued:
            assert not older, f"FIFO: {msg_id} delivered before older {older}"
        higher = [i for i in self.ready if self._key(i)[0] < key[0]]
        assert not higher, f"priority: {msg_id} delivered before {higher}"
        self.ready.discard(msg_id)
        if no_ack:
            self._settle([msg_id])
        else:
            self.msgs[msg_id].delivered = True
            self.unacked[tag] = msg_id

    def _absorb(self) -> None:
        for ctag, tag, _redelivered, message in self.sink.deliveries[self.seen :]:
            self._taken(message_id(message), self.consumers.get(ctag, False), tag)
        self.seen = len(self.sink.deliveries)

    def _settle(self, ids: list[int]) -> None:
        msgs = [self.msgs[i] for i in ids]
        for msg in msgs:
            msg.settled = True

        def durable(ok: bool) -> None:
            if ok:
                for msg in msgs:
                    msg.settle_durable = True

        self.rig.store.after_sync(durable)

    def _requeue(self, ids: list[int]) -> None:
        for i in ids:
            self.msgs[i].requeued = True
            self.ready.add(i)

    # -- rules ----------------------------------------------------------------------------

    @rule(persistent=st.booleans(), padding=st.sampled_from([0, 40, 300]))
    def publish(self, persistent: bool, padding: int) -> None:
        msg = self.msgs[self.next_id] = Msg(self.next_id, persistent)
        self.next_id += 1

        def confirm(ok: bool) -> None:
            assert not msg.confirmed, "confirmed twice"
            msg.confirmed = ok

        self.ready.add(msg.id)
        self.rig.publish(self._message(msg.id, persistent, padding), confirm)
        self._absorb()

    @rule()
    def run_runner(self) -> None:
        self.runner.run_all()
        self._absorb()

    @rule()
    def step_runner(self) -> None:
        self.runner.step()
        self._absorb()

    @rule(no_ack=st.booleans())
    def get(self, no_ack: bool) -> None:
        got = self.channel.get(self.queue, no_ack=no_ack)
        if got is None:
            assert not self.ready, f"basic.get found nothing but {sorted(self.ready)} wait"
            return
        tag, entry = got
        self._taken(message_id(entry.message), no_ack, tag)
        self._absorb()

    @precondition(lambda self: len(self.consumers) < 2)
    @rule(no_ack=st.booleans(), prefetch=st.integers(1, 4))
    def consume(self, no_ack: bool, prefetch: int) -> None:
        self.serial += 1
        tag = f"c{self.serial}"
        self.consumers[tag] = no_ack
        self.channel.prefetch_count = prefetch
        self.queue.add_consumer(
            self.channel.consume(self.queue, tag, no_ack=no_ack, exclusive=False)
        )
        self._absorb()

    @precondition(lambda self: bool(self.consumers))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        tag = data.draw(st.sampled_from(sorted(self.consumers)))
        self.channel.cancel(tag)
        del self.consumers[tag]

    @precondition(lambda self: bool(self.unacked))
    @rule(data=st.data(), multiple=st.booleans())
    def ack(self, data: st.DataObject, multiple: bool) -> None:
        tag = data.draw(st.sampled_from(sorted(self.unacked)))
        tags = [t for t in self.unacked if t <= tag] if multiple else [tag]
        self._settle([self.unacked.pop(t) for t in tags])
        self.channel.ack(tag, multiple)
        self._absorb()

    @precondition(lambda self: bool(self.unacked))
    @rule(data=st.data(), requeue=st.booleans())
    def nack(self, data: st.DataObject, requeue: bool) -> None:
        tag = data.draw(st.sampled_from(sorted(self.unacked)))
        ids = [self.unacked.pop(tag)]
        if requeue:
            self._requeue(ids)
        else:
            self._settle(ids)
        self.channel.reject(tag, False, requeue)
        self._absorb()

    @rule()
    def close_channel(self) -> None:
        self._requeue(list(self.unacked.values()))
        self.channel.close()
        self._new_channel()

    @rule()
    def purge(self) -> None:
        assert self.queue.purge() == len(self.ready)
        self._settle(sorted(self.ready))
        self.ready.clear()

    @rule()
    def clean_restart(self) -> None:
        """Orderly shutdown: everything is written and synced, unacked messages return.

        As in ``Node.stop``, work already handed to the runner finishes first (see
        test_power_loss.test_close_with_fsync_in_flight for what happens otherwise).
        """
        self.runner.run_all()
        self.rig.store.close()
        expected = sorted(
            (i for i in self.ready | set(self.unacked.values()) if self.msgs[i].persistent),
            key=self._key,
        )
        self._reboot()
        assert self._found() == expected

    @rule()
    def dirty_restart(self) -> None:
        """Power loss: only what was fsynced survives (no torn tails here)."""
        self.disk.crash()
        held = self.ready | set(self.unacked.values())
        must = {i for i in held if self.msgs[i].persistent and self.msgs[i].confirmed}
        self._reboot()
        found = self._found()
        for i in found:
            msg = self.msgs[i]
            assert msg.persistent, f"transient message {i} survived"
            assert not msg.settle_durable, f"message {i} is back after a synced settle"
        assert must <= set(found), f"confirmed messages lost: {sorted(must - set(found))}"
        first = [i for i in found if not self.msgs[i].requeued and not self.msgs[i].delivered]
        assert first == sorted(first, key=self._key)

    def _reboot(self) -> None:
        held = set(self.unacked.values())
        self.rig = Rig(self.disk, self.definitions, **SIZES)
        self.queue = self.rig.vhost.queues["q"]
        found = peek(self.queue)
        assert len({i for i, _ in found}) == len(found), "duplicates after recovery"
        for i, redelivered in found:
            assert i in self.msgs, f"message {i} was never published"
            if redelivered:
                assert self.msgs[i].delivered, f"message {i} redelivered, never delivered"
        self.ready = {i for i, _ in found}
        for msg in self.msgs.values():
            if msg.id in self.ready:
                msg.confirmed = True
                msg.settled = msg.settle_durable = False
                msg.requeued = msg.requeued or msg.id in held or msg.delivered
            else:
                msg.settled = msg.settle_durable = True
        self._new_channel()

    # -- invariants -----------------------------------------------------------------------

    @invariant()
    def counts_match(self) -> None:
        assert self.queue.message_count == len(self.ready)

    @invariant()
    def confirms_are_for_persistent_or_immediate(self) -> None:
        for msg in self.msgs.values():
            if msg.confirmed and msg.persistent and not msg.settled:
                assert msg.id in self.ready or msg.id in self.unacked.values()


StoreModel.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestStoreModel = StoreModel.TestCase


MAX_PRIORITY = 3


def priority_of(msg_id: int) -> int:
    """Mixed priorities, some above the queue's maximum (they count as the maximum)."""
    return (msg_id * 7) % 6


class PriorityStoreModel(StoreModel):
    """The same model over a durable priority queue (x-max-priority): it pages by level,
    and priority order must survive restarts and power loss."""

    def _declare(self) -> Queue:
        return self.rig.vhost.declare_queue(
            "q", None, durable=True, arguments={"x-max-priority": MAX_PRIORITY}
        )

    def _message(self, n: int, persistent: bool, padding: int) -> Message:
        return make_message(n, persistent=persistent, padding=padding, priority=priority_of(n))

    def _key(self, msg_id: int) -> tuple[int, int]:
        return (-min(priority_of(msg_id), MAX_PRIORITY), msg_id)


PriorityStoreModel.TestCase.settings = StoreModel.TestCase.settings
TestPriorityStoreModel = PriorityStoreModel.TestCase
