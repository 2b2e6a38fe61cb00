"""Queues: naming, declare rules, exclusivity, auto-delete, bindings, purge, delete."""

from __future__ import annotations

import pika
import pika.exceptions
import pytest

from .helpers import (
    channel_closed,
    get_message,
    inequivalent,
    no_exchange,
    no_queue,
    pump,
    queue_exists,
    resource_locked,
    wait_for,
    wait_ready,
)


def test_server_named_queue(channel):
    ok = channel.queue_declare("", exclusive=True)
    name = ok.method.queue
    assert name.startswith("amq.gen-")
    assert len(name) > len("amq.gen-") + 10
    assert (ok.method.message_count, ok.method.consumer_count) == (0, 0)
    other = channel.queue_declare("", exclusive=True).method.queue
    assert other != name
    channel.queue_declare(name, passive=True)


def test_declare_ok_echoes_the_name_and_counts(connection, unique_name, cleanup):
    q = cleanup.queue(unique_name("q"))
    ch = connection.channel()
    ok = ch.queue_declare(q)
    assert (ok.method.queue, ok.method.message_count, ok.method.consumer_count) == (q, 0, 0)
    for i in range(3):
        ch.basic_publish("", q, str(i).encode())
    consumer_channel = connection.channel()
    consumer_channel.basic_qos(prefetch_count=1)
    consumer_channel.basic_consume(q, lambda *args: None)
    consumer_channel.basic_consume(q, lambda *args: None)

    def counts():
        ok = ch.queue_declare(q)
        return (ok.method.message_count, ok.method.consumer_count)

    # Two consumers with prefetch 1 hold one message each; one stays ready.
    wait_for(lambda: counts() == (1, 2), message="counts (1, 2)")
    ok = ch.queue_declare(q, passive=True)
    assert (ok.method.queue, ok.method.message_count, ok.method.consumer_count) == (q, 1, 2)


def test_passive_declare_of_missing_queue_is_404(connection, unique_name):
    q = unique_name("missing")
    with channel_closed(404, no_queue(q)):
        connection.channel().queue_declare(q, passive=True)
    assert connection.is_open


def test_passive_declare_of_missing_server_named_queue_is_404(connection):
    with channel_closed(404, no_queue("amq.gen-doesnotexist")):
        connection.channel().queue_declare("amq.gen-doesnotexist", passive=True)


def test_amq_prefix_is_reserved(connection, unique_name):
    q = "amq." + unique_name("q")
    with channel_closed(403, f"ACCESS_REFUSED - queue name '{q}' contains reserved prefix 'amq.*'"):
        connection.channel().queue_declare(q)


@pytest.mark.parametrize(
    ("first", "second", "arg", "received", "current"),
    [
        ({"durable": False}, {"durable": True}, "durable", "'true'", "'false'"),
        ({"durable": True}, {"durable": False}, "durable", "'false'", "'true'"),
        ({"auto_delete": False}, {"auto_delete": True}, "auto_delete", "'true'", "'false'"),
        (
            {"arguments": {"x-max-length": 10}},
            {"arguments": {"x-max-length": 20}},
            "x-max-length",
            "'20'",
            "'10'",
        ),
        (
            {"arguments": {"x-message-ttl": 1000}},
            {},
            "x-message-ttl",
            "none",
            "the value '1000' of type 'signedint'",
        ),
        (
            {},
            {"arguments": {"x-max-length": 5}},
            "x-max-length",
            "the value '5' of type 'signedint'",
            "none",
        ),
    ],
    ids=["durable-on", "durable-off", "auto-delete", "x-max-length", "ttl-dropped", "arg-added"],
)
def test_redeclare_with_other_properties_is_406(
    connection, unique_name, cleanup, first, second, arg, received, current
):
    q = cleanup.queue(unique_name("q"))
    connection.channel().queue_declare(q, **first)
    with channel_closed(406, inequivalent("queue", q, arg, received, current)):
        connection.channel().queue_declare(q, **second)
    assert connection.is_open
    connection.channel().queue_declare(q, passive=True)


