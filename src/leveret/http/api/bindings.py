"""/api/bindings: list, add (answering with the new binding's Location) and delete bindings
from an exchange to a queue (``/e/{source}/q/{queue}``) or to an exchange
(``/e/{source}/e/{destination}``), each named by its properties key."""

from __future__ import annotations

import urllib.parse

from aiohttp import web

from leveret.broker.admin import bindings as binding_admin
from leveret.http.keys import NODE
from leveret.http.lists import list_response
from leveret.http.shapes import binding_json
from leveret.http.translate import (
    acting_grant,
    direct_errors,
    listing_vhost,
    object_response,
    path_vhost,
    read_body,
    table_field,
    target_vhost,
    text,
    visible_vhosts,
)

routes = web.RouteTableDef()

# The path's one-letter destination kinds.
KINDS = {"q": binding_admin.QUEUE, "e": binding_admin.EXCHANGE}
BETWEEN = "/api/bindings/{vhost}/e/{source}/{kind:[qe]}/{destination}"


@routes.get("/api/bindings")
async def list_all(request: web.Request) -> web.Response:
    node = request.app[NODE]
    items = [
        binding_json(info)
        for vhost in visible_vhosts(request)
        for info in binding_admin.list_bindings(node, vhost)
    ]
    return list_response(request, items)


@routes.get("/api/bindings/{vhost}")
async def list_in_vhost(request: web.Request) -> web.Response:
    vhost = path_vhost(request)
    found = binding_admin.list_bindings(request.app[NODE], vhost)
    return list_response(request, [binding_json(info) for info in found])


@routes.get(BETWEEN)
async def list_between(request: web.Request) -> web.Response:
    vhost = listing_vhost(request)
    if vhost is None:
        return list_response(request, [])
    match = request.match_info
    found = binding_admin.bindings_between(
        request.app[NODE], vhost, match["source"], match["destination"], KINDS[match["kind"]]
    )
    return list_response(request, [binding_json(info) for info in found])


@routes.post(BETWEEN)
async def add(request: web.Request) -> web.Response:
    """201 with a Location relative to this path: the destination and the properties key,
    each quoted as one path segment (RabbitMQ's form)."""
    vhost = target_vhost(request)
    body = await read_body(request)
    routing_key = text(body, "routing_key")
    arguments = table_field(body, "arguments")
    match = request.match_info
    grant = acting_grant(request, vhost)
    with direct_errors():
        key = binding_admin.add_binding(
            request.app[NODE],
            vhost,
            match["source"],
            match["destination"],
            KINDS[match["kind"]],
            routing_key,
            arguments,
            grant=grant,
        )
    location = f"{_segment(match['destination'])}/{_segment(key)}"
    return web.Response(status=201, headers={"Location": location})


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="~")


@routes.get(BETWEEN + "/{props}")
async def show(request: web.Request) -> web.Response:
    vhost = path_vhost(request)
    match = request.match_info
    found = binding_admin.get_binding(
        request.app[NODE],
        vhost,
        match["source"],
        match["destination"],
        KINDS[match["kind"]],
        match["props"],
    )
    return object_response(request, binding_json(found))


@routes.delete(BETWEEN + "/{props}")
async def delete(request: web.Request) -> web.Response:
    vhost = path_vhost(request)
    match = request.match_info
    grant = acting_grant(request, vhost)
    with direct_errors():
        binding_admin.delete_binding(
            request.app[NODE],
            vhost,
            match["source"],
            match["destination"],
            KINDS[match["kind"]],
            match["props"],
            grant=grant,
        )
    return web.Response(status=204)
