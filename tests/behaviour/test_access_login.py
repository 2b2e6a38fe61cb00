"""Logins against the user database, and what deleting a user or a vhost does to its
connected clients (320 CONNECTION_FORCED with RabbitMQ's reasons)."""

from __future__ import annotations

import time

import pika
import pika.exceptions
import pytest

from .access_admin import Admin, LeveretBackend

LOGIN_REFUSED = (
    "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. "
    "For details see the broker logfile."
)


@pytest.mark.parametrize("who", ["wrong password", "no such user"])
def test_bad_credentials_are_refused_alike(admin: Admin, who: str) -> None:
    vhost = admin.vhost()
    user, password = admin.user(full_on=vhost)
    if who == "no such user":
        user = user + "-nobody"
    with pytest.raises(pika.exceptions.ProbableAuthenticationError) as refused:
        admin.connect(user, password + "-wrong", vhost)
    assert LOGIN_REFUSED in str(refused.value)


def test_changed_password_takes_effect_at_the_next_login(admin: Admin) -> None:
    vhost = admin.vhost()
    user, password = admin.user(full_on=vhost)
    admin.backend.change_password(user, "new-secret")
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        admin.connect(user, password, vhost)
    assert admin.connect(user, "new-secret", vhost).is_open


def test_unknown_vhost_is_refused(admin: Admin) -> None:
    vhost = admin.vhost()
    user, password = admin.user(full_on=vhost)
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as refused:
        admin.connect(user, password, vhost + "-missing")
    assert f"NOT_ALLOWED - vhost {vhost}-missing not found" in str(refused.value)


def _closed_by_broker(conn: pika.BlockingConnection) -> pika.exceptions.ConnectionClosedByBroker:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            conn.process_data_events(0.2)
        except pika.exceptions.ConnectionClosedByBroker as closed:
            return closed
    raise AssertionError("the broker did not close the connection")


def test_deleting_a_user_closes_its_connections(admin: Admin) -> None:
    vhost = admin.vhost()
    user, password = admin.user(full_on=vhost)
    other, other_password = admin.user(full_on=vhost)
    conn = admin.connect(user, password, vhost)
    bystander = admin.connect(other, other_password, vhost)
    admin.backend.delete_user(user)
    closed = _closed_by_broker(conn)
    assert (closed.reply_code, closed.reply_text) == (
        320,
        f"CONNECTION_FORCED - user '{user}' is deleted",
    )
    bystander.process_data_events(0.2)
    assert bystander.is_open
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        admin.connect(user, password, vhost)


def test_deleting_a_vhost_closes_its_connections_and_deletes_its_queues(admin: Admin) -> None:
    vhost = admin.vhost()
    user, password = admin.user(full_on=vhost)
    conn = admin.connect(user, password, vhost)
    ch = conn.channel()
    ch.queue_declare("kept", durable=True)
    ch.confirm_delivery()
    ch.basic_publish("", "kept", b"m", pika.BasicProperties(delivery_mode=2))
    admin.backend.delete_vhost(vhost)
    closed = _closed_by_broker(conn)
    assert closed.reply_code == 320
    deleted = f"CONNECTION_FORCED - vhost '{vhost}' is deleted"
    if isinstance(admin.backend, LeveretBackend):
        assert closed.reply_text == deleted
    else:
        # RabbitMQ races two closers: the vhost's supervisor going down, and the handler
        # of the deletion event; whichever comes first gives the text.
        assert closed.reply_text in (deleted, f"CONNECTION_FORCED - vhost '{vhost}' is down")
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError):
        admin.connect(user, password, vhost)
    # Created again, the vhost is empty, and the user's permissions went with it.
    admin.backend.add_vhost(vhost)
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError):
        admin.connect(user, password, vhost)
    admin.backend.set_permissions(user, vhost, ".*", ".*", ".*")
    ch = admin.connect(user, password, vhost).channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as missing:
        ch.queue_declare("kept", passive=True)
    assert missing.value.reply_code == 404
