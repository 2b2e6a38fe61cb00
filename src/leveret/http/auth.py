"""HTTP Basic auth against the broker's users, with RabbitMQ's management tag rules.

``management`` and ``policymaker`` users see the vhosts they have permissions in;
``monitoring`` users read everything; ``administrator`` may do anything. A user with none of
those tags may not use the API at all (as RabbitMQ: 401 "Not management user").
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from aiohttp import web

from leveret.broker.access import User
from leveret.http.errors import ApiError, Handler, json_error
from leveret.http.keys import NODE

CHALLENGE = {"WWW-Authenticate": 'Basic realm="RabbitMQ Management"'}

# Paths that answer without credentials, as RabbitMQ's do (the UI's files and login page,
# and the two probes newer RabbitMQ serves to load balancers without credentials), and
# Leveret's OpenAPI description of the API.
PUBLIC_PREFIXES = (
    "/api/auth",
    "/api/openapi.json",
    "/api/health/checks/is-in-service",
    "/api/health/checks/ready-to-serve-clients",
)
VHOST_REFUSED = "User not authorised to access virtual host"


@dataclass(frozen=True)
class Caller:
    """The authenticated user of one request."""

    user: User
    tags: frozenset[str]

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def is_administrator(self) -> bool:
        return "administrator" in self.tags

    @property
    def is_monitoring(self) -> bool:
        """May read every vhost's objects and the node's figures."""
        return bool(self.tags & {"administrator", "monitoring"})

    @property
    def is_policymaker(self) -> bool:
        return bool(self.tags & {"administrator", "policymaker"})

    @property
    def is_management(self) -> bool:
        return bool(self.tags & {"administrator", "monitoring", "policymaker", "management"})


# Where the auth middleware leaves the caller (a typed key: aiohttp warns on plain strings).
CALLER = web.RequestKey("leveret_caller", Caller)


def caller(request: web.Request) -> Caller:
    found: Caller = request[CALLER]  # set by auth_middleware for every /api/ path
    return found


def require_administrator(request: web.Request) -> Caller:
    who = caller(request)
    if not who.is_administrator:
        raise ApiError(401, "Not administrator user", "not_authorised")
    return who


def require_monitoring(request: web.Request) -> Caller:
    who = caller(request)
    if not who.is_monitoring:
        raise ApiError(401, "Not monitor user", "not_authorised")
    return who


def require_policymaker(request: web.Request) -> Caller:
    who = caller(request)
    if not who.is_policymaker:
        raise ApiError(401, "Not policymaker user", "not_authorised")
    return who


def may_see_vhost(request: web.Request, vhost: str) -> bool:
    """Monitoring users see every vhost; others only those they hold permissions in."""
    who = caller(request)
    if who.is_monitoring:
        return True
    return request.app[NODE].access.grant(who.name, vhost) is not None


def visible_vhosts(request: web.Request) -> list[str]:
    """The vhosts the caller may see, sorted."""
    access = request.app[NODE].access
    return [name for name in sorted(access.vhosts) if may_see_vhost(request, name)]


def require_vhost(request: web.Request, vhost: str) -> None:
    """404 for a vhost that does not exist, 401 for one the caller may not see."""
    if vhost not in request.app[NODE].access.vhosts:
        raise ApiError(404, "Not Found", "Object Not Found")
    if not may_see_vhost(request, vhost):
        raise ApiError(401, VHOST_REFUSED, "not_authorised")


def require_vhost_permissions(request: web.Request, vhost: str) -> Caller:
    """As require_vhost, but the caller must hold permissions in the vhost whatever its
    tags: for what acts in the vhost as the caller (the aliveness test)."""
    who = caller(request)
    access = request.app[NODE].access
    if vhost not in access.vhosts:
        raise ApiError(404, "Not Found", "Object Not Found")
    if access.grant(who.name, vhost) is None:
        raise ApiError(401, VHOST_REFUSED, "not_authorised")
    return who


def _credentials(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, sep, password = decoded.partition(":")
    return (name, password) if sep else None


def _peer_host(request: web.Request) -> str | None:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return peer[0] if peer else None


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/api/") or request.path.startswith(PUBLIC_PREFIXES):
        return await handler(request)
    credentials = _credentials(request)
    if credentials is None:
        return json_error(401, "not_authorized", "Not_Authorized", headers=CHALLENGE)
    access = request.app[NODE].access
    user = access.authenticate(credentials[0], credentials[1], _peer_host(request))
    if user is None:
        return json_error(401, "not_authorized", "Login failed", headers=CHALLENGE)
    who = Caller(user, frozenset(user.tags))
    if not who.is_management:
        return json_error(401, "not_authorised", "Not management user", headers=CHALLENGE)
    request[CALLER] = who
    return await handler(request)
