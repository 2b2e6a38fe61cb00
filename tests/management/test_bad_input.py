"""Bad input to the management API: the right 4xx with a JSON ``{"error", "reason"}``,
never a 500 or a traceback.

Malformed JSON, bodies of the wrong shape or type, unknown vhosts, oversize bodies, names
that look like paths, missing or garbled credentials, unsupported methods and bodies that
are not UTF-8. Tests run against RabbitMQ 3.10 too where it also answers a 4xx; those
marked ``leveret_only`` say what RabbitMQ answers instead (a 500, a 400 without a body, or
acceptance). test_openapi_fuzz.py throws generated input at every operation besides.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from .amqp_clients import Names
from .conftest import Api, quote

# RabbitMQ's management.http.max_body_size default, which Leveret keeps.
MAX_BODY = 20 * 1024 * 1024
JSON_HEADERS = {"Content-Type": "application/json"}


def json_error(reply: requests.Response, status: int) -> dict[str, Any]:
    """The reply's error object, once it is the given status with JSON {error, reason}."""
    assert reply.status_code == status, (reply.status_code, reply.text[:300])
    assert reply.headers["Content-Type"].startswith("application/json")
    body: dict[str, Any] = reply.json()
    assert set(body) == {"error", "reason"}, body
    assert isinstance(body["error"], str)
    assert isinstance(body["reason"], str | list)
    assert "Traceback" not in reply.text
    return body


def unique(prefix: str) -> str:
    return f"bad.{prefix}.{secrets.token_hex(4)}"


@pytest.fixture
def made(api: Api) -> Iterator[list[str]]:
    """Paths (relative to /api) of what a test made, deleted afterwards."""
    paths: list[str] = []
    yield paths
    for path in reversed(paths):
        api.delete(path)


@pytest.fixture
def queue_and_exchange(api: Api, names: Names) -> tuple[str, str]:
    queue, exchange = names.queue(), names.exchange()
    assert api.put(f"queues/%2F/{quote(queue)}", json={}).status_code == 201
    assert api.put(f"exchanges/%2F/{quote(exchange)}", json={"type": "direct"}).status_code == 201
    return queue, exchange


# -- malformed JSON and bodies of the wrong shape ---------------------------------------------


def _writes(queue: str, exchange: str) -> list[tuple[str, str]]:
    """(method, path) of operations that read a JSON object, on objects that exist or
    names nobody uses (a refused request must not create them)."""
    return [
        ("PUT", f"queues/%2F/{quote(unique('q'))}"),
        ("PUT", f"exchanges/%2F/{quote(unique('x'))}"),
        ("PUT", f"vhosts/{quote(unique('v'))}"),
        ("PUT", f"users/{quote(unique('u'))}"),
        ("PUT", "permissions/%2F/guest"),
        ("PUT", "topic-permissions/%2F/guest"),
        ("PUT", "vhost-limits/%2F/max-queues"),
        ("PUT", "user-limits/guest/max-channels"),
        ("PUT", "cluster-name"),
        ("POST", "users/bulk-delete"),
        ("POST", f"exchanges/%2F/{quote(exchange)}/publish"),
        ("POST", f"queues/%2F/{quote(queue)}/get"),
    ]


@pytest.mark.parametrize("raw", [b'{"durable": ', b"{bad json", b"[1, 2]", b"5"])
def test_malformed_json_or_not_an_object_is_400_not_json(
    api: Api, queue_and_exchange: tuple[str, str], raw: bytes
) -> None:
    for method, path in _writes(*queue_and_exchange):
        reply = api.request(method, path, data=raw)
        body = json_error(reply, 400)
        assert body == {"error": "bad_request", "reason": "not_json"}, (method, path)


def test_malformed_definitions_are_400_failed_to_parse_json(api: Api) -> None:
    for raw in (b'{"users": [', b"[]", b"definitions"):
        body = json_error(api.post("definitions", data=raw), 400)
        assert body == {"error": "bad_request", "reason": "failed_to_parse_json"}


