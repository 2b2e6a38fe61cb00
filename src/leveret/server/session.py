"""The server side of one open channel: it carries deliveries out and tracks confirms/tx."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leveret.amqp import spec
from leveret.amqp.errors import NO_ROUTE, REPLY_NAMES
from leveret.amqp.frames import (
    encode_deliver_head,
    encode_deliver_tail,
    encode_deliver_tail_pieces,
    encode_shortstrs,
)
from leveret.amqp.table import encode_shortstr
from leveret.broker.channel import Channel
from leveret.broker.message import Message
from leveret.broker.publish import Confirms, Publisher, TxPublish

if TYPE_CHECKING:
    from leveret.server.connection import AMQPConnection


# Bodies up to this size keep their encoded delivery on the message for the next queue
# (fanout); larger ones are written from the body itself rather than held twice.
WIRE_CACHE_LIMIT = 16384


class Session:
    """Implements the broker's DeliverySink for one channel of one connection."""

    def __init__(self, connection: AMQPConnection, number: int):
        self.connection = connection
        self.number = number
        # Channels open only on an open connection, which has its vhost.
        vhost = connection.vhost
        self.channel = channel = Channel(
            number,
            connection,
            self,
            connection.dispatch_pending.add,
            vhost.stats if vhost is not None else None,
        )
        self.closed = False
        # What broker.publish needs of this channel as a publisher. Its confirms (None
        # until confirm.select) are written out in publish order, coalesced into
        # multiple=true acks per write batch.
        node = connection.node
        self.publisher = Publisher(
            on_return=self._send_return,
            replies=node,
            store=node.message_store,
            stats=channel.stats,
        )
        # Transactions: None outside tx mode, else what waits for tx.commit.
        self.tx_publishes: list[TxPublish] | None = None
        self.tx_settles: list[tuple[str, int, bool, bool]] = []
        # Direct reply-to: the consumer tag replies go to (the address is ``reply_key``).
        self.reply_tag: str | None = None
        self._tags: dict[str, bytes] = {}  # consumer tags as short strings
        self._fields: dict[tuple[str, str], bytes] = {}  # (exchange, routing key) encoded

    # -- DeliverySink ---------------------------------------------------------------------

    @property
    def writable(self) -> bool:
        return self.connection.writable

    def deliver(
        self, consumer_tag: str, delivery_tag: int, redelivered: bool, message: Message
    ) -> None:
        connection = self.connection
        out = connection.out
        body = message.body
        if len(body) > WIRE_CACHE_LIMIT:
            # Large: write the body as its own piece, neither cached nor copied again.
            fields = self._encoded_fields(message)
            out.append(self._head(consumer_tag, delivery_tag, redelivered, len(fields)))
            out += encode_deliver_tail_pieces(
                self.number, fields, message.properties_raw, body, connection.frame_max
            )
            connection.large_pending = True
            connection.request_flush()
            return
        # One encoding per message and channel layout serves every queue it was routed to.
        key = (self.number << 32) | connection.frame_max
        wire = message.wire
        if wire is None or wire[0] != key:
            fields = self._encoded_fields(message)
            tail = encode_deliver_tail(
                self.number, fields, message.properties_raw, body, connection.frame_max
            )
            wire = message.wire = (key, len(fields), tail)
        out.append(self._head(consumer_tag, delivery_tag, redelivered, wire[1]))
        out.append(wire[2])
        connection.request_flush()

    def _encoded_fields(self, message: Message) -> bytes:
        names = (message.exchange, message.routing_key)
        fields = self._fields.get(names)
        if fields is None:
            if len(self._fields) > 1000:  # e.g. RPC replies: keep the cache bounded
                self._fields.clear()
            fields = self._fields[names] = encode_shortstrs(*names)
        return fields

    def _head(self, consumer_tag: str, delivery_tag: int, redelivered: bool, size: int) -> bytes:
        tag = self._tags.get(consumer_tag)
        if tag is None:
            if len(self._tags) > 1000:  # consumers come and go: keep the cache bounded
                self._tags.clear()
            tag = self._tags[consumer_tag] = encode_shortstr(consumer_tag)
        return encode_deliver_head(self.number, tag, delivery_tag, redelivered, size)

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

    @property
    def reply_key(self) -> str | None:
        """Direct reply-to: this channel's reply address (the publisher rewrites to it)."""
        return self.publisher.reply_key

    @reply_key.setter
    def reply_key(self, key: str | None) -> None:
        self.publisher.reply_key = key

    @property
    def confirms(self) -> Confirms | None:
        return self.publisher.confirms

    def confirm_select(self) -> None:
        if self.publisher.confirms is None:
            channel = self.channel
            self.publisher.confirms = Confirms(
                self._confirms_ready, (channel.stats, channel.vhost_stats)
            )

    def _confirms_ready(self) -> None:
        if self.closed:
            return
        self.connection.confirms_pending.add(self)
        self.connection.request_flush()

    def flush_confirms(self) -> None:
        if self.confirms is None:
            return
        for tag, multiple, ack in self.confirms.ready():
            method: spec.Method = (
                spec.BasicAck(delivery_tag=tag, multiple=multiple)
                if ack
                else spec.BasicNack(delivery_tag=tag, multiple=multiple, requeue=False)
            )
            self.connection.send_method(self.number, method)

    def _send_return(self, message: Message) -> None:
        self.connection.send_content(
            self.number,
            spec.BasicReturn(
                reply_code=NO_ROUTE,
                reply_text=REPLY_NAMES[NO_ROUTE],
                exchange=message.exchange,
                routing_key=message.routing_key,
            ),
            message.properties_raw,
            message.body,
        )
