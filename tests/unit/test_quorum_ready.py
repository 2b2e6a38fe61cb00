"""The two-priority ready store of a rabbitmq-4 quorum queue (RabbitMQ 4.0's rabbit_fifo_q)."""

from __future__ import annotations

from leveret.amqp.spec import BasicProperties
from leveret.broker.message import Message, QueueEntry
from leveret.broker.quorum_ready import QuorumReady


def entry(seq: int, name: str, priority: int | None) -> QueueEntry:
    properties = BasicProperties(priority=priority).encode()
    return QueueEntry(seq, Message("", "q", properties, name.encode()))


def fill(*messages: tuple[str, int | None]) -> QuorumReady:
    ready = QuorumReady()
    for seq, (name, priority) in enumerate(messages, 1):
        ready.append(entry(seq, name, priority))
    return ready


def take(ready: QuorumReady) -> str:
    """Pop the next message, checking first that the head shows the same one."""
    head = ready[0]
    popped = ready.popleft()
    assert popped is head
    return popped.message.body.decode()


def test_high_goes_first_but_every_third_takes_the_older_head():
    ready = fill(("n1", None), ("n2", 1), ("n3", 4), ("h1", 5), ("h2", 9), ("h3", 255))
    assert len(ready) == 6
    assert [take(ready) for _ in range(6)] == ["h1", "h2", "n1", "h3", "n2", "n3"]
    assert not ready


def test_on_the_third_turn_an_older_high_head_still_wins():
    ready = fill(("h1", 5), ("h2", 5), ("h3", 5), ("n1", None))
    assert [take(ready) for _ in range(4)] == ["h1", "h2", "h3", "n1"]


def test_returned_messages_go_first_and_leave_the_turn_count_alone():
    ready = fill(("n1", None), ("h1", 5), ("h2", 5), ("h3", 5))
    first = ready.popleft()  # h1; the count moves to 1
    ready.requeue([first])
    assert len(ready) == 4
    # Had the return counted, the next turn would be the third and take n1 before h2.
    assert [take(ready) for _ in range(4)] == ["h1", "h2", "n1", "h3"]


def test_clear_and_iteration():
    ready = fill(("n1", None), ("h1", 5))
    ready.requeue([ready.popleft()])
    assert sorted(e.message.body for e in ready) == [b"h1", b"n1"]
    ready.clear()
    assert len(ready) == 0 and list(ready) == []
