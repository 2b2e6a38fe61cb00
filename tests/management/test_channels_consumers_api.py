"""/api/channels and /api/consumers on Leveret and on RabbitMQ 3.10: channels in confirm and
tx mode, with prefetch and unacknowledged deliveries; consumers with their arguments, and
single-active-consumer status. Everything shown is made by pika."""

from __future__ import annotations

from typing import Any

import pytest

from .amqp_clients import Clients, Names, wait_for, wait_for_listed, wait_for_object
from .conftest import Api, quote

CHANNEL_FIELDS = {
    "name",
    "number",
    "node",
    "connection_details",
    "user",
    "vhost",
    "state",
    "prefetch_count",
    "global_prefetch_count",
    "messages_unacknowledged",
    "messages_unconfirmed",
    "messages_uncommitted",
    "acks_uncommitted",
    "consumer_count",
    "confirm",
    "transactional",
}
CONSUMER_FIELDS = {
    "consumer_tag",
    "channel_details",
    "queue",
    "ack_required",
    "prefetch_count",
    "exclusive",
    "arguments",
    "active",
    "activity_status",
}


def channel_path(name: str) -> str:
    return f"channels/{quote(name)}"


def test_channel_modes_and_counters(api: Api, names: Names, amqp: Clients) -> None:
    queue = names.queue()
    conn = amqp.connect()
    confirming = conn.channel()  # 1
    confirming.confirm_delivery()
    confirming.queue_declare(queue)
    confirming.basic_publish("", queue, b"a")
    confirming.basic_publish("", queue, b"b")
    transacting = conn.channel()  # 2
    transacting.tx_select()
    transacting.basic_publish("", queue, b"held")
    consuming = conn.channel()  # 3
    consuming.basic_qos(prefetch_count=7)
    consuming.basic_qos(prefetch_count=11, global_qos=True)
    consuming.basic_consume(queue, lambda *args: None, consumer_tag="mgmt-unacked")
    conn.process_data_events(0.5)
    name = amqp.name(conn)

    def settled(channels: list[dict[str, Any]]) -> bool:
        return (
            len(channels) == 3
            and all(set(c) >= CHANNEL_FIELDS for c in channels)
            and channels[1]["messages_uncommitted"] == 1
            and channels[2]["messages_unacknowledged"] == 2
        )

    found = wait_for(
        lambda: (
            (reply := api.get(f"connections/{quote(name)}/channels")).status_code == 200
            and settled(reply.json())
            and reply.json()
        ),
        "the three channels with their counters",
    )
    first, second, third = found
    for number, channel in enumerate(found, start=1):
        assert channel["name"] == f"{name} ({number})"
        assert channel["number"] == number
        assert channel["user"] == "guest"
        assert channel["vhost"] == "/"
        assert channel["state"] == "running"
        assert channel["connection_details"] == {
            "name": name,
            "peer_host": "127.0.0.1",
            "peer_port": amqp.local_port(conn),
        }
    assert (first["confirm"], first["transactional"]) == (True, False)
    assert first["messages_unconfirmed"] == 0
    assert (second["confirm"], second["transactional"]) == (False, True)
    assert second["messages_uncommitted"] == 1
    assert second["acks_uncommitted"] == 0
    assert (third["prefetch_count"], third["global_prefetch_count"]) == (7, 11)
    assert third["consumer_count"] == 1
    assert third["messages_unacknowledged"] == 2

    shown = api.get(channel_path(f"{name} (3)")).json()
    assert shown["name"] == f"{name} (3)"
    (consumer,) = shown["consumer_details"]
    assert consumer["consumer_tag"] == "mgmt-unacked"
    assert consumer["prefetch_count"] == 7
    in_vhost = api.get("vhosts/%2F/channels?columns=name,number").json()
    assert {"name": f"{name} (2)", "number": 2} in in_vhost
    assert f"{name} (1)" in [c["name"] for c in api.get("channels").json()]


def test_unknown_channel_and_vhost(api: Api) -> None:
    not_found = {"error": "Object Not Found", "reason": "Not Found"}
    for path in (
        channel_path("127.0.0.1:1 -> 127.0.0.1:1 (1)"),
        channel_path("nonsense"),
        "vhosts/no-such-vhost-mgmt/channels",
        "consumers/no-such-vhost-mgmt",
    ):
        reply = api.get(path)
        assert (reply.status_code, reply.json()) == (404, not_found), path


