"""Queues: declare, list with their counters and depth, purge, delete, and what is left
before a queue is settled."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from leveret.amqp.errors import NOT_IMPLEMENTED, PRECONDITION_FAILED, ChannelError
from leveret.broker.access import Grant
from leveret.broker.admin.base import (
    AdminConnection,
    AdminNode,
    connections_by_identity,
    get_queue,
    get_vhost,
    unacked_by_queue,
)
from leveret.broker.admin.channels import ConsumerInfo, queue_consumers
from leveret.broker.admin.connections import connection_name
from leveret.broker.message import QueueEntry
from leveret.broker.policies import effective_definition
from leveret.broker.queue import Queue
from leveret.broker.queue_options import with_default_queue_type
from leveret.broker.stats import GaugeRates, MessageStats

# What a queue costs besides its messages' bodies, and what each message held in memory
# adds (its Message and QueueEntry objects; server/monitor.py measured about 400 bytes),
# for the ``memory`` estimate the management API shows.
QUEUE_OVERHEAD = 2_000
MESSAGE_OVERHEAD = 400
PAGED_OVERHEAD = 8


@dataclass(frozen=True)
class OwnerRef:
    """The connection that owns an exclusive queue (RabbitMQ's ``owner_pid_details``)."""

    name: str
    peer: tuple[str, int] | None


@dataclass(frozen=True)
class QueueInfo:
    """One queue, with the counters ``rabbitmqctl list_queues`` and the management API
    show."""

    vhost: str
    name: str
    messages_ready: int
    messages_unacknowledged: int
    consumers: int
    durable: bool
    exclusive: bool
    auto_delete: bool
    arguments: dict[str, object] = field(default_factory=dict)
    type: str = "classic"
    message_bytes_ready: int = 0
    message_bytes_unacknowledged: int = 0
    messages_ram: int = 0  # ready messages held in memory (the others are paged out)
    message_bytes_ram: int = 0
    messages_paged_out: int = 0
    message_bytes_paged_out: int = 0
    memory: int = 0  # bytes, estimated
    head_message_timestamp: int | None = None
    idle_since: float | None = None  # time.time() the queue was last used
    exclusive_consumer_tag: str | None = None
    single_active_consumer_tag: str | None = None
    consumer_capacity: float = 0.0  # share of consumers able to take a message now
    consumer_details: list[ConsumerInfo] = field(default_factory=list)
    owner: OwnerRef | None = None
    stats: MessageStats | None = None
    depth_rates: GaugeRates | None = None
    policy: str | None = None
    operator_policy: str | None = None
    effective_policy_definition: dict[str, object] = field(default_factory=dict)

    @property
    def messages(self) -> int:
        """Ready plus unacknowledged, as RabbitMQ's ``messages`` column."""
        return self.messages_ready + self.messages_unacknowledged

    @property
    def message_bytes(self) -> int:
        return self.message_bytes_ready + self.message_bytes_unacknowledged


def _head_timestamp(queue: Queue) -> int | None:
    ready = queue.ready
    if not len(ready):
        return None
    timestamp = ready[0].message.properties.timestamp
    return int(timestamp) if timestamp is not None else None


def queue_info(
    queue: Queue,
    unacked: list[QueueEntry],
    connections: dict[int, AdminConnection] | None = None,
) -> QueueInfo:
    """``unacked``: the queue's deliveries awaiting an ack (see ``unacked_by_queue``);
    ``connections``: ``connections_by_identity`` of the node, to name the exclusive owner
    and the consumers' channels."""
    consumers = queue_consumers(queue, connections) if queue.consumers else []
    owner = None
    if queue.exclusive_owner is not None and connections is not None:
        conn = connections.get(id(queue.exclusive_owner))
        if conn is not None:
            owner = OwnerRef(connection_name(conn), conn.peer)
    in_memory = len(queue.ready)
    unacked_bytes = sum(len(entry.message.body) for entry in unacked)
    able = sum(1 for consumer in queue.consumers if consumer.can_take())
    exclusive_tag = next((c.tag for c in queue.consumers if c.exclusive), None)
    active = next((c for c in consumers if c.activity_status == "single_active"), None)
    return QueueInfo(
        vhost=queue.vhost_name,
        name=queue.name,
        messages_ready=queue.message_count,
        messages_unacknowledged=len(unacked),
        consumers=queue.consumer_count,
        durable=queue.durable,
        exclusive=queue.exclusive,
        auto_delete=queue.auto_delete,
        arguments=dict(queue.arguments),
        type=queue.options.queue_type,
        message_bytes_ready=queue.total_bytes,
        message_bytes_unacknowledged=unacked_bytes,
        messages_ram=in_memory + len(unacked),
        message_bytes_ram=queue.ready_bytes + unacked_bytes,
        messages_paged_out=queue.paged_count,
        message_bytes_paged_out=queue.paged_bytes,
        memory=QUEUE_OVERHEAD
        + queue.ready_bytes
        + (in_memory + len(unacked)) * MESSAGE_OVERHEAD
        + queue.paged_count * PAGED_OVERHEAD,
        head_message_timestamp=_head_timestamp(queue),
        idle_since=queue.last_used,
        exclusive_consumer_tag=exclusive_tag,
        single_active_consumer_tag=active.consumer_tag if active is not None else None,
        consumer_capacity=able / len(queue.consumers) if queue.consumers else 0.0,
        consumer_details=consumers,
        owner=owner,
        stats=queue.stats,
        depth_rates=queue.depth_rates,
        policy=queue.policy.name if queue.policy is not None else None,
        operator_policy=(queue.operator_policy.name if queue.operator_policy is not None else None),
        effective_policy_definition=effective_definition(queue.policy, queue.operator_policy),
    )


def list_queues(node: AdminNode, vhost: str | None = "/") -> list[QueueInfo]:
    """The queues of ``vhost`` (of every vhost if None), sorted by vhost and name."""
    names = sorted(node.vhosts) if vhost is None else [vhost]
    return queue_infos(node, queue_keys(node, names))


def queue_keys(node: AdminNode, vhosts: Iterable[str]) -> list[tuple[str, str]]:
    """(vhost, name) of every queue in ``vhosts``, sorted by vhost and name: cheap, so a
    listing can choose its page before building anything (NotFound for a missing vhost)."""
    return [(vhost, name) for vhost in vhosts for name in sorted(get_vhost(node, vhost).queues)]


def queue_infos(node: AdminNode, keys: Iterable[tuple[str, str]]) -> list[QueueInfo]:
    """QueueInfo of each (vhost, name) in ``keys`` that still exists, in that order; the
    unacknowledged deliveries are gathered once per vhost."""
    connections = connections_by_identity(node)
    unacked: dict[str, dict[Queue, list[QueueEntry]]] = {}
    infos: list[QueueInfo] = []
    for vhost, name in keys:
        found = node.vhosts.get(vhost)
        queue = found.queues.get(name) if found is not None else None
        if queue is None:
            continue
        if vhost not in unacked:
            unacked[vhost] = unacked_by_queue(node, vhost)
        infos.append(queue_info(queue, unacked[vhost].get(queue, []), connections))
    return infos


def get_queue_info(node: AdminNode, vhost: str, name: str) -> QueueInfo:
    queue = get_queue(node, vhost, name)
    unacked = unacked_by_queue(node, vhost).get(queue, [])
    return queue_info(queue, unacked, connections_by_identity(node))


def declare_queue(
    node: AdminNode,
    vhost: str,
    name: str,
    *,
    durable: bool = False,
    auto_delete: bool = False,
    arguments: Mapping[str, object] | None = None,
    grant: Grant | None = None,
) -> bool:
    """Declare a queue as queue.declare would, without a connection (so never exclusive);
    True if it was created, False if an equivalent one exists. ``grant``: the acting user's
    permissions, checked as for queue.declare (None: an operator, unchecked). Raises the
    ChannelError queue.declare would (inequivalent, reserved name, locked, limit)."""
    runtime = get_vhost(node, vhost)
    access = node.access

    def authorize(final: str) -> None:
        if grant is not None:
            grant.check_configure("queue", final)
            dlx = (arguments or {}).get("x-dead-letter-exchange")
            if isinstance(dlx, str | bytes):
                grant.check_read("queue", final)
                grant.check_write("exchange", dlx.decode() if isinstance(dlx, bytes) else dlx)
        limit = access.vhost_limit(vhost, "max-queues")
        if 0 <= limit <= len(runtime.queues) and final not in runtime.queues:
            raise ChannelError(
                PRECONDITION_FAILED,
                f"cannot declare queue '{final}': queue limit in vhost '{vhost}' "
                f"({limit}) is reached",
            )

    info = access.vhosts.get(vhost)
    if info is not None:
        arguments = with_default_queue_type(
            arguments,
            info.default_queue_type,
            durable=durable,
            exclusive=False,
            auto_delete=auto_delete,
        )
    existed = name in runtime.queues
    runtime.declare_queue(
        name,
        None,
        durable=durable,
        auto_delete=auto_delete,
        arguments=arguments,
        authorize=authorize,
    )
    return not existed


def message_count(node: AdminNode, queue: str, vhost: str = "/") -> int:
    """Ready messages in the queue: its depth, as ``queue.declare-ok`` reports it."""
    return get_queue(node, vhost, queue).message_count


def outstanding(
    node: AdminNode,
    queue: str,
    vhost: str = "/",
    *,
    include_unacked: bool = True,
    match: Callable[[QueueEntry], bool] | None = None,
) -> tuple[int, int] | None:
    """What keeps the queue from being settled: (ready, unacknowledged) messages, only those
    for which ``match`` is true if given; None once there are none, or if the queue does
    not exist (a queue deleted meanwhile holds nothing). Unacknowledged messages are left
    out (counted as 0) unless ``include_unacked``.

    The embedded broker's waits poll this; it is one synchronous look, so it sees a
    consistent state of the queue and the channels.
    """
    vhost_ = get_vhost(node, vhost)
    found = vhost_.queues.get(queue)
    if found is None:
        return None
    if match is None:
        ready = found.message_count
    else:  # only messages held in memory can be matched (see messages.peek)
        ready = sum(1 for entry in found.ready if match(entry))
    unacked = 0
    if include_unacked:
        delivered = unacked_by_queue(node, vhost).get(found, [])
        unacked = sum(1 for entry in delivered if match is None or match(entry))
    if not ready and not unacked:
        return None
    return ready, unacked


def purge_queue(
    node: AdminNode,
    vhost: str,
    name: str,
    *,
    exclusive_ok: bool = True,
    grant: Grant | None = None,
) -> int:
    """Drop the queue's ready messages (unacked ones stay with their consumers); the count
    dropped. Administration may purge another connection's exclusive queue (rabbitmqctl
    does); with ``exclusive_ok`` False that is refused as the management API refuses it
    (RESOURCE_LOCKED). ``grant``: the acting user's permissions (read, as queue.purge)."""
    queue = get_queue(node, vhost, name)
    if grant is not None:
        grant.check_read("queue", name)
    if queue.options.queue_type == "stream":
        raise ChannelError(
            NOT_IMPLEMENTED,
            f"queue.purge not supported by stream queues queue '{name}' in vhost '{vhost}'",
        )
    owner = queue.exclusive_owner if exclusive_ok else None
    return get_vhost(node, vhost).purge_queue(name, owner)


def delete_queue(
    node: AdminNode,
    vhost: str,
    name: str,
    *,
    if_unused: bool = False,
    if_empty: bool = False,
    exclusive_ok: bool = True,
    grant: Grant | None = None,
) -> int:
    """Delete the queue (NotFound if it is not there); the message count it held.
    ChannelError PRECONDITION_FAILED when ``if_unused``/``if_empty`` forbid it;
    ``exclusive_ok`` and ``grant`` (configure) as for ``purge_queue``."""
    queue = get_queue(node, vhost, name)
    if grant is not None:
        grant.check_configure("queue", name)
    owner = queue.exclusive_owner if exclusive_ok else None
    return get_vhost(node, vhost).delete_queue(name, owner, if_unused=if_unused, if_empty=if_empty)
