"""/api/connections on Leveret and on RabbitMQ 3.10: what a pika connection looks like, its
channels, and closing it with a reason the client hears.

RabbitMQ lists a connection only after its next statistics event (up to ~5 s), so every
look polls with a deadline.
"""

from __future__ import annotations

import time
from typing import Any

import pika
import pytest

from .amqp_clients import BrokerCtl, Clients, wait_for, wait_for_listed, wait_for_object
from .conftest import Api, quote

CONNECTION_FIELDS = {
    "name",
    "node",
    "vhost",
    "user",
    "state",
    "type",
    "protocol",
    "auth_mechanism",
    "channels",
    "channel_max",
    "frame_max",
    "timeout",
    "connected_at",
    "host",
    "port",
    "peer_host",
    "peer_port",
    "ssl",
    "ssl_protocol",
    "ssl_key_exchange",
    "ssl_cipher",
    "ssl_hash",
    "peer_cert_issuer",
    "peer_cert_subject",
    "peer_cert_validity",
    "client_properties",
    "recv_oct",
    "recv_oct_details",
    "recv_cnt",
    "send_oct",
    "send_oct_details",
    "send_cnt",
}


def connection_path(name: str) -> str:
    return f"connections/{quote(name)}"


def test_a_pika_connection_as_the_api_shows_it(api: Api, amqp: Clients) -> None:
    before = time.time()
    conn = amqp.connect(
        heartbeat=30,
        channel_max=100,
        frame_max=65536,
        client_properties={"connection_name": "mgmt-test-app"},
    )
    conn.channel()
    conn.channel()
    name = amqp.name(conn)
    (shown,) = wait_for_listed(
        api,
        "connections",
        lambda c: c["name"] == name and c.get("channels") == 2 and set(c) >= CONNECTION_FIELDS,
    )
    assert set(shown) >= CONNECTION_FIELDS
    assert {
        k: shown[k]
        for k in (
            "vhost",
            "user",
            "state",
            "type",
            "protocol",
            "auth_mechanism",
            "channels",
            "channel_max",
            "frame_max",
            "timeout",
            "peer_host",
            "peer_port",
            "host",
            "port",
            "ssl",
            "ssl_protocol",
            "user_provided_name",
        )
    } == {
        "vhost": "/",
        "user": "guest",
        "state": "running",
        "type": "network",
        "protocol": "AMQP 0-9-1",
        "auth_mechanism": "PLAIN",
        "channels": 2,
        "channel_max": 100,
        "frame_max": 65536,
        "timeout": 30,
        "peer_host": "127.0.0.1",
        "peer_port": amqp.local_port(conn),
        "host": amqp.host,
        "port": amqp.port,
        "ssl": False,
        "ssl_protocol": None,
        "user_provided_name": "mgmt-test-app",
    }
    properties = shown["client_properties"]
    assert properties["product"] == "Pika Python Client Library"
    assert properties["connection_name"] == "mgmt-test-app"
    assert properties["capabilities"]["publisher_confirms"] is True
    assert properties["capabilities"]["consumer_cancel_notify"] is True
    # Milliseconds since the epoch.
    assert before * 1000 - 2000 <= shown["connected_at"] <= time.time() * 1000 + 2000
    for counter in ("recv_oct", "recv_cnt", "send_oct", "send_cnt"):
        assert isinstance(shown[counter], int) and shown[counter] > 0, counter
    assert set(shown["recv_oct_details"]) == {"rate"}

    assert api.get(connection_path(name)).json()["name"] == name
    in_vhost = api.get("vhosts/%2F/connections?columns=name").json()
    assert {"name": name} in in_vhost


def test_octet_counters_grow_with_traffic(api: Api, amqp: Clients) -> None:
    conn = amqp.connect()
    name = amqp.name(conn)
    counters = ("recv_oct", "recv_cnt", "send_oct", "send_cnt")
    # RabbitMQ fills a connection's fields in from several statistics events.
    first = wait_for_object(api, connection_path(name), lambda c: all(k in c for k in counters))
    channel = conn.channel()
    channel.confirm_delivery()
    channel.basic_publish("", "mgmt-nowhere", b"x" * 100_000)
    grown = wait_for_object(
        api,
        connection_path(name),
        lambda c: c.get("recv_oct", 0) >= first["recv_oct"] + 100_000,
    )
    assert grown["recv_cnt"] >= first["recv_cnt"]
    assert grown["send_oct"] > first["send_oct"]  # channel.open-ok, confirm.select-ok, ack