def test_classic_type_named_or_not_is_equivalent(connection, unique_name, cleanup):
    q = cleanup.queue(unique_name("q"))
    channel = connection.channel()
    channel.queue_declare(q, durable=True)
    channel.queue_declare(q, durable=True, arguments={"x-queue-type": "classic"})
    # Another type is not: the queue was made without one.
    with channel_closed(
        406,
        inequivalent("queue", q, "x-queue-type", "the value 'quorum' of type 'longstr'", "none"),
    ):
        connection.channel().queue_declare(q, durable=True, arguments={"x-queue-type": "quorum"})


def test_passive_declare_ignores_other_properties(channel, unique_name, cleanup):
    q = cleanup.queue(unique_name("q"))
    channel.queue_declare(q, durable=False)
    channel.queue_declare(q, durable=True, auto_delete=True, passive=True)


def test_unknown_x_arguments_are_ignored_for_equivalence(channel, unique_name, cleanup):
    q = cleanup.queue(unique_name("q"))
    channel.queue_declare(q, arguments={"x-my-tag": "a"})
    channel.queue_declare(q, arguments={"x-my-tag": "b"})
    channel.queue_declare(q)


def test_exclusive_queue_is_locked_for_other_connections(connect, unique_name):
    owner = connect()
    q = unique_name("excl")
    owner.channel().queue_declare(q, exclusive=True)
    other = connect()
    with channel_closed(405, resource_locked(q)):
        other.channel().queue_declare(q, exclusive=True)
    with channel_closed(405, resource_locked(q)):
        other.channel().queue_declare(q)
    with channel_closed(405, resource_locked(q)):
        other.channel().queue_declare(q, passive=True)
    with channel_closed(405, resource_locked(q)):
        other.channel().basic_consume(q, lambda *args: None)
    with channel_closed(405, resource_locked(q)):
        other.channel().queue_purge(q)
    with channel_closed(405, resource_locked(q)):
        other.channel().queue_delete(q)
    with channel_closed(405, resource_locked(q)):
        other.channel().basic_get(q)
    assert other.is_open
    # Publishing into another connection's exclusive queue is allowed.
    other.channel().basic_publish("", q, b"hello owner")
    assert get_message(owner.channel(), q, auto_ack=True)[2] == b"hello owner"


def test_exclusive_queue_usable_from_other_channels_of_its_connection(connection, unique_name):
    q = unique_name("excl")
    connection.channel().queue_declare(q, exclusive=True)
    ch = connection.channel()
    ch.queue_declare(q, passive=True)
    ch.queue_declare(q, exclusive=True)
    ch.basic_publish("", q, b"x")
    assert get_message(ch, q, auto_ack=True)[2] == b"x"


def test_redeclare_exclusive_queue_as_non_exclusive_is_405(connection, unique_name):
    q = unique_name("excl")
    connection.channel().queue_declare(q, exclusive=True)
    with channel_closed(405, resource_locked(q)):
        connection.channel().queue_declare(q, exclusive=False)
    connection.channel().queue_declare(q, passive=True)


def test_long_reply_texts_are_cut_to_255_bytes(connection):
    q = "excl-" + "n" * 200
    connection.channel().queue_declare(q, exclusive=True)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        connection.channel().queue_declare(q)
    text = info.value.reply_text
    assert len(text.encode()) == 255
    assert text == resource_locked(q)[:252] + "..."


def test_declare_non_exclusive_queue_as_exclusive_is_405(connect, unique_name, cleanup):
    q = cleanup.queue(unique_name("shared"))
    conn = connect()
    conn.channel().queue_declare(q)
    with channel_closed(405, resource_locked(q)):
        conn.channel().queue_declare(q, exclusive=True)


def test_exclusive_queue_deleted_when_connection_closes(connect, unique_name):
    owner = connect()
    q = unique_name("excl")
    owner.channel().queue_declare(q, exclusive=True, durable=False)
    owner.channel().basic_publish("", q, b"gone with the connection")
    owner.close()
    wait_for(lambda: not queue_exists(connect, q), message="exclusive queue deleted")


