"""From HTTP to the broker and back: request bodies, AMQP field values as JSON, and the
broker's AMQP errors as the management API reports them.

RabbitMQ's management plugin performs an operation in one of two ways, and its errors
look different for each: directly on the broker (declare, delete, bind: the error's text
alone, or 401 "Access refused." for a refusal) or on an internal AMQP channel (publish,
get: the reply code and text, "404 NOT_FOUND - ..."). ``direct_errors`` and
``channel_errors`` translate accordingly.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from aiohttp import web

from leveret.amqp import table
from leveret.amqp.errors import (
    ACCESS_REFUSED,
    NOT_FOUND,
    AMQPError,
    ConnectionError_,
)
from leveret.amqp.spec import BasicProperties
from leveret.broker.access import Grant
from leveret.broker.admin.jsonable import to_json
from leveret.http.auth import caller, require_vhost
from leveret.http.body import parse_object
from leveret.http.errors import ApiError, bad_request
from leveret.http.keys import NODE
from leveret.http.lists import shape_items

Body = dict[str, Any]

# RabbitMQ's answer to an operation the user's permissions forbid.
ACCESS_REFUSED_REASON = "Access refused."
# The bytes of an AMQP short string (names, routing keys, text properties).
MAX_SHORT_STRING = 255


# -- request bodies ---------------------------------------------------------------------


async def read_body(request: web.Request) -> Body:
    """The request's JSON object; 400 "not_json" for anything else (an empty body is an
    empty object, as RabbitMQ takes it)."""
    return parse_object(await request.read())


def require_keys(body: Body, *names: str) -> None:
    """400 naming the missing keys as RabbitMQ does: ``[{key_missing,count}]``."""
    missing = [name for name in names if name not in body]
    if missing:
        raise bad_request("[" + ",".join(f"{{key_missing,{name}}}" for name in missing) + "]")


def boolean(body: Body, name: str, default: bool = False) -> bool:
    value = body.get(name, default)
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise ApiError(400, ["not_boolean", value])


def text(body: Body, name: str, default: str = "") -> str:
    """A string field; RabbitMQ's management accepts numbers where it wants text."""
    value = body.get(name, default)
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ApiError(400, ["not_string", name])


def integer(body: Body, name: str, default: int | None = None) -> int | None:
    """An integer field, also given as a string of digits (RabbitMQ takes both)."""
    value = body.get(name, default)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise ApiError(400, ["not_integer", value])


def table_field(body: Body, name: str) -> dict[str, object]:
    """A field table (queue, exchange or binding arguments) from a JSON object."""
    value = body.get(name)
    # An empty list is an empty table to RabbitMQ (pyrabbit2 sends "arguments": []).
    if value is None or value == []:
        return {}
    if not isinstance(value, dict):
        raise ApiError(400, ["not_table", name])
    return encodable(to_table(value), name)


def encodable(converted: dict[str, object], name: str) -> dict[str, object]:
    """``converted``, once it is known to encode as an AMQP field table: RabbitMQ keeps
    any JSON, but Leveret stores tables and sends headers in AMQP's encoding, where an
    integer has 64 bits, a key 255 bytes and nesting a limit; 400 naming what does not fit
    (before anything was changed)."""
    try:
        table.encode_table(converted)
    except (ValueError, TypeError) as error:
        raise bad_request(f"{name}: {error}") from None
    return converted


def to_table(value: Mapping[str, Any]) -> dict[str, object]:
    return {str(k): to_amqp(v) for k, v in value.items()}


def to_amqp(value: Any) -> object:
    """A JSON value as an AMQP field value, typed as RabbitMQ types it: integers are
    longs, other numbers doubles; null is refused, as RabbitMQ refuses it."""
    if value is None:
        raise bad_request("null_not_allowed")
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return table.Int64(value)
    if isinstance(value, float):
        return value
    if isinstance(value, list):
        return [to_amqp(item) for item in value]
    if isinstance(value, dict):
        return to_table(value)
    raise bad_request("not_json")  # json.loads makes nothing else


# -- message properties and payloads --------------------------------------------------------

_TEXT_PROPERTIES = (
    "content_type",
    "content_encoding",
    "correlation_id",
    "reply_to",
    "expiration",
    "message_id",
    "type",
    "user_id",
    "app_id",
    "cluster_id",
)
_INT_PROPERTIES = ("delivery_mode", "priority", "timestamp")


def properties_from_json(value: object) -> BasicProperties:
    """The ``properties`` object of a publish; unknown keys are ignored, as RabbitMQ
    ignores them. An empty list is taken for an empty object, as for arguments."""
    if value == []:
        value = {}
    if not isinstance(value, dict):
        raise ApiError(400, ["not_table", "properties"])
    properties = BasicProperties()
    for name in _TEXT_PROPERTIES:
        if name in value:
            if not isinstance(value[name], str):
                raise ApiError(400, ["not_string", name])
            setattr(properties, name, value[name])
    for name in _INT_PROPERTIES:
        if name in value:
            number = value[name]
            if not isinstance(number, int) or isinstance(number, bool):
                raise ApiError(400, ["not_int", name])
            # An octet on the wire; a timestamp is an unsigned 64-bit integer.
            if not 0 <= number < (2**64 if name == "timestamp" else 256):
                raise ApiError(400, ["not_int", name])
            setattr(properties, name, number)
    if "headers" in value:
        headers = value["headers"]
        if not isinstance(headers, dict):
            raise ApiError(400, ["not_table", "headers"])
        properties.headers = encodable(to_table(headers), "headers")
    try:
        properties.encode()  # a text property over 255 bytes has no AMQP encoding
    except ValueError as error:
        raise bad_request(f"properties: {error}") from None
    return properties


