"""Malformed input over a raw socket: names that are not UTF-8 and malformed content headers.

Measured on RabbitMQ 3.10.8: a short string that is not UTF-8 in a method without content
(queue, exchange, routing key of a binding, consumer tag...) is connection.close 501
"FRAME_ERROR - Malformed UTF-8 in shortstr" naming no method; basic.publish's exchange and
routing key are not checked. Content-header properties that do not decode make RabbitMQ's
channel crash: connection.close 541 "INTERNAL_ERROR", the message neither confirmed nor
stored. Leveret refuses them on purpose, with 501 FRAME_ERROR (SEMANTICS.md: a clean
connection.close where RabbitMQ crashes). Either way the message never reaches a queue.
"""

from __future__ import annotations

import select
import struct
import time
from collections.abc import Callable
from typing import Any

import pytest
from pamqp import commands, header

from .helpers import RawClient, wait_for

MALFORMED_UTF8 = "FRAME_ERROR - Malformed UTF-8 in shortstr"

# -- frames built by hand (pamqp would refuse to encode or decode these) ----------------------


def frame(frame_type: int, channel: int, payload: bytes) -> bytes:
    return struct.pack(">BHI", frame_type, channel, len(payload)) + payload + b"\xce"


def ss(value: bytes) -> bytes:
    return bytes([len(value)]) + value


def method(channel: int, class_id: int, method_id: int, args: bytes) -> bytes:
    return frame(1, channel, struct.pack(">HH", class_id, method_id) + args)


NO_TABLE = b"\x00\x00\x00\x00"


def queue_declare(name: bytes, durable: bool = False) -> bytes:
    return method(1, 50, 10, b"\x00\x00" + ss(name) + bytes([2 if durable else 0]) + NO_TABLE)


def exchange_declare(name: bytes, durable: bool = False) -> bytes:
    bits = bytes([2 if durable else 0])
    return method(1, 40, 10, b"\x00\x00" + ss(name) + ss(b"direct") + bits + NO_TABLE)


def queue_bind(queue: bytes, exchange: bytes, key: bytes) -> bytes:
    return method(1, 50, 20, b"\x00\x00" + ss(queue) + ss(exchange) + ss(key) + b"\x00" + NO_TABLE)


def basic_consume(queue: bytes, tag: bytes) -> bytes:
    return method(1, 60, 20, b"\x00\x00" + ss(queue) + ss(tag) + b"\x00" + NO_TABLE)


def basic_get(queue: bytes) -> bytes:
    return method(1, 60, 70, b"\x00\x00" + ss(queue) + b"\x01")


def confirm_select() -> bytes:
    return method(1, 85, 10, b"\x00")


def publish(exchange: bytes, key: bytes, properties: bytes, body: bytes, mandatory=False) -> bytes:
    out = method(1, 60, 40, b"\x00\x00" + ss(exchange) + ss(key) + bytes([int(mandatory)]))
    out += frame(2, 1, struct.pack(">HHQ", 60, 0, len(body)) + properties)
    if body:
        out += frame(3, 1, body)
    return out


