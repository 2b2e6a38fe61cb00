"""Statistics of the running broker: the sampling walk, the node's totals, consumer
utilisation.

The hot path bumps the counters (``broker.stats.MessageStats``) of the objects it touches;
what moves which counter follows RabbitMQ 3.10 as measured against it:

- publish: ``publish`` on the channel and the vhost (unroutable messages included; a
  transaction's at tx.commit), ``publish_in`` on the exchange named, ``publish_out`` on that
  exchange once per queue reached (through exchange-to-exchange bindings and alternate
  exchanges too; the exchanges on the way count nothing), ``publish`` on each queue reached
  (dead-lettered messages do not count), ``return_unroutable``/``drop_unroutable`` on the
  channel and the vhost for an unroutable mandatory/other message;
- ``confirm`` on the channel and the vhost per message acked to a confirm-mode publisher
  (nacks do not count);
- ``deliver``/``deliver_no_ack`` (consumers), ``get``/``get_no_ack``/``get_empty``
  (basic.get), ``redeliver`` (either, of a redelivered message) and ``ack`` (per message,
  a multiple ack counts each; rejects and nacks do not) on the channel, the queue and the
  vhost.

This module turns them into what the management API and Prometheus read: ``sample_statistics``
is the timer's walk (every ``collect_statistics_interval``), ``global_message_totals`` the
``rabbitmq_global_messages_*_total`` counters, ``overview_message_stats`` the overview's.
"""

from __future__ import annotations

from leveret.broker.admin.base import AdminNode, NotFound, get_queue, get_vhost, open_connections
from leveret.broker.queue import Queue
from leveret.broker.stats import MessageStats
from leveret.broker.vhost import VirtualHost


def unacked_counts(node: AdminNode) -> dict[Queue, int]:
    """Deliveries awaiting acknowledgement, by queue, over every connection: one walk of
    the channels (queues do not count their unacked messages; the channels hold them)."""
    found: dict[Queue, int] = {}
    for conn in list(node.connections):
        for session in list(conn.sessions.values()):
            for delivery in session.channel.unacked.values():
                queue = delivery.queue
                found[queue] = found.get(queue, 0) + 1
    return found


def depths(ready: int, unacked: int) -> dict[str, int]:
    """RabbitMQ's three depth gauges of a queue (or a sum of queues)."""
    return {
        "messages": ready + unacked,
        "messages_ready": ready,
        "messages_unacknowledged": unacked,
    }


def sample_statistics(node: AdminNode, now: float) -> None:
    """Sample every counter and gauge of the node at ``now`` (seconds, monotonic): queues
    (their message_stats and depth rates), exchanges, channels, vhosts, connections' octets
    and the node's totals. Synchronous and allocation-light for idle objects, so the
    broker's loop runs it between events (``collect_statistics_interval``)."""
    unacked = unacked_counts(node)
    node_ready = node_unacked = 0
    for vhost in list(node.vhosts.values()):
        vhost.stats.sample(now)
        for exchange in vhost.exchanges.values():
            exchange.stats.sample(now)
        vhost_ready = vhost_unacked = 0
        for queue in vhost.queues.values():
            queue.stats.sample(now)
            ready = queue.message_count
            delivered = unacked.get(queue, 0)
            queue.depth_rates.sample(now, depths(ready, delivered))
            vhost_ready += ready
            vhost_unacked += delivered
        vhost.depth_rates.sample(now, depths(vhost_ready, vhost_unacked))
        node_ready += vhost_ready
        node_unacked += vhost_unacked
    for conn in list(node.connections):
        conn.octet_rates.sample(now, {"recv_oct": conn.recv_oct, "send_oct": conn.send_oct})
        for session in conn.sessions.values():
            session.channel.stats.sample(now)
    overview_message_stats(node).sample(now)
    node.stats.depth_rates.sample(now, depths(node_ready, node_unacked))


def overview_message_stats(node: AdminNode) -> MessageStats:
    """The node's message_stats (RabbitMQ's /api/overview): every vhost's counters, those of
    deleted vhosts included, as of now; rates as of the last sample."""
    totals = node.stats
    totals.messages.set_sum([totals.retired, *(v.stats for v in node.vhosts.values())])
    return totals.messages


def retire_vhost(node: AdminNode, vhost: VirtualHost) -> None:
    """Keep a deleted vhost's counters in the node's totals (Prometheus' global counters
    never go down)."""
    totals = node.stats
    totals.retired.add(vhost.stats)
    totals.retired_routed += vhost.routed
    totals.retired_received_confirm += vhost.received_confirm


def global_message_totals(node: AdminNode) -> dict[str, int]:
    """RabbitMQ's ``rabbitmq_global_messages_<name>`` counters by name, as of now, over
    the node's lifetime (deleted vhosts and closed channels included). ``routed_total``
    counts a message once per queue it reached, as RabbitMQ does."""
    stats = overview_message_stats(node)
    vhosts = list(node.vhosts.values())
    totals = node.stats
    return {
        "received_total": stats.publish,
        "received_confirm_total": totals.retired_received_confirm
        + sum(v.received_confirm for v in vhosts),
        "routed_total": totals.retired_routed + sum(v.routed for v in vhosts),
        "unroutable_dropped_total": stats.drop_unroutable,
        "unroutable_returned_total": stats.return_unroutable,
        "confirmed_total": stats.confirm,
        "delivered_total": stats.deliver_get,
        "delivered_consume_auto_ack_total": stats.deliver_no_ack,
        "delivered_consume_manual_ack_total": stats.deliver,
        "delivered_get_auto_ack_total": stats.get_no_ack,
        "delivered_get_manual_ack_total": stats.get,
        "get_empty_total": stats.get_empty,
        "redelivered_total": stats.redeliver,
        "acknowledged_total": stats.ack,
    }


def consumer_utilisation(queue: Queue, now: float) -> float | None:
    """RabbitMQ's ``consumer_utilisation`` (3.10 also reports it as ``consumer_capacity``):
    the share of time the queue's consumers could take messages at once, averaged with a
    half-life of 1 s; ``now`` on the queue's clock (``queue.clock.time()``). None without
    consumers (RabbitMQ 3.10's JSON shows 0 then)."""
    if not queue.consumers:
        return None
    return queue.consumer_use.value(now)


# -- one object's counters (live objects: read them on the broker's loop) ------------------


def vhost_message_stats(node: AdminNode, vhost: str) -> MessageStats:
    return get_vhost(node, vhost).stats


def queue_message_stats(node: AdminNode, vhost: str, queue: str) -> MessageStats:
    return get_queue(node, vhost, queue).stats


def exchange_message_stats(node: AdminNode, vhost: str, exchange: str) -> MessageStats:
    """The exchange's counters; ``""`` is the default exchange (RabbitMQ's amq.default)."""
    found = get_vhost(node, vhost).exchanges.get(exchange)
    if found is None:
        raise NotFound(f"no exchange {exchange!r} in vhost {vhost!r}")
    return found.stats


def channel_message_stats(
    node: AdminNode, vhost: str
) -> dict[tuple[tuple[str, int] | None, int], MessageStats]:
    """The open channels of the vhost's connections, by (client address, channel number)."""
    get_vhost(node, vhost)
    return {
        (conn.peer, number): session.channel.stats
        for conn in open_connections(node, vhost)
        for number, session in conn.sessions.items()
    }
