"""QueueLog on its own, over the simulated disk: writing, settling, recovery, torn tails."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import pytest

from leveret.store.queue_log import ACK_RECORD_SIZE, QueueLog, Recovery, Segment, encode_record

from .simulated_disk import PERSISTENT, TRANSIENT, SimulatedDisk

DIR = Path("/data/queues/q")


def new_log(disk: SimulatedDisk, segment_size: int = 1 << 20) -> QueueLog:
    return QueueLog(disk, DIR, segment_size)


def write(
    log: QueueLog, seqs: range | list[int], *, persistent: bool = True, size: int = 10
) -> dict[int, Segment]:
    """Append and flush+sync messages; returns each seq's segment."""
    where = {}
    for seq in seqs:
        props = PERSISTENT if persistent else TRANSIENT
        where[seq] = log.append(seq, persistent, "", "q", props, body(seq, size))[0]
    sync(log)
    return where


def body(seq: int, size: int = 10) -> bytes:
    return (b"body-%d-" % seq).ljust(size, b"x")


def sync(log: QueueLog) -> None:
    for handle in log.flush():
        handle.sync()
    log.synced()


def recovered(disk: SimulatedDisk, segment_size: int = 1 << 20) -> tuple[QueueLog, Recovery]:
    log = new_log(disk, segment_size)
    return log, log.recover()


def seqs_of(log: QueueLog, recovery: Recovery) -> list[int]:
    out = []
    for segment, offsets in recovery.runs:
        out += [record.seq for record in log.read(segment, offsets, 0, len(offsets))]
    return out


def seg_files(disk: SimulatedDisk) -> list[str]:
    return [Path(name).name for name in disk.names(DIR)]


def test_append_flush_recover_round_trip() -> None:
    disk = SimulatedDisk()
    log = new_log(disk)
    for seq in range(1, 6):
        log.append(seq, True, "ex", f"rk{seq}", PERSISTENT, body(seq))
    assert log.dirty
    sync(log)
    assert not log.dirty
    log.close()
    log.close_retired()

    log2, recovery = recovered(disk)
    assert recovery.count == 5
    assert recovery.next_seq == 6
    assert recovery.delivered == set()
    [(segment, offsets)] = recovery.runs
    records = log2.read(segment, offsets, 0, 10)
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    assert [r.routing_key for r in records] == [f"rk{s}" for s in range(1, 6)]
    assert all(r.exchange == "ex" and r.properties_raw == PERSISTENT for r in records)
    assert [r.body for r in records] == [body(s) for s in range(1, 6)]
    # Reading from an offset in the middle of a run works too.
    assert [r.seq for r in log2.read(segment, offsets, 3, 10)] == [4, 5]


def test_unflushed_records_are_not_on_disk() -> None:
    disk = SimulatedDisk()
    log = new_log(disk)
    write(log, [1])
    log.append(2, True, "", "q", PERSISTENT, body(2))
    disk.crash()
    _, recovery = recovered(disk)
    assert recovery.count == 1


def test_flushed_but_unsynced_records_are_lost_in_a_crash() -> None:
    disk = SimulatedDisk()
    log = new_log(disk)
    write(log, [1, 2])
    log.append(3, True, "", "q", PERSISTENT, body(3))
    log.flush()  # written, never synced
    disk.crash()
    log2, recovery = recovered(disk)
    assert seqs_of(log2, recovery) == [1, 2]


def test_transient_records_do_not_come_back() -> None:
    disk = SimulatedDisk()
    log = new_log(disk)
    write(log, [1])
    write(log, [2], persistent=False)
    write(log, [3])
    log2, recovery = recovered(disk)
    assert seqs_of(log2, recovery) == [1, 3]
    assert recovery.next_seq == 4


def test_settled_messages_do_not_come_back() -> None:
    disk = SimulatedDisk()
    log = new_log(disk)
    where = write(log, range(1, 6))
    log.settle(where[2], 2, 2)
    log.settle(where[4], 4, 4)
    sync(log)
    log2, recovery = recovered(disk)
    assert seqs_of(log2, recovery) == [1, 3, 5]
    assert recovery.count == 3


def test_unsynced_settle_may_be_lost_but_the_message_is_intact() -> None:
    disk = SimulatedDisk()
    log = new_log(disk)
    where = write(log, range(1, 4))
    log.settle(where[2], 2, 2)
    log.flush()
    disk.crash()
    log2, recovery = recovered(disk)
    assert seqs_of(log2, recovery) == [1, 2, 3]


