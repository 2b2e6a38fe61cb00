"""The direct exchange: a destination receives messages whose routing key equals its binding key."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import ClassVar

from leveret.broker.exchange_types.base import BindingKey, DestinationSet, ExchangeType

__all__ = ["DirectExchange"]


class DirectExchange(ExchangeType):
    name: ClassVar[str] = "direct"

    def __init__(self) -> None:
        super().__init__()
        self._by_key: dict[str, DestinationSet] = {}

    def route(
        self, routing_key: str, headers: Mapping[str, object] | None = None
    ) -> tuple[Hashable, ...]:
        entry = self._by_key.get(routing_key)
        return entry.members if entry is not None else ()

    def _added(
        self,
        key: BindingKey,
        destination: Hashable,
        routing_key: str,
        arguments: Mapping[str, object],
    ) -> None:
        entry = self._by_key.get(routing_key)
        if entry is None:
            entry = self._by_key[routing_key] = DestinationSet()
        entry.add(destination)

    def _removed(
        self,
        key: BindingKey,
        destination: Hashable,
        routing_key: str,
        arguments: Mapping[str, object],
    ) -> None:
        entry = self._by_key[routing_key]
        entry.discard(destination)
        if not entry:
            del self._by_key[routing_key]
