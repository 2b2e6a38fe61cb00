"""/api/exchanges: list, declare, delete, publish, and an exchange's bindings.

The default exchange, whose name is empty, is "amq.default" in paths.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from leveret.broker.admin import bindings as binding_admin
from leveret.broker.admin import exchanges as exchange_admin
from leveret.broker.admin import messages as message_admin
from leveret.http.auth import caller, visible_vhosts
from leveret.http.errors import ApiError
from leveret.http.keys import NODE
from leveret.http.lists import flag, list_response
from leveret.http.shapes import binding_json, exchange_json
from leveret.http.translate import (
    acting_grant,
    acting_vhost,
    boolean,
    channel_errors,
    direct_errors,
    listing_vhost,
    object_response,
    path_vhost,
    payload_from_json,
    properties_from_json,
    read_body,
    require_keys,
    short_string,
    table_field,
    target_vhost,
    text,
)

routes = web.RouteTableDef()

# How long a publish waits for its confirm (a persistent message's fsync) before the API
# answers 500, as RabbitMQ's does when its internal channel times out.
CONFIRM_TIMEOUT = 30.0


@routes.get("/api/exchanges")
async def list_all(request: web.Request) -> web.Response:
    node = request.app[NODE]
    items = [
        exchange_json(info)
        for vhost in visible_vhosts(request)
        for info in exchange_admin.list_exchanges(node, vhost)
    ]
    return list_response(request, items)


@routes.get("/api/exchanges/{vhost}")
async def list_in_vhost(request: web.Request) -> web.Response:
    vhost = path_vhost(request)
    infos = exchange_admin.list_exchanges(request.app[NODE], vhost)
    return list_response(request, [exchange_json(info) for info in infos])


@routes.get("/api/exchanges/{vhost}/{name}")
async def show(request: web.Request) -> web.Response:
    vhost = path_vhost(request)
    info = exchange_admin.get_exchange_info(request.app[NODE], vhost, request.match_info["name"])
    return object_response(request, exchange_json(info, detailed=True))


@routes.put("/api/exchanges/{vhost}/{name}")
async def declare(request: web.Request) -> web.Response:
    vhost = target_vhost(request)
    body = await read_body(request)
    type_name = text(body, "type", "direct")
    durable = boolean(body, "durable")
    auto_delete = boolean(body, "auto_delete")
    internal = boolean(body, "internal")
    arguments = table_field(body, "arguments")
    grant = acting_grant(request, vhost)
    with direct_errors():
        created = exchange_admin.declare_exchange(
            request.app[NODE],
            vhost,
            request.match_info["name"],
            type_name,
            durable=durable,
            auto_delete=auto_delete,
            internal=internal,
            arguments=arguments,
            grant=grant,
        )
    return web.Response(status=201 if created else 204)


@routes.delete("/api/exchanges/{vhost}/{name}")
async def delete(request: web.Request) -> web.Response:
    vhost = path_vhost(request)
    grant = acting_grant(request, vhost)
    with direct_errors():
        exchange_admin.delete_exchange(
            request.app[NODE],
            vhost,
            request.match_info["name"],
            if_unused=flag(request, "if-unused"),
            grant=grant,
        )
    return web.Response(status=204)


@routes.post("/api/exchanges/{vhost}/{name}/publish")
async def publish(request: web.Request) -> web.Response:
    """Publish one message, as a mandatory publish on a channel in confirm mode:
    ``{"routed": false}`` when no queue took it. Answers once the message is confirmed
    (for a persistent message in a durable queue: on disk)."""
    vhost = acting_vhost(request)
    body = await read_body(request)
    require_keys(body, "properties", "routing_key", "payload", "payload_encoding")
    properties = properties_from_json(body["properties"])
    routing_key = short_string(text(body, "routing_key"), "routing_key")
    short_string(request.match_info["name"], "exchange name")
    payload = payload_from_json(body)
    grant = acting_grant(request, vhost)
    settled = asyncio.Event()
    with channel_errors():
        routed = message_admin.publish_message(
            request.app[NODE],
            vhost,
            request.match_info["name"],
            routing_key,
            properties,
            payload,
            user=caller(request).name,
            grant=grant,
            on_settled=settled.set,
        )
    try:
        await asyncio.wait_for(settled.wait(), CONFIRM_TIMEOUT)
    except TimeoutError:
        raise ApiError(500, "timeout waiting for the publish to be confirmed") from None
    return web.json_response({"routed": routed})


@routes.get("/api/exchanges/{vhost}/{name}/bindings/source")
async def source_bindings(request: web.Request) -> web.Response:
    return _bindings(request, as_source=True)


@routes.get("/api/exchanges/{vhost}/{name}/bindings/destination")
async def destination_bindings(request: web.Request) -> web.Response:
    return _bindings(request, as_source=False)


def _bindings(request: web.Request, *, as_source: bool) -> web.Response:
    vhost = listing_vhost(request)
    if vhost is None:
        return list_response(request, [])
    found = binding_admin.exchange_bindings(
        request.app[NODE], vhost, request.match_info["name"], as_source=as_source
    )
    return list_response(request, [binding_json(b) for b in found])
