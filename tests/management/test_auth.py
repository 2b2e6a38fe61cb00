"""HTTP Basic auth and the error shapes, on Leveret and on RabbitMQ's management plugin."""

from __future__ import annotations

import pytest
import requests

from .conftest import Api


def test_whoami_names_the_user_and_its_tags(api: Api) -> None:
    reply = api.get("whoami")
    assert reply.status_code == 200
    body = reply.json()
    assert body["name"] == "guest"
    assert body["tags"] == ["administrator"]


def test_missing_credentials_get_401_with_a_basic_challenge(management_url: str) -> None:
    reply = requests.get(f"{management_url}/api/whoami", timeout=10)
    assert reply.status_code == 401
    assert reply.headers["WWW-Authenticate"] == 'Basic realm="RabbitMQ Management"'


@pytest.mark.leveret_only
def test_missing_credentials_body_is_json(management_url: str) -> None:
    # RabbitMQ 3.10 sends an empty body here; every Leveret error is JSON.
    reply = requests.get(f"{management_url}/api/whoami", timeout=10)
    assert reply.json() == {"error": "not_authorized", "reason": "Not_Authorized"}


def test_wrong_password_gets_401_login_failed(management_url: str) -> None:
    reply = requests.get(f"{management_url}/api/whoami", auth=("guest", "nope"), timeout=10)
    assert reply.status_code == 401
    assert reply.headers["WWW-Authenticate"] == 'Basic realm="RabbitMQ Management"'
    assert reply.json() == {"error": "not_authorized", "reason": "Login failed"}


def test_unknown_api_path_is_a_json_404(api: Api) -> None:
    reply = api.get("no-such-resource")
    assert reply.status_code == 404
    assert reply.json() == {"error": "Object Not Found", "reason": "Not Found"}
