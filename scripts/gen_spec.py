#!/usr/bin/env python3
"""Generate src/leveret/amqp/spec.py from the AMQP 0-9-1 specification XML.

Usage: python scripts/gen_spec.py [XML] [--check] [--output PATH]

The default XML is RabbitMQ's extended 0-9-1 spec as shipped by Debian's amqp-specs
package. Methods RabbitMQ added later than that file (connection.blocked/unblocked,
connection.update-secret/-ok) are appended when the XML lacks them.

Each method gets a class with a specialised encoder and a specialised decoder function:
fixed-size runs of fields (integers and packed bit octets) become one precompiled
struct.Struct, strings and tables are decoded inline. No per-field interpretation loop
runs at encode/decode time.
"""

from __future__ import annotations

import argparse
import keyword
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

DEFAULT_XML = Path("/usr/share/amqp/specs/0-9-1-rabbit/amqp0-9-1.stripped.extended.xml")
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "src" / "leveret" / "amqp" / "spec.py"

# (class, method, index, synchronous, [(field, type)]) -- RabbitMQ extensions to 0-9-1.
EXTENSIONS: list[tuple[str, str, int, bool, list[tuple[str, str]]]] = [
    ("connection", "blocked", 60, False, [("reason", "shortstr")]),
    ("connection", "unblocked", 61, False, []),
    ("connection", "update-secret", 70, True, [("new-secret", "longstr"), ("reason", "shortstr")]),
    ("connection", "update-secret-ok", 71, True, []),
]

# Property names that differ from the XML (RabbitMQ calls basic's 14th property cluster-id).
PROPERTY_RENAMES = {"reserved": "cluster-id"}

FIXED = {"octet": "B", "short": "H", "long": "I", "longlong": "Q", "timestamp": "Q"}
PY_TYPES = {
    "bit": "bool",
    "octet": "int",
    "short": "int",
    "long": "int",
    "longlong": "int",
    "timestamp": "int",
    "shortstr": "str",
    "longstr": "bytes",
    "table": "dict[str, object]",
}
DEFAULTS = {
    "bit": "False",
    "octet": "0",
    "short": "0",
    "long": "0",
    "longlong": "0",
    "timestamp": "0",
    "shortstr": '""',
    "longstr": 'b""',
    "table": "None",
}


@dataclass(frozen=True)
class Field:
    name: str  # spec name, e.g. "no-ack"
    type: str  # primitive domain type

    @property
    def attr(self) -> str:
        attr = self.name.replace("-", "_")
        return attr + "_" if keyword.iskeyword(attr) else attr


@dataclass(frozen=True)
class MethodSpec:
    class_name: str
    class_id: int
    name: str
    index: int
    synchronous: bool
    content: bool
    fields: tuple[Field, ...]

    @property
    def full_name(self) -> str:
        return f"{self.class_name}.{self.name}"

    @property
    def py_name(self) -> str:
        return camel(self.class_name) + camel(self.name)

    @property
    def key(self) -> int:
        return self.class_id << 16 | self.index


@dataclass(frozen=True)
class Spec:
    major: int
    minor: int
    revision: int
    port: int
    constants: tuple[tuple[str, int], ...]
    methods: tuple[MethodSpec, ...]
    properties: tuple[Field, ...]  # basic class content properties


def camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def parse(xml_path: Path) -> Spec:
    root = ET.parse(xml_path).getroot()
    domains = {d.attrib["name"]: d.attrib["type"] for d in root.iter("domain")}

    def field_type(el: ET.Element) -> str:
        kind = el.attrib.get("type") or el.attrib["domain"]
        while kind in domains and domains[kind] != kind:
            kind = domains[kind]
        if kind not in PY_TYPES:
            raise SystemExit(f"unsupported field type {kind!r}")
        return kind

    constants = tuple(
        (c.attrib["name"], int(c.attrib["value"]))
        for c in root.iter("constant")
        if c.attrib["name"].startswith("frame-") and "class" not in c.attrib
    )
    methods: list[MethodSpec] = []
    properties: tuple[Field, ...] = ()
    class_ids: dict[str, int] = {}
    for cls in root.iter("class"):
        cname = cls.attrib["name"]
        cid = int(cls.attrib["index"])
        class_ids[cname] = cid
        if cname == "basic":
            properties = tuple(
                Field(PROPERTY_RENAMES.get(f.attrib["name"], f.attrib["name"]), field_type(f))
                for f in cls.findall("field")
            )
        for m in cls.findall("method"):
            methods.append(
                MethodSpec(
                    class_name=cname,
                    class_id=cid,
                    name=m.attrib["name"],
                    index=int(m.attrib["index"]),
                    synchronous=m.attrib.get("synchronous") == "1",
                    content=m.attrib.get("content") == "1",
                    fields=tuple(
                        Field(f.attrib["name"], field_type(f)) for f in m.findall("field")
                    ),
                )
            )
    known = {(m.class_name, m.name) for m in methods}
    for cname, mname, index, sync, fields in EXTENSIONS:
        if (cname, mname) not in known:
            methods.append(
                MethodSpec(
                    cname,
                    class_ids[cname],
                    mname,
                    index,
                    sync,
                    False,
                    tuple(Field(n, t) for n, t in fields),
                )
            )
    methods.sort(key=lambda m: (m.class_id, m.index))
    if len(properties) > 15:
        raise SystemExit("more than 15 basic properties: flag continuation is not supported")
    return Spec(
        int(root.attrib["major"]),
        int(root.attrib["minor"]),
        int(root.attrib["revision"]),
        int(root.attrib["port"]),
        constants,
        tuple(methods),
        properties,
    )


