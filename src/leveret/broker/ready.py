"""The ready messages of a priority queue: one FIFO per priority, highest served first."""

from __future__ import annotations

import heapq
from array import array
from collections import deque
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from leveret.broker.message import QueueEntry

if TYPE_CHECKING:
    from leveret.store.base import MessageLog


class PagedRun:
    """Messages of one log segment that are on disk only: their offsets, in order."""

    __slots__ = ("next", "offsets", "segment")

    def __init__(self, segment: Any, offsets: array[int] | None = None):
        self.segment = segment
        self.offsets: array[int] = offsets if offsets is not None else array("q")
        self.next = 0

    def __len__(self) -> int:
        return len(self.offsets) - self.next


def _seq(entry: QueueEntry) -> int:
    return entry.seq


class PriorityReady:
    """Quacks like the deque a plain queue uses, for the operations a queue needs."""

    __slots__ = ("_count", "_levels")

    def __init__(self, max_priority: int):
        self._levels: list[deque[QueueEntry]] = [deque() for _ in range(max_priority + 1)]
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __iter__(self) -> Iterator[QueueEntry]:
        for level in reversed(self._levels):
            yield from level

    def __getitem__(self, index: int) -> QueueEntry:
        if index != 0:
            raise IndexError("only the head can be inspected")
        for level in reversed(self._levels):
            if level:
                return level[0]
        raise IndexError("empty")

    def level(self, index: int) -> deque[QueueEntry]:
        """The ready messages of one priority level, oldest first (for inspection)."""
        return self._levels[index]

    def top(self) -> int:
        """The highest level holding a message, -1 when empty."""
        levels = self._levels
        for index in range(len(levels) - 1, -1, -1):
            if levels[index]:
                return index
        return -1

    def append(self, entry: QueueEntry) -> None:
        self._levels[min(entry.priority, len(self._levels) - 1)].append(entry)
        self._count += 1

    def popleft(self) -> QueueEntry:
        for level in reversed(self._levels):
            if level:
                self._count -= 1
                return level.popleft()
        raise IndexError("pop from an empty queue")

    def requeue(self, entries: Iterable[QueueEntry]) -> None:
        """Return entries to their original places within their priority."""
        by_level: dict[int, list[QueueEntry]] = {}
        for entry in entries:
            by_level.setdefault(min(entry.priority, len(self._levels) - 1), []).append(entry)
        for index, back in by_level.items():
            back.sort(key=_seq)
            level = self._levels[index]
            self._levels[index] = deque(heapq.merge(back, level, key=_seq))
            self._count += len(back)

    def clear(self) -> None:
        for level in self._levels:
            level.clear()
        self._count = 0


def purge_levels(
    log: MessageLog, levels: list[deque[PagedRun]], held: Iterable[int], next_seq: int
) -> None:
    """Settle (and forget) a priority queue's paged messages. Their seqs interleave with
    those of delivered, unacked messages (``held``), and a settled range applies to the
    whole log at recovery, so each segment gets the ranges around the held seqs."""
    counts: dict[int, tuple[Any, int]] = {}
    for level in levels:
        for run in level:
            known = counts.get(id(run.segment))
            counts[id(run.segment)] = (run.segment, len(run) + (known[1] if known else 0))
        level.clear()
    ranges = []
    first = 1
    for seq in [*sorted(held), next_seq + 1]:
        if first < seq:
            ranges.append((first, seq - 1))
        first = seq + 1
    for segment, count in counts.values():
        for index, (first, last) in enumerate(ranges, 1 - len(ranges)):
            log.settle(segment, first, last, count if index == 0 else 0)
