"""An in-memory ``FileSystem`` that knows what was fsynced, and can lose power.

Every file has two contents: ``data`` (what reads see, the page cache) and ``durable``
(what an ``AppendFile.sync`` made durable). ``crash`` replaces every file by its durable
content; with ``torn_tail=True`` a random prefix of the unsynced bytes of some files
survives too, possibly ending in zeros or garbage (a torn write).

Directory operations: by default a file creation or removal is durable at once (as if
the directory were synced right after every change). With ``strict_dirs=True`` creations
and removals become durable only through ``sync_dir`` of the parent directory, as on a
real file system; a crash then forgets unsynced new files and brings back removed ones.
Directories themselves (``makedirs``) are always durable at once.

``truncate`` changes what reads see at once but is durable only with the next ``sync``
of that file (until then a crash brings the old durable content back).

Fault injection:

* ``disk.full = True``: every ``write`` raises ``OSError(ENOSPC)`` having appended nothing,
  and so does ``makedirs`` of a directory that does not exist yet.
* ``disk.fail_sync = True``: every ``sync`` raises ``OSError(EIO)``; nothing becomes durable.
* ``disk.crash_after(n)``: the ``n``-th mutating operation from now (write, sync, create,
  remove, truncate, sync_dir) raises ``PowerLoss`` instead of happening, and so does every
  operation after it until ``crash`` is called.
"""

from __future__ import annotations

import errno
import random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from leveret.amqp.spec import BasicProperties
from leveret.broker.message import Message
from leveret.broker.queue import Queue
from leveret.broker.ready import PagedRun, PriorityReady
from leveret.broker.vhost import VirtualHost
from leveret.store.base import (
    BindingDefinition,
    DefinitionStore,
    ExchangeDefinition,
    QueueDefinition,
    StoredMessage,
    StoreFailure,
)
from leveret.store.memory import MemoryDefinitionStore
from leveret.store.message_store import MessageStore, Runner, queue_directory_name


class PowerLoss(BaseException):
    """The simulated machine lost power: no I/O happens any more until ``crash``."""


@dataclass(eq=False)
class SimFile:
    data: bytearray = field(default_factory=bytearray)
    durable: bytes = b""


def _key(path: Path | PurePosixPath | str) -> str:
    return str(PurePosixPath(str(path)))


def _parent(key: str) -> str:
    return str(PurePosixPath(key).parent)


class SimulatedAppendFile:
    """A handle from ``open_append``. It refuses to work after the power was lost."""

    def __init__(self, disk: SimulatedDisk, key: str, file: SimFile):
        self._disk = disk
        self._key = key
        self._file = file
        self._generation = disk.generation
        self.closed = False

    def _check(self) -> None:
        if self.closed:
            raise ValueError(f"I/O on closed simulated file {self._key}")
        if self._generation != self._disk.generation:
            raise RuntimeError(f"handle of {self._key} used after a simulated power loss")

    @property
    def size(self) -> int:
        return len(self._file.data)

    def write(self, data: bytes) -> None:
        self._check()
        self._disk._op(f"write {self._key}")
        if self._disk.full:
            self._disk.enospc_count += 1
            raise OSError(errno.ENOSPC, "No space left on device (simulated)", self._key)
        self._file.data += data
        self._disk.bytes_written += len(data)

    def sync(self) -> None:
        self._check()
        self._disk._op(f"sync {self._key}")
        if self._disk.fail_sync:
            self._disk.eio_count += 1
            raise OSError(errno.EIO, "Input/output error (simulated)", self._key)
        self._file.durable = bytes(self._file.data)
        self._disk.sync_count += 1

    def close(self) -> None:
        self.closed = True


