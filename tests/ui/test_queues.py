"""Queues: declaring one with the form, counts that follow pika traffic, server-side
paging, sorting and filtering, and the queue page's operations (get, bind, move, purge,
delete)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pika
import pytest

from .conftest import Api, Clients, Page

pytestmark = pytest.mark.leveret_only


@pytest.fixture
def queues(api: Api) -> Iterator[list[str]]:
    """Names of queues to delete after the test."""
    made: list[str] = []
    yield made
    for name in made:
        api("DELETE", f"queues/%2F/{name}")


def test_declare_then_watch_ready_unacked_and_consumers(
    ui: Page, amqp: Clients, api: Api, queues: list[str], unique: Callable[[str], str]
) -> None:
    queue = unique("q")
    queues.append(queue)
    ui.open("queues", "Queues")
    ui.fill("Add a queue", vhost="/", type="quorum", name=queue, durable=True)
    ui.add_argument("Add a queue", "x-max-length", "100", "number")
    ui.submit("Add a queue")
    ui.toast(f"Queue {queue} declared")
    declared = api("GET", f"queues/%2F/{queue}").json()
    assert declared["type"] == "quorum"
    assert declared["arguments"] == {"x-max-length": 100, "x-queue-type": "quorum"}

    ui.filter("Queues", queue)
    ui.wait_cell("Queues", queue, "Type", "quorum")
    assert "x-max-length" in ui.cell("Queues", queue, "Features")
    assert ui.cell("Queues", queue, "Ready") == "0"

    channel = amqp.channel()
    for n in range(5):
        channel.basic_publish("", queue, b"m%d" % n)
    ui.wait_cell("Queues", queue, "Ready", "5")

    consumer = amqp.connect().channel()
    consumer.basic_qos(prefetch_count=2)
    consumer.basic_consume(queue, lambda *args: None)
    consumer.connection.process_data_events(time_limit=0.5)
    ui.wait_cell("Queues", queue, "Unacked", "2")
    assert ui.cell("Queues", queue, "Ready") == "3"
    assert ui.cell("Queues", queue, "Total") == "5"
    assert ui.cell("Queues", queue, "Consumers") == "1"


def test_paging_sorting_and_regex_filtering_happen_on_the_server(
    ui: Page, api: Api, queues: list[str], unique: Callable[[str], str]
) -> None:
    prefix = unique("page")
    names = [f"{prefix}-{n:02d}" for n in range(25)] + [unique("unfiltered")]
    for name in names:
        api("PUT", f"queues/%2F/{name}", json={}).raise_for_status()
        queues.append(name)

    ui.open("queues", "Queues")
    Select = pytest.importorskip("selenium.webdriver.support.ui").Select
    Select(ui.find('select[aria-label="Rows per page"]')).select_by_value("20")
    ui.filter("Queues", prefix)
    ui.wait(lambda: len(ui.rows("Queues")) == 20, "a page of 20")
    summary = ui.find(".summary").text
    assert summary.startswith("25 of ")
    assert ui.find(".page-info").text == "Page 1 of 2"

    ui.click_button("Next")
    ui.wait(lambda: len(ui.rows("Queues")) == 5, "the last 5 on page 2")
    assert ui.find(".page-info").text == "Page 2 of 2"
    ui.click_button("Previous")
    ui.wait(lambda: len(ui.rows("Queues")) == 20, "page 1 again")

    name_header = ui.wait_text('table[aria-label="Queues"] th button', "Name")
    name_header.click()
    ui.wait(lambda: ui.rows("Queues")[0][0] == f"{prefix}-00", "ascending by name")
    name_header.click()
    ui.wait(lambda: ui.rows("Queues")[0][0] == f"{prefix}-24", "descending by name")

    ui.find(".table-tools input[type=checkbox]").click()  # Regex
    ui.filter("Queues", f"{prefix}-(03|17)$", regex=True)
    ui.wait(
        lambda: sorted(r[0] for r in ui.rows("Queues")) == [f"{prefix}-03", f"{prefix}-17"],
        "2 matches",
    )
    ui.find(".table-tools input[type=checkbox]").click()
    ui.filter("Queues", "")
    Select(ui.find('select[aria-label="Rows per page"]')).select_by_value("50")


def publish_numbered(amqp: Clients, queue: str, count: int) -> None:
    channel = amqp.channel()
    for n in range(count):
        properties = pika.BasicProperties(content_type="text/plain", headers={"n": n})
        channel.basic_publish("", queue, b"payload %d" % n, properties)


def field(ui: Page, name: str) -> str:
    return ui.find(f'[data-field="{name}"]').text


def test_the_queue_page_gets_binds_moves_purges_and_deletes(
    ui: Page, amqp: Clients, api: Api, queues: list[str], unique: Callable[[str], str]
) -> None:
    queue, other = unique("q"), unique("dest")
    queues.extend([queue, other])
    for name in (queue, other):
        api("PUT", f"queues/%2F/{name}", json={"durable": True}).raise_for_status()
    publish_numbered(amqp, queue, 4)

    ui.open(f"queues/%2F/{queue}", f"Queue {queue}")
    ui.wait(lambda: field(ui, "ready") == "4", "4 ready")
    chart = ui.wait_text("figure.chart", "Queue depth")
    ui.wait(lambda: len(ui.find_all("polyline", chart)) == 2, "the depth chart's two lines")
    assert ui.rows("Consumers") == [["No consumers."]]

    # Look at two messages and put them back.
    ui.fill("Get messages", ackmode="ack_requeue_true", count="2")
    ui.submit("Get messages")
    ui.wait(lambda: len(ui.find_all("article.message")) == 2, "two messages shown")
    shown = [p.text for p in ui.find_all("article.message pre.payload")]
    assert shown == ["payload 0", "payload 1"]
    assert '"n":0' in ui.find("article.message").text
    ui.wait(lambda: field(ui, "ready") == "4", "all 4 still ready")

    # Take one for good.
    ui.fill("Get messages", ackmode="ack_requeue_false", count="1")
    ui.submit("Get messages")
    ui.wait(
        lambda: [p.text for p in ui.find_all("article.message pre.payload")] == ["payload 0"], "one"
    )
    ui.wait(lambda: field(ui, "ready") == "3", "3 left")

    # Bind it from amq.direct, then unbind.
    ui.fill("Add binding", other="amq.direct", routing_key="jobs")
    ui.submit("Add binding")
    ui.row("Bindings of this queue", "amq.direct")
    assert ui.cell("Bindings of this queue", "amq.direct", "Routing key") == "jobs"
    ui.click_button("Unbind", ui.row("Bindings of this queue", "amq.direct"))
    ui.wait(lambda: len(ui.rows("Bindings of this queue")) == 1, "only the default binding")

    # Move the three left to the other queue.
    ui.fill("Move messages", destination=other)
    ui.submit("Move messages")
    ui.toast(f"Moved 3 messages to {other}")
    ui.wait(lambda: field(ui, "ready") == "0", "the source emptied")
    moved = amqp.channel()
    bodies = [moved.basic_get(other, auto_ack=True)[2] for _ in range(3)]
    assert bodies == [b"payload 1", b"payload 2", b"payload 3"]

    # Purge what arrives next.
    publish_numbered(amqp, queue, 2)
    ui.wait(lambda: field(ui, "ready") == "2", "2 new messages")
    ui.click_button("Purge messages")
    ui.accept_confirm()
    ui.toast(f"Queue {queue} purged")
    ui.wait(lambda: field(ui, "ready") == "0", "purged")

    ui.submit("Delete this queue", confirm=True)
    ui.toast(f"Queue {queue} deleted")
    ui.wait(lambda: ui.heading() == "Queues", "back to the list")
    assert api("GET", f"queues/%2F/{queue}").status_code == 404


def test_moving_to_a_missing_queue_says_why(
    ui: Page, api: Api, queues: list[str], unique: Callable[[str], str]
) -> None:
    queue = unique("q")
    queues.append(queue)
    api("PUT", f"queues/%2F/{queue}", json={}).raise_for_status()
    ui.open(f"queues/%2F/{queue}", f"Queue {queue}")
    ui.fill("Move messages", destination="no-such-queue")
    ui.submit("Move messages")
    assert ui.form_error("Move messages") == "no queue 'no-such-queue' in vhost '/'"


def test_a_queue_deleted_elsewhere_is_reported_on_its_page(
    ui: Page, api: Api, unique: Callable[[str], str]
) -> None:
    queue = unique("q")
    api("PUT", f"queues/%2F/{queue}", json={}).raise_for_status()
    ui.open(f"queues/%2F/{queue}", f"Queue {queue}")
    assert not ui.visible(".stale")
    api("DELETE", f"queues/%2F/{queue}").raise_for_status()
    assert ui.wait_text(".stale", "Could not refresh").is_displayed()
