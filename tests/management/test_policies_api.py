"""/api/policies and /api/operator-policies, on Leveret and on RabbitMQ 3.10: shapes, status
codes, validation texts, who may use them, and what a queue and an exchange report."""

from __future__ import annotations

import html
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .conftest import Api, quote


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def vhost(api: Api) -> Iterator[str]:
    name = unique("t-pol")
    assert api.put(f"vhosts/{quote(name)}", json={}).status_code == 201
    yield name
    api.delete(f"vhosts/{quote(name)}")


def reason(reply: Any) -> str:
    """RabbitMQ escapes the reason as HTML; the words are what count."""
    return html.unescape(reply.json()["reason"])


def eventually(read: Callable[[], Any], wanted: Callable[[Any], bool], timeout: float = 15) -> Any:
    """RabbitMQ's management view lags the broker: poll until ``wanted`` or the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if wanted(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.25)


def test_put_get_list_delete(api: Api, vhost: str) -> None:
    path = f"policies/{quote(vhost)}/limits"
    body = {
        "pattern": "^orders\\.",
        "definition": {"max-length": 5, "message-ttl": 1000},
        "priority": 3,
        "apply-to": "queues",
    }
    assert api.put(path, json=body).status_code == 201
    expected = {
        "vhost": vhost,
        "name": "limits",
        "pattern": "^orders\\.",
        "apply-to": "queues",
        "definition": {"max-length": 5, "message-ttl": 1000},
        "priority": 3,
    }
    assert api.get(path).json() == expected
    assert api.get(f"policies/{quote(vhost)}").json() == [expected]
    assert expected in api.get("policies").json()
    # Replacing answers 204; defaults: apply-to all, priority 0.
    assert api.put(path, json={"pattern": ".*", "definition": {"expires": 9000}}).status_code == 204
    assert api.get(path).json() == {
        **expected,
        "pattern": ".*",
        "definition": {"expires": 9000},
        "apply-to": "all",
        "priority": 0,
    }
    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404
    assert api.get(f"policies/{quote(vhost)}").json() == []
    assert api.delete(path).status_code == 404
    assert api.get("policies/no-such-vhost-here").status_code == 404


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"pattern": ".*", "definition": {"foo": 1}}, 'Validation failed\n\n[{<<"foo">>,1}] are'
         " not recognised policy settings\n"),
        ({"pattern": ".*", "definition": {"max-length": -1}},
         "Validation failed\n\n-1 is not a valid maximum length\n"),
        ({"pattern": ".*", "definition": {"message-ttl": "a"}},
         'Validation failed\n\n<<"a">> is not a valid message TTL\n'),
        ({"pattern": ".*", "definition": {"expires": 0}},
         "Validation failed\n\n0 is not a valid queue expiry\n"),
        ({"pattern": ".*", "definition": {"overflow": "x"}},
         'Validation failed\n\n<<"x">> is not a valid overflow value\n'),
        ({"pattern": ".*", "definition": {"dead-letter-exchange": 1}},
         "Validation failed\n\n1 is not a valid dead letter exchange name\n"),
        ({"pattern": ".*", "definition": {"max-age": "1Q"}},
         'Validation failed\n\n<<"1Q">> is not a valid max age\n'),
        ({"pattern": ".*", "definition": {}}, "Validation failed\n\nno policy provided\n"),
        ({"pattern": ".*", "definition": {"max-length": 1}, "priority": "x"},
         'Validation failed\n\npriority should be a number, actually was <<"x">>\n'),
        ({"definition": {"max-length": 1}}, "[{key_missing,pattern}]"),
    ],
)  # fmt: skip
def test_invalid_policies_are_refused_with_rabbitmq_words(
    api: Api, vhost: str, body: dict[str, Any], words: str
) -> None:
    reply = api.put(f"policies/{quote(vhost)}/bad", json=body)
    assert reply.status_code == 400
    assert reply.json()["error"] == "bad_request"
    assert reason(reply) == words
    assert api.get(f"policies/{quote(vhost)}/bad").status_code == 404


def test_operator_policies_take_only_limits(api: Api, vhost: str) -> None:
    path = f"operator-policies/{quote(vhost)}/cap"
    reply = api.put(path, json={"pattern": ".*", "definition": {"overflow": "drop-head"}})
    assert reply.status_code == 400
    assert reason(reply) == (
        'Validation failed\n\n[{<<"overflow">>,<<"drop-head">>}] are not recognised policy '
        "settings\n"
    )
    body = {"pattern": "^q", "definition": {"max-length": 3}, "apply-to": "queues"}
    assert api.put(path, json=body).status_code == 201
    assert api.get(f"operator-policies/{quote(vhost)}").json() == [
        {**body, "vhost": vhost, "name": "cap", "priority": 0}
    ]
    assert api.get(f"policies/{quote(vhost)}").json() == []  # kept apart
    assert api.delete(path).status_code == 204


def test_queue_and_exchange_report_their_policies(api: Api, vhost: str) -> None:
    v = quote(vhost)
    api.put(f"policies/{v}/user", json={"pattern": "^q", "definition": {"max-length": 10,
            "dead-letter-exchange": "dlx"}, "apply-to": "queues"})  # fmt: skip
    api.put(f"operator-policies/{v}/op", json={"pattern": ".*", "definition": {"max-length": 4,
            "message-ttl": 60000}, "apply-to": "queues"})  # fmt: skip
    api.put(f"policies/{v}/ae", json={"pattern": "^x", "definition": {"alternate-exchange": "ae"},
            "apply-to": "exchanges"})  # fmt: skip
    assert api.put(f"queues/{v}/q1", json={"durable": True}).status_code == 201
    assert api.put(f"queues/{v}/other", json={"durable": True}).status_code == 201
    assert api.put(f"exchanges/{v}/x1", json={"type": "fanout"}).status_code == 201
    queue = eventually(
        lambda: api.get(f"queues/{v}/q1").json(), lambda q: q.get("policy") == "user"
    )
    assert queue["policy"] == "user"
    assert queue["operator_policy"] == "op"
    assert queue["effective_policy_definition"] == {
        "max-length": 4,  # the operator's lower limit wins
        "dead-letter-exchange": "dlx",
        "message-ttl": 60000,
    }
    other = eventually(
        lambda: api.get(f"queues/{v}/other").json(), lambda q: q.get("operator_policy") == "op"
    )
    assert other["policy"] is None
    assert other["effective_policy_definition"] == {"max-length": 4, "message-ttl": 60000}
    exchange = eventually(
        lambda: api.get(f"exchanges/{v}/x1").json(), lambda x: x.get("policy") == "ae"
    )
    assert exchange["policy"] == "ae"
    # Clearing a policy is seen at once on the queue.
    api.delete(f"policies/{v}/user")
    queue = eventually(lambda: api.get(f"queues/{v}/q1").json(), lambda q: q.get("policy") is None)
    assert queue["policy"] is None
    assert queue["effective_policy_definition"] == {"max-length": 4, "message-ttl": 60000}


def test_who_may_use_policies(api: Api, api_as: Any, vhost: str) -> None:
    v = quote(vhost)
    users = {"t-pol-mgmt-" + uuid.uuid4().hex[:6]: "management",
             "t-pol-maker-" + uuid.uuid4().hex[:6]: "policymaker"}  # fmt: skip
    try:
        for user, tag in users.items():
            api.put(f"users/{quote(user)}", json={"password": "pw", "tags": tag})
            api.put(
                f"permissions/{v}/{quote(user)}",
                json={"configure": ".*", "write": ".*", "read": ".*"},
            )
        management, maker = (api_as(user, "pw") for user in users)
        body = {"pattern": ".*", "definition": {"max-length": 1}}
        refused = {"error": "not_authorised", "reason": "User not authorised to access object"}
        reply = management.put(f"policies/{v}/p", json=body)
        assert (reply.status_code, reply.json()) == (401, refused)
        assert maker.put(f"policies/{v}/p", json=body).status_code == 201
        # Any management user lists the policies of the vhosts it may see...
        for client in (management, maker):
            assert [p["name"] for p in client.get("policies").json()] == ["p"]
            assert [p["name"] for p in client.get(f"policies/{v}").json()] == ["p"]
        # ... but reads, changes and deletes one only as a policymaker.
        assert management.get(f"policies/{v}/p").status_code == 401
        assert management.delete(f"policies/{v}/p").status_code == 401
        assert maker.get(f"policies/{v}/p").json()["definition"] == {"max-length": 1}
        assert maker.get(f"operator-policies/{v}").json() == []
        reply = maker.put(f"operator-policies/{v}/p", json=body)
        assert (reply.status_code, reply.json()["reason"]) == (401, "Not administrator user")
        assert management.get("policies/%2F").status_code == 401  # no permissions there
        assert maker.delete(f"policies/{v}/p").status_code == 204
    finally:
        for user in users:
            api.delete(f"users/{quote(user)}")


def test_definitions_carry_policies(api: Api, vhost: str) -> None:
    v = quote(vhost)
    api.put(f"policies/{v}/ttl", json={"pattern": "^t", "definition": {"message-ttl": 500},
            "priority": 2, "apply-to": "queues"})  # fmt: skip
    api.put(f"operator-policies/{v}/cap", json={"pattern": ".*",
            "definition": {"max-length": 7}, "apply-to": "queues"})  # fmt: skip
    exported = api.get("definitions").json()
    mine = [p for p in exported["policies"] if p["vhost"] == vhost]
    assert mine == [{"vhost": vhost, "name": "ttl", "pattern": "^t", "apply-to": "queues",
                     "definition": {"message-ttl": 500}, "priority": 2}]  # fmt: skip
    operator = [p for p in exported["parameters"] if p["vhost"] == vhost]
    assert operator == [{"vhost": vhost, "component": "operator_policy", "name": "cap",
                         "value": {"pattern": ".*", "definition": {"max-length": 7},
                                   "priority": 0, "apply-to": "queues"}}]  # fmt: skip
    # Into a fresh vhost through the vhost's own document.
    document = api.get(f"definitions/{v}").json()
    assert [p["name"] for p in document["policies"]] == ["ttl"]
    target = unique("t-pol-copy")
    api.put(f"vhosts/{quote(target)}", json={})
    try:
        assert api.post(f"definitions/{quote(target)}", json=document).status_code in (200, 204)
        copied = eventually(
            lambda: api.get(f"policies/{quote(target)}").json(), lambda found: bool(found)
        )
        assert copied == [{**mine[0], "vhost": target}]
    finally:
        api.delete(f"vhosts/{quote(target)}")
