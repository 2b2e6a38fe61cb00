"""``leveret ctl`` (and ``leveret diagnostics``) about the node: status, environment, ping,
await_startup and the health checks, with the exit codes a container HEALTHCHECK relies on:
0 healthy, 69 not running or alarmed, 70 a check that failed."""

from __future__ import annotations

import io
import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from leveret.ctl.commands import COMMANDS
from leveret.ctl.main import DIAGNOSTICS, run
from tests.ctl.conftest import Served, run_ctl, short_dir, start_broker, stop_broker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Served, int]]:
    """A broker with its management API on, so that it has two listeners."""
    base = short_dir()
    http_port = free_port()
    data_dir = base / "data"
    broker = start_broker(
        data_dir, None, "--data-dir", str(data_dir), "--management-port", str(http_port)
    )
    try:
        yield broker, http_port
    finally:
        stop_broker(broker.proc)
        shutil.rmtree(base, ignore_errors=True)


def node_name(broker: Served) -> str:
    status = json.loads(broker.ctl("status", "--formatter", "json").out)
    name = status["node_name"]
    assert isinstance(name, str) and name.startswith("leveret@")
    return name


def test_checks_pass_on_a_running_broker(served: tuple[Served, int]) -> None:
    broker, http_port = served
    node = node_name(broker)
    ports = ", ".join(map(str, sorted([broker.port, http_port])))
    expected = {
        "check_running": (
            f"Checking if Leveret is running on node {node} ...\n"
            f"Leveret on node {node} is fully booted and running\n"
        ),
        "check_local_alarms": (
            f"Asking node {node} to report any local resource alarms ...\n"
            f"Node {node} reported no local alarms\n"
        ),
        "check_alarms": (
            f"Asking node {node} to report any local resource alarms ...\n"
            f"Node {node} reported no alarms, local or clusterwide\n"
        ),
        "check_virtual_hosts": (
            f"Checking if all vhosts are running on node {node} ...\n"
            f"Node {node} reported all vhosts as running\n"
        ),
        "check_port_connectivity": (
            f"Testing TCP connections to all active listeners on node {node} ...\n"
            f"Successfully connected to ports {ports} on node {node}.\n"
        ),
        "ping": (
            f"Will ping {node}. This only checks if the broker process is running and answers "
            "on its control socket. Timeout: 60000 ms.\nPing succeeded\n"
        ),
        "await_startup": "",
    }
    for check, out in expected.items():
        result = broker.ctl(check)
        assert (result.code, result.out, result.err) == (0, out, ""), check
    for check in ("check_local_alarms", "check_alarms", "check_virtual_hosts"):
        as_json = broker.ctl(check, "--formatter", "json")
        assert (as_json.code, as_json.out) == (0, '{"result":"ok"}\n'), check
        silent = broker.ctl("-s", check)
        assert (silent.code, silent.out) == (0, ""), check
    connectivity = json.loads(broker.ctl("check_port_connectivity", "--formatter", "json").out)
    assert connectivity["result"] == "ok"
    assert {(x["protocol"], x["port"]) for x in connectivity["listeners"]} == {
        ("amqp", broker.port),
        ("http", http_port),
    }


def test_listener_checks(served: tuple[Served, int]) -> None:
    broker, http_port = served
    node = node_name(broker)
    port = broker.ctl("-q", "check_port_listener", str(http_port))
    assert (port.code, port.out) == (
        0,
        f"A listener for port {http_port} is running on node {node}.\n",
    )
    ports = ", ".join(map(str, sorted([broker.port, http_port])))
    missing = broker.ctl("-q", "check_port_listener", "1")
    assert (missing.code, missing.out, missing.err) == (
        69,
        "",
        f"No listener for port 1 is active on node {node}. Found listeners that use the "
        f"following ports: {ports}\n",
    )
    protocol = broker.ctl("-q", "check_protocol_listener", "amqp", "--formatter", "json")
    assert json.loads(protocol.out) == {"node": node, "protocol": "amqp", "result": "ok"}
    stomp = broker.ctl("-q", "check_protocol_listener", "stomp")
    assert stomp.code == 69
    assert stomp.err == (
        f"Error:\nNo listener for protocol stomp is active on node {node}. Found listeners for "
        "the following protocols: amqp, http\n"
    )


def test_status_and_environment(served: tuple[Served, int]) -> None:
    broker, http_port = served
    status = json.loads(broker.ctl("status", "--formatter", "json").out)
    assert status["pid"] == broker.proc.pid
    assert status["data_directory"] == str(broker.data_dir)
    assert status["alarms"] == []
    assert status["totals"]["virtual_host_count"] >= 1
    assert {"protocol": "http", "port": http_port} == {
        k: v for k, v in status["listeners"][1].items() if k in ("protocol", "port")
    }
    assert status["vm_memory_high_watermark_setting"] == {"relative": 0.4}
    assert status["disk_free"] > 0 and status["file_descriptors"]["total_used"] > 0
    text = broker.ctl("status")
    assert text.code == 0
    assert text.out.startswith(f"Status of node {status['node_name']} ...\nRuntime\n\n")
    for section in ("Alarms\n\n(none)\n", "Memory\n", "Free Disk Space\n", "Listeners\n"):
        assert section in text.out
    assert f"Interface: 127.0.0.1, port: {broker.port}, protocol: amqp" in text.out
    settings = json.loads(broker.ctl("environment", "--formatter", "json").out)["leveret"]
    assert settings["management_port"] == http_port
    assert settings["data_dir"] == str(broker.data_dir)
    assert "default_pass" not in settings and "ssl" not in settings
    env = broker.ctl("environment")
    assert env.out.startswith(f"Application environment of node {status['node_name']} ...\n")
    assert f"{{management_port,{http_port}}}" in env.out


