"""The mypyc-compiled wheel: the modules pyproject.toml lists are the ones that run compiled.

CI builds the wheel, installs it in a separate virtualenv and runs the whole suite there with
``LEVERET_EXPECT_COMPILED=1``; only then are the imported modules required to be extension
modules. In an editable (pure-Python) install that check is skipped.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _compile_list() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    paths: list[str] = config["tool"]["hatch"]["build"]["targets"]["wheel"]["hooks"]["custom"][
        "compile"
    ]
    return paths


def _module_name(path: str) -> str:
    return ".".join(Path(path).relative_to("src").with_suffix("").parts)


@pytest.mark.parametrize("path", _compile_list())
def test_listed_module_exists(path: str) -> None:
    assert (ROOT / path).is_file()


@pytest.mark.skipif(
    not os.environ.get("LEVERET_EXPECT_COMPILED"),
    reason="only for the compiled wheel (LEVERET_EXPECT_COMPILED=1)",
)
@pytest.mark.parametrize("path", _compile_list())
def test_module_runs_compiled(path: str) -> None:
    module = importlib.import_module(_module_name(path))
    assert module.__file__ is not None
    assert module.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)), module.__file__
