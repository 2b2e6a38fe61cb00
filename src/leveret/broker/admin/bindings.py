"""Bindings: list, add and remove (``rabbitmqctl list_bindings``, the management API's
/api/bindings), each named by RabbitMQ's "properties key".

A binding is identified by its source, destination, routing key and arguments. The
management API names the last two with one path segment, the properties key: ``~`` for an
empty routing key without arguments, the routing key (form-encoded, ``~`` escaped)
otherwise, followed by ``~`` and a short hash of the arguments when there are any. The hash
is Leveret's own (RabbitMQ hashes the Erlang term); clients only read it back from the
listing or a Location header, so its format is what matters: six URL-safe base64
characters.
"""

from __future__ import annotations

import base64
import hashlib
import urllib.parse
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from leveret.amqp.errors import NOT_FOUND, ChannelError
from leveret.broker.access import Grant
from leveret.broker.admin.base import AdminNode, NotFound, get_vhost
from leveret.broker.admin.exchanges import actual_name
from leveret.broker.exchange import Exchange
from leveret.broker.queue import Queue
from leveret.broker.vhost import VirtualHost

QUEUE = "queue"
EXCHANGE = "exchange"


@dataclass(frozen=True)
class BindingInfo:
    vhost: str
    source: str
    destination: str
    destination_type: str  # "queue" or "exchange"
    routing_key: str
    arguments: dict[str, object]

    @property
    def properties_key(self) -> str:
        return properties_key(self.routing_key, self.arguments)


def properties_key(routing_key: str, arguments: Mapping[str, object]) -> str:
    """RabbitMQ's name of a binding between a given source and destination."""
    if not routing_key and not arguments:
        return "~"
    quoted = urllib.parse.quote_plus(routing_key, safe="").replace("~", "%7E")
    if not arguments:
        return quoted
    return f"{quoted}~{arguments_hash(arguments)}"


def arguments_hash(arguments: Mapping[str, object]) -> str:
    """Six URL-safe base64 characters (a 32-bit hash) of a binding's arguments; equal for
    tables that differ only in key order, as bindings are."""
    digest = hashlib.blake2b(_canonical(arguments).encode(), digest_size=4).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _canonical(value: object) -> str:
    """A stable text of an AMQP field value: its kind and contents, tables key-sorted."""
    if isinstance(value, Mapping):
        items = sorted((str(k), _canonical(v)) for k, v in value.items())
        return "{" + ",".join(f"{k!r}:{v}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_canonical(v) for v in value) + "]"
    if isinstance(value, bytes | bytearray | memoryview):
        return f"b:{bytes(value).hex()}"
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return f"i:{int(value)}"
    if isinstance(value, float | Decimal):
        return f"f:{value!r}"
    if isinstance(value, datetime):
        return f"t:{value.isoformat()}"
    return f"s:{value!r}"


def _destination_kind(destination: Hashable) -> str | None:
    if isinstance(destination, Queue):
        return QUEUE
    if isinstance(destination, Exchange):
        return EXCHANGE
    return None


def _sort_key(binding: BindingInfo) -> tuple[str, str, str, str, str, str]:
    # RabbitMQ's order (3.10 observed): by destination name, whatever its kind.
    return (
        binding.vhost,
        binding.source,
        binding.destination,
        binding.destination_type,
        binding.routing_key,
        binding.properties_key,
    )


def _default_bindings(vhost: VirtualHost, queues: Iterable[Queue]) -> list[BindingInfo]:
    """The default exchange's implicit binding of each queue, keyed by its name."""
    return [BindingInfo(vhost.name, "", q.name, QUEUE, q.name, {}) for q in queues]


def _source_bindings(vhost: VirtualHost, exchange: Exchange) -> list[BindingInfo]:
    if exchange.name == "":
        return _default_bindings(vhost, vhost.queues.values())
    found = []
    for destination, routing_key, arguments in exchange.router.bindings():
        kind = _destination_kind(destination)
        if kind is not None:
            name = destination.name  # type: ignore[attr-defined]
            found.append(
                BindingInfo(vhost.name, exchange.name, name, kind, routing_key, dict(arguments))
            )
    return found


def list_bindings(node: AdminNode, vhost: str | None = None) -> list[BindingInfo]:
    """Every binding (of ``vhost`` if given), the default exchange's implicit ones
    included, as RabbitMQ lists them."""
    names = sorted(node.vhosts) if vhost is None else [get_vhost(node, vhost).name]
    found: list[BindingInfo] = []
    for name in names:
        runtime = node.vhosts[name]
        for exchange in runtime.exchanges.values():
            found.extend(_source_bindings(runtime, exchange))
    return sorted(found, key=_sort_key)


