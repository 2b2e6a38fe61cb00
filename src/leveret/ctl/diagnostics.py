"""``leveret ctl``'s commands about the node itself: ``status``, ``environment``, ``ping``,
``await_startup`` and rabbitmq-diagnostics' health checks (``check_running``,
``check_local_alarms``, ``check_alarms``, ``check_port_connectivity``,
``check_virtual_hosts``, ``check_port_listener``, ``check_protocol_listener``), also
reachable as ``leveret diagnostics CHECK``.

Exit codes are rabbitmq-diagnostics', so they suit a container HEALTHCHECK: 0 the check
passed; 69 the broker is not running (or not yet started) or the check found a problem
(alarms, a missing listener); 70 a check that failed with an error (a port that refuses
connections, a vhost that is down). Texts are rabbitmq-diagnostics' with "Leveret" where it
says "RabbitMQ"; a failure goes to stderr.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from leveret.ctl.commands import (
    EX_OK,
    EX_SOFTWARE,
    EX_UNAVAILABLE,
    Args,
    Command,
    Output,
    command,
)

Result = dict[str, Any]


def _fail(output: Output, code: int, text: str | None, data: Result | None = None) -> int:
    """A failed check, as rabbitmq-diagnostics words it on stderr: the JSON object with
    --formatter json, nothing with -s, else ``text``."""
    if output.json and data is not None:
        output.err.write(_json(data) + "\n")
    elif not output.silent and text is not None:
        output.err.write(text + "\n")
    return code


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _passed(output: Output, message: str, data: Result | None = None) -> int:
    """A passed check: its message, or ``data`` (default {"result": "ok"}) in JSON."""
    if output.json:
        output.json_line(data if data is not None else {"result": "ok"})
    else:
        output.line(message)
    return EX_OK


# -- the node --------------------------------------------------------------------------------


def ping(result: Result, args: Args, output: Output) -> int:
    output.info(
        f"Will ping {result['node']}. This only checks if the broker process is running and "
        f"answers on its control socket. Timeout: {int(output.timeout * 1000)} ms."
    )
    return _passed(output, "Ping succeeded", {"message": "Ping succeeded"})


def awaited(result: Result, args: Args, output: Output) -> int:
    if output.json:
        output.json_line({"node": result["node"], "result": "ok"})
    return EX_OK


def check_running(result: Result, args: Args, output: Output) -> int:
    node = result["node"]
    output.info(f"Checking if Leveret is running on node {node} ...")
    message = f"Leveret on node {node} is fully booted and running"
    return _passed(output, message, {"message": message})


def _size(value: object, unit: float = 1e9) -> str:
    return f"{value / unit:.4f} gb" if isinstance(value, int) else "unknown"


def status(result: Result, args: Args, output: Output) -> int:
    if output.json:
        output.json_line(result)
        return EX_OK
    node = result["node_name"]
    output.info(f"Status of node {node} ...")
    memory = result["memory"]
    total = memory["total"]
    setting = result["vm_memory_high_watermark_setting"]
    relative = setting.get("relative")
    limit = _size(result["vm_memory_high_watermark_limit"])
    files = result["file_descriptors"]
    totals = result["totals"]
    data_dir, rabbit = result["data_directory"], result["rabbitmq_version"]
    alarms = [f"{_alarm_name(a['resource'])} alarm on node {a['node']}" for a in result["alarms"]]
    sections: list[tuple[str, list[str]]] = [
        ("Runtime", [
            f"OS PID: {result['pid']}",
            f"OS: {result['os']}",
            f"Uptime (seconds): {result['uptime']}",
            f"Is under maintenance?: {str(result['is_under_maintenance']).lower()}",
            f"Leveret version: {result['product_version']} (RabbitMQ {rabbit} compatible)",
            f"Node name: {node}",
            f"Cluster name: {result['cluster_name']}",
            f"Python: {result['python_version']}",
        ]),
        ("Data directory", [f"Node data directory: {data_dir or '(none: in memory)'}"]),
        ("Alarms", alarms or ["(none)"]),
        ("Memory", [
            f"Total memory used: {_size(total['rss'])}",
            "Calculation strategy: accounted (messages, deliveries and connection buffers "
            "held, above the memory at start-up)",
            f"Accounted: {_size(total['accounted'])}",
            "Memory high watermark setting: "
            + (f"{relative} of available memory, computed to: {limit}" if relative is not None
               else f"{setting.get('absolute')} bytes"),
            "",
            f"queues: {_size(memory['queues'])}",
            f"unacked deliveries: {_size(memory['unacked'])}",
            f"connections: {_size(memory['connections'])}",
            f"at start-up: {_size(memory['baseline'])}",
        ]),
        ("File Descriptors", [f"Total: {files['total_used']}, limit: {files['total_limit']}"]),
        ("Free Disk Space", [
            f"Low free disk space watermark: {_size(result['disk_free_limit'])}",
            f"Free disk space: {_size(result['disk_free'])}",
        ]),
        ("Totals", [
            f"Connection count: {totals['connection_count']}",
            f"Queue count: {totals['queue_count']}",
            f"Virtual host count: {totals['virtual_host_count']}",
        ]),
        ("Listeners", [_listener_line(listener) for listener in result["listeners"]]),
    ]  # fmt: skip
    for index, (title, lines) in enumerate(sections):
        output.line(("\n" if index else "") + title + "\n")
        for line in lines:
            output.line(line)
    return EX_OK


def _alarm_name(resource: str) -> str:
    return {"memory": "Memory", "disk": "Free disk space"}.get(resource, resource)


def _listener_line(listener: Result) -> str:
    return (
        f"Interface: {listener['interface']}, port: {listener['port']}, "
        f"protocol: {listener['protocol']}, purpose: {listener['purpose']}"
    )


def environment(result: Result, args: Args, output: Output) -> int:
    """The node's settings, as rabbitmqctl prints an application environment."""
    settings: Result = result["settings"]
    if output.json:
        output.json_line({"leveret": settings})
        return EX_OK
    output.info(f"Application environment of node {result['node']} ...")
    items = [f"{{{name},{_term(value)}}}" for name, value in settings.items()]
    body = ",\n      ".join(items)
    output.line(f"[{{leveret,\n     [{body}]}}]")
    return EX_OK


