"""Compatibility profiles (``--compat rabbitmq-3|rabbitmq-4``) and ``--max-message-size``.

Each difference listed in docs/compatibility.md is checked here under both profiles, each
on an embedded Leveret broker started with that profile. With ``LEVERET_TEST_BROKER_URL``
pointing at a RabbitMQ 3.x node, the rabbitmq-3 cases run against that node instead (and the
rabbitmq-4 cases are skipped): the same assertions are the evidence that the profile
matches real 3.x. Tests about Leveret's own settings are ``leveret_only``.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pika
import pika.compat
import pika.exceptions
import pytest
from pamqp import commands, frame, header

import leveret

from .helpers import (
    RawClient,
    channel_closed,
    connection_closed,
    drain,
    get_message,
    pump_until,
)

MIB = 1024 * 1024
REPLY_TO = "amq.rabbitmq.reply-to"
PROFILES = ("rabbitmq-3", "rabbitmq-4")


def too_large(size: int, limit: int) -> str:
    # rabbit_channel:check_msg_size/3; the same text in 3.x and 4.x.
    return f"PRECONDITION_FAILED - message size {size} is larger than configured max size {limit}"


def open_connection(url: str) -> pika.BlockingConnection:
    params = pika.URLParameters(url)
    params.connection_attempts = 1
    params.socket_timeout = 10
    params.blocked_connection_timeout = 30
    return pika.BlockingConnection(params)


class ProfileBroker:
    """A broker following one profile, and the connections and queues a test made on it."""

    def __init__(self, profile: str, url: str) -> None:
        self.profile = profile
        self.url = url
        self.connections: list[pika.BlockingConnection] = []
        self.queues: list[str] = []

    def connect(self) -> pika.BlockingConnection:
        conn = open_connection(self.url)
        self.connections.append(conn)
        return conn

    def channel(self) -> pika.adapters.blocking_connection.BlockingChannel:
        return self.connect().channel()

    def close(self) -> None:
        for conn in self.connections:
            if conn.is_open:
                conn.close()
        if self.queues:  # only matters on a shared external broker
            conn = open_connection(self.url)
            for name in self.queues:
                conn.channel().queue_delete(name)
            conn.close()


@pytest.fixture(params=PROFILES)
def profile_broker(
    request: pytest.FixtureRequest, is_external_broker: bool, broker_version: str
) -> Iterator[ProfileBroker]:
    profile: str = request.param
    if is_external_broker:
        if profile != "rabbitmq-3" or not broker_version.startswith("3."):
            pytest.skip(f"{profile} profile; the external broker is RabbitMQ {broker_version}")
        broker = ProfileBroker(profile, request.getfixturevalue("broker_url"))
        yield broker
        broker.close()
        return
    with leveret.Broker(compat=profile) as embedded:
        broker = ProfileBroker(profile, embedded.url)
        yield broker
        broker.close()


@pytest.fixture
def make_name(unique_name: Callable[..., str]) -> Callable[..., str]:
    return unique_name


# --------------------------------------------------------------------------------------
# Differences between the profiles


def test_default_max_message_size(profile_broker, make_name):
    # 4.x lowered the default max_message_size from 128 MiB to 16 MiB.
    ch = profile_broker.channel()
    q = make_name()
    profile_broker.queues.append(q)
    ch.queue_declare(q)
    body = b"x" * (16 * MIB + 1)
    if profile_broker.profile == "rabbitmq-3":
        ch.confirm_delivery()
        ch.basic_publish("", q, body)
        assert get_message(ch, q, auto_ack=True)[2] == body
    else:
        with channel_closed(406, too_large(len(body), 16 * MIB)):
            ch.basic_publish("", q, body)
            ch.queue_declare(q, passive=True)  # a round trip to receive the close


def test_unknown_exchange_type(profile_broker, make_name):
    conn = profile_broker.connect()
    ex = make_name("typed")
    text = "unknown exchange type 'x-no-such-type'"
    if profile_broker.profile == "rabbitmq-3":
        with connection_closed(503, f"COMMAND_INVALID - {text}"):
            conn.channel().exchange_declare(ex, exchange_type="x-no-such-type")
    else:
        with channel_closed(406, f"PRECONDITION_FAILED - {text}"):
            conn.channel().exchange_declare(ex, exchange_type="x-no-such-type")
        assert conn.is_open


def test_quorum_queue_default_delivery_limit(profile_broker, make_name):
    ch = profile_broker.channel()
    q = make_name()
    profile_broker.queues.append(q)
    ch.queue_declare(q, durable=True, arguments={"x-queue-type": "quorum"})
    ch.basic_publish("", q, b"poison")
    # Returned 21 times: one more than 4.x's default limit of 20.
    for _ in range(21):
        method, _, _ = get_message(ch, q)
        ch.basic_nack(method.delivery_tag, requeue=True)
    if profile_broker.profile == "rabbitmq-3":
        method, props, body = get_message(ch, q, auto_ack=True)
        assert body == b"poison"
        assert props.headers["x-delivery-count"] == 21
    else:
        assert drain(ch, q) == []


def test_quorum_queue_delivery_count_header(profile_broker, make_name):
    # 3.x: basic.get adds x-delivery-count 0 to a first delivery; 4.x waits for a return.
    ch = profile_broker.channel()
    q = make_name()
    profile_broker.queues.append(q)
    ch.queue_declare(q, durable=True, arguments={"x-queue-type": "quorum"})
    ch.confirm_delivery()
    ch.basic_publish("", q, b"m", pika.BasicProperties(headers={"app": "x"}))
    method, props, _ = get_message(ch, q)
    if profile_broker.profile == "rabbitmq-3":
        assert props.headers == {"app": "x", "x-delivery-count": 0}
    else:
        assert props.headers == {"app": "x"}
    # Every return counts in both, whatever returns the message: a nack, a closed channel,
    # basic.recover (observed on 3.10).
    ch.basic_nack(method.delivery_tag, requeue=True)
    method, props, _ = get_message(ch, q)
    assert (method.redelivered, props.headers) == (True, {"app": "x", "x-delivery-count": 1})
    ch.close()
    ch = profile_broker.channel()
    deliveries: list[tuple[Any, Any]] = []
    ch.basic_consume(q, lambda c, m, p, b: deliveries.append((m, p)))
    pump_until(ch.connection, lambda: deliveries, message="the redelivery")
    assert deliveries[0][1].headers == {"app": "x", "x-delivery-count": 2}
    ch.basic_recover(requeue=True)
    pump_until(ch.connection, lambda: len(deliveries) == 2, message="the recovered message")
    method, props = deliveries[1]
    assert (method.redelivered, props.headers) == (True, {"app": "x", "x-delivery-count": 3})
    ch.basic_ack(method.delivery_tag)
    # A consumer's first delivery carries no x-delivery-count in either.
    ch.basic_publish("", q, b"n")
    pump_until(ch.connection, lambda: len(deliveries) == 3, message="the second message")
    assert deliveries[2][1].headers is None


def test_last_death_headers(profile_broker, make_name):
    # x-last-death-reason/-queue/-exchange arrived in 3.13; 3.x before it writes x-first-death-*.
    ch = profile_broker.channel()
    source, target = make_name("source"), make_name("target")
    profile_broker.queues += [source, target]
    ch.queue_declare(target)
    dlx = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": target}
    ch.queue_declare(source, arguments=dlx)
    ch.confirm_delivery()
    ch.basic_publish("", source, b"dead")
    method, _, _ = get_message(ch, source)
    ch.basic_reject(method.delivery_tag, requeue=False)
    _, props, _ = get_message(ch, target, auto_ack=True)
    death = {"reason": "rejected", "queue": source, "exchange": ""}
    expected = {f"x-first-death-{key}": value for key, value in death.items()}
    if profile_broker.profile == "rabbitmq-4":
        expected |= {f"x-last-death-{key}": value for key, value in death.items()}
    headers = dict(props.headers)
    assert headers.pop("x-death")[0]["reason"] == "rejected"
    assert headers == expected


def test_quorum_queue_message_priority(profile_broker, make_name):
    # 4.0 gave quorum queues two priorities (rabbit_fifo_q): above 4 is high, and high goes
    # first except on every third delivery, which takes the older head. 3.x ignores priority.
    ch = profile_broker.channel()
    q = make_name()
    profile_broker.queues.append(q)
    ch.queue_declare(q, durable=True, arguments={"x-queue-type": "quorum"})
    ch.confirm_delivery()
    published = [("n1", None), ("n2", 1), ("n3", 4), ("h1", 5), ("h2", 9), ("h3", 200)]
    for body, priority in published:
        ch.basic_publish("", q, body.encode(), pika.BasicProperties(priority=priority))
    got = [get_message(ch, q, auto_ack=True)[2].decode() for _ in published]
    if profile_broker.profile == "rabbitmq-3":
        assert got == ["n1", "n2", "n3", "h1", "h2", "h3"]
    else:
        assert got == ["h1", "h2", "n1", "h3", "n2", "n3"]


def test_mandatory_direct_reply(profile_broker, make_name):
    requests = make_name("rpc")
    profile_broker.queues.append(requests)
    requester_conn = profile_broker.connect()
    requester = requester_conn.channel()
    replies: list[bytes] = []
    requester.basic_consume(REPLY_TO, lambda c, m, p, b: replies.append(b), auto_ack=True)
    requester.queue_declare(requests)
    requester.basic_publish("", requests, b"ping", pika.BasicProperties(reply_to=REPLY_TO))
    responder = profile_broker.channel()
    responder.confirm_delivery()
    _, props, _ = get_message(responder, requests, auto_ack=True)
    if profile_broker.profile == "rabbitmq-3":
        # Delivered, and also returned with 312 NO_ROUTE, which pika reports this way.
        with pytest.raises(pika.exceptions.UnroutableError):
            responder.basic_publish("", props.reply_to, b"pong", mandatory=True)
    else:
        responder.basic_publish("", props.reply_to, b"pong", mandatory=True)
    pump_until(requester_conn, lambda: replies, timeout=5, message="the reply")
    assert replies == [b"pong"]


def tune(client: RawClient, frame_max: int) -> Any:
    """Log in, answer connection.tune with ``frame_max``, ask for the vhost: the broker's
    reply (connection.open-ok), or None if it closed the socket without a frame."""
    client.send(header.ProtocolHeader())
    client.recv_method()
    client.send(commands.Connection.StartOk(mechanism="PLAIN", response="\0guest\0guest"))
    proposal = client.recv_method()
    assert isinstance(proposal, commands.Connection.Tune), proposal
    client.send(commands.Connection.TuneOk(proposal.channel_max, frame_max, 0))
    client.send(commands.Connection.Open(virtual_host="/"))
    got = client.recv()
    return None if got is None else got[1]


def test_smallest_frame_max(profile_broker):
    # rabbit_framing.hrl's FRAME_MIN_SIZE went from 4096 to 8192 in 4.1 (amqplib's old
    # default of 4096 no longer connects).
    smallest = 4096 if profile_broker.profile == "rabbitmq-3" else 8192
    params = pika.URLParameters(profile_broker.url)
    with RawClient(params.host, params.port) as client:
        assert isinstance(tune(client, smallest), commands.Connection.OpenOk)
    with RawClient(params.host, params.port) as client:
        started = time.monotonic()
        # No connection.close: RabbitMQ only logs "negotiated frame_max = 4095 is lower
        # than the minimum allowed value (4096)" and drops the socket after 3 s.
        assert tune(client, smallest - 1) is None
        assert time.monotonic() - started > 2.5


def start_ok_answer(client: RawClient, payload_size: int) -> Any:
    """Send a connection.start-ok frame whose payload is ``payload_size`` bytes: the broker's
    reply (connection.tune), or None if it closed the socket without a frame."""
    client.send(header.ProtocolHeader())
    client.recv_method()

    def start_ok(padding: int) -> commands.Connection.StartOk:
        properties = {"padding": "p" * padding}
        return commands.Connection.StartOk(properties, "PLAIN", "\0guest\0guest")

    bare = len(frame.marshal(start_ok(0), 0)) - 8  # 8 bytes of frame header and end
    client.send(start_ok(payload_size - bare))
    got = client.recv()
    return None if got is None else got[1]


def test_largest_frame_before_tuning(profile_broker):
    # Until tune-ok, frames are held to the minimum frame size; 4.1 raised it for large
    # JWT tokens in start-ok (RabbitMQ 4.1.0 release notes).
    limit = 4096 if profile_broker.profile == "rabbitmq-3" else 8192
    params = pika.URLParameters(profile_broker.url)
    with RawClient(params.host, params.port) as client:
        assert isinstance(start_ok_answer(client, limit), commands.Connection.Tune)
    with RawClient(params.host, params.port) as client:
        started = time.monotonic()
        assert start_ok_answer(client, limit + 1) is None
        assert time.monotonic() - started > 2.5


def declare_stream(broker: ProfileBroker, name: str) -> None:
    ch = broker.channel()
    broker.queues.append(name)
    ch.queue_declare(name, durable=True, arguments={"x-queue-type": "stream"})
    ch.close()


def test_stream_consumer_without_prefetch(profile_broker, make_name):
    q = make_name("stream")
    declare_stream(profile_broker, q)
    if profile_broker.profile == "rabbitmq-3":
        text = f"consumer prefetch count is not set for 'queue '{q}' in vhost '/''"
    else:
        text = f"consumer prefetch count is not set for stream queue '{q}' in vhost '/'"
    with channel_closed(406, f"PRECONDITION_FAILED - {text}"):
        profile_broker.channel().basic_consume(q, lambda *args: None)


def test_stream_consumer_with_automatic_acks(profile_broker, make_name):
    q = make_name("stream")
    declare_stream(profile_broker, q)
    ch = profile_broker.channel()
    ch.basic_qos(prefetch_count=10)
    stream = "stream queues" if profile_broker.profile == "rabbitmq-3" else "stream"
    text = f"automatic acknowledgement not supported by {stream} queue '{q}' in vhost '/'"
    with connection_closed(540, f"NOT_IMPLEMENTED - {text}"):
        ch.basic_consume(q, lambda *args: None, auto_ack=True)


# --------------------------------------------------------------------------------------
# The same in both profiles and in RabbitMQ 3.10 and 4.x (found while comparing them):
# on a stream, only a per-consumer prefetch counts, and global QoS is refused.


def test_stream_consumer_with_only_a_global_prefetch_is_refused(
    connect, unique_name, cleanup, broker_version
):
    ch = connect().channel()
    q = cleanup.queue(unique_name("stream"))
    ch.queue_declare(q, durable=True, arguments={"x-queue-type": "stream"})
    ch.basic_qos(prefetch_count=10, global_qos=True)
    if broker_version.startswith("3."):
        where = f"'queue '{q}' in vhost '/''"
    else:  # Leveret's default profile and RabbitMQ 4.x
        where = f"stream queue '{q}' in vhost '/'"
    with channel_closed(
        406, f"PRECONDITION_FAILED - consumer prefetch count is not set for {where}"
    ):
        ch.basic_consume(q, lambda *args: None)


def test_stream_consumer_with_a_global_prefetch_too_is_540(connect, unique_name, cleanup):
    ch = connect().channel()
    q = cleanup.queue(unique_name("stream"))
    ch.queue_declare(q, durable=True, arguments={"x-queue-type": "stream"})
    ch.basic_qos(prefetch_count=10)
    ch.basic_qos(prefetch_count=10, global_qos=True)
    text = f"NOT_IMPLEMENTED - queue '{q}' in vhost '/' does not support global qos"
    with connection_closed(540, text):
        ch.basic_consume(q, lambda *args: None)


def test_frame_max_of_0_or_above_the_servers_is_refused_silently(raw_client):
    # rabbit_reader:validate_negotiated_integer_value/3: 0 ("no limit") or more than the
    # 131072 the server proposed is refused like a too small value (3.10 observed).
    for frame_max in (0, 131073):
        client = raw_client()
        started = time.monotonic()
        assert tune(client, frame_max) is None, frame_max
        assert time.monotonic() - started > 2.5


def test_quorum_queue_delivery_count_is_a_long(connect, unique_name, cleanup):
    # RabbitMQ sends x-delivery-count as a field-table long ('l'), which pika decodes to
    # pika.compat.long (3.10 observed; 4.x converts the annotation the same way). Clients
    # with typed headers, such as Java's, read it as a Long.
    ch = connect().channel()
    q = cleanup.queue(unique_name())
    ch.queue_declare(q, durable=True, arguments={"x-queue-type": "quorum"})
    ch.confirm_delivery()
    ch.basic_publish("", q, b"m")
    method, _, _ = get_message(ch, q)
    ch.basic_nack(method.delivery_tag, requeue=True)
    _, props, _ = get_message(ch, q, auto_ack=True)
    count = props.headers["x-delivery-count"]
    assert (count, type(count)) == (1, pika.compat.long)


@pytest.mark.leveret_only
@pytest.mark.parametrize("profile", PROFILES)
def test_recovered_quorum_queue_keeps_the_profile_delivery_limit(tmp_path, profile):
    # Queues restored from the data directory get their options from the profile too.
    with leveret.Broker(compat=profile, data_dir=tmp_path) as broker:
        conn = open_connection(broker.url)
        ch = conn.channel()
        ch.queue_declare("qq", durable=True, arguments={"x-queue-type": "quorum"})
        ch.confirm_delivery()
        ch.basic_publish("", "qq", b"poison", pika.BasicProperties(delivery_mode=2))
        conn.close()
    with leveret.Broker(compat=profile, data_dir=tmp_path) as broker:
        conn = open_connection(broker.url)
        ch = conn.channel()
        for _ in range(21):
            method, _, _ = get_message(ch, "qq")
            ch.basic_nack(method.delivery_tag, requeue=True)
        left = drain(ch, "qq")
        conn.close()
    assert left == ([b"poison"] if profile == "rabbitmq-3" else [])


# --------------------------------------------------------------------------------------
# --max-message-size (Leveret's own settings)


@pytest.mark.leveret_only
def test_configured_max_message_size_refuses_a_larger_message():
    with leveret.Broker(max_message_size=1000) as broker:
        conn = open_connection(broker.url)
        ch = conn.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.confirm_delivery()
        ch.basic_publish("", q, b"x" * 1000)  # exactly the limit is fine
        assert get_message(ch, q, auto_ack=True)[2] == b"x" * 1000
        with channel_closed(406, too_large(1001, 1000)):
            ch.basic_publish("", q, b"x" * 1001)
        assert conn.is_open
        conn.close()


@pytest.mark.leveret_only
def test_embedded_max_message_size_overrides_the_profile_default():
    # Client libraries' own suites publish 20-22 MB messages (fine on RabbitMQ 3.x).
    body = b"m" * 20_000_000
    with leveret.Broker(max_message_size=32 * MIB) as broker:
        conn = open_connection(broker.url)
        ch = conn.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.confirm_delivery()
        ch.basic_publish("", q, body)
        assert get_message(ch, q, auto_ack=True)[2] == body
        conn.close()


@pytest.mark.leveret_only
def test_embedded_broker_refuses_bad_settings():
    with pytest.raises(ValueError, match="unknown compatibility profile 'rabbitmq-5'"):
        leveret.Broker(compat="rabbitmq-5")
    with pytest.raises(ValueError, match="536870912"):
        leveret.Broker(max_message_size=512 * MIB + 1)
    with pytest.raises(ValueError, match="positive"):
        leveret.Broker(max_message_size=0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def serve(tmp_path, *options: str) -> tuple[subprocess.Popen[bytes], str]:
    """``python -m leveret serve`` with ``options`` on a free port; returns it and its URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "leveret", "serve", "--port", str(port)]
    cmd += ["--data-dir", str(tmp_path / "data"), "--log-level", "warning", *options]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 15
    while not port_accepts(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"leveret serve did not start: {proc.communicate()[1].decode()}")
        time.sleep(0.05)
    return proc, f"amqp://guest:guest@127.0.0.1:{port}/%2F"


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.communicate(timeout=10)


