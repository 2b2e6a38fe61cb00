"""A queue: ready messages in FIFO order, its consumers, and round-robin dispatch.

A durable queue has a message log. Persistent messages are appended to it; once the
messages held in memory pass the queue's memory budget, new messages (persistent or not)
go only to the log and are read back in order when the in-memory part runs low. Every
message in the log has a higher sequence number than every message in memory.
"""

from __future__ import annotations

import heapq
from array import array
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from leveret.broker.message import Message, QueueEntry

if TYPE_CHECKING:
    from leveret.broker.consumer import Consumer
    from leveret.store.base import MessageLog

# How many deliveries one dispatch pass makes before yielding to the event loop, so one
# queue with a large backlog cannot starve every other connection.
DISPATCH_BUDGET = 512
DEFAULT_MEMORY_BUDGET = 32 * 1024 * 1024  # bytes of message bodies held in memory
PAGE_IN_BATCH = 512

Scheduler = Callable[[Callable[[], None]], object]


class PagedRun:
    """Messages of one log segment that are on disk only: their offsets, in order."""

    __slots__ = ("next", "offsets", "segment")

    def __init__(self, segment: Any, offsets: array[int] | None = None):
        self.segment = segment
        self.offsets: array[int] = offsets if offsets is not None else array("q")
        self.next = 0

    def __len__(self) -> int:
        return len(self.offsets) - self.next


