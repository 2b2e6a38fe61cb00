"""The helpers from async tests with aio-pika: ``async_amqp_broker`` on the session broker."""

from __future__ import annotations

import asyncio
import logging

import aio_pika
import pytest

from leveret.embedded import AsyncBrokerControl


async def test_peek_and_depths_with_aio_pika(
    async_amqp_broker: AsyncBrokerControl, amqp_url: str, amqp_vhost: str
) -> None:
    async with await aio_pika.connect(amqp_url) as conn:
        ch = await conn.channel()
        queue = await ch.declare_queue("events")
        for i in range(3):
            await ch.default_exchange.publish(
                aio_pika.Message(f"e{i}".encode(), headers={"i": i}), routing_key="events"
            )
        assert await async_amqp_broker.message_count("events", amqp_vhost) == 3
        peeked = await async_amqp_broker.peek("events", amqp_vhost)
        assert [m.body for m in peeked] == [b"e0", b"e1", b"e2"]
        assert peeked[2].headers == {"i": 2}
        (info,) = await async_amqp_broker.queues(amqp_vhost)
        assert (info.name, info.messages_ready) == ("events", 3)
        got = await queue.get()
        assert got.body == b"e0"
        await got.ack()


async def test_wait_for_ack_does_not_block_the_test_loop(
    async_amqp_broker: AsyncBrokerControl, amqp_url: str, amqp_vhost: str
) -> None:
    """The consumer runs on the test's own loop while the test awaits the broker."""
    async with await aio_pika.connect(amqp_url) as conn:
        ch = await conn.channel()
        queue = await ch.declare_queue("tasks")
        handled: list[bytes] = []

        async def handle(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            await asyncio.sleep(0.01)
            handled.append(message.body)
            await message.ack()

        await queue.consume(handle)
        for i in range(5):
            await ch.default_exchange.publish(aio_pika.Message(b"t%d" % i), routing_key="tasks")
        await async_amqp_broker.wait_for_ack("tasks", amqp_vhost, body=b"t4", timeout=5)
        await async_amqp_broker.wait_until_empty(
            "tasks", amqp_vhost, include_unacked=True, timeout=5
        )
        assert sorted(handled) == [b"t0", b"t1", b"t2", b"t3", b"t4"]

        with pytest.raises(TimeoutError):
            await ch.declare_queue("idle")
            await ch.default_exchange.publish(aio_pika.Message(b"z"), routing_key="idle")
            await async_amqp_broker.wait_until_empty("idle", amqp_vhost, timeout=0.05)


async def test_robust_connection_reconnects_after_broker_side_close(
    async_amqp_broker: AsyncBrokerControl, amqp_url: str, amqp_vhost: str
) -> None:
    conn = await aio_pika.connect_robust(amqp_url, reconnect_interval=0.05)
    try:
        reconnected = asyncio.Event()
        conn.reconnect_callbacks.add(lambda *args: reconnected.set())
        ch = await conn.channel()
        await ch.declare_queue("durable-work", durable=True)

        assert await async_amqp_broker.close_connections(amqp_vhost, reason="failover") == 1
        await asyncio.wait_for(reconnected.wait(), 5)
        assert len(await async_amqp_broker.connections(amqp_vhost)) == 1
        # The robust channel works again after the reconnect.
        await ch.default_exchange.publish(aio_pika.Message(b"again"), routing_key="durable-work")
        assert [m.body for m in await async_amqp_broker.peek("durable-work", amqp_vhost)] == [
            b"again"
        ]
    finally:
        await conn.close()


async def test_memory_alarm_from_async_code(
    async_amqp_broker: AsyncBrokerControl,
    amqp_url: str,
    amqp_vhost: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def logged(text: str) -> None:
        for _ in range(250):
            if any(text in r.getMessage() for r in caplog.records):
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"aiormq never logged {text!r}")

    caplog.set_level(logging.WARNING, logger="aiormq")
    async with await aio_pika.connect(amqp_url) as conn:
        ch = await conn.channel()
        await ch.declare_queue("q")
        await async_amqp_broker.set_memory_alarm(True)
        try:
            # As in RabbitMQ, the broker blocks a connection (stops reading it, and tells
            # it) when it publishes, so the confirms do not all arrive until the alarm
            # clears.
            publishes = []
            for _ in range(2):  # apart, so that they do not arrive in one read
                publishes.append(
                    asyncio.ensure_future(
                        ch.default_exchange.publish(aio_pika.Message(b"held"), routing_key="q")
                    )
                )
                await asyncio.sleep(0.1)
            await logged("was blocked by: 'low on memory'")
            assert not all(p.done() for p in publishes)
            assert await async_amqp_broker.message_count("q", amqp_vhost) < 2
        finally:
            await async_amqp_broker.set_memory_alarm(False)
        await logged("was unblocked")
        await asyncio.wait_for(asyncio.gather(*publishes), 5)
        assert await async_amqp_broker.message_count("q", amqp_vhost) == 2


async def test_memory_usage_from_async_code(
    async_amqp_broker: AsyncBrokerControl, amqp_url: str, amqp_vhost: str
) -> None:
    before = await async_amqp_broker.memory_usage()
    async with await aio_pika.connect(amqp_url) as conn:
        ch = await conn.channel(publisher_confirms=True)  # each publish awaits its confirm
        await ch.declare_queue("big")
        for _ in range(20):
            await ch.default_exchange.publish(aio_pika.Message(b"b" * 50_000), routing_key="big")
        usage = await async_amqp_broker.memory_usage()
    assert 20 * 50_000 <= usage.queues - before.queues < 20 * (50_000 + 1000)
    assert usage.accounted == usage.baseline + usage.held
