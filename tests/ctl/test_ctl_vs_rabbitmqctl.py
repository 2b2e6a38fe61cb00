"""Differential: the same command sequences through ``leveret ctl`` and RabbitMQ 3.10's
rabbitmqctl print the same lines and exit with the same codes.

Runs only with ``LEVERET_TEST_RABBITMQ_DIR`` (the state directory of a node started by
``scripts/rabbitmq.sh``, as the access tests use); that script passes ``-q``, so both sides
run quiet. Names are unique per run and every case deletes what it created.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pika
import pika.exceptions
import pytest

from tests.ctl.conftest import CtlResult, Served
from tests.ctl.topology import Topology, build, connect

RABBITMQ_DIR = os.environ.get("LEVERET_TEST_RABBITMQ_DIR")
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "rabbitmq.sh"

pytestmark = pytest.mark.skipif(
    not RABBITMQ_DIR, reason="LEVERET_TEST_RABBITMQ_DIR names no RabbitMQ node"
)


def rabbitmqctl(*args: str, tool: str = "ctl", stdin: str | None = None) -> CtlResult:
    """rabbitmqctl (tool "ctl") or rabbitmq-diagnostics (tool "diagnostics"), quiet."""
    assert RABBITMQ_DIR is not None
    proc = subprocess.run(
        [str(SCRIPT), tool, RABBITMQ_DIR, *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # The Erlang logger sometimes adds its own line ("\n11:39:08.477 [warning] Failed to
    # delete user ..."), which is no part of the command's output.
    err = re.sub(r"^\n?\d\d:\d\d:\d\d\.\d+ \[\w+\] [^\n]*\n", "", proc.stderr)
    return CtlResult(proc.returncode, proc.stdout, err)


def same(broker: Served, *args: str) -> None:
    theirs = rabbitmqctl(*args)
    ours = broker.ctl("-q", *args)
    assert (ours.code, ours.out, ours.err) == (theirs.code, theirs.out, theirs.err), args


def test_user_commands(broker: Served) -> None:
    user = f"diff-u-{secrets.token_hex(3)}"
    try:
        for args in (
            ("add_user", user, "pw"),
            ("add_user", user, "pw"),
            ("authenticate_user", user, "pw"),
            ("authenticate_user", user, "bad"),
            ("set_user_tags", user, "monitoring", "management"),
            ("change_password", user, "pw2"),
            ("delete_user", user),
            ("delete_user", user),
            ("change_password", user, "x"),
            ("add_user", user),  # no password, none on stdin either
        ):
            same(broker, *args)
    finally:
        rabbitmqctl("delete_user", user)


def test_vhost_and_permission_commands(broker: Served) -> None:
    user = f"diff-p-{secrets.token_hex(3)}"
    vhost = f"diff-v-{secrets.token_hex(3)}"
    try:
        for args in (
            ("add_user", user, "pw"),
            ("add_vhost", vhost),
            ("set_permissions", "-p", vhost, user, ".*", "^w", "^r"),
            ("list_permissions", "-p", vhost),
            ("list_user_permissions", user),
            ("set_topic_permissions", "-p", vhost, user, "amq.topic", "^a", "^b"),
            ("list_topic_permissions", "-p", vhost),
            ("list_user_topic_permissions", user),
            ("clear_topic_permissions", "-p", vhost, user, "amq.topic"),
            ("clear_permissions", "-p", vhost, user),
            ("set_vhost_limits", "-p", vhost, '{"max-connections": 10}'),
            ("list_vhost_limits", "-p", vhost),
            ("clear_vhost_limits", "-p", vhost),
            ("set_user_limits", user, '{"max-channels": 3}'),
            ("list_user_limits", "--user", user),
            ("clear_user_limits", user, "all"),
            ("list_permissions", "-p", vhost, "--formatter", "json"),
            ("delete_vhost", vhost),
            ("delete_vhost", vhost),
            ("list_permissions", "-p", vhost),
            ("delete_user", user),
        ):
            same(broker, *args)
    finally:
        rabbitmqctl("delete_vhost", vhost)
        rabbitmqctl("delete_user", user)


def test_usage_errors_exit_alike(broker: Served) -> None:
    """Usage texts differ (each tool names itself); the exit code is the same."""
    for args in (
        ("set_permissions", "guest", ".*"),
        ("list_users", "extra"),
        ("clear_password", "a", "b"),
        ("list_vhosts", "name", "bogus"),
        ("no_such_command",),
    ):
        theirs = rabbitmqctl(*args)
        ours = broker.ctl("-q", *args)
        assert (ours.code, ours.out) == (theirs.code, theirs.out) == (64, ""), args


# -- queues, exchanges, bindings, connections, channels, consumers ---------------------------
#
# The same topology (tests/ctl/topology.py) is built with pika on both brokers, in a vhost of
# the same name; listings are compared row for row after sorting (RabbitMQ lists in hash
# order, Leveret by name). Columns whose values are Erlang's own (pids, memory, the
# amq.rabbitmq.trace exchange Leveret does not have) are left out.

Row = dict[str, object]


def rabbitmq_port() -> int:
    assert RABBITMQ_DIR is not None
    return int(Path(RABBITMQ_DIR, "port").read_text())


def rabbitmq_node() -> str:
    assert RABBITMQ_DIR is not None
    return Path(RABBITMQ_DIR, "nodename").read_text().strip()


def leveret_node(broker: Served) -> str:
    return str(json.loads(broker.ctl("status", "--formatter", "json").out)["node_name"])


@pytest.fixture
def twin_vhost(broker: Served) -> Iterator[str]:
    """A new vhost of the same name on both brokers, open to guest."""
    vhost = f"diff-t-{secrets.token_hex(3)}"
    for run in (rabbitmqctl, lambda *args: broker.ctl("-q", *args)):
        assert run("add_vhost", vhost).code == 0
        assert run("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*").code == 0
    try:
        yield vhost
    finally:
        rabbitmqctl("delete_vhost", vhost)
        broker.ctl("delete_vhost", vhost)


@pytest.fixture
def twins(broker: Served, twin_vhost: str) -> Iterator[tuple[Topology, Topology]]:
    ours = build(broker.port, twin_vhost)
    theirs = build(rabbitmq_port(), twin_vhost)
    try:
        yield ours, theirs
    finally:
        ours.close()
        theirs.close()


def json_rows(result: CtlResult, keep: Callable[[Row], bool]) -> list[Row]:
    assert (result.code, result.err) == (0, ""), result
    rows = [row for row in json.loads(result.out) if keep(row)]
    return sorted(rows, key=lambda row: json.dumps(row, sort_keys=True))


def same_rows(broker: Served, *args: str, keep: Callable[[Row], bool] = lambda row: True) -> None:
    """The listing's JSON, the same rows on both (in any order)."""
    theirs = json_rows(rabbitmqctl(*args, "--formatter", "json"), keep)
    ours = json_rows(broker.ctl("-q", *args, "--formatter", "json"), keep)
    assert ours == theirs, args
    assert ours, args  # something was compared


