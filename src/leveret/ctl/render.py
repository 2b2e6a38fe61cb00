"""How ``leveret ctl`` prints values and listings, as rabbitmqctl 3.10 does.

Tables: a tab-separated header, then one line per row; booleans ``true``/``false``, lists
``[a, b]``, an AMQP field table (arguments, client properties; the broker sends it as
``[key, type, value]`` triples) as rabbitmqctl prints Erlang proplists:
``[{"x-max-length",10},{"x-queue-type","quorum"}]``, the protocol as ``{0,9,1}``.

JSON: rabbitmqctl's layout, one object a line with leading commas; the triples stay as they
are, which is what rabbitmqctl's JSON gives for tables.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from typing import Any, TextIO

# Column styles: how a listing's special columns print in a table.
TABLE = "table"  # an AMQP field table, as [key, type, value] triples
TUPLE = "tuple"  # an Erlang tuple: {0,9,1}
ADDRESS = "address"  # an IP address as the numbers of an Erlang tuple: 127.0.0.1, ::1
QUOTED_TYPES = ("longstr", "binary", "decimal")


def compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def cell(value: object, style: str | None = None) -> str:
    """A value as rabbitmqctl's table shows it."""
    if style == TABLE and isinstance(value, list):
        return field_table(value)
    if style == TUPLE and isinstance(value, list):
        return "{" + ",".join(cell(item) for item in value) + "}"
    if style == ADDRESS and isinstance(value, list):
        return address(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "undefined"
    if isinstance(value, list):
        return f"[{', '.join(cell(item) for item in value)}]"
    if isinstance(value, dict):
        return compact(value)
    return str(value)


def address(numbers: list[Any]) -> str:
    if len(numbers) == 4:
        return ".".join(str(n) for n in numbers)
    return str(ipaddress.IPv6Address(b"".join(int(n).to_bytes(2, "big") for n in numbers)))


def field_table(triples: list[Any]) -> str:
    """``[[key, type, value], ...]`` as ``[{"key",value},...]``."""
    pairs = []
    for triple in triples:
        if isinstance(triple, list) and len(triple) == 3:
            key, kind, value = triple
            pairs.append("{" + compact(str(key)) + "," + field_value(str(kind), value) + "}")
    return "[" + ",".join(pairs) + "]"


def field_value(kind: str, value: object) -> str:
    if kind == "table" and isinstance(value, list):
        return field_table(value)
    if kind == "array" and isinstance(value, list):
        items = [
            field_value(str(item[0]), item[1])
            for item in value
            if isinstance(item, list) and len(item) == 2
        ]
        return "[" + ",".join(items) + "]"
    if kind in QUOTED_TYPES:
        return compact(str(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "undefined"
    return str(value)


def print_rows(
    rows: list[dict[str, Any]],
    columns: list[str],
    *,
    formatter: str,
    header: bool,
    out: TextIO,
    styles: Mapping[str, str] | None = None,
    streamed: bool = False,
) -> None:
    """A listing. ``streamed``: rabbitmqctl streams it (queues, connections...), and an
    empty one prints as ``[`` and ``]`` on two lines rather than ``[]``."""
    if formatter == "json":
        # rabbitmqctl's layout: one object a line, commas leading.
        objects = [compact({c: row.get(c) for c in columns}) for row in rows]
        if not objects:
            out.write("[\n]\n" if streamed else "[]\n")
            return
        out.write("[\n" + "".join(o + "\n" if i == 0 else f",{o}\n" for i, o in enumerate(objects)))
        out.write("]\n")
        return
    if not rows:
        return  # as rabbitmqctl: no header over nothing
    styles = styles or {}
    if header:
        out.write("\t".join(columns) + "\n")
    for row in rows:
        out.write("\t".join(cell(row.get(c), styles.get(c)) for c in columns) + "\n")
