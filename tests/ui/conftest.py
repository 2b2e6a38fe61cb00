"""The management UI in a real headless browser: Debian's chromium driven by selenium
through chromedriver, against an embedded Leveret broker with its management port open.

One browser and one broker serve the whole session (starting Chromium costs seconds).
The tests drive the page as a person would (typing, clicking, keyboard) while real pika
clients publish and consume, and they assert what the page shows. Every wait is explicit
and bounded; no sleep stands in for an assertion.

Skipped, with the reason, where chromium, chromedriver or selenium is missing
(``apt-get install chromium chromium-driver``; ``LEVERET_TEST_CHROMIUM`` and
``LEVERET_TEST_CHROMEDRIVER`` point at other binaries).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pika
import pika.adapters.blocking_connection
import pytest
import requests

import leveret

selenium = pytest.importorskip(
    "selenium", reason="selenium is not installed (pip install selenium)"
)

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import (  # noqa: E402
    NoAlertPresentException,
    StaleElementReferenceException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

WAIT = 20.0  # seconds any one expectation may take (a refresh tick is 2 s in tests)
REFRESH_MS = 2000
GUEST = ("guest", "guest")


def _binary(env: str, *candidates: str) -> str | None:
    if os.environ.get(env):
        return os.environ[env]
    for name in candidates:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def ui_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[leveret.Broker]:
    """An embedded broker with a data directory, serving the API and the UI."""
    broker = leveret.Broker(management_port=0, data_dir=tmp_path_factory.mktemp("ui-broker"))
    with broker:
        yield broker


class Page:
    """The UI as a person uses it: open a screen, fill a form by its label, read a table."""

    def __init__(self, driver: webdriver.Chrome, base: str, downloads: Path):
        self.driver = driver
        self.base = base
        self.downloads = downloads

    # -- navigation -----------------------------------------------------------------------

    def login(self, user: str, password: str) -> None:
        driver = self.driver
        if not driver.current_url.startswith(self.base):
            driver.get(f"{self.base}/")
        self.wait(lambda: self.visible("#login-form") or self.visible("header.top"))
        if self.visible("header.top"):
            self.logout()
        self.type_into(self.find("#login-form [name=username]"), user)
        self.type_into(self.find("#login-form [name=password]"), password)
        self.find("#login-form button[type=submit]").click()

    def logout(self) -> None:
        self.find("#logout").click()
        self.wait(lambda: self.visible("#login-form"))

    def open(self, route: str, heading: str | None = None) -> None:
        """Go to ``#/route`` and wait until the screen has drawn (its heading starting
        with ``heading``)."""
        self.driver.execute_script("location.hash = arguments[0]", f"#/{route}")
        if heading is not None:
            self.wait(
                lambda: (
                    (self.heading() or "").startswith(heading) and self.find_all("main[data-ready]")
                ),
                f"screen {heading!r}",
            )

    def heading(self) -> str | None:
        found = self.driver.find_elements(By.CSS_SELECTOR, "main h1")
        return found[0].text if found else None

    # -- finding and waiting --------------------------------------------------------------

    def find(self, css: str, within: WebElement | None = None) -> WebElement:
        return (within or self.driver).find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str, within: WebElement | None = None) -> list[WebElement]:
        return (within or self.driver).find_elements(By.CSS_SELECTOR, css)

    def visible(self, css: str) -> bool:
        return any(e.is_displayed() for e in self.find_all(css))

    def wait(
        self, condition: Callable[[], Any], what: str = "the page", timeout: float = WAIT
    ) -> Any:
        """``condition()``'s first truthy value; stale elements (a refresh re-rendered
        them) count as not yet."""

        def probe(_: object) -> Any:
            try:
                return condition()
            except StaleElementReferenceException:
                return False

        return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(
            probe, message=f"waiting for {what}"
        )

    def wait_text(self, css: str, text: str, timeout: float = WAIT) -> WebElement:
        """The first element matching ``css`` whose text contains ``text``."""

        def probe() -> WebElement | None:
            for element in self.find_all(css):
                if text in element.text:
                    return element
            return None

        found: WebElement = self.wait(probe, f"{css} containing {text!r}", timeout)
        return found

    def toast(self, text: str) -> WebElement:
        """The notice ``text``; on a timeout, the errors the page shows instead."""
        try:
            return self.wait_text("#toast .toast", text)
        except TimeoutException:
            shown = [e.text for e in self.find_all(".form-error, .toast") if e.text]
            raise AssertionError(f"no notice {text!r}; the page shows {shown}") from None

    # -- tables ---------------------------------------------------------------------------

    def table(self, label: str) -> WebElement:
        found: WebElement = self.wait(
            lambda: next(iter(self.find_all(f'table[aria-label="{label}"]')), None),
            f"table {label!r}",
        )
        return found

    # Tables are read in one script call rather than one WebDriver call per cell: a
    # page of 50 rows would otherwise cost hundreds of round trips per look.
    _TABLE = """
        const table = document.querySelector(`table[aria-label="${arguments[0]}"]`);
        if (!table) return null;
        const text = (e) => e.innerText.trim();
        return {
          head: [...table.tHead.rows[0].cells].map((c) => text(c).replace(/[ ↕▲▼]+$/, "")),
          rows: [...table.tBodies[0].rows].map((r) => [...r.cells].map(text)),
        };
    """
    _ROW = """
        const table = document.querySelector(`table[aria-label="${arguments[0]}"]`);
        return table && [...table.tBodies[0].rows].find((r) =>
          [...r.cells].some((c) => c.innerText.trim().split("\\n")[0] === arguments[1])) || null;
    """

    def _read(self, label: str) -> dict[str, list[Any]]:
        found: dict[str, list[Any]] = self.wait(
            lambda: self.driver.execute_script(self._TABLE, label), f"table {label!r}"
        )
        return found

    def rows(self, label: str) -> list[list[str]]:
        """The body rows of the table labelled ``label``, as cell texts."""
        return self._read(label)["rows"]

    def row(self, label: str, text: str, timeout: float = WAIT) -> WebElement:
        """The row of table ``label`` with a cell whose (first line of) text is ``text``."""
        found: WebElement = self.wait(
            lambda: self.driver.execute_script(self._ROW, label, text),
            f"a row {text!r} in {label}",
            timeout,
        )
        return found

    def cell(self, label: str, row_text: str, column: str) -> str | None:
        """The text in ``column`` of the row with a cell ``row_text`` (None: no such row)."""
        table = self._read(label)
        for cells in table["rows"]:
            if any(cell.split("\n")[0] == row_text for cell in cells):
                text: str = cells[table["head"].index(column)]
                return text
        return None

    def wait_cell(self, label: str, row_text: str, column: str, expected: str) -> None:
        self.wait(
            lambda: self.cell(label, row_text, column) == expected,
            f"{column} of {row_text!r} in {label} to read {expected!r}",
        )

    def filter(self, label: str, text: str, *, regex: bool = False) -> None:
        """Type into the table's name filter and wait for the filtered rows (a regular
        expression's matches the caller waits for)."""
        box = self.find(f'input[aria-label="Filter {label} by name"]')
        self.type_into(box, text)
        if regex:
            return

        def filtered() -> bool:
            rows = self.rows(label)
            empty = len(rows) == 1 and len(rows[0]) == 1  # the "nothing to show" row
            return empty or all(text.lower() in " ".join(row).lower() for row in rows)

        self.wait(filtered, f"{label} filtered by {text!r}")

    # -- forms ----------------------------------------------------------------------------

    def form(self, label: str) -> WebElement:
        """The form labelled ``label`` (screens add some after a first API call)."""
        found: WebElement = self.wait(
            lambda: next(iter(self.find_all(f'form[aria-label="{label}"]')), None),
            f"form {label!r}",
        )
        return found

    def type_into(self, element: WebElement, text: str) -> None:
        element.clear()
        element.send_keys(text)

    def fill(self, label: str, **values: str | bool) -> WebElement:
        """Set the named controls of form ``label``: text, a select's value, a checkbox."""
        form = self.form(label)
        for name, value in values.items():
            control = self.find(f'[name="{name}"]', form)
            if control.tag_name == "select":
                Select(control).select_by_value(str(value))
            elif control.get_attribute("type") == "checkbox":
                if control.is_selected() != bool(value):
                    control.click()
            else:
                self.type_into(control, str(value))
        return form

    def add_argument(self, form_label: str, key: str, value: str, kind: str) -> None:
        """Fill the first empty row of the form's argument editor."""
        form = self.form(form_label)
        row = next(
            r
            for r in self.find_all(".arg-row", form)
            if not self.find(".arg-key", r).get_attribute("value")
        )
        self.type_into(self.find(".arg-key", row), key)
        self.type_into(self.find(".arg-value", row), value)
        Select(self.find(".arg-type", row)).select_by_value(kind)

    def submit(self, label: str, confirm: bool = False) -> None:
        self.find('button[type="submit"]', self.form(label)).click()
        if confirm:
            self.accept_confirm()

    def form_error(self, label: str) -> str:
        return self.wait(
            lambda: self.find(".form-error", self.form(label)).text, f"an error in {label}"
        )

    def accept_confirm(self) -> None:
        def alert() -> Any:
            try:
                return self.driver.switch_to.alert
            except NoAlertPresentException:
                return None

        self.wait(alert, "a confirmation dialog").accept()

    def click_button(self, text: str, within: WebElement | None = None) -> None:
        for button in self.find_all("button", within):
            if button.text == text and button.is_displayed():
                button.click()
                return
        raise AssertionError(f"no button {text!r}")


