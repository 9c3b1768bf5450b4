"""Log: offsets, segments, the sparse index rule, reads, truncation, delete-records, epochs (sections A, B)."""
import pytest

from msglib.log import (InvalidRecordError, Log, LogConfig, OffsetOutOfRangeError, Record, RecordBatch,
                        RecordTooLargeError, UnexpectedAppendOffsetError, CorruptRecordError, segment_name)


def hundred_byte_batch(i=0):
    b = RecordBatch([Record(None, b"%032d" % i, 1000)])
    assert b.size_in_bytes == 100
    return b


def test_offsets_are_dense_and_start_at_zero():
    log = Log()
    assert (log.log_start_offset, log.log_end_offset) == (0, 0)
    info = log.append([b"a", b"b", b"c"])
    assert (info.first_offset, info.last_offset, log.log_end_offset) == (0, 2, 3)
    info = log.append([b"d"])
    assert (info.first_offset, info.last_offset) == (3, 3)
    assert [r.value for r in log.records()] == [b"a", b"b", b"c", b"d"]
    assert [r.offset for r in log.records()] == [0, 1, 2, 3]


def test_append_stamps_epoch_and_fills_the_epoch_cache():
    log = Log()
    log.append([b"a"], leader_epoch=0)
    log.append([b"b", b"c"], leader_epoch=3)
    log.append([b"d"], leader_epoch=3)
    assert log.leader_epoch_cache.entries == [(0, 0), (3, 1)]
    assert [b.partition_leader_epoch for b in log.batches()] == [0, 3, 3]
    assert log.leader_epoch_cache.end_offset_for(0, log.log_end_offset) == (0, 1)
    assert log.leader_epoch_cache.end_offset_for(3, log.log_end_offset) == (3, 4)


def test_segment_names_are_20_digit_base_offsets():
    assert segment_name(0) == "00000000000000000000"
    assert segment_name(1234) == "00000000000000001234"
    log = Log(config=LogConfig(segment_bytes=250))
    for i in range(5):
        log.append(hundred_byte_batch(i))
    # 250 bytes hold two 100-byte batches: roll before the third, fifth...
    assert log.base_offsets == [0, 2, 4]
    assert sorted(n for n in log.storage.list() if n.endswith(".log")) == \
        ["00000000000000000000.log", "00000000000000000002.log", "00000000000000000004.log"]


def test_sparse_index_rule_matches_kafka():
    # Section A #8: with 4096 and 100-byte batches, batches #42, #83, #124 (1-based) get entries,
    # each mapping that batch's last offset to its start position.
    log = Log()
    for i in range(130):
        log.append(hundred_byte_batch(i))
    entries = log.active_segment.offset_index.entries()
    assert entries == [(41, 4100), (82, 8200), (123, 12300)]
    assert log.active_segment.offset_index.file.size() == 3 * 8


def test_index_entry_maps_last_offset_of_multi_record_batch():
    log = Log(config=LogConfig(index_interval_bytes=0))
    first = log.append([b"a", b"b"])
    log.append([b"c", b"d", b"e"])       # bytes since last entry > 0: indexed by its last offset, 4
    assert log.active_segment.offset_index.entries() == [(4, first.size_in_bytes)]


def test_read_returns_whole_batch_holding_the_offset():
    log = Log(config=LogConfig(index_interval_bytes=1))
    for i in range(10):
        log.append([b"%d-%d" % (i, j) for j in range(3)])
    data = log.read(7)
    assert data[0].base_offset == 6            # the batch 6..8 holds 7
    assert data.records()[0].offset == 7       # records() drops those before the fetch offset
    assert data.next_offset == 30


def test_read_respects_max_bytes_but_returns_at_least_one_batch():
    log = Log()
    for i in range(10):
        log.append(hundred_byte_batch(i))
    assert len(log.read(0, max_bytes=250)) == 2
    assert len(log.read(0, max_bytes=10)) == 1
    assert len(log.read(0, max_bytes=10, min_one=False)) == 0


def test_read_bounds_and_max_offset():
    log = Log()
    log.append([b"a", b"b"])
    log.append([b"c"])
    assert log.read(3) == []                   # at the LEO: nothing yet, no error
    with pytest.raises(OffsetOutOfRangeError, match=r"0\.\.3"):
        log.read(4)
    assert [b.base_offset for b in log.read(0, max_offset=2)] == [0]   # high watermark 2 hides 2
    assert log.read(2, max_offset=2) == []


