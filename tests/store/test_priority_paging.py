"""Durable priority queues (x-max-priority): paging beyond the memory budget, per level,
and priority order after a restart (clean or power loss)."""

from __future__ import annotations

import random

from leveret.amqp.spec import BasicProperties
from leveret.broker.channel import Channel
from leveret.broker.message import Message
from leveret.broker.queue import Queue
from leveret.store.memory import MemoryDefinitionStore

from .simulated_disk import RecordingSink, Rig, SimulatedDisk, message_id

SIZES = dict(segment_size=4096, memory_budget=600)
PADDING = 40


def prio_message(n: int, priority: int | None, padding: int = PADDING) -> Message:
    body = b"m%08d." % n + bytes(padding)
    props = BasicProperties(delivery_mode=2, priority=priority).encode()
    return Message("", "pq", props, body)


def declare(rig: Rig, max_priority: int = 9) -> Queue:
    return rig.vhost.declare_queue(
        "pq", None, durable=True, arguments={"x-max-priority": max_priority}
    )


def expected_order(published: dict[int, int]) -> list[int]:
    return sorted(published, key=lambda n: (-published[n], n))


def take_all(queue: Queue, channel: Channel, no_ack: bool = True) -> list[int]:
    got = []
    while (item := channel.get(queue, no_ack=no_ack)) is not None:
        got.append(message_id(item[1].message))
    return got


def publish_many(rig: Rig, rng: random.Random, count: int, start: int = 1) -> dict[int, int]:
    published = {}
    for n in range(start, start + count):
        priority = rng.choice((None, 0, 1, 3, 5, 9, 12))  # 12 counts as the maximum, 9
        rig.publish(prio_message(n, priority))
        published[n] = min(priority or 0, 9)
    return published


def test_priority_queue_pages_beyond_its_memory_budget_and_keeps_priority_order() -> None:
    rng = random.Random(1)
    disk = SimulatedDisk()
    rig = Rig(disk, MemoryDefinitionStore(), **SIZES)
    queue = declare(rig)
    published = publish_many(rig, rng, 300)
    rig.run()
    assert queue.paged_count > 200  # bodies stay on disk
    assert queue.ready_bytes <= SIZES["memory_budget"] + PADDING + 10
    assert queue.message_count == 300
    channel = Channel(1, object(), RecordingSink())
    assert take_all(queue, channel) == expected_order(published)
    assert queue.message_count == 0 and not queue.paging


def test_interleaved_publish_and_get_always_serve_the_highest_priority() -> None:
    rng = random.Random(2)
    rig = Rig(SimulatedDisk(), MemoryDefinitionStore(), **SIZES)
    queue = declare(rig)
    channel = Channel(1, object(), RecordingSink())
    present: dict[int, int] = {}
    n = 0
    for _ in range(600):
        if rng.random() < 0.6:
            n += 1
            present.update(publish_many(rig, rng, 1, start=n))
        else:
            item = channel.get(queue, no_ack=True)
            if not present:
                assert item is None
                continue
            assert item is not None
            got = message_id(item[1].message)
            assert got == expected_order(present)[0]
            del present[got]
        if rng.random() < 0.3:
            rig.run()
        assert queue.message_count == len(present)
    assert queue.paged_count  # the budget was exceeded at the end too
    assert take_all(queue, channel) == expected_order(present)


def test_priority_order_and_paging_survive_a_power_loss() -> None:
    rng = random.Random(3)
    disk = SimulatedDisk()
    definitions = MemoryDefinitionStore()
    rig = Rig(disk, definitions, **SIZES)
    declare(rig)
    published = publish_many(rig, rng, 300)
    rig.run()
    disk.crash()
    rig = Rig(disk, definitions, **SIZES)
    queue = rig.vhost.queues["pq"]
    assert queue.message_count == 300
    assert queue.paged_count > 200  # recovered, but not all loaded into memory
    assert queue.ready_bytes <= SIZES["memory_budget"] + PADDING + 10
    channel = Channel(1, object(), RecordingSink())
    assert take_all(queue, channel) == expected_order(published)


def test_purge_of_a_paged_priority_queue_keeps_unacked_messages() -> None:
    rng = random.Random(4)
    disk = SimulatedDisk()
    definitions = MemoryDefinitionStore()
    rig = Rig(disk, definitions, **SIZES)
    queue = declare(rig)
    published = publish_many(rig, rng, 200)
    rig.run()
    assert queue.paged_count > 100
    channel = Channel(1, object(), RecordingSink())
    # Unacked deliveries from the top levels, then lower ones after a late top message:
    # their seqs interleave with the paged messages the purge settles.
    unacked = []
    for _ in range(5):
        item = channel.get(queue, no_ack=False)
        assert item is not None
        unacked.append(message_id(item[1].message))
    rig.publish(prio_message(999, 9))
    item = channel.get(queue, no_ack=False)
    assert item is not None
    unacked.append(message_id(item[1].message))
    assert unacked == expected_order({**published, 999: 9})[:6]
    assert queue.purge() == 200 + 1 - 6
    rig.run()
    disk.crash()
    rig = Rig(disk, definitions, **SIZES)
    queue = rig.vhost.queues["pq"]
    channel = Channel(1, object(), RecordingSink())
    back = []
    while (got := channel.get(queue, no_ack=True)) is not None:
        back.append((message_id(got[1].message), got[1].redelivered))
    assert sorted(back) == sorted((n, True) for n in unacked)
