"""/api/definitions and /api/definitions/{vhost}: export and import over HTTP (JSON bodies
and the UI's multipart upload), on Leveret and on RabbitMQ 3.10's management plugin."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pika
import pytest

from .access_helpers import PASSWORD, Made, amqp_parameters, unique
from .conftest import Api, quote

WHOLE_PARTS = {
    "rabbit_version",
    "users",
    "vhosts",
    "permissions",
    "topic_permissions",
    "parameters",
    "global_parameters",
    "policies",
    "queues",
    "exchanges",
    "bindings",
}
VHOST_PARTS = {"rabbit_version", "parameters", "policies", "queues", "exchanges", "bindings"}


@pytest.fixture
def made(api: Api) -> Iterator[Made]:
    found = Made(api)
    yield found
    found.close()


def _topology(broker_url: str, vhost: str) -> None:
    """A durable exchange bound to a durable queue in ``vhost``."""
    connection = pika.BlockingConnection(amqp_parameters(broker_url, vhost))
    try:
        channel = connection.channel()
        channel.exchange_declare("x-events", "topic", durable=True)
        channel.queue_declare("q-events", durable=True)
        channel.queue_bind("q-events", "x-events", "events.#")
    finally:
        connection.close()


def _named(items: list[dict[str, Any]], name: str, vhost: str | None = None) -> dict[str, Any]:
    found = [i for i in items if i.get("name") == name and vhost in (None, i.get("vhost"))]
    assert len(found) == 1, (name, items)
    return found[0]


def _upload(api: Api, path: str, document: object, **fields: str) -> Any:
    """POST ``document`` as the UI's upload form does (multipart, field ``file``)."""
    files: dict[str, Any] = {"file": ("definitions.json", json.dumps(document), "application/json")}
    files.update({name: (None, value) for name, value in fields.items()})
    # The session's JSON content type is dropped, so that requests writes the form's own.
    return api.post(path, files=files, headers={"content-type": None}, allow_redirects=False)


def test_export_holds_the_whole_broker(api: Api, made: Made, broker_url: str) -> None:
    vhost = made.vhost(description="exported")
    user = made.user("management")
    made.grant(user, vhost, "^q")
    api.put(f"vhost-limits/{quote(vhost)}/max-queues", json={"value": 7})
    _topology(broker_url, vhost)
    document = api.get("definitions").json()
    assert set(document) >= WHOLE_PARTS
    exported_user = _named(document["users"], user)
    assert exported_user["tags"] == ["management"]
    assert exported_user["password_hash"] == api.get(f"users/{quote(user)}").json()["password_hash"]
    assert exported_user["hashing_algorithm"] == "rabbit_password_hashing_sha256"
    _named(document["vhosts"], vhost)
    assert {"user": user, "vhost": vhost, "configure": "^q", "write": "^q", "read": "^q"} in (
        document["permissions"]
    )
    queue = _named(document["queues"], "q-events", vhost)
    assert queue["durable"] is True and queue["auto_delete"] is False
    exchange = _named(document["exchanges"], "x-events", vhost)
    assert exchange["type"] == "topic"
    bindings = [b for b in document["bindings"] if b["vhost"] == vhost]
    assert {
        "source": "x-events",
        "vhost": vhost,
        "destination": "q-events",
        "destination_type": "queue",
        "routing_key": "events.#",
        "arguments": {},
    } in bindings
    assert {
        "vhost": vhost,
        "component": "vhost-limits",
        "name": "limits",
        "value": {"max-queues": 7},
    } in document["parameters"]


def test_export_as_a_download(api: Api) -> None:
    reply = api.get("definitions", params={"download": "broker.json"})
    assert reply.status_code == 200
    disposition = reply.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "broker.json" in disposition
    assert "users" in reply.json()


