"""TLS fixtures: certificates made by trustme at test time, and an in-process broker.

No CLI flag or config file turns TLS on here (the rabbitmq.conf parser is separate), so
these tests run a Node with a TLS Config on its own event loop in a background thread,
and real clients connect to it over real sockets.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme

from leveret.server.config import Config, TLSConfig
from leveret.server.event_loop import loop_factory
from leveret.server.node import Node

CLIENT_DN = "CN=client,OU=clients,O=Leveret tests"


@dataclass
class Certs:
    ca: trustme.CA
    cafile: Path
    certfile: Path  # the server's
    keyfile: Path
    client_cert: Path  # CLIENT_DN, signed by the CA
    client_key: Path
    stranger_cert: Path  # signed by a CA the broker does not trust
    stranger_key: Path

    def client_context(self, *, with_cert: bool = True, stranger: bool = False) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.cafile))
        if stranger:
            context.load_cert_chain(self.stranger_cert, self.stranger_key)
        elif with_cert:
            context.load_cert_chain(self.client_cert, self.client_key)
        return context

    def amqp_sslopts(self, *, with_cert: bool = True) -> dict[str, Any]:
        """py-amqp's / kombu's ``ssl`` dict."""
        options: dict[str, Any] = {
            "ca_certs": str(self.cafile),
            "cert_reqs": ssl.CERT_REQUIRED,
            "server_hostname": "127.0.0.1",
        }
        if with_cert:
            options.update(certfile=str(self.client_cert), keyfile=str(self.client_key))
        return options


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA(organization_name="Leveret tests")
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert(
        "client.example",
        common_name="client",
        organization_name="Leveret tests",
        organization_unit_name="clients",
    )
    stranger = trustme.CA().issue_cert("stranger.example", common_name="client")
    paths = {
        name: folder / f"{name}.pem"
        for name in ("ca", "cert", "key", "ccert", "ckey", "scert", "skey")
    }
    ca.cert_pem.write_to_path(paths["ca"])
    server.cert_chain_pems[0].write_to_path(paths["cert"])
    server.private_key_pem.write_to_path(paths["key"])
    client.cert_chain_pems[0].write_to_path(paths["ccert"])
    client.private_key_pem.write_to_path(paths["ckey"])
    stranger.cert_chain_pems[0].write_to_path(paths["scert"])
    stranger.private_key_pem.write_to_path(paths["skey"])
    return Certs(
        ca,
        paths["ca"],
        paths["cert"],
        paths["key"],
        paths["ccert"],
        paths["ckey"],
        paths["scert"],
        paths["skey"],
    )


class ThreadedNode:
    """A Node serving on its own event loop in a daemon thread."""

    def __init__(self, config: Config, users: dict[str, str]):
        self.node = Node(config)
        self._users = users  # name -> password, added with full permissions on "/"
        # The loop the broker runs on in production (uvloop when installed).
        self.loop = loop_factory()()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="leveret-tls-node", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.node.start())
            for name, password in self._users.items():  # (on the loop's thread, as always)
                self.node.access.add_user(name, password)
                self.node.access.set_permissions(name, "/", ".*", ".*", ".*")
        except BaseException as error:
            self._error = error
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()

    def start(self) -> ThreadedNode:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            self._thread.join(10)
            self.loop.close()
            raise self._error
        return self

    def stop(self) -> None:
        if self.loop.is_closed():  # stopped by the test already
            return
        if self._error is None:
            asyncio.run_coroutine_threadsafe(self.node.stop(), self.loop).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    @property
    def port(self) -> int:
        return self.node.port

    @property
    def ssl_port(self) -> int:
        assert self.node.ssl_port is not None
        return self.node.ssl_port


def tls_config(certs: Certs, **overrides: Any) -> TLSConfig:
    settings: dict[str, Any] = {
        "certfile": certs.certfile,
        "keyfile": certs.keyfile,
        "cacertfile": certs.cafile,
        "verify": "verify_peer",
        "fail_if_no_peer_cert": False,
    }
    settings.update(overrides)
    return TLSConfig(**settings)


@pytest.fixture
def start_broker(certs: Certs) -> Iterator[Callable[..., ThreadedNode]]:
    """``start_broker(tls=..., **config)``: a started broker with plain and TLS listeners
    on free ports; users: guest/guest plus CLIENT_DN and "client" (EXTERNAL logins)."""
    started: list[ThreadedNode] = []

    def start(*, tls: TLSConfig | None = None, **settings: Any) -> ThreadedNode:
        settings.setdefault("handshake_timeout", 5.0)
        # HTTP listeners only when a test asks: 15672 may be anyone's.
        settings.setdefault("management_port", None)
        settings.setdefault("prometheus_port", None)
        config = Config(port=0, ssl_port=0, data_dir=None, ssl=tls or tls_config(certs), **settings)
        users = {CLIENT_DN: "unused-" + CLIENT_DN, "client": "unused-client"}
        broker = ThreadedNode(config, users).start()
        started.append(broker)
        return broker

    yield start
    for broker in started:
        broker.stop()
