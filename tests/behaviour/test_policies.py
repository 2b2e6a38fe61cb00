"""Policies change live queues and exchanges, checked with pika on Leveret and RabbitMQ 3.10.

Policies are set through the management API (no rabbitmqctl needed). Every policy's pattern
names only this test's objects (anchored, unique), since the RabbitMQ node is shared.
"""

from __future__ import annotations

import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pika
import pika.exceptions
import pytest
import requests
from pika.adapters.blocking_connection import BlockingChannel

from tests.conftest import spawn_leveret


class Policies:
    """Sets and clears policies in one vhost over HTTP; clears what it set at the end."""

    def __init__(self, management_url: str, vhost: str = "/"):
        self.base = management_url
        self.vhost = urllib.parse.quote(vhost, safe="")
        self.session = requests.Session()
        self.session.auth = ("guest", "guest")
        self.made: set[tuple[str, str]] = set()

    def set(self, name: str, pattern: str, definition: dict[str, Any], *, priority: int = 0,
            apply_to: str = "queues", kind: str = "policies") -> None:  # fmt: skip
        body = {"pattern": pattern, "definition": definition, "priority": priority,
                "apply-to": apply_to}  # fmt: skip
        reply = self.session.put(f"{self.base}/api/{kind}/{self.vhost}/{name}", json=body)
        assert reply.status_code in (201, 204), reply.text
        self.made.add((kind, name))

    def clear(self, name: str, kind: str = "policies") -> None:
        reply = self.session.delete(f"{self.base}/api/{kind}/{self.vhost}/{name}")
        assert reply.status_code == 204, reply.text
        self.made.discard((kind, name))

    def close(self) -> None:
        for kind, name in list(self.made):
            self.session.delete(f"{self.base}/api/{kind}/{self.vhost}/{name}")
        self.session.close()


@pytest.fixture
def policies(management_url: str) -> Iterator[Policies]:
    made = Policies(management_url)
    yield made
    made.close()


@pytest.fixture
def name() -> str:
    return f"pol-{uuid.uuid4().hex[:10]}"


def exactly(name: str) -> str:
    return f"^{name}$"


def count(channel: BlockingChannel, queue: str) -> int:
    return channel.queue_declare(queue, passive=True).method.message_count