def test_vhost_export_holds_its_topology_only(api: Api, made: Made, broker_url: str) -> None:
    vhost = made.vhost()
    _topology(broker_url, vhost)
    document = api.get(f"definitions/{quote(vhost)}").json()
    assert set(document) == VHOST_PARTS
    queue = _named(document["queues"], "q-events")
    assert "vhost" not in queue
    assert "vhost" not in _named(document["exchanges"], "x-events")
    assert [b["destination"] for b in document["bindings"]] == ["q-events"]
    assert all("vhost" not in b for b in document["bindings"])


def test_vhost_export_of_an_unknown_vhost(api: Api) -> None:
    reply = api.get(f"definitions/{quote(unique('nope'))}")
    assert reply.status_code == 400
    assert reply.json() == {"error": "bad_request", "reason": "vhost_not_found"}


def test_import_creates_users_vhosts_and_topology(
    api: Api, api_as: Any, made: Made, broker_url: str
) -> None:
    source = made.user("management")
    password_hash = api.get(f"users/{quote(source)}").json()["password_hash"]
    vhost, user = unique("t-imported"), unique("t-imported")
    made.vhosts.append(vhost)
    made.users.append(user)
    document = {
        "users": [
            {
                "name": user,
                "password_hash": password_hash,
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": ["management"],
                "limits": {},
            }
        ],
        "vhosts": [{"name": vhost}],
        "permissions": [
            {"user": user, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"}
        ],
        "queues": [
            {"name": "q1", "vhost": vhost, "durable": True, "auto_delete": False, "arguments": {}}
        ],
        "exchanges": [
            {
                "name": "x1",
                "vhost": vhost,
                "type": "fanout",
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            }
        ],
        "bindings": [
            {
                "source": "x1",
                "vhost": vhost,
                "destination": "q1",
                "destination_type": "queue",
                "routing_key": "",
                "arguments": {},
            }
        ],
    }
    assert api.post("definitions", json=document).status_code == 204
    assert api.get(f"vhosts/{quote(vhost)}").status_code == 200
    assert api_as(user, PASSWORD).get("whoami").json()["name"] == user
    exported = api.get(f"definitions/{quote(vhost)}").json()
    _named(exported["queues"], "q1")
    _named(exported["exchanges"], "x1")
    # The imported user may publish through the imported binding.
    params = amqp_parameters(broker_url, vhost)
    params.credentials = pika.PlainCredentials(user, PASSWORD)
    connection = pika.BlockingConnection(params)
    try:
        channel = connection.channel()
        channel.confirm_delivery()  # the publish is routed once confirmed
        channel.basic_publish("x1", "", b"through the binding")
        _, _, body = channel.basic_get("q1", auto_ack=True)
        assert body == b"through the binding"
    finally:
        connection.close()


def test_import_into_a_vhost_ignores_the_vhost_in_entries(api: Api, made: Made) -> None:
    vhost = made.vhost()
    document = {
        "queues": [
            {"name": "moved", "vhost": "elsewhere", "durable": True, "auto_delete": False,
             "arguments": {}},
        ]
    }  # fmt: skip
    assert api.post(f"definitions/{quote(vhost)}", json=document).status_code == 204
    _named(api.get(f"definitions/{quote(vhost)}").json()["queues"], "moved")


def test_export_then_import_restores_a_vhost(api: Api, made: Made, broker_url: str) -> None:
    vhost = made.vhost()
    _topology(broker_url, vhost)
    saved = api.get(f"definitions/{quote(vhost)}").json()
    target = made.vhost()
    assert api.post(f"definitions/{quote(target)}", json=saved).status_code == 204
    restored = api.get(f"definitions/{quote(target)}").json()
    for part in ("queues", "exchanges", "bindings"):
        assert restored[part] == saved[part], part


def test_import_of_an_uploaded_file(api: Api, made: Made) -> None:
    vhost = unique("t-uploaded")
    made.vhosts.append(vhost)
    reply = _upload(api, "definitions", {"vhosts": [{"name": vhost}]})
    assert reply.status_code == 204
    assert api.get(f"vhosts/{quote(vhost)}").status_code == 200


def test_upload_form_with_redirect(api: Api, made: Made) -> None:
    vhost = unique("t-uploaded")
    made.vhosts.append(vhost)
    reply = _upload(api, "definitions", {"vhosts": [{"name": vhost}]}, redirect="../")
    assert reply.status_code == 303
    assert reply.headers["Location"] == "../"
    assert api.get(f"vhosts/{quote(vhost)}").status_code == 200


def test_import_of_a_rabbitmq_export_with_its_cluster_name(api: Api, made: Made) -> None:
    # RabbitMQ's exports always carry the cluster name as a global parameter; importing one
    # applies it (the current name here, so as not to rename a broker others use).
    name = api.get("cluster-name").json()["name"]
    vhost = unique("t-imported")
    made.vhosts.append(vhost)
    document = {
        "rabbit_version": "3.10.8",
        "rabbitmq_version": "3.10.8",
        "global_parameters": [{"name": "cluster_name", "value": name}],
        "vhosts": [{"name": vhost}],
        "policies": [],
        "parameters": [],
    }
    assert api.post("definitions", json=document).status_code == 204
    assert api.get(f"vhosts/{quote(vhost)}").status_code == 200
    assert api.get("cluster-name").json() == {"name": name}


def test_import_errors(api: Api, made: Made) -> None:
    bad = {"error": "bad_request", "reason": "failed_to_parse_json"}
    for body in ("not json", "[1]"):
        reply = api.post("definitions", data=body)
        assert reply.status_code == 400
        assert reply.json() == bad
    no_file = api.post(
        "definitions", files={"other": ("x.json", "{}")}, headers={"content-type": None}
    )
    assert no_file.status_code == 400
    assert no_file.json() == bad
    vhost = made.vhost()
    assert api.post(f"definitions/{quote(vhost)}", data="zz").json() == bad
    unknown = api.post(f"definitions/{quote(unique('nope'))}", json={})
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "not_found", "reason": "vhost_not_found"}


