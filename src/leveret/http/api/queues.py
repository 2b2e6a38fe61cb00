"""/api/queues: list, declare, delete, purge, get messages, list a queue's bindings."""

from __future__ import annotations

from aiohttp import web

from leveret.amqp.errors import ACCESS_REFUSED, NOT_FOUND, AMQPError, ChannelError
from leveret.broker.admin import bindings as binding_admin
from leveret.broker.admin import messages as message_admin
from leveret.broker.admin import queues as queue_admin
from leveret.http.auth import visible_vhosts
from leveret.http.errors import ApiError, bad_request
from leveret.http.keys import NODE
from leveret.http.lists import flag, list_response, named_list_response
from leveret.http.shapes import binding_json, queue_json
from leveret.http.translate import (
    MAX_SHORT_STRING,
    acting_grant,
    acting_vhost,
    boolean,
    channel_reason,
    direct_errors,
    integer,
    listing_vhost,
    node_name,
    object_response,
    path_vhost,
    payload_to_json,
    properties_to_json,
    read_body,
    require_keys,
    table_field,
    target_vhost,
)

routes = web.RouteTableDef()

ENCODINGS = ("auto", "base64")


def _queue_list(request: web.Request, vhosts: list[str]) -> web.Response:
    node, name = request.app[NODE], node_name(request)
    return named_list_response(
        request,
        queue_admin.queue_keys(node, vhosts),
        lambda key: {"vhost": key[0], "name": key[1]},
        lambda keys: [queue_json(info, name) for info in queue_admin.queue_infos(node, keys)],
    )


@routes.get("/api/queues")
async def list_all(request: web.Request) -> web.Response:
    return _queue_list(request, visible_vhosts(request))


@routes.get("/api/queues/{vhost}")
async def list_in_vhost(request: web.Request) -> web.Response:
    return _queue_list(request, [path_vhost(request)])


@routes.get("/api/queues/{vhost}/{name}")
async def show(request: web.Request) -> web.Response:
    vhost = path_vhost(request)
    info = queue_admin.get_queue_info(request.app[NODE], vhost, request.match_info["name"])
    return object_response(request, queue_json(info, node_name(request), detailed=True))


@routes.put("/api/queues/{vhost}/{name}")
async def declare(request: web.Request) -> web.Response:
    vhost = target_vhost(request)
    name = request.match_info["name"]
    size = len(name.encode("utf-8", "surrogateescape"))
    if size > MAX_SHORT_STRING:
        # RabbitMQ's words (a queue name is a short string on the wire).
        raise bad_request(f"queue should be less than 255 bytes, actually was {size}\n")
    body = await read_body(request)
    durable = boolean(body, "durable")
    auto_delete = boolean(body, "auto_delete")
    arguments = table_field(body, "arguments")
    grant = acting_grant(request, vhost)
    with direct_errors():
        created = queue_admin.declare_queue(
            request.app[NODE],
            vhost,
            name,
            durable=durable,
            auto_delete=auto_delete,
            arguments=arguments,
            grant=grant,
        )
    return web.Response(status=201 if created else 204)


@routes.delete("/api/queues/{vhost}/{name}")
async def delete(request: web.Request) -> web.Response:
    vhost = path_vhost(request)
    grant = acting_grant(request, vhost)
    with direct_errors():
        queue_admin.delete_queue(
            request.app[NODE],
            vhost,
            request.match_info["name"],
            if_unused=flag(request, "if-unused"),
            if_empty=flag(request, "if-empty"),
            exclusive_ok=False,
            grant=grant,
        )
    return web.Response(status=204)


@routes.delete("/api/queues/{vhost}/{name}/contents")
async def purge(request: web.Request) -> web.Response:
    vhost = path_vhost(request)
    grant = acting_grant(request, vhost)
    with direct_errors():
        queue_admin.purge_queue(
            request.app[NODE], vhost, request.match_info["name"], exclusive_ok=False, grant=grant
        )
    return web.Response(status=204)


@routes.post("/api/queues/{vhost}/{name}/get")
async def get(request: web.Request) -> web.Response:
    vhost = acting_vhost(request)
    body = await read_body(request)
    require_keys(body, "count", "ackmode", "encoding")
    count = integer(body, "count") or 0
    truncate = integer(body, "truncate")
    ackmode, encoding = body["ackmode"], body["encoding"]
    if encoding not in ENCODINGS:
        raise bad_request("Unsupported encoding. Please use auto or base64.")
    if ackmode not in message_admin.ACK_MODES:
        raise bad_request(
            "Unsupported ackmode. Please use " + ", ".join(message_admin.ACK_MODES) + "."
        )
    grant = acting_grant(request, vhost)
    try:
        got = message_admin.get_messages(
            request.app[NODE], vhost, request.match_info["name"], count, ackmode, grant=grant
        )
    except ChannelError as error:
        # As RabbitMQ: a missing queue is 404 and a refusal 401, both with the AMQP text.
        if error.reply_code == NOT_FOUND:
            raise ApiError(404, error.reply_text, "not_found") from None
        if error.reply_code == ACCESS_REFUSED:
            raise ApiError(401, error.reply_text, "not_authorised") from None
        raise bad_request(channel_reason(error)) from None
    except AMQPError as error:
        raise bad_request(channel_reason(error)) from None
    replies = []
    for message in got:
        shown = message.body if truncate is None else message.body[: max(truncate, 0)]
        payload, payload_encoding = payload_to_json(shown, encoding)
        replies.append(
            {
                "payload_bytes": len(message.body),
                "redelivered": message.redelivered,
                "exchange": message.exchange,
                "routing_key": message.routing_key,
                "message_count": message.message_count,
                "properties": properties_to_json(message.properties),
                "payload": payload,
                "payload_encoding": payload_encoding,
            }
        )
    return web.json_response(replies)


@routes.get("/api/queues/{vhost}/{name}/bindings")
async def bindings(request: web.Request) -> web.Response:
    vhost = listing_vhost(request)
    if vhost is None:
        return list_response(request, [])
    found = binding_admin.queue_bindings(request.app[NODE], vhost, request.match_info["name"])
    return list_response(request, [binding_json(b) for b in found])
