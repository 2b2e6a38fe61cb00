"""The ready messages of a priority queue: one FIFO per priority, highest served first."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Iterator

from leveret.broker.message import QueueEntry


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
