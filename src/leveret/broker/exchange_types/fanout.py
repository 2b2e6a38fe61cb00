"""The fanout exchange: every bound destination receives every message."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import ClassVar

from leveret.broker.exchange_types.base import BindingKey, DestinationSet, ExchangeType

__all__ = ["FanoutExchange"]


class FanoutExchange(ExchangeType):
    name: ClassVar[str] = "fanout"

    def __init__(self) -> None:
        super().__init__()
        self._all = DestinationSet()

    def route(
        self, routing_key: str, headers: Mapping[str, object] | None = None
    ) -> tuple[Hashable, ...]:
        return self._all.members

    def _added(
        self,
        key: BindingKey,
        destination: Hashable,
        routing_key: str,
        arguments: Mapping[str, object],
    ) -> None:
        self._all.add(destination)

    def _removed(
        self,
        key: BindingKey,
        destination: Hashable,
        routing_key: str,
        arguments: Mapping[str, object],
    ) -> None:
        self._all.discard(destination)
