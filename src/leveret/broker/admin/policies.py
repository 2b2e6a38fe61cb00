"""Policies and operator policies: set, clear, list (``rabbitmqctl set_policy`` and friends,
``/api/policies``, ``/api/operator-policies``).

Each change is stored (with the access records, kind ``policy`` or ``operator_policy``)
before it takes effect, then applied to the vhost's live queues and exchanges at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from leveret.broker.admin.base import AdminNode, NotFound, get_vhost
from leveret.broker.policies import Policy, make_policy
from leveret.broker.vhost import VirtualHost

KINDS = ("policy", "operator_policy")


def _kind(operator: bool) -> str:
    return "operator_policy" if operator else "policy"


def _held(vhost: VirtualHost, operator: bool) -> dict[str, Policy]:
    return vhost.operator_policies if operator else vhost.policies


def _store(
    node: AdminNode,
    puts: Sequence[tuple[str, str, dict[str, Any]]],
    deletes: Sequence[tuple[str, str]],
) -> None:
    store = node.access.store
    if store is not None:
        store.write_access(puts, deletes)


def set_policy(
    node: AdminNode,
    vhost: str,
    name: str,
    pattern: object,
    definition: object,
    *,
    priority: object = 0,
    apply_to: object = "all",
    operator: bool = False,
) -> Policy:
    """Add or replace a policy; ``PolicyError`` (RabbitMQ's validation text) if invalid."""
    host = get_vhost(node, vhost)
    policy = make_policy(
        vhost, name, pattern, definition, priority=priority, apply_to=apply_to, operator=operator
    )
    _store(node, [(_kind(operator), policy.store_key, policy.to_json())], [])
    _held(host, operator)[name] = policy
    host.apply_policies()
    return policy


def clear_policy(node: AdminNode, vhost: str, name: str, *, operator: bool = False) -> None:
    host = get_vhost(node, vhost)
    held = _held(host, operator)
    policy = held.get(name)
    if policy is None:
        raise NotFound(f"no policy {name!r} in vhost {vhost!r}")
    _store(node, [], [(_kind(operator), policy.store_key)])
    del held[name]
    host.apply_policies()


def get_policy(node: AdminNode, vhost: str, name: str, *, operator: bool = False) -> Policy:
    policy = _held(get_vhost(node, vhost), operator).get(name)
    if policy is None:
        raise NotFound(f"no policy {name!r} in vhost {vhost!r}")
    return policy


def list_names(node: AdminNode, vhost: str, *, operator: bool = False) -> list[str]:
    return sorted(_held(get_vhost(node, vhost), operator))


def list_policies(
    node: AdminNode, vhost: str | None = None, *, operator: bool = False
) -> list[Policy]:
    """By vhost, then priority (lowest first) and name, as RabbitMQ lists them; every
    vhost when ``vhost`` is None."""
    hosts: Iterable[VirtualHost] = (
        [get_vhost(node, vhost)] if vhost is not None else node.vhosts.values()
    )
    found = [p for host in hosts for p in _held(host, operator).values()]
    return sorted(found, key=lambda p: (p.vhost, p.priority, p.name))


def forget_vhost_policies(node: AdminNode, vhost: VirtualHost) -> None:
    """A deleted vhost's policies leave the store too."""
    deletes = [
        (_kind(operator), policy.store_key)
        for operator in (False, True)
        for policy in _held(vhost, operator).values()
    ]
    if deletes:
        _store(node, [], deletes)


def install_stored_policies(
    vhost: VirtualHost, records: Iterable[tuple[str, str, Mapping[str, Any]]]
) -> None:
    """At boot, before the vhost's queues are restored: its stored policies."""
    for kind, _key, value in records:
        if kind in KINDS and value.get("vhost") == vhost.name:
            policy = Policy.from_json(value)
            _held(vhost, kind == "operator_policy")[policy.name] = policy
