"""Helpers for the behavioural tests: bounded waiting, channel-error checks, a raw client."""

from __future__ import annotations

import contextlib
import select
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pika
import pika.exceptions
import pytest
from pamqp import commands, frame, header, heartbeat
from pamqp.base import Frame
from pamqp.body import ContentBody

T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0


def wait_for(
    predicate: Callable[[], T],
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = 0.01,
    message: str = "condition",
) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


def pump(connection: Any, seconds: float = 0.0) -> None:
    """Let a pika BlockingConnection process I/O and callbacks for ``seconds``."""
    connection.process_data_events(time_limit=seconds)


def pump_until(
    connection: Any,
    predicate: Callable[[], T],
    timeout: float = DEFAULT_TIMEOUT,
    message: str = "condition",
) -> T:
    """Run a BlockingConnection's event loop until ``predicate`` is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {message}")
        connection.process_data_events(time_limit=0.02)


def get_message(
    channel: Any, queue: str, auto_ack: bool = False, timeout: float = DEFAULT_TIMEOUT
) -> tuple[Any, Any, bytes]:
    """basic.get in a loop until a message arrives (messages are routed asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        method, props, body = channel.basic_get(queue, auto_ack=auto_ack)
        if method is not None:
            return method, props, body
        if time.monotonic() > deadline:
            pytest.fail(f"no message arrived in {queue!r} within {timeout} s")
        time.sleep(0.01)


def consume_n(
    channel: Any,
    queue: str,
    count: int,
    auto_ack: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[tuple[Any, Any, bytes]]:
    """Consume exactly ``count`` messages with a pika BlockingChannel, then cancel."""
    received: list[tuple[Any, Any, bytes]] = []
    deadline = time.monotonic() + timeout
    for method, props, body in channel.consume(queue, auto_ack=auto_ack, inactivity_timeout=0.1):
        if method is not None:
            received.append((method, props, body))
            if len(received) == count:
                break
        if time.monotonic() > deadline:
            break
    channel.cancel()
    assert len(received) == count, f"got {len(received)} of {count} messages from {queue!r}"
    return received


def wait_ready(channel: Any, queue: str, expected: int, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Wait until ``queue`` holds ``expected`` ready messages (passive declare on ``channel``).

    Publishes reach queues asynchronously: a declare right after a publish may not count it.
    """
    last = -1

    def check() -> bool:
        nonlocal last
        last = int(channel.queue_declare(queue, passive=True).method.message_count)
        return last == expected

    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{queue!r} holds {last} messages, expected {expected}")
        time.sleep(0.01)


def message_count(connect: Callable[..., Any], queue: str) -> int:
    """Ready-message count of ``queue``, read with a passive declare on a fresh channel."""
    conn = connect()
    try:
        ok = conn.channel().queue_declare(queue, passive=True)
        return int(ok.method.message_count)
    finally:
        conn.close()


def wait_message_count(
    connect: Callable[..., Any], queue: str, expected: int, timeout: float = DEFAULT_TIMEOUT
) -> None:
    """Wait until ``queue`` holds ``expected`` ready messages."""
    conn = connect()
    try:
        ch = conn.channel()
        last = -1

        def check() -> bool:
            nonlocal last
            last = int(ch.queue_declare(queue, passive=True).method.message_count)
            return last == expected

        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                pytest.fail(f"{queue!r} holds {last} messages, expected {expected}")
            time.sleep(0.02)
    finally:
        conn.close()


def queue_exists(connect: Callable[..., Any], queue: str) -> bool:
    conn = connect()
    try:
        conn.channel().queue_declare(queue, passive=True)
        return True
    except pika.exceptions.ChannelClosedByBroker as exc:
        assert exc.reply_code == 404, exc
        return False
    finally:
        if conn.is_open:
            conn.close()


def exchange_exists(connect: Callable[..., Any], exchange: str) -> bool:
    conn = connect()
    try:
        conn.channel().exchange_declare(exchange, passive=True)
        return True
    except pika.exceptions.ChannelClosedByBroker as exc:
        assert exc.reply_code == 404, exc
        return False
    finally:
        if conn.is_open:
            conn.close()


def reply_text(text: str) -> str:
    """``text`` as it fits in a reply-text shortstr: RabbitMQ cuts longer texts to 252
    bytes and appends "..." (255 in all)."""
    data = text.encode()
    if len(data) <= 255:
        return text
    return data[:252].decode("utf-8", "ignore") + "..."


@contextlib.contextmanager
def channel_closed(code: int, text: str) -> Iterator[None]:
    """Expect the broker to close the channel with exactly ``code`` and ``text``."""
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        yield
    got = (info.value.reply_code, info.value.reply_text)
    text = reply_text(text)
    assert got == (code, text), f"channel closed with {got!r}, expected {(code, text)!r}"


@contextlib.contextmanager
def connection_closed(code: int, text: str) -> Iterator[None]:
    """Expect the broker to close the connection with exactly ``code`` and ``text``."""
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as info:
        yield
    got = (info.value.reply_code, info.value.reply_text)
    text = reply_text(text)
    assert got == (code, text), f"connection closed with {got!r}, expected {(code, text)!r}"


# --------------------------------------------------------------------------------------
# A raw AMQP 0-9-1 client on a plain socket (frames built by pamqp), for what real client
# libraries refuse to send or hide: wrong headers, channel_max overruns, heartbeats, etc.

Received = Frame | ContentBody | header.ContentHeader | header.ProtocolHeader | heartbeat.Heartbeat


@dataclass
class RawClient:
    host: str
    port: int
    timeout: float = DEFAULT_TIMEOUT
    sock: socket.socket = field(init=False)
    buffer: bytes = b""
    tune: commands.Connection.Tune | None = None
    start: commands.Connection.Start | None = None

    def __post_init__(self) -> None:
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, value: Any, channel: int = 0) -> None:
        self.sock.sendall(frame.marshal(value, channel))

    def read_bytes(self, timeout: float | None = None) -> bytes:
        """Return what the peer sent within ``timeout`` (b"" on EOF); fail on silence."""
        readable, _, _ = select.select([self.sock], [], [], timeout or self.timeout)
        if not readable:
            pytest.fail("the broker sent nothing")
        try:
            return self.sock.recv(65536)
        except ConnectionResetError:
            return b""

    def recv(self, timeout: float | None = None) -> tuple[int, Received] | None:
        """The next frame as (channel, frame), or None when the broker closed the socket."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            if self.buffer:
                try:
                    used, channel, value = frame.unmarshal(self.buffer)
                except Exception:  # incomplete frame: read more
                    pass
                else:
                    self.buffer = self.buffer[used:]
                    return channel, value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail("timed out waiting for a frame")
            data = self.read_bytes(remaining)
            if not data:
                return None
            self.buffer += data

    def recv_method(self, timeout: float | None = None, skip_heartbeats: bool = True) -> Any:
        while True:
            got = self.recv(timeout)
            assert got is not None, "the broker closed the socket"
            _, value = got
            if skip_heartbeats and isinstance(value, heartbeat.Heartbeat):
                continue
            return value

    def wait_eof(self, timeout: float | None = None) -> bool:
        """Read and drop frames until the socket closes; True if it closed in time."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            readable, _, _ = select.select([self.sock], [], [], deadline - time.monotonic())
            if not readable:
                return False
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                return True
            if not data:
                return True
        return False

    def handshake(
        self,
        channel_max: int | None = None,
        frame_max: int | None = None,
        heartbeat_interval: int = 0,
        vhost: str = "/",
        username: str = "guest",
        password: str = "guest",
    ) -> commands.Connection.OpenOk:
        """Run the opening handshake; parameters of None take the server's proposal."""
        self.send(header.ProtocolHeader())
        start = self.recv_method()
        assert isinstance(start, commands.Connection.Start), start
        self.start = start
        self.send(
            commands.Connection.StartOk(
                client_properties={
                    "product": "leveret-tests",
                    "capabilities": {"authentication_failure_close": True},
                },
                mechanism="PLAIN",
                response=f"\0{username}\0{password}",
            )
        )
        tune = self.recv_method()
        assert isinstance(tune, commands.Connection.Tune), tune
        self.tune = tune
        self.send(
            commands.Connection.TuneOk(
                channel_max=tune.channel_max if channel_max is None else channel_max,
                frame_max=tune.frame_max if frame_max is None else frame_max,
                heartbeat=heartbeat_interval,
            )
        )
        self.send(commands.Connection.Open(virtual_host=vhost))
        open_ok = self.recv_method()
        assert isinstance(open_ok, commands.Connection.OpenOk), open_ok
        return open_ok

    def open_channel(self, channel: int) -> None:
        self.send(commands.Channel.Open(), channel)
        reply = self.recv_method()
        assert isinstance(reply, commands.Channel.OpenOk), reply

    def expect_connection_close(self, code: int, text: str | None = None) -> str:
        """Expect connection.close with ``code`` (and ``text``); answer close-ok."""
        reply = self.recv_method()
        assert isinstance(reply, commands.Connection.Close), reply
        assert reply.reply_code == code, (reply.reply_code, reply.reply_text)
        if text is not None:
            expected = reply_text(text)
            assert reply.reply_text == expected, f"{reply.reply_text!r} != {expected!r}"
        self.send(commands.Connection.CloseOk())
        return str(reply.reply_text)


# --------------------------------------------------------------------------------------
# Reply texts, exactly as RabbitMQ words them.


def no_queue(name: str, vhost: str = "/") -> str:
    return f"NOT_FOUND - no queue '{name}' in vhost '{vhost}'"


def no_exchange(name: str, vhost: str = "/") -> str:
    return f"NOT_FOUND - no exchange '{name}' in vhost '{vhost}'"


def resource_locked(queue: str, vhost: str = "/") -> str:
    return (
        f"RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '{queue}' in vhost "
        f"'{vhost}'. It could be originally declared on another connection or the exclusive "
        "property value does not match that of the original declaration."
    )


def inequivalent(
    kind: str, name: str, arg: str, received: str, current: str, vhost: str = "/"
) -> str:
    return (
        f"PRECONDITION_FAILED - inequivalent arg '{arg}' for {kind} '{name}' in vhost "
        f"'{vhost}': received {received} but current is {current}"
    )


def unknown_delivery_tag(tag: int) -> str:
    return f"PRECONDITION_FAILED - unknown delivery tag {tag}"


# --------------------------------------------------------------------------------------
# pika's asynchronous SelectConnection, driven for one scenario with a deadline.


def run_select_connection(
    params: Any,
    scenario: Callable[[Any, Any, Callable[[], None]], None],
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    """Open a SelectConnection and a channel, call ``scenario(connection, channel, done)``
    and run the I/O loop until the scenario calls ``done()``; fail on timeout or error."""
    state: dict[str, Any] = {"finished": False, "error": None}

    def done() -> None:
        state["finished"] = True
        if connection.is_open:
            connection.close()

    def on_channel_open(channel: Any) -> None:
        try:
            scenario(connection, channel, done)
        except Exception as exc:
            state["error"] = exc
            connection.close()

    def on_open(conn: Any) -> None:
        conn.channel(on_open_callback=on_channel_open)

    def on_open_error(conn: Any, exc: BaseException) -> None:
        state["error"] = exc
        conn.ioloop.stop()

    def on_close(conn: Any, reason: BaseException) -> None:
        if not state["finished"] and state["error"] is None:
            state["error"] = reason
        conn.ioloop.stop()

    def on_timeout() -> None:
        state["error"] = TimeoutError(f"scenario did not finish within {timeout} s")
        if connection.is_open:
            connection.close()
        else:
            connection.ioloop.stop()

    connection = pika.SelectConnection(
        params,
        on_open_callback=on_open,
        on_open_error_callback=on_open_error,
        on_close_callback=on_close,
    )
    connection.ioloop.call_later(timeout, on_timeout)
    try:
        connection.ioloop.start()
    finally:
        connection.ioloop.close()
    if state["error"] is not None:
        raise state["error"]


# --------------------------------------------------------------------------------------
# RabbitMQ's AMQP extensions (TTL, dead-lettering, queue types, ...): texts and utilities.


def invalid_arg(arg: str, queue: str, detail: str, vhost: str = "/") -> str:
    """406 text for a queue argument of the wrong type or value, e.g. detail
    ``{value_negative,-1}`` or ``"expected integer, got longstr"`` (quotes included)."""
    return (
        f"PRECONDITION_FAILED - invalid arg '{arg}' for queue '{queue}' in vhost '{vhost}': "
        f"{detail}"
    )


def invalid_arg_for_queue_type(arg: str, queue: str, queue_type: str, vhost: str = "/") -> str:
    """406 text for an argument the queue type does not support (``rabbit_quorum_queue``...)."""
    return (
        f"PRECONDITION_FAILED - invalid arg '{arg}' for queue '{queue}' in vhost '{vhost}' "
        f"of queue type {queue_type}"
    )


def invalid_property(prop: str, queue: str, vhost: str = "/") -> str:
    """406 text for a quorum/stream queue declared non-durable, exclusive or auto-delete."""
    return f"PRECONDITION_FAILED - invalid property '{prop}' for queue '{queue}' in vhost '{vhost}'"


def drain(channel: Any, queue: str, limit: int = 10_000) -> list[bytes]:
    """Bodies of every message basic.get can take from ``queue`` right now (auto-ack)."""
    bodies: list[bytes] = []
    while len(bodies) < limit:
        method, _, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            break
        bodies.append(body)
    return bodies


def is_long(value: object) -> bool:
    """True if pika decoded ``value`` from a field-table ``l`` (signed 64-bit) entry."""
    import pika.compat

    return isinstance(value, pika.compat.long)
