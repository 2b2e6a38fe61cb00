"""/api/openapi.json: the OpenAPI description of this API (Leveret only; RabbitMQ has none).

Served without credentials, like the UI's files: it describes the API, it holds nothing of
the broker. tests/management/test_openapi.py checks it against the router, so that every
route is described and every described path is served.
"""

from __future__ import annotations

import functools
from importlib import resources

from aiohttp import web

DOCUMENT = "openapi.json"

routes = web.RouteTableDef()


@functools.cache
def document() -> bytes:
    """The description, as packaged beside the http modules."""
    return resources.files("leveret.http").joinpath(DOCUMENT).read_bytes()


@routes.get("/api/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=document(), content_type="application/json")
