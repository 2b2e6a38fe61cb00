"""How connections are named and logged, in the manner of RabbitMQ's log.

A connection is named "client address -> server address", followed by " - name" when the
client gave a ``connection_name`` client property, so that an operator can find the
application behind a log line. Login refusals say why here, never on the wire.
"""

from __future__ import annotations

import logging
from typing import Protocol

from leveret.amqp.errors import CONNECTION_FORCED

log = logging.getLogger("leveret.connection")


class Named(Protocol):
    """What the log needs to know of a connection (AMQPConnection provides it)."""

    peer: tuple[str, int] | None
    local: tuple[str, int] | None
    client_properties: dict[str, object]


def _address(address: tuple[str, int] | None) -> str:
    if address is None:
        return "?"
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def connection_name(conn: Named) -> str:
    name = f"{_address(conn.peer)} -> {_address(conn.local)}"
    client_name = conn.client_properties.get("connection_name")
    if isinstance(client_name, bytes):
        client_name = client_name.decode("utf-8", "replace")
    if isinstance(client_name, str) and client_name:
        name += f" - {client_name}"
    return name


def accepted(conn: Named) -> None:
    log.info("accepting AMQP connection %s", connection_name(conn))


def authenticated(conn: Named, user: str, vhost: str) -> None:
    log.info(
        "connection %s: user '%s' authenticated and granted access to vhost '%s'",
        connection_name(conn),
        user,
        vhost,
    )


def login_refused(conn: Named, mechanism: str, reason: str) -> None:
    log.warning(
        "error on AMQP connection %s: %s login refused: %s",
        connection_name(conn),
        mechanism,
        reason,
    )


def closed(conn: Named, user: str | None, vhost: str | None, why: str) -> None:
    log.info(
        "closing AMQP connection %s (vhost '%s', user '%s'): %s",
        connection_name(conn),
        vhost or "",
        user or "",
        why,
    )


def channel_error(
    conn: Named, user: str | None, vhost: str | None, channel: int, code: int, text: str
) -> None:
    log.warning(
        "channel error on connection %s (vhost '%s', user '%s'), channel %d: %d %s",
        connection_name(conn),
        vhost or "",
        user or "",
        channel,
        code,
        text,
    )


def connection_error(conn: Named, code: int, text: str) -> None:
    # 320 is the operator's or a shutdown's doing, not the client's fault: info only.
    level = logging.INFO if code == CONNECTION_FORCED else logging.WARNING
    log.log(level, "error on AMQP connection %s: %d %s", connection_name(conn), code, text)
