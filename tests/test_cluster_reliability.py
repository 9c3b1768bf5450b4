"""Seeded fault schedules, checked: what each configuration promises, and that the checker sees breakage.

The benchmark (benchmarks/bench_cluster.py) runs the same scenarios over
thousands of seeds; these tests run a few hundred runs in all.
"""
from collections import Counter

from msglib.cluster.scenario import run_scenario

SHORT = dict(duration_ms=400, send_interval_ms=4)


def totals(n, **kw):
    agg = Counter()
    for seed in range(n):
        r = run_scenario(seed, **dict(SHORT, **kw))
        agg["runs"] += 1
        agg["acked"] += r.acked
        agg["lost"] += r.lost
        agg["duplicated"] += r.duplicated
        agg["divergent"] += len(r.divergences)
        agg["unsettled"] += not r.settled
        agg["invalid"] += not r.check.valid
        agg["runs_losing"] += r.lost > 0
    return agg


def test_rf3_min_isr2_acks_all_clean_election_loses_nothing():
    agg = totals(80)  # the defaults: RF=3, min.insync=2, acks=all, idempotent, clean, random faults
    assert agg["acked"] > 80 * 50
    assert agg["lost"] == 0 and agg["divergent"] == 0 and agg["duplicated"] == 0
    assert agg["invalid"] == 0 and agg["unsettled"] == 0


def test_power_loss_of_one_broker_at_a_time_loses_nothing_with_leader_epochs():
    agg = totals(30, power_loss=True, max_down=1)
    assert agg["lost"] == 0 and agg["divergent"] == 0 and agg["invalid"] == 0


def test_acks_1_with_crashes_loses_acknowledged_writes_and_the_checker_sees_it():
    agg = totals(30, acks=1, min_insync_replicas=1)
    assert agg["runs_losing"] > 0 and agg["lost"] > 0, agg


def test_unclean_election_loses_committed_writes_and_the_checker_sees_it():
    often = dict(duration_ms=1000, fault_interval_ms=100, fault_kinds=("crash", "pause"))
    agg = totals(20, acks="all", min_insync_replicas=1, unclean=True, **often)
    plain = totals(20, acks="all", min_insync_replicas=1, unclean=False, **often)
    assert agg["lost"] > 0, agg
    assert plain["lost"] == 0, plain


def test_idempotence_over_a_lossy_network_no_duplicates_but_without_it_duplicates():
    lossy = dict(faults=None, loss=0.05)
    without = totals(15, idempotent=False, **lossy)
    with_ = totals(15, idempotent=True, **lossy)
    assert without["duplicated"] > 0
    assert with_["duplicated"] == 0 and with_["lost"] == 0 and with_["invalid"] == 0


def test_old_high_watermark_truncation_breaks_where_leader_epochs_do_not():
    """Power loss everywhere, several brokers down: the pre-KIP-101 rule diverges or loses data."""
    bad = dict(power_loss=True, min_insync_replicas=1, fault_kinds=("crash",), fault_interval_ms=120)
    old = totals(40, truncation="high_watermark", **bad)
    assert old["divergent"] + old["invalid"] > 0, old
    new = totals(40, truncation="leader_epoch", **bad)
    assert new["divergent"] == 0, new


def test_a_scenario_replays_to_the_same_history():
    r = run_scenario(7, **SHORT)
    assert r.history.meta["runner"] == "msglib.cluster.scenario:run_scenario"
    again = r.history.replay()
    assert again.same_as(r.history)
    other = run_scenario(8, **SHORT)
    assert not other.history.same_as(r.history)


def test_the_checker_points_at_the_lost_write_with_its_seed():
    r = next(r for r in (run_scenario(s, acks=1, min_insync_replicas=1, **SHORT) for s in range(40)) if r.lost)
    anomaly = r.check.of_kind("lost-write", "unseen")[0]
    sub = anomaly.sub_history(r.history)
    assert len(sub) < len(r.history) / 5, "the story is much shorter than the history"
    assert str(r.params["seed"]) in r.summary()
    assert "acknowledged" in anomaly.message


def test_idempotent_producer_over_a_lossy_network_gets_every_write_in_exactly_once():
    """Lost answers are retried and recognised as duplicates (the producer keeps at most 5
    unresolved batches per partition, the number the leader remembers)."""
    for seed in (3, 8):
        r = run_scenario(seed, faults=None, loss=0.05, duration_ms=2000)
        assert r.acked == r.stats["sent"] and r.duplicated == 0 and r.check.valid, r.summary()


def test_the_benchmark_script_runs_with_tiny_counts(capsys):
    from benchmarks import bench_cluster

    bench_cluster.main(["--quick", "--processes", "1"])
    out = capsys.readouterr().out
    assert "cluster.safe_lost_acked_writes" in out and "quick run: not recorded" in out
    assert "cluster.loss_table_seconds" in out
