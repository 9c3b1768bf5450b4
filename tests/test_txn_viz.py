"""msglib.viz.txn: the pictures and the widget of module 06 draw what the cluster holds."""
import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from msglib.cluster import Cluster, ClusterConfig  # noqa: E402
from msglib.viz import txn as viz  # noqa: E402


def k128_partition():
    cl = Cluster(3, seed=1, config=ClusterConfig.fast(min_insync_replicas=2))
    cl.create_topic("a", 1, 3)
    p = cl.producer(transactional_id="t")
    p.init_transactions()
    p.begin_transaction()
    p.send("a", b"a")
    p.send("a", b"b")
    p.flush()
    p.abort_transaction()
    p.begin_transaction()
    p.send("a", b"c")
    p.commit_transaction()
    cl.producer().send("a", b"plain").get()
    p.begin_transaction()
    p.send("a", b"open").get()
    cl.run(30)
    return cl.replica(cl.leader("a", 0), "a", 0)


def test_partition_slots_name_each_offset():
    part = k128_partition()
    got = [(s.offset, s.kind, s.label) for s in viz.partition_slots(part)]
    assert got == [(0, "aborted", "a"), (1, "aborted", "b"), (2, "ABORT", "A"), (3, "committed", "c"),
                   (4, "COMMIT", "C"), (5, "plain", "plain"), (6, "open", "open")]
    assert part.last_stable_offset == 6


def test_plot_partition_draws_and_is_blank_while_grading(monkeypatch):
    part = k128_partition()
    fig = viz.plot_partition(part, "k128")
    assert fig is not None and fig.axes
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert " LSO=6" in texts and " HW=7" in texts
    monkeypatch.setenv("MSGLIB_GRADING_RUN", "1")
    assert viz.plot_partition(part) is None


def test_transaction_timeline_shows_the_lso_waiting_for_the_markers():
    rows = viz.transaction_timeline(0)
    assert [r["coordinator"] for r in rows][-2:] == ["PrepareCommit", "CompleteCommit"]
    # Until the commit: nothing stable, nothing committed, nothing read. (When commit_transaction() returns,
    # the markers are already on their way with the EndTxn answer: some may have landed, depending on latency.)
    for r in rows[:-2]:
        assert r["out-0"][2] == 0 and r["out-1"][2] == 0
        assert r["committed in-0"] is None and r["read_committed got"] == []
    last = rows[-1]
    assert last["out-0"] == (3, 3, 3) and last["out-1"] == (2, 2, 2) and last["committed in-0"] == 3
    assert sorted(last["read_committed got"]) == ["out-0", "out-1", "out-2"]
    assert "PrepareCommit" in viz.timeline_table(rows)
    assert viz.plot_timeline(rows).axes


def test_guarantee_rows_compare_the_loops():
    rows = viz.guarantee_rows([5, 0])
    assert all(r["eos_dup"] == 0 and r["eos_lost"] == 0 for r in rows)
    assert rows[0]["alo_dup"] > 0                     # seed 5 duplicates without transactions
    assert "at-least-once" in viz.guarantee_table(rows)
    assert viz.plot_guarantees(rows).axes


def test_crash_point_rows_only_consumer_commit_duplicates():
    rows = viz.crash_point_rows([0])
    assert [(r["loop"], r["point"]) for r in rows] == [(m, p) for m, ps in viz.KILL_POINTS.items() for p in ps]
    for r in rows:
        assert r["lost"] == 0
        assert (r["duplicates"] > 0) == (r["loop"] == "at-least-once" and r["point"] == "consumer_commit")
    assert "consumer_commit" in viz.crash_point_table(rows)


@pytest.mark.parametrize("mode,point,dup", [("transactions", "commit", False), ("at-least-once", "consumer_commit", True)])
def test_kill_run_and_report(mode, point, dup):
    res = viz.kill_run(point, mode)
    report = viz.kill_report(res)
    assert f"crashes at '{point}'" in report
    assert (res.duplicates > 0) == dup
    if mode == "transactions":
        assert len(res.all_output) > len(res.committed)     # the killed transaction's outputs: aborted


def test_explore_kill_builds_a_widget_that_reacts():
    w = viz.explore_kill(seed=0)
    controls = w.children[0].children
    mode, point, text = controls[0], controls[1], w.children[2]
    assert "commit" in text.value or "exactly once" in text.value
    mode.value = "at-least-once"
    assert list(point.options) == viz.KILL_POINTS["at-least-once"]
    point.value = "consumer_commit"
    assert "duplicate" in text.value
