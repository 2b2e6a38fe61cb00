"""Definitions import and export in RabbitMQ's JSON format, checked with real clients.

``data/rabbitmq-3.10-definitions.json`` was written by a real RabbitMQ 3.10.8 node
(``rabbitmqctl export_definitions``) after this setup, then cut down to the ``defs-*``
users and vhosts (the node was shared, so the export held other tests' objects too):

* vhosts ``defs-shop`` (description, tags prod,eu, default queue type classic, limits
  max-connections 50 / max-queues 100) and ``defs-audit``;
* users ``defs-alice`` / ``alice-secret-1`` (administrator, monitoring; full permissions on
  both vhosts), ``defs-bob`` / ``bob pass 2`` (tag billing; configure and read
  ``^(orders|bob-).*``, write ``^orders.*`` on defs-shop; topic permission ``^eu\\.`` on
  ``orders.topic``; limits max-connections 5, max-channels 20), ``defs-carol`` / ``carol-3``
  (read ``^audit\\..*`` on defs-audit);
* a policy ``defs-ttl`` (message-ttl 60000 on ``^ttl\\.`` queues);
* on defs-shop, exchanges orders.topic (topic), orders.fanout, orders.dlx (direct),
  orders.headers (headers, alternate-exchange orders.fanout) and orders.internal (internal,
  which RabbitMQ leaves out of its export, so the two bindings that name it are skipped
  with a warning); queues orders.eu (x-max-length 1000, x-message-ttl 3600000, dead
  lettering to orders.dlx/dead), orders.all (quorum), orders.dead, orders.priority
  (x-max-priority 5, reject-publish, x-max-length-bytes), orders.transient (not durable) and
  an exclusive server-named queue (not exported); bindings orders.topic -> orders.eu
  (``eu.#``), orders.topic => orders.fanout (``#``, exchange to exchange), orders.fanout ->
  orders.all, orders.dlx -> orders.dead (``dead``), orders.headers -> orders.priority
  (x-match any, prio=high, rush=true);
* on defs-audit, a fanout audit.events bound to audit.log (quorum, x-delivery-limit 10) and
  audit.stream (stream, x-max-age 7D).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pika
import pika.exceptions
import pytest

import leveret
from leveret.embedded import vhost_url

from .access_admin import RABBITMQ_DIR_ENV, SCRIPT

FIXTURE = Path(__file__).parent / "data" / "rabbitmq-3.10-definitions.json"
FIXTURE_WARNINGS = [
    "bindings: 2 skipped, their source or destination does not exist "
    "(orders.internal -> orders.priority in vhost 'defs-shop', "
    "orders.topic -> orders.internal in vhost 'defs-shop')",
]


def rabbitmq_definitions() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURE.read_text())
    return data


@pytest.fixture
def broker() -> Iterator[leveret.Broker]:
    with leveret.Broker() as running:
        yield running


@contextlib.contextmanager
def login(
    host: str, port: int, vhost: str, user: str, password: str
) -> Iterator[pika.adapters.blocking_connection.BlockingChannel]:
    conn = pika.BlockingConnection(pika.URLParameters(vhost_url(host, port, vhost, user, password)))
    try:
        yield conn.channel()
    finally:
        if conn.is_open:
            conn.close()


def get_body(channel: pika.adapters.blocking_connection.BlockingChannel, queue: str) -> bytes:
    method, _, body = channel.basic_get(queue, auto_ack=True)
    assert method is not None, f"nothing in {queue}"
    return body


def queue_depth(channel: pika.adapters.blocking_connection.BlockingChannel, queue: str) -> int:
    return channel.queue_declare(queue, passive=True).method.message_count


# -- RabbitMQ 3.10 -> Leveret ---------------------------------------------------------------


@pytest.mark.leveret_only
def test_rabbitmq_export_imports_with_original_passwords(broker: leveret.Broker) -> None:
    assert broker.import_definitions(rabbitmq_definitions()) == FIXTURE_WARNINGS
    for vhost, user, password in (
        ("defs-shop", "defs-alice", "alice-secret-1"),
        ("defs-audit", "defs-alice", "alice-secret-1"),
        ("defs-shop", "defs-bob", "bob pass 2"),
        ("defs-audit", "defs-carol", "carol-3"),
    ):
        with login(broker.host, broker.port, vhost, user, password) as channel:
            assert channel.is_open
    with (
        pytest.raises(pika.exceptions.ProbableAuthenticationError),
        login(broker.host, broker.port, "defs-shop", "defs-bob", "wrong"),
    ):
        pass
    users = {u.name: u for u in broker.access(lambda a: a.list_users())}
    assert users["defs-alice"].tags == ["administrator", "monitoring"]
    assert users["defs-bob"].tags == ["billing"]
    assert broker.access(lambda a: a.user_limits["defs-bob"]) == {
        "max-channels": 20,
        "max-connections": 5,
    }
    assert broker.access(lambda a: a.vhost_limits["defs-shop"]) == {
        "max-connections": 50,
        "max-queues": 100,
    }
    shop = broker.access(lambda a: a.vhosts["defs-shop"])
    assert (shop.description, shop.tags, shop.default_queue_type) == (
        "Web shop orders",
        ["prod", "eu"],
        "classic",
    )


@pytest.mark.leveret_only
def test_rabbitmq_topology_routes_as_declared(broker: leveret.Broker) -> None:
    broker.import_definitions(rabbitmq_definitions())
    with login(broker.host, broker.port, "defs-shop", "defs-alice", "alice-secret-1") as ch:
        # orders.topic -> orders.eu directly, and via the exchange-to-exchange binding to
        # orders.fanout -> orders.all (a quorum queue).
        ch.basic_publish("orders.topic", "eu.de.order", b"eu order")
        ch.basic_publish("orders.topic", "us.order", b"us order")
        assert get_body(ch, "orders.eu") == b"eu order"
        assert queue_depth(ch, "orders.eu") == 0
        assert [get_body(ch, "orders.all"), get_body(ch, "orders.all")] == [
            b"eu order",
            b"us order",
        ]
        # Headers binding (x-match any): one matching header is enough.
        ch.basic_publish(
            "orders.headers", "", b"rush", pika.BasicProperties(headers={"rush": True})
        )
        assert get_body(ch, "orders.priority") == b"rush"
        # Unroutable on orders.headers: its alternate exchange (orders.fanout) takes it.
        ch.basic_publish("orders.headers", "", b"other", pika.BasicProperties(headers={}))
        assert get_body(ch, "orders.all") == b"other"
        # The imported arguments are in force: a rejected message is dead-lettered through
        # orders.dlx to orders.dead.
        ch.basic_publish("orders.topic", "eu.fr", b"to reject")
        method, _, _ = ch.basic_get("orders.eu")
        assert method is not None
        ch.basic_reject(method.delivery_tag, requeue=False)
        assert get_body(ch, "orders.dead") == b"to reject"
        # Redeclaring with the exported arguments is equivalent; other arguments are not.
        ch.queue_declare(
            "orders.eu",
            durable=True,
            arguments={
                "x-max-length": 1000,
                "x-message-ttl": 3600000,
                "x-dead-letter-exchange": "orders.dlx",
                "x-dead-letter-routing-key": "dead",
                "x-queue-type": "classic",
            },
        )
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            ch.queue_declare("orders.eu", durable=True, arguments={"x-max-length": 5})
        assert refused.value.reply_code == 406
    with login(broker.host, broker.port, "defs-audit", "defs-alice", "alice-secret-1") as ch:
        ch.basic_publish("audit.events", "", b"audited")
        assert get_body(ch, "audit.log") == b"audited"


@pytest.mark.leveret_only
def test_rabbitmq_permissions_are_enforced(broker: leveret.Broker) -> None:
    broker.import_definitions(rabbitmq_definitions())
    with login(broker.host, broker.port, "defs-shop", "defs-bob", "bob pass 2") as ch:
        ch.queue_declare("bob-work", durable=False)  # configure ^(orders|bob-).*
        ch.basic_publish("orders.topic", "eu.it", b"allowed")  # topic write ^eu\.
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            ch.basic_publish("orders.topic", "us.ny", b"refused")
            ch.queue_declare("bob-work", passive=True)  # the refusal arrives by now
        assert refused.value.reply_code == 403
    with login(broker.host, broker.port, "defs-shop", "defs-bob", "bob pass 2") as ch:
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            ch.queue_declare("alice-work")
        assert refused.value.reply_code == 403
    with (
        pytest.raises(pika.exceptions.ProbableAccessDeniedError),
        login(broker.host, broker.port, "defs-audit", "defs-bob", "bob pass 2"),
    ):
        pass


@pytest.mark.leveret_only
def test_reimport_changes_nothing(broker: leveret.Broker) -> None:
    data = rabbitmq_definitions()
    broker.import_definitions(data)
    with login(broker.host, broker.port, "defs-shop", "defs-alice", "alice-secret-1") as ch:
        ch.basic_publish("orders.topic", "eu.x", b"kept")
    before = broker.export_definitions()
    assert broker.import_definitions(data) == FIXTURE_WARNINGS
    assert broker.export_definitions() == before
    with login(broker.host, broker.port, "defs-shop", "defs-alice", "alice-secret-1") as ch:
        assert get_body(ch, "orders.eu") == b"kept"  # the queue was not recreated


@pytest.mark.leveret_only
def test_export_matches_what_rabbitmq_exported(broker: leveret.Broker) -> None:
    """What RabbitMQ wrote comes back out of Leveret: the same users (hashes, tags, limits),
    queues (arguments, types), exchanges and the bindings that could be imported."""
    data = rabbitmq_definitions()
    broker.import_definitions(data)
    exported = broker.export_definitions()

    def by_name(entries: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
        return {(e.get("vhost", ""), e["name"]): e for e in entries}

    theirs = {
        (u["name"], u["password_hash"], tuple(u["tags"]), json.dumps(u["limits"], sort_keys=True))
        for u in data["users"]
    }
    ours = {
        (u["name"], u["password_hash"], tuple(u["tags"]), json.dumps(u["limits"], sort_keys=True))
        for u in exported["users"]
    }
    assert theirs <= ours
    assert by_name(data["queues"]) == by_name(exported["queues"])
    for key, exchange in by_name(data["exchanges"]).items():
        assert by_name(exported["exchanges"])[key] == {**exchange, "internal": False}
    imported = [
        b for b in data["bindings"] if "orders.internal" not in (b["source"], b["destination"])
    ]

    def key(entry: dict[str, Any]) -> str:
        return json.dumps(entry, sort_keys=True)

    assert sorted(map(key, imported)) == sorted(key(b) for b in exported["bindings"])
    for part in ("permissions", "topic_permissions"):
        assert sorted(map(key, data[part])) == sorted(
            key(p) for p in exported[part] if p["vhost"].startswith("defs-")
        )


# -- hand-written and older files ---------------------------------------------------------


@pytest.mark.leveret_only
def test_unsupported_parts_warn_once_each(broker: leveret.Broker) -> None:
    data = {
        # Before 3.9, tags were one comma-separated string.
        "users": [
            {
                "name": "old-admin",
                "password_hash": rabbitmq_definitions()["users"][0]["password_hash"],
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": "administrator,monitoring",
            },
            {"name": "plain", "password": "plain-pw", "tags": ""},
        ],
        "vhosts": [{"name": "old-vhost", "description": "top-level fields", "tags": "a,b"}],
        "permissions": [
            {"user": "plain", "vhost": "old-vhost", "configure": ".*", "write": ".*", "read": ".*"},
            {"user": "nobody", "vhost": "old-vhost", "configure": "", "write": "", "read": ""},
        ],
        "parameters": [
            {"vhost": "old-vhost", "component": "federation-upstream", "name": "up", "value": {}},
            {"vhost": "old-vhost", "component": "shovel", "name": "s", "value": {}},
            {"vhost": "old-vhost", "component": "vhost-limits", "name": "limits",
             "value": {"max-queues": 3}},
        ],
        "global_parameters": [
            {"name": "cluster_name", "value": "rabbit@x"},
            {"name": "internal_cluster_id", "value": "rabbitmq-cluster-id-x"},
            {"name": "a_plugin_setting", "value": 1},
        ],
        "policies": [
            {"vhost": "old-vhost", "name": "p1", "pattern": ".*", "definition": {}},
            {"vhost": "old-vhost", "name": "p2", "pattern": ".*",
             "definition": {"max-length": 2}},
        ],
        "exchanges": [
            {"vhost": "old-vhost", "name": "delayed", "type": "x-delayed-message"},
            {"vhost": "old-vhost", "name": "hashed", "type": "x-consistent-hash"},
            {"vhost": "old-vhost", "name": "plain.direct", "type": "direct", "durable": True},
        ],
        "queues": [
            {"vhost": "old-vhost", "name": "q", "durable": True, "arguments": {}},
            {"vhost": "missing", "name": "q", "durable": True, "arguments": {}},
        ],
        "bindings": [
            {"vhost": "old-vhost", "source": "plain.direct", "destination": "q",
             "destination_type": "queue", "routing_key": "k", "arguments": {}},
        ],
    }  # fmt: skip
    assert broker.import_definitions(data) == [
        "permissions of user 'nobody' in vhost 'old-vhost' skipped: User nobody does not exist",
        "parameters: 2 skipped, not supported (components: federation-upstream, shovel)",
        "global_parameters: 1 skipped, global parameters are not supported (a_plugin_setting)",
        "policy 'p1' in vhost 'old-vhost' skipped: Validation failed no policy provided",
        # x-delayed-message is supported, but a declare without x-delayed-type is refused.
        "exchange 'delayed' in vhost 'old-vhost' skipped: Invalid argument, "
        "'x-delayed-type' must be an existing exchange type",
        "exchanges: 1 skipped, their types are not supported (hashed (x-consistent-hash))",
        "queue 'q' in vhost 'missing' skipped: no such vhost",
    ]
    users = {u.name: u for u in broker.access(lambda a: a.list_users())}
    assert users["old-admin"].tags == ["administrator", "monitoring"]
    assert broker.access(lambda a: a.vhosts["old-vhost"].tags) == ["a", "b"]
    assert broker.access(lambda a: a.vhost_limits["old-vhost"]) == {"max-queues": 3}
    # The cluster name is applied; RabbitMQ's internal cluster id is dropped silently.
    assert broker.access(lambda a: a.cluster_name) == "rabbit@x"
    with login(broker.host, broker.port, "old-vhost", "plain", "plain-pw") as ch:
        ch.basic_publish("plain.direct", "k", b"routed")
        assert get_body(ch, "q") == b"routed"


@pytest.mark.leveret_only
def test_exclusive_and_server_named_queues_are_not_exported(broker: leveret.Broker) -> None:
    with login(broker.host, broker.port, "/", "guest", "guest") as ch:
        ch.queue_declare("defs-exclusive", exclusive=True)
        server_named = ch.queue_declare("", durable=False).method.queue
        ch.queue_declare("defs-kept", durable=False, auto_delete=False)
        ch.queue_bind("defs-exclusive", "amq.fanout")
        ch.queue_bind(server_named, "amq.fanout")
        ch.queue_bind("defs-kept", "amq.fanout")
        exported = broker.export_definitions()
    assert [q["name"] for q in exported["queues"]] == ["defs-kept"]
    assert [b["destination"] for b in exported["bindings"]] == ["defs-kept"]


@pytest.mark.leveret_only
def test_typed_arguments_export_as_json(broker: leveret.Broker) -> None:
    """Arguments arrive as AMQP field values (tables, arrays, timestamps, byte strings);
    the export holds their JSON forms, and they import back equivalent."""
    arguments: dict[str, Any] = {
        "x-match": "all",
        "nested": {"depth": 1, "list": [1, "two", True]},
        "when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "raw": b"bytes",
    }
    with login(broker.host, broker.port, "/", "guest", "guest") as ch:
        ch.queue_declare("defs-typed", durable=True)
        ch.queue_bind("defs-typed", "amq.headers", "", arguments=arguments)
    exported = broker.export_definitions()
    (binding,) = [b for b in exported["bindings"] if b["destination"] == "defs-typed"]
    assert binding["arguments"] == {
        "x-match": "all",
        "nested": {"depth": 1, "list": [1, "two", True]},
        "when": 1767323045,
        "raw": "bytes",
    }
    document = json.loads(json.dumps(exported))
    with leveret.Broker() as other:
        assert other.import_definitions(document) == []
        with login(other.host, other.port, "/", "guest", "guest") as ch:
            headers = {**binding["arguments"]}
            del headers["x-match"]
            ch.basic_publish("amq.headers", "", b"matched", pika.BasicProperties(headers=headers))
            assert get_body(ch, "defs-typed") == b"matched"


# -- Leveret -> Leveret ---------------------------------------------------------------------


def build_topology(broker: leveret.Broker, vhost: str, user: str, password: str) -> None:
    """A vhost with users, permissions, limits and routing of every kind, built by a client."""
    broker.access(lambda a: a.add_vhost(vhost, "built by a test", ["t1"], "classic"))
    broker.access(lambda a: a.add_user(user, password, ["monitoring", "custom-tag"]))
    broker.access(lambda a: a.set_permissions(user, vhost, ".*", ".*", ".*"))
    broker.access(lambda a: a.set_topic_permissions(user, vhost, "amq.topic", "^a", "^a"))
    broker.access(lambda a: a.set_vhost_limits(vhost, {"max-queues": 10}))
    broker.access(lambda a: a.set_user_limits(user, {"max-channels": 10}))
    with login(broker.host, broker.port, vhost, user, password) as ch:
        declare_routes(ch, internal=True)


def declare_routes(ch: pika.adapters.blocking_connection.BlockingChannel, internal: bool) -> None:
    """The exchanges, queues and bindings check_topology publishes through."""
    ch.exchange_declare("lx", "topic", durable=True)
    ch.exchange_declare("lx.inner", "fanout", durable=True, internal=internal)
    ch.queue_declare("lq", durable=True, arguments={"x-max-length": 5, "x-message-ttl": 60000})
    ch.queue_declare("lqq", durable=True, arguments={"x-queue-type": "quorum"})
    ch.queue_bind("lq", "lx", "a.#")
    ch.exchange_bind("lx.inner", "lx", "b.#")
    ch.queue_bind("lqq", "lx.inner", "")
    ch.queue_bind("lq", "amq.topic", "a.z")
    ch.queue_bind("lq", "amq.headers", "", arguments={"x-match": "all", "k": "v"})


def check_topology(host: str, port: int, vhost: str, user: str, password: str) -> None:
    with login(host, port, vhost, user, password) as ch:
        ch.basic_publish("lx", "a.1", b"to lq")
        ch.basic_publish("lx", "b.1", b"to lqq")
        ch.basic_publish("amq.topic", "a.z", b"via amq.topic")
        ch.basic_publish("amq.headers", "", b"by header", pika.BasicProperties(headers={"k": "v"}))
        assert [get_body(ch, "lq") for _ in range(3)] == [b"to lq", b"via amq.topic", b"by header"]
        assert get_body(ch, "lqq") == b"to lqq"


@pytest.mark.leveret_only
def test_round_trip_leveret_to_leveret(broker: leveret.Broker) -> None:
    build_topology(broker, "rt-vhost", "rt-user", "rt-secret")
    exported = broker.export_definitions()
    # The file is plain JSON: what a tool would write to disk and read back.
    document = json.loads(json.dumps(exported))
    with leveret.Broker() as other:
        assert other.import_definitions(document) == []
        check_topology(other.host, other.port, "rt-vhost", "rt-user", "rt-secret")
        assert other.export_definitions() == exported
        info = other.access(lambda a: a.vhosts["rt-vhost"])
        assert (info.description, info.tags, info.default_queue_type) == (
            "built by a test",
            ["t1"],
            "classic",
        )


@pytest.mark.leveret_only
def test_vhost_export_is_self_contained(broker: leveret.Broker) -> None:
    build_topology(broker, "one-vhost", "one-user", "one-secret")
    exported = broker.export_definitions("one-vhost")
    assert [v["name"] for v in exported["vhosts"]] == ["one-vhost"]
    assert [u["name"] for u in exported["users"]] == ["one-user"]  # not guest
    with leveret.Broker() as other:
        assert other.import_definitions(exported) == []
        check_topology(other.host, other.port, "one-vhost", "one-user", "one-secret")


# -- load_definitions at boot ---------------------------------------------------------------


@pytest.mark.leveret_only
def test_load_definitions_at_boot(tmp_path: Path, leveret_process: Callable[..., Any]) -> None:
    config = tmp_path / "rabbitmq.conf"
    config.write_text(f"load_definitions = {FIXTURE}\n")
    started = leveret_process("--config", str(config))
    with login(started.host, started.port, "defs-shop", "defs-alice", "alice-secret-1") as ch:
        ch.basic_publish("orders.topic", "eu.boot", b"after boot")
        assert get_body(ch, "orders.eu") == b"after boot"
    # As RabbitMQ: with definitions to load, the first boot creates no default user.
    with (
        pytest.raises(pika.exceptions.ProbableAuthenticationError),
        login(started.host, started.port, "/", "guest", "guest"),
    ):
        pass
    assert "policies: " not in started.stderr()  # the policy was imported


@pytest.mark.leveret_only
def test_load_definitions_again_after_restart_keeps_messages(
    tmp_path: Path, leveret_process: Callable[..., Any]
) -> None:
    """Each boot imports the file again (as RabbitMQ): on top of what was recovered, that
    changes nothing, so durable queues keep their messages."""
    config = tmp_path / "rabbitmq.conf"
    config.write_text(f"load_definitions = {FIXTURE}\n")
    data_dir = str(tmp_path / "kept-data")
    first = leveret_process("--config", str(config), "--data-dir", data_dir)
    with login(first.host, first.port, "defs-shop", "defs-alice", "alice-secret-1") as ch:
        ch.confirm_delivery()
        ch.basic_publish(
            "orders.topic", "eu.kept", b"persistent", pika.BasicProperties(delivery_mode=2)
        )
    first.proc.terminate()
    first.proc.wait(timeout=10)
    second = leveret_process("--config", str(config), "--data-dir", data_dir)
    with login(second.host, second.port, "defs-shop", "defs-alice", "alice-secret-1") as ch:
        assert get_body(ch, "orders.eu") == b"persistent"
        assert get_body(ch, "orders.all") == b"persistent"  # quorum, via orders.fanout
    assert "skipped:" not in second.stderr()  # no entry clashed with what was recovered


@pytest.mark.leveret_only
@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "cannot read definitions file {path}: No such file or directory"),
        ('{"users": [', "definitions file {path} is not valid JSON"),
        ("[1, 2]", "definitions file {path} is not a definitions document"),
    ],
)
def test_bad_definitions_file_stops_the_start(
    tmp_path: Path, content: str | None, reason: str
) -> None:
    path = tmp_path / "defs.json"
    if content is not None:
        path.write_text(content)
    config = tmp_path / "rabbitmq.conf"
    config.write_text(f"load_definitions = {path}\n")
    result = subprocess.run(
        [sys.executable, "-m", "leveret", "serve", "--port", "0", "--config", str(config),
         "--data-dir", str(tmp_path / "data")],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "listening" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("Error: " + reason.format(path=path)), result.stderr


# -- Leveret -> RabbitMQ --------------------------------------------------------------------


def rabbitmq_amqp_port(state_dir: str) -> int:
    url = os.environ.get("LEVERET_TEST_BROKER_URL")
    if url:
        return urllib.parse.urlsplit(url).port or 5672
    return int((Path(state_dir) / "port").read_text().strip())


def rabbitmqctl(state_dir: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), "ctl", state_dir, *args], capture_output=True, text=True, check=False
    )


def test_leveret_export_imports_into_rabbitmq() -> None:
    """Needs a RabbitMQ node (``LEVERET_TEST_RABBITMQ_DIR``); the export of an embedded
    Leveret is imported with ``rabbitmqctl import_definitions`` and used there."""
    state_dir = os.environ.get(RABBITMQ_DIR_ENV)
    if not state_dir:
        pytest.skip(f"{RABBITMQ_DIR_ENV} is not set: no RabbitMQ node to import into")
    tag = secrets.token_hex(3)
    vhost, user, password = f"defs-rt-{tag}", f"defs-rt-user-{tag}", f"pw {tag}"
    with leveret.Broker() as broker:
        build_topology(broker, vhost, user, password)
        exported = broker.export_definitions(vhost)
    # The node's rabbitmq user reads the file: a world-readable file in a world-readable
    # directory.
    directory = Path(tempfile.mkdtemp(prefix="leveret-defs-"))
    path = directory / "definitions.json"
    try:
        directory.chmod(0o755)
        path.write_text(json.dumps(exported))
        path.chmod(0o644)
        done = rabbitmqctl(state_dir, "import_definitions", str(path))
        assert done.returncode == 0, done.stderr or done.stdout
        check_topology("127.0.0.1", rabbitmq_amqp_port(state_dir), vhost, user, password)
        limits = rabbitmqctl(state_dir, "list_vhost_limits", "-p", vhost)
        assert '"max-queues":10' in limits.stdout.replace(" ", "")
    finally:
        rabbitmqctl(state_dir, "delete_vhost", vhost)
        rabbitmqctl(state_dir, "delete_user", user)
        path.unlink(missing_ok=True)
        directory.rmdir()


def test_live_rabbitmq_export_imports_into_leveret() -> None:
    """Needs a RabbitMQ node (``LEVERET_TEST_RABBITMQ_DIR``): a topology built on it with
    rabbitmqctl and a client is exported there with ``rabbitmqctl export_definitions`` and
    imported into an embedded Leveret, where its user logs in with the original password and
    every route works (the checked-in fixture above covers this when no node runs)."""
    state_dir = os.environ.get(RABBITMQ_DIR_ENV)
    if not state_dir:
        pytest.skip(f"{RABBITMQ_DIR_ENV} is not set: no RabbitMQ node to export from")
    tag = secrets.token_hex(3)
    vhost, user, password = f"defs-live-{tag}", f"defs-live-user-{tag}", f"live pw {tag}"
    # The node's rabbitmq user writes the file: a directory anyone may write in.
    directory = Path(tempfile.mkdtemp(prefix="leveret-defs-"))
    path = directory / "export.json"
    try:
        for args in (
            ("add_vhost", vhost),
            ("add_user", user, password),
            ("set_user_tags", user, "monitoring", "custom-tag"),
            ("set_permissions", "-p", vhost, user, ".*", ".*", ".*"),
            ("set_topic_permissions", "-p", vhost, user, "amq.topic", "^a", "^a"),
            ("set_vhost_limits", "-p", vhost, '{"max-queues": 10}'),
        ):
            done = rabbitmqctl(state_dir, *args)
            assert done.returncode == 0, (args, done.stderr or done.stdout)
        with login("127.0.0.1", rabbitmq_amqp_port(state_dir), vhost, user, password) as ch:
            # Not internal: RabbitMQ 3.10 leaves internal exchanges out of its export.
            declare_routes(ch, internal=False)
        directory.chmod(0o777)
        done = rabbitmqctl(state_dir, "export_definitions", str(path))
        assert done.returncode == 0, done.stderr or done.stdout
        exported = json.loads(path.read_text())
    finally:
        rabbitmqctl(state_dir, "delete_vhost", vhost)
        rabbitmqctl(state_dir, "delete_user", user)
        path.unlink(missing_ok=True)
        directory.rmdir()
    # Only what this test made: the node may hold other tests' users and vhosts.
    mine = {
        "users": [u for u in exported["users"] if u["name"] == user],
        "vhosts": [v for v in exported["vhosts"] if v["name"] == vhost],
        **{
            part: [item for item in exported.get(part, []) if item.get("vhost") == vhost]
            for part in ("permissions", "topic_permissions", "parameters", "queues", "exchanges")
        },
        "bindings": [b for b in exported["bindings"] if b["vhost"] == vhost],
    }
    assert mine["users"][0]["password_hash"]  # a hash, never the password
    with leveret.Broker() as broker:
        assert broker.import_definitions(mine) == []
        check_topology(broker.host, broker.port, vhost, user, password)
