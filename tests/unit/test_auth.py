"""AccessControl.check: the user, or why a login is refused (for the broker's log); and the
password hashes, in RabbitMQ's format."""

from __future__ import annotations

import base64
import hashlib

import pytest

from leveret.broker.access import AccessControl
from leveret.broker.access.passwords import MD5, SHA256, SHA512, check_password, hash_password


def guest_only() -> AccessControl:
    access = AccessControl(loopback_users=["guest"])
    access.seed_defaults("guest", "guest", "/")
    return access


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
    users = guest_only()
    assert users.check(name, password, peer) == (None, reason)
    assert users.authenticate(name, password, peer) is None


@pytest.mark.parametrize("peer", ["127.0.0.1", "::1", None])
def test_guest_logs_in_from_loopback(peer: str | None) -> None:
    users = guest_only()
    user, reason = users.check("guest", "guest", peer)
    assert user is not None and user.name == "guest" and reason == ""


def test_a_user_without_the_loopback_limit_logs_in_from_anywhere() -> None:
    users = guest_only()
    users.add_user("app", "secret")
    user, _ = users.check("app", "secret", "192.0.2.7")
    assert user is not None and user.name == "app"


def test_a_user_without_a_password_cannot_log_in_with_one_but_by_certificate() -> None:
    users = guest_only()
    users.add_user("cert", None)
    assert users.check("cert", "", "127.0.0.1") == (
        None,
        "user 'cert' - invalid credentials: user has no password",
    )
    user, _ = users.check_external("cert", "127.0.0.1")
    assert user is not None and user.name == "cert"
    assert users.check_external("nobody", "127.0.0.1")[0] is None
    users.add_user("pw", "secret")
    users.clear_password("pw")
    assert users.check("pw", "secret", None)[0] is None


def test_sha256_hash_is_rabbitmqs_format() -> None:
    """base64(4-byte salt + sha256(salt + password)), as rabbit_password_hashing_sha256."""
    salt = bytes.fromhex("908dc60a")
    expected = base64.b64encode(salt + hashlib.sha256(salt + b"test12").digest()).decode()
    assert hash_password("test12", SHA256, salt) == expected
    # The worked example of RabbitMQ's passwords guide, and md5 (the old default) likewise.
    assert expected == "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR"
    assert hash_password("simon", MD5, bytes.fromhex("cad5089b")) == "ytUIm8s3AnKsXQjptplKFytfVxI="
    assert check_password("test12", expected, SHA256)
    assert not check_password("test13", expected, SHA256)
    assert len(base64.b64decode(hash_password("x"))) == 4 + 32


@pytest.mark.parametrize("algorithm", [MD5, SHA512])
def test_imported_md5_and_sha512_hashes_are_checked(algorithm: str) -> None:
    users = AccessControl()
    users.add_user("imp", None, password_hash=hash_password("pw", algorithm),
                   hashing_algorithm=algorithm)  # fmt: skip
    assert users.check("imp", "pw", None)[0] is not None
    assert users.check("imp", "nope", None)[0] is None


def test_a_garbled_hash_refuses_instead_of_raising() -> None:
    assert not check_password("pw", "not base64!!")
    assert not check_password("pw", "")
