"""``leveret perf``: the command line of the load tool."""

from __future__ import annotations

import json
import signal
import sys
import threading
from types import FrameType

import click

from leveret.perf.config import EXCHANGE_TYPES, PerfConfig
from leveret.perf.runner import Result, run
from leveret.perf.wire import PerfError

__all__ = ["format_result", "perf"]

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.command()
@click.option(
    "--uri",
    default="amqp://guest:guest@127.0.0.1:5672/",
    show_default=True,
    help="Broker: amqp://user:pass@host:port/vhost (a '/' in the vhost is written %2F).",
)
@click.option("--producers", default=1, show_default=True, type=click.IntRange(0))
@click.option("--consumers", default=1, show_default=True, type=click.IntRange(0))
@click.option(
    "--queues",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    help="Queues PREFIX-0..Q-1; producer i publishes to queue i%Q, consumer j reads queue j%Q.",
)
@click.option("--queue-prefix", default="leveret-perf", show_default=True)
@click.option(
    "--exchange",
    default="default",
    show_default=True,
    type=click.Choice(EXCHANGE_TYPES),
    help="default (routing key = queue), direct, fanout (every queue bound) or topic.",
)
@click.option("--size", default=16, show_default=True, type=click.IntRange(0), help="Body bytes.")
@click.option("--persistent", is_flag=True, help="Publish with delivery-mode 2.")
@click.option("--durable", is_flag=True, help="Declare durable queues (and exchange).")
@click.option(
    "--confirm",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    metavar="N",
    help="Publisher confirms, at most N unconfirmed per producer (0: off).",
)
@click.option("--autoack", is_flag=True, help="Consume with no-ack.")
@click.option(
    "--prefetch",
    default=0,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="basic.qos prefetch-count (0: unlimited).",
)
@click.option(
    "--multi-ack",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    metavar="K",
    help="Ack every K deliveries with multiple=true (capped at the prefetch; 1: ack each).",
)
@click.option(
    "--rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Messages per second per producer (0: unlimited).",
)
@click.option(
    "--pmessages",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="Each producer publishes this many messages; the run ends once all are received "
    "(and confirmed) or at the end of --duration.",
)
@click.option(
    "--duration",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Measurement window (s).",
)
@click.option(
    "--warmup",
    default=2.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Warm-up before the measurement window (s).",
)
@click.option(
    "--max-backlog",
    default=None,
    type=click.IntRange(1),
    metavar="N",
    help="Closed loop: producers pause while more than N messages are published but not "
    "yet received (fanout counts one per queue). [default: 1000 x queues; open loop "
    "without consumers]",
)
@click.option(
    "--open-loop", is_flag=True, help="No window: publish as fast as the broker takes it."
)
@click.option(
    "--frame-max",
    default=131072,
    show_default=True,
    type=click.IntRange(0),
    help="frame_max to ask for (the broker may lower it); bodies are split at it.",
)
@click.option(
    "--flush-bytes",
    default=16384,
    show_default=True,
    type=click.IntRange(1),
    help="Producers write at most this many bytes of messages per send.",
)
@click.option(
    "--producer-processes",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    help="Processes the producers are spread over.",
)
@click.option(
    "--consumer-processes",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    help="Processes the consumers are spread over.",
)
@click.option("--keep", is_flag=True, help="Do not delete the queues and exchange at the end.")
@click.option(
    "--broker-pid",
    default=0,
    type=click.IntRange(0),
    help="Also report this process's CPU use (from /proc), e.g. the broker's.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON line.")
