"""Other real clients: kombu, py-amqp, aio-pika and pika's SelectConnection."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aio_pika
import aio_pika.exceptions
import aiormq.exceptions
import amqp
import kombu
import pytest

from .helpers import no_queue, run_select_connection, wait_for

# ----------------------------------------------------------------------------- kombu


@pytest.fixture
def kombu_connection(broker_host: str, broker_port: int) -> Iterator[kombu.Connection]:
    conn = kombu.Connection(
        hostname=broker_host,
        port=broker_port,
        userid="guest",
        password="guest",
        virtual_host="/",
        transport="pyamqp",
        connect_timeout=10,
    )
    conn.connect()
    yield conn
    conn.release()


def test_kombu_producer_consumer_round_trip(kombu_connection, unique_name, cleanup):
    exchange = kombu.Exchange(cleanup.exchange(unique_name("kombu-ex")), type="direct")
    queue = kombu.Queue(cleanup.queue(unique_name("kombu-q")), exchange, routing_key="tasks")
    producer = kombu.Producer(kombu_connection.channel(), exchange=exchange)
    producer.publish(
        {"task": "add", "args": [2, 3]},
        routing_key="tasks",
        serializer="json",
        declare=[queue],
        headers={"origin": "test"},
        priority=3,
    )
    received: list[tuple[Any, Any]] = []

    def on_message(body: Any, message: Any) -> None:
        received.append((body, message))
        message.ack()

    with kombu.Consumer(
        kombu_connection.channel(), queues=[queue], callbacks=[on_message], accept=["json"]
    ):
        kombu_connection.drain_events(timeout=10)
    body, message = received[0]
    assert body == {"task": "add", "args": [2, 3]}
    assert message.content_type == "application/json"
    assert message.headers == {"origin": "test"}
    assert message.properties["priority"] == 3
    assert message.delivery_info["routing_key"] == "tasks"
    assert message.delivery_info["exchange"] == exchange.name


def test_kombu_requeue_redelivers(kombu_connection, unique_name, cleanup):
    queue = kombu.Queue(cleanup.queue(unique_name("kombu-q")))
    producer = kombu.Producer(kombu_connection.channel())
    producer.publish("again", routing_key=queue.name, declare=[queue], serializer="raw")
    seen: list[bool] = []

    def on_message(body: Any, message: Any) -> None:
        seen.append(message.delivery_info["redelivered"])
        if len(seen) == 1:
            message.requeue()
        else:
            message.ack()

    with kombu.Consumer(kombu_connection.channel(), queues=[queue], callbacks=[on_message]):
        while len(seen) < 2:
            kombu_connection.drain_events(timeout=10)
    assert seen == [False, True]


def test_kombu_simple_queue(kombu_connection, unique_name, cleanup):
    name = cleanup.queue(unique_name("simple"))
    with kombu_connection.SimpleQueue(name) as simple:
        simple.put({"n": 1})
        simple.put({"n": 2})
        first = simple.get(block=True, timeout=10)
        second = simple.get(block=True, timeout=10)
        assert [first.payload, second.payload] == [{"n": 1}, {"n": 2}]
        first.ack()
        second.ack()
        assert simple.qsize() == 0


# -------------------------------------------------------------------------- py-amqp


@pytest.fixture
def amqp_connection(broker_host: str, broker_port: int) -> Iterator[amqp.Connection]:
    conn = amqp.Connection(f"{broker_host}:{broker_port}", userid="guest", password="guest")
    conn.connect()
    yield conn
    if conn.connected:
        conn.close()
    else:
        conn.collect()


def test_py_amqp_basic_get_and_ack(amqp_connection):
    ch = amqp_connection.channel()
    q, _, _ = ch.queue_declare(exclusive=True)
    msg = amqp.Message(
        b"payload",
        content_type="text/plain",
        application_headers={"k": "v", "n": 7},
        message_id="id-1",
    )
    ch.basic_publish(msg, exchange="", routing_key=q)
    got = wait_for(lambda: ch.basic_get(q), message="basic.get-ok")
    assert got.body == b"payload"
    assert got.properties["content_type"] == "text/plain"
    assert got.properties["application_headers"] == {"k": "v", "n": 7}
    assert got.properties["message_id"] == "id-1"
    assert got.delivery_info["routing_key"] == q
    assert got.delivery_info["redelivered"] is False
    ch.basic_ack(got.delivery_tag)
    assert ch.basic_get(q) is None


def test_py_amqp_consume_with_drain_events(amqp_connection):
    ch = amqp_connection.channel()
    q, _, _ = ch.queue_declare(exclusive=True)
    received: list[bytes] = []
    tag = ch.basic_consume(q, callback=lambda m: received.append(m.body), no_ack=True)
    for i in range(3):
        ch.basic_publish(amqp.Message(str(i).encode()), routing_key=q)
    while len(received) < 3:
        amqp_connection.drain_events(timeout=10)
    assert received == [b"0", b"1", b"2"]
    ch.basic_cancel(tag)


def test_py_amqp_publisher_confirms(broker_host, broker_port):
    conn = amqp.Connection(f"{broker_host}:{broker_port}", confirm_publish=True)
    conn.connect()
    try:
        ch = conn.channel()
        q, _, _ = ch.queue_declare(exclusive=True)
        for i in range(10):
            ch.basic_publish(amqp.Message(str(i).encode()), routing_key=q)
        _, count, _ = ch.queue_declare(q, passive=True)
        assert count == 10
    finally:
        conn.close()


def test_py_amqp_channel_error_keeps_connection(amqp_connection, unique_name):
    ch = amqp_connection.channel()
    missing = unique_name("missing")
    with pytest.raises(amqp.exceptions.NotFound) as info:
        ch.queue_declare(missing, passive=True)
    assert info.value.reply_code == 404
    assert info.value.reply_text == no_queue(missing)
    assert (info.value.method_name or "").lower().startswith("queue.declare")
    other = amqp_connection.channel()
    name, _, _ = other.queue_declare(exclusive=True)
    assert name.startswith("amq.gen-")


# ------------------------------------------------------------------------- aio-pika


async def test_aio_pika_publish_and_consume(broker_url):
    connection = await aio_pika.connect(broker_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        for i in range(3):
            confirmation = await channel.default_exchange.publish(
                aio_pika.Message(str(i).encode(), headers={"i": i}), routing_key=queue.name
            )
            assert confirmation is not None
        bodies = []
        async with queue.iterator() as messages:
            async for message in messages:
                async with message.process():
                    bodies.append((message.body, message.headers["i"]))
                if len(bodies) == 3:
                    break
        assert bodies == [(b"0", 0), (b"1", 1), (b"2", 2)]


async def test_aio_pika_topic_exchange(broker_url, unique_name):
    connection = await aio_pika.connect(broker_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            unique_name("aio-topic"), aio_pika.ExchangeType.TOPIC, auto_delete=True
        )
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, routing_key="*.error")
        await exchange.publish(aio_pika.Message(b"e"), routing_key="disk.error")
        await exchange.publish(aio_pika.Message(b"i"), routing_key="disk.info")
        message = await _get(queue)
        assert message.body == b"e"
        assert message.routing_key == "disk.error"
        await message.ack()
        await queue.unbind(exchange, routing_key="*.error")


async def _get(queue: Any, timeout: float = 10.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        message = await queue.get(fail=False)
        if message is not None:
            return message
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail("no message")
        await asyncio.sleep(0.01)


async def test_aio_pika_mandatory_unroutable_raises(broker_url, unique_name):
    connection = await aio_pika.connect(broker_url, timeout=10)
    async with connection:
        channel = await connection.channel(on_return_raises=True)
        with pytest.raises(aio_pika.exceptions.DeliveryError) as info:
            await channel.default_exchange.publish(
                aio_pika.Message(b"bounce"), routing_key=unique_name("nowhere"), mandatory=True
            )
        assert info.value.frame.reply_code == 312
        assert info.value.frame.reply_text == "NO_ROUTE"


async def test_aio_pika_passive_declare_missing_queue(broker_url, unique_name):
    connection = await aio_pika.connect(broker_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        missing = unique_name("missing")
        with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity) as info:
            await channel.declare_queue(missing, passive=True)
        assert info.value.args[0] == no_queue(missing)
        other = await connection.channel()
        queue = await other.declare_queue(exclusive=True)
        assert queue.name.startswith("amq.gen-")


async def test_aio_pika_rpc_round_trip(broker_url, unique_name, cleanup):
    connection = await aio_pika.connect(broker_url, timeout=10)
    async with connection:
        server_channel = await connection.channel()
        server_queue = await server_channel.declare_queue(
            cleanup.queue(unique_name("aio-rpc")), auto_delete=True
        )

        async def serve(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                reply = str(int(message.body) * 2).encode()
                await server_channel.default_exchange.publish(
                    aio_pika.Message(reply, correlation_id=message.correlation_id),
                    routing_key=message.reply_to,
                )

        await server_queue.consume(serve)
        client_channel = await connection.channel()
        callback_queue = await client_channel.declare_queue(exclusive=True)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

        async def on_reply(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            if message.correlation_id == "c-1":
                future.set_result(message.body)
            await message.ack()

        await callback_queue.consume(on_reply)
        await client_channel.default_exchange.publish(
            aio_pika.Message(b"21", reply_to=callback_queue.name, correlation_id="c-1"),
            routing_key=server_queue.name,
        )
        assert await asyncio.wait_for(future, 10) == b"42"


# ------------------------------------------------------------- pika SelectConnection


def test_select_connection_hello_world(pika_params):
    received: list[bytes] = []

    def scenario(connection: Any, channel: Any, done: Any) -> None:
        def on_message(ch: Any, method: Any, props: Any, body: bytes) -> None:
            received.append(body)
            ch.basic_ack(method.delivery_tag)
            done()

        def on_declared(frame: Any) -> None:
            q = frame.method.queue
            channel.basic_consume(q, on_message)
            channel.basic_publish("", q, b"Hello World!")

        channel.queue_declare("", exclusive=True, callback=on_declared)

    run_select_connection(pika_params(), scenario)
    assert received == [b"Hello World!"]


def test_select_connection_consumer_cancel_notification(pika_params, unique_name, cleanup):
    cancelled: list[str] = []
    name = cleanup.queue(unique_name("cancel"))

    def scenario(connection: Any, channel: Any, done: Any) -> None:
        tags: list[str] = []

        def on_cancel(frame: Any) -> None:
            cancelled.append(frame.method.consumer_tag)
            assert frame.method.consumer_tag == tags[0]
            done()

        def on_consume_ok(frame: Any) -> None:
            channel.queue_delete(name)

        def on_declared(frame: Any) -> None:
            channel.add_on_cancel_callback(on_cancel)
            tags.append(channel.basic_consume(name, lambda *args: None, callback=on_consume_ok))

        channel.queue_declare(name, callback=on_declared)

    run_select_connection(pika_params(), scenario)
    assert len(cancelled) == 1


def test_select_connection_channel_close_reason(pika_params, unique_name):
    reasons: list[Any] = []
    missing = unique_name("missing")

    def scenario(connection: Any, channel: Any, done: Any) -> None:
        def on_closed(ch: Any, reason: Any) -> None:
            reasons.append((reason.reply_code, reason.reply_text))
            done()

        channel.add_on_close_callback(on_closed)
        channel.queue_declare(missing, passive=True, callback=lambda frame: None)

    run_select_connection(pika_params(), scenario)
    assert reasons == [(404, no_queue(missing))]
