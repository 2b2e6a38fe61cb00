"""Leveret: an AMQP 0-9-1 message broker that behaves like RabbitMQ."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leveret.version import __version__

__all__ = ["Broker", "__version__"]

if TYPE_CHECKING:
    from leveret.embedded import Broker


def __getattr__(name: str) -> object:
    # Imported on first use, so `import leveret` stays cheap (the CLI, the pytest plugin).
    if name == "Broker":
        from leveret.embedded import Broker

        return Broker
    raise AttributeError(f"module 'leveret' has no attribute {name!r}")
