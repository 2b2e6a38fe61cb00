"""Access administration for the embedded broker (a mixin of ``leveret.Broker``).

``broker.access(lambda a: a.add_user("app", "secret"))`` runs an admin function of
``leveret.broker.access.AccessControl`` on the broker's loop, where every broker object
lives, and returns its result (or raises its ``AccessError``).
``broker.export_definitions()`` and ``broker.import_definitions(data)`` move the broker's
topology as RabbitMQ's definitions JSON (``leveret.broker.admin.definitions``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from leveret.broker.admin import definitions

if TYPE_CHECKING:
    from leveret.broker.access import AccessControl
    from leveret.server.node import Node

T = TypeVar("T")


class _Running(Protocol):
    @property
    def node(self) -> Node: ...

    def _call(self, fn: Callable[[], T]) -> T: ...


class AccessAdmin:
    def access(self: _Running, fn: Callable[[AccessControl], T]) -> T:
        """Run ``fn(access_control)`` on the broker's loop and return what it returns."""
        return self._call(lambda: fn(self.node.access))

    def export_definitions(self: _Running, vhost: str | None = None) -> dict[str, Any]:
        """The broker's definitions (one vhost's with ``vhost``), as RabbitMQ writes them."""
        return self._call(lambda: definitions.export_definitions(self.node, vhost))

    def import_definitions(self: _Running, data: dict[str, Any]) -> list[str]:
        """Import a definitions document; returns the warnings (what was skipped)."""
        return self._call(lambda: definitions.import_definitions(self.node, data))
