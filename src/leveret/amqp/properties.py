"""Cheap reads of single basic properties from raw content-header bytes."""

from __future__ import annotations

# Property flag bits (of the 16-bit flags word) in spec order.
_CONTENT_TYPE = 0x8000
_CONTENT_ENCODING = 0x4000
_HEADERS = 0x2000
_DELIVERY_MODE = 0x1000


def delivery_mode(raw: bytes) -> int:
    """The delivery-mode property (2 = persistent), or 0 when absent or unreadable."""
    if len(raw) < 2:
        return 0
    flags = (raw[0] << 8) | raw[1]
    if not flags & _DELIVERY_MODE:
        return 0
    pos = 2
    try:
        if flags & _CONTENT_TYPE:
            pos += 1 + raw[pos]
        if flags & _CONTENT_ENCODING:
            pos += 1 + raw[pos]
        if flags & _HEADERS:
            pos += 4 + int.from_bytes(raw[pos : pos + 4], "big")
        return raw[pos]
    except IndexError:
        return 0
