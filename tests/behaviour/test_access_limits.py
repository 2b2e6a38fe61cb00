"""Vhost limits (max-connections, max-queues) and user limits (max-connections,
max-channels), with RabbitMQ's refusals."""

from __future__ import annotations

import pika
import pika.exceptions
import pytest

from .access_admin import Admin


def test_vhost_connection_limit_refuses_the_next_open(admin: Admin) -> None:
    vhost = admin.vhost()
    user, password = admin.user(full_on=vhost)
    admin.backend.set_vhost_limits(vhost, {"max-connections": 2})
    first = admin.connect(user, password, vhost)
    admin.connect(user, password, vhost)
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as refused:
        admin.connect(user, password, vhost)
    assert (
        f"NOT_ALLOWED - access to vhost '{vhost}' refused for user '{user}': "
        "connection limit (2) is reached"
    ) in str(refused.value)
    first.close()
    assert admin.connect(user, password, vhost).is_open  # a slot is free again


def test_vhost_connection_limit_zero_refuses_all(admin: Admin) -> None:
    vhost = admin.vhost()
    user, password = admin.user(full_on=vhost)
    admin.backend.set_vhost_limits(vhost, {"max-connections": 0})
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as refused:
        admin.connect(user, password, vhost)
    assert "connection limit (0) is reached" in str(refused.value)


def test_vhost_queue_limit(admin: Admin) -> None:
    vhost = admin.vhost()
    user, password = admin.user(full_on=vhost)
    admin.backend.set_vhost_limits(vhost, {"max-queues": 1})
    conn = admin.connect(user, password, vhost)
    ch = conn.channel()
    ch.queue_declare("one")
    ch.queue_declare("one")  # redeclaring an existing queue is no new queue
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
        ch.queue_declare("two")
    assert refused.value.reply_code == 406
    assert refused.value.reply_text == (
        f"PRECONDITION_FAILED - cannot declare queue 'two': queue limit in vhost "
        f"'{vhost}' (1) is reached"
    )
    ch = conn.channel()
    ch.queue_delete("one")
    ch.queue_declare("two")
    assert ch.is_open


def test_user_channel_limit_counts_channels_and_closes_the_connection(admin: Admin) -> None:
    vhost = admin.vhost()
    user, password = admin.user(full_on=vhost)
    admin.backend.set_user_limits(user, {"max-channels": 2})
    conn = admin.connect(user, password, vhost)
    conn.channel()
    conn.channel()
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as refused:
        conn.channel()
    assert refused.value.reply_code == 530
    assert refused.value.reply_text == (
        f"NOT_ALLOWED - number of channels opened for user '{user}' has reached the "
        "maximum allowed user limit of (2)"
    )


def test_user_connection_limit(admin: Admin) -> None:
    vhost = admin.vhost()
    user, password = admin.user(full_on=vhost)
    admin.backend.set_user_limits(user, {"max-connections": 1})
    admin.connect(user, password, vhost)
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as refused:
        admin.connect(user, password, vhost)
    assert (
        f"NOT_ALLOWED - connection refused for user '{user}': user connection limit (1) is reached"
    ) in str(refused.value)


def test_vhost_default_queue_type_applies_to_durable_queues_that_name_no_type(
    admin: Admin,
) -> None:
    vhost = admin.vhost(default_queue_type="quorum")
    user, password = admin.user(full_on=vhost)
    ch = admin.connect(user, password, vhost).channel()
    ch.queue_declare("made-quorum", durable=True)
    ch.queue_declare("stays-classic", durable=True, auto_delete=True)
    ch.queue_declare("transient", durable=False)
    ch.queue_declare("made-quorum", durable=True)  # the same without a type: equivalent
    # A classic queue under the same name is not: it was made a quorum queue.
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
        ch.queue_declare("made-quorum", durable=True, arguments={"x-queue-type": "classic"})
    assert refused.value.reply_code == 406
    assert refused.value.reply_text == (
        "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'made-quorum' in "
        f"vhost '{vhost}': received 'classic' but current is 'quorum'"
    )
    # Auto-delete and transient queues stayed classic: naming the type is equivalent.
    ch = admin.connect(user, password, vhost).channel()
    classic = {"x-queue-type": "classic"}
    ch.queue_declare("stays-classic", durable=True, auto_delete=True, arguments=classic)
    ch.queue_declare("transient", durable=False, arguments=classic)
