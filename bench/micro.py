"""Micro-benchmarks of Leveret's codec, routing and queue core, run on demand.

    python bench/micro.py [--quick] [--filter SUBSTR] [--json] [--list]

Each benchmark times one small operation in a loop with ``time.perf_counter_ns``, in the
manner of ``timeit``: the loop count is calibrated (1, 2, 5, 10, 20, 50...) until one loop
takes about ``--target`` seconds (0.2 s; 0.02 s with ``--quick``), then the loop is timed
``--repeat`` times (5; 3 with ``--quick``). The table shows the best and the median time
per operation and the operations per second of the best run. The garbage collector is off
while a loop runs, as in ``timeit`` (``--gc`` leaves it on).

Every benchmark also checks, after it ran, that the operation did its job (the routing
benchmarks routed to the expected number of queues, the parser produced the expected
number of frames...): timing code that silently does nothing is worse than no number. A
benchmark that fails, in its setup, its loop or its check, prints an ``ERROR`` line and
the run goes on with the others; the exit status is then 1.

The benchmarks call the broker through its most stable entry points (the frame reader,
``spec``, the table codec, ``ServerConnection.receive``, ``VirtualHost`` and the queue
and channel classes); see docs/micro-benchmarks.md for what each one measures.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import itertools
import json
import os
import platform
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Measure the working tree this file belongs to, not some installed copy, unless
# LEVERET_MICRO_INSTALLED=1 asks for the installed one (a wheel compiled with mypyc, say).
_SRC = Path(__file__).resolve().parent.parent / "src"
_USE_INSTALLED = os.environ.get("LEVERET_MICRO_INSTALLED", "") not in ("", "0")
if not _USE_INSTALLED and (_SRC / "leveret").is_dir() and str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))

# Modules only: the names inside them are looked up when a benchmark is set up, so a
# renamed function breaks that benchmark alone.
from leveret.amqp import connection as amqp_connection  # noqa: E402
from leveret.amqp import frames, spec, table  # noqa: E402
from leveret.broker import channel as broker_channel  # noqa: E402
from leveret.broker import clock as broker_clock  # noqa: E402
from leveret.broker import message as broker_message  # noqa: E402
from leveret.broker import publish as broker_publish  # noqa: E402
from leveret.broker import vhost as broker_vhost  # noqa: E402

DEFAULT_TARGET = 0.2  # seconds per timed loop
DEFAULT_REPEAT = 5
QUICK_TARGET = 0.02
QUICK_REPEAT = 3

# -- registry -----------------------------------------------------------------------------


@dataclass
class Case:
    """What a benchmark's setup returns.

    ``op`` is the operation timed (called with no argument, its result ignored).
    ``facts(total)`` is called once after timing, with the number of times ``op`` ran in
    all, and returns what can be observed of the work done; the run fails unless it
    equals ``expect``. ``items`` is how many units of work (frames, messages) one ``op``
    handles, to show a cost per item as well.
    """

    op: Callable[[], object]
    facts: Callable[[int], dict[str, object]]
    expect: dict[str, object]
    items: int = 1
    item: str = ""


@dataclass
class Bench:
    name: str
    description: str
    setup: Callable[[], Case]


BENCHES: list[Bench] = []


def bench(name: str, description: str) -> Callable[[Callable[[], Case]], Callable[[], Case]]:
    def register(setup: Callable[[], Case]) -> Callable[[], Case]:
        BENCHES.append(Bench(name, description, setup))
        return setup

    return register


# -- expectations that depend on the run --------------------------------------------------


class _TotalPlusOne:
    """Marks an expected value of ``total + 1`` (a counter the facts call advances once)."""

    def __repr__(self) -> str:
        return "total+1"


_TOTAL_PLUS_ONE: Any = _TotalPlusOne()


def _resolve(expect: dict[str, object], total: int) -> dict[str, object]:
    return {k: total + 1 if v is _TOTAL_PLUS_ONE else v for k, v in expect.items()}


# -- shared inputs ------------------------------------------------------------------------

BODY = b'{"order": 12345, "sku": "ABC-123", "quantity": 2, "price": "19.99", "note": ""}' * 2
SMALL_HEADERS: dict[str, object] = {
    "trace-id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "attempt": 1,
    "source": "billing",
}
# The headers a Celery 5 worker finds on a task message (task protocol 2).
CELERY_HEADERS: dict[str, object] = {
    "lang": "py",
    "task": "shop.tasks.send_invoice",
    "id": "1f0e7c5a-3b1d-4c8e-9a77-2d5b8c9e0f13",
    "shadow": None,
    "eta": None,
    "expires": None,
    "group": None,
    "group_index": None,
    "retries": 0,
    "timelimit": [None, None],
    "root_id": "1f0e7c5a-3b1d-4c8e-9a77-2d5b8c9e0f13",
    "parent_id": None,
    "argsrepr": "(12345,)",
    "kwargsrepr": "{'resend': False}",
    "origin": "gen4242@web-7f9c6d5b8-x2kqz",
    "ignore_result": False,
    "replaced_task_nesting": 0,
    "stamped_headers": None,
    "stamps": {},
}


def typical_properties() -> Any:
    return spec.BasicProperties(
        content_type="application/json",
        content_encoding="utf-8",
        headers=dict(SMALL_HEADERS),
        delivery_mode=2,
    )


def transient_properties_raw() -> bytes:
    return spec.BasicProperties(content_type="application/json", delivery_mode=1).encode()


def publish_bytes(channel: int, exchange: str, routing_key: str, properties_raw: bytes) -> bytes:
    """basic.publish, its content header and one body frame, as a client sends them."""
    method = frames.encode_method_frame(
        channel, spec.BasicPublish(exchange=exchange, routing_key=routing_key)
    )
    content = frames.encode_content_frames(channel, 60, properties_raw, BODY, 131072)
    return method + b"".join(content)


def drain(reader: Any) -> Iterator[Any]:
    next_frame = reader.next_frame
    while (frame := next_frame()) is not None:
        yield frame


# -- codec --------------------------------------------------------------------------------

PARSE_PUBLISHES = 21  # x3 frames, plus one heartbeat: 64 frames per buffer


@bench(
    "codec.frames.parse",
    "FrameReader: feed one buffer of 64 frames (21 publishes + a heartbeat), take them all",
)
def _frames_parse() -> Case:
    one = publish_bytes(1, "amq.topic", "stock.s7.v3", typical_properties().encode())
    data = one * PARSE_PUBLISHES + frames.HEARTBEAT_FRAME
    count = PARSE_PUBLISHES * 3 + 1
    reader = frames.FrameReader(131072)
    feed = reader.feed
    next_frame = reader.next_frame

    def op() -> int:
        feed(data)
        n = 0
        while next_frame() is not None:
            n += 1
        return n

    def facts(total: int) -> dict[str, object]:
        reader.feed(data)
        got = list(drain(reader))
        return {
            "frames": len(got),
            "bodies": sum(1 for f in got if f[0] == spec.FRAME_BODY and f[2] == BODY),
            "left_over": reader.buffered,
        }

    expect = {"frames": count, "bodies": PARSE_PUBLISHES, "left_over": 0}
    return Case(op, facts, expect, items=count, item="frame")


@bench("codec.method.decode_publish", "spec.decode_method on a basic.publish payload")
def _decode_publish() -> Case:
    payload = spec.BasicPublish(exchange="amq.topic", routing_key="stock.s7.v3").encode()
    decode = spec.decode_method

    def op() -> object:
        return decode(payload)

    def facts(total: int) -> dict[str, object]:
        method = op()
        return {
            "name": type(method).__name__,
            "key": (method.exchange, method.routing_key),
        }

    return Case(op, facts, {"name": "BasicPublish", "key": ("amq.topic", "stock.s7.v3")})


@bench(
    "codec.method.encode_deliver",
    "build a basic.deliver and encode it as a method frame (encode_method_frame)",
)
def _encode_deliver() -> Case:
    deliver = spec.BasicDeliver
    encode = frames.encode_method_frame
    tags = itertools.count(1)

    def op() -> bytes:
        return encode(
            1,
            deliver(
                consumer_tag="amq.ctag-Xq3PpW1d0yJ8mQ7rH2b5Ag",
                delivery_tag=next(tags),
                redelivered=False,
                exchange="amq.topic",
                routing_key="stock.s7.v3",
            ),
        )

    def facts(total: int) -> dict[str, object]:
        reader = frames.FrameReader()
        reader.feed(op())
        (frame,) = drain(reader)
        method = spec.decode_method(frame[2])
        return {
            "name": type(method).__name__,
            "delivery_tag": method.delivery_tag,
        }

    # The facts call is one more deliver: its tag is total + 1.
    return Case(op, facts, {"name": "BasicDeliver", "delivery_tag": _TOTAL_PLUS_ONE})


@bench(
    "codec.deliver.frames",
    "a whole outgoing delivery: basic.deliver frame + content header + body frame",
)
def _deliver_frames() -> Case:
    deliver = spec.BasicDeliver
    encode_method = frames.encode_method_frame
    encode_content = frames.encode_content_frames
    properties_raw = typical_properties().encode()

    def op() -> list[bytes]:
        out = [
            encode_method(
                1,
                deliver(
                    consumer_tag="amq.ctag-Xq3PpW1d0yJ8mQ7rH2b5Ag",
                    delivery_tag=7,
                    redelivered=False,
                    exchange="amq.topic",
                    routing_key="stock.s7.v3",
                ),
            )
        ]
        out.extend(encode_content(1, 60, properties_raw, BODY, 131072))
        return out

    def facts(total: int) -> dict[str, object]:
        reader = frames.FrameReader()
        reader.feed(b"".join(op()))
        return {"frame_types": [f[0] for f in drain(reader)]}

    types = [spec.FRAME_METHOD, spec.FRAME_HEADER, spec.FRAME_BODY]
    return Case(op, facts, {"frame_types": types})


@bench(
    "codec.props.encode",
    "BasicProperties(content_type, content_encoding, headers[3], delivery_mode).encode() "
    "wrapped as a content header payload",
)
def _props_encode() -> Case:
    properties = spec.BasicProperties
    content_header = frames.encode_content_header

    def op() -> bytes:
        raw = properties(
            content_type="application/json",
            content_encoding="utf-8",
            headers=SMALL_HEADERS,
            delivery_mode=2,
        ).encode()
        return content_header(60, len(BODY), raw)

    def facts(total: int) -> dict[str, object]:
        class_id, size, raw = frames.decode_content_header(op())
        return {
            "class_size": (class_id, size),
            "roundtrip": spec.BasicProperties.decode(raw) == typical_properties(),
        }

    return Case(op, facts, {"class_size": (60, len(BODY)), "roundtrip": True})


@bench("codec.props.decode", "BasicProperties.decode of the same typical properties")
def _props_decode() -> Case:
    raw = typical_properties().encode()
    decode = spec.BasicProperties.decode

    def op() -> object:
        return decode(raw)

    def facts(total: int) -> dict[str, object]:
        return {"equal": op() == typical_properties()}

    return Case(op, facts, {"equal": True})


def _table_cases(headers: dict[str, object]) -> tuple[Case, Case]:
    encode = table.encode_table
    decode = table.decode_table
    raw = encode(headers)

    def encode_op() -> bytes:
        return encode(headers)

    def decode_op() -> object:
        return decode(raw)

    def encode_facts(total: int) -> dict[str, object]:
        data = encode_op()
        return {"bytes": len(data), "roundtrip": decode(data)[0] == headers}

    def decode_facts(total: int) -> dict[str, object]:
        value, end = decode(raw)
        return {"keys": len(value), "consumed": end == len(raw), "equal": value == headers}

    return (
        Case(encode_op, encode_facts, {"bytes": len(raw), "roundtrip": True}),
        Case(decode_op, decode_facts, {"keys": len(headers), "consumed": True, "equal": True}),
    )


@bench("codec.table.encode_small", "encode_table of a 3-key application headers table")
def _table_encode_small() -> Case:
    return _table_cases(SMALL_HEADERS)[0]


@bench("codec.table.decode_small", "decode_table of the same 3-key table")
def _table_decode_small() -> Case:
    return _table_cases(SMALL_HEADERS)[1]


@bench("codec.table.encode_celery", "encode_table of a Celery task's 19-key headers table")
def _table_encode_celery() -> Case:
    return _table_cases(CELERY_HEADERS)[0]


@bench("codec.table.decode_celery", "decode_table of the same Celery headers table")
def _table_decode_celery() -> Case:
    return _table_cases(CELERY_HEADERS)[1]


def handshaken() -> Any:
    """A ServerConnection past the protocol header and the connection handshake, with
    channel 1 open."""
    conn = amqp_connection.ServerConnection()
    opening = (
        amqp_connection.PROTOCOL_HEADER
        + frames.encode_method_frame(
            0,
            spec.ConnectionStartOk(
                client_properties={"product": "micro-bench", "capabilities": {}},
                mechanism="PLAIN",
                response=b"\x00guest\x00guest",
                locale="en_US",
            ),
        )
        + frames.encode_method_frame(
            0, spec.ConnectionTuneOk(channel_max=2047, frame_max=131072, heartbeat=60)
        )
        + frames.encode_method_frame(0, spec.ConnectionOpen(virtual_host="/"))
        + frames.encode_method_frame(1, spec.ChannelOpen())
    )
    events = list(conn.receive(opening))
    if len(events) != 5:
        raise RuntimeError(f"handshake gave {len(events)} events, expected 5: {events}")
    return conn


def _receive_case(batch: int) -> Case:
    conn = handshaken()
    data = publish_bytes(1, "amq.topic", "stock.s7.v3", typical_properties().encode()) * batch
    receive = conn.receive

    def op() -> list[Any]:
        return list(receive(data))

    def facts(total: int) -> dict[str, object]:
        events = op()
        return {
            "events": [type(e).__name__ for e in events],
            "bodies_ok": all(getattr(e, "body", None) == BODY for e in events),
            "exchange": getattr(getattr(events[-1], "method", None), "exchange", None),
        }

    expect = {"events": ["ContentReceived"] * batch, "bodies_ok": True, "exchange": "amq.topic"}
    return Case(op, facts, expect, items=batch, item="publish")


@bench(
    "codec.conn.receive_publish",
    "ServerConnection.receive of one publish (method + header + body frames), after the "
    "handshake: one ContentReceived event",
)
def _receive_publish() -> Case:
    return _receive_case(1)


@bench(
    "codec.conn.receive_publish_x16",
    "ServerConnection.receive of 16 pipelined publishes in one read",
)
def _receive_publish_batch() -> Case:
    return _receive_case(16)


# -- routing ------------------------------------------------------------------------------

OWNER = object()


def new_vhost() -> Any:
    return broker_vhost.VirtualHost("/", clock=broker_clock.ManualClock())


def declare(vhost: Any, name: str) -> Any:
    return vhost.declare_queue(name, OWNER)


def _route_case(
    vhost: Any, exchange_name: str, keys: Iterator[str], properties_raw: bytes, expect: int
) -> Case:
    """Time one routed publish: a new Message, then the vhost's publish_targets."""
    exchange = vhost.get_exchange(exchange_name)
    message_class = broker_message.Message
    targets = getattr(vhost, "publish_targets", None)
    if targets is not None:

        def op() -> list[Any]:
            message = message_class(exchange_name, next(keys), properties_raw, BODY)
            return targets(exchange, message)[1]

    else:  # fall back to the plain router
        route = vhost.route

        def op() -> list[Any]:
            message = message_class(exchange_name, next(keys), properties_raw, BODY)
            return route(exchange, message)

    def facts(total: int) -> dict[str, object]:
        queues = op()
        return {"queues": len(queues), "distinct": len(set(queues)) == len(queues)}

    return Case(op, facts, {"queues": expect, "distinct": True})


