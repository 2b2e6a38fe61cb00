"""asyncio adapter for one AMQP connection: handshake, heartbeats, writes, error handling.

Protocol rules live in ``leveret.amqp.connection``; the broker's rules in ``leveret.broker``;
per-method behaviour in ``leveret.server.handlers``. This module glues them to a socket.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, cast

from leveret.amqp import spec
from leveret.amqp.connection import (
    PROTOCOL_HEADER,
    BadProtocolHeader,
    ChannelFault,
    ContentReceived,
    Event,
    HeaderReceived,
    MethodReceived,
    ServerConnection,
)
from leveret.amqp.errors import (
    ACCESS_REFUSED,
    COMMAND_INVALID,
    CONNECTION_FORCED,
    INTERNAL_ERROR,
    NOT_ALLOWED,
    UNEXPECTED_FRAME,
    AMQPError,
    ChannelError,
    ConnectionError_,
    FrameError,
)
from leveret.amqp.frames import (
    HEARTBEAT_FRAME,
    FrameReader,
    encode_content_frames,
    encode_method_frame,
)
from leveret.amqp.sasl import SASLError
from leveret.broker.stats import GaugeRates
from leveret.broker.vhost import VirtualHost
from leveret.server import conn_log, handlers
from leveret.server.access import check_channel_limit, check_vhost_open
from leveret.server.drain import Drain
from leveret.server.login import authenticate, offered, peer_certificate
from leveret.server.session import Session
from leveret.server.start import connection_start
from leveret.server.tune import frame_max_refusal, handshake_frame_limit

if TYPE_CHECKING:
    from leveret.broker.access import Grant, User
    from leveret.broker.queue import Queue
    from leveret.server.node import Node

log = logging.getLogger("leveret.connection")

# RabbitMQ waits this long before dropping a connection it refused, to slow brute force.
SILENT_CLOSE_DELAY = 3.0
CLOSE_OK_TIMEOUT = 3.0
WRITE_HIGH_WATER = 4 * 1024 * 1024
# Pieces of output larger than this are written as they are, not joined (copied).
LARGE_PIECE = 16384
# Events handled per read before other connections get a turn (fairness under floods).
EVENT_BUDGET = 256
# How long a publisher stops being read after publishing into a congested queue.
FLOW_PAUSE = 0.005


class State(Enum):
    AWAIT_HEADER = 1
    AWAIT_START_OK = 2
    AWAIT_TUNE_OK = 3
    AWAIT_OPEN = 4
    OPEN = 5
    CLOSING = 6  # we sent connection.close and wait for close-ok
    CLOSED = 7


class AMQPConnection(asyncio.Protocol):
    def __init__(self, node: Node):
        self.node = node
        config = node.config
        self.proto = ServerConnection(handshake_frame_limit(config), config.max_message_size)
        self.proto.channel_max = config.channel_max
        self.state = State.AWAIT_HEADER
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] | None = None
        self.local: tuple[str, int] | None = None  # the server's end, for the log
        self._drain: Drain | None = None  # set once close-ok answered the client's close
        self._close_reason = "client unexpectedly closed TCP connection"
        self.sessions: dict[int, Session] = {}
        self.vhost: VirtualHost | None = None
        self.user: User | None = None
        self.grant: Grant | None = None  # the user's permissions in the open vhost
        self.exclusive_queues: list[Queue] = []
        self.client_properties: dict[str, object] = {}
        self.cancel_notify = False
        self.auth_failure_close = False
        self.frame_max = config.frame_max
        self.channel_max = config.channel_max
        self.heartbeat = 0
        self.writable = True
        self.confirms_pending: set[Session] = set()
        self.out: list[bytes] = []
        self.large_pending = False  # ``out`` holds a large body: write it uncopied
        self._flush_scheduled = False
        self._loop = asyncio.get_running_loop()
        self._last_received = self._loop.time()
        self._sent_since_tick = False
        self._timers: list[asyncio.TimerHandle] = []
        self._heartbeat_timer: asyncio.TimerHandle | None = None
        self._torn_down = False
        self.blocked_capable = False
        self._block_sent = False
        self._published = False  # since the last read: publishers are blocked under alarm
        # Why reading from the socket is paused: "alarm" (a resource alarm), "deferred"
        # (events wait in the frame reader for the next loop turn) and "flow" (it
        # published into a queue whose consumers are falling behind).
        self.paused_by: set[str] = set()
        self.throttle = False  # set by publish when a target queue is congested
        self.dispatch_pending: set[Queue] = set()  # acks freed credit on these queues
        # What the management API shows of the connection (RabbitMQ's connection fields).
        self.connected_at = time.time()
        self.auth_mechanism: str | None = None
        self.recv_oct = 0  # octets read from the socket, and how many reads
        self.recv_cnt = 0
        self.send_oct = 0  # octets written, and how many writes
        self.send_cnt = 0
        # recv_oct/send_oct per second between samples of the statistics timer.
        self.octet_rates = GaugeRates()

    def __repr__(self) -> str:
        return f"<AMQPConnection {conn_log.connection_name(self)}>"

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    @property
    def tls_session(self) -> tuple[str, str] | None:
        """(protocol version, cipher suite) of a TLS connection, as OpenSSL names them."""
        ssl_object = self.transport.get_extra_info("ssl_object") if self.transport else None
        if ssl_object is None:
            return None
        cipher = ssl_object.cipher()
        return (ssl_object.version() or "", cipher[0] if cipher else "")

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing it.
        self.transport = transport = cast(asyncio.Transport, transport)
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        peer = transport.get_extra_info("peername")
        self.peer = (peer[0], peer[1]) if isinstance(peer, tuple) else None
        local = transport.get_extra_info("sockname")
        self.local = (local[0], local[1]) if isinstance(local, tuple) else None
        self.node.connections.add(self)
        conn_log.accepted(self)
        self._later(self.node.config.handshake_timeout, self._handshake_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.vhost is not None and self.user is not None:
            conn_log.closed(self, self.user.name, self.vhost.name, self._close_reason)
        if self._drain is not None:
            self._drain.cancel()
        self.state = State.CLOSED
        self._teardown()
        for timer in self._timers:
            timer.cancel()
        if self._heartbeat_timer is not None:
            self._heartbeat_timer.cancel()
        self.node.connections.discard(self)
        self.node.counters.connections_closed += 1

    def pause_writing(self) -> None:
        self.writable = False

    def resume_writing(self) -> None:
        self.writable = True
        for session in list(self.sessions.values()):
            session.channel.resume()

    def data_received(self, data: bytes) -> None:
        self.recv_oct += len(data)
        self.recv_cnt += 1
        if self._drain is not None:
            self._drain.feed(len(data))
            return
        if self.closed:  # (a property, so that mypy does not narrow the loop's check below)
            return
        self._process(data)

    def _process(self, data: bytes) -> None:
        """Handle at most EVENT_BUDGET events of what the client sent; leave the rest in
        the frame reader for the next loop turn, with reading paused meanwhile."""
        self._last_received = self._loop.time()
        budget = EVENT_BUDGET
        try:
            for event in self.proto.receive(data):
                if type(event) is ContentReceived and self.state is State.OPEN:
                    self._on_publish(event)  # the hot path, without the general dispatch
                else:
                    self._on_event(event)
                if self.state is State.CLOSED:
                    break
                budget -= 1
                if not budget:
                    break
        except BadProtocolHeader:
            self._write_now(PROTOCOL_HEADER)
            self._close_transport()
        except AMQPError as error:
            self.fail(error)
            if isinstance(error, FrameError):
                # The stream lost its framing here: read what follows (the client's
                # close-ok, typically in its own write) from a clean frame boundary.
                self.proto.reader = FrameReader(self.proto.reader.frame_max)
        except Exception:
            log.exception("internal error on %r", self)
            self.fail(ConnectionError_(INTERNAL_ERROR, "internal error"))
        if self.dispatch_pending:
            self._dispatch_pending()
        if self._published and self.node.alarms and not self.closed:
            self._block()
        self._published = False
        if self.throttle:
            self.throttle = False
            if "flow" not in self.paused_by and not self.closed:
                self._pause_reading("flow")
                self._loop.call_later(FLOW_PAUSE, self._end_flow_pause)
        if not budget and not self.closed and self.proto.reader.buffered:
            # One busy publisher must not starve everyone else: the loop (uvloop reads a
            # ready socket up to 32 times per turn) serves the other connections, then us.
            self._pause_reading("deferred")
            self._loop.call_soon(self._process_deferred)
        else:
            self._resume_reading("deferred")
        self._flush()

    def _dispatch_pending(self) -> None:
        pending = list(self.dispatch_pending)
        self.dispatch_pending.clear()
        for queue in pending:
            if queue.consumers:
                try:
                    queue.dispatch()
                except Exception:
                    log.exception("internal error dispatching %r", queue)

    def _process_deferred(self) -> None:
        if not self.closed and "flow" not in self.paused_by:
            self._process(b"")

    def _end_flow_pause(self) -> None:
        self._resume_reading("flow")
        self._process_deferred()  # frames read before the pause come first

    def expire_slow_consumers(self, deadline: float) -> None:
        for session in list(self.sessions.values()):
            for tag in session.channel.expire_slow_consumers(deadline):
                log.warning("%r: consumer %s timed out waiting for acks", self, tag)
                session.consumer_cancelled(tag)
        self._flush()

    # -- resource alarms ------------------------------------------------------------------

    def _block(self) -> None:
        """It published under an alarm: stop reading it, and tell it why. Like RabbitMQ,
        connections that only consume are neither blocked nor told, so they keep
        draining queues (and pika's blocked_connection_timeout does not drop them)."""
        self._pause_reading("alarm")
        if self.blocked_capable and not self._block_sent:
            self._block_sent = True
            reason = "low on " + " & ".join(sorted(self.node.alarms))
            self.send_method(0, spec.ConnectionBlocked(reason=reason))

    def unblock(self) -> None:
        if self._block_sent:
            self._block_sent = False
            self.send_method(0, spec.ConnectionUnblocked())
        self._resume_reading("alarm")

    def _pause_reading(self, reason: str) -> None:
        if not self.paused_by and self.transport is not None:
            self.transport.pause_reading()
        self.paused_by.add(reason)

    def _resume_reading(self, reason: str) -> None:
        if reason not in self.paused_by:
            return
        self.paused_by.discard(reason)
        if not self.paused_by and self.transport is not None and not self.closed:
            self._last_received = self._loop.time()
            self.transport.resume_reading()

    # -- events ---------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if self.state is State.OPEN:
            if isinstance(event, ContentReceived):
                self._on_publish(event)
                return
            if isinstance(event, MethodReceived):
                if event.channel == 0:
                    self._on_connection_method(event.method)
                else:
                    self._on_channel_method(event.channel, event.method)
                return
            if isinstance(event, ChannelFault):
                self.channel_error(event.channel, event.error)
            return  # heartbeats only refresh _last_received
        if self.state is State.CLOSING:
            if isinstance(event, MethodReceived) and event.channel == 0:
                if isinstance(event.method, spec.ConnectionClose):
                    self.send_method(0, spec.ConnectionCloseOk())
                    self._close_transport()
                elif isinstance(event.method, spec.ConnectionCloseOk):
                    self._close_transport()
            return
        if isinstance(event, HeaderReceived):
            self.state = State.AWAIT_START_OK
            self._send_start()
        elif isinstance(event, MethodReceived) and event.channel == 0:
            self._on_handshake(event.method)
        elif self.state is State.AWAIT_OPEN:
            raise ConnectionError_(UNEXPECTED_FRAME, "expected 'connection.open'")
        elif self.state is not State.CLOSED:
            self._silent_close()

    def _on_publish(self, event: ContentReceived) -> None:
        self._published = True
        session = self.sessions.get(event.channel)
        if session is not None:
            method = event.method
            assert isinstance(method, spec.BasicPublish)
            self._run(
                session,
                method,
                handlers.publish,
                self,
                session,
                method,
                event.properties_raw,
                event.body,
            )

    def _run(
        self, session: Session, method: spec.Method, handler: Callable[..., None], *args: object
    ) -> None:
        try:
            handler(*args)
        except ChannelError as error:
            if not error.class_id:
                error.class_id, error.method_id = method.CLASS_ID, method.METHOD_ID
            self.channel_error(session.number, error)
        except ConnectionError_ as error:
            if not error.class_id:
                error.class_id, error.method_id = method.CLASS_ID, method.METHOD_ID
            raise

    def _on_channel_method(self, number: int, method: spec.Method) -> None:
        handler = handlers.HANDLERS.get(type(method))
        if handler is not None:
            session = self.sessions.get(number)
            if session is not None:  # None: the server closed it and awaits close-ok
                self._run(session, method, handler, self, session, method)
            return
        if isinstance(method, spec.ChannelOpen):
            check_channel_limit(self)
            self.sessions[number] = Session(self, number)
            self.node.counters.channels_opened += 1
            self.send_method(number, spec.ChannelOpenOk())
        elif isinstance(method, spec.ChannelCloseOk):
            self.proto.channel_closed(number)
        elif isinstance(method, spec.ChannelClose):
            session = self.sessions.pop(number, None)
            if session is not None:
                self._close_session(session)
            self.send_method(number, spec.ChannelCloseOk())
            self.proto.channel_closed(number)
        elif number in self.sessions:
            raise ConnectionError_(
                COMMAND_INVALID,
                f"unexpected method {method.NAME}",
                method.CLASS_ID,
                method.METHOD_ID,
            )

    def _on_connection_method(self, method: spec.Method) -> None:
        if isinstance(method, spec.ConnectionClose):
            self._close_reason = "client closed the connection"
            self._teardown()
            self.send_method(0, spec.ConnectionCloseOk())
            self._start_drain()
        elif isinstance(method, spec.ConnectionCloseOk):
            self._close_transport()
        elif isinstance(method, spec.ConnectionUpdateSecret):
            self.send_method(0, spec.ConnectionUpdateSecretOk())
        elif isinstance(method, spec.ConnectionBlocked | spec.ConnectionUnblocked):
            pass  # clients may send these; they mean nothing to a server
        else:
            raise ConnectionError_(
                COMMAND_INVALID,
                f"unexpected method {method.NAME} in connection state running",
                method.CLASS_ID,
                method.METHOD_ID,
            )

    # -- handshake ------------------------------------------------------------------------

    def _send_start(self) -> None:
        config = self.node.config
        mechanisms = offered(config, peer_certificate(self.transport))
        # The node's name for the cluster: the management API may have renamed it.
        cluster = self.node.cluster_name
        self.send_method(0, connection_start(cluster, " ".join(mechanisms).encode()))

    def _on_handshake(self, method: spec.Method) -> None:
        if self.state is State.AWAIT_START_OK and isinstance(method, spec.ConnectionStartOk):
            self._on_start_ok(method)
        elif self.state is State.AWAIT_TUNE_OK and isinstance(method, spec.ConnectionTuneOk):
            self._on_tune_ok(method)
        elif self.state is State.AWAIT_OPEN and isinstance(method, spec.ConnectionOpen):
            self._on_open(method)
        elif self.state is State.AWAIT_OPEN:
            raise ConnectionError_(
                UNEXPECTED_FRAME, f"expected 'connection.open', got {method.NAME}"
            )
        else:
            self._silent_close()

    def _on_start_ok(self, method: spec.ConnectionStartOk) -> None:
        props = method.client_properties or {}
        self.client_properties = dict(props)
        capabilities = props.get("capabilities")
        if isinstance(capabilities, dict):
            self.cancel_notify = bool(capabilities.get("consumer_cancel_notify"))
            self.auth_failure_close = bool(capabilities.get("authentication_failure_close"))
            self.blocked_capable = bool(capabilities.get("connection.blocked"))
        mechanism = method.mechanism
        try:
            user, why = authenticate(
                self.node.access,
                self.node.config,
                mechanism,
                bytes(method.response),
                peer_certificate(self.transport),
                self.peer[0] if self.peer else None,
            )
        except SASLError as error:
            log.warning("%r: refused SASL response: %s", self, error)
            self._silent_close()
            return
        if user is None:
            conn_log.login_refused(self, mechanism, why)
            if self.auth_failure_close:
                self.fail(
                    ConnectionError_(
                        ACCESS_REFUSED,
                        f"Login was refused using authentication mechanism {mechanism}. "
                        "For details see the broker logfile.",
                    ),
                    allow_before_open=True,
                )
            else:
                self._silent_close()
            return
        self.user = user
        self.auth_mechanism = mechanism
        config = self.node.config
        self.state = State.AWAIT_TUNE_OK
        self.send_method(
            0,
            spec.ConnectionTune(
                channel_max=config.channel_max,
                frame_max=config.frame_max,
                heartbeat=config.heartbeat,
            ),
        )

    def _on_tune_ok(self, method: spec.ConnectionTuneOk) -> None:
        config = self.node.config
        refusal = frame_max_refusal(method.frame_max, config)
        if refusal is not None:
            # RabbitMQ raises 530 NOT_ALLOWED here but never sends it: the error reaches its
            # handshake-error path, which closes without a word after 3 s (3.10 observed,
            # rabbit_reader unchanged in 4.x). Clients see the same silence from us.
            log.warning("%r: %s", self, refusal)
            self._silent_close()
            return
        frame_max = method.frame_max or config.frame_max
        self.frame_max = frame_max
        self.proto.set_frame_max(frame_max)
        channel_max = method.channel_max or config.channel_max
        self.channel_max = min(channel_max, config.channel_max)
        self.proto.channel_max = self.channel_max
        self.heartbeat = method.heartbeat
        self.state = State.AWAIT_OPEN
        if self.heartbeat:
            self._schedule_heartbeat()

    def _on_open(self, method: spec.ConnectionOpen) -> None:
        name = method.virtual_host
        vhost = self.node.vhosts.get(name)
        if vhost is None:
            raise ConnectionError_(NOT_ALLOWED, f"vhost {name} not found")
        self.grant = check_vhost_open(self, name)
        assert self.user is not None
        self.vhost = vhost
        self.state = State.OPEN
        self.node.counters.connections_opened += 1
        self.send_method(0, spec.ConnectionOpenOk())
        conn_log.authenticated(self, self.user.name, name)

    def _handshake_timeout(self) -> None:
        if self.state in (
            State.AWAIT_HEADER,
            State.AWAIT_START_OK,
            State.AWAIT_TUNE_OK,
            State.AWAIT_OPEN,
        ):
            log.warning("%r: handshake timed out", self)
            self._close_transport()

    # -- heartbeats -----------------------------------------------------------------------

    def _schedule_heartbeat(self) -> None:
        self._heartbeat_timer = self._loop.call_later(self.heartbeat / 2, self._heartbeat_tick)

    def _heartbeat_tick(self) -> None:
        if self.state is State.CLOSED:
            return
        silent = self._loop.time() - self._last_received
        if silent > self.heartbeat * 2 and not self.paused_by:
            log.warning("%r: missed heartbeats from client, timeout: %ds", self, self.heartbeat)
            self._close_transport()
            return
        if not self._sent_since_tick:
            self._write_now(HEARTBEAT_FRAME)
        self._sent_since_tick = False
        self._schedule_heartbeat()

    # -- output ---------------------------------------------------------------------------

    def send_method(self, channel: int, method: spec.Method) -> None:
        self._queue_write(encode_method_frame(channel, method))

    def send_content(
        self, channel: int, method: spec.Method, properties_raw: bytes, body: bytes
    ) -> None:
        out = self.out
        out.append(encode_method_frame(channel, method))
        out.extend(
            encode_content_frames(channel, method.CLASS_ID, properties_raw, body, self.frame_max)
        )
        self.request_flush()

    def _queue_write(self, data: bytes) -> None:
        self.out.append(data)
        self.request_flush()

    def request_flush(self) -> None:
        """Write what is queued at the end of this loop turn (one write per turn)."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = True  # confirms below append without rescheduling
        if self.confirms_pending:
            for session in self.confirms_pending:
                session.flush_confirms()
            self.confirms_pending.clear()
        if self.out:
            if self.large_pending:
                self.large_pending = False
                self._write_pieces()
            else:
                data = b"".join(self.out)
                self.out.clear()
                self._write_now(data)
        self._flush_scheduled = False

    def _write_pieces(self) -> None:
        """Join the small pieces, pass large bodies as they are: one scatter write."""
        pieces: list[bytes] = []
        small: list[bytes] = []
        for piece in self.out:
            if len(piece) > LARGE_PIECE:
                if small:
                    pieces.append(b"".join(small))
                    small.clear()
                pieces.append(piece)
            else:
                small.append(piece)
        if small:
            pieces.append(b"".join(small))
        self.out.clear()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.writelines(pieces)
            self._sent_since_tick = True
            self.send_oct += sum(len(piece) for piece in pieces)
            self.send_cnt += 1

    def _write_now(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
            self._sent_since_tick = True
            self.send_oct += len(data)
            self.send_cnt += 1

    # -- errors and closing ---------------------------------------------------------------

    def channel_error(self, number: int, error: ChannelError) -> None:
        """Close one channel with a soft error; the connection carries on."""
        conn_log.channel_error(
            self,
            self.user.name if self.user else None,
            self.vhost.name if self.vhost else None,
            number,
            error.reply_code,
            error.reply_text,
        )
        session = self.sessions.pop(number, None)
        self.send_method(
            number,
            spec.ChannelClose(
                reply_code=error.reply_code,
                reply_text=error.reply_text,
                class_id=error.class_id,
                method_id=error.method_id,
            ),
        )
        self.proto.channel_closing(number)
        if session is not None:
            self._close_session(session)

    def _close_session(self, session: Session) -> None:
        self.confirms_pending.discard(session)
        session.closed = True
        self.node.counters.channels_closed += 1
        self.node.unregister_reply_consumer(session)
        session.channel.close()

    def fail(self, error: AMQPError, *, allow_before_open: bool = False) -> None:
        """Close the connection with a hard error (or silently before it is open)."""
        if self.state in (State.CLOSING, State.CLOSED):
            return
        if not allow_before_open:  # (a refused login was logged with its reason already)
            conn_log.connection_error(self, error.reply_code, error.reply_text)
        self._close_reason = f"closed by the broker: {error.reply_text}"
        before_open = self.state in (State.AWAIT_HEADER, State.AWAIT_START_OK, State.AWAIT_TUNE_OK)
        if before_open and not allow_before_open:
            self._silent_close()
            return
        # Replies to the frames before the bad one go out first: a basic.get-ok among
        # them carries a message that is already off its queue (no-ack) and would be lost.
        for session in self.confirms_pending:
            session.flush_confirms()
        self.confirms_pending.clear()
        self._teardown()
        self.send_method(
            0,
            spec.ConnectionClose(
                reply_code=error.reply_code,
                reply_text=error.reply_text,
                class_id=error.class_id,
                method_id=error.method_id,
            ),
        )
        self.state = State.CLOSING
        self._later(CLOSE_OK_TIMEOUT, self._close_transport)

    def close_forced(self, reason: str, *, verbatim: bool = False) -> None:
        """The operator or a shutdown closes this connection: 320 CONNECTION_FORCED.
        ``verbatim``: ``reason`` is the whole text (RabbitMQ's for a deleted vhost/user)."""
        if self.state is State.OPEN:
            text = reason
            if not verbatim:
                text = f"broker forced connection closure with reason '{reason}'"
            self.fail(ConnectionError_(CONNECTION_FORCED, text))
            self._flush()
        else:
            self._close_transport()

    def _start_drain(self) -> None:
        """close-ok is queued: send it, then read and drop until the client closes."""
        self._flush()
        self.state = State.CLOSED
        self.paused_by.clear()
        if self.transport is not None and not self.transport.is_closing():
            self._drain = Drain(self.transport, self._loop)

    def _silent_close(self) -> None:
        """Refuse without a word, after a delay (spec 2.2.4; RabbitMQ does the same)."""
        self.state = State.CLOSED
        self._teardown()
        self._later(SILENT_CLOSE_DELAY, self._close_transport)

    def _close_transport(self) -> None:
        self._flush()
        self.state = State.CLOSED
        self._teardown()
        if self.transport is not None:
            self.transport.close()

    def _teardown(self) -> None:
        """Release everything the broker holds for this connection (idempotent)."""
        if self._torn_down:
            return
        self._torn_down = True
        sessions = list(self.sessions.values())
        self.sessions.clear()
        for session in sessions:
            self._close_session(session)
        if self.vhost is not None:
            for queue in self.exclusive_queues:
                self.vhost.remove_queue(queue)
        self.exclusive_queues.clear()

    def _later(self, delay: float, callback: Callable[[], None]) -> None:
        self._timers.append(self._loop.call_later(delay, callback))
