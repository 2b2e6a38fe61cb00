"""Queue arguments (x-*): parsed and validated once, at declaration, with RabbitMQ's errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from leveret.amqp import table
from leveret.amqp.errors import PRECONDITION_FAILED, ChannelError

QUEUE_TYPES = ("classic", "quorum", "stream")
OVERFLOW_MODES = ("drop-head", "reject-publish", "reject-publish-dlx")
# RabbitMQ 4.x gives quorum queues a delivery limit of 20 unless one is set (3.x: none);
# the vhost passes its compatibility profile's value.
QUORUM_DEFAULT_DELIVERY_LIMIT = 20


@dataclass(frozen=True)
class QueueOptions:
    queue_type: str = "classic"
    message_ttl: int | None = None  # ms
    expires: int | None = None  # ms
    dead_letter_exchange: str | None = None
    dead_letter_routing_key: str | None = None
    max_length: int | None = None
    max_length_bytes: int | None = None
    overflow: str = "drop-head"
    max_priority: int | None = None
    single_active_consumer: bool = False
    delivery_limit: int | None = None
    # A quorum queue serving messages by priority, as 4.x does (the vhost's profile decides).
    quorum_priorities: bool = False

    @property
    def counts_deliveries(self) -> bool:
        return self.queue_type == "quorum"


# Arguments each queue type accepts (RabbitMQ's per-type capabilities); an argument known to
# some type but not to the declared one is refused, unknown x-arguments are ignored.
_COMMON = {
    "x-expires",
    "x-message-ttl",
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-max-length",
    "x-max-length-bytes",
    "x-overflow",
    "x-single-active-consumer",
    "x-queue-type",
    "x-queue-leader-locator",
}
SUPPORTED_ARGS = {
    "classic": _COMMON
    | {
        "x-max-priority",
        "x-queue-mode",
        "x-queue-version",
        "x-queue-master-locator",
        "x-max-in-memory-length",
        "x-max-in-memory-bytes",
    },
    "quorum": _COMMON
    | {
        "x-delivery-limit",
        "x-dead-letter-strategy",
        "x-quorum-initial-group-size",
        "x-quorum-target-group-size",
        "x-max-in-memory-length",
        "x-max-in-memory-bytes",
    },
    "stream": {
        "x-max-length-bytes",
        "x-max-age",
        "x-stream-max-segment-size-bytes",
        "x-queue-leader-locator",
        "x-initial-cluster-size",
        "x-queue-type",
        "x-stream-filter-size-bytes",
    },
}
KNOWN_ARGS = set().union(*SUPPORTED_ARGS.values())
TYPE_MODULES = {
    "classic": "rabbit_classic_queue",
    "quorum": "rabbit_quorum_queue",
    "stream": "rabbit_stream_queue",
}


def table_type_name(value: object) -> str:
    """RabbitMQ's name for the field-table type a value was (or would be) sent as."""
    names: tuple[tuple[type, str], ...] = (
        (bool, "bool"),
        (table.Int8, "byte"),
        (table.UInt8, "unsignedbyte"),
        (table.Int16, "short"),
        (table.UInt16, "unsignedshort"),
        (table.UInt32, "unsignedint"),
        (table.Int64, "long"),
        (table.LongLong, "long"),
        (table.Timestamp, "timestamp"),
        (int, "signedint"),
        (table.Float32, "float"),
        (float, "double"),
        (Decimal, "decimal"),
        (str, "longstr"),
        (bytes, "binary"),
        (list, "array"),
        (dict, "table"),
    )
    for kind, name in names:
        if isinstance(value, kind):
            return name
    return "void"


def _invalid(key: str, name: str, vhost: str, detail: str) -> ChannelError:
    return ChannelError(
        PRECONDITION_FAILED,
        f"invalid arg '{key}' for queue '{name}' in vhost '{vhost}': {detail}",
    )


def _int_arg(
    args: Mapping[str, object], key: str, name: str, vhost: str, minimum: int
) -> int | None:
    value = args.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(key, name, vhost, f'"expected integer, got {table_type_name(value)}"')
    if value < minimum:
        reason = "value_zero" if value == 0 and minimum > 0 else "value_negative"
        raise _invalid(key, name, vhost, f"{{{reason},{value}}}")
    return value


