"""Definitions: the broker's topology as RabbitMQ's definitions JSON (export and import).

The document is the one ``rabbitmqctl export_definitions`` writes and ``import_definitions``
reads (users, vhosts, permissions, topic permissions, parameters, policies, queues,
exchanges, bindings), so a topology moves between RabbitMQ and Leveret both ways; operator
policies travel as parameters of the ``operator_policy`` component, as RabbitMQ writes
them. Users keep their password hashes, which are in RabbitMQ's format
(access/passwords.py), so they log in with their old passwords after a move.

Import follows RabbitMQ's order (users, vhosts, permissions, limits and policies,
exchanges, queues, bindings) and, as RabbitMQ, declares what is missing and leaves what is
equivalent alone, so importing a file twice changes nothing. What Leveret does not
implement (runtime parameters other than vhost limits and operator policies, exchange
types it lacks) is skipped with one warning per part; an entry that cannot be applied (a
queue declared differently already, a binding whose exchange is absent, an invalid policy)
is skipped with a warning naming it. The function returns the warnings rather than
raising, so one bad entry does not leave an import half done.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from leveret.amqp import table
from leveret.amqp.errors import AMQPError
from leveret.broker.access import AccessError
from leveret.broker.access.model import USER_LIMITS, VHOST_LIMITS
from leveret.broker.access.passwords import ALGORITHMS, SHA256, hash_password
from leveret.broker.admin.base import AdminNode, NotFound, get_vhost
from leveret.broker.admin.jsonable import to_json
from leveret.broker.admin.policies import list_policies, set_policy
from leveret.broker.delayed import DELAYED_TYPE
from leveret.broker.exchange import Exchange
from leveret.broker.exchange_types import EXCHANGE_TYPES
from leveret.broker.policies import PolicyError
from leveret.broker.queue import Queue
from leveret.version import __version__

# The layout written is RabbitMQ 3.10's (user tags as a list, vhost metadata); RabbitMQ does
# not check the version on import, it is there for people reading the file.
RABBIT_VERSION = "3.10.0"
PRODUCT_NAME = "Leveret"
# The parameter component RabbitMQ stores vhost limits under.
VHOST_LIMITS_COMPONENT = "vhost-limits"
OPERATOR_POLICY_COMPONENT = "operator_policy"
# The global parameters Leveret knows: the cluster name is applied; RabbitMQ's own cluster
# identity means nothing to another broker and is dropped without a warning.
CLUSTER_NAME = "cluster_name"
IGNORED_GLOBALS = frozenset({"internal_cluster_id"})
# How many names a warning lists before it says "and N more".
NAMES_SHOWN = 5


class DefinitionsFileError(RuntimeError):
    """A definitions file cannot be read or is not a definitions document; the message
    names the file and the reason, in one line."""


def read_definitions_file(path: Path) -> dict[str, Any]:
    """Read and parse a definitions file (``load_definitions``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise DefinitionsFileError(f"cannot read definitions file {path}: {reason}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise DefinitionsFileError(
            f"definitions file {path} is not valid JSON: {error.msg} at line {error.lineno} "
            f"column {error.colno}"
        ) from None
    if not isinstance(data, dict):
        raise DefinitionsFileError(
            f"definitions file {path} is not a definitions document (a JSON object)"
        )
    return data


# -- export ---------------------------------------------------------------------------------


def _arguments(arguments: Mapping[str, object]) -> dict[str, Any]:
    return {str(k): to_json(v) for k, v in arguments.items()}


def _exported_queue(queue: Queue) -> bool:
    # As RabbitMQ: an exclusive queue dies with its connection and a server-named one
    # cannot be declared by name, so neither belongs in a file meant for another broker.
    return queue.exclusive_owner is None and not queue.name.startswith("amq.")


def _exported_exchange(exchange: Exchange) -> bool:
    # The default and amq.* exchanges exist on every vhost; they are not exported.
    return exchange.name != "" and not exchange.name.startswith("amq.")


def export_definitions(node: AdminNode, vhost: str | None = None) -> dict[str, Any]:
    """The whole broker as a definitions document; with ``vhost``, that vhost only (its
    entry, its permissions and the users they name, its limits, exchanges, queues and
    bindings), still a document that imports on its own."""
    access = node.access
    names = sorted(node.vhosts) if vhost is None else [get_vhost(node, vhost).name]
    in_scope = set(names)
    permissions = [p for p in access.permissions.values() if p.vhost in in_scope]
    topic_permissions = [t for t in access.topic_permissions.values() if t.vhost in in_scope]
    user_names = (
        set(access.users)
        if vhost is None
        else {p.user for p in permissions} | {t.user for t in topic_permissions}
    )
    users = [
        {
            "name": user.name,
            # RabbitMQ writes "" for a user without a password (certificate logins only).
            "password_hash": user.password_hash or "",
            "hashing_algorithm": user.hashing_algorithm,
            "tags": list(user.tags),
            "limits": dict(access.user_limits.get(user.name, {})),
        }
        for user in access.list_users()
        if user.name in user_names
    ]
    vhosts = []
    parameters = []
    for name in names:
        info = access.vhosts.get(name)
        metadata: dict[str, Any] = {
            "description": info.description if info else "",
            "tags": list(info.tags) if info else [],
        }
        if info is not None and info.default_queue_type is not None:
            metadata["default_queue_type"] = info.default_queue_type
        limits = access.vhost_limits.get(name, {})
        vhosts.append(
            {"name": name, "limits": [[k, v] for k, v in limits.items()], "metadata": metadata}
        )
        if limits:
            parameters.append(
                {
                    "vhost": name,
                    "component": VHOST_LIMITS_COMPONENT,
                    "name": "limits",
                    "value": dict(limits),
                }
            )
        # RabbitMQ exports operator policies as runtime parameters of their component.
        for policy in list_policies(node, name, operator=True):
            value = policy.to_json()
            parameters.append(
                {
                    "vhost": name,
                    "component": OPERATOR_POLICY_COMPONENT,
                    "name": policy.name,
                    "value": {
                        k: value[k] for k in ("pattern", "definition", "priority", "apply-to")
                    },
                }
            )
    exchanges: list[dict[str, Any]] = []
    queues: list[dict[str, Any]] = []
    bindings: list[dict[str, Any]] = []
    for name in names:
        runtime = node.vhosts[name]
        for queue in sorted(runtime.queues.values(), key=lambda q: q.name):
            if _exported_queue(queue):
                queues.append(
                    {
                        "name": queue.name,
                        "vhost": name,
                        "durable": queue.durable,
                        "auto_delete": queue.auto_delete,
                        "arguments": _arguments(queue.arguments),
                        "type": queue.options.queue_type,
                    }
                )
        for exchange in sorted(runtime.exchanges.values(), key=lambda x: x.name):
            if _exported_exchange(exchange):
                exchanges.append(
                    {
                        "name": exchange.name,
                        "vhost": name,
                        "type": exchange.type_name,
                        "durable": exchange.durable,
                        "auto_delete": exchange.auto_delete,
                        "internal": exchange.internal,
                        "arguments": _arguments(exchange.arguments),
                    }
                )
            if exchange.name == "":
                continue  # its bindings are implicit, one per queue
            for destination, routing_key, arguments in exchange.router.bindings():
                if isinstance(destination, Queue):
                    if not _exported_queue(destination):
                        continue
                    kind = "queue"
                elif isinstance(destination, Exchange):
                    kind = "exchange"
                else:
                    continue
                bindings.append(
                    {
                        "source": exchange.name,
                        "vhost": name,
                        "destination": destination.name,
                        "destination_type": kind,
                        "routing_key": routing_key,
                        "arguments": _arguments(arguments),
                    }
                )
    return {
        "rabbit_version": RABBIT_VERSION,
        "rabbitmq_version": RABBIT_VERSION,
        "product_name": PRODUCT_NAME,
        "product_version": __version__,
        "users": users,
        "vhosts": vhosts,
        "permissions": [
            {
                "user": p.user,
                "vhost": p.vhost,
                "configure": p.configure,
                "write": p.write,
                "read": p.read,
            }
            for p in sorted(permissions, key=lambda p: (p.vhost, p.user))
        ],
        "topic_permissions": [
            {
                "user": t.user,
                "vhost": t.vhost,
                "exchange": t.exchange,
                "write": t.write,
                "read": t.read,
            }
            for t in sorted(topic_permissions, key=lambda t: (t.vhost, t.user, t.exchange))
        ],
        "parameters": parameters,
        "global_parameters": (
            [{"name": CLUSTER_NAME, "value": access.cluster_name}]
            if access.cluster_name is not None
            else []
        ),
        "policies": [p.to_json() for name in names for p in list_policies(node, name)],
        "queues": queues,
        "exchanges": exchanges,
        "bindings": bindings,
    }


# The parts of a vhost's own definitions document (GET /api/definitions/{vhost}).
VHOST_PARTS = ("parameters", "policies", "queues", "exchanges", "bindings")


def export_vhost_definitions(node: AdminNode, vhost: str) -> dict[str, Any]:
    """One vhost's topology as RabbitMQ writes it for ``/api/definitions/{vhost}``: its
    parameters, policies, queues, exchanges and bindings, without users or permissions,
    and without the vhost's name in the entries, so that it imports into any vhost."""
    whole = export_definitions(node, vhost)
    document: dict[str, Any] = {"rabbit_version": whole["rabbit_version"]}
    for part in VHOST_PARTS:
        entries = whole[part]
        if part != "parameters":
            entries = [{k: v for k, v in entry.items() if k != "vhost"} for entry in entries]
        document[part] = entries
    return document


def import_vhost_definitions(node: AdminNode, vhost: str, data: dict[str, Any]) -> list[str]:
    """Import a document's parameters, policies, queues, exchanges and bindings into
    ``vhost``, whatever vhost its entries name (users, vhosts and permissions are left
    out), as ``POST /api/definitions/{vhost}`` does; returns the warnings."""
    if not isinstance(data, dict):
        raise DefinitionsFileError("not a definitions document (a JSON object)")
    get_vhost(node, vhost)
    scoped: dict[str, Any] = {}
    for part in VHOST_PARTS:
        entries = data.get(part)
        if isinstance(entries, list):
            entries = [
                {**entry, "vhost": vhost} if isinstance(entry, dict) else entry for entry in entries
            ]
        if entries is not None:
            scoped[part] = entries
    return import_definitions(node, scoped)


# -- import ---------------------------------------------------------------------------------


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:NAMES_SHOWN])
    more = len(names) - NAMES_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def _items(data: Mapping[str, Any], part: str, warnings: list[str]) -> list[dict[str, Any]]:
    """The entries of one part; a part that is not a list of objects is skipped whole."""
    value = data.get(part)
    if value is None:
        return []
    if not isinstance(value, list):
        warnings.append(f"{part}: not a list, skipped")
        return []
    entries = [item for item in value if isinstance(item, dict)]
    if len(entries) != len(value):
        warnings.append(f"{part}: {len(value) - len(entries)} entries are not objects, skipped")
    return entries


