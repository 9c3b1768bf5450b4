"""Seeded group runs: delivery guarantees under crashes, zombies fenced, lag, the stop-the-world gap."""
from __future__ import annotations

import pytest

from msglib.check import check
from msglib.groups import TopicPartition
from msglib.groups.lag import LagMonitor, consumer_lag
from msglib.groups.workload import (GroupEvent, at_least_once_step, at_most_once_step, ownership_intervals,
                                    random_events, run_group, stop_the_world_ms)

GRACEFUL = [GroupEvent(300, "join"), GroupEvent(700, "leave", 0), GroupEvent(1000, "join"),
            GroupEvent(1400, "leave", 1)]


@pytest.mark.parametrize("seed", range(4))
def test_process_then_commit_loses_nothing_under_crashes(seed):
    r = run_group(seed, events="random", step=at_least_once_step)
    assert r.drained and r.lost == [], r.story()


def test_at_least_once_does_duplicate_under_crashes():
    assert any(run_group(s, events="random", step=at_least_once_step).duplicated for s in range(4))


@pytest.mark.parametrize("seed", range(4))
def test_commit_then_process_never_duplicates_under_crashes(seed):
    r = run_group(seed, events="random", step=at_most_once_step)
    assert r.drained and r.duplicated == {}, r.story()


def test_at_most_once_does_lose_under_crashes():
    r = run_group(0, events="random", step=at_most_once_step)
    assert r.lost and r.first_loss().startswith(f"record {r.lost[0]}")


@pytest.mark.parametrize("step", [at_least_once_step, at_most_once_step])
def test_clean_joins_and_leaves_give_exactly_once(step):
    for seed in range(2):
        r = run_group(seed, events=GRACEFUL, step=step)
        assert r.drained and r.lost == [] and r.duplicated == {}, r.story()
        assert r.committed == r.end_offsets


def test_a_coordinator_outage_loses_nothing():
    r = run_group(1, events=[GroupEvent(600, "coordinator_crash", duration_ms=400), GroupEvent(900, "crash", 0)])
    assert r.drained and r.lost == [], r.story()
    assert any("coordinator" in what for _, what in r.notes)


def test_a_zombie_is_fenced_and_a_permissive_coordinator_lets_offsets_go_back():
    pause = [GroupEvent(500, "pause", 0, duration_ms=1_000)]
    r = run_group(0, events=pause)
    rejected = [e for e in r.trace if e["event"] == "commit rejected"]
    assert rejected and r.commit_failures >= 1 and r.lost == []
    # the same run with a coordinator that accepts every commit: the zombie's stale commit lands
    bad = run_group(0, events=pause, validate_offset_commit=lambda group, member_id, generation: None)
    zombie = [e for e in bad.trace if e["event"] == "commit" and e["member"] and e["member"] not in e["members"]]
    assert zombie, "the zombie's commit should have been accepted by the permissive rule"


def test_the_cluster_backend_runs_the_same_workload():
    r = run_group(2, events=[GroupEvent(700, "crash", 0)], backend="cluster", records=120)
    assert r.drained and r.lost == [], r.story()


def test_consumer_histories_have_no_skips_or_reordering_within_a_poll():
    r = run_group(3, events="random")
    result = check(r.history, allowed={"unseen", "lost-write", "poll-skip", "nonmonotonic-poll"})
    assert not result.of_kind("int-poll-skip", "int-nonmonotonic-poll", "duplicate", "inconsistent-offsets")


def test_runs_replay_exactly_from_their_seed():
    a, b = run_group(5, events="random"), run_group(5, events="random")
    assert [(p.app, p.time, p.value) for p in a.processed] == [(p.app, p.time, p.value) for p in b.processed]
    assert a.history.same_as(b.history)


def test_cooperative_rebalancing_has_a_smaller_stop_the_world_gap():
    joins = [GroupEvent(600, "join"), GroupEvent(1200, "join")]
    gaps = {}
    for strategy in ("range", "cooperative-sticky"):
        r = run_group(0, events=joins, consumers=2, partitions=6, commit_on_revoke=True,
                      consumer_config={"partition_assignment_strategy": [strategy]})
        assert r.lost == [] and r.duplicated == {}
        gaps[strategy] = stop_the_world_ms(r)
    assert 0 < gaps["cooperative-sticky"] < gaps["range"]


def test_ownership_intervals_never_overlap_without_faults():
    r = run_group(1, events=GRACEFUL)
    spans = ownership_intervals(r)
    for p in range(4):
        mine = sorted((s, e) for _, q, s, e in spans if q == p)
        for (s1, e1), (s2, e2) in zip(mine, mine[1:]):
            assert e1 <= s2


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="backend"):
        run_group(backend="kafka")
    with pytest.raises(ValueError, match="event kind"):
        run_group(events=[GroupEvent(1, "explode")])
    with pytest.raises(ValueError, match="burst"):
        run_group(burst=0)
    assert all(e.kind == "crash" for e in random_events(1, 1000))


# ------------------------------------------------------------------ lag
def test_consumer_lag_rule():
    assert consumer_lag(None, 0, 10) == 10
    assert consumer_lag(None, 4, 10) == 6          # deleted records can never be consumed
    assert consumer_lag(2, 4, 10) == 6             # committed below the log start
    assert consumer_lag(7, 4, 10) == 3
    assert consumer_lag(10, 4, 10) == 0
    assert consumer_lag(12, 4, 10) == 0            # never negative


def test_lag_monitor_rises_while_a_member_is_down_and_drains_to_zero():
    from msglib.groups.workload import GroupRun, TOPIC, GROUP
    from msglib.sim.history import History

    run = GroupRun(0, partitions=2, records=160, produce_every_ms=40, burst=8, consumer_config={},
                   step=at_least_once_step, restart_after_ms=None, history=History(), broker=None,
                   group_config=None, validate_offset_commit=None, backend="local")
    monitor = LagMonitor(run.broker, run.coordinator, GROUP, [TopicPartition(TOPIC, p) for p in range(2)],
                         interval_ms=20).start()
    result = run.run(1, [GroupEvent(200, "crash", 0), GroupEvent(400, "join")], 800, 4_000, 5.0)
    monitor.stop()
    total = monitor.total()
    assert result.drained and total[-1][1] == 0
    assert max(lag for t, lag in total if 200 < t < 600) > max(lag for t, lag in total if t < 150)


@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky"])
def test_no_partition_ever_has_two_owners_under_churn_without_pauses(strategy):
    for seed in range(3):
        events = random_events(seed, 2_000, kinds=("join", "leave", "crash"), count=6)
        r = run_group(seed, events=events, consumers=2, partitions=5, commit_on_revoke=True,
                      consumer_config={"partition_assignment_strategy": [strategy]})
        assert r.lost == [], r.story()
        spans = ownership_intervals(r)
        for p in range(5):
            mine = sorted((s, e, a) for a, q, s, e in spans if q == p and e > s)
            for (s1, e1, a1), (s2, e2, a2) in zip(mine, mine[1:]):
                assert e1 <= s2, f"P{p} owned by {a1} and {a2} at once ({s2:.0f}..{e1:.0f} ms), seed {seed}"
