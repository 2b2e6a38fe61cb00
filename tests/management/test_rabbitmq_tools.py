"""RabbitMQ's own HTTP tools drive the broker through a realistic session, unchanged:
rabbitmqadmin (the v1 script Debian's rabbitmq-server package ships) and pyrabbit2.

Each test works in a vhost of its own, created and deleted through the API."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyrabbit2.api import Client

from .conftest import Api, quote

RABBITMQADMIN = shutil.which("rabbitmqadmin") or "/usr/bin/rabbitmqadmin"


@pytest.fixture
def tool_vhost(api: Api, unique_name: object) -> Iterator[str]:
    assert callable(unique_name)
    name = str(unique_name("vh"))
    assert api.put(f"vhosts/{quote(name)}", json={}).status_code in (201, 204)
    reply = api.put(
        f"permissions/{quote(name)}/guest",
        json={"configure": ".*", "write": ".*", "read": ".*"},
    )
    assert reply.status_code in (201, 204)
    yield name
    api.delete(f"vhosts/{quote(name)}")


def _address(management_url: str) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(management_url)
    return parsed.hostname or "127.0.0.1", parsed.port or 15672


def rabbitmqadmin(management_url: str, vhost: str, *args: str) -> str:
    host, port = _address(management_url)
    command = [
        sys.executable,
        RABBITMQADMIN,
        "-H",
        host,
        "-P",
        str(port),
        "-u",
        "guest",
        "-p",
        "guest",
        "-V",
        vhost,
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}{done.stderr}"
    return done.stdout


@pytest.mark.skipif(not Path(RABBITMQADMIN).exists(), reason="rabbitmqadmin is not installed")
def test_rabbitmqadmin_session(management_url: str, tool_vhost: str, tmp_path: Path) -> None:
    run = lambda *args: rabbitmqadmin(management_url, tool_vhost, *args)  # noqa: E731
    run("declare", "exchange", "name=orders", "type=topic", "durable=true")
    run("declare", "queue", "name=eu-orders", "durable=true", 'arguments={"x-max-length": 100}')
    run("declare", "binding", "source=orders", "destination=eu-orders", "routing_key=eu.#")
    out = run("publish", "exchange=orders", "routing_key=eu.paris", "payload=croissant")
    assert "Message published" in out
    out = run("publish", "exchange=orders", "routing_key=us.nyc", "payload=bagel")
    assert "Message published but NOT routed" in out

    # Counts in the management API come from the statistics timer: wait for them.
    deadline = time.monotonic() + 30
    while True:
        rows = json.loads(run("-f", "raw_json", "list", "queues", "name", "messages"))
        if rows == [{"name": "eu-orders", "messages": 1}] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert rows == [{"name": "eu-orders", "messages": 1}]

    got = json.loads(run("-f", "raw_json", "get", "queue=eu-orders", "ackmode=ack_requeue_true"))
    assert [(m["payload"], m["routing_key"], m["exchange"]) for m in got] == [
        ("croissant", "eu.paris", "orders")
    ]
    exchanges = json.loads(run("-f", "raw_json", "list", "exchanges", "name", "type"))
    assert {"name": "orders", "type": "topic"} in exchanges
    bindings = json.loads(run("-f", "raw_json", "list", "bindings", "source", "routing_key"))
    assert {"source": "orders", "routing_key": "eu.#"} in bindings

    out = run("purge", "queue", "name=eu-orders")
    assert "queue purged" in out
    got = json.loads(run("-f", "raw_json", "get", "queue=eu-orders"))
    assert got == []

    exported = tmp_path / "defs.json"
    run("export", str(exported))
    definitions = json.loads(exported.read_text())
    assert any(q["name"] == "eu-orders" for q in definitions["queues"])

    run("delete", "queue", "name=eu-orders")
    run("delete", "exchange", "name=orders")
    assert json.loads(run("-f", "raw_json", "list", "queues", "name")) == []

    # Import brings the exported topology back (rabbitmqadmin posts the whole file).
    run("import", str(exported))
    names = [q["name"] for q in json.loads(run("-f", "raw_json", "list", "queues", "name"))]
    assert "eu-orders" in names


def test_pyrabbit2_session(management_url: str, tool_vhost: str) -> None:
    host, port = _address(management_url)
    client = Client(f"{host}:{port}", "guest", "guest", timeout=30)
    assert client.is_alive(tool_vhost)
    assert tool_vhost in client.get_vhost_names()

    client.create_exchange(tool_vhost, "logs", "direct", durable=True)
    client.create_queue(tool_vhost, "errors", durable=True)
    client.create_binding(tool_vhost, "logs", "errors", "error")
    assert client.publish(tool_vhost, "logs", "error", "disk full") is True
    assert client.publish(tool_vhost, "logs", "info", "all good") is False

    messages = client.get_messages(tool_vhost, "errors", count=1, requeue=True)
    assert [m["payload"] for m in messages] == ["disk full"]
    # RabbitMQ's queue object has no "messages" until its first statistics emission.
    deadline = time.monotonic() + 30
    while client.get_queue(tool_vhost, "errors").get("messages") != 1:
        assert time.monotonic() < deadline, client.get_queue(tool_vhost, "errors")
        time.sleep(0.5)
    assert client.get_queue_depth(tool_vhost, "errors") == 1

    bindings = client.get_queue_bindings(tool_vhost, "errors")
    assert any(b["source"] == "logs" and b["routing_key"] == "error" for b in bindings)
    assert "errors" in [q["name"] for q in client.get_queues(tool_vhost)]
    assert "logs" in [x["name"] for x in client.get_exchanges(tool_vhost)]

    client.purge_queue(tool_vhost, "errors")
    assert not client.get_messages(tool_vhost, "errors", count=1)
    client.delete_queue(tool_vhost, "errors")
    client.delete_exchange(tool_vhost, "logs")
    assert "errors" not in [q["name"] for q in client.get_queues(tool_vhost)]