@pytest.mark.leveret_only
def test_serve_max_message_size_lets_a_20_mb_message_through(tmp_path):
    body = b"m" * 20_000_000
    proc, url = serve(tmp_path, "--max-message-size", str(25_000_000))
    try:
        conn = open_connection(url)
        ch = conn.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.confirm_delivery()
        ch.basic_publish("", q, body)
        assert get_message(ch, q, auto_ack=True)[2] == body
        with channel_closed(406, too_large(25_000_001, 25_000_000)):
            ch.basic_publish("", q, b"m" * 25_000_001)
        conn.close()
    finally:
        stop(proc)


@pytest.mark.leveret_only
def test_serve_compat_rabbitmq_3_closes_the_connection_on_an_unknown_exchange_type(tmp_path):
    proc, url = serve(tmp_path, "--compat", "rabbitmq-3")
    try:
        conn = open_connection(url)
        text = "COMMAND_INVALID - unknown exchange type 'x-no-such-type'"
        with connection_closed(503, text):
            conn.channel().exchange_declare("typed", exchange_type="x-no-such-type")
    finally:
        stop(proc)


@pytest.mark.leveret_only
@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        (
            ["--max-message-size", str(512 * MIB + 1)],
            "Invalid value for '--max-message-size': 536870913 is not in the range "
            "1<=x<=536870912.",
        ),
        (
            ["--max-message-size", "0"],
            "Invalid value for '--max-message-size': 0 is not in the range 1<=x<=536870912.",
        ),
        (
            ["--compat", "rabbitmq-5"],
            "Invalid value for '--compat': 'rabbitmq-5' is not one of 'rabbitmq-3', 'rabbitmq-4'.",
        ),
    ],
)
def test_serve_refuses_bad_settings(options, complaint):
    cmd = [sys.executable, "-m", "leveret", "serve", "--port", "0", *options]
    done = subprocess.run(cmd, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert complaint in done.stderr.decode()
