"""msglib.streams: window boundaries, grace, late records, emit-final, joins, repartitioning (with the test
driver, on hand-made inputs written from Kafka Streams' documented rules), and runs on the simulated cluster:
restore, standbys, at-least-once vs exactly-once under crashes."""
from __future__ import annotations

import pytest

from msglib.check.streams import check_streams
from msglib.protocol import OffsetAndMetadata
from msglib.streams.app import Crash, make_inputs, run_streams
from msglib.streams.driver import TestDriver
from msglib.streams.stores import KeyValueStore, VersionedKeyValueStore, value_as_of
from msglib.streams.task import stream_time_of
from msglib.streams.topology import StreamsBuilder, TopologyError
from msglib.streams.windows import (JoinWindows, SessionWindows, SlidingWindows, TimeWindows, window_open,
                                    window_starts, windows_to_update)


# ------------------------------------------------------------------ windows
def test_time_windows_are_start_inclusive_end_exclusive():
    assert window_starts(9, 10, 10) == [0]
    assert window_starts(10, 10, 10) == [10]          # 10 is the end of [0, 10): not in it
    assert window_starts(0, 10, 10) == [0]


def test_hopping_windows_hold_a_record_in_size_over_advance_windows_and_never_start_below_zero():
    assert window_starts(7, 10, 5) == [0, 5]          # [0, 10) and [5, 15)
    assert window_starts(3, 10, 5) == [0]             # [-5, 5) would start below zero
    assert window_starts(25, 10, 5) == [20, 25]
    assert window_starts(12, 4, 1) == [9, 10, 11, 12]


def test_a_window_accepts_records_until_stream_time_reaches_end_plus_grace():
    assert window_open(10, 14, 5)
    assert not window_open(10, 15, 5)
    assert windows_to_update(9, 14, 10, 10, 5) == ([0], 0)
    assert windows_to_update(9, 15, 10, 10, 5) == ([], 1)
    assert windows_to_update(12, 19, 10, 5, 0) == ([10], 1)    # [5, 15) closed, [10, 20) open


def test_bad_windows_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="advance_ms"):
        TimeWindows(10, advance_ms=20)
    with pytest.raises(ValueError, match="size_ms"):
        TimeWindows(0)


def _windowed(emit: str, size: int = 10, grace: int = 5, advance: int | None = None) -> TestDriver:
    b = StreamsBuilder("w")
    (b.stream("in").group_by_key().windowed_by(TimeWindows(size, grace_ms=grace, advance_ms=advance))
     .count(emit=emit).to_stream().to("out"))
    return TestDriver(b.build())


def test_emit_final_writes_each_window_once_when_it_closes_and_counts_late_records():
    d = _windowed("final")
    for ts in (0, 9, 10, 3):          # 3 is out of order, but [0, 10) is open until stream time 15
        d.pipe("in", "a", 1, ts)
    assert d.read_output("out") == []
    d.pipe("in", "a", 1, 14)
    assert d.read_output("out") == []
    d.pipe("in", "a", 1, 15)          # stream time 15 = 10 + 5: [0, 10) closes with 3 records
    assert [(o.key, o.value) for o in d.read_output("out")] == [(("a", 0, 10), 3)]
    d.pipe("in", "a", 1, 4)           # late: dropped and counted
    assert d.dropped == 1
    d.pipe("in", "a", 1, 30)
    assert [(o.key, o.value) for o in d.read_output("out")] == [(("a", 10, 20), 3)]


def test_emit_update_writes_every_change_and_hopping_windows_each_get_the_record():
    d = _windowed("update", size=10, grace=0, advance=5)
    d.pipe("in", "a", 1, 7)
    d.pipe("in", "a", 1, 8)
    assert [(o.key, o.value) for o in d.read_output("out")] == [
        (("a", 0, 10), 1), (("a", 5, 15), 1), (("a", 0, 10), 2), (("a", 5, 15), 2)]


