"""pytest plugin: a real Leveret broker in the test process, and a fresh vhost per test.

Fixtures:

``amqp_broker`` (session)
    A :class:`leveret.Broker` on a free port of 127.0.0.1, running in a background thread,
    in memory. Started the first time a test asks for it, stopped at the end of the session.
``amqp_vhost`` (function)
    The name of a new, empty vhost that guest may open, deleted at teardown (connections
    still open on it are closed with 320 CONNECTION_FORCED). Tests cannot see each other's
    queues and exchanges.
``amqp_url`` (function)
    ``amqp://guest:guest@127.0.0.1:PORT/<amqp_vhost, URL-quoted>``, for any client.
``async_amqp_broker`` (function)
    ``amqp_broker.aio``: the broker's helpers as coroutines, for ``async def`` tests, so
    waiting never blocks the test's event loop.

To change how the session broker runs (for instance to give it a data directory), override
``amqp_broker`` in a conftest.py.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from leveret.embedded import AsyncBrokerControl, Broker

# Per-test vhost names: "test-" + the test's name (shortened) + random suffix.
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def vhost_name_for(test_name: str) -> str:
    return f"test-{_UNSAFE.sub('_', test_name)[:60]}-{secrets.token_hex(4)}"


@pytest.fixture(scope="session")
def amqp_broker() -> Iterator[Broker]:
    """A Leveret broker for the whole session, in its own thread, in memory."""
    # Imported here so that merely having Leveret installed costs pytest nothing.
    from leveret.embedded import Broker

    broker = Broker()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def amqp_vhost(amqp_broker: Broker, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty vhost for this test (guest may open it); deleted at teardown."""
    name = amqp_broker.add_vhost(vhost_name_for(request.node.name))
    try:
        yield name
    finally:
        if amqp_broker.running:
            with contextlib.suppress(LookupError):  # the test deleted it itself
                amqp_broker.delete_vhost(name, reason="test finished")


@pytest.fixture
def amqp_url(amqp_broker: Broker, amqp_vhost: str) -> str:
    """AMQP URL of this test's own vhost on the session broker."""
    return amqp_broker.url_for(amqp_vhost)


@pytest.fixture
def async_amqp_broker(amqp_broker: Broker) -> AsyncBrokerControl:
    """The session broker's helpers as coroutines (``await async_amqp_broker.peek(...)``)."""
    return amqp_broker.aio
