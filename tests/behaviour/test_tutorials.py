"""The patterns users run first: hello world, work queues, pub/sub, routing, topics, RPC.

Where it helps, the program runs as its own process exactly in the shape users write it
(``pika.BlockingConnection(pika.ConnectionParameters(host))``), with the broker's address
passed in the environment.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pika
import pytest

from .helpers import (
    channel_closed,
    consume_n,
    get_message,
    pump_until,
    queue_exists,
    resource_locked,
    wait_for,
    wait_message_count,
)

PREAMBLE = """\
import os
import sys
import time

import pika

HOST = os.environ["AMQP_HOST"]
PORT = int(os.environ["AMQP_PORT"])
QUEUE = os.environ.get("QUEUE", "hello")
"""

SEND = """
connection = pika.BlockingConnection(pika.ConnectionParameters(host=HOST, port=PORT))
channel = connection.channel()
channel.queue_declare(queue=QUEUE)
channel.basic_publish(exchange='', routing_key=QUEUE, body='Hello World!')
print(" [x] Sent 'Hello World!'")
connection.close()
"""

RECEIVE = """
def main():
    connection = pika.BlockingConnection(pika.ConnectionParameters(host=HOST, port=PORT))
    channel = connection.channel()
    channel.queue_declare(queue=QUEUE)

    def callback(ch, method, properties, body):
        print(" [x] Received %r" % body, flush=True)

    channel.basic_consume(queue=QUEUE, on_message_callback=callback, auto_ack=True)
    print(' [*] Waiting for messages. To exit press CTRL+C', flush=True)
    channel.start_consuming()


if __name__ == '__main__':
    try:
        main()
    except KeyboardInterrupt:
        print('Interrupted', flush=True)
        try:
            sys.exit(0)
        except SystemExit:
            os._exit(0)
"""

NEW_TASK = """
connection = pika.BlockingConnection(pika.ConnectionParameters(host=HOST, port=PORT))
channel = connection.channel()
channel.queue_declare(queue=QUEUE, durable=True)
message = ' '.join(sys.argv[1:]) or "Hello World!"
channel.basic_publish(
    exchange='',
    routing_key=QUEUE,
    body=message,
    properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent),
)
print(f" [x] Sent {message}")
connection.close()
"""

WORKER = """
connection = pika.BlockingConnection(pika.ConnectionParameters(host=HOST, port=PORT))
channel = connection.channel()
channel.queue_declare(queue=QUEUE, durable=True)
print(' [*] Waiting for messages. To exit press CTRL+C', flush=True)


def callback(ch, method, properties, body):
    print(f" [x] Received {body.decode()}", flush=True)
    time.sleep(body.count(b'.') * 0.01)
    print(" [x] Done", flush=True)
    ch.basic_ack(delivery_tag=method.delivery_tag)
    if body.endswith(b'stop'):
        ch.stop_consuming()


channel.basic_qos(prefetch_count=1)
channel.basic_consume(queue=QUEUE, on_message_callback=callback)
channel.start_consuming()
connection.close()
"""

EMIT_LOG = """
connection = pika.BlockingConnection(pika.ConnectionParameters(host=HOST, port=PORT))
channel = connection.channel()
channel.exchange_declare(exchange=os.environ["EXCHANGE"], exchange_type='fanout')
message = ' '.join(sys.argv[1:]) or "info: Hello World!"
channel.basic_publish(exchange=os.environ["EXCHANGE"], routing_key='', body=message)
print(f" [x] Sent {message}")
connection.close()
"""

RPC_SERVER = """
connection = pika.BlockingConnection(pika.ConnectionParameters(host=HOST, port=PORT))
channel = connection.channel()
channel.queue_declare(queue=QUEUE)


def fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def on_request(ch, method, props, body):
    n = int(body)
    response = fib(n)
    ch.basic_publish(
        exchange='',
        routing_key=props.reply_to,
        properties=pika.BasicProperties(correlation_id=props.correlation_id),
        body=str(response),
    )
    ch.basic_ack(delivery_tag=method.delivery_tag)


channel.basic_qos(prefetch_count=1)
channel.basic_consume(queue=QUEUE, on_message_callback=on_request)
print(" [x] Awaiting RPC requests", flush=True)
try:
    channel.start_consuming()
except KeyboardInterrupt:
    connection.close()
