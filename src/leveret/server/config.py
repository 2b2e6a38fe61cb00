"""Broker settings, with RabbitMQ's defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "leveret"


@dataclass
class Config:
    host: str = "127.0.0.1"
    port: int = 5672
    # None keeps everything in memory (embedded brokers, tests): no lock, nothing on disk.
    data_dir: Path | None = field(default_factory=default_data_dir)
    frame_max: int = 131072
    channel_max: int = 2047
    heartbeat: int = 60
    handshake_timeout: float = 10.0
    # RabbitMQ 4.x's default max_message_size.
    max_message_size: int = 16 * 1024 * 1024
    cluster_name: str = "leveret"
    # Bytes of message bodies a durable queue keeps in memory; beyond it, the log holds them.
    queue_memory_budget: int = 32 * 1024 * 1024
    # RabbitMQ's vm_memory_high_watermark: a fraction of RAM (< 1) or bytes; 0 disables.
    memory_high_watermark: float = 0.4
    # RabbitMQ's disk_free_limit: publishers are blocked below this many free bytes.
    disk_free_limit: int = 50 * 1000 * 1000
    # Unacked deliveries older than this (ms) cancel their consumer; None = off, so long
    # Celery tasks are not killed (RabbitMQ defaults to 30 minutes).
    consumer_timeout: int | None = None
    resource_check_interval: float = 1.0