# -- code generation ----------------------------------------------------------------------


class Structs:
    """Precompiled struct.Struct objects, deduplicated by format."""

    def __init__(self) -> None:
        self.formats: dict[str, str] = {}

    def name(self, fmt: str) -> str:
        if fmt not in self.formats:
            self.formats[fmt] = f"_S_{fmt}"
        return self.formats[fmt]


@dataclass
class Item:
    kind: str  # "fixed" or a variable type: shortstr, longstr, table
    fmt: str = ""
    enc: tuple[str, ...] = ()  # fixed: one expression per struct code
    dec: tuple[str, ...] = ()  # fixed: one target name per struct code
    post: tuple[str, ...] = ()  # fixed: statements after unpacking (bit extraction)
    attr: str = ""  # variable


def items_for(method: MethodSpec) -> list[Item]:
    """Group fields into wire items: merged fixed-size runs and variable-size fields."""
    items: list[Item] = []
    fields = list(method.fields)
    i = 0
    nbits = 0
    while i < len(fields):
        f = fields[i]
        if f.type == "bit":
            group: list[Field] = []
            while i < len(fields) and fields[i].type == "bit" and len(group) < 8:
                group.append(fields[i])
                i += 1
            var = f"_b{nbits}"
            nbits += 1
            enc = " | ".join(
                f"(1 if self.{g.attr} else 0)" if n == 0 else f"({1 << n} if self.{g.attr} else 0)"
                for n, g in enumerate(group)
            )
            post = tuple(f"{g.attr} = ({var} & {1 << n}) != 0" for n, g in enumerate(group))
            items.append(Item("fixed", "B", (enc,), (var,), post))
            continue
        if f.type in FIXED:
            items.append(Item("fixed", FIXED[f.type], (f"self.{f.attr}",), (f.attr,)))
        else:
            items.append(Item(f.type, attr=f.attr))
        i += 1
    merged: list[Item] = []
    for item in items:
        if item.kind == "fixed" and merged and merged[-1].kind == "fixed":
            prev = merged[-1]
            merged[-1] = Item(
                "fixed",
                prev.fmt + item.fmt,
                prev.enc + item.enc,
                prev.dec + item.dec,
                prev.post + item.post,
            )
        else:
            merged.append(item)
    return merged


def struct_size(fmt: str) -> int:
    sizes = {"B": 1, "H": 2, "I": 4, "Q": 8}
    return sum(sizes[c] for c in fmt)


def gen_encode(method: MethodSpec, structs: Structs) -> list[str]:
    items = items_for(method)
    header = method.class_id.to_bytes(2, "big") + method.index.to_bytes(2, "big")
    lines = ["    def encode(self) -> bytes:"]
    if not items:
        lines.append(f"        return {header!r}")
        return lines
    parts: list[str] = []
    for n, item in enumerate(items):
        if item.kind == "fixed":
            if n == 0:
                s = structs.name("HH" + item.fmt)
                args = ", ".join((str(method.class_id), str(method.index), *item.enc))
                parts.append(f"{s}.pack({args})")
            else:
                s = structs.name(item.fmt)
                parts.append(f"{s}.pack({', '.join(item.enc)})")
        else:
            if n == 0:
                parts.append(repr(header))
            if item.kind == "shortstr":
                parts.append(f"_ss(self.{item.attr})")
            elif item.kind == "longstr":
                parts.append(f"_ls(self.{item.attr})")
            else:
                parts.append(f"encode_table(self.{item.attr})")
    lines += [
        "        try:",
        f"            return {' + '.join(parts)}",
        "        except _struct.error as exc:",
        f'            raise ValueError(f"cannot encode {method.full_name}: {{exc}}") from None',
    ]
    return lines


