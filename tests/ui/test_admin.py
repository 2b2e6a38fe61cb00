"""Admin: users (tags, passwords), permissions, topic permissions, limits and virtual
hosts, each made through the page and then used by a real client."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pika
import pika.exceptions
import pytest
import requests

import leveret

from .conftest import Api, Page

pytestmark = pytest.mark.leveret_only


@pytest.fixture
def cleanup(api: Api) -> Iterator[list[str]]:
    """API paths to DELETE after the test."""
    paths: list[str] = []
    yield paths
    for path in paths:
        api("DELETE", path)


def whoami(broker: leveret.Broker, user: str, password: str) -> int:
    return requests.get(
        f"{broker.management_url}/api/whoami", auth=(user, password), timeout=10
    ).status_code


def test_a_user_made_in_the_page_can_log_in_and_work_within_its_grants(
    ui: Page, api: Api, ui_broker: leveret.Broker, cleanup: list[str], unique: Callable[[str], str]
) -> None:
    user = unique("user")
    cleanup.append(f"users/{user}")
    ui.open("admin/users", "Users")
    ui.fill("Add a user", name=user, password="first-pw")
    form = ui.form("Add a user")
    ui.click_button("management", form)
    ui.click_button("monitoring", form)
    assert ui.find('[name="tags"]', form).get_attribute("value") == "management, monitoring"
    ui.submit("Add a user")
    ui.toast(f"User {user} added")
    ui.filter("Users", user)
    assert ui.cell("Users", user, "Tags") == "management, monitoring"
    assert whoami(ui_broker, user, "first-pw") == 200

    ui.find(f'table[aria-label="Users"] a[href$="/{user}"]').click()
    ui.wait(lambda: ui.heading() == f"User {user}", "the user page")

    # Permissions in "/": may write and read, configure nothing.
    ui.fill("Set permissions", other="/", configure="^$", write=".*", read=".*")
    ui.submit("Set permissions")
    ui.row("Permissions", "/")
    assert ui.cell("Permissions", "/", "Configure") == "^$"
    url = ui_broker.url_for("/", user=user, password="first-pw")
    channel = pika.BlockingConnection(pika.URLParameters(url)).channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
        channel.queue_declare(unique("q"))
    assert refused.value.reply_code == 403
    channel.connection.close()

    ui.fill("Set topic permissions", other="/", exchange="amq.topic", write="^orders\\.", read=".*")
    ui.submit("Set topic permissions")
    ui.row("Topic permissions", "/")
    assert ui.cell("Topic permissions", "/", "Write") == "^orders\\."
    assert api("GET", f"users/{user}/topic-permissions").json()[0]["write"] == "^orders\\."

    ui.fill("Set a limit", limit="max-connections", value="1")
    ui.submit("Set a limit")
    ui.row("Limits", "max-connections")
    assert ui.cell("Limits", "max-connections", "Value") == "1"
    first = pika.BlockingConnection(pika.URLParameters(url))
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        pika.BlockingConnection(pika.URLParameters(url))
    first.close()

    # New tags keep the password; a new password replaces it.
    ui.fill("Change tags", tags="administrator")
    ui.submit("Change tags")
    ui.toast(f"Tags of {user} updated")
    assert api("GET", f"users/{user}").json()["tags"] == ["administrator"]
    assert whoami(ui_broker, user, "first-pw") == 200
    ui.fill("Change password", password="second-pw")
    ui.submit("Change password")
    ui.toast(f"Password of {user} changed")
    assert whoami(ui_broker, user, "first-pw") == 401
    assert whoami(ui_broker, user, "second-pw") == 200

    ui.open("admin/limits", "Limits")
    ui.row("User limits", user)

    ui.open(f"admin/users/{user}", f"User {user}")
    ui.submit("Delete this user", confirm=True)
    ui.toast(f"User {user} deleted")
    ui.wait(lambda: ui.heading() == "Users", "back to the users")
    assert api("GET", f"users/{user}").status_code == 404


def test_a_virtual_host_made_in_the_page_is_usable_and_limited(
    ui: Page, api: Api, ui_broker: leveret.Broker, cleanup: list[str], unique: Callable[[str], str]
) -> None:
    vhost = unique("vh")
    cleanup.append(f"vhosts/{vhost}")
    ui.open("admin/vhosts", "Virtual hosts")
    ui.fill(
        "Add a virtual host",
        name=vhost,
        description="made in the browser",
        default_queue_type="quorum",
    )
    ui.submit("Add a virtual host")
    ui.toast(f"Virtual host {vhost} added")
    ui.filter("Virtual hosts", vhost)
    assert ui.cell("Virtual hosts", vhost, "Description") == "made in the browser"
    assert ui.cell("Virtual hosts", vhost, "Default queue type") == "quorum"
    ui.wait_text("#vhost option", vhost)  # offered in the header's chooser

    ui.open(f"admin/vhosts/{vhost}", f"Virtual host {vhost}")
    ui.fill("Set permissions", other="guest")
    ui.submit("Set permissions")
    ui.row("Permissions", "guest")

    ui.fill("Set a limit", limit="max-queues", value="1")
    ui.submit("Set a limit")
    ui.row("Limits", "max-queues")
    channel = pika.BlockingConnection(pika.URLParameters(ui_broker.url_for(vhost))).channel()
    channel.queue_declare("first", durable=True)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
        channel.queue_declare("second", durable=True)
    assert refused.value.reply_code == 406
    channel.connection.close()
    assert api("GET", f"queues/{vhost}/first").json()["type"] == "quorum"

    ui.click_button("Clear", ui.row("Limits", "max-queues"))
    ui.wait(lambda: ui.rows("Limits") == [["None."]], "the limit cleared")
    assert api("GET", f"vhost-limits/{vhost}").json() == []

    ui.submit("Delete this virtual host", confirm=True)
    ui.toast(f"Virtual host {vhost} deleted")
    ui.wait(lambda: ui.heading() == "Virtual hosts", "back to the list")
    assert api("GET", f"vhosts/{vhost}").status_code == 404
    ui.wait(lambda: vhost not in ui.find("#vhost").text, "gone from the chooser")