class SimulatedDisk:
    def __init__(self, *, strict_dirs: bool = False):
        self.strict_dirs = strict_dirs
        self.files: dict[str, SimFile] = {}  # what listdir/read see
        self.durable_files: dict[str, SimFile] = {}  # directory entries that survive a crash
        self.dirs: set[str] = {"/"}
        self.full = False
        self.fail_sync = False
        self.generation = 0  # bumped by every crash; older handles stop working
        self.ops = 0  # mutating operations so far
        self._crash_at: int | None = None
        self.dead = False
        self.crash_log: str | None = None  # the operation that met the power loss
        self.sync_count = 0
        self.enospc_count = 0
        self.eio_count = 0
        self.bytes_written = 0

    # -- fault injection ------------------------------------------------------------------

    def crash_after(self, n: int | None) -> None:
        """Lose power at the ``n``-th mutating operation from now (None: never)."""
        self._crash_at = None if n is None else self.ops + n

    def _op(self, what: str) -> None:
        if self.dead:
            raise PowerLoss(what)
        self.ops += 1
        if self._crash_at is not None and self.ops >= self._crash_at:
            self.dead = True
            self.crash_log = what
            raise PowerLoss(what)

    def _alive(self) -> None:
        if self.dead:
            raise PowerLoss("read")

    def crash(self, torn_tail: bool = False, rng: random.Random | None = None) -> None:
        """Power comes back: keep what was durable (and, if ``torn_tail``, some more)."""
        rng = rng or random.Random(0)
        survivors: dict[str, SimFile] = {}
        for key, old in self.durable_files.items():
            content = old.durable
            data = bytes(old.data)
            if torn_tail and len(data) > len(content) and data.startswith(content):
                content = self._torn(content, data[len(content) :], rng)
            survivors[key] = SimFile(bytearray(content), content)
        self.files = survivors
        self.durable_files = dict(survivors)
        self.generation += 1
        self.dead = False
        self._crash_at = None

    @staticmethod
    def _torn(durable: bytes, unsynced: bytes, rng: random.Random) -> bytes:
        choice = rng.random()
        if choice < 0.25:
            return durable  # none of it reached the platter
        if choice < 0.45:
            return durable + unsynced  # all of it did, though never synced
        kept = bytearray(unsynced[: rng.randint(0, len(unsynced))])
        if kept and rng.random() < 0.6:
            # The last sector written holds zeros or garbage instead of the data.
            bad = rng.randint(1, min(len(kept), 64))
            if rng.random() < 0.5:
                kept[-bad:] = bytes(bad)
            else:
                kept[-bad:] = rng.randbytes(bad)
        return durable + bytes(kept)

    # -- inspection -----------------------------------------------------------------------

    def names(self, directory: Path | str = "/") -> list[str]:
        """Every file path under ``directory`` (recursively), sorted."""
        prefix = _key(directory).rstrip("/") + "/"
        return sorted(k for k in self.files if k.startswith(prefix))

    def content(self, path: Path | str) -> bytes:
        return bytes(self.files[_key(path)].data)

    def unsynced(self, path: Path | str) -> int:
        """Bytes of ``path`` that a crash would lose."""
        file = self.files[_key(path)]
        return len(file.data) - len(file.durable)

    def poke(self, path: Path | str, offset: int, data: bytes) -> None:
        """Overwrite bytes in place, durably (a corruption the store did not cause)."""
        file = self.files[_key(path)]
        file.data[offset : offset + len(data)] = data
        file.durable = bytes(file.data)

    def put(self, path: Path | str, data: bytes) -> None:
        """Create or replace a file with durable ``data`` (for hand-made test states)."""
        key = _key(path)
        self.dirs.add(_parent(key))
        file = SimFile(bytearray(data), bytes(data))
        self.files[key] = file
        self.durable_files[key] = file

    # -- FileSystem -----------------------------------------------------------------------

    def open_append(self, path: Path) -> SimulatedAppendFile:
        key = _key(path)
        self._alive()
        if _parent(key) not in self.dirs:
            raise FileNotFoundError(errno.ENOENT, "No such directory (simulated)", key)
        file = self.files.get(key)
        if file is None:
            self._op(f"create {key}")
            file = self.files[key] = SimFile()
            if not self.strict_dirs:
                self.durable_files[key] = file
        return SimulatedAppendFile(self, key, file)

    def read(self, path: Path) -> bytes:
        self._alive()
        key = _key(path)
        if key not in self.files:
            raise FileNotFoundError(errno.ENOENT, "No such file (simulated)", key)
        return bytes(self.files[key].data)

    def read_range(self, path: Path, offset: int, size: int) -> bytes:
        return self.read(path)[offset : offset + size]

    def listdir(self, path: Path) -> list[str]:
        self._alive()
        key = _key(path)
        names = {PurePosixPath(k).name for k in self.files if _parent(k) == key}
        names |= {PurePosixPath(d).name for d in self.dirs if d != "/" and _parent(d) == key}
        return sorted(names)

    def makedirs(self, path: Path) -> None:
        self._alive()
        key = PurePosixPath(_key(path))
        if self.full and str(key) not in self.dirs:
            self.enospc_count += 1
            raise OSError(errno.ENOSPC, "No space left on device (simulated)", str(key))
        for directory in (key, *key.parents):
            self.dirs.add(str(directory))

    def remove(self, path: Path) -> None:
        key = _key(path)
        self._alive()
        if key not in self.files:
            return  # like OsFileSystem: removing a missing file is fine
        self._op(f"remove {key}")
        del self.files[key]
        if not self.strict_dirs:
            self.durable_files.pop(key, None)

    def remove_tree(self, path: Path) -> None:
        self._alive()
        key = _key(path)
        for name in self.listdir(path):
            self.remove(Path(key) / name)
        self.dirs.discard(key)

    def truncate(self, path: Path, size: int) -> None:
        key = _key(path)
        self._alive()
        if key not in self.files:
            raise FileNotFoundError(errno.ENOENT, "No such file (simulated)", key)
        self._op(f"truncate {key}")
        del self.files[key].data[size:]

    def exists(self, path: Path) -> bool:
        self._alive()
        key = _key(path)
        return key in self.files or key in self.dirs

    def sync_dir(self, path: Path) -> None:
        key = _key(path)
        self._op(f"sync_dir {key}")
        for child in [k for k in self.durable_files if _parent(k) == key]:
            if child not in self.files:
                del self.durable_files[child]
        for child, file in self.files.items():
            if _parent(child) == key:
                self.durable_files[child] = file