def _tags(value: object) -> list[str]:
    """Tags as a list (RabbitMQ 3.9+) or a comma-separated string (older files)."""
    if isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    if isinstance(value, list):
        return [str(t) for t in value if str(t)]
    return []


def _text(entry: Mapping[str, Any], key: str, default: str = "") -> str:
    value = entry.get(key, default)
    return value if isinstance(value, str) else default


def _table(entry: Mapping[str, Any], key: str) -> dict[str, object]:
    value = entry.get(key)
    return dict(value) if isinstance(value, dict) else {}


def _unencodable(arguments: Mapping[str, object]) -> str | None:
    """Why ``arguments`` cannot be kept as an AMQP field table (an integer beyond 64 bits,
    a key over 255 bytes, nesting too deep), or None; such an entry is skipped before
    anything is declared."""
    try:
        table.encode_table(arguments)
    except (ValueError, TypeError) as error:
        return str(error)
    return None


def _import_users(node: AdminNode, data: Mapping[str, Any], warnings: list[str]) -> None:
    access = node.access
    for entry in _items(data, "users", warnings):
        name = _text(entry, "name")
        algorithm = _text(entry, "hashing_algorithm", SHA256) or SHA256
        if algorithm not in ALGORITHMS:
            warnings.append(f"user '{name}' skipped: unsupported hashing algorithm {algorithm}")
            continue
        password_hash: str | None = _text(entry, "password_hash") or None
        if password_hash is None and isinstance(entry.get("password"), str):
            # RabbitMQ also accepts a plain "password" for users written by hand.
            password_hash = hash_password(entry["password"], algorithm)
        try:
            access.put_user(name, password_hash, algorithm, _tags(entry.get("tags")))
            limits = _table(entry, "limits")
            if limits:
                access.set_user_limits(
                    name, _known(limits, USER_LIMITS, f"user '{name}'", warnings)
                )
        except AccessError as error:
            warnings.append(f"user '{name}' skipped: {_one_line(error)}")