@bench("route.default", "default exchange: routing key = queue name (100 queues declared)")
def _route_default() -> Case:
    vhost = new_vhost()
    for i in range(100):
        declare(vhost, f"work.{i}")
    return _route_case(vhost, "", itertools.repeat("work.42"), transient_properties_raw(), 1)


@bench("route.direct", "direct exchange, 100 queues bound by distinct keys: 1 queue matches")
def _route_direct() -> Case:
    vhost = new_vhost()
    vhost.declare_exchange("orders", "direct")
    for i in range(100):
        vhost.bind("orders", declare(vhost, f"orders.{i}"), f"region-{i}", None)
    keys = itertools.repeat("region-42")
    return _route_case(vhost, "orders", keys, transient_properties_raw(), 1)


@bench("route.fanout", "fanout exchange bound to 10 queues")
def _route_fanout() -> Case:
    vhost = new_vhost()
    vhost.declare_exchange("events", "fanout")
    for i in range(10):
        vhost.bind("events", declare(vhost, f"events.{i}"), "", None)
    return _route_case(vhost, "events", itertools.repeat(""), transient_properties_raw(), 10)


TOPIC_SYMBOLS = 32
TOPIC_VENUES = 8


def topic_vhost() -> Any:
    """A topic exchange with 309 bindings, each to its own queue:

    - 256 literal ``stock.<symbol>.<venue>`` (32 symbols x 8 venues),
    - 32 ``stock.<symbol>.*``, 8 ``stock.*.<venue>``, 8 ``#.<venue>``,
    - ``stock.#``, ``#``, ``*.*.*``, ``audit.#`` and ``*.s7``.

    ``stock.s7.v3`` matches 7 of them; ``stock.<unknown>.v3`` matches 5.
    """
    vhost = new_vhost()
    vhost.declare_exchange("market", "topic")
    patterns = [f"stock.s{s}.v{v}" for s in range(TOPIC_SYMBOLS) for v in range(TOPIC_VENUES)]
    patterns += [f"stock.s{s}.*" for s in range(TOPIC_SYMBOLS)]
    patterns += [f"stock.*.v{v}" for v in range(TOPIC_VENUES)]
    patterns += [f"#.v{v}" for v in range(TOPIC_VENUES)]
    patterns += ["stock.#", "#", "*.*.*", "audit.#", "*.s7"]
    for i, pattern in enumerate(patterns):
        vhost.bind("market", declare(vhost, f"market.{i}"), pattern, None)
    return vhost


