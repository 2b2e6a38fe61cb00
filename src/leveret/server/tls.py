"""The AMQPS listener: an SSLContext from ``ssl_options.*``, and the TLS handshake.

The handshake is done here rather than by ``create_server(ssl=...)``: asyncio (and
uvloop) swallow a failed server-side handshake (an ``OSError``, logged only in debug
mode), while an operator needs to see that a client was turned away and why, e.g. it
sent no certificate although ``fail_if_no_peer_cert`` asks for one.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

from leveret.server.config import TLSConfig

log = logging.getLogger("leveret.tls")

# ssl_options.versions.N values, as RabbitMQ (Erlang's ssl) spells them.
VERSIONS = {
    "tlsv1": ssl.TLSVersion.TLSv1,
    "tlsv1.1": ssl.TLSVersion.TLSv1_1,
    "tlsv1.2": ssl.TLSVersion.TLSv1_2,
    "tlsv1.3": ssl.TLSVersion.TLSv1_3,
}
VERIFY_MODES = ("verify_peer", "verify_none")


class TLSConfigError(ValueError):
    """The TLS settings cannot work; the message names the setting and the file."""


def _readable(setting: str, path: Path) -> None:
    try:
        with open(path, "rb"):
            pass
    except OSError as error:
        raise TLSConfigError(
            f"ssl_options.{setting}: cannot read {path}: {error.strerror or error}"
        ) from None


def _reason(error: ssl.SSLError) -> str:
    return str(error.reason or error.strerror or error).lower().replace("_", " ")


def build_context(tls: TLSConfig) -> ssl.SSLContext:
    """The server's SSLContext, or TLSConfigError before anything listens."""
    if tls.certfile is None or tls.keyfile is None:
        raise TLSConfigError("the TLS listener needs ssl_options.certfile and ssl_options.keyfile")
    if tls.verify not in VERIFY_MODES:
        raise TLSConfigError(
            f"ssl_options.verify must be verify_peer or verify_none, not {tls.verify!r}"
        )
    unknown = [v for v in tls.versions if v.lower() not in VERSIONS]
    if unknown or not tls.versions:
        raise TLSConfigError(
            f"ssl_options.versions: unknown {unknown or 'empty list'}; known: {', '.join(VERSIONS)}"
        )
    _readable("certfile", tls.certfile)
    _readable("keyfile", tls.keyfile)
    if tls.cacertfile is not None:
        _readable("cacertfile", tls.cacertfile)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # A contiguous range: the ssl module cannot enable 1.3 and 1.1 without 1.2.
    versions = sorted(VERSIONS[v.lower()] for v in tls.versions)
    try:
        context.minimum_version = versions[0]
        context.maximum_version = versions[-1]
    except ValueError as error:
        raise TLSConfigError(f"ssl_options.versions: {error}") from None
    try:
        context.load_cert_chain(tls.certfile, tls.keyfile, tls.password)
    except ssl.SSLError as error:
        raise TLSConfigError(
            f"ssl_options.certfile {tls.certfile} / ssl_options.keyfile {tls.keyfile}: "
            f"cannot load the certificate and key ({_reason(error)})"
        ) from None
    if tls.cacertfile is not None:
        try:
            context.load_verify_locations(cafile=tls.cacertfile)
        except ssl.SSLError as error:
            raise TLSConfigError(
                f"ssl_options.cacertfile {tls.cacertfile}: no usable CA certificate "
                f"({_reason(error)})"
            ) from None
    if tls.verify == "verify_peer":
        if tls.cacertfile is None:
            context.load_default_certs(ssl.Purpose.CLIENT_AUTH)
        # CERT_OPTIONAL asks for a certificate and checks one that is sent, but lets a
        # client without one in (to log in with a password): RabbitMQ's verify_peer
        # with fail_if_no_peer_cert = false.
        context.verify_mode = ssl.CERT_REQUIRED if tls.fail_if_no_peer_cert else ssl.CERT_OPTIONAL
    else:
        context.verify_mode = ssl.CERT_NONE
    if tls.ciphers:
        # TLS 1.2 cipher suites in OpenSSL's names; TLS 1.3's are not configurable here.
        try:
            context.set_ciphers(":".join(tls.ciphers))
        except ssl.SSLError:
            raise TLSConfigError(
                f"ssl_options.ciphers: none of {', '.join(tls.ciphers)} is usable"
            ) from None
    return context


class TLSListener:
    """Accepts TCP connections, does the TLS handshake, then hands the TLS transport to
    a fresh protocol (an AMQPConnection) as if it had been accepted directly.

    It accepts sockets itself and upgrades each with ``connect_accepted_socket``: that
    raises a failed handshake to the caller, and no byte is read from the socket
    before the TLS layer owns it (uvloop starts reading an accepted transport right
    after ``connection_made``, so a plain server plus ``start_tls`` could lose the
    ClientHello).
    """

    def __init__(
        self,
        context: ssl.SSLContext,
        make_protocol: Callable[[], asyncio.Protocol],
        handshake_timeout: float,
    ):
        self.context = context
        self.make_protocol = make_protocol
        self.handshake_timeout = handshake_timeout
        self._sock: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        # Handshakes under way; strong references, so they are not collected.
        self._tasks: set[asyncio.Task[None]] = set()

    def listen(self, host: str, port: int) -> int:
        """Bind and start accepting; the port bound (``port`` 0 picks a free one)."""
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        self._sock = socket.create_server((host, port), family=family, backlog=128)
        self._sock.setblocking(False)
        self._accepting = asyncio.get_running_loop().create_task(self._accept(self._sock))
        bound: int = self._sock.getsockname()[1]
        return bound

    def close(self) -> None:
        """Stop accepting and drop handshakes under way (not the connections made)."""
        if self._accepting is not None:
            self._accepting.cancel()
            self._accepting = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        for task in list(self._tasks):
            task.cancel()

    async def _accept(self, listening: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, address = await loop.sock_accept(listening)
            except OSError as error:
                # E.g. out of file descriptors: keep serving once some are freed.
                log.warning("AMQPS accept failed: %s", error)
                await asyncio.sleep(0.1)
                continue
            task = loop.create_task(self._upgrade(sock, address))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _upgrade(self, sock: socket.socket, address: object) -> None:
        where = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else "?"
        # The TLS layer may deliver the first application data (the client's AMQP
        # header) before this coroutine resumes: held here until the connection has
        # been told of its transport.
        early = _Early()
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.connect_accepted_socket(
                lambda: early,
                sock,
                ssl=self.context,
                ssl_handshake_timeout=self.handshake_timeout,
            )
        except Exception as error:  # whatever the client did wrong, it is only logged
            detail = _reason(error) if isinstance(error, ssl.SSLError) else str(error)
            log.warning(
                "TLS handshake with %s failed, closing the connection: %s",
                where,
                detail or type(error).__name__,
            )
            sock.close()
            return
        except asyncio.CancelledError:
            sock.close()
            raise
        protocol = self.make_protocol()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        for chunk in early.chunks:
            protocol.data_received(chunk)
        if early.lost:
            protocol.connection_lost(early.error)


class _Early(asyncio.Protocol):
    """Holds what the TLS transport reports before the real protocol takes over."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.lost = False
        self.error: Exception | None = None

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost, self.error = True, exc
