"""The management UI: static HTML, CSS and JavaScript modules served at ``/`` and ``/ui/``.

The UI is a client of the public API only (it logs in with HTTP Basic from JavaScript), so
these routes need no credentials; the auth middleware guards ``/api/`` alone.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

UI_DIR = Path(__file__).parent / "ui"

# The page runs only its own scripts and styles, and may not be framed (clickjacking).
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}

routes = web.RouteTableDef()


@routes.get("/")
async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(UI_DIR / "index.html", headers=PAGE_HEADERS)


routes.static("/ui", UI_DIR)
