"""Node.memory_usage: what the memory alarm counts, read from a running embedded broker."""

from __future__ import annotations

import asyncio

import pika

import leveret
from leveret.server.monitor import MemoryUsage, memory_limit

BODY = b"m" * 20_000


def _usage(broker: leveret.Broker) -> MemoryUsage:
    async def measure() -> MemoryUsage:
        return broker.node.memory_usage()

    return asyncio.run_coroutine_threadsafe(measure(), broker.loop).result(10)


def test_memory_usage_counts_ready_and_unacked_messages() -> None:
    with leveret.Broker() as broker:
        before = _usage(broker)
        connection = pika.BlockingConnection(pika.URLParameters(broker.url))
        try:
            channel = connection.channel()
            channel.queue_declare("accounted")
            for _ in range(500):
                channel.basic_publish("", "accounted", BODY)
            channel.queue_declare("accounted", passive=True)  # a round trip: all arrived
            queued = _usage(broker)

            channel.basic_qos(prefetch_count=100)
            received: list[bytes] = []
            channel.basic_consume("accounted", lambda _ch, _m, _p, body: received.append(body))
            while len(received) < 100:
                connection.process_data_events(0.1)
            delivered = _usage(broker)
        finally:
            connection.close()

    assert before.queues == before.unacked == 0
    assert before.watermark == memory_limit(0.4)  # the default, a share of RAM
    assert before.baseline > 0 and before.rss > 0
    assert 500 * len(BODY) <= queued.queues < 500 * (len(BODY) + 1000)
    assert queued.accounted == queued.baseline + queued.held
    assert 400 * len(BODY) <= delivered.queues < 400 * (len(BODY) + 1000)
    assert 100 * len(BODY) <= delivered.unacked < 100 * (len(BODY) + 1000)
