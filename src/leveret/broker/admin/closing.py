"""Closing client connections by name (``close_connection``) or in bulk
(``close_all_connections``), as an operator does: each client hears connection.close
320 CONNECTION_FORCED with the operator's reason as the whole text, as RabbitMQ sends it."""

from __future__ import annotations

from leveret.broker.admin.listing import (
    ListingNode,
    connection_name,
    connection_pid,
    open_listed,
)


def close_connection(node: ListingNode, name: str, reason: str) -> int:
    """Close the connection named ``name`` (list_connections' name, or its pid); how many
    were closed (0 if none has that name: it may have gone meanwhile, which rabbitmqctl
    does not call an error either)."""
    closing = [
        conn
        for conn in open_listed(node)
        if name in (connection_name(conn), connection_pid(node.node_name, conn))
    ]
    for conn in closing:
        conn.close_forced(reason, verbatim=True)
    return len(closing)


def close_all_connections(node: ListingNode, vhost: str | None, reason: str, limit: int = 0) -> int:
    """Close the connections of ``vhost`` (every one if None), the oldest first and at
    most ``limit`` of them (0: no limit); how many. An unknown vhost has none."""
    closing = open_listed(node, vhost)
    if limit > 0:
        closing = closing[:limit]
    for conn in closing:
        conn.close_forced(reason, verbatim=True)
    return len(closing)
