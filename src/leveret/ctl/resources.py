"""``leveret ctl``'s commands for queues, exchanges, bindings, connections, channels and
consumers: rabbitmqctl's listings (its column names, defaults and info lines) and
``purge_queue``, ``delete_queue``, ``close_connection``, ``close_all_connections``.

The column names are those of broker/admin/listing.py (a test holds them equal); the
broker computes only the columns asked for.
"""

from __future__ import annotations

import time

from leveret.ctl.client import Client
from leveret.ctl.commands import Args, Command, Output, call, command
from leveret.ctl.render import ADDRESS, TABLE, TUPLE

QUEUE_COLUMNS = (
    "name", "durable", "auto_delete", "arguments", "policy", "pid", "owner_pid", "exclusive",
    "exclusive_consumer_pid", "exclusive_consumer_tag", "messages_ready",
    "messages_unacknowledged", "messages", "messages_ready_ram", "messages_unacknowledged_ram",
    "messages_ram", "messages_persistent", "message_bytes", "message_bytes_ready",
    "message_bytes_unacknowledged", "message_bytes_ram", "message_bytes_persistent",
    "head_message_timestamp", "disk_reads", "disk_writes", "consumers",
    "consumer_utilisation", "consumer_capacity", "memory", "slave_pids",
    "synchronised_slave_pids", "state", "type", "leader", "members", "online",
)  # fmt: skip
EXCHANGE_COLUMNS = ("name", "type", "durable", "auto_delete", "internal", "arguments", "policy")
BINDING_COLUMNS = (
    "source_name", "source_kind", "destination_name", "destination_kind", "routing_key",
    "arguments",
)  # fmt: skip
CONNECTION_COLUMNS = (
    "pid", "name", "port", "host", "peer_port", "peer_host", "ssl", "ssl_protocol",
    "ssl_key_exchange", "ssl_cipher", "ssl_hash", "peer_cert_subject", "peer_cert_issuer",
    "peer_cert_validity", "state", "channels", "protocol", "auth_mechanism", "user", "vhost",
    "timeout", "frame_max", "channel_max", "client_properties", "recv_oct", "recv_cnt",
    "send_oct", "send_cnt", "send_pend", "connected_at",
)  # fmt: skip
CHANNEL_COLUMNS = (
    "pid", "connection", "name", "number", "user", "vhost", "transactional", "confirm",
    "consumer_count", "messages_unacknowledged", "messages_unconfirmed",
    "messages_uncommitted", "acks_uncommitted", "prefetch_count", "global_prefetch_count",
)  # fmt: skip
CONSUMER_COLUMNS = (
    "queue_name", "channel_pid", "consumer_tag", "ack_required", "prefetch_count", "active",
    "activity_status", "arguments",
)  # fmt: skip

# -- listings --------------------------------------------------------------------------------

command(Command(
    "list_queues", "Lists the queues of a vhost and their properties.", vhost=True,
    info="Listing queues for vhost {vhost} ...", timeout_line=True,
    columns=("name", "messages"), all_columns=QUEUE_COLUMNS, streamed=True,
    styles={"arguments": TABLE},
))  # fmt: skip
command(Command(
    "list_exchanges", "Lists the exchanges of a vhost.", vhost=True,
    info="Listing exchanges for vhost {vhost} ...", columns=("name", "type"),
    all_columns=EXCHANGE_COLUMNS, streamed=True, styles={"arguments": TABLE},
))  # fmt: skip
command(Command(
    "list_bindings", "Lists the bindings of a vhost.", vhost=True,
    # (sic: rabbitmqctl has no space before the dots here)
    info="Listing bindings for vhost {vhost}...", columns=BINDING_COLUMNS,
    all_columns=BINDING_COLUMNS, streamed=True, styles={"arguments": TABLE},
))  # fmt: skip
command(Command(
    "list_connections", "Lists client connections.", info="Listing connections ...",
    columns=("user", "peer_host", "peer_port", "state"), all_columns=CONNECTION_COLUMNS,
    streamed=True,
    styles={
        "client_properties": TABLE, "protocol": TUPLE, "host": ADDRESS, "peer_host": ADDRESS,
    },
))  # fmt: skip
command(Command(
    "list_channels", "Lists the channels of every connection.", info="Listing channels ...",
    columns=("pid", "user", "consumer_count", "messages_unacknowledged"),
    all_columns=CHANNEL_COLUMNS, streamed=True,
))  # fmt: skip
command(Command(
    "list_consumers", "Lists the consumers of a vhost's queues.", vhost=True,
    info="Listing consumers in vhost {vhost} ...",
    columns=(
        "queue_name", "channel_pid", "consumer_tag", "ack_required", "prefetch_count",
        "active", "arguments",
    ),
    all_columns=CONSUMER_COLUMNS, streamed=True, styles={"arguments": TABLE},
))  # fmt: skip