def _known(
    limits: Mapping[str, object], known: Iterable[str], owner: str, warnings: list[str]
) -> dict[str, object]:
    kept = {k: v for k, v in limits.items() if k in known}
    unknown = sorted(set(limits) - set(kept))
    if unknown:
        warnings.append(f"{owner}: limits not supported, skipped: {', '.join(unknown)}")
    return kept


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _import_vhosts(node: AdminNode, data: Mapping[str, Any], warnings: list[str]) -> None:
    access = node.access
    for entry in _items(data, "vhosts", warnings):
        name = _text(entry, "name")
        # 3.10+ keeps description, tags and default queue type under "metadata"; older
        # files have them at the top of the entry.
        meta = entry.get("metadata")
        source: Mapping[str, Any] = meta if isinstance(meta, dict) else entry
        queue_type = source.get("default_queue_type")
        try:
            access.add_vhost(
                name,
                _text(source, "description"),
                _tags(source.get("tags")),
                queue_type if isinstance(queue_type, str) else None,
            )
        except AccessError as error:
            warnings.append(f"vhost '{name}' skipped: {_one_line(error)}")
            continue
        limits = entry.get("limits")
        # The vhost entry repeats its limits as [name, value] pairs (they are imported from
        # "parameters" too; applying both is harmless).
        if isinstance(limits, list):
            pairs = {
                p[0]: p[1] for p in limits if isinstance(p, list) and len(p) == 2 and _named(p)
            }
            _set_vhost_limits(node, name, pairs, warnings)
        elif isinstance(limits, dict):
            _set_vhost_limits(node, name, limits, warnings)


