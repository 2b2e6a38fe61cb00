"""What the HTTP layer needs of the running node, beyond what broker/admin already names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from leveret.broker.admin.base import AdminNode
from leveret.broker.node_counters import NodeCounters


@dataclass(frozen=True)
class Listener:
    """One open port, as RabbitMQ lists it in /api/overview ``listeners``."""

    protocol: str  # "amqp", "amqp/ssl", "http", "http/prometheus"
    ip_address: str
    port: int


@dataclass(frozen=True)
class NodeResources:
    """The node's use of the machine, measured when asked (for /api/nodes and Prometheus)."""

    resident_memory: int  # bytes: the process's resident set size (0 where unknown)
    memory_limit: int  # bytes: the memory high watermark (0: the memory alarm is off)
    disk_free: int | None  # bytes free where the data directory is (None: in memory)
    disk_free_limit: int  # bytes: below this, the disk alarm blocks publishers
    open_fds: int | None  # file descriptors open now (None where unknown)
    max_fds: int | None  # the process's limit (None where unknown)


class ManagedNode(AdminNode, Protocol):
    """The running broker as the management API sees it (server.node.Node satisfies it)."""

    @property
    def cluster_name(self) -> str: ...
    @property
    def node_name(self) -> str: ...
    @property
    def cluster_id(self) -> str:
        """A random identity the node keeps across restarts (with a data directory), as
        RabbitMQ's ``rabbitmq_cluster_permanent_id``."""
        ...

    @property
    def counters(self) -> NodeCounters:
        """Churn counters and message sizes since the node started."""
        ...

    @property
    def started_at(self) -> float:
        """time.time() when the node started (uptime, ``start_time``)."""
        ...

    def listeners(self) -> list[Listener]: ...

    def settings(self) -> Mapping[str, object]:
        """The node's effective settings (``leveret serve --print-config``'s view)."""
        ...

    def resources(self) -> NodeResources:
        """Memory, disk and file descriptors, measured now (cheap: no walk over queues)."""
        ...