@bench(
    "route.topic",
    "topic exchange, 309 bindings with * and #: the same key each time (7 queues match)",
)
def _route_topic() -> Case:
    keys = itertools.repeat("stock.s7.v3")
    return _route_case(topic_vhost(), "market", keys, transient_properties_raw(), 7)


# Well beyond the topic exchange's per-key result cache, so every publish is a miss.
UNCACHED_KEYS = 16384


@bench(
    "route.topic_uncached",
    f"the same topic exchange, cycling through {UNCACHED_KEYS} distinct keys (5 queues match)",
)
def _route_topic_uncached() -> Case:
    keys = itertools.cycle([f"stock.u{i}.v{i % TOPIC_VENUES}" for i in range(UNCACHED_KEYS)])
    return _route_case(topic_vhost(), "market", keys, transient_properties_raw(), 5)


FORMATS = ("pdf", "csv", "xml", "json", "html")
KINDS = ("report", "invoice", "receipt", "quote", "order", "memo", "note", "form", "log", "card")


@bench(
    "route.headers",
    "headers exchange, 50 x-match=all bindings on 2 headers + 10 x-match=any bindings; the "
    "message carries 4 headers (decoded per publish); 2 queues match",
)
def _route_headers() -> Case:
    vhost = new_vhost()
    vhost.declare_exchange("documents", "headers")
    n = 0
    for kind in KINDS:
        for fmt in FORMATS:
            arguments = {"x-match": "all", "format": fmt, "kind": kind}
            vhost.bind("documents", declare(vhost, f"documents.{n}"), "", arguments)
            n += 1
    for level in range(10):
        arguments = {"x-match": "any", "level": level, "urgent": True}
        vhost.bind("documents", declare(vhost, f"documents.{n}"), "", arguments)
        n += 1
    headers = {"format": "pdf", "kind": "invoice", "level": 3, "tenant": "acme"}
    raw = spec.BasicProperties(content_type="application/pdf", headers=headers).encode()
    return _route_case(vhost, "documents", itertools.repeat(""), raw, 2)


