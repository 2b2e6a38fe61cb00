"""Many pending delayed messages: the broker's memory while they wait, and how late they
arrive.

Starts ``leveret serve`` on a fresh data directory, declares a durable x-delayed-message
exchange (x-delayed-type direct) bound to a durable queue, and publishes N persistent
messages with small bodies whose due times all fall after the publishing ends, spread
evenly over a delivery window. It reports the broker's RSS before publishing, once all
are pending, and its peak, then consumes them all and reports lateness (arrival minus
due time) percentiles. The consumer's own speed bounds lateness when the window is short.

    .venv/bin/python bench/delayed_million.py --messages 1000000 --window 120
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pika


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--window", type=float, default=120.0, help="seconds of due times")
    parser.add_argument("--rate", type=float, default=15000.0, help="expected publish rate, msg/s")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="leveret-delayed-bench-"))
    port = free_port()
    broker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "leveret",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--management-port",
            "0",
            "--prometheus-port",
            "0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        params = pika.ConnectionParameters("127.0.0.1", port, heartbeat=0)
        deadline = time.monotonic() + 30
        while True:
            try:
                connection = pika.BlockingConnection(params)
                break
            except pika.exceptions.AMQPConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        channel = connection.channel()
        channel.exchange_declare(
            "bench-delayed",
            "x-delayed-message",
            durable=True,
            arguments={"x-delayed-type": "direct"},
        )
        channel.queue_declare("bench-delayed-q", durable=True)
        channel.queue_bind("bench-delayed-q", "bench-delayed", "k")
        rss_start = rss_kib(broker.pid)
        n = args.messages
        # Every due time falls after publishing ends (estimated, with a margin).
        first_due = time.time() + n / args.rate * 1.5 + 5
        step = args.window / n
        started = time.time()
        for i in range(n):
            due = first_due + i * step
            delay = int((due - time.time()) * 1000)
            channel.basic_publish(
                "bench-delayed",
                "k",
                b"%d" % int(due * 1000),
                pika.BasicProperties(delivery_mode=2, headers={"x-delay": delay}),
            )
        connection.process_data_events(0)
        published = time.time()
        time.sleep(2)  # let the broker take in what is still buffered before measuring
        rss_pending = rss_kib(broker.pid)
        if published > first_due:
            print(f"warning: publishing ran {published - first_due:.1f}s past the first due time")
        store_bytes = sum(
            f.stat().st_size for f in data_dir.rglob("*") if f.is_file() and f.suffix == ".seg"
        )
        channel.basic_qos(prefetch_count=2000)
        lateness: list[float] = []
        # The first message is not due for a while yet: wait that long, and 30 s more.
        patience = max(30.0, first_due - time.time() + 30)
        for _method, _properties, body in channel.consume(
            "bench-delayed-q", auto_ack=True, inactivity_timeout=patience
        ):
            if body is None:
                break
            lateness.append(time.time() * 1000 - int(body))
            if len(lateness) == n:
                break
        channel.cancel()
        rss_peak = rss_kib(broker.pid, "VmHWM")
        connection.close()
        lateness.sort()

        def pct(p: float) -> float:
            return lateness[min(len(lateness) - 1, int(p * len(lateness)))]

        print(f"messages published:      {n} in {published - started:.1f}s")
        print(f"messages delivered:      {len(lateness)}")
        print(f"segment bytes on disk:   {store_bytes / 2**20:.1f} MiB (pending)")
        print(f"broker RSS at start:     {rss_start / 1024:.1f} MiB")
        print(f"broker RSS all pending:  {rss_pending / 1024:.1f} MiB")
        print(f"broker RSS peak (HWM):   {rss_peak / 1024:.1f} MiB")
        if lateness:
            print(
                "lateness ms (arrival - due): "
                f"min {lateness[0]:.1f}  p50 {pct(0.5):.1f}  p90 {pct(0.9):.1f}  "
                f"p99 {pct(0.99):.1f}  max {lateness[-1]:.1f}"
            )
    finally:
        broker.terminate()
        broker.wait(30)
        shutil.rmtree(data_dir, ignore_errors=True)
        os.sync()


if __name__ == "__main__":
    main()
