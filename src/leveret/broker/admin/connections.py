"""Client connections: list, look up and close (``rabbitmqctl list_connections`` /
``close_connection``, the management API's /api/connections)."""

from __future__ import annotations

from dataclasses import dataclass

from leveret.broker.admin.base import (
    AdminConnection,
    AdminNode,
    NotFound,
    get_vhost,
    open_connections,
    vhost_name,
)
from leveret.broker.stats import GaugeRates

PROTOCOL = "AMQP 0-9-1"
# The reason RabbitMQ gives a client whose connection was closed from the management UI
# without one (it sends it as the whole reply text).
DEFAULT_CLOSE_REASON = "Closed via management plugin"


@dataclass(frozen=True)
class TlsDetails:
    """A TLS connection's session, in the words of RabbitMQ's ``ssl_*`` fields."""

    protocol: str  # "tlsv1.3"
    key_exchange: str  # "ecdhe_rsa"; "any" for TLS 1.3, whose suites do not name one
    cipher: str  # "aes_256_gcm"
    hash: str  # "sha384"


@dataclass(frozen=True)
class ConnectionInfo:
    """One client connection as the broker sees it."""

    peer: tuple[str, int] | None
    vhost: str | None  # None until the client has opened a vhost
    user: str | None
    channels: int
    client_properties: dict[str, object]
    name: str = ""
    local: tuple[str, int] | None = None
    state: str = "running"
    auth_mechanism: str | None = None
    connected_at: float = 0.0  # time.time()
    frame_max: int = 0
    channel_max: int = 0
    timeout: int = 0  # the negotiated heartbeat, seconds
    tls: TlsDetails | None = None
    recv_oct: int = 0
    recv_cnt: int = 0
    send_oct: int = 0
    send_cnt: int = 0
    octet_rates: GaugeRates | None = None


def _address(address: tuple[str, int] | None) -> str:
    if address is None:
        return "?"
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def connection_name(conn: AdminConnection) -> str:
    """RabbitMQ's name of a connection: "client address -> server address" (the name a
    client gives itself is shown apart, as ``user_provided_name``)."""
    return f"{_address(conn.peer)} -> {_address(conn.local)}"


def connection_state(conn: AdminConnection) -> str:
    """RabbitMQ's connection states: a publisher held back by a resource alarm is
    "blocked", one slowed down because its queues' consumers fall behind is "flow"."""
    paused = conn.paused_by
    if "alarm" in paused:
        return "blocked"
    if "flow" in paused:
        return "flow"
    return "running"


def tls_details(session: tuple[str, str] | None) -> TlsDetails | None:
    """OpenSSL's protocol and cipher-suite names in Erlang's (RabbitMQ's) words."""
    if session is None:
        return None
    version, suite = session
    protocol = version.lower()  # "TLSv1.3" -> "tlsv1.3"
    if suite.startswith("TLS_"):  # TLS 1.3 suites name no key exchange: TLS_AES_256_GCM_SHA384
        parts = suite[4:].lower().split("_")
        return TlsDetails(protocol, "any", "_".join(parts[:-1]), parts[-1])
    # TLS 1.2 and older: ECDHE-RSA-AES256-GCM-SHA384
    parts = suite.lower().split("-")
    exchange: list[str] = []
    while len(parts) > 2 and parts[0] in KEY_EXCHANGE_WORDS:
        exchange.append(parts.pop(0))
    digest = parts.pop() if len(parts) > 1 else ""
    cipher = "_".join(_erlang_cipher_word(part) for part in parts)
    return TlsDetails(protocol, "_".join(exchange) or "rsa", cipher, digest)


KEY_EXCHANGE_WORDS = frozenset({"ecdhe", "dhe", "rsa", "ecdsa", "psk", "dh", "ecdh"})


def _erlang_cipher_word(part: str) -> str:
    # OpenSSL's "aes256" is Erlang's "aes_256".
    for prefix in ("aes", "camellia"):
        if part.startswith(prefix) and part[len(prefix) :].isdigit():
            return f"{prefix}_{part[len(prefix) :]}"
    return part


def connection_info(conn: AdminConnection) -> ConnectionInfo:
    return ConnectionInfo(
        peer=conn.peer,
        vhost=vhost_name(conn.vhost),
        user=conn.user.name if conn.user is not None else None,
        channels=len(conn.sessions),
        # A copy: the caller may change it without touching the connection's own.
        client_properties=dict(conn.client_properties),
        name=connection_name(conn),
        local=conn.local,
        state=connection_state(conn),
        auth_mechanism=conn.auth_mechanism,
        connected_at=conn.connected_at,
        frame_max=conn.frame_max,
        channel_max=conn.channel_max,
        timeout=conn.heartbeat,
        tls=tls_details(conn.tls_session),
        recv_oct=conn.recv_oct,
        recv_cnt=conn.recv_cnt,
        send_oct=conn.send_oct,
        send_cnt=conn.send_cnt,
        octet_rates=conn.octet_rates,
    )


def list_connections(node: AdminNode, vhost: str | None = None) -> list[ConnectionInfo]:
    """Open client connections (those on ``vhost`` if given), in the order they came."""
    connections = open_connections(node, vhost)
    connections.sort(key=lambda conn: conn.connected_at)
    return [connection_info(conn) for conn in connections]


def find_connection(node: AdminNode, name: str) -> AdminConnection:
    """The open connection RabbitMQ would call ``name``; NotFound if there is none."""
    for conn in open_connections(node):
        if connection_name(conn) == name:
            return conn
    raise NotFound(f"no connection {name!r}")


def get_connection(node: AdminNode, name: str) -> ConnectionInfo:
    return connection_info(find_connection(node, name))


def close_connection(node: AdminNode, name: str, reason: str | None = None) -> None:
    """Close one connection with 320 CONNECTION_FORCED; ``reason`` is the whole reply
    text after "CONNECTION_FORCED - ", as RabbitMQ's management API sends it."""
    find_connection(node, name).close_forced(reason or DEFAULT_CLOSE_REASON, verbatim=True)


def close_connections(
    node: AdminNode, vhost: str | None = None, reason: str = "closed by test"
) -> int:
    """Close client connections (those on ``vhost`` if given) with 320 CONNECTION_FORCED and
    ``reason``; returns how many. Naming a vhost that does not exist raises NotFound, so a
    typo does not pass as "nothing to close"."""
    if vhost is not None:
        get_vhost(node, vhost)
    closing = open_connections(node, vhost)
    for conn in closing:
        conn.close_forced(reason)
    return len(closing)
