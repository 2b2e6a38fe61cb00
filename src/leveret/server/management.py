"""Start and stop the node's HTTP listeners: the management API and Prometheus."""

from __future__ import annotations

import logging

from leveret.http.app import build_app
from leveret.http.node import Listener, ManagedNode
from leveret.http.prometheus import build_prometheus_app
from leveret.http.server import HttpListener

log = logging.getLogger("leveret.server")

# (host, port) of one listener; port None: not served, 0: a free port.
Address = tuple[str, int | None]


class HttpListeners:
    """The management API and the Prometheus endpoint of one node, each on its own port."""

    def __init__(self, node: ManagedNode, management: Address, prometheus: Address):
        self._node = node
        self._management_address = management
        self._prometheus_address = prometheus
        self.management: HttpListener | None = None
        self.prometheus: HttpListener | None = None

    async def start(self) -> None:
        host, port = self._management_address
        if port is not None:
            listener = HttpListener(build_app(self._node), host, port)
            bound = await listener.start()
            self.management = listener
            log.info("management API listening on http://%s:%d/", host, bound)
        host, port = self._prometheus_address
        if port is not None:
            listener = HttpListener(build_prometheus_app(self._node), host, port)
            bound = await listener.start()
            self.prometheus = listener
            log.info("Prometheus metrics on http://%s:%d/metrics", host, bound)

    def listeners(self) -> list[Listener]:
        found = []
        if self.management is not None and self.management.port is not None:
            found.append(Listener("http", self._management_address[0], self.management.port))
        if self.prometheus is not None and self.prometheus.port is not None:
            found.append(
                Listener("http/prometheus", self._prometheus_address[0], self.prometheus.port)
            )
        return found

    async def close(self) -> None:
        for listener in (self.management, self.prometheus):
            if listener is not None:
                await listener.close()
        self.management = None
        self.prometheus = None
