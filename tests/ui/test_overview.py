"""The overview: totals and charts that move with real traffic, node facts, alarms, and
definitions export and import."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import leveret

from .conftest import Api, Clients, Page

pytestmark = pytest.mark.leveret_only


def total(ui: Page, label: str) -> int:
    return int(ui.find(f'[data-total="{label}"]').text.replace(",", ""))


def test_totals_and_the_queued_chart_follow_publishes_and_consumers(
    ui: Page, amqp: Clients, api: Api, unique: Callable[[str], str]
) -> None:
    ui.open("", "Overview")
    ui.wait(lambda: ui.find_all("[data-total]"), "the totals")
    queues_before, ready_before = total(ui, "Queues"), total(ui, "Ready")
    connections_before = total(ui, "Connections")

    queue = unique("q")
    channel = amqp.channel()
    channel.queue_declare(queue)
    for n in range(7):
        channel.basic_publish("", queue, b"m%d" % n)
    try:
        ui.wait(lambda: total(ui, "Queues") == queues_before + 1, "one more queue")
        ui.wait(lambda: total(ui, "Ready") == ready_before + 7, "seven more ready messages")
        assert total(ui, "Connections") == connections_before + 1

        # A consumer takes three without acking: they move from ready to unacked.
        consumer = amqp.connect().channel()
        consumer.basic_qos(prefetch_count=3)
        consumer.basic_consume(queue, lambda *args: None)
        consumer.connection.process_data_events(time_limit=0.5)
        ui.wait(lambda: total(ui, "Unacked") >= 3, "three unacked")
        ui.wait(lambda: total(ui, "Consumers") >= 1, "a consumer")

        # The chart has drawn lines from at least two samples, and its legend and
        # accessible label carry the latest values.
        chart = ui.wait_text("figure.chart", "Queued messages")
        ui.wait(lambda: len(ui.find_all("polyline", chart)) == 3, "three lines in the chart")
        label = ui.find("svg", chart).get_attribute("aria-label")
        assert label.startswith("Queued messages: Ready ")
        assert ui.find_all("figure.chart polyline")  # the rates chart draws too
    finally:
        api("DELETE", f"queues/%2F/{queue}")


def test_node_facts_and_listeners(ui: Page, ui_broker: leveret.Broker) -> None:
    ui.open("", "Overview")
    node = ui.wait_text("section.panel", "Data directory")
    assert "Leveret" in node.text
    assert str(ui_broker.node.config.data_dir) in node.text
    listeners = ui.rows("Listeners")
    assert ["amqp", "127.0.0.1", str(ui_broker.port)] in listeners
    assert ui.find_all("section.panel meter")  # memory against its watermark


def test_an_alarm_is_shown_loudly_until_it_clears(ui: Page, ui_broker: leveret.Broker) -> None:
    ui.open("", "Overview")
    ui_broker.set_memory_alarm(True)
    try:
        alarm = ui.wait_text('.alarm[role="alert"]', "Memory alarm")
        assert "Publishers are blocked" in alarm.text
    finally:
        ui_broker.set_memory_alarm(False)
    ui.wait(lambda: not ui.find_all(".alarm"), "the alarm to go")


def test_definitions_download_holds_the_topology(
    ui: Page, api: Api, unique: Callable[[str], str]
) -> None:
    queue = unique("q")
    api("PUT", f"queues/%2F/{queue}", json={"durable": True}).raise_for_status()
    try:
        ui.open("", "Overview")
        before = set(ui.downloads.iterdir())
        ui.submit("Export definitions")

        def downloaded() -> Path | None:
            new = [p for p in set(ui.downloads.iterdir()) - before if p.suffix == ".json"]
            return new[0] if new else None

        path: Path = ui.wait(downloaded, "the definitions file")
        assert path.name.startswith("leveret-definitions-")
        body = ui.wait(lambda: _json_or_none(path), "the whole file")
        assert queue in [q["name"] for q in body["queues"]]
        assert "guest" in [u["name"] for u in body["users"]]
    finally:
        api("DELETE", f"queues/%2F/{queue}")


def _json_or_none(path: Path) -> dict[str, object] | None:
    try:
        loaded: dict[str, object] = json.loads(path.read_text())
        return loaded
    except (OSError, ValueError):
        return None  # still being written


def test_definitions_upload_creates_what_the_file_names(
    ui: Page, api: Api, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    vhost, queue = unique("vh"), unique("q")
    document = {
        "vhosts": [{"name": vhost}],
        "permissions": [
            {"user": "guest", "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"}
        ],
        "queues": [
            {"name": queue, "vhost": vhost, "durable": True, "auto_delete": False, "arguments": {}}
        ],
    }
    path = tmp_path / "definitions.json"
    path.write_text(json.dumps(document))
    (tmp_path / "broken.json").write_text("{not json")
    try:
        ui.open("", "Overview")
        form = ui.form("Import definitions")
        ui.find('input[type="file"]', form).send_keys(str(tmp_path / "broken.json"))
        ui.submit("Import definitions")
        assert "not JSON" in ui.form_error("Import definitions")

        ui.find('input[type="file"]', form).send_keys(str(path))
        ui.submit("Import definitions")
        ui.toast("Definitions imported from definitions.json")
        assert api("GET", f"queues/{vhost}/{queue}").status_code == 200
        # The new vhost is offered at once in the header's chooser.
        ui.wait_text("#vhost option", vhost)
    finally:
        api("DELETE", f"vhosts/{vhost}")
