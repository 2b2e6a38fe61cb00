#!/usr/bin/env bash
# Run a private RabbitMQ node (Debian's rabbitmq-server package) for differential tests.
#
#   scripts/rabbitmq.sh start PORT DIR   start a node with AMQP on 127.0.0.1:PORT, state in DIR
#   scripts/rabbitmq.sh stop DIR         stop the node started with that DIR
#   scripts/rabbitmq.sh ctl DIR ARGS...  run rabbitmqctl ARGS... against that node
#   scripts/rabbitmq.sh diagnostics DIR ARGS...  the same with rabbitmq-diagnostics
#
# With RABBITMQ_MANAGEMENT_PORT (and optionally RABBITMQ_PROMETHEUS_PORT) set, start also
# enables rabbitmq_management (and rabbitmq_prometheus) on those ports of 127.0.0.1.
#
# The node gets its own name, its own Erlang distribution port and no plugins; its
# mnesia, log and config files live under DIR, owned by the rabbitmq user (Debian's
# server refuses to boot otherwise). Run as root or as the rabbitmq user.
set -euo pipefail

RABBITMQ_LIB_BIN=${RABBITMQ_LIB_BIN:-/usr/lib/rabbitmq/bin}
RABBITMQ_USER=${RABBITMQ_USER:-rabbitmq}
START_TIMEOUT=${RABBITMQ_START_TIMEOUT:-60}
STOP_TIMEOUT=${RABBITMQ_STOP_TIMEOUT:-30}

usage() {
    echo "usage: $0 start PORT DIR | stop DIR | ctl DIR ARGS... | diagnostics DIR ARGS..." >&2
    exit 2
}

die() {
    echo "rabbitmq.sh: $*" >&2
    exit 1
}

# Run a command (exec'ed, so its pid is the caller's) as the rabbitmq user with that user's
# home, where the Erlang cookie lives.
as_rabbitmq() {
    local home
    home=$(getent passwd "$RABBITMQ_USER" | cut -d: -f6)
    if [ "$(id -u)" = "$(id -u "$RABBITMQ_USER")" ]; then
        HOME=$home exec "$@"
    else
        HOME=$home exec setpriv --reuid "$RABBITMQ_USER" --regid "$RABBITMQ_USER" \
            --init-groups "$@"
    fi
}

