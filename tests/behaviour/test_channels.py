"""Channels: soft errors close one channel only; many channels share a connection."""

from __future__ import annotations

import pika.exceptions
import pytest
from pamqp import commands

from .helpers import (
    channel_closed,
    connection_closed,
    get_message,
    no_queue,
    pump_until,
    wait_for,
)


def test_channel_error_closes_only_that_channel(connection, unique_name):
    survivor = connection.channel()
    victim = connection.channel()
    missing = unique_name("missing")
    with channel_closed(404, no_queue(missing)):
        victim.queue_declare(missing, passive=True)
    assert victim.is_closed
    assert connection.is_open
    assert survivor.is_open
    q = survivor.queue_declare("", exclusive=True).method.queue
    survivor.basic_publish("", q, b"still works")
    assert get_message(survivor, q, auto_ack=True)[2] == b"still works"
    fresh = connection.channel()
    assert fresh.queue_declare(q, passive=True).method.message_count == 0


def test_closed_channel_number_can_be_reopened(connection, unique_name):
    ch = connection.channel()
    number = ch.channel_number
    missing = unique_name("missing")
    with channel_closed(404, no_queue(missing)):
        ch.queue_declare(missing, passive=True)
    reopened = connection.channel(channel_number=number)
    assert reopened.channel_number == number
    assert reopened.queue_declare("", exclusive=True).method.queue.startswith("amq.gen-")


def test_client_closes_and_reopens_channel(connection):
    for _ in range(20):
        ch = connection.channel(channel_number=7)
        ch.queue_declare("", exclusive=True)
        ch.close()
    assert connection.is_open


def test_consumer_on_other_channel_keeps_receiving_after_a_channel_error(connection, unique_name):
    consumer = connection.channel()
    q = consumer.queue_declare("", exclusive=True).method.queue
    received = []
    consumer.basic_consume(q, lambda ch, m, p, b: received.append(b), auto_ack=True)
    bad = connection.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker):
        bad.exchange_declare(unique_name("missing"), passive=True)
    publisher = connection.channel()
    publisher.basic_publish("", q, b"after the error")
    pump_until(connection, lambda: received, message="delivery")
    assert received == [b"after the error"]


def test_many_channels_on_one_connection(connection):
    channels = [connection.channel() for _ in range(300)]
    assert len({ch.channel_number for ch in channels}) == 300
    q = channels[0].queue_declare("", exclusive=True).method.queue
    for i, ch in enumerate(channels):
        ch.basic_publish("", q, str(i).encode())
    # Publishes on different channels are not ordered with respect to each other.
    wait_for(
        lambda: channels[-1].queue_declare(q, passive=True).method.message_count == 300,
        message="300 messages",
    )
    for ch in channels[1:]:
        ch.close()
    got = [get_message(channels[0], q, auto_ack=True)[2] for _ in range(300)]
    assert sorted(int(b) for b in got) == list(range(300))


def test_high_channel_numbers_are_usable(raw_client):
    client = raw_client()
    client.handshake()
    for number in (2047, 1000, 1):
        client.open_channel(number)
        client.send(commands.Queue.Declare(queue="", exclusive=True), number)
        reply = client.recv_method()
        assert isinstance(reply, commands.Queue.DeclareOk)
        assert reply.queue.startswith("amq.gen-")


def test_frames_after_server_channel_close_are_discarded(raw_client, unique_name):
    client = raw_client()
    client.handshake()
    client.open_channel(1)
    client.open_channel(2)
    missing = unique_name("missing")
    client.send(commands.Queue.Declare(queue=missing, passive=True), 1)
    close = client.recv_method()
    assert isinstance(close, commands.Channel.Close)
    assert (close.reply_code, close.reply_text) == (404, no_queue(missing))
    assert (close.class_id, close.method_id) == (50, 10)
    # Until close-ok, everything else sent on channel 1 is ignored.
    client.send(commands.Queue.Declare(queue="", exclusive=True), 1)
    client.send(commands.Basic.Qos(prefetch_count=5), 1)
    client.send(commands.Channel.CloseOk(), 1)
    # Channel 2 never noticed.
    client.send(commands.Queue.Declare(queue="", exclusive=True), 2)
    reply = client.recv_method()
    assert isinstance(reply, commands.Queue.DeclareOk)
    client.open_channel(1)


def test_client_channel_close_gets_close_ok(raw_client):
    client = raw_client()
    client.handshake()
    client.open_channel(3)
    client.send(commands.Channel.Close(200, "Normal shutdown", 0, 0), 3)
    assert isinstance(client.recv_method(), commands.Channel.CloseOk)
    client.open_channel(3)


def test_channel_flow_active_true_is_acknowledged(channel):
    assert channel.flow(True) is True


def test_channel_flow_active_false_is_not_implemented(connection):
    ch = connection.channel()
    with connection_closed(540, "NOT_IMPLEMENTED - active=false"):
        ch.flow(False)
    assert connection.is_closed


def test_channel_method_on_channel_zero_is_504(raw_client):
    client = raw_client()
    client.handshake()
    client.send(commands.Queue.Declare(queue="", exclusive=True), 0)
    client.expect_connection_close(
        504, "CHANNEL_ERROR - unexpected method in connection state running"
    )


def test_connection_error_closes_every_channel(connection):
    channels = [connection.channel() for _ in range(3)]
    with connection_closed(540, "NOT_IMPLEMENTED - prefetch_size!=0 (1)"):
        channels[1].basic_qos(prefetch_size=1)
    assert all(ch.is_closed for ch in channels)
    assert connection.is_closed