class Queue:
    __slots__ = (
        "__weakref__",
        "_dispatch_scheduled",
        "_dispatching",
        "_next_seq",
        "_schedule",
        "arguments",
        "auto_delete",
        "consumers",
        "deleted",
        "durable",
        "exclusive_owner",
        "had_consumer",
        "log",
        "memory_budget",
        "name",
        "on_unused",
        "outstanding",
        "paged",
        "paged_count",
        "paged_floor",
        "paging",
        "prioritised",
        "ready",
        "ready_bytes",
        "recovered_delivered",
        "vhost_name",
    )

    def __init__(
        self,
        name: str,
        vhost_name: str,
        *,
        durable: bool = False,
        exclusive_owner: object | None = None,
        auto_delete: bool = False,
        arguments: dict[str, object] | None = None,
        schedule: Scheduler | None = None,
        log: MessageLog | None = None,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
    ):
        self.name = name
        self.vhost_name = vhost_name
        self.durable = durable
        self.exclusive_owner = exclusive_owner
        self.auto_delete = auto_delete
        self.arguments = arguments or {}
        self.ready: deque[QueueEntry] = deque()
        self.ready_bytes = 0
        self.consumers: deque[Consumer] = deque()
        self.had_consumer = False
        self.prioritised = False  # some consumer has a non-default x-priority
        self.deleted = False
        self._next_seq = 0
        self._dispatching = False
        self._dispatch_scheduled = False
        self._schedule = schedule
        self.log = log
        self.memory_budget = memory_budget
        self.paging = False
        self.paged: deque[PagedRun] = deque()
        self.paged_count = 0
        self.paged_floor = 0  # every paged message has seq >= this; every other one below
        self.recovered_delivered: set[int] = set()
        # Logged entries delivered and not yet settled, by seq (for compaction).
        self.outstanding: dict[int, QueueEntry] = {}
        if log is not None:
            log.on_sparse = self._compact
        # Called when an auto-delete queue loses its last consumer.
        self.on_unused: Callable[[Queue], None] | None = None

    def __repr__(self) -> str:
        return f"<Queue {self.name!r} in {self.vhost_name!r}>"

    @property
    def exclusive(self) -> bool:
        return self.exclusive_owner is not None

    @property
    def message_count(self) -> int:
        return len(self.ready) + self.paged_count

    @property
    def consumer_count(self) -> int:
        return len(self.consumers)

    # -- messages -------------------------------------------------------------------------

    def publish(self, message: Message) -> bool:
        """Enqueue; returns True when the message waits for the log's next sync."""
        self._next_seq = seq = self._next_seq + 1
        log = self.log
        if log is None:
            self.ready.append(QueueEntry(seq, message))
            self.ready_bytes += len(message.body)
            if self.consumers:
                self.dispatch()
            return False
        persistent = message.persistent
        if self.paging:
            segment, offset = log.append(
                seq,
                persistent,
                message.exchange,
                message.routing_key,
                message.properties_raw,
                message.body,
            )
            self._page_out(seq, segment, offset)
            return persistent
        entry = QueueEntry(seq, message)
        if persistent:
            entry.segment = log.append(
                seq,
                True,
                message.exchange,
                message.routing_key,
                message.properties_raw,
                message.body,
            )[0]
        self.ready.append(entry)
        self.ready_bytes += len(message.body)
        if self.ready_bytes > self.memory_budget:
            self.paging = True  # from the next message on, the log holds the backlog
        if self.consumers:
            self.dispatch()
        return persistent

    def _page_out(self, seq: int, segment: Any, offset: int) -> None:
        if not self.paged_count:
            self.paged_floor = seq
        run = self.paged[-1] if self.paged else None
        if run is None or run.segment is not segment:
            run = PagedRun(segment)
            self.paged.append(run)
        run.offsets.append(offset)
        self.paged_count += 1

    def _page_in(self) -> None:
        """Read the oldest paged messages back into memory, up to half the budget."""
        log = self.log
        assert log is not None
        loaded = 0
        while self.paged and loaded < self.memory_budget // 2:
            run = self.paged[0]
            records = log.read(run.segment, run.offsets, run.next, PAGE_IN_BATCH)
            for record in records:
                message = Message(
                    record.exchange, record.routing_key, record.properties_raw, record.body
                )
                redelivered = record.seq in self.recovered_delivered
                self.ready.append(QueueEntry(record.seq, message, redelivered, run.segment))
                loaded += len(record.body)
                self.paged_floor = record.seq + 1
            run.next += len(records)
            self.paged_count -= len(records)
            if not len(run):
                self.paged.popleft()
            if not records:
                break
        self.ready_bytes += loaded
        if not self.paged_count:
            self.paging = False
            self.recovered_delivered.clear()

    def restore(
        self, runs: Iterable[tuple[Any, array[int]]], delivered: set[int], next_seq: int
    ) -> None:
        """Take over what the log recovered after a restart."""
        self._next_seq = max(self._next_seq, next_seq - 1)
        self.recovered_delivered = delivered
        for segment, offsets in runs:
            self.paged.append(PagedRun(segment, offsets))
            self.paged_count += len(offsets)
        if self.paged_count:
            self.paging = True
            self._page_in()

    def take(self) -> QueueEntry | None:
        """Remove the head message (for delivery or basic.get)."""
        if not self.ready:
            if not self.paged_count:
                return None
            self._page_in()
            if not self.ready:
                return None
        entry = self.ready.popleft()
        self.ready_bytes -= len(entry.message.body)
        return entry

    def get(self) -> QueueEntry | None:
        return self.take()

    def settle(self, entry: QueueEntry) -> None:
        """The message is gone for good (acked, rejected, auto-acked or purged)."""
        if entry.segment is not None and self.log is not None and not self.deleted:
            self.outstanding.pop(entry.seq, None)
            self.log.settle(entry.segment, entry.seq, entry.seq)

    def mark_delivered(self, entry: QueueEntry) -> None:
        if entry.segment is not None and self.log is not None and not self.deleted:
            self.outstanding[entry.seq] = entry
            self.log.mark_delivered(entry.segment, entry.seq)

    def _compact(self, segment: Any) -> None:
        """The log found ``segment`` sparse: move its live messages forward if all are known."""
        assert self.log is not None
        if any(run.segment is segment for run in self.paged):
            return  # paged messages live there; the segment is not really sparse
        entries = [e for e in self.ready if e.segment is segment]
        delivered = [e for e in self.outstanding.values() if e.segment is segment]
        if len(entries) + len(delivered) != segment.live:
            return  # some live record is unaccounted for: keep the segment
        moves = [(e.seq, e.message.persistent, False, e.message) for e in entries]
        moves += [(e.seq, e.message.persistent, True, e.message) for e in delivered]
        for entry, target in zip(
            entries + delivered, self.log.relocate(segment, moves), strict=True
        ):
            entry.segment = target

    def requeue(self, entries: Iterable[QueueEntry]) -> None:
        """Put entries back at their original positions, marked redelivered."""
        back = sorted(entries, key=_seq)
        if not back:
            return
        for entry in back:
            entry.redelivered = True
            self.outstanding.pop(entry.seq, None)
            self.ready_bytes += len(entry.message.body)
        if not self.ready or back[-1].seq < self.ready[0].seq:
            self.ready.extendleft(reversed(back))
        else:
            self.ready = deque(heapq.merge(back, self.ready, key=_seq))
        if self.consumers:
            self.dispatch()

    def purge(self) -> int:
        count = self.message_count
        for entry in self.ready:
            self.settle(entry)
        self.ready.clear()
        self.ready_bytes = 0
        if self.paged_count and self.log is not None:
            for run in self.paged:
                self.log.settle(run.segment, self.paged_floor, self._next_seq, len(run))
            self.paged.clear()
            self.paged_count = 0
            self.paging = False
        return count

    # -- consumers ------------------------------------------------------------------------

    def add_consumer(self, consumer: Consumer) -> None:
        self.consumers.append(consumer)
        self.had_consumer = True
        self.prioritised = self.prioritised or consumer.priority != 0
        self.dispatch()

    def remove_consumer(self, consumer: Consumer) -> None:
        try:
            self.consumers.remove(consumer)
        except ValueError:
            return
        self.prioritised = any(c.priority for c in self.consumers)
        if self.auto_delete and not self.consumers and self.on_unused is not None:
            self.on_unused(self)

    def has_exclusive_consumer(self) -> bool:
        return any(c.exclusive for c in self.consumers)

    def dispatch(self) -> None:
        """Deliver ready messages round-robin to consumers that have credit."""
        if self._dispatching or self.deleted:
            return
        self._dispatching = True
        try:
            consumers = self.consumers
            # Without a scheduler there is no loop to yield to: -1 never reaches zero.
            budget = DISPATCH_BUDGET if self._schedule is not None else -1
            while consumers and (self.ready or self.paged_count):
                if budget == 0:
                    self._schedule_dispatch()
                    return
                consumer = self._next_consumer()
                if consumer is None:
                    return  # no consumer has credit
                entry = self.take()
                if entry is None:
                    return
                consumer.deliver(self, entry)
                budget -= 1
        finally:
            self._dispatching = False

    def _next_consumer(self) -> Consumer | None:
        """Round-robin among the highest-priority consumers that have credit."""
        consumers = self.consumers
        if not self.prioritised:
            for _ in range(len(consumers)):
                consumer = consumers[0]
                consumers.rotate(-1)
                if consumer.can_take():
                    return consumer
            return None
        best: Consumer | None = None
        best_index = 0
        for index, consumer in enumerate(consumers):
            if (best is None or consumer.priority > best.priority) and consumer.can_take():
                best, best_index = consumer, index
        if best is not None:
            del consumers[best_index]
            consumers.append(best)  # equal priorities take turns
        return best

    def _schedule_dispatch(self) -> None:
        if self._schedule is None or self._dispatch_scheduled:
            return
        self._dispatch_scheduled = True

        def run() -> None:
            self._dispatch_scheduled = False
            self.dispatch()

        self._schedule(run)


def _seq(entry: QueueEntry) -> int:
    return entry.seq
