"""/api/vhosts and /api/users, on Leveret and on RabbitMQ 3.10's management plugin."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pika
import pika.exceptions
import pytest

from .access_helpers import PASSWORD, Made, amqp_parameters, unique, wait_for
from .conftest import Api, quote


@pytest.fixture
def made(api: Api) -> Iterator[Made]:
    found = Made(api)
    yield found
    found.close()


# -- vhosts ----------------------------------------------------------------------------


def test_put_creates_a_vhost_with_its_metadata(api: Api, made: Made) -> None:
    name = made.vhost(description="for tests", tags="alpha,beta")
    body = api.get(f"vhosts/{quote(name)}").json()
    assert body["name"] == name
    assert body["description"] == "for tests"
    assert body["tags"] == ["alpha", "beta"]
    assert body["metadata"] == {"description": "for tests", "tags": ["alpha", "beta"]}
    assert body["default_queue_type"] == "undefined"
    assert body["tracing"] is False
    assert list(body["cluster_state"].values()) == ["running"]
    assert name in [vhost["name"] for vhost in api.get("vhosts").json()]


def test_put_on_an_existing_vhost_replaces_description_and_tags(api: Api, made: Made) -> None:
    name = made.vhost(description="first", tags=["a"])
    reply = api.put(f"vhosts/{quote(name)}", json={"tags": ["x", "y"]})
    assert reply.status_code == 204
    body = api.get(f"vhosts/{quote(name)}").json()
    assert body["description"] == ""
    assert body["tags"] == ["x", "y"]


def test_default_queue_type_is_kept_and_applied(api: Api, made: Made, broker_url: str) -> None:
    # 3.10 reads "defaultqueuetype"; a later PUT does not change it.
    name = made.vhost(defaultqueuetype="quorum")
    body = api.get(f"vhosts/{quote(name)}").json()
    assert body["default_queue_type"] == "quorum"
    assert body["metadata"]["default_queue_type"] == "quorum"
    api.put(f"vhosts/{quote(name)}", json={"defaultqueuetype": "stream"})
    assert api.get(f"vhosts/{quote(name)}").json()["default_queue_type"] == "quorum"
    connection = pika.BlockingConnection(amqp_parameters(broker_url, name))
    try:
        connection.channel().queue_declare("q", durable=True)
    finally:
        connection.close()


@pytest.mark.newer_than_310
def test_default_queue_type_under_its_later_name(api: Api, made: Made) -> None:
    # RabbitMQ 3.11+ also reads "default_queue_type"; 3.10 ignores it.
    name = made.vhost(default_queue_type="stream")
    assert api.get(f"vhosts/{quote(name)}").json()["default_queue_type"] == "stream"


def test_the_creator_gets_full_permissions(api: Api, made: Made) -> None:
    name = made.vhost()
    assert api.get(f"vhosts/{quote(name)}/permissions").json() == [
        {"user": "guest", "vhost": name, "configure": ".*", "write": ".*", "read": ".*"}
    ]


def test_delete_vhost_closes_its_connections(api: Api, made: Made, broker_url: str) -> None:
    name = made.vhost()
    connection = pika.BlockingConnection(amqp_parameters(broker_url, name))
    try:
        assert api.delete(f"vhosts/{quote(name)}").status_code == 204
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
            wait_for(lambda: connection.process_data_events(time_limit=0.2), timeout=10)
        assert closed.value.reply_code == 320
    finally:
        if connection.is_open:
            connection.close()
    assert api.get(f"vhosts/{quote(name)}").status_code == 404
    assert name not in [vhost["name"] for vhost in api.get("vhosts").json()]


def test_unknown_vhost_is_not_found(api: Api) -> None:
    name = unique("missing")
    for method in ("get", "delete"):
        reply = getattr(api, method)(f"vhosts/{quote(name)}")
        assert reply.status_code == 404
        assert reply.json() == {"error": "Object Not Found", "reason": "Not Found"}
    for sub in ("permissions", "topic-permissions"):
        assert api.get(f"vhosts/{quote(name)}/{sub}").status_code == 404


def test_vhost_body_must_be_a_json_object(api: Api, made: Made) -> None:
    for bad in ("not json", "[1, 2]"):
        name = unique("bad-vhost")
        reply = api.put(f"vhosts/{quote(name)}", data=bad)
        assert reply.status_code == 400
        assert reply.json() == {"error": "bad_request", "reason": "not_json"}
        assert api.get(f"vhosts/{quote(name)}").status_code == 404


@pytest.mark.leveret_only
def test_vhost_fields_of_the_wrong_type_are_refused(api: Api) -> None:
    # RabbitMQ 3.10 answers these with a 500 (and stores a numeric description as is).
    for body in ({"tags": 5}, {"description": 5}, {"defaultqueuetype": "bogus"}):
        name = unique("bad-vhost")
        reply = api.put(f"vhosts/{quote(name)}", json=body)
        assert reply.status_code == 400, body
        assert reply.json()["error"] == "bad_request"
        assert api.get(f"vhosts/{quote(name)}").status_code == 404


def test_vhost_list_is_filtered_for_management_users(api_as: Any, made: Made) -> None:
    mine, other = made.vhost(), made.vhost()
    user = made.user("management")
    made.grant(user, mine)
    client = api_as(user, PASSWORD)
    names = [vhost["name"] for vhost in client.get("vhosts").json()]
    assert mine in names
    assert other not in names and "/" not in names
    monitoring = api_as(made.user("monitoring"), PASSWORD)
    seen = [vhost["name"] for vhost in monitoring.get("vhosts").json()]
    assert {mine, other, "/"} <= set(seen)


def test_one_vhost_and_vhost_writes_are_for_administrators(api_as: Any, made: Made) -> None:
    vhost = made.vhost()
    for tags in ("management", "monitoring", "policymaker"):
        user = made.user(tags)
        made.grant(user, vhost)
        client = api_as(user, PASSWORD)
        for reply in (
            client.get(f"vhosts/{quote(vhost)}"),
            client.put(f"vhosts/{quote(unique('denied'))}", json={}),
            client.delete(f"vhosts/{quote(vhost)}"),
            client.get(f"vhosts/{quote(vhost)}/permissions"),
        ):
            assert reply.status_code == 401, tags
            assert reply.json() == {"error": "not_authorised", "reason": "Not administrator user"}


def test_vhost_list_columns_and_paging(api: Api, made: Made) -> None:
    name = made.vhost()
    page = api.get("vhosts", params={"page": 1, "page_size": 500, "columns": "name"}).json()
    assert {"items", "page", "page_count", "total_count", "filtered_count"} <= set(page)
    assert {"name": name} in page["items"]


# -- users -----------------------------------------------------------------------------


def test_put_creates_a_user_who_can_log_in(api: Api, api_as: Any, made: Made) -> None:
    name = made.user("management,monitoring")
    body = api.get(f"users/{quote(name)}").json()
    assert body["name"] == name
    assert body["tags"] == ["management", "monitoring"]
    assert body["hashing_algorithm"] == "rabbit_password_hashing_sha256"
    assert isinstance(body["password_hash"], str) and body["password_hash"]
    assert body["limits"] == {}
    assert api_as(name, PASSWORD).get("whoami").json()["name"] == name
    assert name in [user["name"] for user in api.get("users").json()]


def test_tags_as_a_list(api: Api, made: Made) -> None:
    name = made.user(["policymaker", "management"])
    assert api.get(f"users/{quote(name)}").json()["tags"] == ["policymaker", "management"]


def test_put_replaces_the_user(api: Api, api_as: Any, made: Made) -> None:
    name = made.user("management")
    reply = api.put(f"users/{quote(name)}", json={"password": "new-pw", "tags": "monitoring"})
    assert reply.status_code == 204
    assert api.get(f"users/{quote(name)}").json()["tags"] == ["monitoring"]
    assert api_as(name, "new-pw").get("whoami").status_code == 200
    assert api_as(name, PASSWORD).get("whoami").status_code == 401
    # Without a password, the user is left without one (as RabbitMQ 3.10).
    assert api.put(f"users/{quote(name)}", json={"tags": "monitoring"}).status_code == 204
    assert api.get(f"users/{quote(name)}").json()["password_hash"] == ""
    assert api_as(name, "new-pw").get("whoami").status_code == 401


def test_password_hash_is_taken_as_given(api: Api, api_as: Any, made: Made) -> None:
    source = made.user("management")
    stored = api.get(f"users/{quote(source)}").json()["password_hash"]
    name = unique("t-hash")
    made.users.append(name)
    reply = api.put(
        f"users/{quote(name)}",
        json={
            "password_hash": stored,
            "hashing_algorithm": "rabbit_password_hashing_sha256",
            "tags": "management",
        },
    )
    assert reply.status_code == 201
    assert api.get(f"users/{quote(name)}").json()["password_hash"] == stored
    assert api_as(name, PASSWORD).get("whoami").status_code == 200


def test_user_body_errors(api: Api) -> None:
    name = unique("bad-user")
    both = {"password": "x", "password_hash": "abc", "tags": ""}
    cases = [
        ({"password": "x"}, "tags_not_present"),
        (both, "both_password_and_password_hash_are_provided"),
        ({"password_hash": "not base64!!", "tags": ""}, ["not_base64", "not base64!!"]),
    ]
    for body, reason in cases:
        reply = api.put(f"users/{quote(name)}", json=body)
        assert reply.status_code == 400, body
        assert reply.json() == {"error": "bad_request", "reason": reason}
    assert api.put(f"users/{quote(name)}", data="nope").json()["reason"] == "not_json"
    assert api.get(f"users/{quote(name)}").status_code == 404


@pytest.mark.leveret_only
def test_user_fields_of_the_wrong_type_are_refused(api: Api) -> None:
    # RabbitMQ 3.10 answers these with a 500, and stores an unknown hashing algorithm
    # (the user then cannot log in).
    name = unique("bad-user")
    for body in (
        {"password": 5, "tags": ""},
        {"password": "x", "tags": 5},
        {"password": "x", "tags": "", "hashing_algorithm": "bogus"},
    ):
        reply = api.put(f"users/{quote(name)}", json=body)
        assert reply.status_code == 400, body
        assert reply.json()["error"] == "bad_request"
    assert api.get(f"users/{quote(name)}").status_code == 404


def test_unknown_user_is_not_found(api: Api) -> None:
    name = unique("missing")
    for path in (
        f"users/{quote(name)}",
        f"users/{quote(name)}/permissions",
        f"users/{quote(name)}/topic-permissions",
    ):
        reply = api.get(path)
        assert reply.status_code == 404
        assert reply.json() == {"error": "Object Not Found", "reason": "Not Found"}
    assert api.delete(f"users/{quote(name)}").status_code == 404


def test_delete_user(api: Api, api_as: Any, made: Made) -> None:
    name = made.user("management")
    assert api.delete(f"users/{quote(name)}").status_code == 204
    assert api.get(f"users/{quote(name)}").status_code == 404
    assert api_as(name, PASSWORD).get("whoami").status_code == 401


def test_users_without_permissions(api: Api, made: Made) -> None:
    vhost = made.vhost()
    lonely, granted = made.user(), made.user()
    made.grant(granted, vhost)
    names = [user["name"] for user in api.get("users/without-permissions").json()]
    assert lonely in names
    assert granted not in names and "guest" not in names


def test_bulk_delete(api: Api, made: Made) -> None:
    first, second = made.user(), made.user()
    reply = api.post("users/bulk-delete", json={"users": [first, second]})
    assert reply.status_code == 204
    assert api.get(f"users/{quote(first)}").status_code == 404
    assert api.get(f"users/{quote(second)}").status_code == 404


def test_bulk_delete_errors(api: Api, made: Made) -> None:
    missing = unique("missing")
    reply = api.post("users/bulk-delete", json={"users": [missing]})
    assert reply.status_code == 400
    assert reply.json() == {"error": "bad_request", "reason": ["no_such_user", missing]}
    reply = api.post("users/bulk-delete", json={})
    assert reply.json() == {"error": "bad_request", "reason": "[{key_missing,users}]"}
    assert api.post("users/bulk-delete", data="[]").json()["reason"] == "not_json"


def test_user_permission_lists(api: Api, made: Made) -> None:
    vhost = made.vhost()
    user = made.user()
    made.grant(user, vhost, "q.*")
    assert api.get(f"users/{quote(user)}/permissions").json() == [
        {"user": user, "vhost": vhost, "configure": "q.*", "write": "q.*", "read": "q.*"}
    ]
    assert api.get(f"users/{quote(user)}/topic-permissions").json() == []


def test_users_are_for_administrators(api_as: Any, made: Made) -> None:
    for tags in ("management", "monitoring", "policymaker"):
        name = made.user(tags)
        client = api_as(name, PASSWORD)
        for reply in (
            client.get("users"),
            client.get(f"users/{quote(name)}"),
            client.get("users/without-permissions"),
            client.put(f"users/{quote(unique('denied'))}", json={"password": "x", "tags": ""}),
            client.delete(f"users/{quote(name)}"),
            client.post("users/bulk-delete", json={"users": [name]}),
        ):
            assert reply.status_code == 401, tags
            assert reply.json() == {"error": "not_authorised", "reason": "Not administrator user"}


def test_user_without_tags_cannot_use_the_api(api_as: Any, made: Made) -> None:
    reply = api_as(made.user(""), PASSWORD).get("overview")
    assert reply.status_code == 401
    assert reply.json() == {"error": "not_authorised", "reason": "Not management user"}
