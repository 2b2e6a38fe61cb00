"""Closing a connection: what the client still gets, and when the socket goes.

- After the client's connection.close, the broker answers close-ok and then reads and
  drops whatever the client still sends until the client closes its socket, so that a
  client with writes queued behind its close sees its close complete, not a reset.
- A connection error in the middle of a read does not throw away the replies already
  produced for the frames before it.
- After an unknown frame type the broker closes with 501 (RabbitMQ's text) and drops the
  socket as soon as the client answers close-ok.
"""

from __future__ import annotations

import select
import socket
import struct
import time
from collections.abc import Callable

import pytest
from pamqp import commands, frame, header
from pamqp.body import ContentBody

from leveret.server.drain import DRAIN_LIMIT, DRAIN_TIMEOUT

from .helpers import RawClient, wait_ready


def publish_frames(routing_key: str, body: bytes, channel: int = 1) -> bytes:
    return (
        frame.marshal(commands.Basic.Publish(exchange="", routing_key=routing_key), channel)
        + frame.marshal(header.ContentHeader(0, len(body), commands.Basic.Properties()), channel)
        + frame.marshal(ContentBody(body), channel)
    )


def read_until_eof(sock: socket.socket, timeout: float) -> tuple[bytes, str]:
    """Everything the peer sends until EOF, and how it ended: "eof", "reset" or "timeout"."""
    data = b""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return data, "timeout"
        readable, _, _ = select.select([sock], [], [], remaining)
        if not readable:
            return data, "timeout"
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data, "reset"
        if not chunk:
            return data, "eof"
        data += chunk


CLOSE_OK = frame.marshal(commands.Connection.CloseOk(), 0)


def close_with_publishes_behind(client: RawClient, routing_key: str) -> None:
    """Send connection.close and 2,000 publishes after it in one write, as a client does
    that closes with publishes still buffered; expect close-ok and nothing else."""
    client.handshake()
    client.open_channel(1)
    # Unroutable publishes: if the broker took them, they would leave nothing behind.
    burst = publish_frames(routing_key, b"x" * 100) * 2000
    close = frame.marshal(commands.Connection.Close(200, "bye", 0, 0), 0)
    client.send_bytes(close + burst)  # raises EPIPE/ECONNRESET if the broker hung up
    data = b""
    deadline = time.monotonic() + 10
    while len(data) < len(CLOSE_OK) and time.monotonic() < deadline:
        readable, _, _ = select.select([client.sock], [], [], 1.0)
        if readable:
            chunk = client.sock.recv(65536)
            assert chunk, f"EOF after {data!r}"
            data += chunk
    assert data == CLOSE_OK, data


def test_close_followed_by_pipelined_publishes_gets_close_ok(
    raw_client: Callable[..., RawClient], unique_name: Callable[..., str]
) -> None:
    client = raw_client()
    close_with_publishes_behind(client, unique_name("nowhere"))
    # The broker leaves the socket to the client to close ...
    rest, ending = read_until_eof(client.sock, 0.5)
    assert (rest, ending) == (b"", "timeout")
    client.sock.shutdown(socket.SHUT_WR)
    # ... and then closes its end (RabbitMQ 3.10 with a reset, whatever the client sent).
    rest, ending = read_until_eof(client.sock, 5)
    assert rest == b"" and ending in ("eof", "reset")


@pytest.mark.leveret_only
def test_close_followed_by_pipelined_publishes_ends_with_a_clean_eof(
    raw_client: Callable[..., RawClient], unique_name: Callable[..., str]
) -> None:
    client = raw_client()
    close_with_publishes_behind(client, unique_name("nowhere"))
    client.sock.shutdown(socket.SHUT_WR)
    # Leveret read (and dropped) everything the client sent, so its close is orderly.
    rest, ending = read_until_eof(client.sock, 5)
    assert (rest, ending) == (b"", "eof")


@pytest.mark.leveret_only
def test_client_that_never_closes_its_socket_is_dropped_after_the_drain_timeout(
    raw_client: Callable[..., RawClient],
) -> None:
    client = raw_client(timeout=DRAIN_TIMEOUT + 10)
    client.handshake()
    client.send(commands.Connection.Close(200, "bye", 0, 0))
    assert isinstance(client.recv_method(), commands.Connection.CloseOk)
    started = time.monotonic()
    rest, ending = read_until_eof(client.sock, DRAIN_TIMEOUT + 5)
    waited = time.monotonic() - started
    assert (rest, ending) == (b"", "eof")
    assert DRAIN_TIMEOUT - 1 < waited < DRAIN_TIMEOUT + 2, waited


@pytest.mark.leveret_only
def test_client_that_keeps_sending_after_close_is_dropped_after_the_drain_limit(
    raw_client: Callable[..., RawClient],
) -> None:
    client = raw_client()
    client.handshake()
    client.send(commands.Connection.Close(200, "bye", 0, 0))
    assert isinstance(client.recv_method(), commands.Connection.CloseOk)
    started = time.monotonic()
    chunk = frame.marshal(commands.Basic.Qos(), 1) * 4096
    sent = 0
    with pytest.raises(OSError):  # EPIPE or ECONNRESET, once the broker has had enough
        while time.monotonic() - started < DRAIN_TIMEOUT:
            client.sock.sendall(chunk)
            sent += len(chunk)
    assert time.monotonic() - started < DRAIN_TIMEOUT - 1
    assert sent >= DRAIN_LIMIT // 2, sent


def test_replies_before_a_connection_error_in_the_same_read_are_sent(
    raw_client: Callable[..., RawClient],
    connection: object,
    unique_name: Callable[..., str],
    cleanup: object,
) -> None:
    ch = connection.channel()  # type: ignore[attr-defined]
    queue = cleanup.queue(unique_name())  # type: ignore[attr-defined]
    ch.queue_declare(queue)
    ch.basic_publish("", queue, b"precious")
    wait_ready(ch, queue, 1)
    client = raw_client()
    client.handshake()
    client.open_channel(1)
    # One write: a no-ack get (the message leaves the queue at once) and then a method
    # on a channel that was never opened, a connection error (504).
    client.send_bytes(
        frame.marshal(commands.Basic.Get(queue=queue, no_ack=True), 1)
        + frame.marshal(commands.Basic.Get(queue=queue, no_ack=True), 5)
    )
    get_ok = client.recv_method()
    assert isinstance(get_ok, commands.Basic.GetOk), get_ok
    assert isinstance(client.recv_method(), header.ContentHeader)
    body = client.recv_method()
    assert isinstance(body, ContentBody) and body.value == b"precious"
    client.expect_connection_close(504)
    assert client.wait_eof(5)


def test_unknown_frame_type_is_501_and_the_socket_goes_after_close_ok(
    raw_client: Callable[..., RawClient],
) -> None:
    client = raw_client()
    client.handshake()
    client.send_bytes(struct.pack(">BHI", 65, 0, 0) + b"\xce")
    text = client.expect_connection_close(501)  # (answers close-ok)
    assert text == "FRAME_ERROR - type 65, all octets = <<>>: unknown_frame"
    started = time.monotonic()
    assert client.wait_eof(2.0)
    assert time.monotonic() - started < 1.0
