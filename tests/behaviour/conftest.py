"""Fixtures for the behavioural tests (real clients over real sockets)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pika.exceptions
import pytest

from .access_admin import access_backend, admin
from .helpers import RawClient

__all__ = ["access_backend", "admin"]  # fixtures for the access tests


class Cleanup:
    """Queues and exchanges a test created on a possibly shared broker, deleted at teardown."""

    def __init__(self) -> None:
        self.queues: list[str] = []
        self.exchanges: list[str] = []

    def queue(self, name: str) -> str:
        self.queues.append(name)
        return name

    def exchange(self, name: str) -> str:
        self.exchanges.append(name)
        return name


@pytest.fixture
def cleanup(connect: Callable[..., Any]) -> Iterator[Cleanup]:
    """Register names with ``cleanup.queue(name)`` / ``cleanup.exchange(name)``."""
    registry = Cleanup()
    yield registry
    if not registry.queues and not registry.exchanges:
        return
    conn = connect()
    try:
        for kind, names in (("queue", registry.queues), ("exchange", registry.exchanges)):
            for name in names:
                ch = conn.channel()
                try:
                    if kind == "queue":
                        ch.queue_delete(name)
                    else:
                        ch.exchange_delete(name)
                    ch.close()
                except pika.exceptions.ChannelClosedByBroker:
                    pass  # e.g. another connection's exclusive queue: it goes with it
    finally:
        if conn.is_open:
            conn.close()


@pytest.fixture
def raw_client(broker_host: str, broker_port: int) -> Iterator[Callable[..., RawClient]]:
    """Factory of raw-socket AMQP clients (see helpers.RawClient), closed at teardown."""
    clients: list[RawClient] = []

    def make(timeout: float = 10.0) -> RawClient:
        client = RawClient(broker_host, broker_port, timeout=timeout)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
