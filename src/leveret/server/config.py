"""Broker settings, with RabbitMQ's defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from leveret.broker.compat import DEFAULT_PROFILE, MAX_MESSAGE_SIZE_LIMIT, CompatProfile

# max_message_size's "not set": the compatibility profile's default is used instead.
PROFILE_DEFAULT = 0

# The control socket `leveret ctl` talks to, in the data directory (server/control.py).
CONTROL_SOCKET = "leveret-ctl.sock"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "leveret"


@dataclass
class TLSConfig:
    """RabbitMQ's ``ssl_options.*``: the TLS listener's certificates and peer checks."""

    certfile: Path | None = None
    keyfile: Path | None = None
    cacertfile: Path | None = None
    password: str | None = None  # of an encrypted keyfile; never logged
    verify: str = "verify_none"  # "verify_peer" asks for (and checks) client certificates
    fail_if_no_peer_cert: bool = False
    versions: tuple[str, ...] = ("tlsv1.3", "tlsv1.2")
    ciphers: tuple[str, ...] = ()  # empty: the ssl module's defaults


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
    # Which RabbitMQ generation's defaults and behaviours to follow (see broker/compat.py).
    compat: CompatProfile = DEFAULT_PROFILE
    # Bytes; RabbitMQ's max_message_size. PROFILE_DEFAULT takes the profile's (16 MiB for
    # rabbitmq-4, 128 MiB for rabbitmq-3); __post_init__ replaces it with the real number.
    max_message_size: int = PROFILE_DEFAULT
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
    log_level: str = "info"
    # AMQPS (listeners.ssl.default): off unless a port is given.
    ssl_host: str = "127.0.0.1"
    ssl_port: int | None = None
    ssl: TLSConfig = field(default_factory=TLSConfig)
    # auth_mechanisms.N; EXTERNAL only makes sense on the TLS listener with client certificates.
    auth_mechanisms: tuple[str, ...] = ("PLAIN", "AMQPLAIN")
    # ssl_cert_login_from: "distinguished_name" (RabbitMQ's default) or "common_name".
    ssl_cert_login_from: str = "distinguished_name"
    # The user and vhost created on first boot (an empty data directory), as RabbitMQ does.
    default_user: str = "guest"
    default_pass: str = "guest"
    default_vhost: str = "/"
    # loopback_users.NAME: users that may connect from loopback addresses only.
    loopback_users: tuple[str, ...] = ("guest",)
    # load_definitions: a RabbitMQ definitions JSON file imported at boot.
    load_definitions: Path | None = None
    # The management API and the Prometheus endpoint (management.tcp.*, prometheus.tcp.*).
    # None: not served. 0 picks a free port (embedded brokers, tests); in the config file and
    # on the command line 0 means off, as the issue of RabbitMQ's users expects.
    management_host: str = "127.0.0.1"
    management_port: int | None = 15672
    prometheus_host: str = "127.0.0.1"
    prometheus_port: int | None = 15692
    # RabbitMQ's collect_statistics_interval (ms): how often rates and samples are computed.
    collect_statistics_interval: int = 5000

    def __post_init__(self) -> None:
        if self.max_message_size == PROFILE_DEFAULT:
            self.max_message_size = self.compat.max_message_size
        if not 1 <= self.max_message_size <= MAX_MESSAGE_SIZE_LIMIT:
            raise ValueError(
                f"max_message_size must be between 1 and {MAX_MESSAGE_SIZE_LIMIT} bytes "
                f"(512 MiB, RabbitMQ's limit), got {self.max_message_size}"
            )