port_open() {
    # True when something accepts TCP connections on 127.0.0.1:$1.
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port_near() {
    # Print a port that nobody listens on, starting the search at $1.
    local p=$1
    while [ "$p" -lt 65535 ]; do
        if ! port_open "$p"; then
            echo "$p"
            return 0
        fi
        p=$((p + 1))
    done
    return 1
}

log_tail() {
    local dir=$1 f
    for f in "$dir"/server.out "$dir"/log/*.log; do
        [ -f "$f" ] || continue
        echo "---- tail of $f" >&2
        tail -n 40 "$f" >&2
    done
}

cmd_start() {
    local port=$1 dir=$2
    case $port in
        '' | *[!0-9]*) die "PORT must be a number, got '$port'" ;;
    esac
    [ -x "$RABBITMQ_LIB_BIN/rabbitmq-server" ] ||
        die "$RABBITMQ_LIB_BIN/rabbitmq-server not found (apt-get install -y rabbitmq-server)"
    getent passwd "$RABBITMQ_USER" >/dev/null || die "no user '$RABBITMQ_USER'"
    if port_open "$port"; then
        die "port $port on 127.0.0.1 is already in use"
    fi

    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
        die "a node started from $dir is still running (pid $(cat "$dir/pid"))"
    fi

    local dist_port node
    if [ "$port" -le 45535 ]; then
        dist_port=$(free_port_near $((port + 20000))) || die "no free distribution port"
    else
        dist_port=$(free_port_near 25672) || die "no free distribution port"
    fi
    node="leveret-rmq-${port}-$$@localhost"

    mkdir -p "$dir/mnesia" "$dir/log"
    cat >"$dir/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:${port}
log.file.level = info
log.console = false
EOF
    local plugins=() http_ports=()
    if [ -n "${RABBITMQ_MANAGEMENT_PORT:-}" ]; then
        plugins+=(rabbitmq_management)
        http_ports+=("$RABBITMQ_MANAGEMENT_PORT")
        printf 'management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = %s\n' \
            "$RABBITMQ_MANAGEMENT_PORT" >>"$dir/rabbitmq.conf"
    fi
    if [ -n "${RABBITMQ_PROMETHEUS_PORT:-}" ]; then
        plugins+=(rabbitmq_prometheus)
        http_ports+=("$RABBITMQ_PROMETHEUS_PORT")
        printf 'prometheus.tcp.ip = 127.0.0.1\nprometheus.tcp.port = %s\n' \
            "$RABBITMQ_PROMETHEUS_PORT" >>"$dir/rabbitmq.conf"
    fi
    local IFS=,
    echo "[${plugins[*]}]." >"$dir/enabled_plugins"
    unset IFS
    echo "$node" >"$dir/nodename"
    echo "$port" >"$dir/port"
    chown -R "$RABBITMQ_USER:" "$dir" 2>/dev/null || true
    if ! (as_rabbitmq test -w "$dir/mnesia"); then
        die "$dir is not reachable or writable by user '$RABBITMQ_USER' (check its parents' modes)"
    fi

    # Raise the open-files limit (the Debian wrapper would reset it to 1024), then start the
    # node in the background with every stream redirected, so that nothing it spawns
    # (epmd included) keeps the caller's terminal or pipes open.
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    (
        cd "$dir"
        export RABBITMQ_NODENAME="$node"
        export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
        export RABBITMQ_NODE_PORT="$port"
        export RABBITMQ_DIST_PORT="$dist_port"
        export RABBITMQ_MNESIA_BASE="$dir/mnesia"
        export RABBITMQ_LOG_BASE="$dir/log"
        export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
        export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
        export RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config"
        export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
        export RABBITMQ_PID_FILE="$dir/mnesia/node.pid"
        export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
        export ERL_EPMD_ADDRESS=127.0.0.1
        (as_rabbitmq "$RABBITMQ_LIB_BIN/rabbitmq-server") </dev/null >"$dir/server.out" 2>&1 &
        echo $! >"$dir/pid"
    )
    local pid
    pid=$(cat "$dir/pid")

    local waited=0
    while ! port_open "$port"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log_tail "$dir"
            die "RabbitMQ node $node exited during boot"
        fi
        if [ "$waited" -ge $((START_TIMEOUT * 2)) ]; then
            log_tail "$dir"
            kill -TERM "$pid" 2>/dev/null || true
            die "RabbitMQ node $node did not accept AMQP on 127.0.0.1:$port within ${START_TIMEOUT}s"
        fi
        sleep 0.5
        waited=$((waited + 1))
    done
    local http_port
    for http_port in "${http_ports[@]}"; do
        while ! port_open "$http_port"; do
            if [ "$waited" -ge $((START_TIMEOUT * 2)) ]; then
                log_tail "$dir"
                die "RabbitMQ node $node did not serve HTTP on 127.0.0.1:$http_port in time"
            fi
            sleep 0.5
            waited=$((waited + 1))
        done
    done
    echo "RabbitMQ node $node listening on 127.0.0.1:$port (pid $pid, dir $dir)"
}

cmd_stop() {
    local dir=$1
    [ -f "$dir/nodename" ] || die "no node was started from $dir"
    local node pid=""
    node=$(cat "$dir/nodename")
    [ -f "$dir/pid" ] && pid=$(cat "$dir/pid")
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
        echo "RabbitMQ node $node is not running"
        rm -f "$dir/pid"
        return 0
    fi

    (as_rabbitmq "$RABBITMQ_LIB_BIN/rabbitmqctl" -n "$node" -q stop) >/dev/null 2>&1 ||
        echo "rabbitmq.sh: rabbitmqctl stop failed for $node; sending SIGTERM" >&2

    if [ -n "$pid" ]; then
        local waited=0
        while kill -0 "$pid" 2>/dev/null; do
            if [ "$waited" -eq $((STOP_TIMEOUT * 2)) ]; then
                kill -TERM "$pid" 2>/dev/null || true
            elif [ "$waited" -ge $((STOP_TIMEOUT * 4)) ]; then
                kill -KILL "$pid" 2>/dev/null || true
                break
            fi
            sleep 0.5
            waited=$((waited + 1))
        done
        rm -f "$dir/pid"
    fi
    echo "RabbitMQ node $node stopped"
}

cmd_ctl() {
    local tool=$1 dir=$2
    shift 2
    [ -f "$dir/nodename" ] || die "no node was started from $dir"
    # exec'ed by as_rabbitmq, so the tool's exit status and output are the caller's.
    as_rabbitmq "$RABBITMQ_LIB_BIN/$tool" -n "$(cat "$dir/nodename")" -q "$@"
}

[ $# -ge 1 ] || usage
case $1 in
    start)
        [ $# -eq 3 ] || usage
        cmd_start "$2" "$3"
        ;;
    stop)
        [ $# -eq 2 ] || usage
        cmd_stop "$2"
        ;;
    ctl)
        [ $# -ge 3 ] || usage
        shift
        cmd_ctl rabbitmqctl "$@"
        ;;
    diagnostics)
        [ $# -ge 3 ] || usage
        shift
        cmd_ctl rabbitmq-diagnostics "$@"
        ;;
    *) usage ;;
esac
