"""Serve an aiohttp application on the broker's event loop, on one host and port."""

from __future__ import annotations

from aiohttp import web


class HttpListener:
    """One application on one port; ``start`` returns the port really bound (0 picks one)."""

    def __init__(self, app: web.Application, host: str, port: int):
        self._app = app
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> int:
        # No access log: a dashboard polling every few seconds would fill the broker's log.
        runner = web.AppRunner(self._app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        server = site._server  # the asyncio server: the only place the bound port is
        assert server is not None
        sockets = getattr(server, "sockets", None) or ()
        self.port = sockets[0].getsockname()[1] if sockets else self._port
        return self.port

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
