"""Policies and operator policies: RabbitMQ's model, validation and effective queue options.

A policy names a vhost, a regular expression matched (unanchored, as RabbitMQ's re:run)
against queue or exchange names, what it applies to, a priority and a definition. Of the
policies matching an object, the highest priority wins; RabbitMQ leaves ties unordered, and
Leveret takes the name that sorts first, so the choice is stable. An operator policy is
chosen the same way and merged into the user policy's definition, the lower numeric value
winning where both set a key. The merged definition then meets the queue's own arguments:
some keys take the lower of argument and policy, the others let the argument win.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from leveret.broker.exchange import Exchange
from leveret.broker.queue import Queue
from leveret.broker.queue_options import OVERFLOW_MODES, QueueOptions
from leveret.broker.stream import StreamQueue, parse_max_age

APPLY_TO = ("queues", "classic_queues", "quorum_queues", "streams", "exchanges", "all")
QUEUE_TARGETS = {
    "classic": ("queues", "classic_queues", "all"),
    "quorum": ("queues", "quorum_queues", "all"),
    "stream": ("queues", "streams", "all"),
}
# Keys an operator policy may set (RabbitMQ 3.10's list); all of them numeric limits.
OPERATOR_KEYS = (
    "expires",
    "message-ttl",
    "max-length",
    "max-length-bytes",
    "max-in-memory-length",
    "max-in-memory-bytes",
    "delivery-limit",
)
# Keys taking the lower of the queue argument and the policy; the others: argument first.
LOWER_WINS = ("message-ttl", "expires", "max-length", "max-length-bytes", "delivery-limit")
_AGE = re.compile(r"\d+[YMDhms]")


class PolicyError(ValueError):
    """A policy refused; the text is RabbitMQ's validation reason."""