def gen_decode(method: MethodSpec, structs: Structs) -> list[str]:
    fn = f"_decode_{method.class_name}_{method.name.replace('-', '_')}"
    lines = [f"def {fn}(d: bytes, o: int) -> {method.py_name}:"]
    for item in items_for(method):
        if item.kind == "fixed":
            size = struct_size(item.fmt)
            if item.fmt == "B":
                lines.append(f"    {item.dec[0]} = d[o]")
            else:
                s = structs.name(item.fmt)
                targets = item.dec[0] + "," if len(item.dec) == 1 else ", ".join(item.dec)
                lines.append(f"    {targets} = {s}.unpack_from(d, o)")
            lines.append(f"    o += {size}")
            lines += [f"    {p}" for p in item.post]
        elif item.kind == "shortstr":
            # Names in methods without content must be UTF-8 (RabbitMQ: 501 "Malformed
            # UTF-8 in shortstr", see decode_method); basic.publish's exchange and routing
            # key are not checked by RabbitMQ, so they keep their bytes as surrogates.
            errors = '"surrogateescape"' if method.content else ""
            lines += [
                "    _n = d[o] + o + 1",
                f'    {item.attr} = d[o + 1:_n].decode("utf-8"{", " + errors if errors else ""})',
                "    o = _n",
            ]
        elif item.kind == "longstr":
            lines += [
                "    _n = _unpack_u32(d, o)[0] + o + 4",
                f"    {item.attr} = d[o + 4:_n]",
                "    o = _n",
            ]
        else:
            lines.append(f"    {item.attr}, o = _decode_table(d, o)")
    lines += [
        "    if o != len(d):",
        "        raise _Malformed",
        f"    return {method.py_name}({', '.join(f.attr for f in method.fields)})",
    ]
    return lines


def gen_class(method: MethodSpec, structs: Structs) -> list[str]:
    attrs = [f.attr for f in method.fields]
    lines = [
        f"class {method.py_name}(Method):",
        f'    """{method.full_name} ({method.class_id}, {method.index})."""',
        "",
        f"    __slots__ = {tuple(attrs)!r}",
        f"    CLASS_ID = {method.class_id}",
        f"    METHOD_ID = {method.index}",
        f"    NAME = {method.full_name!r}",
        f"    SYNCHRONOUS = {method.synchronous}",
        f"    HAS_CONTENT = {method.content}",
        f"    FIELDS = {tuple(attrs)!r}",
        f"    FIELD_TYPES = {tuple(f.type for f in method.fields)!r}",
        "",
    ]
    if method.fields:
        for f in method.fields:
            lines.append(f"    {f.attr}: {PY_TYPES[f.type]}")
        lines.append("")
        params = []
        for f in method.fields:
            ptype = PY_TYPES[f.type] + (" | None" if f.type == "table" else "")
            params.append(f"{f.attr}: {ptype} = {DEFAULTS[f.type]}")
        lines.append(f"    def __init__(self, {', '.join(params)}) -> None:")
        for f in method.fields:
            if f.type == "table":
                lines.append(f"        self.{f.attr} = {{}} if {f.attr} is None else {f.attr}")
            else:
                lines.append(f"        self.{f.attr} = {f.attr}")
        lines.append("")
    lines += gen_encode(method, structs)
    return lines


