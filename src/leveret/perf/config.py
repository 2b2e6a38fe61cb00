"""The run's settings and the layout of the counters the processes share."""

from __future__ import annotations

from dataclasses import dataclass, field

from leveret.perf.wire import Target, parse_uri

__all__ = ["EXCHANGE_TYPES", "Counters", "PerfConfig"]

EXCHANGE_TYPES = ("default", "direct", "fanout", "topic")


@dataclass(frozen=True)
class PerfConfig:
    """Everything a run needs; picklable, so worker processes get a copy."""

    uri: str = "amqp://guest:guest@127.0.0.1:5672/"
    producers: int = 1
    consumers: int = 1
    queues: int = 1
    queue_prefix: str = "leveret-perf"
    exchange: str = "default"
    size: int = 16
    persistent: bool = False
    durable: bool = False
    confirm: int = 0
    autoack: bool = False
    prefetch: int = 0
    multi_ack: int = 1
    rate: float = 0.0
    pmessages: int = 0
    duration: float = 10.0
    warmup: float = 2.0
    #: Closed-loop window (published x fanout - received); None: 1000 x queues (the open
    #: loop without consumers); 0: the open loop.
    max_backlog: int | None = None
    frame_max: int = 131072
    flush_bytes: int = 16384
    producer_processes: int = 1
    consumer_processes: int = 1
    keep: bool = False
    broker_pid: int = 0
    verbose: bool = False
    target: Target = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "target", parse_uri(self.uri))
        if self.exchange not in EXCHANGE_TYPES:
            raise ValueError(f"exchange must be one of {', '.join(EXCHANGE_TYPES)}")
        for name in ("producers", "consumers", "confirm", "prefetch", "pmessages", "broker_pid"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in ("queues", "size", "multi_ack", "producer_processes", "consumer_processes"):
            minimum = 0 if name == "size" else 1
            if getattr(self, name) < minimum:
                raise ValueError(f"{name} must be >= {minimum}")
        if self.prefetch > 65535:
            raise ValueError("prefetch must be <= 65535")
        if self.rate < 0 or self.duration < 0 or self.warmup < 0:
            raise ValueError("rate, duration and warmup must be >= 0")
        if self.max_backlog is not None and self.max_backlog < 0:
            raise ValueError("max_backlog must be >= 0")
        if self.frame_max and self.frame_max < 4096:
            raise ValueError("frame_max must be 0 (no limit) or >= 4096")
        if self.producers == 0 and self.consumers == 0:
            raise ValueError("nothing to do: no producers and no consumers")

    # ------------------------------------------------------------------ derived values

    @property
    def window(self) -> int:
        """The closed-loop window in messages; 0 is the open loop.

        By default 1000 x queues, and the open loop when nothing consumes (a window would
        stop the producers for good after 1000 messages).
        """
        if self.max_backlog is None:
            return 1000 * self.queues if self.consumers else 0
        return self.max_backlog

    @property
    def ack_every(self) -> int:
        """Acks go out every this many deliveries (``multi_ack`` capped at the prefetch)."""
        if self.prefetch and self.multi_ack > self.prefetch:
            return self.prefetch
        return self.multi_ack

    @property
    def fanout(self) -> int:
        """Deliveries per publish."""
        return self.queues if self.exchange == "fanout" else 1

    @property
    def exchange_name(self) -> str:
        return "" if self.exchange == "default" else f"{self.queue_prefix}.{self.exchange}"

    def queue_name(self, k: int) -> str:
        return f"{self.queue_prefix}-{k}"

    def route(self, producer: int) -> tuple[str, str]:
        """(exchange, routing key) for producer ``producer``."""
        k = producer % self.queues
        if self.exchange == "fanout":
            return self.exchange_name, ""
        if self.exchange == "topic":
            return self.exchange_name, f"perf.{k}.msg"
        return self.exchange_name, self.queue_name(k)

    def binding_key(self, k: int) -> str | None:
        """The key queue ``k`` is bound with (None for the default exchange)."""
        if self.exchange == "fanout":
            return ""
        if self.exchange == "topic":
            return f"perf.{k}.*"
        if self.exchange == "direct":
            return self.queue_name(k)
        return None

    def expected_deliveries(self) -> int:
        """With ``pmessages``: deliveries the consumers should see in all (0 if unknown)."""
        consumed = {j % self.queues for j in range(self.consumers)}
        total = 0
        for i in range(self.producers):
            if self.exchange == "fanout":
                total += self.pmessages * len(consumed)
            elif i % self.queues in consumed:
                total += self.pmessages
        return total


class Counters:
    """Indexes into the shared array of int64 counters.

    Each slot has one writer (a producer or consumer loop, or the coordinator for the
    flags); everybody may read. Aligned 8-byte stores are atomic on the platforms we run.
    """

    STOP = 0  # 1: stop publishing and shut down
    GO = 1  # 1: producers may start
    MEASURING = 2  # 1: consumers record latencies
    _FLAGS = 4

    def __init__(self, producers: int, consumers: int) -> None:
        p = producers
        self.sent = self._FLAGS
        self.confirmed = self.sent + p
        self.nacked = self.confirmed + p
        self.returned = self.nacked + p
        self.received = self.returned + p
        self.size = self.received + consumers
        self.producers = producers
        self.consumers = consumers
