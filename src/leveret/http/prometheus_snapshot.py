"""What one Prometheus scrape reports, copied out of the running node.

``take_snapshot`` runs on the broker's loop and copies what the scrape's ``Scope`` needs
out of the live objects into plain rows, in one pass over the connections' channels and
one over the queues. The rows are then read by prometheus_families on any thread: nothing
there touches a broker object.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from leveret.broker.admin.stats import global_message_totals
from leveret.broker.node_counters import NodeCounters
from leveret.broker.stream import StreamQueue
from leveret.http.node import ManagedNode, NodeResources

PROTOCOL = "amqp091"
# Where the families go: the prefix of their names and, for identity_info, the endpoint.
AGGREGATED = "aggregated"
PER_OBJECT = "per-object"
DETAILED = "detailed"


@dataclass(frozen=True)
class Scope:
    """What one scrape asks for."""

    endpoint: str  # AGGREGATED, PER_OBJECT or DETAILED
    families: frozenset[str] = frozenset()  # detailed: the groups asked for
    vhosts: frozenset[str] | None = None  # detailed: queue metrics of these vhosts only

    @property
    def per_object(self) -> bool:
        return self.endpoint != AGGREGATED

    @property
    def prefix(self) -> str:
        return "rabbitmq_detailed_" if self.endpoint == DETAILED else "rabbitmq_"

    def wants(self, group: str) -> bool:
        if self.endpoint != DETAILED:
            return group in DEFAULT_GROUPS
        return group in self.families

    def wants_any(self, groups: Iterable[str]) -> bool:
        return any(self.wants(group) for group in groups)


QUEUE_GROUPS = ("queue_coarse_metrics", "queue_consumer_count", "queue_metrics")
# The groups of /metrics and /metrics/per-object (RabbitMQ serves queue_consumer_count,
# a subset of queue_metrics, and the cluster-wide groups on /metrics/detailed only).
DEFAULT_GROUPS = frozenset(
    (
        "connection_churn_metrics",
        "node_coarse_metrics",
        "node_metrics",
        "queue_coarse_metrics",
        "queue_metrics",
        "channel_metrics",
        "connection_metrics",
        # Not RabbitMQ's family names: what it adds outside the core groups.
        "totals",
        "alarms",
        "global",
        "message_sizes",
    )
)
# What /metrics/detailed?family= knows (others are ignored, as RabbitMQ ignores them).
DETAILED_GROUPS = frozenset(
    (
        "connection_churn_metrics",
        "node_coarse_metrics",
        "node_metrics",
        "queue_coarse_metrics",
        "queue_consumer_count",
        "queue_metrics",
        "channel_metrics",
        "connection_metrics",
        "exchange_names",
        "exchange_bindings",
        "vhost_status",
    )
)


# -- rows: plain copies of the live objects (tuples: 10,000 queues are 10,000 rows) -----


class QueueRow(NamedTuple):
    vhost: str
    name: str
    ready: int  # in memory and paged out
    ready_ram: int
    ready_bytes: int
    paged: int
    paged_bytes: int
    unacked: int
    unacked_bytes: int
    consumers: int

    @property
    def messages(self) -> int:
        return self.ready + self.unacked


class ChannelRow(NamedTuple):
    label: str  # the connection's client address and the channel number
    consumers: int
    unacked: int
    consumer_prefetch: int
    channel_prefetch: int


class ConnectionRow(NamedTuple):
    label: str
    channels: int


class ExchangeRow(NamedTuple):
    vhost: str
    name: str
    type: str
    bindings: int


@dataclass(frozen=True)
class Snapshot:
    """Everything one scrape reports, copied on the broker's loop."""

    scope: Scope
    node_name: str
    cluster_name: str
    cluster_id: str
    uptime: float
    counters: NodeCounters  # a copy
    resources: NodeResources | None
    alarms: frozenset[str]
    message_totals: Mapping[str, int]
    sockets: int  # client connections, open or still in their handshake
    connection_count: int
    channel_count: int
    consumer_count: int
    publisher_count: int
    queue_count: int
    queues: tuple[QueueRow, ...]
    connections: tuple[ConnectionRow, ...]
    channels: tuple[ChannelRow, ...]
    exchanges: tuple[ExchangeRow, ...]
    vhosts: tuple[str, ...]


def _address(peer: tuple[str, int] | None) -> str:
    return f"{peer[0]}:{peer[1]}" if peer is not None else "unknown"


