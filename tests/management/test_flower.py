"""Celery Flower's broker tab reads queues from the management API: it shows Leveret's."""

from __future__ import annotations

import contextlib
import html
import re
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pika
import pytest
import requests

from .conftest import Api, quote


def _broker_amqp_url(broker_url: str, vhost: str) -> str:
    parsed = urllib.parse.urlsplit(broker_url)
    return f"amqp://guest:guest@{parsed.hostname}:{parsed.port}/{vhost}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _flower(amqp_url: str, management_url: str, log: Path) -> Iterator[str]:
    port = free_port()
    parsed = urllib.parse.urlsplit(management_url)
    api = f"http://guest:guest@{parsed.hostname}:{parsed.port}/api/"
    command = [
        sys.executable,
        "-m",
        "celery",
        "--broker",
        amqp_url,
        "flower",
        "--address=127.0.0.1",
        f"--port={port}",
        f"--broker_api={api}",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _queue_row(page: str, name: str) -> list[str] | None:
    row = re.search(rf'<tr id="{re.escape(name)}">(.*?)</tr>', page, re.S)
    if row is None:
        return None
    return [
        html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
        for cell in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    ]


def test_flower_broker_tab_lists_queues_with_their_depth(
    api: Api,
    broker_url: str,
    management_url: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    vhost = unique_name("flower")
    assert api.put(f"vhosts/{quote(vhost)}", json={}).status_code in (201, 204)
    try:
        api.put(
            f"permissions/{quote(vhost)}/guest",
            json={"configure": ".*", "write": ".*", "read": ".*"},
        )
        amqp_url = _broker_amqp_url(broker_url, vhost)
        conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
        try:
            channel = conn.channel()
            channel.queue_declare("celery", durable=True)
            for n in range(3):
                channel.basic_publish("", "celery", f"task {n}".encode())
        finally:
            conn.close()

        with _flower(amqp_url, management_url, tmp_path / "flower.log") as flower:
            deadline = time.monotonic() + 60
            row = None
            while time.monotonic() < deadline:
                with contextlib.suppress(requests.ConnectionError):
                    page = requests.get(f"{flower}/broker", timeout=10).text
                    row = _queue_row(page, "celery")
                    if row is not None and row[1] == "3":
                        break
                time.sleep(0.5)
            log = (tmp_path / "flower.log").read_text(errors="replace")[-3000:]
            assert row is not None, f"no queue row on Flower's broker tab; its log:\n{log}"
            # name, messages, unacked, ready, consumers, idle since
            assert row[:5] == ["celery", "3", "0", "3", "0"], log
    finally:
        api.delete(f"vhosts/{quote(vhost)}")


pytestmark = pytest.mark.timeout(120)
