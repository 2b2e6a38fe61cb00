"""Tests of the embedded broker and the pytest plugin.

The plugin tests need pytest's ``pytester``. ``pytest_plugins = ["pytester"]`` is only
allowed in the top-level conftest (pytest fails collection of the whole suite otherwise), so
the plugin is loaded here from ``pytest_configure``, which pytest also calls for conftests
found late; it is a no-op where pytester is already active.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")
