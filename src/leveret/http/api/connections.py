"""/api/connections: list, show and close client connections, and list their channels.

As in RabbitMQ, a user with only the ``management`` (or ``policymaker``) tag sees and closes
its own connections; ``monitoring`` users see everyone's, administrators close anyone's.
"""

from __future__ import annotations

from aiohttp import web

from leveret.broker.admin import channels as channel_admin
from leveret.broker.admin import connections as connection_admin
from leveret.broker.admin.connections import ConnectionInfo
from leveret.http.auth import caller
from leveret.http.errors import ApiError
from leveret.http.keys import NODE
from leveret.http.lists import list_response
from leveret.http.shapes import channel_json, connection_json
from leveret.http.translate import node_name, object_response, path_vhost

routes = web.RouteTableDef()


def visible(request: web.Request, info: ConnectionInfo) -> bool:
    """Opened connections (a vhost chosen) the caller may see."""
    if info.vhost is None:
        return False
    who = caller(request)
    return who.is_monitoring or info.user == who.name


def listed(request: web.Request, vhost: str | None) -> web.Response:
    name = node_name(request)
    infos = connection_admin.list_connections(request.app[NODE], vhost)
    return list_response(
        request, [connection_json(info, name) for info in infos if visible(request, info)]
    )


@routes.get("/api/connections")
async def list_all(request: web.Request) -> web.Response:
    return listed(request, None)


@routes.get("/api/vhosts/{vhost}/connections")
async def list_in_vhost(request: web.Request) -> web.Response:
    return listed(request, path_vhost(request))


def _find(request: web.Request) -> ConnectionInfo:
    info = connection_admin.get_connection(request.app[NODE], request.match_info["name"])
    if info.vhost is None:
        raise ApiError(404, "Not Found", "Object Not Found")
    if not visible(request, info):
        raise ApiError(401, "Not_Authorized", "not_authorized")
    return info


@routes.get("/api/connections/{name}")
async def show(request: web.Request) -> web.Response:
    return object_response(request, connection_json(_find(request), node_name(request)))


@routes.delete("/api/connections/{name}")
async def close(request: web.Request) -> web.Response:
    """Close with 320 CONNECTION_FORCED; the X-Reason header is the reply text."""
    info = _find(request)
    who = caller(request)
    if not who.is_administrator and info.user != who.name:
        raise ApiError(401, "Not_Authorized", "not_authorized")
    reason = request.headers.get("X-Reason") or None
    connection_admin.close_connection(request.app[NODE], info.name, reason)
    return web.Response(status=204)


@routes.get("/api/connections/{name}/channels")
async def channels(request: web.Request) -> web.Response:
    info = _find(request)
    name = node_name(request)
    found = channel_admin.connection_channels(request.app[NODE], info.name)
    return list_response(request, [channel_json(channel, name) for channel in found])
