"""One module per AMQP class; HANDLERS maps each client method to the function serving it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from leveret.server.handlers import basic, channel, confirm_tx, exchange, queue
from leveret.server.handlers.basic import publish

if TYPE_CHECKING:
    from leveret.amqp.spec import Method
    from leveret.server.connection import AMQPConnection
    from leveret.server.session import Session

Handler = Callable[["AMQPConnection", "Session", Any], None]

HANDLERS: dict[type[Method], Handler] = {
    **channel.HANDLERS,
    **exchange.HANDLERS,
    **queue.HANDLERS,
    **basic.HANDLERS,
    **confirm_tx.HANDLERS,
}

__all__ = ["HANDLERS", "Handler", "publish"]