# -- queue model --------------------------------------------------------------------------


class CountingSink:
    """A channel's DeliverySink that only remembers the last delivery tag."""

    writable = True

    def __init__(self) -> None:
        self.delivered = 0
        self.last_tag = 0

    def deliver(self, consumer_tag: str, delivery_tag: int, redelivered: bool, message: Any):
        self.delivered += 1
        self.last_tag = delivery_tag

    def consumer_cancelled(self, consumer_tag: str) -> None:
        pass


def _queue_facts(queue: Any, channel: Any, extra: Callable[[int], dict[str, object]]):
    def facts(total: int) -> dict[str, object]:
        return {
            **extra(total),
            "ready": queue.message_count,
            "unacked": len(channel.unacked),
        }

    return facts


@bench(
    "queue.publish_get_ack",
    "Queue.publish of a transient message, Channel.get (basic.get, manual ack), Channel.ack",
)
def _queue_get_ack() -> Case:
    vhost = new_vhost()
    queue = declare(vhost, "work")
    channel = broker_channel.Channel(1, OWNER, CountingSink())
    message_class = broker_message.Message
    properties_raw = transient_properties_raw()
    publish = queue.publish
    get = channel.get
    ack = channel.ack

    def op() -> None:
        publish(message_class("", "work", properties_raw, BODY))
        tag, _entry = get(queue, no_ack=False)
        ack(tag, False)

    def extra(total: int) -> dict[str, object]:
        return {"tags_used": channel.next_tag - 1 == total}

    facts = _queue_facts(queue, channel, extra)
    return Case(op, facts, {"tags_used": True, "ready": 0, "unacked": 0})


