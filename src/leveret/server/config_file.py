"""A parser for the subset of RabbitMQ's ``rabbitmq.conf`` that applies to Leveret.

The format is cuttlefish's: one ``key = value`` per line, ``#`` starts a comment (on its own
line or after a value), a value may be wrapped in single quotes to keep a ``#`` in it, and a
later line wins over an earlier one for the same key. The parser is a pure function of the
text: it returns settings named after ``Config``'s fields ("ssl.NAME" for ``TLSConfig``'s),
the line each came from, and warnings for keys Leveret does not know; it raises
``ConfigFileError`` (file, line, problem) for a malformed line or a bad value, so the caller
can refuse to start before anything listens.

Unknown keys are warnings rather than errors (RabbitMQ refuses them) so that a
rabbitmq.conf written for RabbitMQ, with keys for features Leveret lacks, still starts it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from leveret.broker.compat import MAX_MESSAGE_SIZE_LIMIT, PROFILES
from leveret.server.monitor import total_memory as _total_memory


class ConfigFileError(ValueError):
    """A line the broker cannot use; str() names the file, the line and the problem."""

    def __init__(self, source: str, line: int, problem: str):
        super().__init__(f"{source}, line {line}: {problem}")
        self.source = source
        self.line = line
        self.problem = problem


@dataclass(frozen=True)
class ConfigWarning:
    line: int
    key: str
    message: str

    def describe(self, source: str) -> str:
        return f"{source}, line {self.line}: {self.message}"


@dataclass
class ParsedConfig:
    # Config field names (and "ssl.<TLSConfig field>") -> typed values.
    settings: dict[str, object] = field(default_factory=dict)
    # The line that set each setting, for --print-config.
    lines: dict[str, int] = field(default_factory=dict)
    warnings: list[ConfigWarning] = field(default_factory=list)


# -- value converters: text -> value, ValueError with a readable reason ---------------------

# RabbitMQ's information units (3.13+): single letters and xB are powers of 10, xi and xiB
# powers of 2, as Kubernetes reads them.
_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    **{s: 1000**p for p, letter in enumerate("kmgtp", 1) for s in (letter, f"{letter}b")},
    **{s: 1024**p for p, letter in enumerate("kmgtp", 1) for s in (f"{letter}i", f"{letter}ib")},
}
_SIZE = re.compile(r"(\d+)\s*([A-Za-z]*)")


def parse_size(text: str) -> int:
    """Bytes from "50000000", "2GB", "512MiB", "500k" (case does not matter in the unit)."""
    match = _SIZE.fullmatch(text.strip())
    if match is None or match.group(2).lower() not in _UNITS:
        raise ValueError(
            f"not a size: {text!r} (a number of bytes, optionally with a unit such as "
            "kB, MB, GB, KiB, MiB, GiB)"
        )
    multiplier: int = _UNITS[match.group(2).lower()]
    return int(match.group(1)) * multiplier


def parse_int(low: int, high: int | None = None) -> Callable[[str], int]:
    def convert(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise ValueError(f"not a whole number: {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f"at least {low}" if high is None else f"between {low} and {high}"
            raise ValueError(f"must be {bounds}, got {value}")
        return value

    return convert


def parse_fraction(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"not a number: {text!r}") from None
    if not value >= 0 or value == float("inf"):  # also refuses nan
        raise ValueError(f"must be a number of at least 0, got {text!r}")
    return value


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise ValueError(f"must be true or false, got {text!r}")


def one_of(*choices: str) -> Callable[[str], str]:
    def convert(text: str) -> str:
        value = text.strip()
        if value.lower() not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {value!r}")
        return value.lower()

    return convert


def parse_text(text: str) -> str:
    return text


def parse_path(text: str) -> Path:
    return Path(text).expanduser()


def parse_port(text: str) -> int:
    return parse_int(0, 65535)(text)


def parse_host(text: str) -> str:
    """An IP address (brackets around IPv6 allowed) or a host name."""
    host = text.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or any(c.isspace() for c in host):
        raise ValueError(f"not an address: {text!r}")
    return host


def parse_listener(text: str) -> tuple[str | None, int]:
    """RabbitMQ's listener value: "5672", "127.0.0.1:5672", "::1:5672" or "[::1]:5672".
    A bare port leaves the address alone (see docs/configuration.md: RabbitMQ would listen
    on every interface, Leveret keeps to its own address unless one is written)."""
    value = text.strip()
    if value.isdigit():
        return None, parse_port(value)
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"not a listener: {text!r} (a port, or address:port)")
    host = parse_host(host)
    if ":" in host:  # bare IPv6 ("::1:5672" splits at the last colon): must be an address
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"not a listener: {text!r}") from None
    return host, parse_port(port)


LOG_LEVELS = ("debug", "info", "warning", "error")
TLS_VERSIONS = ("tlsv1.3", "tlsv1.2", "tlsv1.1", "tlsv1")
AUTH_MECHANISMS = ("PLAIN", "AMQPLAIN", "EXTERNAL")


def parse_auth_mechanism(text: str) -> str:
    value = text.strip().upper()
    if value not in AUTH_MECHANISMS:
        raise ValueError(f"must be one of {', '.join(AUTH_MECHANISMS)}, got {text.strip()!r}")
    return value


# -- the keys ------------------------------------------------------------------------------

# key -> (setting, converter), for keys that set one setting from one value.
SIMPLE_KEYS: dict[str, tuple[str, Callable[[str], object]]] = {
    "default_user": ("default_user", parse_text),
    "default_pass": ("default_pass", parse_text),
    "default_vhost": ("default_vhost", parse_text),
    "heartbeat": ("heartbeat", parse_int(0, 65535)),
    # Below AMQP's 4096-byte minimum no method fits; 0 ("no limit") is not offered.
    "frame_max": ("frame_max", parse_int(4096, 2**31 - 1)),
    "channel_max": ("channel_max", parse_int(1, 65535)),
    "consumer_timeout": ("consumer_timeout", parse_int(1)),
    "max_message_size": ("max_message_size", parse_int(1, MAX_MESSAGE_SIZE_LIMIT)),
    "disk_free_limit.absolute": ("disk_free_limit", parse_size),
    "log.console.level": ("log_level", one_of(*LOG_LEVELS)),
    "ssl_cert_login_from": ("ssl_cert_login_from", one_of("distinguished_name", "common_name")),
    "load_definitions": ("load_definitions", parse_path),
    "management.tcp.ip": ("management_host", parse_host),
    "management.tcp.port": ("management_port", parse_port),
    "prometheus.tcp.ip": ("prometheus_host", parse_host),
    "prometheus.tcp.port": ("prometheus_port", parse_port),
    "collect_statistics_interval": ("collect_statistics_interval", parse_int(100, 3_600_000)),
    "ssl_options.certfile": ("ssl.certfile", parse_path),
    "ssl_options.keyfile": ("ssl.keyfile", parse_path),
    "ssl_options.cacertfile": ("ssl.cacertfile", parse_path),
    "ssl_options.password": ("ssl.password", parse_text),
    "ssl_options.verify": ("ssl.verify", one_of("verify_none", "verify_peer")),
    "ssl_options.fail_if_no_peer_cert": ("ssl.fail_if_no_peer_cert", parse_bool),
    # Leveret's own: which RabbitMQ generation to follow (leveret serve --compat).
    "compat": ("compat", one_of(*sorted(PROFILES))),
}

# Numbered lists (auth_mechanisms.1 = PLAIN): prefix -> (setting, converter for one item).
LIST_KEYS: dict[str, tuple[str, Callable[[str], str]]] = {
    "auth_mechanisms": ("auth_mechanisms", parse_auth_mechanism),
    "ssl_options.versions": ("ssl.versions", one_of(*TLS_VERSIONS)),
    "ssl_options.ciphers": ("ssl.ciphers", lambda text: text.strip()),
}

# The settings that hold secrets: --print-config masks them.
SECRET_SETTINGS = frozenset({"default_pass", "ssl.password"})

_KEY = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_@-]+)*")


def _split_line(line: str) -> tuple[str, str] | None:
    """(key, raw value) of a setting line, None for a blank or comment line; ValueError for
    anything else."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return None
    key, sep, rest = stripped.partition("=")
    key = key.strip()
    if not sep:
        raise ValueError(f"expected 'key = value', got {stripped!r}")
    if not _KEY.fullmatch(key):
        raise ValueError(f"not a valid key: {key!r}")
    rest = rest.strip()
    if rest.startswith("'"):
        end = rest.find("'", 1)
        if end < 0:
            raise ValueError(f"unterminated quote in the value of {key}")
        after = rest[end + 1 :].strip()
        if after and not after.startswith("#"):
            raise ValueError(f"unexpected text after the quoted value of {key}: {after!r}")
        return key, rest[1:end]
    value = rest.split("#", 1)[0].strip()
    if not value:
        raise ValueError(f"no value for {key}")
    return key, value