"""


# Starts the program with SIGINT at its default disposition, as from a terminal. A process
# started with SIGINT ignored (the suite run as a background job, under nohup) passes that
# on, Python then never raises KeyboardInterrupt, and the tutorials' Ctrl-C handling could
# not be tested. The programs themselves run verbatim: this resets the signal and execs.
SIGINT_DEFAULT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


class Script:
    """A client program running as its own Python process, with its stdout read by line."""

    def __init__(self, path: Path, env: dict[str, str], args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SIGINT_DEFAULT, "-u", str(path), *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect_line(self, expected: str, timeout: float = 15.0) -> None:
        seen = []
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                pytest.fail(f"program printed {seen!r}, never {expected!r}")
            if line is None:
                pytest.fail(f"program ended after {seen!r}: {self.stderr()}")
            if line == expected:
                return
            seen.append(line)

    def stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        return self.proc.stderr.read()

    def wait(self, timeout: float = 15.0) -> int:
        code = self.proc.wait(timeout=timeout)
        self.reader.join(timeout)
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.reader.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def run_script(
    tmp_path: Path, broker_host: str, broker_port: int
) -> Iterator[Callable[..., Script]]:
    """Run a program (PREAMBLE + body) as a process: ``run_script(BODY, *argv, QUEUE=...)``."""
    started: list[Script] = []

    def run(body: str, *args: str, **env_vars: str) -> Script:
        path = tmp_path / f"program{len(started)}.py"
        path.write_text(PREAMBLE + textwrap.dedent(body))
        env = dict(os.environ, AMQP_HOST=broker_host, AMQP_PORT=str(broker_port), **env_vars)
        script = Script(path, env, list(args))
        started.append(script)
        return script

    yield run
    for script in started:
        script.stop()


def test_hello_world_send_program_then_get(run_script, channel, unique_name, cleanup):
    q = cleanup.queue(unique_name("hello"))
    sender = run_script(SEND, QUEUE=q)
    sender.expect_line(" [x] Sent 'Hello World!'")
    assert sender.wait() == 0

    method, _, body = get_message(channel, q, auto_ack=True)
    assert body == b"Hello World!"
    assert method.exchange == ""
    assert method.routing_key == q
    assert method.redelivered is False
    assert method.message_count == 0


def test_hello_world_receive_program_runs_until_interrupted(
    run_script, channel, unique_name, cleanup
):
    q = cleanup.queue(unique_name("hello"))
    receiver = run_script(RECEIVE, QUEUE=q)
    receiver.expect_line(" [*] Waiting for messages. To exit press CTRL+C")
    sender = run_script(SEND, QUEUE=q)
    assert sender.wait() == 0
    receiver.expect_line(" [x] Received b'Hello World!'")
    channel.basic_publish("", q, b"second")
    receiver.expect_line(" [x] Received b'second'")

    receiver.proc.send_signal(signal.SIGINT)
    receiver.expect_line("Interrupted")
    assert receiver.wait() == 0


def test_hello_world_in_process(connect, unique_name, cleanup):
    q = cleanup.queue(unique_name("hello"))
    producer = connect()
    producer.channel().queue_declare(queue=q)
    producer.channel().basic_publish(exchange="", routing_key=q, body="Hello World!")
    producer.close()

    consumer = connect()
    ch = consumer.channel()
    ch.queue_declare(queue=q)
    received = []

    def callback(channel: Any, method: Any, properties: Any, body: bytes) -> None:
        received.append(body)
        channel.stop_consuming()

    ch.basic_consume(queue=q, on_message_callback=callback, auto_ack=True)
    consumer.call_later(10, ch.stop_consuming)
    ch.start_consuming()
    assert received == [b"Hello World!"]


def test_queue_declare_is_idempotent(channel, unique_name, cleanup):
    q = cleanup.queue(unique_name("hello"))
    for _ in range(3):
        ok = channel.queue_declare(queue=q)
        assert ok.method.queue == q
    channel.basic_publish("", q, b"x")
    wait_for(lambda: channel.queue_declare(queue=q).method.message_count == 1, message="1 message")


def test_work_queue_persistent_task_worker_acks(run_script, connect, unique_name, cleanup):
    q = cleanup.queue(unique_name("task_queue"))
    producer = run_script(NEW_TASK, "First", "message.", QUEUE=q)
    producer.expect_line(" [x] Sent First message.")
    assert producer.wait() == 0

    ch = connect().channel()
    wait_for(
        lambda: ch.queue_declare(queue=q, durable=True, passive=True).method.message_count == 1,
        message="1 message",
    )
    method, props, body = get_message(ch, q)
    assert body == b"First message."
    assert props.delivery_mode == 2
    ch.basic_ack(method.delivery_tag)
    wait_message_count(connect, q, 0)


def test_work_queue_worker_program_processes_all_tasks(run_script, connect, unique_name, cleanup):
    q = cleanup.queue(unique_name("task_queue"))
    for body in ("A.", "B..", "C...", "stop"):
        assert run_script(NEW_TASK, body, QUEUE=q).wait() == 0
    worker = run_script(WORKER, QUEUE=q)
    for body in ("A.", "B..", "C...", "stop"):
        worker.expect_line(f" [x] Received {body}")
        worker.expect_line(" [x] Done")
    assert worker.wait() == 0
    wait_message_count(connect, q, 0)


def test_work_queue_unacked_task_goes_to_another_worker(connect, unique_name, cleanup):
    q = cleanup.queue(unique_name("task_queue"))
    ch = connect().channel()
    ch.queue_declare(queue=q, durable=True)
    ch.basic_publish("", q, b"job", pika.BasicProperties(delivery_mode=2))

    dying = connect()
    dch = dying.channel()
    dch.basic_qos(prefetch_count=1)
    method, _, body = get_message(dch, q)
    assert (body, method.redelivered) == (b"job", False)
    dying.close()  # the worker dies without acking

    other = connect().channel()
    method, props, body = get_message(other, q)
    assert (body, method.redelivered, props.delivery_mode) == (b"job", True, 2)
    other.basic_ack(method.delivery_tag)


def _two_consumers(connect, q, prefetch):
    received: dict[str, list[bytes]] = {"slow": [], "fast": []}
    conns = []
    for name in ("slow", "fast"):
        conn = connect()
        ch = conn.channel()
        if prefetch is not None:
            ch.basic_qos(prefetch_count=prefetch)

        def callback(channel: Any, method: Any, props: Any, body: bytes, name: str = name) -> None:
            received[name].append(body)
            if name == "fast":
                channel.basic_ack(method.delivery_tag)

        ch.basic_consume(q, callback)
        conns.append(conn)
    return received, conns


def test_fair_dispatch_prefetch_one_sends_work_to_idle_worker(connect, unique_name, cleanup):
    q = cleanup.queue(unique_name("task_queue"))
    pub = connect().channel()
    pub.queue_declare(queue=q, durable=True)
    received, conns = _two_consumers(connect, q, prefetch=1)
    for i in range(6):
        pub.basic_publish("", q, f"task{i}".encode(), pika.BasicProperties(delivery_mode=2))

    def all_seen() -> bool:
        for conn in conns:
            conn.process_data_events(time_limit=0.01)
        return len(received["slow"]) + len(received["fast"]) == 6

    pump_until(conns[0], all_seen, message="6 deliveries")
    # The busy worker holds one unacked task; every other task went to the idle one.
    assert len(received["slow"]) == 1
    assert len(received["fast"]) == 5
    assert sorted(received["slow"] + received["fast"]) == [f"task{i}".encode() for i in range(6)]


def test_without_prefetch_dispatch_is_round_robin(connect, unique_name, cleanup):
    q = cleanup.queue(unique_name("task_queue"))
    pub = connect().channel()
    pub.queue_declare(queue=q)
    received, conns = _two_consumers(connect, q, prefetch=None)
    for conn in conns:
        conn.process_data_events(time_limit=0.05)
    for i in range(6):
        pub.basic_publish("", q, f"task{i}".encode())

    def all_seen() -> bool:
        for conn in conns:
            conn.process_data_events(time_limit=0.01)
        return len(received["slow"]) + len(received["fast"]) == 6

    pump_until(conns[0], all_seen, message="6 deliveries")
    assert len(received["slow"]) == 3
    assert len(received["fast"]) == 3


def test_fanout_publish_subscribe_with_server_named_queues(
    run_script, connect, unique_name, cleanup
):
    ex = cleanup.exchange(unique_name("logs"))
    subscribers = []
    for _ in range(2):
        ch = connect().channel()
        ch.exchange_declare(exchange=ex, exchange_type="fanout")
        result = ch.queue_declare(queue="", exclusive=True)
        queue_name = result.method.queue
        assert queue_name.startswith("amq.gen-")
        ch.queue_bind(exchange=ex, queue=queue_name)
        subscribers.append((ch, queue_name))
    assert subscribers[0][1] != subscribers[1][1]

    emitter = run_script(EMIT_LOG, "info:", "disk", "ok", EXCHANGE=ex)
    emitter.expect_line(" [x] Sent info: disk ok")
    assert emitter.wait() == 0
    for ch, queue_name in subscribers:
        method, _, body = get_message(ch, queue_name, auto_ack=True)
        assert body == b"info: disk ok"
        assert method.exchange == ex
        assert method.routing_key == ""


def test_fanout_message_without_subscribers_is_dropped(connect, unique_name, cleanup):
    ex = cleanup.exchange(unique_name("logs"))
    ch = connect().channel()
    ch.exchange_declare(exchange=ex, exchange_type="fanout")
    ch.basic_publish(ex, "", b"nobody listens")
    q = ch.queue_declare(queue="", exclusive=True).method.queue
    ch.queue_bind(exchange=ex, queue=q)
    ch.basic_publish(ex, "", b"now someone does")
    _, _, body = get_message(ch, q, auto_ack=True)
    assert body == b"now someone does"
    assert ch.queue_declare(q, passive=True).method.message_count == 0


def test_direct_routing_by_severity(channel, unique_name, cleanup):
    ex = cleanup.exchange(unique_name("direct_logs"))
    channel.exchange_declare(exchange=ex, exchange_type="direct")
    errors = channel.queue_declare("", exclusive=True).method.queue
    everything = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(errors, ex, routing_key="error")
    for severity in ("info", "warning", "error"):
        channel.queue_bind(everything, ex, routing_key=severity)

    for severity in ("info", "warning", "error", "debug"):
        channel.basic_publish(ex, severity, f"{severity} message".encode())

    got = consume_n(channel, everything, 3, auto_ack=True)
    assert [(m.routing_key, b) for m, _, b in got] == [
        ("info", b"info message"),
        ("warning", b"warning message"),
        ("error", b"error message"),
    ]
    got = consume_n(channel, errors, 1, auto_ack=True)
    assert got[0][2] == b"error message"
    assert channel.queue_declare(errors, passive=True).method.message_count == 0


def test_direct_same_key_bound_to_several_queues_delivers_to_each(channel, unique_name, cleanup):
    ex = cleanup.exchange(unique_name("direct_logs"))
    channel.exchange_declare(exchange=ex, exchange_type="direct")
    queues = [channel.queue_declare("", exclusive=True).method.queue for _ in range(3)]
    for q in queues:
        channel.queue_bind(q, ex, routing_key="black")
    channel.queue_bind(queues[0], ex, routing_key="green")
    channel.basic_publish(ex, "black", b"b")
    channel.basic_publish(ex, "green", b"g")
    for q in queues[1:]:
        _, _, body = get_message(channel, q, auto_ack=True)
        assert body == b"b"
    got = consume_n(channel, queues[0], 2, auto_ack=True)
    assert [b for _, _, b in got] == [b"b", b"g"]


def test_direct_binding_same_key_twice_delivers_once(channel, unique_name, cleanup):
    ex = cleanup.exchange(unique_name("direct"))
    channel.exchange_declare(exchange=ex, exchange_type="direct")
    q = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(q, ex, routing_key="k")
    channel.queue_bind(q, ex, routing_key="k")
    channel.basic_publish(ex, "k", b"once")
    get_message(channel, q, auto_ack=True)
    channel.basic_publish("", q, b"marker")
    _, _, body = get_message(channel, q, auto_ack=True)
    assert body == b"marker"


TOPIC_BINDINGS = [
    "kern.*",
    "*.critical",
    "#",
    "a.#.b",
    "*.orange.*",
    "*.*.rabbit",
    "lazy.#",
    "#.end",
    "exact.key",
    "*",
]

TOPIC_CASES: dict[str, set[str]] = {
    "kern.critical": {"kern.*", "*.critical", "#"},
    "kern.info": {"kern.*", "#"},
    "kern": {"#", "*"},
    "kern.info.extra": {"#"},
    "cron.critical": {"*.critical", "#"},
    "critical": {"#", "*"},
    "a.b": {"a.#.b", "#"},
    "a.x.b": {"a.#.b", "#"},
    "a.x.y.z.b": {"a.#.b", "#"},
    "a.b.c": {"#"},
    "quick.orange.rabbit": {"*.orange.*", "*.*.rabbit", "#"},
    "lazy.orange.elephant": {"*.orange.*", "lazy.#", "#"},
    "quick.orange.fox": {"*.orange.*", "#"},
    "lazy.brown.fox": {"lazy.#", "#"},
    "lazy": {"lazy.#", "#", "*"},
    "lazy.pink.rabbit": {"lazy.#", "*.*.rabbit", "#"},
    "quick.orange.male.rabbit": {"#"},
    "end": {"#.end", "#", "*"},
    "x.y.end": {"#.end", "#"},
    "exact.key": {"exact.key", "#"},
    "exact.keys": {"#"},
}


def test_topic_routing_wildcards(channel, unique_name, cleanup):
    ex = cleanup.exchange(unique_name("topic_logs"))
    channel.exchange_declare(exchange=ex, exchange_type="topic")
    queue_of = {}
    for pattern in TOPIC_BINDINGS:
        q = channel.queue_declare("", exclusive=True).method.queue
        channel.queue_bind(q, ex, routing_key=pattern)
        queue_of[pattern] = q
    for key in TOPIC_CASES:
        channel.basic_publish(ex, key, key.encode())

    expected: dict[str, list[str]] = {p: [] for p in TOPIC_BINDINGS}
    for key, patterns in TOPIC_CASES.items():
        for p in patterns:
            expected[p].append(key)
    for pattern, q in queue_of.items():
        keys = expected[pattern]
        got = consume_n(channel, q, len(keys), auto_ack=True) if keys else []
        assert [b.decode() for _, _, b in got] == keys, pattern
        assert channel.queue_declare(q, passive=True).method.message_count == 0, pattern


def test_topic_exchange_without_wildcards_acts_as_direct(channel, unique_name, cleanup):
    ex = cleanup.exchange(unique_name("topic"))
    channel.exchange_declare(exchange=ex, exchange_type="topic")
    q = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(q, ex, routing_key="stock.usd.nyse")
    channel.basic_publish(ex, "stock.usd.nyse", b"yes")
    channel.basic_publish(ex, "stock.eur.nyse", b"no")
    channel.basic_publish(ex, "stock.usd", b"no")
    _, _, body = get_message(channel, q, auto_ack=True)
    assert body == b"yes"
    channel.basic_publish("", q, b"marker")
    _, _, body = get_message(channel, q, auto_ack=True)
    assert body == b"marker"


class RpcClient:
    def __init__(self, connection: Any, server_queue: str) -> None:
        self.connection = connection
        self.channel = connection.channel()
        result = self.channel.queue_declare(queue="", exclusive=True)
        self.callback_queue = result.method.queue
        self.server_queue = server_queue
        self.responses: dict[str, bytes] = {}
        self.channel.basic_consume(
            queue=self.callback_queue, on_message_callback=self.on_response, auto_ack=True
        )

    def on_response(self, ch: Any, method: Any, props: Any, body: bytes) -> None:
        self.responses[props.correlation_id] = body

    def send(self, n: int) -> str:
        corr_id = str(uuid.uuid4())
        self.channel.basic_publish(
            exchange="",
            routing_key=self.server_queue,
            properties=pika.BasicProperties(reply_to=self.callback_queue, correlation_id=corr_id),
            body=str(n),
        )
        return corr_id

    def result(self, corr_id: str) -> int:
        pump_until(self.connection, lambda: corr_id in self.responses, message="RPC reply")
        return int(self.responses.pop(corr_id))


def test_rpc_with_reply_to_and_correlation_id(run_script, connect, unique_name, cleanup):
    q = cleanup.queue(unique_name("rpc_queue"))
    server = run_script(RPC_SERVER, QUEUE=q)
    server.expect_line(" [x] Awaiting RPC requests")
    client = RpcClient(connect(), q)
    assert client.callback_queue.startswith("amq.gen-")
    assert client.result(client.send(10)) == 55
    assert client.result(client.send(30)) == 832040


def test_rpc_concurrent_requests_matched_by_correlation_id(
    run_script, connect, unique_name, cleanup
):
    q = cleanup.queue(unique_name("rpc_queue"))
    server = run_script(RPC_SERVER, QUEUE=q)
    server.expect_line(" [x] Awaiting RPC requests")
    client = RpcClient(connect(), q)
    ids = {n: client.send(n) for n in range(15)}
    fib = [0, 1]
    while len(fib) < 15:
        fib.append(fib[-1] + fib[-2])
    for n in reversed(range(15)):
        assert client.result(ids[n]) == fib[n]


def test_rpc_reply_queue_is_exclusive_and_goes_with_its_connection(connect):
    conn = connect()
    reply_queue = conn.channel().queue_declare(queue="", exclusive=True).method.queue
    other = connect()
    with channel_closed(405, resource_locked(reply_queue)):
        other.channel().basic_publish("", reply_queue, b"anyone may publish")
        other.channel().basic_consume(reply_queue, lambda *a: None)
    conn.close()
    wait_for(lambda: not queue_exists(connect, reply_queue), message="reply queue deleted")