# -- a broker rig over the simulated disk ---------------------------------------------------
#
# What ``leveret.server.node.Node`` wires together, minus sockets: a MessageStore and a
# VirtualHost over one disk, recovered the way ``Node._recover`` does it.

QUEUE_DIR = Path("/data/queues")
PERSISTENT = BasicProperties(delivery_mode=2).encode()
TRANSIENT = BasicProperties(delivery_mode=1).encode()


class SimulatedDefinitionStore(MemoryDefinitionStore):
    """Durable definitions kept on ``disk``: while ``disk.full``, every write raises
    ``StoreFailure`` having changed nothing, as SQLite does with SQLITE_FULL (which
    tests/store/test_definitions_full_disk.py checks on a real SQLite file)."""

    def __init__(self, disk: SimulatedDisk):
        super().__init__()
        self.disk = disk

    def _write(self) -> None:
        if self.disk.full:
            self.disk.enospc_count += 1
            raise StoreFailure("database or disk is full")

    def add_exchange(self, exchange: ExchangeDefinition) -> None:
        self._write()
        super().add_exchange(exchange)

    def remove_exchange(self, vhost: str, name: str) -> None:
        self._write()
        super().remove_exchange(vhost, name)

    def add_queue(self, queue: QueueDefinition) -> None:
        self._write()
        super().add_queue(queue)

    def remove_queue(self, vhost: str, name: str) -> None:
        self._write()
        super().remove_queue(vhost, name)

    def add_binding(self, binding: BindingDefinition) -> None:
        self._write()
        super().add_binding(binding)

    def remove_binding(self, binding: BindingDefinition) -> None:
        self._write()
        super().remove_binding(binding)


def make_message(
    n: int, *, persistent: bool, padding: int = 0, queue: str = "q", priority: int | None = None
) -> Message:
    """Message number ``n``: its body starts with the number, so tests can tell them apart."""
    body = b"m%08d." % n + bytes((n + i) % 251 for i in range(padding))
    if priority is not None:
        mode = 2 if persistent else 1
        return Message(
            "", queue, BasicProperties(delivery_mode=mode, priority=priority).encode(), body
        )
    return Message("", queue, PERSISTENT if persistent else TRANSIENT, body)


def message_id(message: Message | StoredMessage) -> int:
    return int(message.body[1:9])


class RecordingSink:
    """The client end of a channel: remembers every delivery."""

    def __init__(self) -> None:
        self.writable = True
        self.deliveries: list[tuple[str, int, bool, Message]] = []
        self.cancelled: list[str] = []

    def deliver(
        self, consumer_tag: str, delivery_tag: int, redelivered: bool, message: Message
    ) -> None:
        self.deliveries.append((consumer_tag, delivery_tag, redelivered, message))

    def consumer_cancelled(self, consumer_tag: str) -> None:
        self.cancelled.append(consumer_tag)


