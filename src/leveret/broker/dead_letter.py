"""Dead-lettering: the copy of a discarded message that goes to a dead-letter exchange.

RabbitMQ records each death in the ``x-death`` header: a list of tables, newest first, one per
(queue, reason), whose ``count`` grows when the same message dies the same way again.
"""

from __future__ import annotations

from leveret.amqp import table
from leveret.amqp.spec import BasicProperties
from leveret.broker.message import Message


def header_keys(value: object) -> list[str]:
    """Routing keys from a CC/BCC header (an array of strings)."""
    if not isinstance(value, list | tuple):
        return []
    return [v.decode() if isinstance(v, bytes) else v for v in value if isinstance(v, str | bytes)]


class DeadLetter:
    """A dead-lettered copy and where it goes."""

    __slots__ = ("deaths", "keys", "message")

    def __init__(self, message: Message, keys: list[str], deaths: list[dict[str, object]]):
        self.message = message
        self.keys = keys
        self.deaths = deaths

    def may_enter(self, queue_name: str) -> bool:
        """A message dead-lettered around a cycle with no rejection anywhere is dropped."""
        if any(d.get("reason") == "rejected" for d in self.deaths):
            return True
        return all(d.get("queue") != queue_name for d in self.deaths)


def dead_letter(
    message: Message,
    queue_name: str,
    reason: str,
    exchange: str,
    routing_key: str | None,
    now: float,
    last_death_headers: bool = True,
) -> DeadLetter:
    """The copy of ``message`` that ``queue_name`` dead-letters to ``exchange`` for ``reason``.

    ``last_death_headers``: add x-last-death-*, which RabbitMQ sets only since 3.13.
    """
    properties = BasicProperties.decode(message.properties_raw)
    headers = dict(properties.headers or {})
    routing_keys = [message.routing_key, *header_keys(headers.get("CC"))]
    previous = headers.get("x-death")
    deaths = [d for d in previous if isinstance(d, dict)] if isinstance(previous, list) else []
    stamp = table.Timestamp(int(now))
    for index, death in enumerate(deaths):
        if death.get("queue") == queue_name and death.get("reason") == reason:
            death = dict(death)
            death["count"] = table.Int64(int(death.get("count") or 0) + 1)
            death["time"] = stamp
            deaths.pop(index)
            break
    else:
        death = {
            "count": table.Int64(1),
            "reason": reason,
            "queue": queue_name,
            "time": stamp,
            "exchange": message.exchange,
            "routing-keys": routing_keys,
        }
        if properties.expiration is not None:
            death["original-expiration"] = properties.expiration
    deaths.insert(0, death)
    headers["x-death"] = deaths
    for suffix, value in (
        ("reason", reason),
        ("queue", queue_name),
        ("exchange", message.exchange),
    ):
        headers.setdefault(f"x-first-death-{suffix}", value)
        if last_death_headers:
            headers[f"x-last-death-{suffix}"] = value
    if routing_key is not None:
        headers.pop("CC", None)  # a fixed dead-letter routing key replaces CC routing
    properties.headers = headers
    properties.expiration = None  # kept in x-death as original-expiration
    copy = Message(
        exchange,
        routing_key if routing_key is not None else message.routing_key,
        properties.encode(),
        message.body,
    )
    keys = [routing_key] if routing_key is not None else routing_keys + (message.bcc or [])
    return DeadLetter(copy, keys, deaths)
