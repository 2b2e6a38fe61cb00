"""exchange.declare / delete / bind / unbind."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from leveret.amqp import spec
from leveret.server.access import grant
from leveret.server.handlers.queue import check_topic_read

if TYPE_CHECKING:
    from leveret.server.connection import AMQPConnection
    from leveret.server.session import Session


def declare(conn: AMQPConnection, session: Session, method: spec.ExchangeDeclare) -> None:
    assert conn.vhost is not None
    if not method.passive:
        permit = grant(conn)
        permit.check_configure("exchange", method.exchange)
        alternate = (method.arguments or {}).get("alternate-exchange")
        if isinstance(alternate, str | bytes):  # (a bad type is refused by the declare)
            # As RabbitMQ: unroutable messages flow from this exchange into the other one.
            permit.check_read("exchange", method.exchange)
            name = (
                alternate.decode("utf-8", "surrogateescape")
                if isinstance(alternate, bytes)
                else alternate
            )
            permit.check_write("exchange", name)
    conn.vhost.declare_exchange(
        method.exchange,
        method.type,
        passive=method.passive,
        durable=method.durable,
        auto_delete=method.auto_delete,
        internal=method.internal,
        arguments=method.arguments,
    )
    if not method.no_wait:
        conn.send_method(session.number, spec.ExchangeDeclareOk())


def delete(conn: AMQPConnection, session: Session, method: spec.ExchangeDelete) -> None:
    assert conn.vhost is not None
    grant(conn).check_configure("exchange", method.exchange)
    conn.vhost.delete_exchange(method.exchange, if_unused=method.if_unused)
    if not method.no_wait:
        conn.send_method(session.number, spec.ExchangeDeleteOk())


def bind(conn: AMQPConnection, session: Session, method: spec.ExchangeBind) -> None:
    assert conn.vhost is not None
    _check_binding(conn, method)
    destination = conn.vhost.get_exchange(method.destination)
    conn.vhost.bind(method.source, destination, method.routing_key, method.arguments)
    if not method.no_wait:
        conn.send_method(session.number, spec.ExchangeBindOk())


def unbind(conn: AMQPConnection, session: Session, method: spec.ExchangeUnbind) -> None:
    assert conn.vhost is not None
    _check_binding(conn, method)
    destination = conn.vhost.exchanges.get(method.destination)
    if destination is not None and method.source in conn.vhost.exchanges:
        conn.vhost.unbind(method.source, destination, method.routing_key, method.arguments)
    if not method.no_wait:
        conn.send_method(session.number, spec.ExchangeUnbindOk())


def _check_binding(conn: AMQPConnection, method: spec.ExchangeBind | spec.ExchangeUnbind) -> None:
    """Write on the destination, read on the source (and topic read), as RabbitMQ."""
    permit = grant(conn)
    permit.check_write("exchange", method.destination)
    permit.check_read("exchange", method.source)
    check_topic_read(conn, method.source, method.routing_key)


HANDLERS: dict[type[spec.Method], Any] = {
    spec.ExchangeDeclare: declare,
    spec.ExchangeDelete: delete,
    spec.ExchangeBind: bind,
    spec.ExchangeUnbind: unbind,
}
