"""Messages as the broker holds them: raw content header bytes plus body, decoded lazily."""

from __future__ import annotations

from typing import Any

from leveret.amqp import properties as flags
from leveret.amqp.errors import PRECONDITION_FAILED, ChannelError
from leveret.amqp.properties import delivery_mode
from leveret.amqp.spec import BasicProperties

_FLAGS: dict[int, int] = {}  # at most 65536 distinct values


class Message:
    """One published message, shared by every queue it was routed to.

    The content header's property bytes are kept as received and forwarded unchanged;
    they are decoded only when routing or policy needs a property.
    """

    __slots__ = (
        "_properties",
        "bcc",
        "body",
        "exchange",
        "flags",
        "properties_raw",
        "routing_key",
        "wire",
    )

    def __init__(self, exchange: str, routing_key: str, properties_raw: bytes, body: bytes):
        self.exchange = exchange
        self.routing_key = routing_key
        self.properties_raw = properties_raw
        # The property-flags word: which properties are present, read without decoding.
        flags = (properties_raw[0] << 8) | properties_raw[1] if len(properties_raw) > 1 else 0
        # Interned: a million queued messages share a handful of int objects.
        self.flags = _FLAGS.setdefault(flags, flags)
        self.body = body
        self._properties: BasicProperties | None = None
        # The encoded delivery frames, kept by the connection that last sent this message
        # so that fanout encodes once; opaque to the broker.
        self.wire: tuple[int, int, bytes] | None = None
        # BCC keys, removed from the headers at publish but still routing keys of the
        # message (RabbitMQ dead-letters to them too).
        self.bcc: list[str] | None = None

    @property
    def properties(self) -> BasicProperties:
        if self._properties is None:
            self._properties = BasicProperties.decode(self.properties_raw)
        return self._properties

    @property
    def persistent(self) -> bool:
        return bool(self.flags & flags.DELIVERY_MODE) and delivery_mode(self.properties_raw) == 2

    @property
    def headers(self) -> dict[str, object] | None:
        if not self.flags & flags.HEADERS:
            return None  # no need to decode anything
        headers = self.properties.headers
        return headers if isinstance(headers, dict) else None

    @property
    def expiration_ms(self) -> int | None:
        """The per-message TTL (validated at publish), or None."""
        if not self.flags & flags.EXPIRATION:
            return None
        value = self.properties.expiration
        try:
            return int(value) if value is not None else None
        except ValueError:
            return None

    @property
    def priority(self) -> int:
        if not self.flags & flags.PRIORITY:
            return 0
        return self.properties.priority or 0

    def with_properties(self, properties: BasicProperties) -> Message:
        """A copy carrying other properties (dead-lettering, delivery counts)."""
        copy = Message(self.exchange, self.routing_key, properties.encode(), self.body)
        copy._properties = properties
        copy.bcc = self.bcc
        return copy


class QueueEntry:
    """A message's place in one queue: its sequence number keeps requeue order stable.

    ``segment`` is where the queue's log holds it (None when it is in memory only);
    ``expires`` is the wall-clock second it expires (0 = never); ``delivery_count`` counts
    returns to the queue (quorum queues report it as x-delivery-count).
    """

    __slots__ = (
        "delivery_count",
        "expires",
        "message",
        "priority",
        "redelivered",
        "segment",
        "seq",
    )

    def __init__(
        self,
        seq: int,
        message: Message,
        redelivered: bool = False,
        segment: Any = None,
        expires: float = 0.0,
        priority: int = 0,
    ):
        self.seq = seq
        self.message = message
        self.redelivered = redelivered
        self.segment = segment
        self.expires = expires
        self.priority = priority
        self.delivery_count = 0


def check_publish_properties(message: Message, user_name: str) -> None:
    """RabbitMQ's checks on a published message's properties (406 when they fail)."""
    if not message.flags & (flags.EXPIRATION | flags.USER_ID):
        return  # the common case: neither property is present, nothing to decode
    properties = message.properties
    user_id = properties.user_id
    if user_id is not None and user_id != user_name:
        raise ChannelError(
            PRECONDITION_FAILED,
            f"user_id property set to '{user_id}' but authenticated user was '{user_name}'",
        )
    expiration = properties.expiration
    if expiration is not None:
        problem = _expiration_problem(expiration)
        if problem is not None:
            raise ChannelError(PRECONDITION_FAILED, f"invalid expiration '{expiration}': {problem}")


def _expiration_problem(text: str) -> str | None:
    """Why RabbitMQ refuses an expiration (it parses like Erlang's string:to_integer)."""
    digits = len(text) - len(text.lstrip("+-"))
    sign_length = min(digits, 1)
    end = sign_length
    while end < len(text) and text[end].isdigit():
        end += 1
    if end == sign_length:
        return "no_integer"
    if end < len(text):
        return f'{{leftover_string,"{text[end:]}"}}'
    value = int(text[:end])
    if value < 0:
        return f"{{value_negative,{value}}}"
    return None
