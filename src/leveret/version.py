"""Leveret's version, in a module of its own: importing it does not import the package's
lazy ``Broker`` (embedded, hence server/), so the broker core may name the version."""

from __future__ import annotations

__version__ = "0.1.0"
