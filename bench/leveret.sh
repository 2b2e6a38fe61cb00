#!/usr/bin/env bash
# Start/stop a throwaway Leveret for the referee benchmark (../shared/bench/compare.sh).
#   bench/leveret.sh start PORT [DATA_DIR]   starts in the background, prints its PID last
#   bench/leveret.sh stop PORT               stops the one started for PORT (SIGTERM, by PID)
# The management API and Prometheus are off unless LEVERET_BENCH_MANAGEMENT_PORT /
# LEVERET_BENCH_PROMETHEUS_PORT name ports (two brokers of one run would collide on 15672).
set -euo pipefail
cmd=${1:?usage: leveret.sh start PORT [DATA_DIR] | stop PORT}
port=${2:?port}
state=/tmp/leveret-bench-$port
case $cmd in
start)
    data=${3:-$state/data}
    rm -rf "$data"
    mkdir -p "$state"
    python -m leveret serve --host 127.0.0.1 --port "$port" --data-dir "$data" \
        --log-level warning \
        --management-port "${LEVERET_BENCH_MANAGEMENT_PORT:-0}" \
        --prometheus-port "${LEVERET_BENCH_PROMETHEUS_PORT:-0}" >"$state/log" 2>&1 &
    pid=$!
    echo "$pid" >"$state/pid"
    for _ in $(seq 100); do
        if python -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then
            echo "$pid"
            exit 0
        fi
        sleep 0.1
    done
    echo "leveret did not start; log:" >&2
    cat "$state/log" >&2
    exit 1
    ;;
stop)
    if [ -f "$state/pid" ]; then
        kill "$(cat "$state/pid")" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$(cat "$state/pid")" 2>/dev/null || break; sleep 0.1; done
        rm -f "$state/pid"
    fi
    ;;
*) echo "unknown command $cmd" >&2; exit 2 ;;
esac