def test_exclusive_queue_survives_channel_close(connection, unique_name):
    q = unique_name("excl")
    ch = connection.channel()
    ch.queue_declare(q, exclusive=True)
    ch.close()
    connection.channel().queue_declare(q, passive=True)


def test_auto_delete_queue_deleted_after_last_consumer_cancels(connect, unique_name, cleanup):
    q = cleanup.queue(unique_name("autodel"))
    conn = connect()
    ch = conn.channel()
    ch.queue_declare(q, auto_delete=True)
    tag1 = ch.basic_consume(q, lambda *args: None)
    tag2 = ch.basic_consume(q, lambda *args: None)
    ch.basic_cancel(tag1)
    assert queue_exists(connect, q)
    ch.basic_cancel(tag2)
    wait_for(lambda: not queue_exists(connect, q), message="auto-delete queue deleted")


def test_auto_delete_queue_deleted_when_consumer_channel_closes(connect, unique_name, cleanup):
    q = cleanup.queue(unique_name("autodel"))
    conn = connect()
    ch = conn.channel()
    ch.queue_declare(q, auto_delete=True)
    ch.basic_consume(q, lambda *args: None)
    ch.close()
    wait_for(lambda: not queue_exists(connect, q), message="auto-delete queue deleted")


def test_auto_delete_queue_without_consumers_stays(connect, unique_name, cleanup):
    q = cleanup.queue(unique_name("autodel"))
    conn = connect()
    ch = conn.channel()
    ch.queue_declare(q, auto_delete=True)
    ch.basic_publish("", q, b"x")
    get_message(ch, q, auto_ack=True)  # basic.get is not a consumer
    conn.close()
    assert queue_exists(connect, q)


def test_bind_and_unbind(channel, unique_name, cleanup):
    ex = cleanup.exchange(unique_name("ex"))
    channel.exchange_declare(ex, exchange_type="direct")
    q = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(q, ex, routing_key="k")
    channel.queue_bind(q, ex, routing_key="k")  # binding twice is fine
    channel.basic_publish(ex, "k", b"bound")
    assert get_message(channel, q, auto_ack=True)[2] == b"bound"
    channel.queue_unbind(q, ex, routing_key="k")
    channel.basic_publish(ex, "k", b"unbound")
    channel.basic_publish("", q, b"marker")
    assert get_message(channel, q, auto_ack=True)[2] == b"marker"


def test_unbind_is_idempotent(channel, unique_name, cleanup):
    ex = cleanup.exchange(unique_name("ex"))
    channel.exchange_declare(ex, exchange_type="direct")
    q = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_unbind(q, ex, routing_key="never-bound")
    channel.queue_unbind(q, "amq.direct", routing_key="never-bound")
    channel.queue_unbind(q, ex, routing_key="never-bound", arguments={"a": 1})


def test_unbind_missing_queue_or_exchange_is_ok(channel, unique_name):
    q = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_unbind(unique_name("missing-q"), "amq.direct", routing_key="k")
    channel.queue_unbind(q, unique_name("missing-x"), routing_key="k")


def test_bind_to_missing_queue_is_404(connection, unique_name):
    q = unique_name("missing")
    with channel_closed(404, no_queue(q)):
        connection.channel().queue_bind(q, "amq.direct", routing_key="k")


def test_bind_to_missing_exchange_is_404(connection, unique_name):
    q = connection.channel().queue_declare("", exclusive=True).method.queue
    ex = unique_name("missing")
    with channel_closed(404, no_exchange(ex)):
        connection.channel().queue_bind(q, ex, routing_key="k")


def test_bind_to_default_exchange_is_403(connection):
    ch = connection.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    with channel_closed(403, "ACCESS_REFUSED - operation not permitted on the default exchange"):
        ch.queue_bind(q, "", routing_key="k")


