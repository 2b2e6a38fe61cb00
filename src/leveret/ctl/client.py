"""The client side of the control socket: one JSON line out, one back (server/control.py)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any


class Unreachable(Exception):
    """No broker answers on the socket: exit 69 (EX_UNAVAILABLE)."""


class TimedOut(Exception):
    """The broker did not answer in time: exit 75 (EX_TEMPFAIL), as rabbitmqctl's timeout."""


class Client:
    def __init__(self, path: Path, timeout: float = 60.0):
        self.path = path
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buffer = b""

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.path))
        except PermissionError:
            sock.close()
            raise Unreachable(
                f"permission denied on the control socket {self.path}: only the OS user "
                "running the broker (or root) may use it"
            ) from None
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
            # No socket file: no broker; a file nobody listens on: a broker that was killed.
            sock.close()
            raise Unreachable(self._not_running()) from None
        except OSError as error:
            sock.close()
            raise Unreachable(f"{self._not_running()} ({error.strerror or error})") from None
        self._sock = sock

    def _not_running(self) -> str:
        return (
            f"cannot reach the broker: is `leveret serve` running with data dir {self.path.parent}?"
        )

    def call(self, command: str, args: dict[str, Any]) -> dict[str, Any]:
        if self._sock is None:
            self.connect()
        assert self._sock is not None
        line = json.dumps({"command": command, "args": args}).encode() + b"\n"
        try:
            self._sock.sendall(line)
            while b"\n" not in self._buffer:
                chunk = self._sock.recv(65536)
                if not chunk:
                    raise Unreachable("the broker closed the control connection (stopping?)")
                self._buffer += chunk
        except TimeoutError:
            raise TimedOut(f"no reply from the broker within {self.timeout:g} seconds") from None
        except (BrokenPipeError, ConnectionResetError):
            raise Unreachable("the broker closed the control connection (stopping?)") from None
        reply, _, self._buffer = self._buffer.partition(b"\n")
        decoded = json.loads(reply)
        if not isinstance(decoded, dict):
            raise Unreachable("unexpected reply on the control socket")
        return decoded

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
