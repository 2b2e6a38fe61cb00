"""/api/health/checks/* and /api/aliveness-test/{vhost}, on Leveret and on RabbitMQ 3.10's
management plugin."""

from __future__ import annotations

import datetime
import socket
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme

from .access_helpers import PASSWORD, Made, unique, wait_for
from .conftest import Api, quote

OK = {"status": "ok"}


@pytest.fixture
def made(api: Api) -> Iterator[Made]:
    found = Made(api)
    yield found
    found.close()


def _amqp_port(broker_url: str) -> int:
    port = urllib.parse.urlsplit(broker_url).port
    assert port is not None
    return port


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_no_alarms(api: Api) -> None:
    for check in ("alarms", "local-alarms"):
        reply = api.get(f"health/checks/{check}")
        assert reply.status_code == 200
        assert reply.json() == OK


@pytest.mark.leveret_only
def test_alarm_in_effect_fails_the_alarm_checks(
    leveret_process: Callable[..., Any],
) -> None:
    # A one-byte memory watermark raises the memory alarm at the first resource check
    # (raising one on the shared RabbitMQ would block every other suite's publishers).
    broker = leveret_process("--memory-high-watermark", "1")
    client = Api(broker.management_url)
    try:

        def alarmed() -> requests.Response | None:
            reply = client.get("health/checks/alarms")
            return reply if reply.status_code == 503 else None

        reply = wait_for(alarmed, timeout=10)
        node = client.get("nodes").json()[0]["name"]
        assert reply.json() == {
            "status": "failed",
            "reason": "There are alarms in effect in the cluster",
            "alarms": [{"resource": "memory", "node": node}],
        }
        local = client.get("health/checks/local-alarms")
        assert local.status_code == 503
        assert local.json()["reason"] == "There are alarms in effect on the node"
        assert client.get(f"nodes/{quote(node)}").json()["mem_alarm"] is True
    finally:
        client.close()


def test_port_listener(api: Api, broker_url: str) -> None:
    port = _amqp_port(broker_url)
    assert api.get(f"health/checks/port-listener/{port}").json() == {"status": "ok", "port": port}
    unused = _free_port()
    reply = api.get(f"health/checks/port-listener/{unused}")
    assert reply.status_code == 503
    body = reply.json()
    assert body["status"] == "failed"
    assert body["reason"] == "No active listener"
    assert body["missing"] == unused
    assert port in body["ports"]
    invalid = api.get("health/checks/port-listener/abc")
    assert invalid.status_code == 400
    assert invalid.json() == {"error": "bad_request", "reason": "Invalid port"}


def test_protocol_listener_names(api: Api) -> None:
    for name in ("amqp", "amqp091", "AMQP0-9-1", "amqp0.9.1"):
        reply = api.get(f"health/checks/protocol-listener/{name}")
        assert reply.status_code == 200, name
        assert reply.json() == {"status": "ok", "protocol": "amqp"}
    assert api.get("health/checks/protocol-listener/http").json() == {
        "status": "ok",
        "protocol": "http",
    }


def test_every_listener_passes_the_protocol_check(api: Api) -> None:
    for listener in api.get("overview").json()["listeners"]:
        protocol = listener["protocol"]
        reply = api.get(f"health/checks/protocol-listener/{quote(protocol)}")
        assert reply.json() == {"status": "ok", "protocol": protocol}


def test_missing_protocol_listener(api: Api) -> None:
    # Neither broker under test listens for AMQPS; "amqps" names its listener.
    reply = api.get("health/checks/protocol-listener/amqps")
    assert reply.status_code == 503
    body = reply.json()
    assert body["status"] == "failed"
    assert body["reason"] == "No active listener"
    assert body["missing"] == "amqp/ssl"
    assert {"amqp", "http"} <= set(body["protocols"])


def test_virtual_hosts_are_up(api: Api) -> None:
    assert api.get("health/checks/virtual-hosts").json() == OK


def test_single_node_checks(api: Api) -> None:
    for check in ("node-is-quorum-critical", "node-is-mirror-sync-critical"):
        reply = api.get(f"health/checks/{check}")
        assert reply.status_code == 200
        assert reply.json() == {"status": "ok", "reason": "single node cluster"}


def test_certificate_expiration_without_tls(api: Api) -> None:
    for within, unit in (("1", "days"), ("2", "WEEKS"), ("3", "months"), ("1", "years")):
        assert api.get(f"health/checks/certificate-expiration/{within}/{unit}").json() == OK
    bad_value = api.get("health/checks/certificate-expiration/x/days")
    assert bad_value.status_code == 400
    assert bad_value.json() == {"error": "bad_request", "reason": "Invalid expiration value."}
    bad_unit = api.get("health/checks/certificate-expiration/1/day")
    assert bad_unit.status_code == 400
    assert bad_unit.json() == {
        "error": "bad_request",
        "reason": "Time unit not recognised. Supported units: days, weeks, months, years.",
    }