def _start_chrome(downloads: Path) -> webdriver.Chrome:
    chromium = _binary("LEVERET_TEST_CHROMIUM", "chromium", "chromium-browser", "google-chrome")
    driver_path = _binary("LEVERET_TEST_CHROMEDRIVER", "chromedriver")
    if chromium is None or driver_path is None:
        pytest.skip(
            "the UI tests need chromium and chromedriver "
            "(Debian: apt-get install chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in CI containers
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,900",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(options=options, service=Service(driver_path))
    except WebDriverException as error:
        pytest.skip(f"chromium did not start under chromedriver: {error.msg}")
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    return driver


@pytest.fixture(scope="session")
def browser(ui_broker: leveret.Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    downloads = tmp_path_factory.mktemp("ui-downloads")
    driver = _start_chrome(downloads)
    try:
        page = Page(driver, ui_broker.management_url, downloads)
        driver.get(f"{page.base}/")
        # Refresh every 2 s rather than 5 s: waits for a refresh stay short.
        driver.execute_script(
            "sessionStorage.setItem('leveret.refresh', arguments[0])", str(REFRESH_MS)
        )
        page.login(*GUEST)
        page.wait(lambda: page.visible("header.top"), "the logged-in shell")
        yield page
    finally:
        driver.quit()


@pytest.fixture
def ui(browser: Page) -> Iterator[Page]:
    """The logged-in page (as guest); fails the test on a JavaScript error in it."""
    if not browser.visible("header.top"):
        browser.login(*GUEST)
        browser.wait(lambda: browser.visible("header.top"), "the logged-in shell")
    browser.driver.get_log("browser")  # drop what earlier tests left
    yield browser
    with contextlib.suppress(NoAlertPresentException):
        browser.driver.switch_to.alert.dismiss()
    errors = [
        entry["message"]
        for entry in browser.driver.get_log("browser")
        if entry["level"] == "SEVERE"
        # An API answer of 4xx is logged by the browser; the tests cause some on purpose.
        and "Failed to load resource" not in entry["message"]
    ]
    assert not errors, f"JavaScript errors: {errors}"


# -- AMQP and API helpers -------------------------------------------------------------------


class Clients:
    """pika connections to the UI's broker, closed at teardown."""

    def __init__(self, broker: leveret.Broker):
        self.broker = broker
        self.opened: list[pika.BlockingConnection] = []

    def connect(self, name: str | None = None, vhost: str = "/") -> pika.BlockingConnection:
        params = pika.URLParameters(self.broker.url_for(vhost))
        if name is not None:
            params.client_properties = {"connection_name": name}
        connection = pika.BlockingConnection(params)
        self.opened.append(connection)
        return connection

    def local_port(self, connection: pika.BlockingConnection) -> int:
        port: int = connection._impl._transport._sock.getsockname()[1]
        return port

    def channel(self, vhost: str = "/") -> pika.adapters.blocking_connection.BlockingChannel:
        channel = self.connect(vhost=vhost).channel()
        channel.confirm_delivery()
        return channel

    def close(self) -> None:
        for connection in self.opened:
            if connection.is_open:
                with contextlib.suppress(Exception):
                    connection.close()


@pytest.fixture
def amqp(ui_broker: leveret.Broker) -> Iterator[Clients]:
    clients = Clients(ui_broker)
    yield clients
    clients.close()


class Api:
    """The management API through requests, for arranging state and checking results."""

    def __init__(self, base: str):
        self.session = requests.Session()
        self.session.auth = GUEST
        self.base = base

    def __call__(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, f"{self.base}/api/{path}", **kwargs)


@pytest.fixture
def api(ui_broker: leveret.Broker) -> Iterator[Api]:
    client = Api(ui_broker.management_url)
    yield client
    client.session.close()


@pytest.fixture
def unique(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Names unique to the test: ``unique("q")`` -> ``ui-q-test_name-1a2b3c``."""
    tag = "".join(c for c in request.node.name if c.isalnum() or c == "_")[:30]

    def make(kind: str) -> str:
        return f"ui-{kind}-{tag}-{secrets.token_hex(3)}"

    return make
