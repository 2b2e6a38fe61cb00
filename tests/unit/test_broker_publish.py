"""broker/publish called directly on a VirtualHost, with no connection or socket: what the
HTTP publish endpoint and shovels rely on. The behavioural tests (test_publish.py,
test_confirms_tx.py, test_ext_routing.py, test_ext_reply_to.py, ...) are the wire proof."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from leveret.amqp.errors import ChannelError
from leveret.amqp.spec import BasicProperties
from leveret.broker.compat import RABBITMQ_3
from leveret.broker.exchange import Exchange
from leveret.broker.message import Message
from leveret.broker.publish import (
    CONGESTED,
    DEFERRED,
    REPLY_TO,
    RETURNED,
    ROUTED,
    Confirms,
    Publisher,
    TxPublish,
    publish,
    publish_to,
    route,
)
from leveret.broker.queue import Queue
from leveret.broker.vhost import VirtualHost
from leveret.store.files import OsFileSystem
from leveret.store.message_store import MessageStore

OWNER = object()
EMPTY = b"\x00\x00"  # no properties


@pytest.fixture
def vhost() -> VirtualHost:
    return VirtualHost("/")


def props(**fields: object) -> bytes:
    return BasicProperties(**fields).encode()  # type: ignore[arg-type]


def drain(queue: Queue) -> list[Message]:
    out = []
    while (entry := queue.get()) is not None:
        out.append(entry.message)
    return out


class Returns:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    def __call__(self, message: Message) -> None:
        self.messages.append(message)


class Replies:
    def __init__(self, known: set[str]) -> None:
        self.known = known
        self.delivered: list[tuple[str, Message]] = []

    def deliver_reply(self, key: str, message: Message) -> bool:
        if key not in self.known:
            return False
        self.delivered.append((key, message))
        return True


class Store:
    def __init__(self) -> None:
        self.waiting: list[Callable[[bool], None]] = []

    def after_sync(self, callback: Callable[[bool], None]) -> None:
        self.waiting.append(callback)


# -- routed and unroutable -------------------------------------------------------------------


def test_default_exchange_routes_to_the_named_queue(vhost: VirtualHost) -> None:
    q = vhost.declare_queue("q", OWNER)
    outcome = publish(vhost, "", "q", EMPTY, b"hello")
    assert outcome == ROUTED
    [message] = drain(q)
    assert (message.exchange, message.routing_key, message.body) == ("", "q", b"hello")


def test_fanout_reaches_every_bound_queue_once(vhost: VirtualHost) -> None:
    vhost.declare_exchange("fan", "fanout")
    queues = [vhost.declare_queue(f"q{i}", OWNER) for i in range(3)]
    for q in queues:
        vhost.bind("fan", q, "", None)
    vhost.bind("fan", queues[0], "again", None)  # a second binding: still one copy
    assert publish(vhost, "fan", "any", EMPTY, b"x") & ROUTED
    assert [len(drain(q)) for q in queues] == [1, 1, 1]


def test_unroutable_is_not_routed_and_not_returned_without_mandatory(vhost: VirtualHost) -> None:
    returns = Returns()
    outcome = publish(
        vhost, "amq.direct", "nowhere", EMPTY, b"x", publisher=Publisher(on_return=returns)
    )
    assert outcome == 0
    assert not outcome & ROUTED
    assert returns.messages == []


def test_mandatory_unroutable_is_returned(vhost: VirtualHost) -> None:
    returns = Returns()
    raw = props(content_type="text/plain")
    outcome = publish(
        vhost,
        "amq.direct",
        "nowhere",
        raw,
        b"x",
        mandatory=True,
        publisher=Publisher(on_return=returns),
    )
    assert outcome == RETURNED
    [message] = returns.messages
    assert (message.exchange, message.routing_key, message.properties_raw, message.body) == (
        "amq.direct",
        "nowhere",
        raw,
        b"x",
    )


def test_mandatory_routed_is_not_returned(vhost: VirtualHost) -> None:
    vhost.declare_queue("q", OWNER)
    returns = Returns()
    assert (
        publish(vhost, "", "q", EMPTY, b"x", mandatory=True, publisher=Publisher(on_return=returns))
        == ROUTED
    )
    assert returns.messages == []


def test_mandatory_without_a_return_hook_still_reports_returned(vhost: VirtualHost) -> None:
    assert publish(vhost, "", "missing", EMPTY, b"x", mandatory=True) == RETURNED


# -- refusals ----------------------------------------------------------------------------------


def test_missing_exchange_is_404(vhost: VirtualHost) -> None:
    with pytest.raises(ChannelError) as info:
        publish(vhost, "nope", "k", EMPTY, b"x")
    assert info.value.reply_code == 404


def test_internal_exchange_is_refused(vhost: VirtualHost) -> None:
    vhost.declare_exchange("inner", "fanout", internal=True)
    with pytest.raises(ChannelError) as info:
        publish(vhost, "inner", "k", EMPTY, b"x")
    assert info.value.reply_code == 403
    assert "cannot publish to internal exchange 'inner' in vhost '/'" in info.value.reply_text


def test_authorize_hook_sees_the_exchange_and_may_refuse(vhost: VirtualHost) -> None:
    seen: list[str] = []

    def authorize(exchange: Exchange) -> None:
        seen.append(exchange.name)
        raise ChannelError(403, "no write")

    vhost.declare_queue("q", OWNER)
    with pytest.raises(ChannelError):
        publish(vhost, "amq.fanout", "k", EMPTY, b"x", authorize=authorize)
    assert seen == ["amq.fanout"]


def test_user_id_must_match_the_publishing_user(vhost: VirtualHost) -> None:
    q = vhost.declare_queue("q", OWNER)
    raw = props(user_id="alice")
    with pytest.raises(ChannelError) as info:
        publish(vhost, "", "q", raw, b"x", user_name="bob")
    assert info.value.reply_code == 406
    assert publish(vhost, "", "q", raw, b"x", user_name="alice") == ROUTED
    assert publish(vhost, "", "q", raw, b"x") == ROUTED  # no user: nothing to compare
    assert len(drain(q)) == 2


# -- alternate exchanges -----------------------------------------------------------------------


def test_alternate_exchange_takes_what_routes_nowhere(vhost: VirtualHost) -> None:
    vhost.declare_exchange("ae", "fanout")
    vhost.declare_exchange("main", "direct", arguments={"alternate-exchange": "ae"})
    direct_q = vhost.declare_queue("direct-q", OWNER)
    spill = vhost.declare_queue("spill", OWNER)
    vhost.bind("main", direct_q, "k", None)
    vhost.bind("ae", spill, "", None)
    returns = Returns()
    assert (
        publish(
            vhost, "main", "k", EMPTY, b"a", mandatory=True, publisher=Publisher(on_return=returns)
        )
        == ROUTED
    )
    assert (
        publish(
            vhost,
            "main",
            "other",
            EMPTY,
            b"b",
            mandatory=True,
            publisher=Publisher(on_return=returns),
        )
        == ROUTED
    )
    assert [m.body for m in drain(direct_q)] == [b"a"]
    assert [m.body for m in drain(spill)] == [b"b"]
    assert returns.messages == []  # the alternate exchange routed it: no return


def test_alternate_exchange_that_routes_nowhere_means_returned(vhost: VirtualHost) -> None:
    vhost.declare_exchange("ae", "fanout")  # nothing bound
    vhost.declare_exchange("main", "direct", arguments={"alternate-exchange": "ae"})
    assert publish(vhost, "main", "k", EMPTY, b"x", mandatory=True) == RETURNED


# -- CC and BCC --------------------------------------------------------------------------------


def test_cc_and_bcc_add_routing_keys_and_bcc_is_removed(vhost: VirtualHost) -> None:
    queues = {name: vhost.declare_queue(name, OWNER) for name in ("to", "cc", "bcc", "other")}
    for name, q in queues.items():
        vhost.bind("amq.direct", q, name, None)
    raw = props(headers={"CC": ["cc"], "BCC": ["bcc"], "trace": "t1"})
    assert publish(vhost, "amq.direct", "to", raw, b"x") == ROUTED
    got = {name: drain(q) for name, q in queues.items()}
    assert [len(got[n]) for n in ("to", "cc", "bcc", "other")] == [1, 1, 1, 0]
    headers = BasicProperties.decode(got["to"][0].properties_raw).headers
    assert headers == {"CC": ["cc"], "trace": "t1"}


def test_cc_alone_routes_without_the_routing_key_matching(vhost: VirtualHost) -> None:
    q = vhost.declare_queue("cc", OWNER)
    vhost.bind("amq.direct", q, "cc", None)
    assert publish(vhost, "amq.direct", "nobody", props(headers={"CC": ["cc"]}), b"x") == ROUTED
    assert len(drain(q)) == 1


def test_cc_that_is_not_an_array_is_406(vhost: VirtualHost) -> None:
    with pytest.raises(ChannelError) as info:
        publish(vhost, "amq.direct", "k", props(headers={"CC": "cc"}), b"x")
    assert info.value.reply_code == 406


# -- confirms ----------------------------------------------------------------------------------


def test_confirms_ack_routed_and_unroutable_in_order(vhost: VirtualHost) -> None:
    vhost.declare_queue("q", OWNER)
    notified: list[int] = []
    confirms = Confirms(lambda: notified.append(confirms.seq))
    publish(vhost, "", "q", EMPTY, b"1", publisher=Publisher(confirms=confirms))
    publish(
        vhost, "", "nowhere", EMPTY, b"2", publisher=Publisher(confirms=confirms)
    )  # unroutable: acked too
    publish(vhost, "", "q", EMPTY, b"3", publisher=Publisher(confirms=confirms))
    assert notified == [1, 2, 3]
    assert confirms.ready() == [(3, True, True)]  # one multiple=true ack
    assert confirms.ready() == []
    assert confirms.unconfirmed == 0


def test_reject_publish_overflow_is_nacked(vhost: VirtualHost) -> None:
    vhost.declare_queue("q", OWNER, arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    confirms = Confirms()
    assert publish(vhost, "", "q", EMPTY, b"1", publisher=Publisher(confirms=confirms)) == ROUTED
    assert publish(vhost, "", "q", EMPTY, b"2", publisher=Publisher(confirms=confirms)) == ROUTED
    assert confirms.ready() == [(1, False, True), (2, False, False)]


class DeferredRunner:
    """Runs the store's cycle only when the test says so (the fsync itself runs inline)."""

    def __init__(self) -> None:
        self.soon: list[Callable[[], None]] = []

    def call_soon(self, callback: Callable[[], None]) -> None:
        self.soon.append(callback)

    def run_in_thread(
        self, work: Callable[[], None], done: Callable[[BaseException | None], None]
    ) -> None:
        work()
        done(None)

    def run(self) -> None:
        while self.soon:
            self.soon.pop(0)()


