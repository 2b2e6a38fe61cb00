"""/api/permissions, /api/topic-permissions, /api/vhost-limits and /api/user-limits, on
Leveret and on RabbitMQ 3.10's management plugin."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pika
import pika.exceptions
import pytest

from .access_helpers import PASSWORD, Made, amqp_parameters, unique
from .conftest import Api, quote


@pytest.fixture
def made(api: Api) -> Iterator[Made]:
    found = Made(api)
    yield found
    found.close()


def _path(kind: str, vhost: str, user: str) -> str:
    return f"{kind}/{quote(vhost)}/{quote(user)}"


# -- permissions -----------------------------------------------------------------------


def test_put_get_delete_permissions(api: Api, made: Made) -> None:
    vhost, user = made.vhost(), made.user()
    path = _path("permissions", vhost, user)
    created = api.put(path, json={"configure": "c.*", "write": "w", "read": ""})
    assert created.status_code == 201
    replaced = api.put(path, json={"configure": "c.*", "write": "w", "read": "r"})
    assert replaced.status_code == 204
    expected = {"user": user, "vhost": vhost, "configure": "c.*", "write": "w", "read": "r"}
    assert api.get(path).json() == expected
    assert expected in api.get("permissions").json()
    assert expected in api.get(f"vhosts/{quote(vhost)}/permissions").json()
    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404
    assert api.delete(path).status_code == 404


def test_permissions_take_effect_on_amqp(api: Api, made: Made, broker_url: str) -> None:
    vhost, user = made.vhost(), made.user()
    api.put(_path("permissions", vhost, user), json={"configure": "^mine", "write": "", "read": ""})
    params = amqp_parameters(broker_url, vhost)
    params.credentials = pika.PlainCredentials(user, PASSWORD)
    connection = pika.BlockingConnection(params)
    try:
        channel = connection.channel()
        channel.queue_declare("mine-1")
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            channel.queue_declare("theirs")
        assert refused.value.reply_code == 403
    finally:
        if connection.is_open:
            connection.close()


def test_permission_body_errors(api: Api, made: Made) -> None:
    vhost, user = made.vhost(), made.user()
    path = _path("permissions", vhost, user)
    missing = api.put(path, json={"configure": ".*", "write": ".*"})
    assert missing.status_code == 400
    assert missing.json() == {"error": "bad_request", "reason": "[{key_missing,read}]"}
    assert api.put(path, data="nojson").json() == {"error": "bad_request", "reason": "not_json"}
    bad_regex = api.put(path, json={"configure": "(", "write": ".*", "read": ".*"})
    assert bad_regex.status_code == 400
    assert bad_regex.json()["reason"][0] == "invalid_regexp"
    assert api.get(path).status_code == 404


def test_permissions_for_unknown_vhost_or_user(api: Api, made: Made) -> None:
    vhost, user = made.vhost(), made.user()
    body = {"configure": "", "write": "", "read": ""}
    for path in (
        _path("permissions", unique("nope"), user),
        _path("permissions", vhost, unique("nope")),
    ):
        reply = api.put(path, json=body)
        assert reply.status_code == 400
        assert reply.json() == {"error": "bad_request", "reason": "vhost_or_user_not_found"}
        assert api.get(path).status_code == 404
        assert api.delete(path).status_code == 404


@pytest.mark.leveret_only
def test_permission_patterns_of_the_wrong_type_are_refused(api: Api, made: Made) -> None:
    # RabbitMQ 3.10 answers a number with a 500.
    vhost, user = made.vhost(), made.user()
    reply = api.put(
        _path("permissions", vhost, user), json={"configure": 5, "write": "", "read": ""}
    )
    assert reply.status_code == 400
    assert reply.json()["error"] == "bad_request"


def test_permissions_are_for_administrators(api_as: Any, made: Made) -> None:
    vhost = made.vhost()
    for tags in ("management", "monitoring", "policymaker"):
        user = made.user(tags)
        made.grant(user, vhost)
        client = api_as(user, PASSWORD)
        path = _path("permissions", vhost, user)
        for reply in (
            client.get("permissions"),
            client.get(path),
            client.put(path, json={"configure": "", "write": "", "read": ""}),
            client.delete(path),
            client.get("topic-permissions"),
            client.put(_path("topic-permissions", vhost, user), json={}),
        ):
            assert reply.status_code == 401, tags
            assert reply.json() == {"error": "not_authorised", "reason": "Not administrator user"}


# -- topic permissions -----------------------------------------------------------------


def test_topic_permissions_per_exchange(api: Api, made: Made) -> None:
    vhost, user = made.vhost(), made.user()
    path = _path("topic-permissions", vhost, user)
    first = api.put(path, json={"exchange": "amq.topic", "write": "w.*", "read": "r"})
    assert first.status_code == 201
    second = api.put(path, json={"exchange": "other", "write": "w", "read": "r"})
    assert second.status_code == 204
    expected = [
        {"user": user, "vhost": vhost, "exchange": "amq.topic", "write": "w.*", "read": "r"},
        {"user": user, "vhost": vhost, "exchange": "other", "write": "w", "read": "r"},
    ]

    def by_exchange(items: list[dict[str, str]]) -> list[dict[str, str]]:
        return sorted(items, key=lambda item: item["exchange"])

    assert by_exchange(api.get(path).json()) == expected
    listed = [item for item in api.get("topic-permissions").json() if item["user"] == user]
    assert by_exchange(listed) == expected
    assert by_exchange(api.get(f"vhosts/{quote(vhost)}/topic-permissions").json()) == expected
    assert by_exchange(api.get(f"users/{quote(user)}/topic-permissions").json()) == expected
    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404
    assert api.delete(path).status_code == 404


def test_topic_permission_body_errors(api: Api, made: Made) -> None:
    vhost, user = made.vhost(), made.user()
    path = _path("topic-permissions", vhost, user)
    no_exchange = api.put(path, json={"write": "w", "read": "r"})
    assert no_exchange.json() == {"error": "bad_request", "reason": "[{key_missing,exchange}]"}
    no_read = api.put(path, json={"exchange": "x", "write": "w"})
    assert no_read.json() == {"error": "bad_request", "reason": "[{key_missing,read}]"}
    bad_regex = api.put(path, json={"exchange": "x", "write": "(", "read": ""})
    assert bad_regex.status_code == 400
    assert bad_regex.json()["reason"][0] == "invalid_regexp"
    unknown = api.put(
        _path("topic-permissions", unique("nope"), user),
        json={"exchange": "x", "write": "", "read": ""},
    )
    assert unknown.json() == {"error": "bad_request", "reason": "vhost_or_user_not_found"}


# -- vhost limits ----------------------------------------------------------------------


def test_vhost_limits(api: Api, made: Made) -> None:
    vhost = made.vhost()
    base = f"vhost-limits/{quote(vhost)}"
    assert api.get(base).json() == []
    assert api.put(f"{base}/max-connections", json={"value": 10}).status_code == 204
    assert api.put(f"{base}/max-queues", json={"value": 5}).status_code == 204
    assert api.put(f"{base}/max-queues", json={"value": 6}).status_code == 204
    expected = {"vhost": vhost, "value": {"max-connections": 10, "max-queues": 6}}
    assert api.get(base).json() == [expected]
    assert expected in api.get("vhost-limits").json()
    assert api.delete(f"{base}/max-queues").status_code == 204
    assert api.delete(f"{base}/max-queues").status_code == 204  # not set: no error
    assert api.get(base).json() == [{"vhost": vhost, "value": {"max-connections": 10}}]
    assert api.delete(f"{base}/max-connections").status_code == 204
    assert api.get(base).json() == []


def test_vhost_limit_takes_effect(api: Api, made: Made, broker_url: str) -> None:
    vhost = made.vhost()
    api.put(f"vhost-limits/{quote(vhost)}/max-queues", json={"value": 1})
    connection = pika.BlockingConnection(amqp_parameters(broker_url, vhost))
    try:
        channel = connection.channel()
        channel.queue_declare("first")
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            channel.queue_declare("second")
        assert refused.value.reply_code == 406
    finally:
        if connection.is_open:
            connection.close()


def test_vhost_limit_errors(api: Api, made: Made) -> None:
    vhost = made.vhost()
    base = f"vhost-limits/{quote(vhost)}"
    unknown = api.put(f"{base}/max-bogus", json={"value": 5})
    assert unknown.status_code == 400
    assert unknown.json() == {
        "error": "bad_request",
        "reason": 'Validation failed\n\nUnrecognised terms [{<<"max-bogus">>,5}] in limits\n',
    }
    text = api.put(f"{base}/max-queues", json={"value": "5"})
    assert text.json() == {
        "error": "bad_request",
        "reason": 'Validation failed\n\nmax-queues should be a number, actually was <<"5">>\n',
    }
    fraction = api.put(f"{base}/max-queues", json={"value": 1.5})
    assert fraction.json()["reason"] == (
        "Validation failed\n\nmax-queues should be a number, actually was 1.5\n"
    )
    missing = api.put(f"{base}/max-queues", json={})
    assert missing.json() == {"error": "bad_request", "reason": "[{key_missing,value}]"}
    assert api.put(f"{base}/max-queues", data="[1]").json()["reason"] == "not_json"
    no_vhost = api.put(f"vhost-limits/{quote(unique('nope'))}/max-queues", json={"value": 1})
    assert no_vhost.status_code == 404
    assert no_vhost.json() == {"error": "not_found", "reason": "vhost_not_found"}
    assert api.get(f"vhost-limits/{quote(unique('nope'))}").status_code == 404
    assert api.get(base).json() == []


def test_vhost_limits_follow_vhost_visibility(api: Api, api_as: Any, made: Made) -> None:
    mine, other = made.vhost(), made.vhost()
    for vhost in (mine, other):
        api.put(f"vhost-limits/{quote(vhost)}/max-queues", json={"value": 3})
    user = made.user("management")
    made.grant(user, mine)
    client = api_as(user, PASSWORD)
    seen = {item["vhost"] for item in client.get("vhost-limits").json()}
    assert mine in seen and other not in seen
    assert client.get(f"vhost-limits/{quote(mine)}").status_code == 200
    refused = client.get(f"vhost-limits/{quote(other)}")
    assert refused.status_code == 401
    assert refused.json() == {
        "error": "not_authorised",
        "reason": "User not authorised to access virtual host",
    }
    denied = client.put(f"vhost-limits/{quote(mine)}/max-queues", json={"value": 1})
    assert denied.status_code == 401


# -- user limits -----------------------------------------------------------------------


def test_user_limits(api: Api, made: Made) -> None:
    user = made.user()
    base = f"user-limits/{quote(user)}"
    assert api.get(base).json() == []
    assert api.put(f"{base}/max-connections", json={"value": 10}).status_code == 204
    assert api.put(f"{base}/max-channels", json={"value": 5}).status_code == 204
    expected = {"user": user, "value": {"max-channels": 5, "max-connections": 10}}
    assert api.get(base).json() == [expected]
    assert expected in api.get("user-limits").json()
    assert api.get(f"users/{quote(user)}").json()["limits"] == expected["value"]
    assert api.delete(f"{base}/max-channels").status_code == 204
    assert api.delete(f"{base}/max-channels").status_code == 204
    assert api.get(base).json() == [{"user": user, "value": {"max-connections": 10}}]


def test_user_limit_takes_effect(api: Api, made: Made, broker_url: str) -> None:
    vhost, user = made.vhost(), made.user()
    made.grant(user, vhost)
    api.put(f"user-limits/{quote(user)}/max-channels", json={"value": 1})
    params = amqp_parameters(broker_url, vhost)
    params.credentials = pika.PlainCredentials(user, PASSWORD)
    connection = pika.BlockingConnection(params)
    try:
        connection.channel()
        with pytest.raises(pika.exceptions.AMQPError):
            connection.channel()
    finally:
        if connection.is_open:
            connection.close()


def test_user_limit_errors(api: Api, made: Made) -> None:
    user = made.user()
    base = f"user-limits/{quote(user)}"
    unknown = api.put(f"{base}/max-queues", json={"value": 5})
    assert unknown.json() == {
        "error": "bad_request",
        "reason": 'Unrecognised terms [{<<"max-queues">>,5}] in user-limits',
    }
    text = api.put(f"{base}/max-channels", json={"value": "5"})
    assert text.json() == {
        "error": "bad_request",
        "reason": 'max-channels should be a number, actually was <<"5">>',
    }
    assert api.put(f"{base}/max-channels", json={}).json()["reason"] == "[{key_missing,value}]"
    missing = unique("nope")
    no_user = api.put(f"user-limits/{quote(missing)}/max-channels", json={"value": 5})
    assert no_user.status_code == 400
    assert no_user.json() == {"error": "bad_request", "reason": ["no_such_user", missing]}
    assert api.get(f"user-limits/{quote(missing)}").status_code == 404


def test_user_limits_are_read_by_management_users(api: Api, api_as: Any, made: Made) -> None:
    limited = made.user()
    api.put(f"user-limits/{quote(limited)}/max-channels", json={"value": 2})
    client = api_as(made.user("management"), PASSWORD)
    assert {"user": limited, "value": {"max-channels": 2}} in client.get("user-limits").json()
    denied = client.put(f"user-limits/{quote(limited)}/max-channels", json={"value": 3})
    assert denied.status_code == 401
    assert denied.json() == {"error": "not_authorised", "reason": "Not administrator user"}
