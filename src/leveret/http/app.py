"""The management application: middlewares and every resource's routes, in one place."""

from __future__ import annotations

from aiohttp import web

from leveret.http import ui_routes
from leveret.http.api import (
    bindings,
    channels,
    connections,
    consumers,
    definitions,
    exchanges,
    health,
    limits,
    move,
    nodes,
    openapi,
    overview,
    permissions,
    policies,
    queues,
    users,
    vhosts,
    whoami,
)
from leveret.http.auth import auth_middleware
from leveret.http.errors import error_middleware
from leveret.http.keys import NODE
from leveret.http.node import ManagedNode

# RabbitMQ's management.http.max_body_size default: definitions files can be large.
MAX_BODY_SIZE = 20 * 1024 * 1024

# Resource modules, each with a ``routes`` table (http/api/).
RESOURCES = (
    whoami,
    overview,
    nodes,
    vhosts,
    users,
    permissions,
    policies,
    limits,
    definitions,
    health,
    queues,
    move,
    exchanges,
    bindings,
    connections,
    channels,
    consumers,
    ui_routes,  # the browser UI at / (static files)
    openapi,
)


def build_app(node: ManagedNode) -> web.Application:
    app = web.Application(
        middlewares=[error_middleware, auth_middleware], client_max_size=MAX_BODY_SIZE
    )
    app[NODE] = node
    for module in RESOURCES:
        app.router.add_routes(module.routes)
    return app
