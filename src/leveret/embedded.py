"""Run a Leveret broker inside the current process, for tests and tools.

Two ways to run it:

* From synchronous code, ``with Broker() as broker:`` starts the broker on its own event loop
  in a daemon thread and stops it (and joins the thread) on exit.
* From asyncio code, ``async with Broker() as broker:`` runs it on the caller's running loop;
  no thread is involved.

Besides ``url`` and ``port`` the broker offers test-control helpers that a broker running in
another process cannot: listing queues with their depths, peeking at messages without
consuming them, waiting until a queue is empty or its messages are acknowledged, closing
client connections from the broker side, raising a memory alarm and reading the memory
figures the alarm is judged on. The operations themselves live in ``leveret.broker.admin``,
shared with the management interfaces; this module runs them on the broker's loop and adds
the waiting.

The helpers exist twice. The methods on :class:`Broker` are synchronous: call them from any
thread except the broker's own event loop (in ``async with`` mode the instant ones, which do
not wait, may also be called on the loop). ``broker.aio`` holds awaitable twins with the same
names for async code; they work in both modes and never block an event loop.

All broker state is touched on the broker's loop only; the helpers hop onto it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import urllib.parse
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import leveret.broker.admin.alarms as alarm_admin
import leveret.broker.admin.connections as connection_admin
import leveret.broker.admin.messages as message_admin
import leveret.broker.admin.queues as queue_admin
import leveret.broker.admin.vhosts as vhost_admin
from leveret.broker.admin.base import NotFound
from leveret.broker.admin.connections import ConnectionInfo
from leveret.broker.admin.messages import PeekedMessage
from leveret.broker.admin.queues import QueueInfo
from leveret.broker.compat import CompatProfile, get_profile
from leveret.embedded_access import AccessAdmin
from leveret.server.config import PROFILE_DEFAULT, Config
from leveret.server.monitor import MemoryUsage
from leveret.server.node import Node

if TYPE_CHECKING:
    from leveret.broker.message import QueueEntry

__all__ = [
    "AsyncBrokerControl",
    "Broker",
    "ConnectionInfo",
    "MemoryUsage",
    "NotFound",
    "PeekedMessage",
    "QueueInfo",
]

T = TypeVar("T")

DEFAULT_TIMEOUT = 5.0
# How often the waits look at the queues; everything they read is in memory, so this is cheap.
POLL_INTERVAL = 0.002
START_TIMEOUT = 10.0
LOGGER_NAME = "leveret"


def vhost_url(
    host: str, port: int, vhost: str, user: str = "guest", password: str = "guest"
) -> str:
    """An ``amqp://`` URL; the vhost is quoted completely ("/" becomes ``%2F``)."""
    quote = urllib.parse.quote
    return (
        f"amqp://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/"
        f"{quote(vhost, safe='')}"
    )


