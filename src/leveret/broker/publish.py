"""The one publish path: route a message through a vhost, enqueue it, decide on a mandatory
return and on its publisher confirm, or hold it for a transaction.

AMQP's basic.publish, the HTTP API's publish endpoint, shovels and delayed messages all
publish through here, so none of them needs an AMQP connection. What is connection-bound
stays with the caller and reaches this module as plain values or hooks: permission checks
(done before the call, or by ``authorize``), the publisher's direct reply-to address, how a
basic.return is sent (``on_return``) and how settled confirms are written (``Confirms``'s
``notify``). Called once per message: no allocation beyond the message itself on the
common path, and the outcome is an int of flags rather than an object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Protocol

from leveret.amqp import properties as flags
from leveret.amqp import spec
from leveret.amqp.errors import ACCESS_REFUSED, PRECONDITION_FAILED, ChannelError
from leveret.broker.exchange import Exchange
from leveret.broker.message import Message, check_publish_properties
from leveret.broker.queue import NEEDS_SYNC, REJECTED
from leveret.broker.stats import MessageStats
from leveret.broker.vhost import VirtualHost

REPLY_TO: Final = "amq.rabbitmq.reply-to"
REPLY_TO_PREFIX: Final = REPLY_TO + "."

# Outcome flags of one publish. Final, so that compiled callers inline them instead of
# looking each one up in the module's dict on every publish.
ROUTED: Final = 1  # it reached at least one queue (or a direct reply-to consumer)
RETURNED: Final = 2  # mandatory and unroutable: the publisher is to get it back (basic.return)
CONGESTED: Final = 4  # a queue it entered is congested: the caller should slow the publisher
DEFERRED: Final = 8  # held for tx.commit: not routed yet

# Confirm states, in publish order.
_PENDING: Final = 0
_STORED: Final = 1
_FAILED: Final = 2

# Delayer.hold's answer for a delayed message written to the store.
_HELD_STORED: Final = 2


class ReplyRouter(Protocol):
    """Where direct reply-to consumers are registered (the node)."""

    def deliver_reply(self, key: str, message: Message) -> bool: ...


class SyncWaiter(Protocol):
    """The message store: calls back once what was appended is on disk (True) or failed."""

    def after_sync(self, callback: Callable[[bool], None]) -> None: ...


class TxPublish:
    """A publish held in a transaction until tx.commit routes it."""

    __slots__ = ("exchange", "mandatory", "message")

    def __init__(self, exchange: str, mandatory: bool, message: Message):
        self.exchange = exchange
        self.mandatory = mandatory
        self.message = message


class Confirms:
    """Publisher-confirm bookkeeping for one publisher (a channel in confirm mode, a shovel).

    Publishes are numbered from 1 in order; each is pending, stored or failed. Confirms go
    out in publish order only, so ``ready`` hands out the settled prefix, coalesced into
    runs (one multiple=true ack or nack per run). ``notify`` is called when something
    settles, so that the owner can schedule writing them out. Each ack handed out counts
    as a ``confirm`` in ``counted`` (the channel's and the vhost's statistics); nacks do
    not, as in RabbitMQ.
    """

    def __init__(
        self,
        notify: Callable[[], None] | None = None,
        counted: tuple[MessageStats, ...] = (),
    ):
        self.notify = notify
        self.counted = counted
        self.seq = 0
        self._states: dict[int, int] = {}

    @property
    def unconfirmed(self) -> int:
        return len(self._states)

    def expect(self) -> int:
        self.seq += 1
        self._states[self.seq] = _PENDING
        return self.seq

    def settled(self, stored: bool = True) -> None:
        """The next publish, settled at once (``expect`` then ``settle`` in one call: this
        is the common case, once per message)."""
        self.seq += 1
        self._states[self.seq] = _STORED if stored else _FAILED
        if self.notify is not None:
            self.notify()

    def settle(self, seq: int, stored: bool = True) -> None:
        if seq not in self._states:
            return
        self._states[seq] = _STORED if stored else _FAILED
        if self.notify is not None:
            self.notify()

    def ready(self) -> list[tuple[int, bool, bool]]:
        """Settled confirms in order, as (sequence number, multiple, ack) runs."""
        done: list[tuple[int, int]] = []
        for seq, state in self._states.items():
            if state == _PENDING:
                break
            done.append((seq, state))
        for seq, _ in done:
            del self._states[seq]
        runs: list[tuple[int, bool, bool]] = []
        acked = 0
        start = 0
        while start < len(done):
            end = start
            kind = done[start][1]
            while end + 1 < len(done) and done[end + 1][1] == kind:
                end += 1
            runs.append((done[end][0], end > start, kind == _STORED))
            if kind == _STORED:
                acked += end - start + 1
            start = end + 1
        if acked:
            for stats in self.counted:
                stats.confirm += acked
        return runs


class Publisher:
    """What one publisher keeps across its publishes (an AMQP channel, a shovel link).

    Everything here is optional and read only when a publish needs it: confirm tracking,
    the message store to wait on for a persistent message's confirm, how a mandatory
    unroutable message goes back (``on_return``), where direct replies are delivered
    (``replies``), this publisher's own reply-to address (``reply_key``) and its own
    statistics (``stats``: an AMQP channel's). One object rather than separate arguments
    because the AMQP path passes it once per message.
    """

    def __init__(
        self,
        *,
        confirms: Confirms | None = None,
        store: SyncWaiter | None = None,
        on_return: Callable[[Message], None] | None = None,
        replies: ReplyRouter | None = None,
        reply_key: str | None = None,
        stats: MessageStats | None = None,
    ):
        self.stats = stats
        self.confirms = confirms
        self.store = store
        self.on_return = on_return
        self.replies = replies
        self.reply_key = reply_key


def publish(
    vhost: VirtualHost,
    exchange_name: str,
    routing_key: str,
    properties_raw: bytes,
    body: bytes,
    *,
    mandatory: bool = False,
    user_name: str | None = None,
    authorize: Callable[[Exchange], None] | None = None,
    publisher: Publisher | None = None,
) -> int:
    """Publish one message without a channel (HTTP, shovels, delayed messages).

    ``authorize`` is called with the exchange once it is found and may raise (a permission
    check); ``user_name``, when given, must match a user_id property. Returns the outcome
    flags: ``bool(outcome & ROUTED)`` is the HTTP API's "routed". Raises ChannelError
    where an AMQP channel would be closed (no such exchange, internal exchange, ...).
    """
    exchange = vhost.get_exchange(exchange_name)
    if authorize is not None:
        authorize(exchange)
    return publish_to(
        vhost,
        exchange,
        routing_key,
        properties_raw,
        body,
        mandatory,
        user_name,
        None,
        publisher,
    )


def publish_to(
    vhost: VirtualHost,
    exchange: Exchange,
    routing_key: str,
    properties_raw: bytes,
    body: bytes,
    mandatory: bool,
    user_name: str | None,
    tx: list[TxPublish] | None,
    publisher: Publisher | None = None,
) -> int:
    """Publish to an exchange already looked up and authorized (AMQP's path: the write
    permission is checked against the connection's cached grant first). With ``tx`` (a
    transaction's buffer) the message is checked and held there, to be routed by
    ``route`` at commit."""
    if exchange.internal:
        raise ChannelError(
            ACCESS_REFUSED,
            f"cannot publish to internal exchange '{exchange.name}' in vhost '{vhost.name}'",
        )
    vhost.counters.message_received(len(body))
    message = Message(exchange.name, routing_key, properties_raw, body)
    if user_name is not None:
        check_publish_properties(message, user_name)
    if tx is not None:
        tx.append(TxPublish(exchange.name, mandatory, message))
        return DEFERRED
    return route(vhost, exchange, mandatory, message, publisher)


def route(
    vhost: VirtualHost,
    exchange: Exchange,
    mandatory: bool,
    message: Message,
    publisher: Publisher | None = None,
) -> int:
    """Route a checked message, enqueue it, hand a mandatory unroutable one to the
    publisher's ``on_return`` and settle or schedule its confirm. Returns the outcome
    flags.

    Statistics, as RabbitMQ 3.10 counts them: ``publish`` on the vhost and the publisher's
    channel for every message (unroutable ones too); ``publish_in`` on the exchange named,
    ``publish_out`` on it once per queue reached, also through exchange-to-exchange
    bindings and alternate exchanges (the exchanges passed on the way count nothing);
    ``publish`` on each queue reached (a queue that refuses it included); an unroutable
    message is a ``return_unroutable`` when mandatory, else a ``drop_unroutable``."""
    if message.flags & flags.REPLY_TO and message.properties.reply_to == REPLY_TO:
        message = _with_reply_address(publisher, message)
    outcome = 0
    needs_sync = rejected = False
    exchange_stats = exchange.stats
    if exchange.name == "" and message.routing_key.startswith(REPLY_TO_PREFIX):
        key = message.routing_key[len(REPLY_TO_PREFIX) :]
        replies = publisher.replies if publisher is not None else None
        delivered = replies is not None and replies.deliver_reply(key, message)
        # RabbitMQ 3.x delivered a reply without counting it as routed, so a mandatory
        # reply also came back as a basic.return (pika raises UnroutableError for it).
        if delivered:
            exchange_stats.publish_out += 1
            if not vhost.compat.returns_mandatory_replies:
                outcome = ROUTED
    elif exchange.delayed is not None and (held := exchange.delayed.hold(message)):
        # Routed when due. Nowhere now: a mandatory one comes back as unroutable at once,
        # as with the plugin.
        needs_sync = held == _HELD_STORED
    else:
        message, queues = vhost.publish_targets(exchange, message)
        if queues:
            outcome = ROUTED
            exchange_stats.publish_out += len(queues)
            vhost.routed += len(queues)
        for queue in queues:
            queue.stats.publish += 1
            status = queue.publish(message)
            if status == NEEDS_SYNC:
                needs_sync = True
            elif status == REJECTED:
                rejected = True
            if queue.congested:
                outcome |= CONGESTED
    exchange_stats.publish_in += 1
    vhost_stats = vhost.stats
    vhost_stats.publish += 1
    channel_stats = publisher.stats if publisher is not None else None
    if channel_stats is not None:
        channel_stats.publish += 1
    if not outcome & ROUTED:
        if mandatory:
            outcome |= RETURNED
            vhost_stats.return_unroutable += 1
            if channel_stats is not None:
                channel_stats.return_unroutable += 1
        else:
            vhost_stats.drop_unroutable += 1
            if channel_stats is not None:
                channel_stats.drop_unroutable += 1
    if publisher is None:
        return outcome
    if outcome & RETURNED and publisher.on_return is not None:
        publisher.on_return(message)
    confirms = publisher.confirms
    if confirms is not None:
        vhost.received_confirm += 1
        store = publisher.store
        if needs_sync and store is not None and not rejected:
            # Confirm only once the message is on disk in every queue it reached.
            seq = confirms.expect()
            store.after_sync(lambda stored: confirms.settle(seq, stored))
        else:
            # At once: an ack, or a nack when a queue refused it (x-overflow=reject-publish).
            confirms.settled(not rejected)
    return outcome


def _with_reply_address(publisher: Publisher | None, message: Message) -> Message:
    """Direct reply-to: replace the pseudo-queue name with the publisher's reply address."""
    reply_key = publisher.reply_key if publisher is not None else None
    if reply_key is None:
        raise ChannelError(PRECONDITION_FAILED, "fast reply consumer does not exist")
    properties = spec.BasicProperties.decode(message.properties_raw)
    properties.reply_to = REPLY_TO_PREFIX + reply_key
    return message.with_properties(properties)
