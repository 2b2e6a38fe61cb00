"""AMQP exceptions: who broke what, and the reply code that says so on the wire.

A ``ChannelError`` is a soft error: the broker closes only the offending channel.
A ``ConnectionError_`` is a hard error: the broker closes the whole connection.
Reply texts follow RabbitMQ's shape, ``NAME - detail``, which clients pattern-match.
"""

from __future__ import annotations

REPLY_SUCCESS = 200
CONTENT_TOO_LARGE = 311
NO_ROUTE = 312
NO_CONSUMERS = 313
CONNECTION_FORCED = 320
INVALID_PATH = 402
ACCESS_REFUSED = 403
NOT_FOUND = 404
RESOURCE_LOCKED = 405
PRECONDITION_FAILED = 406
FRAME_ERROR = 501
SYNTAX_ERROR = 502
COMMAND_INVALID = 503
CHANNEL_ERROR = 504
UNEXPECTED_FRAME = 505
RESOURCE_ERROR = 506
NOT_ALLOWED = 530
NOT_IMPLEMENTED = 540
INTERNAL_ERROR = 541

REPLY_NAMES: dict[int, str] = {
    REPLY_SUCCESS: "OK",
    CONTENT_TOO_LARGE: "CONTENT_TOO_LARGE",
    NO_ROUTE: "NO_ROUTE",
    NO_CONSUMERS: "NO_CONSUMERS",
    CONNECTION_FORCED: "CONNECTION_FORCED",
    INVALID_PATH: "INVALID_PATH",
    ACCESS_REFUSED: "ACCESS_REFUSED",
    NOT_FOUND: "NOT_FOUND",
    RESOURCE_LOCKED: "RESOURCE_LOCKED",
    PRECONDITION_FAILED: "PRECONDITION_FAILED",
    FRAME_ERROR: "FRAME_ERROR",
    SYNTAX_ERROR: "SYNTAX_ERROR",
    COMMAND_INVALID: "COMMAND_INVALID",
    CHANNEL_ERROR: "CHANNEL_ERROR",
    UNEXPECTED_FRAME: "UNEXPECTED_FRAME",
    RESOURCE_ERROR: "RESOURCE_ERROR",
    NOT_ALLOWED: "NOT_ALLOWED",
    NOT_IMPLEMENTED: "NOT_IMPLEMENTED",
    INTERNAL_ERROR: "INTERNAL_ERROR",
}


class AMQPError(Exception):
    """An error the peer must be told about, with its reply code.

    ``class_id``/``method_id`` name the method that failed (0 when no method is to blame).
    """

    hard: bool = True

    def __init__(self, reply_code: int, detail: str, class_id: int = 0, method_id: int = 0):
        self.reply_code = reply_code
        self.detail = detail
        self.class_id = class_id
        self.method_id = method_id
        super().__init__(self.reply_text)

    @property
    def reply_text(self) -> str:
        name = REPLY_NAMES.get(self.reply_code, "UNKNOWN")
        text = f"{name} - {self.detail}"
        # A name from basic.publish may hold bytes that are not UTF-8 (as surrogate
        # escapes): they go back on the wire as they came, as RabbitMQ echoes them.
        encoded = text.encode("utf-8", "surrogateescape")
        if len(encoded) <= 255:
            return text
        # Short strings on the wire hold 255 bytes; RabbitMQ cuts to 252 and appends "...".
        return encoded[:252].decode("utf-8", "ignore") + "..."


class ConnectionError_(AMQPError):
    """A hard error: connection.close with this code, then the socket is dropped."""

    hard = True


class ChannelError(AMQPError):
    """A soft error: channel.close with this code; the connection survives."""

    hard = False


class FrameError(ConnectionError_):
    """The byte stream is malformed (501 FRAME_ERROR unless another code is given)."""

    def __init__(self, detail: str, reply_code: int = FRAME_ERROR):
        super().__init__(reply_code, detail)