def test_import_of_a_queue_in_a_missing_vhost_fails(api: Api) -> None:
    missing = unique("nope")
    document = {
        "queues": [
            {"name": "q", "vhost": missing, "durable": True, "auto_delete": False, "arguments": {}}
        ]
    }
    reply = api.post("definitions", json=document)
    assert reply.status_code == 400
    assert reply.json()["error"] == "bad_request"
    assert api.get(f"vhosts/{quote(missing)}").status_code == 404


def test_definitions_are_for_administrators(api_as: Any, made: Made) -> None:
    vhost = made.vhost()
    for tags in ("management", "monitoring", "policymaker"):
        user = made.user(tags)
        made.grant(user, vhost)
        client = api_as(user, PASSWORD)
        for reply in (
            client.get("definitions"),
            client.get(f"definitions/{quote(vhost)}"),
            client.post("definitions", json={}),
            client.post(f"definitions/{quote(vhost)}", json={}),
        ):
            assert reply.status_code == 401, tags
            assert reply.json() == {"error": "not_authorised", "reason": "Not administrator user"}


@pytest.mark.leveret_only
def test_unsupported_parts_are_named_in_a_400(api: Api, made: Made) -> None:
    # Leveret imports everything else and names what it skipped.
    vhost = unique("t-imported")
    made.vhosts.append(vhost)
    document = {
        "vhosts": [{"name": vhost}],
        "parameters": [{"vhost": vhost, "component": "shovel", "name": "s", "value": {}}],
    }
    reply = api.post("definitions", json=document)
    assert reply.status_code == 400
    assert reply.json() == {
        "error": "bad_request",
        "reason": "parameters: 1 skipped, not supported (components: shovel)",
    }
    assert api.get(f"vhosts/{quote(vhost)}").status_code == 200
