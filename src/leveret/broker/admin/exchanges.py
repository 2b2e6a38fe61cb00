"""Exchanges: list, declare and delete (``rabbitmqctl list_exchanges``, the management
API's /api/exchanges)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from leveret.amqp.errors import ACCESS_REFUSED, ChannelError
from leveret.broker.access import Grant
from leveret.broker.admin.base import AdminNode, get_exchange, get_vhost
from leveret.broker.exchange import Exchange
from leveret.broker.stats import MessageStats

# The default exchange's name where a name cannot be empty (URL paths, permissions).
DEFAULT_EXCHANGE = "amq.default"


@dataclass(frozen=True)
class ExchangeInfo:
    vhost: str
    name: str
    type: str
    durable: bool
    auto_delete: bool
    internal: bool
    arguments: dict[str, object] = field(default_factory=dict)
    stats: MessageStats | None = None
    policy: str | None = None
    # Pending messages of an x-delayed-message exchange (the plugin's UI shows this).
    messages_delayed: int | None = None


def exchange_info(vhost: str, exchange: Exchange) -> ExchangeInfo:
    return ExchangeInfo(
        vhost=vhost,
        name=exchange.name,
        type=exchange.type_name,
        durable=exchange.durable,
        auto_delete=exchange.auto_delete,
        internal=exchange.internal,
        arguments=dict(exchange.arguments),
        stats=exchange.stats,
        policy=exchange.policy.name if exchange.policy is not None else None,
        messages_delayed=exchange.delayed.count if exchange.delayed is not None else None,
    )


def list_exchanges(node: AdminNode, vhost: str | None = None) -> list[ExchangeInfo]:
    """The exchanges of ``vhost`` (of every vhost if None), by vhost and name; the default
    exchange first, as its name is empty."""
    names = sorted(node.vhosts) if vhost is None else [get_vhost(node, vhost).name]
    return [
        exchange_info(name, exchange)
        for name in names
        for exchange in sorted(node.vhosts[name].exchanges.values(), key=lambda x: x.name)
    ]


def get_exchange_info(node: AdminNode, vhost: str, name: str) -> ExchangeInfo:
    """One exchange; ``name`` may be "" or "amq.default" for the default exchange."""
    return exchange_info(vhost, get_exchange(node, vhost, actual_name(name)))


def actual_name(name: str) -> str:
    """The exchange ``name`` stands for: "amq.default" is the default exchange ("")."""
    return "" if name == DEFAULT_EXCHANGE else name


def declare_exchange(
    node: AdminNode,
    vhost: str,
    name: str,
    type_name: str,
    *,
    durable: bool = False,
    auto_delete: bool = False,
    internal: bool = False,
    arguments: Mapping[str, object] | None = None,
    grant: Grant | None = None,
) -> bool:
    """Declare an exchange as exchange.declare would; True if it was created, False if an
    equivalent one exists. ``grant``: the acting user's permissions (configure), None for
    an operator. Raises the ChannelError exchange.declare would."""
    runtime = get_vhost(node, vhost)
    name = actual_name(name)
    if grant is not None:
        grant.check_configure("exchange", name)
    existed = name in runtime.exchanges
    runtime.declare_exchange(
        name,
        type_name,
        durable=durable,
        auto_delete=auto_delete,
        internal=internal,
        arguments=arguments,
    )
    return not existed


def delete_exchange(
    node: AdminNode,
    vhost: str,
    name: str,
    *,
    if_unused: bool = False,
    grant: Grant | None = None,
) -> None:
    """Delete an exchange (NotFound if it is not there). The default and amq.* exchanges
    cannot be deleted (ACCESS_REFUSED); ``if_unused`` refuses one that has bindings."""
    runtime = get_vhost(node, vhost)
    name = actual_name(name)
    if name == "":
        raise ChannelError(ACCESS_REFUSED, "operation not permitted on the default exchange")
    get_exchange(node, vhost, name)
    if grant is not None:
        grant.check_configure("exchange", name)
    runtime.delete_exchange(name, if_unused=if_unused)