def test_empty_queue_name_means_last_declared_queue(raw_client):
    from pamqp import commands

    client = raw_client()
    client.handshake()
    client.open_channel(1)
    client.send(commands.Queue.Bind(queue="", exchange="amq.direct", routing_key="k"), 1)
    close = client.recv_method()
    assert isinstance(close, commands.Channel.Close)
    assert (close.reply_code, close.reply_text) == (
        404,
        "NOT_FOUND - no previously declared queue",
    )
    client.send(commands.Channel.CloseOk(), 1)
    client.open_channel(1)
    client.send(commands.Queue.Declare(queue="", exclusive=True), 1)
    name = client.recv_method().queue
    client.send(commands.Queue.Bind(queue="", exchange="amq.fanout", routing_key=""), 1)
    assert isinstance(client.recv_method(), commands.Queue.BindOk)
    client.send(commands.Queue.Purge(queue=""), 1)
    assert isinstance(client.recv_method(), commands.Queue.PurgeOk)
    client.send(commands.Queue.Declare(queue=name, passive=True), 1)
    ok = client.recv_method()
    assert ok.queue == name


def test_purge_returns_count_and_keeps_unacked(connection, unique_name, cleanup):
    q = cleanup.queue(unique_name("q"))
    ch = connection.channel()
    ch.queue_declare(q)
    for i in range(5):
        ch.basic_publish("", q, str(i).encode())
    wait_ready(ch, q, 5)
    method, _, body = get_message(ch, q)
    assert body == b"0"
    ok = ch.queue_purge(q)
    assert ok.method.message_count == 4
    assert ch.queue_purge(q).method.message_count == 0
    ch.basic_nack(method.delivery_tag, requeue=True)
    assert get_message(ch, q, auto_ack=True)[2] == b"0"


def test_purge_missing_queue_is_404(connection, unique_name):
    q = unique_name("missing")
    with channel_closed(404, no_queue(q)):
        connection.channel().queue_purge(q)


def test_delete_returns_message_count(connect, channel, unique_name, cleanup):
    q = cleanup.queue(unique_name("q"))
    channel.queue_declare(q)
    for _ in range(3):
        channel.basic_publish("", q, b"x")
    wait_ready(channel, q, 3)
    ok = channel.queue_delete(q)
    assert ok.method.message_count == 3
    assert not queue_exists(connect, q)


def test_delete_missing_queue_is_ok(channel, unique_name):
    ok = channel.queue_delete(unique_name("missing"))
    assert ok.method.message_count == 0
    ok = channel.queue_delete(unique_name("missing"), if_unused=True, if_empty=True)
    assert ok.method.message_count == 0


def test_delete_if_unused_with_consumer_is_406(connection, unique_name, cleanup):
    q = cleanup.queue(unique_name("q"))
    ch = connection.channel()
    ch.queue_declare(q)
    ch.basic_consume(q, lambda *args: None)
    with channel_closed(406, f"PRECONDITION_FAILED - queue '{q}' in vhost '/' in use"):
        connection.channel().queue_delete(q, if_unused=True)
    connection.channel().queue_declare(q, passive=True)


def test_delete_if_empty_with_messages_is_406(connection, unique_name, cleanup):
    q = cleanup.queue(unique_name("q"))
    ch = connection.channel()
    ch.queue_declare(q)
    ch.basic_publish("", q, b"x")
    with channel_closed(406, f"PRECONDITION_FAILED - queue '{q}' in vhost '/' not empty"):
        connection.channel().queue_delete(q, if_empty=True)
    ch = connection.channel()
    get_message(ch, q, auto_ack=True)
    assert ch.queue_delete(q, if_empty=True, if_unused=True).method.message_count == 0


def test_deleting_a_queue_removes_its_bindings(channel, unique_name, cleanup):
    ex = cleanup.exchange(unique_name("ex"))
    q = cleanup.queue(unique_name("q"))
    channel.exchange_declare(ex, exchange_type="fanout")
    channel.queue_declare(q)
    channel.queue_bind(q, ex)
    channel.queue_delete(q)
    channel.queue_declare(q)
    channel.basic_publish(ex, "", b"no binding any more")
    channel.basic_publish("", q, b"marker")
    assert get_message(channel, q, auto_ack=True)[2] == b"marker"


