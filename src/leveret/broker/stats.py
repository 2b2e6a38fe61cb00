"""Message statistics as RabbitMQ's management API reports them: counters, then rates.

The hot path only bumps plain integer attributes of a ``MessageStats`` that the object it
already touches holds (queue, exchange, channel, vhost, node): no callbacks, locks or
allocations per message. A timer (RabbitMQ's ``collect_statistics_interval``, 5 s) calls
``sample`` on each, which turns the counters' growth since the last sample into per-second
rates; the API, the UI and Prometheus read counters and rates from here.
"""

from __future__ import annotations

# The counters, named as RabbitMQ's ``message_stats`` keys. deliver_get is derived.
COUNTERS = (
    "publish",
    "publish_in",
    "publish_out",
    "confirm",
    "deliver",
    "deliver_no_ack",
    "get",
    "get_no_ack",
    "get_empty",
    "ack",
    "redeliver",
    "return_unroutable",
    "drop_unroutable",
)


class MessageStats:
    """Counters of one object, and their rates at the last sample."""

    __slots__ = (
        "_previous",
        "_sampled_at",
        "ack",
        "confirm",
        "deliver",
        "deliver_no_ack",
        "drop_unroutable",
        "get",
        "get_empty",
        "get_no_ack",
        "publish",
        "publish_in",
        "publish_out",
        "rates",
        "redeliver",
        "return_unroutable",
    )

    def __init__(self) -> None:
        self.publish = 0
        self.publish_in = 0
        self.publish_out = 0
        self.confirm = 0
        self.deliver = 0
        self.deliver_no_ack = 0
        self.get = 0
        self.get_no_ack = 0
        self.get_empty = 0
        self.ack = 0
        self.redeliver = 0
        self.return_unroutable = 0
        self.drop_unroutable = 0
        # Per-second rates over the last sampling interval (empty until sampled twice).
        self.rates: dict[str, float] = {}
        self._previous: dict[str, int] = {}
        self._sampled_at = -1.0

    @property
    def deliver_get(self) -> int:
        return self.deliver + self.deliver_no_ack + self.get + self.get_no_ack

    def counts(self) -> dict[str, int]:
        """Every counter, deliver_get included."""
        found = {name: int(getattr(self, name)) for name in COUNTERS}
        found["deliver_get"] = self.deliver_get
        return found

    def sample(self, now: float) -> None:
        """Record the counters at ``now`` (seconds, monotonic); rates are the growth per
        second since the previous sample."""
        counts = self.counts()
        if self._sampled_at >= 0 and now > self._sampled_at:
            elapsed = now - self._sampled_at
            previous = self._previous
            self.rates = {
                name: max(0, value - previous.get(name, 0)) / elapsed
                for name, value in counts.items()
            }
        self._previous = counts
        self._sampled_at = now

    def rate(self, name: str) -> float:
        return self.rates.get(name, 0.0)

    def to_json(self) -> dict[str, object]:
        """RabbitMQ's ``message_stats`` object: each counter that has moved, with its
        ``<name>_details: {"rate": r}`` (RabbitMQ leaves out counters that never moved)."""
        found: dict[str, object] = {}
        for name, value in self.counts().items():
            if value or self.rates.get(name):
                found[name] = value
                found[f"{name}_details"] = {"rate": round(self.rates.get(name, 0.0), 1)}
        return found


class GaugeRates:
    """Rates of change of gauges (a queue's ``messages``, a connection's octets) between
    samples, for RabbitMQ's ``<name>_details: {"rate": r}`` next to a gauge."""

    __slots__ = ("_previous", "_sampled_at", "rates")

    def __init__(self) -> None:
        self.rates: dict[str, float] = {}
        self._previous: dict[str, int] = {}
        self._sampled_at = -1.0

    def sample(self, now: float, values: dict[str, int]) -> None:
        if self._sampled_at >= 0 and now > self._sampled_at:
            elapsed = now - self._sampled_at
            previous = self._previous
            self.rates = {
                name: (value - previous.get(name, value)) / elapsed
                for name, value in values.items()
            }
        self._previous = dict(values)
        self._sampled_at = now

    def details(self, name: str) -> dict[str, float]:
        return {"rate": round(self.rates.get(name, 0.0), 1)}
