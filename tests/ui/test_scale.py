"""Ten thousand queues: the list screen asks the server for one page at a time, so the
browser never holds more than a page, and sorting and filtering still work."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pika
import pytest
from selenium.webdriver.support.ui import Select

import leveret

from .conftest import GUEST, Page

pytestmark = pytest.mark.leveret_only

QUEUES = 10_000


@pytest.fixture(scope="module")
def crowded() -> Iterator[leveret.Broker]:
    """A broker of its own with 10,000 queues (declared by pika), one of them busy."""
    with leveret.Broker(management_port=0) as broker:
        connection = pika.BlockingConnection(pika.URLParameters(broker.url))
        channel = connection.channel()
        for n in range(QUEUES):
            channel.queue_declare(f"bulk-{n:05d}")
        channel.confirm_delivery()
        for _ in range(3):
            channel.basic_publish("", "bulk-07777", b"x")
        connection.close()
        yield broker


@pytest.fixture
def crowded_page(ui: Page, crowded: leveret.Broker) -> Iterator[Page]:
    page = Page(ui.driver, crowded.management_url, ui.downloads)
    page.driver.get(f"{page.base}/")
    page.driver.execute_script("sessionStorage.setItem('leveret.refresh', '2000')")
    page.login(*GUEST)
    page.wait(lambda: page.visible("header.top"), "logged in to the crowded broker")
    yield page
    ui.driver.get(f"{ui.base}/")  # back to the session's broker (its login is kept)
    ui.wait(lambda: ui.visible("header.top"), "the session broker's shell")


def test_ten_thousand_queues_are_paged_sorted_and_filtered_by_the_server(
    crowded_page: Page,
) -> None:
    page = crowded_page
    started = time.monotonic()
    page.open("queues", "Queues")
    page.wait(lambda: len(page.rows("Queues")) == 50, "the first page of 50")
    shown_in = time.monotonic() - started
    assert page.find(".summary").text == "10,000 queues"
    assert page.find(".page-info").text == "Page 1 of 200"
    assert len(page.find_all('table[aria-label="Queues"] tbody tr')) == 50
    # Generous for a loaded CI machine: the server builds the list in about a second.
    assert shown_in < 10, f"the first page took {shown_in:.1f} s"

    Select(page.find('select[aria-label="Rows per page"]')).select_by_value("20")
    page.wait(lambda: page.find(".page-info").text == "Page 1 of 500", "pages of 20")

    ready = page.wait_text('table[aria-label="Queues"] th button', "Ready")
    ready.click()
    ready.click()  # descending: the busy queue first
    page.wait(lambda: page.rows("Queues")[0][0] == "bulk-07777", "the busiest queue first")
    page.wait_cell("Queues", "bulk-07777", "Ready", "3")

    page.find(".table-tools input[type=checkbox]").click()
    page.filter("Queues", "^bulk-0999[0-4]$", regex=True)
    page.wait(lambda: len(page.rows("Queues")) == 5, "five matches")
    assert page.find(".summary").text == "5 of 10,000 queues"
