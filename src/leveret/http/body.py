"""Request bodies: JSON objects read and checked with RabbitMQ's error reasons.

RabbitMQ answers 400 ``not_json`` for a body that is not a JSON object and
``[{key_missing,NAME}]`` for a missing key; for a value of the wrong type it often fails
with a 500. Leveret answers those with a 400 naming the key and the type it wants.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from leveret.http.errors import bad_request

NOT_JSON = "not_json"


def parse_object(raw: bytes, not_json: str = NOT_JSON) -> dict[str, Any]:
    """The JSON object in ``raw``; an empty body is an empty object (RabbitMQ's PUT of a
    vhost needs no body).

    A body that is not UTF-8, and a string with a lone surrogate (an unpaired ``\\ud800``
    escape), are refused like text that is not JSON: neither is Unicode text, and names,
    payloads and stored definitions must encode to UTF-8 further on."""
    if not raw.strip():
        return {}
    try:
        # UTF-8 only, as RFC 8259 wants and RabbitMQ reads it (json.loads would also
        # take UTF-16 and UTF-32 bytes).
        value = json.loads(raw.decode("utf-8"))
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeError):
        raise bad_request(not_json) from None
    if not isinstance(value, dict):
        raise bad_request(not_json)
    return value


async def json_object(request: web.Request, not_json: str = NOT_JSON) -> dict[str, Any]:
    return parse_object(await request.read(), not_json)


def require_keys(body: Mapping[str, Any], *keys: str) -> None:
    for key in keys:
        if key not in body:
            raise bad_request(f"[{{key_missing,{key}}}]")


def text(body: Mapping[str, Any], key: str, default: str | None = None) -> str:
    """A string value; ``default`` when the key is absent (required when None)."""
    if key not in body:
        if default is None:
            require_keys(body, key)
        assert default is not None
        return default
    value = body[key]
    if not isinstance(value, str):
        raise bad_request(f"{key} must be a string")
    return value


def optional_text(body: Mapping[str, Any], key: str) -> str | None:
    if body.get(key) is None:
        return None
    return text(body, key)


def tags(value: object, key: str = "tags") -> list[str]:
    """Tags as RabbitMQ accepts them: a comma-separated string or a list (of strings, or
    of numbers, which it turns into their text)."""
    if value is None:
        return []
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list) and all(
        isinstance(item, str | int | float) and not isinstance(item, bool) for item in value
    ):
        items = [str(item) for item in value]
    else:
        raise bad_request(f"{key} must be a comma-separated string or a list of strings")
    return [item.strip() for item in items if item.strip()]


def erlang_term(value: object) -> str:
    """A JSON value as RabbitMQ's validation messages print it (strings are binaries)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return '<<"' + value.replace("\\", "\\\\").replace('"', '\\"') + '">>'
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ",".join(erlang_term(item) for item in value) + "]"
    if isinstance(value, Mapping):
        pairs = ",".join(f"{erlang_term(str(k))} => {erlang_term(v)}" for k, v in value.items())
        return "#{" + pairs + "}"
    return str(value)