class ManualRunner:
    """A ``Runner`` the test steps by hand: nothing happens until ``step``/``run_all``.

    "Thread" work runs when stepped, in order with everything else, so a test decides
    exactly what happens between a write and its fsync. ``PowerLoss`` propagates.
    """

    def __init__(self) -> None:
        self.queue: deque[tuple[Callable[[], None], Callable[[BaseException | None], None]]] = (
            deque()
        )

    def call_soon(self, callback: Callable[[], None]) -> None:
        self.queue.append((callback, _no_done))

    def run_in_thread(
        self, work: Callable[[], None], done: Callable[[BaseException | None], None]
    ) -> None:
        self.queue.append((work, done))

    @property
    def pending(self) -> int:
        return len(self.queue)

    def step(self) -> bool:
        if not self.queue:
            return False
        work, done = self.queue.popleft()
        if done is _no_done:
            work()
            return True
        try:
            work()
        except PowerLoss:
            raise
        except Exception as error:
            done(error)
        else:
            done(None)
        return True

    def run_all(self, limit: int = 10_000) -> None:
        for _ in range(limit):
            if not self.step():
                return
        raise AssertionError("the store keeps scheduling work forever")


def _no_done(error: BaseException | None) -> None:  # marks call_soon entries
    raise AssertionError("not a thread job")


class Rig:
    """One broker "boot" over ``disk``: builds the store and vhost and recovers them."""

    def __init__(
        self,
        disk: SimulatedDisk,
        definitions: DefinitionStore,
        *,
        runner: Runner | None = None,
        segment_size: int = 4096,
        memory_budget: int = 2048,
    ):
        self.disk = disk
        self.definitions = definitions
        self.runner: Runner = runner if runner is not None else ManualRunner()
        self.store = MessageStore(disk, QUEUE_DIR, self.runner, segment_size)
        self.vhost = VirtualHost(
            "/", definitions=definitions, logs=self.store, memory_budget=memory_budget
        )
        self.recovered = self._recover()

    def _recover(self) -> int:
        """What ``Node._recover`` does for one vhost."""
        kept: set[str] = set()
        count = 0
        for queue in self.vhost.restore(self.definitions.load()):
            kept.add(queue_directory_name(self.vhost.name, queue.name))
            if queue.log is not None:
                recovery = self.store.open_queue(self.vhost.name, queue.name).recover()
                queue.restore(recovery.runs, recovery.delivered, recovery.next_seq)
                count += recovery.count
        self.store.remove_orphans(kept)
        return count

    def declare(self, name: str = "q") -> Queue:
        return self.vhost.declare_queue(name, None, durable=True)

    def publish(self, message: Message, on_confirm: Callable[[bool], None] | None = None) -> None:
        """basic.publish to the default exchange, with a confirm as the server sends it."""
        needs_sync = False
        for queue in self.vhost.route(self.vhost.exchanges[""], message):
            if queue.publish(message):
                needs_sync = True
        if on_confirm is not None:
            if needs_sync:
                self.store.after_sync(on_confirm)
            else:
                on_confirm(True)

    def run(self) -> None:
        """Let the store finish whatever it scheduled (writes and fsyncs)."""
        if isinstance(self.runner, ManualRunner):
            self.runner.run_all()


def peek(queue: Queue) -> list[tuple[int, bool]]:
    """(message id, redelivered) of every ready message in queue order, without taking any.

    A priority queue serves level by level, highest first: in each level the messages in
    memory come before the paged ones."""
    levels = queue.paged_levels
    if levels is None:
        found = [(message_id(entry.message), entry.redelivered) for entry in queue.ready]
        return found + _peek_runs(queue, queue.paged)
    ready = queue.ready
    assert isinstance(ready, PriorityReady)
    found = []
    for index in range(len(levels) - 1, -1, -1):
        found += [(message_id(entry.message), entry.redelivered) for entry in ready.level(index)]
        found += _peek_runs(queue, levels[index])
    return found


def _peek_runs(queue: Queue, runs: Iterable[PagedRun]) -> list[tuple[int, bool]]:
    found = []
    for run in runs:
        assert queue.log is not None
        for record in queue.log.read(run.segment, run.offsets, run.next, len(run)):
            found.append((message_id(record), record.seq in queue.recovered_delivered))
    return found