def test_durable_queue_with_persistent_messages(channel, unique_name, cleanup):
    q = cleanup.queue(unique_name("durable"))
    channel.queue_declare(q, durable=True)
    channel.basic_publish("", q, b"p", pika.BasicProperties(delivery_mode=2))
    channel.basic_publish("", q, b"t", pika.BasicProperties(delivery_mode=1))
    _, props, body = get_message(channel, q, auto_ack=True)
    assert (body, props.delivery_mode) == (b"p", 2)
    _, props, body = get_message(channel, q, auto_ack=True)
    assert (body, props.delivery_mode) == (b"t", 1)


def test_queue_message_ttl_expires_messages(channel, unique_name, cleanup):
    q = cleanup.queue(unique_name("ttl"))
    channel.queue_declare(q, arguments={"x-message-ttl": 300})
    channel.basic_publish("", q, b"short-lived")
    wait_for(
        lambda: channel.queue_declare(q, passive=True).method.message_count == 1,
        message="the message to arrive",
    )
    wait_for(
        lambda: channel.queue_declare(q, passive=True).method.message_count == 0,
        message="the message to expire",
    )
    assert channel.basic_get(q, auto_ack=True) == (None, None, None)


def test_consumer_count_drops_when_consumer_connection_closes(connect, unique_name, cleanup):
    q = cleanup.queue(unique_name("q"))
    ch = connect().channel()
    ch.queue_declare(q)
    consumer = connect()
    consumer.channel().basic_consume(q, lambda *args: None)
    pump(consumer)
    assert ch.queue_declare(q, passive=True).method.consumer_count == 1
    consumer.close()
    wait_for(
        lambda: ch.queue_declare(q, passive=True).method.consumer_count == 0,
        message="consumer_count 0",
    )


# ------------------------------------------------- queue.delete on the consuming channel


def test_py_amqp_queue_delete_on_consuming_channel_returns_count(
    broker_host, broker_port, unique_name, cleanup
):
    """RabbitMQ sends queue.delete-ok before basic.cancel; py-amqp (so kombu) raises
    ConsumerCancelled out of queue_delete() when the cancel comes first."""
    import amqp
    import amqp.exceptions

    q = cleanup.queue(unique_name("q"))
    conn = amqp.Connection(f"{broker_host}:{broker_port}", userid="guest", password="guest")
    conn.connect()
    try:
        ch = conn.channel()
        ch.queue_declare(q)
        for i in range(3):
            ch.basic_publish(amqp.Message(f"m{i}".encode()), exchange="", routing_key=q)
        wait_for(lambda: ch.queue_declare(q, passive=True).message_count == 3)
        ch.basic_qos(0, 1, False)
        delivered: list[bytes] = []
        tag = ch.basic_consume(q, callback=lambda msg: delivered.append(msg.body))
        while not delivered:
            conn.drain_events(timeout=5)
        # One delivery is unacked; two messages are still ready.
        assert ch.queue_delete(q) == 2
        assert delivered == [b"m0"]
        # The cancel notification arrives after the delete-ok.
        with pytest.raises(amqp.exceptions.ConsumerCancelled):
            conn.drain_events(timeout=5)
        assert tag not in ch.callbacks
    finally:
        if conn.connected:
            conn.close()
        else:
            conn.collect()


def test_queue_delete_ok_precedes_basic_cancel_on_the_wire(raw_client, unique_name, cleanup):
    from pamqp import commands, header, heartbeat

    q = cleanup.queue(unique_name("q"))
    client = raw_client()
    client.send(header.ProtocolHeader())
    start = client.recv_method()
    assert isinstance(start, commands.Connection.Start), start
    client.send(
        commands.Connection.StartOk(
            client_properties={"product": "t", "capabilities": {"consumer_cancel_notify": True}},
            mechanism="PLAIN",
            response="\0guest\0guest",
        )
    )
    tune = client.recv_method()
    client.send(commands.Connection.TuneOk(tune.channel_max, tune.frame_max, 0))
    client.send(commands.Connection.Open(virtual_host="/"))
    assert isinstance(client.recv_method(), commands.Connection.OpenOk)
    client.open_channel(1)
    client.open_channel(2)
    client.send(commands.Queue.Declare(queue=q), 1)
    assert isinstance(client.recv_method(), commands.Queue.DeclareOk)
    client.send(commands.Basic.Consume(queue=q, consumer_tag="c1"), 1)
    assert isinstance(client.recv_method(), commands.Basic.ConsumeOk)
    client.send(commands.Basic.Consume(queue=q, consumer_tag="c2"), 2)
    assert isinstance(client.recv_method(), commands.Basic.ConsumeOk)
    client.send(commands.Queue.Delete(queue=q), 1)
    frames = []
    while len(frames) < 3:
        got = client.recv()
        assert got is not None, "the broker closed the socket"
        if not isinstance(got[1], heartbeat.Heartbeat):
            frames.append((got[0], type(got[1]).__name__, getattr(got[1], "consumer_tag", None)))
    # On the deleting channel delete-ok comes first; the other channel's cancel may come at
    # any point (RabbitMQ's channels learn of the deletion independently).
    assert [f for f in frames if f[0] == 1] == [(1, "DeleteOk", None), (1, "Cancel", "c1")]
    assert (2, "Cancel", "c2") in frames


