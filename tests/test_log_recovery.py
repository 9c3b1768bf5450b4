"""On-disk logs and crash recovery: reopen, torn writes, corruption, missing indexes (section A #13)."""
import os

import pytest

from msglib.log import CorruptRecordError, Log, LogConfig, MemoryStorage, Record


def fill(log, n, per_batch=1, epoch=0):
    for i in range(n):
        base = log.log_end_offset
        log.append([Record(b"k%d" % ((base + j) % 7), b"value-%d" % (base + j), 1000 + base + j)
                    for j in range(per_batch)], leader_epoch=epoch)


def values(log):
    return [(r.offset, r.value) for r in log.records()]


def seg_files(path):
    return sorted(f for f in os.listdir(path) if f.endswith(".log"))


CFG = LogConfig(segment_bytes=600, index_interval_bytes=100)


def test_disk_log_reopens_cleanly_with_its_indexes(tmp_path):
    d = str(tmp_path / "orders-0")
    log = Log(directory=d, config=CFG)
    fill(log, 40, epoch=3)
    expected, bases = values(log), log.base_offsets
    entries = [s.offset_index.entries() for s in log.segments]
    log.close()
    assert os.path.exists(os.path.join(d, ".clean-shutdown"))
    again = Log(directory=d, config=CFG)
    r = again.recovery_report
    assert r.clean_shutdown and not r.recovered and not r.rebuilt_indexes and not r.truncated
    assert values(again) == expected and again.base_offsets == bases
    assert [s.offset_index.entries() for s in again.segments] == entries
    assert (again.topic, again.partition) == ("orders", 0)
    assert again.leader_epoch_cache.entries == [(3, 0)]
    assert again.append([b"more"]).first_offset == 40


