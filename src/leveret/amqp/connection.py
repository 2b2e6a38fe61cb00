"""Sans-IO server side of an AMQP 0-9-1 connection: bytes in, events out.

This layer owns the rules that do not need the broker: the protocol header, frame
parsing, assembling content (method + header + bodies), which channels are open or
closing, and which frames are legal where. It raises ``AMQPError`` for violations.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from leveret.amqp import spec
from leveret.amqp.errors import (
    CHANNEL_ERROR,
    NOT_ALLOWED,
    PRECONDITION_FAILED,
    UNEXPECTED_FRAME,
    ChannelError,
    ConnectionError_,
    FrameError,
)
from leveret.amqp.frames import FrameReader, decode_content_header
from leveret.amqp.properties import NO_PROPERTIES, check_properties

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"

# Methods that may arrive on a channel the client has just closed (race tolerance).
_LATE_METHODS = (spec.BasicAck, spec.BasicNack, spec.BasicReject)
_BASIC_PUBLISH_ID = b"\x00\x3c\x00\x28"


class BadProtocolHeader(Exception):
    """The peer did not open with AMQP 0-9-1: answer with our header and close."""


class HeaderReceived(NamedTuple):
    """The client opened with a valid AMQP 0-9-1 protocol header."""


class MethodReceived(NamedTuple):
    channel: int
    method: spec.Method


class ContentReceived(NamedTuple):
    channel: int
    method: spec.Method
    properties_raw: bytes
    body: bytes


class HeartbeatReceived(NamedTuple):
    pass


class ChannelFault(NamedTuple):
    """A soft error found while parsing: the server must close this channel."""

    channel: int
    error: ChannelError


Event = HeaderReceived | MethodReceived | ContentReceived | HeartbeatReceived | ChannelFault


class _Content:
    __slots__ = ("body_size", "chunks", "discard", "method", "properties_raw", "received")

    def __init__(self, method: spec.Method):
        self.method = method
        self.properties_raw: bytes | None = None
        self.body_size = 0
        self.received = 0
        self.chunks: list[bytes] = []
        self.discard = False


class ServerConnection:
    """Parses what a client sends. The server adapter tells it about channel state changes."""

    def __init__(self, frame_max: int = 131072, max_message_size: int = 128 * 1024 * 1024):
        self.reader = FrameReader(frame_max)
        self.max_message_size = max_message_size
        self.channel_max = 2047
        self.header_received = False
        self.open_channels: set[int] = set()
        self.closing_channels: set[int] = set()
        self._recently_closed: set[int] = set()
        self._content: dict[int, _Content] = {}
        self._header_buffer = b""

    # -- adapter calls --------------------------------------------------------------------

    def set_frame_max(self, frame_max: int) -> None:
        self.reader.frame_max = frame_max

    def channel_closing(self, channel: int) -> None:
        """The server sent channel.close: discard everything but close/close-ok."""
        self.closing_channels.add(channel)
        self._content.pop(channel, None)

    def channel_closed(self, channel: int) -> None:
        self.open_channels.discard(channel)
        self.closing_channels.discard(channel)
        self._content.pop(channel, None)
        self._recently_closed.add(channel)

    # -- input ----------------------------------------------------------------------------

    def receive(self, data: bytes) -> Iterator[Event]:
        """Feed bytes and yield complete events. Raises AMQPError or BadProtocolHeader."""
        if not self.header_received:
            self._header_buffer += data
            buffered = self._header_buffer
            if len(buffered) < 8:
                if not PROTOCOL_HEADER.startswith(buffered):
                    raise BadProtocolHeader(buffered)
                return
            if buffered[:8] != PROTOCOL_HEADER:
                raise BadProtocolHeader(buffered[:8])
            self.header_received = True
            self._header_buffer = b""
            data = buffered[8:]
            yield HeaderReceived()
        reader = self.reader
        reader.feed(data)
        next_frame = reader.next_frame
        while True:
            frame = next_frame()
            if frame is None:
                return
            frame_type, channel, payload = frame
            if (
                frame_type == spec.FRAME_METHOD
                and payload[:4] == _BASIC_PUBLISH_ID
                and channel in self.open_channels
                and channel not in self._content
                and channel not in self.closing_channels
            ):
                # The hot path: a whole publish is usually in the buffer already.
                method = spec.decode_method(payload)
                content = reader.next_content(channel, self.max_message_size)
                if content is not None and content[0] == method.CLASS_ID:
                    properties_raw = content[1]
                    if properties_raw != NO_PROPERTIES:
                        check_properties(properties_raw)
                    yield ContentReceived(channel, method, properties_raw, content[2])
                else:
                    if content is not None:  # mismatched class: let the general path say so
                        raise ConnectionError_(
                            UNEXPECTED_FRAME,
                            f"content header for class {content[0]} does not match method "
                            f"class {method.CLASS_ID}",
                        )
                    self._content[channel] = _Content(method)
                continue
            event = self._on_frame(frame_type, channel, payload)
            if event is not None:
                yield event

    def _on_frame(self, frame_type: int, channel: int, payload: bytes) -> Event | None:
        if frame_type == spec.FRAME_METHOD:
            if channel == 0:
                return self._on_method(0, _decode_connection_method(payload))
            return self._on_method(channel, spec.decode_method(payload))
        if frame_type == spec.FRAME_HEADER:
            return self._on_header(channel, payload)
        if frame_type == spec.FRAME_BODY:
            return self._on_body(channel, payload)
        # FrameReader only yields known types, so this is a heartbeat.
        if channel != 0:
            raise ConnectionError_(UNEXPECTED_FRAME, f"heartbeat frame on channel {channel}")
        if payload:
            raise FrameError("heartbeat frame with a payload")
        return HeartbeatReceived()

    def _on_method(self, channel: int, method: spec.Method) -> Event | None:
        if channel == 0:
            if method.CLASS_ID != spec.ConnectionStart.CLASS_ID:
                raise ConnectionError_(
                    CHANNEL_ERROR,
                    "unexpected method in connection state running",
                )
            return MethodReceived(0, method)
        if channel in self._content:
            raise ConnectionError_(
                UNEXPECTED_FRAME,
                "expected content header for class 60, got non content header frame instead",
            )
        if channel in self.closing_channels:
            if isinstance(method, spec.ChannelClose | spec.ChannelCloseOk):
                return MethodReceived(channel, method)
            return None
        if isinstance(method, spec.ChannelOpen):
            if channel in self.open_channels:
                raise ConnectionError_(CHANNEL_ERROR, "second 'channel.open' seen")
            if self.channel_max and len(self.open_channels) >= self.channel_max:
                raise ConnectionError_(
                    NOT_ALLOWED,
                    f"number of channels opened ({len(self.open_channels)}) has reached "
                    f"the negotiated channel_max ({self.channel_max})",
                )
            self.open_channels.add(channel)
            self._recently_closed.discard(channel)
            return MethodReceived(channel, method)
        if channel not in self.open_channels:
            if channel in self._recently_closed and isinstance(method, _LATE_METHODS):
                return None
            raise ConnectionError_(CHANNEL_ERROR, "expected 'channel.open'")
        if method.HAS_CONTENT:
            self._content[channel] = _Content(method)
            return None
        return MethodReceived(channel, method)

    def _pending(self, channel: int, what: str) -> _Content:
        if channel == 0:
            raise ConnectionError_(UNEXPECTED_FRAME, f"{what} frame on channel 0")
        content = self._content.get(channel)
        if content is None:
            if channel in self.closing_channels:
                raise _Discard
            raise ConnectionError_(
                UNEXPECTED_FRAME, "expected method frame, got non method frame instead"
            )
        return content

    def _on_header(self, channel: int, payload: bytes) -> Event | None:
        try:
            content = self._pending(channel, "content header")
        except _Discard:
            return None
        if content.properties_raw is not None:
            raise ConnectionError_(
                UNEXPECTED_FRAME, "expected content body, got non content body frame instead"
            )
        class_id, body_size, properties_raw = decode_content_header(payload)
        if class_id != content.method.CLASS_ID:
            raise ConnectionError_(
                UNEXPECTED_FRAME,
                f"content header for class {class_id} does not match method class "
                f"{content.method.CLASS_ID}",
            )
        if properties_raw != NO_PROPERTIES:
            check_properties(properties_raw)  # refused before anything is stored
        content.properties_raw = properties_raw
        content.body_size = body_size
        if body_size > self.max_message_size:
            content.discard = True
            error = ChannelError(
                PRECONDITION_FAILED,
                f"message size {body_size} is larger than configured max size "
                f"{self.max_message_size}",
                content.method.CLASS_ID,
                content.method.METHOD_ID,
            )
            if body_size == 0:
                del self._content[channel]
            return ChannelFault(channel, error)
        if body_size == 0:
            return self._complete(channel, content)
        return None

    def _on_body(self, channel: int, payload: bytes) -> Event | None:
        try:
            content = self._pending(channel, "content body")
        except _Discard:
            return None
        if content.properties_raw is None:
            raise ConnectionError_(
                UNEXPECTED_FRAME, "expected content header, got non content header frame instead"
            )
        received = content.received + len(payload)
        if received > content.body_size:
            raise FrameError("content body frame exceeds remaining content size")
        content.received = received
        if not content.discard:
            content.chunks.append(payload)
        if received == content.body_size:
            if content.discard:
                del self._content[channel]
                return None
            return self._complete(channel, content)
        return None

    def _complete(self, channel: int, content: _Content) -> ContentReceived:
        del self._content[channel]
        chunks = content.chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        assert content.properties_raw is not None
        return ContentReceived(channel, content.method, content.properties_raw, body)


def _decode_connection_method(payload: bytes) -> spec.Method:
    """decode_method for channel 0: there RabbitMQ's 501 for a name that is not UTF-8 names
    the method (on other channels it names none)."""
    try:
        return spec.decode_method(payload)
    except FrameError as error:
        if error.detail == spec.MALFORMED_UTF8 and len(payload) >= 4:
            error.class_id = (payload[0] << 8) | payload[1]
            error.method_id = (payload[2] << 8) | payload[3]
        raise


class _Discard(Exception):
    """A content frame for a channel the server is closing: drop it silently."""
