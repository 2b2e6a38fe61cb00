"""``leveret ctl`` vhost, permission, limit and listing commands against a running broker."""

from __future__ import annotations

import json

import pika
import pika.exceptions
import pytest

from tests.ctl.conftest import Served


def user_with_access(broker: Served, user: str, vhost: str) -> None:
    assert broker.ctl("add_user", user, "pw").code == 0
    assert broker.ctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*").code == 0


def test_add_vhost_with_options_and_list_columns(broker: Served) -> None:
    result = broker.ctl(
        "add_vhost", "v-opts", "--description", "Orders", "--tags", "a,b",
        "--default-queue-type", "quorum",
    )  # fmt: skip
    assert (result.code, result.out, result.err) == (0, 'Adding vhost "v-opts" ...\n', "")
    default = broker.ctl("list_vhosts")
    assert default.out.splitlines()[:2] == ["Listing vhosts ...", "name"]
    assert "v-opts" in default.out.splitlines()
    wide = broker.ctl("-q", "list_vhosts", "name", "description", "tags", "default_queue_type")
    lines = wide.out.splitlines()
    assert lines[0] == "name\tdescription\ttags\tdefault_queue_type"
    assert "v-opts\tOrders\t[a, b]\tquorum" in lines
    assert "/\tDefault virtual host\t[]\tundefined" in lines
    as_json = json.loads(broker.ctl("list_vhosts", "name", "tags", "--formatter", "json").out)
    assert {"name": "v-opts", "tags": ["a", "b"]} in as_json
    bogus = broker.ctl("list_vhosts", "name", "bogus")
    assert bogus.code == 64
    assert "Info key(s) bogus are not supported" in bogus.err


def test_add_vhost_twice_is_fine(broker: Served) -> None:
    assert broker.ctl("add_vhost", "v-twice").code == 0
    assert broker.ctl("add_vhost", "v-twice").code == 0


def test_vhost_login_needs_permissions_and_ends_with_the_vhost(broker: Served) -> None:
    broker.ctl("add_vhost", "v-life")
    broker.ctl("add_user", "u-life", "pw")
    assert not broker.can_login("u-life", "pw", "v-life")
    result = broker.ctl("set_permissions", "-p", "v-life", "u-life", ".*", "^w", "^r")
    assert result.out == 'Setting permissions for user "u-life" in vhost "v-life" ...\n'
    assert broker.can_login("u-life", "pw", "v-life")
    listed = broker.ctl("list_permissions", "-p", "v-life")
    assert listed.out == (
        'Listing permissions for vhost "v-life" ...\nuser\tconfigure\twrite\tread\n'
        "u-life\t.*\t^w\t^r\n"
    )
    mine = broker.ctl("list_user_permissions", "u-life", "--formatter", "json")
    assert json.loads(mine.out) == [
        {"vhost": "v-life", "configure": ".*", "write": "^w", "read": "^r"}
    ]
    deleted = broker.ctl("delete_vhost", "v-life")
    assert (deleted.code, deleted.out) == (0, 'Deleting vhost "v-life" ...\n')
    assert not broker.can_login("u-life", "pw", "v-life")
    assert "v-life" not in broker.ctl("-s", "list_vhosts").out.splitlines()


def test_clear_permissions_refuses_the_next_login(broker: Served) -> None:
    broker.ctl("add_vhost", "v-clear")
    user_with_access(broker, "u-clear", "v-clear")
    assert broker.can_login("u-clear", "pw", "v-clear")
    result = broker.ctl("clear_permissions", "-p", "v-clear", "u-clear")
    assert result.out == 'Clearing permissions for user "u-clear" in vhost "v-clear" ...\n'
    assert not broker.can_login("u-clear", "pw", "v-clear")


def test_permissions_restrict_operations(broker: Served) -> None:
    broker.ctl("add_vhost", "v-perm")
    broker.ctl("add_user", "u-perm", "pw")
    broker.ctl("set_permissions", "-p", "v-perm", "u-perm", "^mine-", ".*", ".*")
    conn = broker.connect("u-perm", "pw", "v-perm")
    try:
        channel = conn.channel()
        channel.queue_declare("mine-q")
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            channel.queue_declare("other-q")
        assert refused.value.reply_code == 403
    finally:
        conn.close()


