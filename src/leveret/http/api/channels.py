"""/api/channels: the channels of client connections (a management user sees its own)."""

from __future__ import annotations

from aiohttp import web

from leveret.broker.admin import channels as channel_admin
from leveret.broker.admin.channels import ChannelInfo
from leveret.http.auth import caller
from leveret.http.errors import ApiError
from leveret.http.keys import NODE
from leveret.http.lists import list_response
from leveret.http.shapes import channel_json
from leveret.http.translate import node_name, object_response, path_vhost

routes = web.RouteTableDef()


def visible(request: web.Request, info: ChannelInfo) -> bool:
    who = caller(request)
    return info.vhost is not None and (who.is_monitoring or info.ref.user == who.name)


def listed(request: web.Request, vhost: str | None) -> web.Response:
    name = node_name(request)
    infos = channel_admin.list_channels(request.app[NODE], vhost)
    return list_response(
        request, [channel_json(info, name) for info in infos if visible(request, info)]
    )


@routes.get("/api/channels")
async def list_all(request: web.Request) -> web.Response:
    return listed(request, None)


@routes.get("/api/vhosts/{vhost}/channels")
async def list_in_vhost(request: web.Request) -> web.Response:
    return listed(request, path_vhost(request))


@routes.get("/api/channels/{name}")
async def show(request: web.Request) -> web.Response:
    info = channel_admin.get_channel(request.app[NODE], request.match_info["name"])
    if not visible(request, info):
        raise ApiError(401, "Not_Authorized", "not_authorized")
    return object_response(request, channel_json(info, node_name(request), detailed=True))
