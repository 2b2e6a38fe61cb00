"""Client connections: list and close (``rabbitmqctl list_connections`` / ``close_connection``)."""

from __future__ import annotations

from dataclasses import dataclass

from leveret.broker.admin.base import AdminNode, get_vhost, open_connections


@dataclass(frozen=True)
class ConnectionInfo:
    """One client connection as the broker sees it."""

    peer: tuple[str, int] | None
    vhost: str | None  # None until the client has opened a vhost
    user: str | None
    channels: int
    client_properties: dict[str, object]


def list_connections(node: AdminNode, vhost: str | None = None) -> list[ConnectionInfo]:
    """Open client connections (those on ``vhost`` if given)."""
    return [
        ConnectionInfo(
            peer=conn.peer,
            vhost=conn.vhost.name if conn.vhost is not None else None,
            user=conn.user.name if conn.user is not None else None,
            channels=len(conn.sessions),
            # A copy: the caller may change it without touching the connection's own.
            client_properties=dict(conn.client_properties),
        )
        for conn in open_connections(node, vhost)
    ]


def close_connections(
    node: AdminNode, vhost: str | None = None, reason: str = "closed by test"
) -> int:
    """Close client connections (those on ``vhost`` if given) with 320 CONNECTION_FORCED and
    ``reason``; returns how many. Naming a vhost that does not exist raises NotFound, so a
    typo does not pass as "nothing to close"."""
    if vhost is not None:
        get_vhost(node, vhost)
    closing = open_connections(node, vhost)
    for conn in closing:
        conn.close_forced(reason)
    return len(closing)
