"""queue.declare / bind / unbind / purge / delete."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from leveret.amqp import spec
from leveret.amqp.errors import (
    NOT_FOUND,
    NOT_IMPLEMENTED,
    PRECONDITION_FAILED,
    ChannelError,
    ConnectionError_,
)
from leveret.broker.queue_options import with_default_queue_type
from leveret.server.access import grant

if TYPE_CHECKING:
    from leveret.broker.queue import Queue
    from leveret.server.connection import AMQPConnection
    from leveret.server.session import Session


def queue_name(session: Session, name: str) -> str:
    """The empty name means the queue last declared on this channel (spec shortcut)."""
    if name:
        return name
    if session.channel.last_queue is None:
        raise ChannelError(NOT_FOUND, "no previously declared queue")
    return session.channel.last_queue


def refuse_on_stream(queue: Queue, operation: str) -> None:
    """basic.get and queue.purge make no sense on a stream (540, as RabbitMQ)."""
    if queue.options.queue_type == "stream":
        raise ConnectionError_(
            NOT_IMPLEMENTED,
            f"{operation} not supported by stream queues queue '{queue.name}' "
            f"in vhost '{queue.vhost_name}'",
        )


def declare(conn: AMQPConnection, session: Session, method: spec.QueueDeclare) -> None:
    assert conn.vhost is not None
    if method.queue == "amq.rabbitmq.reply-to" and method.passive:
        # The direct reply-to pseudo-queue always "exists" (RabbitMQ answers the same).
        if not method.no_wait:
            conn.send_method(session.number, spec.QueueDeclareOk(queue=method.queue))
        return
    vhost = conn.vhost

    def authorize(name: str) -> None:
        """RabbitMQ's checks on a declare, once the (maybe server-generated) name is known:
        configure on the queue; for a dead-letter exchange, read on the queue and write on
        the exchange; then the vhost's queue limit, for a queue that would be new."""
        permit = grant(conn)
        permit.check_configure("queue", name)
        dlx = (method.arguments or {}).get("x-dead-letter-exchange")
        if isinstance(dlx, str | bytes):
            permit.check_read("queue", name)
            permit.check_write("exchange", dlx.decode() if isinstance(dlx, bytes) else dlx)
        limit = conn.node.access.vhost_limit(vhost.name, "max-queues")
        if 0 <= limit <= len(vhost.queues) and name not in vhost.queues:
            raise ChannelError(
                PRECONDITION_FAILED,
                f"cannot declare queue '{name}': queue limit in vhost '{vhost.name}' "
                f"({limit}) is reached",
            )

    arguments: Mapping[str, object] | None = method.arguments
    info = conn.node.access.vhosts.get(vhost.name)
    if info is not None and not method.passive:
        arguments = with_default_queue_type(
            arguments,
            info.default_queue_type,
            durable=method.durable,
            exclusive=method.exclusive,
            auto_delete=method.auto_delete,
        )
    queue = vhost.declare_queue(
        method.queue,
        conn,
        authorize=authorize,
        passive=method.passive,
        durable=method.durable,
        exclusive=method.exclusive,
        auto_delete=method.auto_delete,
        arguments=arguments,
    )
    if queue.exclusive_owner is conn and queue not in conn.exclusive_queues:
        conn.exclusive_queues.append(queue)
    session.channel.last_queue = queue.name
    if not method.no_wait:
        conn.send_method(
            session.number,
            spec.QueueDeclareOk(
                queue=queue.name,
                message_count=queue.message_count,
                consumer_count=queue.consumer_count,
            ),
        )


def bind(conn: AMQPConnection, session: Session, method: spec.QueueBind) -> None:
    assert conn.vhost is not None
    name = queue_name(session, method.queue)
    # With both names empty the routing key defaults to the queue name (spec rule).
    routing_key = method.routing_key if method.queue or method.routing_key else name
    _check_binding(conn, name, method.exchange, routing_key)
    queue = conn.vhost.get_queue(name, conn)
    conn.vhost.bind(method.exchange, queue, routing_key, method.arguments)
    if not method.no_wait:
        conn.send_method(session.number, spec.QueueBindOk())


def unbind(conn: AMQPConnection, session: Session, method: spec.QueueUnbind) -> None:
    assert conn.vhost is not None
    name = queue_name(session, method.queue)
    routing_key = method.routing_key if method.queue or method.routing_key else name
    _check_binding(conn, name, method.exchange, routing_key)
    # RabbitMQ answers unbind-ok when the queue, the exchange or the binding is missing.
    queue = conn.vhost.queues.get(name)
    if queue is not None and method.exchange in conn.vhost.exchanges:
        conn.vhost.get_queue(name, conn)  # exclusivity still applies
        conn.vhost.unbind(method.exchange, queue, routing_key, method.arguments)
    conn.send_method(session.number, spec.QueueUnbindOk())


def purge(conn: AMQPConnection, session: Session, method: spec.QueuePurge) -> None:
    assert conn.vhost is not None
    name = queue_name(session, method.queue)
    grant(conn).check_read("queue", name)
    queue = conn.vhost.get_queue(name, conn)
    refuse_on_stream(queue, "queue.purge")
    count = queue.purge()
    if not method.no_wait:
        conn.send_method(session.number, spec.QueuePurgeOk(message_count=count))


def delete(conn: AMQPConnection, session: Session, method: spec.QueueDelete) -> None:
    assert conn.vhost is not None

    def reply(count: int) -> None:
        # delete-ok goes out before the basic.cancel of the queue's consumers (RabbitMQ's
        # order; py-amqp raises ConsumerCancelled out of queue_delete() otherwise).
        if not method.no_wait:
            conn.send_method(session.number, spec.QueueDeleteOk(message_count=count))

    name = queue_name(session, method.queue)
    grant(conn).check_configure("queue", name)
    conn.vhost.delete_queue(
        name,
        conn,
        if_unused=method.if_unused,
        if_empty=method.if_empty,
        before_cancel=reply,
    )


def _check_binding(conn: AMQPConnection, queue: str, exchange: str, routing_key: str) -> None:
    """RabbitMQ's order: write on the queue, read on the exchange, then topic read."""
    permit = grant(conn)
    permit.check_write("queue", queue)
    permit.check_read("exchange", exchange)
    check_topic_read(conn, exchange, routing_key)


def check_topic_read(conn: AMQPConnection, exchange: str, routing_key: str) -> None:
    """Binding to a topic exchange needs topic read permission on the binding key."""
    permit = grant(conn)
    if not permit.topics:
        return
    assert conn.vhost is not None
    source = conn.vhost.exchanges.get(exchange)
    if source is not None and source.type_name == "topic":
        permit.check_topic("read", exchange, routing_key)


HANDLERS: dict[type[spec.Method], Any] = {
    spec.QueueDeclare: declare,
    spec.QueueBind: bind,
    spec.QueueUnbind: unbind,
    spec.QueuePurge: purge,
    spec.QueueDelete: delete,
}