def _term(value: object) -> str:
    """A setting as an Erlang term: strings quoted, None as undefined."""
    if value is None:
        return "undefined"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _json(value)
    if isinstance(value, list):
        return "[" + ",".join(_term(item) for item in value) + "]"
    if isinstance(value, dict):
        return "[" + ",".join(f"{{{k},{_term(v)}}}" for k, v in value.items()) + "]"
    return str(value)


# -- health checks ---------------------------------------------------------------------------


def _alarm_lines(alarms: list[Result]) -> list[str]:
    return [f"{_alarm_name(a['resource'])} alarm on node {a['node']}" for a in alarms]


def check_local_alarms(result: Result, args: Args, output: Output) -> int:
    node = result["node"]
    output.info(f"Asking node {node} to report any local resource alarms ...")
    lines = _alarm_lines(result["alarms"])
    if not lines:
        if output.silent and not output.json:
            return EX_OK
        return _passed(output, f"Node {node} reported no local alarms")
    data = {"result": "error", "local": lines, "message": f"Node {node} reported local alarms"}
    # (sic: rabbitmq-diagnostics says "Error:" here and not for check_alarms)
    return _fail(output, EX_UNAVAILABLE, "Error:\n" + "\n".join(lines), data)


def check_alarms(result: Result, args: Args, output: Output) -> int:
    node = result["node"]
    output.info(f"Asking node {node} to report any local resource alarms ...")
    lines = _alarm_lines(result["alarms"])
    if not lines:
        if output.silent and not output.json:
            return EX_OK
        return _passed(output, f"Node {node} reported no alarms, local or clusterwide")
    data = {
        "result": "error",
        "local": lines,
        "global": [],
        "message": f"Node {node} reported alarms",
    }
    return _fail(output, EX_UNAVAILABLE, "\n".join(lines), data)


def _reachable(listener: Result, timeout: float) -> bool:
    host = str(listener["interface"])
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    try:
        with socket.create_connection((host.strip("[]"), int(listener["port"])), timeout):
            return True
    except OSError:
        return False


def check_port_connectivity(result: Result, args: Args, output: Output) -> int:
    """Opens (and closes) a TCP connection to every listener, from here."""
    node = result["node"]
    output.info(f"Testing TCP connections to all active listeners on node {node} ...")
    listeners = sorted(result["listeners"], key=lambda listener: int(listener["port"]))
    each = output.timeout / (len(listeners) + 1)
    failures = [listener for listener in listeners if not _reachable(listener, each)]
    if not failures:
        ports = ", ".join(str(listener["port"]) for listener in listeners)
        data = {"result": "ok", "node": node, "listeners": listeners}
        return _passed(output, f"Successfully connected to ports {ports} on node {node}.", data)
    lines = [f"Connection to ports of the following listeners on node {node} failed: "]
    lines += [_listener_line(listener) for listener in failures]
    data = {"result": "error", "node": node, "failures": failures}
    return _fail(output, EX_SOFTWARE, "Error:\n" + "\n".join(lines), data)