def _text(value: object) -> str | None:
    """A longstr argument as text (None when it is another type)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _str_arg(args: Mapping[str, object], key: str, name: str, vhost: str) -> str | None:
    value = args.get(key)
    if value is None:
        return None
    text = _text(value)
    if text is None:
        raise _invalid(key, name, vhost, f"{{unacceptable_type,{table_type_name(value)}}}")
    return text


def _exchange_name_arg(args: Mapping[str, object], key: str, name: str, vhost: str) -> str | None:
    value = args.get(key)
    if value is None:
        return None
    text = _text(value)
    if text is None:
        raise ChannelError(
            PRECONDITION_FAILED,
            f"invalid type '{table_type_name(value)}' for arg '{key}' in queue '{name}' "
            f"in vhost '{vhost}'",
        )
    return text


def parse_queue_options(
    name: str,
    vhost: str,
    args: Mapping[str, object],
    *,
    durable: bool,
    exclusive: bool,
    auto_delete: bool,
    server_named: bool = False,
    quorum_delivery_limit: int | None = QUORUM_DEFAULT_DELIVERY_LIMIT,
    quorum_priorities: bool = True,
) -> QueueOptions:
    queue_type = _str_arg(args, "x-queue-type", name, vhost) or "classic"
    if queue_type not in QUEUE_TYPES:
        raise _invalid("x-queue-type", name, vhost, f"\"unsupported queue type '{queue_type}'\"")
    module = TYPE_MODULES[queue_type]
    if queue_type != "classic":
        if server_named:
            raise ChannelError(
                PRECONDITION_FAILED, f"Cannot declare a server-named queue for type {module}"
            )
        # RabbitMQ checks auto-delete, then exclusive, then durable.
        for flag, bad in (
            ("auto-delete", auto_delete),
            ("exclusive-owner", exclusive),
            ("non-durable", not durable),
        ):
            if bad:
                raise ChannelError(
                    PRECONDITION_FAILED,
                    f"invalid property '{flag}' for queue '{name}' in vhost '{vhost}'",
                )
    supported = SUPPORTED_ARGS[queue_type]
    for key in args:
        if key in KNOWN_ARGS and key not in supported:
            raise ChannelError(
                PRECONDITION_FAILED,
                f"invalid arg '{key}' for queue '{name}' in vhost '{vhost}' of queue type {module}",
            )
    overflow = _str_arg(args, "x-overflow", name, vhost) or "drop-head"
    if overflow not in OVERFLOW_MODES:
        raise _invalid("x-overflow", name, vhost, "invalid_overflow")
    max_priority = _int_arg(args, "x-max-priority", name, vhost, 0)
    if max_priority is not None and max_priority > 255:
        raise _invalid("x-max-priority", name, vhost, f"{{max_value_exceeded,{max_priority}}}")
    delivery_limit = _int_arg(args, "x-delivery-limit", name, vhost, 0)
    if delivery_limit is None and queue_type == "quorum":
        delivery_limit = quorum_delivery_limit
    sac = args.get("x-single-active-consumer")
    if sac is not None and not isinstance(sac, bool):
        raise _invalid(
            "x-single-active-consumer",
            name,
            vhost,
            f"{{unacceptable_type,{table_type_name(sac)}}}",
        )
    dlx = _exchange_name_arg(args, "x-dead-letter-exchange", name, vhost)
    dlrk = _str_arg(args, "x-dead-letter-routing-key", name, vhost)
    if dlrk is not None and dlx is None:
        raise _invalid("x-dead-letter-routing-key", name, vhost, "routing_key_but_no_dlx_defined")
    # A dead-lettered message is kept with its exchange and routing key as AMQP short
    # strings; longer ones could be declared (RabbitMQ takes them) but never stored.
    for key, value in (("x-dead-letter-exchange", dlx), ("x-dead-letter-routing-key", dlrk)):
        size = len(value.encode("utf-8", "surrogateescape")) if value is not None else 0
        if size > 255:
            raise _invalid(key, name, vhost, f"{{too_long,{size}}}")
    return QueueOptions(
        queue_type=queue_type,
        message_ttl=_int_arg(args, "x-message-ttl", name, vhost, 0),
        expires=_int_arg(args, "x-expires", name, vhost, 1),
        dead_letter_exchange=dlx,
        dead_letter_routing_key=dlrk,
        max_length=_int_arg(args, "x-max-length", name, vhost, 0),
        max_length_bytes=_int_arg(args, "x-max-length-bytes", name, vhost, 0),
        overflow=overflow,
        max_priority=max_priority,
        single_active_consumer=bool(sac),
        delivery_limit=delivery_limit,
        quorum_priorities=quorum_priorities and queue_type == "quorum",
    )


def with_default_queue_type(
    arguments: Mapping[str, object] | None,
    default_type: str | None,
    *,
    durable: bool,
    exclusive: bool,
    auto_delete: bool,
) -> Mapping[str, object] | None:
    """A vhost's default queue type, as RabbitMQ applies it: to a durable queue that is
    neither exclusive nor auto-delete and names no ``x-queue-type`` (the others stay
    classic). A redeclare without a type then matches what was made."""
    if default_type is None or not durable or exclusive or auto_delete:
        return arguments
    if arguments is not None and "x-queue-type" in arguments:
        return arguments
    return {**(arguments or {}), "x-queue-type": default_type}