def gen_properties(props: tuple[Field, ...]) -> list[str]:
    attrs = [p.attr for p in props]
    lines = [
        "class BasicProperties:",
        '    """Basic content properties: the bytes after body-size in a content header."""',
        "",
        f"    __slots__ = {tuple(attrs)!r}",
        # ClassVar: compiled with mypyc, an unannotated class constant would become a
        # per-instance attribute and vanish from the class.
        f"    FIELDS: ClassVar[tuple[str, ...]] = {tuple(attrs)!r}",
        f"    FIELD_TYPES: ClassVar[tuple[str, ...]] = {tuple(p.type for p in props)!r}",
        "",
    ]
    for p in props:
        lines.append(f"    {p.attr}: {PY_TYPES[p.type]} | None")
    lines.append("")
    params = ", ".join(f"{p.attr}: {PY_TYPES[p.type]} | None = None" for p in props)
    lines.append(f"    def __init__(self, {params}) -> None:")
    lines += [f"        self.{a} = {a}" for a in attrs]
    lines += [
        "",
        "    def encode(self) -> bytes:",
        "        flags = 0",
        "        parts: list[bytes] = []",
    ]
    for n, p in enumerate(props):
        bit = 1 << (15 - n)
        lines += [f"        v_{p.attr} = self.{p.attr}", f"        if v_{p.attr} is not None:"]
        lines.append(f"            flags |= {bit:#06x}")
        enc = {
            "shortstr": f"_ss(v_{p.attr})",
            "longstr": f"_ls(v_{p.attr})",
            "table": f"encode_table(v_{p.attr})",
            "octet": f"_S_B.pack(v_{p.attr})",
            "timestamp": f"_S_Q.pack(v_{p.attr})",
        }[p.type]
        lines.append(f"            parts.append({enc})")
    lines += [
        "        try:",
        '            return _S_H.pack(flags) + b"".join(parts)',
        "        except _struct.error as exc:",
        '            raise ValueError(f"cannot encode basic properties: {exc}") from None',
        "",
        "    @classmethod",
        "    def decode(cls, data: _Buf) -> BasicProperties:",
        '        """Decode raw properties (flags then values); FrameError on malformed input."""',
        "        try:",
        "            return _decode_properties(data if type(data) is bytes else bytes(data))",
        "        except (_struct.error, IndexError, ValueError, _Malformed):",
        '            raise FrameError("cannot decode basic properties") from None',
        "        except FrameError as exc:",
        '            raise FrameError(f"cannot decode basic properties: {exc.detail}") from None',
        "",
        "    def __repr__(self) -> str:",
        "        values = ((n, getattr(self, n)) for n in self.FIELDS)",
        '        args = ", ".join(f"{n}={v!r}" for n, v in values if v is not None)',
        '        return f"BasicProperties({args})"',
        "",
        "    def __eq__(self, other: object) -> bool:",
        "        if type(other) is not BasicProperties:",
        "            return NotImplemented",
        "        return " + " and ".join(f"self.{a} == other.{a}" for a in attrs),
        "",
        "    __hash__ = None  # type: ignore[assignment]",
        "",
        "",
        "def _decode_properties(d: bytes) -> BasicProperties:",
        "    flags = _S_H.unpack_from(d, 0)[0]",
        "    o = 2",
    ]
    for p in props:
        lines.append(f"    {p.attr}: {PY_TYPES[p.type]} | None = None")
    for n, p in enumerate(props):
        bit = 1 << (15 - n)
        lines.append(f"    if flags & {bit:#06x}:")
        if p.type == "shortstr":
            lines += [
                "        _n = d[o] + o + 1",
                f'        {p.attr} = d[o + 1:_n].decode("utf-8", "surrogateescape")',
                "        o = _n",
            ]
        elif p.type == "longstr":
            lines += [
                "        _n = _unpack_u32(d, o)[0] + o + 4",
                f"        {p.attr} = d[o + 4:_n]",
                "        o = _n",
            ]
        elif p.type == "table":
            lines.append(f"        {p.attr}, o = _decode_table(d, o)")
        elif p.type == "octet":
            lines += [f"        {p.attr} = d[o]", "        o += 1"]
        elif p.type == "timestamp":
            lines += [f"        {p.attr} = _S_Q.unpack_from(d, o)[0]", "        o += 8"]
        else:
            raise SystemExit(f"unsupported property type {p.type}")
    lines += [
        "    if o != len(d):",
        "        raise _Malformed",
        f"    return BasicProperties({', '.join(attrs)})",
    ]
    return lines


HEADER = '''\
# generated by scripts/gen_spec.py, do not edit
# source: {source}
"""AMQP {major}-{minor}-{revision} methods and basic properties, with RabbitMQ's extensions.

Each method class has a specialised ``encode``; ``decode_method`` dispatches on the
class and method ids to a specialised decoder.
"""

from __future__ import annotations

import struct as _struct
from collections.abc import Callable
from typing import ClassVar

from leveret.amqp.errors import NOT_IMPLEMENTED, ConnectionError_, FrameError
from leveret.amqp.method import Method
from leveret.amqp.table import decode_table as _decode_table
from leveret.amqp.table import encode_shortstr as _ss
from leveret.amqp.table import encode_table

_Buf = bytes | bytearray | memoryview

PROTOCOL_HEADER = {protocol_header!r}
DEFAULT_PORT = {port}

#: The detail of the 501 for a method whose short string is not UTF-8 (as RabbitMQ says it).
MALFORMED_UTF8 = "Malformed UTF-8 in shortstr"
'''


