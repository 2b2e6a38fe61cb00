"""Messages in queues: peeking at them without consuming, and matching them by content."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from leveret.amqp.spec import BasicProperties
from leveret.broker.admin.base import AdminNode, get_queue
from leveret.broker.message import QueueEntry


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
