"""POST /api/queues/{vhost}/{name}/move: move a queue's ready messages to another queue.

Leveret's own endpoint (RabbitMQ's UI does this by creating a shovel); the management UI's
"move messages" calls it. Body ``{"destination": "queue name"}``; the answer is
``{"moved": n}``, the messages published to the destination.
"""

from __future__ import annotations

from aiohttp import web

from leveret.broker.admin.move import move_messages
from leveret.http.errors import bad_request
from leveret.http.keys import NODE
from leveret.http.translate import (
    acting_grant,
    acting_vhost,
    direct_errors,
    read_body,
    require_keys,
)

routes = web.RouteTableDef()


@routes.post("/api/queues/{vhost}/{name}/move")
async def move(request: web.Request) -> web.Response:
    vhost = acting_vhost(request)
    body = await read_body(request)
    require_keys(body, "destination")
    destination = body["destination"]
    if not isinstance(destination, str) or not destination:
        raise bad_request("destination must be a queue name")
    grant = acting_grant(request, vhost)
    with direct_errors():
        moved = move_messages(
            request.app[NODE], vhost, request.match_info["name"], destination, grant=grant
        )
    return web.json_response({"moved": moved})
