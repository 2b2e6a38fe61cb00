"""The on-disk log of one durable queue: append-only segments plus per-segment ack files.

A segment record is ``u32 length, u32 crc32, payload`` where the payload is ``u64 seq,
u8 flags, u64 expiry (unix ms, 0 = none), u8+exchange, u8+routing key, u32+properties,
body``. Sequence numbers are the queue's own and keep increasing across restarts. An
ack-file record is ``u8 kind, u64 first, u64 last, u32 crc32`` and says that messages
first..last were settled (gone for good) or delivered (so they come back with
redelivered=true). A segment whose records are all settled is deleted with its ack file.
Recovery truncates a torn tail instead of refusing to start.
"""

from __future__ import annotations

import logging
import struct
import zlib
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leveret.store.files import AppendFile, FileSystem

log = logging.getLogger("leveret.store")

RECORD_HEADER = struct.Struct(">II")
PAYLOAD_HEAD = struct.Struct(">QBQ")
ACK_RECORD = struct.Struct(">BQQ")
ACK_RECORD_SIZE = ACK_RECORD.size + 4
FLAG_PERSISTENT = 1
SETTLED = 1
DELIVERED = 2
DEFAULT_SEGMENT_SIZE = 8 * 1024 * 1024
# A record can never be larger than this (RabbitMQ's hard cap on message size is 512 MiB).
MAX_RECORD = 600 * 1024 * 1024
# A closed segment is compacted (its few live messages copied forward, the file deleted)
# once at most 1/COMPACT_RATIO of its records are live, so a stuck message pins little.
COMPACT_RATIO = 16
COMPACT_MIN_RECORDS = 32


@dataclass(eq=False)
class Segment:
    id: int
    path: Path
    ack_path: Path
    size: int = 0  # bytes written or buffered
    records: int = 0
    settled: int = 0
    file: AppendFile | None = None
    ack_file: AppendFile | None = None
    pending: bytearray = field(default_factory=bytearray)
    pending_acks: bytearray = field(default_factory=bytearray)
    compacting: bool = False

    @property
    def live(self) -> int:
        return self.records - self.settled


@dataclass
class StoredRecord:
    seq: int
    persistent: bool
    exchange: str
    routing_key: str
    properties_raw: bytes
    body: bytes
    size: int  # of the whole record on disk
    expires: float = 0.0  # unix seconds, 0 = never


@dataclass
class Recovery:
    """What survived: live records in order as (segment, offsets), and delivered seqs."""

    runs: list[tuple[Segment, array[int]]]
    delivered: set[int]
    next_seq: int
    count: int


def encode_record(
    seq: int,
    persistent: bool,
    exchange: str,
    routing_key: str,
    properties: bytes,
    body: bytes,
    expires: float = 0.0,
) -> bytes:
    ex = exchange.encode("utf-8", "surrogateescape")
    rk = routing_key.encode("utf-8", "surrogateescape")
    payload = b"".join(
        (
            PAYLOAD_HEAD.pack(seq, FLAG_PERSISTENT if persistent else 0, int(expires * 1000)),
            bytes((len(ex),)),
            ex,
            bytes((len(rk),)),
            rk,
            struct.pack(">I", len(properties)),
            properties,
            body,
        )
    )
    return RECORD_HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def decode_record(data: bytes | memoryview, offset: int) -> StoredRecord | None:
    """The record at ``offset``, or None if it is incomplete or fails its checksum."""
    end_of_header = offset + RECORD_HEADER.size
    if end_of_header > len(data):
        return None
    length, crc = RECORD_HEADER.unpack_from(data, offset)
    end = end_of_header + length
    if length < PAYLOAD_HEAD.size + 6 or length > MAX_RECORD or end > len(data):
        return None
    payload = bytes(data[end_of_header:end])
    if zlib.crc32(payload) != crc:
        return None
    try:
        seq, flags, expires_ms = PAYLOAD_HEAD.unpack_from(payload, 0)
        pos = PAYLOAD_HEAD.size
        ex_len = payload[pos]
        exchange = payload[pos + 1 : pos + 1 + ex_len].decode("utf-8", "surrogateescape")
        pos += 1 + ex_len
        rk_len = payload[pos]
        routing_key = payload[pos + 1 : pos + 1 + rk_len].decode("utf-8", "surrogateescape")
        pos += 1 + rk_len
        (props_len,) = struct.unpack_from(">I", payload, pos)
        pos += 4
        properties = payload[pos : pos + props_len]
        body = payload[pos + props_len :]
    except (IndexError, struct.error):
        return None
    return StoredRecord(
        seq,
        bool(flags & FLAG_PERSISTENT),
        exchange,
        routing_key,
        properties,
        body,
        end - offset,
        expires_ms / 1000,
    )