@pytest.mark.leveret_only  # RabbitMQ 3.10 answers a malformed binding body with a 500
def test_malformed_binding_body_is_400(api: Api, queue_and_exchange: tuple[str, str]) -> None:
    queue, exchange = queue_and_exchange
    reply = api.post(f"bindings/%2F/e/{quote(exchange)}/q/{quote(queue)}", data=b'{"x": ')
    assert json_error(reply, 400)["reason"] == "not_json"
    assert api.get(f"bindings/%2F/e/{quote(exchange)}/q/{quote(queue)}").json() == []


def test_a_json_string_body_is_400(api: Api, names: Names) -> None:
    queue = names.queue()
    # RabbitMQ's reason asks whether the input was JSON-encoded twice; Leveret's is not_json.
    body = json_error(api.put(f"queues/%2F/{quote(queue)}", data=b'"text"'), 400)
    assert body["error"] == "bad_request"
    assert api.get(f"queues/%2F/{quote(queue)}").status_code == 404


# -- wrong types ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"durable": "yes"}, ["not_boolean", "yes"]),
        ({"durable": 1}, ["not_boolean", 1]),
        ({"durable": None}, ["not_boolean", None]),
        ({"auto_delete": [True]}, ["not_boolean", [True]]),
    ],
)
def test_a_flag_that_is_not_a_boolean_is_400_naming_the_value(
    api: Api, names: Names, body: dict[str, Any], reason: list[Any]
) -> None:
    queue = names.queue()
    assert json_error(api.put(f"queues/%2F/{quote(queue)}", json=body), 400) == {
        "error": "bad_request",
        "reason": reason,
    }
    assert api.get(f"queues/%2F/{quote(queue)}").status_code == 404


@pytest.mark.leveret_only  # RabbitMQ 3.10 takes a list (any list) for an empty table
def test_arguments_that_are_a_non_empty_list_are_400(api: Api, names: Names) -> None:
    queue = names.queue()
    reply = api.put(f"queues/%2F/{quote(queue)}", json={"arguments": [1, 2]})
    assert json_error(reply, 400)["reason"] == ["not_table", "arguments"]
    assert api.get(f"queues/%2F/{quote(queue)}").status_code == 404


@pytest.mark.leveret_only  # RabbitMQ 3.10 answers each of these with a 500
def test_wrong_types_where_rabbitmq_fails_are_400(
    api: Api, queue_and_exchange: tuple[str, str], made: list[str]
) -> None:
    queue, exchange = queue_and_exchange
    user = unique("u")
    made.append(f"users/{quote(user)}")
    cases = [
        ("PUT", f"queues/%2F/{quote(unique('q'))}", {"arguments": "x"}),
        (
            "POST",
            f"exchanges/%2F/{quote(exchange)}/publish",
            {"properties": [1], "routing_key": queue, "payload": "x", "payload_encoding": "string"},
        ),
        ("PUT", "permissions/%2F/guest", {"configure": 5, "write": ".*", "read": ".*"}),
        ("PUT", f"users/{quote(user)}", {"password": "x", "tags": 5}),
    ]
    for method, path, body in cases:
        json_error(api.request(method, path, json=body), 400)
    assert api.get(f"users/{quote(user)}").status_code == 404
    assert api.get("permissions/%2F/guest").json()["configure"] == ".*"


def test_publish_and_get_bodies_of_the_wrong_type_are_400(
    api: Api, queue_and_exchange: tuple[str, str]
) -> None:
    queue, exchange = queue_and_exchange
    publish = f"exchanges/%2F/{quote(exchange)}/publish"
    message = {"properties": {}, "routing_key": queue, "payload": 5, "payload_encoding": "string"}
    assert json_error(api.post(publish, json=message), 400)["reason"] == "payload_not_string"
    assert json_error(api.post(publish, json={}), 400)["error"] == "bad_request"
    get = {"count": "abc", "ackmode": "ack_requeue_true", "encoding": "auto"}
    reply = api.post(f"queues/%2F/{quote(queue)}/get", json=get)
    assert json_error(reply, 400)["reason"] == ["not_integer", "abc"]
    reply = api.put("vhost-limits/%2F/max-queues", json={"value": "x"})
    assert json_error(reply, 400)["reason"] == (
        'Validation failed\n\nmax-queues should be a number, actually was <<"x">>\n'
    )
    reply = api.put(f"exchanges/%2F/{quote(unique('x'))}", json={"type": 5})
    assert json_error(reply, 400)["error"] == "bad_request"


