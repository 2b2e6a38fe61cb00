"""Command line: ``leveret serve`` runs the broker."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

import click

from leveret import __version__
from leveret.broker.compat import DEFAULT_PROFILE, MAX_MESSAGE_SIZE_LIMIT, PROFILES, get_profile
from leveret.perf.command import perf
from leveret.server import event_loop
from leveret.server.config import PROFILE_DEFAULT, Config, default_data_dir
from leveret.server.node import DataDirLocked, DataDirUnusable, Node, prepare_data_dir


@click.group()
@click.version_option(__version__, prog_name="leveret")
def main() -> None:
    """Leveret, an AMQP 0-9-1 message broker that behaves like RabbitMQ."""


main.add_command(perf)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=5672,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="AMQP port (0 picks a free one).",
)
@click.option(
    "--data-dir",
    # Kept a string: as a Path, an empty value would become "." and go unnoticed.
    type=click.Path(file_okay=False),
    default=None,
    help=f"Data directory, created if missing [default: {default_data_dir()}].",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
)
@click.option(
    "--memory-high-watermark",
    default=0.4,
    show_default=True,
    type=click.FloatRange(0),
    help="Block publishers above this memory use: a fraction of RAM (<1) or bytes; 0 disables.",
)
@click.option(
    "--disk-free-limit",
    default=50_000_000,
    show_default=True,
    type=click.IntRange(0),
    help="Block publishers when free disk drops below (bytes).",
)
@click.option(
    "--consumer-timeout",
    default=None,
    type=click.IntRange(1),
    help="Cancel a consumer whose delivery stays unacked this long (ms). Off by default.",
)
@click.option(
    "--compat",
    default=DEFAULT_PROFILE.name,
    show_default=True,
    type=click.Choice(sorted(PROFILES)),
    help="Follow RabbitMQ 3.x or 4.x where they differ (see docs/compatibility.md).",
)
@click.option(
    "--max-message-size",
    default=None,
    type=click.IntRange(1, MAX_MESSAGE_SIZE_LIMIT),
    help="Largest message body accepted (bytes, at most 512 MiB) "
    "[default: 16 MiB; 128 MiB with --compat rabbitmq-3].",
)
def serve(
    host: str,
    port: int,
    data_dir: str | None,
    log_level: str,
    memory_high_watermark: float,
    disk_free_limit: int,
    consumer_timeout: int | None,
    compat: str,
    max_message_size: int | None,
) -> None:
    """Run the broker until SIGINT or SIGTERM."""
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    directory = _data_dir(data_dir)
    config = Config(
        host=host,
        port=port,
        data_dir=directory,
        memory_high_watermark=memory_high_watermark,
        disk_free_limit=disk_free_limit,
        consumer_timeout=consumer_timeout,
        compat=get_profile(compat),
        max_message_size=max_message_size or PROFILE_DEFAULT,
    )
    try:
        event_loop.run(_serve(config))
    except (DataDirLocked, DataDirUnusable) as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror}") from None


def _data_dir(value: str | None) -> Path:
    """The data directory, created and checked before anything listens: a bad one is a
    one-line error naming the path and the reason, not a traceback or a listen error."""
    if value is not None and not value.strip():
        raise click.BadParameter(
            "must not be empty (the broker's files would go into the current directory)",
            param_hint="'--data-dir'",
        )
    path = Path(value).expanduser() if value is not None else default_data_dir()
    try:
        prepare_data_dir(path)
    except DataDirUnusable as error:
        raise click.ClickException(str(error)) from None
    return path


async def _serve(config: Config) -> None:
    node = Node(config)
    await node.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await node.stop()
