"""/api/users: users, their permissions and topic permissions; administrators only.

A PUT replaces the user as RabbitMQ 3.10 does: ``tags`` is required (a comma-separated
string or a list), the password is given as ``password`` or as ``password_hash`` (with
``hashing_algorithm``), never both; a PUT with neither leaves the user without a password.
Its permissions and limits stay, unless the body brings ``limits``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aiohttp import web

from leveret.broker.access import User
from leveret.broker.access.passwords import ALGORITHMS, SHA256, hash_password
from leveret.http.api.limits import check_user_limits
from leveret.http.api.vhosts import permission_json, topic_permission_json
from leveret.http.auth import require_administrator
from leveret.http.body import json_object, require_keys, tags, text
from leveret.http.errors import bad_request, not_found
from leveret.http.keys import NODE
from leveret.http.lists import item_response, list_response
from leveret.http.node import ManagedNode

routes = web.RouteTableDef()


def user_json(node: ManagedNode, user: User) -> dict[str, Any]:
    return {
        "name": user.name,
        # RabbitMQ writes "" for a user without a password.
        "password_hash": user.password_hash or "",
        "hashing_algorithm": user.hashing_algorithm,
        "tags": list(user.tags),
        "limits": dict(node.access.user_limits.get(user.name, {})),
    }


def _existing(request: web.Request) -> User:
    user = request.app[NODE].access.users.get(request.match_info["user"])
    if user is None:
        raise not_found()
    return user


@routes.get("/api/users")
async def list_users(request: web.Request) -> web.Response:
    require_administrator(request)
    node = request.app[NODE]
    return list_response(request, [user_json(node, u) for u in node.access.list_users()])


# Registered before /api/users/{user}, which would otherwise take these names.
@routes.get("/api/users/without-permissions")
async def users_without_permissions(request: web.Request) -> web.Response:
    require_administrator(request)
    node = request.app[NODE]
    holders = {user for user, _ in node.access.permissions}
    return list_response(
        request,
        [user_json(node, u) for u in node.access.list_users() if u.name not in holders],
    )


@routes.post("/api/users/bulk-delete")
async def bulk_delete(request: web.Request) -> web.Response:
    require_administrator(request)
    access = request.app[NODE].access
    body = await json_object(request)
    require_keys(body, "users")
    names = body["users"]
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise bad_request("users must be a list of user names")
    # In order, stopping at the first unknown name, as RabbitMQ does.
    for name in names:
        if name not in access.users:
            raise bad_request(["no_such_user", name])
        access.delete_user(name)
    return web.Response(status=204)


@routes.get("/api/users/{user}")
async def get_user(request: web.Request) -> web.Response:
    require_administrator(request)
    return item_response(request, user_json(request.app[NODE], _existing(request)))


def _password_hash(body: dict[str, Any], algorithm: str) -> str | None:
    """The hash to store: made from ``password``, or ``password_hash`` as given (checked
    to be base64, as RabbitMQ does); None for neither (or an empty hash)."""
    if "password" in body and "password_hash" in body:
        raise bad_request("both_password_and_password_hash_are_provided")
    if "password" in body:
        return hash_password(text(body, "password"), algorithm)
    given = text(body, "password_hash", "")
    if not given:
        return None
    try:
        base64.b64decode(given, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request(["not_base64", given]) from None
    return given


@routes.put("/api/users/{user}")
async def put_user(request: web.Request) -> web.Response:
    require_administrator(request)
    access = request.app[NODE].access
    name = request.match_info["user"]
    body = await json_object(request)
    if "tags" not in body:
        raise bad_request("tags_not_present")
    user_tags = tags(body["tags"])
    algorithm = text(body, "hashing_algorithm", SHA256)
    if algorithm not in ALGORITHMS:
        # RabbitMQ stores any name, and the user then cannot log in; refused here.
        raise bad_request(f"unsupported hashing_algorithm {algorithm}")
    password_hash = _password_hash(body, algorithm)
    limits = body.get("limits")
    if limits is not None:
        if not isinstance(limits, dict):
            raise bad_request("limits must be a JSON object")
        check_user_limits(limits)
    existed = name in access.users
    access.put_user(name, password_hash, algorithm, user_tags)
    if limits is not None:
        access.clear_user_limits(name)
        access.set_user_limits(name, limits)
    return web.Response(status=204 if existed else 201)


@routes.delete("/api/users/{user}")
async def delete_user(request: web.Request) -> web.Response:
    require_administrator(request)
    request.app[NODE].access.delete_user(_existing(request).name)
    return web.Response(status=204)


@routes.get("/api/users/{user}/permissions")
async def user_permissions(request: web.Request) -> web.Response:
    require_administrator(request)
    access = request.app[NODE].access
    name = _existing(request).name
    return list_response(request, [permission_json(p) for p in access.list_user_permissions(name)])


@routes.get("/api/users/{user}/topic-permissions")
async def user_topic_permissions(request: web.Request) -> web.Response:
    require_administrator(request)
    access = request.app[NODE].access
    name = _existing(request).name
    return list_response(
        request, [topic_permission_json(p) for p in access.list_topic_permissions(user=name)]
    )
