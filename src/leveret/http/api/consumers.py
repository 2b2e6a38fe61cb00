"""/api/consumers: every consumer of the queues in the vhosts the caller may see."""

from __future__ import annotations

from aiohttp import web

from leveret.broker.admin import channels as channel_admin
from leveret.http.keys import NODE
from leveret.http.lists import list_response
from leveret.http.shapes import consumer_json
from leveret.http.translate import node_name, path_vhost, visible_vhosts

routes = web.RouteTableDef()


@routes.get("/api/consumers")
async def list_all(request: web.Request) -> web.Response:
    node, name = request.app[NODE], node_name(request)
    items = [
        consumer_json(info, name)
        for vhost in visible_vhosts(request)
        for info in channel_admin.list_consumers(node, vhost)
    ]
    return list_response(request, items)


@routes.get("/api/consumers/{vhost}")
async def list_in_vhost(request: web.Request) -> web.Response:
    vhost = path_vhost(request)
    name = node_name(request)
    found = channel_admin.list_consumers(request.app[NODE], vhost)
    return list_response(request, [consumer_json(info, name) for info in found])