def message_totals(node: ManagedNode) -> dict[str, int]:
    """Node-wide message counters, keyed by RabbitMQ's ``rabbitmq_global_messages_*``
    names without that prefix (``received_total``, ...)."""
    return global_message_totals(node)


def take_snapshot(node: ManagedNode, scope: Scope) -> Snapshot:
    """Copy what ``scope`` reports out of the running node (call on the broker's loop)."""
    vhosts = list(node.vhosts.values())
    wanted_vhosts = scope.vhosts
    queue_rows: list[QueueRow] = []
    channel_rows: list[ChannelRow] = []
    connection_rows: list[ConnectionRow] = []
    need_queues = scope.wants_any(QUEUE_GROUPS)
    need_channels = scope.wants_any(("channel_metrics", "connection_metrics"))
    # Unacknowledged deliveries are held by channels, not by queues: one pass over the
    # channels finds them all (count and body bytes, by queue).
    unacked: dict[object, list[int]] = {}
    sockets = [conn for conn in list(node.connections) if not conn.closed]
    open_connections = [conn for conn in sockets if conn.vhost is not None]
    channel_count = consumer_count = publisher_count = 0
    for conn in open_connections:
        sessions = list(conn.sessions.values())
        channel_count += len(sessions)
        for session in sessions:
            channel = session.channel
            consumer_count += len(channel.consumers)
            publisher_count += channel.stats.publish > 0
        if need_channels:
            address = _address(conn.peer)
            connection_rows.append(ConnectionRow(address, len(sessions)))
            for session in sessions:
                channel = session.channel
                channel_rows.append(
                    ChannelRow(
                        f"{address} ({channel.number})",
                        len(channel.consumers),
                        len(channel.unacked),
                        channel.prefetch_count,
                        channel.global_prefetch,
                    )
                )
        if need_queues:
            for session in sessions:
                for delivery in session.channel.unacked.values():
                    held = unacked.get(delivery.queue)
                    if held is None:
                        unacked[delivery.queue] = held = [0, 0]
                    held[0] += 1
                    held[1] += len(delivery.entry.message.body)
    queue_count = 0
    for vhost in vhosts:
        queue_count += len(vhost.queues)
        if not need_queues or (wanted_vhosts is not None and vhost.name not in wanted_vhosts):
            continue
        for queue in list(vhost.queues.values()):
            held = unacked.get(queue) or [0, 0]
            if isinstance(queue, StreamQueue):
                count = queue.message_count
                queue_rows.append(
                    QueueRow(
                        vhost.name,
                        queue.name,
                        count,
                        count,
                        queue.retained_bytes,
                        0,
                        0,
                        held[0],
                        held[1],
                        len(queue.consumers),
                    )
                )
                continue
            in_memory = len(queue.ready)
            queue_rows.append(
                QueueRow(
                    vhost.name,
                    queue.name,
                    in_memory + queue.paged_count,
                    in_memory,
                    queue.ready_bytes + queue.paged_bytes,
                    queue.paged_count,
                    queue.paged_bytes,
                    held[0],
                    held[1],
                    len(queue.consumers),
                )
            )
    exchange_rows: list[ExchangeRow] = []
    if scope.wants_any(("exchange_names", "exchange_bindings")):
        for vhost in vhosts:
            for exchange in list(vhost.exchanges.values()):
                if exchange.name:  # the default exchange is not listed
                    exchange_rows.append(
                        ExchangeRow(
                            vhost.name,
                            exchange.name,
                            exchange.type_name,
                            exchange.router.binding_count(),
                        )
                    )
    need_node = scope.wants_any(("node_coarse_metrics", "node_metrics"))
    return Snapshot(
        scope=scope,
        node_name=node.node_name,
        cluster_name=node.cluster_name,
        cluster_id=node.cluster_id,
        uptime=max(time.time() - node.started_at, 0.0),
        counters=node.counters.copy(),
        resources=node.resources() if need_node else None,
        alarms=frozenset(node.alarms),
        message_totals=message_totals(node) if scope.wants("global") else {},
        sockets=len(sockets),
        connection_count=len(open_connections),
        channel_count=channel_count,
        consumer_count=consumer_count,
        publisher_count=publisher_count,
        queue_count=queue_count,
        queues=tuple(queue_rows),
        connections=tuple(connection_rows) if need_channels else (),
        channels=tuple(channel_rows) if need_channels else (),
        exchanges=tuple(exchange_rows),
        vhosts=tuple(vhost.name for vhost in vhosts),
    )