def _named(pair: list[Any]) -> bool:
    """A [name, value] pair whose name is text (anything else names no limit, and a list
    or an object cannot even be a key)."""
    return isinstance(pair[0], str)


def _set_vhost_limits(
    node: AdminNode, vhost: str, limits: Mapping[str, object], warnings: list[str]
) -> None:
    kept = _known(limits, VHOST_LIMITS, f"vhost '{vhost}'", warnings)
    if not kept:
        return
    try:
        node.access.set_vhost_limits(vhost, kept)
    except AccessError as error:
        warnings.append(f"limits of vhost '{vhost}' skipped: {_one_line(error)}")


def _import_permissions(node: AdminNode, data: Mapping[str, Any], warnings: list[str]) -> None:
    access = node.access
    for entry in _items(data, "permissions", warnings):
        user, vhost = _text(entry, "user"), _text(entry, "vhost")
        try:
            access.set_permissions(
                user,
                vhost,
                _text(entry, "configure"),
                _text(entry, "write"),
                _text(entry, "read"),
            )
        except AccessError as error:
            warnings.append(
                f"permissions of user '{user}' in vhost '{vhost}' skipped: {_one_line(error)}"
            )
    for entry in _items(data, "topic_permissions", warnings):
        user, vhost = _text(entry, "user"), _text(entry, "vhost")
        exchange = _text(entry, "exchange")
        try:
            access.set_topic_permissions(
                user, vhost, exchange, _text(entry, "write"), _text(entry, "read")
            )
        except AccessError as error:
            warnings.append(
                f"topic permissions of user '{user}' in vhost '{vhost}' on exchange "
                f"'{exchange}' skipped: {_one_line(error)}"
            )


def _import_parameters(node: AdminNode, data: Mapping[str, Any], warnings: list[str]) -> None:
    skipped: dict[str, int] = {}
    for entry in _items(data, "parameters", warnings):
        component = _text(entry, "component")
        value = entry.get("value")
        if component == VHOST_LIMITS_COMPONENT and isinstance(value, dict):
            _set_vhost_limits(node, _text(entry, "vhost"), value, warnings)
        elif component == OPERATOR_POLICY_COMPONENT and isinstance(value, dict):
            _set_policy(node, {**value, **entry}, True, warnings)
        else:
            skipped[component] = skipped.get(component, 0) + 1
    if skipped:
        count = sum(skipped.values())
        warnings.append(
            f"parameters: {count} skipped, not supported (components: {', '.join(sorted(skipped))})"
        )
    unknown = []
    for entry in _items(data, "global_parameters", warnings):
        name, value = _text(entry, "name"), entry.get("value")
        if name == CLUSTER_NAME and isinstance(value, str):
            node.access.set_cluster_name(value)
        elif name not in IGNORED_GLOBALS:
            unknown.append(name)
    if unknown:
        warnings.append(
            f"global_parameters: {len(unknown)} skipped, global parameters are not supported "
            f"({_names(unknown)})"
        )
    for entry in _items(data, "policies", warnings):
        _set_policy(node, entry, False, warnings)


def _set_policy(
    node: AdminNode, entry: Mapping[str, Any], operator: bool, warnings: list[str]
) -> None:
    what = "operator policy" if operator else "policy"
    try:
        set_policy(
            node,
            _text(entry, "vhost"),
            _text(entry, "name"),
            entry.get("pattern"),
            entry.get("definition"),
            priority=entry.get("priority", 0),
            apply_to=entry.get("apply-to", "all"),
            operator=operator,
        )
    except (PolicyError, NotFound) as error:
        warnings.append(f"{what} {_where(entry)} skipped: {_one_line(error)}")


