"""The abstract exchange type: a registry of bindings plus a routing function.

A binding is identified, as in RabbitMQ, by ``(destination, routing_key, arguments)``:
binding the same destination with the same key but different arguments makes a second
binding.  Destinations are opaque hashable objects (the broker passes queues or
exchanges).  Subclasses keep whatever index makes ``route`` cheap and are told about
each new and each removed binding through ``_added`` / ``_removed``.
"""

from __future__ import annotations

import datetime
import decimal
from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterable, Iterator, Mapping
from typing import ClassVar

from leveret.amqp.table import Timestamp

__all__ = [
    "BindingKey",
    "DestinationSet",
    "ExchangeType",
    "freeze",
    "freeze_arguments",
    "type_class",
]

#: ``(destination, routing_key, frozen arguments)``
BindingKey = tuple[Hashable, str, Hashable]

_CLASS_BY_TYPE: dict[type, str] = {
    bool: "bool",
    int: "int",
    float: "float",
    str: "str",
    bytes: "bytes",
    bytearray: "bytes",
    memoryview: "bytes",
    type(None): "void",
    Timestamp: "timestamp",
    decimal.Decimal: "decimal",
    datetime.datetime: "timestamp",
    dict: "table",
    list: "array",
    tuple: "array",
}


def type_class(value: object) -> str:
    """The AMQP-ish kind of a field value, for comparisons that must not conflate kinds.

    Like RabbitMQ, all integer widths are one class and so are float/double, but a
    boolean is never equal to an integer and an integer never to a float (Python's
    ``True == 1 == 1.0`` notwithstanding); a decoded ``Timestamp`` is not an integer.
    """
    cls = _CLASS_BY_TYPE.get(type(value))
    if cls is not None:
        return cls
    # Subclasses (e.g. a codec's ShortInt(int)); bool before int since bool <: int.
    for base, name in (
        (bool, "bool"),
        (Timestamp, "timestamp"),
        (int, "int"),
        (float, "float"),
        (str, "str"),
        ((bytes, bytearray, memoryview), "bytes"),
        (decimal.Decimal, "decimal"),
        (datetime.datetime, "timestamp"),
        (Mapping, "table"),
        ((list, tuple), "array"),
    ):
        if isinstance(value, base):
            return name
    return type(value).__qualname__


def freeze(value: object) -> Hashable:
    """A hashable canonical form of a field value (tables and arrays included).

    Two values freeze equal iff they are of the same :func:`type_class` and equal;
    table key order does not matter.
    """
    cls = type_class(value)
    if cls == "table":
        assert isinstance(value, Mapping)
        return (cls, frozenset((k, freeze(v)) for k, v in value.items()))
    if cls == "array":
        assert isinstance(value, list | tuple)
        return (cls, tuple(freeze(v) for v in value))
    if isinstance(value, bytearray | memoryview):
        return (cls, bytes(value))
    if isinstance(value, set | frozenset):
        return (cls, frozenset(freeze(v) for v in value))
    try:
        hash(value)
    except TypeError:
        return (cls, "repr", repr(value))
    return (cls, value)


def freeze_arguments(arguments: Mapping[str, object]) -> Hashable:
    """The identity of a binding's arguments table."""
    if not arguments:
        return frozenset()
    return frozenset((k, freeze(v)) for k, v in arguments.items())


class ExchangeType(ABC):
    """Bindings of one exchange and the routing rule of its type."""

    name: ClassVar[str]

    def __init__(self) -> None:
        # All bindings, in binding order: key -> (destination, routing_key, arguments).
        self._bindings: dict[BindingKey, tuple[Hashable, str, Mapping[str, object]]] = {}
        # destination -> its binding keys (ordered set), for unbind_destination.
        self._by_destination: dict[Hashable, dict[BindingKey, None]] = {}

    # -- registry ---------------------------------------------------------------------

    def bind(
        self, destination: Hashable, routing_key: str, arguments: Mapping[str, object]
    ) -> bool:
        """Add a binding; True if it is new (False if an identical one exists)."""
        key: BindingKey = (destination, routing_key, freeze_arguments(arguments))
        if key in self._bindings:
            return False
        self.validate_binding(routing_key, arguments)
        args = dict(arguments)
        self._added(key, destination, routing_key, args)
        self._bindings[key] = (destination, routing_key, args)
        self._by_destination.setdefault(destination, {})[key] = None
        return True

    def unbind(
        self, destination: Hashable, routing_key: str, arguments: Mapping[str, object]
    ) -> bool:
        """Remove a binding; True if it existed."""
        key: BindingKey = (destination, routing_key, freeze_arguments(arguments))
        if key not in self._bindings:
            return False
        self._remove(key)
        return True

    def unbind_destination(self, destination: Hashable) -> int:
        """Remove every binding to ``destination``; returns how many there were."""
        keys = self._by_destination.get(destination)
        if not keys:
            return 0
        n = len(keys)
        for key in list(keys):
            self._remove(key)
        return n

    def _remove(self, key: BindingKey) -> None:
        destination, routing_key, args = self._bindings.pop(key)
        keys = self._by_destination[destination]
        del keys[key]
        if not keys:
            del self._by_destination[destination]
        self._removed(key, destination, routing_key, args)

    def bindings(self) -> Iterator[tuple[Hashable, str, Mapping[str, object]]]:
        """Every binding as ``(destination, routing_key, arguments)``, in binding order."""
        return iter(list(self._bindings.values()))

    def binding_count(self) -> int:
        return len(self._bindings)

    def has_bindings_to(self, destination: Hashable) -> bool:
        return destination in self._by_destination

    # -- per type ---------------------------------------------------------------------

    @abstractmethod
    def route(self, routing_key: str, headers: Mapping[str, object] | None) -> Iterable[Hashable]:
        """Each matching destination once, in a deterministic order."""

    @classmethod  # noqa: B027 - deliberately a no-op unless a type has rules
    def validate_binding(cls, routing_key: str, arguments: Mapping[str, object]) -> None:
        """Raise ``ChannelError(PRECONDITION_FAILED, ...)`` if the binding is invalid."""

    @abstractmethod
    def _added(
        self,
        key: BindingKey,
        destination: Hashable,
        routing_key: str,
        arguments: Mapping[str, object],
    ) -> None:
        """Index a new binding (called before it is recorded)."""

    @abstractmethod
    def _removed(
        self,
        key: BindingKey,
        destination: Hashable,
        routing_key: str,
        arguments: Mapping[str, object],
    ) -> None:
        """Drop a removed binding from the index (called after it is forgotten)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} bindings={len(self._bindings)}>"


class DestinationSet:
    """Destinations reached through one index entry, reference-counted per binding.

    Several bindings can lead to the same destination through the same entry (e.g. the
    same key with different arguments); the destination is routed to once and stays
    until its last such binding goes.  ``members`` is a cached tuple in first-binding
    order, ready to hand out from ``route``.
    """

    __slots__ = ("_counts", "members")

    def __init__(self) -> None:
        self._counts: dict[Hashable, int] = {}
        self.members: tuple[Hashable, ...] = ()

    def add(self, destination: Hashable) -> None:
        n = self._counts.get(destination, 0)
        self._counts[destination] = n + 1
        if n == 0:
            self.members = (*self.members, destination)

    def discard(self, destination: Hashable) -> None:
        n = self._counts[destination]
        if n > 1:
            self._counts[destination] = n - 1
        else:
            del self._counts[destination]
            self.members = tuple(self._counts)

    def __bool__(self) -> bool:
        return bool(self._counts)

    def __len__(self) -> int:
        return len(self._counts)
