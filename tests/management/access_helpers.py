"""Helpers for tests that create vhosts and users through the management API itself.

Names are unique per test, so tests never collide with each other or with other suites
sharing the same RabbitMQ; ``Made.close`` deletes everything it made.
"""

from __future__ import annotations

import time
import urllib.parse
import uuid
from collections.abc import Callable
from typing import TypeVar

import pika

from .conftest import Api, quote

T = TypeVar("T")
PASSWORD = "pw-for-tests"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_for(probe: Callable[[], T | None], timeout: float = 20.0, interval: float = 0.25) -> T:
    """Poll until ``probe`` returns something (not None); RabbitMQ's figures lag by its
    5 s statistics interval, so every wait on figures has a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {timeout}s")
        time.sleep(interval)


class Made:
    """Vhosts and users created for one test, deleted at its end."""

    def __init__(self, api: Api):
        self.api = api
        self.vhosts: list[str] = []
        self.users: list[str] = []

    def vhost(self, prefix: str = "t-vhost", **body: object) -> str:
        name = unique(prefix)
        reply = self.api.put(f"vhosts/{quote(name)}", json=body)
        assert reply.status_code == 201, reply.text
        self.vhosts.append(name)
        return name

    def user(self, tags: str | list[str] = "", prefix: str = "t-user") -> str:
        name = unique(prefix)
        reply = self.api.put(f"users/{quote(name)}", json={"password": PASSWORD, "tags": tags})
        assert reply.status_code == 201, reply.text
        self.users.append(name)
        return name

    def grant(self, user: str, vhost: str, pattern: str = ".*") -> None:
        reply = self.api.put(
            f"permissions/{quote(vhost)}/{quote(user)}",
            json={"configure": pattern, "write": pattern, "read": pattern},
        )
        assert reply.status_code in (201, 204), reply.text

    def close(self) -> None:
        for name in self.vhosts:
            self.api.delete(f"vhosts/{quote(name)}")
        for name in self.users:
            self.api.delete(f"users/{quote(name)}")


def amqp_parameters(broker_url: str, vhost: str) -> pika.URLParameters:
    """The broker under test's AMQP address, on another vhost."""
    parts = urllib.parse.urlsplit(broker_url)
    return pika.URLParameters(urllib.parse.urlunsplit(parts._replace(path="/" + quote(vhost))))


def publish(broker_url: str, vhost: str, queue: str, bodies: list[bytes]) -> None:
    """Declare ``queue`` (classic, durable) in ``vhost`` and publish ``bodies`` to it with
    confirms, so every message is enqueued when this returns."""
    connection = pika.BlockingConnection(amqp_parameters(broker_url, vhost))
    try:
        channel = connection.channel()
        channel.queue_declare(queue, durable=True)
        channel.confirm_delivery()
        for body in bodies:
            channel.basic_publish("", queue, body)
    finally:
        connection.close()
