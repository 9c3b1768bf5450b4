"""The KRaft quorum on msglib.sim: scripted stories (election, failover, a fenced old leader, broker
fencing), the checker on hand-made histories, and seeded runs with 0 safety violations."""
from __future__ import annotations

from msglib.check.kraft import SAFETY_KINDS, check
from msglib.kraft.quorum import ControllerFailover, KRaftQuorum
from msglib.kraft.raft import LEADER, end_offset_for
from msglib.kraft.records import Entry, LeaderChangeRecord, TopicRecord
from msglib.kraft.scenario import run_quorum
from msglib.sim.faults import Crash, Cut, Heal, HealAll, Partition
from msglib.sim.history import INFO, History, Op

SEEDS = range(250)  # about 25 ms each


def leaders(q: KRaftQuorum) -> list[str]:
    return [c.name for c in q.controllers.values() if c.alive and c.role == LEADER]


def test_a_quiet_quorum_elects_one_leader_and_brokers_follow():
    q = KRaftQuorum(seed=1)
    q.create_topics(2)
    q.sim.run(until=1500)
    assert len(leaders(q)) == 1
    for b in q.brokers.values():
        assert set(b.image.topics) == {"t0", "t1"}
        assert b.image.unfenced == {0, 1, 2}
        assert not b.fenced
    assert check(q.finish()).valid


def test_controller_failover_elects_a_new_leader_in_a_newer_epoch():
    q = KRaftQuorum(seed=2)
    q.sim.run(until=500)
    (old,) = leaders(q)
    epoch = q.controllers[old].epoch
    q.apply(ControllerFailover(down_ms=300))
    q.sim.run(until=1500)
    (new,) = leaders(q)
    assert new != old or q.controllers[new].epoch > epoch
    assert q.controllers[new].epoch > epoch
    assert q.controllers[old].alive  # restarted, and following
    result = check(q.finish())
    assert result.valid, result.report()


def test_an_old_leader_on_the_minority_side_is_fenced_and_its_uncommitted_write_truncated():
    q = KRaftQuorum(seed=3, brokers=0)
    q.sim.run(until=500)
    (old,) = leaders(q)
    others = tuple(sorted(set(q.controllers) - {old}))
    q.apply(Partition(((old,), others)))
    stale = q.controllers[old].append(TopicRecord("written-by-a-stale-leader"))
    assert stale is not None  # it still believes it leads, for a while
    q.sim.run(until=1000)
    assert q.controllers[old].role != LEADER  # it resigned: no Fetch from a majority
    (new,) = leaders(q)
    assert new in others
    q.apply(HealAll())
    q.sim.run(until=1600)
    log = [e.record for e in q.controllers[old].log]
    assert TopicRecord("written-by-a-stale-leader") not in log  # truncated, never committed
    assert q.controllers[old].log == q.controllers[new].log[:len(q.controllers[old].log)]
    assert check(q.finish()).valid


def test_a_broker_that_stops_heartbeating_is_fenced_and_loses_leadership():
    q = KRaftQuorum(seed=4)
    q.create_topics(1)
    q.sim.run(until=800)
    (active,) = leaders(q)
    image = q.controllers[active].image
    p = image.partitions[("t0", 0)]
    victim = p.leader
    q.apply(Crash(f"b{victim}"))
    q.sim.run(until=1600)
    (active,) = leaders(q)
    image = q.controllers[active].image
    assert image.brokers[victim].fenced
    p = image.partitions[("t0", 0)]
    assert p.leader != victim and victim not in p.isr
    assert check(q.finish()).valid


def test_end_offset_for():
    log = [Entry(1, None), Entry(1, None), Entry(3, None)]
    assert end_offset_for(log, 1) == (1, 2)
    assert end_offset_for(log, 2) == (1, 2)
    assert end_offset_for(log, 3) == (3, 3)
    assert end_offset_for(log, 0) == (-1, 0)


def test_a_run_replays_to_the_same_history():
    run = run_quorum(7, duration_ms=800, settle_ms=600)
    assert run.history.replay().same_as(run.history)


def test_seeded_runs_with_failover_have_no_safety_violation():
    bad = []
    elections = 0
    for seed in SEEDS:
        run = run_quorum(seed, duration_ms=1000, settle_ms=700)
        elections += sum(1 for op in run.history if op.f == "leader")
        if not run.valid:
            bad.append(run.report())
    assert not bad, bad[0]
    assert elections > 2 * len(SEEDS)  # the faults did force failovers


# -- the checker on hand-made histories -------------------------------------------------------------------
def history(*events) -> History:
    h = History(meta={"seed": 42})
    for t, (process, f, value) in enumerate(events):
        h.ops.append(Op(len(h.ops), float(t), process, INFO, f, value))
    return h


def commit(node, offset, epoch, record):
    return (node, "commit", {"offset": offset, "epoch": epoch, "record": record})


