"""Where each setting comes from: command line > environment > config file > defaults.

``resolve`` merges the layers into one ``Config`` and remembers, per setting, which layer
gave it, so ``leveret serve --print-config`` can say why a value is what it is.
Environment variables are ``LEVERET_*`` plus RabbitMQ's own names where RabbitMQ has one
(RABBITMQ_NODE_PORT...), so a deployment written for RabbitMQ keeps working; when both are
set, the LEVERET_ one wins, being the more specific.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from leveret.broker.compat import MAX_MESSAGE_SIZE_LIMIT, PROFILES, CompatProfile, get_profile
from leveret.server.config import PROFILE_DEFAULT, Config, TLSConfig, default_data_dir
from leveret.server.config_file import (
    LOG_LEVELS,
    SECRET_SETTINGS,
    ConfigWarning,
    ParsedConfig,
    one_of,
    parse_config,
    parse_fraction,
    parse_host,
    parse_int,
    parse_port,
    parse_size,
    parse_text,
)


class SettingsError(ValueError):
    """A setting from the environment, or the config file itself, that cannot be used."""


# (variable, setting, converter); for one setting the first variable set wins.
ENV_VARS: tuple[tuple[str, str, Callable[[str], object]], ...] = (
    ("LEVERET_HOST", "host", parse_host),
    ("RABBITMQ_NODE_IP_ADDRESS", "host", parse_host),
    ("LEVERET_PORT", "port", parse_port),
    ("RABBITMQ_NODE_PORT", "port", parse_port),
    ("LEVERET_DATA_DIR", "data_dir", parse_text),
    ("LEVERET_LOG_LEVEL", "log_level", one_of(*LOG_LEVELS)),
    # As --memory-high-watermark: below 1 a fraction of RAM, else bytes.
    ("LEVERET_MEMORY_HIGH_WATERMARK", "memory_high_watermark", parse_fraction),
    ("LEVERET_DISK_FREE_LIMIT", "disk_free_limit", parse_size),
    ("LEVERET_CONSUMER_TIMEOUT", "consumer_timeout", parse_int(1)),
    ("LEVERET_COMPAT", "compat", one_of(*sorted(PROFILES))),
    ("LEVERET_MAX_MESSAGE_SIZE", "max_message_size", parse_int(1, MAX_MESSAGE_SIZE_LIMIT)),
    ("LEVERET_HEARTBEAT", "heartbeat", parse_int(0, 65535)),
    ("LEVERET_MANAGEMENT_PORT", "management_port", parse_port),
    ("LEVERET_PROMETHEUS_PORT", "prometheus_port", parse_port),
    ("LEVERET_FRAME_MAX", "frame_max", parse_int(4096, 2**31 - 1)),
    ("LEVERET_CHANNEL_MAX", "channel_max", parse_int(1, 65535)),
    ("LEVERET_DEFAULT_USER", "default_user", parse_text),
    ("RABBITMQ_DEFAULT_USER", "default_user", parse_text),
    ("LEVERET_DEFAULT_PASS", "default_pass", parse_text),
    ("RABBITMQ_DEFAULT_PASS", "default_pass", parse_text),
    ("LEVERET_DEFAULT_VHOST", "default_vhost", parse_text),
    ("RABBITMQ_DEFAULT_VHOST", "default_vhost", parse_text),
)
CONFIG_FILE_VARS = ("LEVERET_CONFIG_FILE", "RABBITMQ_CONFIG_FILE")

MASK = "********"


@dataclass
class Resolved:
    config: Config
    # setting -> where its value came from ("default", "command line", "env NAME", "FILE:N").
    sources: dict[str, str]
    # Config file warnings, each naming the file and line.
    warnings: list[str] = field(default_factory=list)
    config_file: Path | None = None
    # The data directory as given (a string: cli.py checks and creates it), None if not given.
    data_dir: str | None = None

    def data_dir_path(self) -> Path:
        """The data directory a broker with these settings uses: as given, else the
        default. An empty one is the caller's to refuse first (it means the current
        directory, which nobody asks for on purpose)."""
        return Path(self.data_dir).expanduser() if self.data_dir is not None else default_data_dir()


def config_file_path(given: str | None, environ: Mapping[str, str]) -> tuple[Path | None, str]:
    """The config file to read and who named it: --config, else LEVERET_CONFIG_FILE, else
    RABBITMQ_CONFIG_FILE. RabbitMQ once took that variable without the extension, so a name
    that is missing but exists with ".conf" added is read from there."""
    if given is not None:
        return Path(given).expanduser(), "--config"
    for name in CONFIG_FILE_VARS:
        value = environ.get(name)
        if value:
            path = Path(value).expanduser()
            with_suffix = path.with_name(path.name + ".conf")
            if not path.suffix and not path.exists() and with_suffix.exists():
                path = with_suffix
            return path, name
    return None, ""


def read_config_file(path: Path, named_by: str) -> ParsedConfig:
    if path.suffix == ".config":
        # rabbitmq.config and advanced.config hold Erlang terms, which would fail on line 1
        # with a message that does not say why.
        raise SettingsError(
            f"config file {path} (from {named_by}): Erlang-term .config files are not "
            "supported; write the settings in rabbitmq.conf's 'key = value' format"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise SettingsError(f"cannot read config file {path} (from {named_by}): {reason}") from None
    return parse_config(text, str(path))


def environment_settings(environ: Mapping[str, str]) -> tuple[dict[str, object], dict[str, str]]:
    """The settings the environment gives, and the variable that gave each."""
    values: dict[str, object] = {}
    sources: dict[str, str] = {}
    for name, setting, convert in ENV_VARS:
        raw = environ.get(name)
        # Empty counts as unset, as in RabbitMQ's scripts.
        if not raw or setting in values:
            continue
        try:
            values[setting] = convert(raw)
        except ValueError as error:
            raise SettingsError(f"environment variable {name}: {error}") from None
        sources[setting] = f"env {name}"
    return values, sources


def build_config(values: Mapping[str, object], data_dir: Path | None) -> Config:
    """A Config from settings named after its fields ("ssl.NAME" for TLSConfig's)."""
    plain: dict[str, object] = {}
    tls: dict[str, object] = {}
    for name, value in values.items():
        if name.startswith("ssl."):
            tls[name[4:]] = value
        elif name != "data_dir":
            plain[name] = value
    if isinstance(plain.get("compat"), str):
        plain["compat"] = get_profile(str(plain["compat"]))
    if plain.get("max_message_size") is None:
        plain["max_message_size"] = PROFILE_DEFAULT
    for port in ("management_port", "prometheus_port"):
        if plain.get(port) == 0:  # 0 turns the listener off (Config's None)
            plain[port] = None
    return Config(data_dir=data_dir, ssl=TLSConfig(**tls), **plain)  # type: ignore[arg-type]


def resolve(
    cli: Mapping[str, object],
    environ: Mapping[str, str],
    config_file: str | None = None,
) -> Resolved:
    """Merge defaults, the config file, the environment and the command line (``cli`` holds
    only the options given). SettingsError, or ConfigFileError from the file, if unusable."""
    values: dict[str, object] = {}
    sources: dict[str, str] = {}
    warnings: list[str] = []
    path, named_by = config_file_path(config_file, environ)
    if path is not None:
        parsed = read_config_file(path, named_by)
        values.update(parsed.settings)
        sources.update({name: f"{path}:{line}" for name, line in parsed.lines.items()})
        warnings.extend(_describe(parsed.warnings, path))
    env_values, env_sources = environment_settings(environ)
    values.update(env_values)
    sources.update(env_sources)
    for name, value in cli.items():
        if value is not None:
            values[name] = value
            sources[name] = "command line"
    data_dir = values.get("data_dir")
    try:
        config = build_config(values, default_data_dir())
    except ValueError as error:  # settings valid alone but not together (message size)
        raise SettingsError(str(error)) from None
    return Resolved(
        config,
        sources,
        warnings,
        path,
        data_dir if isinstance(data_dir, str) else None,
    )


def _describe(warnings: list[ConfigWarning], path: Path) -> list[str]:
    return [warning.describe(str(path)) for warning in warnings]


def _show(value: object) -> str:
    if isinstance(value, CompatProfile):
        return value.name
    if isinstance(value, tuple):
        return ", ".join(str(item) for item in value) if value else "none"
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def effective_settings(resolved: Resolved) -> list[tuple[str, str, str]]:
    """(setting, value as text, source) for every setting, secrets masked."""
    config = resolved.config
    rows: list[tuple[str, object]] = []
    for item in dataclasses.fields(config):
        if item.name == "ssl":
            rows.extend(
                (f"ssl.{tls.name}", getattr(config.ssl, tls.name))
                for tls in dataclasses.fields(config.ssl)
            )
        else:
            rows.append((item.name, getattr(config, item.name)))
    shown: list[tuple[str, str, str]] = []
    for name, value in rows:
        text = _show(value)
        if name == "ssl.ciphers" and not value:
            text = "(the ssl module's defaults)"
        if name in SECRET_SETTINGS and value is not None:
            text = MASK
        if name == "data_dir" and resolved.data_dir is not None:
            text = str(Path(resolved.data_dir).expanduser())
        shown.append((name, text, resolved.sources.get(name, "default")))
    return shown


def format_settings(resolved: Resolved) -> str:
    rows = effective_settings(resolved)
    width = max(len(name) + len(text) for name, text, _ in rows) + 3
    lines = []
    if resolved.config_file is not None:
        lines.append(f"# config file: {resolved.config_file}")
    for name, text, source in rows:
        lines.append(f"{f'{name} = {text}':<{width}}  # {source}")
    return "\n".join(lines)