def test_consumers_with_their_channel_and_arguments(api: Api, names: Names, amqp: Clients) -> None:
    queue = names.queue()
    conn = amqp.connect()
    channel = conn.channel()
    channel.basic_qos(prefetch_count=4)
    channel.queue_declare(queue)
    channel.basic_consume(
        queue,
        lambda *args: None,
        exclusive=True,
        arguments={"x-priority": 3},
        consumer_tag="mgmt-exclusive",
    )
    (consumer,) = wait_for_listed(api, "consumers/%2F", lambda c: c["queue"]["name"] == queue)
    assert set(consumer) >= CONSUMER_FIELDS
    name = amqp.name(conn)
    assert {k: consumer[k] for k in CONSUMER_FIELDS - {"channel_details"}} == {
        "consumer_tag": "mgmt-exclusive",
        "queue": {"name": queue, "vhost": "/"},
        "ack_required": True,
        "prefetch_count": 4,
        "exclusive": True,
        "arguments": {"x-priority": 3},
        "active": True,
        "activity_status": "up",
    }
    details = consumer["channel_details"]
    assert {k: details[k] for k in details if k != "node"} == {
        "name": f"{name} (1)",
        "number": 1,
        "connection_name": name,
        "peer_host": "127.0.0.1",
        "peer_port": amqp.local_port(conn),
        "user": "guest",
    }
    assert isinstance(details["node"], str)
    everywhere = api.get("consumers").json()
    assert [c["consumer_tag"] for c in everywhere if c["queue"]["name"] == queue] == [
        "mgmt-exclusive"
    ]
    shown = wait_for_object(
        api, f"queues/%2F/{quote(queue)}", lambda q: bool(q.get("exclusive_consumer_tag"))
    )
    assert shown["exclusive_consumer_tag"] == "mgmt-exclusive"


def test_single_active_consumer_status(api: Api, names: Names, amqp: Clients) -> None:
    queue = names.queue()
    channel = amqp.connect().channel()
    channel.queue_declare(queue, arguments={"x-single-active-consumer": True})
    channel.basic_consume(queue, lambda *args: None, consumer_tag="first")
    channel.basic_consume(queue, lambda *args: None, consumer_tag="second", auto_ack=True)
    found = wait_for_listed(api, "consumers/%2F", lambda c: c["queue"]["name"] == queue, 2)
    by_tag = {c["consumer_tag"]: c for c in found}
    assert (by_tag["first"]["active"], by_tag["first"]["activity_status"]) == (
        True,
        "single_active",
    )
    assert (by_tag["second"]["active"], by_tag["second"]["activity_status"]) == (
        False,
        "waiting",
    )
    assert by_tag["second"]["ack_required"] is False
    shown = wait_for_object(
        api, f"queues/%2F/{quote(queue)}", lambda q: bool(q.get("single_active_consumer_tag"))
    )
    assert shown["single_active_consumer_tag"] == "first"


@pytest.mark.leveret_missing("the hot path's counters come with the statistics branch")
def test_channel_message_stats(api: Api, names: Names, amqp: Clients) -> None:
    queue = names.queue()
    conn = amqp.connect()
    publishing = conn.channel()
    publishing.confirm_delivery()
    publishing.queue_declare(queue)
    for _ in range(3):
        publishing.basic_publish("", queue, b"x")
    getting = conn.channel()
    for _ in range(2):
        method, _, _ = getting.basic_get(queue)
        assert method is not None
        getting.basic_ack(method.delivery_tag)
    name = amqp.name(conn)

    def counted(path: str, **wanted: int) -> dict[str, Any]:
        def done(c: dict[str, Any]) -> bool:
            stats = c.get("message_stats", {})
            return all(stats.get(k) == v for k, v in wanted.items())

        stats: dict[str, Any] = wait_for_object(api, path, done, deadline=15)["message_stats"]
        return stats

    published = counted(channel_path(f"{name} (1)"), publish=3, confirm=3)
    assert published["publish_details"] == {"rate": published["publish_details"]["rate"]}
    got = counted(channel_path(f"{name} (2)"), get=2, ack=2)
    assert got["deliver_get"] == 2
