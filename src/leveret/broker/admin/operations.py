"""The operations ``leveret ctl`` runs, by name: plain synchronous functions over the node.

Each takes the node and the request's arguments (a JSON object) and returns JSON-able data:
nothing, or a list of rows (dicts keyed by rabbitmqctl's column names), which the CLI turns
into tab-separated lines or JSON. The control socket (server/control.py) looks the name up
in ``OPERATIONS`` and calls the function on the broker's loop, so an operation never races
AMQP traffic. Refusals are the access model's ``AccessError``s (rabbitmqctl's texts) or
``NotFound``.

Adding an operation is one decorated function here, plus its command line in
``leveret/ctl/commands.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from leveret.amqp.errors import ChannelError
from leveret.broker.access import AccessError, InvalidArgument
from leveret.broker.access.errors import no_such_user, no_such_vhost
from leveret.broker.admin import closing, definitions, health, listing, queues
from leveret.broker.admin import policies as admin_policies
from leveret.broker.admin.base import AdminNode
from leveret.broker.admin.health import ControlNode
from leveret.broker.policies import Policy, PolicyError

Args = Mapping[str, Any]
Operation = Callable[[ControlNode, Args], object]
Row = dict[str, object]

OPERATIONS: dict[str, Operation] = {}


def operation(name: str) -> Callable[[Operation], Operation]:
    def register(function: Operation) -> Operation:
        OPERATIONS[name] = function
        return function

    return register


def text(args: Args, name: str) -> str:
    """A string argument; a missing or mistyped one is a client bug, refused plainly."""
    value = args.get(name)
    if not isinstance(value, str):
        raise InvalidArgument(f"argument '{name}' must be a string")
    return value


def optional_text(args: Args, name: str) -> str | None:
    return None if args.get(name) is None else text(args, name)


def text_list(args: Args, name: str) -> list[str]:
    value = args.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidArgument(f"argument '{name}' must be a list of strings")
    return list(value)


def flag(args: Args, name: str) -> bool:
    value = args.get(name, False)
    if not isinstance(value, bool):
        raise InvalidArgument(f"argument '{name}' must be true or false")
    return value


def integer(args: Args, name: str, default: int) -> int:
    value = args.get(name, default)
    if isinstance(value, str) and value.isdigit():  # as typed on the command line
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidArgument(f"argument '{name}' must be a non-negative integer")
    return value


def mapping(args: Args, name: str) -> dict[str, object]:
    value = args.get(name)
    if not isinstance(value, dict):
        raise InvalidArgument(f"argument '{name}' must be a JSON object")
    return dict(value)


# -- users -----------------------------------------------------------------------------------


@operation("add_user")
def add_user(node: AdminNode, args: Args) -> None:
    node.access.add_user(text(args, "user"), text(args, "password"))


@operation("delete_user")
def delete_user(node: AdminNode, args: Args) -> None:
    node.access.delete_user(text(args, "user"))


@operation("change_password")
def change_password(node: AdminNode, args: Args) -> None:
    node.access.change_password(text(args, "user"), text(args, "password"))


@operation("clear_password")
def clear_password(node: AdminNode, args: Args) -> None:
    node.access.clear_password(text(args, "user"))


@operation("authenticate_user")
def authenticate_user(node: AdminNode, args: Args) -> None:
    node.access.authenticate_user(text(args, "user"), text(args, "password"))


@operation("set_user_tags")
def set_user_tags(node: AdminNode, args: Args) -> None:
    node.access.set_user_tags(text(args, "user"), text_list(args, "tags"))


@operation("list_users")
def list_users(node: AdminNode, args: Args) -> list[Row]:
    return [{"user": user.name, "tags": list(user.tags)} for user in node.access.list_users()]


@operation("set_user_limits")
def set_user_limits(node: AdminNode, args: Args) -> None:
    node.access.set_user_limits(text(args, "user"), mapping(args, "limits"))


@operation("clear_user_limits")
def clear_user_limits(node: AdminNode, args: Args) -> None:
    # rabbitmqctl names the limit to clear, or "all".
    name = text(args, "limit")
    node.access.clear_user_limits(text(args, "user"), None if name == "all" else name)


@operation("list_user_limits")
def list_user_limits(node: AdminNode, args: Args) -> dict[str, int]:
    user = text(args, "user")
    if user not in node.access.users:
        raise no_such_user(user)
    return dict(node.access.user_limits.get(user, {}))


# -- vhosts ----------------------------------------------------------------------------------


@operation("add_vhost")
def add_vhost(node: AdminNode, args: Args) -> None:
    node.access.add_vhost(
        text(args, "vhost"),
        description=optional_text(args, "description") or "",
        tags=text_list(args, "tags"),
        default_queue_type=optional_text(args, "default_queue_type"),
    )


@operation("delete_vhost")
def delete_vhost(node: AdminNode, args: Args) -> None:
    node.access.delete_vhost(text(args, "vhost"))


@operation("list_vhosts")
def list_vhosts(node: AdminNode, args: Args) -> list[Row]:
    return [
        {
            "name": info.name,
            "description": info.description,
            "tags": list(info.tags),
            "default_queue_type": info.default_queue_type,
            "tracing": False,
        }
        for info in node.access.list_vhosts()
    ]


@operation("set_vhost_limits")
def set_vhost_limits(node: AdminNode, args: Args) -> None:
    node.access.set_vhost_limits(text(args, "vhost"), mapping(args, "limits"))


@operation("clear_vhost_limits")
def clear_vhost_limits(node: AdminNode, args: Args) -> None:
    node.access.clear_vhost_limits(text(args, "vhost"))


@operation("list_vhost_limits")
def list_vhost_limits(node: AdminNode, args: Args) -> dict[str, int]:
    vhost = text(args, "vhost")
    if vhost not in node.access.vhosts:
        raise no_such_vhost(vhost, quoted=True)
    return dict(node.access.vhost_limits.get(vhost, {}))


# -- permissions -----------------------------------------------------------------------------


@operation("set_permissions")
def set_permissions(node: AdminNode, args: Args) -> None:
    node.access.set_permissions(
        text(args, "user"),
        text(args, "vhost"),
        text(args, "configure"),
        text(args, "write"),
        text(args, "read"),
    )


@operation("clear_permissions")
def clear_permissions(node: AdminNode, args: Args) -> None:
    node.access.clear_permissions(text(args, "user"), text(args, "vhost"))


@operation("list_permissions")
def list_permissions(node: AdminNode, args: Args) -> list[Row]:
    return [
        {"user": p.user, "configure": p.configure, "write": p.write, "read": p.read}
        for p in node.access.list_permissions(text(args, "vhost"))
    ]


@operation("list_user_permissions")
def list_user_permissions(node: AdminNode, args: Args) -> list[Row]:
    return [
        {"vhost": p.vhost, "configure": p.configure, "write": p.write, "read": p.read}
        for p in node.access.list_user_permissions(text(args, "user"))
    ]


@operation("set_topic_permissions")
def set_topic_permissions(node: AdminNode, args: Args) -> None:
    node.access.set_topic_permissions(
        text(args, "user"),
        text(args, "vhost"),
        text(args, "exchange"),
        text(args, "write"),
        text(args, "read"),
    )


@operation("clear_topic_permissions")
def clear_topic_permissions(node: AdminNode, args: Args) -> None:
    node.access.clear_topic_permissions(
        text(args, "user"), text(args, "vhost"), optional_text(args, "exchange")
    )


@operation("list_topic_permissions")
def list_topic_permissions(node: AdminNode, args: Args) -> list[Row]:
    vhost = text(args, "vhost")
    node.access.list_permissions(vhost)  # refuses an unknown vhost, as rabbitmqctl
    return [
        {"user": p.user, "exchange": p.exchange, "write": p.write, "read": p.read}
        for p in node.access.list_topic_permissions(vhost=vhost)
    ]


@operation("list_user_topic_permissions")
def list_user_topic_permissions(node: AdminNode, args: Args) -> list[Row]:
    user = text(args, "user")
    node.access.list_user_permissions(user)  # refuses an unknown user
    return [
        {"vhost": p.vhost, "exchange": p.exchange, "write": p.write, "read": p.read}
        for p in node.access.list_topic_permissions(user=user)
    ]


# -- listings (columns as rabbitmqctl's: broker/admin/listing.py) -----------------------------


def columns(args: Args) -> list[str] | None:
    """The columns asked for; all of them if the request names none."""
    return None if args.get("columns") is None else text_list(args, "columns")


@operation("list_queues")
def list_queues(node: ControlNode, args: Args) -> list[Row]:
    return listing.queue_rows(node, text(args, "vhost"), columns(args))


@operation("list_exchanges")
def list_exchanges(node: ControlNode, args: Args) -> list[Row]:
    return listing.exchange_rows(node, text(args, "vhost"), columns(args))


@operation("list_bindings")
def list_bindings(node: ControlNode, args: Args) -> list[Row]:
    return listing.binding_rows(node, text(args, "vhost"), columns(args))


@operation("list_consumers")
def list_consumers(node: ControlNode, args: Args) -> list[Row]:
    return listing.consumer_rows(node, text(args, "vhost"), columns(args))


@operation("list_connections")
def list_connections(node: ControlNode, args: Args) -> list[Row]:
    return listing.connection_rows(node, columns(args))


@operation("list_channels")
def list_channels(node: ControlNode, args: Args) -> list[Row]:
    return listing.channel_rows(node, columns(args))


# -- queues and connections ------------------------------------------------------------------


class QueueRefused(AccessError):
    """delete_queue could not delete: rabbitmqctl's texts ("Queue not found", "Queue is in
    use", "Queue is not empty"), which it reports with exit code 64."""


