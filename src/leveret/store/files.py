"""The file layer under the durable store: a few calls, so tests can simulate power loss.

``OsFileSystem`` is the real thing. A simulated implementation in the tests remembers what
was fsynced and can "lose power", dropping everything written since.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Protocol


class AppendFile(Protocol):
    """A file opened for appending. ``size`` counts bytes written, synced or not."""

    @property
    def size(self) -> int: ...

    def write(self, data: bytes) -> None:
        """Append all of ``data`` or raise OSError (e.g. ENOSPC) having appended nothing."""
        ...

    def sync(self) -> None: ...

    def close(self) -> None: ...


class FileSystem(Protocol):
    def open_append(self, path: Path) -> AppendFile: ...

    def read(self, path: Path) -> bytes: ...

    def read_range(self, path: Path, offset: int, size: int) -> bytes: ...

    def listdir(self, path: Path) -> list[str]: ...

    def makedirs(self, path: Path) -> None: ...

    def remove(self, path: Path) -> None: ...

    def remove_tree(self, path: Path) -> None: ...

    def truncate(self, path: Path, size: int) -> None: ...

    def exists(self, path: Path) -> bool: ...

    def sync_dir(self, path: Path) -> None:
        """Make file creations and removals in ``path`` durable."""
        ...


class OsAppendFile:
    __slots__ = ("_fd", "_path", "size")

    def __init__(self, path: Path):
        self._path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.size = os.fstat(self._fd).st_size

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        written = 0
        try:
            while written < len(view):
                written += os.write(self._fd, view[written:])
        except OSError:
            # Leave no partial record behind: the caller retries or gives up cleanly.
            os.ftruncate(self._fd, self.size)
            raise
        self.size += written

    def sync(self) -> None:
        os.fdatasync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class OsFileSystem:
    def open_append(self, path: Path) -> AppendFile:
        return OsAppendFile(path)

    def read(self, path: Path) -> bytes:
        with open(path, "rb") as handle:
            return handle.read()

    def read_range(self, path: Path, offset: int, size: int) -> bytes:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read(size)

    def listdir(self, path: Path) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except FileNotFoundError:
            return []

    def makedirs(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)

    def remove(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)

    def remove_tree(self, path: Path) -> None:
        for name in self.listdir(path):
            self.remove(path / name)
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(path)

    def truncate(self, path: Path, size: int) -> None:
        os.truncate(path, size)

    def exists(self, path: Path) -> bool:
        return path.exists()

    def sync_dir(self, path: Path) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
