"""What the admin functions need of the node and its connections, and the lookups they share.

The node (``server.node.Node``) and the connections (``server.connection.AMQPConnection``)
live in the server layer, which broker/ must not import, not even for type checking (the
layering rule is meant to be checked by import-linter, which sees those imports too). The
Protocols below name the few members the admin functions use; mypy checks that the real
classes satisfy them wherever a Node is passed in.
"""

from __future__ import annotations

from collections.abc import Mapping, Set, Sized
from typing import Protocol

from leveret.broker.access import AccessControl, User
from leveret.broker.channel import Channel
from leveret.broker.exchange import Exchange
from leveret.broker.message import Message, QueueEntry
from leveret.broker.publish import Confirms, SyncWaiter
from leveret.broker.queue import Queue
from leveret.broker.stats import GaugeRates
from leveret.broker.vhost import VirtualHost


class NotFound(LookupError):
    """The vhost, queue or user an admin operation was asked about does not exist."""


class AdminSession(Protocol):
    """An open channel of a connection."""

    @property
    def channel(self) -> Channel: ...
    @property
    def number(self) -> int: ...
    @property
    def confirms(self) -> Confirms | None:
        """Publisher confirms (None until confirm.select)."""
        ...

    @property
    def tx_publishes(self) -> Sized | None:
        """Publishes held for tx.commit (None outside tx mode)."""
        ...

    @property
    def tx_settles(self) -> Sized:
        """Acks, nacks and rejects held for tx.commit."""
        ...


class AdminConnection(Protocol):
    """A client connection as administration sees it."""

    @property
    def peer(self) -> tuple[str, int] | None: ...
    @property
    def vhost(self) -> VirtualHost | None: ...
    @property
    def user(self) -> User | None: ...
    @property
    def sessions(self) -> Mapping[int, AdminSession]: ...
    @property
    def client_properties(self) -> Mapping[str, object]: ...
    @property
    def closed(self) -> bool: ...
    @property
    def local(self) -> tuple[str, int] | None:
        """The server's end of the socket."""
        ...

    @property
    def frame_max(self) -> int: ...
    @property
    def channel_max(self) -> int: ...
    @property
    def heartbeat(self) -> int:
        """The negotiated heartbeat timeout in seconds (0: none)."""
        ...

    @property
    def connected_at(self) -> float:
        """time.time() when the client connected."""
        ...

    @property
    def auth_mechanism(self) -> str | None:
        """The SASL mechanism the client logged in with (None before it did)."""
        ...

    @property
    def paused_by(self) -> Set[str]:
        """Why reading is paused: "alarm" (blocked by a resource alarm), "flow", ..."""
        ...

    @property
    def tls_session(self) -> tuple[str, str] | None:
        """(protocol version, cipher suite) as OpenSSL names them; None for plain TCP."""
        ...

    # Octets and socket reads/writes since the connection was accepted (RabbitMQ's
    # recv_oct/recv_cnt/send_oct/send_cnt).
    @property
    def recv_oct(self) -> int: ...
    @property
    def recv_cnt(self) -> int: ...
    @property
    def send_oct(self) -> int: ...
    @property
    def send_cnt(self) -> int: ...
    @property
    def octet_rates(self) -> GaugeRates:
        """Rates of recv_oct and send_oct, sampled by the statistics timer."""
        ...

    def close_forced(self, reason: str, *, verbatim: bool = False) -> None:
        """Send connection.close 320 CONNECTION_FORCED with ``reason`` (the whole reply
        text if ``verbatim``) and drop the client."""
        ...


class AdminNode(Protocol):
    """The running broker: its vhosts, users, connections and resource alarms."""

    @property
    def vhosts(self) -> dict[str, VirtualHost]: ...
    @property
    def access(self) -> AccessControl: ...
    @property
    def connections(self) -> Set[AdminConnection]: ...
    @property
    def alarms(self) -> Set[str]: ...

    def add_vhost(self, name: str) -> VirtualHost:
        """Create and register a vhost (the node wires its scheduler, clock and storage)."""
        ...

    def set_alarm(self, resource: str, active: bool) -> None: ...

    @property
    def message_store(self) -> SyncWaiter | None:
        """Where persistent messages are written (None: in memory only); a publish that
        wants its confirm waits on it."""
        ...

    def deliver_reply(self, key: str, message: Message) -> bool:
        """Direct reply-to: hand a reply to the channel consuming ``key``'s replies."""
        ...


def get_vhost(node: AdminNode, name: str) -> VirtualHost:
    vhost = node.vhosts.get(name)
    if vhost is None:
        raise NotFound(f"no vhost {name!r}")
    return vhost


def get_queue(node: AdminNode, vhost: str, name: str) -> Queue:
    queue = get_vhost(node, vhost).queues.get(name)
    if queue is None:
        raise NotFound(f"no queue {name!r} in vhost {vhost!r}")
    return queue


def get_exchange(node: AdminNode, vhost: str, name: str) -> Exchange:
    exchange = get_vhost(node, vhost).exchanges.get(name)
    if exchange is None:
        raise NotFound(f"no exchange {name!r} in vhost {vhost!r}")
    return exchange


def vhost_name(vhost: VirtualHost | None) -> str | None:
    return vhost.name if vhost is not None else None


def open_connections(node: AdminNode, vhost: str | None = None) -> list[AdminConnection]:
    """The connections not yet closed (those on ``vhost`` if given); a copy, so the caller
    may close them while walking the list."""
    return [
        conn
        for conn in list(node.connections)
        if not conn.closed and (vhost is None or vhost_name(conn.vhost) == vhost)
    ]


def connections_by_identity(node: AdminNode) -> dict[int, AdminConnection]:
    """The node's connections by ``id``: a queue's exclusive owner and a channel's
    connection are held as plain objects, and this finds the connection they are."""
    return {id(conn): conn for conn in list(node.connections)}


def unacked_by_queue(node: AdminNode, vhost: str) -> dict[Queue, list[QueueEntry]]:
    """Deliveries awaiting acknowledgement on the vhost's connections, by queue.

    Queues do not keep their delivered messages (the channel that delivered them does, as in
    RabbitMQ), so the unacknowledged count of a queue is gathered from the channels.
    """
    found: dict[Queue, list[QueueEntry]] = {}
    for conn in list(node.connections):
        if vhost_name(conn.vhost) != vhost:
            continue
        for session in list(conn.sessions.values()):
            for delivery in session.channel.unacked.values():
                found.setdefault(delivery.queue, []).append(delivery.entry)
    return found