def scan_record(data: bytes, offset: int) -> tuple[int, bool, int] | None:
    """(seq, persistent, size) of the record at ``offset`` after checking its CRC, or None.

    Recovery only needs these three, so it skips decoding names, properties and body.
    """
    end_of_header = offset + RECORD_HEADER.size
    if end_of_header > len(data):
        return None
    length, crc = RECORD_HEADER.unpack_from(data, offset)
    end = end_of_header + length
    if length < PAYLOAD_HEAD.size + 6 or length > MAX_RECORD or end > len(data):
        return None
    if zlib.crc32(memoryview(data)[end_of_header:end]) != crc:
        return None
    seq, flags, _ = PAYLOAD_HEAD.unpack_from(data, end_of_header)
    return seq, bool(flags & FLAG_PERSISTENT), end - offset


def _ack_record(kind: int, first: int, last: int) -> bytes:
    head = ACK_RECORD.pack(kind, first, last)
    return head + struct.pack(">I", zlib.crc32(head))


class QueueLog:
    """Segments of one queue. Writes are buffered until ``flush``; the store syncs them."""

    def __init__(
        self,
        fs: FileSystem,
        directory: Path,
        segment_size: int = DEFAULT_SEGMENT_SIZE,
        on_dirty: Callable[[], None] | None = None,
    ):
        self.on_dirty = on_dirty
        self.fs = fs
        self.directory = directory
        self.segment_size = segment_size
        self.segments: dict[int, Segment] = {}
        self.current: Segment | None = None
        self.dirty = False
        self._next_segment_id = 1
        # Handles of dropped segments; the store closes them when no fsync may be using them.
        self.retired: list[AppendFile] = []
        self._unsynced: list[AppendFile] = []  # written, not yet handed to an fsync
        self.directory_dirty = False
        self._directory_made = False
        # Called with a sparse segment; the owner answers with ``relocate`` (or not).
        self.on_sparse: Callable[[Segment], None] | None = None
        # Compacted segments, dropped once the copies of their live records are synced.
        self._drop_after_sync: list[Segment] = []
        self._drop_ready: list[Segment] = []

    # -- writing --------------------------------------------------------------------------

    def _touch(self) -> None:
        if not self.dirty:
            self.dirty = True
            if self.on_dirty is not None:
                self.on_dirty()

    def _segment(self, segment_id: int) -> Segment:
        return Segment(
            segment_id,
            self.directory / f"{segment_id:020d}.seg",
            self.directory / f"{segment_id:020d}.ack",
        )

    def _writable_segment(self) -> Segment:
        current = self.current
        if current is None or current.size >= self.segment_size:
            if current is not None:
                self._retire(current)
            current = self._segment(self._next_segment_id)
            self._next_segment_id += 1
            self.segments[current.id] = current
            self.current = current
        return current

    def append(
        self,
        seq: int,
        persistent: bool,
        exchange: str,
        routing_key: str,
        properties: bytes,
        body: bytes,
        expires: float = 0.0,
    ) -> tuple[Segment, int]:
        """Buffer a record; returns its segment and offset."""
        segment = self._writable_segment()
        record = encode_record(seq, persistent, exchange, routing_key, properties, body, expires)
        offset = segment.size
        segment.pending += record
        segment.size += len(record)
        segment.records += 1
        self._touch()
        return segment, offset

    def settle(self, segment: Segment, first: int, last: int, count: int = 1) -> None:
        """Messages first..last (``count`` records of this segment) are gone for good."""
        segment.pending_acks += _ack_record(SETTLED, first, last)
        segment.settled += count
        self._touch()
        if segment is self.current or segment.compacting:
            return
        if segment.settled >= segment.records:
            self._drop(segment)
        elif (
            self.on_sparse is not None
            and segment.records >= COMPACT_MIN_RECORDS
            and segment.live * COMPACT_RATIO <= segment.records
        ):
            self.on_sparse(segment)

    def relocate(
        self, segment: Segment, entries: list[tuple[int, bool, bool, Any, float]]
    ) -> list[Any]:
        """Copy a sparse segment's live messages forward; drop it once the copies are synced.

        ``entries`` are (seq, persistent, delivered, message, expires) for each live record
        of the segment; returns the new segment of each, in order. A crash before the drop leaves
        two copies of a message with one seq, which recovery keeps once.
        """
        segment.compacting = True
        moved = []
        for seq, persistent, delivered, message, expires in entries:
            target, _ = self.append(
                seq,
                persistent,
                message.exchange,
                message.routing_key,
                message.properties_raw,
                message.body,
                expires,
            )
            if delivered:
                target.pending_acks += _ack_record(DELIVERED, seq, seq)
            moved.append(target)
        segment.settled = segment.records
        self._drop_after_sync.append(segment)
        self._touch()
        return moved

    def mark_delivered(self, segment: Segment, seq: int) -> None:
        if segment.id in self.segments:
            segment.pending_acks += _ack_record(DELIVERED, seq, seq)
            self._touch()

    def flush(self) -> list[AppendFile]:
        """Write buffered records; return the files that now need an fsync.

        On OSError (ENOSPC) whatever could not be written stays buffered for the next try,
        and the files written so far are still returned by that next call.
        """
        if not self.dirty:
            return self._take_unsynced()
        for segment in list(self.segments.values()):
            if segment.pending:
                if segment.file is None:
                    segment.file = self._create(segment.path)
                segment.file.write(bytes(segment.pending))  # all or nothing
                segment.pending.clear()
                self._unsynced.append(segment.file)
            if segment.pending_acks:
                if segment.ack_file is None:
                    segment.ack_file = self._create(segment.ack_path)
                segment.ack_file.write(bytes(segment.pending_acks))
                segment.pending_acks.clear()
                self._unsynced.append(segment.ack_file)
            fully_settled = segment.settled >= segment.records
            if segment is not self.current and fully_settled and not segment.compacting:
                self._drop(segment)  # settled while its records were still buffered
        # Copies made by relocate() are written now: their originals may go after this sync.
        self._drop_ready.extend(self._drop_after_sync)
        self._drop_after_sync.clear()
        self.dirty = False
        return self._take_unsynced()

    def _create(self, path: Path) -> AppendFile:
        # The directory is made here, in the store's write cycle, so that ENOSPC on a new
        # queue's first message fails that cycle (a nack) and not the publish itself.
        if not self._directory_made:
            self.fs.makedirs(self.directory)
            self._directory_made = True
        handle = self.fs.open_append(path)
        self.directory_dirty = True  # the new name must be made durable too
        return handle

    def flush_failed(self) -> list[AppendFile]:
        """After flush raised: files written before the failure still need their fsync."""
        self.dirty = True
        return self._take_unsynced()

    def _take_unsynced(self) -> list[AppendFile]:
        files, self._unsynced = self._unsynced, []
        return files

    def sync_directory(self) -> None:
        """Make new file names durable (runs on the store's fsync thread); the parent too,
        since the queue's directory itself may be new."""
        self.fs.sync_dir(self.directory)
        self.fs.sync_dir(self.directory.parent)

    def synced(self) -> None:
        """The store's fsync of everything flushed so far has completed."""
        ready, self._drop_ready = self._drop_ready, []
        for segment in ready:
            self._drop(segment)

    def _retire(self, segment: Segment) -> None:
        if segment.settled >= segment.records:
            self._drop(segment)

    def _drop(self, segment: Segment) -> None:
        if segment.pending:
            return  # its records are not even written yet; drop it after the flush
        self.segments.pop(segment.id, None)
        for handle in (segment.file, segment.ack_file):
            if handle is not None:
                self.retired.append(handle)
        segment.file = segment.ack_file = None
        segment.pending_acks.clear()
        self.fs.remove(segment.path)
        self.fs.remove(segment.ack_path)

    # -- reading --------------------------------------------------------------------------

    def read(
        self, segment: Segment, offsets: array[int], start: int, limit: int
    ) -> list[StoredRecord]:
        """Read up to ``limit`` records at ``offsets[start:]`` of one segment, in one pass.

        Records still buffered are read from the buffer: flushing here would hide the
        written files from the store's next fsync.
        """
        end = min(len(offsets), start + limit)
        if start >= end:
            return []
        # Offsets follow seq order, which compaction can make differ from file order.
        first = min(offsets[start:end])
        written = segment.size - len(segment.pending)
        if first >= written:
            chunk = bytes(segment.pending[first - written :])
        else:
            chunk = self.fs.read_range(segment.path, first, written - first) + bytes(
                segment.pending
            )
        records: list[StoredRecord] = []
        for i in range(start, end):
            record = decode_record(chunk, offsets[i] - first)
            if record is None:
                raise OSError(f"unreadable record at {segment.path}:{offsets[i]}")
            records.append(record)
        return records

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Retire every open handle (the store closes them once no fsync runs)."""
        for segment in self.segments.values():
            for handle in (segment.file, segment.ack_file):
                if handle is not None:
                    self.retired.append(handle)
            segment.file = segment.ack_file = None

    def close_retired(self) -> None:
        for handle in self.retired:
            handle.close()
        self.retired.clear()

    def destroy(self) -> None:
        self.close()
        self.segments.clear()
        self.current = None
        self.dirty = False
        self.fs.remove_tree(self.directory)

    def recover(self) -> Recovery:
        """Scan the directory: settle what the ack files say, truncate torn tails."""
        names = self.fs.listdir(self.directory)
        ids = sorted({int(name[:20]) for name in names if name[:20].isdigit()})
        max_acked = 0
        settled_single: set[int] = set()
        settled_ranges: list[tuple[int, int]] = []
        delivered: set[int] = set()
        for segment_id in ids:
            for kind, first, last in self._read_acks(self._segment(segment_id).ack_path):
                # Seqs named by acks must never be reused, even if their segment is gone.
                max_acked = max(max_acked, last)
                if kind == DELIVERED:
                    delivered.add(first)
                elif first == last:
                    settled_single.add(first)
                else:
                    settled_ranges.append((first, last))

        def is_settled(seq: int) -> bool:
            if seq in settled_single:
                return True
            return bool(settled_ranges) and any(a <= seq <= b for a, b in settled_ranges)

        live: list[tuple[int, Segment, int]] = []  # (seq, segment, offset)
        seen: set[int] = set()
        max_seq = max_acked
        count = 0
        for segment_id in ids:
            segment = self._segment(segment_id)
            data = self.fs.read(segment.path) if self.fs.exists(segment.path) else b""
            offset = 0
            while offset < len(data):
                record = scan_record(data, offset)
                if record is None:
                    log.warning(
                        "truncating torn or corrupt tail of %s at byte %d (of %d)",
                        segment.path,
                        offset,
                        len(data),
                    )
                    self.fs.truncate(segment.path, offset)
                    break
                seq, persistent, size = record
                segment.records += 1
                if seq > max_seq:
                    max_seq = seq
                if not persistent or seq in seen or is_settled(seq):
                    segment.settled += 1
                else:
                    seen.add(seq)
                    live.append((seq, segment, offset))
                offset += size
            segment.size = offset
            self._next_segment_id = segment_id + 1
            if segment.records == 0 or segment.settled >= segment.records:
                self.fs.remove(segment.path)
                self.fs.remove(segment.ack_path)
                continue
            self.segments[segment_id] = segment
        # Compaction copies old messages into newer segments: queue order is seq order.
        if any(live[i][0] > live[i + 1][0] for i in range(len(live) - 1)):
            live.sort(key=lambda item: item[0])
        runs: list[tuple[Segment, array[int]]] = []
        for _, segment, offset in live:
            if not runs or runs[-1][0] is not segment:
                runs.append((segment, array("q")))
            runs[-1][1].append(offset)
            count += 1
        # Appends go to a fresh segment: recovered files are never written again but for acks.
        return Recovery(runs, delivered & seen, max_seq + 1, count)

    def _read_acks(self, path: Path) -> Iterator[tuple[int, int, int]]:
        if not self.fs.exists(path):
            return
        data = self.fs.read(path)
        usable = len(data) - len(data) % ACK_RECORD_SIZE
        for offset in range(0, usable, ACK_RECORD_SIZE):
            head = data[offset : offset + ACK_RECORD.size]
            (crc,) = struct.unpack_from(">I", data, offset + ACK_RECORD.size)
            if zlib.crc32(head) != crc:
                usable = offset
                break
            yield ACK_RECORD.unpack(head)
        if usable != len(data):
            log.warning("truncating torn tail of %s at byte %d", path, usable)
            self.fs.truncate(path, usable)
