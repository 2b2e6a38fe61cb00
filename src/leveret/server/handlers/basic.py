"""basic.*: publish, consume, cancel, get, ack, nack, reject, recover, qos."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from leveret.amqp import spec
from leveret.amqp.errors import (
    ACCESS_REFUSED,
    NOT_IMPLEMENTED,
    PRECONDITION_FAILED,
    ChannelError,
    ConnectionError_,
)
from leveret.broker.channel import random_name
from leveret.broker.exchange import Exchange
from leveret.broker.message import Message
from leveret.broker.publish import CONGESTED, REPLY_TO, publish_to
from leveret.broker.publish import route as broker_route
from leveret.broker.queue import Queue
from leveret.server.access import grant
from leveret.server.handlers.queue import queue_name, refuse_on_stream

if TYPE_CHECKING:
    from leveret.server.connection import AMQPConnection
    from leveret.server.session import Session


def publish(
    conn: AMQPConnection,
    session: Session,
    method: spec.BasicPublish,
    properties_raw: bytes,
    body: bytes,
) -> None:
    """Translation only: the connection-bound checks, then broker.publish does the rest."""
    if method.immediate:
        raise ConnectionError_(NOT_IMPLEMENTED, "immediate=true", 60, 40)
    vhost = conn.vhost
    assert vhost is not None
    # Write permission on the exchange: a dict lookup once this exchange has been seen.
    permit = conn.grant
    if permit is None or permit.stale:
        permit = grant(conn)
    if not permit.writable.get(method.exchange):
        permit.check_publish(method.exchange)
    exchange = vhost.get_exchange(method.exchange)
    if permit.topics and exchange.type_name == "topic":
        permit.check_topic("write", exchange.name, method.routing_key)
    assert conn.user is not None
    outcome = publish_to(
        vhost,
        exchange,
        method.routing_key,
        properties_raw,
        body,
        method.mandatory,
        conn.user.name,
        session.tx_publishes,
        session.publisher,
    )
    if outcome & CONGESTED:
        conn.throttle = True


def route(
    conn: AMQPConnection, session: Session, exchange: Exchange, mandatory: bool, message: Message
) -> None:
    """Route a publish held by a transaction (at tx.commit)."""
    vhost = conn.vhost
    assert vhost is not None
    if broker_route(vhost, exchange, mandatory, message, session.publisher) & CONGESTED:
        conn.throttle = True


def _consume_replies(conn: AMQPConnection, session: Session, method: spec.BasicConsume) -> None:
    if not method.no_ack:
        raise ChannelError(PRECONDITION_FAILED, "reply consumer cannot acknowledge")
    if session.reply_key is not None:
        raise ChannelError(PRECONDITION_FAILED, "reply consumer already set")
    tag = method.consumer_tag or random_name("amq.ctag-")
    conn.node.register_reply_consumer(session, tag)
    if not method.no_wait:
        conn.send_method(session.number, spec.BasicConsumeOk(consumer_tag=tag))


def consume(conn: AMQPConnection, session: Session, method: spec.BasicConsume) -> None:
    assert conn.vhost is not None
    if method.queue == REPLY_TO:
        _consume_replies(conn, session, method)
        return
    name = queue_name(session, method.queue)
    grant(conn).check_read("queue", name)
    queue = conn.vhost.get_queue(name, conn)
    if queue.consumers and (method.exclusive or queue.has_exclusive_consumer()):
        raise ChannelError(
            ACCESS_REFUSED, f"queue '{name}' in vhost '{conn.vhost.name}' in exclusive use"
        )
    arguments = method.arguments or {}
    if queue.options.queue_type == "stream":
        _check_stream_consumer(conn, session, queue, method)
    priority = arguments.get("x-priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise ChannelError(
            PRECONDITION_FAILED, f"invalid arg 'x-priority' for queue '{name}': {priority!r}"
        )
    consumer = session.channel.consume(
        queue,
        method.consumer_tag,
        no_ack=method.no_ack,
        exclusive=method.exclusive,
        priority=priority,
    )
    consumer.stream_offset = arguments.get("x-stream-offset")
    consumer.arguments = arguments
    if not method.no_wait:
        conn.send_method(session.number, spec.BasicConsumeOk(consumer_tag=consumer.tag))
    queue.add_consumer(consumer)  # after consume-ok, so deliveries follow it


def _check_stream_consumer(
    conn: AMQPConnection, session: Session, queue: Queue, method: spec.BasicConsume
) -> None:
    """RabbitMQ's refusals, in its order (rabbit_stream_queue:consume/3, 3.10 observed)."""
    where = f"queue '{queue.name}' in vhost '{queue.vhost_name}'"
    old_texts = conn.node.config.compat.old_stream_consumer_texts
    # Only a per-consumer prefetch counts: a stream consumer is credited per consumer.
    if not session.channel.prefetch_count:
        text = f"'{where}'" if old_texts else f"stream {where}"
        raise ChannelError(PRECONDITION_FAILED, f"consumer prefetch count is not set for {text}")
    if method.no_ack:
        text = f"stream queues {where}" if old_texts else f"stream {where}"
        raise ConnectionError_(
            NOT_IMPLEMENTED, f"automatic acknowledgement not supported by {text}"
        )
    if session.channel.global_prefetch:
        raise ConnectionError_(NOT_IMPLEMENTED, f"{where} does not support global qos")


