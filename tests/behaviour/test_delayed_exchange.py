"""The x-delayed-message exchange (x-delayed-type argument, x-delay header in ms), as the
rabbitmq-delayed-message-exchange plugin behaves, plus Leveret's durability: persistent
delayed messages of a durable exchange survive a clean restart and kill -9.

Leveret-only: the RabbitMQ 3.10 the suite compares against has no delayed plugin.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pika
import pika.exceptions
import pytest
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

pytestmark = pytest.mark.leveret_only.with_args(
    reason="RabbitMQ 3.10 here has no rabbitmq-delayed-message-exchange plugin"
)

ACCURACY = 0.050  # seconds either side of the due time
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "crash_test.py"


def _load_crash_script() -> ModuleType:
    name = "leveret_crash_test_script"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A private ``leveret serve`` with a data directory, for the module's tests."""
    crash = _load_crash_script()
    base = tmp_path_factory.mktemp("delayed")
    process = crash.BrokerProcess(base / "data", base / "logs")
    process.start()
    yield process
    process.kill9()


@pytest.fixture
def channel(broker: Any) -> Iterator[BlockingChannel]:
    connection = BlockingConnection(broker.params())
    yield connection.channel()
    if connection.is_open:
        connection.close()


def _delayed_exchange(
    channel: BlockingChannel, name: str, inner: str = "direct", durable: bool = False
) -> None:
    channel.exchange_declare(
        name, "x-delayed-message", durable=durable, arguments={"x-delayed-type": inner}
    )


def _queue(
    channel: BlockingChannel,
    exchange: str,
    key: str = "k",
    arguments: dict[str, Any] | None = None,
    durable: bool = False,
) -> str:
    name = f"{exchange}-q-{key}"
    channel.queue_declare(name, durable=durable)
    channel.queue_bind(name, exchange, key, arguments=arguments)
    return name


def _props(delay: object = None, persistent: bool = False, **headers: Any) -> pika.BasicProperties:
    if delay is not None:
        headers["x-delay"] = delay
    return pika.BasicProperties(headers=headers or None, delivery_mode=2 if persistent else 1)


def _receive(
    channel: BlockingChannel, queue: str, count: int, timeout: float
) -> list[tuple[str, float]]:
    """(body, arrival time.time()) of ``count`` messages, or fewer when ``timeout`` passes."""
    got: list[tuple[str, float]] = []
    for _method, _properties, body in channel.consume(
        queue, auto_ack=True, inactivity_timeout=timeout
    ):
        if body is None:
            break
        got.append((body.decode(), time.time()))
        if len(got) == count:
            break
    channel.cancel()
    return got


def test_declare_without_delayed_type_is_refused(broker: Any) -> None:
    connection = BlockingConnection(broker.params())
    try:
        for arguments in ({}, {"x-delayed-type": "x-delayed-message"}, {"x-delayed-type": "no"}):
            channel = connection.channel()
            with pytest.raises(pika.exceptions.ChannelClosedByBroker) as caught:
                channel.exchange_declare("dx-refused", "x-delayed-message", arguments=arguments)
            assert caught.value.reply_code == 406
            assert caught.value.reply_text == (
                "PRECONDITION_FAILED - Invalid argument, 'x-delayed-type' must be an existing "
                "exchange type"
            )
    finally:
        connection.close()


def test_delivered_in_due_order_within_50_ms(channel: BlockingChannel) -> None:
    _delayed_exchange(channel, "dx-order")
    queue = _queue(channel, "dx-order")
    channel.confirm_delivery()
    sent = {}
    for delay in (900, 300, 600, None, 450):
        sent[str(delay)] = time.time() + (delay or 0) / 1000
        channel.basic_publish("dx-order", "k", str(delay).encode(), _props(delay))
    got = _receive(channel, queue, 5, timeout=3)
    assert [body for body, _ in got] == ["None", "300", "450", "600", "900"]
    for body, arrived in got:
        assert abs(arrived - sent[body]) <= ACCURACY, (body, arrived - sent[body])
    channel.exchange_delete("dx-order")
    channel.queue_delete(queue)


@pytest.mark.parametrize("inner", ["direct", "topic", "fanout", "headers"])
def test_routes_as_its_delayed_type(channel: BlockingChannel, inner: str) -> None:
    exchange = f"dx-{inner}"
    _delayed_exchange(channel, exchange, inner)
    binding_key = {"direct": "a.b", "topic": "a.*", "fanout": "", "headers": ""}[inner]
    arguments = {"x-match": "all", "kind": "yes"} if inner == "headers" else None
    queue = _queue(channel, exchange, binding_key, arguments)
    started = time.time()
    # One that matches, one that does not (fanout matches both).
    channel.basic_publish(exchange, "a.b", b"match", _props(250, kind="yes"))
    channel.basic_publish(exchange, "x.y", b"other", _props(250, kind="no"))
    got = _receive(channel, queue, 2, timeout=1.5)
    expected = ["match", "other"] if inner == "fanout" else ["match"]
    assert [body for body, _ in got] == expected
    assert got[0][1] - started >= 0.25 - 0.005
    channel.exchange_delete(exchange)
    channel.queue_delete(queue)


