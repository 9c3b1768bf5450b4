"""msglib.cluster on KRaft: partition leadership and ISRs through the controller quorum's metadata log,
controller failover as a fault, KIP-966's eligible leader replicas, and the checker's figure in small."""
from __future__ import annotations

import pytest

from benchmarks.bench_kraft import CLUSTER_SCENARIO, cluster_schedules
from msglib.check.kraft import cluster_metadata_problems
from msglib.cluster import Cluster, ClusterConfig
from msglib.cluster.kraft_controller import ControllerQuorum, PartitionChangeRecord
from msglib.cluster.policies import Policies
from msglib.cluster.scenario import controller_crash_during_election, last_replica_standing, run_scenario
from msglib.kraft.policies import ElrState, Policies as QuorumPolicies
from tests.wrong import kraft as wrong_kraft


def test_kraft_is_the_default_and_brokers_act_on_committed_records_only():
    c = Cluster(3, seed=2, config=ClusterConfig.fast(min_insync_replicas=2))
    assert isinstance(c.controller, ControllerQuorum) and c.controller_names == ["controller-0", "controller-1", "controller-2"]
    c.create_topic("t", 2, 3)
    assert c.active_controller() in c.controller_names
    committed = [e.record.state for e in c.controller.committed_log if isinstance(e.record, PartitionChangeRecord)]
    for b, broker in c.brokers.items():  # every state a broker holds was committed by the quorum
        for st in broker.metadata.values():
            assert st in committed
    assert Cluster(1, seed=0).controller_names == ["controller-0"]  # a single broker: one combined controller
    assert Cluster(3, seed=0, config=ClusterConfig.fast(controller="single_node")).controller_names == ["controller"]


def test_no_partition_leader_is_elected_while_no_controller_is_active():
    r = controller_crash_during_election(seed=0)
    c = r.cluster
    gap = [s for s in r.steps if s.controller is None]
    assert gap, "the demo shows a moment without an active controller"
    assert all(s.leader == gap[0].leader for s in gap), "nobody elects a leader without a controller"
    election = c.controller.elections[0]
    crashed = r.steps[1].controller  # the controller active when the leader crashed, crashed next
    assert election["controller"] != crashed and election["source"] == "isr"
    first_gap_end = next(t for t, who in c.controller.timeline[2:] if who is not None)
    assert election["time"] > first_gap_end, "the partition leader was elected only once a controller was active"
    assert r.acked and not r.lost


def test_the_cluster_says_when_no_controller_is_active():
    c = Cluster(3, seed=4)
    c.create_topic("t", 1, 3)
    c.controller_failover(300)
    assert c.active_controller() is None
    assert "no active controller" in c.describe() and "no partition leader can be elected" in c.describe()
    c.run(400)
    assert c.active_controller() is not None and c.controller.no_controller_ms() > 0
    with pytest.raises(ValueError, match="single_node"):
        Cluster(3, seed=0, config=ClusterConfig.fast(controller="single_node")).controller_failover()
    with pytest.raises(ValueError, match="controller must be one of"):
        ClusterConfig(controller="zookeeper")


def test_elr_keeps_the_last_replica_standing_from_losing_acknowledged_writes():
    without = last_replica_standing(eligible_leader_replicas=False)
    with_elr = last_replica_standing(eligible_leader_replicas=True)
    assert without.acked == with_elr.acked and len(with_elr.acked) == 20
    assert without.lost, "without ELR the old leader returns without its unflushed, acknowledged records"
    assert not with_elr.lost
    stalled = with_elr.steps[3]
    assert len(stalled.isr) == 1 and len(stalled.elr) == 1, "the second follower to stall enters the ELR"
    sources = [e["source"] for e in with_elr.cluster.controller.elections]
    assert "elr" in sources


def test_loss_table_scenario_elr_column_is_never_worse_than_isr_only():
    from msglib.cluster.scenario import loss_table

    table = loss_table(12, acks=("all",), min_insync_replicas=(2,))
    assert table[("all", 2, "elr")] == 0.0
    assert table[("all", 2, "elr")] <= table[("all", 2, "isr")]


@pytest.mark.slow
def test_a_few_hundred_schedules_with_controller_failover_lose_no_acknowledged_write():
    out = cluster_schedules(range(300))
    t = out["totals"]
    assert t["schedules"] == 300 and t["acked"] > 0 and t["failovers"] == 600
    assert t["lost"] == 0 and t["metadata_violations"] == 0 and t["divergent"] == 0 and t["invalid"] == 0, out["first"]


def _elect_ignores_isr(replicas, isr, alive, unclean_leader_election_enable):
    return next((r for r in replicas if r in alive), None)


