"""Delayed messages over the simulated disk: confirms wait for the fsync of the exchange's
log, what was confirmed survives power loss, a released message is forgotten only once
synced, and many pending messages hold one timer and no bodies in memory.

The vhost, message store and publish path are the real ones; the disk, the store's runner
and the clock are stepped by hand so the test decides what happens between a write and
its fsync, and when time passes.
"""

from __future__ import annotations

from leveret.amqp.spec import BasicProperties
from leveret.broker.clock import ManualClock
from leveret.broker.delayed import DelayedMessages
from leveret.broker.publish import Confirms, Publisher, publish
from leveret.broker.vhost import VirtualHost
from leveret.store.message_store import MessageStore, queue_directory_name

from .simulated_disk import QUEUE_DIR, ManualRunner, SimulatedDefinitionStore, SimulatedDisk

EXCHANGE = "delayed"
QUEUE = "target"


class Boot:
    """One broker start over ``disk``, recovering what it holds (as Node._recover)."""

    def __init__(self, disk: SimulatedDisk, definitions: SimulatedDefinitionStore):
        self.clock = ManualClock()
        self.runner = ManualRunner()
        self.store = MessageStore(disk, QUEUE_DIR, self.runner, 4096)
        self.vhost = VirtualHost("/", definitions=definitions, logs=self.store, clock=self.clock)
        kept = set()
        for queue in self.vhost.restore(definitions.load()):
            kept.add(queue_directory_name("/", queue.name))
            if queue.log is not None:
                recovery = self.store.open_queue("/", queue.name).recover()
                queue.restore(recovery.runs, recovery.delivered, recovery.next_seq)
        self.store.remove_orphans(kept)
        self.confirms = Confirms()
        self.publisher = Publisher(confirms=self.confirms, store=self.store)

    def declare(self) -> None:
        self.vhost.declare_exchange(
            EXCHANGE, "x-delayed-message", durable=True, arguments={"x-delayed-type": "direct"}
        )
        self.vhost.declare_queue(QUEUE, None, durable=True)
        self.vhost.bind(EXCHANGE, self.vhost.queues[QUEUE], "k", None)

    def publish(self, body: bytes, delay: int, persistent: bool = True) -> None:
        properties = BasicProperties(
            delivery_mode=2 if persistent else 1, headers={"x-delay": delay}
        )
        publish(self.vhost, EXCHANGE, "k", properties.encode(), body, publisher=self.publisher)

    @property
    def delayed(self) -> DelayedMessages:
        delayed = self.vhost.exchanges[EXCHANGE].delayed
        assert isinstance(delayed, DelayedMessages)
        return delayed

    def queued(self) -> list[bytes]:
        queue = self.vhost.queues[QUEUE]
        return [entry.message.body for entry in queue.ready]


def _fresh() -> tuple[SimulatedDisk, SimulatedDefinitionStore, Boot]:
    disk = SimulatedDisk()
    definitions = SimulatedDefinitionStore(disk)
    boot = Boot(disk, definitions)
    boot.declare()
    return disk, definitions, boot


def test_confirm_only_after_the_log_is_synced_and_survives_power_loss() -> None:
    disk, definitions, boot = _fresh()
    boot.publish(b"one", 1000)
    assert boot.confirms.ready() == []  # written to the buffer, not yet on disk
    boot.runner.run_all()
    assert boot.confirms.ready() == [(1, False, True)]
    disk.crash()
    after = Boot(disk, definitions)
    assert after.delayed.count == 1
    assert after.queued() == []
    after.clock.advance(0.999)
    assert after.queued() == []
    after.clock.advance(0.002)
    assert after.queued() == [b"one"]
    message = after.vhost.queues[QUEUE].ready[0].message
    assert message.headers == {"x-delay": -1000}


def test_power_loss_before_the_fsync_loses_only_unconfirmed_messages() -> None:
    disk, definitions, boot = _fresh()
    boot.publish(b"synced", 500)
    boot.runner.run_all()
    boot.publish(b"unsynced", 500)
    assert len(boot.confirms.ready()) == 1
    disk.crash()
    after = Boot(disk, definitions)
    assert after.delayed.count == 1
    after.clock.advance(1)
    assert after.queued() == [b"synced"]


def test_transient_delayed_messages_do_not_survive() -> None:
    disk, definitions, boot = _fresh()
    boot.publish(b"transient", 500, persistent=False)
    boot.runner.run_all()
    assert boot.confirms.ready() == [(1, False, True)]  # nothing to store: confirmed at once
    disk.crash()
    assert Boot(disk, definitions).delayed.count == 0


def test_a_released_message_is_forgotten_once_synced() -> None:
    disk, definitions, boot = _fresh()
    boot.publish(b"once", 100)
    boot.runner.run_all()
    boot.clock.advance(0.2)
    assert boot.queued() == [b"once"]
    boot.runner.run_all()  # the queue's copy and the delayed log's settlement are synced
    disk.crash()
    after = Boot(disk, definitions)
    assert after.delayed.count == 0
    assert after.queued() == [b"once"]


def test_a_crash_before_the_release_is_synced_delivers_again_rather_than_never() -> None:
    disk, definitions, boot = _fresh()
    boot.publish(b"again", 100)
    boot.runner.run_all()
    boot.clock.advance(0.2)
    assert boot.queued() == [b"again"]
    disk.crash()  # neither the queue's copy nor the settlement reached the disk
    after = Boot(disk, definitions)
    assert after.delayed.count == 1
    after.clock.advance(0.2)
    assert after.queued() == [b"again"]


def test_many_pending_messages_hold_one_timer_and_no_bodies() -> None:
    _disk, _definitions, boot = _fresh()
    count = 1000
    # Decreasing delays: every publish moves the earliest due time, re-arming the timer.
    for i in range(count):
        boot.publish(b"m%05d" % i, 2000 - i)
    boot.runner.run_all()
    armed = [timer for timer in boot.clock._timers if not timer[3][0]]
    assert len(armed) == 1
    assert boot.delayed.count == count
    assert boot.delayed._in_memory == {}  # bodies are in the log, not in memory
    boot.clock.advance(2)
    assert boot.queued() == [b"m%05d" % i for i in reversed(range(count))]
    assert boot.delayed.count == 0


def test_deleting_the_exchange_drops_its_pending_messages() -> None:
    disk, definitions, boot = _fresh()
    boot.publish(b"gone", 100)
    boot.runner.run_all()
    boot.vhost.delete_exchange(EXCHANGE)
    boot.runner.run_all()
    disk.crash()
    after = Boot(disk, definitions)
    after.declare()
    after.clock.advance(1)
    assert after.delayed.count == 0
    assert after.queued() == []
