"""Fuzz the management API against its own OpenAPI description with schemathesis.

Every operation of ``src/leveret/http/openapi.json`` is called with generated requests, both
valid ones (positive mode) and ones that break the description (negative mode: wrong types,
missing keys, malformed values), as guest on an embedded broker of this module's own, so
that fuzzing never disturbs the session broker the other tests share. Each answer must pass
schemathesis' checks:

- ``not_a_server_error``: never a 5xx;
- ``status_code_conformance``: a status the description lists for the operation;
- ``content_type_conformance``: the content type it lists for that status;
- ``response_schema_conformance``: a body that matches its schema (an error is
  ``{"error", "reason"}``).

The fixture broker holds a vhost, a user, a queue with messages, exchanges, bindings and an
AMQP client consuming on two channels; most path parameters name those (or "/"), the rest
are generated, so that requests get past their 404 to the handlers' real work.

The default run is bounded for CI: 25 examples per operation, deterministic (the same
requests every run), about 50 s on two cores. For a longer, randomised hunt set::

    LEVERET_FUZZ_EXAMPLES=200 timeout 3600 .venv/bin/python -m pytest \
        tests/management/test_openapi_fuzz.py -q

(``LEVERET_FUZZ_EXAMPLES`` is the examples per operation; any value other than the default
also turns off deterministic generation, so each run tries new inputs; 100 take about seven
minutes.)

Requests that would break the fixture broker for the examples after them are not sent (see
``spares_the_fixture``): PUT or DELETE with user guest in the path (replacing guest's tags,
password, permissions or deleting it would refuse every later request), DELETE of vhost "/",
and bulk deletes or definitions imports whose body names guest. Everything else is sent,
including deletes, purges, gets, publishes, imports and the closing of the fixture's own
AMQP connection; those only make later examples meet 404s more often.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pika
import pika.exceptions
import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from leveret import Broker

pytestmark = pytest.mark.leveret_only

DEFAULT_EXAMPLES = 25
EXAMPLES = int(os.environ.get("LEVERET_FUZZ_EXAMPLES", DEFAULT_EXAMPLES))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

schema = schemathesis.openapi.from_path(
    str(resources.files("leveret.http").joinpath("openapi.json"))
)
schema.config.update(basic_auth=("guest", "guest"), request_timeout=30)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    max_examples=EXAMPLES,
    deterministic=EXAMPLES == DEFAULT_EXAMPLES,
    database="none",
)
schema.config.phases.update(phases=["examples", "fuzzing"])


# Objects the fixture makes, so that generated requests also reach existing ones (a name
# made up at random names nothing, and most requests would stop at their 404).
QUEUE, EXCHANGE, ROUTING_KEY = "fuzz.q", "fuzz.x", "fuzz.key"
FUZZ_VHOST, FUZZ_USER = "fuzz", "fuzz-user"
KNOWN_NAMES = {
    "vhost": ["/", FUZZ_VHOST],
    "user": [FUZZ_USER],
    "name": [QUEUE, EXCHANGE, "amq.direct", "amq.default"],
    "source": [EXCHANGE, "amq.direct"],
    "destination": [QUEUE, EXCHANGE],
    "props": [ROUTING_KEY, "~"],
}
# Names known only once the broker runs: its node, its client connections and channels.
LIVE_NAMES: dict[str, list[str]] = {"node": [], "connection": [], "channel": []}


def _known(path: str, key: str) -> list[str]:
    if key == "name" and path.startswith("/api/connections/"):
        return LIVE_NAMES["connection"]
    if key == "name" and path.startswith("/api/channels/"):
        return LIVE_NAMES["channel"]
    return LIVE_NAMES.get(key) or KNOWN_NAMES.get(key, [])


def _with_known_names(
    path: str, generated: dict[str, Any], chooser: random.Random
) -> dict[str, Any]:
    """Each parameter names a known object or keeps its generated value: vhosts mostly
    known (an unknown one stops every request at its 404), other names half the time."""
    chosen = dict(generated)
    for key in chosen:
        names = _known(path, key)
        odds = 0.8 if key == "vhost" else 0.5
        if names and chooser.random() < odds:
            chosen[key] = chooser.choice(names)
    return chosen


@schema.hook
def before_generate_path_parameters(context: Any, strategy: st.SearchStrategy[Any]) -> Any:
    """Path parameters that name the fixture's objects (hypothesis' own Random picks
    them, so that a failure replays)."""
    path = context.operation.path
    return st.tuples(strategy, st.randoms(use_true_random=False)).map(
        lambda drawn: (
            _with_known_names(path, drawn[0], drawn[1]) if isinstance(drawn[0], dict) else drawn[0]
        )
    )


def _populate(base: str, amqp_url: str) -> pika.BlockingConnection:
    """Topology and traffic to fuzz against; returns the client connection (consuming)."""
    api = requests.Session()
    api.auth = ("guest", "guest")
    for method, path, body in (
        ("PUT", f"/api/vhosts/{FUZZ_VHOST}", None),
        ("PUT", f"/api/users/{FUZZ_USER}", {"password": "fuzz", "tags": "management"}),
        (
            "PUT",
            f"/api/permissions/%2F/{FUZZ_USER}",
            {"configure": ".*", "write": ".*", "read": ".*"},
        ),
        ("PUT", f"/api/queues/%2F/{QUEUE}", {"durable": True}),
        ("PUT", f"/api/exchanges/%2F/{EXCHANGE}", {"type": "topic"}),
        ("POST", f"/api/bindings/%2F/e/{EXCHANGE}/q/{QUEUE}", {"routing_key": ROUTING_KEY}),
        ("POST", f"/api/bindings/%2F/e/amq.direct/e/{EXCHANGE}", {"routing_key": ROUTING_KEY}),
    ):
        reply = api.request(method, base + path, json=body, timeout=10)
        assert reply.status_code in (201, 204), (path, reply.text)
    for number in range(5):
        reply = api.post(
            f"{base}/api/exchanges/%2F/{EXCHANGE}/publish",
            json={
                "properties": {"delivery_mode": 2, "headers": {"n": number}},
                "routing_key": ROUTING_KEY,
                "payload": f"message {number}",
                "payload_encoding": "string",
            },
            timeout=10,
        )
        assert reply.json() == {"routed": True}
    client = pika.BlockingConnection(pika.URLParameters(amqp_url + "?heartbeat=0"))
    channel = client.channel()
    channel.basic_qos(prefetch_count=2)
    channel.basic_consume(QUEUE, lambda *_: None)
    client.channel().confirm_delivery()
    client.process_data_events(0.2)
    LIVE_NAMES["node"] = [api.get(f"{base}/api/overview", timeout=10).json()["node"]]
    LIVE_NAMES["connection"] = [c["name"] for c in api.get(f"{base}/api/connections").json()]
    LIVE_NAMES["channel"] = [c["name"] for c in api.get(f"{base}/api/channels").json()]
    assert LIVE_NAMES["connection"] and len(LIVE_NAMES["channel"]) == 2
    api.close()
    return client


@pytest.fixture(scope="module")
def fuzz_broker() -> Iterator[Broker]:
    with Broker(management_port=0) as broker:
        client = _populate(broker.management_url, broker.url)
        yield broker
        with contextlib.suppress(pika.exceptions.AMQPError):
            client.close()


def _names_guest(value: Any) -> bool:
    return "guest" in repr(value)


def spares_the_fixture(case: schemathesis.Case) -> bool:
    """False for a request that would leave the broker unusable for the examples after it."""
    path = case.path_parameters or {}
    method = case.method.upper()
    if method in ("PUT", "DELETE") and path.get("user") == "guest":
        return False
    if method == "DELETE" and path.get("vhost") == "/" and case.path == "/api/vhosts/{vhost}":
        return False
    if method == "POST" and case.path in ("/api/users/bulk-delete", "/api/definitions"):
        return not _names_guest(case.body)
    return True


def checks_for(case: schemathesis.Case) -> list[Any]:
    checks = list(CHECKS)
    if "503" in case.operation.definition.raw["responses"]:
        # A health check that fails answers 503 by design (RabbitMQ's status for it); the
        # status check still holds every other 5xx to account.
        checks.remove(not_a_server_error)
    if isinstance(case.query, dict) and "columns" in case.query:
        # Only the named fields come back: the schemas' required fields do not hold.
        checks.remove(response_schema_conformance)
    return checks


@schema.parametrize()
def test_operation_conforms(case: schemathesis.Case, fuzz_broker: Broker) -> None:
    if not spares_the_fixture(case):
        return
    case.call_and_validate(base_url=fuzz_broker.management_url, checks=checks_for(case))
