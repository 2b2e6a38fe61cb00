"""``leveret.Broker``: start, stop, addresses and storage, in a thread and on a running loop."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from pathlib import Path

import aio_pika
import pika
import pika.exceptions
import pytest

import leveret
from leveret.embedded import Broker
from leveret.server.node import DataDirLocked


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def broker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("leveret-broker")]


def test_exported_from_the_package() -> None:
    assert leveret.Broker is Broker


def test_with_statement_runs_a_broker_in_a_thread() -> None:
    before = broker_threads()
    with Broker() as broker:
        assert broker.running
        assert broker.port > 0
        assert broker.url == f"amqp://guest:guest@127.0.0.1:{broker.port}/%2F"
        assert len(broker_threads()) == len(before) + 1
        conn = pika.BlockingConnection(pika.URLParameters(broker.url))
        ch = conn.channel()
        ch.queue_declare("hello")
        ch.basic_publish("", "hello", b"world")
        assert broker.message_count("hello") == 1
        assert [q.name for q in broker.queues()] == ["hello"]
    assert not broker.running
    assert broker_threads() == before
    # Stopping told the client, as RabbitMQ does on shutdown.
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as info:
        conn.process_data_events(time_limit=1)
    assert info.value.reply_code == 320
    with pytest.raises(RuntimeError, match="not running"):
        broker.queues()


def test_given_port_and_startup_errors_reach_the_caller() -> None:
    port = free_port()
    with Broker(port=port) as broker:
        assert broker.port == port
        before = broker_threads()
        with pytest.raises(OSError):
            Broker(port=port).start()
        assert broker_threads() == before  # the failed broker's thread is gone


def test_stop_is_idempotent_and_the_broker_restarts() -> None:
    broker = Broker()
    broker.stop()  # never started: nothing to do
    broker.start()
    with pytest.raises(RuntimeError, match="already running"):
        broker.start()
    broker.stop()
    broker.stop()
    with broker:
        conn = pika.BlockingConnection(pika.URLParameters(broker.url))
        conn.close()


def test_memory_is_the_default_storage() -> None:
    with Broker() as broker:
        assert broker.node.config.data_dir is None


def test_data_dir_is_passed_to_the_node(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with Broker(data_dir=data_dir) as broker:
        assert broker.node.config.data_dir == data_dir
        assert (data_dir / "leveret.lock").exists()
        # The node locks its data directory; the error reaches the caller.
        with pytest.raises(DataDirLocked):
            Broker(data_dir=str(data_dir)).start()


def test_two_brokers_in_one_process_are_independent() -> None:
    with Broker() as one, Broker() as two:
        assert one.port != two.port
        conn = pika.BlockingConnection(pika.URLParameters(one.url))
        conn.channel().queue_declare("only-on-one")
        conn.close()
        assert [q.name for q in one.queues()] == ["only-on-one"]
        assert two.queues() == []


def test_quiet_keeps_info_logs_out(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("leveret")
    saved = logger.level
    logger.setLevel(logging.NOTSET)
    try:
        with caplog.at_level(logging.DEBUG), Broker():
            pass
        assert logger.level == logging.WARNING
        assert not [r for r in caplog.records if r.name.startswith("leveret")]
    finally:
        logger.setLevel(saved)


async def test_async_with_runs_on_the_callers_loop() -> None:
    before = broker_threads()
    async with Broker() as broker:
        assert broker.loop is asyncio.get_running_loop()
        assert broker_threads() == before  # no thread of its own
        async with await aio_pika.connect(broker.url) as conn:
            ch = await conn.channel()
            queue = await ch.declare_queue("jobs")
            await ch.default_exchange.publish(aio_pika.Message(b"job"), routing_key="jobs")
            # The awaitable helpers run directly on this loop.
            assert [m.body for m in await broker.aio.peek("jobs")] == [b"job"]
            # Instant sync helpers work here too; waiting ones would block the loop.
            assert broker.message_count("jobs") == 1
            with pytest.raises(RuntimeError, match=r"broker\.aio\.wait_until_empty"):
                broker.wait_until_empty("jobs")
            message = await queue.get()
            await message.ack()
            await broker.aio.wait_for_ack("jobs", timeout=1)
            with pytest.raises(RuntimeError, match="astop"):
                broker.stop()
    assert not broker.running


async def test_async_broker_serves_sync_clients_in_other_threads() -> None:
    async with Broker() as broker:

        def client() -> int:
            conn = pika.BlockingConnection(pika.URLParameters(broker.url))
            ch = conn.channel()
            ch.queue_declare("from-thread")
            ch.basic_publish("", "from-thread", b"x")
            # A sync helper from another thread hops onto the broker's loop.
            count = broker.message_count("from-thread")
            conn.close()
            return count

        assert await asyncio.to_thread(client) == 1


def test_thread_broker_rejects_astop() -> None:
    with Broker() as broker, pytest.raises(RuntimeError, match=r"use stop\(\)"):
        asyncio.run(broker.astop())


def test_deleting_a_vhost_deletes_its_durable_definitions(tmp_path: Path) -> None:
    with Broker(data_dir=tmp_path) as broker:
        scratch = broker.add_vhost("scratch")
        for vhost in ("/", scratch):
            conn = pika.BlockingConnection(pika.URLParameters(broker.url_for(vhost)))
            ch = conn.channel()
            ch.exchange_declare("events", "topic", durable=True)
            ch.queue_declare("kept", durable=True)
            ch.queue_bind("kept", "events", "#")
            conn.close()
        broker.delete_vhost(scratch)
        assert {q.vhost for q in broker.queues(None)} == {"/"}
    # After a restart only what was declared on "/" comes back.
    with Broker(data_dir=tmp_path) as broker:
        assert broker.vhosts() == ["/"]
        assert [(q.vhost, q.name) for q in broker.queues(None)] == [("/", "kept")]