def test_a_resource_alarm_fails_the_alarm_checks(short_tmp: Path, environ: dict[str, str]) -> None:
    """More free disk wanted than any disk has: the disk alarm is raised at the first
    resource check, and the checks say so with exit 69."""
    data_dir = short_tmp / "data"
    env = {**environ, "LEVERET_DISK_FREE_LIMIT": "1000000000000000000"}
    broker = start_broker(data_dir, env, "--data-dir", str(data_dir))
    try:
        node = node_name(broker)
        deadline = time.monotonic() + 10
        while (result := broker.ctl("-q", "check_alarms")).code == 0:
            assert time.monotonic() < deadline, "no disk alarm"
            time.sleep(0.2)
        line = f"Free disk space alarm on node {node}"
        assert (result.code, result.out, result.err) == (69, "", line + "\n")
        local = broker.ctl("check_local_alarms")
        assert (local.code, local.err) == (69, f"Error:\n{line}\n")
        assert local.out == f"Asking node {node} to report any local resource alarms ...\n"
        silent = broker.ctl("-s", "check_alarms")
        assert (silent.code, silent.out, silent.err) == (69, "", "")
        as_json = broker.ctl("check_alarms", "--formatter", "json")
        assert as_json.code == 69 and as_json.out == ""
        assert json.loads(as_json.err) == {
            "result": "error",
            "local": [line],
            "global": [],
            "message": f"Node {node} reported alarms",
        }
        status = json.loads(broker.ctl("status", "--formatter", "json").out)
        assert status["alarms"] == [{"node": node, "resource": "disk", "type": "resource_limit"}]
        # The rest of the node is fine.
        assert broker.ctl("check_running").code == 0
    finally:
        stop_broker(broker.proc)


def test_await_startup_waits_for_a_starting_broker(short_tmp: Path) -> None:
    data_dir = short_tmp / "data"
    command = [sys.executable, "-m", "leveret", "serve", "--port", "0", "--data-dir", str(data_dir)]
    command += ["--management-port", "0", "--prometheus-port", "0"]
    log = (short_tmp / "serve.log").open("wb")
    serve = subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=log)
    try:
        # Until the broker has locked its data directory, nothing says one is coming.
        while (
            not (data_dir / "leveret.lock").exists() or not (data_dir / "leveret.lock").read_text()
        ):
            assert serve.poll() is None
            time.sleep(0.01)
        waited = run_ctl("--data-dir", str(data_dir), "await_startup", "-t", "30")
        assert (waited.code, waited.out, waited.err) == (0, "", "")
        assert run_ctl("--data-dir", str(data_dir), "-q", "check_running").code == 0
    finally:
        serve.terminate()
        serve.wait(timeout=10)
        log.close()


def test_a_broker_without_its_socket_is_not_started(short_tmp: Path) -> None:
    """A data directory whose path is too long for a Unix socket: the broker runs (AMQP) but
    `leveret ctl` cannot reach it; await_startup waits out its timeout, every command says
    the broker has not fully started and exits 69."""
    data_dir = short_tmp / ("d" * 110)
    broker = start_broker(data_dir, None, "--data-dir", str(data_dir))
    try:
        started = time.monotonic()
        waited = broker.ctl("await_startup", "-t", "1")
        assert time.monotonic() - started >= 1
        assert waited.code == 69
        assert f"Error: the broker (pid {broker.proc.pid}) has not fully started yet" in waited.err
        check = broker.ctl("check_running")
        assert (check.code, check.out) == (69, "")
        assert "has not fully started yet" in check.err
    finally:
        stop_broker(broker.proc)


@pytest.mark.parametrize("program", ["ctl", "diagnostics"])
def test_every_command_exits_69_without_a_broker(short_tmp: Path, program: str) -> None:
    """No broker on the data dir: each command says so and exits 69 (what a HEALTHCHECK
    reports as unhealthy), before printing anything on stdout."""
    names = DIAGNOSTICS if program == "diagnostics" else COMMANDS
    for name in names:
        cmd = COMMANDS[name]
        argv = ["--data-dir", str(short_tmp), name, *(["x"] * len(cmd.args))]
        out, err = io.StringIO(), io.StringIO()
        code = run(argv, out, err, program=program)
        assert (code, out.getvalue()) == (69, ""), name
        assert err.getvalue() == (
            f"Error: cannot reach the broker: is `leveret serve` running with data dir "
            f"{short_tmp}?\n"
        ), name


def test_leveret_diagnostics_runs_the_checks(served: tuple[Served, int]) -> None:
    broker, _ = served
    command = [sys.executable, "-m", "leveret", "diagnostics", "--data-dir", str(broker.data_dir)]
    check = subprocess.run(
        [*command, "-q", "check_running"], capture_output=True, text=True, check=False
    )
    assert (check.returncode, check.stderr) == (0, "")
    assert check.stdout.endswith("is fully booted and running\n")
    not_a_check = subprocess.run(
        [*command, "list_users"], capture_output=True, text=True, check=False
    )
    assert not_a_check.returncode == 64
    assert not_a_check.stderr.startswith("Command 'list_users' not found.")
