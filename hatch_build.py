"""Wheel build hook: compile the broker's hot path to C with mypyc.

The code is already `mypy --strict`, so mypyc can compile it unchanged; compiled, a message
costs about half the CPU (see docs/performance.md). The modules to compile are listed
in pyproject.toml (``[tool.hatch.build.targets.wheel.hooks.custom] compile``).

The compiled extension modules sit next to the ``.py`` files in the wheel and win the import.
Where compiling is impossible (no C compiler, an interpreter mypyc does not support) the
wheel is built as pure Python with a warning, so ``pip install .`` always works. Editable
installs stay pure Python: a compiled module in the source tree would shadow later edits.
``LEVERET_PURE_PYTHON=1`` skips compiling; ``LEVERET_REQUIRE_COMPILED=1`` turns a failed
compile into a failed build (CI uses it, so a silent fallback cannot pass unnoticed).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


class MypycBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        self._workdir: Path | None = None
        if self.target_name != "wheel" or version == "editable" or _flag("LEVERET_PURE_PYTHON"):
            return
        modules = [str(Path(self.root, path)) for path in self.config.get("compile", [])]
        self._workdir = Path(tempfile.mkdtemp(prefix="leveret-mypyc-"))
        try:
            built = self._compile(modules, self._workdir)
        except (Exception, SystemExit) as exc:  # mypyc reports type errors by exiting
            if _flag("LEVERET_REQUIRE_COMPILED"):
                raise
            self.app.display_warning(
                f"leveret: compiling with mypyc failed ({exc!r}); building a pure-Python wheel"
            )
            return
        for source, target in built:
            build_data["force_include"][str(source)] = target
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def _compile(self, modules: list[str], workdir: Path) -> list[tuple[Path, str]]:
        from mypyc.build import mypycify
        from setuptools import Distribution

        extensions = mypycify(
            modules, opt_level="3", target_dir=str(workdir / "c"), group_name="leveret"
        )
        dist = Distribution({"name": "leveret", "ext_modules": extensions})
        build_ext: Any = dist.get_command_obj("build_ext")
        build_ext.build_lib = str(workdir / "lib")
        build_ext.build_temp = str(workdir / "tmp")
        build_ext.parallel = os.cpu_count() or 1
        dist.run_command("build_ext")
        lib = workdir / "lib"
        suffixes = (".so", ".pyd")
        built = [path for path in lib.rglob("*") if path.suffix in suffixes]
        if not built:
            raise RuntimeError(f"mypyc produced no extension modules under {lib}")
        self.app.display_info(f"leveret: compiled {len(modules)} modules with mypyc")
        return [(path, path.relative_to(lib).as_posix()) for path in built]

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
