"""What a connection does after answering the client's connection.close with close-ok.

RabbitMQ keeps reading, and discarding, whatever the client still sends until the client
closes its socket. Closing at once would leave unread bytes in the kernel's buffer, and
the kernel answers those with a reset: a client that had writes queued behind its close
(a burst of publishes, say) then sees ECONNRESET or EPIPE instead of its close-ok. The
wait is bounded in time and in bytes, so a client cannot hold the socket open forever.
"""

from __future__ import annotations

import asyncio

# RabbitMQ waits up to 30 s; a few seconds is plenty for a client to flush and close.
DRAIN_TIMEOUT = 5.0
DRAIN_LIMIT = 8 * 1024 * 1024


class Drain:
    """Discards input on a transport until the peer closes, the time runs out, or too
    many bytes arrive; then closes the transport (which flushes what is queued first)."""

    def __init__(
        self,
        transport: asyncio.Transport,
        loop: asyncio.AbstractEventLoop,
        timeout: float = DRAIN_TIMEOUT,
        limit: int = DRAIN_LIMIT,
    ) -> None:
        self.transport = transport
        self.left = limit
        self._timer = loop.call_later(timeout, self.stop)
        transport.resume_reading()  # it may have been paused by an alarm or flow control

    def feed(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            self.stop()

    def stop(self) -> None:
        self._timer.cancel()
        if not self.transport.is_closing():
            self.transport.close()

    def cancel(self) -> None:
        """The socket is gone already: only the timer is left to clean up."""
        self._timer.cancel()
