"""The JSON shapes of queues, exchanges, bindings, connections, channels and consumers, as
RabbitMQ 3.10's management API writes them (field names, types, nesting).

Fields that describe Erlang internals (``garbage_collection``, ``reductions``,
``backing_queue_status``) are left out rather than faked; so are counts Leveret does not
keep (``messages_persistent``). A queue without policies has ``policy``
null and an empty effective definition, as RabbitMQ shows it; an exchange has ``policy``
only when one applies.
"""

from __future__ import annotations

import datetime
from typing import Any

from leveret.broker.admin.bindings import BindingInfo
from leveret.broker.admin.channels import ChannelInfo, ChannelRef, ConsumerInfo
from leveret.broker.admin.connections import PROTOCOL, ConnectionInfo
from leveret.broker.admin.exchanges import ExchangeInfo
from leveret.broker.admin.jsonable import to_json
from leveret.broker.admin.queues import QueueInfo
from leveret.broker.stats import (
    CHANNEL_GROUPS,
    EXCHANGE_GROUPS,
    QUEUE_GROUPS,
    GaugeRates,
    MessageStats,
)

Json = dict[str, Any]


def rabbit_time(seconds: float) -> str:
    """A wall-clock time as RabbitMQ writes ``idle_since``: 2024-05-01T12:00:00.123+00:00."""
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+00:00"


def _rate(rates: GaugeRates | None, name: str) -> dict[str, float]:
    return rates.details(name) if rates is not None else {"rate": 0.0}


def _add_stats(
    found: Json, stats: MessageStats | None, groups: tuple[tuple[str, ...], ...]
) -> None:
    # RabbitMQ leaves message_stats out until something was counted.
    counted = stats.to_json(groups) if stats is not None else {}
    if counted:
        found["message_stats"] = counted


def _arguments(arguments: dict[str, object]) -> Json:
    converted: Json = to_json(arguments)
    return converted


# -- queues ---------------------------------------------------------------------------------


def queue_json(info: QueueInfo, node: str, *, detailed: bool = False) -> Json:
    """A queue as /api/queues lists it; ``detailed`` adds what /api/queues/{vhost}/{name}
    alone shows (its consumers)."""
    rates = info.depth_rates
    found: Json = {
        "name": info.name,
        "vhost": info.vhost,
        "durable": info.durable,
        "auto_delete": info.auto_delete,
        "exclusive": info.exclusive,
        "arguments": _arguments(info.arguments),
        "type": info.type,
        "state": "running",
        "node": node,
        "policy": info.policy,
        "operator_policy": info.operator_policy,
        "effective_policy_definition": to_json(info.effective_policy_definition),
        "consumers": info.consumers,
        "consumer_capacity": info.consumer_capacity,
        "consumer_utilisation": info.consumer_capacity,
        "exclusive_consumer_tag": info.exclusive_consumer_tag,
        "single_active_consumer_tag": info.single_active_consumer_tag,
        "head_message_timestamp": info.head_message_timestamp,
        "idle_since": rabbit_time(info.idle_since) if info.idle_since is not None else None,
        "memory": info.memory,
        "messages": info.messages,
        "messages_details": _rate(rates, "messages"),
        "messages_ready": info.messages_ready,
        "messages_ready_details": _rate(rates, "messages_ready"),
        "messages_unacknowledged": info.messages_unacknowledged,
        "messages_unacknowledged_details": _rate(rates, "messages_unacknowledged"),
        "messages_ram": info.messages_ram,
        "messages_ready_ram": info.messages_ram - info.messages_unacknowledged,
        "messages_unacknowledged_ram": info.messages_unacknowledged,
        "messages_paged_out": info.messages_paged_out,
        "message_bytes": info.message_bytes,
        "message_bytes_ready": info.message_bytes_ready,
        "message_bytes_unacknowledged": info.message_bytes_unacknowledged,
        "message_bytes_ram": info.message_bytes_ram,
        "message_bytes_paged_out": info.message_bytes_paged_out,
        "recoverable_slaves": None,
    }
    if info.type in ("quorum", "stream"):
        # One node holds every replica: it leads, and it is the only member, online.
        found.update({"leader": node, "members": [node], "online": [node]})
    if info.owner is not None:
        found["owner_pid_details"] = connection_details(info.owner.name, info.owner.peer)
    _add_stats(found, info.stats, QUEUE_GROUPS)
    if detailed:
        found["consumer_details"] = [consumer_json(c, node) for c in info.consumer_details]
        found["deliveries"] = []
        found["incoming"] = []
    return found


# -- exchanges ------------------------------------------------------------------------------


