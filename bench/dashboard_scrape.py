"""A dashboard watching a broker: what the UI and Prometheus ask, every few seconds, until
killed. For the referee comparison "management on and scraped" against "management off":

    python bench/dashboard_scrape.py --management http://127.0.0.1:15801 \\
        --prometheus http://127.0.0.1:15802 --interval 5

Each round GETs /api/overview, /api/nodes, /api/queues (paged, as the UI asks),
/api/connections, /api/channels and /metrics; a line per round on stderr says how long it took.
"""

from __future__ import annotations

import argparse
import sys
import time

import requests

PATHS = (
    "/api/overview",
    "/api/nodes",
    "/api/queues?page=1&page_size=100&sort=name",
    "/api/connections?page=1&page_size=100",
    "/api/channels?page=1&page_size=100",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--management", required=True, help="http://HOST:PORT of the API")
    parser.add_argument("--prometheus", help="http://HOST:PORT of /metrics")
    parser.add_argument("--user", default="guest")
    parser.add_argument("--password", default="guest")
    parser.add_argument("--interval", type=float, default=5.0)
    args = parser.parse_args()
    session = requests.Session()
    session.auth = (args.user, args.password)
    while True:
        started = time.monotonic()
        try:
            for path in PATHS:
                session.get(args.management + path, timeout=30).raise_for_status()
            if args.prometheus:
                session.get(args.prometheus + "/metrics", timeout=30).raise_for_status()
        except requests.RequestException as error:
            print(f"scrape failed: {error}", file=sys.stderr, flush=True)
        took = time.monotonic() - started
        print(f"round took {took * 1000:.0f} ms", file=sys.stderr, flush=True)
        time.sleep(max(0.0, args.interval - took))


if __name__ == "__main__":
    sys.exit(main())
