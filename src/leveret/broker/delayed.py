"""Delayed messages: the ``x-delayed-message`` exchange type and its ``x-delay`` header.

An exchange of this type routes as its ``x-delayed-type`` (direct, topic, fanout, headers)
but holds a message whose ``x-delay`` header is a positive integer for that many
milliseconds first, as the rabbitmq-delayed-message-exchange plugin does. Unlike the
plugin, a persistent message held by a durable exchange is written to a log of the message
store before its publisher confirm, and is delivered after a restart or a crash.

Memory per pending message is one Python int in a heap: due time, sequence number and
where the record is (segment id, offset, size), packed. One timer is armed, for the
earliest due time. Bodies of stored messages stay on disk until due; transient ones (or
those of an exchange without a log) stay in memory, keyed by sequence number.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from leveret.amqp.errors import PRECONDITION_FAILED, ChannelError
from leveret.broker.clock import Cancellable, Clock
from leveret.broker.exchange_types import EXCHANGE_TYPES, ExchangeType
from leveret.broker.message import Message
from leveret.store.message_store import MessageStore
from leveret.store.queue_log import QueueLog, decode_record

if TYPE_CHECKING:
    from leveret.broker.exchange import Exchange
    from leveret.broker.vhost import VirtualHost

log = logging.getLogger("leveret.delayed")

DELAYED_TYPE: Final = "x-delayed-message"
DELAY_HEADER: Final = "x-delay"
# The plugin delays only up to an Erlang timer's range, (2^32)-1 ms; beyond, it routes at once.
MAX_DELAY: Final = 2**32 - 1
# The store's name for an exchange's log: longer than any queue name may be (255 bytes),
# so it can never be a queue's.
_LOG_PREFIX: Final = "x-delayed-message-exchange\0" + "\0" * 240

# What ``hold`` did with a message.
NOT_HELD: Final = 0  # route it now
HELD: Final = 1  # held in memory
HELD_STORED: Final = 2  # written to the log: confirm after the store's next fsync

# Packing of a heap entry: due(ms) | seq | segment id | offset | size, low bits last.
_SIZE_BITS: Final = 32
_OFFSET_BITS: Final = 32
_SEGMENT_BITS: Final = 24
_SEQ_BITS: Final = 48
_MASK32: Final = (1 << 32) - 1
_SEGMENT_SHIFT: Final = _SIZE_BITS + _OFFSET_BITS
_SEQ_SHIFT: Final = _SEGMENT_SHIFT + _SEGMENT_BITS
_DUE_SHIFT: Final = _SEQ_SHIFT + _SEQ_BITS
# How many due messages one timer callback releases before yielding to the event loop.
_BATCH: Final = 2000
# Reads of neighbouring records in one segment are merged up to this many bytes.
_READ_SPAN: Final = 1 << 20


def delayed_router(exchange: str, arguments: dict[str, object]) -> ExchangeType:
    """The router of an ``x-delayed-message`` exchange: its ``x-delayed-type``'s."""
    inner = arguments.get("x-delayed-type")
    if isinstance(inner, bytes):
        inner = inner.decode("utf-8", "replace")
    router_class = EXCHANGE_TYPES.get(inner) if isinstance(inner, str) else None
    if router_class is None:
        # The plugin's text (it also refuses x-delayed-message itself: a delay loop).
        raise ChannelError(
            PRECONDITION_FAILED,
            "Invalid argument, 'x-delayed-type' must be an existing exchange type",
        )
    return router_class()


def attach_delayed(vhost: VirtualHost, exchange: Exchange, *, fresh: bool) -> int:
    """Give an x-delayed-message exchange its pending messages (a log in the message store
    when durable); after a restart (not ``fresh``), the ones it had. Returns how many."""
    if exchange.type_name != DELAYED_TYPE:
        return 0
    logs = vhost.logs
    store = logs if exchange.durable and isinstance(logs, MessageStore) else None
    delayed = DelayedMessages(
        vhost.name,
        exchange.name,
        vhost.clock,
        lambda message: _release(vhost, exchange, message),
        store,
        fresh=fresh,
    )
    exchange.delayed = delayed
    return 0 if fresh else delayed.recover()


