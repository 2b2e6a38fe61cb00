"""Channels and consumers of the client connections (``rabbitmqctl list_channels`` /
``list_consumers``, the management API's /api/channels and /api/consumers)."""

from __future__ import annotations

from dataclasses import dataclass, field

from leveret.broker.admin.base import (
    AdminConnection,
    AdminNode,
    AdminSession,
    NotFound,
    connections_by_identity,
    get_vhost,
    open_connections,
    vhost_name,
)
from leveret.broker.admin.connections import (
    connection_name,
    connection_state,
    find_connection,
)
from leveret.broker.consumer import Consumer
from leveret.broker.queue import Queue
from leveret.broker.stats import MessageStats


@dataclass(frozen=True)
class ChannelRef:
    """Which channel of which connection: RabbitMQ's ``channel_details``."""

    name: str  # "127.0.0.1:40000 -> 127.0.0.1:5672 (1)"
    number: int
    connection_name: str
    peer: tuple[str, int] | None
    user: str | None


@dataclass(frozen=True)
class ConsumerInfo:
    """One consumer, as ``rabbitmqctl list_consumers`` and /api/consumers show it."""

    consumer_tag: str
    channel: ChannelRef | None  # None if its connection is already gone
    queue: str
    vhost: str
    ack_required: bool
    prefetch_count: int
    exclusive: bool
    arguments: dict[str, object]
    active: bool
    activity_status: str  # "up"; "single_active" / "waiting" on single-active-consumer queues


@dataclass(frozen=True)
class ChannelInfo:
    """One open channel, with RabbitMQ's channel counters."""

    ref: ChannelRef
    vhost: str | None
    state: str
    prefetch_count: int  # for consumers created next (basic.qos global=false)
    global_prefetch_count: int
    messages_unacknowledged: int
    messages_unconfirmed: int
    messages_uncommitted: int
    acks_uncommitted: int
    consumer_count: int
    confirm: bool
    transactional: bool
    stats: MessageStats
    consumers: list[ConsumerInfo] = field(default_factory=list)


def channel_name(conn: AdminConnection, number: int) -> str:
    return f"{connection_name(conn)} ({number})"


def channel_ref(conn: AdminConnection, number: int) -> ChannelRef:
    return ChannelRef(
        name=channel_name(conn, number),
        number=number,
        connection_name=connection_name(conn),
        peer=conn.peer,
        user=conn.user.name if conn.user is not None else None,
    )


def _active_consumer(queue: Queue) -> Consumer | None:
    """The consumer a single-active-consumer queue delivers to (None for other queues)."""
    if not queue.options.single_active_consumer or not queue.consumers:
        return None
    if queue.prioritised:
        return max(queue.consumers, key=lambda c: c.priority)
    return queue.consumers[0]


def queue_consumers(
    queue: Queue, connections: dict[int, AdminConnection] | None = None
) -> list[ConsumerInfo]:
    """The queue's consumers; ``connections`` is ``connections_by_identity`` of the node
    (to name each consumer's channel), computed once by a caller listing many queues."""
    active = _active_consumer(queue)
    found: list[ConsumerInfo] = []
    for consumer in list(queue.consumers):
        conn = (connections or {}).get(id(consumer.channel.connection))
        if active is None:
            is_active, status = True, "up"
        elif consumer is active:
            is_active, status = True, "single_active"
        else:
            is_active, status = False, "waiting"
        found.append(
            ConsumerInfo(
                consumer_tag=consumer.tag,
                channel=channel_ref(conn, consumer.channel.number) if conn is not None else None,
                queue=queue.name,
                vhost=queue.vhost_name,
                ack_required=not consumer.no_ack,
                prefetch_count=consumer.prefetch,
                exclusive=consumer.exclusive,
                arguments=dict(consumer.arguments),
                active=is_active,
                activity_status=status,
            )
        )
    return found


def list_consumers(node: AdminNode, vhost: str | None = None) -> list[ConsumerInfo]:
    """Every consumer (of ``vhost``'s queues if given; NotFound for an unknown vhost)."""
    names = sorted(node.vhosts) if vhost is None else [get_vhost(node, vhost).name]
    connections = connections_by_identity(node)
    found: list[ConsumerInfo] = []
    for name in names:
        for queue in sorted(node.vhosts[name].queues.values(), key=lambda q: q.name):
            found.extend(queue_consumers(queue, connections))
    return found


def _channel_info(conn: AdminConnection, session: AdminSession) -> ChannelInfo:
    channel = session.channel
    confirms = session.confirms
    held = session.tx_publishes
    connections = {id(conn): conn}
    consumers: list[ConsumerInfo] = []
    for queue in {c.queue: None for c in channel.consumers.values()}:
        consumers.extend(
            info
            for info in queue_consumers(queue, connections)
            if info.channel is not None and info.channel.number == session.number
        )
    return ChannelInfo(
        ref=channel_ref(conn, session.number),
        vhost=vhost_name(conn.vhost),
        state=connection_state(conn),
        prefetch_count=channel.prefetch_count,
        global_prefetch_count=channel.global_prefetch,
        messages_unacknowledged=len(channel.unacked),
        messages_unconfirmed=confirms.unconfirmed if confirms is not None else 0,
        messages_uncommitted=len(held) if held is not None else 0,
        acks_uncommitted=len(session.tx_settles),
        consumer_count=len(channel.consumers),
        confirm=confirms is not None,
        transactional=held is not None,
        stats=channel.stats,
        consumers=consumers,
    )


def _sessions(conn: AdminConnection) -> list[AdminSession]:
    return [conn.sessions[number] for number in sorted(conn.sessions)]


def list_channels(node: AdminNode, vhost: str | None = None) -> list[ChannelInfo]:
    """Open channels (those of connections on ``vhost`` if given; NotFound for an
    unknown vhost), by connection and channel number."""
    if vhost is not None:
        get_vhost(node, vhost)
    connections = open_connections(node, vhost)
    connections.sort(key=lambda conn: conn.connected_at)
    return [_channel_info(conn, s) for conn in connections for s in _sessions(conn)]


def connection_channels(node: AdminNode, connection: str) -> list[ChannelInfo]:
    """The channels of the connection RabbitMQ calls ``connection``."""
    conn = find_connection(node, connection)
    return [_channel_info(conn, session) for session in _sessions(conn)]


def get_channel(node: AdminNode, name: str) -> ChannelInfo:
    """The channel RabbitMQ calls ``name`` ("<connection name> (<number>)")."""
    connection, _, number = name.rpartition(" (")
    if number.endswith(")") and number[:-1].isdigit():
        for conn in open_connections(node):
            session = conn.sessions.get(int(number[:-1]))
            if session is not None and connection_name(conn) == connection:
                return _channel_info(conn, session)
    raise NotFound(f"no channel {name!r}")
