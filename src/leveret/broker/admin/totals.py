"""Totals over vhosts: message counts, message statistics and object counts, as the
management API's overview and vhost pages report them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from leveret.broker.admin.base import AdminNode, open_connections
from leveret.broker.stats import COUNTERS, MessageStats

# The queue depth gauges whose rates queues keep (Queue.depth_rates).
DEPTH_GAUGES = ("messages", "messages_ready", "messages_unacknowledged")


@dataclass(frozen=True)
class MessageTotals:
    """Messages held by a set of queues, with the rates of change of each count."""

    messages_ready: int = 0
    messages_unacknowledged: int = 0
    rates: dict[str, float] = field(default_factory=dict)

    @property
    def messages(self) -> int:
        return self.messages_ready + self.messages_unacknowledged

    def counts(self) -> dict[str, int]:
        return {
            "messages": self.messages,
            "messages_ready": self.messages_ready,
            "messages_unacknowledged": self.messages_unacknowledged,
        }


@dataclass(frozen=True)
class ObjectTotals:
    connections: int
    channels: int
    exchanges: int
    queues: int
    consumers: int


def message_totals_by_vhost(node: AdminNode, vhosts: Iterable[str]) -> dict[str, MessageTotals]:
    """Ready and unacknowledged messages of each running vhost in ``vhosts``, with the
    sum of its queues' depth rates; one pass over the connections for all of them."""
    running = {name: node.vhosts[name] for name in vhosts if name in node.vhosts}
    unacked = dict.fromkeys(running, 0)
    for conn in open_connections(node):
        name = conn.vhost.name if conn.vhost is not None else None
        if name in unacked:
            unacked[name] += sum(len(s.channel.unacked) for s in conn.sessions.values())
    found: dict[str, MessageTotals] = {}
    for name, vhost in running.items():
        ready = 0
        rates = dict.fromkeys(DEPTH_GAUGES, 0.0)
        for queue in vhost.queues.values():
            ready += queue.message_count
            for gauge in DEPTH_GAUGES:
                rates[gauge] += queue.depth_rates.rates.get(gauge, 0.0)
        found[name] = MessageTotals(ready, unacked[name], rates)
    return found


def message_totals(node: AdminNode, vhosts: Iterable[str]) -> MessageTotals:
    """The messages of ``vhosts`` added up (vhosts not running are skipped)."""
    each = message_totals_by_vhost(node, vhosts).values()
    rates = {gauge: sum(t.rates.get(gauge, 0.0) for t in each) for gauge in DEPTH_GAUGES}
    return MessageTotals(
        sum(t.messages_ready for t in each), sum(t.messages_unacknowledged for t in each), rates
    )


def message_stats(node: AdminNode, vhosts: Iterable[str]) -> MessageStats:
    """The vhosts' message statistics added up (counters and their last rates)."""
    total = MessageStats()
    rates: dict[str, float] = {}
    for name in vhosts:
        vhost = node.vhosts.get(name)
        if vhost is None:
            continue
        stats = vhost.stats
        for counter in COUNTERS:
            setattr(total, counter, getattr(total, counter) + getattr(stats, counter))
        for key, rate in stats.rates.items():
            rates[key] = rates.get(key, 0.0) + rate
    total.rates = rates
    return total


def object_totals(node: AdminNode, vhosts: Iterable[str], user: str | None = None) -> ObjectTotals:
    """Connections and channels (only ``user``'s if given) and the exchanges, queues and
    consumers of ``vhosts``."""
    names = set(vhosts)
    connections = channels = 0
    for conn in open_connections(node):
        if user is not None and (conn.user is None or conn.user.name != user):
            continue
        if conn.vhost is not None and conn.vhost.name not in names:
            continue
        connections += 1
        channels += len(conn.sessions)
    exchanges = queues = consumers = 0
    for name in names:
        vhost = node.vhosts.get(name)
        if vhost is None:
            continue
        exchanges += len(vhost.exchanges)
        queues += len(vhost.queues)
        consumers += sum(queue.consumer_count for queue in vhost.queues.values())
    return ObjectTotals(connections, channels, exchanges, queues, consumers)
