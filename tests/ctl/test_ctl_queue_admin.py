"""``leveret ctl purge_queue``, ``delete_queue``, ``close_connection`` and
``close_all_connections`` against a running broker; effects are checked with pika clients."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pika
import pika.exceptions
import pytest

from tests.ctl.conftest import Served
from tests.ctl.topology import connect


@pytest.fixture
def vhost(broker: Served, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"v-{request.node.name[5:30]}"
    assert broker.ctl("add_vhost", name).code == 0
    assert broker.ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*").code == 0
    yield name
    broker.ctl("delete_vhost", name)


def depth(broker: Served, vhost: str, queue: str) -> int | None:
    """The queue's ready messages, by a passive declare; None if it does not exist."""
    conn = connect(broker.port, vhost, "probe")
    try:
        return conn.channel().queue_declare(queue, passive=True).method.message_count
    except pika.exceptions.ChannelClosedByBroker as error:
        assert error.reply_code == 404
        return None
    finally:
        if conn.is_open:
            conn.close()


def closed_by_broker(conn: pika.BlockingConnection, timeout: float = 5.0) -> str:
    """The reply the broker closed ``conn`` with: "320 CONNECTION_FORCED - reason"."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            conn.process_data_events(0.05)
    except pika.exceptions.ConnectionClosedByBroker as error:
        return f"{error.reply_code} {error.reply_text}"
    raise AssertionError("the broker did not close the connection")


def test_purge_queue(broker: Served, vhost: str) -> None:
    conn = connect(broker.port, vhost)
    try:
        channel = conn.channel()
        channel.queue_declare("q-purge")
        channel.confirm_delivery()
        for body in (b"a", b"b", b"c"):
            channel.basic_publish("", "q-purge", body)
        result = broker.ctl("purge_queue", "-p", vhost, "q-purge")
        assert (result.code, result.out, result.err) == (
            0, f"Purging queue 'q-purge' in vhost '{vhost}' ...\n", ""
        )  # fmt: skip
        assert depth(broker, vhost, "q-purge") == 0
        channel.basic_publish("", "q-purge", b"d")
        quiet = broker.ctl("-q", "purge_queue", "-p", vhost, "q-purge")
        assert (quiet.code, quiet.out) == (0, "")
        assert depth(broker, vhost, "q-purge") == 0
        as_json = broker.ctl("purge_queue", "-p", vhost, "q-purge", "--formatter", "json")
        assert json.loads(as_json.out) == {"node": json.loads(as_json.out)["node"], "result": "ok"}
    finally:
        conn.close()
    # rabbitmqctl says "not_found" and exits 69 (its code for an unreachable node);
    # Leveret names what is missing and exits 65, as for any missing vhost.
    missing = broker.ctl("-q", "purge_queue", "-p", vhost, "no-such-queue")
    assert (missing.code, missing.err) == (
        65,
        f"Error:\nno queue 'no-such-queue' in vhost '{vhost}'\n",
    )
    no_vhost = broker.ctl("-q", "purge_queue", "-p", "no-such-vhost", "q")
    assert (no_vhost.code, no_vhost.err) == (65, "Error:\nno vhost 'no-such-vhost'\n")


def test_delete_queue_if_empty_if_unused(broker: Served, vhost: str) -> None:
    conn = connect(broker.port, vhost)
    try:
        channel = conn.channel()
        channel.queue_declare("q-full")
        channel.queue_declare("q-used")
        channel.confirm_delivery()
        channel.basic_publish("", "q-full", b"x")
        channel.basic_publish("", "q-full", b"y")
        channel.basic_consume("q-used", lambda *args: None)
        not_empty = broker.ctl("delete_queue", "-p", vhost, "q-full", "--if-empty")
        assert (not_empty.code, not_empty.out, not_empty.err) == (
            64,
            f"Deleting queue 'q-full' on vhost '{vhost}' if queue is empty ...\n",
            "Error:\nQueue is not empty\n",
        )
        in_use = broker.ctl("-q", "delete_queue", "-p", vhost, "q-used", "-e", "-u")
        assert (in_use.code, in_use.out, in_use.err) == (64, "", "Error:\nQueue is in use\n")
        assert depth(broker, vhost, "q-full") == 2 and depth(broker, vhost, "q-used") == 0
        deleted = broker.ctl("-q", "delete_queue", "-p", vhost, "q-full")
        assert (deleted.code, deleted.out) == (
            0, "Queue was successfully deleted with 2 ready messages\n"
        )  # fmt: skip
        assert depth(broker, vhost, "q-full") is None
        as_json = broker.ctl("delete_queue", "-p", vhost, "q-used", "--formatter", "json")
        assert json.loads(as_json.out) == {
            "message": "Queue was successfully deleted with 0 ready messages"
        }
        # The consumer of a deleted queue hears basic.cancel; its connection stays open.
        conn.process_data_events(0.2)
        assert conn.is_open
    finally:
        conn.close()
    gone = broker.ctl("-q", "delete_queue", "-p", vhost, "q-full")
    assert (gone.code, gone.out, gone.err) == (64, "", "Error:\nQueue not found\n")


def test_delete_another_connections_exclusive_queue(broker: Served, vhost: str) -> None:
    owner = connect(broker.port, vhost)
    try:
        owner.channel().queue_declare("q-excl", exclusive=True)
        result = broker.ctl("-q", "delete_queue", "-p", vhost, "q-excl")
        assert (result.code, result.out) == (
            0,
            "Queue was successfully deleted with 0 ready messages\n",
        )
        assert owner.is_open
    finally:
        owner.close()


def our_connections(broker: Served, vhost: str) -> list[dict[str, object]]:
    rows = json.loads(
        broker.ctl("list_connections", "pid", "name", "vhost", "--formatter", "json").out
    )
    return [row for row in rows if row["vhost"] == vhost]


def test_close_connection_by_name_or_pid(broker: Served, vhost: str) -> None:
    first = connect(broker.port, vhost, "first")
    second = connect(broker.port, vhost, "second")
    try:
        rows = our_connections(broker, vhost)
        assert len(rows) == 2
        by_name = broker.ctl("close_connection", str(rows[0]["name"]), "go away")
        assert (by_name.code, by_name.out, by_name.err) == (
            0, f"Closing connection {rows[0]['name']}, reason: go away...\n", ""
        )  # fmt: skip
        assert closed_by_broker(first) == "320 CONNECTION_FORCED - go away"
        by_pid = broker.ctl("-q", "close_connection", str(rows[1]["pid"]), "bye now")
        assert (by_pid.code, by_pid.out) == (0, "")
        assert closed_by_broker(second) == "320 CONNECTION_FORCED - bye now"
        # A connection gone meanwhile is no error (nor is it for rabbitmqctl).
        again = broker.ctl("-q", "close_connection", str(rows[1]["pid"]), "again")
        assert (again.code, again.out, again.err) == (0, "", "")
    finally:
        for conn in (first, second):
            if conn.is_open:
                conn.close()


def test_close_all_connections(broker: Served, vhost: str) -> None:
    other_vhost = f"{vhost}-other"
    broker.ctl("add_vhost", other_vhost)
    broker.ctl("set_permissions", "-p", other_vhost, "guest", ".*", ".*", ".*")
    mine = [connect(broker.port, vhost, f"c{i}") for i in range(3)]
    other = connect(broker.port, other_vhost, "other")
    try:
        result = broker.ctl("close_all_connections", "-p", vhost, "--limit", "2", "maintenance")
        assert (result.code, result.out) == (
            0,
            f"Closing 2 connections in vhost {vhost}, reason: maintenance...\n"
            "Closed 2 connections\n",
        )
        # The oldest first, as they were accepted.
        assert [closed_by_broker(conn) for conn in mine[:2]] == [
            "320 CONNECTION_FORCED - maintenance"
        ] * 2
        rest = broker.ctl(
            "-q", "close_all_connections", "-p", vhost, "--per-connection-delay", "50", "done"
        )
        assert (rest.code, rest.out) == (0, "Closed 1 connections\n")
        assert closed_by_broker(mine[2]) == "320 CONNECTION_FORCED - done"
        other.process_data_events(0.2)
        assert other.is_open
        none = broker.ctl(
            "close_all_connections", "-p", "no-such-vhost", "x", "--formatter", "json"
        )
        assert json.loads(none.out)["value"] == "Closed 0 connections"
        everywhere = broker.ctl("close_all_connections", "--global", "shutting down")
        assert everywhere.code == 0
        assert everywhere.out.startswith("Closing all connections to node ")
        assert "(across all vhosts), reason: shutting down...\n" in everywhere.out
        assert closed_by_broker(other) == "320 CONNECTION_FORCED - shutting down"
    finally:
        for conn in [*mine, other]:
            if conn.is_open:
                conn.close()
        broker.ctl("delete_vhost", other_vhost)
    bad = broker.ctl("close_all_connections", "--limit", "many", "x")
    assert bad.code == 64 and "--limit must be a non-negative integer" in bad.err