def test_unknown_vhost_exits_65(broker: Served) -> None:
    deleted = broker.ctl("delete_vhost", "v-none")
    assert (deleted.code, deleted.err) == (65, "Virtual host 'v-none' does not exist\n")
    listed = broker.ctl("list_permissions", "-p", "v-none")
    assert (listed.code, listed.err) == (65, "Virtual host 'v-none' does not exist\n")
    limits = broker.ctl("list_vhost_limits", "-p", "v-none")
    assert (limits.code, limits.err) == (65, "Virtual host 'v-none' does not exist\n")
    granted = broker.ctl("set_permissions", "-p", "v-none", "guest", ".*", ".*", ".*")
    assert (granted.code, granted.err) == (65, "Error:\nVirtual host v-none does not exist\n")


def test_topic_permissions(broker: Served) -> None:
    broker.ctl("add_vhost", "v-topic")
    user_with_access(broker, "u-topic", "v-topic")
    result = broker.ctl(
        "set_topic_permissions", "-p", "v-topic", "u-topic", "amq.topic", "^allowed", ".*"
    )
    assert result.out == (
        'Setting topic permissions on "amq.topic" for user "u-topic" in vhost "v-topic" ...\n'
    )
    listed = broker.ctl("list_topic_permissions", "-p", "v-topic")
    assert listed.out == (
        'Listing topic permissions for vhost "v-topic" ...\nuser\texchange\twrite\tread\n'
        "u-topic\tamq.topic\t^allowed\t.*\n"
    )
    conn = broker.connect("u-topic", "pw", "v-topic")
    try:
        channel = conn.channel()
        channel.confirm_delivery()
        channel.basic_publish("amq.topic", "allowed.key", b"x")
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            channel.basic_publish("amq.topic", "other.key", b"x")
        assert refused.value.reply_code == 403
    finally:
        conn.close()
    cleared = broker.ctl("clear_topic_permissions", "-p", "v-topic", "u-topic", "amq.topic")
    assert cleared.out == (
        'Clearing topic permissions on "amq.topic" for user "u-topic" in vhost "v-topic" ...\n'
    )
    assert broker.ctl("-s", "list_topic_permissions", "-p", "v-topic").out == ""
    conn = broker.connect("u-topic", "pw", "v-topic")
    try:
        channel = conn.channel()
        channel.confirm_delivery()
        channel.basic_publish("amq.topic", "other.key", b"x")
    finally:
        conn.close()


def test_vhost_limits(broker: Served) -> None:
    broker.ctl("add_vhost", "v-lim")
    user_with_access(broker, "u-vlim", "v-lim")
    result = broker.ctl("set_vhost_limits", "-p", "v-lim", '{"max-connections": 1}')
    assert result.out == (
        'Setting vhost limits to "{"max-connections": 1}" for vhost "v-lim" ...\n'
    )
    shown = broker.ctl("list_vhost_limits", "-p", "v-lim")
    assert shown.out == 'Listing limits for vhost "v-lim" ...\n{"max-connections":1}\n'
    first = broker.connect("u-vlim", "pw", "v-lim")
    try:
        assert not broker.can_login("u-vlim", "pw", "v-lim")
        cleared = broker.ctl("clear_vhost_limits", "-p", "v-lim")
        assert cleared.out == 'Clearing vhost "v-lim" limits ...\n'
        assert broker.can_login("u-vlim", "pw", "v-lim")
    finally:
        first.close()
    not_object = broker.ctl("set_vhost_limits", "-p", "v-lim", "[1]")
    assert not_object.code == 65


def test_list_queues_exchanges_connections(broker: Served) -> None:
    broker.ctl("add_vhost", "v-list")
    user_with_access(broker, "u-list", "v-list")
    conn = broker.connect("u-list", "pw", "v-list")
    try:
        channel = conn.channel()
        channel.queue_declare("q-list", durable=True)
        channel.confirm_delivery()
        for body in (b"1", b"2"):
            channel.basic_publish("", "q-list", body)
        queues = broker.ctl("list_queues", "-p", "v-list")
        assert queues.out == (
            "Timeout: 60.0 seconds ...\nListing queues for vhost v-list ...\n"
            "name\tmessages\nq-list\t2\n"
        )
        wide = broker.ctl("-q", "list_queues", "-p", "v-list", "name", "durable", "consumers")
        assert wide.out == "name\tdurable\tconsumers\nq-list\ttrue\t0\n"
        exchanges = broker.ctl("-s", "list_exchanges", "-p", "v-list").out.splitlines()
        assert "amq.topic\ttopic" in exchanges and "\tdirect" in exchanges
        connections = json.loads(
            broker.ctl("list_connections", "user", "vhost", "--formatter", "json").out
        )
        assert {"user": "u-list", "vhost": "v-list"} in connections
    finally:
        conn.close()
    assert broker.ctl("-q", "list_queues", "-p", "no-such-vhost").out == ""
