"""Vhosts: create, delete, list (``rabbitmqctl add_vhost`` / ``delete_vhost`` / ``list_vhosts``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from leveret.broker.admin.base import AdminNode, NotFound, open_connections
from leveret.broker.admin.policies import forget_vhost_policies
from leveret.broker.admin.stats import retire_vhost


def list_vhosts(node: AdminNode) -> list[str]:
    return sorted(node.vhosts)


def add_vhost(
    node: AdminNode,
    name: str | None = None,
    *,
    user: str = "guest",
    description: str = "",
    tags: Iterable[str] = (),
    default_queue_type: str | None = None,
) -> str:
    """Create a vhost that ``user`` may open (full permissions, as RabbitMQ grants the
    user who creates a vhost through the management API); without a name, a unique one.
    Returns the name."""
    if name is None:
        name = f"leveret-{uuid.uuid4().hex[:12]}"
    if name in node.vhosts:
        raise ValueError(f"vhost {name!r} already exists")
    access = node.access
    # Checked before the vhost is created, so that a refusal leaves nothing behind.
    if user not in access.users:
        raise NotFound(f"no user {user!r}")
    # Stored; the node's hook creates the vhost's runtime.
    access.add_vhost(name, description, tags, default_queue_type)
    access.set_permissions(user, name, ".*", ".*", ".*")
    return name


def delete_vhost(node: AdminNode, name: str, reason: str = "vhost deleted") -> None:
    """Delete a vhost: its connections are closed with 320 CONNECTION_FORCED and ``reason``,
    and its queues and exchanges go with it."""
    if not remove_runtime(node, name, reason):
        raise NotFound(f"no vhost {name!r}")
    node.access.delete_vhost(name)  # its runtime is gone already: only the records go


def remove_runtime(node: AdminNode, name: str, reason: str, *, verbatim: bool = False) -> bool:
    """Take a deleted vhost out of the running broker: close its connections with 320 and
    ``reason`` (see ``close_forced``), then delete its queues (with their messages, on disk
    too) and exchanges, as RabbitMQ's delete_vhost does. False if it was not running."""
    vhost = node.vhosts.pop(name, None)
    if vhost is None:
        return False
    for conn in open_connections(node, name):
        conn.close_forced(reason, verbatim=verbatim)
    for queue in list(vhost.queues.values()):
        vhost.remove_queue(queue)
    for exchange in list(vhost.exchanges):
        if exchange and not exchange.startswith("amq."):
            vhost.delete_exchange(exchange)
    forget_vhost_policies(node, vhost)
    retire_vhost(node, vhost)  # after its connections' last confirms were counted
    return True
