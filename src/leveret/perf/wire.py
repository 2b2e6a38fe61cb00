"""The few pieces of AMQP 0-9-1 the load tool needs: URIs, frames, a blocking setup client.

Method payloads are built with the generated classes of :mod:`leveret.amqp.spec` (their
``encode()`` only); framing and the handful of replies the tool reads are done here, so
that the hot loops in :mod:`leveret.perf.producer` and :mod:`leveret.perf.consumer` do
not depend on the broker's own frame layer.

A frame is ``type:u8 channel:u16 size:u32 payload[size] 0xCE``; a method payload starts
with ``class:u16 method:u16``.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import urllib.parse
from dataclasses import dataclass

from leveret import __version__
from leveret.amqp import spec

__all__ = [
    "ACK",
    "CANCEL",
    "CANCEL_OK",
    "CHANNEL_CLOSE",
    "CHANNEL_CLOSE_OK",
    "CONNECTION_BLOCKED",
    "CONNECTION_CLOSE",
    "CONNECTION_CLOSE_OK",
    "CONNECTION_UNBLOCKED",
    "DELIVER",
    "FRAME_BODY",
    "FRAME_END",
    "FRAME_HEADER",
    "FRAME_METHOD",
    "HEADER",
    "NACK",
    "RETURN",
    "BrokerClosed",
    "Connection",
    "PerfError",
    "Target",
    "close_reason",
    "method_frame",
    "method_id",
    "parse_uri",
    "publish_template",
]

FRAME_METHOD = spec.FRAME_METHOD
FRAME_HEADER = spec.FRAME_HEADER
FRAME_BODY = spec.FRAME_BODY
FRAME_HEARTBEAT = spec.FRAME_HEARTBEAT
FRAME_END = spec.FRAME_END

#: Frame header: type, channel, payload size.
HEADER = struct.Struct(">BHI")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_END = bytes((FRAME_END,))

SETUP_TIMEOUT = 30.0
CLOSE_TIMEOUT = 3.0


def method_id(class_id: int, method: int) -> int:
    """Class and method ids as the big-endian u32 that opens a method payload."""
    return class_id << 16 | method


CONNECTION_START = method_id(10, 10)
CONNECTION_TUNE = method_id(10, 30)
CONNECTION_OPEN_OK = method_id(10, 41)
CONNECTION_CLOSE = method_id(10, 50)
CONNECTION_CLOSE_OK = method_id(10, 51)
CONNECTION_BLOCKED = method_id(10, 60)
CONNECTION_UNBLOCKED = method_id(10, 61)
CHANNEL_OPEN_OK = method_id(20, 11)
CHANNEL_CLOSE = method_id(20, 40)
CHANNEL_CLOSE_OK = method_id(20, 41)
EXCHANGE_DECLARE_OK = method_id(40, 11)
EXCHANGE_DELETE_OK = method_id(40, 21)
QUEUE_DECLARE_OK = method_id(50, 11)
QUEUE_BIND_OK = method_id(50, 21)
QUEUE_PURGE_OK = method_id(50, 31)
QUEUE_DELETE_OK = method_id(50, 41)
QOS_OK = method_id(60, 11)
CONSUME_OK = method_id(60, 21)
CANCEL = method_id(60, 30)
CANCEL_OK = method_id(60, 31)
RETURN = method_id(60, 50)
DELIVER = method_id(60, 60)
ACK = method_id(60, 80)
NACK = method_id(60, 120)
SELECT_OK = method_id(85, 11)


class PerfError(Exception):
    """A run cannot go on; the message is meant for the user as it is."""


class BrokerClosed(PerfError):
    """The broker closed the connection or a channel (connection.close / channel.close)."""

    def __init__(self, scope: str, code: int, text: str, class_id: int = 0, method: int = 0):
        self.scope = scope
        self.code = code
        self.text = text
        where = f" (in reply to method {class_id}.{method})" if class_id else ""
        super().__init__(f"{scope} closed by the broker: {code} {text}{where}")


@dataclass(frozen=True)
class Target:
    """Where to connect, from an ``amqp://user:pass@host:port/vhost`` URI."""

    host: str
    port: int
    user: str
    password: str
    vhost: str

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def parse_uri(uri: str) -> Target:
    """Parse an AMQP URI; raises ValueError with a readable message."""
    try:
        parts = urllib.parse.urlsplit(uri)
        port = parts.port
    except ValueError as error:
        raise ValueError(f"invalid URI {uri!r}: {error}") from None
    if parts.scheme != "amqp":
        raise ValueError(f"invalid URI {uri!r}: only amqp:// is supported")
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if "/" in path:
        raise ValueError(f"invalid URI {uri!r}: write '/' in a vhost as %2F")
    return Target(
        host=parts.hostname or "127.0.0.1",
        port=port or spec.DEFAULT_PORT,
        user=urllib.parse.unquote(parts.username) if parts.username is not None else "guest",
        password=urllib.parse.unquote(parts.password) if parts.password is not None else "guest",
        vhost=urllib.parse.unquote(path) if path else "/",
    )


