"""Rows for ``leveret ctl``'s listings, keyed by rabbitmqctl's column names.

``list_queues``, ``list_exchanges``, ``list_bindings``, ``list_connections``,
``list_channels`` and ``list_consumers`` each have a table of columns: a function per
column name, so that only the columns asked for are computed (``list_queues name`` over
10,000 queues does not walk their messages). Unknown names are refused with rabbitmqctl's
text.

AMQP field tables (arguments, client properties) are given as rabbitmqctl's JSON gives them:
a list of ``[key, type, value]`` triples, from which the CLI prints either form.

Columns for things Leveret does not have (mirror process ids, disk read counters, the
Erlang process of a queue) are accepted and given as "", as RabbitMQ gives a column a queue
has no value for, so a script asking for them keeps working. Rows are sorted by name, so
two listings of the same state are identical.
"""

from __future__ import annotations

import datetime
import decimal
import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence, Set, Sized
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from leveret.amqp import table
from leveret.broker.access import InvalidArgument
from leveret.broker.admin.base import AdminConnection, AdminNode, AdminSession, unacked_by_queue
from leveret.broker.channel import Channel
from leveret.broker.consumer import Consumer
from leveret.broker.exchange import Exchange
from leveret.broker.message import QueueEntry
from leveret.broker.publish import Publisher
from leveret.broker.queue import Queue
from leveret.broker.stream import StreamQueue
from leveret.broker.vhost import VirtualHost

Row = dict[str, object]
T = TypeVar("T")
NOTHING = ""  # a column without a value, as RabbitMQ prints it
AMQP_0_9_1 = [0, 9, 1]


class TransportInfo(Protocol):
    """What a listing reads of a connection's socket (asyncio's transports have it)."""

    def get_extra_info(self, name: str, default: Any = None) -> Any: ...


class ListedSession(AdminSession, Protocol):
    """An open channel, with its publisher state (confirms, transactions)."""

    @property
    def publisher(self) -> Publisher: ...
    @property
    def tx_publishes(self) -> Sized | None: ...
    @property
    def tx_settles(self) -> Sized: ...


class ListedConnection(AdminConnection, Protocol):
    """A client connection with what ``list_connections`` shows of it."""

    @property
    def sessions(self) -> Mapping[int, ListedSession]: ...
    @property
    def local(self) -> tuple[str, int] | None: ...
    @property
    def frame_max(self) -> int: ...
    @property
    def channel_max(self) -> int: ...
    @property
    def heartbeat(self) -> int: ...
    @property
    def paused_by(self) -> Set[str]:
        """Why reading is paused: "alarm" (blocked by a resource alarm), "flow"."""
        ...

    @property
    def transport(self) -> TransportInfo | None: ...
    @property
    def serial(self) -> int:
        """The connection's number in accept order (its pid in listings)."""
        ...


class ListingNode(AdminNode, Protocol):
    """The node as the listings see it."""

    @property
    def connections(self) -> Set[ListedConnection]: ...
    @property
    def node_name(self) -> str: ...

    def queue_memory(self, queue: Queue) -> int:
        """Bytes the queue holds in memory, as the memory alarm counts them."""
        ...


def pick(
    items: Iterable[T], columns: Mapping[str, Callable[[T], object]], wanted: Sequence[str] | None
) -> list[Row]:
    """The rows of ``items`` with the ``wanted`` columns (all if None), in that order."""
    names = list(columns) if wanted is None else list(wanted)
    unknown = [name for name in names if name not in columns]
    if unknown:
        raise InvalidArgument(f"Info key(s) {','.join(unknown)} are not supported")
    getters = [(name, columns[name]) for name in names]
    return [{name: get(item) for name, get in getters} for item in items]


# -- AMQP values as rabbitmqctl shows them -----------------------------------------------