@operation("purge_queue")
def purge_queue(node: ControlNode, args: Args) -> Row:
    purged = queues.purge_queue(node, text(args, "vhost"), text(args, "queue"))
    return {"node": node.node_name, "purged": purged}


@operation("delete_queue")
def delete_queue(node: ControlNode, args: Args) -> Row:
    vhost, name = text(args, "vhost"), text(args, "queue")
    found = node.vhosts.get(vhost)
    queue = found.queues.get(name) if found is not None else None
    if queue is None:
        raise QueueRefused("Queue not found")
    # Checked here, in RabbitMQ's order, for rabbitmqctl's words rather than the AMQP ones.
    if flag(args, "if_unused") and queue.consumers:
        raise QueueRefused("Queue is in use")
    if flag(args, "if_empty") and queue.message_count:
        raise QueueRefused("Queue is not empty")
    try:
        deleted = queues.delete_queue(node, vhost, name)
    except ChannelError as error:  # a durable queue whose deletion could not be stored
        raise QueueRefused(error.reply_text) from None
    return {"node": node.node_name, "deleted": deleted}


@operation("close_connection")
def close_connection(node: ControlNode, args: Args) -> Row:
    closed = closing.close_connection(node, text(args, "connection"), text(args, "reason"))
    return {"node": node.node_name, "closed": closed}


