"""Cheap reads of basic properties from raw content-header bytes, without decoding them all."""

from __future__ import annotations

# Property flag bits (of the 16-bit flags word that starts the raw properties), spec order.
CONTENT_TYPE = 0x8000
CONTENT_ENCODING = 0x4000
HEADERS = 0x2000
DELIVERY_MODE = 0x1000
PRIORITY = 0x0800
REPLY_TO = 0x0200
EXPIRATION = 0x0100
USER_ID = 0x0010


def delivery_mode(raw: bytes) -> int:
    """The delivery-mode property (2 = persistent), or 0 when absent or unreadable."""
    if len(raw) < 2:
        return 0
    flags = (raw[0] << 8) | raw[1]
    if not flags & DELIVERY_MODE:
        return 0
    pos = 2
    try:
        if flags & CONTENT_TYPE:
            pos += 1 + raw[pos]
        if flags & CONTENT_ENCODING:
            pos += 1 + raw[pos]
        if flags & HEADERS:
            pos += 4 + int.from_bytes(raw[pos : pos + 4], "big")
        return raw[pos]
    except IndexError:
        return 0
