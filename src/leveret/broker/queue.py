"""A queue: ready messages in FIFO order, its consumers, and round-robin dispatch.

A durable queue has a message log. Persistent messages are appended to it; once the
messages held in memory pass the queue's memory budget, new messages (persistent or not)
go only to the log and are read back in order when the in-memory part runs low. Every
message in the log has a higher sequence number than every message in memory (in a
priority queue: than every message of its priority level in memory).
"""

from __future__ import annotations

import heapq
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from leveret.amqp import table
from leveret.amqp.spec import BasicProperties
from leveret.broker.clock import Cancellable, Clock, SystemClock
from leveret.broker.message import Message, QueueEntry
from leveret.broker.queue_options import QueueOptions
from leveret.broker.quorum_ready import new_ready
from leveret.broker.ready import PagedRun, PriorityReady, purge_levels
from leveret.broker.stats import ConsumerUse, GaugeRates, MessageStats

if TYPE_CHECKING:
    from leveret.broker.consumer import Consumer
    from leveret.store.base import MessageLog

# What publish() reports for one queue.
PUBLISHED = 0
NEEDS_SYNC = 1  # persistent: confirm after the log's next fsync
REJECTED = 2  # refused by x-overflow=reject-publish(-dlx): the publisher gets a nack

DeadLetterHook = Callable[["Queue", Message, str], None]

# How many deliveries one dispatch pass makes before yielding to the event loop, so one
# queue with a large backlog cannot starve every other connection.
DISPATCH_BUDGET = 512
DEFAULT_MEMORY_BUDGET = 32 * 1024 * 1024  # bytes of message bodies held in memory
PAGE_IN_BATCH = 512
# Backlog in memory beyond which a queue with consumers is congested (see ``congested``).
FLOW_MESSAGES = 20_000
FLOW_BYTES = 32 * 1024 * 1024

Scheduler = Callable[[Callable[[], None]], object]


