"""An exchange: a name, flags, and a routing table of its type."""

from __future__ import annotations

from typing import Any, Protocol

from leveret.broker.exchange_types import ExchangeType
from leveret.broker.message import Message
from leveret.broker.stats import MessageStats


class Delayer(Protocol):
    """Holds a delayed exchange's messages until due (broker/delayed.py)."""

    @property
    def count(self) -> int: ...

    def hold(self, message: Message) -> int:
        """0: not delayed, route it now; 1: held; 2: held and written (confirm after sync)."""
        ...


class Exchange:
    __slots__ = (
        "__weakref__",
        "alternate",
        "arguments",
        "auto_delete",
        "delayed",
        "durable",
        "internal",
        "name",
        "policy",
        "router",
        "stats",
        "type_name",
    )

    def __init__(
        self,
        name: str,
        router: ExchangeType,
        *,
        durable: bool = True,
        auto_delete: bool = False,
        internal: bool = False,
        arguments: dict[str, object] | None = None,
        type_name: str | None = None,
    ):
        self.name = name
        self.router = router
        # A delayed exchange's type is x-delayed-message; it routes as its router's type.
        self.type_name = type_name or router.name
        self.delayed: Delayer | None = None
        # publish_in (from publishers) and publish_out (routed on to queues), for the API.
        self.stats = MessageStats()
        self.durable = durable
        self.auto_delete = auto_delete
        self.internal = internal
        self.arguments = arguments or {}
        # The alternate exchange (argument first, then policy) and the applied policy.
        alternate = self.arguments.get("alternate-exchange")
        self.alternate: str | None = alternate if isinstance(alternate, str) else None
        self.policy: Any = None

    def __repr__(self) -> str:
        return f"<Exchange {self.name!r} {self.type_name}>"