@operation("close_all_connections")
def close_all_connections(node: ControlNode, args: Args) -> Row:
    vhost = None if flag(args, "global") else text(args, "vhost")
    closed = closing.close_all_connections(
        node, vhost, text(args, "reason"), integer(args, "limit", 0)
    )
    return {"node": node.node_name, "closed": closed}


# -- the node: status, settings, health checks -----------------------------------------------


@operation("ping")
@operation("await_startup")
@operation("check_running")
def node_name(node: ControlNode, args: Args) -> Row:
    """The control socket answers only once the broker has fully started (server/node.py
    opens it last), so an answer is the whole check."""
    return {"node": node.node_name}


@operation("status")
def status(node: ControlNode, args: Args) -> Row:
    return health.status(node)


@operation("environment")
def environment(node: ControlNode, args: Args) -> Row:
    return {"node": node.node_name, "settings": health.settings_json(node)}


@operation("check_alarms")
@operation("check_local_alarms")
def check_alarms(node: ControlNode, args: Args) -> Row:
    return {"node": node.node_name, "alarms": health.alarm_rows(node)}


@operation("check_port_connectivity")
@operation("check_port_listener")
@operation("check_protocol_listener")
def listeners(node: ControlNode, args: Args) -> Row:
    return {"node": node.node_name, "listeners": health.listener_rows(node)}


