"""Message statistics as RabbitMQ's management API reports them: counters, then rates.

The hot path only bumps plain integer attributes of a ``MessageStats`` that the object it
already touches holds (queue, exchange, channel, vhost, node): no callbacks, locks or
allocations per message. A timer (RabbitMQ's ``collect_statistics_interval``, 5 s) calls
``sample`` on each, which turns the counters' growth since the last sample into per-second
rates; the API, the UI and Prometheus read counters and rates from here.

What moves which counter follows RabbitMQ 3.10 as measured (docs in
``leveret.broker.admin.stats``). ``ConsumerUse`` is a queue's consumer utilisation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

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

_NO_RATES: dict[str, float] = {}  # shared by every idle object; never mutated
_ZEROS = (0,) * len(COUNTERS)
# deliver, deliver_no_ack, get and get_no_ack: the deliveries deliver_get sums.
_DELIVERED_FROM = COUNTERS.index("deliver")
_DELIVERED_TO = COUNTERS.index("get_no_ack") + 1


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
        # Per-second rates over the last sampling interval (empty until sampled twice, and
        # while nothing moves: a missing rate is 0).
        self.rates: dict[str, float] = _NO_RATES
        self._previous: tuple[int, ...] = _ZEROS
        self._sampled_at = -1.0

    @property
    def deliver_get(self) -> int:
        return self.deliver + self.deliver_no_ack + self.get + self.get_no_ack

    def values(self) -> tuple[int, ...]:
        """The counters in COUNTERS order."""
        return (
            self.publish,
            self.publish_in,
            self.publish_out,
            self.confirm,
            self.deliver,
            self.deliver_no_ack,
            self.get,
            self.get_no_ack,
            self.get_empty,
            self.ack,
            self.redeliver,
            self.return_unroutable,
            self.drop_unroutable,
        )

    def counts(self) -> dict[str, int]:
        """Every counter, deliver_get included."""
        found = dict(zip(COUNTERS, self.values(), strict=True))
        found["deliver_get"] = self.deliver_get
        return found

    def add(self, other: MessageStats) -> None:
        """Add ``other``'s counters to these (a deleted vhost's, into the node's)."""
        for name in COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def set_sum(self, parts: Iterable[MessageStats]) -> None:
        """Make these counters the sum of ``parts`` (the node's totals, at each sample)."""
        sums = dict.fromkeys(COUNTERS, 0)
        for part in parts:
            for name in COUNTERS:
                sums[name] += getattr(part, name)
        for name, value in sums.items():
            setattr(self, name, value)

    def sample(self, now: float) -> None:
        """Record the counters at ``now`` (seconds, monotonic); rates are the growth per
        second since the previous sample (only counters that grew have one)."""
        values = self.values()
        previous = self._previous
        if values == previous:
            # Nothing moved (most of 10,000 queues): every rate is 0, and the recorded
            # counters still hold.
            self.rates = _NO_RATES
            self._sampled_at = now
            return
        if self._sampled_at >= 0 and now > self._sampled_at:
            elapsed = now - self._sampled_at
            rates: dict[str, float] = {}
            delivered = 0
            for index, value in enumerate(values):
                grown = value - previous[index]
                if grown:
                    rates[COUNTERS[index]] = grown / elapsed
                    if _DELIVERED_FROM <= index < _DELIVERED_TO:
                        delivered += grown
            if delivered:
                rates["deliver_get"] = delivered / elapsed
            self.rates = rates
        self._previous = values
        self._sampled_at = now

    def rate(self, name: str) -> float:
        return self.rates.get(name, 0.0)

    def to_json(self, groups: tuple[tuple[str, ...], ...] = ()) -> dict[str, object]:
        """RabbitMQ's ``message_stats`` object, each counter with its
        ``<name>_details: {"rate": r}``. RabbitMQ reports counters in groups (what an
        object publishes, what it delivers): a group appears whole, zeros included, once
        any of its counters moved, and not at all before. Without ``groups``, each counter
        is its own group."""
        values = self.values()
        if not any(values):  # nothing counted yet (most objects): counters only grow
            return {}
        counts = dict(zip(COUNTERS, values, strict=True))
        counts["deliver_get"] = self.deliver_get
        found: dict[str, object] = {}
        for group in groups or tuple((name,) for name in counts):
            if any(counts.get(name) or self.rates.get(name) for name in group):
                for name in group:
                    found[name] = counts.get(name, 0)
                    found[f"{name}_details"] = {"rate": round(self.rates.get(name, 0.0), 1)}
        return dict(sorted(found.items()))


