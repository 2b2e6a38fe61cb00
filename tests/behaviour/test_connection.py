"""Connection layer: handshake, server properties, authentication, vhosts, tuning."""

from __future__ import annotations

import time

import amqp
import pika
import pika.exceptions
import pytest
from pamqp import commands, frame, header, heartbeat

# RabbitMQ's capability keys. A broker may advertise a subset (only what it really
# implements) but never a key outside this set, and never a false value.
CAPABILITIES = {
    "publisher_confirms",
    "exchange_exchange_bindings",
    "basic.nack",
    "consumer_cancel_notify",
    "connection.blocked",
    "consumer_priorities",
    "authentication_failure_close",
    "per_consumer_qos",
    "direct_reply_to",
}
# What every client in the seed programs relies on: both brokers must advertise these.
CORE_CAPABILITIES = {
    "publisher_confirms",
    "basic.nack",
    "consumer_cancel_notify",
    "authentication_failure_close",
    "per_consumer_qos",
    "connection.blocked",
    "exchange_exchange_bindings",
    "consumer_priorities",
}


def check_capabilities(capabilities: dict) -> None:
    assert CORE_CAPABILITIES <= set(capabilities) <= CAPABILITIES, capabilities
    assert all(value is True for value in capabilities.values()), capabilities


LOGIN_REFUSED = (
    "ACCESS_REFUSED - Login was refused using authentication mechanism {}. "
    "For details see the broker logfile."
)


def test_server_properties_as_seen_by_pika(connection):
    props = connection._impl.server_properties
    for key in ("product", "version", "platform"):
        assert isinstance(props[key], str | bytes) and props[key], key
    check_capabilities(props["capabilities"])


def test_connection_start_as_seen_on_the_wire(raw_client):
    client = raw_client()
    client.send(header.ProtocolHeader())
    start = client.recv_method()
    assert isinstance(start, commands.Connection.Start)
    assert (start.version_major, start.version_minor) == (0, 9)
    assert set(start.mechanisms.split()) >= {"PLAIN", "AMQPLAIN"}
    assert "en_US" in start.locales.split()
    check_capabilities(start.server_properties["capabilities"])


def test_server_properties_as_seen_by_py_amqp(broker_host, broker_port):
    conn = amqp.Connection(f"{broker_host}:{broker_port}", userid="guest", password="guest")
    conn.connect()
    try:
        props = conn.server_properties
        assert props["capabilities"]["publisher_confirms"] is True
        assert props["capabilities"]["basic.nack"] is True
        check_capabilities(props["capabilities"])
    finally:
        conn.close()


def test_tune_proposes_rabbitmq_defaults(raw_client):
    client = raw_client()
    client.handshake()
    assert client.tune is not None
    assert client.tune.channel_max == 2047
    assert client.tune.frame_max == 131072
    assert client.tune.heartbeat == 60


def test_pika_negotiates_server_defaults(connect):
    conn = connect(heartbeat=None)  # pika's own channel_max and frame_max are higher
    params = conn._impl.params
    assert (params.heartbeat, params.channel_max, params.frame_max) == (60, 2047, 131072)


def test_client_lower_values_are_honoured(connect):
    conn = connect(heartbeat=5, channel_max=10, frame_max=8192)
    params = conn._impl.params
    assert (params.heartbeat, params.channel_max, params.frame_max) == (5, 10, 8192)
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"z" * 50_000)  # bodies are split at the lowered frame_max
    _, _, body = ch.basic_get(q, auto_ack=True)
    assert body == b"z" * 50_000


def test_py_amqp_heartbeat_negotiation(broker_host, broker_port):
    conn = amqp.Connection(f"{broker_host}:{broker_port}", heartbeat=7)
    conn.connect()
    try:
        assert conn.heartbeat == 7
    finally:
        conn.close()


def test_server_sends_heartbeats(raw_client):
    client = raw_client()
    client.handshake(heartbeat_interval=1)
    started = time.monotonic()
    got = client.recv(timeout=5)
    assert got is not None
    channel, value = got
    assert (channel, type(value)) == (0, heartbeat.Heartbeat)
    assert time.monotonic() - started < 3


def test_silent_client_is_disconnected_after_missed_heartbeats(raw_client):
    client = raw_client()
    client.handshake(heartbeat_interval=1)
    started = time.monotonic()
    assert client.wait_eof(timeout=15), "the broker kept a silent connection open"
    assert time.monotonic() - started >= 1


def test_bad_password_is_refused_with_403(connect):
    with pytest.raises(pika.exceptions.ProbableAuthenticationError) as info:
        connect(credentials=pika.PlainCredentials("guest", "wrong password"))
    assert f"(403) '{LOGIN_REFUSED.format('PLAIN')}'" in str(info.value)


def test_unknown_user_is_refused_with_403(connect):
    with pytest.raises(pika.exceptions.ProbableAuthenticationError) as info:
        connect(credentials=pika.PlainCredentials("no-such-user", "guest"))
    assert f"(403) '{LOGIN_REFUSED.format('PLAIN')}'" in str(info.value)


def test_bad_password_raw_connection_close(raw_client):
    client = raw_client()
    client.send(header.ProtocolHeader())
    assert isinstance(client.recv_method(), commands.Connection.Start)
    client.send(
        commands.Connection.StartOk(
            client_properties={"capabilities": {"authentication_failure_close": True}},
            mechanism="PLAIN",
            response="\0guest\0nope",
        )
    )
    client.expect_connection_close(403, LOGIN_REFUSED.format("PLAIN"))
    assert client.wait_eof()


