"""The node's status, settings and health checks (``leveret ctl status``, ``environment``,
``check_running``, ``check_alarms``...), as data; the CLI words them as rabbitmqctl and
rabbitmq-diagnostics do.

A check returns what it looked at (the alarms, the listeners, the vhosts not running) and
the CLI decides pass or fail, so the same data serves a JSON formatter and a text one.
``check_port_connectivity`` connects from the client side, as rabbitmq-diagnostics does:
only the client can tell whether the ports are reachable from where it runs.
"""

from __future__ import annotations

import os
import platform
import resource
import shutil
import time
from collections.abc import Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Protocol

from leveret.broker.admin.definitions import PRODUCT_NAME, RABBIT_VERSION
from leveret.broker.admin.listing import ListingNode
from leveret.version import __version__


class ListenerInfo(Protocol):
    """One open port of the node (http/node.py's Listener has these)."""

    @property
    def protocol(self) -> str: ...
    @property
    def ip_address(self) -> str: ...
    @property
    def port(self) -> int: ...


class MemoryFigures(Protocol):
    """What the memory alarm is judged on, in bytes (server/monitor.py's MemoryUsage)."""

    @property
    def watermark(self) -> int: ...
    @property
    def baseline(self) -> int: ...
    @property
    def queues(self) -> int: ...
    @property
    def unacked(self) -> int: ...
    @property
    def connections(self) -> int: ...
    @property
    def rss(self) -> int: ...
    @property
    def accounted(self) -> int: ...


class ControlNode(ListingNode, Protocol):
    """Everything ``leveret ctl`` reads of the running node (server/node.py's Node)."""

    @property
    def cluster_name(self) -> str: ...
    @property
    def started_at(self) -> float: ...

    def listeners(self) -> Sequence[ListenerInfo]: ...
    def settings(self) -> Mapping[str, object]: ...
    def memory_usage(self) -> MemoryFigures: ...


# rabbitmq-diagnostics' words for what a listener is for.
PURPOSES = {
    "amqp": "AMQP 0-9-1",
    "amqp/ssl": "AMQP 0-9-1 over TLS",
    "http": "HTTP API",
    "http/prometheus": "Prometheus exporter API over HTTP",
}


def listener_rows(node: ControlNode) -> list[dict[str, object]]:
    return [
        {
            "node": node.node_name,
            "protocol": listener.protocol,
            "interface": listener.ip_address,
            "port": listener.port,
            "purpose": PURPOSES.get(listener.protocol, listener.protocol),
        }
        for listener in node.listeners()
    ]


def alarm_rows(node: ControlNode) -> list[dict[str, object]]:
    """The alarms in force; every one is local (a node is its own cluster)."""
    return [
        {"node": node.node_name, "resource": name, "type": "resource_limit"}
        for name in sorted(node.alarms)
    ]


def settings_json(node: ControlNode) -> dict[str, object]:
    """The node's effective settings (secrets left out by the node), JSON-able."""
    return {name: _plain(value) for name, value in sorted(node.settings().items())}


def _plain(value: object) -> object:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    name = getattr(value, "name", None)  # a compatibility profile, say
    return name if isinstance(name, str) else str(value)


def _data_dir(node: ControlNode) -> Path | None:
    data_dir = node.settings().get("data_dir")
    return Path(str(data_dir)) if data_dir is not None else None


def _open_files() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


def status(node: ControlNode) -> dict[str, object]:
    """``status``: RabbitMQ's status keys where Leveret has the same thing, plus
    ``product_*`` and ``python_version`` (where RabbitMQ gives its Erlang version)."""
    settings = node.settings()
    memory = node.memory_usage()
    watermark = settings.get("memory_high_watermark")
    data_dir = _data_dir(node)
    disk_free: int | None = None
    if data_dir is not None:
        try:
            disk_free = shutil.disk_usage(data_dir).free
        except OSError:
            disk_free = None
    vhosts = node.vhosts
    return {
        "node_name": node.node_name,
        "cluster_name": node.cluster_name,
        "pid": os.getpid(),
        "os": platform.system(),
        "uptime": int(time.time() - node.started_at),
        "is_under_maintenance": False,
        "rabbitmq_version": RABBIT_VERSION,
        "product_name": PRODUCT_NAME,
        "product_version": __version__,
        "python_version": f"{platform.python_implementation()} {platform.python_version()}",
        "data_directory": str(data_dir) if data_dir is not None else None,
        "alarms": alarm_rows(node),
        "memory": {
            "queues": memory.queues,
            "unacked": memory.unacked,
            "connections": memory.connections,
            "baseline": memory.baseline,
            "total": {"rss": memory.rss, "accounted": memory.accounted},
        },
        "vm_memory_calculation_strategy": "accounted",
        "vm_memory_high_watermark_setting": (
            {"relative": watermark}
            if isinstance(watermark, float) and watermark < 1
            else {"absolute": watermark}
        ),
        "vm_memory_high_watermark_limit": memory.watermark,
        "file_descriptors": {
            "total_used": _open_files(),
            "total_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        },
        "disk_free_limit": settings.get("disk_free_limit"),
        "disk_free": disk_free,
        "totals": {
            "virtual_host_count": len(vhosts),
            "connection_count": sum(1 for conn in list(node.connections) if not conn.closed),
            "queue_count": sum(len(vhost.queues) for vhost in vhosts.values()),
        },
        "listeners": listener_rows(node),
    }


def failed_vhosts(node: ControlNode) -> list[str]:
    """Vhosts that exist but do not run: created in the access model with no runtime."""
    return sorted(name for name in node.access.vhosts if name not in node.vhosts)
