"""The aliveness test: a message through a vhost and back, as RabbitMQ 3.10's
``/api/aliveness-test/{vhost}`` does it (declare the ``aliveness-test`` queue, publish to it
through the default exchange, get the message back)."""

from __future__ import annotations

from leveret.broker.admin.base import AdminNode, get_vhost
from leveret.broker.publish import ROUTED, publish

QUEUE = "aliveness-test"
BODY = b"test_message"
NO_PROPERTIES = b"\x00\x00"


def aliveness_test(node: AdminNode, vhost: str, user: str) -> str | None:
    """Run the test as ``user``; None when the message came back, else why not. Raises
    ChannelError (403 ACCESS_REFUSED) when the user may not use the queue, and NotFound
    for a vhost that does not exist.

    The queue is left in place (non-durable, as RabbitMQ leaves it), so repeated checks
    reuse it.
    """
    runtime = get_vhost(node, vhost)
    access = node.access
    access.check_access(user, vhost, "queue", QUEUE, "configure")
    access.check_access(user, vhost, "exchange", "", "write")
    access.check_access(user, vhost, "queue", QUEUE, "read")
    queue = runtime.declare_queue(QUEUE, None)
    outcome = publish(runtime, "", QUEUE, NO_PROPERTIES, BODY)
    if not outcome & ROUTED:
        return "the test message was not routed to the aliveness-test queue"
    entry = queue.get()
    if entry is None:
        return "the test message did not reach the aliveness-test queue"
    queue.settle(entry)
    if bytes(entry.message.body) != BODY:
        return "the aliveness-test queue held another message"
    return None
