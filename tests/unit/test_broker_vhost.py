"""VirtualHost rules: exchanges, queues, bindings and routing, with RabbitMQ's codes and texts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from leveret.amqp.errors import ChannelError
from leveret.amqp.spec import BasicProperties
from leveret.broker.channel import Channel
from leveret.broker.exchange import Exchange
from leveret.broker.message import Message
from leveret.broker.queue import Queue
from leveret.broker.vhost import VirtualHost

OWNER = object()
OTHER = object()

LOCKED = (
    "cannot obtain exclusive access to locked queue '{}' in vhost '/'. It could be "
    "originally declared on another connection or the exclusive property value does not "
    "match that of the original declaration."
)


@contextmanager
def refused(code: int, detail: str) -> Iterator[None]:
    with pytest.raises(ChannelError) as info:
        yield
    assert (info.value.reply_code, info.value.detail) == (code, detail)


def inequivalent(arg: str, what: str, received: str, current: str) -> str:
    return (
        f"inequivalent arg '{arg}' for {what} in vhost '/': "
        f"received {received} but current is {current}"
    )


class NullSink:
    writable = True

    def __init__(self) -> None:
        self.cancelled: list[str] = []

    def deliver(self, consumer_tag: str, delivery_tag: int, redelivered: bool, message: Message):
        pass

    def consumer_cancelled(self, consumer_tag: str) -> None:
        self.cancelled.append(consumer_tag)


def message(routing_key: str = "", headers: dict[str, object] | None = None) -> Message:
    raw = BasicProperties(headers=headers).encode() if headers is not None else b"\x00\x00"
    return Message("x", routing_key, raw, b"body")


def names(queues: list[Queue]) -> list[str]:
    return sorted(q.name for q in queues)


def routed(vhost: VirtualHost, exchange: str, key: str = "", **kw: object) -> list[str]:
    queues = vhost.route(vhost.exchanges[exchange], message(key, **kw))  # type: ignore[arg-type]
    assert len(queues) == len(set(queues)), "a queue was routed to twice"
    return names(queues)


@pytest.fixture
def vhost() -> VirtualHost:
    return VirtualHost("/")


def consume(queue: Queue, tag: str = "c") -> tuple[Channel, NullSink]:
    sink = NullSink()
    channel = Channel(1, OWNER, sink)
    queue.add_consumer(channel.consume(queue, tag, no_ack=False, exclusive=False))
    return channel, sink


# -- exchanges ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("", "direct"),
        ("amq.direct", "direct"),
        ("amq.fanout", "fanout"),
        ("amq.topic", "topic"),
        ("amq.headers", "headers"),
        ("amq.match", "headers"),
    ],
)
def test_predeclared_exchanges(vhost: VirtualHost, name: str, kind: str) -> None:
    exchange = vhost.get_exchange(name)
    assert (exchange.type_name, exchange.durable, exchange.auto_delete, exchange.internal) == (
        kind,
        True,
        False,
        False,
    )


def test_only_the_predeclared_exchanges_exist_at_start(vhost: VirtualHost) -> None:
    assert set(vhost.exchanges) == {
        "",
        "amq.direct",
        "amq.fanout",
        "amq.topic",
        "amq.headers",
        "amq.match",
    }
    assert vhost.queues == {}


def test_declare_and_redeclare_exchange(vhost: VirtualHost) -> None:
    x = vhost.declare_exchange("x", "topic", durable=True, arguments={"alternate-exchange": "ae"})
    assert (x.name, x.type_name, x.durable, x.auto_delete, x.internal) == (
        "x",
        "topic",
        True,
        False,
        False,
    )
    again = vhost.declare_exchange(
        "x", "topic", durable=True, arguments={"alternate-exchange": "ae", "x-other": 1}
    )
    assert again is x


@pytest.mark.parametrize(
    ("field", "first", "second", "received", "current"),
    [
        ("durable", {"durable": False}, {"durable": True}, "'true'", "'false'"),
        ("durable", {"durable": True}, {"durable": False}, "'false'", "'true'"),
        ("auto_delete", {"auto_delete": False}, {"auto_delete": True}, "'true'", "'false'"),
        ("internal", {"internal": True}, {"internal": False}, "'false'", "'true'"),
    ],
)
def test_redeclare_exchange_with_other_flags_is_406(
    vhost: VirtualHost,
    field: str,
    first: dict[str, bool],
    second: dict[str, bool],
    received: str,
    current: str,
) -> None:
    vhost.declare_exchange("x", "direct", **first)
    with refused(406, inequivalent(field, "exchange 'x'", received, current)):
        vhost.declare_exchange("x", "direct", **second)


def test_redeclare_exchange_with_other_type_is_406(vhost: VirtualHost) -> None:
    vhost.declare_exchange("x", "direct")
    with refused(406, inequivalent("type", "exchange 'x'", "'fanout'", "'direct'")):
        vhost.declare_exchange("x", "fanout")


def test_redeclare_exchange_with_other_alternate_exchange_is_406(vhost: VirtualHost) -> None:
    vhost.declare_exchange("x", "direct", arguments={"alternate-exchange": "ae"})
    with refused(
        406,
        inequivalent(
            "alternate-exchange", "exchange 'x'", "none", "the value 'ae' of type 'longstr'"
        ),
    ):
        vhost.declare_exchange("x", "direct")


def test_unknown_exchange_type_is_406(vhost: VirtualHost) -> None:
    with refused(406, "unknown exchange type 'x-nope'"):
        vhost.declare_exchange("x", "x-nope")
    assert "x" not in vhost.exchanges


def test_amq_prefix_is_reserved_for_new_exchanges(vhost: VirtualHost) -> None:
    with refused(403, "exchange name 'amq.mine' contains reserved prefix 'amq.*'"):
        vhost.declare_exchange("amq.mine", "direct")
    assert "amq.mine" not in vhost.exchanges
    # An existing amq.* exchange may be redeclared with the same properties...
    assert (
        vhost.declare_exchange("amq.direct", "direct", durable=True)
        is vhost.exchanges["amq.direct"]
    )
    # ... and is subject to the usual equivalence checks.
    with refused(406, inequivalent("durable", "exchange 'amq.direct'", "'false'", "'true'")):
        vhost.declare_exchange("amq.direct", "direct", durable=False)
    with refused(406, inequivalent("type", "exchange 'amq.topic'", "'direct'", "'topic'")):
        vhost.declare_exchange("amq.topic", "direct", durable=True)


def test_passive_exchange_declare(vhost: VirtualHost) -> None:
    with refused(404, "no exchange 'x' in vhost '/'"):
        vhost.declare_exchange("x", "direct", passive=True)
    x = vhost.declare_exchange("x", "direct")
    # A passive declare ignores type and flags.
    assert vhost.declare_exchange("x", "fanout", passive=True, durable=True) is x
    assert vhost.declare_exchange("amq.fanout", "", passive=True).name == "amq.fanout"


def test_declaring_the_default_exchange_is_403(vhost: VirtualHost) -> None:
    with refused(403, "operation not permitted on the default exchange"):
        vhost.declare_exchange("", "direct", durable=True)


def test_passive_declare_of_the_default_exchange_is_403(vhost: VirtualHost) -> None:
    with refused(403, "operation not permitted on the default exchange"):
        vhost.declare_exchange("", "direct", passive=True)


def test_exchange_delete_is_idempotent(vhost: VirtualHost) -> None:
    vhost.delete_exchange("missing")
    vhost.declare_exchange("x", "direct")
    vhost.delete_exchange("x")
    assert "x" not in vhost.exchanges
    vhost.delete_exchange("x")
    with refused(404, "no exchange 'x' in vhost '/'"):
        vhost.get_exchange("x")


def test_deleting_the_default_exchange_is_403(vhost: VirtualHost) -> None:
    with refused(403, "operation not permitted on the default exchange"):
        vhost.delete_exchange("")


def test_deleting_a_predeclared_exchange_is_403(vhost: VirtualHost) -> None:
    with refused(403, "deletion of system exchange 'amq.direct' in vhost '/' not allowed"):
        vhost.delete_exchange("amq.direct")
    assert "amq.direct" in vhost.exchanges


def test_deleting_a_missing_amq_exchange_is_403(vhost: VirtualHost) -> None:
    with refused(403, "deletion of system exchange 'amq.nope' in vhost '/' not allowed"):
        vhost.delete_exchange("amq.nope")


def test_delete_exchange_if_unused(vhost: VirtualHost) -> None:
    vhost.declare_exchange("x", "direct")
    q = vhost.declare_queue("q", OWNER)
    vhost.bind("x", q, "k", None)
    with refused(406, "exchange 'x' in vhost '/' in use"):
        vhost.delete_exchange("x", if_unused=True)
    vhost.unbind("x", q, "k", None)
    vhost.delete_exchange("x", if_unused=True)
    assert "x" not in vhost.exchanges


def test_if_unused_counts_only_bindings_from_the_exchange(vhost: VirtualHost) -> None:
    vhost.declare_exchange("src", "fanout")
    dst = vhost.declare_exchange("dst", "fanout")
    vhost.bind("src", dst, "", None)
    vhost.delete_exchange("dst", if_unused=True)  # dst is only a destination
    assert "dst" not in vhost.exchanges
    assert vhost.exchanges["src"].router.binding_count() == 0


def test_deleting_an_exchange_removes_bindings_to_it(vhost: VirtualHost) -> None:
    vhost.declare_exchange("src", "fanout")
    dst = vhost.declare_exchange("dst", "fanout")
    q = vhost.declare_queue("q", OWNER)
    vhost.bind("src", dst, "", None)
    vhost.bind("dst", q, "", None)
    assert routed(vhost, "src") == ["q"]
    vhost.delete_exchange("dst")
    assert routed(vhost, "src") == []
    assert vhost.exchanges["src"].router.binding_count() == 0


# -- queues ---------------------------------------------------------------------------------


def test_server_named_queues(vhost: VirtualHost) -> None:
    seen = set()
    for _ in range(20):
        q = vhost.declare_queue("", OWNER, exclusive=True)
        assert re.fullmatch(r"amq\.gen-[A-Za-z0-9_-]{22}", q.name), q.name
        assert vhost.queues[q.name] is q
        seen.add(q.name)
    assert len(seen) == 20


def test_declare_and_redeclare_queue(vhost: VirtualHost) -> None:
    q = vhost.declare_queue("q", OWNER, durable=True, arguments={"x-message-ttl": 1000})
    assert (q.name, q.durable, q.exclusive, q.auto_delete) == ("q", True, False, False)
    assert q.arguments == {"x-message-ttl": 1000}
    # Arguments RabbitMQ does not compare are accepted and ignored.
    again = vhost.declare_queue(
        "q", OTHER, durable=True, arguments={"x-message-ttl": 1000, "x-whatever": "yes"}
    )
    assert again is q


@pytest.mark.parametrize(
    ("field", "first", "second", "received", "current"),
    [
        ("durable", {"durable": False}, {"durable": True}, "'true'", "'false'"),
        ("durable", {"durable": True}, {"durable": False}, "'false'", "'true'"),
        ("auto_delete", {"auto_delete": True}, {"auto_delete": False}, "'false'", "'true'"),
    ],
)
def test_redeclare_queue_with_other_flags_is_406(
    vhost: VirtualHost,
    field: str,
    first: dict[str, bool],
    second: dict[str, bool],
    received: str,
    current: str,
) -> None:
    vhost.declare_queue("q", OWNER, **first)
    with refused(406, inequivalent(field, "queue 'q'", received, current)):
        vhost.declare_queue("q", OWNER, **second)


def test_redeclare_queue_with_other_arguments_is_406(vhost: VirtualHost) -> None:
    vhost.declare_queue("q", OWNER, arguments={"x-queue-mode": "lazy"})
    with refused(
        406,
        inequivalent("x-queue-mode", "queue 'q'", "none", "the value 'lazy' of type 'longstr'"),
    ):
        vhost.declare_queue("q", OWNER)
    # With both sides present RabbitMQ shows the bare values.
    with refused(406, inequivalent("x-queue-mode", "queue 'q'", "'default'", "'lazy'")):
        vhost.declare_queue("q", OWNER, arguments={"x-queue-mode": "default"})
    vhost.declare_queue("q2", OWNER)
    with refused(
        406,
        inequivalent("x-queue-mode", "queue 'q2'", "the value 'lazy' of type 'longstr'", "none"),
    ):
        vhost.declare_queue("q2", OWNER, arguments={"x-queue-mode": "lazy"})


def test_amq_prefix_is_reserved_for_queues(vhost: VirtualHost) -> None:
    with refused(403, "queue name 'amq.q' contains reserved prefix 'amq.*'"):
        vhost.declare_queue("amq.q", OWNER)
    assert vhost.queues == {}


def test_redeclaring_a_server_named_queue_by_name_is_403(vhost: VirtualHost) -> None:
    q = vhost.declare_queue("", OWNER)
    with refused(403, f"queue name '{q.name}' contains reserved prefix 'amq.*'"):
        vhost.declare_queue(q.name, OWNER)


def test_server_named_queue_can_be_declared_passively(vhost: VirtualHost) -> None:
    q = vhost.declare_queue("", OWNER)
    assert vhost.declare_queue(q.name, OTHER, passive=True) is q


def test_passive_queue_declare(vhost: VirtualHost) -> None:
    with refused(404, "no queue 'q' in vhost '/'"):
        vhost.declare_queue("q", OWNER, passive=True)
    q = vhost.declare_queue("q", OWNER, durable=True)
    assert vhost.declare_queue("q", OTHER, passive=True, durable=False, auto_delete=True) is q


def test_exclusive_queue_is_locked_for_other_owners(vhost: VirtualHost) -> None:
    q = vhost.declare_queue("q", OWNER, exclusive=True)
    assert q.exclusive and q.exclusive_owner is OWNER
    assert vhost.declare_queue("q", OWNER, exclusive=True) is q
    assert vhost.declare_queue("q", OWNER, passive=True) is q
    assert vhost.get_queue("q", OWNER) is q
    for call in (
        lambda: vhost.declare_queue("q", OTHER, exclusive=True),
        lambda: vhost.declare_queue("q", OTHER),
        lambda: vhost.declare_queue("q", OTHER, passive=True),
        lambda: vhost.get_queue("q", OTHER),
        lambda: vhost.purge_queue("q", OTHER),
        lambda: vhost.delete_queue("q", OTHER),
    ):
        with refused(405, LOCKED.format("q")):
            call()
    assert vhost.queues["q"] is q


def test_exclusive_flag_must_match_on_redeclare(vhost: VirtualHost) -> None:
    vhost.declare_queue("excl", OWNER, exclusive=True)
    with refused(405, LOCKED.format("excl")):
        vhost.declare_queue("excl", OWNER, exclusive=False)
    vhost.declare_queue("shared", OWNER)
    with refused(405, LOCKED.format("shared")):
        vhost.declare_queue("shared", OWNER, exclusive=True)


def test_exclusive_check_comes_before_equivalence(vhost: VirtualHost) -> None:
    vhost.declare_queue("q", OWNER, exclusive=True)
    with refused(405, LOCKED.format("q")):
        vhost.declare_queue("q", OTHER, exclusive=True, durable=True)


def test_exclusive_queues_are_never_durable(vhost: VirtualHost) -> None:
    q = vhost.declare_queue("q", OWNER, exclusive=True, durable=True)
    assert not q.durable
    assert vhost.declare_queue("q", OWNER, exclusive=True, durable=False) is q


def test_auto_delete_queue_goes_after_its_last_consumer(vhost: VirtualHost) -> None:
    q = vhost.declare_queue("q", OWNER, auto_delete=True)
    vhost.bind("amq.direct", q, "k", None)
    ch1, _ = consume(q, "a")
    ch2, _ = consume(q, "b")
    ch1.cancel("a")
    assert vhost.queues.get("q") is q
    ch2.cancel("b")
    assert "q" not in vhost.queues
    assert q.deleted
    assert routed(vhost, "amq.direct", "k") == []


def test_auto_delete_queue_goes_when_the_consumer_channel_closes(vhost: VirtualHost) -> None:
    q = vhost.declare_queue("q", OWNER, auto_delete=True)
    ch, _ = consume(q)
    ch.close()
    assert "q" not in vhost.queues


def test_auto_delete_queue_without_consumers_stays(vhost: VirtualHost) -> None:
    q = vhost.declare_queue("q", OWNER, auto_delete=True)
    q.publish(message("q"))
    q.get()
    assert vhost.queues["q"] is q
    assert not q.had_consumer


def test_non_auto_delete_queue_stays_after_its_consumers(vhost: VirtualHost) -> None:
    q = vhost.declare_queue("q", OWNER)
    ch, _ = consume(q)
    ch.cancel("c")
    assert vhost.queues["q"] is q
    assert q.had_consumer


def test_remove_queue_cancels_consumers_and_drops_bindings(vhost: VirtualHost) -> None:
    q = vhost.declare_queue("", OWNER, exclusive=True)
    x = vhost.declare_exchange("ad", "fanout", auto_delete=True)
    vhost.bind("ad", q, "", None)
    vhost.bind("amq.fanout", q, "", None)
    ch, sink = consume(q, "c1")
    q.publish(message())  # delivered, unacked
    q.publish(message())
    ch.global_prefetch = 1
    q.publish(message())
    vhost.remove_queue(q)
    assert q.name not in vhost.queues
    assert q.deleted and q.ready == type(q.ready)() and not q.consumers
    assert sink.cancelled == ["c1"]
    assert ch.consumers == {}
    assert routed(vhost, "amq.fanout") == []
    assert "ad" not in vhost.exchanges, "auto-delete exchange lost its last binding"
    assert x.router.binding_count() == 0
    # Unacked messages of a deleted queue are not requeued anywhere.
    ch.close()
    assert not q.ready
    vhost.remove_queue(q)  # a second removal is a no-op


def test_delete_queue(vhost: VirtualHost) -> None:
    assert vhost.delete_queue("missing", OWNER) == 0
    q = vhost.declare_queue("q", OWNER)
    for _ in range(3):
        q.publish(message("q"))
    assert vhost.delete_queue("q", OTHER) == 3
    assert "q" not in vhost.queues and q.deleted
    assert vhost.delete_queue("q", OWNER) == 0


def test_delete_queue_if_unused(vhost: VirtualHost) -> None:
    q = vhost.declare_queue("q", OWNER)
    ch, _ = consume(q)
    with refused(406, "queue 'q' in vhost '/' in use"):
        vhost.delete_queue("q", OWNER, if_unused=True)
    ch.cancel("c")
    assert vhost.delete_queue("q", OWNER, if_unused=True) == 0


def test_delete_queue_if_empty(vhost: VirtualHost) -> None:
    q = vhost.declare_queue("q", OWNER)
    q.publish(message("q"))
    with refused(406, "queue 'q' in vhost '/' not empty"):
        vhost.delete_queue("q", OWNER, if_empty=True)
    ch = Channel(1, OWNER, NullSink())
    ch.get(q, no_ack=False)  # unacked messages do not count
    assert vhost.delete_queue("q", OWNER, if_empty=True) == 0


def test_purge_counts_ready_messages(vhost: VirtualHost) -> None:
    with refused(404, "no queue 'q' in vhost '/'"):
        vhost.purge_queue("q", OWNER)
    q = vhost.declare_queue("q", OWNER)
    assert vhost.purge_queue("q", OWNER) == 0
    for _ in range(4):
        q.publish(message("q"))
    Channel(1, OWNER, NullSink()).get(q, no_ack=False)
    assert vhost.purge_queue("q", OWNER) == 3
    assert q.message_count == 0


# -- bindings and routing -------------------------------------------------------------------


def test_default_exchange_routes_by_queue_name(vhost: VirtualHost) -> None:
    vhost.declare_queue("q", OWNER)
    assert routed(vhost, "", "q") == ["q"]
    assert routed(vhost, "", "other") == []


def test_binding_to_the_default_exchange_is_403(vhost: VirtualHost) -> None:
    q = vhost.declare_queue("q", OWNER)
    with refused(403, "operation not permitted on the default exchange"):
        vhost.bind("", q, "q", None)
    with refused(403, "operation not permitted on the default exchange"):
        vhost.unbind("", q, "q", None)


def test_binding_to_a_missing_exchange_is_404(vhost: VirtualHost) -> None:
    q = vhost.declare_queue("q", OWNER)
    with refused(404, "no exchange 'nope' in vhost '/'"):
        vhost.bind("nope", q, "k", None)


def test_direct_routing(vhost: VirtualHost) -> None:
    a = vhost.declare_queue("a", OWNER)
    b = vhost.declare_queue("b", OWNER)
    vhost.bind("amq.direct", a, "k1", None)
    vhost.bind("amq.direct", b, "k1", None)
    vhost.bind("amq.direct", b, "k2", None)
    vhost.bind("amq.direct", b, "k2", None)  # duplicate binding
    assert routed(vhost, "amq.direct", "k1") == ["a", "b"]
    assert routed(vhost, "amq.direct", "k2") == ["b"]
    assert routed(vhost, "amq.direct", "k3") == []
    vhost.unbind("amq.direct", b, "k2", None)
    assert routed(vhost, "amq.direct", "k2") == []
    vhost.unbind("amq.direct", b, "never-bound", None)  # unbind is idempotent


def test_fanout_routing(vhost: VirtualHost) -> None:
    for name in "abc":
        vhost.bind("amq.fanout", vhost.declare_queue(name, OWNER), name, None)
    assert routed(vhost, "amq.fanout", "anything") == ["a", "b", "c"]


def test_topic_routing_reaches_each_queue_once(vhost: VirtualHost) -> None:
    a = vhost.declare_queue("a", OWNER)
    b = vhost.declare_queue("b", OWNER)
    vhost.bind("amq.topic", a, "stock.*.nyse", None)
    vhost.bind("amq.topic", a, "stock.#", None)
    vhost.bind("amq.topic", b, "#.nyse", None)
    assert routed(vhost, "amq.topic", "stock.ibm.nyse") == ["a", "b"]
    assert routed(vhost, "amq.topic", "stock.ibm") == ["a"]
    assert routed(vhost, "amq.topic", "bond.nyse") == ["b"]
    assert routed(vhost, "amq.topic", "bond") == []


def test_headers_routing(vhost: VirtualHost) -> None:
    every = vhost.declare_queue("all", OWNER)
    some = vhost.declare_queue("any", OWNER)
    vhost.bind("amq.headers", every, "", {"x-match": "all", "a": 1, "b": "two"})
    vhost.bind("amq.headers", some, "", {"x-match": "any", "a": 1, "b": "two"})
    assert routed(vhost, "amq.headers", headers={"a": 1, "b": "two"}) == ["all", "any"]
    assert routed(vhost, "amq.headers", headers={"a": 1}) == ["any"]
    assert routed(vhost, "amq.headers", headers={"c": 1}) == []
    assert routed(vhost, "amq.headers") == []


def test_exchange_to_exchange_routing(vhost: VirtualHost) -> None:
    front = vhost.declare_exchange("front", "fanout")
    by_key = vhost.declare_exchange("by-key", "direct", internal=True)
    by_header = vhost.declare_exchange("by-header", "headers")
    vhost.bind("front", by_key, "", None)
    vhost.bind("front", by_header, "", None)
    assert front.router.binding_count() == 2
    k = vhost.declare_queue("k", OWNER)
    h = vhost.declare_queue("h", OWNER)
    direct = vhost.declare_queue("direct", OWNER)
    vhost.bind("by-key", k, "rk", None)
    vhost.bind("by-header", h, "", {"kind": "x"})
    vhost.bind("front", direct, "", None)
    assert routed(vhost, "front", "rk") == ["direct", "k"]
    assert routed(vhost, "front", "rk", headers={"kind": "x"}) == ["direct", "h", "k"]
    assert routed(vhost, "front", "other", headers={"kind": "x"}) == ["direct", "h"]
    vhost.unbind("front", by_key, "", None)
    assert routed(vhost, "front", "rk") == ["direct"]


def test_a_queue_reached_by_two_paths_is_routed_once(vhost: VirtualHost) -> None:
    x1 = vhost.declare_exchange("x1", "fanout")
    x2 = vhost.declare_exchange("x2", "fanout")
    q = vhost.declare_queue("q", OWNER)
    vhost.bind("amq.fanout", x1, "", None)
    vhost.bind("amq.fanout", x2, "", None)
    vhost.bind("x1", q, "", None)
    vhost.bind("x2", q, "", None)
    vhost.bind("amq.fanout", q, "", None)
    assert routed(vhost, "amq.fanout") == ["q"]
    assert x1 is not x2


def test_exchange_binding_cycles_terminate(vhost: VirtualHost) -> None:
    x1 = vhost.declare_exchange("x1", "fanout")
    x2 = vhost.declare_exchange("x2", "topic")
    x3 = vhost.declare_exchange("x3", "direct")
    vhost.bind("x1", x2, "", None)
    vhost.bind("x2", x3, "#", None)
    vhost.bind("x3", x1, "k", None)
    vhost.bind("x1", x1, "", None)  # a self-loop too
    q = vhost.declare_queue("q", OWNER)
    vhost.bind("x3", q, "k", None)
    vhost.bind("x2", q, "#", None)
    for start in ("x1", "x2", "x3"):
        assert routed(vhost, start, "k") == ["q"]
    assert routed(vhost, "x3", "other") == []
    assert isinstance(vhost.exchanges["x1"], Exchange) and x2 is not x3


def test_auto_delete_exchange_goes_with_its_last_binding(vhost: VirtualHost) -> None:
    vhost.declare_exchange("ad", "direct", auto_delete=True)
    q = vhost.declare_queue("q", OWNER)
    vhost.bind("ad", q, "a", None)
    vhost.bind("ad", q, "b", None)
    vhost.unbind("ad", q, "a", None)
    assert "ad" in vhost.exchanges
    vhost.unbind("ad", q, "b", None)
    assert "ad" not in vhost.exchanges


def test_auto_delete_exchange_without_bindings_stays(vhost: VirtualHost) -> None:
    vhost.declare_exchange("ad", "direct", auto_delete=True)
    q = vhost.declare_queue("q", OWNER)
    vhost.unbind("ad", q, "never", None)
    assert "ad" in vhost.exchanges


def test_auto_delete_exchange_goes_when_its_last_queue_is_deleted(vhost: VirtualHost) -> None:
    vhost.declare_exchange("ad", "fanout", auto_delete=True)
    q = vhost.declare_queue("q", OWNER)
    vhost.bind("ad", q, "", None)
    vhost.delete_queue("q", OWNER)
    assert "ad" not in vhost.exchanges


def test_auto_delete_cascades_through_exchange_bindings(vhost: VirtualHost) -> None:
    upper = vhost.declare_exchange("upper", "fanout", auto_delete=True)
    lower = vhost.declare_exchange("lower", "fanout", auto_delete=True)
    q = vhost.declare_queue("q", OWNER)
    vhost.bind("upper", lower, "", None)
    vhost.bind("lower", q, "", None)
    vhost.delete_queue("q", OWNER)
    assert "lower" not in vhost.exchanges
    assert "upper" not in vhost.exchanges
    assert upper.router.binding_count() == lower.router.binding_count() == 0


def test_auto_delete_exchange_as_destination_is_not_deleted_by_unbinding_it(
    vhost: VirtualHost,
) -> None:
    vhost.declare_exchange("src", "fanout")
    ad = vhost.declare_exchange("ad", "fanout", auto_delete=True)
    q = vhost.declare_queue("q", OWNER)
    vhost.bind("ad", q, "", None)
    vhost.bind("src", ad, "", None)
    vhost.unbind("src", ad, "", None)
    assert vhost.exchanges["ad"] is ad


def test_binding_the_default_exchange_as_destination_is_403(vhost: VirtualHost) -> None:
    with refused(403, "operation not permitted on the default exchange"):
        vhost.bind("amq.fanout", vhost.exchanges[""], "", None)
