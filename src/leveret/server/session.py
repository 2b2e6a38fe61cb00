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
        # Publisher confirms: the sequence number of the last publish, and of the last
        # confirm sent; acks are coalesced into one multiple=true ack per write batch.
        self.confirming = False
        self.publish_seq = 0
        self.confirmed_seq = 0
        self.acked_seq = 0
        # Transactions: None outside tx mode, else what waits for tx.commit.
        self.tx_publishes: list[TxPublish] | None = None
        self.tx_settles: list[tuple[str, int, bool, bool]] = []

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

    def consumer_cancelled(self, consumer_tag: str) -> None:
        if self.connection.cancel_notify:
            self.connection.send_method(
                self.number, spec.BasicCancel(consumer_tag=consumer_tag, no_wait=True)
            )

    # -- confirms -------------------------------------------------------------------------

    def confirm(self, seq: int) -> None:
        self.confirmed_seq = seq
        self.connection.confirms_pending.add(self)

    def flush_confirms(self) -> None:
        upto = self.confirmed_seq
        if upto > self.acked_seq:
            multiple = upto - self.acked_seq > 1
            self.acked_seq = upto
            self.connection.send_method(
                self.number, spec.BasicAck(delivery_tag=upto, multiple=multiple)
            )