def until(read: Callable[[], Any], wanted: Callable[[Any], bool], timeout: float = 10) -> Any:
    """RabbitMQ applies a policy change asynchronously: poll up to a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if wanted(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def bodies(channel: BlockingChannel, queue: str) -> list[bytes]:
    found = []
    while True:
        method, _, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return found
        found.append(body)


def publish(channel: BlockingChannel, queue: str, *texts: str) -> None:
    for text in texts:
        channel.basic_publish("", queue, text.encode())


@pytest.fixture
def ch(channel: BlockingChannel) -> BlockingChannel:
    channel.confirm_delivery()
    return channel


def test_a_new_max_length_drops_the_oldest_messages_of_a_live_queue(
    ch: BlockingChannel, policies: Policies, name: str
) -> None:
    ch.queue_declare(name, auto_delete=False)
    try:
        publish(ch, name, "1", "2", "3", "4", "5")
        policies.set("cap", exactly(name), {"max-length": 2})
        assert until(lambda: count(ch, name), lambda n: n == 2) == 2
        assert bodies(ch, name) == [b"4", b"5"]
        # Clearing the policy lifts the limit for what comes next.
        policies.clear("cap")
        time.sleep(0.3)
        publish(ch, name, "6", "7", "8")
        assert count(ch, name) == 3
    finally:
        ch.queue_delete(name)


def test_a_policy_dead_letters_the_excess_it_drops(
    ch: BlockingChannel, policies: Policies, name: str
) -> None:
    dead = f"{name}-dead"
    ch.queue_declare(name)
    ch.queue_declare(dead)
    try:
        publish(ch, name, "a", "b", "c")
        policies.set(
            "dl",
            exactly(name),
            {"max-length": 1, "dead-letter-exchange": "", "dead-letter-routing-key": dead},
        )
        assert until(lambda: count(ch, dead), lambda n: n == 2) == 2
        _, properties, body = ch.basic_get(dead, auto_ack=True)
        assert body == b"a"
        assert properties.headers["x-death"][0]["reason"] == "maxlen"
        assert bodies(ch, dead) == [b"b"]
        assert bodies(ch, name) == [b"c"]
    finally:
        ch.queue_delete(name)
        ch.queue_delete(dead)


def test_a_ttl_policy_expires_messages_published_after_it(
    ch: BlockingChannel, policies: Policies, name: str
) -> None:
    ch.queue_declare(name)
    try:
        policies.set("ttl", exactly(name), {"message-ttl": 100})
        time.sleep(0.3)  # RabbitMQ applies it asynchronously
        publish(ch, name, "short-lived")
        assert until(lambda: count(ch, name), lambda n: n == 0, timeout=5) == 0
        policies.clear("ttl")
        time.sleep(0.3)
        publish(ch, name, "kept")
        time.sleep(0.3)
        assert bodies(ch, name) == [b"kept"]
    finally:
        ch.queue_delete(name)


def test_a_changed_dead_letter_exchange_takes_effect(
    ch: BlockingChannel, policies: Policies, name: str
) -> None:
    first, second = f"{name}-first", f"{name}-second"
    for queue in (name, first, second):
        ch.queue_declare(queue)
    try:
        policies.set(
            "dlx", exactly(name), {"dead-letter-exchange": "", "dead-letter-routing-key": first}
        )
        time.sleep(0.3)
        publish(ch, name, "one")
        method, _, _ = ch.basic_get(name)
        ch.basic_reject(method.delivery_tag, requeue=False)
        assert until(lambda: count(ch, first), lambda n: n == 1) == 1
        policies.set(
            "dlx", exactly(name), {"dead-letter-exchange": "", "dead-letter-routing-key": second}
        )
        time.sleep(0.3)
        publish(ch, name, "two")
        method, _, _ = ch.basic_get(name)
        ch.basic_reject(method.delivery_tag, requeue=False)
        assert until(lambda: count(ch, second), lambda n: n == 1) == 1
        assert bodies(ch, second) == [b"two"]
    finally:
        for queue in (name, first, second):
            ch.queue_delete(queue)


def test_arguments_and_policies_meet_as_rabbitmq_says(
    ch: BlockingChannel, policies: Policies, name: str
) -> None:
    low_arg, high_arg, dlx_arg = f"{name}-low", f"{name}-high", f"{name}-dlx"
    by_arg, by_policy = f"{name}-by-arg", f"{name}-by-policy"
    ch.queue_declare(low_arg, arguments={"x-max-length": 1})
    ch.queue_declare(high_arg, arguments={"x-max-length": 10})
    ch.queue_declare(dlx_arg, arguments={"x-dead-letter-exchange": "",
                                          "x-dead-letter-routing-key": by_arg})  # fmt: skip
    ch.queue_declare(by_arg)
    ch.queue_declare(by_policy)
    try:
        policies.set("meet", f"^{name}-(low|high|dlx)$", {"max-length": 3,
                     "dead-letter-exchange": "", "dead-letter-routing-key": by_policy})  # fmt: skip
        time.sleep(0.3)
        for queue in (low_arg, high_arg):
            publish(ch, queue, "1", "2", "3", "4", "5")
        # The lower of argument and policy limits the length.
        assert count(ch, low_arg) == 1
        assert count(ch, high_arg) == 3
        # The argument's dead-letter target wins over the policy's.
        publish(ch, dlx_arg, "x")
        method, _, _ = ch.basic_get(dlx_arg)
        ch.basic_reject(method.delivery_tag, requeue=False)
        assert until(lambda: count(ch, by_arg), lambda n: n == 1) == 1
        assert count(ch, by_policy) == 4 + 2  # the drops of the two limited queues
    finally:
        for queue in (low_arg, high_arg, dlx_arg, by_arg, by_policy):
            ch.queue_delete(queue)


def test_the_highest_priority_policy_wins(
    ch: BlockingChannel, policies: Policies, name: str
) -> None:
    ch.queue_declare(name)
    try:
        policies.set("low", exactly(name), {"max-length": 1}, priority=1)
        policies.set("high", exactly(name), {"max-length": 3}, priority=5)
        time.sleep(0.3)
        publish(ch, name, "1", "2", "3", "4")
        assert count(ch, name) == 3
        policies.set("low", exactly(name), {"max-length": 1}, priority=9)
        assert until(lambda: count(ch, name), lambda n: n == 1) == 1
    finally:
        ch.queue_delete(name)


def test_an_operator_policy_caps_a_user_policy(
    ch: BlockingChannel, policies: Policies, name: str
) -> None:
    ch.queue_declare(name)
    try:
        policies.set("user", exactly(name), {"max-length": 5})
        policies.set("op", exactly(name), {"max-length": 2}, kind="operator-policies")
        time.sleep(0.3)
        publish(ch, name, "1", "2", "3", "4")
        assert count(ch, name) == 2
        policies.clear("op", kind="operator-policies")
        time.sleep(0.3)
        publish(ch, name, "5", "6", "7", "8")
        assert count(ch, name) == 5
    finally:
        ch.queue_delete(name)


def test_exchanges_exclusive_of_queues_and_alternate_exchange_by_policy(
    ch: BlockingChannel, policies: Policies, name: str
) -> None:
    exchange, alternate, caught = f"{name}-x", f"{name}-ae", f"{name}-caught"
    ch.exchange_declare(exchange, "direct")
    ch.exchange_declare(alternate, "fanout")
    ch.queue_declare(caught)
    ch.queue_bind(caught, alternate)
    try:
        policies.set("ae", exactly(exchange), {"alternate-exchange": alternate},
                     apply_to="exchanges")  # fmt: skip
        time.sleep(0.3)
        ch.basic_publish(exchange, "nowhere", b"unroutable")
        assert until(lambda: count(ch, caught), lambda n: n == 1) == 1
        policies.clear("ae")
        time.sleep(0.3)
        ch.basic_publish(exchange, "nowhere", b"lost")
        time.sleep(0.2)
        assert bodies(ch, caught) == [b"unroutable"]
    finally:
        ch.exchange_delete(exchange)
        ch.exchange_delete(alternate)
        ch.queue_delete(caught)


@pytest.mark.leveret_only
def test_policies_survive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    logs = [tmp_path / "log1", tmp_path / "log2"]
    for log in logs:
        log.mkdir()
    with spawn_leveret(data, logs[0]) as broker:
        made = Policies(broker.management_url)
        made.set("cap", "^kept$", {"max-length": 2})
        made.set("op", "^kept$", {"message-ttl": 60000}, kind="operator-policies")
        # A deleted vhost takes its policies with it, also from the store.
        vhost_url = f"{broker.management_url}/api/vhosts/gone"
        assert made.session.put(vhost_url).status_code == 201
        gone = Policies(broker.management_url, "gone")
        gone.set("old", ".*", {"max-length": 1})
        assert made.session.delete(vhost_url).status_code == 204
        assert made.session.put(vhost_url).status_code == 201
        gone.session.close()
        made.session.close()
        conn = pika.BlockingConnection(pika.URLParameters(broker.url))
        channel = conn.channel()
        channel.confirm_delivery()
        channel.queue_declare("kept", durable=True)
        for text in ("1", "2", "3"):
            channel.basic_publish("", "kept", text.encode(), pika.BasicProperties(delivery_mode=2))
        conn.close()
    with spawn_leveret(data, logs[1]) as broker:
        api = requests.Session()
        api.auth = ("guest", "guest")
        queue = api.get(f"{broker.management_url}/api/queues/%2F/kept").json()
        assert (queue["policy"], queue["operator_policy"]) == ("cap", "op")
        assert queue["effective_policy_definition"] == {"max-length": 2, "message-ttl": 60000}
        assert [p["name"] for p in api.get(f"{broker.management_url}/api/policies").json()] == [
            "cap"
        ]
        assert api.get(f"{broker.management_url}/api/policies/gone").json() == []
        conn = pika.BlockingConnection(pika.URLParameters(broker.url))
        channel = conn.channel()
        channel.confirm_delivery()
        assert bodies(channel, "kept") == [b"2", b"3"]
        publish(channel, "kept", "4", "5", "6")
        assert count(channel, "kept") == 2  # the limit holds after the restart
        conn.close()
        api.close()


def test_a_ttl_policy_leaves_messages_already_queued(
    ch: BlockingChannel, policies: Policies, name: str
) -> None:
    # As RabbitMQ: a message's expiry is fixed when it is enqueued, and messages expire
    # only at the head, so one queued before the policy shields those behind it too.
    ch.queue_declare(name)
    try:
        publish(ch, name, "before")
        policies.set("ttl", exactly(name), {"message-ttl": 100})
        time.sleep(0.6)
        assert count(ch, name) == 1
        publish(ch, name, "after")
        time.sleep(0.4)
        assert count(ch, name) == 2
        assert ch.basic_get(name, auto_ack=True)[2] == b"before"
        assert until(lambda: count(ch, name), lambda n: n == 0, timeout=5) == 0
    finally:
        ch.queue_delete(name)


def test_under_reject_publish_a_new_limit_keeps_what_is_queued(
    ch: BlockingChannel, policies: Policies, name: str
) -> None:
    ch.queue_declare(name, arguments={"x-overflow": "reject-publish"})
    try:
        publish(ch, name, "1", "2", "3", "4", "5")
        policies.set("cap", exactly(name), {"max-length": 2})
        time.sleep(0.5)
        assert count(ch, name) == 5  # RabbitMQ drops only under drop-head
        with pytest.raises(pika.exceptions.NackError):
            publish(ch, name, "6")
        assert count(ch, name) == 5
    finally:
        ch.queue_delete(name)
