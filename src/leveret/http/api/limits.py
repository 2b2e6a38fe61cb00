"""/api/vhost-limits and /api/user-limits: read by any management user (vhost limits of
the vhosts it may see), set and cleared by administrators, one limit at a time:
``PUT .../{name}`` with ``{"value": n}`` (negative: no limit), ``DELETE .../{name}``.

Validation messages are RabbitMQ's, values printed as Erlang terms.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from leveret.broker.access.model import USER_LIMITS, VHOST_LIMITS
from leveret.http.auth import require_administrator, require_vhost, visible_vhosts
from leveret.http.body import erlang_term, json_object, require_keys
from leveret.http.errors import ApiError, bad_request, not_found
from leveret.http.keys import NODE
from leveret.http.lists import list_response

routes = web.RouteTableDef()


def _is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _vhost_limit_error(name: str, value: object) -> str | None:
    if name not in VHOST_LIMITS:
        terms = f'[{{<<"{name}">>,{erlang_term(value)}}}]'
        return f"Validation failed\n\nUnrecognised terms {terms} in limits\n"
    if not _is_integer(value):
        return (
            f"Validation failed\n\n{name} should be a number, actually was {erlang_term(value)}\n"
        )
    return None


def check_user_limits(limits: Mapping[str, Any]) -> None:
    """400 with RabbitMQ's words for an unknown user limit or a value that is not an
    integer."""
    for name, value in limits.items():
        if name not in USER_LIMITS:
            raise bad_request(
                f'Unrecognised terms [{{<<"{name}">>,{erlang_term(value)}}}] in user-limits'
            )
        if not _is_integer(value):
            raise bad_request(f"{name} should be a number, actually was {erlang_term(value)}")


async def _limit_value(request: web.Request) -> object:
    body = await json_object(request)
    require_keys(body, "value")
    return body["value"]


# -- vhost limits ------------------------------------------------------------------------


def _vhost_limits_json(request: web.Request, names: list[str]) -> list[dict[str, Any]]:
    limits = request.app[NODE].access.vhost_limits
    return [{"vhost": name, "value": dict(limits[name])} for name in names if limits.get(name)]


@routes.get("/api/vhost-limits")
async def list_vhost_limits(request: web.Request) -> web.Response:
    return list_response(request, _vhost_limits_json(request, visible_vhosts(request)))


@routes.get("/api/vhost-limits/{vhost}")
async def get_vhost_limits(request: web.Request) -> web.Response:
    vhost = request.match_info["vhost"]
    require_vhost(request, vhost)
    return list_response(request, _vhost_limits_json(request, [vhost]))


def _known_vhost(request: web.Request) -> str:
    vhost = request.match_info["vhost"]
    if vhost not in request.app[NODE].access.vhosts:
        raise ApiError(404, "vhost_not_found", "not_found")
    return vhost


@routes.put("/api/vhost-limits/{vhost}/{name}")
async def put_vhost_limit(request: web.Request) -> web.Response:
    require_administrator(request)
    vhost = _known_vhost(request)
    name = request.match_info["name"]
    value = await _limit_value(request)
    error = _vhost_limit_error(name, value)
    if error is not None:
        raise bad_request(error)
    request.app[NODE].access.set_vhost_limits(vhost, {name: value})
    return web.Response(status=204)


@routes.delete("/api/vhost-limits/{vhost}/{name}")
async def delete_vhost_limit(request: web.Request) -> web.Response:
    require_administrator(request)
    vhost = _known_vhost(request)
    # Clearing a limit that is not set (or not known) is no error, as in RabbitMQ.
    request.app[NODE].access.clear_vhost_limits(vhost, request.match_info["name"])
    return web.Response(status=204)


# -- user limits -------------------------------------------------------------------------


def _user_limits_json(request: web.Request, names: list[str]) -> list[dict[str, Any]]:
    limits = request.app[NODE].access.user_limits
    return [{"user": name, "value": dict(limits[name])} for name in names if limits.get(name)]


@routes.get("/api/user-limits")
async def list_user_limits(request: web.Request) -> web.Response:
    # As RabbitMQ 3.10: every management user reads every user's limits.
    names = sorted(request.app[NODE].access.users)
    return list_response(request, _user_limits_json(request, names))


@routes.get("/api/user-limits/{user}")
async def get_user_limits(request: web.Request) -> web.Response:
    user = request.match_info["user"]
    if user not in request.app[NODE].access.users:
        raise not_found()
    return list_response(request, _user_limits_json(request, [user]))


@routes.put("/api/user-limits/{user}/{name}")
async def put_user_limit(request: web.Request) -> web.Response:
    require_administrator(request)
    user = request.match_info["user"]
    name = request.match_info["name"]
    value = await _limit_value(request)
    access = request.app[NODE].access
    if user not in access.users:
        raise bad_request(["no_such_user", user])
    check_user_limits({name: value})
    access.set_user_limits(user, {name: value})
    return web.Response(status=204)


@routes.delete("/api/user-limits/{user}/{name}")
async def delete_user_limit(request: web.Request) -> web.Response:
    require_administrator(request)
    user = request.match_info["user"]
    access = request.app[NODE].access
    if user not in access.users:
        raise not_found()
    access.clear_user_limits(user, request.match_info["name"])
    return web.Response(status=204)
