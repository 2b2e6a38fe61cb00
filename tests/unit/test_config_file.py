"""The rabbitmq.conf parser: what each supported key sets, and how bad lines are reported."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from leveret.server.config_file import ConfigFileError, parse_config, parse_size

GIB = 1024**3


def settings(text: str) -> dict[str, object]:
    return parse_config(text, "test.conf", total_memory=lambda: 8 * GIB).settings


def error(text: str) -> ConfigFileError:
    with pytest.raises(ConfigFileError) as caught:
        parse_config(text, "test.conf")
    return caught.value


def test_comments_blank_lines_and_spacing_are_ignored() -> None:
    text = "# a comment\n\n   # indented comment\nheartbeat=30\n  channel_max   =   9  \n"
    assert settings(text) == {"heartbeat": 30, "channel_max": 9}


def test_a_comment_after_a_value_is_not_part_of_it() -> None:
    assert settings("default_user = alice # the admin\n") == {"default_user": "alice"}


def test_single_quotes_keep_a_hash_in_a_value() -> None:
    assert settings("default_pass = 'pa#ss word' # comment\n") == {"default_pass": "pa#ss word"}


def test_the_last_line_for_a_key_wins_and_lines_are_recorded() -> None:
    parsed = parse_config("heartbeat = 10\nheartbeat = 20\n")
    assert parsed.settings == {"heartbeat": 20}
    assert parsed.lines == {"heartbeat": 2}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5673", {"port": 5673}),
        ("0.0.0.0:5673", {"host": "0.0.0.0", "port": 5673}),
        ("::1:5673", {"host": "::1", "port": 5673}),
        ("[::1]:5673", {"host": "::1", "port": 5673}),
        ("localhost:5673", {"host": "localhost", "port": 5673}),
    ],
)
def test_tcp_listener_takes_a_port_or_an_address_and_port(
    value: str, expected: dict[str, object]
) -> None:
    assert settings(f"listeners.tcp.default = {value}\n") == expected


def test_only_the_first_named_listener_is_used_and_the_others_warn() -> None:
    parsed = parse_config("listeners.tcp.default = 5673\nlisteners.tcp.other = 5674\n")
    assert parsed.settings == {"port": 5673}
    assert [(w.line, w.key) for w in parsed.warnings] == [(2, "listeners.tcp.other")]


def test_tls_listener_can_be_turned_off_again() -> None:
    assert settings("listeners.ssl.default = 5671\nlisteners.ssl = none\n") == {"ssl_port": None}


def test_tls_listener_and_ssl_options() -> None:
    text = """
listeners.ssl.default = 127.0.0.2:5671
ssl_options.cacertfile = /etc/leveret/ca.pem
ssl_options.certfile   = /etc/leveret/server.pem
ssl_options.keyfile    = /etc/leveret/server.key
ssl_options.password   = keypass
ssl_options.verify     = verify_peer
ssl_options.fail_if_no_peer_cert = true
ssl_options.versions.2 = tlsv1.2
ssl_options.versions.1 = tlsv1.3
ssl_options.ciphers.1  = ECDHE-RSA-AES256-GCM-SHA384
ssl_cert_login_from = common_name
auth_mechanisms.1 = EXTERNAL
auth_mechanisms.2 = plain
"""
    assert settings(text) == {
        "ssl_host": "127.0.0.2",
        "ssl_port": 5671,
        "ssl.cacertfile": Path("/etc/leveret/ca.pem"),
        "ssl.certfile": Path("/etc/leveret/server.pem"),
        "ssl.keyfile": Path("/etc/leveret/server.key"),
        "ssl.password": "keypass",
        "ssl.verify": "verify_peer",
        "ssl.fail_if_no_peer_cert": True,
        "ssl.versions": ("tlsv1.3", "tlsv1.2"),  # by index, not by line
        "ssl.ciphers": ("ECDHE-RSA-AES256-GCM-SHA384",),
        "ssl_cert_login_from": "common_name",
        "auth_mechanisms": ("EXTERNAL", "PLAIN"),
    }


def test_default_user_vhost_definitions_and_http_ports() -> None:
    text = """
default_user = alice
default_pass = wonderland
default_vhost = prod
load_definitions = /etc/leveret/definitions.json
management.tcp.ip = 0.0.0.0
management.tcp.port = 15673
prometheus.tcp.ip = 127.0.0.1
prometheus.tcp.port = 15693
"""
    assert settings(text) == {
        "default_user": "alice",
        "default_pass": "wonderland",
        "default_vhost": "prod",
        "load_definitions": Path("/etc/leveret/definitions.json"),
        "management_host": "0.0.0.0",
        "management_port": 15673,
        "prometheus_host": "127.0.0.1",
        "prometheus_port": 15693,
    }


def test_limits_timeouts_log_level_and_compat() -> None:
    text = """
