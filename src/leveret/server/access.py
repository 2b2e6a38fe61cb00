"""Access checks the AMQP side makes: at connection.open and channel.open (permissions and
limits), and the per-operation checks handlers call. Texts are RabbitMQ's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leveret.amqp.errors import NOT_ALLOWED, ConnectionError_

if TYPE_CHECKING:
    from leveret.broker.access import Grant
    from leveret.server.connection import AMQPConnection


def check_vhost_open(conn: AMQPConnection, name: str) -> Grant:
    """The user's grant on vhost ``name``, or 530 NOT_ALLOWED: no permissions there, or
    the vhost's or the user's connection limit is reached (``conn`` not yet counted)."""
    user = conn.user
    assert user is not None
    access = conn.node.access
    others = [c for c in conn.node.connections if c is not conn and not c.closed]
    limit = access.vhost_limit(name, "max-connections")
    if limit >= 0 and sum(1 for c in others if c.vhost and c.vhost.name == name) >= limit:
        raise ConnectionError_(
            NOT_ALLOWED,
            f"access to vhost '{name}' refused for user '{user.name}': "
            f"connection limit ({limit}) is reached",
        )
    limit = access.user_limit(user.name, "max-connections")
    mine = [c for c in others if c.vhost and c.user is not None and c.user.name == user.name]
    if 0 <= limit <= len(mine):
        raise ConnectionError_(
            NOT_ALLOWED,
            f"connection refused for user '{user.name}': user connection limit ({limit}) "
            "is reached",
        )
    grant = access.grant(user.name, name)
    if grant is None:
        raise ConnectionError_(
            NOT_ALLOWED, f"access to vhost '{name}' refused for user '{user.name}'"
        )
    return grant


def check_channel_limit(conn: AMQPConnection) -> None:
    """The user's max-channels counts channels on all of its connections, as RabbitMQ's."""
    user = conn.user
    if user is None:
        return
    limit = conn.node.access.user_limit(user.name, "max-channels")
    if limit < 0:
        return
    opened = sum(
        len(c.sessions)
        for c in conn.node.connections
        if c.user is not None and c.user.name == user.name
    )
    if opened >= limit:
        raise ConnectionError_(
            NOT_ALLOWED,
            f"number of channels opened for user '{user.name}' has reached the maximum "
            f"allowed user limit of ({limit})",
        )


def grant(conn: AMQPConnection) -> Grant:
    """The connection's grant, fetched afresh if an operator changed the permissions."""
    current = conn.grant
    assert current is not None
    if current.stale:
        current = conn.grant = conn.node.access.current_grant(current)
    return current
