"""A queue: ready messages in FIFO order, its consumers, and round-robin dispatch."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from leveret.broker.message import Message, QueueEntry

if TYPE_CHECKING:
    from leveret.broker.consumer import Consumer

# How many deliveries one dispatch pass makes before yielding to the event loop, so one
# queue with a large backlog cannot starve every other connection.
DISPATCH_BUDGET = 512

Scheduler = Callable[[Callable[[], None]], object]


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
        "name",
        "on_unused",
        "ready",
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
    ):
        self.name = name
        self.vhost_name = vhost_name
        self.durable = durable
        self.exclusive_owner = exclusive_owner
        self.auto_delete = auto_delete
        self.arguments = arguments or {}
        self.ready: deque[QueueEntry] = deque()
        self.consumers: deque[Consumer] = deque()
        self.had_consumer = False
        self.deleted = False
        self._next_seq = 0
        self._dispatching = False
        self._dispatch_scheduled = False
        self._schedule = schedule
        # Called when an auto-delete queue loses its last consumer.
        self.on_unused: Callable[[Queue], None] | None = None

    def __repr__(self) -> str:
        return f"<Queue {self.name!r} in {self.vhost_name!r}>"

    @property
    def exclusive(self) -> bool:
        return self.exclusive_owner is not None

    @property
    def message_count(self) -> int:
        return len(self.ready)

    @property
    def consumer_count(self) -> int:
        return len(self.consumers)

    # -- messages -------------------------------------------------------------------------

    def publish(self, message: Message) -> None:
        self._next_seq += 1
        self.ready.append(QueueEntry(self._next_seq, message))
        if self.consumers:
            self.dispatch()

    def get(self) -> QueueEntry | None:
        return self.ready.popleft() if self.ready else None

    def requeue(self, entries: Iterable[QueueEntry]) -> None:
        """Put entries back at their original positions, marked redelivered."""
        back = sorted(entries, key=_seq)
        if not back:
            return
        for entry in back:
            entry.redelivered = True
        if not self.ready or back[-1].seq < self.ready[0].seq:
            self.ready.extendleft(reversed(back))
        else:
            self.ready = deque(heapq.merge(back, self.ready, key=_seq))
        if self.consumers:
            self.dispatch()

    def purge(self) -> int:
        count = len(self.ready)
        self.ready.clear()
        return count

    # -- consumers ------------------------------------------------------------------------

    def add_consumer(self, consumer: Consumer) -> None:
        self.consumers.append(consumer)
        self.had_consumer = True
        self.dispatch()

    def remove_consumer(self, consumer: Consumer) -> None:
        try:
            self.consumers.remove(consumer)
        except ValueError:
            return
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
            ready = self.ready
            consumers = self.consumers
            # Without a scheduler there is no loop to yield to: -1 never reaches zero.
            budget = DISPATCH_BUDGET if self._schedule is not None else -1
            while ready and consumers:
                if budget == 0:
                    self._schedule_dispatch()
                    return
                for _ in range(len(consumers)):
                    consumer = consumers[0]
                    consumers.rotate(-1)
                    if consumer.can_take():
                        break
                else:
                    return  # no consumer has credit
                consumer.deliver(self, ready.popleft())
                budget -= 1
        finally:
            self._dispatching = False

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
