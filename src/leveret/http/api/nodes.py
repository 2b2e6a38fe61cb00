"""/api/nodes and /api/nodes/{name}: the one node, with RabbitMQ's resource fields.

Fields that describe Erlang internals (processes, run queue, garbage collection, mnesia,
io counters, net_ticktime) are left out rather than faked; the rest carry Leveret's own
figures: memory is the process's resident set (RabbitMQ's "rss" strategy), the memory limit
is the high watermark, disk is measured where the data directory is.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from leveret.broker.exchange_types import EXCHANGE_TYPES
from leveret.http.auth import require_monitoring
from leveret.http.errors import not_found
from leveret.http.keys import NODE
from leveret.http.lists import item_response, list_response
from leveret.http.node import ManagedNode
from leveret.version import __version__

# RabbitMQ's descriptions of the exchange types, where Leveret has the same type.
_EXCHANGE_DESCRIPTIONS = {
    "direct": "AMQP direct exchange, as per the AMQP specification",
    "fanout": "AMQP fanout exchange, as per the AMQP specification",
    "headers": "AMQP headers exchange, as per the AMQP specification",
    "topic": "AMQP topic exchange, as per the AMQP specification",
}
_MECHANISMS = {
    "PLAIN": "SASL PLAIN authentication mechanism",
    "AMQPLAIN": "QPid AMQPLAIN mechanism",
    "EXTERNAL": "SASL EXTERNAL authentication mechanism (client certificates)",
}
# The RabbitMQ plugins whose HTTP services a listener of that protocol stands for, so that
# tools which look for "rabbitmq_management" in enabled_plugins find it.
_PLUGINS = {"http": "rabbitmq_management", "http/prometheus": "rabbitmq_prometheus"}
_CONTEXTS = {"http": "Leveret Management", "http/prometheus": "Leveret Prometheus"}

routes = web.RouteTableDef()


def exchange_types() -> list[dict[str, Any]]:
    return [
        {"name": name, "description": _EXCHANGE_DESCRIPTIONS.get(name, ""), "enabled": True}
        for name in sorted(EXCHANGE_TYPES)
    ]


def contexts(node: ManagedNode) -> list[dict[str, Any]]:
    """The HTTP services, as RabbitMQ's ``contexts`` (its port is a string there)."""
    found = []
    for listener in node.listeners():
        if listener.protocol in _CONTEXTS:
            context: dict[str, Any] = {
                "node": node.node_name,
                "description": _CONTEXTS[listener.protocol],
                "path": "/",
                "ip": listener.ip_address,
                "port": str(listener.port),
            }
            if listener.protocol != "http":
                context["protocol"] = listener.protocol
            found.append(context)
    return found


def _auth_mechanisms(node: ManagedNode) -> list[dict[str, Any]]:
    configured = node.settings().get("auth_mechanisms", ())
    enabled = {str(name).upper() for name in configured} if isinstance(configured, tuple) else set()
    return [
        {"name": name, "description": description, "enabled": name in enabled}
        for name, description in _MECHANISMS.items()
    ]


def node_json(node: ManagedNode) -> dict[str, Any]:
    resources = node.resources()
    protocols = {listener.protocol for listener in node.listeners()}
    data_dir = node.settings().get("data_dir")
    found: dict[str, Any] = {
        "name": node.node_name,
        "type": "disc",
        "running": True,
        "os_pid": str(resources.os_pid),
        "uptime": int((time.time() - node.started_at) * 1000),
        "processors": resources.processors,
        "rates_mode": "basic",
        "mem_used": resources.mem_used,
        "mem_limit": resources.mem_limit,
        "mem_alarm": resources.mem_alarm,
        "mem_calculation_strategy": "rss",
        "disk_free": resources.disk_free,
        "disk_free_limit": resources.disk_free_limit,
        "disk_free_alarm": resources.disk_free_alarm,
        "fd_used": resources.fd_used,
        "fd_total": resources.fd_total,
        "sockets_used": resources.sockets_used,
        # Leveret has no socket limit of its own: the open-file limit bounds sockets.
        "sockets_total": resources.fd_total,
        "partitions": [],
        "cluster_links": [],
        "exchange_types": exchange_types(),
        "auth_mechanisms": _auth_mechanisms(node),
        "applications": [
            {"name": "leveret", "description": "Leveret AMQP 0-9-1 broker", "version": __version__}
        ],
        "contexts": [
            {k: v for k, v in context.items() if k != "node"} for context in contexts(node)
        ],
        "enabled_plugins": sorted(_PLUGINS[p] for p in protocols if p in _PLUGINS),
    }
    if data_dir is not None:
        found["db_dir"] = str(data_dir)
    return found


@routes.get("/api/nodes")
async def list_nodes(request: web.Request) -> web.Response:
    require_monitoring(request)
    return list_response(request, [node_json(request.app[NODE])])


@routes.get("/api/nodes/{name}")
async def get_node(request: web.Request) -> web.Response:
    require_monitoring(request)
    node = request.app[NODE]
    if request.match_info["name"] != node.node_name:
        raise not_found()
    return item_response(request, node_json(node))
