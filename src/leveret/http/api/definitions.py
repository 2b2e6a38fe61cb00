"""/api/definitions and /api/definitions/{vhost}: export and import, administrators only.

GET exports (``?download=NAME`` asks the browser to save it as NAME); POST imports a JSON
body, or the ``file`` field of a multipart form as the UI's upload form sends it (with a
``redirect`` field, the answer is a 303 to that address, as RabbitMQ's). An entry that
cannot be applied, or a part Leveret does not support, makes the answer a 400 whose reason
lists them; everything else in the document has been imported by then, as in RabbitMQ,
which also stops at the first bad entry without undoing the ones before.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from leveret.broker.admin import definitions
from leveret.http.auth import require_administrator
from leveret.http.body import parse_object
from leveret.http.errors import ApiError, bad_request
from leveret.http.keys import NODE

NOT_PARSED = "failed_to_parse_json"

routes = web.RouteTableDef()


def _download(request: web.Request, document: dict[str, Any]) -> web.Response:
    response = web.json_response(document)
    filename = request.query.get("download")
    if filename:
        response.headers["Content-Disposition"] = _attachment(filename)
    return response


def _attachment(filename: str) -> str:
    """A Content-Disposition naming ``filename``: control characters (which no header may
    carry: aiohttp drops the connection rather than send them), quotes and backslashes
    left out; a name beyond ASCII in RFC 6266's ``filename*`` form."""
    safe = "".join(c for c in filename if c.isprintable() and c not in '"\\')
    if safe.isascii():
        return f'attachment; filename="{safe}"'
    return "attachment; filename*=UTF-8''" + urllib.parse.quote(safe, safe="")


async def _upload(request: web.Request) -> tuple[dict[str, Any], str | None]:
    """The definitions document of the request, and where to redirect after (forms)."""
    if request.content_type != "multipart/form-data":
        raw = await request.read()
        if not raw.strip():
            raise bad_request(NOT_PARSED)
        return parse_object(raw, NOT_PARSED), None
    document: bytes | None = None
    redirect: str | None = None
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue  # a nested multipart: no form sends one
            if part.name == "file":
                document = await part.read()
            elif part.name == "redirect":
                redirect = (await part.read()).decode("utf-8", "replace")
    except (ValueError, AssertionError, RuntimeError, HttpProcessingError):
        # A form aiohttp cannot parse (an invalid part header is an HttpProcessingError).
        raise bad_request(NOT_PARSED) from None
    if document is None or not document.strip():
        raise bad_request(NOT_PARSED)
    return parse_object(document, NOT_PARSED), redirect


def _answer(warnings: list[str], redirect: str | None) -> web.Response:
    if warnings:
        raise bad_request("; ".join(warnings))
    if redirect:
        return web.Response(status=303, headers={"Location": _location(redirect)})
    return web.Response(status=204)


def _location(address: str) -> str:
    """The redirect address as a header can carry it: control characters left out,
    anything beyond printable ASCII percent-encoded."""
    printable = "".join(c for c in address if c.isprintable())
    return urllib.parse.quote(printable, safe="".join(map(chr, range(0x21, 0x7F))))


@routes.get("/api/definitions")
async def export_all(request: web.Request) -> web.Response:
    require_administrator(request)
    return _download(request, definitions.export_definitions(request.app[NODE]))


@routes.post("/api/definitions")
async def import_all(request: web.Request) -> web.Response:
    require_administrator(request)
    document, redirect = await _upload(request)
    return _answer(definitions.import_definitions(request.app[NODE], document), redirect)


@routes.get("/api/definitions/{vhost}")
async def export_vhost(request: web.Request) -> web.Response:
    require_administrator(request)
    node = request.app[NODE]
    vhost = request.match_info["vhost"]
    if vhost not in node.vhosts:
        raise bad_request("vhost_not_found")
    return _download(request, definitions.export_vhost_definitions(node, vhost))


@routes.post("/api/definitions/{vhost}")
async def import_vhost(request: web.Request) -> web.Response:
    require_administrator(request)
    node = request.app[NODE]
    vhost = request.match_info["vhost"]
    if vhost not in node.vhosts:
        raise ApiError(404, "vhost_not_found", "not_found")
    document, redirect = await _upload(request)
    return _answer(definitions.import_vhost_definitions(node, vhost, document), redirect)