def generate(spec: Spec, source: str) -> str:
    structs = Structs()
    for fmt in ("B", "H", "I", "Q"):
        structs.name(fmt)
    protocol_header = b"AMQP\x00" + bytes((spec.major, spec.minor, spec.revision))
    out = [
        HEADER.format(
            source=source,
            major=spec.major,
            minor=spec.minor,
            revision=spec.revision,
            protocol_header=protocol_header,
            port=spec.port,
        )
    ]
    for name, value in spec.constants:
        out.append(f"{name.upper().replace('-', '_')} = {value}")
    out.append("")
    body: list[str] = []
    for method in spec.methods:
        body += ["", "", *gen_class(method, structs)]
    body += ["", "", *gen_properties(spec.properties)]
    decoders: list[str] = []
    for method in spec.methods:
        decoders += ["", "", *gen_decode(method, structs)]
    struct_lines = [
        f"{name} = _struct.Struct({'>' + fmt!r})" for fmt, name in structs.formats.items()
    ]
    out += struct_lines
    out += [
        "_unpack_u32 = _S_I.unpack_from",
        "",
        "",
        "class _Malformed(Exception):",
        '    """Arguments do not fill the frame exactly."""',
        "",
        "",
        "def _ls(value: bytes) -> bytes:",
        "    return _S_I.pack(len(value)) + value",
    ]
    out += body
    out += decoders
    out += [
        "",
        "",
        "METHODS: dict[tuple[int, int], type[Method]] = {",
        *(f"    ({m.class_id}, {m.index}): {m.py_name}," for m in spec.methods),
        "}",
        "",
        "_BY_KEY: dict[int, type[Method]] = {",
        "    (c << 16) | m: cls for (c, m), cls in METHODS.items()",
        "}",
        "",
        "_DECODERS: dict[int, Callable[[bytes, int], Method]] = {",
        *(
            f"    {m.key:#010x}: _decode_{m.class_name}_{m.name.replace('-', '_')},"
            for m in spec.methods
        ),
        "}",
        "",
        "",
        "def decode_method(payload: _Buf) -> Method:",
        '    """Decode a method frame payload (class id, method id, arguments)."""',
        "    try:",
        "        key = _unpack_u32(payload, 0)[0]",
        "    except _struct.error:",
        '        raise FrameError("method frame too short") from None',
        "    decoder = _DECODERS.get(key)",
        "    if decoder is None:",
        "        raise ConnectionError_(",
        "            NOT_IMPLEMENTED,",
        '            f"unknown method {key >> 16}.{key & 0xFFFF}",',
        "            key >> 16,",
        "            key & 0xFFFF,",
        "        )",
        "    try:",
        "        return decoder(payload if type(payload) is bytes else bytes(payload), 4)",
        "    except UnicodeDecodeError:",
        "        # RabbitMQ's words; it names no method (class and method id 0).",
        "        raise FrameError(MALFORMED_UTF8) from None",
        "    except (_struct.error, IndexError, ValueError, _Malformed):",
        '        detail = ""',
        "    except FrameError as exc:",
        '        detail = ": " + exc.detail',
        "    cls = _BY_KEY[key]",
        '    err = FrameError(f"cannot decode method {cls.NAME} arguments{detail}")',
        "    err.class_id = cls.CLASS_ID",
        "    err.method_id = cls.METHOD_ID",
        "    raise err",
        "",
        "",
        "__all__ = [",
        '    "BasicProperties",',
        '    "DEFAULT_PORT",',
        '    "MALFORMED_UTF8",',
        *(f'    "{name.upper().replace("-", "_")}",' for name, _ in spec.constants),
        '    "METHODS",',
        '    "Method",',
        '    "PROTOCOL_HEADER",',
        '    "decode_method",',
        *(f'    "{m.py_name}",' for m in spec.methods),
        "]",
    ]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("xml", nargs="?", type=Path, default=DEFAULT_XML)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true", help="exit 1 if the output is stale")
    args = parser.parse_args(argv)
    source = args.xml.name
    text = generate(parse(args.xml), source)
    if args.check:
        current = args.output.read_text() if args.output.exists() else None
        if current != text:
            print(f"{args.output} is stale: run python scripts/gen_spec.py", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