@pytest.mark.parametrize("delay", [-500, 0, "1000", Decimal("1.5"), 2**32, None])
def test_bad_or_no_delay_routes_at_once(channel: BlockingChannel, delay: object) -> None:
    _delayed_exchange(channel, "dx-bad")
    queue = _queue(channel, "dx-bad")
    started = time.time()
    channel.basic_publish("dx-bad", "k", b"now", _props(delay))
    got = _receive(channel, queue, 1, timeout=2)
    assert [body for body, _ in got] == ["now"]
    assert got[0][1] - started < 0.2
    channel.exchange_delete("dx-bad")
    channel.queue_delete(queue)


def test_delayed_message_leaves_with_x_delay_negated(channel: BlockingChannel) -> None:
    """The plugin negates x-delay on the way out: consumers can tell a message was delayed."""
    _delayed_exchange(channel, "dx-negated")
    queue = _queue(channel, "dx-negated")
    channel.basic_publish("dx-negated", "k", b"d", _props(150, other="kept"))
    channel.basic_publish("dx-negated", "k", b"now", _props(-20))
    headers = []
    for _method, properties, _body in channel.consume(queue, auto_ack=True, inactivity_timeout=2):
        if properties is None:
            break
        headers.append(properties.headers)
        if len(headers) == 2:
            break
    channel.cancel()
    assert headers == [{"x-delay": -20}, {"x-delay": -150, "other": "kept"}]
    channel.exchange_delete("dx-negated")
    channel.queue_delete(queue)


def test_mandatory_delayed_message_comes_back_and_is_still_delivered(
    channel: BlockingChannel,
) -> None:
    """As with the plugin: at publish time a delayed message is routed nowhere, so a
    mandatory one is returned (312 NO_ROUTE); it is delivered when due all the same."""
    _delayed_exchange(channel, "dx-mandatory")
    queue = _queue(channel, "dx-mandatory")
    returned: list[int] = []
    channel.add_on_return_callback(lambda _ch, method, _p, _b: returned.append(method.reply_code))
    channel.basic_publish("dx-mandatory", "k", b"m", _props(200), mandatory=True)
    got = _receive(channel, queue, 1, timeout=2)
    assert returned == [312]
    assert [body for body, _ in got] == ["m"]
    channel.exchange_delete("dx-mandatory")
    channel.queue_delete(queue)


def test_list_exchanges_shows_the_type(broker: Any, channel: BlockingChannel) -> None:
    _delayed_exchange(channel, "dx-listed", "topic")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "leveret",
            "ctl",
            "--data-dir",
            str(broker.data_dir),
            "list_exchanges",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "dx-listed\tx-delayed-message" in out.stdout, out.stdout + out.stderr
    channel.exchange_delete("dx-listed")


# -- durability -----------------------------------------------------------------------------


@pytest.fixture
def restartable(tmp_path: Path) -> Iterator[Callable[[], Any]]:
    """A broker that tests stop and start again on one data directory."""
    crash = _load_crash_script()
    made: list[Any] = []

    def make() -> Any:
        process = crash.BrokerProcess(tmp_path / "data", tmp_path / "logs")
        made.append(process)
        return process

    yield make
    for process in made:
        process.kill9()


def _publish_durable_delayed(broker: Any, delays: dict[str, int]) -> dict[str, float]:
    """Durable exchange and queue; persistent and transient delayed messages, confirmed.
    Returns each body's due time."""
    connection = BlockingConnection(broker.params())
    channel = connection.channel()
    _delayed_exchange(channel, "dx-durable", durable=True)
    _queue(channel, "dx-durable", durable=True)
    channel.confirm_delivery()
    due = {}
    for body, delay in delays.items():
        due[body] = time.time() + delay / 1000
        persistent = not body.startswith("transient")
        channel.basic_publish("dx-durable", "k", body.encode(), _props(delay, persistent))
    connection.close()
    return due


@pytest.mark.parametrize("stop", ["restart", "kill9"])
def test_persistent_delayed_messages_survive(restartable: Callable[[], Any], stop: str) -> None:
    broker = restartable()
    broker.start()
    due = _publish_durable_delayed(
        broker,
        {"late": 300, "p1": 5000, "p2": 5500, "transient": 5000},
    )
    if stop == "kill9":
        broker.kill9()  # right after the confirms: they were sent once the log was synced
    else:
        assert broker.terminate() == 0
    time.sleep(0.5)  # "late" falls due while the broker is down
    broker.start()
    recovered = time.time()
    connection = BlockingConnection(broker.params())
    channel = connection.channel()
    got = _receive(channel, "dx-durable-q-k", 3, timeout=7)
    connection.close()
    assert [body for body, _ in got] == ["late", "p1", "p2"]
    late_arrival = got[0][1]
    assert late_arrival - recovered < 0.5  # overdue at recovery: delivered at once
    for body, arrived in got[1:]:
        assert abs(arrived - due[body]) <= ACCURACY, (body, arrived - due[body])


def test_delivered_once_after_restart(restartable: Callable[[], Any]) -> None:
    """A released delayed message is forgotten by the exchange's log: it is not delivered
    again after the next restart."""
    broker = restartable()
    broker.start()
    _publish_durable_delayed(broker, {"once": 200})
    connection = BlockingConnection(broker.params())
    channel = connection.channel()
    assert [body for body, _ in _receive(channel, "dx-durable-q-k", 1, timeout=3)] == ["once"]
    connection.close()
    assert broker.terminate() == 0
    broker.start()
    connection = BlockingConnection(broker.params())
    channel = connection.channel()
    assert _receive(channel, "dx-durable-q-k", 1, timeout=1) == []
    connection.close()