def _where(entry: Mapping[str, Any]) -> str:
    return f"'{_text(entry, 'name')}' in vhost '{_text(entry, 'vhost')}'"


def _import_exchanges(node: AdminNode, data: Mapping[str, Any], warnings: list[str]) -> None:
    unsupported: list[str] = []
    for entry in _items(data, "exchanges", warnings):
        name, type_name = _text(entry, "name"), _text(entry, "type")
        if name == "" or name.startswith("amq."):
            continue  # predeclared on every vhost
        if type_name not in EXCHANGE_TYPES and type_name != DELAYED_TYPE:
            unsupported.append(f"{name} ({type_name})")
            continue
        vhost = node.vhosts.get(_text(entry, "vhost"))
        if vhost is None:
            warnings.append(f"exchange {_where(entry)} skipped: no such vhost")
            continue
        arguments = _table(entry, "arguments")
        if (why := _unencodable(arguments)) is not None:
            warnings.append(f"exchange {_where(entry)} skipped: arguments: {why}")
            continue
        try:
            vhost.declare_exchange(
                name,
                type_name,
                durable=bool(entry.get("durable", True)),
                auto_delete=bool(entry.get("auto_delete", False)),
                internal=bool(entry.get("internal", False)),
                arguments=arguments,
            )
        except AMQPError as error:
            warnings.append(f"exchange {_where(entry)} skipped: {error.detail}")
    if unsupported:
        warnings.append(
            f"exchanges: {len(unsupported)} skipped, their types are not supported "
            f"({_names(unsupported)})"
        )


def _import_queues(node: AdminNode, data: Mapping[str, Any], warnings: list[str]) -> None:
    for entry in _items(data, "queues", warnings):
        vhost = node.vhosts.get(_text(entry, "vhost"))
        if vhost is None:
            warnings.append(f"queue {_where(entry)} skipped: no such vhost")
            continue
        arguments = _table(entry, "arguments")
        queue_type = entry.get("type")
        # 3.10+ also writes the type beside the arguments; a file may carry only that.
        if "x-queue-type" not in arguments and queue_type in ("quorum", "stream"):
            arguments["x-queue-type"] = queue_type
        if (why := _unencodable(arguments)) is not None:
            warnings.append(f"queue {_where(entry)} skipped: arguments: {why}")
            continue
        try:
            vhost.declare_queue(
                _text(entry, "name"),
                None,
                durable=bool(entry.get("durable", True)),
                auto_delete=bool(entry.get("auto_delete", False)),
                arguments=arguments,
            )
        except AMQPError as error:
            warnings.append(f"queue {_where(entry)} skipped: {error.detail}")


def _import_bindings(node: AdminNode, data: Mapping[str, Any], warnings: list[str]) -> None:
    missing: list[str] = []
    for entry in _items(data, "bindings", warnings):
        source, target = _text(entry, "source"), _text(entry, "destination")
        described = f"{source} -> {target} in vhost '{_text(entry, 'vhost')}'"
        vhost = node.vhosts.get(_text(entry, "vhost"))
        if vhost is None:
            missing.append(described)
            continue
        destination: Queue | Exchange | None
        if _text(entry, "destination_type", "queue") == "exchange":
            destination = vhost.exchanges.get(target)
        else:
            destination = vhost.queues.get(target)
        if destination is None or source not in vhost.exchanges:
            missing.append(described)
            continue
        arguments = _table(entry, "arguments")
        if (why := _unencodable(arguments)) is not None:
            warnings.append(f"binding {described} skipped: arguments: {why}")
            continue
        try:
            vhost.bind(source, destination, _text(entry, "routing_key"), arguments)
        except AMQPError as error:
            warnings.append(f"binding {described} skipped: {error.detail}")
    if missing:
        warnings.append(
            f"bindings: {len(missing)} skipped, their source or destination does not exist "
            f"({_names(missing)})"
        )


def import_definitions(node: AdminNode, data: dict[str, Any]) -> list[str]:
    """Apply a definitions document to the running broker; returns the warnings (parts
    skipped as not supported, entries that could not be applied), empty when all of it
    was imported."""
    if not isinstance(data, dict):
        raise DefinitionsFileError("not a definitions document (a JSON object)")
    warnings: list[str] = []
    _import_users(node, data, warnings)
    _import_vhosts(node, data, warnings)
    _import_permissions(node, data, warnings)
    _import_parameters(node, data, warnings)
    _import_exchanges(node, data, warnings)
    _import_queues(node, data, warnings)
    _import_bindings(node, data, warnings)
    return warnings