def _release(vhost: VirtualHost, exchange: Exchange, message: Message) -> None:
    """Route a due message through its exchange's bindings (its delay is not looked at
    again), counted as publish.route counts what it routes."""
    if vhost.exchanges.get(exchange.name) is not exchange:
        return
    try:
        message, queues = vhost.publish_targets(exchange, message)
    except ChannelError as error:
        log.warning("delayed message dropped in vhost '%s': %s", vhost.name, error.detail)
        return
    exchange.stats.publish_out += len(queues)
    vhost.routed += len(queues)
    for queue in queues:
        queue.stats.publish += 1
        queue.publish(message)


def delay_of(message: Message) -> int:
    """The message's delay in ms; 0 (route at once) when the header is absent, not a
    positive integer, or above MAX_DELAY, as the plugin treats it."""
    headers = message.headers
    if not headers:
        return 0
    value = headers.get(DELAY_HEADER)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_DELAY:
        return 0
    return value


def _marked_delayed(message: Message) -> Message:
    """As the plugin does, a message that was held leaves with its x-delay negated: a
    consumer can tell it was delayed, and a delayed exchange it reaches again (through
    dead-lettering, say) routes it at once."""
    delay = delay_of(message)
    if delay <= 0:
        return message
    # Decoded once (delay_of cached it); the held message is not used after this.
    properties = message.properties
    assert isinstance(properties.headers, dict)
    properties.headers = {**properties.headers, DELAY_HEADER: -delay}
    return message.with_properties(properties)


def log_name(exchange: str) -> str:
    return _LOG_PREFIX + exchange


