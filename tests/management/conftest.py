"""Fixtures for the management API tests: a requests session on the broker under test.

The same tests run against RabbitMQ 3.10 with its management plugin when CI sets
``LEVERET_TEST_MANAGEMENT_URL`` (see .ci/run), so the JSON shapes are proven, not guessed.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry


class Api:
    """A thin client: paths are relative to ``/api``; vhost names are quoted for the path."""

    def __init__(self, base: str, user: str = "guest", password: str = "guest"):
        self.base = base
        self.session = requests.Session()
        # A kept-alive connection the server closed meanwhile (RabbitMQ's web server drops
        # idle ones) is retried for idempotent methods; answers are never retried.
        retry = Retry(total=2, connect=2, read=2, status=0, redirect=0)
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.auth = (user, password)
        self.session.headers["content-type"] = "application/json"

    def url(self, path: str) -> str:
        return f"{self.base}/api/{path.lstrip('/')}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.url(path), **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def close(self) -> None:
        self.session.close()


def quote(name: str) -> str:
    """A vhost or object name as one path segment (``/`` is ``%2F``)."""
    return urllib.parse.quote(name, safe="")


@pytest.fixture
def api(management_url: str) -> Iterator[Api]:
    """The management API as guest (administrator on both brokers)."""
    client = Api(management_url)
    yield client
    client.close()


@pytest.fixture
def api_as(management_url: str) -> Iterator[Any]:
    """Factory: ``api_as(user, password)`` for another user's view."""
    clients: list[Api] = []

    def make(user: str, password: str) -> Api:
        client = Api(management_url, user, password)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


# Fixtures of the topology and traffic tests: pika clients, unique names, ctl.
from .amqp_clients import amqp, broker_ctl, names  # noqa: E402, F401
