"""Resource alarms: memory high-watermark and free-disk limit, checked periodically.

While an alarm is raised, publishing connections are paused and clients that declared the
capability hear connection.blocked (see Node.set_alarm).

The memory alarm is judged mainly on memory Leveret accounts for itself, not on the
process's resident set size: CPython keeps freed memory for reuse instead of giving it back
to the OS, so after a large backlog is drained RSS stays near its peak. An alarm decided by
RSS alone would then never clear, and publishers would stay blocked until a restart.
"""

from __future__ import annotations

import os
import resource
import shutil
from collections.abc import Iterable, Sized
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

from leveret.broker.stream import StreamQueue

if TYPE_CHECKING:
    from leveret.broker.channel import Delivery
    from leveret.broker.message import QueueEntry
    from leveret.broker.queue import Queue
    from leveret.server.connection import AMQPConnection

# What one message costs besides its body and content header: the Message and QueueEntry
# objects, the bytes/str object headers, allocator rounding and the container slot.
# Measured with tracemalloc at about 350 bytes; rounded up for malloc's own headers.
MESSAGE_OVERHEAD = 400
# A delivery waiting for its ack adds a Delivery object and a dict slot to the message.
DELIVERY_OVERHEAD = 150
# An open connection's own objects (protocol state, session, channel, transport): 200
# pika connections with a channel each grew one process holding both ends by 27 KB apiece.
CONNECTION_OVERHEAD = 16_000
# A paged-out message costs one offset in its run's array.
PAGED_OVERHEAD = 8
# Content headers and bodies of unacked deliveries are not counted by anyone; rather than
# walking every one on each check, the first few are measured and the average scaled up.
SAMPLE = 32

# RSS as the second signal: it may raise the alarm before the accounted figure does (the
# estimate above misses fragmentation and everything else Python holds), but only while
# messages really take a large part of the room between the baseline and the watermark:
# from RSS_SHARE_RAISE of it, held until they take less than RSS_SHARE_CLEAR of it.
RSS_SHARE_RAISE = 0.5
RSS_SHARE_CLEAR = 0.25
# Once raised by the accounted figure, the alarm clears below this fraction of the
# watermark, so that a backlog hovering at the watermark does not block and unblock
# publishers on every check.
CLEAR_FRACTION = 0.9

MB = 1000 * 1000


def total_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 8 * 1024**3


def resident_memory() -> int:
    """This process's resident set size in bytes (Linux; 0 where unknown)."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def memory_limit(watermark: float) -> int:
    """RabbitMQ's vm_memory_high_watermark: below 1 a fraction of RAM, else bytes."""
    return int(total_memory() * watermark) if watermark < 1 else int(watermark)


def open_fds() -> int | None:
    """File descriptors this process has open (None where the OS does not list them)."""
    for listing in ("/proc/self/fd", "/dev/fd"):
        try:
            # The listing's own descriptor is in it while it is read.
            return max(len(os.listdir(listing)) - 1, 0)
        except OSError:
            continue
    return None


def max_fds() -> int | None:
    """The process's soft limit on open file descriptors (None where unlimited or unknown)."""
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        return None
    return soft if soft >= 0 else None


def disk_free(path: Path) -> int:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return 1 << 62


@dataclass(frozen=True)
class MemoryUsage:
    """The figures the memory alarm is judged on, in bytes (for logs and management)."""

    watermark: int  # 0: the memory alarm is off
    baseline: int  # RSS at start-up, before any message was held
    queues: int  # ready and paged messages of every queue
    unacked: int  # deliveries waiting for their ack
    connections: int  # connections' own objects and their read and write buffers
    rss: int  # resident set size now (0 where unknown)
    alarm: bool  # the memory alarm is in force

    @property
    def held(self) -> int:
        """Memory held on behalf of clients: everything accounted above the baseline."""
        return self.queues + self.unacked + self.connections

    @property
    def accounted(self) -> int:
        return self.baseline + self.held

    def describe(self) -> str:
        return (
            f"accounted {self.accounted // MB} MB, rss {self.rss // MB} MB, "
            f"watermark {self.watermark // MB} MB"
        )


def _header_cost(entries: Iterable[QueueEntry]) -> int:
    """Average content header and routing key size over the first SAMPLE entries."""
    total = count = 0
    for entry in islice(entries, SAMPLE):
        message = entry.message
        total += len(message.properties_raw) + len(message.routing_key)
        count += 1
    return total // count if count else 0


