"""Retention (section B) and compaction (section C)."""
import pytest

from msglib.log import Log, LogConfig, Record, SegmentInfo, deletable_segments, should_retain

DAY = 24 * 3600 * 1000


def segmented(n_segments, per_segment=2, *, ts=lambda off: 1000 + off, **cfg):
    """A log whose segments each hold ``per_segment`` one-record batches (rolled by hand)."""
    log = Log(config=LogConfig(**cfg), clock=lambda: 0)
    for s in range(n_segments):
        for _ in range(per_segment):
            off = log.log_end_offset
            log.append([Record(b"k%d" % off, b"v%d" % off, ts(off))])
        if s < n_segments - 1:
            log.roll()
    return log


def test_time_retention_deletes_whole_expired_segments_only():
    log = segmented(3, retention_ms=1000)     # segment largest timestamps: 1001, 1003, 1005
    assert log.apply_retention(now_ms=2001) == []                     # 2001 - 1001 = 1000: not > 1000
    assert log.apply_retention(now_ms=2002) == ["00000000000000000000.log"]
    assert log.log_start_offset == 2 and log.base_offsets == [2, 4]
    assert log.apply_retention(now_ms=2004) == ["00000000000000000002.log"]


def test_retention_is_a_prefix():
    # The middle segment is old, the first is new: nothing is deleted.
    log = segmented(3, ts=lambda off: {0: 5000, 1: 5000}.get(off, 100), retention_ms=1000)
    assert log.apply_retention(now_ms=5500) == []


def test_size_retention():
    log = segmented(4)                         # four segments of equal size
    size = log.segments[0].size
    log.config.retention_bytes = 2 * size
    log.config.retention_ms = -1
    deleted = log.apply_retention(now_ms=0)
    assert len(deleted) == 2 and log.size_in_bytes == 2 * size       # total - oldest >= limit, twice
    log.config.retention_bytes = size + 1      # deleting one would go below the limit: keep both
    assert log.apply_retention(now_ms=0) == []
    log.config.retention_bytes = size
    assert len(log.apply_retention(now_ms=0)) == 1


def test_retention_never_passes_the_high_watermark():
    log = segmented(3, retention_ms=0)
    assert log.apply_retention(now_ms=10**9, high_watermark=3) == ["00000000000000000000.log"]
    assert log.log_start_offset == 2


def test_deleting_every_segment_rolls_first_and_offsets_continue():
    log = segmented(2, retention_ms=0)
    deleted = log.apply_retention(now_ms=10**9)
    assert len(deleted) == 2
    assert (log.log_start_offset, log.log_end_offset, log.base_offsets) == (4, 4, [4])
    assert log.append([b"x"]).first_offset == 4
    assert log.read(4).records()[0].value == b"x"


def test_retention_rule_is_pluggable_and_checked():
    log = segmented(3, retention_ms=-1)
    calls = []

    def keep_two_newest(segments, *, now_ms, retention_ms, retention_bytes, high_watermark):
        calls.append([s.base_offset for s in segments])
        return max(0, len(segments) - 2)

    log.retention_rule = keep_two_newest
    assert log.apply_retention(now_ms=0) == ["00000000000000000000.log"]
    assert calls == [[0, 2, 4]]
    log.retention_rule = lambda segments, **kw: 99
    with pytest.raises(ValueError, match="from 0 to 2"):
        log.apply_retention(now_ms=0)


def test_default_rule_unit_cases():
    segs = [SegmentInfo(0, 10, 100, 50), SegmentInfo(10, 20, 100, 150), SegmentInfo(20, 25, 50, 300)]
    rule = dict(retention_ms=100, retention_bytes=-1, high_watermark=25)
    assert deletable_segments(segs, now_ms=200, **rule) == 1
    assert deletable_segments(segs, now_ms=251, **rule) == 2
    assert deletable_segments(segs, now_ms=251, **{**rule, "high_watermark": 19}) == 1
    assert deletable_segments(segs, now_ms=0, retention_ms=-1, retention_bytes=150, high_watermark=25) == 1
    # The size rule stops at the high watermark too: the 100 bytes over the limit are not yet replicated.
    assert deletable_segments(segs, now_ms=0, retention_ms=-1, retention_bytes=50, high_watermark=19) == 1


# ---------------------------------------------------------------- compaction
def compacted_log(pairs, now=0, **cfg):
    log = Log(config=LogConfig(cleanup_policy="compact", **cfg), clock=lambda: now)
    for k, v in pairs:
        log.append([Record(k, v, 0)])
    log.roll()                                 # make everything inactive, hence cleanable
    return log


def kv(log):
    return [(r.offset, r.key, r.value) for r in log.records()]


def test_latest_value_per_key_survives_with_offsets_preserved():
    log = compacted_log([(b"a", b"1"), (b"b", b"1"), (b"a", b"2"), (b"c", b"1"), (b"b", b"2")])
    stats = log.compact(now_ms=0)
    assert kv(log) == [(2, b"a", b"2"), (3, b"c", b"1"), (4, b"b", b"2")]
    assert log.read(0).records()[0].offset == 2         # reading from 0 starts at the first survivor
    assert log.read(1).records()[0].offset == 2         # a gap: the next existing offset
    assert (stats.records_read, stats.records_kept) == (5, 3)
    assert log.log_start_offset == 0 and log.log_end_offset == 5
    assert log.append([Record(b"d", b"1")]).first_offset == 5


def test_active_segment_is_never_compacted():
    log = Log(config=LogConfig(cleanup_policy="compact"), clock=lambda: 0)
    for v in (b"1", b"2", b"3"):
        log.append([Record(b"a", v, 0)])
    stats = log.compact(now_ms=10**9)
    assert stats.segments_cleaned == [] and len(kv(log)) == 3


