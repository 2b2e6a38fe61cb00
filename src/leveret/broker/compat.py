"""Compatibility profiles: the defaults and behaviours that differ between RabbitMQ 3.x and 4.x.

A profile is chosen once (``leveret serve --compat``, ``leveret.Broker(compat=...)``), stored in
the node's Config and handed to the code that behaves differently; nothing reads a global.
Only differences a client can notice belong here; docs/compatibility.md lists them, with the
tests that show each one under both profiles.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024
# RabbitMQ refuses a configured max_message_size above 512 MiB (its rabbitmq.conf schema and
# ?MAX_MSG_SIZE in rabbit_channel), so we do too.
MAX_MESSAGE_SIZE_LIMIT = 512 * MIB


@dataclass(frozen=True)
class CompatProfile:
    name: str
    # Default of rabbitmq.conf's max_message_size (bytes); --max-message-size overrides it.
    max_message_size: int
    # 3.x: exchange.declare with an unknown type is a 503 COMMAND_INVALID connection error;
    # 4.x made it a 406 PRECONDITION_FAILED channel error (rabbit_exchange:check_type/1).
    unknown_exchange_type_closes_connection: bool
    # x-delivery-limit of a quorum queue declared without one: None is unlimited (3.x),
    # 4.0 introduced a default of 20.
    quorum_delivery_limit: int | None
    # 3.x both delivers a mandatory direct reply-to reply and returns it with 312 NO_ROUTE
    # (the pseudo-queue is not a routing target); 4.x treats it as a queue and only delivers.
    returns_mandatory_replies: bool
    # basic.consume refusals on a stream queue: 3.x words them "... not set for 'queue 'q' in
    # vhost '/''" and "... by stream queues queue 'q' ...", 4.x "... for stream queue 'q' ...".
    old_stream_consumer_texts: bool
    # basic.get from a quorum queue: 3.x adds x-delivery-count even to a message's first
    # delivery (0; rabbit_fifo_client:dequeue always sets it), 4.x only once the message has
    # been returned (add_delivery_count_header/2 needs an acquired_count). Consumer deliveries
    # carry it only from the first redelivery in both.
    quorum_get_delivery_count_zero: bool
    # x-last-death-reason/-queue/-exchange on a dead-lettered message: added in 3.13 (mc.erl).
    last_death_headers: bool
    # ?FRAME_MIN_SIZE in rabbit_framing.hrl: the smallest frame_max a client may settle on
    # in connection.tune-ok, and the frame size allowed until then (server/tune.py). 4096 in
    # 3.x, raised to 8192 in 4.1 for large JWT tokens in connection.start-ok.
    frame_min_size: int
    # Quorum queues ignore message priority in 3.x; 4.0 serves priorities above 4 first, at
    # a 2:1 ratio (broker/quorum_ready.py).
    quorum_priorities: bool


RABBITMQ_3 = CompatProfile(
    name="rabbitmq-3",
    max_message_size=128 * MIB,
    unknown_exchange_type_closes_connection=True,
    quorum_delivery_limit=None,
    returns_mandatory_replies=True,
    old_stream_consumer_texts=True,
    quorum_get_delivery_count_zero=True,
    last_death_headers=False,
    frame_min_size=4096,
    quorum_priorities=False,
)
RABBITMQ_4 = CompatProfile(
    name="rabbitmq-4",
    max_message_size=16 * MIB,
    unknown_exchange_type_closes_connection=False,
    quorum_delivery_limit=20,
    returns_mandatory_replies=False,
    old_stream_consumer_texts=False,
    quorum_get_delivery_count_zero=False,
    last_death_headers=True,
    frame_min_size=8192,
    quorum_priorities=True,
)
PROFILES = {profile.name: profile for profile in (RABBITMQ_3, RABBITMQ_4)}
DEFAULT_PROFILE = RABBITMQ_4


def get_profile(name: str) -> CompatProfile:
    """The profile called ``name`` ("rabbitmq-3" or "rabbitmq-4"); ValueError otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise ValueError(f"unknown compatibility profile {name!r} (known: {known})") from None
