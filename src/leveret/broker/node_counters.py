"""Node-wide counters that outlive the objects they count: connection, channel and queue
churn, and the sizes of the messages publishers sent.

One ``NodeCounters`` belongs to the node; its vhosts and connections bump it where a queue
is declared or deleted, a connection or channel opens or closes, and a message comes in.
Plain integer fields, bumped where those things happen anyway (no callbacks or locks);
Prometheus reads them at scrape time. They are never reset while the node runs, which is
what a Prometheus counter must promise.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Final

# Upper bounds (inclusive) of the message size histogram, in bytes, as RabbitMQ 4.1's
# ``rabbitmq_message_size_bytes`` buckets them; a last bucket holds what is larger.
MESSAGE_SIZE_BOUNDS: Final = (
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    50_000_000,
    100_000_000,
)


class NodeCounters:
    """Totals since the node started (RabbitMQ's connection churn metrics and more)."""

    __slots__ = (
        "channels_closed",
        "channels_opened",
        "connections_closed",
        "connections_opened",
        "message_bytes",
        "message_sizes",
        "queues_created",
        "queues_declared",
        "queues_deleted",
    )

    def __init__(self) -> None:
        self.connections_opened = 0  # reached connection.open-ok
        self.connections_closed = 0  # every accepted socket that went away, opened or not
        self.channels_opened = 0
        self.channels_closed = 0
        self.queues_declared = 0  # every successful non-passive declare, new or not
        self.queues_created = 0  # declares that made a new queue
        self.queues_deleted = 0  # however a queue went (delete, auto-delete, owner gone, TTL)
        # Messages received from publishers, by size bucket (MESSAGE_SIZE_BOUNDS plus one
        # for larger ones), and their total size.
        self.message_sizes = [0] * (len(MESSAGE_SIZE_BOUNDS) + 1)
        self.message_bytes = 0

    def copy(self) -> NodeCounters:
        """A snapshot (for a scrape formatted off the loop). Field by field: a compiled
        class has no ``__slots__`` to walk."""
        found = NodeCounters()
        found.connections_opened = self.connections_opened
        found.connections_closed = self.connections_closed
        found.channels_opened = self.channels_opened
        found.channels_closed = self.channels_closed
        found.queues_declared = self.queues_declared
        found.queues_created = self.queues_created
        found.queues_deleted = self.queues_deleted
        found.message_sizes = list(self.message_sizes)
        found.message_bytes = self.message_bytes
        return found

    def message_received(self, size: int) -> None:
        """Count one message from a publisher (``size``: its body in bytes)."""
        self.message_sizes[bisect_left(MESSAGE_SIZE_BOUNDS, size)] += 1
        self.message_bytes += size
