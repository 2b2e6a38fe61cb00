"""Permissions: every AMQP operation needs exactly RabbitMQ's permissions, and refusals use
RabbitMQ's texts. Each case runs twice: with only the permissions it needs (allowed), and
with every permission except one of those (refused, 403 ACCESS_REFUSED naming it)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pika
import pika.exceptions
import pytest
from pika.adapters.blocking_connection import BlockingChannel

from .access_admin import Admin

Op = Callable[[BlockingChannel], object]


@dataclass(frozen=True)
class Case:
    op: Op
    # (permission, kind, name): what the operation needs, in the order RabbitMQ checks.
    needs: tuple[tuple[str, str, str], ...]


def _publish(exchange: str, key: str) -> Op:
    def run(ch: BlockingChannel) -> object:
        ch.confirm_delivery()
        ch.basic_publish(exchange, key, b"m")
        return True

    return run


CASES = {
    "queue.declare": Case(lambda ch: ch.queue_declare("newq"), (("configure", "queue", "newq"),)),
    # A dead-letter exchange also needs read on the queue and write on that exchange.
    "queue.declare with a dead-letter exchange": Case(
        lambda ch: ch.queue_declare("dlq", arguments={"x-dead-letter-exchange": "x"}),
        (("configure", "queue", "dlq"), ("read", "queue", "dlq"), ("write", "exchange", "x")),
    ),
    "queue.delete": Case(lambda ch: ch.queue_delete("q"), (("configure", "queue", "q"),)),
    "queue.purge": Case(lambda ch: ch.queue_purge("q"), (("read", "queue", "q"),)),
    "queue.bind": Case(
        lambda ch: ch.queue_bind("q", "x", "k2"),
        (("write", "queue", "q"), ("read", "exchange", "x")),
    ),
    "queue.unbind": Case(
        lambda ch: ch.queue_unbind("q", "x", "k"),
        (("write", "queue", "q"), ("read", "exchange", "x")),
    ),
    "exchange.declare": Case(
        lambda ch: ch.exchange_declare("newx", "direct"), (("configure", "exchange", "newx"),)
    ),
    # An alternate exchange also needs read on the new exchange and write on the other.
    "exchange.declare with an alternate exchange": Case(
        lambda ch: ch.exchange_declare("aex", "direct", arguments={"alternate-exchange": "x"}),
        (("configure", "exchange", "aex"), ("read", "exchange", "aex"), ("write", "exchange", "x")),
    ),
    "exchange.delete": Case(
        lambda ch: ch.exchange_delete("x2"), (("configure", "exchange", "x2"),)
    ),
    "exchange.bind": Case(
        lambda ch: ch.exchange_bind("x2", "x", "k"),
        (("write", "exchange", "x2"), ("read", "exchange", "x")),
    ),
    "exchange.unbind": Case(
        lambda ch: ch.exchange_unbind("x2", "x", "k"),
        (("write", "exchange", "x2"), ("read", "exchange", "x")),
    ),
    "basic.publish": Case(_publish("x", "k"), (("write", "exchange", "x"),)),
    # The default exchange's blank name is matched as "amq.default".
    "basic.publish default exchange": Case(
        _publish("", "q"), (("write", "exchange", "amq.default"),)
    ),
    "basic.consume": Case(
        lambda ch: ch.basic_consume("q", lambda *a: None), (("read", "queue", "q"),)
    ),
    "basic.get": Case(lambda ch: ch.basic_get("q"), (("read", "queue", "q"),)),
}
PERMISSIONS = ("configure", "write", "read")


def _patterns(needs: list[tuple[str, str, str]]) -> list[str]:
    """For each permission, a regex matching exactly the names it is needed on ('^$' none)."""
    patterns = []
    for permission in PERMISSIONS:
        names = sorted({re.escape(name) for p, _, name in needs if p == permission})
        patterns.append(f"^({'|'.join(names)})$" if names else "^$")
    return patterns


def _everything_but(
    missing: tuple[str, str, str], needs: tuple[tuple[str, str, str], ...]
) -> list[str]:
    """'.*' for every permission, except the missing one: that matches only the others."""
    patterns = []
    for permission in PERMISSIONS:
        if permission != missing[0]:
            patterns.append(".*")
        else:
            others = [n for n in needs if n[0] == permission and n != missing]
            patterns.append(_patterns(others)[PERMISSIONS.index(permission)])
    return patterns


def _prepare(admin: Admin) -> str:
    """A vhost holding queue q, exchanges x and x2 (direct), q bound to x with key k and
    x2 bound to x with key k, set up by an owner with full permissions."""
    vhost = admin.vhost()
    owner, owner_pw = admin.user(full_on=vhost)
    ch = admin.connect(owner, owner_pw, vhost).channel()
    ch.queue_declare("q")
    ch.exchange_declare("x", "direct")
    ch.exchange_declare("x2", "direct")
    ch.queue_bind("q", "x", "k")
    ch.exchange_bind("x2", "x", "k")
    return vhost


@pytest.mark.parametrize("name", list(CASES))
def test_allowed_with_exactly_the_permissions_it_needs(admin: Admin, name: str) -> None:
    case = CASES[name]
    vhost = _prepare(admin)
    user, password = admin.user()
    admin.backend.set_permissions(user, vhost, *_patterns(list(case.needs)))
    ch = admin.connect(user, password, vhost).channel()
    assert case.op(ch) is not None or name.startswith("exchange.")
    assert ch.is_open


REFUSALS = [(name, i) for name, case in CASES.items() for i in range(len(case.needs))]


@pytest.mark.parametrize(("name", "index"), REFUSALS)
def test_refused_without_one_of_them(admin: Admin, name: str, index: int) -> None:
    case = CASES[name]
    missing = case.needs[index]
    vhost = _prepare(admin)
    user, password = admin.user()
    admin.backend.set_permissions(user, vhost, *_everything_but(missing, case.needs))
    conn = admin.connect(user, password, vhost)
    ch = conn.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
        case.op(ch)
    _, kind, resource = missing
    assert refused.value.reply_code == 403
    assert refused.value.reply_text == (
        f"ACCESS_REFUSED - access to {kind} '{resource}' in vhost '{vhost}' "
        f"refused for user '{user}'"
    )
    assert conn.is_open  # a channel error only


def test_passive_declares_need_no_permission(admin: Admin) -> None:
    vhost = _prepare(admin)
    user, password = admin.user()
    admin.backend.set_permissions(user, vhost, "^$", "^$", "^$")
    ch = admin.connect(user, password, vhost).channel()
    assert ch.queue_declare("q", passive=True).method.queue == "q"
    ch.exchange_declare("x", passive=True)
    assert ch.is_open


def test_server_named_queue_needs_configure_on_its_generated_name(admin: Admin) -> None:
    vhost = admin.vhost()
    user, password = admin.user()
    admin.backend.set_permissions(user, vhost, "^amq\\.gen-", "^$", "^$")
    ch = admin.connect(user, password, vhost).channel()
    assert ch.queue_declare("", exclusive=True).method.queue.startswith("amq.gen-")
    admin.backend.set_permissions(user, vhost, "^app\\.", "^$", "^$")
    ch = admin.connect(user, password, vhost).channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
        ch.queue_declare("", exclusive=True)
    assert re.fullmatch(
        rf"ACCESS_REFUSED - access to queue 'amq\.gen-[^']+' in vhost '{vhost}' "
        rf"refused for user '{user}'",
        refused.value.reply_text,
    )


def test_vhost_without_permissions_is_refused_at_connection_open(admin: Admin) -> None:
    vhost = admin.vhost()
    user, password = admin.user()
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as refused:
        admin.connect(user, password, vhost)
    assert f"NOT_ALLOWED - access to vhost '{vhost}' refused for user '{user}'" in str(
        refused.value
    )


def test_permissions_set_and_cleared_apply_to_the_next_channel(admin: Admin) -> None:
    vhost = _prepare(admin)
    user, password = admin.user()
    admin.backend.set_permissions(user, vhost, "^$", "^$", "^$")
    conn = admin.connect(user, password, vhost)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker):
        conn.channel().basic_get("q")
    admin.backend.set_permissions(user, vhost, "^$", "^$", "^q$")
    conn.channel().basic_get("q")  # allowed now, on the same connection
    admin.backend.clear_permissions(user, vhost)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
        conn.channel().basic_get("q")
    assert refused.value.reply_code == 403
    assert conn.is_open


@pytest.mark.leveret_only
def test_revoked_write_refuses_the_next_publish_on_the_same_channel(admin: Admin) -> None:
    """Leveret drops its cached publish permission at once (RabbitMQ keeps a per-channel
    cache of granted resources, so there a revocation may show only on new channels)."""
    vhost = _prepare(admin)
    user, password = admin.user(full_on=vhost)
    ch = admin.connect(user, password, vhost).channel()
    ch.confirm_delivery()
    ch.basic_publish("x", "k", b"1")
    admin.backend.set_permissions(user, vhost, ".*", "^$", ".*")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
        ch.basic_publish("x", "k", b"2")
    assert "access to exchange 'x'" in refused.value.reply_text


def test_topic_permissions_on_publish_and_bind(admin: Admin) -> None:
    vhost = _prepare(admin)
    user, password = admin.user(full_on=vhost)
    admin.backend.set_topic_permissions(user, vhost, "amq.topic", "^{username}\\.", "^public\\.")
    conn = admin.connect(user, password, vhost)
    ch = conn.channel()
    ch.confirm_delivery()
    ch.basic_publish("amq.topic", f"{user}.news", b"ok")  # {username} is expanded
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
        ch.basic_publish("amq.topic", "other.news", b"no")
    assert refused.value.reply_text == (
        f"ACCESS_REFUSED - access to topic 'other.news' in exchange 'amq.topic' in "
        f"vhost '{vhost}' refused for user '{user}'"
    )
    ch = conn.channel()
    ch.queue_bind("q", "amq.topic", "public.#")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
        ch.queue_bind("q", "amq.topic", "private.#")
    assert refused.value.reply_text == (
        f"ACCESS_REFUSED - access to topic 'private.#' in exchange 'amq.topic' in "
        f"vhost '{vhost}' refused for user '{user}'"
    )
    # Exchanges without topic permissions (and non-topic ones) are not restricted.
    ch = conn.channel()
    ch.confirm_delivery()
    ch.basic_publish("x", "anything", b"ok")
    ch.queue_bind("q", "amq.direct", "anything")
