"""``leveret ctl`` listings of queues, exchanges, bindings, connections, channels and
consumers, over state made by real pika clients (tests/ctl/topology.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from leveret.broker.admin import listing
from leveret.ctl import resources
from tests.ctl.conftest import Served
from tests.ctl.topology import CONNECTION_NAME, Topology, build

VHOST = "v-topo"


@pytest.fixture(scope="module")
def topology(broker: Served) -> Iterator[Topology]:
    assert broker.ctl("add_vhost", VHOST).code == 0
    assert broker.ctl("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*").code == 0
    built = build(broker.port, VHOST)
    try:
        yield built
    finally:
        built.close()
        broker.ctl("delete_vhost", VHOST)


def ctl_json(broker: Served, *args: str) -> list[dict[str, object]]:
    result = broker.ctl(*args, "--formatter", "json")
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    assert isinstance(rows, list)
    return rows


def our_row(rows: list[dict[str, object]]) -> dict[str, object]:
    """The one row of the topology's connection or channel 2 in a node-wide listing."""
    mine = [row for row in rows if row.get("vhost") == VHOST]
    assert mine, rows
    return mine[-1]


def test_the_cli_knows_the_brokers_columns() -> None:
    """The CLI checks column names before asking: its lists are the broker's."""
    assert tuple(listing.QUEUE_COLUMNS) == resources.QUEUE_COLUMNS
    assert tuple(listing.EXCHANGE_COLUMNS) == resources.EXCHANGE_COLUMNS
    assert tuple(listing.BINDING_COLUMNS) == resources.BINDING_COLUMNS
    assert tuple(listing.CONNECTION_COLUMNS) == resources.CONNECTION_COLUMNS
    assert tuple(listing.CHANNEL_COLUMNS) == resources.CHANNEL_COLUMNS
    assert tuple(listing.CONSUMER_COLUMNS) == resources.CONSUMER_COLUMNS


def test_list_queues(broker: Served, topology: Topology) -> None:
    default = broker.ctl("list_queues", "-p", VHOST)
    assert (default.code, default.err) == (0, "")
    assert default.out == (
        f"Timeout: 60.0 seconds ...\nListing queues for vhost {VHOST} ...\n"
        "name\tmessages\nq1\t3\nq2\t0\n"
    )
    columns = [
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
        "messages_ram",
    ]
    wide = broker.ctl("-q", "list_queues", "-p", VHOST, *columns)
    assert wide.out.splitlines() == [
        "\t".join(columns),
        'q1\ttrue\tfalse\tfalse\t[{"x-max-length",10},{"x-message-ttl",60000}]\t\t3\t0\t3\t1'
        "\tclassic\trunning\t11\t3",
        "q2\tfalse\tfalse\ttrue\t[]\t\t0\t0\t0\t1\tclassic\trunning\t0\t0",
    ]
    rows = ctl_json(broker, "list_queues", "-p", VHOST, "name", "arguments", "owner_pid")
    assert rows[0]["arguments"] == [
        ["x-max-length", "signedint", 10],
        ["x-message-ttl", "signedint", 60000],
    ]
    # q2 belongs to the topology's connection, named by its pid.
    pid = our_row(ctl_json(broker, "list_connections", "pid", "vhost"))["pid"]
    assert rows[1]["owner_pid"] == pid and rows[0]["owner_pid"] == ""


def test_list_exchanges(broker: Served, topology: Topology) -> None:
    result = broker.ctl(
        "-s", "list_exchanges", "-p", VHOST, "name", "type", "durable", "auto_delete",
        "internal", "arguments", "policy",
    )  # fmt: skip
    assert result.out.splitlines() == [
        "\tdirect\ttrue\tfalse\tfalse\t[]\t",
        "amq.direct\tdirect\ttrue\tfalse\tfalse\t[]\t",
        "amq.fanout\tfanout\ttrue\tfalse\tfalse\t[]\t",
        "amq.headers\theaders\ttrue\tfalse\tfalse\t[]\t",
        "amq.match\theaders\ttrue\tfalse\tfalse\t[]\t",
        "amq.topic\ttopic\ttrue\tfalse\tfalse\t[]\t",
        "x1\ttopic\ttrue\tfalse\tfalse\t[]\t",
        'x2\theaders\tfalse\ttrue\tfalse\t[{"alternate-exchange","x1"}]\t',
    ]
    rows = ctl_json(broker, "list_exchanges", "-p", VHOST, "name", "arguments")
    assert {"name": "x2", "arguments": [["alternate-exchange", "longstr", "x1"]]} in rows


def test_list_bindings(broker: Served, topology: Topology) -> None:
    result = broker.ctl("list_bindings", "-p", VHOST)
    assert result.out == (
        f"Listing bindings for vhost {VHOST}...\n"
        "source_name\tsource_kind\tdestination_name\tdestination_kind\trouting_key\targuments\n"
        "\texchange\tq1\tqueue\tq1\t[]\n"
        "\texchange\tq2\tqueue\tq2\t[]\n"
        "x1\texchange\tx2\texchange\t#\t[]\n"
        "x1\texchange\tq1\tqueue\ta.*\t[]\n"
        'x2\texchange\tq1\tqueue\t\t[{"h","v"},{"x-match","all"}]\n'
    )
    rows = ctl_json(broker, "list_bindings", "-p", VHOST, "source_name", "arguments")
    assert rows[-1] == {
        "source_name": "x2",
        "arguments": [["h", "longstr", "v"], ["x-match", "longstr", "all"]],
    }