def consuming(queue: Any) -> tuple[Any, CountingSink]:
    sink = CountingSink()
    channel = broker_channel.Channel(1, OWNER, sink)
    queue.add_consumer(channel.consume(queue, "bench", no_ack=False, exclusive=False))
    return channel, sink


@bench(
    "queue.publish_consume_ack",
    "Queue.publish of a transient message to a queue with a consumer (pushed to its "
    "channel's sink), then Channel.ack",
)
def _queue_consume_ack() -> Case:
    vhost = new_vhost()
    queue = declare(vhost, "work")
    channel, sink = consuming(queue)
    message_class = broker_message.Message
    properties_raw = transient_properties_raw()
    publish = queue.publish
    ack = channel.ack

    def op() -> None:
        publish(message_class("", "work", properties_raw, BODY))
        ack(sink.last_tag, False)

    def extra(total: int) -> dict[str, object]:
        return {"delivered_all": sink.delivered == total}

    facts = _queue_facts(queue, channel, extra)
    return Case(op, facts, {"delivered_all": True, "ready": 0, "unacked": 0})


@bench(
    "queue.route_consume_ack",
    "the core of a publish end to end: Message, publish_targets via the default exchange, "
    "Queue.publish, delivery to a consumer, Channel.ack",
)
def _queue_route_consume_ack() -> Case:
    vhost = new_vhost()
    queue = declare(vhost, "work")
    channel, sink = consuming(queue)
    exchange = vhost.get_exchange("")
    message_class = broker_message.Message
    properties_raw = transient_properties_raw()
    targets = vhost.publish_targets
    ack = channel.ack

    def op() -> None:
        message, queues = targets(exchange, message_class("", "work", properties_raw, BODY))
        for target in queues:
            target.publish(message)
        ack(sink.last_tag, False)

    def extra(total: int) -> dict[str, object]:
        return {"delivered_all": sink.delivered == total}

    facts = _queue_facts(queue, channel, extra)
    return Case(op, facts, {"delivered_all": True, "ready": 0, "unacked": 0})