def test_stream_time_is_per_task_and_records_without_key_are_skipped():
    d = _windowed("update", grace=0)
    d.pipe("in", None, 1, 50, partition=0)
    assert d.read_output("out") == []
    task = next(iter(d.tasks.values()))
    assert task.skipped == 1 and task.stream_time == 50


def test_sliding_windows_follow_the_documented_example():
    # SlidingWindows javadoc (Kafka 3.7): time difference 5000 ms, records at 8000, 9200, 12400
    w = SlidingWindows(5_000, grace_ms=10_000)
    assert w.windows([8_000, 9_200, 12_400]) == [(3_000, 8_000), (4_200, 9_200), (7_400, 12_400),
                                                 (8_001, 13_001), (9_201, 14_201)]
    b = StreamsBuilder("s")
    b.stream("in").group_by_key().windowed_by(w).count().to_stream().to("out")
    d = TestDriver(b.build())
    for i, ts in enumerate((8_000, 9_200, 12_400)):
        d.pipe("in", "A", i + 1, ts)
    last = {}
    for o in d.read_output("out"):
        last[o.key[1:]] = o.value
    assert last == {(3_000, 8_000): 1, (4_200, 9_200): 2, (7_400, 12_400): 3, (8_001, 13_001): 2,
                    (9_201, 14_201): 1}


def test_session_windows_merge_records_within_the_gap_and_retract_merged_sessions():
    b = StreamsBuilder("s")
    b.stream("in").group_by_key().windowed_by(SessionWindows(5, grace_ms=100)).count().to_stream().to("out")
    d = TestDriver(b.build())
    for ts in (0, 3, 10):
        d.pipe("in", "u", 1, ts)
    assert [(o.key, o.value) for o in d.read_output("out")][-1] == (("u", 10, 10), 1)
    d.pipe("in", "u", 1, 8)                      # bridges [0, 3] and [10, 10]
    out = [(o.key, o.value) for o in d.read_output("out")]
    assert (("u", 0, 3), None) in out and (("u", 10, 10), None) in out
    assert out[-1] == (("u", 0, 10), 4)


# ------------------------------------------------------------------ stateless and repartitioning
def test_stateless_operators_and_branch_send_each_record_to_the_first_matching_branch():
    b = StreamsBuilder("s")
    s = b.stream("in").filter(lambda k, v: v >= 0).map_values(lambda v: v * 10)
    small, big = s.branch(lambda k, v: v < 50, lambda k, v: True)
    small.to("small")
    big.flat_map(lambda k, v: [(k, v), (k, v + 1)]).to("big")
    d = TestDriver(b.build())
    d.pipe_all("in", [("a", 1, 1), ("b", -1, 2), ("c", 9, 3)])
    assert [(o.key, o.value) for o in d.read_output("small")] == [("a", 10)]
    assert [(o.key, o.value) for o in d.read_output("big")] == [("c", 90), ("c", 91)]


def test_grouping_after_a_key_change_goes_through_a_repartition_topic():
    b = StreamsBuilder("pages")
    b.stream("clicks").group_by(lambda user, page: page).count().to_stream().to("per-page")
    topo = b.build()
    assert len(topo.repartition_topics) == 1 and len(topo.subtopologies) == 2
    d = TestDriver(topo, partitions=3)
    d.pipe_all("clicks", [("ann", "/a", 1), ("bob", "/a", 2), ("cid", "/b", 3), ("dan", "/a", 4)])
    assert [(o.key, o.value) for o in d.read_output("per-page")] == [("/a", 1), ("/a", 2), ("/b", 1), ("/a", 3)]


def test_two_stores_with_one_name_are_refused():
    b = StreamsBuilder("x")
    b.stream("a").group_by_key().count(store="s")
    with pytest.raises(TopologyError, match="another name"):
        b.stream("b").group_by_key().count(store="s")


