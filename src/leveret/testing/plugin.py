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

``amqp_broker_options`` (session)
    The keyword arguments ``amqp_broker`` passes to :class:`leveret.Broker`. Override it in
    a conftest.py to change how the session broker runs (a data directory, say); requesting
    it from the override keeps what the options below chose.

Options, each both on the command line and in the ini file (the command line wins), as
``leveret serve --compat`` and ``--max-message-size``:

``--leveret-compat`` / ``leveret_compat``
    ``rabbitmq-4`` (the default) or ``rabbitmq-3`` (docs/compatibility.md).
``--leveret-max-message-size`` / ``leveret_max_message_size``
    The largest message body in bytes (default: the profile's, 16 MiB or 128 MiB).

The broker is shared by the session, so these apply to every test; a test that needs the
other profile starts a ``leveret.Broker(compat=...)`` of its own.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from leveret.embedded import AsyncBrokerControl, Broker

# Per-test vhost names: "test-" + the test's name (shortened) + random suffix.
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def vhost_name_for(test_name: str) -> str:
    return f"test-{_UNSAFE.sub('_', test_name)[:60]}-{secrets.token_hex(4)}"


COMPAT = "leveret_compat"
MAX_MESSAGE_SIZE = "leveret_max_message_size"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("leveret", "Leveret AMQP broker (the amqp_broker fixture)")
    group.addoption(
        "--leveret-compat",
        dest=COMPAT,
        metavar="PROFILE",
        help="compatibility profile of the session broker: rabbitmq-4 (default) or "
        "rabbitmq-3, as `leveret serve --compat`.",
    )
    group.addoption(
        "--leveret-max-message-size",
        dest=MAX_MESSAGE_SIZE,
        metavar="BYTES",
        help="largest message body the session broker accepts, in bytes "
        "(default: the profile's, 16 MiB or 128 MiB with rabbitmq-3).",
    )
    parser.addini(COMPAT, "compatibility profile of the session broker (--leveret-compat)")
    parser.addini(MAX_MESSAGE_SIZE, "largest message body in bytes (--leveret-max-message-size)")


def _setting(config: pytest.Config, name: str) -> str | None:
    """The command line's value, else the ini file's; None if neither sets it."""
    value = config.getoption(name)
    if value is None:
        value = config.getini(name)
    return str(value).strip() or None


def broker_options(config: pytest.Config) -> dict[str, Any]:
    """``leveret.Broker`` keyword arguments from the options (not yet checked)."""
    options: dict[str, Any] = {}
    compat = _setting(config, COMPAT)
    if compat is not None:
        options["compat"] = compat
    size = _setting(config, MAX_MESSAGE_SIZE)
    if size is not None:
        try:
            options["max_message_size"] = int(size)
        except ValueError:
            raise pytest.UsageError(
                f"leveret: max message size must be a number of bytes, got {size!r}"
            ) from None
    return options


def pytest_configure(config: pytest.Config) -> None:
    options = broker_options(config)
    if not options:
        return
    # A bad value fails the run at once, naming the problem, rather than every test that
    # uses the broker with the same error. Broker's constructor checks its settings without
    # starting anything; it is imported only here, when an option is set, so that merely
    # having Leveret installed costs pytest nothing.
    from leveret.embedded import Broker

    try:
        Broker(**options)
    except ValueError as error:
        raise pytest.UsageError(f"leveret: {error}") from None


@pytest.fixture(scope="session")
def amqp_broker_options(pytestconfig: pytest.Config) -> dict[str, Any]:
    """Keyword arguments for ``leveret.Broker``: those set by ``--leveret-compat`` and
    ``--leveret-max-message-size`` (or their ini twins). Override to add your own."""
    return broker_options(pytestconfig)


@pytest.fixture(scope="session")
def amqp_broker(amqp_broker_options: dict[str, Any]) -> Iterator[Broker]:
    """A Leveret broker for the whole session, in its own thread, in memory."""
    # Imported here so that merely having Leveret installed costs pytest nothing.
    from leveret.embedded import Broker

    broker = Broker(**amqp_broker_options)
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
