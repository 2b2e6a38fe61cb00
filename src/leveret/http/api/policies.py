"""/api/policies and /api/operator-policies.

As RabbitMQ 3.10: any management user lists the policies of the vhosts it may see; one
policy is read, set and deleted by ``policymaker`` (and ``administrator``) users, an
operator policy by administrators only. ``PUT`` answers 201 for a new policy, 204 for a
replaced one. Validation failures are 400 with RabbitMQ's words.
"""

from __future__ import annotations

from aiohttp import web

from leveret.broker.admin import policies as admin_policies
from leveret.broker.policies import PolicyError
from leveret.http.auth import caller, require_vhost, visible_vhosts
from leveret.http.body import json_object, require_keys
from leveret.http.errors import ApiError, bad_request, not_found
from leveret.http.keys import NODE
from leveret.http.lists import item_response, list_response

routes = web.RouteTableDef()


def _operator(request: web.Request) -> bool:
    """True on the operator-policies paths."""
    return request.path.startswith("/api/operator-policies")


def _vhost(request: web.Request) -> str:
    vhost = request.match_info["vhost"]
    if vhost not in request.app[NODE].vhosts:
        raise not_found()
    require_vhost(request, vhost)
    return vhost


def _object(request: web.Request) -> tuple[bool, str]:
    """One policy's path: the vhost must be visible, the caller a policymaker (an
    administrator for operator policies). Returns (operator, vhost)."""
    operator = _operator(request)
    vhost = _vhost(request)
    who = caller(request)
    if operator and not who.is_administrator:
        raise ApiError(401, "Not administrator user", "not_authorised")
    if not who.is_policymaker:
        raise ApiError(401, "User not authorised to access object", "not_authorised")
    return operator, vhost


async def _list_all(request: web.Request) -> web.Response:
    operator = _operator(request)
    visible = set(visible_vhosts(request))
    found = admin_policies.list_policies(request.app[NODE], operator=operator)
    return list_response(request, [p.to_json() for p in found if p.vhost in visible])


async def _list_vhost(request: web.Request) -> web.Response:
    operator = _operator(request)
    found = admin_policies.list_policies(request.app[NODE], _vhost(request), operator=operator)
    return list_response(request, [p.to_json() for p in found])


async def _get(request: web.Request) -> web.Response:
    operator, vhost = _object(request)
    policy = admin_policies.get_policy(
        request.app[NODE], vhost, request.match_info["name"], operator=operator
    )
    return item_response(request, policy.to_json())


async def _put(request: web.Request) -> web.Response:
    operator, vhost = _object(request)
    name = request.match_info["name"]
    node = request.app[NODE]
    body = await json_object(request)
    require_keys(body, "pattern", "definition")
    existed = name in (
        node.vhosts[vhost].operator_policies if operator else node.vhosts[vhost].policies
    )
    try:
        admin_policies.set_policy(
            node,
            vhost,
            name,
            body["pattern"],
            body["definition"],
            priority=body.get("priority", 0),
            apply_to=body.get("apply-to", "all"),
            operator=operator,
        )
    except PolicyError as error:
        raise bad_request(str(error)) from None
    return web.Response(status=204 if existed else 201)


async def _delete(request: web.Request) -> web.Response:
    operator, vhost = _object(request)
    admin_policies.clear_policy(
        request.app[NODE], vhost, request.match_info["name"], operator=operator
    )
    return web.Response(status=204)


for _base in ("/api/policies", "/api/operator-policies"):
    routes.get(_base)(_list_all)
    routes.get(_base + "/{vhost}")(_list_vhost)
    routes.get(_base + "/{vhost}/{name}")(_get)
    routes.put(_base + "/{vhost}/{name}")(_put)
    routes.delete(_base + "/{vhost}/{name}")(_delete)
