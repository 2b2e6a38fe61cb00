"""Resource alarms: memory high-watermark and free-disk limit, checked periodically.

While an alarm is raised, publishing connections are paused and clients that declared the
capability hear connection.blocked (see Node.set_alarm).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def total_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 8 * 1024**3


def resident_memory() -> int:
    """This process's resident set size in bytes (Linux; 0 where unknown)."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def memory_limit(watermark: float) -> int:
    """RabbitMQ's vm_memory_high_watermark: below 1 a fraction of RAM, else bytes."""
    return int(total_memory() * watermark) if watermark < 1 else int(watermark)


def disk_free(path: Path) -> int:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return 1 << 62


class ResourceMonitor:
    def __init__(self, memory_watermark: float, disk_free_limit: int, data_dir: Path | None):
        self.memory_limit = memory_limit(memory_watermark)
        self.disk_free_limit = disk_free_limit
        self.data_dir = data_dir

    def check(self) -> dict[str, bool]:
        """Which alarms should be in force now."""
        alarms = {"memory": 0 < self.memory_limit < resident_memory()}
        if self.data_dir is not None:
            alarms["disk"] = disk_free(self.data_dir) < self.disk_free_limit
        return alarms
