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
    """The node's resource figures as /api/nodes reports them, measured when asked."""

    mem_used: int  # bytes: the process's resident set (RabbitMQ's "rss" strategy)
    mem_limit: int  # the memory high watermark in bytes (0: the memory alarm is off)
    mem_alarm: bool
    disk_free: int  # bytes free where the data directory is
    disk_free_limit: int
    disk_free_alarm: bool
    fd_used: int
    fd_total: int  # the process's open-file limit
    sockets_used: int  # client connections (AMQP and AMQPS)
    processors: int
    os_pid: int


@dataclass(frozen=True)
class TLSFiles:
    """The certificate files a TLS listener serves (for the certificate-expiration check)."""

    listener: Listener
    certfile: str
    cacertfile: str | None


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
        """Memory, disk, file descriptors and sockets, measured now."""
        ...

    def tls_files(self) -> list[TLSFiles]:
        """The certificate files of each TLS listener (empty without TLS)."""
        ...