def exchange_bindings(
    node: AdminNode, vhost: str, exchange: str, *, as_source: bool
) -> list[BindingInfo]:
    """The bindings whose source (``as_source``) or destination is ``exchange``; none for
    an exchange that does not exist (RabbitMQ answers an empty list)."""
    runtime = get_vhost(node, vhost)
    name = actual_name(exchange)
    found = runtime.exchanges.get(name)
    if found is None:
        return []
    if as_source:
        bindings = _source_bindings(runtime, found)
    else:
        bindings = [
            binding
            for source in runtime.exchanges.values()
            if source.name and source.router.has_bindings_to(found)
            for binding in _source_bindings(runtime, source)
            if binding.destination_type == EXCHANGE and binding.destination == name
        ]
    return sorted(bindings, key=_sort_key)


def queue_bindings(node: AdminNode, vhost: str, queue: str) -> list[BindingInfo]:
    """The bindings of a queue, its implicit default-exchange binding first. As RabbitMQ,
    a name no queue has still gets that implicit binding (the vhost must exist)."""
    runtime = get_vhost(node, vhost)
    bindings = [BindingInfo(vhost, "", queue, QUEUE, queue, {})]
    found = runtime.queues.get(queue)
    if found is None:
        return bindings
    for source in runtime.exchanges.values():
        if source.name and source.router.has_bindings_to(found):
            bindings.extend(
                b
                for b in _source_bindings(runtime, source)
                if b.destination_type == QUEUE and b.destination == queue
            )
    return sorted(bindings, key=_sort_key)


def bindings_between(
    node: AdminNode, vhost: str, source: str, destination: str, destination_type: str
) -> list[BindingInfo]:
    """The bindings from ``source`` to ``destination``: empty when either is missing
    (as RabbitMQ answers), NotFound only for a missing vhost."""
    runtime = get_vhost(node, vhost)
    exchange = runtime.exchanges.get(actual_name(source))
    if exchange is None:
        return []
    return sorted(
        (
            b
            for b in _source_bindings(runtime, exchange)
            if b.destination_type == destination_type and b.destination == destination
        ),
        key=_sort_key,
    )


def get_binding(
    node: AdminNode,
    vhost: str,
    source: str,
    destination: str,
    destination_type: str,
    key: str,
) -> BindingInfo:
    """The binding whose properties key is ``key``; NotFound if there is none."""
    for binding in bindings_between(node, vhost, source, destination, destination_type):
        if binding.properties_key == key:
            return binding
    raise NotFound(f"no binding {key!r} from {source!r} to {destination!r}")


def _destination(runtime: VirtualHost, name: str, destination_type: str) -> Queue | Exchange:
    """The destination, checked for use without a connection (exclusive queues refuse);
    NOT_FOUND in RabbitMQ's words when it is missing."""
    if destination_type == QUEUE:
        return runtime.get_queue(name)
    exchange = runtime.exchanges.get(actual_name(name))
    if exchange is None:
        raise ChannelError(NOT_FOUND, f"no exchange '{name}' in vhost '{runtime.name}'")
    return exchange


def _check_binding(
    runtime: VirtualHost,
    grant: Grant | None,
    source: str,
    destination: Queue | Exchange,
    destination_type: str,
    routing_key: str,
) -> None:
    """RabbitMQ's order: write on the destination, read on the source, topic read."""
    if grant is None:
        return
    grant.check_write(destination_type, destination.name)
    grant.check_read(EXCHANGE, source)
    exchange = runtime.exchanges.get(source)
    if exchange is not None and exchange.type_name == "topic":
        grant.check_topic("read", source, routing_key)


def add_binding(
    node: AdminNode,
    vhost: str,
    source: str,
    destination: str,
    destination_type: str,
    routing_key: str = "",
    arguments: Mapping[str, object] | None = None,
    *,
    grant: Grant | None = None,
) -> str:
    """Bind as queue.bind / exchange.bind would; returns the binding's properties key
    (binding twice is harmless, as in AMQP). Raises the ChannelError the AMQP method
    would: NOT_FOUND for a missing end, ACCESS_REFUSED for the default exchange."""
    runtime = get_vhost(node, vhost)
    source = actual_name(source)
    if source:
        runtime.get_exchange(source)  # the source's NOT_FOUND comes first, as RabbitMQ's
    target = _destination(runtime, destination, destination_type)
    _check_binding(runtime, grant, source, target, destination_type, routing_key)
    args = dict(arguments or {})
    runtime.bind(source, target, routing_key, args)
    return properties_key(routing_key, args)


def delete_binding(
    node: AdminNode,
    vhost: str,
    source: str,
    destination: str,
    destination_type: str,
    key: str,
    *,
    grant: Grant | None = None,
) -> None:
    """Remove the binding whose properties key is ``key`` (NotFound if there is none)."""
    binding = get_binding(node, vhost, source, destination, destination_type, key)
    runtime = get_vhost(node, vhost)
    target = _destination(runtime, binding.destination, destination_type)
    _check_binding(runtime, grant, binding.source, target, destination_type, binding.routing_key)
    runtime.unbind(binding.source, target, binding.routing_key, binding.arguments)
