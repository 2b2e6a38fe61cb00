"""Storage interfaces the broker sees. Records are plain data; no broker objects here."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class StoreFailure(Exception):
    """A durable store could not write (disk full, I/O error). The change was not made:
    what the store held before the call is what it holds after."""


@dataclass(frozen=True)
class ExchangeDefinition:
    vhost: str
    name: str
    type: str
    auto_delete: bool = False
    internal: bool = False
    arguments: dict[str, object] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class QueueDefinition:
    vhost: str
    name: str
    auto_delete: bool = False
    arguments: dict[str, object] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class BindingDefinition:
    vhost: str
    source: str
    destination: str
    destination_is_queue: bool
    routing_key: str
    arguments: dict[str, object] = field(default_factory=dict)


@dataclass
class Definitions:
    exchanges: list[ExchangeDefinition] = field(default_factory=list)
    queues: list[QueueDefinition] = field(default_factory=list)
    bindings: list[BindingDefinition] = field(default_factory=list)


class DefinitionStore(Protocol):
    """Durable exchanges, queues and bindings. A call returns once the change is durable,
    or raises ``StoreFailure`` having changed nothing."""

    def load(self) -> Definitions: ...

    def add_exchange(self, exchange: ExchangeDefinition) -> None: ...

    def remove_exchange(self, vhost: str, name: str) -> None:
        """Also removes bindings from or to it."""
        ...

    def add_queue(self, queue: QueueDefinition) -> None: ...

    def remove_queue(self, vhost: str, name: str) -> None:
        """Also removes bindings to it."""
        ...

    def add_binding(self, binding: BindingDefinition) -> None: ...

    def remove_binding(self, binding: BindingDefinition) -> None: ...

    def load_access(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Users, vhosts, permissions and limits: (kind, key, JSON-able value) records that
        ``leveret.broker.access`` reads and writes; the store does not interpret them."""
        ...

    def write_access(
        self,
        puts: Sequence[tuple[str, str, dict[str, Any]]],
        deletes: Sequence[tuple[str, str]],
    ) -> None:
        """Store ``puts`` and remove ``deletes`` ((kind, key) pairs) in one atomic change."""
        ...

    def close(self) -> None: ...


class StoredMessage(Protocol):
    """A record read back from a message log."""

    seq: int
    persistent: bool
    exchange: str
    routing_key: str
    properties_raw: bytes
    body: bytes
    expires: float


class MessageLog(Protocol):
    """The log of one durable queue, as the queue uses it. ``segment`` values are opaque."""

    def append(
        self,
        seq: int,
        persistent: bool,
        exchange: str,
        routing_key: str,
        properties: bytes,
        body: bytes,
        expires: float = 0.0,
    ) -> tuple[Any, int]: ...

    def settle(self, segment: Any, first: int, last: int, count: int = 1) -> None: ...

    def mark_delivered(self, segment: Any, seq: int) -> None: ...

    def read(
        self, segment: Any, offsets: array[int], start: int, limit: int
    ) -> Sequence[StoredMessage]: ...

    def relocate(
        self, segment: Any, entries: list[tuple[int, bool, bool, Any, float]]
    ) -> list[Any]:
        """Copy a sparse segment's live messages forward: (seq, persistent, delivered, msg,
        expires)."""
        ...

    on_sparse: Callable[[Any], None] | None


class QueueLogs(Protocol):
    """Where durable queues keep their messages."""

    def open_queue(self, vhost: str, queue: str) -> MessageLog: ...

    def delete_queue(self, vhost: str, queue: str) -> None: ...