class DelayedMessages:
    """The pending messages of one delayed exchange, and the timer that releases them.

    ``release`` routes a due message on through the exchange's bindings (without looking
    at its delay again). A ``fresh`` exchange (just declared) starts with an empty log:
    whatever an earlier exchange of that name left behind is removed.
    """

    def __init__(
        self,
        vhost: str,
        exchange: str,
        clock: Clock,
        release: Callable[[Message], None],
        store: MessageStore | None = None,
        *,
        fresh: bool = True,
    ):
        self.vhost = vhost
        self.exchange = exchange
        self.clock = clock
        self.release = release
        self.store = store
        self.log: QueueLog | None = None
        if store is not None:
            if fresh:
                store.delete_queue(vhost, log_name(exchange))
            self.log = store.open_queue(vhost, log_name(exchange))
        self._heap: list[int] = []
        self._in_memory: dict[int, Message] = {}
        self._seq = 0
        self._timer: Cancellable | None = None
        self._timer_due = 0
        self._closed = False

    @property
    def count(self) -> int:
        """Messages waiting (the plugin's ``messages_delayed``)."""
        return len(self._heap)

    def hold(self, message: Message) -> int:
        """Keep a message until its delay elapses; NOT_HELD if it has none."""
        delay = delay_of(message)
        if delay <= 0:
            return NOT_HELD
        due = int(self.clock.time() * 1000) + delay
        self._seq += 1
        seq = self._seq
        stored = self.log is not None and message.persistent
        if stored:
            assert self.log is not None
            segment, offset = self.log.append(
                seq,
                True,
                message.exchange,
                message.routing_key,
                message.properties_raw,
                message.body,
                due / 1000,
            )
            entry = self._entry(due, seq, segment.id, offset, segment.size - offset)
        else:
            self._in_memory[seq] = message
            entry = self._entry(due, seq, 0, 0, 0)
        heapq.heappush(self._heap, entry)
        self._arm()
        return HELD_STORED if stored else HELD

    @staticmethod
    def _entry(due: int, seq: int, segment: int, offset: int, size: int) -> int:
        return (
            (due << _DUE_SHIFT)
            | (seq << _SEQ_SHIFT)
            | (segment << _SEGMENT_SHIFT)
            | (offset << _SIZE_BITS)
            | size
        )

    def recover(self) -> int:
        """Take back what the log kept after a restart; returns how many messages."""
        if self.log is None:
            return 0
        recovery = self.log.recover()
        self._seq = max(self._seq, recovery.next_seq - 1)
        for segment, offsets in recovery.runs:
            # One read of the whole segment: records are small next to it.
            data = self.log.fs.read(segment.path)
            for offset in offsets:
                record = decode_record(data, offset)
                if record is None:
                    continue
                due = round(record.expires * 1000)
                self._heap.append(self._entry(due, record.seq, segment.id, offset, record.size))
        heapq.heapify(self._heap)
        self._arm()
        return recovery.count

    def _arm(self) -> None:
        if self._closed or not self._heap:
            return
        due = self._heap[0] >> _DUE_SHIFT
        if self._timer is not None:
            if self._timer_due <= due:
                return
            self._timer.cancel()
        self._timer_due = due
        delay = max(0.0, due / 1000 - self.clock.time())
        self._timer = self.clock.call_later(delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        if self._closed:
            return
        now = int(self.clock.time() * 1000)
        heap = self._heap
        due: list[int] = []
        while heap and len(due) < _BATCH and heap[0] >> _DUE_SHIFT <= now:
            due.append(heapq.heappop(heap))
        stored: list[int] = []
        try:
            for entry, message in self._load(due):
                self.release(_marked_delayed(message))
                if entry & _MASK32:  # a size: the record is in the log
                    stored.append(entry)
        finally:
            if stored:
                self._settle_after_sync(stored)
            self._arm()

    def _load(self, entries: list[int]) -> list[tuple[int, Message]]:
        """The messages of due entries, in order; stored ones read with few reads."""
        out: list[tuple[int, Message]] = []
        i = 0
        while i < len(entries):
            entry = entries[i]
            seq = (entry >> _SEQ_SHIFT) & ((1 << _SEQ_BITS) - 1)
            segment_id = (entry >> _SEGMENT_SHIFT) & ((1 << _SEGMENT_BITS) - 1)
            if segment_id == 0:
                message = self._in_memory.pop(seq, None)
                if message is not None:
                    out.append((entry, message))
                i += 1
                continue
            # A run of records that sit next to each other in one segment: one read.
            start_offset = (entry >> _SIZE_BITS) & _MASK32
            end = start_offset + (entry & _MASK32)
            j = i + 1
            while j < len(entries):
                following = entries[j]
                if (following >> _SEGMENT_SHIFT) & ((1 << _SEGMENT_BITS) - 1) != segment_id:
                    break
                offset = (following >> _SIZE_BITS) & _MASK32
                if offset != end or end - start_offset > _READ_SPAN:
                    break
                end = offset + (following & _MASK32)
                j += 1
            chunk = self._read(segment_id, start_offset, end - start_offset)
            for k in range(i, j):
                item = entries[k]
                record = (
                    decode_record(chunk, ((item >> _SIZE_BITS) & _MASK32) - start_offset)
                    if chunk is not None
                    else None
                )
                if record is None:
                    log.error(
                        "delayed message %d of exchange '%s' in vhost '%s' is unreadable",
                        (item >> _SEQ_SHIFT) & ((1 << _SEQ_BITS) - 1),
                        self.exchange,
                        self.vhost,
                    )
                    continue
                message = Message(
                    record.exchange, record.routing_key, record.properties_raw, record.body
                )
                out.append((item, message))
            i = j
        return out

    def _read(self, segment_id: int, offset: int, size: int) -> bytes | None:
        assert self.log is not None
        segment = self.log.segments.get(segment_id)
        if segment is None:
            return None
        written = segment.size - len(segment.pending)
        try:
            if offset >= written:
                return bytes(segment.pending[offset - written : offset - written + size])
            data = self.log.fs.read_range(segment.path, offset, min(size, written - offset))
            if offset + size > written:
                data += bytes(segment.pending[: offset + size - written])
            return data
        except OSError as error:
            log.error("cannot read delayed messages of exchange '%s': %s", self.exchange, error)
            return None

    def _settle_after_sync(self, entries: list[int]) -> None:
        """Forget released records once what they were routed to is on disk too: a crash
        in between delivers such a message twice rather than never."""
        store = self.store
        assert store is not None

        def settle(_stored: bool) -> None:
            queue_log = self.log
            if queue_log is None or self._closed:
                return
            for entry in entries:
                segment = queue_log.segments.get(
                    (entry >> _SEGMENT_SHIFT) & ((1 << _SEGMENT_BITS) - 1)
                )
                if segment is not None:
                    seq = (entry >> _SEQ_SHIFT) & ((1 << _SEQ_BITS) - 1)
                    queue_log.settle(segment, seq, seq)

        store.after_sync(settle)

    def close(self) -> None:
        """Stop the timer (the exchange is gone from memory; what is stored stays)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def destroy(self) -> None:
        """The exchange is deleted: drop every pending message, stored ones included."""
        self.close()
        self._heap.clear()
        self._in_memory.clear()
        if self.store is not None and self.log is not None:
            self.store.delete_queue(self.vhost, log_name(self.exchange))
            self.log = None