@bench(
    "publish.to_consumer",
    "broker.publish's publish_to as the AMQP handler calls it (internal and user_id "
    "checks, Message, routing via the default exchange, enqueue, outcome flags), delivery "
    "to a consumer, Channel.ack",
)
def _publish_to_consumer() -> Case:
    return _publish_case(confirm=False)


@bench(
    "publish.confirmed",
    "publish.to_consumer from a publisher in confirm mode: the confirm is settled at once "
    "and handed out with Confirms.ready",
)
def _publish_confirmed() -> Case:
    return _publish_case(confirm=True)


def _publish_case(*, confirm: bool) -> Case:
    vhost = new_vhost()
    queue = declare(vhost, "work")
    channel, sink = consuming(queue)
    exchange = vhost.get_exchange("")
    confirms = broker_publish.Confirms() if confirm else None
    publisher = broker_publish.Publisher(confirms=confirms)
    publish_to = broker_publish.publish_to
    properties_raw = transient_properties_raw()
    ack = channel.ack
    outcomes: dict[int, int] = {}
    confirmed = [0]

    def op() -> None:
        outcome = publish_to(
            vhost, exchange, "work", properties_raw, BODY, False, "guest", None, publisher
        )
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if confirms is not None:
            confirmed[0] = confirms.ready()[-1][0]
        ack(sink.last_tag, False)

    def extra(total: int) -> dict[str, object]:
        return {
            "delivered_all": sink.delivered == total,
            "all_routed": outcomes == {broker_publish.ROUTED: total},
            "confirmed_all": confirms is None or confirmed[0] == total,
        }

    facts = _queue_facts(queue, channel, extra)
    expect = {
        "delivered_all": True,
        "all_routed": True,
        "confirmed_all": True,
        "ready": 0,
        "unacked": 0,
    }
    return Case(op, facts, expect)


