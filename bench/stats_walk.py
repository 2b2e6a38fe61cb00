"""How long the statistics timer's walk (broker/admin/stats.sample_statistics) takes.

    python bench/stats_walk.py [--queues 10000] [--busy 0.1] [--rounds 20]

Starts an embedded broker, declares ``--queues`` queues (with their default-exchange
routes), publishes one message to a ``--busy`` share of them between walks and consumes
from a few with unacked deliveries held, then times ``sample_statistics`` on the broker's
loop, as the timer runs it every ``collect_statistics_interval``. Prints the median and
the worst walk in ms, and whether the modules run compiled (a wheel) or interpreted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from typing import TypeVar

import pika

import leveret.broker.stats
from leveret import Broker
from leveret.broker.admin.stats import sample_statistics

T = TypeVar("T")


def on_loop(broker: Broker, work: Callable[[], T]) -> T:
    async def call() -> T:
        return work()

    return asyncio.run_coroutine_threadsafe(call(), broker.loop).result(120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, default=10_000)
    parser.add_argument("--busy", type=float, default=0.1, help="share of queues with traffic")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    compiled = not (leveret.broker.stats.__file__ or "").endswith(".py")
    # A long interval: the walks timed here are the only ones that run.
    with Broker(collect_statistics_interval=3_600_000) as broker:
        node = broker.node
        vhost = node.vhosts["/"]

        def declare() -> None:
            for index in range(args.queues):
                vhost.declare_queue(f"q{index}", None)

        on_loop(broker, declare)
        conn = pika.BlockingConnection(pika.URLParameters(broker.url))
        channel = conn.channel()
        busy = max(1, int(args.queues * args.busy))
        step = max(1, args.queues // busy)
        consumer = conn.channel()
        consumer.basic_qos(prefetch_count=100)
        for index in range(0, 50 * step, step):  # unacked deliveries held on 50 queues
            for _ in range(100):
                channel.basic_publish("", f"q{index % args.queues}", b"held")
            consumer.basic_consume(f"q{index % args.queues}", lambda *_: None)
        conn.process_data_events(1.0)
        took: list[float] = []
        for _ in range(args.rounds):
            for index in range(0, args.queues, step):
                channel.basic_publish("", f"q{index}", b"x")
            conn.process_data_events(0.05)

            def walk() -> float:
                started = time.perf_counter()
                sample_statistics(node, time.monotonic())
                return time.perf_counter() - started

            took.append(on_loop(broker, walk) * 1000)
        conn.close()
    kind = "compiled" if compiled else "interpreted"
    print(
        f"{args.queues} queues ({busy} busy per round, 50 with unacked deliveries), {kind}, "
        f"Python {sys.version.split()[0]}: walk median {statistics.median(took):.1f} ms, "
        f"worst {max(took):.1f} ms over {args.rounds} rounds"
    )


if __name__ == "__main__":
    main()
