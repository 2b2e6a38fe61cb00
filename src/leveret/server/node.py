"""The composition root: builds the broker from its parts and serves AMQP on a socket."""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

from leveret.broker.access import AccessControl
from leveret.broker.admin.definitions import import_definitions, read_definitions_file
from leveret.broker.admin.policies import KINDS as POLICY_KINDS
from leveret.broker.admin.policies import install_stored_policies
from leveret.broker.admin.stats import sample_statistics
from leveret.broker.admin.vhosts import remove_runtime
from leveret.broker.channel import random_name
from leveret.broker.clock import SystemClock
from leveret.broker.message import Message
from leveret.broker.node_counters import NodeCounters
from leveret.broker.queue import Queue
from leveret.broker.stats import NodeStats
from leveret.broker.vhost import VirtualHost
from leveret.http.node import Listener, NodeResources, TLSFiles
from leveret.server.config import Config
from leveret.server.connection import AMQPConnection
from leveret.server.control import ControlServer, socket_path
from leveret.server.management import HttpListeners
from leveret.server.monitor import (
    MemoryUsage,
    ResourceMonitor,
    disk_free,
    max_fds,
    open_fds,
    queue_memory,
)
from leveret.server.session import Session
from leveret.server.tls import TLSListener, build_context
from leveret.store.base import DefinitionStore
from leveret.store.files import OsFileSystem
from leveret.store.memory import MemoryDefinitionStore
from leveret.store.message_store import MessageStore, queue_directory_name
from leveret.store.sqlite_definitions import SqliteDefinitionStore

log = logging.getLogger("leveret.node")


def _code_kind() -> str:
    """Whether the hot path runs compiled (a wheel built by hatch_build.py) or interpreted."""
    source = sys.modules[AMQPConnection.__module__].__file__ or ""
    return "pure Python" if source.endswith(".py") else "compiled with mypyc"


