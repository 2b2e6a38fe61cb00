"""POST /api/queues/{vhost}/{name}/move: Leveret's own endpoint behind the UI's "move
messages" (RabbitMQ does it with a shovel), driven by pika clients on real sockets."""

from __future__ import annotations

import pika
import pytest

from .amqp_clients import BrokerCtl, Clients, Names, wait_for
from .conftest import Api, quote

pytestmark = pytest.mark.leveret_only


def move_path(queue: str, vhost: str = "/") -> str:
    return f"queues/{quote(vhost)}/{quote(queue)}/move"


def declare(api: Api, queue: str, **body: object) -> None:
    reply = api.put(f"queues/%2F/{quote(queue)}", json=body)
    assert reply.status_code in (201, 204), reply.text


def depth(clients: Clients, queue: str) -> int:
    channel = clients.connect().channel()
    count: int = channel.queue_declare(queue, passive=True).method.message_count
    channel.close()
    return count


def drain(clients: Clients, queue: str) -> list[tuple[bytes, pika.BasicProperties]]:
    channel = clients.connect().channel()
    got = []
    while True:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return got
        got.append((body, properties))


def test_move_takes_ready_messages_in_order_with_their_properties(
    api: Api, names: Names, amqp: Clients
) -> None:
    source, destination = names.queue(), names.queue()
    declare(api, source)
    declare(api, destination)
    channel = amqp.channel()
    for n in range(5):
        properties = pika.BasicProperties(
            content_type="text/plain", headers={"n": n}, message_id=f"m{n}"
        )
        channel.basic_publish("", source, f"body {n}".encode(), properties)

    reply = api.post(move_path(source), json={"destination": destination})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"moved": 5}

    assert depth(amqp, source) == 0
    got = drain(amqp, destination)
    assert [body for body, _ in got] == [f"body {n}".encode() for n in range(5)]
    assert [p.headers for _, p in got] == [{"n": n} for n in range(5)]
    assert {p.content_type for _, p in got} == {"text/plain"}
    assert [p.message_id for _, p in got] == [f"m{n}" for n in range(5)]


def test_unacknowledged_messages_stay_with_their_consumer(
    api: Api, names: Names, amqp: Clients
) -> None:
    source, destination = names.queue(), names.queue()
    declare(api, source)
    declare(api, destination)
    publisher = amqp.channel()
    for n in range(4):
        publisher.basic_publish("", source, b"m%d" % n)
    consumer = amqp.connect().channel()
    consumer.basic_qos(prefetch_count=1)
    held = consumer.basic_get(source, auto_ack=False)[0]
    assert held is not None

    assert api.post(move_path(source), json={"destination": destination}).json() == {"moved": 3}
    assert depth(amqp, destination) == 3
    consumer.basic_reject(held.delivery_tag, requeue=True)
    assert wait_for(lambda: depth(amqp, source) == 1, "the rejected message back in the source")


def test_persistent_messages_leave_the_durable_source_once_stored(
    api: Api, names: Names, amqp: Clients
) -> None:
    source, destination = names.queue(), names.queue()
    declare(api, source, durable=True)
    declare(api, destination, durable=True)
    channel = amqp.channel()
    for n in range(20):
        channel.basic_publish("", source, b"p%d" % n, pika.BasicProperties(delivery_mode=2))

    assert api.post(move_path(source), json={"destination": destination}).json() == {"moved": 20}
    # Acked in the source as the destination's copies reach the disk.
    wait_for(
        lambda: api.get(f"queues/%2F/{quote(source)}").json()["messages"] == 0,
        "the source to settle every moved message",
    )
    assert [body for body, _ in drain(amqp, destination)] == [b"p%d" % n for n in range(20)]


def test_a_destination_that_refuses_keeps_the_rest_in_the_source(
    api: Api, names: Names, amqp: Clients
) -> None:
    source, destination = names.queue(), names.queue()
    declare(api, source)
    declare(api, destination, arguments={"x-max-length": 2, "x-overflow": "reject-publish"})
    channel = amqp.channel()
    for n in range(5):
        channel.basic_publish("", source, b"r%d" % n)

    assert api.post(move_path(source), json={"destination": destination}).json() == {"moved": 2}
    assert [body for body, _ in drain(amqp, destination)] == [b"r0", b"r1"]
    # The refused one went back to the head, marked redelivered; order is kept.
    assert [body for body, _ in drain(amqp, source)] == [b"r2", b"r3", b"r4"]


def test_bad_moves_are_refused_with_json_reasons(api: Api, names: Names) -> None:
    source = names.queue()
    declare(api, source)
    reply = api.post(move_path(source), json={"destination": "no-such-queue-here"})
    assert reply.status_code == 404
    assert reply.json()["reason"] == "no queue 'no-such-queue-here' in vhost '/'"
    reply = api.post(move_path("no-such-source-here"), json={"destination": source})
    assert reply.status_code == 404
    reply = api.post(move_path(source), json={"destination": source})
    assert reply.status_code == 400
    assert reply.json()["reason"] == "cannot move messages to the same queue"
    reply = api.post(move_path(source), json={})
    assert reply.status_code == 400
    assert reply.json()["reason"] == "[{key_missing,destination}]"
    reply = api.post(move_path(source), json={"destination": 5})
    assert reply.status_code == 400
    reply = api.post(move_path(source), data="{nope")
    assert (reply.status_code, reply.json()["reason"]) == (400, "not_json")
    reply = api.post(move_path(source, "no-such-vhost"), json={"destination": source})
    assert reply.status_code == 401


def test_the_caller_needs_read_on_the_source(
    api: Api, api_as: object, names: Names, broker_ctl: BrokerCtl, amqp: Clients
) -> None:
    source, destination = names.queue(), names.queue()
    declare(api, source)
    declare(api, destination)
    amqp.channel().basic_publish("", source, b"x")
    user, password = broker_ctl.user("management")
    broker_ctl("set_permissions", "-p", "/", user, ".*", ".*", "^$")
    as_user = api_as(user, password)  # type: ignore[operator]
    reply = as_user.post(move_path(source), json={"destination": destination})
    assert reply.status_code == 401
    assert depth(amqp, source) == 1
    broker_ctl("set_permissions", "-p", "/", user, ".*", ".*", ".*")
    reply = as_user.post(move_path(source), json={"destination": destination})
    assert reply.json() == {"moved": 1}