def test_torn_write_is_cut_to_the_last_whole_batch(tmp_path):
    d = str(tmp_path / "t-0")
    log = Log(directory=d, config=CFG)
    fill(log, 20)
    expected = values(log)
    last = log.active_segment
    last_batch_size = list(last.batches())[-1].size_in_bytes
    log.abandon()                                       # a crash: no clean shutdown
    path = os.path.join(d, last.file_name)
    os.truncate(path, os.path.getsize(path) - last_batch_size // 2)
    again = Log(directory=d, config=CFG)
    r = again.recovery_report
    assert not r.clean_shutdown and r.truncated_bytes == last_batch_size - last_batch_size // 2
    assert "torn write" in r.first_problem.problem and r.first_problem.segment == last.file_name
    assert values(again) == expected[:-1]
    assert again.log_end_offset == 19
    assert "UNCLEAN" in r.summary() and "cut" in r.summary()


def test_flipped_byte_in_the_tail_is_detected_by_crc(tmp_path):
    d = str(tmp_path / "t-0")
    log = Log(directory=d, config=CFG)
    fill(log, 12)
    expected = values(log)
    seg = log.active_segment
    positions = [p for p, _ in seg.batch_headers()]
    log.abandon()
    path = os.path.join(d, seg.file_name)
    with open(path, "r+b") as f:
        f.seek(positions[-2] + 70)                      # inside the second-to-last batch's record
        byte = f.read(1)
        f.seek(positions[-2] + 70)
        f.write(bytes([byte[0] ^ 0xFF]))
    again = Log(directory=d, config=CFG)
    assert "CRC-32C mismatch" in again.recovery_report.first_problem.problem
    assert again.recovery_report.first_problem.position == positions[-2]
    cut = expected[0][0] + len(expected) - 2
    assert values(again) == expected[:cut]


def test_full_recovery_cuts_a_corrupt_old_segment_and_keeps_the_later_ones(tmp_path):
    d = str(tmp_path / "t-0")
    log = Log(directory=d, config=CFG)
    fill(log, 40)
    expected = values(log)
    first, second, third = log.segments[0], log.segments[1], log.segments[2]
    log.close()
    path = os.path.join(d, second.file_name)
    with open(path, "r+b") as f:
        f.seek(30)
        f.write(b"\x00\x01\x02")
    # A clean open does not re-validate flushed data, but reading it never returns the bad batch:
    clean = Log(directory=d, config=CFG)
    with pytest.raises(CorruptRecordError, match=second.file_name):
        values(clean)
    clean.close()
    again = Log(directory=d, config=CFG, full_recovery=True)
    # The corrupt batch was the second segment's first: that segment is emptied (and deleted); the
    # intact later segments are kept, and the report names the offsets that were lost.
    lost = set(range(second.base_offset, third.base_offset))
    assert values(again) == [v for v in expected if v[0] not in lost]
    assert again.log_end_offset == expected[-1][0] + 1
    assert second.file_name in again.recovery_report.deleted_segments
    assert (second.file_name, second.base_offset, third.base_offset - 1) in again.recovery_report.lost_offsets
    assert f"offsets {second.base_offset}..{third.base_offset - 1}" in again.recovery_report.summary()
    assert second.file_name not in seg_files(d) and third.file_name in seg_files(d)
    assert again.append([b"next"]).first_offset == expected[-1][0] + 1


def test_missing_or_corrupt_index_is_rebuilt(tmp_path):
    d = str(tmp_path / "t-0")
    log = Log(directory=d, config=CFG)
    fill(log, 30)
    entries = [s.offset_index.entries() for s in log.segments]
    names = [s.name for s in log.segments]
    expected = values(log)
    log.close()
    os.remove(os.path.join(d, names[0] + ".index"))
    with open(os.path.join(d, names[1] + ".index"), "r+b") as f:
        f.seek(5)
        f.write(b"\x7f")
    again = Log(directory=d, config=CFG)
    rebuilt = " ".join(again.recovery_report.rebuilt_indexes)
    assert names[1] + ".index" in rebuilt
    assert [s.offset_index.entries() for s in again.segments] == entries
    assert values(again) == expected


def test_memory_crash_loses_only_unflushed_records():
    storage = MemoryStorage()
    log = Log(storage=storage, config=LogConfig(segment_bytes=10_000))
    fill(log, 5)
    log.flush()
    fill(log, 3)                                        # not flushed
    crashed = log.crash_and_reopen()
    assert crashed.log_end_offset == 5
    assert values(crashed) == [(i, b"value-%d" % i) for i in range(5)]

    durable = Log(config=LogConfig(flush_messages=1))   # fsync on every append
    fill(durable, 7)
    after = durable.crash_and_reopen()
    assert after.log_end_offset == 7 and after.recovery_report.truncated_bytes == 0


def test_flush_ms_policy_uses_the_log_clock():
    now = [0]
    log = Log(config=LogConfig(flush_ms=100), clock=lambda: now[0])
    log.append([b"a"])
    assert log.unflushed_records == 1
    now[0] = 150
    log.append([b"b"])
    assert log.unflushed_records == 0 and log.recovery_point == 2
    now[0] = 250                    # exactly flush.ms after the last flush: due (Kafka flushes at >=)
    log.append([b"c"])
    assert log.unflushed_records == 0 and log.recovery_point == 3


def test_epoch_checkpoint_survives_and_is_rebuilt_when_lost(tmp_path):
    d = str(tmp_path / "t-0")
    log = Log(directory=d, config=CFG)
    fill(log, 3, epoch=1)
    fill(log, 3, epoch=4)
    log.close()
    assert Log(directory=d, config=CFG).leader_epoch_cache.entries == [(1, 0), (4, 3)]
    os.remove(os.path.join(d, "leader-epoch-checkpoint"))
    assert Log(directory=d, config=CFG).leader_epoch_cache.entries == [(1, 0), (4, 3)]


def test_log_start_offset_survives_reopen(tmp_path):
    d = str(tmp_path / "t-0")
    log = Log(directory=d, config=CFG)
    fill(log, 30)
    log.delete_records_before(17)
    log.close()
    again = Log(directory=d, config=CFG)
    assert again.log_start_offset == 17
    assert values(again)[0][0] == 17


def test_interrupted_compaction_swap_is_completed_or_undone():
    storage = MemoryStorage()
    log = Log(storage=storage, config=CFG)
    fill(log, 10)
    expected = values(log)
    log.close()
    # A crash after writing .cleaned files: they are just removed.
    storage.write_file("00000000000000000000.log.cleaned", b"garbage")
    # A crash during the swap: the .swap copy (here an identical one) replaces the original.
    storage.write_file("00000000000000000000.timeindex.swap", storage.read_file("00000000000000000000.timeindex"))
    again = Log(storage=storage, config=CFG)
    r = again.recovery_report
    assert r.removed_files == ["00000000000000000000.log.cleaned"]
    assert r.completed_swaps == ["00000000000000000000.timeindex"]
    assert values(again) == expected


def test_follower_batches_roundtrip_through_disk(tmp_path):
    leader = Log()
    fill(leader, 10, per_batch=3, epoch=2)
    follower = Log(directory=str(tmp_path / "f-0"), config=CFG)
    for batch in leader.read(0, max_bytes=10**7):
        follower.append_as_follower(batch)
    follower.close()
    again = Log(directory=str(tmp_path / "f-0"), config=CFG)
    assert [b.encode() for b in again.batches()] == [b.encode() for b in leader.batches()]


def test_many_segments_do_not_exhaust_file_descriptors(tmp_path):
    from msglib.log import DiskStorage
    storage = DiskStorage(str(tmp_path / "many-0"), max_open_files=12)
    log = Log(storage=storage, config=LogConfig(segment_bytes=200, flush_messages=1))
    for i in range(60):                                  # 60 segments = 180 files
        log.append([Record(None, b"value-%d" % i + b"." * 100, i)])
    assert len(log.segments) == 60
    assert sum(1 for f in storage._open.values() if f.fd >= 0) <= 12
    assert [r.value[:9] for r in log.records()][::20] == [b"value-0..", b"value-20.", b"value-40."]
    log.truncate_to(30)
    log.close()
    again = Log(directory=str(tmp_path / "many-0"), config=LogConfig(segment_bytes=200))
    assert again.log_end_offset == 30 and again.recovery_report.clean_shutdown


def test_disk_storage_works_without_positional_io(tmp_path, monkeypatch):
    # Windows has no os.pread/pwrite/pwritev: the storage falls back to seek + read/write.
    for name in ("pread", "pwrite", "pwritev"):
        monkeypatch.delattr(os, name, raising=False)
    d = str(tmp_path / "w-0")
    log = Log(directory=d, config=CFG)
    fill(log, 20)
    expected = values(log)
    log.truncate_to(15)
    log.close()
    assert values(Log(directory=d, config=CFG)) == expected[:15]


def test_recovery_rebuilds_the_same_sparse_index_that_appends_built(tmp_path):
    # 100-byte batches, an entry once *more than* 200 bytes were written since the last one.
    from msglib.log import RecordBatch
    d = str(tmp_path / "t-0")
    cfg = LogConfig(index_interval_bytes=200)
    log = Log(directory=d, config=cfg)
    for i in range(12):
        log.append(RecordBatch([Record(None, b"%032d" % i, 1000)]))
    entries = log.active_segment.offset_index.entries()
    assert entries == [(3, 300), (6, 600), (9, 900)]
    log.abandon()
    again = Log(directory=d, config=cfg, full_recovery=True)
    assert again.active_segment.offset_index.entries() == entries


def _patch_header(path, position, fmt, offset, value):
    import struct
    with open(path, "r+b") as f:
        f.seek(position + offset)
        f.write(struct.pack(fmt, value))


def test_a_leader_epoch_going_backwards_in_the_tail_is_cut(tmp_path):
    # The epoch field is outside the CRC: only the "epochs never decrease" rule can catch its corruption.
    d = str(tmp_path / "t-0")
    log = Log(directory=d, config=CFG)
    fill(log, 6, epoch=4)
    seg = log.active_segment
    positions = [p for p, _ in seg.batch_headers()]
    log.abandon()
    _patch_header(os.path.join(d, seg.file_name), positions[-2], ">i", 12, 1)
    again = Log(directory=d, config=CFG)
    assert "leader epoch 1 is below" in again.recovery_report.first_problem.problem
    assert again.log_end_offset == seg.base_offset + len(positions) - 2


def test_a_corrupt_base_offset_is_never_returned_by_a_read(tmp_path):
    # The base offset is outside the CRC too: a read checks that each batch continues the one before.
    d = str(tmp_path / "t-0")
    cfg = LogConfig(index_interval_bytes=10**6)       # no index entries: every read scans from position 0
    log = Log(directory=d, config=cfg)
    fill(log, 5)
    positions = [p for p, _ in log.active_segment.batch_headers()]
    name = log.active_segment.file_name
    log.close()
    _patch_header(os.path.join(d, name), positions[2], ">q", 0, 1)    # batch #2 now claims offset 1
    # Opening checks every batch header, even after a clean shutdown: the segment is cut there.
    again = Log(directory=d, config=cfg)
    assert "below the expected 2" in again.recovery_report.summary()
    assert [v[0] for v in values(again)] == [0, 1]
    again.close()
    # Damage that happens while the log is open is caught by the read itself.
    log = Log(directory=str(tmp_path / "u-0"), config=cfg)
    fill(log, 5)
    _patch_header(os.path.join(log.storage.directory, name), positions[2], ">q", 0, 1)
    with pytest.raises(CorruptRecordError, match="does not continue the log"):
        log.read(0, max_bytes=10**6)
