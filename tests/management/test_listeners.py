"""Where the management API listens: --management-port, management.tcp.* in the config file,
the environment, and 0 for off."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.leveret_only


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_config_file_management_tcp_port_serves_the_api(
    leveret_process: Callable[..., object], tmp_path: Path
) -> None:
    port = _free_port()
    config = tmp_path / "rabbitmq.conf"
    config.write_text(f"management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {port}\n")
    leveret_process("--config", str(config), "--management-port", str(port))
    reply = requests.get(f"http://127.0.0.1:{port}/api/whoami", auth=("guest", "guest"), timeout=10)
    assert reply.json()["name"] == "guest"


def test_port_zero_turns_the_api_off(tmp_path: Path) -> None:
    config = tmp_path / "rabbitmq.conf"
    config.write_text("management.tcp.port = 0\nprometheus.tcp.port = 0\n")
    done = subprocess.run(
        [sys.executable, "-m", "leveret", "serve", "--config", str(config), "--print-config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = {line.split()[0]: line for line in done.stdout.splitlines() if line.strip()}
    assert "(not set)" in rows["management_port"]
    assert "(not set)" in rows["prometheus_port"]


def test_embedded_broker_serves_the_api_on_request() -> None:
    from leveret import Broker

    with Broker(management_port=0) as broker:
        reply = requests.get(
            f"{broker.management_url}/api/whoami", auth=("guest", "guest"), timeout=10
        )
        assert reply.status_code == 200
    with Broker() as broker, pytest.raises(RuntimeError, match="management API is off"):
        _ = broker.management_url
