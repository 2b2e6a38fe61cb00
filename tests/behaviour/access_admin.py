"""Users, vhosts, permissions and limits on the broker under test, for the access tests.

Against Leveret the tests use an embedded broker of their own (one per session) and its
admin functions; against RabbitMQ (``LEVERET_TEST_BROKER_URL``) they run rabbitmqctl
through ``scripts/rabbitmq.sh ctl $LEVERET_TEST_RABBITMQ_DIR``, and are skipped when that
variable is unset. Every user and vhost a test creates is deleted at its teardown.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import urllib.parse
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol

import pika
import pytest

import leveret

RABBITMQ_DIR_ENV = "LEVERET_TEST_RABBITMQ_DIR"
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "rabbitmq.sh"


class Backend(Protocol):
    host: str
    port: int

    def add_user(self, name: str, password: str) -> None: ...
    def delete_user(self, name: str) -> None: ...
    def change_password(self, name: str, password: str) -> None: ...
    def add_vhost(self, name: str, default_queue_type: str | None = None) -> None: ...
    def delete_vhost(self, name: str) -> None: ...
    def set_permissions(self, user: str, vhost: str, conf: str, write: str, read: str) -> None: ...
    def clear_permissions(self, user: str, vhost: str) -> None: ...
    def set_topic_permissions(
        self, user: str, vhost: str, exchange: str, write: str, read: str
    ) -> None: ...
    def set_vhost_limits(self, vhost: str, limits: Mapping[str, int]) -> None: ...
    def set_user_limits(self, user: str, limits: Mapping[str, int]) -> None: ...


class LeveretBackend:
    def __init__(self, broker: leveret.Broker):
        self.broker = broker
        self.host = broker.host
        self.port = broker.port

    def add_user(self, name: str, password: str) -> None:
        self.broker.access(lambda a: a.add_user(name, password))

    def delete_user(self, name: str) -> None:
        self.broker.access(lambda a: a.delete_user(name))

    def change_password(self, name: str, password: str) -> None:
        self.broker.access(lambda a: a.change_password(name, password))

    def add_vhost(self, name: str, default_queue_type: str | None = None) -> None:
        self.broker.access(lambda a: a.add_vhost(name, default_queue_type=default_queue_type))

    def delete_vhost(self, name: str) -> None:
        self.broker.access(lambda a: a.delete_vhost(name))

    def set_permissions(self, user: str, vhost: str, conf: str, write: str, read: str) -> None:
        self.broker.access(lambda a: a.set_permissions(user, vhost, conf, write, read))

    def clear_permissions(self, user: str, vhost: str) -> None:
        self.broker.access(lambda a: a.clear_permissions(user, vhost))

    def set_topic_permissions(
        self, user: str, vhost: str, exchange: str, write: str, read: str
    ) -> None:
        self.broker.access(lambda a: a.set_topic_permissions(user, vhost, exchange, write, read))

    def set_vhost_limits(self, vhost: str, limits: Mapping[str, int]) -> None:
        self.broker.access(lambda a: a.set_vhost_limits(vhost, limits))

    def set_user_limits(self, user: str, limits: Mapping[str, int]) -> None:
        self.broker.access(lambda a: a.set_user_limits(user, limits))


class RabbitMQBackend:
    def __init__(self, url: str, state_dir: str):
        parts = urllib.parse.urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 5672
        self.state_dir = state_dir

    def ctl(self, *args: str) -> None:
        done = subprocess.run(
            [str(SCRIPT), "ctl", self.state_dir, *args], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stderr or done.stdout}")

    def add_user(self, name: str, password: str) -> None:
        self.ctl("add_user", name, password)

    def delete_user(self, name: str) -> None:
        self.ctl("delete_user", name)

    def change_password(self, name: str, password: str) -> None:
        self.ctl("change_password", name, password)

    def add_vhost(self, name: str, default_queue_type: str | None = None) -> None:
        if default_queue_type is None:
            self.ctl("add_vhost", name)
        else:
            self.ctl("add_vhost", name, "--default-queue-type", default_queue_type)

    def delete_vhost(self, name: str) -> None:
        self.ctl("delete_vhost", name)

    def set_permissions(self, user: str, vhost: str, conf: str, write: str, read: str) -> None:
        self.ctl("set_permissions", "-p", vhost, user, conf, write, read)

    def clear_permissions(self, user: str, vhost: str) -> None:
        self.ctl("clear_permissions", "-p", vhost, user)

    def set_topic_permissions(
        self, user: str, vhost: str, exchange: str, write: str, read: str
    ) -> None:
        self.ctl("set_topic_permissions", "-p", vhost, user, exchange, write, read)

    def set_vhost_limits(self, vhost: str, limits: Mapping[str, int]) -> None:
        self.ctl("set_vhost_limits", "-p", vhost, json.dumps(dict(limits)))

    def set_user_limits(self, user: str, limits: Mapping[str, int]) -> None:
        self.ctl("set_user_limits", user, json.dumps(dict(limits)))


class Admin:
    """The backend, plus names unique to the test and cleanup of what it created."""

    def __init__(self, backend: Backend, tag: str):
        self.backend = backend
        self.tag = tag
        self.users: list[str] = []
        self.vhosts: list[str] = []
        self.connections: list[pika.BlockingConnection] = []

    def user(self, full_on: str | None = None) -> tuple[str, str]:
        """A new user (name, password); with ``full_on``, '.*' permissions on that vhost."""
        name, password = f"u-{self.tag}-{secrets.token_hex(3)}", secrets.token_hex(8)
        self.backend.add_user(name, password)
        self.users.append(name)
        if full_on is not None:
            self.backend.set_permissions(name, full_on, ".*", ".*", ".*")
        return name, password

    def vhost(self, default_queue_type: str | None = None) -> str:
        name = f"v-{self.tag}-{secrets.token_hex(3)}"
        self.backend.add_vhost(name, default_queue_type)
        self.vhosts.append(name)
        return name

    def connect(self, user: str, password: str, vhost: str) -> pika.BlockingConnection:
        params = pika.ConnectionParameters(
            self.backend.host,
            self.backend.port,
            vhost,
            pika.PlainCredentials(user, password),
            connection_attempts=1,
            socket_timeout=10,
        )
        conn = pika.BlockingConnection(params)
        self.connections.append(conn)
        return conn

    def close(self) -> None:
        # Each may be gone already: closed by the broker, or deleted by the test.
        for conn in self.connections:
            if conn.is_open:
                with contextlib.suppress(Exception):
                    conn.close()
        for vhost in self.vhosts:
            with contextlib.suppress(Exception):
                self.backend.delete_vhost(vhost)
        for user in self.users:
            with contextlib.suppress(Exception):
                self.backend.delete_user(user)


@pytest.fixture(scope="session")
def access_backend() -> Iterator[Backend]:
    url = os.environ.get("LEVERET_TEST_BROKER_URL")
    if url is not None:
        state_dir = os.environ.get(RABBITMQ_DIR_ENV)
        if not state_dir:
            pytest.skip(f"{RABBITMQ_DIR_ENV} is not set: cannot administer the external broker")
        yield RabbitMQBackend(url, state_dir)
        return
    with leveret.Broker() as broker:
        yield LeveretBackend(broker)


@pytest.fixture
def admin(access_backend: Backend, request: pytest.FixtureRequest) -> Iterator[Admin]:
    tag = "".join(c for c in request.node.name if c.isalnum())[:20]
    registry = Admin(access_backend, tag)
    yield registry
    registry.close()