def cancel(conn: AMQPConnection, session: Session, method: spec.BasicCancel) -> None:
    if method.consumer_tag == session.reply_tag:
        conn.node.unregister_reply_consumer(session)
    session.channel.cancel(method.consumer_tag)
    if not method.no_wait:
        conn.send_method(session.number, spec.BasicCancelOk(consumer_tag=method.consumer_tag))


def get(conn: AMQPConnection, session: Session, method: spec.BasicGet) -> None:
    assert conn.vhost is not None
    name = queue_name(session, method.queue)
    grant(conn).check_read("queue", name)
    queue = conn.vhost.get_queue(name, conn)
    refuse_on_stream(queue, "basic.get")
    got = session.channel.get(queue, no_ack=method.no_ack)
    if got is None:
        conn.send_method(session.number, spec.BasicGetEmpty())
        return
    tag, entry = got
    message = queue.outgoing(entry, conn.node.config.compat.quorum_get_delivery_count_zero)
    conn.send_content(
        session.number,
        spec.BasicGetOk(
            delivery_tag=tag,
            redelivered=entry.redelivered,
            exchange=message.exchange,
            routing_key=message.routing_key,
            message_count=queue.message_count,
        ),
        message.properties_raw,
        message.body,
    )


def ack(conn: AMQPConnection, session: Session, method: spec.BasicAck) -> None:
    if session.tx_publishes is not None:
        session.channel.check_tags(method.delivery_tag, method.multiple)
        session.tx_settles.append(("ack", method.delivery_tag, method.multiple, False))
        return
    session.channel.ack(method.delivery_tag, method.multiple)


def nack(conn: AMQPConnection, session: Session, method: spec.BasicNack) -> None:
    _reject(session, method.delivery_tag, method.multiple, method.requeue)


def reject(conn: AMQPConnection, session: Session, method: spec.BasicReject) -> None:
    _reject(session, method.delivery_tag, False, method.requeue)


def _reject(session: Session, tag: int, multiple: bool, requeue: bool) -> None:
    if session.tx_publishes is not None:
        session.channel.check_tags(tag, multiple)
        session.tx_settles.append(("reject", tag, multiple, requeue))
        return
    session.channel.reject(tag, multiple, requeue)


def recover(conn: AMQPConnection, session: Session, method: spec.BasicRecover) -> None:
    if not method.requeue:
        raise ConnectionError_(NOT_IMPLEMENTED, "requeue=false")
    session.channel.recover()
    conn.send_method(session.number, spec.BasicRecoverOk())


def recover_async(conn: AMQPConnection, session: Session, method: spec.BasicRecoverAsync) -> None:
    if not method.requeue:
        raise ConnectionError_(NOT_IMPLEMENTED, "requeue=false")
    session.channel.recover()


def qos(conn: AMQPConnection, session: Session, method: spec.BasicQos) -> None:
    if method.prefetch_size:
        raise ConnectionError_(NOT_IMPLEMENTED, f"prefetch_size!=0 ({method.prefetch_size})")
    channel = session.channel
    if method.global_:
        channel.global_prefetch = method.prefetch_count
    else:
        channel.prefetch_count = method.prefetch_count
    conn.send_method(session.number, spec.BasicQosOk())
    channel.resume()  # a larger window may let queues deliver again


HANDLERS: dict[type[spec.Method], Any] = {
    spec.BasicConsume: consume,
    spec.BasicCancel: cancel,
    spec.BasicGet: get,
    spec.BasicAck: ack,
    spec.BasicNack: nack,
    spec.BasicReject: reject,
    spec.BasicRecover: recover,
    spec.BasicRecoverAsync: recover_async,
    spec.BasicQos: qos,
}