# -- timing -------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    description: str
    loops: int = 0
    times_ns: list[int] = field(default_factory=list)  # per-op time of each repeat
    items: int = 1
    item: str = ""
    facts: dict[str, object] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def best_ns(self) -> float:
        return min(self.times_ns)

    @property
    def median_ns(self) -> float:
        return statistics.median(self.times_ns)

    @property
    def ops_per_s(self) -> float:
        return 1e9 / self.best_ns if self.best_ns else float("inf")

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "name": self.name,
            "description": self.description,
            "ok": self.ok,
            "error": self.error,
            "loops": self.loops,
            "repeat": len(self.times_ns),
            "items_per_op": self.items,
            "item": self.item or None,
            "facts": self.facts,
        }
        if self.times_ns:
            out.update(
                best_ns_per_op=round(self.best_ns, 1),
                median_ns_per_op=round(self.median_ns, 1),
                ops_per_s=round(self.ops_per_s, 1),
                times_ns_per_op=[round(t, 1) for t in self.times_ns],
            )
        return out


def time_loop(op: Callable[[], object], loops: int, keep_gc: bool) -> int:
    """Nanoseconds taken by ``loops`` calls of ``op``."""
    it = itertools.repeat(None, loops)
    gc_was_on = gc.isenabled()
    if not keep_gc:
        gc.disable()
    try:
        start = time.perf_counter_ns()
        for _ in it:
            op()
        return time.perf_counter_ns() - start
    finally:
        if gc_was_on:
            gc.enable()


def calibrate(op: Callable[[], object], target_ns: int, keep_gc: bool) -> tuple[int, int]:
    """The first of 1, 2, 5, 10, 20, 50... loops that takes ``target_ns``; also returns how
    many calls calibration made."""
    calls = 0
    scale = 1
    while True:
        for factor in (1, 2, 5):
            loops = factor * scale
            elapsed = time_loop(op, loops, keep_gc)
            calls += loops
            if elapsed >= target_ns:
                return loops, calls
        scale *= 10


def run_bench(
    entry: Bench,
    *,
    target: float = DEFAULT_TARGET,
    repeat: int = DEFAULT_REPEAT,
    iterations: int | None = None,
    keep_gc: bool = False,
) -> Result:
    """Set up, time and check one benchmark; any exception becomes ``Result.error``."""
    result = Result(entry.name, entry.description)
    try:
        case = entry.setup()
        result.items, result.item = case.items, case.item
        if iterations is not None:
            loops, total = iterations, 0
        else:
            loops, total = calibrate(case.op, int(target * 1e9), keep_gc)
        result.loops = loops
        for _ in range(max(1, repeat)):
            elapsed = time_loop(case.op, loops, keep_gc)
            total += loops
            result.times_ns.append(elapsed / loops)
        result.facts = case.facts(total)
        expected = _resolve(case.expect, total)
        if result.facts != expected:
            wrong = {k: v for k, v in result.facts.items() if expected.get(k, v) != v}
            missing = sorted(set(expected) - set(result.facts))
            raise AssertionError(
                f"the operation did not do its job: got {wrong or result.facts}"
                f"{f', missing {missing}' if missing else ''}, expected "
                f"{ {k: expected[k] for k in wrong} or expected }"
            )
    except Exception as exc:
        where = ""
        frames_ = traceback.extract_tb(exc.__traceback__)
        if frames_:
            last = frames_[-1]
            where = f" (at {Path(last.filename).name}:{last.lineno})"
        result.error = f"{type(exc).__name__}: {exc}{where}"
    return result


