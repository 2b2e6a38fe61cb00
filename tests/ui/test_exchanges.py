"""Exchanges: declare one with the form, bind it, publish through it (routed or not, as
pika then sees the message), unbind and delete it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .conftest import Api, Clients, Page

pytestmark = pytest.mark.leveret_only


def test_declare_bind_publish_unbind_and_delete(
    ui: Page, amqp: Clients, api: Api, unique: Callable[[str], str]
) -> None:
    exchange, queue = unique("x"), unique("q")
    api("PUT", f"queues/%2F/{queue}", json={}).raise_for_status()
    try:
        ui.open("exchanges", "Exchanges")
        ui.fill("Add an exchange", vhost="/", name=exchange, type="topic", durable=False)
        ui.add_argument("Add an exchange", "alternate-exchange", "amq.fanout", "string")
        ui.submit("Add an exchange")
        ui.toast(f"Exchange {exchange} declared")
        declared = api("GET", f"exchanges/%2F/{exchange}").json()
        assert (declared["type"], declared["durable"]) == ("topic", False)
        assert declared["arguments"] == {"alternate-exchange": "amq.fanout"}

        ui.filter("Exchanges", exchange)
        ui.wait_cell("Exchanges", exchange, "Type", "topic")
        ui.find(f'table[aria-label="Exchanges"] a[href$="/{exchange}"]').click()
        ui.wait(lambda: ui.heading() == f"Exchange {exchange}", "the exchange page")

        ui.fill("Add binding", kind="q", other=queue, routing_key="orders.*")
        ui.submit("Add binding")
        ui.row("Bindings from this exchange", queue)
        assert ui.cell("Bindings from this exchange", queue, "Routing key") == "orders.*"

        ui.fill("Publish a message", routing_key="orders.new", payload="hello from the UI")
        ui.add_argument("Publish a message", "origin", "browser", "string")
        ui.submit("Publish a message")
        ui.wait_text(".result", "Message published.")
        method, properties, body = amqp.channel().basic_get(queue, auto_ack=True)
        assert body == b"hello from the UI"
        assert properties.headers == {"origin": "browser"}
        assert method.routing_key == "orders.new"

        # Another key matches no binding: the page says so.
        ui.fill("Publish a message", routing_key="invoices.new")
        ui.submit("Publish a message")
        ui.wait_text(".result", "not routed")

        ui.click_button("Unbind", ui.row("Bindings from this exchange", queue))
        ui.wait(lambda: ui.rows("Bindings from this exchange") == [["No bindings."]], "no bindings")
        assert api("GET", f"exchanges/%2F/{exchange}/bindings/source").json() == []

        ui.submit("Delete this exchange", confirm=True)
        ui.toast(f"Exchange {exchange} deleted")
        ui.wait(lambda: ui.heading() == "Exchanges", "back to the list")
        assert api("GET", f"exchanges/%2F/{exchange}").status_code == 404
    finally:
        api("DELETE", f"exchanges/%2F/{exchange}")
        api("DELETE", f"queues/%2F/{queue}")


def test_a_bad_declaration_shows_the_api_reason(ui: Page) -> None:
    ui.open("exchanges", "Exchanges")
    ui.fill("Add an exchange", vhost="/", name="amq.direct", type="fanout")
    ui.submit("Add an exchange")
    assert "inequivalent arg 'type'" in ui.form_error("Add an exchange")


def test_the_default_exchange_page_publishes_by_queue_name(
    ui: Page, amqp: Clients, api: Api, unique: Callable[[str], str]
) -> None:
    queue = unique("q")
    api("PUT", f"queues/%2F/{queue}", json={}).raise_for_status()
    try:
        ui.open("exchanges/%2F/amq.default", "Exchange (AMQP default)")
        ui.fill("Publish a message", routing_key=queue, payload="eHl6", payload_encoding="base64")
        ui.submit("Publish a message")
        ui.wait_text(".result", "Message published.")
        assert amqp.channel().basic_get(queue, auto_ack=True)[2] == b"xyz"
    finally:
        api("DELETE", f"queues/%2F/{queue}")
