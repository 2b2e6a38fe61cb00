"""The durable message store: one log per durable queue, and group commit.

Publishers waiting for confirms register a callback with ``after_sync``. One sync cycle
writes every buffered record and fsyncs every touched file on a worker thread; whatever
arrives meanwhile waits for the next cycle. Under load a cycle carries many publishers'
messages (one fsync for all); when idle a lone message is synced at once. No fixed sleep.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from leveret.store.files import AppendFile, FileSystem
from leveret.store.queue_log import DEFAULT_SEGMENT_SIZE, QueueLog

log = logging.getLogger("leveret.store")

SyncCallback = Callable[[bool], None]  # called with True once stored, False if it failed


class Runner(Protocol):
    """How the store schedules work: soon on the broker's loop, or on a worker thread."""

    def call_soon(self, callback: Callable[[], None]) -> None: ...

    def run_in_thread(
        self, work: Callable[[], None], done: Callable[[BaseException | None], None]
    ) -> None: ...


class ImmediateRunner:
    """Runs everything at once, synchronously: for tests and tools."""

    def call_soon(self, callback: Callable[[], None]) -> None:
        callback()

    def run_in_thread(
        self, work: Callable[[], None], done: Callable[[BaseException | None], None]
    ) -> None:
        try:
            work()
        except BaseException as error:
            done(error)
        else:
            done(None)


def queue_directory_name(vhost: str, queue: str) -> str:
    return hashlib.sha256(f"{vhost}\0{queue}".encode()).hexdigest()[:32]


class MessageStore:
    def __init__(
        self,
        fs: FileSystem,
        directory: Path,
        runner: Runner,
        segment_size: int = DEFAULT_SEGMENT_SIZE,
    ):
        self.fs = fs
        self.directory = directory
        self.runner = runner
        self.segment_size = segment_size
        self.logs: dict[str, QueueLog] = {}
        self._destroyed: list[QueueLog] = []  # their handles close after the running fsync
        self._waiters: list[SyncCallback] = []
        self._syncing = False
        self._scheduled = False
        self._closed = False
        # The batch handed to the fsync thread: (files, logs with new names, waiters).
        self._in_flight: tuple[list[AppendFile], list[QueueLog], list[SyncCallback]] | None = None
        self.sync_count = 0  # for tests and metrics: how many fsync cycles ran

    def open_queue(self, vhost: str, queue: str) -> QueueLog:
        name = queue_directory_name(vhost, queue)
        existing = self.logs.get(name)
        if existing is not None:
            return existing
        queue_log = QueueLog(self.fs, self.directory / name, self.segment_size, self.touched)
        self.logs[name] = queue_log
        return queue_log

    def delete_queue(self, vhost: str, queue: str) -> None:
        queue_log = self.logs.pop(queue_directory_name(vhost, queue), None)
        if queue_log is not None:
            queue_log.destroy()
            self._destroyed.append(queue_log)
            if not self._syncing:
                self._close_retired()
        else:
            self.fs.remove_tree(self.directory / queue_directory_name(vhost, queue))

    def remove_orphans(self, keep: set[str]) -> None:
        """Delete logs of queues that no longer exist (deleted just before a crash)."""
        for name in self.fs.listdir(self.directory):
            if name not in keep and name not in self.logs:
                self.fs.remove_tree(self.directory / name)

    # -- group commit ---------------------------------------------------------------------

    def touched(self) -> None:
        """Something was buffered: make sure a cycle will write it soon."""
        if not self._scheduled and not self._syncing:
            self._scheduled = True
            self.runner.call_soon(self._cycle)

    def after_sync(self, callback: SyncCallback) -> None:
        self._waiters.append(callback)
        self.touched()

    def _close_retired(self) -> None:
        for queue_log in self._destroyed:
            queue_log.close_retired()
        self._destroyed.clear()
        for queue_log in self.logs.values():
            if queue_log.retired:
                queue_log.close_retired()

    def _cycle(self) -> None:
        self._scheduled = False
        if self._syncing:
            return
        self._close_retired()
        waiters, self._waiters = self._waiters, []
        files: list[AppendFile] = []
        failed: BaseException | None = None
        directories: list[QueueLog] = []
        for queue_log in list(self.logs.values()):
            try:
                files.extend(queue_log.flush())
            except OSError as error:
                # Kept buffered and retried by the next cycle (the next publish or ack).
                log.error("cannot write to %s: %s", queue_log.directory, error)
                files.extend(queue_log.flush_failed())
                failed = error
            if queue_log.directory_dirty:
                queue_log.directory_dirty = False
                directories.append(queue_log)
        if failed is not None:
            # Which waiter's data failed is not tracked: nack them all (publishers retry).
            for waiter in waiters:
                waiter(False)
            waiters = []
        if not files and not waiters and not directories:
            if failed is None:
                for queue_log in list(self.logs.values()):
                    queue_log.synced()
            return
        self._syncing = True
        sync_ok = failed is None
        self._in_flight = (files, directories, waiters)

        def sync() -> None:
            if self._closed:
                return  # close() already synced these files itself
            for queue_log in directories:
                queue_log.sync_directory()
            for handle in files:
                handle.sync()

        def done(error: BaseException | None) -> None:
            self._syncing = False
            self._in_flight = None
            if self._closed:
                return
            self.sync_count += 1
            if error is not None:
                log.error("fsync failed: %s", error)
            elif sync_ok:
                for queue_log in list(self.logs.values()):
                    queue_log.synced()
            self._close_retired()
            for waiter in waiters:
                waiter(error is None)
            if self._waiters or any(q.dirty for q in self.logs.values()):
                self.touched()

        self.runner.run_in_thread(sync, done)

    @property
    def busy(self) -> bool:
        """An fsync is running on the worker thread (wait before ``close``)."""
        return self._syncing

    def close(self) -> None:
        """Write and sync everything, then close all files (clean shutdown).

        Best called when ``busy`` is false. If a batch was handed to the fsync thread and
        has not run yet, it is synced here instead (and its job becomes a no-op).
        """
        self._closed = True
        if self._in_flight is not None:
            files, directories, waiters = self._in_flight
            self._in_flight = None
            try:
                for queue_log in directories:
                    queue_log.sync_directory()
                for handle in files:
                    handle.sync()
                ok = True
            except OSError as error:
                log.error("fsync at shutdown failed: %s", error)
                ok = False
            for waiter in waiters:
                waiter(ok)
        for queue_log in self.logs.values():
            try:
                files = queue_log.flush()
                if queue_log.directory_dirty:
                    queue_log.directory_dirty = False
                    queue_log.sync_directory()
                for handle in files:
                    handle.sync()
                queue_log.synced()
            except OSError as error:
                log.error("cannot flush %s at shutdown: %s", queue_log.directory, error)
            queue_log.close()
        self._close_retired()
