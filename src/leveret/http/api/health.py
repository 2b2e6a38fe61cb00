"""/api/health/checks/* and /api/aliveness-test/{vhost}.

A check that passes answers 200 ``{"status": "ok", ...}``; one that fails answers 503
``{"status": "failed", "reason": ..., ...}`` with RabbitMQ's fields, so that load balancers,
container health checks and monitoring scripts written for RabbitMQ read them unchanged.
Leveret is a single node: the cluster-wide checks are the local ones, and the quorum and
mirror checks pass as RabbitMQ's do on a single-node cluster.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from leveret.amqp.errors import ACCESS_REFUSED, AMQPError
from leveret.broker.admin.aliveness import aliveness_test
from leveret.http.auth import require_vhost_permissions
from leveret.http.certificates import Validity, pem_validities
from leveret.http.errors import ApiError, bad_request
from leveret.http.keys import NODE
from leveret.http.node import ManagedNode, TLSFiles

FAILED = 503
# RabbitMQ's names for the alarmed resources.
_RESOURCES = {"memory": "memory", "disk": "disk space"}
# Other names RabbitMQ accepts for the protocols a Leveret node can listen with (the
# lower-cased name is looked up; anything else is taken as it is).
_PROTOCOL_ALIASES = {
    "amqp091": "amqp",
    "amqp0.9.1": "amqp",
    "amqp0-9-1": "amqp",
    "amqp0_9_1": "amqp",
    "amqp10": "amqp",
    "amqp1.0": "amqp",
    "amqp1-0": "amqp",
    "amqp1_0": "amqp",
    "amqps": "amqp/ssl",
    "http1": "http",
    "http1.1": "http",
    "http_api": "http",
    "management": "http",
    "management_ui": "http",
    "ui": "http",
}
_SECONDS_PER_UNIT = {
    "days": 86400,
    "weeks": 7 * 86400,
    "months": 365 * 86400 / 12,
    "years": 365 * 86400,
}

routes = web.RouteTableDef()


def _ok(**fields: Any) -> web.Response:
    return web.json_response({"status": "ok", **fields})


def _failed(reason: str, **fields: Any) -> web.Response:
    return web.json_response({"status": "failed", "reason": reason, **fields}, status=FAILED)


def _alarms(request: web.Request, reason: str) -> web.Response:
    node = request.app[NODE]
    if not node.alarms:
        return _ok()
    alarms = [
        {"resource": _RESOURCES.get(name, name), "node": node.node_name}
        for name in sorted(node.alarms)
    ]
    return _failed(reason, alarms=alarms)


@routes.get("/api/health/checks/alarms")
async def alarms(request: web.Request) -> web.Response:
    return _alarms(request, "There are alarms in effect in the cluster")


@routes.get("/api/health/checks/local-alarms")
async def local_alarms(request: web.Request) -> web.Response:
    return _alarms(request, "There are alarms in effect on the node")


@routes.get("/api/health/checks/port-listener/{port}")
async def port_listener(request: web.Request) -> web.Response:
    try:
        port = int(request.match_info["port"])
    except ValueError:
        raise bad_request("Invalid port") from None
    ports = sorted({listener.port for listener in request.app[NODE].listeners()})
    if port in ports:
        return _ok(port=port)
    return _failed("No active listener", missing=port, ports=ports)


@routes.get("/api/health/checks/protocol-listener/{protocol}")
async def protocol_listener(request: web.Request) -> web.Response:
    given = request.match_info["protocol"].lower()
    protocol = _PROTOCOL_ALIASES.get(given, given)
    protocols = list(dict.fromkeys(listener.protocol for listener in request.app[NODE].listeners()))
    if protocol in protocols:
        return _ok(protocol=protocol)
    return _failed("No active listener", missing=protocol, protocols=protocols)


@routes.get("/api/health/checks/virtual-hosts")
async def virtual_hosts(request: web.Request) -> web.Response:
    node = request.app[NODE]
    down = sorted(name for name in node.access.vhosts if name not in node.vhosts)
    if down:
        return _failed("Some virtual hosts are down", **{"virtual-hosts": down})
    return _ok()


@routes.get("/api/health/checks/node-is-quorum-critical")
async def quorum_critical(request: web.Request) -> web.Response:
    return _ok(reason="single node cluster")


@routes.get("/api/health/checks/node-is-mirror-sync-critical")
async def mirror_sync_critical(request: web.Request) -> web.Response:
    return _ok(reason="single node cluster")


@routes.get("/api/health/checks/is-in-service")
async def is_in_service(request: web.Request) -> web.Response:
    # Newer RabbitMQ (not 3.10); served without credentials, for load balancers.
    return _ok()


@routes.get("/api/health/checks/ready-to-serve-clients")
async def ready_to_serve_clients(request: web.Request) -> web.Response:
    # Newer RabbitMQ (not 3.10); served without credentials, for load balancers.
    listeners = request.app[NODE].listeners()
    if not any(listener.protocol in ("amqp", "amqp/ssl") for listener in listeners):
        return _failed("no active listeners for AMQP/AMQPS")
    return _ok()


def _expires_on(path: str | None, deadline: datetime) -> list[str] | dict[str, str]:
    """The expiry dates, in RabbitMQ's format, of the file's certificates that expire
    before ``deadline``, and the entries that cannot be read; an error object when the
    file itself cannot be read."""
    if path is None:
        return []
    try:
        pem = Path(path).read_bytes()
    except OSError as error:
        return {"error": error.strerror or str(error)}
    now = datetime.now(UTC)
    found: list[str] = []
    for entry in pem_validities(pem):
        if isinstance(entry, str):
            found.append(entry)
        elif not isinstance(entry, Validity):
            continue
        elif entry.not_before > now:
            found.append("Certificate is not yet valid")
        elif entry.not_after < deadline:
            when = entry.not_after
            found.append(f"{when.year}-{when:%m-%d} {when.hour}:{when:%M:%S}")
    return found


def _expiring(node: ManagedNode, files: TLSFiles, deadline: datetime) -> dict[str, Any] | None:
    certfile = _expires_on(files.certfile, deadline)
    cacertfile = _expires_on(files.cacertfile, deadline)
    if not certfile and not cacertfile:
        return None
    return {
        "node": node.node_name,
        "protocol": files.listener.protocol,
        "interface": files.listener.ip_address,
        "port": files.listener.port,
        "certfile": files.certfile,
        "cacertfile": files.cacertfile,
        "certfile_expires_on": certfile,
        "cacertfile_expires_on": cacertfile,
    }


@routes.get("/api/health/checks/certificate-expiration/{within}/{unit}")
async def certificate_expiration(request: web.Request) -> web.Response:
    try:
        within = int(request.match_info["within"])
    except ValueError:
        raise bad_request("Invalid expiration value.") from None
    seconds = _SECONDS_PER_UNIT.get(request.match_info["unit"].lower())
    if seconds is None:
        raise bad_request("Time unit not recognised. Supported units: days, weeks, months, years.")
    node = request.app[NODE]
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=within * seconds)
    except OverflowError:
        deadline = datetime.max.replace(tzinfo=UTC) if within > 0 else datetime.now(UTC)
    expiring = [
        found
        for files in node.tls_files()
        if (found := _expiring(node, files, deadline)) is not None
    ]
    if expiring:
        return _failed("Certificates expiring", expired=expiring)
    return _ok()


@routes.get("/api/aliveness-test/{vhost}")
async def aliveness(request: web.Request) -> web.Response:
    vhost = request.match_info["vhost"]
    who = require_vhost_permissions(request, vhost)
    try:
        failure = aliveness_test(request.app[NODE], vhost, who.name)
    except AMQPError as error:
        if error.reply_code == ACCESS_REFUSED:
            raise ApiError(401, error.reply_text, "not_authorised") from None
        raise bad_request(error.reply_text) from None
    if failure is not None:
        return _failed(failure)
    return web.json_response({"status": "ok"})