class _Parser:
    def __init__(self, source: str, total_memory: Callable[[], int]):
        self.source = source
        self.total_memory = total_memory
        self.result = ParsedConfig()
        # Numbered list items: setting -> {index: value}; ordered by index at the end.
        self.lists: dict[str, dict[int, str]] = {}
        self.list_lines: dict[str, int] = {}
        self.loopback: dict[str, bool] | None = None
        self.loopback_line = 0
        self.tcp_listener: str | None = None
        self.ssl_listener: str | None = None

    def set(self, setting: str, value: object, line: int) -> None:
        self.result.settings[setting] = value
        self.result.lines[setting] = line

    def warn(self, line: int, key: str, message: str) -> None:
        self.result.warnings.append(ConfigWarning(line, key, message))

    def line(self, number: int, key: str, value: str) -> None:
        if key in SIMPLE_KEYS:
            setting, convert = SIMPLE_KEYS[key]
            self.set(setting, convert(value), number)
            return
        prefix, _, last = key.rpartition(".")
        if prefix in LIST_KEYS:
            if not last.isdigit():
                raise ValueError(f"list items are numbered ({prefix}.1, {prefix}.2, ...)")
            setting, item = LIST_KEYS[prefix]
            self.lists.setdefault(setting, {})[int(last)] = item(value)
            self.list_lines[setting] = number
            return
        if key in ("vm_memory_high_watermark.relative", "disk_free_limit.relative"):
            self.relative(number, key, parse_fraction(value))
            return
        if key == "vm_memory_high_watermark.absolute":
            # Config reads values of 1 and above as bytes; 0 turns the alarm off.
            self.set("memory_high_watermark", float(parse_size(value)), number)
            return
        if key == "loopback_users" or key.startswith("loopback_users."):
            # A user name may itself hold dots: everything after the prefix is the name.
            self.loopback_users(number, key, key[len("loopback_users.") :], value)
            return
        if prefix in ("listeners.tcp", "listeners.ssl"):
            self.listener(number, key, prefix, value)
            return
        if key in ("listeners.tcp", "listeners.ssl") and value.strip().lower() == "none":
            if key == "listeners.ssl":
                self.set("ssl_port", None, number)
            else:
                self.warn(number, key, f"{key} = none is not supported (AMQP always listens)")
            return
        self.warn(number, key, f"unknown or unsupported key {key!r}, ignored")

    def relative(self, number: int, key: str, fraction: float) -> None:
        if key.startswith("vm_memory"):
            # Below 1 Config keeps the fraction; 1 and above it would read as bytes.
            value = fraction if fraction < 1 else float(int(self.total_memory() * fraction))
            self.set("memory_high_watermark", value, number)
        else:
            # RabbitMQ's disk_free_limit.relative is a multiple of the machine's RAM.
            self.set("disk_free_limit", int(self.total_memory() * fraction), number)

    def loopback_users(self, number: int, key: str, name: str, value: str) -> None:
        if key == "loopback_users":
            if value.strip().lower() != "none":
                raise ValueError("loopback_users takes 'none' or loopback_users.NAME = true|false")
            self.loopback = {}
        else:
            if self.loopback is None:
                self.loopback = {}
            self.loopback[name] = parse_bool(value)
        self.loopback_line = number

    def listener(self, number: int, key: str, prefix: str, value: str) -> None:
        # Leveret has one listener of each kind; RabbitMQ's names (default, 1, local...) only
        # tell several apart, so the first one counts and later ones (other names) warn.
        first = self.tcp_listener if prefix == "listeners.tcp" else self.ssl_listener
        if first is not None and first != key:
            self.warn(
                number, key, f"only one listener per protocol: {first} is used, {key} ignored"
            )
            return
        host, port = parse_listener(value)
        if prefix == "listeners.tcp":
            self.tcp_listener = key
            names = ("host", "port")
        else:
            self.ssl_listener = key
            names = ("ssl_host", "ssl_port")
        if host is not None:
            self.set(names[0], host, number)
        self.set(names[1], port, number)

    def finish(self) -> ParsedConfig:
        for setting, items in self.lists.items():
            self.set(setting, tuple(items[i] for i in sorted(items)), self.list_lines[setting])
        if self.loopback is not None:
            users = tuple(name for name, limited in self.loopback.items() if limited)
            self.set("loopback_users", users, self.loopback_line)
        return self.result


def parse_config(
    text: str, source: str = "rabbitmq.conf", total_memory: Callable[[], int] = _total_memory
) -> ParsedConfig:
    """The settings ``text`` (rabbitmq.conf format) gives; ConfigFileError on a bad line.

    ``total_memory`` is only asked for by the ``.relative`` keys at 1 and above.
    """
    parser = _Parser(source, total_memory)
    for number, line in enumerate(text.splitlines(), 1):
        try:
            split = _split_line(line)
        except ValueError as error:
            raise ConfigFileError(source, number, str(error)) from None
        if split is None:
            continue
        try:
            parser.line(number, *split)
        except ValueError as error:
            raise ConfigFileError(source, number, f"{split[0]}: {error}") from None
    return parser.finish()
