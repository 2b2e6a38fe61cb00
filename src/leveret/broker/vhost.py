"""A virtual host: its exchanges, queues and bindings, and the rules for changing them.

Error texts follow RabbitMQ's, since clients match on them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from leveret.amqp.errors import (
    ACCESS_REFUSED,
    COMMAND_INVALID,
    NOT_FOUND,
    PRECONDITION_FAILED,
    RESOURCE_ERROR,
    RESOURCE_LOCKED,
    ChannelError,
    ConnectionError_,
)
from leveret.amqp.spec import BasicProperties
from leveret.broker.channel import random_name
from leveret.broker.clock import Clock, SystemClock
from leveret.broker.compat import DEFAULT_PROFILE, CompatProfile
from leveret.broker.dead_letter import dead_letter, header_keys
from leveret.broker.delayed import DELAYED_TYPE, DelayedMessages, attach_delayed, delayed_router
from leveret.broker.exchange import Exchange
from leveret.broker.exchange_types import EXCHANGE_TYPES
from leveret.broker.message import Message
from leveret.broker.node_counters import NodeCounters
from leveret.broker.policies import Policy, apply_to_exchange, apply_to_queue
from leveret.broker.queue import DEFAULT_MEMORY_BUDGET, Queue, Scheduler
from leveret.broker.queue_options import parse_queue_options, table_type_name
from leveret.broker.stats import GaugeRates, MessageStats
from leveret.broker.stream import StreamQueue
from leveret.store.base import (
    BindingDefinition,
    Definitions,
    DefinitionStore,
    ExchangeDefinition,
    QueueDefinition,
    QueueLogs,
    StoreFailure,
)
from leveret.store.memory import MemoryDefinitionStore

log = logging.getLogger("leveret.vhost")

# Queue arguments RabbitMQ compares on redeclaration; others are accepted and ignored.
EQUIVALENT_QUEUE_ARGS = (
    "x-expires",
    "x-message-ttl",
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-max-length",
    "x-max-length-bytes",
    "x-max-priority",
    "x-overflow",
    "x-queue-mode",
    "x-single-active-consumer",
    "x-queue-type",
    "x-queue-version",
)
EQUIVALENT_EXCHANGE_ARGS = ("alternate-exchange",)
PREDECLARED_EXCHANGES = (
    ("amq.direct", "direct"),
    ("amq.fanout", "fanout"),
    ("amq.topic", "topic"),
    ("amq.headers", "headers"),
    ("amq.match", "headers"),
)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _describe_pair(received: object, current: object) -> tuple[str, str]:
    """RabbitMQ shows bare values when both sides exist, typed values next to 'none'."""
    if received is not None and current is not None:
        return f"'{received}'", f"'{current}'"

    def typed(value: object) -> str:
        if value is None:
            return "none"
        return f"the value '{value}' of type '{table_type_name(value)}'"

    return typed(received), typed(current)


class VirtualHost:
    def __init__(
        self,
        name: str,
        schedule: Scheduler | None = None,
        *,
        definitions: DefinitionStore | None = None,
        logs: QueueLogs | None = None,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        clock: Clock | None = None,
        compat: CompatProfile = DEFAULT_PROFILE,
        counters: NodeCounters | None = None,
    ):
        self.name = name
        # The vhost's totals (RabbitMQ's vhost message_stats); the node sums vhosts.
        self.stats = MessageStats()
        # The node's churn counters (queues declared, created, deleted), shared by its vhosts.
        self.counters = counters if counters is not None else NodeCounters()
        # Two node-wide totals RabbitMQ's Prometheus counters need and message_stats has
        # no key for: queue deliveries of publishes (messages_routed_total counts a
        # message once per queue) and publishes on confirm-mode channels.
        self.routed = 0
        self.received_confirm = 0
        # Rates of the vhost's messages/messages_ready/messages_unacknowledged.
        self.depth_rates = GaugeRates()
        self.compat = compat
        self.exchanges: dict[str, Exchange] = {}
        self.queues: dict[str, Queue] = {}
        # By name; set through broker.admin.policies, which also stores them.
        self.policies: dict[str, Policy] = {}
        self.operator_policies: dict[str, Policy] = {}
        self._schedule = schedule
        self.definitions: DefinitionStore = definitions or MemoryDefinitionStore()
        self.logs = logs
        self.memory_budget = memory_budget
        self.clock: Clock = clock or SystemClock(None)
        self._default = Exchange("", EXCHANGE_TYPES["direct"]())
        self.exchanges[""] = self._default
        for name_, type_name in PREDECLARED_EXCHANGES:
            self.exchanges[name_] = Exchange(name_, EXCHANGE_TYPES[type_name]())

    def _where(self) -> str:
        return f"in vhost '{self.name}'"

    def _persist(self, what: str, write: Callable[[], None]) -> None:
        """Make a definition change durable before it takes effect in memory. When the
        store cannot write (disk full), the method is refused with a channel error and
        nothing changes, as a publish on a full disk is refused with a nack."""
        try:
            write()
        except StoreFailure as error:
            log.error("cannot store %s %s: %s", what, self._where(), error)
            raise ChannelError(
                RESOURCE_ERROR, f"cannot store {what} {self._where()}: {error}"
            ) from None

    def _forget(self, what: str, write: Callable[[], None]) -> None:
        """Remove a definition where refusing is impossible (auto-delete, exclusive owner
        gone): on a store failure it comes back after a restart, as before a crash."""
        try:
            write()
        except StoreFailure as error:
            log.error("cannot remove %s %s from the store: %s", what, self._where(), error)

    # -- exchanges ------------------------------------------------------------------------

    def get_exchange(self, name: str) -> Exchange:
        exchange = self.exchanges.get(name)
        if exchange is None:
            raise ChannelError(NOT_FOUND, f"no exchange '{name}' {self._where()}")
        return exchange

    def declare_exchange(
        self,
        name: str,
        type_name: str,
        *,
        passive: bool = False,
        durable: bool = False,
        auto_delete: bool = False,
        internal: bool = False,
        arguments: Mapping[str, object] | None = None,
    ) -> Exchange:
        if name == "":
            raise ChannelError(ACCESS_REFUSED, "operation not permitted on the default exchange")
        if passive:
            return self.get_exchange(name)
        router_class = EXCHANGE_TYPES.get(type_name)
        if router_class is None and type_name != DELAYED_TYPE:
            text = f"unknown exchange type '{type_name}'"
            # RabbitMQ 3.x closed the whole connection here; 4.x only the channel.
            if self.compat.unknown_exchange_type_closes_connection:
                raise ConnectionError_(COMMAND_INVALID, text)
            raise ChannelError(PRECONDITION_FAILED, text)
        args = dict(arguments or {})
        existing = self.exchanges.get(name)
        if existing is not None:
            what = f"exchange '{name}' {self._where()}"
            if existing.type_name != type_name:
                raise _inequivalent("type", what, f"'{type_name}'", f"'{existing.type_name}'")
            for flag, received, current in (
                ("durable", durable, existing.durable),
                ("auto_delete", auto_delete, existing.auto_delete),
                ("internal", internal, existing.internal),
            ):
                if received != current:
                    raise _inequivalent(flag, what, f"'{_bool(received)}'", f"'{_bool(current)}'")
            _check_args(EQUIVALENT_EXCHANGE_ARGS, args, existing.arguments, what)
            return existing
        if name.startswith("amq."):
            raise ChannelError(
                ACCESS_REFUSED, f"exchange name '{name}' contains reserved prefix 'amq.*'"
            )
        # Checked for a new exchange only: redeclaring one is a matter of equivalence first
        # (RabbitMQ 3.10 observed).
        alternate = args.get("alternate-exchange")
        if alternate is not None and not isinstance(alternate, str | bytes):
            raise ChannelError(
                PRECONDITION_FAILED,
                f"invalid type '{table_type_name(alternate)}' for arg 'alternate-exchange' in "
                f"exchange '{name}' {self._where()}",
            )
        exchange = Exchange(
            name,
            router_class() if router_class is not None else delayed_router(name, args),
            durable=durable,
            auto_delete=auto_delete,
            internal=internal,
            arguments=args,
            type_name=type_name,
        )
        if durable:
            definition = ExchangeDefinition(self.name, name, type_name, auto_delete, internal, args)
            self._persist(f"exchange '{name}'", lambda: self.definitions.add_exchange(definition))
        self.exchanges[name] = exchange
        attach_delayed(self, exchange, fresh=True)
        apply_to_exchange(exchange, self.policies.values())
        return exchange

    def delete_exchange(self, name: str, *, if_unused: bool = False) -> None:
        if name == "":
            raise ChannelError(ACCESS_REFUSED, "operation not permitted on the default exchange")
        if name.startswith("amq."):
            raise ChannelError(
                ACCESS_REFUSED,
                f"deletion of system exchange '{name}' {self._where()} not allowed",
            )
        exchange = self.exchanges.get(name)
        if exchange is None:
            return  # RabbitMQ makes delete idempotent
        if if_unused and exchange.router.binding_count():
            raise ChannelError(PRECONDITION_FAILED, f"exchange '{name}' {self._where()} in use")
        if exchange.durable:
            self._persist(
                f"the deletion of exchange '{name}'",
                lambda: self.definitions.remove_exchange(self.name, name),
            )
        self._remove_exchange(exchange, persisted=True)

    def _remove_exchange(self, exchange: Exchange, persisted: bool = False) -> None:
        self.exchanges.pop(exchange.name, None)
        delayed = exchange.delayed
        if isinstance(delayed, DelayedMessages):
            delayed.destroy()
        if exchange.durable and not persisted:
            self._forget(
                f"exchange '{exchange.name}'",
                lambda: self.definitions.remove_exchange(self.name, exchange.name),
            )
        for other in list(self.exchanges.values()):
            if other.router.unbind_destination(exchange):
                self._maybe_auto_delete(other)

    def _maybe_auto_delete(self, exchange: Exchange) -> None:
        if exchange.auto_delete and not exchange.router.binding_count():
            self._remove_exchange(exchange)

    # -- queues ---------------------------------------------------------------------------

    def get_queue(self, name: str, owner: object | None = None) -> Queue:
        """Look a queue up for use by ``owner``'s connection (lax exclusivity check)."""
        queue = self.queues.get(name)
        if queue is None:
            raise ChannelError(NOT_FOUND, f"no queue '{name}' {self._where()}")
        if queue.exclusive_owner is not None and queue.exclusive_owner is not owner:
            raise self._locked(name)
        return queue

    def _locked(self, name: str) -> ChannelError:
        return ChannelError(
            RESOURCE_LOCKED,
            f"cannot obtain exclusive access to locked queue '{name}' {self._where()}. "
            "It could be originally declared on another connection or the exclusive "
            "property value does not match that of the original declaration.",
        )

    def declare_queue(
        self,
        name: str,
        owner: object,
        *,
        passive: bool = False,
        durable: bool = False,
        exclusive: bool = False,
        auto_delete: bool = False,
        arguments: Mapping[str, object] | None = None,
        authorize: Callable[[str], None] | None = None,
    ) -> Queue:
        """``authorize`` (access checks) is called with the final name, a generated one
        for a server-named queue, before anything is looked up or created."""
        if passive:
            return self.get_queue(name, owner)
        server_named = not name
        if server_named:
            name = random_name("amq.gen-")
        elif name.startswith("amq."):
            # RabbitMQ checks the name before looking the queue up, so even a server-named
            # queue cannot be redeclared by its name (passive declare can).
            raise ChannelError(
                ACCESS_REFUSED, f"queue name '{name}' contains reserved prefix 'amq.*'"
            )
        if authorize is not None:
            authorize(name)
        # As in RabbitMQ, an exclusive queue is never durable: it dies with its connection.
        durable = durable and not exclusive
        args = dict(arguments or {})
        parse_queue_options(
            name,
            self.name,
            args,
            durable=durable,
            exclusive=exclusive,
            auto_delete=auto_delete,
            server_named=server_named,
            quorum_delivery_limit=self.compat.quorum_delivery_limit,
            quorum_priorities=self.compat.quorum_priorities,
        )
        wanted_owner = owner if exclusive else None
        existing = self.queues.get(name)
        if existing is not None:
            if existing.exclusive_owner is not wanted_owner:
                raise self._locked(name)
            what = f"queue '{name}' {self._where()}"
            for flag, received, current in (
                ("durable", durable, existing.durable),
                ("auto_delete", auto_delete, existing.auto_delete),
            ):
                if received != current:
                    raise _inequivalent(flag, what, f"'{_bool(received)}'", f"'{_bool(current)}'")
            _check_args(EQUIVALENT_QUEUE_ARGS, args, existing.arguments, what)
            existing.touch()
            self.counters.queues_declared += 1
            return existing
        persisted = durable and not exclusive
        if persisted:
            definition = QueueDefinition(self.name, name, auto_delete, args)
            self._persist(f"queue '{name}'", lambda: self.definitions.add_queue(definition))
        queue = self._add_queue(name, durable, wanted_owner, auto_delete, args)
        counters = self.counters
        counters.queues_declared += 1
        counters.queues_created += 1
        return queue

    def _add_queue(
        self,
        name: str,
        durable: bool,
        owner: object | None,
        auto_delete: bool,
        args: dict[str, object],
    ) -> Queue:
        log = None
        if durable and owner is None and self.logs is not None:
            log = self.logs.open_queue(self.name, name)
        options = parse_queue_options(
            name,
            self.name,
            args,
            durable=durable,
            exclusive=owner is not None,
            auto_delete=auto_delete,
            quorum_delivery_limit=self.compat.quorum_delivery_limit,
            quorum_priorities=self.compat.quorum_priorities,
        )
        queue_class = StreamQueue if options.queue_type == "stream" else Queue
        queue = queue_class(
            name,
            self.name,
            durable=durable,
            exclusive_owner=owner,
            auto_delete=auto_delete,
            arguments=args,
            schedule=self._schedule,
            log=log,
            memory_budget=self.memory_budget,
            options=options,
            clock=self.clock,
        )
        queue.on_unused = self.remove_queue
        queue.on_expired = self.remove_queue
        queue.on_dead_letter = self._dead_letter
        self.queues[name] = queue
        apply_to_queue(queue, self.policies.values(), self.operator_policies.values())
        queue.touch()
        return queue

    def delete_queue(
        self,
        name: str,
        owner: object,
        *,
        if_unused: bool = False,
        if_empty: bool = False,
        before_cancel: Callable[[int], None] | None = None,
    ) -> int:
        """Delete ``name`` and return its message count.

        ``before_cancel(count)`` runs after the queue is gone but before its consumers get
        basic.cancel: RabbitMQ sends queue.delete-ok first, and py-amqp relies on that order.
        """
        queue = self.queues.get(name)
        if queue is None:
            if before_cancel is not None:
                before_cancel(0)
            return 0  # idempotent, as in RabbitMQ
        if queue.exclusive_owner is not None and queue.exclusive_owner is not owner:
            raise self._locked(name)
        if if_unused and queue.consumers:
            raise ChannelError(PRECONDITION_FAILED, f"queue '{name}' {self._where()} in use")
        if if_empty and queue.ready:
            raise ChannelError(PRECONDITION_FAILED, f"queue '{name}' {self._where()} not empty")
        if queue.durable and queue.exclusive_owner is None:
            self._persist(
                f"the deletion of queue '{name}'",
                lambda: self.definitions.remove_queue(self.name, name),
            )
        count = queue.message_count
        if before_cancel is None:
            self.remove_queue(queue, persisted=True)
        else:
            self.remove_queue(queue, lambda: before_cancel(count), persisted=True)
        return count

    def remove_queue(
        self,
        queue: Queue,
        before_cancel: Callable[[], None] | None = None,
        *,
        persisted: bool = False,
    ) -> None:
        """Delete a queue unconditionally (owner gone, auto-delete, explicit delete)."""
        if self.queues.get(queue.name) is not queue:
            return
        del self.queues[queue.name]
        queue.deleted = True
        self.counters.queues_deleted += 1
        queue.stop_timers()
        if queue.durable and queue.exclusive_owner is None and not persisted:
            self._forget(
                f"queue '{queue.name}'",
                lambda: self.definitions.remove_queue(self.name, queue.name),
            )
        if queue.log is not None and self.logs is not None:
            self.logs.delete_queue(self.name, queue.name)
        consumers = list(queue.consumers)
        for consumer in consumers:
            consumer.channel.forget_consumer(consumer.tag)
        queue.consumers.clear()
        if before_cancel is not None:
            before_cancel()
        for consumer in consumers:
            consumer.channel.sink.consumer_cancelled(consumer.tag)
        queue.ready.clear()
        for exchange in list(self.exchanges.values()):
            if exchange.router.unbind_destination(queue):
                self._maybe_auto_delete(exchange)

    def purge_queue(self, name: str, owner: object) -> int:
        return self.get_queue(name, owner).purge()

    def apply_policies(self) -> None:
        """Policies changed: every queue and exchange takes the ones that now apply."""
        for queue in list(self.queues.values()):
            apply_to_queue(queue, self.policies.values(), self.operator_policies.values())
        for exchange in self.exchanges.values():
            apply_to_exchange(exchange, self.policies.values())

    # -- bindings -------------------------------------------------------------------------

    def _bindable(self, source: str, destination: Queue | Exchange) -> Exchange:
        """The source exchange of a binding; neither end may be the default exchange."""
        if source == "" or destination is self._default:
            raise ChannelError(ACCESS_REFUSED, "operation not permitted on the default exchange")
        return self.get_exchange(source)

    def bind(
        self,
        source: str,
        destination: Queue | Exchange,
        routing_key: str,
        arguments: Mapping[str, object] | None,
    ) -> None:
        exchange = self._bindable(source, destination)
        args = dict(arguments or {})
        exchange.router.validate_binding(routing_key, args)
        if exchange.router.bind(destination, routing_key, args):
            record = self._binding_record(exchange, destination, routing_key, args)
            if record is not None:
                try:
                    self._persist("a binding", lambda: self.definitions.add_binding(record))
                except BaseException:  # one state, not two: whatever failed, undo in memory
                    exchange.router.unbind(destination, routing_key, args)
                    raise

    def unbind(
        self,
        source: str,
        destination: Queue | Exchange,
        routing_key: str,
        arguments: Mapping[str, object] | None,
    ) -> None:
        exchange = self._bindable(source, destination)
        args = dict(arguments or {})
        record = self._binding_record(exchange, destination, routing_key, args)
        if record is not None:
            self._persist(
                "the removal of a binding", lambda: self.definitions.remove_binding(record)
            )
        if exchange.router.unbind(destination, routing_key, args):
            self._maybe_auto_delete(exchange)

    def _binding_record(
        self,
        source: Exchange,
        destination: Queue | Exchange,
        routing_key: str,
        args: dict[str, object],
    ) -> BindingDefinition | None:
        """A binding is durable when both of its ends are."""
        if not source.durable or not destination.durable:
            return None
        if isinstance(destination, Queue) and destination.exclusive_owner is not None:
            return None
        return BindingDefinition(
            self.name,
            source.name,
            destination.name,
            isinstance(destination, Queue),
            routing_key,
            args,
        )

    # -- recovery -------------------------------------------------------------------------

    def restore(self, definitions: Definitions) -> list[Queue]:
        """Recreate durable exchanges, queues and bindings after a restart."""
        for x in definitions.exchanges:
            if x.vhost == self.name and x.name not in self.exchanges:
                router_class = EXCHANGE_TYPES.get(x.type)
                if router_class is None and x.type != DELAYED_TYPE:
                    continue
                try:
                    router = (
                        router_class()
                        if router_class is not None
                        else delayed_router(x.name, dict(x.arguments))
                    )
                except ChannelError:
                    continue
                exchange = Exchange(
                    x.name,
                    router,
                    durable=True,
                    auto_delete=x.auto_delete,
                    internal=x.internal,
                    arguments=dict(x.arguments),
                    type_name=x.type,
                )
                self.exchanges[x.name] = exchange
                attach_delayed(self, exchange, fresh=False)
                apply_to_exchange(exchange, self.policies.values())
        queues = []
        for q in definitions.queues:
            if q.vhost == self.name and q.name not in self.queues:
                queues.append(self._add_queue(q.name, True, None, q.auto_delete, dict(q.arguments)))
        for b in definitions.bindings:
            if b.vhost != self.name:
                continue
            source = self.exchanges.get(b.source)
            destination: Queue | Exchange | None = (
                self.queues.get(b.destination)
                if b.destination_is_queue
                else self.exchanges.get(b.destination)
            )
            if source is not None and destination is not None:
                source.router.bind(destination, b.routing_key, dict(b.arguments))
        return queues

    # -- publishing -----------------------------------------------------------------------

    def publish_targets(self, exchange: Exchange, message: Message) -> tuple[Message, list[Queue]]:
        """The queues a published message reaches, honouring CC and BCC (BCC is removed)."""
        headers = message.headers
        if not headers or ("CC" not in headers and "BCC" not in headers):
            return message, self.route(exchange, message)
        for name in ("CC", "BCC"):
            value = headers.get(name)
            if value is not None and not isinstance(value, list):
                raise ChannelError(
                    PRECONDITION_FAILED,
                    f'invalid message: {{unacceptable_type_in_header,"{name}",'
                    f"{table_type_name(value)}}}",
                )
        keys = [
            message.routing_key,
            *header_keys(headers.get("CC")),
            *header_keys(headers.get("BCC")),
        ]
        if "BCC" in headers:
            properties = BasicProperties.decode(message.properties_raw)
            properties.headers = {k: v for k, v in headers.items() if k != "BCC"}
            message = message.with_properties(properties)
            message.bcc = header_keys(headers.get("BCC"))
        return message, self.route(exchange, message, keys)

    def route(
        self, exchange: Exchange, message: Message, keys: list[str] | None = None
    ) -> list[Queue]:
        """Every queue the message reaches, each once, following exchange-to-exchange
        bindings and, when nothing matched, alternate exchanges."""
        if keys is None:
            if exchange is self._default:
                queue = self.queues.get(message.routing_key)
                return [queue] if queue is not None else []
            if not exchange.arguments and exchange.alternate is None:
                destinations = exchange.router.route(
                    message.routing_key,
                    message.headers if exchange.router.name == "headers" else None,
                )
                if all(isinstance(d, Queue) for d in destinations):
                    return list(destinations)  # type: ignore[arg-type]
            keys = [message.routing_key]
        queues: dict[Queue, None] = {}
        seen = {exchange}
        pending = [exchange]
        while pending:
            source = pending.pop(0)
            matched = False
            for key in keys:
                if source is self._default:
                    queue = self.queues.get(key)
                    if queue is not None:
                        queues[queue] = None
                        matched = True
                    continue
                headers = message.headers if source.router.name == "headers" else None
                for destination in source.router.route(key, headers):
                    matched = True
                    if isinstance(destination, Queue):
                        queues[destination] = None
                    elif isinstance(destination, Exchange) and destination not in seen:
                        seen.add(destination)
                        pending.append(destination)
            if not matched:
                # As in RabbitMQ, every exchange on the route that routes nowhere hands the
                # message to its own alternate exchange.
                name = source.alternate
                alternate = self.exchanges.get(name) if name is not None else None
                if alternate is not None and alternate not in seen:
                    seen.add(alternate)
                    pending.append(alternate)
        return list(queues)

    # -- dead-lettering -------------------------------------------------------------------

    def _dead_letter(self, queue: Queue, message: Message, reason: str) -> None:
        """Republish a discarded message to the queue's dead-letter exchange with x-death."""
        options = queue.options
        name = options.dead_letter_exchange
        exchange = self.exchanges.get(name) if name is not None else None
        if exchange is None:
            return  # RabbitMQ drops the message when the DLX does not exist
        dead = dead_letter(
            message,
            queue.name,
            reason,
            exchange.name,
            options.dead_letter_routing_key,
            self.clock.time(),
            self.compat.last_death_headers,
        )
        for target in self.route(exchange, dead.message, dead.keys):
            if dead.may_enter(target.name):
                target.publish(dead.message)


def _inequivalent(arg: str, what: str, received: str, current: str) -> ChannelError:
    return ChannelError(
        PRECONDITION_FAILED,
        f"inequivalent arg '{arg}' for {what}: received {received} but current is {current}",
    )


def _check_args(
    keys: tuple[str, ...], received: Mapping[str, object], current: Mapping[str, object], what: str
) -> None:
    for key in keys:
        new, old = received.get(key), current.get(key)
        if new != old and not (key == "x-queue-type" and _both_classic(new, old)):
            raise _inequivalent(key, what, *_describe_pair(new, old))


def _both_classic(received: object, current: object) -> bool:
    """A queue made without x-queue-type is classic: naming that type is equivalent (and
    the reverse), as in RabbitMQ; any other type must match exactly."""
    return received in (None, "classic", b"classic") and current in (None, "classic", b"classic")
