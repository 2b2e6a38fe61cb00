"""SASL responses of the mechanisms Leveret offers: PLAIN, AMQPLAIN and EXTERNAL.

EXTERNAL carries no credentials (the TLS client certificate names the user), so only
the password mechanisms are parsed here; server/login.py decides who may use which.
"""

from __future__ import annotations

import struct

from leveret.amqp.errors import AMQPError
from leveret.amqp.table import decode_table

MECHANISMS = b"PLAIN AMQPLAIN"


class SASLError(ValueError):
    """The response could not be parsed."""


def parse_response(mechanism: str, response: bytes) -> tuple[str, str]:
    """Return (username, password) from a start-ok response."""
    if mechanism == "PLAIN":
        parts = response.split(b"\x00")
        if len(parts) != 3:
            raise SASLError("malformed PLAIN response")
        return _text(parts[1]), _text(parts[2])
    if mechanism == "AMQPLAIN":
        # A field table without its length prefix.
        try:
            table, _ = decode_table(struct.pack(">I", len(response)) + response)
        except AMQPError as exc:
            raise SASLError("malformed AMQPLAIN response") from exc
        login, password = table.get("LOGIN"), table.get("PASSWORD")
        if not isinstance(login, str | bytes) or not isinstance(password, str | bytes):
            raise SASLError("AMQPLAIN response lacks LOGIN or PASSWORD")
        return _text(login), _text(password)
    raise SASLError(f"unsupported mechanism {mechanism!r}")


def _text(value: str | bytes) -> str:
    if isinstance(value, str):
        return value
    try:
        return value.decode()
    except UnicodeDecodeError as exc:
        raise SASLError("credentials are not UTF-8") from exc