@click.option("-v", "--verbose", is_flag=True, help="Progress every second on stderr.")
def perf(
    uri: str,
    producers: int,
    consumers: int,
    queues: int,
    queue_prefix: str,
    exchange: str,
    size: int,
    persistent: bool,
    durable: bool,
    confirm: int,
    autoack: bool,
    prefetch: int,
    multi_ack: int,
    rate: float,
    pmessages: int,
    duration: float,
    warmup: float,
    max_backlog: int | None,
    open_loop: bool,
    frame_max: int,
    flush_bytes: int,
    producer_processes: int,
    consumer_processes: int,
    keep: bool,
    broker_pid: int,
    as_json: bool,
    verbose: bool,
) -> None:
    """Load test an AMQP 0-9-1 broker: publish, consume, report rates and latencies.

    Producers and consumers each have their own connection; they run in separate
    processes. By default the run is a closed loop (see --max-backlog) and measures 10 s
    after a 2 s warm-up. Latency is end to end: each body of 8 bytes or more starts with
    the send time.
    """
    if open_loop and max_backlog is not None:
        raise click.UsageError("--open-loop and --max-backlog exclude each other")
    if frame_max and frame_max < 4096:
        raise click.BadParameter("must be 0 or at least 4096", param_hint="--frame-max")
    try:
        cfg = PerfConfig(
            uri=uri,
            producers=producers,
            consumers=consumers,
            queues=queues,
            queue_prefix=queue_prefix,
            exchange=exchange,
            size=size,
            persistent=persistent,
            durable=durable,
            confirm=confirm,
            autoack=autoack,
            prefetch=prefetch,
            multi_ack=multi_ack,
            rate=rate,
            pmessages=pmessages,
            duration=duration,
            warmup=warmup,
            max_backlog=0 if open_loop else max_backlog,
            frame_max=frame_max,
            flush_bytes=flush_bytes,
            producer_processes=producer_processes,
            consumer_processes=consumer_processes,
            keep=keep,
            broker_pid=broker_pid,
            verbose=verbose,
        )
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_interrupt)
        # Python leaves SIGINT ignored when it starts with it ignored (a background job of
        # a script, some supervisors); Ctrl-C must still stop a run and print its summary.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        result = run(cfg)
    except PerfError as error:
        raise click.ClickException(str(error)) from None
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if as_json:
        click.echo(json.dumps(result, separators=(",", ":")))
    else:
        click.echo(format_result(result))
    if result.get("fatal"):
        click.echo(f"Error: {result['fatal']}", err=True)
        sys.exit(EXIT_FAILED)
    if result.get("interrupted"):
        sys.exit(EXIT_INTERRUPTED)


def format_result(result: Result) -> str:
    """The result for people: one block of aligned lines."""
    cfg = result.get("config", {})
    lines = []
    window = cfg.get("max_backlog", 0)
    loop = f"closed loop (max backlog {window:,})" if window else "open loop"
    lines.append(
        f"leveret perf: {cfg.get('producers')} producer(s), {cfg.get('consumers')} consumer(s), "
        f"{cfg.get('queues')} queue(s), exchange {cfg.get('exchange')}, "
        f"{cfg.get('size')} B bodies, {loop}"
    )
    if "duration_s" in result:
        lines.append(
            f"measured {result['duration_s']:.2f} s after a {cfg.get('warmup_s', 0):g} s warm-up"
            + ("  (interrupted)" if result.get("interrupted") else "")
        )
        lines.append(
            f"  published  {result['send_rate']:>12,.0f} msg/s  {result['send_MBps']:>8.2f} MB/s"
        )
        lines.append(
            f"  received   {result['recv_rate']:>12,.0f} msg/s  {result['recv_MBps']:>8.2f} MB/s"
        )
        if cfg.get("confirm"):
            lines.append(f"  confirmed  {result['confirm_rate']:>12,.0f} msg/s")
    lat = result.get("latency_us", {})
    if lat.get("n"):
        lines.append(
            "  latency    "
            + "  ".join(
                f"{name} {lat[key]:,.0f} µs"
                for name, key in (
                    ("p50", "p50"),
                    ("p95", "p95"),
                    ("p99", "p99"),
                    ("p99.9", "p999"),
                    ("max", "max"),
                )
            )
            + f"  (n={lat['n']:,})"
        )
    client = result.get("client")
    if client:
        lines.append(
            f"  tool CPU   {client['cpu_util']:.2f} cores, "
            f"{client['cpu_us_per_msg']:.2f} µs per message sent or received"
        )
    broker = result.get("broker")
    if broker:
        per = broker.get("cpu_us_per_msg")
        lines.append(
            f"  broker CPU {broker['cpu_util']:.2f} cores"
            + (f", {per:.2f} µs per message" if per is not None else "")
        )
    totals = result.get("totals")
    if totals:
        lines.append(
            f"  whole run  sent {totals['sent']:,}  received {totals['received']:,}  "
            f"confirmed {totals['confirmed']:,}  nacked {totals['nacked']:,}  "
            f"returned {totals['returned']:,}"
        )
    for message in result.get("error_messages", []):
        lines.append(f"  error: {message}")
    for message in result.get("warnings", []):
        lines.append(f"  warning: {message}")
    return "\n".join(lines)
