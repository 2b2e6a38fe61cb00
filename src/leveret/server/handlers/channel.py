"""channel.flow (open and close are handled by the connection)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from leveret.amqp import spec
from leveret.amqp.errors import NOT_IMPLEMENTED, ConnectionError_

if TYPE_CHECKING:
    from leveret.server.connection import AMQPConnection
    from leveret.server.session import Session


def channel_flow(conn: AMQPConnection, session: Session, method: spec.ChannelFlow) -> None:
    if not method.active:
        raise ConnectionError_(NOT_IMPLEMENTED, "active=false")
    conn.send_method(session.number, spec.ChannelFlowOk(active=True))


HANDLERS: dict[type[spec.Method], Any] = {
    spec.ChannelFlow: channel_flow,
}
