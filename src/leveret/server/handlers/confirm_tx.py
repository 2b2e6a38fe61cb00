"""confirm.select and tx.select / commit / rollback."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from leveret.amqp import spec
from leveret.amqp.errors import PRECONDITION_FAILED, ChannelError
from leveret.server.handlers.basic import route

if TYPE_CHECKING:
    from leveret.server.connection import AMQPConnection
    from leveret.server.session import Session


def confirm_select(conn: AMQPConnection, session: Session, method: spec.ConfirmSelect) -> None:
    if session.tx_publishes is not None:
        raise ChannelError(PRECONDITION_FAILED, "cannot switch from tx to confirm mode")
    session.confirm_select()
    if not method.nowait:
        conn.send_method(session.number, spec.ConfirmSelectOk())


def tx_select(conn: AMQPConnection, session: Session, method: spec.TxSelect) -> None:
    if session.confirms is not None:
        raise ChannelError(PRECONDITION_FAILED, "cannot switch from confirm to tx mode")
    if session.tx_publishes is None:
        session.tx_publishes = []
    conn.send_method(session.number, spec.TxSelectOk())


def _transactional(session: Session) -> list[Any]:
    if session.tx_publishes is None:
        raise ChannelError(PRECONDITION_FAILED, "channel is not transactional")
    return session.tx_publishes


def tx_commit(conn: AMQPConnection, session: Session, method: spec.TxCommit) -> None:
    assert conn.vhost is not None
    publishes = _transactional(session)
    settles = session.tx_settles
    session.tx_publishes, session.tx_settles = [], []
    for pending in publishes:
        exchange = conn.vhost.get_exchange(pending.exchange)
        route(conn, session, exchange, pending.mandatory, pending.message)
    for kind, tag, multiple, requeue in settles:
        if kind == "ack":
            session.channel.ack(tag, multiple)
        else:
            session.channel.reject(tag, multiple, requeue)
    conn.send_method(session.number, spec.TxCommitOk())


def tx_rollback(conn: AMQPConnection, session: Session, method: spec.TxRollback) -> None:
    _transactional(session)
    session.tx_publishes, session.tx_settles = [], []
    conn.send_method(session.number, spec.TxRollbackOk())


HANDLERS: dict[type[spec.Method], Any] = {
    spec.ConfirmSelect: confirm_select,
    spec.TxSelect: tx_select,
    spec.TxCommit: tx_commit,
    spec.TxRollback: tx_rollback,
}
