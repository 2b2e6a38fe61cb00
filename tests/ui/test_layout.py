"""Usable by keyboard, labelled for screen readers, readable on a phone, light and dark."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement

from .conftest import Page

pytestmark = pytest.mark.leveret_only

SCREENS = [
    ("", "Overview"),
    ("connections", "Connections"),
    ("channels", "Channels"),
    ("exchanges", "Exchanges"),
    ("exchanges/%2F/amq.topic", "Exchange amq.topic"),
    ("queues", "Queues"),
    ("admin/users", "Users"),
    ("admin/users/guest", "User guest"),
    ("admin/vhosts", "Virtual hosts"),
    ("admin/vhosts/%2F", "Virtual host /"),
    ("admin/limits", "Limits"),
]

# Controls without a name a screen reader could read out (no label around them, no
# aria-label, no <label for>).
UNLABELLED = """
return [...document.querySelectorAll('main input, main select, main textarea, header select')]
  .filter((e) => e.type !== 'hidden')
  .filter((e) => !e.closest('label') && !e.getAttribute('aria-label')
                 && !(e.id && document.querySelector(`label[for="${e.id}"]`)))
  .map((e) => e.outerHTML);
"""


@pytest.fixture
def phone(ui: Page) -> Iterator[Page]:
    ui.driver.set_window_size(390, 844)
    yield ui
    ui.driver.set_window_size(1280, 900)


def test_every_control_has_a_label(ui: Page) -> None:
    for route, heading in SCREENS:
        ui.open(route, heading)
        assert ui.driver.execute_script(UNLABELLED) == [], f"unlabelled controls on #/{route}"


def test_navigation_focuses_the_heading(ui: Page) -> None:
    ui.open("queues", "Queues")
    focused = ui.driver.switch_to.active_element
    assert focused.tag_name == "h1" and focused.text == "Queues"


def test_the_keyboard_reaches_the_navigation_and_sorts_a_table(ui: Page) -> None:
    ui.open("", "Overview")

    def press(key: str) -> None:
        ActionChains(ui.driver).send_keys(key).perform()

    def tab_to(predicate: Callable[[WebElement], bool], limit: int = 80) -> None:
        for _ in range(limit):
            press(Keys.TAB)
            try:
                if predicate(ui.driver.switch_to.active_element):
                    return
            except StaleElementReferenceException:  # a refresh replaced a row meanwhile
                continue
        raise AssertionError("not reachable by Tab")

    ui.driver.execute_script("document.activeElement.blur()")
    tab_to(lambda e: e.tag_name == "a" and e.text == "Queues")
    press(Keys.ENTER)
    ui.wait(lambda: ui.heading() == "Queues", "the queues screen")
    ui.table("Queues")
    tab_to(lambda e: e.tag_name == "button" and e.text == "Type")
    press(Keys.ENTER)
    header = ui.wait_text('table[aria-label="Queues"] th', "Type")
    ui.wait(lambda: header.get_attribute("aria-sort") == "ascending", "sorted by type")
    # The refresh leaves the focus where it was.
    assert ui.driver.switch_to.active_element.text == "Type"


def test_no_screen_is_wider_than_a_phone(phone: Page) -> None:
    for route, heading in SCREENS:
        phone.open(route, heading)
        width = phone.driver.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert width[0] <= width[1], f"#/{route} scrolls sideways on a phone: {width}"
    assert phone.visible('#nav a[href="#/queues"]')


def _background(ui: Page) -> tuple[int, ...]:
    css = ui.driver.execute_script("return getComputedStyle(document.body).backgroundColor")
    return tuple(int(part) for part in css[css.index("(") + 1 : -1].split(",")[:3])


def test_light_and_dark_follow_the_system(ui: Page) -> None:
    ui.open("queues", "Queues")
    try:
        for scheme in ("light", "dark"):
            ui.driver.execute_cdp_cmd(
                "Emulation.setEmulatedMedia",
                {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
            )
            light = scheme == "light"
            ui.wait(lambda light=light: (sum(_background(ui)) > 600) == light, f"{scheme} colours")
            text = ui.driver.execute_script("return getComputedStyle(document.body).color")
            assert text != ui.driver.execute_script(
                "return getComputedStyle(document.body).backgroundColor"
            )
    finally:
        ui.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
