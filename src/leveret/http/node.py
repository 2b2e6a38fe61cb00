"""What the HTTP layer needs of the running node, beyond what broker/admin already names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from leveret.broker.admin.base import AdminNode


@dataclass(frozen=True)
class Listener:
    """One open port, as RabbitMQ lists it in /api/overview ``listeners``."""

    protocol: str  # "amqp", "amqp/ssl", "http", "http/prometheus"
    ip_address: str
    port: int


class ManagedNode(AdminNode, Protocol):
    """The running broker as the management API sees it (server.node.Node satisfies it)."""

    @property
    def cluster_name(self) -> str: ...
    @property
    def node_name(self) -> str: ...
    @property
    def started_at(self) -> float:
        """time.time() when the node started (uptime, ``start_time``)."""
        ...

    def listeners(self) -> list[Listener]: ...

    def settings(self) -> Mapping[str, object]:
        """The node's effective settings (``leveret serve --print-config``'s view)."""
        ...
