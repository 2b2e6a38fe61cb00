"""broker/admin sits in the synchronous domain layer: the embedded helpers moved there so the
HTTP API and the CLI can share them, which only works while it stays free of the server
layer and of asyncio (DESIGN.md, "Layers"). Checked on the source, TYPE_CHECKING imports
included, as import-linter would."""

from __future__ import annotations

import ast
from pathlib import Path

import leveret.broker.admin

FORBIDDEN = ("asyncio", "leveret.server", "leveret.http", "leveret.cli", "leveret.embedded")


def imported_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
    return names


def test_admin_modules_import_neither_asyncio_nor_the_server_layer() -> None:
    package = Path(leveret.broker.admin.__file__).parent
    modules = sorted(package.glob("*.py"))
    assert {m.stem for m in modules} >= {"base", "vhosts", "queues", "messages", "connections"}
    offending = {
        f"{module.name}: {name}"
        for module in modules
        for name in imported_names(module)
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)
    }
    assert offending == set()
