"""Queue arguments (x-*): parsed and validated once, at declaration, with RabbitMQ's errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from leveret.amqp.errors import PRECONDITION_FAILED, ChannelError

QUEUE_TYPES = ("classic", "quorum", "stream")
OVERFLOW_MODES = ("drop-head", "reject-publish", "reject-publish-dlx")
# RabbitMQ 4.x gives quorum queues a delivery limit of 20 unless one is set.
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

    @property
    def counts_deliveries(self) -> bool:
        return self.queue_type == "quorum"


def _what(name: str, vhost: str) -> str:
    return f"queue '{name}' in vhost '{vhost}'"


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "long"
    if isinstance(value, str):
        return "longstr"
    if isinstance(value, float):
        return "double"
    return "table"


def _int_arg(
    args: Mapping[str, object], key: str, name: str, vhost: str, minimum: int
) -> int | None:
    value = args.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ChannelError(
            PRECONDITION_FAILED,
            f"invalid arg '{key}' for {_what(name, vhost)}: "
            f"{{unacceptable_type,{_type_name(value)}}}",
        )
    if value < minimum:
        reason = "value_zero" if value == 0 and minimum > 0 else "value_negative"
        raise ChannelError(
            PRECONDITION_FAILED,
            f"invalid arg '{key}' for {_what(name, vhost)}: {{{reason},{value}}}",
        )
    return value


def _str_arg(args: Mapping[str, object], key: str, name: str, vhost: str) -> str | None:
    value = args.get(key)
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        raise ChannelError(
            PRECONDITION_FAILED,
            f"invalid arg '{key}' for {_what(name, vhost)}: "
            f"{{unacceptable_type,{_type_name(value)}}}",
        )
    return value


def parse_queue_options(
    name: str,
    vhost: str,
    args: Mapping[str, object],
    *,
    durable: bool,
    exclusive: bool,
    auto_delete: bool,
) -> QueueOptions:
    queue_type = _str_arg(args, "x-queue-type", name, vhost) or "classic"
    if queue_type not in QUEUE_TYPES:
        raise ChannelError(
            PRECONDITION_FAILED,
            f"invalid arg 'x-queue-type' for {_what(name, vhost)}: "
            f'{{unsupported_queue_type,<<"{queue_type}">>}}',
        )
    if queue_type != "classic":
        for flag, bad in (
            ("non-durable", not durable),
            ("exclusive", exclusive),
            ("auto-delete", auto_delete),
        ):
            if bad:
                raise ChannelError(
                    PRECONDITION_FAILED,
                    f"invalid property '{flag}' for {_what(name, vhost)}",
                )
    overflow = _str_arg(args, "x-overflow", name, vhost) or "drop-head"
    if overflow not in OVERFLOW_MODES:
        raise ChannelError(
            PRECONDITION_FAILED,
            f"invalid arg 'x-overflow' for {_what(name, vhost)}: "
            f'{{unknown_overflow_mode,<<"{overflow}">>}}',
        )
    max_priority = _int_arg(args, "x-max-priority", name, vhost, 0)
    if max_priority is not None and max_priority > 255:
        raise ChannelError(
            PRECONDITION_FAILED,
            f"invalid arg 'x-max-priority' for {_what(name, vhost)}: "
            f"{{value_too_large,{max_priority}}}",
        )
    delivery_limit = _int_arg(args, "x-delivery-limit", name, vhost, 0)
    if delivery_limit is None and queue_type == "quorum":
        delivery_limit = QUORUM_DEFAULT_DELIVERY_LIMIT
    sac = args.get("x-single-active-consumer")
    if sac is not None and not isinstance(sac, bool):
        raise ChannelError(
            PRECONDITION_FAILED,
            f"invalid arg 'x-single-active-consumer' for {_what(name, vhost)}: "
            f"{{unacceptable_type,{_type_name(sac)}}}",
        )
    return QueueOptions(
        queue_type=queue_type,
        message_ttl=_int_arg(args, "x-message-ttl", name, vhost, 0),
        expires=_int_arg(args, "x-expires", name, vhost, 1),
        dead_letter_exchange=_str_arg(args, "x-dead-letter-exchange", name, vhost),
        dead_letter_routing_key=_str_arg(args, "x-dead-letter-routing-key", name, vhost),
        max_length=_int_arg(args, "x-max-length", name, vhost, 0),
        max_length_bytes=_int_arg(args, "x-max-length-bytes", name, vhost, 0),
        overflow=overflow,
        max_priority=max_priority,
        single_active_consumer=bool(sac),
        delivery_limit=delivery_limit,
    )