def same_table(broker: Served, *args: str) -> None:
    """The listing's table: the same header and the same lines (in any order)."""
    theirs, ours = rabbitmqctl(*args), broker.ctl("-q", *args)
    assert (ours.code, ours.err) == (theirs.code, theirs.err) == (0, ""), args
    their_lines, our_lines = theirs.out.splitlines(), ours.out.splitlines()
    assert our_lines[:1] == their_lines[:1], args
    assert sorted(our_lines[1:]) == sorted(their_lines[1:]), args


def test_listings(broker: Served, twin_vhost: str, twins: tuple[Topology, Topology]) -> None:
    vhost = twin_vhost
    queue_columns = [
        "name",
        "durable",
        "auto_delete",
        "exclusive",
        "arguments",
        "policy",
        "messages",
        "messages_ready",
        "messages_unacknowledged",
        "consumers",
        "type",
        "state",
        "message_bytes",
        "message_bytes_ready",
        "message_bytes_unacknowledged",
        "messages_ram",
        "messages_persistent",
        "exclusive_consumer_tag",
        "head_message_timestamp",
        "slave_pids",
        "leader",
        "members",
        "online",
    ]
    same_table(broker, "list_queues", "-p", vhost)
    same_table(broker, "list_queues", "-p", vhost, *queue_columns)
    same_rows(broker, "list_queues", "-p", vhost, *queue_columns)
    exchange_columns = ("name", "type", "durable", "auto_delete", "internal", "arguments", "policy")
    real = {"amq.rabbitmq.trace"}  # RabbitMQ's tracing exchange: Leveret has no tracing
    same_rows(
        broker, "list_exchanges", "-p", vhost, *exchange_columns,
        keep=lambda row: row["name"] not in real,
    )  # fmt: skip
    same_table(broker, "list_bindings", "-p", vhost)
    same_rows(broker, "list_bindings", "-p", vhost)
    consumer_columns = (
        "queue_name", "consumer_tag", "ack_required", "prefetch_count", "active",
        "activity_status", "arguments",
    )  # fmt: skip
    same_table(broker, "list_consumers", "-p", vhost, *consumer_columns)
    same_rows(broker, "list_consumers", "-p", vhost, *consumer_columns)
    ours_only = lambda row: row["vhost"] == vhost  # noqa: E731 (the other clients of the node)
    connection_columns = [
        "user",
        "vhost",
        "channels",
        "state",
        "protocol",
        "auth_mechanism",
        "ssl",
        "ssl_protocol",
        "frame_max",
        "channel_max",
        "timeout",
        "client_properties",
        "peer_host",
        "host",
        "peer_cert_subject",
    ]
    same_rows(broker, "list_connections", *connection_columns, keep=ours_only)
    channel_columns = [
        "user",
        "vhost",
        "number",
        "consumer_count",
        "messages_unacknowledged",
        "prefetch_count",
        "global_prefetch_count",
        "confirm",
        "transactional",
        "messages_unconfirmed",
        "messages_uncommitted",
        "acks_uncommitted",
    ]
    same_rows(broker, "list_channels", *channel_columns, keep=ours_only)


