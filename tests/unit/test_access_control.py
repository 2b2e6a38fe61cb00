"""AccessControl's admin functions: rabbitmqctl's error texts, validation, and what the
store holds after each change (read back by a fresh AccessControl)."""

from __future__ import annotations

from pathlib import Path

import pytest

from leveret.amqp.errors import ChannelError
from leveret.broker.access import (
    AccessControl,
    AlreadyExists,
    AuthenticationFailed,
    InvalidArgument,
    NoSuchUser,
    NoSuchVhost,
)
from leveret.store.memory import MemoryDefinitionStore
from leveret.store.sqlite_definitions import SqliteDefinitionStore


def fresh() -> AccessControl:
    access = AccessControl(MemoryDefinitionStore())
    access.seed_defaults("guest", "guest", "/")
    return access


def test_errors_use_rabbitmqctl_texts() -> None:
    access = fresh()
    cases = [
        (lambda: access.add_user("guest", "x"), AlreadyExists, 'User "guest" already exists'),
        (lambda: access.delete_user("nosuch"), NoSuchUser, 'User "nosuch" does not exist'),
        (lambda: access.change_password("nosuch", "x"), NoSuchUser, 'User "nosuch" does not exist'),
        (lambda: access.set_user_tags("nosuch", []), NoSuchUser, 'User "nosuch" does not exist'),
        (
            lambda: access.set_permissions("guest", "novh", ".*", ".*", ".*"),
            NoSuchVhost,
            "Virtual host novh does not exist",
        ),
        (
            lambda: access.set_permissions("nouser", "/", ".*", ".*", ".*"),
            NoSuchUser,
            "User nouser does not exist",
        ),
        (lambda: access.clear_permissions("nouser", "/"), NoSuchUser, "User nouser does not exist"),
        (lambda: access.delete_vhost("nov"), NoSuchVhost, "Virtual host 'nov' does not exist"),
        (
            lambda: access.list_permissions("novh"),
            NoSuchVhost,
            "Virtual host 'novh' does not exist",
        ),
        (
            lambda: access.authenticate_user("guest", "bad"),
            AuthenticationFailed,
            "Error: failed to authenticate user \"guest\"\nuser 'guest' - invalid credentials",
        ),
    ]
    for call, error, text in cases:
        with pytest.raises(error) as raised:
            call()
        assert str(raised.value) == text


def test_validation() -> None:
    access = fresh()
    with pytest.raises(InvalidArgument, match="regular expression '\\(' is invalid"):
        access.set_permissions("guest", "/", "(", ".*", ".*")
    with pytest.raises(InvalidArgument, match="max-foo is not a valid limit"):
        access.set_vhost_limits("/", {"max-foo": 1})
    with pytest.raises(InvalidArgument, match="max-queues is not a valid limit"):
        access.set_user_limits("guest", {"max-queues": 1})
    with pytest.raises(InvalidArgument, match="must be an integer"):
        access.set_user_limits("guest", {"max-channels": "1"})
    with pytest.raises(InvalidArgument):
        access.add_user("", "x")
    assert access.add_vhost("/").name == "/"  # adding an existing vhost changes nothing


def test_every_change_is_stored() -> None:
    store = MemoryDefinitionStore()
    access = AccessControl(store)
    access.seed_defaults("guest", "guest", "/")
    access.add_vhost("v", description="d", tags=["t"], default_queue_type="quorum")
    access.add_user("u", "pw", ["management", "custom"])
    access.set_permissions("u", "v", "c", "w", "r")
    access.set_topic_permissions("u", "v", "amq.topic", "tw", "tr")
    access.set_vhost_limits("v", {"max-connections": 3})
    access.set_vhost_limits("v", {"max-queues": 4})
    access.set_user_limits("u", {"max-channels": 2})
    again = AccessControl(store)
    assert [u.name for u in again.list_users()] == ["guest", "u"]
    assert again.users["u"].tags == ["management", "custom"]
    assert again.authenticate_user("u", "pw").name == "u"
    assert again.vhosts["v"].default_queue_type == "quorum"
    assert [(p.configure, p.write, p.read) for p in again.list_permissions("v")] == [
        ("c", "w", "r")
    ]
    assert [(t.exchange, t.write) for t in again.list_topic_permissions("v")] == [
        ("amq.topic", "tw")
    ]
    assert again.vhost_limits["v"] == {"max-connections": 3, "max-queues": 4}
    assert again.user_limit("u", "max-channels") == 2
    again.clear_vhost_limits("v", "max-queues")
    assert AccessControl(store).vhost_limits["v"] == {"max-connections": 3}
    again.delete_vhost("v")
    third = AccessControl(store)
    assert "v" not in third.vhosts and not third.list_user_permissions("u")
    assert not third.list_topic_permissions() and "v" not in third.vhost_limits
    third.delete_user("u")
    assert "u" not in AccessControl(store).users and "u" not in store.load_access()


def test_sqlite_store_round_trip(tmp_path: Path) -> None:
    store = SqliteDefinitionStore(tmp_path / "d.sqlite3")
    access = AccessControl(store)
    access.seed_defaults("admin", "pw", "/")
    access.clear_password("admin")
    store.close()
    store = SqliteDefinitionStore(tmp_path / "d.sqlite3")
    again = AccessControl(store)
    assert again.users["admin"].password_hash is None
    assert again.list_user_permissions("admin")[0].vhost == "/"
    store.close()


def test_grants_are_cached_and_go_stale_on_change() -> None:
    access = fresh()
    grant = access.grant("guest", "/")
    assert grant is not None and access.grant("guest", "/") is grant
    grant.check_publish("x")
    assert grant.writable == {"x": True}
    access.set_permissions("guest", "/", ".*", "^y$", ".*")
    assert grant.stale
    fresh_grant = access.current_grant(grant)
    with pytest.raises(ChannelError, match="access to exchange 'x' in vhost '/' refused"):
        fresh_grant.check_publish("x")
    access.clear_permissions("guest", "/")
    assert fresh_grant.stale and access.grant("guest", "/") is None
    with pytest.raises(ChannelError):
        access.current_grant(fresh_grant).check_read("queue", "q")


def test_check_access_is_the_one_resource_check() -> None:
    access = fresh()
    access.add_user("u", "pw")
    access.set_permissions("u", "/", "^c$", "^w$", "^r$")
    access.check_access("u", "/", "queue", "c", "configure")
    access.check_access("u", "/", "exchange", "w", "write")
    with pytest.raises(ChannelError) as refused:
        access.check_access("u", "/", "exchange", "", "write")
    assert refused.value.reply_code == 403
    assert refused.value.detail == (
        "access to exchange 'amq.default' in vhost '/' refused for user 'u'"
    )
    with pytest.raises(ChannelError):  # no permissions in the vhost at all
        access.check_access("nobody", "/", "queue", "r", "read")


def test_topic_patterns_expand_username_and_vhost() -> None:
    access = fresh()
    access.set_topic_permissions("guest", "/", "t", "^{username}\\.{vhost}$", "")
    grant = access.grant("guest", "/")
    assert grant is not None
    grant.check_topic("write", "t", "guest./")
    with pytest.raises(ChannelError, match="access to topic 'other' in exchange 't'"):
        grant.check_topic("write", "t", "other")
    with pytest.raises(ChannelError, match="access to topic 'x'"):
        grant.check_topic("read", "t", "x")  # the empty pattern means '^$'
    grant.check_topic("write", "no-topic-permissions", "anything")
