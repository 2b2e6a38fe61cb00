"""Resource alarms raised and cleared by hand, as a test would simulate low memory or disk.

The periodic resource check (server/monitor.py) raises and clears alarms on measurements;
it acts on changes of its own measurement only, so an alarm raised here stays until it is
cleared here.
"""

from __future__ import annotations

from leveret.broker.admin.base import AdminNode

RESOURCES = ("memory", "disk")


def set_alarm(node: AdminNode, resource: str, active: bool = True) -> None:
    """Raise (or clear) the ``memory`` or ``disk`` alarm.

    While any alarm is in force, a connection that publishes is blocked: it hears
    connection.blocked (if it declared the capability) and the broker stops reading from
    it. Connections that do not publish are left alone, as in RabbitMQ. When the last alarm
    clears, every blocked connection hears connection.unblocked and is read again.
    """
    if resource not in RESOURCES:
        raise ValueError(f"unknown alarm resource {resource!r} (known: {', '.join(RESOURCES)})")
    node.set_alarm(resource, active)


def list_alarms(node: AdminNode) -> list[str]:
    """The alarms in force, sorted."""
    return sorted(node.alarms)