class Broker(AccessAdmin):
    """An in-process Leveret broker.

    ``Broker()`` listens on a free port of 127.0.0.1; ``Broker(port=5673)`` on a given one.
    ``data_dir=None`` (the default) keeps everything in memory; a path is handed to the
    node's :class:`~leveret.server.config.Config` as its data directory.

    ``quiet=True`` (the default) sets the ``leveret`` logger to WARNING unless the
    application already chose a level for it, so per-connection INFO lines stay out of
    test output.

    ``compat`` and ``max_message_size`` are ``leveret serve``'s ``--compat`` and
    ``--max-message-size``: ``Broker(compat="rabbitmq-3")`` follows RabbitMQ 3.x where it
    differs from 4.x (docs/compatibility.md), and ``Broker(max_message_size=64 * 2**20)``
    accepts bodies up to 64 MiB. A bad value raises ValueError here, not at start.

    ``management_port`` and ``prometheus_port`` serve the management API and Prometheus
    metrics (None, the default: off; 0: a free port); see ``management_url`` and
    ``prometheus_url``.
    ``collect_statistics_interval`` (ms, RabbitMQ's setting; 5000 by default) is how often
    message rates are sampled: tests of rates set it short.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        data_dir: str | os.PathLike[str] | None = None,
        quiet: bool = True,
        compat: str | CompatProfile = "rabbitmq-4",
        max_message_size: int | None = None,
        management_port: int | None = None,
        prometheus_port: int | None = None,
        collect_statistics_interval: int | None = None,
    ) -> None:
        self._host = host
        self._requested_port = port
        self._data_dir = Path(data_dir) if data_dir is not None else None
        if max_message_size is not None and max_message_size < 1:
            raise ValueError(f"max_message_size must be positive, got {max_message_size}")
        if collect_statistics_interval is not None and collect_statistics_interval < 1:
            raise ValueError(
                "collect_statistics_interval must be a positive number of milliseconds, "
                f"got {collect_statistics_interval}"
            )
        # Built now so that a bad setting fails in the constructor; each start copies it.
        self._config = Config(
            host=host,
            port=port,
            data_dir=self._data_dir,
            compat=get_profile(compat) if isinstance(compat, str) else compat,
            max_message_size=PROFILE_DEFAULT if max_message_size is None else max_message_size,
            # Off unless asked for (0 picks a free port): many test brokers run at once.
            management_port=management_port,
            prometheus_port=prometheus_port,
        )
        if collect_statistics_interval is not None:
            self._config.collect_statistics_interval = collect_statistics_interval
        self._quiet = quiet
        self._node: Node | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop_event: asyncio.Event | None = None
        self._aio = AsyncBrokerControl(self)

    def __repr__(self) -> str:
        state = f"port {self._node.port}" if self._node is not None else "stopped"
        return f"<leveret.Broker {self._host} {state}>"

    # -- addresses ------------------------------------------------------------------------

    @property
    def node(self) -> Node:
        """The running node (advanced use; touch it on the broker's loop only)."""
        if self._node is None:
            raise RuntimeError("the broker is not running")
        return self._node

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the broker runs on."""
        if self._loop is None:
            raise RuntimeError("the broker is not running")
        return self._loop

    @property
    def running(self) -> bool:
        return self._node is not None

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        return self.node.port

    @property
    def url(self) -> str:
        """``amqp://guest:guest@127.0.0.1:PORT/%2F``: the default vhost as guest."""
        return self.url_for("/")

    def url_for(self, vhost: str = "/", *, user: str = "guest", password: str = "guest") -> str:
        """The URL of ``vhost`` on this broker, the vhost name URL-quoted."""
        return vhost_url(self._host, self.port, vhost, user, password)

    @property
    def management_url(self) -> str:
        """``http://127.0.0.1:PORT``: the management API (``Broker(management_port=0)``)."""
        port = self.node.management_port
        if port is None:
            raise RuntimeError("the management API is off: Broker(management_port=0) serves it")
        return f"http://{self._host}:{port}"

    @property
    def prometheus_url(self) -> str:
        """``http://127.0.0.1:PORT``: the Prometheus endpoint (``Broker(prometheus_port=0)``);
        metrics are at ``/metrics``, ``/metrics/per-object`` and ``/metrics/detailed``."""
        port = self.node.prometheus_port
        if port is None:
            raise RuntimeError("Prometheus is off: Broker(prometheus_port=0) serves it")
        return f"http://{self._host}:{port}"

    @property
    def aio(self) -> AsyncBrokerControl:
        """Awaitable versions of the helpers, for async code."""
        return self._aio

    # -- lifecycle: a thread of its own ---------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT) -> Broker:
        """Start on a new event loop in a daemon thread; return once it accepts connections.

        A start-up error (port in use, data directory locked) is raised here.
        """
        if self._node is not None:
            raise RuntimeError("the broker is already running")
        self._silence_logs()
        node = self._make_node()
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(node, ready, failure))
            except BaseException as error:  # pragma: no cover - _serve reports its own
                failure.append(error)
                ready.set()
            finally:
                _close_loop(loop)

        thread = threading.Thread(target=run, name=f"leveret-broker-{id(self):x}", daemon=True)
        thread.start()
        if not ready.wait(timeout):
            raise TimeoutError(f"the embedded broker did not start within {timeout} s")
        if failure:
            thread.join()
            raise failure[0]
        self._node, self._loop, self._thread = node, loop, thread
        return self

    async def _serve(
        self, node: Node, ready: threading.Event, failure: list[BaseException]
    ) -> None:
        stop = asyncio.Event()
        try:
            await node.start()
        except BaseException as error:
            failure.append(error)
            ready.set()
            return
        self._stop_event = stop
        ready.set()
        await stop.wait()
        await node.stop()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the broker (clients get 320 CONNECTION_FORCED) and join its thread."""
        thread, loop, stop = self._thread, self._loop, self._stop_event
        if thread is None:
            if self._node is not None:
                raise RuntimeError("this broker runs on an asyncio loop: use `await astop()`")
            return
        assert loop is not None and stop is not None
        if threading.current_thread() is thread:
            raise RuntimeError("stop() called on the broker's own thread")
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)
        self._node = self._loop = self._thread = self._stop_event = None
        if thread.is_alive():  # pragma: no cover - node.stop() gives up after about a second
            raise TimeoutError(f"the embedded broker did not stop within {timeout} s")

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- lifecycle: on the caller's loop ---------------------------------------------------

    async def astart(self) -> Broker:
        """Start on the running event loop (no thread)."""
        if self._node is not None:
            raise RuntimeError("the broker is already running")
        self._silence_logs()
        node = self._make_node()
        await node.start()
        self._node, self._loop = node, asyncio.get_running_loop()
        return self

    async def astop(self) -> None:
        """Stop a broker started with :meth:`astart` (or ``async with``)."""
        if self._thread is not None:
            raise RuntimeError("this broker runs in its own thread: use stop()")
        node = self._node
        if node is None:
            return
        if asyncio.get_running_loop() is not self._loop:
            raise RuntimeError("astop() must run on the loop the broker was started on")
        try:
            await node.stop()
        finally:
            self._node = self._loop = None

    async def __aenter__(self) -> Broker:
        return await self.astart()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.astop()

    def _make_node(self) -> Node:
        return Node(replace(self._config))

    def _silence_logs(self) -> None:
        if not self._quiet:
            return
        logger = logging.getLogger(LOGGER_NAME)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)

    # -- running things on the broker's loop ----------------------------------------------

    def _on_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    def _call(self, fn: Callable[[], T]) -> T:
        """Run an instant operation on the broker's loop and return its result."""
        loop = self.loop
        if self._on_loop():
            return fn()
        return asyncio.run_coroutine_threadsafe(_caught_up(fn), loop).result()

    def _wait(self, make: Callable[[], Coroutine[Any, Any, T]], what: str) -> T:
        loop = self.loop
        if self._on_loop():
            raise RuntimeError(
                f"{what}() would block the broker's own event loop; "
                f"use `await broker.aio.{what}(...)` in async code"
            )
        return asyncio.run_coroutine_threadsafe(make(), loop).result()

    # -- vhosts ---------------------------------------------------------------------------

    def add_vhost(self, name: str | None = None, *, user: str = "guest") -> str:
        """Create a vhost (a unique name if none is given) that ``user`` may open."""
        return self._call(lambda: vhost_admin.add_vhost(self.node, name, user=user))

    def delete_vhost(self, name: str, reason: str = "vhost deleted") -> None:
        """Close the vhost's connections (320 CONNECTION_FORCED) and delete it."""
        self._call(lambda: vhost_admin.delete_vhost(self.node, name, reason))

    def vhosts(self) -> list[str]:
        return self._call(lambda: vhost_admin.list_vhosts(self.node))

    # -- connections, alarms and memory ---------------------------------------------------

    def connections(self, vhost: str | None = None) -> list[ConnectionInfo]:
        """Client connections (those on ``vhost`` if given)."""
        return self._call(lambda: connection_admin.list_connections(self.node, vhost))

    def close_connections(self, vhost: str | None = None, reason: str = "closed by test") -> int:
        """Close client connections from the broker side, as ``rabbitmqctl close_connection``.

        Clients receive ``connection.close`` 320 CONNECTION_FORCED with ``reason`` in the
        text. Only connections on ``vhost`` if given. Returns how many were closed.
        """
        return self._call(lambda: connection_admin.close_connections(self.node, vhost, reason))

    def set_memory_alarm(self, active: bool = True) -> None:
        """Raise (or clear) a memory alarm, as RabbitMQ's memory high watermark does.

        As in RabbitMQ, only publishers are affected: a connection that publishes while the
        alarm is in force is blocked (the broker stops reading from it) and hears
        ``connection.blocked``; connections that only consume are neither blocked nor told.
        Clearing the alarm unblocks them (``connection.unblocked``).
        """
        self._call(lambda: alarm_admin.set_alarm(self.node, "memory", active))

    def memory_usage(self) -> MemoryUsage:
        """The figures the memory alarm is judged on, measured now, in bytes: ``queues``
        (ready and paged messages), ``unacked`` (deliveries awaiting their ack),
        ``connections`` (their own objects and buffers), ``held`` (the sum of those three),
        ``baseline`` (RSS at start-up), ``accounted`` (baseline + held), ``rss`` and
        ``watermark``; ``alarm`` says whether a memory alarm is in force, raised by the
        broker's check or by :meth:`set_memory_alarm`."""
        return self._call(self.node.memory_usage)

    # -- queues ---------------------------------------------------------------------------

    def queues(self, vhost: str | None = "/") -> list[QueueInfo]:
        """The queues of ``vhost`` (of every vhost if None), sorted by vhost and name."""
        return self._call(lambda: queue_admin.list_queues(self.node, vhost))

    def message_count(self, queue: str, vhost: str = "/") -> int:
        """Ready messages in the queue: its depth, as ``queue.declare-ok`` reports it."""
        return self._call(lambda: queue_admin.message_count(self.node, queue, vhost))

    def peek(self, queue: str, vhost: str = "/", limit: int | None = None) -> list[PeekedMessage]:
        """Copies of the queue's ready messages, head first, without consuming them.

        With a data directory, a durable queue whose backlog outgrew its memory budget keeps
        the newest messages on disk only; peek shows those held in memory.
        """
        return self._call(lambda: message_admin.peek(self.node, queue, vhost, limit))

    def wait_until_empty(
        self,
        queue: str,
        vhost: str = "/",
        *,
        include_unacked: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Block until the queue holds no ready messages (with ``include_unacked``, also
        none delivered and awaiting acknowledgement). A queue that does not exist counts as
        empty. Raises TimeoutError, naming what is left, after ``timeout`` seconds."""
        self._wait(
            lambda: _wait_until_empty(self.node, vhost, queue, include_unacked, timeout),
            "wait_until_empty",
        )

    def wait_for_ack(
        self,
        queue: str,
        vhost: str = "/",
        *,
        body: bytes | str | None = None,
        match: Callable[[PeekedMessage], bool] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Block until the queue's messages (only those with this ``body``, or for which
        ``match`` is true, if given) are acknowledged: none left ready or delivered and
        unacknowledged. A reject without requeue settles a message too; a requeued one
        keeps the wait going. Raises TimeoutError after ``timeout`` seconds."""
        matcher = message_admin.matcher(body, match)
        self._wait(
            lambda: _wait_for_ack(self.node, vhost, queue, matcher, timeout),
            "wait_for_ack",
        )


class AsyncBrokerControl:
    """The helpers of a :class:`Broker` as coroutines; get it as ``broker.aio``.

    Works whether the broker runs on the caller's loop or in its own thread, and never
    blocks the caller's loop.
    """

    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    @property
    def broker(self) -> Broker:
        return self._broker

    def _node(self) -> Node:
        return self._broker.node

    async def _call(self, fn: Callable[[], T]) -> T:
        return await self._run(lambda: _caught_up(fn))

    async def _run(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        broker = self._broker
        loop = broker.loop
        if broker._on_loop():
            return await make()
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(make(), loop))

    async def add_vhost(self, name: str | None = None, *, user: str = "guest") -> str:
        return await self._call(lambda: vhost_admin.add_vhost(self._node(), name, user=user))

    async def delete_vhost(self, name: str, reason: str = "vhost deleted") -> None:
        await self._call(lambda: vhost_admin.delete_vhost(self._node(), name, reason))

    async def vhosts(self) -> list[str]:
        return await self._call(lambda: vhost_admin.list_vhosts(self._node()))

    async def connections(self, vhost: str | None = None) -> list[ConnectionInfo]:
        return await self._call(lambda: connection_admin.list_connections(self._node(), vhost))

    async def close_connections(
        self, vhost: str | None = None, reason: str = "closed by test"
    ) -> int:
        return await self._call(
            lambda: connection_admin.close_connections(self._node(), vhost, reason)
        )

    async def set_memory_alarm(self, active: bool = True) -> None:
        await self._call(lambda: alarm_admin.set_alarm(self._node(), "memory", active))

    async def memory_usage(self) -> MemoryUsage:
        return await self._call(lambda: self._node().memory_usage())

    async def queues(self, vhost: str | None = "/") -> list[QueueInfo]:
        return await self._call(lambda: queue_admin.list_queues(self._node(), vhost))

    async def message_count(self, queue: str, vhost: str = "/") -> int:
        return await self._call(lambda: queue_admin.message_count(self._node(), queue, vhost))

    async def peek(
        self, queue: str, vhost: str = "/", limit: int | None = None
    ) -> list[PeekedMessage]:
        return await self._call(lambda: message_admin.peek(self._node(), queue, vhost, limit))

    async def wait_until_empty(
        self,
        queue: str,
        vhost: str = "/",
        *,
        include_unacked: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        await self._run(
            lambda: _wait_until_empty(self._node(), vhost, queue, include_unacked, timeout)
        )

    async def wait_for_ack(
        self,
        queue: str,
        vhost: str = "/",
        *,
        body: bytes | str | None = None,
        match: Callable[[PeekedMessage], bool] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        matcher = message_admin.matcher(body, match)
        await self._run(lambda: _wait_for_ack(self._node(), vhost, queue, matcher, timeout))


# -- helpers ------------------------------------------------------------------------------


async def _catch_up() -> None:
    """Let the loop read what clients already wrote to their sockets before we look.

    A helper is scheduled from another thread; on its first turn the loop may not yet have
    read bytes a client sent just before the call (a publish without confirms). Two turns
    of the loop, each with a select, get them read and handled.
    """
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def _caught_up(fn: Callable[[], T]) -> T:
    await _catch_up()
    return fn()


async def _poll(left: Callable[[], str | None], timeout: float, message: str) -> None:
    """Wait until ``left()`` returns None; its last answer goes into the TimeoutError."""
    await _catch_up()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = left()
        if remaining is None:
            return
        if loop.time() >= deadline:
            raise TimeoutError(message.format(remaining) + f" after {timeout:g} s")
        await asyncio.sleep(POLL_INTERVAL)


async def _wait_until_empty(
    node: Node, vhost: str, queue: str, include_unacked: bool, timeout: float
) -> None:
    def left() -> str | None:
        counts = queue_admin.outstanding(node, queue, vhost, include_unacked=include_unacked)
        if counts is None:
            return None
        ready, unacked = counts
        return f"{ready} ready and {unacked} unacknowledged" if include_unacked else str(ready)

    await _poll(left, timeout, f"queue {queue!r} in vhost {vhost!r} still holds {{}} messages")


async def _wait_for_ack(
    node: Node,
    vhost: str,
    queue: str,
    match: Callable[[QueueEntry], bool] | None,
    timeout: float,
) -> None:
    def left() -> str | None:
        counts = queue_admin.outstanding(node, queue, vhost, match=match)
        return None if counts is None else f"{counts[0]} ready and {counts[1]} unacknowledged"

    what = "matching " if match is not None else ""
    await _poll(
        left, timeout, f"queue {queue!r} in vhost {vhost!r} still holds {{}} {what}messages"
    )


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is left on a private loop, let it finish, and close the loop."""
    try:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        asyncio.set_event_loop(None)
        loop.close()
