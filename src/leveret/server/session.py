"""The server side of one open channel: it carries deliveries out and tracks confirms/tx."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leveret.amqp import spec
from leveret.broker.channel import Channel
from leveret.broker.message import Message

if TYPE_CHECKING:
    from leveret.server.connection import AMQPConnection


class TxPublish:
    __slots__ = ("exchange", "mandatory", "message")

    def __init__(self, exchange: str, mandatory: bool, message: Message):
        self.exchange = exchange
        self.mandatory = mandatory
        self.message = message


class Session:
    """Implements the broker's DeliverySink for one channel of one connection."""

    def __init__(self, connection: AMQPConnection, number: int):
        self.connection = connection
        self.number = number
        self.channel = Channel(number, connection, self)
        # Publisher confirms: publishes in order, each pending (0), stored (1) or failed (2).
        # Confirms go out in publish order, coalesced into multiple=true acks per write batch.
        self.confirming = False
        self.publish_seq = 0
        self._unconfirmed: dict[int, int] = {}
        self.closed = False
        # Transactions: None outside tx mode, else what waits for tx.commit.
        self.tx_publishes: list[TxPublish] | None = None
        self.tx_settles: list[tuple[str, int, bool, bool]] = []
        # Direct reply-to: this channel's reply address and the consumer tag replies go to.
        self.reply_key: str | None = None
        self.reply_tag: str | None = None

    # -- DeliverySink ---------------------------------------------------------------------

    @property
    def writable(self) -> bool:
        return self.connection.writable

    def deliver(
        self, consumer_tag: str, delivery_tag: int, redelivered: bool, message: Message
    ) -> None:
        self.connection.send_content(
            self.number,
            spec.BasicDeliver(
                consumer_tag=consumer_tag,
                delivery_tag=delivery_tag,
                redelivered=redelivered,
                exchange=message.exchange,
                routing_key=message.routing_key,
            ),
            message.properties_raw,
            message.body,
        )

    def deliver_reply(self, message: Message) -> None:
        """A reply published to this channel's amq.rabbitmq.reply-to address (no ack)."""
        if self.closed or self.reply_tag is None:
            return
        tag = self.channel.next_tag
        self.channel.next_tag = tag + 1
        self.deliver(self.reply_tag, tag, False, message)

    def consumer_cancelled(self, consumer_tag: str) -> None:
        if self.connection.cancel_notify:
            self.connection.send_method(
                self.number, spec.BasicCancel(consumer_tag=consumer_tag, no_wait=True)
            )

    # -- confirms -------------------------------------------------------------------------

    def expect_confirm(self) -> int:
        self.publish_seq += 1
        self._unconfirmed[self.publish_seq] = 0
        return self.publish_seq

    def confirm(self, seq: int, stored: bool = True) -> None:
        if self.closed or seq not in self._unconfirmed:
            return
        self._unconfirmed[seq] = 1 if stored else 2
        self.connection.confirms_pending.add(self)
        self.connection.request_flush()

    def flush_confirms(self) -> None:
        done: list[tuple[int, int]] = []
        for seq, state in self._unconfirmed.items():
            if not state:
                break
            done.append((seq, state))
        for seq, _ in done:
            del self._unconfirmed[seq]
        start = 0
        while start < len(done):
            end = start
            kind = done[start][1]
            while end + 1 < len(done) and done[end + 1][1] == kind:
                end += 1
            tag, multiple = done[end][0], end > start
            method: spec.Method = (
                spec.BasicAck(delivery_tag=tag, multiple=multiple)
                if kind == 1
                else spec.BasicNack(delivery_tag=tag, multiple=multiple, requeue=False)
            )
            self.connection.send_method(self.number, method)
            start = end + 1