def final(node, role, epoch, log):
    return (node, "final", {"role": role, "epoch": epoch, "hwm": 0, "log": log})


def test_checker_two_leaders_in_one_epoch():
    r = check(history(("c0", "leader", {"epoch": 2}), ("c1", "leader", {"epoch": 2})))
    assert r.counts == {"two-leaders": 1} and not r.valid
    assert "seed 42" in r.report()


def test_checker_committed_changed_and_lost():
    h = history(commit("c0", 0, 1, "A"), commit("c1", 0, 2, "B"),
                final("c1", "leader", 2, [[2, "B"]]), final("c0", "follower", 2, [[2, "B"]]))
    r = check(h)
    assert r.counts == {"committed-changed": 1, "committed-lost": 1}
    sub = r.of_kind("committed-changed")[0].sub_history(h)
    assert [op.index for op in sub] == [0, 1]  # the smallest story: the two commits


def test_checker_log_mismatch():
    h = history(final("c0", "leader", 3, [[1, "A"], [3, "C"]]), final("c1", "follower", 3, [[2, "B"], [3, "C"]]))
    assert check(h).counts == {"log-mismatch": 1}


def test_checker_image_not_prefix():
    h = history(commit("c0", 0, 1, "A"), ("b0", "apply", {"offset": 0, "epoch": 1, "record": "A"}),
                ("b0", "apply", {"offset": 1, "epoch": 1, "record": "X"}),
                ("b1", "apply", {"offset": 0, "epoch": 1, "record": "Z"}))
    r = check(h)
    assert r.counts == {"image-not-prefix": 2}


def test_checker_accepts_a_clean_history_and_reports_liveness_separately():
    h = history(("c0", "leader", {"epoch": 1}), commit("c0", 0, 1, "A"),
                ("b0", "apply", {"offset": 0, "epoch": 1, "record": "A"}),
                final("c0", "follower", 1, [[1, "A"]]))
    r = check(h)
    assert r.valid and r.counts == {"no-leader-at-end": 1}
    assert "no-leader-at-end" not in SAFETY_KINDS


def test_leader_change_record_is_first_in_each_epoch():
    q = KRaftQuorum(seed=5, brokers=0)
    q.sim.run(until=600)
    (leader,) = leaders(q)
    c = q.controllers[leader]
    first = next(e for e in c.log if e.epoch == c.epoch)
    assert first.record == LeaderChangeRecord(leader, c.epoch)


def test_checker_partition_state_invariants():
    h = history(("b0", "image", {"min_insync_replicas": 2, "partitions": {
        "t0-0": {"leader": 1, "isr": [0], "elr": []},
        "t1-0": {"leader": 0, "isr": [0], "elr": [0]},
        "t2-0": {"leader": 0, "isr": [0, 1], "elr": [2]},
        "t3-0": {"leader": -1, "isr": [], "elr": [1, 2]}}}))
    r = check(h)
    assert r.counts == {"partition-state": 3}


def test_runs_reach_the_elr():
    """The fault mix fences brokers often enough that ELRs appear in brokers' images."""
    with_elr = 0
    for seed in range(40):
        run = run_quorum(seed, duration_ms=1000, settle_ms=700)
        assert run.valid, run.report()
        with_elr += any(p["elr"] for op in run.history if op.f == "image"
                        for p in op.value["partitions"].values())
    assert with_elr > 0


def test_elr_on_the_quorum_elects_an_eligible_replica_after_the_isr_is_gone():
    """KIP-966 on the real quorum: brokers fenced one by one (cut off from every controller); once the ISR
    is below min.insync.replicas (2) the leavers enter the ELR; when the ISR is empty and an ELR member
    comes back, the active controller elects it."""
    q = KRaftQuorum(seed=4)
    q.create_topics(1)
    q.sim.run(until=800)

    def partition():
        (active,) = leaders(q)
        return q.controllers[active].image.partitions[("t0", 0)]

    assert partition().replicas == (0, 1, 2) and partition().isr == (0, 1, 2)

    def cut_off(broker: str, until: float) -> None:
        for c in q.controllers:
            q.apply(Cut(broker, c))
        q.sim.run(until=until)

    cut_off("b1", 1200)
    assert (partition().isr, partition().elr) == ((0, 2), ())   # ISR at min ISR: no ELR yet
    cut_off("b2", 1600)
    assert (partition().isr, partition().elr) == ((0,), (2,))   # below min ISR: 2 is eligible
    cut_off("b0", 2000)
    assert (partition().leader, partition().isr, partition().elr) == (-1, (), (0, 2))
    for c in q.controllers:
        q.apply(Heal("b2", c))
    q.sim.run(until=2400)
    assert (partition().leader, partition().isr, partition().elr) == (2, (2,), (0,))
    assert q.brokers["b2"].image.partitions[("t0", 0)].leader == 2  # the broker learned it from the log
    result = check(q.finish())
    assert result.valid, result.report()
