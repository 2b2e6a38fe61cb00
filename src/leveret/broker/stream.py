"""Stream queues: an append-only log every consumer reads from its own offset.

This is a single-node emulation of RabbitMQ's stream queues as AMQP 0-9-1 clients see them:
consuming does not remove messages, each consumer starts at ``x-stream-offset`` (``first``,
``last``, ``next`` (the default), a numeric offset, or a timestamp), every delivery carries its
offset in the ``x-stream-offset`` header, and acks only return prefetch credit. Retention
follows ``x-max-length-bytes`` and ``x-max-age``. All messages stay in memory.
"""

from __future__ import annotations

import datetime
import re
from array import array
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from leveret.amqp import table
from leveret.amqp.errors import PRECONDITION_FAILED, ChannelError
from leveret.amqp.spec import BasicProperties
from leveret.broker.message import Message, QueueEntry
from leveret.broker.queue import DISPATCH_BUDGET, NEEDS_SYNC, Queue

if TYPE_CHECKING:
    from leveret.broker.consumer import Consumer

_AGE_UNITS = {"Y": 365 * 86400, "M": 30 * 86400, "D": 86400, "h": 3600, "m": 60, "s": 1}


def parse_max_age(value: object) -> float | None:
    """RabbitMQ's x-max-age ("7D", "12h", "30s"...) in seconds."""
    if value is None:
        return None
    match = re.fullmatch(r"(\d+)([YMDhms])", value if isinstance(value, str) else "")
    if match is None:
        raise ChannelError(PRECONDITION_FAILED, f"invalid arg 'x-max-age': {value!r}")
    return int(match.group(1)) * _AGE_UNITS[match.group(2)]


class StreamQueue(Queue):
    __slots__ = ("cursors", "entries", "max_age", "published_at", "retained_bytes")

    def _init_type_state(self) -> None:
        self.entries: deque[QueueEntry] = deque()  # offset = seq - 1
        self.published_at: deque[float] = deque()
        self.retained_bytes = 0
        self.cursors: dict[Consumer, int] = {}
        self.max_age = parse_max_age(self.arguments.get("x-max-age"))

    @property
    def first_offset(self) -> int:
        return self.entries[0].seq - 1 if self.entries else self._next_seq

    @property
    def next_offset(self) -> int:
        return self._next_seq

    @property
    def message_count(self) -> int:
        return len(self.entries)

    def publish(self, message: Message) -> int:
        self._next_seq = seq = self._next_seq + 1
        entry = QueueEntry(seq, message)
        if self.log is not None:  # stream messages are always stored
            entry.segment = self._log(seq, True, message, 0.0)[0]
        self._append(entry, self.clock.time())
        self.retain()
        if self.consumers:
            self.dispatch()
        return NEEDS_SYNC if self.log is not None else 0

    def _append(self, entry: QueueEntry, when: float) -> None:
        self.entries.append(entry)
        self.published_at.append(when)
        self.retained_bytes += len(entry.message.body)

    def retain(self) -> None:
        max_bytes = self.options.max_length_bytes
        oldest = self.clock.time() - self.max_age if self.max_age is not None else None
        while len(self.entries) > 1 and (
            (max_bytes is not None and self.retained_bytes > max_bytes)
            or (oldest is not None and self.published_at[0] < oldest)
        ):
            entry = self.entries.popleft()
            self.published_at.popleft()
            self.retained_bytes -= len(entry.message.body)
            Queue.settle(self, entry)

    def restore(
        self, runs: Iterable[tuple[Any, array[int]]], delivered: set[int], next_seq: int
    ) -> None:
        assert self.log is not None
        self._next_seq = max(self._next_seq, next_seq - 1)
        now = self.clock.time()
        for segment, offsets in runs:
            for record in self.log.read(segment, offsets, 0, len(offsets)):
                message = Message(
                    record.exchange, record.routing_key, record.properties_raw, record.body
                )
                self._append(QueueEntry(record.seq, message, False, segment), now)

    # Consuming never removes anything: settling, requeueing and marking are no-ops.

    def settle(self, entry: QueueEntry) -> None:
        pass

    def discard(self, entry: QueueEntry, reason: str) -> None:
        pass

    def mark_delivered(self, entry: QueueEntry) -> None:
        pass

    def requeue(self, entries: Iterable[QueueEntry]) -> None:
        if self.consumers:
            self.dispatch()

    def purge(self) -> int:
        return 0

    def take(self) -> QueueEntry | None:
        return None

    def outgoing(self, entry: QueueEntry, zero_count: bool = False) -> Message:
        # Streams count no deliveries (``zero_count`` is for quorum queues): each carries
        # its offset instead.
        properties = BasicProperties.decode(entry.message.properties_raw)
        headers = dict(properties.headers or {})
        headers["x-stream-offset"] = table.Int64(entry.seq - 1)
        properties.headers = headers
        return entry.message.with_properties(properties)

    # -- consumers ------------------------------------------------------------------------

    def add_consumer(self, consumer: Consumer) -> None:
        self.cursors[consumer] = self._start_offset(consumer.stream_offset)
        super().add_consumer(consumer)

    def remove_consumer(self, consumer: Consumer) -> None:
        self.cursors.pop(consumer, None)
        super().remove_consumer(consumer)

    def _start_offset(self, spec: object) -> int:
        first, end = self.first_offset, self.next_offset
        if spec is None or spec == "next":
            return end
        if spec == "first":
            return first
        if spec == "last":
            return max(first, end - 1)
        if isinstance(spec, datetime.datetime):
            spec = spec.timestamp()
            return self._offset_at(spec)
        if isinstance(spec, int) and not isinstance(spec, bool):
            if isinstance(spec, table.Timestamp):
                return self._offset_at(float(spec))
            return min(max(spec, first), end)
        raise ChannelError(PRECONDITION_FAILED, f"invalid x-stream-offset {spec!r}")

    def _offset_at(self, when: float) -> int:
        for entry, at in zip(self.entries, self.published_at, strict=True):
            if at >= when:
                return entry.seq - 1
        return self.next_offset

    def dispatch(self) -> None:
        if self._dispatching or self.deleted:
            return
        self._dispatching = True
        budget = DISPATCH_BUDGET if self._schedule is not None else -1
        try:
            for consumer in list(self.consumers):
                cursor = max(self.cursors.get(consumer, self.next_offset), self.first_offset)
                while cursor < self.next_offset and consumer.can_take():
                    if budget == 0:
                        self._schedule_dispatch()
                        return
                    entry = self.entries[cursor - self.first_offset]
                    cursor += 1
                    self.cursors[consumer] = cursor
                    consumer.deliver(self, entry)
                    budget -= 1
        finally:
            self._dispatching = False
