"""``leveret serve --config``, the environment and ``--print-config``, with real broker
processes and real pika connections: the settings must reach the listening node, not just
the parser."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pika
import pika.exceptions
import pytest

START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any LEVERET_/RABBITMQ_ setting, plus ``extra``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("LEVERET_", "RABBITMQ_"))
    }
    env.update(extra)
    return env


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "leveret", "serve", *args]


class Broker:
    def __init__(self, proc: subprocess.Popen[bytes], stderr: Path):
        self.proc = proc
        self.stderr_path = stderr

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_listening(self, port: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return
            assert self.proc.poll() is None, f"broker exited:\n{self.stderr()}"
            assert time.monotonic() < deadline, f"not listening on {port}:\n{self.stderr()}"
            time.sleep(0.05)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    """Start ``leveret serve ARGS`` with an environment; stopped (SIGTERM) at teardown."""
    procs: list[subprocess.Popen[bytes]] = []

    def run(*args: str, env: dict[str, str]) -> Broker:
        stderr = tmp_path / f"stderr-{len(procs)}.log"
        data_dir = tmp_path / f"data-{len(procs)}"
        with stderr.open("wb") as err:
            proc = subprocess.Popen(
                serve_command("--data-dir", str(data_dir), *args),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        procs.append(proc)
        return Broker(proc, stderr)

    yield run
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def connect(
    port: int, user: str = "guest", password: str = "guest", vhost: str = "/"
) -> pika.BlockingConnection:
    params = pika.ConnectionParameters(
        "127.0.0.1", port, vhost, pika.PlainCredentials(user, password), connection_attempts=1
    )
    return pika.BlockingConnection(params)


def round_trip(connection: pika.BlockingConnection) -> None:
    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.basic_publish("", queue, b"configured")
    for _ in range(100):
        _, _, body = channel.basic_get(queue, auto_ack=True)
        if body is not None:
            assert body == b"configured"
            return
        time.sleep(0.02)
    pytest.fail("message not delivered")


def test_config_file_sets_port_default_user_and_connection_limits(
    tmp_path: Path, start: Callable[..., Broker]
) -> None:
    port = free_port()
    conf = tmp_path / "rabbitmq.conf"
    conf.write_text(
        "# written as for RabbitMQ\n"
        f"listeners.tcp.default = 127.0.0.1:{port}\n"
        "default_user = alice\n"
        "default_pass = 'wonder#land'  # a quoted value keeps its #\n"
        "heartbeat = 7\n"
        "frame_max = 8192\n"
        "channel_max = 9\n"
    )
    broker = start("--config", str(conf), env=clean_env())
    broker.wait_listening(port)
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        connect(port)  # guest is not created when default_user names another
    connection = connect(port, "alice", "wonder#land")
    try:
        params = connection._impl.params  # pika keeps the values tune negotiated here
        assert (params.heartbeat, params.frame_max, params.channel_max) == (7, 8192, 9)
        round_trip(connection)
    finally:
        connection.close()
    assert f"configured from {conf}" in broker.stderr()


def test_environment_beats_file(tmp_path: Path, start: Callable[..., Broker]) -> None:
    file_port, env_port = free_port(), free_port()
    conf = tmp_path / "rabbitmq.conf"
    conf.write_text(f"listeners.tcp.default = {file_port}\ndefault_pass = from-file\n")
    env = clean_env(LEVERET_CONFIG_FILE=str(conf), LEVERET_PORT=str(env_port))
    env["RABBITMQ_DEFAULT_PASS"] = "from-env"
    broker = start(env=env)
    broker.wait_listening(env_port)
    connection = connect(env_port, "guest", "from-env")
    round_trip(connection)
    connection.close()
    assert f"127.0.0.1:{env_port}" in broker.stderr()


def test_command_line_beats_environment(tmp_path: Path, start: Callable[..., Broker]) -> None:
    env_port, cli_port = free_port(), free_port()
    broker = start("--port", str(cli_port), env=clean_env(LEVERET_PORT=str(env_port)))
    broker.wait_listening(cli_port)
    connection = connect(cli_port)
    round_trip(connection)
    connection.close()
    assert f"127.0.0.1:{cli_port}" in broker.stderr()
    assert f":{env_port}" not in broker.stderr()


def test_rabbitmq_environment_variables(tmp_path: Path, start: Callable[..., Broker]) -> None:
    port = free_port()
    env = clean_env(
        RABBITMQ_NODE_PORT=str(port),
        RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
        RABBITMQ_DEFAULT_USER="bob",
        RABBITMQ_DEFAULT_PASS="builder",
        RABBITMQ_DEFAULT_VHOST="site",
    )
    broker = start(env=env)
    broker.wait_listening(port)
    connection = connect(port, "bob", "builder", "site")
    round_trip(connection)
    connection.close()


def test_unknown_key_warns_with_its_name_and_the_broker_starts(
    tmp_path: Path, start: Callable[..., Broker]
) -> None:
    port = free_port()
    conf = tmp_path / "rabbitmq.conf"
    conf.write_text(
        f"listeners.tcp.default = {port}\n"
        "cluster_name.flavour = vanilla\n"
        "log.console.level = warning\n"
    )
    broker = start("--config", str(conf), env=clean_env())
    broker.wait_listening(port)
    connection = connect(port)
    round_trip(connection)
    connection.close()
    stderr = broker.stderr()
    assert f"{conf}, line 2: unknown or unsupported key 'cluster_name.flavour'" in stderr
    assert "AMQP listening" not in stderr  # an INFO line, below log.console.level


def run_once(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``leveret serve`` expected to exit by itself (a broken one times out)."""
    return subprocess.run(
        serve_command(*args),
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_malformed_line_exits_non_zero_naming_the_line(tmp_path: Path) -> None:
    port = free_port()
    conf = tmp_path / "rabbitmq.conf"
    conf.write_text(f"# ok\nlisteners.tcp.default = {port}\nheartbeat 60\n")
    result = run_once("--config", str(conf), env=clean_env(), cwd=tmp_path)
    assert result.returncode != 0
    assert f"Error: {conf}, line 3: expected 'key = value', got 'heartbeat 60'" in result.stderr
    assert "Traceback" not in result.stderr
    assert "listening" not in result.stderr


def test_tls_listener_with_a_missing_certificate_is_a_one_line_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-cert.pem"
    conf = tmp_path / "rabbitmq.conf"
    conf.write_text(
        f"listeners.tcp.default = {free_port()}\n"
        f"listeners.ssl.default = {free_port()}\n"
        f"ssl_options.certfile = {missing}\n"
        f"ssl_options.keyfile = {missing}\n"
    )
    result = run_once(
        "--config", str(conf), "--data-dir", str(tmp_path / "data"), env=clean_env(), cwd=tmp_path
    )
    assert result.returncode != 0
    assert "Error: " in result.stderr and str(missing) in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_bad_environment_value_exits_non_zero_naming_the_variable(tmp_path: Path) -> None:
    result = run_once(env=clean_env(RABBITMQ_NODE_PORT="amqp"), cwd=tmp_path)
    assert result.returncode != 0
    assert "environment variable RABBITMQ_NODE_PORT: not a whole number: 'amqp'" in result.stderr
    assert "Traceback" not in result.stderr


def test_print_config_masks_secrets_names_sources_and_exits(tmp_path: Path) -> None:
    conf = tmp_path / "rabbitmq.conf"
    conf.write_text(
        "default_user = alice\n"
        "default_pass = hunter2\n"
        "ssl_options.password = keypass\n"
        "loopback_users = none\n"
        "mystery = 1\n"
    )
    env = clean_env(RABBITMQ_CONFIG_FILE=str(conf), LEVERET_HEARTBEAT="5")
    result = run_once("--print-config", "--port", "5999", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "hunter2" not in out + result.stderr and "keypass" not in out + result.stderr
    rows = {line.split(" = ")[0]: line for line in out.splitlines() if " = " in line}
    assert rows["default_pass"].startswith("default_pass = ********")
    assert rows["ssl.password"].startswith("ssl.password = ********")
    assert rows["default_user"].endswith(f"# {conf}:1")
    assert rows["loopback_users"].startswith("loopback_users = none")
    assert rows["heartbeat"].endswith("# env LEVERET_HEARTBEAT")
    assert rows["port"].endswith("# command line")
    assert f"{conf}, line 5: unknown or unsupported key 'mystery'" in result.stderr
    assert "listening" not in result.stderr


def test_file_limits_reach_the_broker(tmp_path: Path, start: Callable[..., Broker]) -> None:
    port = free_port()
    conf = tmp_path / "rabbitmq.conf"
    conf.write_text(f"listeners.tcp.default = {port}\nmax_message_size = 1000\n")
    broker = start("--config", str(conf), env=clean_env())
    broker.wait_listening(port)
    connection = connect(port)
    try:
        channel = connection.channel()
        queue = channel.queue_declare("", exclusive=True).method.queue
        channel.confirm_delivery()
        channel.basic_publish("", queue, b"x" * 1000)  # the limit itself is fine
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as closed:
            channel.basic_publish("", queue, b"x" * 1001)
        assert closed.value.reply_code == 406
        assert "larger than configured max size 1000" in closed.value.reply_text
    finally:
        connection.close()