def erlang_term(value: object) -> str:
    """A JSON value as RabbitMQ prints it in validation errors."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'<<"{value}">>'
    if isinstance(value, list):
        return "[" + ",".join(erlang_term(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = ",".join(f"{{{erlang_term(k)},{erlang_term(v)}}}" for k, v in value.items())
        return f"[{pairs}]"
    if value is None:
        return "null"
    return str(value)


def _is_int(value: object, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_text(value: object) -> bool:
    return isinstance(value, str)


# key -> (is the value valid, what RabbitMQ calls the value when it is not)
_VALIDATORS: dict[str, tuple[Any, str]] = {
    "message-ttl": (lambda v: _is_int(v, 0), "message TTL"),
    "expires": (lambda v: _is_int(v, 1), "queue expiry"),
    "max-length": (lambda v: _is_int(v, 0), "maximum length"),
    "max-length-bytes": (lambda v: _is_int(v, 0), "maximum length in bytes"),
    "max-in-memory-length": (lambda v: _is_int(v, 0), "maximum memory length"),
    "max-in-memory-bytes": (lambda v: _is_int(v, 0), "maximum memory in bytes"),
    "overflow": (lambda v: v in OVERFLOW_MODES, "overflow value"),
    "dead-letter-exchange": (_is_text, "dead letter exchange name"),
    "dead-letter-routing-key": (_is_text, "dead letter routing key"),
    "dead-letter-strategy": (
        lambda v: v in ("at-most-once", "at-least-once"),
        "dead letter strategy",
    ),
    "delivery-limit": (lambda v: _is_int(v, 0), "delivery limit"),
    "alternate-exchange": (_is_text, "alternate exchange name"),
    "queue-mode": (lambda v: v in ("default", "lazy"), "queue-mode value"),
    "queue-version": (lambda v: v in (1, 2) and not isinstance(v, bool), "queue-version value"),
    "max-age": (lambda v: isinstance(v, str) and _AGE.fullmatch(v) is not None, "max age"),
    "stream-max-segment-size-bytes": (lambda v: _is_int(v, 0), "segment size"),
    "consumer-timeout": (lambda v: _is_int(v, 0), "consumer timeout"),
    "queue-leader-locator": (lambda v: v in ("client-local", "balanced"), "queue leader locator"),
    "queue-master-locator": (_is_text, "queue master locator"),
    "initial-cluster-size": (lambda v: _is_int(v, 1), "initial cluster size"),
    "target-group-size": (lambda v: _is_int(v, 1), "target group size"),
}
# Accepted for compatibility with definitions written for clustered RabbitMQ (mirroring,
# federation); a single node has nothing to do with them.
_ACCEPTED = (
    "ha-mode",
    "ha-params",
    "ha-sync-mode",
    "ha-sync-batch-size",
    "ha-promote-on-shutdown",
    "ha-promote-on-failure",
    "federation-upstream",
    "federation-upstream-set",
    "federation-upstream-pattern",
)


@dataclass(frozen=True)
class Policy:
    vhost: str
    name: str
    pattern: str
    apply_to: str = "all"
    priority: int = 0
    definition: dict[str, Any] = field(default_factory=dict, hash=False)

    def to_json(self) -> dict[str, Any]:
        """RabbitMQ's shape (the HTTP API and definitions files)."""
        return {
            "vhost": self.vhost,
            "name": self.name,
            "pattern": self.pattern,
            "apply-to": self.apply_to,
            "definition": dict(sorted(self.definition.items())),  # as RabbitMQ's map
            "priority": self.priority,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Policy:
        return cls(
            str(value["vhost"]),
            str(value["name"]),
            str(value["pattern"]),
            str(value.get("apply-to", "all")),
            int(value.get("priority", 0)),
            dict(value["definition"]),
        )

    @property
    def store_key(self) -> str:
        return json.dumps([self.vhost, self.name])

    def applies_to_queue(self, queue_type: str, name: str) -> bool:
        return self.apply_to in QUEUE_TARGETS.get(queue_type, ()) and self._matches(name)

    def applies_to_exchange(self, name: str) -> bool:
        return self.apply_to in ("exchanges", "all") and self._matches(name)

    def _matches(self, name: str) -> bool:
        return re.search(self.pattern, name) is not None


def make_policy(
    vhost: str,
    name: str,
    pattern: object,
    definition: object,
    *,
    priority: object = 0,
    apply_to: object = "all",
    operator: bool = False,
) -> Policy:
    """A validated policy, or ``PolicyError`` with RabbitMQ's reason."""
    if not isinstance(pattern, str):
        raise PolicyError(
            f"Validation failed\n\npattern should be a string: {erlang_term(pattern)}\n"
        )
    try:
        re.compile(pattern)
    except re.error as error:
        raise PolicyError(
            f"Validation failed\n\npattern should be regular expression but is invalid: "
            f'{{"{error.msg}",{error.pos}}}\n'
        ) from None
    if apply_to not in APPLY_TO:
        raise PolicyError(
            f"Validation failed\n\napply-to '{apply_to}' unrecognised; should be one of "
            "'queues', 'classic_queues', 'quorum_queues', 'streams', 'exchanges' or 'all'\n"
        )
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise PolicyError(
            "Validation failed\n\npriority should be a number, actually was "
            f"{erlang_term(priority)}\n"
        )
    if not isinstance(definition, dict):
        raise PolicyError(
            f"Validation failed\n\ndefinition must be a dictionary: {erlang_term(definition)}\n"
        )
    validate_definition(definition, operator=operator)
    return Policy(vhost, name, pattern, str(apply_to), priority, dict(definition))


def validate_definition(definition: Mapping[str, Any], *, operator: bool = False) -> None:
    if not definition:
        raise PolicyError("Validation failed\n\nno policy provided\n")
    allowed: Iterable[str] = OPERATOR_KEYS if operator else (*_VALIDATORS, *_ACCEPTED)
    unknown = sorted((k, v) for k, v in definition.items() if k not in allowed)
    if unknown:
        listed = ",".join(f"{{{erlang_term(k)},{erlang_term(v)}}}" for k, v in unknown)
        raise PolicyError(f"Validation failed\n\n[{listed}] are not recognised policy settings\n")
    for key, value in sorted(definition.items()):
        check = _VALIDATORS.get(key)
        if check is not None and not check[0](value):
            raise PolicyError(
                f"Validation failed\n\n{erlang_term(value)} is not a valid {check[1]}\n"
            )


def _best(policies: Iterable[Policy], applies: Any) -> Policy | None:
    matching = [p for p in policies if applies(p)]
    if not matching:
        return None
    return min(matching, key=lambda p: (-p.priority, p.name))


def queue_policies(
    policies: Iterable[Policy], operator_policies: Iterable[Policy], queue_type: str, name: str
) -> tuple[Policy | None, Policy | None]:
    """The user policy and the operator policy that apply to a queue."""

    def applies(policy: Policy) -> bool:
        return policy.applies_to_queue(queue_type, name)

    return _best(policies, applies), _best(operator_policies, applies)


def exchange_policy(policies: Iterable[Policy], name: str) -> Policy | None:
    return _best(policies, lambda p: p.applies_to_exchange(name))


def effective_definition(policy: Policy | None, operator: Policy | None) -> dict[str, Any]:
    """The user policy's definition with the operator policy's merged in (lower wins)."""
    merged = dict(policy.definition) if policy is not None else {}
    if operator is not None:
        for key, value in operator.definition.items():
            mine = merged.get(key)
            merged[key] = min(mine, value) if _is_int(mine, 0) and _is_int(value, 0) else value
    return merged


def _resolve(argument: object, policy: object, key: str) -> Any:
    if argument is None:
        return policy
    if policy is None or key not in LOWER_WINS:
        return argument
    return min(argument, policy)  # type: ignore[call-overload]


def effective_options(
    from_arguments: QueueOptions, arguments: Mapping[str, object], definition: Mapping[str, Any]
) -> QueueOptions:
    """A queue's options with a (merged) policy definition applied over its arguments."""
    if not definition:
        return from_arguments

    def pick(key: str, current: Any) -> Any:
        given = current if f"x-{key}" in arguments else None
        return _resolve(given, definition.get(key), key)

    options = from_arguments
    delivery_limit = pick("delivery-limit", options.delivery_limit)
    if delivery_limit is None:
        delivery_limit = options.delivery_limit  # the quorum default stays
    dlx = pick("dead-letter-exchange", options.dead_letter_exchange)
    dlrk = (
        options.dead_letter_routing_key
        if "x-dead-letter-exchange" in arguments
        else pick("dead-letter-routing-key", options.dead_letter_routing_key)
    )
    return dataclasses.replace(
        options,
        message_ttl=pick("message-ttl", options.message_ttl),
        expires=pick("expires", options.expires),
        max_length=pick("max-length", options.max_length),
        max_length_bytes=pick("max-length-bytes", options.max_length_bytes),
        overflow=pick("overflow", options.overflow) or "drop-head",
        dead_letter_exchange=dlx,
        dead_letter_routing_key=dlrk,
        delivery_limit=delivery_limit,
    )


def max_age(arguments: Mapping[str, object], definition: Mapping[str, Any]) -> object:
    """A stream's retention age: the argument first, then the policy."""
    given = arguments.get("x-max-age")
    return given if given is not None else definition.get("max-age")


def alternate_exchange(arguments: Mapping[str, object], policy: Policy | None) -> str | None:
    """An exchange's alternate exchange: its argument first, then its policy."""
    given = arguments.get("alternate-exchange")
    if isinstance(given, str):
        return given
    if isinstance(given, bytes):
        return given.decode("utf-8", "replace")
    value = policy.definition.get("alternate-exchange") if policy is not None else None
    return value if isinstance(value, str) else None


def apply_to_queue(
    queue: Queue, policies: Iterable[Policy], operator_policies: Iterable[Policy]
) -> None:
    """Choose the policies for ``queue`` and apply their effect now (a live change)."""
    policy, operator = queue_policies(
        policies, operator_policies, queue.argument_options.queue_type, queue.name
    )
    if policy == queue.policy and operator == queue.operator_policy:
        return
    queue.policy, queue.operator_policy = policy, operator
    definition = effective_definition(policy, operator)
    if isinstance(queue, StreamQueue):
        age = max_age(queue.arguments, definition)
        queue.max_age = parse_max_age(age) if isinstance(age, str) else None
        queue.retain()
    queue.reconfigure(effective_options(queue.argument_options, queue.arguments, definition))


def apply_to_exchange(exchange: Exchange, policies: Iterable[Policy]) -> None:
    policy = exchange_policy(policies, exchange.name) if exchange.name else None
    exchange.policy = policy
    exchange.alternate = alternate_exchange(exchange.arguments, policy)