heartbeat = 15
frame_max = 8192
channel_max = 32
consumer_timeout = 1800000
max_message_size = 1048576
log.console.level = warning
compat = rabbitmq-3
"""
    assert settings(text) == {
        "heartbeat": 15,
        "frame_max": 8192,
        "channel_max": 32,
        "consumer_timeout": 1800000,
        "max_message_size": 1048576,
        "log_level": "warning",
        "compat": "rabbitmq-3",
    }


def test_loopback_users_none_empties_the_list() -> None:
    assert settings("loopback_users = none\n") == {"loopback_users": ()}


def test_loopback_users_lists_exactly_the_names_set_true() -> None:
    text = "loopback_users.guest = false\nloopback_users.ops.admin = true\n"
    assert settings(text) == {"loopback_users": ("ops.admin",)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1024", 1024),
        ("2GB", 2 * 1000**3),
        ("2gb", 2 * 1000**3),
        ("500k", 500 * 1000),
        ("500kB", 500 * 1000),
        ("512MiB", 512 * 1024**2),
        ("1Gi", GIB),
        ("3TB", 3 * 1000**4),
    ],
)
def test_sizes_take_rabbitmq_information_units(text: str, expected: int) -> None:
    assert parse_size(text) == expected


def test_memory_and_disk_limits() -> None:
    assert settings("vm_memory_high_watermark.relative = 0.6\n") == {"memory_high_watermark": 0.6}
    assert settings("vm_memory_high_watermark.absolute = 2GiB\n") == {
        "memory_high_watermark": float(2 * GIB)
    }
    # 1.0 and above would mean bytes in Config: a relative value there becomes bytes of RAM.
    assert settings("vm_memory_high_watermark.relative = 1.0\n") == {
        "memory_high_watermark": float(8 * GIB)
    }
    assert settings("disk_free_limit.absolute = 2GB\n") == {"disk_free_limit": 2 * 1000**3}
    assert settings("disk_free_limit.relative = 1.5\n") == {"disk_free_limit": 12 * GIB}


def test_unknown_keys_are_warnings_naming_the_key_and_line() -> None:
    parsed = parse_config("heartbeat = 5\ncluster_formation.peer_discovery_backend = classic\n")
    assert parsed.settings == {"heartbeat": 5}
    [warning] = parsed.warnings
    assert (warning.line, warning.key) == (2, "cluster_formation.peer_discovery_backend")
    assert "cluster_formation.peer_discovery_backend" in warning.describe("x.conf")
    assert warning.describe("x.conf").startswith("x.conf, line 2:")


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("heartbeat = 5\nthis is not a setting\n", 2, "expected 'key = value'"),
        ("heartbeat =\n", 1, "no value for heartbeat"),
        ("bad key = 1\n", 1, "not a valid key"),
        ("default_pass = 'open\n", 1, "unterminated quote"),
        ("\n\nheartbeat = soon\n", 3, "heartbeat: not a whole number: 'soon'"),
        ("listeners.tcp.default = 70000\n", 1, "must be between 0 and 65535"),
        ("listeners.tcp.default = host:port\n", 1, "not a listener"),
        ("frame_max = 100\n", 1, "frame_max: must be between 4096"),
        ("disk_free_limit.absolute = 2 bananas\n", 1, "not a size"),
        ("vm_memory_high_watermark.absolute = 2XB\n", 1, "not a size"),
        ("vm_memory_high_watermark.relative = lots\n", 1, "not a number"),
        ("loopback_users.guest = maybe\n", 1, "must be true or false"),
        ("loopback_users = guest\n", 1, "'none'"),
        ("log.console.level = loud\n", 1, "must be one of debug, info, warning, error"),
        ("auth_mechanisms.1 = KERBEROS\n", 1, "must be one of PLAIN, AMQPLAIN, EXTERNAL"),
        ("auth_mechanisms.first = PLAIN\n", 1, "list items are numbered"),
        ("ssl_options.verify = sometimes\n", 1, "verify_none, verify_peer"),
        ("ssl_options.versions.1 = sslv3\n", 1, "tlsv1.3"),
        ("compat = rabbitmq-2\n", 1, "rabbitmq-3, rabbitmq-4"),
    ],
)
def test_bad_lines_are_errors_naming_file_line_and_problem(
    text: str, line: int, problem: str
) -> None:
    caught = error(text)
    assert caught.line == line
    assert problem in caught.problem
    assert str(caught).startswith(f"test.conf, line {line}: ")


def test_the_examples_in_the_configuration_docs_parse_without_warnings() -> None:
    docs = Path(__file__).parents[2] / "docs" / "configuration.md"
    blocks = re.findall(r"```ini\n(.*?)```", docs.read_text(), re.DOTALL)
    assert len(blocks) >= 2
    for block in blocks:
        parsed = parse_config(block, "docs/configuration.md")
        assert parsed.settings and not parsed.warnings
