"""Does a storm of wrong passwords slow other clients? (issue 11)

    python bench/login_storm.py amqp://guest:guest@127.0.0.1:5672/%2F \\
        [--seconds 5] [--logins 1000] [--parallel 20] [--rounds 3] [--rate 0]
        [--bad-user guest] [--broker-pid PID]

Starts nothing itself: give it the URL of a running broker (Leveret or RabbitMQ) and a user
that may declare a queue on the vhost. A child process runs a steady producer and a consumer
(pika, two connections, autoack) on a fresh exclusive queue. Each of ``--rounds`` rounds
measures the consumer's messages/s for ``--seconds`` ("before"), then runs ``--logins``
failed logins (wrong password, ``--parallel`` at a time, raw sockets with PLAIN and the
``authentication_failure_close`` capability) and measures the consumer over exactly the time
they take ("during"). It prints both rates, their ratio, how long the refusals took, how they
ended (``403``: connection.close ACCESS_REFUSED; ``eof``: silent disconnect), the broker's
CPU with ``--broker-pid``, and the medians over the rounds. ``--rate 0`` publishes as fast as
the broker takes it (the producer waits whenever more than 1,000 messages are in flight);
``--rate R`` publishes R msgs/s. See docs/security.md, "Refused logins".

The storm runs in this process, the producer and consumer in a child, so that the client's own
CPU does not show as a broker slowdown more than the machine forces it to.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import struct
import sys
import time
from multiprocessing.sharedctypes import Synchronized
from urllib.parse import unquote, urlparse

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
FRAME_END = b"\xce"
MAX_IN_FLIGHT = 1000


def _shortstr(value: bytes) -> bytes:
    return struct.pack("B", len(value)) + value


def _longstr(value: bytes) -> bytes:
    return struct.pack(">I", len(value)) + value


def start_ok_frame(user: str, password: str) -> bytes:
    """connection.start-ok with PLAIN and capabilities.authentication_failure_close = true."""
    capabilities = _shortstr(b"authentication_failure_close") + b"t\x01"
    table = _shortstr(b"capabilities") + b"F" + _longstr(capabilities)
    args = (
        _longstr(table)
        + _shortstr(b"PLAIN")
        + _longstr(b"\x00" + user.encode() + b"\x00" + password.encode())
        + _shortstr(b"en_US")
    )
    payload = struct.pack(">HH", 10, 11) + args
    return struct.pack(">BHI", 1, 0, len(payload)) + payload + FRAME_END


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    header = await reader.readexactly(7)
    kind, _channel, size = struct.unpack(">BHI", header)
    payload = await reader.readexactly(size + 1)
    return kind, payload[:-1]


async def failed_login(host: str, port: int, user: str, password: str) -> str:
    """One login with a wrong password; returns how it ended: '403', 'eof' or an error."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(PROTOCOL_HEADER)
        kind, payload = await _read_frame(reader)
        if kind != 1 or payload[:4] != struct.pack(">HH", 10, 10):
            return "no connection.start"
        writer.write(start_ok_frame(user, password))
        try:
            kind, payload = await _read_frame(reader)
        except (asyncio.IncompleteReadError, ConnectionError):
            return "eof"
        if kind == 1 and payload[:4] == struct.pack(">HH", 10, 50):
            (code,) = struct.unpack(">H", payload[4:6])
            # connection.close-ok, then the broker closes the socket
            close_ok = struct.pack(">HH", 10, 51)
            writer.write(struct.pack(">BHI", 1, 0, len(close_ok)) + close_ok + FRAME_END)
            return str(code)
        return f"unexpected frame {kind}"
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def storm(
    host: str, port: int, user: str, password: str, logins: int, parallel: int
) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    todo = iter(range(logins))

    async def worker() -> None:
        for _ in todo:
            try:
                outcome = await failed_login(host, port, user, password)
            except OSError as error:
                outcome = f"error {type(error).__name__}"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

    await asyncio.gather(*(worker() for _ in range(parallel)))
    return outcomes