def test_confirm_of_a_persistent_message_waits_for_the_sync(tmp_path: Path) -> None:
    runner = DeferredRunner()
    store = MessageStore(OsFileSystem(), tmp_path / "queues", runner)
    vhost = VirtualHost("/", logs=store)
    durable = vhost.declare_queue("durable", OWNER, durable=True)
    vhost.declare_queue("transient", OWNER)
    confirms = Confirms()
    persistent = props(delivery_mode=2)
    assert publish(
        vhost,
        "",
        "durable",
        persistent,
        b"1",
        publisher=Publisher(confirms=confirms, store=store),
    )
    assert publish(
        vhost,
        "",
        "transient",
        persistent,
        b"2",
        publisher=Publisher(confirms=confirms, store=store),
    )
    assert confirms.ready() == []  # 1 waits for the disk, and 2 goes out after it
    runner.run()
    assert confirms.ready() == [(2, True, True)]
    assert durable.message_count == 1
    store.close()


def test_confirms_settle_out_of_order_but_go_out_in_order() -> None:
    confirms = Confirms()
    seqs = [confirms.expect() for _ in range(4)]
    confirms.settle(seqs[1])
    assert confirms.ready() == []  # 1 is still pending
    confirms.settle(seqs[0])
    confirms.settle(seqs[3], False)
    assert confirms.ready() == [(2, True, True)]
    confirms.settle(seqs[2], False)
    assert confirms.ready() == [(4, True, False)]
    confirms.settle(99)  # unknown: ignored
    assert confirms.ready() == []