def _elr_never_cleared(old_isr, new_isr, elr, min_insync_replicas, unclean_shutdown=()):
    new = set(new_isr)
    return ElrState(tuple(sorted(new)), tuple(sorted((set(elr) | (set(old_isr) - new)) - new)))


WRONG = [
    ("partition election ignores the ISR", dict(policies=Policies(elect_leader=_elect_ignores_isr))),
    ("election takes a replica outside ISR and ELR",
     dict(quorum_policies=QuorumPolicies(elect_partition_leader=wrong_kraft.elect_outside_elr))),
    ("ELR kept although the ISR is back to min.insync", dict(quorum_policies=QuorumPolicies(elr_update=_elr_never_cleared))),
    ("vote ignores log up-to-dateness", dict(quorum_policies=QuorumPolicies(grant_vote=wrong_kraft.grant_vote_ignores_log))),
    ("votes twice in an epoch", dict(quorum_policies=QuorumPolicies(grant_vote=wrong_kraft.grant_vote_twice))),
    ("quorum HWM from the leader alone",
     dict(quorum_policies=QuorumPolicies(advance_high_watermark=wrong_kraft.advance_hwm_leader_only))),
]


@pytest.mark.slow
@pytest.mark.parametrize("name,policies", WRONG, ids=[w[0] for w in WRONG])
def test_the_checker_catches_known_wrong_policies_in_the_cluster(name, policies):
    for seed in range(60):
        r = run_scenario(seed, **dict(CLUSTER_SCENARIO, **policies))
        if not r.ok:
            what, story = r.first_problem()
            assert what and story
            return
    pytest.fail(f"{name}: 60 schedules and the checker saw nothing wrong")


def test_metadata_checker_names_an_election_from_outside_isr_and_elr():
    from msglib.cluster.kraft_controller import BrokerFencingRecord, RegisterBrokerRecord
    from msglib.kraft.records import Entry
    from msglib.protocol import PartitionState, TopicPartition

    tp = TopicPartition("t", 0)
    log = [Entry(1, RegisterBrokerRecord(b, 1)) for b in (0, 1, 2)]
    log += [Entry(1, BrokerFencingRecord(b, 1, False)) for b in (0, 1, 2)]
    log += [Entry(1, PartitionChangeRecord(PartitionState(tp, (0, 1, 2), 0, 0, (0, 1), 0))),
            Entry(1, BrokerFencingRecord(0, 1, True)),
            Entry(1, PartitionChangeRecord(PartitionState(tp, (0, 1, 2), 2, 1, (2,), 1), "leader 0 fenced", "isr"))]
    problems = cluster_metadata_problems(log, min_insync_replicas=2, eligible_leader_replicas=True,
                                         unclean_leader_election_enable=False)
    assert len(problems) == 1 and "outside the ISR [0, 1]" in problems[0]
    assert not cluster_metadata_problems(log, min_insync_replicas=2, eligible_leader_replicas=True,
                                         unclean_leader_election_enable=True)


def test_a_run_with_controller_failovers_replays_from_its_history():
    r = run_scenario(11, duration_ms=300.0, controller_failovers=2, fault_interval_ms=100.0)
    assert r.stats["controller_failovers"] == 2
    again = r.history.replay()
    assert [op.describe() for op in again] == [op.describe() for op in r.history]
    from msglib.sim.faults import FaultSchedule

    assert FaultSchedule.from_json(r.faults.to_json()).describe() == r.faults.describe()


def test_seed_7291_settles_a_refusal_waits_for_the_records_it_rests_on():
    """Regression: an AlterPartition refused on an uncommitted record that a failover then erased left the
    partition leader waiting forever for an ISR change (the cluster never settled)."""
    r = run_scenario(7291, **CLUSTER_SCENARIO)
    assert r.settled and r.ok, r.summary()


@pytest.mark.parametrize("seed", [477, 1743, 2153, 3088, 5041, 7205])
def test_a_follower_drops_an_epoch_it_stamped_as_leader_but_never_wrote_under(seed):
    """Regression (run_many defaults, seeds 0-9999 on KRaft): a broker elected leader stamps its epoch into
    the epoch cache at its LEO; deposed before writing anything under it, it kept that entry as a follower.
    The new leader answered OffsetsForLeaderEpoch with an older epoch ending at the follower's LEO, the
    truncation removed no record and so left the entry, and the follower asked about it again forever: out
    of the ISR after every fault healed. Kafka's UnifiedLog.truncateTo trims the epoch cache even then."""
    r = run_scenario(seed)
    assert r.settled and r.ok and r.lost == 0, r.summary()