def short_string(value: str, name: str) -> str:
    """``value``, which must fit an AMQP short string (routing keys and exchange names
    are kept with each stored message as one): 400 beyond 255 bytes."""
    size = len(value.encode("utf-8", "surrogateescape"))
    if size > MAX_SHORT_STRING:
        raise bad_request(f"{name} too long ({size} bytes, at most {MAX_SHORT_STRING})")
    return value


def properties_to_json(properties: BasicProperties) -> dict[str, Any] | list[Any]:
    """The properties of a message got, as RabbitMQ shows them: the ones present, and an
    empty list (not an object) when there are none."""
    found: dict[str, Any] = {}
    for name in BasicProperties.FIELDS:
        value = getattr(properties, name)
        if value is not None:
            found[name] = to_json(value)
    return found if found else []


def payload_from_json(body: Body) -> bytes:
    payload = body["payload"]
    if not isinstance(payload, str):
        raise bad_request("payload_not_string")
    encoding = body["payload_encoding"]
    if encoding == "string":
        return payload.encode("utf-8")
    if encoding == "base64":
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, ["not_base64", payload]) from None
    raise ApiError(400, ["unsupported_encoding", encoding])


def payload_to_json(payload: bytes, encoding: str) -> tuple[str, str]:
    """(payload, payload_encoding): ``auto`` gives UTF-8 text as a string, else base64."""
    if encoding == "auto":
        try:
            return payload.decode("utf-8"), "string"
        except UnicodeDecodeError:
            pass
    return base64.b64encode(payload).decode("ascii"), "base64"


# -- who acts ------------------------------------------------------------------------------


def acting_grant(request: web.Request, vhost: str) -> Grant:
    """The caller's permissions in ``vhost``, for an operation on its objects; RabbitMQ
    refuses with 401 "Access refused." when there are none (administrators included)."""
    grant = request.app[NODE].access.grant(caller(request).name, vhost)
    if grant is None:
        raise ApiError(401, ACCESS_REFUSED_REASON, "not_authorised")
    return grant


# -- AMQP errors ----------------------------------------------------------------------------


@contextlib.contextmanager
def direct_errors() -> Iterator[None]:
    """An operation RabbitMQ performs directly: 401 for a refusal, 404 for a missing
    object, 400 with the error's text otherwise."""
    try:
        yield
    except AMQPError as error:
        if error.reply_code == ACCESS_REFUSED:
            raise ApiError(401, ACCESS_REFUSED_REASON, "not_authorised") from None
        if error.reply_code == NOT_FOUND:
            raise ApiError(404, error.detail, "not_found") from None
        raise bad_request(error.detail) from None


def channel_reason(error: AMQPError) -> str:
    """How an error on RabbitMQ's internal channel reads: "406 PRECONDITION_FAILED - ..."
    for a channel error (cut to the wire's 255 bytes, as it came over one), "540 ..."
    (code and text) for a connection error."""
    if isinstance(error, ConnectionError_):
        return f"{error.reply_code} {error.detail}"
    return f"{error.reply_code} {error.reply_text}"


@contextlib.contextmanager
def channel_errors() -> Iterator[None]:
    """An operation RabbitMQ performs on an internal channel (publish): 400 with the
    reply code and text."""
    try:
        yield
    except AMQPError as error:
        raise bad_request(channel_reason(error)) from None


# -- paths ----------------------------------------------------------------------------------


def path_vhost(request: web.Request) -> str:
    """The path's vhost, which the caller may see (404 if it does not exist, else 401)."""
    vhost = request.match_info["vhost"]
    require_vhost(request, vhost)
    return vhost


def listing_vhost(request: web.Request) -> str | None:
    """The path's vhost for a binding listing: None when it does not exist, where RabbitMQ
    answers an empty list rather than 404."""
    vhost = request.match_info["vhost"]
    if vhost not in request.app[NODE].vhosts:
        return None
    require_vhost(request, vhost)
    return vhost


def acting_vhost(request: web.Request) -> str:
    """The path's vhost for a publish or a get, which RabbitMQ performs as the user on a
    channel: a vhost that does not exist refuses access (401), as a login to it would."""
    vhost = request.match_info["vhost"]
    if vhost not in request.app[NODE].vhosts:
        raise ApiError(401, ACCESS_REFUSED_REASON, "not_authorised")
    require_vhost(request, vhost)
    return vhost


def target_vhost(request: web.Request) -> str:
    """The path's vhost for an object about to be created: RabbitMQ answers a missing one
    with 404 "vhost_not_found"."""
    vhost = request.match_info["vhost"]
    if vhost not in request.app[NODE].access.vhosts or vhost not in request.app[NODE].vhosts:
        raise ApiError(404, "vhost_not_found", "not_found")
    require_vhost(request, vhost)
    return vhost


def object_response(request: web.Request, item: dict[str, Any], status: int = 200) -> web.Response:
    """One object, with ``columns`` and ``disable_stats`` applied as to a list's items."""
    shaped = shape_items(request, [item]) if request.query else [item]
    return web.json_response(shaped[0] if shaped else item, status=status)


def node_name(request: web.Request) -> str:
    return request.app[NODE].node_name