def test_list_consumers_and_channels(broker: Served, topology: Topology) -> None:
    channel = our_row(ctl_json(broker, "list_channels", "pid", "number", "vhost"))
    assert channel["number"] == 2
    result = broker.ctl("list_consumers", "-p", VHOST)
    assert result.out == (
        f"Listing consumers in vhost {VHOST} ...\n"
        "queue_name\tchannel_pid\tconsumer_tag\tack_required\tprefetch_count\tactive\targuments\n"
        f"q1\t{channel['pid']}\tctag-a\ttrue\t5\ttrue\t[]\n"
        f'q2\t{channel["pid"]}\tctag-b\tfalse\t5\ttrue\t[{{"x-priority",3}}]\n'
    )
    rows = ctl_json(
        broker, "list_consumers", "-p", VHOST, "consumer_tag", "activity_status", "arguments"
    )
    assert rows == [
        {"consumer_tag": "ctag-a", "activity_status": "up", "arguments": []},
        {
            "consumer_tag": "ctag-b",
            "activity_status": "up",
            "arguments": [["x-priority", "signedint", 3]],
        },
    ]
    channels = ctl_json(
        broker, "list_channels", "vhost", "number", "user", "consumer_count",
        "messages_unacknowledged", "prefetch_count", "confirm", "transactional", "name",
    )  # fmt: skip
    mine = [row for row in channels if row["vhost"] == VHOST]
    assert mine[0] | {"name": ""} == {
        "vhost": VHOST, "number": 1, "user": "guest", "consumer_count": 0,
        "messages_unacknowledged": 0, "prefetch_count": 0, "confirm": True,
        "transactional": False, "name": "",
    }  # fmt: skip
    assert (mine[1]["consumer_count"], mine[1]["messages_unacknowledged"]) == (2, 3)
    assert (mine[1]["prefetch_count"], mine[1]["confirm"]) == (5, False)
    assert str(mine[1]["name"]).endswith(" (2)")


def test_list_connections(broker: Served, topology: Topology) -> None:
    columns = [
        "user",
        "vhost",
        "channels",
        "state",
        "protocol",
        "auth_mechanism",
        "ssl",
        "frame_max",
        "channel_max",
        "timeout",
        "name",
        "peer_host",
        "peer_port",
        "host",
        "port",
        "client_properties",
        "connected_at",
    ]
    row = our_row(ctl_json(broker, "list_connections", *columns))
    assert {k: row[k] for k in columns[:10]} == {
        "user": "guest", "vhost": VHOST, "channels": 2, "state": "running",
        "protocol": [0, 9, 1], "auth_mechanism": "PLAIN", "ssl": False, "frame_max": 131072,
        "channel_max": 2047, "timeout": 60,
    }  # fmt: skip
    local_port = broker.port
    assert row["name"] == f"127.0.0.1:{row['peer_port']} -> 127.0.0.1:{local_port}"
    # Addresses as rabbitmqctl's JSON gives them: the numbers of an Erlang IP tuple.
    assert (row["host"], row["port"], row["peer_host"]) == (
        [127, 0, 0, 1],
        local_port,
        [127, 0, 0, 1],
    )
    properties = row["client_properties"]
    assert isinstance(properties, list)
    assert ["connection_name", "longstr", CONNECTION_NAME] in properties
    assert isinstance(row["connected_at"], int) and row["connected_at"] > 1_600_000_000_000
    table = broker.ctl(
        "-q", "list_connections", "vhost", "protocol", "host", "client_properties"
    )  # fmt: skip
    line = next(line for line in table.out.splitlines() if line.startswith(f"{VHOST}\t"))
    assert line.split("\t")[1:3] == ["{0,9,1}", "127.0.0.1"]
    assert f'{{"connection_name","{CONNECTION_NAME}"}}' in line
    assert '{"capabilities",[{"authentication_failure_close",true},' in line


def test_unknown_columns_and_vhosts(broker: Served) -> None:
    for listing_name in ("list_queues", "list_exchanges", "list_bindings", "list_consumers"):
        bogus = broker.ctl(listing_name, "bogus")
        assert (bogus.code, bogus.out) == (64, ""), listing_name
        assert "Info key(s) bogus are not supported" in bogus.err
        missing = broker.ctl(listing_name, "-p", "no-such-vhost")
        assert (missing.code, missing.err) == (0, "")
        as_json = broker.ctl(listing_name, "-p", "no-such-vhost", "--formatter", "json")
        assert as_json.out == "[\n]\n"  # as rabbitmqctl's streamed listings
    for listing_name in ("list_connections", "list_channels"):
        assert broker.ctl(listing_name, "bogus").code == 64
