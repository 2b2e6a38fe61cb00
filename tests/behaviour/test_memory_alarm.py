"""The memory alarm: raised by a backlog, cleared by draining it, on a private broker.

CPython does not give freed memory back to the OS, so an alarm judged by the process's
RSS alone stays raised after the backlog is gone and blocks publishers until a restart.
These tests start their own broker with a small ``--memory-high-watermark`` (in bytes).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from typing import Any

import pika
import pika.exceptions
import pytest

pytestmark = pytest.mark.leveret_only

WATERMARK = 100 * 1000 * 1000
BODY = b"x" * 16_384  # small enough that the heap keeps the memory after a drain
QUEUE = "memory-alarm"


class BlockWatch:
    """Records connection.blocked / connection.unblocked as pika reports them."""

    def __init__(self, connection: pika.BlockingConnection) -> None:
        self.blocked = False
        self.unblocked = False
        connection.add_on_connection_blocked_callback(self._on_blocked)
        connection.add_on_connection_unblocked_callback(self._on_unblocked)

    def _on_blocked(self, _connection: object, _frame: object) -> None:
        self.blocked = True

    def _on_unblocked(self, _connection: object, _frame: object) -> None:
        self.unblocked = True


def _params(url: str) -> pika.URLParameters:
    params = pika.URLParameters(url)
    params.connection_attempts = 1
    params.socket_timeout = 10
    # Generous: on a loaded machine the drain below can take a while, and pika drops a
    # connection that stays blocked longer than this.
    params.blocked_connection_timeout = 300
    return params


def _drain(url: str, queue: str, deadline: float) -> int:
    """Consume (auto-ack) until the queue is empty; returns how many arrived."""
    connection = pika.BlockingConnection(_params(url))
    try:
        channel = connection.channel()
        received = 0
        # A consumer rather than basic.get: one round trip per message is slow under load.
        for method, _, _ in channel.consume(queue, auto_ack=True, inactivity_timeout=0.5):
            if method is not None:
                received += 1
            elif channel.queue_declare(queue, passive=True).method.message_count == 0:
                channel.cancel()
                return received
            if time.monotonic() > deadline:
                break
        pytest.fail(f"queue not drained in time ({received} received)")
    finally:
        connection.close()


def test_memory_alarm_clears_after_the_backlog_is_drained(
    leveret_process: Callable[..., Any],
) -> None:
    broker = leveret_process("--memory-high-watermark", str(WATERMARK), "--log-level", "info")
    url: str = broker.url
    publisher = pika.BlockingConnection(_params(url))
    try:
        watch = BlockWatch(publisher)
        channel = publisher.channel()
        channel.queue_declare(QUEUE)
        deadline = time.monotonic() + 60
        published = 0
        while not watch.blocked:
            assert time.monotonic() < deadline, f"no alarm after {published} messages"
            for _ in range(64):
                channel.basic_publish("", QUEUE, BODY)
            published += 64
            publisher.process_data_events(0)
        # Raised near the watermark (the check runs every second; publishing goes on
        # until then), not at some multiple of it.
        assert published * len(BODY) < 3 * WATERMARK

        _drain(url, QUEUE, time.monotonic() + 120)

        deadline = time.monotonic() + 15
        while not watch.unblocked and time.monotonic() < deadline:
            publisher.process_data_events(0.2)
        assert watch.unblocked, "the memory alarm stayed raised after the queue was drained"

        # The publisher is read again: what it sent while paused arrives, and so does more.
        channel.confirm_delivery()
        channel.basic_publish("", QUEUE, b"after the alarm")
    finally:
        if publisher.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError):  # the test failed already
                publisher.close()
    stderr: str = broker.stderr()
    raised = re.search(
        r"memory alarm raised: accounted \d+ MB, rss \d+ MB, watermark 100 MB", stderr
    )
    assert raised, stderr
    assert re.search(r"memory alarm cleared: accounted \d+ MB, rss \d+ MB", stderr), stderr