def test_delivered_messages_come_back_marked() -> None:
    disk = SimulatedDisk()
    log = new_log(disk)
    where = write(log, range(1, 5))
    log.mark_delivered(where[2], 2)
    log.mark_delivered(where[3], 3)
    log.settle(where[3], 3, 3)  # delivered, then acked: gone
    sync(log)
    log2, recovery = recovered(disk)
    assert seqs_of(log2, recovery) == [1, 2, 4]
    assert recovery.delivered == {2}


def test_torn_segment_tail_is_truncated_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    disk = SimulatedDisk()
    log = new_log(disk)
    write(log, range(1, 4))
    [seg] = [n for n in disk.names(DIR) if n.endswith(".seg")]
    good = len(disk.content(seg))
    half = encode_record(4, True, "", "q", PERSISTENT, body(4))[:-5]
    disk.put(seg, disk.content(seg) + half)

    with caplog.at_level(logging.WARNING, logger="leveret.store"):
        log2, recovery = recovered(disk)
    assert seqs_of(log2, recovery) == [1, 2, 3]
    assert len(disk.content(seg)) == good  # truncated back to the last whole record
    assert any("truncating" in r.getMessage() and seg in r.getMessage() for r in caplog.records)
    # The log keeps working after the truncation.
    log2.append(recovery.next_seq, True, "", "q", PERSISTENT, body(9))
    sync(log2)
    log3, again = recovered(disk)
    assert seqs_of(log3, again) == [1, 2, 3, 4]


@pytest.mark.parametrize("garbage", [b"\0" * 40, b"\xff" * 3, bytes(range(7, 90))])
def test_garbage_tail_is_truncated(garbage: bytes, caplog: pytest.LogCaptureFixture) -> None:
    disk = SimulatedDisk()
    write(new_log(disk), range(1, 3))
    [seg] = [n for n in disk.names(DIR) if n.endswith(".seg")]
    disk.put(seg, disk.content(seg) + garbage)
    with caplog.at_level(logging.WARNING, logger="leveret.store"):
        log, recovery = recovered(disk)
    assert seqs_of(log, recovery) == [1, 2]
    assert "truncating" in caplog.text


def test_corrupt_record_in_the_middle(caplog: pytest.LogCaptureFixture) -> None:
    """A bad checksum ends the readable part of the segment; the store still starts."""
    disk = SimulatedDisk()
    write(new_log(disk), range(1, 6))
    [seg] = [n for n in disk.names(DIR) if n.endswith(".seg")]
    size = len(encode_record(1, True, "", "q", PERSISTENT, body(1)))
    disk.poke(seg, 2 * size + size - 3, b"!")  # flip a body byte of record 3
    with caplog.at_level(logging.WARNING, logger="leveret.store"):
        log, recovery = recovered(disk)
    assert seqs_of(log, recovery) == [1, 2]
    assert "truncating" in caplog.text
    assert len(disk.content(seg)) == 2 * size


def test_segments_rotate_and_fully_settled_ones_are_deleted() -> None:
    disk = SimulatedDisk()
    record = len(encode_record(1, True, "", "q", PERSISTENT, body(1)))
    log = new_log(disk, segment_size=3 * record)
    where = write(log, range(1, 10))  # three segments of three records
    segments = sorted({s.id for s in where.values()})
    assert len(segments) == 3
    assert len([n for n in seg_files(disk) if n.endswith(".seg")]) == 3

    first = where[1]
    for seq in (1, 2, 3):
        log.settle(first, seq, seq)
    sync(log)
    assert first.id not in log.segments
    assert not disk.exists(first.path) and not disk.exists(first.ack_path)
    # The current segment stays even when everything in it is settled...
    last = where[9]
    for seq in (7, 8, 9):
        log.settle(last, seq, seq)
    sync(log)
    assert disk.exists(last.path)
    # ...and recovery removes it, as it removes any fully settled segment.
    log2, recovery = recovered(disk, segment_size=3 * record)
    assert seqs_of(log2, recovery) == [4, 5, 6]
    assert not disk.exists(last.path)
    assert recovery.next_seq == 10


