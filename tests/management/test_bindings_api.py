"""/api/bindings on Leveret and on RabbitMQ 3.10: add (201 + Location), list, show and
delete bindings by their properties key, exchange-to-queue and exchange-to-exchange; the
bindings' effect is checked by routing with pika."""

from __future__ import annotations

import re
from typing import Any

from .amqp_clients import Clients, Names
from .conftest import Api, quote

HASH = "[A-Za-z0-9_-]{6}"  # RabbitMQ's arguments hash: 32 bits, URL-safe base64


def between(source: str, destination: str, kind: str = "q", vhost: str = "/") -> str:
    return f"bindings/{quote(vhost)}/e/{quote(source)}/{kind}/{quote(destination)}"


def declare(clients: Clients, exchange: str, queue: str | None = None) -> Any:
    channel = clients.channel()
    channel.exchange_declare(exchange, "direct")
    if queue is not None:
        channel.queue_declare(queue)
    return channel


def test_post_answers_201_with_location_and_the_binding_routes(
    api: Api, names: Names, amqp: Clients
) -> None:
    exchange, queue = names.exchange(), names.queue()
    channel = declare(amqp, exchange, queue)
    reply = api.post(between(exchange, queue), json={"routing_key": "k1"})
    assert reply.status_code == 201
    assert reply.headers["Location"] == f"{queue}/k1"
    # Binding twice is harmless, as in AMQP: one binding.
    assert api.post(between(exchange, queue), json={"routing_key": "k1"}).status_code == 201
    listed = api.get(between(exchange, queue)).json()
    assert listed == [
        {
            "source": exchange,
            "vhost": "/",
            "destination": queue,
            "destination_type": "queue",
            "routing_key": "k1",
            "arguments": {},
            "properties_key": "k1",
        }
    ]
    assert api.get(between(exchange, queue) + "/k1").json() == listed[0]
    channel.basic_publish(exchange, "k1", b"routed")
    assert channel.queue_declare(queue, passive=True).method.message_count == 1

    assert api.delete(between(exchange, queue) + "/k1").status_code == 204
    reply = api.delete(between(exchange, queue) + "/k1")
    assert reply.status_code == 404
    assert reply.json() == {"error": "Object Not Found", "reason": "Not Found"}
    assert api.get(between(exchange, queue) + "/k1").status_code == 404
    channel.basic_publish(exchange, "k1", b"not routed")
    assert channel.queue_declare(queue, passive=True).method.message_count == 1


def test_properties_keys(api: Api, names: Names, amqp: Clients) -> None:
    exchange, queue = names.exchange(), names.queue()
    declare(amqp, exchange, queue)
    path = between(exchange, queue)
    made = {}
    for label, body in (
        ("empty", {}),
        ("empty with args", {"routing_key": "", "arguments": {"a": 1}}),
        ("special", {"routing_key": "a~b%c/d é"}),
        ("args", {"routing_key": "k2", "arguments": {"x": "y", "z": [1, 2]}}),
    ):
        reply = api.post(path, json=body)
        assert reply.status_code == 201, label
        made[label] = reply.headers["Location"]
    # The same arguments in another order are the same binding.
    again = api.post(path, json={"routing_key": "k2", "arguments": {"z": [1, 2], "x": "y"}})
    assert again.headers["Location"] == made["args"]

    assert made["empty"] == f"{queue}/~"
    assert re.fullmatch(f"{re.escape(queue)}/~{HASH}", made["empty with args"])
    # The key is form-encoded ("~" too, it separates the hash), then quoted again as a path
    # segment in the Location.
    assert made["special"] == f"{queue}/a%257Eb%2525c%252Fd%2B%25C3%25A9"
    assert re.fullmatch(f"{re.escape(queue)}/k2~{HASH}", made["args"])

    listed = api.get(path).json()
    keys = [b["properties_key"] for b in listed]
    assert keys[0] == "~"
    assert re.fullmatch(f"~{HASH}", keys[1])
    assert keys[2] == "a%7Eb%25c%2Fd+%C3%A9"
    assert re.fullmatch(f"k2~{HASH}", keys[3])
    assert len(listed) == 4
    assert listed[3]["arguments"] == {"x": "y", "z": [1, 2]}
    # Each is found and deleted by its key (quoted once more as a path segment).
    for binding in listed:
        key = binding["properties_key"]
        assert api.get(f"{path}/{quote(key)}").json() == binding
        assert api.delete(f"{path}/{quote(key)}").status_code == 204
    assert api.get(path).json() == []


