"""/api/overview, /api/cluster-name, /api/extensions and /api/nodes, on Leveret and on
RabbitMQ 3.10's management plugin."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from typing import Any

import amqp
import pytest
import requests

from .access_helpers import PASSWORD, Made, publish, unique, wait_for
from .conftest import Api, quote


@pytest.fixture
def made(api: Api) -> Iterator[Made]:
    found = Made(api)
    yield found
    found.close()


def _amqp_port(broker_url: str) -> int:
    port = urllib.parse.urlsplit(broker_url).port
    assert port is not None
    return port


def test_overview_names_the_broker(api: Api) -> None:
    body = api.get("overview").json()
    for key in ("management_version", "rabbitmq_version", "product_name", "product_version"):
        assert isinstance(body[key], str) and body[key], key
    assert body["cluster_name"] == api.get("cluster-name").json()["name"]
    assert body["node"] == api.get("nodes").json()[0]["name"]
    assert body["statistics_db_event_queue"] == 0
    assert body["rates_mode"] == "basic"
    assert body["disable_stats"] is False
    names = {kind["name"] for kind in body["exchange_types"]}
    assert {"direct", "fanout", "headers", "topic"} <= names
    assert all(kind["enabled"] is True for kind in body["exchange_types"])


def test_overview_lists_the_listeners_and_contexts(
    api: Api, broker_url: str, management_url: str
) -> None:
    body = api.get("overview").json()
    node = body["node"]
    amqp = [item for item in body["listeners"] if item["protocol"] == "amqp"]
    assert [item["port"] for item in amqp] == [_amqp_port(broker_url)]
    assert amqp[0]["node"] == node
    assert isinstance(amqp[0]["ip_address"], str)
    http_port = urllib.parse.urlsplit(management_url).port
    assert http_port in {item["port"] for item in body["listeners"] if item["protocol"] == "http"}
    management = [context for context in body["contexts"] if context.get("port") == str(http_port)]
    assert len(management) == 1
    assert management[0]["node"] == node
    assert management[0]["path"] == "/"


def test_object_totals_count_what_exists(api: Api, made: Made, broker_url: str) -> None:
    before = api.get("overview").json()["object_totals"]
    assert set(before) == {"channels", "connections", "consumers", "exchanges", "queues"}
    assert all(isinstance(value, int) for value in before.values())
    vhost = made.vhost()
    publish(broker_url, vhost, "q1", [])
    after = api.get("overview").json()["object_totals"]
    # Other suites may use the same broker meanwhile: at least the new ones are counted.
    assert after["queues"] >= before["queues"] + 1
    assert after["exchanges"] >= before["exchanges"] + 4  # the vhost's predeclared ones


def test_queue_totals_count_ready_messages(api: Api, made: Made, broker_url: str) -> None:
    vhost = made.vhost()
    publish(broker_url, vhost, "q1", [b"one", b"two", b"three"])

    def counted() -> dict[str, Any] | None:
        body = api.get(f"vhosts/{quote(vhost)}").json()
        return body if body.get("messages") == 3 else None

    body = wait_for(counted)
    assert body["messages_ready"] == 3
    assert body["messages_unacknowledged"] == 0
    for key in ("messages", "messages_ready", "messages_unacknowledged"):
        assert isinstance(body[f"{key}_details"]["rate"], float)
    totals = api.get("overview").json()["queue_totals"]
    assert totals["messages"] >= 3
    assert totals["messages_ready"] >= 3
    assert isinstance(totals["messages_details"]["rate"], float)


def test_vhost_message_stats_count_publishes(api: Api, made: Made, broker_url: str) -> None:
    vhost = made.vhost()
    publish(broker_url, vhost, "q1", [b"a", b"b"])

    def published() -> dict[str, Any] | None:
        stats = api.get(f"vhosts/{quote(vhost)}").json().get("message_stats", {})
        return stats if stats.get("publish") == 2 else None

    stats = wait_for(published)
    assert isinstance(stats["publish_details"]["rate"], float)
    overall = api.get("overview").json()["message_stats"]
    assert overall["publish"] >= 2


def test_management_user_sees_its_own_vhosts_totals_only(
    api: Api, api_as: Any, made: Made, broker_url: str
) -> None:
    vhost = made.vhost()
    user = made.user("management")
    made.grant(user, vhost)
    publish(broker_url, vhost, "q1", [b"x"])
    mine = api_as(user, PASSWORD).get("overview")
    assert mine.status_code == 200
    body = mine.json()
    # The node, its listeners and contexts are for monitoring users.
    assert "node" not in body and "listeners" not in body and "contexts" not in body
    assert "consumers" not in body["object_totals"]
    # One vhost's objects: its queue and its predeclared exchanges, nothing of "/".
    assert body["object_totals"]["queues"] == 1
    everything = api.get("overview").json()["object_totals"]
    assert everything["exchanges"] > body["object_totals"]["exchanges"]


def test_monitoring_user_sees_the_node(api_as: Any, made: Made) -> None:
    user = made.user("monitoring")
    body = api_as(user, PASSWORD).get("overview").json()
    assert "node" in body and "listeners" in body
    assert "consumers" in body["object_totals"]


def test_overview_columns(api: Api) -> None:
    body = api.get("overview", params={"columns": "cluster_name,object_totals"}).json()
    assert set(body) == {"cluster_name", "object_totals"}
    assert "queues" in body["object_totals"]


def _advertised_cluster_name(broker_url: str) -> object:
    """The cluster name a new AMQP connection hears in connection.start."""
    parts = urllib.parse.urlsplit(broker_url)
    connection = amqp.Connection(f"{parts.hostname}:{parts.port}", "guest", "guest")
    connection.connect()
    try:
        return connection.server_properties["cluster_name"]
    finally:
        connection.close()


def test_cluster_name_is_set_by_administrators(
    api: Api, api_as: Any, made: Made, broker_url: str
) -> None:
    original = api.get("cluster-name").json()["name"]
    try:
        new = unique("cluster")
        assert api.put("cluster-name", json={"name": new}).status_code == 204
        assert api.get("cluster-name").json() == {"name": new}
        assert api.get("overview").json()["cluster_name"] == new
        assert _advertised_cluster_name(broker_url) == new
    finally:
        assert api.put("cluster-name", json={"name": original}).status_code == 204
    policymaker = api_as(made.user("policymaker"), PASSWORD)
    refused = policymaker.put("cluster-name", json={"name": "x"})
    assert refused.status_code == 401
    assert refused.json() == {"error": "not_authorised", "reason": "Not administrator user"}
    assert policymaker.get("cluster-name").json() == {"name": original}


def test_cluster_name_needs_a_name(api: Api) -> None:
    missing = api.put("cluster-name", json={})
    assert missing.status_code == 400
    assert missing.json() == {"error": "bad_request", "reason": "[{key_missing,name}]"}
    not_json = api.put("cluster-name", data="x")
    assert not_json.json() == {"error": "bad_request", "reason": "not_json"}


@pytest.mark.leveret_only
def test_cluster_name_of_the_wrong_type_is_refused(api: Api) -> None:
    # RabbitMQ 3.10 answers a number with a 500.
    reply = api.put("cluster-name", json={"name": 5})
    assert reply.status_code == 400
    assert reply.json()["error"] == "bad_request"


def test_extensions_is_a_list(api: Api) -> None:
    reply = api.get("extensions")
    assert reply.status_code == 200
    assert isinstance(reply.json(), list)


# -- nodes -----------------------------------------------------------------------------


def test_the_node_reports_its_resources(api: Api) -> None:
    nodes = api.get("nodes").json()
    assert len(nodes) == 1
    node = nodes[0]
    assert node["type"] == "disc"
    assert node["running"] is True
    assert node["partitions"] == []
    for key in (
        "uptime",
        "mem_used",
        "mem_limit",
        "disk_free",
        "disk_free_limit",
        "fd_used",
        "fd_total",
        "sockets_used",
        "sockets_total",
        "processors",
    ):
        assert isinstance(node[key], int) and not isinstance(node[key], bool), key
    assert node["mem_used"] > 0
    assert node["uptime"] > 0
    assert node["mem_alarm"] is False
    assert node["disk_free_alarm"] is False
    assert node["disk_free"] > node["disk_free_limit"]
    assert isinstance(node["os_pid"], str) and node["os_pid"].isdigit()
    assert "rabbitmq_management" in node["enabled_plugins"]
    assert {"PLAIN", "AMQPLAIN"} <= {m["name"] for m in node["auth_mechanisms"] if m["enabled"]}
    assert isinstance(node["applications"], list)
    assert isinstance(node["contexts"], list)


def test_one_node_by_name(api: Api) -> None:
    name = api.get("nodes").json()[0]["name"]
    node = api.get(f"nodes/{quote(name)}").json()
    assert node["name"] == name
    assert node["running"] is True
    assert isinstance(node["mem_used"], int)


@pytest.mark.leveret_only
def test_unknown_node_is_not_found(api: Api) -> None:
    # RabbitMQ 3.10 answers an unknown node name with a 500.
    reply = api.get("nodes/nobody@nowhere")
    assert reply.status_code == 404
    assert reply.json() == {"error": "Object Not Found", "reason": "Not Found"}


def test_nodes_are_for_monitoring_users(api_as: Any, made: Made) -> None:
    management = api_as(made.user("management"), PASSWORD)
    refused = management.get("nodes")
    assert refused.status_code == 401
    assert refused.json() == {"error": "not_authorised", "reason": "Not monitor user"}
    monitoring = api_as(made.user("monitoring"), PASSWORD)
    assert monitoring.get("nodes").status_code == 200


def test_overview_needs_credentials(management_url: str) -> None:
    assert requests.get(f"{management_url}/api/overview", timeout=10).status_code == 401