class Queue:
    __slots__ = (
        "__weakref__",
        "_dispatch_scheduled",
        "_dispatching",
        "_expiry_at",
        "_expiry_timer",
        "_idle_timer",
        "_next_seq",
        "_publish_now",
        "_schedule",
        "_ttl_seen",
        "argument_options",
        "arguments",
        "auto_delete",
        "clock",
        "consumer_use",
        "consumers",
        "deleted",
        "depth_rates",
        "durable",
        "exclusive_owner",
        "had_consumer",
        "last_used",
        "log",
        "memory_budget",
        "name",
        "on_dead_letter",
        "on_expired",
        "on_unused",
        "operator_policy",
        "options",
        "outstanding",
        "paged",
        "paged_bytes",
        "paged_count",
        "paged_floor",
        "paged_levels",
        "paging",
        "policy",
        "prioritised",
        "ready",
        "ready_bytes",
        "recovered_delivered",
        "stats",
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
        options: QueueOptions | None = None,
        clock: Clock | None = None,
    ):
        self.name = name
        self.stats = MessageStats()
        # Rates of messages/messages_ready/messages_unacknowledged between samples.
        self.depth_rates = GaugeRates()
        self.vhost_name = vhost_name
        self.durable = durable
        self.exclusive_owner = exclusive_owner
        self.auto_delete = auto_delete
        self.arguments = arguments or {}
        self.options = options = options or QueueOptions()
        # What the arguments alone give; policies are applied over it (see reconfigure).
        self.argument_options = options
        self.policy: Any = None  # the applied policies (broker.policies.Policy), for reports
        self.operator_policy: Any = None
        self.clock: Clock = clock or SystemClock(None)
        self.consumer_use = ConsumerUse(self.clock.time())
        self.ready: deque[QueueEntry] | PriorityReady = new_ready(options)
        self.ready_bytes = 0
        self.paged_bytes = 0
        self._ttl_seen = options.message_ttl is not None
        # The instant of the publish being dispatched: a TTL-0 message is deliverable then.
        self._publish_now = 0.0
        self._expiry_timer: Cancellable | None = None
        self._expiry_at = 0.0
        self._idle_timer: Cancellable | None = None
        self.last_used = self.clock.time()
        # Set by the vhost: where discarded messages go (dead-lettering), and who deletes
        # the queue when x-expires runs out.
        self.on_dead_letter: DeadLetterHook | None = None
        self.on_expired: Callable[[Queue], None] | None = None
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
        # A priority queue pages each priority level on its own (self.paged stays empty):
        # within a level, every paged message is newer than every one in memory.
        self.paged_levels: list[deque[PagedRun]] | None = (
            [deque() for _ in range(options.max_priority + 1)]
            if options.max_priority is not None
            else None
        )
        self.paged_count = 0
        self.paged_floor = 0  # every paged message has seq >= this; every other one below
        self.recovered_delivered: set[int] = set()
        # Logged entries delivered and not yet settled, by seq (for compaction).
        self.outstanding: dict[int, QueueEntry] = {}
        if log is not None:
            log.on_sparse = self._compact
        # Called when an auto-delete queue loses its last consumer.
        self.on_unused: Callable[[Queue], None] | None = None
        self._init_type_state()

    def _init_type_state(self) -> None:
        """Set up what a queue type adds to a classic queue (streams do).

        A hook rather than an overridden ``__init__``: compiled with mypyc, a subclass
        forwarding ``*args, **kwargs`` to ``Queue.__init__`` passes them on as one tuple
        and one dict.
        """

    def __repr__(self) -> str:
        return f"<Queue {self.name!r} in {self.vhost_name!r}>"

    @property
    def exclusive(self) -> bool:
        return self.exclusive_owner is not None

    @property
    def message_count(self) -> int:
        return len(self.ready) + self.paged_count

    @property
    def congested(self) -> bool:
        """Consumers are falling behind: a large backlog sits in memory although the queue
        has consumers. Publishers into it are slowed down (flow control); a queue without
        consumers is only a backlog, bounded by paging and the memory alarm."""
        return bool(self.consumers) and (
            len(self.ready) > FLOW_MESSAGES or self.ready_bytes > FLOW_BYTES
        )

    @property
    def consumer_count(self) -> int:
        return len(self.consumers)

    # -- messages -------------------------------------------------------------------------

    def publish(self, message: Message) -> int:
        """Enqueue; returns PUBLISHED, NEEDS_SYNC (persistent, in the log) or REJECTED."""
        options = self.options
        size = len(message.body)
        limited = options.max_length is not None or options.max_length_bytes is not None
        if limited and options.overflow != "drop-head" and self._full(size):
            if options.overflow == "reject-publish-dlx":
                self._dead_letter(message, "maxlen")
            return REJECTED
        self._next_seq = seq = self._next_seq + 1
        now = self.clock.time() if self._ttl_seen or message.expiration_ms is not None else 0.0
        expires = self._expiry_for(message, now)
        max_priority = options.max_priority
        priority = 0 if max_priority is None else min(message.priority, max_priority)
        log = self.log
        persistent = log is not None and message.persistent
        if log is not None and self.paging:
            segment, offset = self._log(seq, persistent, message, expires)
            self._page_out(seq, segment, offset, size, priority)
        else:
            entry = QueueEntry(seq, message, False, None, expires, priority)
            if persistent:
                entry.segment = self._log(seq, True, message, expires)[0]
            self.ready.append(entry)
            self.ready_bytes += size
            if log is not None and self.ready_bytes > self.memory_budget:
                self.paging = True  # from the next message on, the log holds the backlog
        if self.consumers:
            self._publish_now = now
            try:
                self.dispatch()
            finally:
                self._publish_now = 0.0
        if expires:
            self._ttl_seen = True
            self._expire(inclusive=True)  # TTL 0: only an immediate delivery saves it
            self._arm_expiry()
        if limited:
            self._enforce_limits()
        return NEEDS_SYNC if persistent else PUBLISHED

    def _log(self, seq: int, persistent: bool, message: Message, expires: float) -> tuple[Any, int]:
        """Append a message to the queue's log: its (segment, offset)."""
        assert self.log is not None
        return self.log.append(
            seq,
            persistent,
            message.exchange,
            message.routing_key,
            message.properties_raw,
            message.body,
            expires,
        )

    def _expiry_for(self, message: Message, now: float) -> float:
        ttl = self.options.message_ttl
        per_message = message.expiration_ms
        if per_message is not None:
            ttl = per_message if ttl is None else min(ttl, per_message)
        if ttl is None:
            return 0.0
        return now + ttl / 1000

    @property
    def total_bytes(self) -> int:
        return self.ready_bytes + self.paged_bytes

    def _full(self, incoming: int) -> bool:
        options = self.options
        if options.max_length is not None and self.message_count >= options.max_length:
            return True
        max_bytes = options.max_length_bytes
        return max_bytes is not None and self.total_bytes + incoming > max_bytes

    def _enforce_limits(self) -> None:
        """x-overflow=drop-head: drop (dead-letter) the oldest messages beyond the limits."""
        options = self.options
        while self.message_count and (
            (options.max_length is not None and self.message_count > options.max_length)
            or (
                options.max_length_bytes is not None and self.total_bytes > options.max_length_bytes
            )
        ):
            entry = self.take()
            if entry is None:
                break
            self.discard(entry, "maxlen")

    def reconfigure(self, options: QueueOptions) -> None:
        """New effective options (a policy was set, changed or cleared), applied at once
        as RabbitMQ does: a lower length limit drops (dead-letters) the oldest messages
        under drop-head, a new TTL applies to messages published from now, a new expiry
        restarts the idle countdown."""
        old, self.options = self.options, options
        if options.message_ttl is not None:
            self._ttl_seen = True
        if options.overflow == "drop-head":
            self._enforce_limits()
        self._expire()
        self._arm_expiry()
        if options.expires != old.expires:
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None
            self._arm_idle()
        if self.consumers:
            self._schedule_dispatch()

    def _page_out(self, seq: int, segment: Any, offset: int, size: int, priority: int) -> None:
        if not self.paged_count:
            self.paged_floor = seq
        levels = self.paged_levels
        runs = self.paged if levels is None else levels[priority]
        run = runs[-1] if runs else None
        if run is None or run.segment is not segment:
            run = PagedRun(segment)
            runs.append(run)
        run.offsets.append(offset)
        self.paged_count += 1
        self.paged_bytes += size

    def _page_in(self, runs: deque[PagedRun] | None = None, priority: int = 0) -> None:
        """Read the oldest paged messages (of one priority level) back into memory, up to
        half the budget."""
        log = self.log
        assert log is not None
        if runs is None:
            runs = self.paged
        loaded = 0
        while runs and loaded < self.memory_budget // 2:
            run = runs[0]
            records = log.read(run.segment, run.offsets, run.next, PAGE_IN_BATCH)
            for record in records:
                message = Message(
                    record.exchange, record.routing_key, record.properties_raw, record.body
                )
                redelivered = record.seq in self.recovered_delivered
                self.ready.append(
                    QueueEntry(
                        record.seq, message, redelivered, run.segment, record.expires, priority
                    )
                )
                if record.expires:
                    self._ttl_seen = True
                loaded += len(record.body)
                self.paged_floor = record.seq + 1
            run.next += len(records)
            self.paged_count -= len(records)
            if not len(run):
                runs.popleft()
            if not records:
                break
        self.ready_bytes += loaded
        self.paged_bytes = max(0, self.paged_bytes - loaded) if self.paged_count else 0
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
            if self.paged_levels is not None:
                self._restore_levels(self.paged_levels)
            else:
                self._page_in()
        self._arm_expiry()

    def _restore_levels(self, levels: list[deque[PagedRun]]) -> None:
        """Priority queue after a restart: read the recovered records once, in seq order,
        and give each its level (from its stored properties). Beyond the memory budget they
        stay on disk, paged by level."""
        log = self.log
        assert log is not None
        recovered, self.paged = self.paged, deque()
        self.paged_count = 0
        self.paging = False
        top = len(levels) - 1
        for run in recovered:
            start = 0
            while start < len(run.offsets):
                records = log.read(run.segment, run.offsets, start, PAGE_IN_BATCH)
                if not records:
                    break
                for index, record in enumerate(records):
                    message = Message(
                        record.exchange, record.routing_key, record.properties_raw, record.body
                    )
                    priority = min(message.priority, top)
                    size = len(record.body)
                    if record.expires:
                        self._ttl_seen = True
                    if self.paging:
                        offset = run.offsets[start + index]
                        self._page_out(record.seq, run.segment, offset, size, priority)
                        continue
                    redelivered = record.seq in self.recovered_delivered
                    self.ready.append(
                        QueueEntry(
                            record.seq, message, redelivered, run.segment, record.expires, priority
                        )
                    )
                    self.ready_bytes += size
                    self.paging = self.ready_bytes > self.memory_budget
                start += len(records)
        if not self.paged_count:
            self.paging = False
            self.recovered_delivered.clear()

    def take(self) -> QueueEntry | None:
        """Remove the head message (for delivery or basic.get); expired ones are dropped."""
        now = 0.0
        while self._fill():
            entry = self.ready.popleft()
            self.ready_bytes -= len(entry.message.body)
            if entry.expires:
                now = now or self._publish_now or self.clock.time()
                if entry.expires < now:
                    self.discard(entry, "expired")
                    continue
            return entry
        return None

    def _fill(self) -> bool:
        """Bring the head into memory (paging in if needed); False when the queue is empty."""
        if self.paged_count:
            levels = self.paged_levels
            if levels is None:
                if not self.ready:
                    self._page_in()
            else:
                # A paged level above every level in memory holds the head.
                ready = self.ready
                assert isinstance(ready, PriorityReady)
                for level in range(len(levels) - 1, ready.top(), -1):
                    if levels[level]:
                        self._page_in(levels[level], level)
                        break
        return bool(self.ready)

    def get(self) -> QueueEntry | None:
        self.touch()
        entry = self.take()
        if self._ttl_seen:
            # The new head may be past its time (it sat behind one without expiry).
            self._expire()
            self._arm_expiry()
        return entry

    def outgoing(self, entry: QueueEntry, zero_count: bool = False) -> Message:
        """The message as delivered: quorum queues add x-delivery-count on redelivery
        (``zero_count``: on the first delivery too, as 3.x does for basic.get)."""
        if not (entry.delivery_count or zero_count) or not self.options.counts_deliveries:
            return entry.message
        properties = BasicProperties.decode(entry.message.properties_raw)
        headers = dict(properties.headers or {})
        # A long, as RabbitMQ sends it: typed clients (Java's) read it as one.
        headers["x-delivery-count"] = table.Int64(entry.delivery_count)
        properties.headers = headers
        return entry.message.with_properties(properties)

    def settle(self, entry: QueueEntry) -> None:
        """The message is gone for good (acked, rejected, auto-acked or purged)."""
        if entry.segment is not None and self.log is not None and not self.deleted:
            self.outstanding.pop(entry.seq, None)
            self.log.settle(entry.segment, entry.seq, entry.seq)

    def discard(self, entry: QueueEntry, reason: str) -> None:
        """Remove a message for ``reason`` (rejected, expired, maxlen, delivery_limit)."""
        self.settle(entry)
        self._dead_letter(entry.message, reason)

    def _dead_letter(self, message: Message, reason: str) -> None:
        if self.options.dead_letter_exchange is not None and self.on_dead_letter is not None:
            self.on_dead_letter(self, message, reason)

    def mark_delivered(self, entry: QueueEntry) -> None:
        if entry.segment is not None and self.log is not None and not self.deleted:
            self.outstanding[entry.seq] = entry
            self.log.mark_delivered(entry.segment, entry.seq)

    def _compact(self, segment: Any) -> None:
        """The log found ``segment`` sparse: move its live messages forward if all are known."""
        assert self.log is not None
        if any(run.segment is segment for run in self.paged_runs()):
            return  # paged messages live there; the segment is not really sparse
        entries = [e for e in self.ready if e.segment is segment]
        delivered = [e for e in self.outstanding.values() if e.segment is segment]
        if len(entries) + len(delivered) != segment.live:
            return  # some live record is unaccounted for: keep the segment
        moves = [(e.seq, e.message.persistent, False, e.message, e.expires) for e in entries]
        moves += [(e.seq, e.message.persistent, True, e.message, e.expires) for e in delivered]
        for entry, target in zip(
            entries + delivered, self.log.relocate(segment, moves), strict=True
        ):
            entry.segment = target

    def requeue(self, entries: Iterable[QueueEntry]) -> None:
        """Put entries back at their original positions, marked redelivered."""
        options = self.options
        back = []
        for entry in sorted(entries, key=_seq):
            self.outstanding.pop(entry.seq, None)
            if options.counts_deliveries:
                entry.delivery_count += 1
                limit = options.delivery_limit
                if limit is not None and entry.delivery_count > limit:
                    self.discard(entry, "delivery_limit")
                    continue
            entry.redelivered = True
            self.ready_bytes += len(entry.message.body)
            back.append(entry)
        if not back:
            return
        ready = self.ready
        if isinstance(ready, PriorityReady):
            ready.requeue(back)
        elif not ready or back[-1].seq < ready[0].seq:
            ready.extendleft(reversed(back))
        else:
            self.ready = deque(heapq.merge(back, ready, key=_seq))
        if self.consumers:
            self.dispatch()
        if options.max_length is not None or options.max_length_bytes is not None:
            self._enforce_limits()  # RabbitMQ drops from the head: the message just requeued
        if self._ttl_seen:
            self._arm_expiry()

    def purge(self) -> int:
        count = self.message_count
        for entry in self.ready:
            self.settle(entry)
        self.ready.clear()
        self.ready_bytes = 0
        if self.paged_count and self.log is not None:
            if self.paged_levels is None:
                for run in self.paged:
                    self.log.settle(run.segment, self.paged_floor, self._next_seq, len(run))
            else:
                purge_levels(self.log, self.paged_levels, self.outstanding, self._next_seq)
            self.paged.clear()
            self.paged_count = 0
            self.paged_bytes = 0
            self.paging = False
        return count

    def paged_runs(self) -> Iterator[PagedRun]:
        """Every run of paged messages (of every priority level, highest first)."""
        yield from self.paged
        if self.paged_levels is not None:
            for level in reversed(self.paged_levels):
                yield from level

    # -- expiry ---------------------------------------------------------------------------

    def _expire(self, inclusive: bool = False) -> None:
        """Drop expired messages at the head (RabbitMQ expires only at the head)."""
        if not self._ttl_seen:
            return
        now = self.clock.time()
        while self._fill():
            head = self.ready[0]
            if not head.expires or head.expires > now or (head.expires == now and not inclusive):
                return
            self.ready.popleft()
            self.ready_bytes -= len(head.message.body)
            self.discard(head, "expired")

    def _arm_expiry(self) -> None:
        if not self._ttl_seen or self.deleted or not self.ready:
            return
        head = self.ready[0]
        if not head.expires:
            return
        if self._expiry_timer is not None:
            if self._expiry_at <= head.expires:
                return
            self._expiry_timer.cancel()
        self._expiry_at = head.expires
        delay = max(0.0, head.expires - self.clock.time())
        self._expiry_timer = self.clock.call_later(delay, self._on_expiry_timer)

    def _on_expiry_timer(self) -> None:
        self._expiry_timer = None
        if self.deleted:
            return
        self._expire(inclusive=True)
        self._arm_expiry()

    def touch(self) -> None:
        """The queue was used (declared, read): restart its x-expires countdown."""
        self.last_used = self.clock.time()
        self._arm_idle()

    def _arm_idle(self) -> None:
        expires = self.options.expires
        if expires is None or self.deleted or self.consumers:
            return
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        self._idle_timer = self.clock.call_later(expires / 1000, self._on_idle)

    def _on_idle(self) -> None:
        self._idle_timer = None
        expires = self.options.expires
        if self.deleted or self.consumers or expires is None:
            return
        remaining = self.last_used + expires / 1000 - self.clock.time()
        if remaining > 0.001:
            self._idle_timer = self.clock.call_later(remaining, self._on_idle)
        elif self.on_expired is not None:
            self.on_expired(self)

    def stop_timers(self) -> None:
        for timer in (self._expiry_timer, self._idle_timer):
            if timer is not None:
                timer.cancel()
        self._expiry_timer = self._idle_timer = None

    # -- consumers ------------------------------------------------------------------------

    def add_consumer(self, consumer: Consumer) -> None:
        self.consumers.append(consumer)
        self.had_consumer = True
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
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
            return
        if not self.consumers:
            self.touch()
        elif self.options.single_active_consumer:
            self.dispatch()  # the next consumer becomes active

    def has_exclusive_consumer(self) -> bool:
        return any(c.exclusive for c in self.consumers)

    def dispatch(self) -> None:
        """Deliver ready messages round-robin to consumers that have credit."""
        if self._dispatching or self.deleted:
            return
        self._dispatching = True
        # Without a scheduler there is no loop to yield to: -1 never reaches zero.
        budget = start = DISPATCH_BUDGET if self._schedule is not None else -1
        blocked = False
        try:
            consumers = self.consumers
            while consumers and (self.ready or self.paged_count):
                if budget == 0:
                    self._schedule_dispatch()
                    return
                consumer = self._next_consumer()
                if consumer is None:
                    blocked = True
                    return  # no consumer has credit
                entry = self.take()
                if entry is None:
                    return
                consumer.deliver(self, entry)
                budget -= 1
        finally:
            self._dispatching = False
            # Consumer utilisation moves on transitions only, checked once per pass.
            use = self.consumer_use
            if (blocked and use.active) or (budget != start and not use.active):
                self._note_use(budget != start, blocked)
        if self._ttl_seen:
            self._arm_expiry()

    def _note_use(self, delivered: bool, blocked: bool) -> None:
        """A dispatch pass delivered (consumers were active) and/or ended with no consumer
        able to take the next message (inactive from now on)."""
        use = self.consumer_use
        if (delivered and not use.active) or (blocked and use.active):
            now = self.clock.time()
            if delivered:
                use.went_active(now)
            if blocked:
                use.went_inactive(now)

    def _next_consumer(self) -> Consumer | None:
        """Round-robin among the highest-priority consumers that have credit."""
        consumers = self.consumers
        if self.options.single_active_consumer:
            # Only the active consumer (the first, or the highest-priority one) is served.
            active = max(consumers, key=lambda c: c.priority) if self.prioritised else consumers[0]
            return active if active.can_take() else None
        if len(consumers) == 1:
            consumer = consumers[0]
            return consumer if consumer.can_take() else None
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
