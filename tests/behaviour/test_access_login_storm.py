"""A run of wrong passwords is refused one by one and does not disturb other clients
(issue 11): 200 failed logins in a row all get 403 ACCESS_REFUSED (the client announces
authentication_failure_close, as pika does), while a consumer on another connection receives
every message published during them. The speed of it is measured by bench/login_storm.py,
not here."""

from __future__ import annotations

import pika
import pika.exceptions
import pytest

from .access_admin import Admin

FAILED_LOGINS = 200


def test_failed_logins_are_refused_and_a_consumer_keeps_receiving(admin: Admin) -> None:
    vhost = admin.vhost()
    user, password = admin.user(full_on=vhost)
    consumer = admin.connect(user, password, vhost)
    publisher = admin.connect(user, password, vhost)
    cch = consumer.channel()
    queue = cch.queue_declare("", exclusive=True).method.queue
    received: list[bytes] = []
    cch.basic_consume(queue, lambda ch, m, p, body: received.append(body), auto_ack=True)
    pch = publisher.channel()
    pch.confirm_delivery()

    refusals: list[str] = []
    for n in range(FAILED_LOGINS):
        pch.basic_publish("", queue, f"m{n}".encode())
        with pytest.raises(pika.exceptions.ProbableAuthenticationError) as refused:
            admin.connect(user, password + "-wrong", vhost)
        refusals.append(str(refused.value))
        consumer.process_data_events(0)

    assert len(refusals) == FAILED_LOGINS
    refused_403 = "(403) 'ACCESS_REFUSED - Login was refused"
    assert all(refused_403 in text for text in refusals), refusals[:3]
    for _ in range(100):
        if len(received) == FAILED_LOGINS:
            break
        consumer.process_data_events(0.1)
    assert received == [f"m{n}".encode() for n in range(FAILED_LOGINS)]
    assert consumer.is_open and publisher.is_open
