"""The control socket: how ``leveret ctl`` reaches a running broker.

A Unix domain socket in the data directory (``leveret-ctl.sock``), mode 0600: only the
broker's OS user (and root) can connect, and that is the whole of its access control, as
rabbitmqctl relies on the Erlang cookie file being readable by that user only. It needs
no credentials and no HTTP server, so it works on any broker started with a data dir.

Protocol: one JSON object per line each way. The request is
``{"command": NAME, "args": {...}}``; the reply ``{"ok": true, "result": ...}`` or
``{"ok": false, "error": TEXT, "kind": CLASS}`` where TEXT is rabbitmqctl's message and
CLASS the refusal's class name (``NoSuchUser``...), from which the CLI picks its exit code.
A client may send several requests on one connection.

Operations (broker/admin/operations.py) run synchronously on the broker's loop, between
two AMQP frames as it were: no await in the middle, so no race with AMQP traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from pathlib import Path
from typing import Any

from leveret.broker.access import AccessError
from leveret.broker.admin.base import NotFound
from leveret.broker.admin.health import ControlNode
from leveret.broker.admin.operations import OPERATIONS
from leveret.server.config import CONTROL_SOCKET

log = logging.getLogger("leveret.control")

# Room for a definitions import in one request line.
MAX_REQUEST = 256 * 1024 * 1024


def socket_path(data_dir: Path) -> Path:
    return data_dir / CONTROL_SOCKET


def execute(node: ControlNode, request: object) -> dict[str, Any]:
    """Run one request; the reply as a JSON-able dict. Never raises for a bad request."""
    if not isinstance(request, dict):
        return refusal("request must be a JSON object", "BadRequest")
    name = request.get("command")
    args = request.get("args", {})
    function = OPERATIONS.get(name) if isinstance(name, str) else None
    if function is None:
        return refusal(f"Command '{name}' not found.", "UnknownCommand")
    if not isinstance(args, dict):
        return refusal("args must be a JSON object", "BadRequest")
    try:
        result = function(node, args)
    except (AccessError, NotFound) as error:
        return refusal(str(error), type(error).__name__)
    except Exception as error:
        # A bug must not take the socket (or the broker) down; the client exits 70.
        log.exception("control command %s failed", name)
        return refusal(f"{type(error).__name__}: {error}", "InternalError")
    return {"ok": True, "result": result}


def refusal(text: str, kind: str) -> dict[str, Any]:
    return {"ok": False, "error": text, "kind": kind}


class ControlServer:
    def __init__(self, node: ControlNode, path: Path):
        self.node = node
        self.path = path
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen on the socket. Any file already there is stale: the caller holds the data
        directory's lock, so no other broker can be serving it."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(self.path))
            # Restricted before listen(): until then nobody can connect, so there is no
            # moment when the socket is open to other users.
            os.chmod(self.path, 0o600)
            self._server = await asyncio.start_unix_server(
                self._serve, sock=sock, limit=MAX_REQUEST
            )
        except OSError as error:
            # A path past the Unix socket length limit (about 100 bytes), say: the broker
            # still serves AMQP, only `leveret ctl` cannot reach it.
            sock.close()
            self._remove()
            log.warning(
                "no control socket at %s (leveret ctl cannot reach this broker): %s",
                self.path,
                error.strerror or error,
            )
        except BaseException:
            sock.close()
            self._remove()
            raise

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        try:
            while True:
                try:
                    line = await reader.readline()
                except ValueError:  # longer than MAX_REQUEST
                    writer.write(encode(refusal("request too large", "BadRequest")))
                    break
                if not line:
                    break
                try:
                    request = json.loads(line)
                except ValueError:
                    reply = refusal("request is not JSON", "BadRequest")
                else:
                    reply = execute(self.node, request)
                writer.write(encode(reply))
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            if task is not None:
                self._clients.discard(task)

    async def close(self) -> None:
        """Stop listening, drop clients, remove the socket file."""
        if self._server is not None:
            self._server.close()
            for task in list(self._clients):
                task.cancel()
            await self._server.wait_closed()
            self._server = None
        self._remove()

    def _remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def encode(reply: dict[str, Any]) -> bytes:
    # default=str: a value JSON lacks (a Decimal in queue arguments...) is shown as text
    # rather than failing the whole reply.
    return json.dumps(reply, default=str).encode() + b"\n"
