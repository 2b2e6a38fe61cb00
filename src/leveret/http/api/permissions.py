"""/api/permissions and /api/topic-permissions: administrators only.

PUT answers 201 when it creates and 204 when it replaces; an unknown vhost or user is a 400
``vhost_or_user_not_found`` and a pattern that does not compile a 400 ``invalid_regexp``,
as in RabbitMQ. A user's topic permissions in a vhost are one resource (one per exchange
inside it): GET lists them, DELETE clears them all.
"""

from __future__ import annotations

import re

from aiohttp import web

from leveret.http.api.vhosts import permission_json, topic_permission_json
from leveret.http.auth import require_administrator
from leveret.http.body import json_object, require_keys, text
from leveret.http.errors import bad_request, not_found
from leveret.http.keys import NODE
from leveret.http.lists import item_response, list_response

routes = web.RouteTableDef()


def _names(request: web.Request) -> tuple[str, str]:
    return request.match_info["vhost"], request.match_info["user"]


def _patterns(body: dict[str, object], *keys: str) -> list[str]:
    require_keys(body, *keys)
    patterns = [text(body, key) for key in keys]
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as error:
            raise bad_request(["invalid_regexp", pattern, str(error)]) from None
    return patterns


def _known_pair(request: web.Request) -> tuple[str, str]:
    vhost, user = _names(request)
    access = request.app[NODE].access
    if vhost not in access.vhosts or user not in access.users:
        raise bad_request("vhost_or_user_not_found")
    return vhost, user


# -- permissions -------------------------------------------------------------------------


@routes.get("/api/permissions")
async def list_permissions(request: web.Request) -> web.Response:
    require_administrator(request)
    permissions = request.app[NODE].access.permissions.values()
    ordered = sorted(permissions, key=lambda p: (p.vhost, p.user))
    return list_response(request, [permission_json(p) for p in ordered])


@routes.get("/api/permissions/{vhost}/{user}")
async def get_permission(request: web.Request) -> web.Response:
    require_administrator(request)
    vhost, user = _names(request)
    found = request.app[NODE].access.permissions.get((user, vhost))
    if found is None:
        raise not_found()
    return item_response(request, permission_json(found))


@routes.put("/api/permissions/{vhost}/{user}")
async def put_permission(request: web.Request) -> web.Response:
    require_administrator(request)
    body = await json_object(request)
    configure, write, read = _patterns(body, "configure", "write", "read")
    vhost, user = _known_pair(request)
    access = request.app[NODE].access
    existed = (user, vhost) in access.permissions
    access.set_permissions(user, vhost, configure, write, read)
    return web.Response(status=204 if existed else 201)


@routes.delete("/api/permissions/{vhost}/{user}")
async def delete_permission(request: web.Request) -> web.Response:
    require_administrator(request)
    vhost, user = _names(request)
    access = request.app[NODE].access
    if (user, vhost) not in access.permissions:
        raise not_found()
    access.clear_permissions(user, vhost)
    return web.Response(status=204)


# -- topic permissions -------------------------------------------------------------------


@routes.get("/api/topic-permissions")
async def list_topic_permissions(request: web.Request) -> web.Response:
    require_administrator(request)
    permissions = request.app[NODE].access.list_topic_permissions()
    return list_response(request, [topic_permission_json(p) for p in permissions])


@routes.get("/api/topic-permissions/{vhost}/{user}")
async def get_topic_permissions(request: web.Request) -> web.Response:
    require_administrator(request)
    vhost, user = _names(request)
    found = request.app[NODE].access.list_topic_permissions(vhost=vhost, user=user)
    if not found:
        raise not_found()
    return list_response(request, [topic_permission_json(p) for p in found])


@routes.put("/api/topic-permissions/{vhost}/{user}")
async def put_topic_permissions(request: web.Request) -> web.Response:
    require_administrator(request)
    body = await json_object(request)
    require_keys(body, "exchange")
    exchange = text(body, "exchange")
    write, read = _patterns(body, "write", "read")
    vhost, user = _known_pair(request)
    access = request.app[NODE].access
    existed = bool(access.list_topic_permissions(vhost=vhost, user=user))
    access.set_topic_permissions(user, vhost, exchange, write, read)
    return web.Response(status=204 if existed else 201)


@routes.delete("/api/topic-permissions/{vhost}/{user}")
async def delete_topic_permissions(request: web.Request) -> web.Response:
    require_administrator(request)
    vhost, user = _names(request)
    access = request.app[NODE].access
    if not access.list_topic_permissions(vhost=vhost, user=user):
        raise not_found()
    access.clear_topic_permissions(user, vhost)
    return web.Response(status=204)