def traffic(url: str, rate: float, received: Synchronized[int], ready: object) -> None:
    """Child process: producer + consumer on an exclusive server-named queue."""
    import threading

    import pika

    params = pika.URLParameters(url)
    consumer = pika.BlockingConnection(params)
    cch = consumer.channel()
    queue = cch.queue_declare("", exclusive=True).method.queue
    published = 0
    lock = threading.Lock()
    count = 0

    def on_message(ch: object, method: object, props: object, body: bytes) -> None:
        nonlocal count
        count += 1
        if count % 100 == 0:
            with received.get_lock():
                received.value = count

    cch.basic_consume(queue, on_message, auto_ack=True)

    def produce() -> None:
        nonlocal published
        producer = pika.BlockingConnection(params)
        pch = producer.channel()
        body = b"x" * 16
        start = time.monotonic()
        while True:
            if rate > 0:
                due = start + published / rate
                delay = due - time.monotonic()
                if delay > 0:
                    producer.sleep(delay)
            elif published - received.value > MAX_IN_FLIGHT:
                producer.sleep(0.001)
                continue
            pch.basic_publish("", queue, body)
            with lock:
                published += 1

    threading.Thread(target=produce, daemon=True).start()
    ready.set()  # type: ignore[attr-defined]
    cch.start_consuming()


def rate_over(received: Synchronized[int], seconds: float) -> float:
    start_count, start = received.value, time.monotonic()
    time.sleep(seconds)
    return (received.value - start_count) / (time.monotonic() - start)


def cpu_seconds(pid: int | None) -> float:
    """utime + stime of a process (all threads), from /proc; 0 without a PID."""
    if not pid:
        return 0.0
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # USER_HZ


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", help="broker URL for the producer and consumer")
    parser.add_argument("--seconds", type=float, default=5.0, help="'before' window")
    parser.add_argument("--logins", type=int, default=1000)
    parser.add_argument("--parallel", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="before/during pairs")
    parser.add_argument("--rate", type=float, default=0.0, help="producer msgs/s, 0 = max")
    parser.add_argument("--bad-user", default=None, help="user for the storm (default: URL's)")
    parser.add_argument("--broker-pid", type=int, default=None, help="report broker CPU")
    parser.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args()

    parsed = urlparse(args.url)
    host = parsed.hostname or "127.0.0.1"
    port = parsed.port or 5672
    bad_user = args.bad_user or unquote(parsed.username or "guest")
    bad_password = "not-the-password-" + str(time.time())

    received: Synchronized[int] = multiprocessing.Value("q", 0)
    ready = multiprocessing.Event()
    child = multiprocessing.Process(
        target=traffic, args=(args.url, args.rate, received, ready), daemon=True
    )
    child.start()
    befores: list[float] = []
    durings: list[float] = []
    try:
        if not ready.wait(30):
            print("producer/consumer did not start", file=sys.stderr)
            return 1
        time.sleep(args.warmup)
        for n in range(1, args.rounds + 1):
            cpu0 = cpu_seconds(args.broker_pid)
            before = rate_over(received, args.seconds)
            cpu_before = (cpu_seconds(args.broker_pid) - cpu0) / args.seconds
            cpu0 = cpu_seconds(args.broker_pid)
            start_count, start = received.value, time.monotonic()
            outcomes = asyncio.run(
                storm(host, port, bad_user, bad_password, args.logins, args.parallel)
            )
            took = time.monotonic() - start
            during = (received.value - start_count) / took
            cpu = cpu_seconds(args.broker_pid) - cpu0
            befores.append(before)
            durings.append(during)
            line = (
                f"round {n}: consumer before {before:,.0f} msg/s, during {during:,.0f} msg/s "
                f"({during / before:.0%}); {args.logins} refusals ({args.parallel} at a time) "
                f"took {took:.2f} s ({args.logins / took:,.0f}/s)"
            )
            if args.broker_pid:
                line += (
                    f"; broker CPU before {cpu_before:.0%} of a core, during {cpu / took:.0%}"
                    f" ({cpu / args.logins * 1e6:,.0f} µs per refusal at most)"
                )
            print(line + "; " + ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items())))
            sys.stdout.flush()
    finally:
        child.terminate()
        child.join(5)
    befores.sort()
    durings.sort()
    mb, md = befores[len(befores) // 2], durings[len(durings) // 2]
    print(f"median: before {mb:,.0f} msg/s, during {md:,.0f} msg/s ({md / mb:.0%} of before)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
