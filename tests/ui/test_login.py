"""Logging in and out with the broker's users (HTTP Basic from JavaScript)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .conftest import GUEST, Api, Page

pytestmark = pytest.mark.leveret_only


def test_a_wrong_password_is_refused_and_the_right_one_opens_the_overview(ui: Page) -> None:
    ui.open("", "Overview")
    ui.logout()
    ui.login("guest", "not-the-password")
    assert ui.wait_text("#login-error", "Login failed").is_displayed()
    assert not ui.visible("header.top")
    ui.login(*GUEST)
    ui.wait(lambda: ui.heading() == "Overview", "the overview")
    assert ui.find("#whoami").text == "guest"
    assert ui.visible('#nav a[href="#/admin"]')


def test_a_management_user_sees_no_admin_and_a_plain_user_may_not_log_in(
    ui: Page, api: Api, unique: Callable[[str], str]
) -> None:
    name = unique("user")
    api("PUT", f"users/{name}", json={"password": "pw-1", "tags": "management"}).raise_for_status()
    api("PUT", f"users/{name}-plain", json={"password": "pw-2", "tags": ""}).raise_for_status()
    try:
        ui.open("", "Overview")
        ui.login(name, "pw-1")
        ui.wait(lambda: ui.heading() == "Overview", "the overview")
        assert ui.find("#whoami").text == name
        assert not ui.visible('#nav a[href="#/admin"]')
        ui.login(name + "-plain", "pw-2")
        assert ui.wait_text("#login-error", "Not management user").is_displayed()
    finally:
        api("DELETE", f"users/{name}")
        api("DELETE", f"users/{name}-plain")
        ui.login(*GUEST)
        ui.wait(lambda: ui.visible("header.top"), "guest logged in again")


def test_credentials_live_in_session_storage_and_logout_forgets_them(ui: Page) -> None:
    stored = ui.driver.execute_script("return sessionStorage.getItem('leveret.credentials')")
    assert stored and '"user":"guest"' in stored
    assert ui.driver.execute_script("return localStorage.length") == 0
    assert ui.driver.execute_script("return document.cookie") == ""
    ui.logout()
    assert ui.driver.execute_script("return sessionStorage.getItem('leveret.credentials')") is None
    # A reload keeps the tab's session (it is sessionStorage), so the login survives it.
    ui.login(*GUEST)
    ui.wait(lambda: ui.visible("header.top"), "logged in")
    ui.driver.refresh()
    ui.wait(
        lambda: ui.heading() is not None and ui.visible("header.top"), "the shell after a reload"
    )
