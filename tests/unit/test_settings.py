"""Merging the layers: command line > environment > config file > defaults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from leveret.server.config import Config
from leveret.server.config_file import ConfigFileError
from leveret.server.settings import SettingsError, format_settings, resolve


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    path = tmp_path / "rabbitmq.conf"
    path.write_text(
        "listeners.tcp.default = 5001\n"
        "heartbeat = 11\n"
        "default_user = alice\n"
        "default_pass = from-file\n"
        "compat = rabbitmq-3\n"
    )
    return path


def test_defaults_without_file_environment_or_options() -> None:
    resolved = resolve({}, {})
    assert resolved.config == Config()
    assert resolved.sources == {}
    assert resolved.config_file is None


def test_file_settings_land_in_config(conf: Path) -> None:
    config = resolve({}, {}, str(conf)).config
    assert (config.port, config.heartbeat, config.default_user) == (5001, 11, "alice")
    assert config.compat.name == "rabbitmq-3"
    assert config.max_message_size == config.compat.max_message_size  # the profile's default


def test_environment_beats_file_and_command_line_beats_environment(conf: Path) -> None:
    environ = {"LEVERET_PORT": "5002", "LEVERET_HEARTBEAT": "12", "RABBITMQ_DEFAULT_PASS": "env"}
    resolved = resolve({"port": 5003, "host": None}, environ, str(conf))
    config = resolved.config
    assert config.port == 5003
    assert config.heartbeat == 12
    assert config.default_pass == "env"
    assert config.default_user == "alice"
    assert resolved.sources["port"] == "command line"
    assert resolved.sources["heartbeat"] == "env LEVERET_HEARTBEAT"
    assert resolved.sources["default_pass"] == "env RABBITMQ_DEFAULT_PASS"
    assert resolved.sources["default_user"] == f"{conf}:3"
    assert "host" not in resolved.sources  # None: not given


def test_leveret_variables_beat_rabbitmq_aliases() -> None:
    environ = {
        "RABBITMQ_NODE_PORT": "5004",
        "LEVERET_PORT": "5005",
        "RABBITMQ_NODE_IP_ADDRESS": "::1",
    }
    config = resolve({}, environ).config
    assert (config.host, config.port) == ("::1", 5005)


def test_empty_variables_count_as_unset() -> None:
    assert resolve({}, {"RABBITMQ_NODE_PORT": "", "LEVERET_DEFAULT_USER": ""}).config == Config()


def test_config_file_from_environment(conf: Path) -> None:
    assert resolve({}, {"LEVERET_CONFIG_FILE": str(conf)}).config.port == 5001
    # RabbitMQ used to take the name without ".conf".
    resolved = resolve({}, {"RABBITMQ_CONFIG_FILE": str(conf.with_suffix(""))})
    assert (resolved.config_file, resolved.config.port) == (conf, 5001)
    # --config wins over the variables.
    other = conf.with_name("other.conf")
    other.write_text("listeners.tcp.default = 5006\n")
    assert resolve({}, {"LEVERET_CONFIG_FILE": str(conf)}, str(other)).config.port == 5006


def test_missing_config_file_names_it_and_who_asked(tmp_path: Path) -> None:
    missing = tmp_path / "nope.conf"
    with pytest.raises(SettingsError, match=re.escape(f"cannot read config file {missing} ")):
        resolve({}, {"RABBITMQ_CONFIG_FILE": str(missing)})


def test_erlang_term_config_files_are_refused_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "advanced.config"
    path.write_text("[{rabbit, [{heartbeat, 10}]}].\n")
    with pytest.raises(SettingsError, match=r"Erlang-term \.config files are not supported"):
        resolve({}, {}, str(path))


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="RABBITMQ_NODE_PORT: not a whole number: 'amqp'"):
        resolve({}, {"RABBITMQ_NODE_PORT": "amqp"})


def test_bad_file_line_is_a_config_file_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.conf"
    path.write_text("heartbeat = 1\nnonsense\n")
    with pytest.raises(ConfigFileError, match=re.escape(f"{path}, line 2")):
        resolve({}, {}, str(path))


def test_print_format_masks_secrets_and_names_sources(tmp_path: Path) -> None:
    path = tmp_path / "secret.conf"
    path.write_text(
        "default_pass = hunter2\nssl_options.password = keypass\nloopback_users = none\n"
    )
    text = format_settings(resolve({"port": 5007}, {}, str(path)))
    assert "hunter2" not in text and "keypass" not in text
    lines = {line.split(" = ")[0]: line for line in text.splitlines()}
    assert lines["default_pass"].split("#")[0].split(" = ")[1].strip() == "********"
    assert lines["ssl.password"].endswith(f"# {path}:2")
    assert "loopback_users = none" in lines["loopback_users"]
    assert lines["port"].endswith("# command line")
    assert lines["heartbeat"].endswith("# default")
