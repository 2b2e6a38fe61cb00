"""Open-loop publishing: a publisher faster than its consumer must not starve it.

RabbitMQ's credit flow slows such a publisher by not reading its socket; Leveret pauses a
publisher into a queue whose consumers fall behind, and serves every connection in turn.
"""

from __future__ import annotations

from collections.abc import Callable

from leveret.perf import PerfConfig, run


def test_open_loop_publisher_does_not_starve_its_consumer(
    broker_url: str, unique_name: Callable[..., str]
) -> None:
    result = run(
        PerfConfig(
            uri=broker_url,
            queue_prefix=unique_name("flow"),
            size=16,
            prefetch=100,
            max_backlog=0,  # open loop: publish as fast as the socket takes it
            warmup=1.0,
            duration=3.0,
        )
    )
    assert result["errors"] == 0, result["error_messages"]
    assert result["sent"] > 0
    # Starved, the consumer got about 0.1% of what was published (a few hundred messages a
    # second against a hundred thousand); served fairly, it gets 40-100% on an idle machine.
    # The margin leaves room for a busy CI machine.
    assert result["received"] > 0.1 * result["sent"], (result["sent"], result["received"])
