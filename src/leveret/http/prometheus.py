"""The Prometheus endpoint (port 15692), shaped as RabbitMQ's rabbitmq_prometheus plugin:

- ``GET /metrics``: every family, summed over queues, channels and connections;
- ``GET /metrics/per-object``: the same families with a sample per object;
- ``GET /metrics/detailed?family=...&vhost=...``: only the families asked for, per object,
  with names prefixed ``rabbitmq_detailed_`` (queue families limited to the vhosts given).

The text format is prometheus_client's; the body is gzipped when the scraper accepts it.
No authentication, as RabbitMQ's endpoint has none by default: bind it to a private
address (``prometheus.tcp.ip``) where that matters.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import Metric

from leveret.http.keys import NODE
from leveret.http.node import ManagedNode
from leveret.http.prometheus_families import families
from leveret.http.prometheus_snapshot import (
    AGGREGATED,
    DETAILED,
    DETAILED_GROUPS,
    PER_OBJECT,
    Scope,
    take_snapshot,
)

routes = web.RouteTableDef()
RENDERING = web.AppKey("leveret_prometheus_rendering", asyncio.Lock)


class _Families:
    """A collector over metric families already built (one scrape's)."""

    def __init__(self, found: list[Metric]):
        self._found = found

    def collect(self) -> list[Metric]:
        return self._found


def render(found: list[Metric]) -> bytes:
    """Prometheus' text format of the families, by prometheus_client."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(found))
    return generate_latest(registry)


async def _scrape(request: web.Request, scope: Scope) -> web.StreamResponse:
    # The snapshot is taken on the broker's loop, between two AMQP events; building and
    # formatting the text (the costly part with many queues: about 2 s per 10,000 queues
    # on /metrics/per-object) happens in a worker thread, so AMQP traffic goes on
    # meanwhile. One scrape at a time: scrapers piling up must not pile up threads that
    # compete with the loop for the interpreter.
    async with request.app[RENDERING]:
        snapshot = take_snapshot(request.app[NODE], scope)
        body = await asyncio.get_running_loop().run_in_executor(
            None, lambda: render(families(snapshot))
        )
    response = web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        response.enable_compression(web.ContentCoding.gzip)
    return response


@routes.get("/metrics")
async def aggregated(request: web.Request) -> web.StreamResponse:
    return await _scrape(request, Scope(AGGREGATED))


@routes.get("/metrics/per-object")
async def per_object(request: web.Request) -> web.StreamResponse:
    return await _scrape(request, Scope(PER_OBJECT))


@routes.get("/metrics/detailed")
async def detailed(request: web.Request) -> web.StreamResponse:
    query = request.query
    # Unknown family names are ignored, as RabbitMQ ignores them.
    wanted = frozenset(query.getall("family", [])) & DETAILED_GROUPS
    vhosts = query.getall("vhost", [])
    scope = Scope(DETAILED, wanted, frozenset(vhosts) if vhosts else None)
    return await _scrape(request, scope)


def build_prometheus_app(node: ManagedNode) -> web.Application:
    app = web.Application()
    app[NODE] = node
    app[RENDERING] = asyncio.Lock()
    app.router.add_routes(routes)
    return app