def test_a_connections_channels(api: Api, amqp: Clients) -> None:
    conn = amqp.connect()
    conn.channel()
    conn.channel()
    name = amqp.name(conn)
    found = wait_for(
        lambda: (
            (reply := api.get(connection_path(name) + "/channels")).status_code == 200
            and len(reply.json()) == 2
            and reply.json()
        ),
        "both channels of the connection",
    )
    assert [(c["name"], c["number"]) for c in found] == [(f"{name} (1)", 1), (f"{name} (2)", 2)]
    assert found[0]["connection_details"] == {
        "name": name,
        "peer_host": "127.0.0.1",
        "peer_port": amqp.local_port(conn),
    }


def test_delete_closes_with_the_reason_the_client_hears(api: Api, amqp: Clients) -> None:
    conn = amqp.connect()
    name = amqp.name(conn)
    wait_for_object(api, connection_path(name), lambda c: True)
    reply = api.delete(connection_path(name), headers={"X-Reason": "mgmt test says bye"})
    assert reply.status_code == 204
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        conn.process_data_events(5)
    assert closed.value.reply_code == 320
    assert closed.value.reply_text == "CONNECTION_FORCED - mgmt test says bye"
    wait_for(lambda: api.get(connection_path(name)).status_code == 404, "the connection to go")


def test_delete_without_a_reason(api: Api, amqp: Clients) -> None:
    conn = amqp.connect()
    name = amqp.name(conn)
    wait_for_object(api, connection_path(name), lambda c: True)
    assert api.delete(connection_path(name)).status_code == 204
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        conn.process_data_events(5)
    assert closed.value.reply_text == "CONNECTION_FORCED - Closed via management plugin"


def test_unknown_connection_and_vhost(api: Api) -> None:
    not_found = {"error": "Object Not Found", "reason": "Not Found"}
    name = "127.0.0.1:1 -> 127.0.0.1:1"
    for method, path in (
        ("GET", connection_path(name)),
        ("DELETE", connection_path(name)),
        ("GET", "vhosts/no-such-vhost-mgmt/connections"),
    ):
        reply = api.request(method, path)
        assert (reply.status_code, reply.json()) == (404, not_found), (method, path)


@pytest.mark.leveret_only
def test_channels_of_an_unknown_connection_is_a_404(api: Api) -> None:
    # RabbitMQ 3.10 answers 500 here (its handler crashes on the missing connection).
    reply = api.get(connection_path("127.0.0.1:1 -> 127.0.0.1:1") + "/channels")
    assert reply.status_code == 404
    assert reply.json() == {"error": "Object Not Found", "reason": "Not Found"}


def test_connections_by_vhost(api: Api, amqp: Clients, broker_ctl: BrokerCtl) -> None:
    vhost = broker_ctl.vhost()
    elsewhere = amqp.connect(vhost=vhost)
    here = amqp.connect()
    in_vhost = wait_for_listed(
        api, f"vhosts/{quote(vhost)}/connections", lambda c: c["vhost"] == vhost
    )
    assert [c["name"] for c in in_vhost] == [amqp.name(elsewhere)]
    in_default = api.get("vhosts/%2F/connections").json()
    assert amqp.name(elsewhere) not in [c["name"] for c in in_default]
    wait_for_listed(api, "vhosts/%2F/connections", lambda c: c["name"] == amqp.name(here))


def test_a_management_user_sees_and_closes_only_its_own(
    api: Api, api_as: Any, amqp: Clients, broker_ctl: BrokerCtl
) -> None:
    user, password = broker_ctl.user("management")
    broker_ctl("set_permissions", "-p", "/", user, ".*", ".*", ".*")
    mine = amqp.connect(user=user, password=password)
    theirs = amqp.connect()
    wait_for_listed(api, "connections", lambda c: c["name"] == amqp.name(theirs))
    as_user = api_as(user, password)
    (listed,) = wait_for_listed(as_user, "connections", lambda c: True)
    assert listed["name"] == amqp.name(mine)
    assert listed["user"] == user
    reply = as_user.get(connection_path(amqp.name(theirs)))
    assert reply.status_code == 401
    reply = as_user.delete(connection_path(amqp.name(theirs)))
    assert reply.status_code == 401
    assert theirs.is_open
    assert as_user.delete(connection_path(amqp.name(mine))).status_code == 204
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker):
        mine.process_data_events(5)
