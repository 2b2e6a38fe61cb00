"""Vhosts: create, delete, list (``rabbitmqctl add_vhost`` / ``delete_vhost`` / ``list_vhosts``)."""

from __future__ import annotations

import uuid

from leveret.broker.admin.base import AdminNode, NotFound, open_connections


def list_vhosts(node: AdminNode) -> list[str]:
    return sorted(node.vhosts)


def add_vhost(node: AdminNode, name: str | None = None, *, user: str = "guest") -> str:
    """Create a vhost that ``user`` may open; without a name, a unique one. Returns the name."""
    if name is None:
        name = f"leveret-{uuid.uuid4().hex[:12]}"
    if name in node.vhosts:
        raise ValueError(f"vhost {name!r} already exists")
    account = node.users.users.get(user)
    # Checked before the vhost is created, so that a refusal leaves nothing behind.
    if account is None:
        raise NotFound(f"no user {user!r}")
    node.add_vhost(name)
    account.vhosts.add(name)
    return name


def delete_vhost(node: AdminNode, name: str, reason: str = "vhost deleted") -> None:
    """Delete a vhost: its connections are closed with 320 CONNECTION_FORCED and ``reason``,
    and its queues and exchanges go with it."""
    vhost = node.vhosts.pop(name, None)
    if vhost is None:
        raise NotFound(f"no vhost {name!r}")
    for account in node.users.users.values():
        account.vhosts.discard(name)
    for conn in open_connections(node, name):
        conn.close_forced(reason)
    # As RabbitMQ's delete_vhost: its queues and exchanges go too, from the data directory
    # as well when the broker has one.
    for queue in list(vhost.queues.values()):
        vhost.remove_queue(queue)
    for exchange in list(vhost.exchanges):
        if exchange and not exchange.startswith("amq."):
            vhost.delete_exchange(exchange)
