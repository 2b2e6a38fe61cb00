"""Base class of the generated AMQP method classes (see spec.py)."""

from __future__ import annotations

from typing import ClassVar

__all__ = ["Method"]


class Method:
    """One AMQP method: its arguments are attributes named after the spec fields.

    Subclasses are generated into ``leveret.amqp.spec`` by ``scripts/gen_spec.py``.
    ``FIELDS`` lists the attribute names in wire order and ``FIELD_TYPES`` their AMQP
    domain types (bit, octet, short, long, longlong, shortstr, longstr, table, timestamp).
    """

    __slots__ = ()

    CLASS_ID: ClassVar[int]
    METHOD_ID: ClassVar[int]
    NAME: ClassVar[str]
    SYNCHRONOUS: ClassVar[bool]
    HAS_CONTENT: ClassVar[bool]
    FIELDS: ClassVar[tuple[str, ...]]
    FIELD_TYPES: ClassVar[tuple[str, ...]]

    def encode(self) -> bytes:
        """The method frame payload: class id, method id, then the arguments."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.FIELDS)
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.FIELDS)

    __hash__ = None  # type: ignore[assignment]