def exchange_json(info: ExchangeInfo, *, detailed: bool = False) -> Json:
    found: Json = {
        "name": info.name,
        "vhost": info.vhost,
        "type": info.type,
        "durable": info.durable,
        "auto_delete": info.auto_delete,
        "internal": info.internal,
        "arguments": _arguments(info.arguments),
    }
    if info.policy is not None:
        found["policy"] = info.policy
    if info.messages_delayed is not None:  # x-delayed-message: held until due
        found["messages_delayed"] = info.messages_delayed
    _add_stats(found, info.stats, EXCHANGE_GROUPS)
    if detailed:
        # Per-channel and per-queue rates ("detailed" rates mode) are not kept.
        found["incoming"] = []
        found["outgoing"] = []
    return found


# -- bindings -------------------------------------------------------------------------------


def binding_json(info: BindingInfo) -> Json:
    return {
        "source": info.source,
        "vhost": info.vhost,
        "destination": info.destination,
        "destination_type": info.destination_type,
        "routing_key": info.routing_key,
        "arguments": _arguments(info.arguments),
        "properties_key": info.properties_key,
    }


# -- connections, channels, consumers --------------------------------------------------------


def connection_details(name: str, peer: tuple[str, int] | None) -> Json:
    host, port = peer if peer is not None else (None, None)
    return {"name": name, "peer_host": host, "peer_port": port}


def connection_json(info: ConnectionInfo, node: str) -> Json:
    peer_host, peer_port = info.peer if info.peer is not None else (None, None)
    host, port = info.local if info.local is not None else (None, None)
    tls = info.tls
    found: Json = {
        "name": info.name,
        "node": node,
        "vhost": info.vhost,
        "user": info.user,
        "state": info.state,
        "type": "network",
        "protocol": PROTOCOL,
        "auth_mechanism": info.auth_mechanism,
        "channels": info.channels,
        "channel_max": info.channel_max,
        "frame_max": info.frame_max,
        "timeout": info.timeout,
        "connected_at": int(info.connected_at * 1000),
        "host": host,
        "port": port,
        "peer_host": peer_host,
        "peer_port": peer_port,
        "ssl": tls is not None,
        "ssl_protocol": tls.protocol if tls is not None else None,
        "ssl_key_exchange": tls.key_exchange if tls is not None else None,
        "ssl_cipher": tls.cipher if tls is not None else None,
        "ssl_hash": tls.hash if tls is not None else None,
        "peer_cert_issuer": None,
        "peer_cert_subject": None,
        "peer_cert_validity": None,
        "client_properties": to_json(info.client_properties),
        "recv_oct": info.recv_oct,
        "recv_oct_details": _rate(info.octet_rates, "recv_oct"),
        "recv_cnt": info.recv_cnt,
        "send_oct": info.send_oct,
        "send_oct_details": _rate(info.octet_rates, "send_oct"),
        "send_cnt": info.send_cnt,
    }
    provided = info.client_properties.get("connection_name")
    if isinstance(provided, str | bytes) and provided:
        found["user_provided_name"] = to_json(provided)
    return found


def channel_details(ref: ChannelRef, node: str) -> Json:
    """Which channel: RabbitMQ's ``channel_details`` of a consumer."""
    host, port = ref.peer if ref.peer is not None else (None, None)
    return {
        "name": ref.name,
        "number": ref.number,
        "connection_name": ref.connection_name,
        "node": node,
        "peer_host": host,
        "peer_port": port,
        "user": ref.user,
    }


def consumer_json(info: ConsumerInfo, node: str) -> Json:
    return {
        "consumer_tag": info.consumer_tag,
        "channel_details": channel_details(info.channel, node) if info.channel else {},
        "queue": {"name": info.queue, "vhost": info.vhost},
        "ack_required": info.ack_required,
        "prefetch_count": info.prefetch_count,
        "exclusive": info.exclusive,
        "arguments": _arguments(info.arguments),
        "active": info.active,
        "activity_status": info.activity_status,
    }


def channel_json(info: ChannelInfo, node: str, *, detailed: bool = False) -> Json:
    ref = info.ref
    found: Json = {
        "name": ref.name,
        "number": ref.number,
        "node": node,
        "connection_details": connection_details(ref.connection_name, ref.peer),
        "user": ref.user,
        "vhost": info.vhost,
        "state": info.state,
        "prefetch_count": info.prefetch_count,
        "global_prefetch_count": info.global_prefetch_count,
        "messages_unacknowledged": info.messages_unacknowledged,
        "messages_unconfirmed": info.messages_unconfirmed,
        "messages_uncommitted": info.messages_uncommitted,
        "acks_uncommitted": info.acks_uncommitted,
        "consumer_count": info.consumer_count,
        "confirm": info.confirm,
        "transactional": info.transactional,
    }
    _add_stats(found, info.stats, CHANNEL_GROUPS)
    if detailed:
        found["consumer_details"] = [consumer_json(c, node) for c in info.consumers]
        found["deliveries"] = []
        found["publishes"] = []
    return found
