"""Start and stop the node's HTTP listeners: the management API and Prometheus."""

from __future__ import annotations

import logging

from leveret.http.app import build_app
from leveret.http.node import Listener, ManagedNode
from leveret.http.server import HttpListener

log = logging.getLogger("leveret.server")


class HttpListeners:
    """The management API (and, once built, Prometheus) of one node."""

    def __init__(self, node: ManagedNode, host: str, port: int | None):
        self._node = node
        self._host = host
        self._port = port
        self.management: HttpListener | None = None

    async def start(self) -> None:
        if self._port is not None:
            listener = HttpListener(build_app(self._node), self._host, self._port)
            port = await listener.start()
            self.management = listener
            log.info("management API listening on http://%s:%d/", self._host, port)

    def listeners(self) -> list[Listener]:
        found = []
        if self.management is not None and self.management.port is not None:
            found.append(Listener("http", self._host, self.management.port))
        return found

    async def close(self) -> None:
        if self.management is not None:
            await self.management.close()
            self.management = None
