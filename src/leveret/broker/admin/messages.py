"""Messages: peeking at them without consuming, matching them by content, getting them
as basic.get does and publishing them, without an AMQP connection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from leveret.amqp.errors import NOT_IMPLEMENTED, ConnectionError_
from leveret.amqp.spec import BasicProperties
from leveret.broker.access import Grant
from leveret.broker.admin.base import AdminNode, get_queue, get_vhost
from leveret.broker.admin.exchanges import actual_name
from leveret.broker.channel import Channel
from leveret.broker.exchange import Exchange
from leveret.broker.message import Message, QueueEntry
from leveret.broker.publish import ROUTED, Confirms, Publisher, publish

# What becomes of the messages a get took (the management API's "ackmode"): acknowledged
# (gone), or put back at their places marked redelivered, or rejected (dead-lettered).
ACK_REQUEUE_TRUE = "ack_requeue_true"
ACK_REQUEUE_FALSE = "ack_requeue_false"
REJECT_REQUEUE_TRUE = "reject_requeue_true"
REJECT_REQUEUE_FALSE = "reject_requeue_false"
ACK_MODES = (ACK_REQUEUE_TRUE, ACK_REQUEUE_FALSE, REJECT_REQUEUE_TRUE, REJECT_REQUEUE_FALSE)


@dataclass(frozen=True)
class PeekedMessage:
    """A copy of a message waiting in a queue; peeking leaves the queue untouched."""

    body: bytes
    exchange: str
    routing_key: str
    redelivered: bool
    properties: BasicProperties

    @property
    def headers(self) -> dict[str, object]:
        headers = self.properties.headers
        return dict(headers) if isinstance(headers, dict) else {}

    @property
    def content_type(self) -> str | None:
        return self.properties.content_type


def peek(
    node: AdminNode, queue: str, vhost: str = "/", limit: int | None = None
) -> list[PeekedMessage]:
    """Copies of the queue's ready messages, head first, without consuming them.

    With a data directory, a durable queue whose backlog outgrew its memory budget keeps
    the newest messages on disk only; peek shows those held in memory.
    """
    entries = list(get_queue(node, vhost, queue).ready)
    if limit is not None:
        entries = entries[:limit]
    return [peeked(entry) for entry in entries]


def peeked(entry: QueueEntry) -> PeekedMessage:
    message = entry.message
    return PeekedMessage(
        body=bytes(message.body),
        exchange=message.exchange,
        routing_key=message.routing_key,
        redelivered=entry.redelivered,
        # A fresh decode: the caller may change it without touching the broker's copy.
        properties=BasicProperties.decode(message.properties_raw),
    )


def matcher(
    body: bytes | str | None, match: Callable[[PeekedMessage], bool] | None
) -> Callable[[QueueEntry], bool] | None:
    """A test on queue entries: the body equals ``body`` and ``match`` accepts the message;
    None when neither is given (every message counts)."""
    if body is None and match is None:
        return None
    wanted = body.encode() if isinstance(body, str) else body

    def matches(entry: QueueEntry) -> bool:
        # The body comparison first: it is cheap, and spares decoding the properties.
        if wanted is not None and bytes(entry.message.body) != wanted:
            return False
        return match is None or match(peeked(entry))

    return matches


@dataclass(frozen=True)
class GotMessage:
    """One message a get took off a queue, as basic.get-ok carries it."""

    body: bytes
    exchange: str
    routing_key: str
    redelivered: bool
    message_count: int  # ready messages left in the queue after this one was taken
    properties: BasicProperties


class _NoDeliveries:
    """The delivery sink of a channel that only gets: it never has consumers."""

    writable = False

    def deliver(
        self, consumer_tag: str, delivery_tag: int, redelivered: bool, message: Message
    ) -> None:
        raise AssertionError("a get-only channel has no consumers")

    def consumer_cancelled(self, consumer_tag: str) -> None:
        pass


def get_messages(
    node: AdminNode,
    vhost: str,
    queue: str,
    count: int,
    ackmode: str,
    *,
    grant: Grant | None = None,
) -> list[GotMessage]:
    """Take up to ``count`` messages with basic.get on a channel of no connection, then
    settle them all per ``ackmode`` (one of ACK_MODES): requeued ones go back to their
    places marked redelivered, so one call never returns a message twice. Raises the
    errors basic.get would (NOT_FOUND, RESOURCE_LOCKED for another connection's exclusive
    queue, 540 for a stream); ``grant``: the acting user's permissions (read)."""
    if ackmode not in ACK_MODES:
        raise ValueError(f"unknown ackmode {ackmode!r}")
    runtime = get_vhost(node, vhost)
    if grant is not None:
        grant.check_read("queue", queue)
    source = runtime.get_queue(queue)
    if source.options.queue_type == "stream":
        raise ConnectionError_(
            NOT_IMPLEMENTED,
            f"basic.get not supported by stream queues queue '{queue}' in vhost '{vhost}'",
        )
    channel = Channel(0, None, _NoDeliveries())
    zero_count = runtime.compat.quorum_get_delivery_count_zero
    got: list[GotMessage] = []
    last_tag = 0
    for _ in range(count):
        taken = channel.get(source, no_ack=False)
        if taken is None:
            break
        last_tag, entry = taken
        message = source.outgoing(entry, zero_count)
        got.append(
            GotMessage(
                body=bytes(message.body),
                exchange=message.exchange,
                routing_key=message.routing_key,
                redelivered=entry.redelivered,
                message_count=source.message_count,
                # A fresh decode: the caller may change it without touching the broker's.
                properties=BasicProperties.decode(message.properties_raw),
            )
        )
    if last_tag:
        if ackmode == ACK_REQUEUE_FALSE:
            channel.ack(last_tag, multiple=True)
        else:
            channel.reject(last_tag, multiple=True, requeue=ackmode != REJECT_REQUEUE_FALSE)
    return got


def publish_message(
    node: AdminNode,
    vhost: str,
    exchange: str,
    routing_key: str,
    properties: BasicProperties,
    body: bytes,
    *,
    user: str | None = None,
    grant: Grant | None = None,
    on_settled: Callable[[], None] | None = None,
) -> bool:
    """Publish one message through the one publish path, as a mandatory publish on a
    channel in confirm mode; True if it reached a queue. ``on_settled`` is called once its
    confirm is settled: at once, or once a persistent message is on disk in every durable
    queue it reached (the caller may wait for that before answering). ``user`` must match
    a user_id property; ``grant``: the acting user's permissions (write on the exchange,
    topic write). Raises the ChannelError basic.publish would."""
    runtime = get_vhost(node, vhost)

    def authorize(target: Exchange) -> None:
        if grant is not None:
            grant.check_publish(target.name)
            if grant.topics and target.type_name == "topic":
                grant.check_topic("write", target.name, routing_key)

    publisher = Publisher(confirms=Confirms(on_settled), store=node.message_store, replies=node)
    outcome = publish(
        runtime,
        actual_name(exchange),
        routing_key,
        properties.encode(),
        body,
        mandatory=True,
        user_name=user,
        authorize=authorize,
        publisher=publisher,
    )
    return bool(outcome & ROUTED)