def check_port_listener(result: Result, args: Args, output: Output) -> int:
    node, port = result["node"], str(args["port"])
    output.info(f"Asking node {node} if there's an active listener on port {port} ...")
    listeners = result["listeners"]
    ports = sorted({int(listener["port"]) for listener in listeners})
    if any(str(listener["port"]) == port for listener in listeners):
        data = {"node": node, "port": port, "result": "ok"}
        return _passed(output, f"A listener for port {port} is running on node {node}.", data)
    text = (
        f"No listener for port {port} is active on node {node}. Found listeners that use "
        f"the following ports: {', '.join(map(str, ports))}"
    )
    data = {"listeners": listeners, "missing": port, "ports": ports, "result": "error"}
    return _fail(output, EX_UNAVAILABLE, text, data)


def check_protocol_listener(result: Result, args: Args, output: Output) -> int:
    node, protocol = result["node"], str(args["protocol"])
    output.info(f"Asking node {node} if there's an active listener for protocol {protocol} ...")
    listeners = result["listeners"]
    protocols = [str(listener["protocol"]) for listener in listeners]
    if protocol in protocols:
        data = {"node": node, "protocol": protocol, "result": "ok"}
        message = f"A listener for protocol {protocol} is running on node {node}."
        return _passed(output, message, data)
    text = (
        f"Error:\nNo listener for protocol {protocol} is active on node {node}. Found "
        f"listeners for the following protocols: {', '.join(sorted(set(protocols)))}"
    )
    data = {"listeners": listeners, "missing": protocol, "protocols": protocols, "result": "error"}
    return _fail(output, EX_UNAVAILABLE, text, data)


def check_virtual_hosts(result: Result, args: Args, output: Output) -> int:
    node = result["node"]
    output.info(f"Checking if all vhosts are running on node {node} ...")
    failed: list[str] = result["failed"]
    if not failed:
        if output.silent and not output.json:
            return EX_OK
        return _passed(output, f"Node {node} reported all vhosts as running")
    text = f"Error:\nSome virtual hosts on node {node} are down:\n" + "\n".join(failed)
    return _fail(output, EX_SOFTWARE, text, {"result": "error", "down_vhosts": failed})


# -- registration ----------------------------------------------------------------------------

# The checks, also `leveret diagnostics NAME`.
CHECKS = (
    "check_running", "check_local_alarms", "check_alarms", "check_port_connectivity",
    "check_virtual_hosts", "check_port_listener", "check_protocol_listener",
)  # fmt: skip

command(Command(
    "status", "Shows the node's state: versions, memory, alarms, disk, listeners.",
    report=status,
))  # fmt: skip
command(Command(
    "environment", "Shows the node's effective settings (passwords left out).",
    report=environment,
))  # fmt: skip
command(Command(
    "ping", "Checks that the broker runs and answers on its control socket.", report=ping,
))  # fmt: skip
command(Command(
    "await_startup", "Waits (up to -t seconds, 300 by default) until a starting broker "
    "has fully started.", report=awaited, awaits=True, timeout=300.0,
))  # fmt: skip
command(Command(
    "check_running", "Health check: the broker has fully started.", report=check_running,
))  # fmt: skip
command(Command(
    "check_local_alarms", "Health check: no resource alarm (memory, disk) is in force.",
    report=check_local_alarms,
))  # fmt: skip
command(Command(
    "check_alarms", "Health check: no resource alarm (memory, disk) is in force.",
    report=check_alarms,
))  # fmt: skip
command(Command(
    "check_port_connectivity", "Health check: every listener accepts TCP connections "
    "(tried from here).", report=check_port_connectivity, timeout=30.0,
))  # fmt: skip
command(Command(
    "check_virtual_hosts", "Health check: every virtual host is running.",
    report=check_virtual_hosts,
))  # fmt: skip
command(Command(
    "check_port_listener", "Health check: the node listens on this port.", args=("port",),
    report=check_port_listener,
))  # fmt: skip
command(Command(
    "check_protocol_listener", "Health check: the node has a listener for this protocol "
    "(amqp, amqp/ssl, http, http/prometheus).", args=("protocol",),
    report=check_protocol_listener,
))  # fmt: skip