# -- queues ----------------------------------------------------------------------------------


def ok_json(result: dict[str, object], args: Args, output: Output) -> int:
    """Nothing to print but the banner; with --formatter json, rabbitmqctl's "ok"."""
    if output.json:
        output.json_line({"node": result.get("node"), "result": "ok"})
    return 0


def deleting_queue(args: Args) -> str:
    conditions = [
        condition
        for given, condition in (
            (args.get("if_empty"), "if queue is empty"),
            (args.get("if_unused"), "if queue is unused"),
        )
        if given
    ]
    where = f"Deleting queue '{args['queue']}' on vhost '{args['vhost']}'"
    return " ".join([where, " and ".join(conditions), "..."] if conditions else [where, "..."])


def deleted_queue(result: dict[str, object], args: Args, output: Output) -> int:
    message = f"Queue was successfully deleted with {result.get('deleted')} ready messages"
    if output.json:
        output.json_line({"message": message})
    else:
        output.line(message)  # even with -q, as rabbitmqctl
    return 0


command(Command(
    "purge_queue", "Removes the ready messages of a queue (unacked ones stay).",
    args=("queue",), vhost=True, info="Purging queue '{queue}' in vhost '{vhost}' ...",
    report=ok_json,
))  # fmt: skip
command(Command(
    "delete_queue", "Deletes a queue (only if empty, only if unused, if asked).",
    args=("queue",), vhost=True, flags=("if-empty", "if-unused"),
    short_flags={"-e": "if-empty", "-u": "if-unused"}, info=deleting_queue,
    report=deleted_queue,
))  # fmt: skip

# -- connections -----------------------------------------------------------------------------


def close_all(client: Client, args: Args, output: Output) -> int:
    """close_all_connections: at once, or one by one with --per-connection-delay (paced
    from here, so the broker never waits in the middle of a command)."""
    node = call(client, "ping", {}, output).get("node")
    everywhere = bool(args.get("global"))
    vhost, reason = args["vhost"], args["reason"]
    limit = 0 if everywhere else int(args.get("limit", 0))  # as rabbitmqctl
    if everywhere:
        output.info(
            f"Closing all connections to node {node} (across all vhosts), reason: {reason}..."
        )
    elif limit:
        output.info(f"Closing {limit} connections in vhost {vhost}, reason: {reason}...")
    else:
        output.info(f"Closing all connections in vhost {vhost}, reason: {reason}...")
    delay = int(args.get("per_connection_delay", 0)) / 1000
    if not delay:
        request = {"vhost": vhost, "global": everywhere, "limit": limit, "reason": reason}
        closed = call(client, "close_all_connections", request, output).get("closed", 0)
    else:
        rows = call(client, "list_connections", {"columns": ["name", "vhost"]}, output)
        names = [row["name"] for row in rows if everywhere or row["vhost"] == vhost]
        closed = 0
        for index, name in enumerate(names[:limit] if limit else names):
            if index:
                time.sleep(delay)
            request = {"connection": name, "reason": reason}
            closed += call(client, "close_connection", request, output).get("closed", 0)
    message = f"Closed {closed} connections"
    if output.json:
        output.json_line({"node": node, "result": "ok", "value": message})
    else:
        output.line(message)  # even with -q, as rabbitmqctl
    return 0


command(Command(
    "close_connection", "Closes a client connection (by its name or pid in "
    "list_connections), telling the client why.", args=("connection", "reason"),
    info="Closing connection {connection}, reason: {reason}...", report=ok_json,
))  # fmt: skip
command(Command(
    "close_all_connections", "Closes the connections of a vhost (--global: of every "
    "vhost), telling the clients why.", args=("reason",), vhost=True, flags=("global",),
    options={"limit": "0", "per-connection-delay": "0"},
    integers=("limit", "per-connection-delay"), runner=close_all,
))  # fmt: skip