def test_amqplain_login_with_py_amqp(broker_host, broker_port):
    conn = amqp.Connection(
        f"{broker_host}:{broker_port}",
        userid="guest",
        password="guest",
        login_method="AMQPLAIN",
    )
    conn.connect()
    try:
        ch = conn.channel()
        name, _, _ = ch.queue_declare(exclusive=True)
        assert name.startswith("amq.gen-")
    finally:
        conn.close()


def test_amqplain_bad_password_is_refused(broker_host, broker_port):
    conn = amqp.Connection(
        f"{broker_host}:{broker_port}",
        userid="guest",
        password="wrong",
        login_method="AMQPLAIN",
    )
    with pytest.raises(amqp.exceptions.AccessRefused) as info:
        conn.connect()
    assert info.value.reply_code == 403
    assert info.value.reply_text == LOGIN_REFUSED.format("AMQPLAIN")


def test_unknown_vhost_is_530(connect):
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as info:
        connect(virtual_host="no-such-vhost")
    assert "(530) 'NOT_ALLOWED - vhost no-such-vhost not found'" in str(info.value)


def test_unknown_vhost_raw_connection_close(raw_client):
    client = raw_client()
    client.send(header.ProtocolHeader())
    client.recv_method()
    client.send(commands.Connection.StartOk(mechanism="PLAIN", response="\0guest\0guest"))
    tune = client.recv_method()
    client.send(commands.Connection.TuneOk(tune.channel_max, tune.frame_max, 0))
    client.send(commands.Connection.Open(virtual_host="missing"))
    client.expect_connection_close(530, "NOT_ALLOWED - vhost missing not found")
    assert client.wait_eof()


@pytest.mark.parametrize(
    "greeting",
    [
        b"GET / HTTP/1.1\r\n\r\n",
        b"AMQP\x01\x01\x00\x0a",  # AMQP 0-10
        b"AMQP\x00\x01\x00\x00",  # AMQP 1.0
        b"AMQP\x00\x00\x08\x00",  # AMQP 0-8
    ],
    ids=["http", "amqp-0-10", "amqp-1-0", "amqp-0-8"],
)
def test_wrong_protocol_header_gets_091_header_and_close(raw_client, greeting):
    client = raw_client()
    client.send_bytes(greeting)
    received = b""
    while True:
        data = client.read_bytes(5)
        if not data:
            break
        received += data
    assert received == b"AMQP\x00\x00\x09\x01"


def test_channel_max_exceeded_closes_the_connection_with_530(raw_client):
    client = raw_client()
    client.handshake(channel_max=2)
    client.open_channel(1)
    client.open_channel(2)
    client.send(commands.Channel.Open(), 3)
    client.expect_connection_close(
        530,
        "NOT_ALLOWED - number of channels opened (2) has reached the negotiated channel_max (2)",
    )
    assert client.wait_eof()


def test_channel_max_counts_open_channels_not_numbers(raw_client):
    client = raw_client()
    client.handshake(channel_max=2)
    client.open_channel(1)
    client.send(commands.Channel.Close(200, "bye", 0, 0), 1)
    assert isinstance(client.recv_method(), commands.Channel.CloseOk)
    client.open_channel(2)
    client.open_channel(1)


def test_pika_refuses_more_channels_than_negotiated(connect):
    conn = connect(channel_max=3)
    channels = [conn.channel() for _ in range(3)]
    assert sorted(ch.channel_number for ch in channels) == [1, 2, 3]
    with pytest.raises(pika.exceptions.NoFreeChannels):
        conn.channel()
    channels[0].close()
    assert conn.channel().is_open


def test_many_connections_at_once(connect):
    conns = [connect() for _ in range(25)]
    names = [c.channel().queue_declare("", exclusive=True).method.queue for c in conns]
    assert len(set(names)) == 25
    for c in conns:
        c.close()


def test_client_close_is_orderly(raw_client):
    client = raw_client()
    client.handshake()
    client.send(commands.Connection.Close(200, "Normal shutdown", 0, 0))
    reply = client.recv_method()
    assert isinstance(reply, commands.Connection.CloseOk)


def test_method_on_unopened_channel_is_504(raw_client):
    client = raw_client()
    client.handshake()
    client.send(commands.Queue.Declare(queue="", exclusive=True), 5)
    client.expect_connection_close(504, "CHANNEL_ERROR - expected 'channel.open'")


def test_second_channel_open_is_504(raw_client):
    client = raw_client()
    client.handshake()
    client.open_channel(1)
    client.send(commands.Channel.Open(), 1)
    client.expect_connection_close(504, "CHANNEL_ERROR - second 'channel.open' seen")


def test_heartbeat_on_nonzero_channel_is_505(raw_client):
    client = raw_client()
    client.handshake()
    client.open_channel(1)
    client.send_bytes(b"\x08\x00\x01\x00\x00\x00\x00\xce")  # heartbeat frame on channel 1
    text = client.expect_connection_close(505)
    assert text.startswith("UNEXPECTED_FRAME - ")


def test_bad_frame_end_is_501(raw_client):
    client = raw_client()
    client.handshake()
    data = bytearray(frame.marshal(commands.Channel.Open(), 1))
    data[-1] = 0
    client.send_bytes(bytes(data))
    text = client.expect_connection_close(501)
    assert text.startswith("FRAME_ERROR - ")