def select(filters: Sequence[str] | None) -> list[Bench]:
    if not filters:
        return list(BENCHES)
    wanted = [f.lower() for f in filters]
    return [b for b in BENCHES if any(f in b.name.lower() for f in wanted)]


def run(
    filters: Sequence[str] | None = None,
    *,
    target: float = DEFAULT_TARGET,
    repeat: int = DEFAULT_REPEAT,
    iterations: int | None = None,
    keep_gc: bool = False,
    on_result: Callable[[Result], None] | None = None,
) -> list[Result]:
    """Run the selected benchmarks (all by default; ``filters`` are name substrings)."""
    results = []
    for entry in select(filters):
        result = run_bench(
            entry, target=target, repeat=repeat, iterations=iterations, keep_gc=keep_gc
        )
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


# -- output -------------------------------------------------------------------------------

_COLUMNS = ("benchmark", "loops", "best ns/op", "median ns/op", "ops/s (best)", "per item")
_WIDTHS = (31, 9, 12, 13, 13, 18)


def _row(cells: Sequence[str]) -> str:
    first, *rest = cells
    line = f"{first:<{_WIDTHS[0]}}" + "".join(
        f" {cell:>{width}}" for cell, width in zip(rest, _WIDTHS[1:], strict=True)
    )
    return line.rstrip()


def format_result(result: Result) -> str:
    if not result.ok:
        return f"{result.name:<{_WIDTHS[0]}} ERROR {result.error}"
    per_item = ""
    if result.items > 1:
        per_item = f"{result.best_ns / result.items:,.0f} ns/{result.item}"
    return _row(
        (
            result.name,
            f"{result.loops:,}",
            f"{result.best_ns:,.0f}",
            f"{result.median_ns:,.0f}",
            f"{result.ops_per_s:,.0f}",
            per_item,
        )
    )


def machine() -> dict[str, object]:
    return {
        "date": datetime.date.today().isoformat(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "leveret": "pure Python" if (frames.__file__ or "").endswith(".py") else "compiled",
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/micro.py", description="Micro-benchmarks of the codec, routing and queues."
    )
    parser.add_argument("--quick", action="store_true", help="short loops, 3 repeats")
    parser.add_argument(
        "--filter",
        action="append",
        metavar="SUBSTR",
        help="run only benchmarks whose name contains SUBSTR (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--target", type=float, help="seconds per timed loop (default 0.2)")
    parser.add_argument("--repeat", type=int, help="timed loops per benchmark (default 5)")
    parser.add_argument(
        "--iterations", type=int, metavar="N", help="fixed loop count instead of calibrating"
    )
    parser.add_argument("--gc", action="store_true", help="keep the garbage collector on")
    args = parser.parse_args(argv)

    chosen = select(args.filter)
    if args.list:
        for b in chosen:
            print(f"{b.name:<{_WIDTHS[0]}} {b.description}")
        return 0
    if not chosen:
        print(f"no benchmark matches {args.filter}", file=sys.stderr)
        return 2
    target = args.target or (QUICK_TARGET if args.quick else DEFAULT_TARGET)
    repeat = args.repeat or (QUICK_REPEAT if args.quick else DEFAULT_REPEAT)
    info = machine()

    def show(result: Result) -> None:
        if not result.ok:
            print(f"ERROR {result.name}: {result.error}", file=sys.stderr, flush=True)
        if not args.json:
            print(format_result(result), flush=True)

    if not args.json:
        print(
            f"# {info['date']}  Python {info['python']}  {info['platform']}  "
            f"{info['cpus']} CPUs  leveret {info['leveret']}  target {target} s x {repeat}"
            + (f"  iterations {args.iterations}" if args.iterations else "")
        )
        print(_row(_COLUMNS))
        print("-" * (sum(_WIDTHS) + len(_WIDTHS) - 1))
    results = run(
        args.filter,
        target=target,
        repeat=repeat,
        iterations=args.iterations,
        keep_gc=args.gc,
        on_result=show,
    )
    if args.json:
        doc = {
            "machine": info,
            "target_s": target,
            "repeat": repeat,
            "iterations": args.iterations,
            "gc": args.gc,
            "results": [r.as_dict() for r in results],
        }
        print(json.dumps(doc, indent=2, default=repr))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
