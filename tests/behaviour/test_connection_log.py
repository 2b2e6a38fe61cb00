"""What Leveret logs about connections, in the manner of RabbitMQ's log.

A connection is named "client address -> server address", with " - <connection_name>"
when the client gave one. Accepted connections, authenticated users and closed
connections are logged at info; channel errors at warning with the channel, reply code
and text; a refused login says why in the log only (the client hears RabbitMQ's fixed
text). These tests start their own broker with its log in a file, so they are
Leveret-only.
"""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pika
import pika.exceptions
import pytest

from .helpers import wait_for

pytestmark = pytest.mark.leveret_only

LOGIN_REFUSED = (
    "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. "
    "For details see the broker logfile."
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        port: int = sock.getsockname()[1]
        return port


def port_accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


@dataclass
class LoggedBroker:
    port: int
    log_path: Path

    def url(self, user: str = "guest", password: str = "guest", host: str = "127.0.0.1") -> str:
        return f"amqp://{user}:{password}@{host}:{self.port}/%2F"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_line(self, pattern: str) -> re.Match[str]:
        """The first log line matching ``pattern`` (a regex), waiting for it to appear."""
        regex = re.compile(pattern, re.MULTILINE)
        match = wait_for(lambda: regex.search(self.log()), timeout=5, message=pattern)
        return match


@pytest.fixture(scope="module")
def logged_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoggedBroker]:
    directory = tmp_path_factory.mktemp("logged-broker")
    port = free_port()
    log_path = directory / "stderr.log"
    cmd = [
        sys.executable,
        "-m",
        "leveret",
        "serve",
        "--host",
        "0.0.0.0",  # also reachable on a non-loopback address, for the loopback-only test
        "--port",
        str(port),
        "--data-dir",
        str(directory / "data"),
        "--log-level",
        "info",
    ]
    with log_path.open("wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
    try:
        wait_for(lambda: port_accepts(port), timeout=15, message="broker start")
        yield LoggedBroker(port, log_path)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def connect(url: str, name: str | None = None) -> pika.BlockingConnection:
    params = pika.URLParameters(url)
    params.connection_attempts = 1
    params.socket_timeout = 10
    if name is not None:
        params.client_properties = {"connection_name": name}
    return pika.BlockingConnection(params)


def test_connection_lifecycle_and_channel_error_are_logged(logged_broker: LoggedBroker) -> None:
    port = logged_broker.port
    conn = connect(logged_broker.url(), name="orders-service")
    client_port = conn._impl._transport._sock.getsockname()[1]
    name = rf"127\.0\.0\.1:{client_port} -> 127\.0\.0\.1:{port}"
    logged_broker.wait_line(rf" INFO leveret\.connection: accepting AMQP connection {name}$")
    logged_broker.wait_line(
        rf" INFO leveret\.connection: connection {name} - orders-service: user 'guest' "
        r"authenticated and granted access to vhost '/'$"
    )
    channel = conn.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker):
        channel.queue_declare("no-such-queue", passive=True)
    logged_broker.wait_line(
        rf" WARNING leveret\.connection: channel error on connection {name} - orders-service "
        r"\(vhost '/', user 'guest'\), channel 1: 404 NOT_FOUND - no queue 'no-such-queue' "
        r"in vhost '/'$"
    )
    conn.close()
    logged_broker.wait_line(
        rf" INFO leveret\.connection: closing AMQP connection {name} - orders-service "
        r"\(vhost '/', user 'guest'\): client closed the connection$"
    )


@pytest.mark.parametrize(
    ("user", "password", "reason"),
    [
        ("guest", "wrong", "user 'guest' - invalid credentials: wrong password"),
        ("mallory", "guest", "user 'mallory' - invalid credentials: no such user"),
    ],
)
def test_refused_login_says_why_in_the_log_only(
    logged_broker: LoggedBroker, user: str, password: str, reason: str
) -> None:
    with pytest.raises(pika.exceptions.ProbableAuthenticationError) as info:
        connect(logged_broker.url(user, password))
    # The wire carries RabbitMQ's fixed text, never the reason.
    assert f"(403) '{LOGIN_REFUSED}'" in str(info.value)
    assert "invalid credentials" not in str(info.value)
    logged_broker.wait_line(
        rf" WARNING leveret\.connection: error on AMQP connection 127\.0\.0\.1:\d+ -> "
        rf"127\.0\.0\.1:{logged_broker.port}: PLAIN login refused: {re.escape(reason)}$"
    )


def non_loopback_address() -> str | None:
    """This machine's address on its default route, if it has one."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # (UDP: nothing is sent)
        address: str = s.getsockname()[0]
        if not address.startswith("127."):
            return address
    return None


def test_loopback_only_user_from_a_remote_address_is_refused_and_logged(
    logged_broker: LoggedBroker,
) -> None:
    address = non_loopback_address()
    if address is None:
        pytest.skip("no non-loopback address to connect from")
    started = time.monotonic()
    with pytest.raises(pika.exceptions.ProbableAuthenticationError) as info:
        connect(logged_broker.url(host=address))
    assert f"(403) '{LOGIN_REFUSED}'" in str(info.value)
    assert "localhost" not in str(info.value)
    assert time.monotonic() - started < 5
    escaped = re.escape(address)
    logged_broker.wait_line(
        rf" WARNING leveret\.connection: error on AMQP connection {escaped}:\d+ -> "
        rf"{escaped}:{logged_broker.port}: PLAIN login refused: user 'guest' can only "
        rf"connect via localhost, not from {escaped}$"
    )
