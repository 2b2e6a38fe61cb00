"""Connections and channels: the lists, a connection's page with its channels, closing a
connection with a reason that the pika client hears."""

from __future__ import annotations

from collections.abc import Callable

import pika
import pika.exceptions
import pytest

from .conftest import Api, Clients, Page

pytestmark = pytest.mark.leveret_only


def test_a_connection_is_listed_opened_and_closed_with_a_reason(
    ui: Page, amqp: Clients, unique: Callable[[str], str]
) -> None:
    name = unique("conn")
    connection = amqp.connect(name)
    connection.channel()
    connection.channel()

    ui.open("connections", "Connections")
    # The API filters on the connection's name, its addresses (not the name the client gave).
    ui.filter("Connections", f":{amqp.local_port(connection)} ->")
    row = ui.wait_text('table[aria-label="Connections"] tbody tr', name)
    cells = [cell.text for cell in ui.find_all("td", row)]
    assert "guest" in cells
    assert any(cell.startswith("Pika Python Client Library") for cell in cells)
    ui.wait_cell("Connections", name, "Channels", "2")
    assert ui.cell("Connections", name, "TLS") == "\N{EN DASH}"  # none

    ui.find("td a", row).click()
    ui.wait(lambda: ui.heading() == "Connection", "the connection page")
    details = ui.wait_text("section.panel", "Client properties")
    assert name in details.text
    ui.wait(lambda: len(ui.rows("Channels")) == 2, "its two channels")
    assert [r[0] for r in ui.rows("Channels")] == ["Channel 1", "Channel 2"]

    ui.fill("Close this connection", reason="maintenance window")
    ui.submit("Close this connection", confirm=True)
    ui.toast("closed")
    ui.wait(lambda: ui.heading() == "Connections", "back to the list")

    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        connection.process_data_events(time_limit=5)
    assert closed.value.reply_code == 320
    assert "maintenance window" in closed.value.reply_text
    ui.wait(
        lambda: (
            not [
                r for r in ui.find_all('table[aria-label="Connections"] tbody tr') if name in r.text
            ]
        ),
        "the closed connection to leave the list",
    )


def test_channels_show_prefetch_unacked_and_their_consumers(
    ui: Page, amqp: Clients, api: Api, unique: Callable[[str], str]
) -> None:
    queue = unique("q")
    publisher = amqp.channel()
    publisher.queue_declare(queue)
    for n in range(6):
        publisher.basic_publish("", queue, b"m%d" % n)
    name = unique("conn")
    consumer = amqp.connect(name).channel()
    consumer.basic_qos(prefetch_count=4)
    tag = consumer.basic_consume(queue, lambda *args: None)
    consumer.connection.process_data_events(time_limit=0.5)
    try:
        ui.open("channels", "Channels")
        # Sorted by the server: the busiest channel first.
        header = ui.wait_text('table[aria-label="Channels"] th button', "Unacked")
        header.click()
        ui.wait(
            lambda: header.find_element("xpath", "..").get_attribute("aria-sort") == "ascending",
            "sorted",
        )
        header.click()
        ui.wait(
            lambda: header.find_element("xpath", "..").get_attribute("aria-sort") == "descending",
            "sorted",
        )
        headings = [
            th.text.strip(" ↕▲▼") for th in ui.find_all('table[aria-label="Channels"] thead th')
        ]
        ui.wait(lambda: ui.rows("Channels")[0][headings.index("Unacked")] == "4", "4 unacked first")
        first = ui.rows("Channels")[0]
        assert first[headings.index("Prefetch")] == "4"
        assert first[headings.index("Consumers")] == "1"

        ui.find('table[aria-label="Channels"] tbody tr td a').click()
        ui.wait(lambda: ui.heading() == "Channel", "the channel page")
        ui.row("Consumers", tag)
        assert queue in ui.table("Consumers").text
    finally:
        api("DELETE", f"queues/%2F/{queue}")
