#!/usr/bin/env bash
# Start/stop a Leveret for the referee benchmark with its management API and Prometheus on
# and a dashboard (bench/dashboard_scrape.py) polling them every 5 s: the "API on" side of
# docs/performance.md's management cost comparison. Prints the broker's PID last.
#   bench/leveret_watched.sh start PORT MANAGEMENT_PORT PROMETHEUS_PORT
#   bench/leveret_watched.sh stop PORT
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:?usage: leveret_watched.sh start PORT MGMT_PORT PROM_PORT | stop PORT}
port=${2:?port}
state=/tmp/leveret-bench-$port
case $cmd in
start)
    mgmt=${3:?management port}
    prom=${4:?prometheus port}
    pid=$(LEVERET_BENCH_MANAGEMENT_PORT=$mgmt LEVERET_BENCH_PROMETHEUS_PORT=$prom \
        "$here/leveret.sh" start "$port" | tail -n 1)
    python "$here/dashboard_scrape.py" --management "http://127.0.0.1:$mgmt" \
        --prometheus "http://127.0.0.1:$prom" --interval 5 \
        </dev/null >/dev/null 2>"$state/scrape.log" &
    echo $! >"$state/scrape.pid"
    echo "$pid"
    ;;
stop)
    if [ -f "$state/scrape.pid" ]; then
        kill "$(cat "$state/scrape.pid")" 2>/dev/null || true
        rm -f "$state/scrape.pid"
    fi
    "$here/leveret.sh" stop "$port"
    ;;
*) echo "unknown command $cmd" >&2; exit 2 ;;
esac