# -- transactions ------------------------------------------------------------------------------


def test_tx_holds_the_checked_message_until_routed(vhost: VirtualHost) -> None:
    q = vhost.declare_queue("q", OWNER)
    held: list[TxPublish] = []
    exchange = vhost.get_exchange("")
    outcome = publish_to(vhost, exchange, "q", EMPTY, b"x", True, "guest", held)
    assert outcome == DEFERRED
    assert q.message_count == 0
    [pending] = held
    assert (pending.exchange, pending.mandatory, pending.message.body) == ("", True, b"x")
    assert route(vhost, exchange, pending.mandatory, pending.message) == ROUTED
    assert len(drain(q)) == 1


def test_tx_still_refuses_an_internal_exchange_at_publish(vhost: VirtualHost) -> None:
    exchange = vhost.declare_exchange("inner", "fanout", internal=True)
    with pytest.raises(ChannelError):
        publish_to(vhost, exchange, "k", EMPTY, b"x", False, None, [])


# -- direct reply-to ---------------------------------------------------------------------------


def test_reply_to_pseudo_queue_is_rewritten_to_the_publishers_address(vhost: VirtualHost) -> None:
    q = vhost.declare_queue("requests", OWNER)
    raw = props(reply_to=REPLY_TO, correlation_id="c1")
    assert publish_to_reply(vhost, "requests", raw, reply_key="abc") == ROUTED
    [request] = drain(q)
    properties = BasicProperties.decode(request.properties_raw)
    assert (properties.reply_to, properties.correlation_id) == (REPLY_TO + ".abc", "c1")


