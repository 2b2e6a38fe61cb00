"""How the memory alarm decides: the accounted figure, and RSS as a second signal."""

from __future__ import annotations

from leveret.server.monitor import MemoryUsage, ResourceMonitor

MB = 1000 * 1000
WATERMARK = 200 * MB
BASELINE = 40 * MB


def usage(held: int, rss: int) -> MemoryUsage:
    return MemoryUsage(
        watermark=WATERMARK,
        baseline=BASELINE,
        queues=held,
        unacked=0,
        connections=0,
        rss=rss,
        alarm=False,
    )


def monitor() -> ResourceMonitor:
    return ResourceMonitor(WATERMARK, 0, None, baseline=BASELINE)


def test_accounted_memory_raises_and_a_drain_clears_although_rss_stays_high() -> None:
    rules = monitor()
    assert rules.check(usage(170 * MB, rss=230 * MB)) == {"memory": True}
    # CPython kept the freed memory: RSS is as high as ever, the queues are empty.
    assert rules.check(usage(0, rss=230 * MB)) == {"memory": False}
    assert rules.check(usage(0, rss=230 * MB)) == {"memory": False}


def test_rss_raises_when_messages_take_much_of_the_room() -> None:
    rules = monitor()
    # Accounted 130 MB is below the watermark, but RSS is above it and messages hold
    # more than half of the 160 MB between the baseline and the watermark.
    assert rules.check(usage(90 * MB, rss=210 * MB)) == {"memory": True}
    # Half of them consumed: still more than a quarter of the room, RSS still high.
    assert rules.check(usage(45 * MB, rss=210 * MB)) == {"memory": True}
    assert rules.check(usage(30 * MB, rss=210 * MB)) == {"memory": False}


def test_rss_alone_never_raises() -> None:
    rules = monitor()
    assert rules.check(usage(10 * MB, rss=500 * MB)) == {"memory": False}


def test_hysteresis_below_the_watermark() -> None:
    rules = monitor()
    assert rules.check(usage(165 * MB, rss=0)) == {"memory": True}
    assert rules.check(usage(150 * MB, rss=0)) == {"memory": True}  # 190 MB >= 90%
    assert rules.check(usage(139 * MB, rss=0)) == {"memory": False}  # 179 MB < 180 MB
    assert rules.check(usage(150 * MB, rss=0)) == {"memory": False}


def test_a_zero_watermark_disables_the_memory_alarm() -> None:
    rules = ResourceMonitor(0, 0, None, baseline=BASELINE)
    assert rules.check(usage(10_000 * MB, rss=10_000 * MB)) == {"memory": False}


def test_usage_describes_both_signals() -> None:
    figures = usage(170 * MB, rss=230 * MB)
    assert figures.accounted == 210 * MB
    assert figures.describe() == "accounted 210 MB, rss 230 MB, watermark 200 MB"
