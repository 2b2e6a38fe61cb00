"""Access administration for the embedded broker (a mixin of ``leveret.Broker``).

``broker.access(lambda a: a.add_user("app", "secret"))`` runs an admin function of
``leveret.broker.access.AccessControl`` on the broker's loop, where every broker object
lives, and returns its result (or raises its ``AccessError``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

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
