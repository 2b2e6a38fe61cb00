"""In-memory definition store: what a broker without a data directory uses."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from leveret.store.base import (
    BindingDefinition,
    Definitions,
    ExchangeDefinition,
    QueueDefinition,
)


def _binding_key(b: BindingDefinition) -> tuple[object, ...]:
    return (
        b.vhost,
        b.source,
        b.destination,
        b.destination_is_queue,
        b.routing_key,
        repr(sorted(b.arguments.items())),
    )


class MemoryDefinitionStore:
    def __init__(self) -> None:
        self.exchanges: dict[tuple[str, str], ExchangeDefinition] = {}
        self.queues: dict[tuple[str, str], QueueDefinition] = {}
        self.bindings: dict[tuple[object, ...], BindingDefinition] = {}
        self.access: dict[tuple[str, str], dict[str, Any]] = {}

    def load(self) -> Definitions:
        return Definitions(
            list(self.exchanges.values()), list(self.queues.values()), list(self.bindings.values())
        )

    def add_exchange(self, exchange: ExchangeDefinition) -> None:
        self.exchanges[(exchange.vhost, exchange.name)] = exchange

    def remove_exchange(self, vhost: str, name: str) -> None:
        self.exchanges.pop((vhost, name), None)
        self._drop_bindings(
            lambda b: (
                b.vhost == vhost
                and (b.source == name or (b.destination == name and not b.destination_is_queue))
            )
        )

    def add_queue(self, queue: QueueDefinition) -> None:
        self.queues[(queue.vhost, queue.name)] = queue

    def remove_queue(self, vhost: str, name: str) -> None:
        self.queues.pop((vhost, name), None)
        self._drop_bindings(
            lambda b: b.vhost == vhost and b.destination == name and b.destination_is_queue
        )

    def add_binding(self, binding: BindingDefinition) -> None:
        self.bindings[_binding_key(binding)] = binding

    def remove_binding(self, binding: BindingDefinition) -> None:
        self.bindings.pop(_binding_key(binding), None)

    def _drop_bindings(self, doomed: Callable[[BindingDefinition], bool]) -> None:
        for key, binding in list(self.bindings.items()):
            if doomed(binding):
                del self.bindings[key]

    def load_access(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [(kind, key, dict(value)) for (kind, key), value in self.access.items()]

    def write_access(
        self,
        puts: Sequence[tuple[str, str, dict[str, Any]]],
        deletes: Sequence[tuple[str, str]],
    ) -> None:
        for kind, key, value in puts:
            self.access[(kind, key)] = dict(value)
        for pair in deletes:
            self.access.pop(pair, None)

    def close(self) -> None:
        pass