# Tagged integer classes (leveret.amqp.table) -> RabbitMQ's names of the field types.
_INT_TYPES: dict[type, str] = {
    table.Int8: "byte",
    table.UInt8: "unsignedbyte",
    table.Int16: "short",
    table.UInt16: "unsignedshort",
    table.UInt32: "unsignedint",
    table.Int64: "long",
    table.LongLong: "long",
    table.Timestamp: "timestamp",
}
INT32 = range(-(2**31), 2**31)


def field_type(value: object) -> str:
    """The AMQP field type a value is sent as (RabbitMQ's names: longstr, signedint...)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        tagged = _INT_TYPES.get(type(value))
        if tagged is not None:
            return tagged
        return "signedint" if value in INT32 else "long"
    if isinstance(value, table.Float32):
        return "float"
    if isinstance(value, float):
        return "double"
    if isinstance(value, decimal.Decimal):
        return "decimal"
    if isinstance(value, datetime.datetime):
        return "timestamp"
    if isinstance(value, (str, table.LongStrBytes)):
        return "longstr"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "binary"
    if isinstance(value, Mapping):
        return "table"
    if isinstance(value, (list, tuple)):
        return "array"
    return "void"


def field_value(value: object) -> object:
    """A field value as JSON: nested tables and arrays typed again, bytes as text."""
    if isinstance(value, Mapping):
        return typed_table(value)
    if isinstance(value, (list, tuple)):
        return [[field_type(item), field_value(item)] for item in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, datetime.datetime):
        return int(value.timestamp())
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)


def typed_table(values: Mapping[str, object], *, sort: bool = False) -> list[list[object]]:
    """An AMQP table as ``[key, type, value]`` triples (rabbitmqctl's JSON form)."""
    items = sorted(values.items()) if sort else list(values.items())
    return [[key, field_type(value), field_value(value)] for key, value in items]


def address(peer: tuple[str, int] | None) -> str:
    if peer is None:
        return "?"
    host, port = peer
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def connection_name(conn: ListedConnection) -> str:
    """RabbitMQ's connection name: "client address -> server address"."""
    return f"{address(conn.peer)} -> {address(conn.local)}"


def connection_pid(node_name: str, conn: ListedConnection) -> str:
    """A pid-like identifier, unique for the broker's lifetime (rabbitmqctl's pid column);
    ``close_connection`` takes it, or the name."""
    return f"<{node_name}.1.{conn.serial}.0>"


def channel_pid(node_name: str, conn: ListedConnection, number: int) -> str:
    return f"<{node_name}.1.{conn.serial}.{number}>"


# -- queues ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Queue:
    queue: Queue
    unacked: Sequence[QueueEntry]
    node: ListingNode
    owners: Mapping[int, ListedConnection]  # id(connection) -> connection
    channels: Mapping[int, tuple[ListedConnection, int]]  # id(channel) -> (connection, number)

    def in_memory(self) -> Iterable[QueueEntry]:
        queue = self.queue
        return queue.entries if isinstance(queue, StreamQueue) else queue.ready

    def ready_in_memory(self) -> int:
        queue = self.queue
        return len(queue.entries) if isinstance(queue, StreamQueue) else len(queue.ready)

    def ready_bytes(self) -> int:
        queue = self.queue
        return queue.retained_bytes if isinstance(queue, StreamQueue) else queue.total_bytes

    def ready_bytes_in_memory(self) -> int:
        queue = self.queue
        return queue.retained_bytes if isinstance(queue, StreamQueue) else queue.ready_bytes

    def unacked_bytes(self) -> int:
        return sum(len(entry.message.body) for entry in self.unacked)

    def persistent(self) -> list[QueueEntry]:
        """Persistent messages held in memory (paged-out ones are on disk already)."""
        entries = [*self.in_memory(), *self.unacked]
        return [entry for entry in entries if entry.message.persistent]

    def owner_pid(self) -> str:
        owner = self.owners.get(id(self.queue.exclusive_owner))
        return connection_pid(self.node.node_name, owner) if owner is not None else NOTHING

    def exclusive_consumer(self) -> Consumer | None:
        return next((c for c in self.queue.consumers if c.exclusive), None)

    def exclusive_consumer_pid(self) -> str:
        consumer = self.exclusive_consumer()
        found = self.channels.get(id(consumer.channel)) if consumer is not None else None
        return channel_pid(self.node.node_name, *found) if found is not None else NOTHING

    def head_timestamp(self) -> object:
        head = next(iter(self.in_memory()), None)
        stamp = head.message.properties.timestamp if head is not None else None
        return int(stamp) if stamp is not None else NOTHING

    def quorum_members(self) -> object:
        """Leader, members, online: this node, for a quorum or stream queue (a cluster of
        one); nothing for a classic queue, as RabbitMQ."""
        if self.queue.options.queue_type == "classic":
            return NOTHING
        return [self.node.node_name]


QUEUE_COLUMNS: dict[str, Callable[[_Queue], object]] = {
    "name": lambda q: q.queue.name,
    "durable": lambda q: q.queue.durable,
    "auto_delete": lambda q: q.queue.auto_delete,
    "arguments": lambda q: typed_table(q.queue.arguments),
    "policy": lambda q: NOTHING,
    "pid": lambda q: NOTHING,
    "owner_pid": _Queue.owner_pid,
    "exclusive": lambda q: q.queue.exclusive,
    "exclusive_consumer_pid": _Queue.exclusive_consumer_pid,
    "exclusive_consumer_tag": lambda q: (
        c.tag if (c := q.exclusive_consumer()) is not None else NOTHING
    ),
    "messages_ready": lambda q: q.queue.message_count,
    "messages_unacknowledged": lambda q: len(q.unacked),
    "messages": lambda q: q.queue.message_count + len(q.unacked),
    "messages_ready_ram": _Queue.ready_in_memory,
    "messages_unacknowledged_ram": lambda q: len(q.unacked),
    "messages_ram": lambda q: q.ready_in_memory() + len(q.unacked),
    "messages_persistent": lambda q: len(q.persistent()),
    "message_bytes": lambda q: q.ready_bytes() + q.unacked_bytes(),
    "message_bytes_ready": _Queue.ready_bytes,
    "message_bytes_unacknowledged": _Queue.unacked_bytes,
    "message_bytes_ram": lambda q: q.ready_bytes_in_memory() + q.unacked_bytes(),
    "message_bytes_persistent": lambda q: sum(len(e.message.body) for e in q.persistent()),
    "head_message_timestamp": _Queue.head_timestamp,
    "disk_reads": lambda q: NOTHING,
    "disk_writes": lambda q: NOTHING,
    "consumers": lambda q: q.queue.consumer_count,
    "consumer_utilisation": lambda q: NOTHING,
    "consumer_capacity": lambda q: NOTHING,
    "memory": lambda q: q.node.queue_memory(q.queue),
    "slave_pids": lambda q: NOTHING,
    "synchronised_slave_pids": lambda q: NOTHING,
    # A queue whose consumers fall behind slows its publishers down: RabbitMQ's "flow".
    "state": lambda q: "flow" if q.queue.congested else "running",
    "type": lambda q: q.queue.options.queue_type,
    "leader": lambda q: NOTHING if q.queue.options.queue_type == "classic" else q.node.node_name,
    "members": _Queue.quorum_members,
    "online": _Queue.quorum_members,
}


def _owners(node: ListingNode) -> dict[int, ListedConnection]:
    return {id(conn): conn for conn in list(node.connections)}


def _channels(node: ListingNode) -> dict[int, tuple[ListedConnection, int]]:
    return {
        id(session.channel): (conn, number)
        for conn in list(node.connections)
        for number, session in list(conn.sessions.items())
    }


def queue_rows(node: ListingNode, vhost: str, columns: Sequence[str] | None = None) -> list[Row]:
    """``list_queues``: the queues of ``vhost`` (none if it does not exist, as
    rabbitmqctl), sorted by name."""
    found = node.vhosts.get(vhost)
    if found is None:
        return []
    unacked = unacked_by_queue(node, vhost)
    owners, channels = _owners(node), _channels(node)
    views = (
        _Queue(queue, unacked.get(queue, ()), node, owners, channels)
        for queue in sorted(found.queues.values(), key=lambda q: q.name)
    )
    return pick(views, QUEUE_COLUMNS, columns)


# -- exchanges and bindings --------------------------------------------------------------

EXCHANGE_COLUMNS: dict[str, Callable[[Exchange], object]] = {
    "name": lambda x: x.name,
    "type": lambda x: x.type_name,
    "durable": lambda x: x.durable,
    "auto_delete": lambda x: x.auto_delete,
    "internal": lambda x: x.internal,
    "arguments": lambda x: typed_table(x.arguments),
    "policy": lambda x: NOTHING,
}


def exchange_rows(node: AdminNode, vhost: str, columns: Sequence[str] | None = None) -> list[Row]:
    """``list_exchanges``: the exchanges of ``vhost`` (the default one included, named
    ""), sorted by name."""
    found = node.vhosts.get(vhost)
    exchanges = sorted(found.exchanges.values(), key=lambda x: x.name) if found else []
    return pick(exchanges, EXCHANGE_COLUMNS, columns)


@dataclass(frozen=True)
class _Binding:
    source: str
    destination: Queue | Exchange
    routing_key: str
    arguments: Mapping[str, object]

    @property
    def destination_kind(self) -> str:
        return "queue" if isinstance(self.destination, Queue) else "exchange"

    def sort_key(self) -> tuple[str, str, str, str, str]:
        return (
            self.source,
            self.destination_kind,
            self.destination.name,
            self.routing_key,
            repr(sorted(self.arguments.items())),
        )


BINDING_COLUMNS: dict[str, Callable[[_Binding], object]] = {
    "source_name": lambda b: b.source,
    "source_kind": lambda b: "exchange",
    "destination_name": lambda b: b.destination.name,
    "destination_kind": lambda b: b.destination_kind,
    "routing_key": lambda b: b.routing_key,
    # RabbitMQ keeps a binding's arguments sorted by key.
    "arguments": lambda b: typed_table(b.arguments, sort=True),
}


def bindings(vhost: VirtualHost) -> list[_Binding]:
    """Every binding of the vhost: the default exchange's implicit one per queue first
    (routing key = queue name), then the others by source, destination kind and name."""
    found = [_Binding("", queue, queue.name, {}) for queue in vhost.queues.values()]
    for exchange in vhost.exchanges.values():
        if exchange.name == "":
            continue
        for destination, routing_key, arguments in exchange.router.bindings():
            if isinstance(destination, (Queue, Exchange)):
                found.append(_Binding(exchange.name, destination, routing_key, arguments))
    return sorted(found, key=_Binding.sort_key)


def binding_rows(node: AdminNode, vhost: str, columns: Sequence[str] | None = None) -> list[Row]:
    """``list_bindings`` of ``vhost`` (none if it does not exist)."""
    found = node.vhosts.get(vhost)
    return pick(bindings(found) if found is not None else [], BINDING_COLUMNS, columns)


# -- connections -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Connection:
    conn: ListedConnection
    node: ListingNode

    def tls(self, method: str) -> object:
        """A property of the TLS session (``version``, ``cipher``); "" without TLS."""
        transport = self.conn.transport
        ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
        if ssl_object is None:
            return NOTHING
        value = getattr(ssl_object, method)()
        if method == "cipher":
            return value[0] if value else NOTHING
        return str(value).lower() if value else NOTHING

    def state(self) -> str:
        paused = self.conn.paused_by
        if "alarm" in paused:
            return "blocked"  # it published under a resource alarm: not read until it ends
        if self.node.alarms:
            return "blocking"  # will be blocked if it publishes
        return "flow" if "flow" in paused else "running"


def _host(peer: tuple[str, int] | None) -> object:
    """An address as rabbitmqctl gives it: the numbers of an Erlang IP tuple, [127, 0, 0, 1]
    (eight 16-bit groups for IPv6); the CLI's table prints it as usual."""
    if peer is None:
        return NOTHING
    try:
        address = ipaddress.ip_address(peer[0].split("%")[0])
    except ValueError:
        return peer[0]
    packed = address.packed
    if address.version == 4:
        return list(packed)
    return [int.from_bytes(packed[i : i + 2], "big") for i in range(0, 16, 2)]


def _port(peer: tuple[str, int] | None) -> object:
    return peer[1] if peer is not None else NOTHING


CONNECTION_COLUMNS: dict[str, Callable[[_Connection], object]] = {
    "pid": lambda c: connection_pid(c.node.node_name, c.conn),
    "name": lambda c: connection_name(c.conn),
    "port": lambda c: _port(c.conn.local),
    "host": lambda c: _host(c.conn.local),
    "peer_port": lambda c: _port(c.conn.peer),
    "peer_host": lambda c: _host(c.conn.peer),
    "ssl": lambda c: c.tls("version") != NOTHING,
    "ssl_protocol": lambda c: c.tls("version"),
    "ssl_key_exchange": lambda c: NOTHING,
    "ssl_cipher": lambda c: c.tls("cipher"),
    "ssl_hash": lambda c: NOTHING,
    "peer_cert_subject": lambda c: NOTHING,
    "peer_cert_issuer": lambda c: NOTHING,
    "peer_cert_validity": lambda c: NOTHING,
    "state": _Connection.state,
    "channels": lambda c: len(c.conn.sessions),
    "protocol": lambda c: AMQP_0_9_1,
    "auth_mechanism": lambda c: c.conn.auth_mechanism or NOTHING,
    "user": lambda c: c.conn.user.name if c.conn.user is not None else NOTHING,
    "vhost": lambda c: c.conn.vhost.name if c.conn.vhost is not None else NOTHING,
    "timeout": lambda c: c.conn.heartbeat,
    "frame_max": lambda c: c.conn.frame_max,
    "channel_max": lambda c: c.conn.channel_max,
    "client_properties": lambda c: typed_table(c.conn.client_properties),
    # Socket counters: not kept per connection (yet).
    "recv_oct": lambda c: NOTHING,
    "recv_cnt": lambda c: NOTHING,
    "send_oct": lambda c: NOTHING,
    "send_cnt": lambda c: NOTHING,
    "send_pend": lambda c: NOTHING,
    "connected_at": lambda c: int(c.conn.connected_at * 1000),
}


def open_listed(node: ListingNode, vhost: str | None = None) -> list[ListedConnection]:
    """Open connections (those on ``vhost`` if given), in accept order."""
    conns = [
        conn
        for conn in list(node.connections)
        if not conn.closed and (vhost is None or (conn.vhost and conn.vhost.name == vhost))
    ]
    return sorted(conns, key=lambda conn: conn.serial)


def connection_rows(node: ListingNode, columns: Sequence[str] | None = None) -> list[Row]:
    """``list_connections``: every open client connection, in accept order."""
    views = (_Connection(conn, node) for conn in open_listed(node))
    return pick(views, CONNECTION_COLUMNS, columns)


# -- channels ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Channel:
    conn: ListedConnection
    number: int
    session: ListedSession
    node: ListingNode

    @property
    def channel(self) -> Channel:
        return self.session.channel

    def unconfirmed(self) -> int:
        confirms = self.session.publisher.confirms
        return confirms.unconfirmed if confirms is not None else 0

    def uncommitted(self) -> int:
        pending = self.session.tx_publishes
        return len(pending) if pending is not None else 0


CHANNEL_COLUMNS: dict[str, Callable[[_Channel], object]] = {
    "pid": lambda c: channel_pid(c.node.node_name, c.conn, c.number),
    "connection": lambda c: connection_pid(c.node.node_name, c.conn),
    "name": lambda c: f"{connection_name(c.conn)} ({c.number})",
    "number": lambda c: c.number,
    "user": lambda c: c.conn.user.name if c.conn.user is not None else NOTHING,
    "vhost": lambda c: c.conn.vhost.name if c.conn.vhost is not None else NOTHING,
    "transactional": lambda c: c.session.tx_publishes is not None,
    "confirm": lambda c: c.session.publisher.confirms is not None,
    "consumer_count": lambda c: len(c.channel.consumers),
    "messages_unacknowledged": lambda c: len(c.channel.unacked),
    "messages_unconfirmed": _Channel.unconfirmed,
    "messages_uncommitted": _Channel.uncommitted,
    "acks_uncommitted": lambda c: len(c.session.tx_settles),
    "prefetch_count": lambda c: c.channel.prefetch_count,
    "global_prefetch_count": lambda c: c.channel.global_prefetch,
}


def channel_rows(node: ListingNode, columns: Sequence[str] | None = None) -> list[Row]:
    """``list_channels``: every open channel, by connection then channel number."""
    views = (
        _Channel(conn, number, session, node)
        for conn in open_listed(node)
        for number, session in sorted(conn.sessions.items())
    )
    return pick(views, CHANNEL_COLUMNS, columns)


# -- consumers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Consumer:
    consumer: Consumer
    channel_pid: object

    @property
    def active(self) -> bool:
        """With x-single-active-consumer only one consumer of the queue is served."""
        queue = self.consumer.queue
        if not queue.options.single_active_consumer or not queue.consumers:
            return True
        consumers = queue.consumers
        current = max(consumers, key=lambda c: c.priority) if queue.prioritised else consumers[0]
        return current is self.consumer

    def activity_status(self) -> str:
        if not self.consumer.queue.options.single_active_consumer:
            return "up"
        return "single_active" if self.active else "waiting"

    def arguments(self) -> list[list[object]]:
        """The consume arguments Leveret acts on (x-priority, x-stream-offset)."""
        given: dict[str, object] = {}
        if self.consumer.priority:
            given["x-priority"] = self.consumer.priority
        if self.consumer.stream_offset is not None:
            given["x-stream-offset"] = self.consumer.stream_offset
        return typed_table(given)


CONSUMER_COLUMNS: dict[str, Callable[[_Consumer], object]] = {
    "queue_name": lambda c: c.consumer.queue.name,
    "channel_pid": lambda c: c.channel_pid,
    "consumer_tag": lambda c: c.consumer.tag,
    "ack_required": lambda c: not c.consumer.no_ack,
    "prefetch_count": lambda c: c.consumer.prefetch,
    "active": lambda c: c.active,
    "activity_status": _Consumer.activity_status,
    "arguments": _Consumer.arguments,
}


def consumer_rows(node: ListingNode, vhost: str, columns: Sequence[str] | None = None) -> list[Row]:
    """``list_consumers`` of ``vhost``: by queue name, then consumer tag (a queue's own
    order turns with round-robin delivery)."""
    found = node.vhosts.get(vhost)
    if found is None:
        return []
    channels = _channels(node)
    views: list[_Consumer] = []
    for queue in sorted(found.queues.values(), key=lambda q: q.name):
        for consumer in sorted(queue.consumers, key=lambda c: c.tag):
            owner = channels.get(id(consumer.channel))
            pid = channel_pid(node.node_name, *owner) if owner is not None else NOTHING
            views.append(_Consumer(consumer, pid))
    return pick(views, CONSUMER_COLUMNS, columns)