# ------------------------------------------------------ durable declares on a full disk


@pytest.mark.leveret_only
def test_durable_declare_on_a_full_disk_is_refused_cleanly(tmp_path):
    """The definitions database cannot grow (SQLITE_FULL, injected with SQLite's
    max_page_count since CI cannot fill a real disk): a durable declare is refused with a
    channel error, the connection stays usable, and nothing is left half-declared."""
    import leveret

    with leveret.Broker(data_dir=tmp_path) as broker:
        db = broker.node.definitions.db  # type: ignore[attr-defined]

        def set_limit(pages: int | None) -> None:
            if pages is None:
                pages = db.execute("PRAGMA page_count").fetchone()[0]
            db.execute(f"PRAGMA max_page_count={pages}")

        conn = pika.BlockingConnection(pika.URLParameters(broker.url))
        ch = conn.channel()
        ch.exchange_declare("events", "direct", durable=True)
        broker._call(lambda: set_limit(None))
        declared = []
        refused = None
        for n in range(10_000):
            try:
                ch.queue_declare(f"q{n}", durable=True)
            except pika.exceptions.ChannelClosedByBroker as error:
                refused = (f"q{n}", error)
                break
            declared.append(f"q{n}")
        assert refused is not None
        name, error = refused
        assert (error.reply_code, error.reply_text) == (
            506,
            f"RESOURCE_ERROR - cannot store queue '{name}' in vhost '/': database or disk is full",
        )
        assert conn.is_open
        ch = conn.channel()
        with channel_closed(404, no_queue(name)):
            ch.queue_declare(name, passive=True)
        ch = conn.channel()
        ch.queue_declare("transient", durable=False)  # needs no store: still works
        ch.queue_bind("transient", "events", "k")
        assert [q.name for q in broker.queues() if q.name == name] == []
        broker._call(lambda: set_limit(1 << 30))
        ch.queue_declare(name, durable=True)
        conn.close()
    with leveret.Broker(data_dir=tmp_path) as broker:
        assert {q.name for q in broker.queues()} == {*declared, name}


def test_kombu_queue_delete_while_consuming_on_the_same_channel(broker_url, unique_name, cleanup):
    import amqp.exceptions
    import kombu

    name = cleanup.queue(unique_name("q"))
    conn = kombu.Connection(broker_url, connect_timeout=10)
    conn.connect()
    try:
        ch = conn.channel()
        queue = kombu.Queue(name, channel=ch)
        queue.declare()
        producer = kombu.Producer(ch)
        for _ in range(3):
            producer.publish(b"x", routing_key=name)
        wait_for(lambda: queue.queue_declare(passive=True).message_count == 3)
        received = []
        consumer = kombu.Consumer(
            ch, queues=[queue], callbacks=[lambda body, msg: received.append(body)]
        )
        consumer.qos(prefetch_count=1)
        consumer.consume()
        conn.drain_events(timeout=5)
        assert received == [b"x"]
        assert queue.delete() == 2
        # The cancel notification comes after the delete-ok.
        with pytest.raises(amqp.exceptions.ConsumerCancelled):
            conn.drain_events(timeout=5)
    finally:
        conn.release()