# ------------------------------------------------------------------ joins
def _prices(versioned: bool, left: bool = False) -> TestDriver:
    b = StreamsBuilder("shop")
    prices = b.table("prices", versioned=versioned)
    b.stream("orders").join(prices, lambda o, p: (o, p), left=left).to("priced")
    return TestDriver(b.build())


def test_stream_table_join_plain_table_sees_the_latest_row_processed():
    d = _prices(False)
    d.pipe("orders", "apple", "early", 50)       # no row yet: an inner join drops it
    d.pipe("prices", "apple", 10, 100)
    d.pipe("prices", "apple", 12, 300)           # table updates alone produce nothing
    assert d.read_output("priced") == []
    d.pipe("orders", "apple", "o1", 200)
    assert [o.value for o in d.read_output("priced")] == [("o1", 12)]


def test_stream_table_join_versioned_table_sees_the_row_valid_at_the_record_time():
    d = _prices(True)
    d.pipe("prices", "apple", 12, 300)
    d.pipe("prices", "apple", 10, 100)           # out of order
    d.pipe("orders", "apple", "o1", 200)
    d.pipe("orders", "apple", "o2", 300)         # a version is valid from its own timestamp
    d.pipe("orders", "apple", "o0", 50)          # no version old enough
    assert [o.value for o in d.read_output("priced")] == [("o1", 10), ("o2", 12)]


def test_left_join_emits_with_none_when_there_is_no_row():
    d = _prices(False, left=True)
    d.pipe("orders", "pear", "o", 5)
    assert [o.value for o in d.read_output("priced")] == [("o", None)]


def test_value_as_of_and_the_versioned_store():
    assert value_as_of([(100, "A"), (200, None)], 250) is None
    assert value_as_of([(100, "A"), (100, "B")], 100) == "B"
    store = VersionedKeyValueStore("v")
    store.put_version("k", "new", 200)
    store.put_version("k", "old", 100)
    assert store.get("k") == "new" and store.get_as_of("k", 150) == "old"


def test_windowed_stream_stream_join_matches_within_the_window_inclusive():
    b = StreamsBuilder("j")
    left, right = b.stream("views"), b.stream("clicks")
    left.join_stream(right, lambda v, c: f"{v}+{c}", JoinWindows(10, grace_ms=0)).to("joined")
    d = TestDriver(b.build())
    d.pipe("views", "u", "v1", 100)
    d.pipe("clicks", "u", "c1", 110)             # exactly 10 later: joins
    d.pipe("clicks", "u", "c2", 111)             # 11 later: does not
    out = d.read_output("joined")
    assert [(o.value, o.timestamp) for o in out] == [("v1+c1", 110)]
    d.pipe("views", "u", "v0", 95)               # stream time 111 > 95 + 10: too late, dropped
    assert d.read_output("joined") == [] and d.dropped == 1


# ------------------------------------------------------------------ stores and tasks
def test_store_buffers_the_last_write_per_key_until_flush():
    s = KeyValueStore("s")
    s.put("a", 1)
    s.put("a", 2)
    s.delete("b")
    assert sorted(s.flush(), key=lambda r: r[0]) == [(b'"a"', b"2", None), (b'"b"', None, None)]
    assert s.flush() == []


def test_stream_time_travels_in_the_commit_metadata():
    assert stream_time_of("st=1234") == 1234
    assert stream_time_of("") == -1
    assert OffsetAndMetadata(5, "st=7", -1).metadata == "st=7"


def test_the_checker_names_duplicates_overcounts_and_losses():
    want = {"t": [("k", 1, 0), ("k", 2, 0), ("k", 3, 0)]}
    assert check_streams(want, want).valid
    assert check_streams(want, {"t": [("k", 1, 0), ("k", 2, 0), ("k", 1, 0), ("k", 2, 0), ("k", 3, 0)]}
                         ).first().kind == "duplicate"
    assert check_streams(want, {"t": [("k", 1, 0), ("k", 3, 0), ("k", 4, 0)]}).first().kind == "overcount"
    assert check_streams(want, {"t": [("k", 1, 0)]}).first().kind == "lost"