class Wire:
    """Reads whole frames from a RawClient's socket without decoding their payloads."""

    def __init__(self, client: RawClient) -> None:
        self.client = client
        self.buffer = b""

    def next(self, timeout: float = 10.0) -> tuple[int, int, bytes] | None:
        """(type, channel, payload) of the next frame, or None at EOF."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buffer) >= 7:
                frame_type, channel, size = struct.unpack_from(">BHI", self.buffer)
                if len(self.buffer) >= size + 8:
                    payload = self.buffer[7 : 7 + size]
                    self.buffer = self.buffer[size + 8 :]
                    return frame_type, channel, payload
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail("timed out waiting for a frame")
            readable, _, _ = select.select([self.client.sock], [], [], remaining)
            if not readable:
                pytest.fail("timed out waiting for a frame")
            try:
                data = self.client.sock.recv(65536)
            except ConnectionResetError:
                return None
            if not data:
                return None
            self.buffer += data

    def method(self, timeout: float = 10.0) -> tuple[int, int, int, bytes]:
        """(channel, class id, method id, arguments) of the next method frame."""
        while True:
            got = self.next(timeout)
            assert got is not None, "the broker closed the socket"
            frame_type, channel, payload = got
            if frame_type == 1:
                class_id, method_id = struct.unpack_from(">HH", payload)
                return channel, class_id, method_id, payload[4:]

    def connection_close(self) -> tuple[int, bytes, int, int, list[tuple[int, int]]]:
        """Read up to connection.close (answering close-ok); returns its code, text, class
        and method ids, and the (class, method) of every method seen before it."""
        before: list[tuple[int, int]] = []
        while True:
            channel, class_id, method_id, args = self.method()
            if (channel, class_id, method_id) == (0, 10, 50):
                code = struct.unpack_from(">H", args)[0]
                size = args[2]
                text = args[3 : 3 + size]
                failed_class, failed_method = struct.unpack_from(">HH", args, 3 + size)
                self.client.send_bytes(method(0, 10, 51, b""))
                return code, text, failed_class, failed_method, before
            before.append((class_id, method_id))

    def expect_method(self, class_id: int, method_id: int) -> bytes:
        _, got_class, got_method, args = self.method()
        assert (got_class, got_method) == (class_id, method_id), (got_class, got_method, args)
        return args


def opened(raw_client: Callable[..., RawClient]) -> tuple[RawClient, Wire]:
    client = raw_client()
    client.handshake()
    client.open_channel(1)
    return client, Wire(client)


def expect_malformed_utf8(wire: Wire) -> None:
    code, text, class_id, method_id, _ = wire.connection_close()
    assert (code, text.decode(), class_id, method_id) == (501, MALFORMED_UTF8, 0, 0)
    assert wire.client.wait_eof(5.0), "the broker kept the socket open after close-ok"


# -- names that are not UTF-8 -----------------------------------------------------------------


@pytest.mark.parametrize(
    "frames",
    [
        pytest.param(lambda q: queue_declare(b"bad\xff\xfename"), id="queue.declare"),
        pytest.param(lambda q: queue_declare(b"durable\xc3", durable=True), id="durable-queue"),
        pytest.param(lambda q: exchange_declare(b"x\xc3", durable=True), id="exchange.declare"),
        pytest.param(lambda q: basic_consume(q, b"tag\xff"), id="consumer-tag"),
        pytest.param(lambda q: basic_get(b"\xff"), id="basic.get"),
        pytest.param(lambda q: queue_bind(q, b"amq.direct", b"key\xff"), id="binding-key"),
    ],
)
def test_name_that_is_not_utf8_is_a_frame_error(
    raw_client: Callable[..., RawClient],
    connect: Callable[..., Any],
    unique_name: Callable[..., str],
    cleanup: Any,
    frames: Callable[[bytes], bytes],
) -> None:
    queue = cleanup.queue(unique_name())
    connect().channel().queue_declare(queue)
    client, wire = opened(raw_client)
    client.send_bytes(frames(queue.encode()))
    expect_malformed_utf8(wire)


def test_durable_bind_refused_for_its_key_never_routes(
    raw_client: Callable[..., RawClient],
    connect: Callable[..., Any],
    unique_name: Callable[..., str],
    cleanup: Any,
) -> None:
    """One state, not two: the refused binding neither routes now nor appears later."""
    exchange = cleanup.exchange(unique_name("x"))
    queue = cleanup.queue(unique_name("q"))
    channel = connect().channel()
    channel.exchange_declare(exchange, "direct", durable=True)
    channel.queue_declare(queue, durable=True)

    binder, wire = opened(raw_client)
    binder.send_bytes(queue_bind(queue.encode(), exchange.encode(), b"k\xff"))
    expect_malformed_utf8(wire)

    # basic.publish's routing key is not checked (by RabbitMQ either): the same bytes, sent
    # mandatory, come back unroutable, so no such binding exists.
    publisher, wire = opened(raw_client)
    publisher.send_bytes(confirm_select())
    wire.expect_method(85, 11)
    publisher.send_bytes(publish(exchange.encode(), b"k\xff", b"\x00\x00", b"x", mandatory=True))
    returned = wire.expect_method(60, 50)
    assert returned[:2] == struct.pack(">H", 312)
    assert returned.endswith(ss(exchange.encode()) + ss(b"k\xff"))
    wire.expect_method(60, 80)  # basic.ack
    assert channel.queue_declare(queue, passive=True).method.message_count == 0


def test_publish_to_an_exchange_that_is_not_utf8_echoes_its_bytes(
    raw_client: Callable[..., RawClient],
) -> None:
    client, wire = opened(raw_client)
    client.send_bytes(publish(b"\xff", b"k", b"\x00\x00", b"x"))
    args = wire.expect_method(20, 40)  # channel.close
    text = b"NOT_FOUND - no exchange '\xff' in vhost '/'"
    assert args == struct.pack(">H", 404) + ss(text) + struct.pack(">HH", 60, 40)


# -- malformed content headers -----------------------------------------------------------------

# (A malformed headers table was already refused when routing decoded the headers; these
# were confirmed and delivered. tests/unit/test_header_validation.py covers the tables.)
MALFORMED_PROPERTIES = [
    pytest.param(b"\x80\x00", id="announced-field-absent"),
    pytest.param(b"\x10\x00", id="announced-delivery-mode-absent"),
    pytest.param(b"\x00\x00\xff", id="trailing-garbage"),
    pytest.param(b"\x80\x00\x05ab", id="shortstr-past-the-end"),
]


@pytest.mark.parametrize("properties", MALFORMED_PROPERTIES)
def test_malformed_content_header_is_refused_never_confirmed_nor_delivered(
    raw_client: Callable[..., RawClient],
    connect: Callable[..., Any],
    unique_name: Callable[..., str],
    cleanup: Any,
    broker_version: str,
    properties: bytes,
) -> None:
    queue = cleanup.queue(unique_name())
    bystander = connect()  # another connection, open all along: it must not be harmed
    channel = bystander.channel()
    channel.queue_declare(queue, durable=True)

    client, wire = opened(raw_client)
    client.send_bytes(confirm_select())
    wire.expect_method(85, 11)
    persistent = b"\x10\x00\x02"
    client.send_bytes(publish(b"", queue.encode(), properties, b"malformed"))
    client.send_bytes(publish(b"", queue.encode(), persistent, b"after"))
    code, text, _, _, before = wire.connection_close()
    if broker_version == "leveret":
        assert code == 501, text
        assert text.startswith(b"FRAME_ERROR - cannot decode basic properties: "), text
    elif broker_version.startswith("3.10"):
        assert (code, text) == (541, b"INTERNAL_ERROR")  # RabbitMQ's channel crashes
    else:
        assert code in (501, 541), text
    assert (60, 80) not in before and (60, 120) not in before, f"confirmed: {before}"
    assert client.wait_eof(5.0)

    # Nothing was stored: not the malformed message, not what followed it.
    assert channel.queue_declare(queue, passive=True).method.message_count == 0
    channel.basic_publish("", queue, b"fine")
    _, _, body = wait_for(lambda: _get(channel, queue), message="the bystander's message")
    assert body == b"fine"


def _get(channel: Any, queue: str) -> tuple[Any, Any, bytes] | None:
    got = channel.basic_get(queue, auto_ack=True)
    return got if got[0] is not None else None


def test_publish_routing_key_that_is_not_utf8_is_kept_through_storage_and_dead_lettering(
    raw_client: Callable[..., RawClient],
    connect: Callable[..., Any],
    unique_name: Callable[..., str],
    cleanup: Any,
) -> None:
    """RabbitMQ does not check basic.publish's routing key: the message is routed, stored,
    delivered with the key's bytes, and dead-lettered with them in x-death (this was a 541
    when Leveret encoded the x-death table)."""
    exchange = cleanup.exchange(unique_name("x"))
    plain, expiring, dead = (cleanup.queue(unique_name(p)) for p in ("plain", "ttl", "dead"))
    channel = connect().channel()
    channel.exchange_declare(exchange, "fanout", durable=True)
    channel.queue_declare(plain, durable=True)
    channel.queue_declare(dead, durable=True)
    ttl_args = {
        "x-message-ttl": 0,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": dead,
    }
    channel.queue_declare(expiring, durable=True, arguments=ttl_args)
    channel.queue_bind(plain, exchange)
    channel.queue_bind(expiring, exchange)

    client, wire = opened(raw_client)
    client.send_bytes(confirm_select())
    wire.expect_method(85, 11)
    persistent = b"\x10\x00\x02"
    client.send_bytes(publish(exchange.encode(), b"k\xff", persistent, b"body"))
    wire.expect_method(60, 80)  # basic.ack: stored, and the connection is fine

    method, _, body = wait_for(lambda: _get(channel, plain), message="the routed message")
    assert (method.routing_key, body) == (b"k\xff", b"body")
    method, props, body = wait_for(lambda: _get(channel, dead), message="the dead letter")
    assert body == b"body"
    (death,) = props.headers["x-death"]
    assert death["routing-keys"] == [b"k\xff"]
    assert death["exchange"] == exchange


def test_connection_open_with_a_vhost_that_is_not_utf8_is_a_frame_error_naming_it(
    raw_client: Callable[..., RawClient],
) -> None:
    """On channel 0 RabbitMQ's 501 names the method (connection.open, 10.40)."""
    client = raw_client()
    client.send(header.ProtocolHeader())
    assert isinstance(client.recv_method(), commands.Connection.Start)
    client.send(
        commands.Connection.StartOk(
            client_properties={"product": "leveret-tests"},
            mechanism="PLAIN",
            response="\0guest\0guest",
        )
    )
    tune = client.recv_method()
    assert isinstance(tune, commands.Connection.Tune)
    client.send(commands.Connection.TuneOk(tune.channel_max, tune.frame_max, 0))
    wire = Wire(client)
    wire.buffer, client.buffer = client.buffer, b""
    client.send_bytes(method(0, 10, 40, ss(b"\xff") + ss(b"") + b"\x00"))
    code, text, class_id, method_id, _ = wire.connection_close()
    assert (code, text.decode(), class_id, method_id) == (501, MALFORMED_UTF8, 10, 40)
    assert client.wait_eof(5.0)
