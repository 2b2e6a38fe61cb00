"""``leveret ctl set_policy`` and friends: rabbitmqctl's arguments, lines and exit codes,
with the effect on a live queue checked through pika; and, with a RabbitMQ node, the same
command sequence through both tools."""

from __future__ import annotations

import secrets

import pika
import pytest

from tests.ctl.conftest import Served
from tests.ctl.test_ctl_vs_rabbitmqctl import RABBITMQ_DIR, rabbitmqctl, same


def test_set_list_clear_policies(broker: Served) -> None:
    result = broker.ctl(
        "set_policy", "--priority", "2", "--apply-to", "queues", "cap", "^capped$",
        '{"max-length": 1}',
    )  # fmt: skip
    assert result.code == 0, result.err
    assert result.out == (
        'Setting policy "cap" for pattern "^capped$" to "{"max-length": 1}" with priority "2" '
        'for vhost "/" ...\n'
    )
    listed = broker.ctl("-q", "list_policies")
    assert listed.out == (
        "vhost\tname\tpattern\tapply-to\tdefinition\tpriority\n"
        '/\tcap\t^capped$\tqueues\t{"max-length":1}\t2\n'
    )
    conn = broker.connect("guest", "guest")
    channel = conn.channel()
    channel.confirm_delivery()
    channel.queue_declare("capped")
    for body in (b"1", b"2", b"3"):
        channel.basic_publish("", "capped", body)
    assert channel.queue_declare("capped", passive=True).method.message_count == 1
    result = broker.ctl("clear_policy", "cap")
    assert (result.code, result.out) == (0, 'Clearing policy "cap" on vhost "/" ...\n')
    channel.basic_publish("", "capped", b"4", pika.BasicProperties())
    assert channel.queue_declare("capped", passive=True).method.message_count == 2
    conn.close()
    assert broker.ctl("-q", "list_policies").out == ""


def test_operator_policies_and_refusals(broker: Served) -> None:
    result = broker.ctl("set_operator_policy", "-p", "/", "op", ".*", '{"max-length": 9}')
    assert result.code == 0, result.err
    assert result.out.startswith('Setting operator policy override "op" for pattern ".*"')
    listed = broker.ctl("list_operator_policies", "--formatter", "json")
    assert listed.out == (
        '[\n{"vhost":"/","name":"op","pattern":".*","apply-to":"all",'
        '"definition":"{\\"max-length\\":9}","priority":0}\n]\n'
    )
    refused = broker.ctl("set_operator_policy", "bad", ".*", '{"overflow": "drop-head"}')
    assert refused.code == 69
    assert refused.err == (
        'Error:\nValidation failed\n\n[{<<"overflow">>,<<"drop-head">>}] are not recognised '
        "policy settings\n\n"
    )
    assert broker.ctl("clear_operator_policy", "op").code == 0
    missing = broker.ctl("clear_policy", "never-set")
    assert (missing.code, missing.err) == (69, "Error:\nParameter does not exist\n")
    assert broker.ctl("set_policy", "p", ".*", "{not json").code == 65


@pytest.mark.skipif(not RABBITMQ_DIR, reason="LEVERET_TEST_RABBITMQ_DIR names no RabbitMQ node")
def test_policy_commands_match_rabbitmqctl(broker: Served) -> None:
    vhost = f"diff-pol-{secrets.token_hex(3)}"
    try:
        for args in (
            ("add_vhost", vhost),
            ("set_policy", "-p", vhost, "--priority", "3", "--apply-to", "queues", "p1", "^a",
             '{"max-length":3}'),
            ("set_policy", "-p", vhost, "p2", "^b", '{"message-ttl":1000,"expires":5000}'),
            ("set_policy", "-p", vhost, "p3", "^c", '{"foo":1}'),
            ("set_policy", "-p", vhost, "p3", "^c", '{"max-length":-1}'),
            ("list_policies", "-p", vhost),
            ("list_policies", "-p", vhost, "--formatter", "json"),
            ("set_operator_policy", "-p", vhost, "o1", ".*", '{"max-length":3}'),
            ("set_operator_policy", "-p", vhost, "o2", ".*", '{"overflow":"drop-head"}'),
            ("list_operator_policies", "-p", vhost),
            ("clear_operator_policy", "-p", vhost, "o1"),
            ("clear_policy", "-p", vhost, "p1"),
            ("clear_policy", "-p", vhost, "p1"),
            ("list_policies", "-p", vhost),
            ("delete_vhost", vhost),
        ):  # fmt: skip
            same(broker, *args)
    finally:
        rabbitmqctl("delete_vhost", vhost)
