"""Messages as the broker holds them: raw content header bytes plus body, decoded lazily."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leveret.amqp.spec import BasicProperties


class Message:
    """One published message, shared by every queue it was routed to.

    The content header's property bytes are kept as received and forwarded unchanged;
    they are decoded only when routing or policy needs a property.
    """

    __slots__ = ("_properties", "body", "exchange", "properties_raw", "routing_key")

    def __init__(self, exchange: str, routing_key: str, properties_raw: bytes, body: bytes):
        self.exchange = exchange
        self.routing_key = routing_key
        self.properties_raw = properties_raw
        self.body = body
        self._properties: BasicProperties | None = None

    @property
    def properties(self) -> BasicProperties:
        if self._properties is None:
            from leveret.amqp.spec import BasicProperties

            self._properties = BasicProperties.decode(self.properties_raw)
        return self._properties

    @property
    def headers(self) -> dict[str, object] | None:
        raw = self.properties_raw
        if not raw or not raw[0] & 0x20:
            return None  # property flag bit 13 (headers) is clear: no need to decode
        headers = self.properties.headers
        return headers if isinstance(headers, dict) else None


class QueueEntry:
    """A message's place in one queue: its sequence number keeps requeue order stable."""

    __slots__ = ("message", "redelivered", "seq")

    def __init__(self, seq: int, message: Message, redelivered: bool = False):
        self.seq = seq
        self.message = message
        self.redelivered = redelivered
