"""A consumer: a subscription of one channel to one queue, with its prefetch credit."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leveret.broker.channel import Channel
    from leveret.broker.message import QueueEntry
    from leveret.broker.queue import Queue


class Consumer:
    __slots__ = (
        "arguments",
        "channel",
        "exclusive",
        "no_ack",
        "prefetch",
        "priority",
        "queue",
        "stream_offset",
        "tag",
        "unacked",
    )

    def __init__(
        self,
        tag: str,
        channel: Channel,
        queue: Queue,
        *,
        no_ack: bool,
        exclusive: bool,
        prefetch: int,
        priority: int = 0,
    ):
        self.tag = tag
        self.channel = channel
        self.queue = queue
        self.no_ack = no_ack
        self.exclusive = exclusive
        self.prefetch = prefetch
        self.priority = priority  # x-priority: higher-priority consumers are served first
        self.unacked = 0
        self.stream_offset: object = None  # x-stream-offset, for stream queues
        # basic.consume's arguments as the client sent them (the management API shows them).
        self.arguments: dict[str, object] = {}

    def __repr__(self) -> str:
        return f"<Consumer {self.tag!r} on {self.queue.name!r}>"

    def can_take(self) -> bool:
        channel = self.channel
        if not channel.sink.writable:
            return False
        if self.no_ack:
            return True
        if self.prefetch and self.unacked >= self.prefetch:
            return False
        return not channel.global_prefetch or channel.consumer_unacked < channel.global_prefetch

    def deliver(self, queue: Queue, entry: QueueEntry) -> None:
        self.channel.deliver(self, queue, entry)