@pytest.mark.leveret_only
def test_certificate_expiration_names_the_expiring_listener(
    leveret_process: Callable[..., Any], tmp_path: Path
) -> None:
    # The shared RabbitMQ has no TLS listener to check.
    ca = trustme.CA()
    expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=10)
    server = ca.issue_cert("127.0.0.1", not_after=expires.replace(tzinfo=None))
    certfile, keyfile, cafile = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    server.cert_chain_pems[0].write_to_path(certfile)
    server.private_key_pem.write_to_path(keyfile)
    ca.cert_pem.write_to_path(cafile)
    ssl_port = _free_port()
    config = tmp_path / "rabbitmq.conf"
    config.write_text(
        f"listeners.ssl.default = 127.0.0.1:{ssl_port}\n"
        f"ssl_options.certfile = {certfile}\n"
        f"ssl_options.keyfile = {keyfile}\n"
        f"ssl_options.cacertfile = {cafile}\n"
    )
    broker = leveret_process("--config", str(config))
    client = Api(broker.management_url)
    try:
        assert client.get("health/checks/certificate-expiration/1/weeks").json() == OK
        reply = client.get("health/checks/certificate-expiration/1/months")
        assert reply.status_code == 503
        body = reply.json()
        assert body["status"] == "failed"
        assert body["reason"] == "Certificates expiring"
        [expiring] = body["expired"]
        assert expiring["protocol"] == "amqp/ssl"
        assert expiring["port"] == ssl_port
        assert expiring["interface"] == "127.0.0.1"
        assert expiring["certfile"] == str(certfile)
        assert expiring["cacertfile"] == str(cafile)
        assert expiring["cacertfile_expires_on"] == []  # the CA lasts longer
        [when] = expiring["certfile_expires_on"]
        assert when.startswith(f"{expires.year}-{expires:%m-%d} ")
        protocols = client.get("health/checks/protocol-listener/amqps").json()
        assert protocols == {"status": "ok", "protocol": "amqp/ssl"}
    finally:
        client.close()


@pytest.mark.newer_than_310
def test_probes_answer_without_credentials(management_url: str) -> None:
    # is-in-service and ready-to-serve-clients came after 3.10; load balancers call them
    # without credentials.
    for check in ("is-in-service", "ready-to-serve-clients"):
        reply = requests.get(f"{management_url}/api/health/checks/{check}", timeout=10)
        assert reply.status_code == 200, check
        assert reply.json() == OK


def test_health_checks_are_open_to_management_users(api_as: Any, made: Made) -> None:
    client = api_as(made.user("management"), PASSWORD)
    for check in ("alarms", "local-alarms", "virtual-hosts", "node-is-quorum-critical"):
        assert client.get(f"health/checks/{check}").status_code == 200, check


def test_health_checks_need_credentials(management_url: str) -> None:
    reply = requests.get(f"{management_url}/api/health/checks/alarms", timeout=10)
    assert reply.status_code == 401


# -- aliveness test --------------------------------------------------------------------


def test_aliveness_test_round_trips_a_message(api: Api, made: Made) -> None:
    vhost = made.vhost()
    reply = api.get(f"aliveness-test/{quote(vhost)}")
    assert reply.status_code == 200
    assert reply.json() == OK
    # As RabbitMQ 3.10, it leaves its queue behind, empty, and runs again.
    queues = api.get(f"definitions/{quote(vhost)}").json()["queues"]
    assert [queue["name"] for queue in queues] == ["aliveness-test"]
    assert api.get(f"aliveness-test/{quote(vhost)}").json() == OK


def test_aliveness_test_of_an_unknown_vhost(api: Api) -> None:
    reply = api.get(f"aliveness-test/{quote(unique('nope'))}")
    assert reply.status_code == 404
    assert reply.json() == {"error": "Object Not Found", "reason": "Not Found"}


def test_aliveness_test_needs_permissions_in_the_vhost(api: Api, api_as: Any, made: Made) -> None:
    vhost = made.vhost()
    allowed = made.user("management")
    made.grant(allowed, vhost)
    assert api_as(allowed, PASSWORD).get(f"aliveness-test/{quote(vhost)}").json() == OK
    # Monitoring reads every vhost but may not use one it has no permissions in.
    monitoring = api_as(made.user("monitoring"), PASSWORD)
    refused = monitoring.get(f"aliveness-test/{quote(vhost)}")
    assert refused.status_code == 401
    assert refused.json() == {
        "error": "not_authorised",
        "reason": "User not authorised to access virtual host",
    }
    powerless = made.user("management")
    made.grant(powerless, vhost, "")
    denied = api_as(powerless, PASSWORD).get(f"aliveness-test/{quote(vhost)}")
    assert denied.status_code == 401
    assert denied.json() == {
        "error": "not_authorised",
        "reason": f"ACCESS_REFUSED - access to queue 'aliveness-test' in vhost '{vhost}' "
        f"refused for user '{powerless}'",
    }
