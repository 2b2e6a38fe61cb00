"""Measure the Prometheus endpoint with many queues, and what scraping costs AMQP traffic.

    python scripts/prometheus_load.py [--queues 10000] [--duration 10]

Starts an embedded broker with Prometheus on a free port, declares ``--queues`` queues
with pika, then runs ``leveret perf`` (one producer, one consumer, separate processes)
three times: without scraping, while another process scrapes ``/metrics`` back to back,
and while it scrapes ``/metrics/per-object`` back to back. Prints the consumer's rate of
each run and the scrape times (a scrape is timed from request to the last byte).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import pika
import requests

import leveret

SCRAPER = """
import sys, time, requests
url, stop_after = sys.argv[1], float(sys.argv[2])
session = requests.Session()
end = time.monotonic() + stop_after
while time.monotonic() < end:
    started = time.perf_counter()
    response = session.get(url, headers={"Accept-Encoding": "gzip"}, timeout=60)
    size = len(response.content)
    print(f"{time.perf_counter() - started:.4f} {size}", flush=True)
"""


def declare_queues(url: str, count: int) -> float:
    started = time.perf_counter()
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    for i in range(count):
        channel.queue_declare(f"idle-{i}")
    connection.close()
    return time.perf_counter() - started


def perf(url: str, duration: float) -> dict[str, object]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "leveret",
            "perf",
            "--uri",
            url,
            "--duration",
            str(duration),
            "--warmup",
            "2",
            "--json",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def run(url: str, metrics: str | None, duration: float) -> tuple[dict[str, object], list[float]]:
    scraper = None
    if metrics is not None:
        scraper = subprocess.Popen(
            [sys.executable, "-c", SCRAPER, metrics, str(duration + 3)],
            stdout=subprocess.PIPE,
            text=True,
        )
    result = perf(url, duration)
    times: list[float] = []
    if scraper is not None:
        out, _ = scraper.communicate(timeout=120)
        times = [float(line.split()[0]) for line in out.splitlines()]
    return result, times


def describe(times: list[float]) -> str:
    if not times:
        return "no scrape"
    return (
        f"{len(times)} scrapes, min {min(times) * 1000:.0f} ms, "
        f"median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, default=10_000)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    with leveret.Broker(prometheus_port=0) as broker:
        took = declare_queues(broker.url, args.queues)
        print(f"declared {args.queues} queues in {took:.1f} s")
        base = broker.prometheus_url
        for path in ("/metrics", "/metrics/per-object"):
            single = requests.get(base + path, timeout=60)
            started = time.perf_counter()
            single = requests.get(base + path, timeout=60)
            print(
                f"{path}: one scrape {time.perf_counter() - started:.3f} s, "
                f"{len(single.content)} bytes"
            )
        for label, metrics in (
            ("no scraping", None),
            ("scraping /metrics back to back", base + "/metrics"),
            ("scraping /metrics/per-object back to back", base + "/metrics/per-object"),
        ):
            result, times = run(broker.url, metrics, args.duration)
            print(f"{label}: {json.dumps(result)}")
            print(f"    {describe(times)}")


if __name__ == "__main__":
    main()
