"""broker/stats.py: counters become rates when sampled; consumer utilisation's average.

The broker's own objects (queues, channels) drive ConsumerUse at the end; which traffic moves
which counter is tested with real clients in tests/behaviour/test_stats_counters.py.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leveret.broker.channel import Channel
from leveret.broker.clock import ManualClock
from leveret.broker.message import Message
from leveret.broker.queue import Queue
from leveret.broker.stats import COUNTERS, ConsumerUse, GaugeRates, MessageStats

counter_names = st.sampled_from(COUNTERS)
elapsed_seconds = st.floats(min_value=0.01, max_value=3600, allow_nan=False)
# Bumps between two samples: counter name -> how many.
bumps = st.dictionaries(counter_names, st.integers(min_value=0, max_value=10**9))


def bump(stats: MessageStats, growth: dict[str, int]) -> None:
    for name, count in growth.items():
        setattr(stats, name, getattr(stats, name) + count)


def test_counters_start_at_zero_and_deliver_get_sums_the_deliveries() -> None:
    stats = MessageStats()
    assert set(stats.counts()) == {*COUNTERS, "deliver_get"}
    assert not any(stats.counts().values())
    stats.deliver, stats.deliver_no_ack, stats.get, stats.get_no_ack = 1, 2, 3, 4
    stats.get_empty = 100  # an empty get delivers nothing
    assert stats.deliver_get == 10
    assert stats.counts()["deliver_get"] == 10


def test_the_first_sample_has_no_rates() -> None:
    stats = MessageStats()
    stats.publish = 5
    stats.sample(10.0)
    assert stats.rates == {}
    assert stats.rate("publish") == 0.0


@given(first=bumps, growth=bumps, elapsed=elapsed_seconds)
def test_rates_are_growth_per_second_between_samples(
    first: dict[str, int], growth: dict[str, int], elapsed: float
) -> None:
    stats = MessageStats()
    bump(stats, first)
    stats.sample(100.0)
    bump(stats, growth)
    stats.sample(100.0 + elapsed)
    for name in COUNTERS:
        assert stats.rate(name) == pytest.approx(growth.get(name, 0) / elapsed)
    delivered = sum(growth.get(k, 0) for k in ("deliver", "deliver_no_ack", "get", "get_no_ack"))
    assert stats.rate("deliver_get") == pytest.approx(delivered / elapsed)


@given(rounds=st.lists(st.tuples(bumps, elapsed_seconds), min_size=1, max_size=8))
def test_every_sample_measures_from_the_one_before_even_after_idle_ones(
    rounds: list[tuple[dict[str, int], float]],
) -> None:
    """Idle samples take a shortcut (nothing moved): the next busy one still measures from
    the last sample, and counters are never lost."""
    stats = MessageStats()
    now = 0.0
    stats.sample(now)
    expected = dict.fromkeys(COUNTERS, 0)
    for growth, elapsed in rounds:
        bump(stats, growth)
        now += elapsed
        stats.sample(now)
        for name in COUNTERS:
            expected[name] += growth.get(name, 0)
            assert getattr(stats, name) == expected[name]
            assert stats.rate(name) == pytest.approx(growth.get(name, 0) / elapsed)
        now += elapsed
        stats.sample(now)  # idle
        assert all(stats.rate(name) == 0.0 for name in COUNTERS)


def test_json_shows_moved_counters_with_rates_rounded_to_one_decimal() -> None:
    stats = MessageStats()
    stats.sample(0.0)
    stats.publish = 7
    stats.ack = 3
    stats.sample(3.0)
    found = stats.to_json()
    assert found["publish"] == 7
    assert found["publish_details"] == {"rate": 2.3}
    assert found["ack_details"] == {"rate": 1.0}
    assert "deliver" not in found and "deliver_get" not in found


def test_add_and_set_sum_combine_counters() -> None:
    parts = [MessageStats() for _ in range(3)]
    for index, part in enumerate(parts, start=1):
        part.publish = index
        part.confirm = 10 * index
    total = MessageStats()
    total.add(parts[0])
    total.add(parts[1])
    assert (total.publish, total.confirm) == (3, 30)
    total.set_sum(parts)
    assert (total.publish, total.confirm, total.ack) == (6, 60, 0)


@given(
    before=st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 10**6), min_size=2),
    after=st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 10**6), min_size=2),
    elapsed=elapsed_seconds,
)
def test_gauge_rates_are_signed_changes_per_second(
    before: dict[str, int], after: dict[str, int], elapsed: float
) -> None:
    rates = GaugeRates()
    rates.sample(50.0, before)
    rates.sample(50.0 + elapsed, after)
    for name in ("a", "b"):
        assert rates.rates.get(name, 0.0) == pytest.approx((after[name] - before[name]) / elapsed)
    rates.sample(50.0 + 2 * elapsed, after)  # unchanged since: every rate is 0
    assert rates.details("a") == {"rate": 0.0}


def test_gauge_rate_details_round_like_rabbitmq() -> None:
    rates = GaugeRates()
    rates.sample(0.0, {"messages": 0})
    rates.sample(3.0, {"messages": -1})
    assert rates.details("messages") == {"rate": -0.3}
    assert rates.details("unknown") == {"rate": 0.0}


# -- consumer utilisation ------------------------------------------------------------------


def test_utilisation_of_consumers_never_blocked_is_one() -> None:
    use = ConsumerUse(0.0)
    assert use.value(0.0) == 1.0
    assert use.value(1000.0) == 1.0


def test_utilisation_halves_each_second_blocked() -> None:
    use = ConsumerUse(0.0)
    use.went_inactive(0.0)
    assert use.value(1.0) == pytest.approx(0.5)
    assert use.value(2.0) == pytest.approx(0.25)
    use.went_active(2.0)
    assert use.value(2.0) == pytest.approx(0.25)
    assert use.value(3.0) == pytest.approx(0.625)  # back towards 1 with the same half-life


def test_utilisation_of_equal_spells_settles_at_one_half() -> None:
    use = ConsumerUse(0.0)
    now = 0.0
    for _ in range(200):
        now += 0.1
        use.went_inactive(now)
        now += 0.1
        use.went_active(now)
    # Read where a whole cycle (0.1 s active, 0.1 s blocked) ends.
    assert use.value(now) == pytest.approx(0.5, abs=0.001)


@given(spells=st.lists(st.floats(min_value=0, max_value=100), max_size=20))
def test_utilisation_stays_between_zero_and_one(spells: list[float]) -> None:
    use = ConsumerUse(0.0)
    now = 0.0
    for index, spell in enumerate(spells):
        now += spell
        if index % 2:
            use.went_active(now)
        else:
            use.went_inactive(now)
        assert 0.0 <= use.value(now) <= 1.0
        assert 0.0 <= use.value(now + 5) <= 1.0
        assert not math.isnan(use.value(now))


class Sink:
    """The connection side of a channel: takes deliveries, always writable."""

    writable = True

    def __init__(self) -> None:
        self.delivered: list[int] = []

    def deliver(self, consumer_tag: str, delivery_tag: int, redelivered: bool, message: Message):
        self.delivered.append(delivery_tag)

    def consumer_cancelled(self, consumer_tag: str) -> None:
        pass


def test_a_queue_reports_its_consumers_blocked_and_active_again() -> None:
    clock = ManualClock(start=0.0)
    queue = Queue("q", "/", clock=clock)
    sink = Sink()
    channel = Channel(1, object(), sink)
    channel.prefetch_count = 1
    queue.add_consumer(channel.consume(queue, "c", no_ack=False, exclusive=False))
    queue.publish(Message("", "q", b"", b"1"))
    queue.publish(Message("", "q", b"", b"2"))  # no credit: blocked from now on
    assert sink.delivered == [1]
    assert not queue.consumer_use.active
    clock.advance(1.0)
    assert queue.consumer_use.value(clock.time()) == pytest.approx(0.5)
    channel.ack(1, False)  # credit again: the second message goes out
    assert sink.delivered == [1, 2]
    # It delivered, then found the consumer out of credit again with nothing waiting:
    # consumers count as active until a message waits for them.
    assert queue.consumer_use.active
    clock.advance(1.0)
    assert queue.consumer_use.value(clock.time()) == pytest.approx(0.75)
