"""Command line: ``leveret serve`` runs the broker."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

import click

from leveret import __version__
from leveret.broker.admin.definitions import DefinitionsFileError
from leveret.broker.compat import DEFAULT_PROFILE, MAX_MESSAGE_SIZE_LIMIT, PROFILES
from leveret.perf.command import perf
from leveret.server import event_loop
from leveret.server.config import Config, default_data_dir
from leveret.server.config_file import LOG_LEVELS, ConfigFileError
from leveret.server.node import DataDirLocked, DataDirUnusable, Node, prepare_data_dir
from leveret.server.settings import Resolved, SettingsError, format_settings, resolve
from leveret.server.tls import TLSConfigError

log = logging.getLogger("leveret.cli")


@click.group()
@click.version_option(__version__, prog_name="leveret")
def main() -> None:
    """Leveret, an AMQP 0-9-1 message broker that behaves like RabbitMQ."""


main.add_command(perf)


class _RawArguments(click.Command):
    """Hands its arguments over untouched: ``leveret ctl`` parses them as rabbitmqctl does
    (options before or after the command, ``--`` kept for a password starting with '-'),
    which click's parser would not."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.params["argv"] = tuple(args)
        ctx.args = []
        return []


@main.command(cls=_RawArguments, add_help_option=False)
def ctl(argv: tuple[str, ...]) -> None:
    """Administer a running broker, as rabbitmqctl (`leveret ctl help`; docs/ctl.md)."""
    from leveret.ctl.main import run

    sys.exit(run(argv))


@main.command(cls=_RawArguments, add_help_option=False)
def diagnostics(argv: tuple[str, ...]) -> None:
    """Health checks and status of a running broker, as rabbitmq-diagnostics
    (`leveret diagnostics help`; docs/ctl.md)."""
    from leveret.ctl.main import run

    sys.exit(run(argv, program="diagnostics"))


@main.command()
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="rabbitmq.conf-style config file (see docs/configuration.md) "
    "[default: $LEVERET_CONFIG_FILE or $RABBITMQ_CONFIG_FILE, else none].",
)
@click.option(
    "--print-config",
    is_flag=True,
    help="Print the effective settings, and where each comes from, then exit.",
)
# Every option defaults to None, so that an option not given leaves the environment and the
# config file their say (command line > environment > file > defaults); the help texts
# name the real defaults.
@click.option("--host", default=None, help="Address to listen on [default: 127.0.0.1].")
@click.option(
    "--port",
    default=None,
    type=click.IntRange(0, 65535),
    help="AMQP port (0 picks a free one) [default: 5672].",
)
@click.option(
    "--management-port",
    default=None,
    type=click.IntRange(0, 65535),
    help="Management HTTP API port; 0 turns it off [default: 15672].",
)
@click.option(
    "--prometheus-port",
    default=None,
    type=click.IntRange(0, 65535),
    help="Prometheus /metrics port; 0 turns it off [default: 15692].",
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
    default=None,
    type=click.Choice(list(LOG_LEVELS), case_sensitive=False),
    help="[default: info]",
)
@click.option(
    "--memory-high-watermark",
    default=None,
    type=click.FloatRange(0),
    help="Block publishers above this memory use: a fraction of RAM (<1) or bytes; "
    "0 disables [default: 0.4].",
)
@click.option(
    "--disk-free-limit",
    default=None,
    type=click.IntRange(0),
    help="Block publishers when free disk drops below (bytes) [default: 50000000].",
)
@click.option(
    "--consumer-timeout",
    default=None,
    type=click.IntRange(1),
    help="Cancel a consumer whose delivery stays unacked this long (ms). Off by default.",
)
@click.option(
    "--compat",
    default=None,
    type=click.Choice(sorted(PROFILES)),
    help="Follow RabbitMQ 3.x or 4.x where they differ (see docs/compatibility.md) "
    f"[default: {DEFAULT_PROFILE.name}].",
)
@click.option(
    "--max-message-size",
    default=None,
    type=click.IntRange(1, MAX_MESSAGE_SIZE_LIMIT),
    help="Largest message body accepted (bytes, at most 512 MiB) "
    "[default: 16 MiB; 128 MiB with --compat rabbitmq-3].",
)
def serve(config_file: str | None, print_config: bool, **options: object) -> None:
    """Run the broker until SIGINT or SIGTERM."""
    if isinstance(options.get("log_level"), str):
        options["log_level"] = str(options["log_level"]).lower()
    try:
        resolved = resolve(options, os.environ, config_file)
    except (ConfigFileError, SettingsError) as error:
        raise click.ClickException(str(error)) from None
    config = resolved.config
    if print_config:
        for warning in resolved.warnings:
            click.echo(f"warning: {warning}", err=True)
        click.echo(format_settings(resolved))
        return
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for warning in resolved.warnings:
        log.warning("%s", warning)
    if resolved.config_file is not None:
        log.info("configured from %s", resolved.config_file)
    source = resolved.sources.get("data_dir", "--data-dir")
    hint = "'--data-dir'" if source == "command line" else source
    config.data_dir = _data_dir(resolved, hint)
    try:
        event_loop.run(_serve(config))
    except (DataDirLocked, DataDirUnusable, TLSConfigError, DefinitionsFileError) as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(
            f"cannot listen on {config.host}:{config.port}: {error.strerror}"
        ) from None


def _data_dir(resolved: Resolved, hint: str = "'--data-dir'") -> Path:
    """The data directory, created and checked before anything listens: a bad one is a
    one-line error naming the path and the reason, not a traceback or a listen error."""
    if resolved.data_dir is not None and not resolved.data_dir.strip():
        raise click.BadParameter(
            "must not be empty (the broker's files would go into the current directory)",
            param_hint=hint,
        )
    path = resolved.data_dir_path()
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
