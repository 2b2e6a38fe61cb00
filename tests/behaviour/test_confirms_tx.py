"""Publisher confirms and transactions."""

from __future__ import annotations

from typing import Any

import pika
import pika.exceptions
import pytest

from .helpers import (
    channel_closed,
    get_message,
    no_exchange,
    pump,
    pump_until,
    run_select_connection,
    wait_for,
    wait_ready,
)

NOT_TRANSACTIONAL = "PRECONDITION_FAILED - channel is not transactional"


def _confirm_scenario(publishes, events):
    """Scenario for run_select_connection: confirm.select, declare a queue, publish
    ``publishes(channel, queue)`` messages and record acks/nacks/returns in ``events``."""

    def scenario(connection: Any, channel: Any, done: Any) -> None:
        expected: list[int] = []

        def acked_tags() -> set[int]:
            tags: set[int] = set()
            last = 0
            for kind, tag, multiple in (e for e in events if e[0] in ("ack", "nack")):
                del kind
                tags.update(range(last + 1, tag + 1) if multiple else [tag])
                last = max(last, tag)
            return tags

        def on_confirm(frame: Any) -> None:
            method = frame.method
            events.append((method.NAME.split(".")[1].lower(), method.delivery_tag, method.multiple))
            if acked_tags() >= set(expected):
                done()

        def on_return(ch: Any, method: Any, props: Any, body: bytes) -> None:
            events.append(("return", method.reply_code, body))

        def on_declared(frame: Any) -> None:
            count = publishes(channel, frame.method.queue)
            expected.extend(range(1, count + 1))

        def on_select_ok(frame: Any) -> None:
            events.append(("select-ok", 0, False))
            channel.queue_declare("", exclusive=True, callback=on_declared)

        channel.add_on_return_callback(on_return)
        channel.confirm_delivery(ack_nack_callback=on_confirm, callback=on_select_ok)

    return scenario


def test_confirms_ack_every_publish_in_order(pika_params):
    events: list[tuple[str, int, bool]] = []

    def publish(channel: Any, queue: str) -> int:
        for i in range(200):
            channel.basic_publish("", queue, str(i).encode())
        return 200

    run_select_connection(pika_params(), _confirm_scenario(publish, events))
    assert events[0] == ("select-ok", 0, False)
    confirms = events[1:]
    assert all(kind == "ack" for kind, _, _ in confirms)
    tags = [tag for _, tag, _ in confirms]
    assert tags == sorted(tags) and len(set(tags)) == len(tags)
    assert tags[-1] == 200
    covered: set[int] = set()
    last = 0
    for _, tag, multiple in confirms:
        covered.update(range(last + 1, tag + 1) if multiple else [tag])
        last = tag
    assert covered == set(range(1, 201))


def test_confirm_mandatory_unroutable_returns_then_acks(pika_params, unique_name):
    events: list[tuple[Any, ...]] = []
    nowhere = unique_name("nowhere")

    def publish(channel: Any, queue: str) -> int:
        channel.basic_publish("", queue, b"routed", mandatory=True)
        channel.basic_publish("", nowhere, b"unroutable", mandatory=True)
        channel.basic_publish("", nowhere, b"dropped")
        return 3

    run_select_connection(pika_params(), _confirm_scenario(publish, events))
    kinds = [e[0] for e in events]
    assert kinds.count("return") == 1
    assert ("return", 312, b"unroutable") in events
    assert "nack" not in kinds
    # The return for message 2 comes before the ack that covers it.
    ret = kinds.index("return")
    ack_2 = next(i for i, e in enumerate(events) if e[0] == "ack" and e[1] >= 2)
    assert ret < ack_2


def test_blocking_confirms_raise_on_unroutable_mandatory(connection, unique_name):
    ch = connection.channel()
    ch.confirm_delivery()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"confirmed", mandatory=True)
    with pytest.raises(pika.exceptions.UnroutableError) as info:
        ch.basic_publish("", unique_name("nowhere"), b"bounce", mandatory=True)
    assert [m.body for m in info.value.messages] == [b"bounce"]
    ch.basic_publish("", unique_name("nowhere"), b"dropped but acked")
    assert get_message(ch, q, auto_ack=True)[2] == b"confirmed"


def test_confirm_select_is_idempotent(channel):
    channel.confirm_delivery()
    q = channel.queue_declare("", exclusive=True).method.queue
    channel.basic_publish("", q, b"x")
    assert get_message(channel, q, auto_ack=True)[2] == b"x"


