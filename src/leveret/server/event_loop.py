"""Which asyncio event loop runs the broker: uvloop when it is installed, else asyncio's.

uvloop's C transports move bytes at about half the CPU cost of asyncio's selector
loop, which matters for a broker whose every message is a read and a write. Set
``LEVERET_LOOP=asyncio`` to use the standard loop anyway (e.g. to compare).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger("leveret.loop")

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """The event loop constructor to use."""
    if os.environ.get("LEVERET_LOOP", "").lower() != "asyncio":
        try:
            import uvloop
        except ImportError:
            log.debug("uvloop is not installed: using asyncio's event loop")
        else:
            return uvloop.new_event_loop
    return asyncio.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """Like ``asyncio.run``, on the loop ``loop_factory`` picks."""
    factory = loop_factory()
    with asyncio.Runner(loop_factory=factory) as runner:
        log.info("event loop: %s", type(runner.get_loop()).__module__)
        return runner.run(main)