def test_settled_before_flush_segment_dropped_after_write() -> None:
    disk = SimulatedDisk()
    record = len(encode_record(1, True, "", "q", PERSISTENT, body(1)))
    log = new_log(disk, segment_size=2 * record)
    where = {s: log.append(s, True, "", "q", PERSISTENT, body(s))[0] for s in (1, 2, 3)}
    log.settle(where[1], 1, 1)
    log.settle(where[2], 2, 2)  # segment 1 fully settled while its records are buffered
    sync(log)
    assert where[1].id not in log.segments
    assert not disk.exists(where[1].path)
    log2, recovery = recovered(disk, segment_size=2 * record)
    assert seqs_of(log2, recovery) == [3]


def test_range_settle_as_purge_does() -> None:
    disk = SimulatedDisk()
    log = new_log(disk)
    where = write(log, range(1, 11))
    segment = where[1]
    log.settle(segment, 4, 10, 7)  # purge of 4..10
    sync(log)
    log2, recovery = recovered(disk)
    assert seqs_of(log2, recovery) == [1, 2, 3]
    assert recovery.next_seq == 11


def test_ack_file_torn_tail(caplog: pytest.LogCaptureFixture) -> None:
    disk = SimulatedDisk()
    log = new_log(disk)
    where = write(log, range(1, 5))
    log.settle(where[1], 1, 1)
    sync(log)
    ack = str(where[1].ack_path)
    whole = disk.content(ack)
    assert len(whole) == ACK_RECORD_SIZE
    # A second ack record, torn half way.
    log.settle(where[2], 2, 2)
    sync(log)
    disk.put(ack, disk.content(ack)[: ACK_RECORD_SIZE + 9])
    with caplog.at_level(logging.WARNING, logger="leveret.store"):
        log2, recovery = recovered(disk)
    assert seqs_of(log2, recovery) == [2, 3, 4]
    assert disk.content(ack) == whole
    assert "truncating torn tail" in caplog.text
    # Acks appended after the truncation are read back.
    segment = recovery.runs[0][0]
    log2.settle(segment, 3, 3)
    sync(log2)
    log3, again = recovered(disk)
    assert seqs_of(log3, again) == [2, 4]


def test_ack_record_with_bad_checksum_ends_the_ack_file() -> None:
    disk = SimulatedDisk()
    log = new_log(disk)
    where = write(log, range(1, 4))
    for seq in (1, 2):
        log.settle(where[seq], seq, seq)
    sync(log)
    ack = str(where[1].ack_path)
    disk.poke(ack, ACK_RECORD_SIZE + 5, b"\x99")
    log2, recovery = recovered(disk)
    assert seqs_of(log2, recovery) == [2, 3]
    assert len(disk.content(ack)) == ACK_RECORD_SIZE


def test_next_seq_continues_after_restart() -> None:
    disk = SimulatedDisk()
    log = new_log(disk)
    where = write(log, range(1, 8))
    for seq in range(4, 8):
        log.settle(where[seq], seq, seq)
    sync(log)
    log2, recovery = recovered(disk)
    assert recovery.next_seq == 8
    write(log2, [recovery.next_seq, recovery.next_seq + 1])
    log3, again = recovered(disk)
    assert seqs_of(log3, again) == [1, 2, 3, 8, 9]
    assert again.next_seq == 10


def test_appends_after_recovery_go_to_a_new_segment() -> None:
    disk = SimulatedDisk()
    write(new_log(disk), [1, 2])
    before = seg_files(disk)
    log, recovery = recovered(disk)
    write(log, [recovery.next_seq])
    after = seg_files(disk)
    assert set(before) < set(after)
    assert len([n for n in after if n.endswith(".seg")]) == 2


def test_duplicate_seq_is_kept_once() -> None:
    """Compaction copies records forward: the same seq twice is one message."""
    disk = SimulatedDisk()
    log = new_log(disk)
    write(log, [1, 2])
    [seg] = [n for n in disk.names(DIR) if n.endswith(".seg")]
    disk.put(seg, disk.content(seg) + encode_record(1, True, "", "q", PERSISTENT, body(1)))
    log2, recovery = recovered(disk)
    assert seqs_of(log2, recovery) == [1, 2]
    assert recovery.count == 2


def test_destroy_removes_everything() -> None:
    disk = SimulatedDisk()
    log = new_log(disk)
    write(log, range(1, 4))
    log.destroy()
    assert disk.names(DIR) == []
    _, recovery = recovered(disk)
    assert recovery.count == 0 and recovery.runs == []


def test_record_header_is_length_and_crc() -> None:
    record = encode_record(7, True, "ex", "rk", PERSISTENT, b"hello")
    length, _crc = struct.unpack(">II", record[:8])
    assert length == len(record) - 8
