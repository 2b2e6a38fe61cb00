"""/api/vhosts, /api/vhosts/{vhost}, and a vhost's permissions and topic permissions.

As RabbitMQ 3.10: every management user lists the vhosts it may see, but reading, creating
and deleting one vhost is for administrators. The user who creates a vhost gets full
permissions in it. A PUT on an existing vhost replaces its description and tags and keeps
its default queue type. 3.10 reads the default queue type from ``defaultqueuetype``; the
``default_queue_type`` key of later versions is accepted too.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from leveret.broker.access import Permission, TopicPermission, VhostInfo
from leveret.broker.admin import totals
from leveret.broker.admin import vhosts as admin_vhosts
from leveret.broker.stats import CHANNEL_GROUPS
from leveret.http.api.overview import message_totals_json
from leveret.http.auth import require_administrator, visible_vhosts
from leveret.http.body import json_object, optional_text, tags, text
from leveret.http.errors import bad_request, not_found
from leveret.http.keys import NODE
from leveret.http.lists import item_response, list_response
from leveret.http.node import ManagedNode

QUEUE_TYPES = ("classic", "quorum", "stream")

routes = web.RouteTableDef()


def vhost_json(
    node: ManagedNode, info: VhostInfo, messages: totals.MessageTotals | None = None
) -> dict[str, Any]:
    """One vhost; ``messages`` when its totals were counted already (the list counts
    them for every vhost at once)."""
    metadata: dict[str, Any] = {"description": info.description, "tags": list(info.tags)}
    if info.default_queue_type is not None:
        metadata["default_queue_type"] = info.default_queue_type
    body: dict[str, Any] = {
        "name": info.name,
        "description": info.description,
        "tags": list(info.tags),
        # RabbitMQ writes its "unset" atom here.
        "default_queue_type": info.default_queue_type or "undefined",
        "metadata": metadata,
        "tracing": False,
        "cluster_state": {node.node_name: "running"},
    }
    if messages is None:
        messages = totals.message_totals(node, [info.name])
    body.update(message_totals_json(messages))
    body["message_stats"] = totals.message_stats(node, [info.name]).to_json(CHANNEL_GROUPS)
    return body


def permission_json(permission: Permission) -> dict[str, str]:
    return {
        "user": permission.user,
        "vhost": permission.vhost,
        "configure": permission.configure,
        "write": permission.write,
        "read": permission.read,
    }


def topic_permission_json(permission: TopicPermission) -> dict[str, str]:
    return {
        "user": permission.user,
        "vhost": permission.vhost,
        "exchange": permission.exchange,
        "write": permission.write,
        "read": permission.read,
    }


def _existing(request: web.Request) -> VhostInfo:
    info = request.app[NODE].access.vhosts.get(request.match_info["vhost"])
    if info is None:
        raise not_found()
    return info


@routes.get("/api/vhosts")
async def list_vhosts(request: web.Request) -> web.Response:
    node = request.app[NODE]
    names = visible_vhosts(request)
    counted = totals.message_totals_by_vhost(node, names)
    return list_response(
        request,
        [vhost_json(node, node.access.vhosts[name], counted.get(name)) for name in names],
    )


@routes.get("/api/vhosts/{vhost}")
async def get_vhost(request: web.Request) -> web.Response:
    require_administrator(request)
    return item_response(request, vhost_json(request.app[NODE], _existing(request)))


def _default_queue_type(body: dict[str, Any]) -> str | None:
    found = optional_text(body, "defaultqueuetype")
    if found is None:
        found = optional_text(body, "default_queue_type")
    if found is not None and found not in QUEUE_TYPES:
        raise bad_request("invalid_queue_type")
    return found


@routes.put("/api/vhosts/{vhost}")
async def put_vhost(request: web.Request) -> web.Response:
    who = require_administrator(request)
    node = request.app[NODE]
    name = request.match_info["vhost"]
    body = await json_object(request)
    description = text(body, "description", "")
    vhost_tags = tags(body.get("tags"))
    queue_type = _default_queue_type(body)
    if body.get("tracing") not in (None, False):
        raise bad_request("tracing is not supported")
    if name in node.access.vhosts:
        node.access.update_vhost(name, description, vhost_tags)
        return web.Response(status=204)
    admin_vhosts.add_vhost(
        node,
        name,
        user=who.name,
        description=description,
        tags=vhost_tags,
        default_queue_type=queue_type,
    )
    return web.Response(status=201)


@routes.delete("/api/vhosts/{vhost}")
async def delete_vhost(request: web.Request) -> web.Response:
    require_administrator(request)
    request.app[NODE].access.delete_vhost(_existing(request).name)
    return web.Response(status=204)


@routes.get("/api/vhosts/{vhost}/permissions")
async def vhost_permissions(request: web.Request) -> web.Response:
    require_administrator(request)
    access = request.app[NODE].access
    name = _existing(request).name
    return list_response(request, [permission_json(p) for p in access.list_permissions(name)])


@routes.get("/api/vhosts/{vhost}/topic-permissions")
async def vhost_topic_permissions(request: web.Request) -> web.Response:
    require_administrator(request)
    access = request.app[NODE].access
    name = _existing(request).name
    return list_response(
        request,
        [topic_permission_json(p) for p in access.list_topic_permissions(vhost=name)],
    )