def method_frame(channel: int, method: spec.Method) -> bytes:
    payload = method.encode()
    return HEADER.pack(FRAME_METHOD, channel, len(payload)) + payload + _END


def close_reason(payload: bytes | bytearray | memoryview) -> tuple[int, str, int, int]:
    """(reply code, reply text, class id, method id) of a connection/channel.close payload."""
    try:
        (code,) = _U16.unpack_from(payload, 4)
        size = payload[6]
        text = bytes(payload[7 : 7 + size]).decode("utf-8", "replace")
        class_id, method = struct.unpack_from(">HH", payload, 7 + size)
    except (struct.error, IndexError):
        return 0, "(malformed close)", 0, 0
    return code, text, class_id, method


def broker_closed(kind: int, payload: bytes | bytearray | memoryview) -> BrokerClosed:
    scope = "connection" if kind == CONNECTION_CLOSE else "channel"
    return BrokerClosed(scope, *close_reason(payload))


def publish_template(
    channel: int,
    exchange: str,
    routing_key: str,
    size: int,
    persistent: bool,
    frame_max: int,
) -> tuple[bytearray, int]:
    """One complete basic.publish (method, content header, body frames split at frame_max).

    Returns the bytes and the offset of the first body byte, where the 8-byte send
    timestamp goes (-1 when the body is shorter than 8 bytes and carries none).
    """
    publish = spec.BasicPublish(exchange=exchange, routing_key=routing_key)
    out = bytearray(method_frame(channel, publish))
    # Property flags (delivery-mode present) and delivery-mode 2, or no properties at all.
    properties = b"\x10\x00\x02" if persistent else b"\x00\x00"
    header = struct.pack(">HHQ", 60, 0, size) + properties
    out += HEADER.pack(FRAME_HEADER, channel, len(header)) + header + _END
    stamp_at = -1
    chunk = max(1, frame_max - 8) if frame_max else size
    pattern = bytes(range(97, 123)) * (size // 26 + 1)  # 'a'..'z', readable in a dump
    done = 0
    while done < size:
        n = min(chunk, size - done)
        out += HEADER.pack(FRAME_BODY, channel, n)
        if done == 0 and size >= 8:
            stamp_at = len(out)
        out += pattern[done : done + n]
        out += _END
        done += n
    return out, stamp_at


class Connection:
    """A blocking AMQP connection for setup and teardown (channel 1 only).

    The hot loops take over ``sock`` afterwards, together with ``pending``: bytes already
    received (for instance deliveries right behind basic.consume-ok) that no one read yet.
    """

    def __init__(self, sock: socket.socket, frame_max: int) -> None:
        self.sock = sock
        self.frame_max = frame_max
        self.pending = bytearray()
        self.blocked = 0  # connection.blocked notices seen so far
        self.is_blocked = False  # blocked and not unblocked since

    @classmethod
    def open(
        cls,
        target: Target,
        name: str,
        frame_max: int = 131072,
        timeout: float = SETUP_TIMEOUT,
    ) -> Connection:
        """Connect, authenticate (PLAIN), tune (heartbeats off), open the vhost and channel 1."""
        try:
            sock = socket.create_connection((target.host, target.port), timeout=timeout)
        except OSError as error:
            reason = error.strerror or str(error)
            raise PerfError(f"cannot connect to {target.address}: {reason}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = cls(sock, frame_max)
        try:
            conn._handshake(target, name, frame_max)
            conn.call(spec.ChannelOpen(), CHANNEL_OPEN_OK)
        except BaseException:
            sock.close()
            raise
        return conn

    def _handshake(self, target: Target, name: str, frame_max: int) -> None:
        self.send_raw(spec.PROTOCOL_HEADER)
        start = self.expect(0, CONNECTION_START, "connection.start")
        if b"PLAIN" not in start[8:]:
            raise PerfError(f"{target.address} does not offer PLAIN authentication")
        properties: dict[str, object] = {
            "product": "leveret perf",
            "version": __version__,
            "platform": "Python",
            "connection_name": name,
            "capabilities": {
                "publisher_confirms": True,
                "basic.nack": True,
                "consumer_cancel_notify": True,
                "connection.blocked": True,
                "authentication_failure_close": True,
            },
        }
        response = b"\x00" + target.user.encode() + b"\x00" + target.password.encode()
        self.send_raw(
            method_frame(
                0,
                spec.ConnectionStartOk(
                    client_properties=properties,
                    mechanism="PLAIN",
                    response=response,
                    locale="en_US",
                ),
            )
        )
        tune = self.expect(0, CONNECTION_TUNE, "connection.tune")
        channel_max = _U16.unpack_from(tune, 4)[0] or 2047
        server_frame_max = _U32.unpack_from(tune, 6)[0]
        if server_frame_max and (not frame_max or server_frame_max < frame_max):
            frame_max = server_frame_max
        self.frame_max = frame_max
        self.send_raw(
            method_frame(0, spec.ConnectionTuneOk(channel_max, frame_max, 0))
            + method_frame(0, spec.ConnectionOpen(virtual_host=target.vhost))
        )
        self.expect(0, CONNECTION_OPEN_OK, f"connection.open-ok for vhost {target.vhost!r}")

    def send_raw(self, data: bytes | bytearray) -> None:
        try:
            self.sock.sendall(data)
        except OSError as error:
            raise PerfError(f"connection lost: {error.strerror or error}") from None

    def read_frame(self, what: str) -> tuple[int, int, bytes]:
        """The next frame as (type, channel, payload), blocking up to the socket timeout."""
        buf = self.pending
        while True:
            if len(buf) >= 7:
                kind, channel, size = HEADER.unpack_from(buf, 0)
                end = 7 + size
                if len(buf) > end:
                    if buf[end] != FRAME_END:
                        raise PerfError(f"bad frame end octet from the broker ({buf[end]:#04x})")
                    payload = bytes(buf[7:end])
                    del buf[: end + 1]
                    return kind, channel, payload
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                raise PerfError(f"timed out waiting for {what}") from None
            except OSError as error:
                raise PerfError(
                    f"connection lost waiting for {what}: {error.strerror or error}"
                ) from None
            if not data:
                raise PerfError(
                    f"the broker closed the connection while waiting for {what}"
                    + (" (wrong user, password or vhost?)" if "connection." in what else "")
                )
            buf += data

    def expect(self, channel: int, wanted: int, what: str) -> bytes:
        """Read until method ``wanted`` arrives on ``channel``; a close raises BrokerClosed."""
        while True:
            kind, ch, payload = self.read_frame(what)
            if kind != FRAME_METHOD or len(payload) < 4:
                continue
            mid = _U32.unpack_from(payload, 0)[0]
            if mid == wanted and ch == channel:
                return payload
            if mid == CONNECTION_BLOCKED:
                self.blocked += 1
                self.is_blocked = True
            elif mid == CONNECTION_UNBLOCKED:
                self.is_blocked = False
            if mid == CONNECTION_CLOSE:
                self._send_quietly(method_frame(0, spec.ConnectionCloseOk()))
                raise broker_closed(mid, payload)
            if mid == CHANNEL_CLOSE:
                self._send_quietly(method_frame(ch, spec.ChannelCloseOk()))
                raise broker_closed(mid, payload)

    def call(self, method: spec.Method, reply: int) -> bytes:
        """Send a synchronous method on channel 1 and return the reply payload."""
        self.send_raw(method_frame(1, method))
        return self.expect(1 if reply != CONNECTION_CLOSE_OK else 0, reply, method.NAME + "-ok")

    def _send_quietly(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(data)

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """connection.close, wait for close-ok (at most ``timeout``), close the socket."""
        try:
            self.sock.settimeout(timeout)
            self.sock.sendall(method_frame(0, spec.ConnectionClose(200, "bye")))
            while True:
                kind, _channel, payload = self.read_frame("connection.close-ok")
                mid = _U32.unpack_from(payload)[0] if len(payload) >= 4 else 0
                if kind == FRAME_METHOD and mid in (CONNECTION_CLOSE_OK, CONNECTION_CLOSE):
                    break
        except (PerfError, OSError):
            pass
        finally:
            self.sock.close()

    def queue_depth(self, queue: str) -> int:
        """Messages ready in ``queue`` (passive queue.declare)."""
        reply = self.call(spec.QueueDeclare(queue=queue, passive=True), QUEUE_DECLARE_OK)
        size = reply[4]
        return int(_U32.unpack_from(reply, 5 + size)[0])