# -- unknown vhosts ------------------------------------------------------------------------


def test_an_unknown_vhost_is_a_json_4xx_everywhere(api: Api) -> None:
    vhost = quote(unique("nowhere"))
    not_found = {"error": "Object Not Found", "reason": "Not Found"}
    for path in (
        f"vhosts/{vhost}",
        f"queues/{vhost}",
        f"queues/{vhost}/q",
        f"exchanges/{vhost}",
        f"exchanges/{vhost}/x",
        f"bindings/{vhost}",
        f"consumers/{vhost}",
        f"vhosts/{vhost}/connections",
        f"vhost-limits/{vhost}",
        f"permissions/{vhost}/guest",
        f"aliveness-test/{vhost}",
    ):
        assert json_error(api.get(path), 404) == not_found, path
    assert json_error(api.delete(f"vhosts/{vhost}"), 404) == not_found
    assert json_error(api.delete(f"queues/{vhost}/q"), 404) == not_found
    vhost_not_found = {"error": "not_found", "reason": "vhost_not_found"}
    assert json_error(api.put(f"queues/{vhost}/q", json={}), 404) == vhost_not_found
    assert json_error(api.put(f"exchanges/{vhost}/x", json={}), 404) == vhost_not_found
    assert json_error(api.post(f"bindings/{vhost}/e/x/q/q", json={}), 404) == vhost_not_found
    reply = api.put(f"vhost-limits/{vhost}/max-queues", json={"value": 1})
    assert json_error(reply, 404) == vhost_not_found
    assert json_error(api.get(f"definitions/{vhost}"), 400)["reason"] == "vhost_not_found"
    reply = api.put(f"permissions/{vhost}/guest", json={"configure": "", "write": "", "read": ""})
    assert json_error(reply, 400)["reason"] == "vhost_or_user_not_found"
    # Publish and get run on a channel as the user, whose login to the vhost is refused.
    refused = {"error": "not_authorised", "reason": "Access refused."}
    message = {"properties": {}, "routing_key": "", "payload": "x", "payload_encoding": "string"}
    reply = api.post(f"exchanges/{vhost}/amq.default/publish", json=message)
    assert json_error(reply, 401) == refused
    get = {"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"}
    assert json_error(api.post(f"queues/{vhost}/q/get", json=get), 401) == refused


def test_an_unknown_path_is_a_json_404(api: Api) -> None:
    reply = api.get("no-such-resource")
    assert json_error(reply, 404) == {"error": "Object Not Found", "reason": "Not Found"}


# -- oversize bodies -----------------------------------------------------------------------


# RabbitMQ 3.10: 400 "Exceeded HTTP request body size limit" (a 500 on a queue's PUT).
@pytest.mark.leveret_only
@pytest.mark.parametrize("path", ["definitions", "queues/%2F/bad.oversize", "vhosts/bad.oversize"])
def test_a_body_over_20_mib_is_413(api: Api, path: str) -> None:
    raw = b'{"description": "' + b"x" * MAX_BODY + b'"}'
    method = "POST" if path == "definitions" else "PUT"
    body = json_error(api.request(method, path, data=raw), 413)
    assert body["error"] == "bad_request"
    assert api.get(path).status_code in (200, 404)  # still answering
    if path != "definitions":
        assert api.get(path).status_code == 404  # nothing was made


# -- names that look like paths ------------------------------------------------------------


@pytest.mark.parametrize("name", ["../..", "a/b", "/", "..%2F", "a\x00b", "é/../ü", "x" * 240])
def test_names_that_look_like_paths_name_one_queue(api: Api, names: Names, name: str) -> None:
    """Each name is one path segment, whatever it holds: no traversal, no other object."""
    queue = f"{unique('q')}.{name}"
    names.queues.append(("/", queue))
    path = f"queues/%2F/{quote(queue)}"
    assert api.put(path, json={"durable": False}).status_code == 201
    shown = api.get(path).json()
    assert (shown["name"], shown["vhost"]) == (queue, "/")
    listed = [q["name"] for q in api.get("queues/%2F", params={"columns": "name"}).json()]
    assert listed.count(queue) == 1
    assert api.delete(path).status_code == 204
    assert json_error(api.get(path), 404)["reason"] == "Not Found"