def test_truncate_to_drops_the_tail_across_segments():
    log = Log(config=LogConfig(segment_bytes=250))
    for i in range(7):
        log.append(hundred_byte_batch(i), leader_epoch=i // 3)
    assert log.leader_epoch_cache.entries == [(0, 0), (1, 3), (2, 6)]
    log.truncate_to(3)
    assert log.log_end_offset == 3 and log.base_offsets == [0, 2]
    assert [r.offset for r in log.records()] == [0, 1, 2]
    assert log.leader_epoch_cache.entries == [(0, 0)]
    info = log.append([b"new"], leader_epoch=5)
    assert info.first_offset == 3
    assert log.truncate_to(100) == 0           # at or past the LEO: nothing to do


def test_truncate_inside_a_batch_keeps_the_records_before():
    log = Log()
    log.append([b"a", b"b", b"c", b"d"], leader_epoch=2)
    log.truncate_to(2)
    assert [r.value for r in log.records()] == [b"a", b"b"]
    assert log.log_end_offset == 2
    (batch,) = list(log.batches())
    assert (batch.base_offset, batch.last_offset, batch.partition_leader_epoch) == (0, 1, 2)
    assert log.append([b"e"]).first_offset == 2


def test_follower_append_keeps_offsets_and_checks_them():
    leader, follower = Log(), Log()
    leader.append([b"a", b"b"], leader_epoch=1)
    leader.append([b"c"], leader_epoch=2)
    for batch in leader.read(0, max_bytes=10**6):
        follower.append_as_follower(batch)
    assert [r.value for r in follower.records()] == [b"a", b"b", b"c"]
    assert follower.leader_epoch_cache.entries == [(1, 0), (2, 2)]
    with pytest.raises(UnexpectedAppendOffsetError, match="truncate_to"):
        follower.append_as_follower(leader.read(0)[0])


def test_delete_records_before_moves_log_start_and_drops_whole_segments():
    log = Log(config=LogConfig(segment_bytes=250))
    for i in range(6):
        log.append(hundred_byte_batch(i))
    assert log.delete_records_before(3) == 3
    assert log.log_start_offset == 3 and log.base_offsets == [2, 4]
    with pytest.raises(OffsetOutOfRangeError, match="below the log start offset 3"):
        log.read(2)
    assert log.read(3).records()[0].offset == 3
    with pytest.raises(OffsetOutOfRangeError):
        log.delete_records_before(5, high_watermark=4)
    log.delete_records_before(6)               # everything: offsets continue, never reset
    assert (log.log_start_offset, log.log_end_offset) == (6, 6)
    assert log.append([b"x"]).first_offset == 6


def test_errors_name_the_limit_and_change_nothing():
    log = Log(config=LogConfig(max_message_bytes=200))
    log.append([b"ok"])
    with pytest.raises(RecordTooLargeError, match="limit of 200 bytes"):
        log.append([b"x" * 500])
    raw = bytearray(RecordBatch([b"y"], timestamp=1).encode())
    raw[-1] ^= 1
    with pytest.raises(CorruptRecordError, match="CRC"):
        log.append(bytes(raw))
    assert log.log_end_offset == 1 and [r.value for r in log.records()] == [b"ok"]


def test_compacted_topic_rejects_keyless_records():
    log = Log(config=LogConfig(cleanup_policy="compact"))
    with pytest.raises(InvalidRecordError, match="without key"):
        log.append([Record(None, b"v")])
    log.append([Record(b"k", b"v")])
    assert log.log_end_offset == 1


def test_time_roll_uses_the_first_batch_timestamp():
    log = Log(config=LogConfig(segment_ms=1000), clock=lambda: 0)
    log.append([Record(None, b"a", 0)])
    log.append([Record(None, b"b", 1000)])     # waited exactly segment.ms: not more, no roll
    assert len(log.segments) == 1
    info = log.append([Record(None, b"c", 1001)])
    assert info.rolled == "segment.ms" and log.base_offsets == [0, 2]


def test_offsets_for_times():
    log = Log(config=LogConfig(segment_bytes=300, index_interval_bytes=50))
    for i in range(10):
        log.append([Record(None, b"v", 100 + 10 * i)])
    assert log.offsets_for_times(0) == (0, 100)
    assert log.offsets_for_times(135) == (4, 140)
    assert log.offsets_for_times(190) == (9, 190)
    assert log.offsets_for_times(191) is None
    assert log.offsets_for_times(-2) == (0, -1) and log.offsets_for_times(-1) == (10, -1)


def test_follower_gap_only_allowed_on_compacted_logs():
    batch = RecordBatch([Record(b"k", b"v", 0)], base_offset=5)
    with pytest.raises(UnexpectedAppendOffsetError, match="gap"):
        Log().append_as_follower(batch)
    compacted = Log(config=LogConfig(cleanup_policy="compact"))
    compacted.append_as_follower(batch)
    assert compacted.log_end_offset == 6 and compacted.read(0).records()[0].offset == 5


def test_log_append_time_overrides_record_timestamps():
    log = Log(config=LogConfig(message_timestamp_type="LogAppendTime"), clock=lambda: 5000)
    info = log.append([Record(None, b"a", 1), Record(None, b"b", 2)])
    assert info.log_append_time == 5000
    assert [r.timestamp for r in log.records()] == [5000, 5000]
    (batch,) = list(log.batches())                  # the CRC was recomputed: it still verifies
    assert batch.timestamp_type.name == "LOG_APPEND_TIME" and batch.max_timestamp == 5000


def test_roll_when_the_index_is_full():
    # 24 bytes: room for 3 offset-index entries (8 bytes each). All batches share one timestamp, so the
    # time index (an entry only when the timestamp grows) holds a single entry and never fills first.
    log = Log(config=LogConfig(segment_index_bytes=24, index_interval_bytes=0))
    infos = [log.append(hundred_byte_batch(i)) for i in range(5)]
    # batches 1, 2 and 3 are indexed (the first of a segment never is); then the offset index is full
    assert [i.rolled for i in infos] == [None, None, None, None, "index full"]
    assert log.base_offsets == [0, 4]
    # With growing timestamps the time index (12-byte entries: only 2 fit) fills first.
    timed = Log(config=LogConfig(segment_index_bytes=24, index_interval_bytes=0))
    rolled = [timed.append([Record(None, b"x", t)]).rolled for t in range(5)]
    assert rolled == [None, None, None, "index full", None]


def test_size_roll_is_exactly_kafkas_rule():
    log = Log(config=LogConfig(segment_bytes=300))
    assert [log.append(hundred_byte_batch(i)).rolled for i in range(4)] == [None, None, None, "segment.bytes"]
    assert log.segments[0].size == 300          # a batch that exactly fills the segment still fits


def test_gzip_batches_through_the_log():
    log = Log(config=LogConfig(index_interval_bytes=0))
    for i in range(5):
        log.append(RecordBatch([Record(b"k", b"compressible " * 20, i)] * 3, compression=1))
    assert [r.offset for r in log.records()] == list(range(15))
    assert log.read(7).records()[0].value == b"compressible " * 20


def test_control_batches_take_one_offset_and_are_never_handed_to_applications():
    log = Log()
    log.append(RecordBatch([Record(b"k", b"in txn", 1)] * 2, producer_id=7, producer_epoch=0, base_sequence=0,
                           is_transactional=True))
    marker = log.append(RecordBatch.control("commit", producer_id=7, producer_epoch=0, timestamp=2))
    log.append([Record(b"k", b"after", 3)])
    assert (marker.first_offset, marker.last_offset) == (2, 2)
    assert [r.offset for r in log.records()] == [0, 1, 3]
    batches = list(log.batches())
    assert batches[1].is_control and batches[1].control_type.name == "COMMIT"
    assert log.read(2).records()[0].offset == 3


def test_leader_append_refuses_a_batch_whose_deltas_do_not_match_its_count():
    log = Log()
    log.append([b"a"])
    batch = RecordBatch([Record(None, b"x", 0, offset=0), Record(None, b"y", 0, offset=3)], keep_offsets=True)
    with pytest.raises(CorruptRecordError, match="deltas 0..n-1"):
        log.append(batch)
    assert (log.log_end_offset, [r.value for r in log.records()]) == (1, [b"a"])


def test_a_batch_bigger_than_a_segment_is_refused_naming_segment_bytes():
    log = Log(config=LogConfig(segment_bytes=150))
    with pytest.raises(RecordTooLargeError, match="segment_bytes"):
        log.append([Record(None, b"x" * 200)])
    assert log.log_end_offset == 0 and log.size_in_bytes == 0


def test_follower_batch_too_far_from_the_segment_base_rolls_a_new_segment():
    # Relative offsets are stored in 4 bytes: a compacted follower that jumps 2**31 ahead must roll.
    log = Log(config=LogConfig(cleanup_policy="compact"))
    log.append_as_follower(RecordBatch([Record(b"k", b"v", 0)], base_offset=0))
    far = 2**31 + 5
    info = log.append_as_follower(RecordBatch([Record(b"k", b"w", 0)], base_offset=far))
    assert info.rolled == "offset overflow"
    assert log.base_offsets == [0, far]
    assert [r.offset for r in log.records()] == [0, far]


def test_truncation_lowers_the_recovery_point():
    log = Log(config=LogConfig(segment_bytes=250))
    for i in range(6):
        log.append(hundred_byte_batch(i))
    log.flush()
    assert log.recovery_point == 6
    log.truncate_to(3)
    # Offsets 3.. may be written again: they are not flushed data any more.
    assert log.recovery_point == 3
