"""A small topology made with real pika clients, the same on Leveret and on RabbitMQ, for the
listing tests: two exchanges, two queues, three bindings, two consumers, three deliveries
waiting for their acks."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pika
import pika.adapters.blocking_connection

CONNECTION_NAME = "ctl-topology"


@dataclass
class Topology:
    connection: pika.BlockingConnection
    delivered: list[bytes] = field(default_factory=list)

    def close(self) -> None:
        if self.connection.is_open:
            self.connection.close()


def connect(port: int, vhost: str, name: str = CONNECTION_NAME) -> pika.BlockingConnection:
    params = pika.ConnectionParameters(
        "127.0.0.1",
        port,
        vhost,
        pika.PlainCredentials("guest", "guest"),
        client_properties={"connection_name": name},
        connection_attempts=1,
        socket_timeout=5,
    )
    return pika.BlockingConnection(params)


def build(port: int, vhost: str) -> Topology:
    """On ``vhost`` (guest may use it): exchanges x1 (topic, durable) and x2 (headers,
    auto-delete, alternate exchange x1); queues q1 (durable, max-length and TTL) and q2
    (exclusive); bindings x1->q1 "a.*", x2->q1 (headers), x1->x2 "#"; three messages in q1,
    all delivered to consumer ctag-a (prefetch 5) and not acked; consumer ctag-b on q2
    (auto-ack, x-priority 3). Channel 1 declares, channel 2 consumes."""
    connection = connect(port, vhost)
    topology = Topology(connection)
    channel = connection.channel()
    channel.exchange_declare("x1", "topic", durable=True)
    channel.exchange_declare(
        "x2", "headers", auto_delete=True, arguments={"alternate-exchange": "x1"}
    )
    channel.queue_declare(
        "q1", durable=True, arguments={"x-max-length": 10, "x-message-ttl": 60000}
    )
    channel.queue_declare("q2", exclusive=True)
    channel.queue_bind("q1", "x1", "a.*")
    channel.queue_bind("q1", "x2", "", arguments={"x-match": "all", "h": "v"})
    channel.exchange_bind("x2", "x1", "#")
    channel.confirm_delivery()
    for body in (b"one", b"two", b"three"):
        channel.basic_publish("", "q1", body)
    consuming = connection.channel()
    consuming.basic_qos(prefetch_count=5)

    def received(
        ch: pika.adapters.blocking_connection.BlockingChannel,
        method: object,
        properties: object,
        body: bytes,
    ) -> None:
        topology.delivered.append(body)

    consuming.basic_consume("q1", received, consumer_tag="ctag-a")
    consuming.basic_consume(
        "q2", received, auto_ack=True, consumer_tag="ctag-b", arguments={"x-priority": 3}
    )
    deadline = time.monotonic() + 10
    while len(topology.delivered) < 3 and time.monotonic() < deadline:
        connection.process_data_events(0.05)
    assert len(topology.delivered) == 3, topology.delivered
    return topology
