"""message_stats comes in RabbitMQ's groups: what an object publishes, what it delivers.
A group appears whole (zeros included) once any of its counters moved, and not before."""

from __future__ import annotations

from typing import Any

from .amqp_clients import Clients, Names, wait_for_object
from .conftest import Api, quote

DELIVERING = {
    "ack",
    "deliver",
    "deliver_get",
    "deliver_no_ack",
    "get",
    "get_empty",
    "get_no_ack",
    "redeliver",
}
CHANNEL_PUBLISHING = {"publish", "confirm", "return_unroutable", "drop_unroutable"}


def _counters(stats: dict[str, Any]) -> set[str]:
    keys = {key for key in stats if not key.endswith("_details")}
    assert {f"{key}_details" for key in keys} == set(stats) - keys
    return keys


def test_queue_and_channel_counters_appear_in_groups(api: Api, amqp: Clients, names: Names) -> None:
    queue = names.queue()
    channel = amqp.channel()
    channel.queue_declare(queue)
    channel.basic_publish("", queue, b"one")
    path = f"queues/{quote('/')}/{quote(queue)}"

    published = wait_for_object(api, path, lambda q: "message_stats" in q)
    assert _counters(published["message_stats"]) == {"publish"}

    method, _, _ = channel.basic_get(queue)
    assert method is not None
    channel.basic_ack(method.delivery_tag)
    delivered = wait_for_object(api, path, lambda q: q.get("message_stats", {}).get("ack") == 1)
    stats = delivered["message_stats"]
    assert _counters(stats) == DELIVERING | {"publish"}
    assert (stats["get"], stats["deliver_get"], stats["deliver"], stats["redeliver"]) == (
        1,
        1,
        0,
        0,
    )
    assert stats["ack_details"].keys() == {"rate"}


def test_exchange_counters_come_as_one_group(api: Api, amqp: Clients, names: Names) -> None:
    exchange = names.exchange()
    queue = names.queue()
    channel = amqp.channel()
    channel.exchange_declare(exchange, "fanout")
    channel.queue_declare(queue)
    channel.queue_bind(queue, exchange)
    path = f"exchanges/{quote('/')}/{quote(exchange)}"
    assert "message_stats" not in api.get(path).json()
    channel.basic_publish(exchange, "", b"x")
    found = wait_for_object(api, path, lambda x: x.get("message_stats", {}).get("publish_out") == 1)
    assert _counters(found["message_stats"]) == {"publish_in", "publish_out"}