@pytest.mark.leveret_only  # RabbitMQ resolves a "." or ".." segment as a path step (405)
def test_a_name_of_dots_alone_is_a_name(api: Api, made: list[str]) -> None:
    vhost = quote(unique("v"))
    assert api.put(f"vhosts/{vhost}").status_code == 201
    made.append(f"vhosts/{vhost}")
    for name in (".", ".."):
        # %2E keeps the client from resolving the segment; it reaches the server as "..".
        path = f"queues/{vhost}/{name.replace('.', '%2E')}"
        assert api.put(path, json={}).status_code == 201
        assert api.get(path).json()["name"] == name
    listed = sorted(q["name"] for q in api.get(f"queues/{vhost}").json())
    assert listed == [".", ".."]
    assert api.get(f"vhosts/{vhost}").status_code == 200  # the vhost is still there


def test_vhost_and_user_names_that_look_like_paths(api: Api, made: list[str]) -> None:
    for name in (unique("v") + "/../..", unique("v") + "\x00", unique("v") + "x" * 300):
        path = f"vhosts/{quote(name)}"
        made.append(path)
        assert api.put(path).status_code == 201
        assert api.get(path).json()["name"] == name
        assert api.get("vhosts/%2F").json()["name"] == "/"  # untouched
    user = unique("u") + "/../guest"
    made.append(f"users/{quote(user)}")
    assert api.put(f"users/{quote(user)}", json={"password": "p", "tags": ""}).status_code == 201
    assert api.get(f"users/{quote(user)}").json()["name"] == user
    assert api.get("users/guest").json()["tags"] == ["administrator"]


def test_a_queue_name_over_255_bytes_is_400(api: Api) -> None:
    for name in ("q" * 256, "é" * 128):  # 256 bytes of UTF-8 either way
        reply = api.put(f"queues/%2F/{quote(name)}", json={})
        assert json_error(reply, 400) == {
            "error": "bad_request",
            "reason": "queue should be less than 255 bytes, actually was 256\n",
        }
        assert api.get(f"queues/%2F/{quote(name)}").status_code == 404


# -- credentials ---------------------------------------------------------------------------


def _basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode("ascii")


@pytest.mark.parametrize(
    "authorization",
    [
        _basic(b"guest:wrong"),
        _basic(b"nobody-at-all:x"),
        _basic(b"\xff\xfe:guest"),
        "Bearer abc",
    ],
)
def test_wrong_credentials_are_401(management_url: str, authorization: str) -> None:
    reply = requests.get(
        f"{management_url}/api/overview", headers={"Authorization": authorization}, timeout=10
    )
    assert json_error(reply, 401)["error"] == "not_authorized"


@pytest.mark.leveret_only  # RabbitMQ 3.10 answers 401 without a body
def test_missing_credentials_are_a_json_401_with_a_challenge(management_url: str) -> None:
    for path in ("overview", "queues", "definitions", "users/guest"):
        reply = requests.get(f"{management_url}/api/{path}", timeout=10)
        assert json_error(reply, 401) == {"error": "not_authorized", "reason": "Not_Authorized"}
        assert reply.headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.leveret_only  # RabbitMQ 3.10 answers 400 without a body
@pytest.mark.parametrize(
    "authorization", ["Basic", "Basic ", "Basic !!!!", _basic(b"guest"), "guest:guest"]
)
def test_garbled_credentials_are_401(management_url: str, authorization: str) -> None:
    reply = requests.get(
        f"{management_url}/api/overview", headers={"Authorization": authorization}, timeout=10
    )
    assert json_error(reply, 401)["error"] == "not_authorized"


# -- methods -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", "queues", {"GET", "HEAD"}),
        ("DELETE", "overview", {"GET", "HEAD"}),
        ("POST", "queues/%2F/bad.method", {"GET", "PUT", "DELETE"}),
        ("PUT", "whoami", {"GET"}),
        ("POST", "vhosts/bad.method", {"GET", "PUT", "DELETE"}),
    ],
)
def test_an_unsupported_method_is_405_with_allow(
    api: Api, is_external_broker: bool, method: str, path: str, allowed: set[str]
) -> None:
    reply = api.request(method, path)
    assert reply.status_code == 405
    listed = {item.strip() for item in reply.headers["Allow"].split(",")}
    assert allowed <= listed
    if not is_external_broker:  # RabbitMQ 3.10 answers 405 without a body
        assert json_error(reply, 405)["error"] == "Method Not Allowed"


