"""Real AMQP clients producing the state the management API shows, and waiting for it.

RabbitMQ's management database learns of connections, channels and counters from events
it collects every few seconds, so anything a test expects to see is polled for with a
deadline (on Leveret it is there at once, and the first look succeeds).

Fixtures: ``amqp`` opens pika connections (closed at teardown) and names them as the API
does; ``names`` makes names unique to the test and deletes the queues and exchanges made
with them; ``broker_ctl`` runs ``leveret ctl`` or ``rabbitmqctl`` against the broker under
test (for users and vhosts, which are another resource's endpoints).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pika
import pika.adapters.blocking_connection
import pytest

from .conftest import Api, quote

# RabbitMQ emits management events every 5 s; a lag of two intervals plus slack is normal
# on a loaded machine.
DEADLINE = 30.0
POLL_INTERVAL = 0.25
RABBITMQ_DIR_ENV = "LEVERET_TEST_RABBITMQ_DIR"
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "rabbitmq.sh"

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], what: str, deadline: float = DEADLINE) -> T:
    """``probe()``'s first truthy answer; fails the test, naming ``what``, at the deadline."""
    end = time.monotonic() + deadline
    last: T | None = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > end:
            pytest.fail(f"timed out after {deadline:.0f} s waiting for {what} (last: {last!r})")
        time.sleep(POLL_INTERVAL)


def wait_for_object(
    api: Api, path: str, ready: Callable[[dict[str, Any]], bool], deadline: float = DEADLINE
) -> dict[str, Any]:
    """GET ``path`` until it answers 200 with an object ``ready`` accepts."""

    def probe() -> dict[str, Any] | None:
        reply = api.get(path)
        if reply.status_code != 200:
            return None
        body = reply.json()
        return body if isinstance(body, dict) and ready(body) else None

    return wait_for(probe, f"GET {path} to show the expected state", deadline)


def wait_for_listed(
    api: Api, path: str, match: Callable[[dict[str, Any]], bool], count: int = 1
) -> list[dict[str, Any]]:
    """GET the list ``path`` until ``count`` of its items match; those items."""

    def probe() -> list[dict[str, Any]] | None:
        reply = api.get(path)
        if reply.status_code != 200:
            return None
        found = [item for item in reply.json() if match(item)]
        return found if len(found) == count else None

    return wait_for(probe, f"{count} matching item(s) in GET {path}")


class Clients:
    """pika connections to the broker under test."""

    def __init__(self, broker_url: str):
        self.broker_url = broker_url
        parts = urllib.parse.urlsplit(broker_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 5672
        self.opened: list[pika.BlockingConnection] = []

    def connect(
        self,
        *,
        user: str = "guest",
        password: str = "guest",
        vhost: str = "/",
        **options: Any,
    ) -> pika.BlockingConnection:
        params = pika.ConnectionParameters(
            self.host,
            self.port,
            vhost,
            pika.PlainCredentials(user, password),
            connection_attempts=1,
            socket_timeout=10,
            **options,
        )
        conn = pika.BlockingConnection(params)
        self.opened.append(conn)
        return conn

    def channel(self) -> pika.adapters.blocking_connection.BlockingChannel:
        """A channel in confirm mode on a new connection: each publish returns once the
        broker has taken the message, so what the test checks next sees it."""
        channel = self.connect().channel()
        channel.confirm_delivery()
        return channel

    def local_port(self, conn: pika.BlockingConnection) -> int:
        sock = conn._impl._transport._sock  # the client's own end: the API's peer_port
        port: int = sock.getsockname()[1]
        return port

    def name(self, conn: pika.BlockingConnection) -> str:
        """The connection's name in the management API."""
        return f"127.0.0.1:{self.local_port(conn)} -> {self.host}:{self.port}"

    def close(self) -> None:
        for conn in self.opened:
            if conn.is_open:
                with contextlib.suppress(Exception):
                    conn.close()


@pytest.fixture
def amqp(broker_url: str) -> Iterator[Clients]:
    clients = Clients(broker_url)
    yield clients
    clients.close()


class Names:
    """Names unique to one test; queues and exchanges named here are deleted afterwards."""

    def __init__(self, api: Api, test: str):
        self.api = api
        self.tag = "".join(c for c in test if c.isalnum() or c in "_")[:40]
        self.queues: list[tuple[str, str]] = []
        self.exchanges: list[tuple[str, str]] = []

    def _name(self, kind: str) -> str:
        return f"mgmt.{kind}.{self.tag}.{secrets.token_hex(3)}"

    def queue(self, vhost: str = "/") -> str:
        name = self._name("q")
        self.queues.append((vhost, name))
        return name

    def exchange(self, vhost: str = "/") -> str:
        name = self._name("x")
        self.exchanges.append((vhost, name))
        return name

    def cleanup(self) -> None:
        for vhost, name in self.queues:
            self.api.delete(f"queues/{quote(vhost)}/{quote(name)}")
        for vhost, name in self.exchanges:
            self.api.delete(f"exchanges/{quote(vhost)}/{quote(name)}")


@pytest.fixture
def names(api: Api, request: pytest.FixtureRequest) -> Iterator[Names]:
    made = Names(api, request.node.name)
    yield made
    made.cleanup()


class BrokerCtl:
    """``leveret ctl`` or ``rabbitmqctl`` (same commands, same arguments); users and vhosts
    made through it are deleted at teardown."""

    def __init__(self, command: list[str]):
        self.command = command
        self.users: list[str] = []
        self.vhosts: list[str] = []

    def __call__(self, *args: str) -> None:
        done = subprocess.run(
            [*self.command, *args], capture_output=True, text=True, timeout=60, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: {done.stderr or done.stdout}")

    def user(self, tags: str = "management") -> tuple[str, str]:
        name, password = f"mgmt-u-{secrets.token_hex(4)}", secrets.token_hex(8)
        self("add_user", name, password)
        self.users.append(name)
        self("set_user_tags", name, tags)
        return name, password

    def vhost(self) -> str:
        name = f"mgmt-v-{secrets.token_hex(4)}"
        self("add_vhost", name)
        self.vhosts.append(name)
        self("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        return name

    def cleanup(self) -> None:
        for vhost in self.vhosts:
            with contextlib.suppress(Exception):
                self("delete_vhost", vhost)
        for user in self.users:
            with contextlib.suppress(Exception):
                self("delete_user", user)


@pytest.fixture
def broker_ctl(session_leveret: Any) -> Iterator[BrokerCtl]:
    if session_leveret is not None:
        command = [
            sys.executable,
            "-m",
            "leveret",
            "ctl",
            "--data-dir",
            str(session_leveret.data_dir),
        ]
    else:
        state_dir = os.environ.get(RABBITMQ_DIR_ENV)
        if not state_dir:
            pytest.skip(f"{RABBITMQ_DIR_ENV} is not set: cannot administer the external broker")
        command = [str(SCRIPT), "ctl", state_dir]
    ctl = BrokerCtl(command)
    yield ctl
    ctl.cleanup()
