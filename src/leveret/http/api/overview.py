"""/api/overview, /api/cluster-name and /api/extensions.

The overview's totals cover the vhosts the caller may see; the node, its listeners and its
contexts are shown to monitoring users only, as RabbitMQ does. ``rabbitmq_version`` and
``product_version`` are Leveret's version; ``management_version`` names the RabbitMQ
management API whose shapes Leveret serves.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from leveret.broker.admin import totals
from leveret.broker.admin.definitions import RABBIT_VERSION
from leveret.broker.stats import CHANNEL_GROUPS
from leveret.http.api.nodes import contexts, exchange_types
from leveret.http.auth import caller, require_administrator, visible_vhosts
from leveret.http.body import json_object, require_keys, text
from leveret.http.keys import NODE
from leveret.http.lists import item_response
from leveret.version import __version__

PRODUCT_NAME = "Leveret"

routes = web.RouteTableDef()


def message_totals_json(found: totals.MessageTotals) -> dict[str, Any]:
    """``messages``, ``messages_ready``, ``messages_unacknowledged`` and their details."""
    body: dict[str, Any] = {}
    for name, value in found.counts().items():
        body[name] = value
        body[f"{name}_details"] = {"rate": round(found.rates.get(name, 0.0), 1)}
    return body


@routes.get("/api/overview")
async def overview(request: web.Request) -> web.Response:
    node = request.app[NODE]
    who = caller(request)
    vhosts = visible_vhosts(request)
    objects = totals.object_totals(node, vhosts, None if who.is_monitoring else who.name)
    object_totals: dict[str, int] = {
        "channels": objects.channels,
        "connections": objects.connections,
        "exchanges": objects.exchanges,
        "queues": objects.queues,
    }
    body: dict[str, Any] = {
        "management_version": RABBIT_VERSION,
        "rates_mode": "basic",
        "exchange_types": exchange_types(),
        "product_version": __version__,
        "product_name": PRODUCT_NAME,
        "rabbitmq_version": __version__,
        "cluster_name": node.cluster_name,
        "disable_stats": False,
        "message_stats": totals.message_stats(node, vhosts).to_json(CHANNEL_GROUPS),
        "queue_totals": message_totals_json(totals.message_totals(node, vhosts)),
        "object_totals": object_totals,
        "statistics_db_event_queue": 0,
    }
    if who.is_monitoring:
        object_totals["consumers"] = objects.consumers
        body["node"] = node.node_name
        body["listeners"] = [
            {
                "node": node.node_name,
                "protocol": listener.protocol,
                "ip_address": listener.ip_address,
                "port": listener.port,
            }
            for listener in node.listeners()
        ]
        body["contexts"] = contexts(node)
    return item_response(request, body)


@routes.get("/api/cluster-name")
async def get_cluster_name(request: web.Request) -> web.Response:
    return web.json_response({"name": request.app[NODE].cluster_name})


@routes.put("/api/cluster-name")
async def put_cluster_name(request: web.Request) -> web.Response:
    require_administrator(request)
    body = await json_object(request)
    require_keys(body, "name")
    request.app[NODE].access.set_cluster_name(text(body, "name"))
    return web.Response(status=204)


@routes.get("/api/extensions")
async def extensions(request: web.Request) -> web.Response:
    # RabbitMQ lists its UI plugins' scripts here; Leveret's UI has none.
    return web.json_response([])