def test_reply_to_without_a_reply_consumer_is_406(vhost: VirtualHost) -> None:
    vhost.declare_queue("requests", OWNER)
    with pytest.raises(ChannelError) as info:
        publish(vhost, "", "requests", props(reply_to=REPLY_TO), b"x")
    assert (info.value.reply_code, info.value.reply_text) == (
        406,
        "PRECONDITION_FAILED - fast reply consumer does not exist",
    )


def test_reply_is_delivered_to_the_registered_consumer(vhost: VirtualHost) -> None:
    replies = Replies({"abc"})
    outcome = publish(
        vhost,
        "",
        REPLY_TO + ".abc",
        EMPTY,
        b"r",
        mandatory=True,
        publisher=Publisher(replies=replies),
    )
    assert outcome == ROUTED
    assert [(key, m.body) for key, m in replies.delivered] == [("abc", b"r")]
    lost = publish(
        vhost,
        "",
        REPLY_TO + ".gone",
        EMPTY,
        b"r",
        mandatory=True,
        publisher=Publisher(replies=replies),
    )
    assert lost == RETURNED


def test_rabbitmq_3_returns_a_mandatory_reply_it_delivered() -> None:
    vhost = VirtualHost("/", compat=RABBITMQ_3)
    replies = Replies({"abc"})
    outcome = publish(
        vhost,
        "",
        REPLY_TO + ".abc",
        EMPTY,
        b"r",
        mandatory=True,
        publisher=Publisher(replies=replies),
    )
    assert outcome == RETURNED
    assert len(replies.delivered) == 1


def publish_to_reply(vhost: VirtualHost, queue: str, raw: bytes, *, reply_key: str) -> int:
    return publish_to(
        vhost,
        vhost.get_exchange(""),
        queue,
        raw,
        b"x",
        False,
        None,
        None,
        publisher=Publisher(reply_key=reply_key),
    )


# -- flow --------------------------------------------------------------------------------------


def test_outcome_flags_are_distinct() -> None:
    flags = [ROUTED, RETURNED, CONGESTED, DEFERRED]
    assert len({*flags}) == 4
    assert all(flag & (flag - 1) == 0 for flag in flags)