class LoopRunner:
    """Runs store work on the broker's loop, and fsyncs on one worker thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leveret-fsync")

    def call_soon(self, callback: Callable[[], None]) -> None:
        self.loop.call_soon(callback)

    def run_in_thread(
        self, work: Callable[[], None], done: Callable[[BaseException | None], None]
    ) -> None:
        future = self.loop.run_in_executor(self.executor, work)
        future.add_done_callback(lambda f: done(f.exception()))

    def close(self) -> None:
        self.executor.shutdown(wait=True)


# RabbitMQ's form of a cluster's permanent id, and the file Leveret keeps it in.
CLUSTER_ID_PREFIX = "rabbitmq-cluster-id-"
CLUSTER_ID_FILE = "cluster_id"


def _kept_cluster_id(path: Path) -> str:
    """The cluster id stored at ``path``; made and stored there on first boot."""
    try:
        kept = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        kept = ""
    if kept.startswith(CLUSTER_ID_PREFIX):
        return kept
    made = random_name(CLUSTER_ID_PREFIX)
    try:
        path.write_text(made + "\n", encoding="ascii")
    except OSError as error:  # only the id's permanence is lost
        log.warning("cannot keep the cluster id in %s: %s", path, error.strerror or error)
    return made


class DataDirLocked(RuntimeError):
    """Another broker already uses this data directory."""


class DataDirUnusable(RuntimeError):
    """The data directory cannot be created or written; the message names path and reason."""


def prepare_data_dir(path: Path) -> None:
    """Create the data directory with any missing parents (as RabbitMQ creates its own),
    and check that the broker can write there, before anything listens."""
    if path.exists() and not path.is_dir():
        raise DataDirUnusable(f"data directory {path} is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataDirUnusable(
            f"cannot create data directory {path}: {error.strerror or error}"
        ) from None
    # The lock file is the first thing the broker writes, so it is the probe: os.access
    # would not do, as it says yes to root on a directory only its mode bits protect, and
    # the probe leaves nothing behind that the broker would not create anyway.
    try:
        with open(path / DataDirLock.NAME, "a"):
            pass
    except OSError as error:
        raise DataDirUnusable(
            f"cannot write in data directory {path}: {error.strerror or error}"
        ) from None


class DataDirLock:
    """An exclusive lock file, so two brokers can never share one data directory."""

    NAME = "leveret.lock"

    def __init__(self, data_dir: Path):
        self.path = data_dir / self.NAME
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        prepare_data_dir(self.path.parent)
        try:
            handle = open(self.path, "a+")  # noqa: SIM115 - held open for the broker's lifetime
        except OSError as error:
            raise DataDirUnusable(
                f"cannot write in data directory {self.path.parent}: {error.strerror or error}"
            ) from None
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
        """Empty the file, then unlock it. The file itself stays: removing it would let a
        broker that opened it just before lock an unlinked inode while a third one creates
        and locks a new file, and two brokers would share the directory."""
        if self._file is not None:
            # A PID left behind would name a process that is gone (or, later, a stranger).
            try:
                self._file.truncate(0)
            except OSError:
                log.warning("could not empty %s", self.path)
            self._file.close()
            self._file = None


class Node:
    def __init__(self, config: Config | None = None):
        self.config = config or Config()
        # Replaced once storage is open (start); until then an empty, in-memory model.
        self.access = AccessControl(loopback_users=self.config.loopback_users)
        self.vhosts: dict[str, VirtualHost] = {}
        self.connections: set[AMQPConnection] = set()
        self._server: asyncio.Server | None = None
        data_dir = self.config.data_dir
        self._lock = DataDirLock(data_dir) if data_dir is not None else None
        self.port = self.config.port
        # The AMQPS port once started (None: no TLS listener); 0 in the config picks one.
        self.ssl_port: int | None = None
        self._tls: TLSListener | None = None
        # Resource alarms in force ("memory", "disk"): while any is, publishers are paused.
        self.alarms: set[str] = set()
        self.definitions: DefinitionStore = MemoryDefinitionStore()
        # Direct reply-to: reply address -> the channel that consumes its replies.
        self.reply_consumers: dict[str, Session] = {}
        self.message_store: MessageStore | None = None
        self._runner: LoopRunner | None = None
        self._monitor_task: asyncio.Task[None] | None = None
        # Node-wide message statistics, and the timer that samples every object's.
        self.stats = NodeStats()
        self._stats_task: asyncio.Task[None] | None = None
        self._monitor: ResourceMonitor | None = None
        # The control socket for `leveret ctl` (only with a data dir: it lives there).
        self._control: ControlServer | None = None
        self._http: HttpListeners | None = None
        self.started_at = time.time()
        self.node_name = f"leveret@{socket.gethostname().split('.')[0]}"
        # Connection, channel and queue churn and message sizes, for Prometheus.
        self.counters = NodeCounters()
        # Replaced by the one kept in the data directory, if any, at start.
        self.cluster_id = random_name(CLUSTER_ID_PREFIX)

    @property
    def cluster_name(self) -> str:
        """The name set through the management API, else the configured one."""
        named = self.access.cluster_name
        return named if named is not None else self.config.cluster_name

    @property
    def management_port(self) -> int | None:
        """The management API's bound port, once started (None: not served)."""
        if self._http is None or self._http.management is None:
            return None
        return self._http.management.port

    @property
    def prometheus_port(self) -> int | None:
        """The Prometheus endpoint's bound port, once started (None: not served)."""
        if self._http is None or self._http.prometheus is None:
            return None
        return self._http.prometheus.port

    def listeners(self) -> list[Listener]:
        found = [Listener("amqp", self.config.host, self.port)]
        if self.ssl_port is not None:
            found.append(Listener("amqp/ssl", self.config.ssl_host, self.ssl_port))
        if self._http is not None:
            found.extend(self._http.listeners())
        return found

    def tls_files(self) -> list[TLSFiles]:
        tls = self.config.ssl
        if self.ssl_port is None or tls.certfile is None:
            return []
        listener = Listener("amqp/ssl", self.config.ssl_host, self.ssl_port)
        cacertfile = str(tls.cacertfile) if tls.cacertfile is not None else None
        return [TLSFiles(listener, str(tls.certfile), cacertfile)]

    def resources(self) -> NodeResources:
        usage = self.memory_usage()
        return NodeResources(
            mem_used=usage.rss or usage.accounted,
            mem_limit=usage.watermark,
            mem_alarm="memory" in self.alarms,
            disk_free=disk_free(self.config.data_dir or Path.cwd()),
            disk_free_limit=self.config.disk_free_limit,
            disk_free_alarm="disk" in self.alarms,
            fd_used=open_fds() or 0,
            fd_total=max_fds() or 0,
            sockets_used=sum(1 for conn in self.connections if not conn.closed),
            processors=os.cpu_count() or 1,
            os_pid=os.getpid(),
        )

    def settings(self) -> dict[str, object]:
        return {
            item.name: getattr(self.config, item.name)
            for item in dataclasses.fields(self.config)
            if item.name not in ("ssl", "default_pass")
        }

    def add_vhost(self, name: str) -> VirtualHost:
        loop = asyncio.get_running_loop()
        vhost = VirtualHost(
            name,
            schedule=loop.call_soon,
            definitions=self.definitions,
            logs=self.message_store,
            memory_budget=self.config.queue_memory_budget,
            clock=SystemClock(loop.call_later),
            compat=self.config.compat,
            counters=self.counters,
        )
        self.vhosts[name] = vhost
        return vhost

    def _open_storage(self) -> None:
        data_dir = self.config.data_dir
        if data_dir is None:
            return
        self._runner = LoopRunner(asyncio.get_running_loop())
        self.definitions = SqliteDefinitionStore(data_dir / "definitions.sqlite3")
        self.message_store = MessageStore(OsFileSystem(), data_dir / "queues", self._runner)

    def _open_access(self, recovered: set[str]) -> None:
        """Load users, vhosts and permissions; on first boot create RabbitMQ's defaults.
        ``recovered`` names the vhosts stored definitions mention: a data directory from
        before the access model knew them only that way, so they are registered (with the
        default user's full permissions) rather than lost."""
        config = self.config
        access = AccessControl(self.definitions, config.loopback_users)
        if access.empty and config.load_definitions is not None:
            # As RabbitMQ: definitions loaded at boot replace the default user and vhost,
            # which would otherwise be a guest account the file's author never asked for.
            log.info(
                "first boot: no default user or vhost, definitions come from %s",
                config.load_definitions,
            )
            for name in sorted(recovered):
                access.add_vhost(name)
        elif access.empty:
            access.seed_defaults(config.default_user, config.default_pass, config.default_vhost)
            log.info(
                "first boot: created user '%s' (administrator) and vhost '%s'",
                config.default_user,
                config.default_vhost,
            )
            for name in sorted(recovered - set(access.vhosts)):
                access.add_vhost(name)
                access.set_permissions(config.default_user, name, ".*", ".*", ".*")
        access.on_vhost_added = self._vhost_added
        access.on_vhost_deleted = self._vhost_deleted
        access.on_user_deleted = self._user_deleted
        self.access = access
        for name in access.vhosts:
            if name not in self.vhosts:
                self.add_vhost(name)

    def _vhost_added(self, name: str) -> None:
        if name not in self.vhosts:
            self.add_vhost(name)

    def _vhost_deleted(self, name: str) -> None:
        remove_runtime(self, name, f"vhost '{name}' is deleted", verbatim=True)

    def _user_deleted(self, name: str) -> None:
        for conn in list(self.connections):
            if conn.user is not None and conn.user.name == name:
                conn.close_forced(f"user '{name}' is deleted", verbatim=True)

    def _recover(self) -> None:
        """Bring back durable definitions and the messages of durable queues."""
        started = time.monotonic()
        definitions = self.definitions.load()
        names = {q.vhost for q in definitions.queues} | {x.vhost for x in definitions.exchanges}
        self._open_access(names)
        names |= set(self.access.vhosts)
        policies = [r for r in self.definitions.load_access() if r[0] in POLICY_KINDS]
        kept: set[str] = set()
        messages = 0
        for name in sorted(names):
            vhost = self.vhosts.get(name) or self.add_vhost(name)
            install_stored_policies(vhost, policies)
            for queue in vhost.restore(definitions):
                kept.add(queue_directory_name(name, queue.name))
                if queue.log is not None and self.message_store is not None:
                    recovery = self.message_store.open_queue(name, queue.name).recover()
                    queue.restore(recovery.runs, recovery.delivered, recovery.next_seq)
                    messages += recovery.count
        if self.message_store is not None:
            self.message_store.remove_orphans(kept)
        if definitions.queues or definitions.exchanges:
            log.info(
                "recovered %d queues, %d exchanges, %d messages in %.2fs",
                len(definitions.queues),
                len(definitions.exchanges),
                messages,
                time.monotonic() - started,
            )

    def _load_definitions(self) -> None:
        """Import ``load_definitions`` after recovery, as RabbitMQ does at boot, so the file's
        users and topology are there before the first client. A file that cannot be read or
        parsed stops the start (DefinitionsFileError) rather than start a broker without the
        users it promised; entries that cannot be applied are logged as warnings."""
        path = self.config.load_definitions
        if path is None:
            return
        warnings = import_definitions(self, read_definitions_file(path))
        for warning in warnings:
            log.warning("definitions from %s: %s", path, warning)
        log.info("imported definitions from %s", path)

    def register_reply_consumer(self, session: Session, tag: str) -> None:
        key = random_name("")
        session.reply_key, session.reply_tag = key, tag
        self.reply_consumers[key] = session

    def unregister_reply_consumer(self, session: Session) -> None:
        if session.reply_key is not None:
            self.reply_consumers.pop(session.reply_key, None)
        session.reply_key = session.reply_tag = None

    def deliver_reply(self, key: str, message: Message) -> bool:
        session = self.reply_consumers.get(key)
        if session is None or session.closed:
            return False
        session.deliver_reply(message)
        return True

    def set_alarm(self, resource: str, active: bool) -> None:
        """Raise or clear a resource alarm. A connection is blocked (and hears
        connection.blocked) only when it publishes while an alarm is in force, as in
        RabbitMQ; when the last alarm clears, every blocked connection is unblocked."""
        if active:
            self.alarms.add(resource)
            return
        self.alarms.discard(resource)
        if not self.alarms:
            for conn in list(self.connections):
                conn.unblock()

    async def start(self) -> None:
        # Created first, so that its baseline (RSS before anything is recovered or
        # published) is the broker's own footprint, not counted again as held messages.
        config = self.config
        self._monitor = ResourceMonitor(
            config.memory_high_watermark, config.disk_free_limit, config.data_dir
        )
        # Checked before the data directory is touched: a bad certificate is a clear
        # TLSConfigError naming the setting and file, not a half-started broker.
        tls_context = build_context(config.ssl) if config.ssl_port is not None else None
        if self._lock is not None:
            self._lock.acquire()
        try:
            if config.data_dir is not None:
                self.cluster_id = _kept_cluster_id(config.data_dir / CLUSTER_ID_FILE)
            self._open_storage()
            self._recover()
            self._load_definitions()
            loop = asyncio.get_running_loop()
            self._server = await loop.create_server(
                lambda: AMQPConnection(self),
                self.config.host,
                self.config.port,
                reuse_address=True,
            )
            if tls_context is not None and config.ssl_port is not None:
                self._tls = TLSListener(
                    tls_context, lambda: AMQPConnection(self), config.handshake_timeout
                )
                self.ssl_port = self._tls.listen(config.ssl_host, config.ssl_port)
            self._http = HttpListeners(
                self,
                (config.management_host, config.management_port),
                (config.prometheus_host, config.prometheus_port),
            )
            await self._http.start()
            # Last: once `leveret ctl` can connect, the broker is fully started (what
            # await_startup and check_running report).
            if config.data_dir is not None:
                self._control = ControlServer(self, socket_path(config.data_dir))
                await self._control.start()
        except BaseException:
            if self._http is not None:
                await self._http.close()
                self._http = None
            if self._control is not None:
                await self._control.close()
                self._control = None
            if self._tls is not None:
                self._tls.close()
                self._tls = None
            if self._server is not None:
                self._server.close()
                self._server = None
            if self._lock is not None:
                self._lock.release()
            raise
        self.port = self._server.sockets[0].getsockname()[1]
        self._monitor_task = asyncio.get_running_loop().create_task(self._watch())
        self._stats_task = asyncio.get_running_loop().create_task(self._collect_statistics())
        log.info(
            "AMQP listening on %s:%d, data in %s (%s)",
            self.config.host,
            self.port,
            self.config.data_dir or "memory",
            _code_kind(),
        )
        if self.ssl_port is not None:
            log.info("AMQPS listening on %s:%d", config.ssl_host, self.ssl_port)

    def memory_usage(self) -> MemoryUsage:
        """What the memory alarm is judged on, measured now (for management and logs)."""
        if self._monitor is None:  # not started: nothing held yet
            self._monitor = ResourceMonitor(
                self.config.memory_high_watermark, self.config.disk_free_limit, None
            )
        queues = (queue for vhost in self.vhosts.values() for queue in vhost.queues.values())
        return self._monitor.memory_usage(queues, list(self.connections), "memory" in self.alarms)

    def queue_memory(self, queue: Queue) -> int:
        """Bytes one queue holds in memory, as the memory alarm counts them."""
        return queue_memory(queue)

    async def _watch(self) -> None:
        """Raise and clear resource alarms; cancel consumers past the consumer timeout."""
        config = self.config
        assert self._monitor is not None
        monitor = self._monitor
        measured: dict[str, bool] = {}
        while True:
            await asyncio.sleep(config.resource_check_interval)
            try:
                usage = self.memory_usage()
                due = monitor.check(usage)
            except Exception:  # one bad measurement must not end alarm checks for good
                log.exception("resource check failed")
                continue
            for resource, active in due.items():
                # Act on changes only, so an alarm raised by hand (tests) is left alone.
                if active != measured.get(resource, False):
                    measured[resource] = active
                    state = "raised" if active else "cleared"
                    if resource == "memory":
                        log.warning("memory alarm %s: %s", state, usage.describe())
                    else:
                        log.warning("%s alarm %s", resource, state)
                    self.set_alarm(resource, active)
            if config.consumer_timeout:
                deadline = time.monotonic() - config.consumer_timeout / 1000
                for conn in list(self.connections):
                    conn.expire_slow_consumers(deadline)

    async def _collect_statistics(self) -> None:
        """Sample every counter into rates each ``collect_statistics_interval`` ms (as
        RabbitMQ's collect_statistics_interval), starting at once so that the first rates
        come one interval after start."""
        interval = self.config.collect_statistics_interval / 1000
        while True:
            try:
                sample_statistics(self, time.monotonic())
            except Exception:  # one bad sample must not end statistics for good
                log.exception("statistics sampling failed")
            await asyncio.sleep(interval)

    async def stop(self) -> None:
        """Stop accepting, tell every client 320 CONNECTION_FORCED, and close."""
        if self._monitor_task is not None:
            self._monitor_task.cancel()
            self._monitor_task = None
        if self._stats_task is not None:
            self._stats_task.cancel()
            self._stats_task = None
        if self._control is not None:
            await self._control.close()
            self._control = None
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._server is not None:
            self._server.close()
        if self._tls is not None:
            self._tls.close()
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
        if self.message_store is not None:
            while self.message_store.busy:  # a running fsync still holds the files
                await asyncio.sleep(0.005)
            self.message_store.close()
        if self._runner is not None:
            self._runner.close()
        self.definitions.close()
        if self._lock is not None:
            self._lock.release()
        log.info("stopped")
