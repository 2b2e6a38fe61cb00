"""UserDatabase.check: the user, or why a login is refused (for the broker's log)."""

from __future__ import annotations

import pytest

from leveret.broker.auth import UserDatabase


@pytest.mark.parametrize(
    ("name", "password", "peer", "reason"),
    [
        ("guest", "wrong", "127.0.0.1", "user 'guest' - invalid credentials: wrong password"),
        ("bob", "guest", "127.0.0.1", "user 'bob' - invalid credentials: no such user"),
        (
            "guest",
            "guest",
            "192.0.2.7",
            "user 'guest' can only connect via localhost, not from 192.0.2.7",
        ),
    ],
)
def test_refusals_say_why(name: str, password: str, peer: str, reason: str) -> None:
    users = UserDatabase.with_default_user()
    assert users.check(name, password, peer) == (None, reason)
    assert users.authenticate(name, password, peer) is None


@pytest.mark.parametrize("peer", ["127.0.0.1", "::1", None])
def test_guest_logs_in_from_loopback(peer: str | None) -> None:
    users = UserDatabase.with_default_user()
    user, reason = users.check("guest", "guest", peer)
    assert user is not None and user.name == "guest" and reason == ""


def test_a_user_without_the_loopback_limit_logs_in_from_anywhere() -> None:
    users = UserDatabase()
    users.add("app", "secret")
    user, _ = users.check("app", "secret", "192.0.2.7")
    assert user is not None and user.name == "app"