def test_listings_of_nothing_and_unknown_columns(broker: Served) -> None:
    for listing in ("list_queues", "list_exchanges", "list_bindings", "list_consumers"):
        same(broker, listing, "-p", f"diff-none-{secrets.token_hex(3)}")
        same(broker, listing, "-p", f"diff-none-{secrets.token_hex(3)}", "--formatter", "json")
    for args in (("list_queues", "name", "bogus"), ("list_connections", "bogus")):
        theirs, ours = rabbitmqctl(*args), broker.ctl("-q", *args)
        assert (ours.code, ours.out) == (theirs.code, theirs.out) == (64, ""), args


def normalized(result: CtlResult, node: str) -> tuple[int, str, str]:
    """Node names and the product's name out of the way."""

    def clean(text: str) -> str:
        return text.replace(node, "NODE").replace("RabbitMQ", "Leveret")

    return result.code, clean(result.out), clean(result.err)


def test_purge_and_delete_queue(broker: Served, twin_vhost: str) -> None:
    vhost = twin_vhost
    clients = [connect(broker.port, vhost), connect(rabbitmq_port(), vhost)]
    try:
        for conn in clients:
            channel = conn.channel()
            for queue in ("dq-full", "dq-used", "dq-purged"):
                channel.queue_declare(queue)
            channel.confirm_delivery()
            for queue in ("dq-full", "dq-full", "dq-purged"):
                channel.basic_publish("", queue, b"body")
            channel.basic_consume("dq-used", lambda *args: None)
        rabbit, ours = rabbitmq_node(), leveret_node(broker)
        for args in (
            ("purge_queue", "-p", vhost, "dq-purged"),
            ("purge_queue", "-p", vhost, "dq-purged", "--formatter", "json"),
            ("delete_queue", "-p", vhost, "dq-full", "--if-empty"),
            ("delete_queue", "-p", vhost, "dq-used", "--if-unused"),
            ("delete_queue", "-p", vhost, "dq-used", "-e", "-u"),
            ("delete_queue", "-p", vhost, "dq-full"),
            ("delete_queue", "-p", vhost, "dq-full"),
            ("delete_queue", "-p", vhost, "dq-used", "--formatter", "json"),
            ("delete_queue", "-p", f"{vhost}-none", "dq-full"),
        ):
            theirs = normalized(rabbitmqctl(*args), rabbit)
            assert normalized(broker.ctl("-q", *args), ours) == theirs, args
            if args[0] == "purge_queue":
                same_table(broker, "list_queues", "-p", vhost, "name", "messages")
    finally:
        for conn in clients:
            if conn.is_open:
                conn.close()


def forced_close(conn: pika.BlockingConnection) -> str:
    try:
        for _ in range(100):
            conn.process_data_events(0.05)
    except pika.exceptions.ConnectionClosedByBroker as error:
        return f"{error.reply_code} {error.reply_text}"
    return "still open"


