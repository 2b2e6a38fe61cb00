"""The ready messages of a RabbitMQ 4.0 to 4.2 quorum queue: two priorities, weighted.

Quorum queues have priorities without x-max-priority since 4.0 (rabbit_fifo_q): a message
whose priority is above 4 is "high", any other "normal". High messages go first, but not
always: every third delivery takes whichever head is older, so normal messages are not
starved by a stream of high ones. Returned (requeued) messages wait apart and go before
both, in the order they came back (rabbit_fifo's returns queue).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

from leveret.broker.message import QueueEntry
from leveret.broker.queue_options import QueueOptions
from leveret.broker.ready import PriorityReady

# rabbit_fifo_q: messages with a priority above this are high.
HIGH_ABOVE = 4
# rabbit_fifo_q's ?WEIGHT: the dequeue counter runs 0, 1, 2, 0, ...; at 2, the older head
# wins.
WEIGHT = 2


def new_ready(options: QueueOptions) -> deque[QueueEntry] | PriorityReady:
    """The ready-message store a queue with ``options`` needs."""
    if options.max_priority is not None:
        return PriorityReady(options.max_priority)
    if options.quorum_priorities:
        return QuorumReady()
    return deque()


class QuorumReady(PriorityReady):
    """Quacks like the deque a plain queue uses, for the operations a queue needs.

    A PriorityReady to the queue, which hands requeued messages to ``requeue`` then.
    """

    __slots__ = ("_counter", "_high", "_normal", "_returns")

    def __init__(self) -> None:
        super().__init__(0)
        self._high: deque[QueueEntry] = deque()
        self._normal: deque[QueueEntry] = deque()
        self._returns: deque[QueueEntry] = deque()
        self._counter = 0

    def __iter__(self) -> Iterator[QueueEntry]:
        yield from self._returns
        yield from self._high
        yield from self._normal

    def _next(self) -> deque[QueueEntry]:
        """The sub-queue the next message comes from (rabbit_fifo_q:next/1)."""
        if self._returns:
            return self._returns
        high, normal = self._high, self._normal
        if high and normal and self._counter == WEIGHT:
            return high if high[0].seq < normal[0].seq else normal
        return high if high else normal

    def __getitem__(self, index: int) -> QueueEntry:
        if index != 0:
            raise IndexError("only the head can be inspected")
        source = self._next()
        if not source:
            raise IndexError("empty")
        return source[0]

    def append(self, entry: QueueEntry) -> None:
        high = entry.message.priority > HIGH_ABOVE
        (self._high if high else self._normal).append(entry)
        self._count += 1

    def popleft(self) -> QueueEntry:
        source = self._next()
        if not source:
            raise IndexError("pop from an empty queue")
        if source is not self._returns:  # returns bypass rabbit_fifo_q and its counter
            self._counter = 0 if self._counter == WEIGHT else self._counter + 1
        self._count -= 1
        return source.popleft()

    def requeue(self, entries: Iterable[QueueEntry]) -> None:
        back = list(entries)
        self._returns.extend(back)
        self._count += len(back)

    def clear(self) -> None:
        for part in (self._high, self._normal, self._returns):
            part.clear()
        self._count = 0