# RabbitMQ's groups of message_stats counters, per kind of object (measured on 3.10).
DELIVERING = (
    "ack",
    "deliver",
    "deliver_get",
    "deliver_no_ack",
    "get",
    "get_empty",
    "get_no_ack",
    "redeliver",
)
CHANNEL_GROUPS = (("publish", "confirm", "return_unroutable", "drop_unroutable"), DELIVERING)
QUEUE_GROUPS = (("publish",), DELIVERING)
EXCHANGE_GROUPS = (("publish_in", "publish_out"),)


class GaugeRates:
    """Rates of change of gauges (a queue's ``messages``, a connection's octets) between
    samples, for RabbitMQ's ``<name>_details: {"rate": r}`` next to a gauge."""

    __slots__ = ("_previous", "_sampled_at", "rates")

    def __init__(self) -> None:
        self.rates: dict[str, float] = _NO_RATES
        self._previous: dict[str, int] = {}
        self._sampled_at = -1.0

    def sample(self, now: float, values: dict[str, int]) -> None:
        if values == self._previous:
            # Unchanged (an idle queue): the rates are 0, the recorded values still hold.
            self.rates = _NO_RATES
            self._sampled_at = now
            return
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


# RabbitMQ averages consumer utilisation with a half-life of one second.
USE_HALF_LIFE = 1.0


class ConsumerUse:
    """RabbitMQ's ``consumer_utilisation`` (3.10: also ``consumer_capacity``) of a queue:
    the share of time its consumers could take a message at once, as a moving average.

    The queue reports transitions only: ``inactive`` when a dispatch finds no consumer
    with credit while messages wait, ``active`` when it delivers again. Both happen at
    most once per dispatch pass, never per message.
    """

    __slots__ = ("active", "active_time", "average", "since")

    def __init__(self, now: float) -> None:
        self.active = True
        self.since = now
        self.active_time = 0.0  # while inactive: how long the last active spell lasted
        self.average = 1.0

    def went_inactive(self, now: float) -> None:
        if self.active:
            self.active = False
            self.active_time = max(0.0, now - self.since)
            self.since = now

    def went_active(self, now: float) -> None:
        if not self.active:
            self.average = _use_average(self.active_time, max(0.0, now - self.since), self.average)
            self.active = True
            self.since = now

    def value(self, now: float) -> float:
        """The utilisation at ``now``, between 0 and 1."""
        elapsed = max(0.0, now - self.since)
        if self.active:
            return _use_average(elapsed, 0.0, self.average)
        return _use_average(self.active_time, elapsed, self.average)


def _use_average(active: float, inactive: float, average: float) -> float:
    spell = active + inactive
    if spell <= 0:
        return average
    weight = math.exp(spell * math.log(0.5) / USE_HALF_LIFE)
    return (active / spell) * (1 - weight) + average * weight


class NodeStats:
    """The node's own statistics: the overview's totals and rates, and what deleted vhosts
    had counted (RabbitMQ's node-wide counters survive a vhost's deletion)."""

    __slots__ = ("depth_rates", "messages", "retired", "retired_received_confirm", "retired_routed")

    def __init__(self) -> None:
        # The overview's message_stats: deleted vhosts' counters plus the live vhosts',
        # refreshed when sampled or read.
        self.messages = MessageStats()
        # The overview's queue_totals rates (messages, messages_ready, ..._unacknowledged).
        self.depth_rates = GaugeRates()
        self.retired = MessageStats()
        self.retired_routed = 0
        self.retired_received_confirm = 0