def test_close_connections(broker: Served, twin_vhost: str) -> None:
    vhost = twin_vhost
    ports = {"ours": broker.port, "theirs": rabbitmq_port()}
    runs: dict[str, Callable[..., CtlResult]] = {
        "ours": lambda *args: broker.ctl("-q", *args),
        "theirs": rabbitmqctl,
    }
    seen: dict[str, list[object]] = {}
    for side, run in runs.items():
        first = connect(ports[side], vhost, "first")
        rest = [connect(ports[side], vhost, f"c{i}") for i in range(2)]
        # The table's pid: rabbitmqctl's JSON gives it in a form close_connection refuses.
        lines = run("-s", "list_connections", "pid", "client_properties").out.splitlines()
        pid = next(line.split("\t")[0] for line in lines if '{"connection_name","first"}' in line)
        closed = run("close_connection", pid, "operator says bye")
        all_closed = run("close_all_connections", "-p", vhost, "maintenance")
        seen[side] = [
            (closed.code, closed.out, closed.err),
            forced_close(first),
            (all_closed.code, all_closed.out, all_closed.err),
            [forced_close(conn) for conn in rest],
        ]
    assert seen["ours"] == seen["theirs"]
    assert seen["ours"][1] == "320 CONNECTION_FORCED - operator says bye"


def test_health_checks(broker: Served) -> None:
    """rabbitmq-diagnostics' checks and rabbitmqctl's node commands, on healthy nodes."""
    rabbit, ours = rabbitmq_node(), leveret_node(broker)
    for args in (
        ("check_running",),
        ("check_local_alarms",),
        ("check_alarms",),
        ("check_virtual_hosts",),
        ("check_protocol_listener", "amqp"),
        ("ping",),
    ):
        for formatter in ((), ("--formatter", "json"), ("-s",)):
            theirs = normalized(rabbitmqctl(*args, *formatter, tool="diagnostics"), rabbit)
            assert normalized(broker.ctl("-q", *args, *formatter), ours) == theirs, args
    for args in (("await_startup",), ("await_startup", "--formatter", "json")):
        theirs = normalized(rabbitmqctl(*args), rabbit)
        assert normalized(broker.ctl("-q", *args), ours) == theirs, args
    # Their listeners differ (RabbitMQ has a clustering port): the verdicts are the same.
    for args in (("check_port_listener", "1"), ("check_protocol_listener", "stomp")):
        theirs = rabbitmqctl(*args, tool="diagnostics")
        assert broker.ctl("-q", *args).code == theirs.code == 69, args
    theirs = rabbitmqctl("check_port_listener", str(rabbitmq_port()), tool="diagnostics")
    assert broker.ctl("-q", "check_port_listener", str(broker.port)).code == theirs.code == 0


def test_definitions(broker: Served) -> None:
    """Import from stdin (the same messages, none with -q), and the export's format: compact
    JSON with sorted keys, nothing after it."""
    vhost = f"diff-d-{secrets.token_hex(3)}"
    document = json.dumps({"vhosts": [{"name": vhost}]})
    rabbit, ours = rabbitmq_node(), leveret_node(broker)
    try:
        for formatter in ((), ("--formatter", "json")):
            args = ("import_definitions", *formatter)  # no file: stdin
            theirs = normalized(rabbitmqctl(*args, stdin=document), rabbit)
            assert normalized(broker.ctl("-q", *args, stdin=document), ours) == theirs
        for run in (rabbitmqctl, lambda *args: broker.ctl("-q", *args)):
            assert vhost in run("list_vhosts").out.splitlines()
        theirs_bad = rabbitmqctl("import_definitions", "-", stdin="{not json")
        assert (
            broker.ctl("-q", "import_definitions", "-", stdin="{not json").code == theirs_bad.code
        )
        for exported in (
            rabbitmqctl("export_definitions", "-"),
            broker.ctl("-q", "export_definitions", "-"),
        ):
            assert exported.code == 0
            data = json.loads(exported.out)
            assert exported.out == json.dumps(data, separators=(",", ":"), sort_keys=True)
            assert vhost in {entry["name"] for entry in data["vhosts"]}
    finally:
        rabbitmqctl("delete_vhost", vhost)
        broker.ctl("delete_vhost", vhost)