@operation("check_virtual_hosts")
def check_virtual_hosts(node: ControlNode, args: Args) -> Row:
    return {"node": node.node_name, "failed": health.failed_vhosts(node)}


# -- definitions ------------------------------------------------------------------------------


@operation("export_definitions")
def export_definitions(node: AdminNode, args: Args) -> object:
    return definitions.export_definitions(node, optional_text(args, "vhost"))


@operation("import_definitions")
def import_definitions(node: ControlNode, args: Args) -> object:
    warnings = definitions.import_definitions(node, mapping(args, "definitions"))
    return {"node": node.node_name, "warnings": warnings}


# -- policies --------------------------------------------------------------------------------


class PolicyRefused(AccessError):
    """A policy refused (invalid, or not there to clear): rabbitmqctl exits 69 for both."""


def _policy_row(policy: Policy) -> Row:
    found = policy.to_json()
    row = {k: found[k] for k in ("vhost", "name", "pattern", "apply-to", "priority")}
    # rabbitmqctl shows the definition as JSON text, in its JSON output too.
    row["definition"] = json.dumps(found["definition"], separators=(",", ":"))
    return row


def _set_policy(node: AdminNode, args: Args, operator: bool) -> None:
    priority = args.get("priority", "0")
    try:
        number = int(priority) if isinstance(priority, str) else priority
    except ValueError:
        number = priority
    try:
        admin_policies.set_policy(
            node,
            text(args, "vhost"),
            text(args, "name"),
            text(args, "pattern"),
            mapping(args, "definition"),
            priority=number,
            apply_to=args.get("apply_to", "all"),
            operator=operator,
        )
    except PolicyError as error:
        raise PolicyRefused(str(error)) from None


def _clear_policy(node: AdminNode, args: Args, operator: bool) -> None:
    vhost, name = text(args, "vhost"), text(args, "name")
    if name not in admin_policies.list_names(node, vhost, operator=operator):
        raise PolicyRefused("Parameter does not exist")
    admin_policies.clear_policy(node, vhost, name, operator=operator)


def _list_policies(node: AdminNode, args: Args, operator: bool) -> list[Row]:
    vhost = text(args, "vhost")
    if vhost not in node.vhosts:
        raise no_such_vhost(vhost)
    return [_policy_row(p) for p in admin_policies.list_policies(node, vhost, operator=operator)]


@operation("set_policy")
def set_policy(node: AdminNode, args: Args) -> None:
    _set_policy(node, args, False)


@operation("clear_policy")
def clear_policy(node: AdminNode, args: Args) -> None:
    _clear_policy(node, args, False)


@operation("list_policies")
def list_policies(node: AdminNode, args: Args) -> list[Row]:
    return _list_policies(node, args, False)


@operation("set_operator_policy")
def set_operator_policy(node: AdminNode, args: Args) -> None:
    _set_policy(node, args, True)


@operation("clear_operator_policy")
def clear_operator_policy(node: AdminNode, args: Args) -> None:
    _clear_policy(node, args, True)


@operation("list_operator_policies")
def list_operator_policies(node: AdminNode, args: Args) -> list[Row]:
    return _list_policies(node, args, True)