# -- text that is not UTF-8 ----------------------------------------------------------------


@pytest.mark.leveret_only  # RabbitMQ 3.10 takes these bytes as they come (201)
@pytest.mark.parametrize(
    "raw",
    [
        b'{"description": "\xff\xfe"}',  # not UTF-8
        b'{"description": "\xed\xa0\x80"}',  # an encoded surrogate (CESU-8)
        b'{"description": "\\ud800"}',  # a lone surrogate escape
    ],
)
def test_a_body_that_is_not_unicode_text_is_400_not_json(api: Api, raw: bytes) -> None:
    vhost = unique("v")
    reply = api.put(f"vhosts/{quote(vhost)}", data=raw)
    assert json_error(reply, 400) == {"error": "bad_request", "reason": "not_json"}
    assert api.get(f"vhosts/{quote(vhost)}").status_code == 404


def test_a_utf16_body_is_400_not_json(api: Api) -> None:
    vhost = unique("v")
    raw = '{"description": "utf-16"}'.encode("utf-16")
    reply = api.put(f"vhosts/{quote(vhost)}", data=raw)
    assert json_error(reply, 400) == {"error": "bad_request", "reason": "not_json"}
    assert api.get(f"vhosts/{quote(vhost)}").status_code == 404


def test_a_paired_surrogate_escape_is_text(api: Api, made: list[str]) -> None:
    vhost = unique("v")
    made.append(f"vhosts/{quote(vhost)}")
    raw = b'{"description": "\\ud83d\\ude00"}'
    assert api.put(f"vhosts/{quote(vhost)}", data=raw).status_code == 201
    assert api.get(f"vhosts/{quote(vhost)}").json()["description"] == "\U0001f600"


# -- what Leveret cannot keep in AMQP's encoding -------------------------------------------


@pytest.mark.leveret_only  # RabbitMQ keeps any JSON term: it accepts each of these
def test_values_beyond_amqp_encoding_are_400(api: Api, queue_and_exchange: tuple[str, str]) -> None:
    queue, _ = queue_and_exchange
    declare = f"queues/%2F/{quote(unique('q'))}"
    deep: dict[str, Any] = {}
    for _ in range(100):
        deep = {"a": deep}
    for arguments in ({"x-big": 2**70}, {"k" * 256: 1}, deep):
        reply = api.put(declare, json={"durable": True, "arguments": arguments})
        assert json_error(reply, 400)["reason"].startswith("arguments: ")
    assert api.get(declare).status_code == 404
    publish = "exchanges/%2F/amq.default/publish"  # routes to the queue by its name
    for properties, routing_key in (
        ({"headers": {"big": 2**70}}, queue),
        ({"message_id": "m" * 256}, queue),
        ({"timestamp": -1}, queue),
        ({}, "r" * 256),
    ):
        message = {
            "properties": properties,
            "routing_key": routing_key,
            "payload": "x",
            "payload_encoding": "string",
        }
        json_error(api.post(publish, json=message), 400)
    assert api.get(f"queues/%2F/{quote(queue)}").json()["messages"] == 0


# -- what goes back into headers -----------------------------------------------------------


@pytest.mark.parametrize("filename", ['a\nb\x1f".json', "\x00", "été.json", "x\r\nSet-Cookie: y"])
def test_a_download_name_never_breaks_the_answer(
    api: Api, is_external_broker: bool, filename: str
) -> None:
    """The name goes into Content-Disposition without line breaks (no header injection);
    Leveret drops every control character, which aiohttp refuses to send (it would close
    the connection without an answer), where RabbitMQ keeps the others."""
    reply = api.get("definitions", params={"download": filename})
    assert reply.status_code == 200
    assert "users" in reply.json()
    disposition = reply.headers["Content-Disposition"]
    assert disposition.startswith("attachment")
    assert "\r" not in disposition and "\n" not in disposition
    assert "Set-Cookie" not in reply.headers
    if not is_external_broker:
        assert not any(ord(c) < 0x20 for c in disposition)
