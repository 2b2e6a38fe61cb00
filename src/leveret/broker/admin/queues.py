"""Queues: list with their counters, depth, and what is left before a queue is settled."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from leveret.broker.admin.base import AdminNode, get_queue, get_vhost, unacked_by_queue
from leveret.broker.message import QueueEntry


@dataclass(frozen=True)
class QueueInfo:
    """One queue, with the counters ``rabbitmqctl list_queues`` shows."""

    vhost: str
    name: str
    messages_ready: int
    messages_unacknowledged: int
    consumers: int
    durable: bool
    exclusive: bool
    auto_delete: bool
    arguments: dict[str, object] = field(default_factory=dict)

    @property
    def messages(self) -> int:
        """Ready plus unacknowledged, as RabbitMQ's ``messages`` column."""
        return self.messages_ready + self.messages_unacknowledged


def list_queues(node: AdminNode, vhost: str | None = "/") -> list[QueueInfo]:
    """The queues of ``vhost`` (of every vhost if None), sorted by vhost and name."""
    names = sorted(node.vhosts) if vhost is None else [vhost]
    infos: list[QueueInfo] = []
    for name in names:
        vhost_ = get_vhost(node, name)
        unacked = unacked_by_queue(node, name)
        for queue in sorted(vhost_.queues.values(), key=lambda q: q.name):
            infos.append(
                QueueInfo(
                    vhost=name,
                    name=queue.name,
                    messages_ready=queue.message_count,
                    messages_unacknowledged=len(unacked.get(queue, ())),
                    consumers=queue.consumer_count,
                    durable=queue.durable,
                    exclusive=queue.exclusive,
                    auto_delete=queue.auto_delete,
                    arguments=dict(queue.arguments),
                )
            )
    return infos


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


def purge_queue(node: AdminNode, vhost: str, name: str) -> int:
    """Drop the queue's ready messages (unacked ones stay with their consumers); the count
    dropped. Administration may purge another connection's exclusive queue."""
    queue = get_queue(node, vhost, name)
    return get_vhost(node, vhost).purge_queue(name, queue.exclusive_owner)


def delete_queue(
    node: AdminNode, vhost: str, name: str, *, if_unused: bool = False, if_empty: bool = False
) -> int:
    """Delete the queue (NotFound if it is not there); the message count it held.
    ChannelError PRECONDITION_FAILED when ``if_unused``/``if_empty`` forbid it."""
    queue = get_queue(node, vhost, name)
    return get_vhost(node, vhost).delete_queue(
        name, queue.exclusive_owner, if_unused=if_unused, if_empty=if_empty
    )