def test_confirms_for_persistent_messages_on_durable_queue(channel, unique_name, cleanup):
    q = cleanup.queue(unique_name("durable"))
    channel.queue_declare(q, durable=True)
    channel.confirm_delivery()
    for i in range(20):
        channel.basic_publish("", q, str(i).encode(), pika.BasicProperties(delivery_mode=2))
    wait_ready(channel, q, 20)


def test_publish_to_missing_exchange_in_confirm_mode_closes_channel(connection, unique_name):
    ch = connection.channel()
    ch.confirm_delivery()
    ex = unique_name("missing")
    with channel_closed(404, no_exchange(ex)):
        ch.basic_publish(ex, "k", b"x")


def test_tx_publish_visible_only_after_commit(connect, channel):
    q = channel.queue_declare("", exclusive=True).method.queue
    channel.tx_select()
    channel.basic_publish("", q, b"a")
    channel.basic_publish("", q, b"b")
    pump(channel.connection, 0.1)
    assert channel.queue_declare(q, passive=True).method.message_count == 0
    channel.tx_commit()
    wait_ready(channel, q, 2)
    assert get_message(channel, q, auto_ack=True)[2] == b"a"


def test_tx_rollback_discards_publishes(channel):
    q = channel.queue_declare("", exclusive=True).method.queue
    channel.tx_select()
    channel.basic_publish("", q, b"rolled back")
    channel.tx_rollback()
    channel.basic_publish("", q, b"committed")
    channel.tx_commit()
    method, _, body = get_message(channel, q, auto_ack=True)
    assert (body, method.message_count) == (b"committed", 0)


def test_tx_acks_take_effect_on_commit_only(connection):
    ch = connection.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"0")
    ch.basic_publish("", q, b"1")
    wait_ready(ch, q, 2)
    ch.tx_select()
    first, _, _ = get_message(ch, q)
    second, _, _ = get_message(ch, q)
    ch.basic_ack(first.delivery_tag)
    ch.tx_rollback()  # the ack of "0" is forgotten; "0" stays unacked
    ch.basic_ack(second.delivery_tag)
    ch.tx_commit()
    ch.close()
    ch = connection.channel()
    wait_ready(ch, q, 1)
    method, _, body = get_message(ch, q, auto_ack=True)
    assert (body, method.redelivered) == (b"0", True)


def test_tx_stays_transactional_after_commit(channel):
    q = channel.queue_declare("", exclusive=True).method.queue
    channel.tx_select()
    channel.tx_select()
    channel.basic_publish("", q, b"first")
    channel.tx_commit()
    channel.basic_publish("", q, b"second")
    channel.tx_rollback()
    channel.tx_commit()
    wait_ready(channel, q, 1)


def test_tx_mandatory_unroutable_returned_after_commit(connection, unique_name):
    ch = connection.channel()
    returned = []
    ch.add_on_return_callback(lambda c, m, p, b: returned.append((m.reply_code, b)))
    ch.tx_select()
    ch.basic_publish("", unique_name("nowhere"), b"bounce", mandatory=True)
    ch.tx_commit()
    pump_until(connection, lambda: returned, message="basic.return")
    assert returned == [(312, b"bounce")]


def test_tx_commit_without_select_is_406(connection):
    with channel_closed(406, NOT_TRANSACTIONAL):
        connection.channel().tx_commit()
    assert connection.is_open


def test_tx_rollback_without_select_is_406(connection):
    with channel_closed(406, NOT_TRANSACTIONAL):
        connection.channel().tx_rollback()


def test_tx_then_confirm_is_406(connection):
    ch = connection.channel()
    ch.tx_select()
    with channel_closed(406, "PRECONDITION_FAILED - cannot switch from tx to confirm mode"):
        ch.confirm_delivery()


def test_confirm_then_tx_is_406(connection):
    ch = connection.channel()
    ch.confirm_delivery()
    with channel_closed(406, "PRECONDITION_FAILED - cannot switch from confirm to tx mode"):
        ch.tx_select()


def test_unacked_in_tx_requeued_when_channel_closes(connection):
    ch = connection.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"job")
    ch.tx_select()
    method, _, _ = get_message(ch, q)
    ch.basic_ack(method.delivery_tag)  # never committed
    ch.close()
    ch = connection.channel()
    wait_for(lambda: ch.queue_declare(q, passive=True).method.message_count == 1, message="1")
