"""``leveret perf``: an AMQP 0-9-1 load generator (publish/consume rates, end-to-end latency).

Modelled on the referee benchmark (``amqpbench``) and RabbitMQ's PerfTest: producers and
consumers on their own connections, in their own processes, on a lean client of raw
sockets. See docs/perf-tool.md.

    from leveret.perf import PerfConfig, run
    result = run(PerfConfig(uri="amqp://guest:guest@127.0.0.1:5672/", duration=5))
"""

from __future__ import annotations

from leveret.perf.config import PerfConfig
from leveret.perf.runner import Result, run
from leveret.perf.wire import BrokerClosed, PerfError

__all__ = ["BrokerClosed", "PerfConfig", "PerfError", "Result", "run"]
