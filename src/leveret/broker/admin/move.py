"""Moving a queue's ready messages to another queue, as the management UI's "move
messages" does (RabbitMQ needs a shovel for it; Leveret does it directly).

Each message is taken off the source as basic.get would, published to the destination
through the one publish path (the default exchange, routed by the destination's name,
properties and body unchanged) and acknowledged in the source only once its publish is
confirmed: on disk in the destination when it is durable and the message persistent. A
crash in between leaves a message in both queues, never in neither (at least once, as a
shovel). A message the destination refuses (x-overflow=reject-publish, a deleted queue)
goes back to the source, and the move stops there.
"""

from __future__ import annotations

from leveret.amqp.errors import NOT_FOUND, NOT_IMPLEMENTED, PRECONDITION_FAILED, ChannelError
from leveret.broker.access import Grant
from leveret.broker.admin.base import AdminNode, get_vhost
from leveret.broker.admin.messages import _NoDeliveries  # get_messages' get-only sink
from leveret.broker.channel import Channel
from leveret.broker.message import Message
from leveret.broker.publish import ROUTED, Confirms, Publisher, publish


class _Settler:
    """Acks (or returns) the source's messages as the destination's confirms settle, in
    publish order; confirm sequence numbers and delivery tags both count from 1."""

    def __init__(self, channel: Channel):
        self.channel = channel
        self.current = 0  # the delivery tag being published
        self.refused: set[int] = set()  # publishes that reached no queue
        self.failed = False  # a publish was refused: stop moving
        self.confirms = Confirms(self.settle)

    def returned(self, message: Message) -> None:
        """The publish reached no queue (called before its confirm settles)."""
        self.refused.add(self.current)

    def settle(self) -> None:
        for last, multiple, stored in self.confirms.ready():
            first = self._first_unsettled() if multiple else last
            for tag in range(first, last + 1):
                if tag not in self.channel.unacked:
                    continue
                if stored and tag not in self.refused:
                    self.channel.ack(tag, multiple=False)
                else:
                    self.failed = True
                    self.channel.reject(tag, multiple=False, requeue=True)

    def _first_unsettled(self) -> int:
        return min(self.channel.unacked, default=1)


def move_messages(
    node: AdminNode,
    vhost: str,
    source: str,
    destination: str,
    *,
    grant: Grant | None = None,
) -> int:
    """Move the messages ready in ``source`` when called to ``destination`` (both in
    ``vhost``); returns how many were published to it. ``grant``: the acting user's
    permissions (read on the source, write on the default exchange). Raises ChannelError
    as basic.get and basic.publish would (NOT_FOUND, RESOURCE_LOCKED, ACCESS_REFUSED), and
    PRECONDITION_FAILED for a move onto itself."""
    runtime = get_vhost(node, vhost)
    if grant is not None:
        grant.check_read("queue", source)
        grant.check_publish("")
    origin = runtime.get_queue(source)
    target = runtime.queues.get(destination)
    if target is None:
        raise ChannelError(NOT_FOUND, f"no queue '{destination}' in vhost '{vhost}'")
    if target is origin:
        raise ChannelError(PRECONDITION_FAILED, "cannot move messages to the same queue")
    for queue in (origin, target):
        if queue.options.queue_type == "stream":
            raise ChannelError(
                NOT_IMPLEMENTED, f"cannot move messages of stream queue '{queue.name}'"
            )
    channel = Channel(0, None, _NoDeliveries())
    settler = _Settler(channel)
    publisher = Publisher(
        confirms=settler.confirms, store=node.message_store, on_return=settler.returned
    )
    moved = 0
    # Only what is ready now: consumers or publishers active meanwhile cannot make it
    # endless, and requeued refusals are not taken twice.
    for _ in range(origin.message_count):
        taken = channel.get(origin, no_ack=False)
        if taken is None:
            break
        settler.current, entry = taken
        message = entry.message
        outcome = publish(
            runtime,
            "",
            destination,
            message.properties_raw,
            bytes(message.body),
            mandatory=True,
            publisher=publisher,
        )
        if settler.failed or not outcome & ROUTED:
            break
        moved += 1
    return moved