def test_every_ascii_character_in_a_routing_key(api: Api, names: Names, amqp: Clients) -> None:
    exchange, queue = names.exchange(), names.queue()
    declare(amqp, exchange, queue)
    key = "".join(chr(c) for c in range(33, 127))
    reply = api.post(between(exchange, queue), json={"routing_key": key})
    expected = (
        "%21%22%23%24%25%26%27%28%29%2A%2B%2C-.%2F0123456789%3A%3B%3C%3D%3E%3F%40"
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ%5B%5C%5D%5E_%60abcdefghijklmnopqrstuvwxyz%7B%7C%7D%7E"
    )
    assert reply.headers["Location"] == f"{queue}/{quote(expected)}"
    (binding,) = api.get(between(exchange, queue)).json()
    assert (binding["routing_key"], binding["properties_key"]) == (key, expected)


def test_exchange_to_exchange(api: Api, names: Names, amqp: Clients) -> None:
    source, destination, queue = names.exchange(), names.exchange(), names.queue()
    channel = declare(amqp, source)
    channel.exchange_declare(destination, "fanout")
    channel.queue_declare(queue)
    channel.queue_bind(queue, destination)
    reply = api.post(between(source, destination, "e"), json={"routing_key": "rk"})
    assert reply.status_code == 201
    assert reply.headers["Location"] == f"{destination}/rk"
    binding = {
        "source": source,
        "vhost": "/",
        "destination": destination,
        "destination_type": "exchange",
        "routing_key": "rk",
        "arguments": {},
        "properties_key": "rk",
    }
    assert api.get(between(source, destination, "e")).json() == [binding]
    assert api.get(between(source, destination, "e") + "/rk").json() == binding
    assert api.get(f"exchanges/%2F/{quote(destination)}/bindings/destination").json() == [binding]
    channel.basic_publish(source, "rk", b"through two exchanges")
    assert channel.queue_declare(queue, passive=True).method.message_count == 1
    assert api.delete(between(source, destination, "e") + "/rk").status_code == 204
    assert api.get(between(source, destination, "e")).json() == []


def test_binding_errors(api: Api, names: Names, amqp: Clients) -> None:
    exchange, queue = names.exchange(), names.queue()
    declare(amqp, exchange, queue)
    reply = api.post(between("mgmt-no-such-exchange", queue), json={"routing_key": "k"})
    assert reply.status_code == 404
    assert reply.json() == {
        "error": "not_found",
        "reason": "no exchange 'mgmt-no-such-exchange' in vhost '/'",
    }
    reply = api.post(between(exchange, "mgmt-no-such-queue"), json={"routing_key": "k"})
    assert (reply.status_code, reply.json()) == (
        404,
        {"error": "not_found", "reason": "no queue 'mgmt-no-such-queue' in vhost '/'"},
    )
    reply = api.post(between(exchange, "mgmt-no-such-exchange", "e"), json={"routing_key": "k"})
    assert (reply.status_code, reply.json()) == (
        404,
        {"error": "not_found", "reason": "no exchange 'mgmt-no-such-exchange' in vhost '/'"},
    )
    reply = api.post(between("amq.default", queue), json={"routing_key": "k"})
    assert (reply.status_code, reply.json()) == (
        401,
        {"error": "not_authorised", "reason": "Access refused."},
    )
    # Listing between objects that do not exist is an empty list, not a 404.
    assert api.get(between("mgmt-no-such-exchange", queue)).json() == []
    # So is a listing in a vhost that does not exist; adding there is refused.
    assert api.get(between(exchange, queue, vhost="no-such-vhost-mgmt")).json() == []
    reply = api.post(between(exchange, queue, vhost="no-such-vhost-mgmt"), json={})
    assert (reply.status_code, reply.json()) == (
        404,
        {"error": "not_found", "reason": "vhost_not_found"},
    )


def test_binding_to_another_connections_exclusive_queue_is_refused(
    api: Api, names: Names, amqp: Clients
) -> None:
    queue = names.queue()
    channel = amqp.channel()
    channel.queue_declare(queue, exclusive=True)
    reply = api.post(between("amq.direct", queue), json={"routing_key": "k"})
    assert reply.status_code == 400
    assert reply.json()["reason"] == (
        f"cannot obtain exclusive access to locked queue '{queue}' in vhost '/'. It could be "
        "originally declared on another connection or the exclusive property value does not "
        "match that of the original declaration."
    )


def test_default_bindings_lead_the_vhosts_list(api: Api, names: Names, amqp: Clients) -> None:
    exchange, queue = names.exchange(), names.queue()
    channel = declare(amqp, exchange, queue)
    channel.queue_bind(queue, exchange, "b")
    channel.queue_bind(queue, exchange, "a", arguments={"x": 1})
    listed = api.get("bindings/%2F").json()
    ours = [
        (b["source"], b["routing_key"])
        for b in listed
        if b["destination"] == queue and b["vhost"] == "/"
    ]
    assert ours == [("", queue), (exchange, "a"), (exchange, "b")]
    everywhere = api.get("bindings").json()
    assert [b for b in everywhere if b["destination"] == queue] == [
        b for b in listed if b["destination"] == queue
    ]
