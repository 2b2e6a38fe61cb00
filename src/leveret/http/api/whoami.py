"""/api/whoami: who the credentials belong to."""

from __future__ import annotations

from aiohttp import web

from leveret.http.auth import caller

routes = web.RouteTableDef()


@routes.get("/api/whoami")
async def whoami(request: web.Request) -> web.Response:
    who = caller(request)
    return web.json_response({"name": who.name, "tags": sorted(who.tags)})