def queue_memory(queue: Queue) -> int:
    """Bytes a queue holds in memory, from the counters it keeps anyway."""
    if isinstance(queue, StreamQueue):  # every stream message stays in memory
        entries: Sized = queue.entries
        body_bytes = queue.retained_bytes
        head: Iterable[QueueEntry] = queue.entries
    else:
        entries = queue.ready
        body_bytes = queue.ready_bytes
        head = queue.ready
    count = len(entries)
    cost = body_bytes + queue.paged_count * PAGED_OVERHEAD
    if count:
        cost += count * (MESSAGE_OVERHEAD + _header_cost(head))
    return cost


def unacked_memory(unacked: dict[int, Delivery]) -> int:
    """Bytes held by one channel's unacked deliveries (sampled when there are many)."""
    count = len(unacked)
    if not count:
        return 0
    total = sampled = 0
    for delivery in islice(unacked.values(), SAMPLE):
        message = delivery.entry.message
        total += len(message.body) + len(message.properties_raw) + len(message.routing_key)
        sampled += 1
    return count * (MESSAGE_OVERHEAD + DELIVERY_OVERHEAD) + total * count // sampled


def connection_memory(conn: AMQPConnection) -> int:
    """Bytes a connection holds: its own objects, what it read and has not handled yet,
    and what it has not written yet."""
    cost = CONNECTION_OVERHEAD + conn.proto.reader.buffered + sum(len(c) for c in conn.out)
    transport = conn.transport
    if transport is not None and not transport.is_closing():
        cost += transport.get_write_buffer_size()
    return cost


class ResourceMonitor:
    """Decides which alarms should be in force; keeps the state hysteresis needs.

    Memory alarm, with W the watermark, B the baseline (RSS at start-up) and H the memory
    held for clients (queued and unacked messages, connection buffers):

    - it is raised when B + H >= W, or when RSS >= W while H >= RSS_SHARE_RAISE * (W - B);
    - once raised, it stays while B + H >= CLEAR_FRACTION * W, or while RSS >= W and
      H >= RSS_SHARE_CLEAR * (W - B).

    RSS can therefore raise the alarm (when the estimate of H is low) but never hold it on
    its own: once the messages are consumed H drops to about zero, below both shares, and
    the alarm clears whatever RSS says. It cannot latch.
    """

    def __init__(
        self,
        memory_watermark: float,
        disk_free_limit: int,
        data_dir: Path | None,
        baseline: int | None = None,
    ):
        self.memory_limit = memory_limit(memory_watermark)
        self.disk_free_limit = disk_free_limit
        self.data_dir = data_dir
        self.baseline = resident_memory() if baseline is None else baseline
        self.memory_alarm = False

    def memory_usage(
        self, queues: Iterable[Queue], connections: Iterable[AMQPConnection], alarm: bool
    ) -> MemoryUsage:
        """The figures now; ``alarm`` says whether a memory alarm is in force, whoever
        raised it (this monitor, or an operator or test by hand)."""
        queued = sum(queue_memory(queue) for queue in queues)
        unacked = held_in_connections = 0
        for conn in connections:
            held_in_connections += connection_memory(conn)
            for session in conn.sessions.values():
                unacked += unacked_memory(session.channel.unacked)
        return MemoryUsage(
            watermark=self.memory_limit,
            baseline=self.baseline,
            queues=queued,
            unacked=unacked,
            connections=held_in_connections,
            rss=resident_memory(),
            alarm=alarm,
        )

    def memory_alarm_due(self, usage: MemoryUsage) -> bool:
        """Whether the memory alarm should be in force (see the class docstring)."""
        limit = self.memory_limit
        if limit <= 0:
            return False
        room = max(limit - usage.baseline, 1)
        if self.memory_alarm:
            return usage.accounted >= limit * CLEAR_FRACTION or (
                usage.rss >= limit and usage.held >= room * RSS_SHARE_CLEAR
            )
        return usage.accounted >= limit or (
            usage.rss >= limit and usage.held >= room * RSS_SHARE_RAISE
        )

    def check(self, usage: MemoryUsage) -> dict[str, bool]:
        """Which alarms should be in force now, given the memory figures just taken."""
        self.memory_alarm = self.memory_alarm_due(usage)
        alarms = {"memory": self.memory_alarm}
        if self.data_dir is not None:
            alarms["disk"] = disk_free(self.data_dir) < self.disk_free_limit
        return alarms
