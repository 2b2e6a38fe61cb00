"""Time the management API's queue lists with 10,000 queues (an embedded broker):

python bench/api_list_10k.py [--queues 10000]
"""

from __future__ import annotations

import argparse
import time

import requests

from leveret import Broker
from leveret.broker.admin import queues as queue_admin

PATHS = (
    "/api/queues?page=1&page_size=100",
    "/api/queues?page=1&page_size=100&sort=name&sort_reverse=true",
    "/api/queues?page=1&page_size=100&name=q0999",
    "/api/queues?page=1&page_size=100&sort=messages",
    "/api/queues",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, default=10_000)
    args = parser.parse_args()
    with Broker(management_port=0) as broker:

        def declare() -> None:
            for n in range(args.queues):
                queue_admin.declare_queue(broker.node, "/", f"q{n:05d}")

        broker._call(declare)
        session = requests.Session()
        session.auth = ("guest", "guest")
        for path in PATHS:
            started = time.perf_counter()
            reply = session.get(broker.management_url + path, timeout=120)
            took = time.perf_counter() - started
            body = reply.json()
            count = len(body) if isinstance(body, list) else body["item_count"]
            print(f"{took * 1000:7.0f} ms  {reply.status_code}  {count:5d} items  {path}")


if __name__ == "__main__":
    main()
