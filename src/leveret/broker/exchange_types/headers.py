"""The headers exchange: bindings match on message header values, not the routing key.

A binding's arguments are its match spec.  ``x-match`` (default ``all``) says how:

* ``all`` / ``any``: every / at least one of the binding's arguments must match; keys
  starting with ``x-`` are left out;
* ``all-with-x`` / ``any-with-x``: the same, but ``x-`` keys take part too.

``x-match`` itself never takes part.  An argument matches when the message has a header
of that name with an equal value of the same kind (integers of any width are one kind,
but ``True`` is not ``1`` and ``1`` is not ``1.0``); an argument whose value is void
(``None``) matches whenever the header is present.  With nothing left to match, ``all``
matches every message and ``any`` none.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import ClassVar, Final

from leveret.amqp.errors import PRECONDITION_FAILED, ChannelError
from leveret.broker.exchange_types.base import BindingKey, ExchangeType, freeze, type_class

__all__ = ["HeadersExchange"]

X_MATCH: Final = "x-match"
_MODES: Final = {
    "all": (True, False),
    "any": (False, False),
    "all-with-x": (True, True),
    "any-with-x": (False, True),
}

# How one argument is tested: presence only, equality of a scalar (value and kind),
# or equality of a frozen table/array.
_PRESENT: Final = 0
_SCALAR: Final = 1
_FROZEN: Final = 2

_Test = tuple[str, int, str, object]  # (header name, how, kind, value or frozen value)


def _erlang_binary(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'<<"{escaped}">>'


def _parse_x_match(arguments: Mapping[str, object]) -> tuple[bool, bool]:
    """``(match_all, with_x)`` for a binding, or ChannelError if x-match is invalid."""
    if X_MATCH not in arguments:
        return _MODES["all"]
    raw = arguments[X_MATCH]
    value: str | None = None
    if isinstance(raw, str):
        value = raw
    elif isinstance(raw, bytes | bytearray):
        value = bytes(raw).decode("utf-8", "replace")
    if value is None:
        raise ChannelError(
            PRECONDITION_FAILED,
            f"Invalid x-match field type {type_class(raw)} (value {raw!r}); expected longstr",
        )
    mode = _MODES.get(value)
    if mode is None:
        raise ChannelError(
            PRECONDITION_FAILED,
            f"Invalid x-match field value {_erlang_binary(value)}; "
            "expected all, any, all-with-x, or any-with-x",
        )
    return mode


def _compile(arguments: Mapping[str, object]) -> tuple[bool, tuple[_Test, ...]]:
    match_all, with_x = _parse_x_match(arguments)
    tests: list[_Test] = []
    for name, value in arguments.items():
        if name == X_MATCH or (not with_x and name.startswith("x-")):
            continue
        kind = type_class(value)
        if value is None:
            tests.append((name, _PRESENT, kind, None))
        elif kind in ("table", "array", "bytes"):
            tests.append((name, _FROZEN, kind, freeze(value)))
        else:
            tests.append((name, _SCALAR, kind, value))
    return match_all, tuple(tests)


class HeadersExchange(ExchangeType):
    name: ClassVar[str] = "headers"

    def __init__(self) -> None:
        super().__init__()
        # In binding order: key -> (destination, match_all, tests).
        self._compiled: dict[BindingKey, tuple[Hashable, bool, tuple[_Test, ...]]] = {}

    @classmethod
    def validate_binding(cls, routing_key: str, arguments: Mapping[str, object]) -> None:
        _parse_x_match(arguments)

    def route(
        self, routing_key: str, headers: Mapping[str, object] | None = None
    ) -> tuple[Hashable, ...]:
        if headers is None:
            headers = {}
        out: dict[Hashable, None] = {}
        for destination, match_all, tests in self._compiled.values():
            if destination in out:
                continue
            # Kept inline: this loop runs for every binding on every publish.
            for name, how, kind, expected in tests:
                if name not in headers:
                    ok = False
                elif how == _PRESENT:
                    ok = True
                elif how == _SCALAR:
                    actual = headers[name]
                    ok = bool(actual == expected) and type_class(actual) == kind
                else:
                    ok = freeze(headers[name]) == expected
                if ok is not match_all:
                    break  # all: first failure decides; any: first success decides
            else:
                if match_all:
                    out[destination] = None
                continue
            if not match_all:
                out[destination] = None
        return tuple(out)

    def _added(
        self,
        key: BindingKey,
        destination: Hashable,
        routing_key: str,
        arguments: Mapping[str, object],
    ) -> None:
        match_all, tests = _compile(arguments)
        self._compiled[key] = (destination, match_all, tests)

    def _removed(
        self,
        key: BindingKey,
        destination: Hashable,
        routing_key: str,
        arguments: Mapping[str, object],
    ) -> None:
        del self._compiled[key]