# ------------------------------------------------------------------ on the cluster, under crashes
def _counts():
    b = StreamsBuilder("counts")
    b.stream("events").group_by_key().count(store="counts").to_stream().to("out")
    return b.build()


def _windows():
    b = StreamsBuilder("win")
    (b.stream("events").group_by_key().windowed_by(TimeWindows(2_000, grace_ms=1_000))
     .count(emit="final").to_stream().to("out"))
    return b.build()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exactly_once_survives_crashes_in_the_middle_of_windows_and_of_commits(seed):
    for topo in (_counts(), _windows()):
        res = run_streams(topo, {"events": make_inputs(seed)}, outputs=["out"], seed=seed,
                          crashes=[Crash(250, 0, "process"), Crash(500, 1, "send_offsets"), Crash(800, 0, "commit")])
        assert res.valid, res.summary() + "\n" + res.story()
        assert any("crashes" in n for _, n in res.notes)


def test_at_least_once_counts_twice_when_a_crash_falls_between_changelog_and_offsets():
    bad = 0
    for seed in range(3):
        res = run_streams(_counts(), {"events": make_inputs(seed)}, outputs=["out"], seed=seed,
                          guarantee="at_least_once", crashes=[Crash(300, 0, "consumer_commit")])
        assert res.drained
        bad += not res.check.valid
        kinds = set(res.check.counts())
        assert kinds <= {"duplicate", "overcount"}, res.check.findings
    assert bad >= 2


def test_a_moved_task_restores_its_store_and_a_standby_shortens_the_restore():
    restored = {}
    for standbys in (False, True):
        res = run_streams(_counts(), {"events": make_inputs(0, records=90)}, outputs=["out"], seed=0,
                          crashes=[Crash(450, 0, "process")], standbys=standbys)
        assert res.valid, res.summary()
        restored[standbys] = res.restored_records
    assert restored[False] > 0
    assert restored[True] < restored[False]


def test_a_versioned_table_join_is_exact_under_crashes():
    from msglib.grading.ex12 import join_inputs, join_topology
    res = run_streams(join_topology(None), join_inputs(3), outputs=["priced"], seed=3,
                      crashes=[Crash(500, 0, "process"), Crash(2_000, 1, "commit")], topic_gap_ms={"orders": 1_500.0})
    assert res.valid, res.summary()


def test_bad_run_arguments_name_the_fix():
    with pytest.raises(ValueError, match="guarantee"):
        run_streams(_counts(), {"events": []}, outputs=["out"], guarantee="exactly_once")
    with pytest.raises(ValueError, match="crash point"):
        run_streams(_counts(), {"events": []}, outputs=["out"], crashes=[Crash(1, 0, "nowhere")])
    with pytest.raises(ValueError, match="not a source"):
        run_streams(_counts(), {"nope": []}, outputs=["out"])


def test_a_repartitioned_count_on_the_cluster_is_exact_with_exactly_once_and_duplicates_without():
    def pages():
        b = StreamsBuilder("pages")
        b.stream("clicks").group_by(lambda user, n: f"page{n % 3}").count(store="per-page").to_stream().to("out")
        return b.build()
    eos = run_streams(pages(), {"clicks": make_inputs(0, keys=6)}, outputs=["out"], seed=0,
                      crashes=[Crash(250, 0, "process"), Crash(500, 1, "changelog")])
    assert eos.valid, eos.summary()          # drained too: a transactional repartition topic ends with a marker
    alos = run_streams(pages(), {"clicks": make_inputs(0, keys=6)}, outputs=["out"], seed=0,
                       guarantee="at_least_once", crashes=[Crash(250, 0, "process"), Crash(500, 1, "consumer_commit")])
    assert alos.drained and not alos.check.valid
