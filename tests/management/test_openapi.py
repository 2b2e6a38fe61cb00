"""The OpenAPI description (src/leveret/http/openapi.json) against what is served.

Every route of the management app is described and every described operation is served,
so the description cannot fall behind the code; the document is valid OpenAPI 3.0, and
GET /api/openapi.json serves it without credentials. The fuzzing that holds the answers to
the description is test_openapi_fuzz.py.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from leveret.http.app import RESOURCES

pytestmark = pytest.mark.leveret_only

DOCUMENT = resources.files("leveret.http").joinpath("openapi.json")
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def _document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    return loaded


def _described() -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, item in _document()["paths"].items()
        for method in item
        if method in METHODS
    ]


def _router() -> web.UrlDispatcher:
    """The management app's routes, as build_app adds them (no node needed to route)."""
    app = web.Application()
    for module in RESOURCES:
        app.router.add_routes(module.routes)
    return app.router


def _served(router: web.UrlDispatcher) -> set[web.AbstractRoute]:
    """The API's routes: under /api/ (the UI's page and files are not the API), HEAD left
    out (aiohttp adds one beside each GET by itself)."""
    return {
        route
        for route in router.routes()
        if route.method != "HEAD"
        and route.resource is not None
        and route.resource.canonical.startswith("/api/")
    }


async def _route_for(router: web.UrlDispatcher, method: str, path: str) -> web.AbstractRoute:
    # Every template parameter as a plain segment: it must reach the route it describes.
    concrete = re.sub(r"\{[^}]+\}", "x", path)
    match = await router.resolve(make_mocked_request(method, concrete))
    assert match.http_exception is None, f"{method} {path} is described but not served"
    return match.route


async def test_every_route_is_described_and_every_description_is_served() -> None:
    router = _router()
    reached = {await _route_for(router, method, path) for method, path in _described()}
    missing = {
        f"{route.method} {route.resource.canonical}"
        for route in _served(router) - reached
        if route.resource is not None  # always, by _served; for the type checker
    }
    assert not missing, f"served but not described in openapi.json: {sorted(missing)}"


def test_path_parameters_match_their_templates() -> None:
    document = _document()
    shared = document["components"]["parameters"]
    for path, item in document["paths"].items():
        placeholders = set(re.findall(r"\{([^}]+)\}", path))
        for method, operation in item.items():
            declared = set()
            for parameter in operation.get("parameters", []):
                if "$ref" in parameter:
                    parameter = shared[parameter["$ref"].rsplit("/", 1)[1]]
                if parameter["in"] == "path":
                    declared.add(parameter["name"])
                    assert parameter["required"] is True, (method, path, parameter["name"])
            assert declared == placeholders, (method, path, declared, placeholders)


def test_every_operation_has_an_id_a_summary_and_json_errors() -> None:
    ids = []
    for path, item in _document()["paths"].items():
        for method, operation in item.items():
            ids.append(operation["operationId"])
            assert operation["summary"], (method, path)
            for status, response in operation["responses"].items():
                if status.startswith("4"):
                    assert response["$ref"].startswith("#/components/responses/"), status
            if operation.get("security") != []:
                assert "401" in operation["responses"], (method, path)
    assert len(ids) == len(set(ids))


def test_the_document_is_valid_openapi() -> None:
    loaded = schemathesis.openapi.from_path(str(DOCUMENT))
    loaded.validate()  # against the OpenAPI 3.0 meta-schema; raises if invalid
    assert loaded.raw_schema["openapi"].startswith("3.0.")


def test_the_document_is_served_without_credentials(management_url: str) -> None:
    reply = requests.get(f"{management_url}/api/openapi.json", timeout=10)
    assert reply.status_code == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.json() == _document()