def test_compaction_stops_at_the_upper_bound_and_min_lag():
    log = Log(config=LogConfig(cleanup_policy="compact"), clock=lambda: 0)
    for i in range(3):
        log.append([Record(b"a", b"%d" % i, 0)])
        log.roll()
    log.compact(now_ms=0, upper_bound=2)      # segments 0 and 1 only (the LSO / HW is 2)
    assert [r.offset for r in log.records()] == [1, 2]
    lagged = Log(config=LogConfig(cleanup_policy="compact", min_compaction_lag_ms=100), clock=lambda: 0)
    for i in range(3):
        lagged.append([Record(b"a", b"%d" % i, 50 * i)])
        lagged.roll()
    lagged.compact(now_ms=150)                 # only segments whose records are >= 100 ms old
    assert [r.offset for r in lagged.records()] == [1, 2]


def test_tombstones_are_kept_for_delete_retention_then_removed():
    log = compacted_log([(b"a", b"1"), (b"b", b"1"), (b"a", None)], delete_retention_ms=DAY)
    log.compact(now_ms=1000)
    assert kv(log) == [(1, b"b", b"1"), (2, b"a", None)]          # the delete is visible
    (stamped,) = [b for b in log.batches() if b.base_offset == 2]
    assert stamped.delete_horizon_ms == 1000 + DAY
    log.compact(now_ms=1000 + DAY - 1)
    assert (2, b"a", None) in kv(log)
    stats = log.compact(now_ms=1000 + DAY)
    assert kv(log) == [(1, b"b", b"1")] and stats.tombstones_removed == 1
    assert log.log_end_offset == 3


def test_compaction_survives_reopen_on_disk(tmp_path):
    cfg = LogConfig(cleanup_policy="compact", segment_bytes=300)
    log = Log(directory=str(tmp_path / "c-0"), config=cfg, clock=lambda: 0)
    for i in range(30):
        log.append([Record(b"k%d" % (i % 4), b"v%d" % i, 0)])
    log.roll()
    log.compact(now_ms=0)
    expected = kv(log)
    assert [k for _, k, _ in expected] == [b"k2", b"k3", b"k0", b"k1"]
    log.close()
    again = Log(directory=str(tmp_path / "c-0"), config=cfg)
    assert kv(again) == expected
    assert not [n for n in (tmp_path / "c-0").iterdir() if n.suffix in (".cleaned", ".swap")]


def test_compaction_rule_is_pluggable():
    log = compacted_log([(b"a", b"1"), (b"a", b"2")])
    log.compaction_rule = lambda record, latest, expired: True
    log.compact(now_ms=0)
    assert len(kv(log)) == 2
    log.compaction_rule = should_retain
    log.compact(now_ms=0)
    assert kv(log) == [(1, b"a", b"2")]


def test_compacting_a_delete_policy_log_is_refused():
    log = Log(clock=lambda: 0)
    log.append([Record(b"a", b"1")])
    with pytest.raises(ValueError, match="cleanup_policy='compact'"):
        log.compact()


def test_min_compaction_lag_zero_cleans_records_with_future_timestamps():
    log = compacted_log([(b"a", b"1"), (b"a", b"2")])
    log.compact(now_ms=-5)                      # records stamped 0 are "in the future": lag 0 ignores it
    assert kv(log) == [(1, b"a", b"2")]


def test_segments_emptied_by_compaction_are_removed_but_the_first_stays():
    log = Log(config=LogConfig(cleanup_policy="compact"), clock=lambda: 0)
    for i in range(4):                          # four segments, each one record of key a, then the active
        log.append([Record(b"a", b"%d" % i, 0)])
        log.roll()
    stats = log.compact(now_ms=0)
    # Segments 1 and 2 lost their only record: gone. Segment 0 anchors the log start; 3 holds the survivor.
    assert stats.segments_removed == ["00000000000000000001.log", "00000000000000000002.log"]
    assert log.base_offsets == [0, 3, 4]
    assert kv(log) == [(3, b"a", b"3")] and log.log_start_offset == 0


def test_retention_drops_leader_epochs_below_the_new_log_start():
    log = Log(config=LogConfig(retention_ms=100), clock=lambda: 0)
    for epoch in range(3):
        log.append([Record(None, b"x", 0)], leader_epoch=epoch)
        log.roll()
    log.append([Record(None, b"y", 10**6)], leader_epoch=3)
    log.apply_retention(now_ms=1000)
    assert log.log_start_offset == 3
    assert log.leader_epoch_cache.entries == [(3, 3)]     # epochs 0-2 began below the new start


def test_compaction_keeps_transaction_markers():
    # Every COMMIT marker has the same control key; compacting them as data would keep only the last one.
    # Markers never reach the compaction rule: a learner's rule may index the offset map by key (the
    # map holds data keys only).
    from msglib.log import RecordBatch

    def strict_rule(record, latest_offset_for_key, tombstones_expired):
        return record.offset >= latest_offset_for_key[record.key]

    log = Log(config=LogConfig(cleanup_policy="compact"), clock=lambda: 0, compaction_rule=strict_rule)
    for i in range(3):
        log.append(RecordBatch([Record(b"k", b"v%d" % i, 0)], producer_id=7, producer_epoch=0, base_sequence=i,
                               is_transactional=True))
        log.append(RecordBatch.control("commit", producer_id=7, producer_epoch=0, timestamp=0))
    log.roll()
    log.compact(now_ms=0)
    markers = [b.base_offset for b in log.batches() if b.is_control]
    assert markers == [1, 3, 5]
    assert kv(log) == [(4, b"k", b"v2")]
