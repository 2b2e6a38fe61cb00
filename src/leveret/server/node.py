"""The composition root: builds the broker from its parts and serves AMQP on a socket."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from pathlib import Path
from typing import IO

from leveret.broker.auth import UserDatabase
from leveret.broker.vhost import VirtualHost
from leveret.server.config import Config
from leveret.server.connection import AMQPConnection

log = logging.getLogger("leveret.node")


class DataDirLocked(RuntimeError):
    """Another broker already uses this data directory."""


class DataDirLock:
    """An exclusive lock file, so two brokers can never share one data directory."""

    def __init__(self, data_dir: Path):
        self.path = data_dir / "leveret.lock"
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held open for the broker's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise DataDirLocked(
                f"data directory {self.path.parent} is in use by another broker"
            ) from None
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class Node:
    def __init__(self, config: Config | None = None, users: UserDatabase | None = None):
        self.config = config or Config()
        self.users = users or UserDatabase.with_default_user()
        self.vhosts: dict[str, VirtualHost] = {}
        self.connections: set[AMQPConnection] = set()
        self._server: asyncio.Server | None = None
        data_dir = self.config.data_dir
        self._lock = DataDirLock(data_dir) if data_dir is not None else None
        self.port = self.config.port
        # Resource alarms in force ("memory", "disk"): while any is, publishers are paused.
        self.alarms: set[str] = set()

    def add_vhost(self, name: str) -> VirtualHost:
        loop = asyncio.get_running_loop()
        vhost = VirtualHost(name, schedule=loop.call_soon)
        self.vhosts[name] = vhost
        return vhost

    def set_alarm(self, resource: str, active: bool) -> None:
        """Raise or clear a resource alarm; clients hear connection.blocked/unblocked."""
        was_blocked = bool(self.alarms)
        if active:
            self.alarms.add(resource)
        else:
            self.alarms.discard(resource)
        if bool(self.alarms) == was_blocked:
            return
        for conn in list(self.connections):
            if self.alarms:
                conn.block(f"low on {resource}")
            else:
                conn.unblock()

    async def start(self) -> None:
        if self._lock is not None:
            self._lock.acquire()
        try:
            self.add_vhost("/")
            loop = asyncio.get_running_loop()
            self._server = await loop.create_server(
                lambda: AMQPConnection(self),
                self.config.host,
                self.config.port,
                reuse_address=True,
            )
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise
        self.port = self._server.sockets[0].getsockname()[1]
        log.info(
            "AMQP listening on %s:%d, data in %s",
            self.config.host,
            self.port,
            self.config.data_dir or "memory",
        )

    async def stop(self) -> None:
        """Stop accepting, tell every client 320 CONNECTION_FORCED, and close."""
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.close_forced("shutdown")
        # Give clients a moment to read the close before the sockets go.
        for _ in range(50):
            if not self.connections:
                break
            await asyncio.sleep(0.02)
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        if self._lock is not None:
            self._lock.release()
        log.info("stopped")
