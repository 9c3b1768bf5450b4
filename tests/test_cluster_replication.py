"""Replication in the simulated cluster: HW, ISR, min.insync.replicas, elections, truncation.

The rules and their sources (KIPs, Kafka's documentation) are in docs/kafka-behaviours.md,
"Producers and replication".
"""
import pytest

from msglib.client import NotEnoughReplicasAfterAppendError, NotEnoughReplicasError
from msglib.client.errors import KafkaTimeoutError, RequestTimedOutError
from msglib.cluster import Cluster, ClusterConfig, TopicPartition
from msglib.cluster.policies import Policies, advance_high_watermark_before_3_7, truncation_offset

TP = TopicPartition("t", 0)


def cluster(brokers=3, rf=3, seed=1, trace=False, **cfg):
    c = Cluster(brokers, seed=seed, config=ClusterConfig.fast(**cfg), trace=trace)
    c.create_topic("t", 1, rf)
    return c


def test_a_new_topic_has_the_first_replica_as_leader_and_a_full_isr():
    c = cluster()
    st = c.state("t")
    assert st.leader == 0 and st.isr == (0, 1, 2) and st.leader_epoch == 0
    assert c.replica(0, "t").is_leader and not c.replica(1, "t").is_leader


def test_high_water_mark_walkthrough_acks_all():
    """the ack comes only once every ISR member has the records; followers learn the HW later."""
    c = cluster(trace=True)
    producer = c.producer(acks="all")
    futures = [producer.send("t", f"r{i}".encode()) for i in range(3)]
    acked_at = []
    futures[-1].add_callback(lambda meta: acked_at.append(
        (c.sim.now, c.replica(0, "t").high_watermark, c.replica(1, "t").log_end_offset,
         c.replica(2, "t").log_end_offset, c.replica(1, "t").high_watermark)))
    producer.flush()
    assert [f.get().offset for f in futures] == [0, 1, 2]
    (t, leader_hw, leo1, leo2, follower_hw) = acked_at[0]
    assert leader_hw == 3 and leo1 == 3 and leo2 == 3
    assert follower_hw < 3, "a follower learns the new HW only from its next fetch response"
    leader_rows = [r for r in c.trace if r["broker"] == 0 and r["event"] == "hw"]
    assert leader_rows[-1]["hw"] == 3 and all(r["hw"] <= 3 for r in leader_rows)
    c.run(200)
    assert all(c.replica(b, "t").high_watermark == 3 for b in range(3))
    assert c.brokers[1].read_committed(TP)[2].value == b"r2"


def test_acks_1_is_acknowledged_before_any_follower_has_the_record():
    c = cluster()
    c.pause(1)
    c.pause(2)
    meta = c.producer(acks=1).send("t", b"x").get()
    assert meta.offset == 0
    assert c.replica(0, "t").log_end_offset == 1
    assert c.replica(0, "t").high_watermark == 0, "not committed: the followers do not have it"


def test_acks_0_does_not_wait_and_has_no_offset():
    c = cluster()
    meta = c.producer(acks=0).send("t", b"x").get()
    assert meta.offset == -1
    c.run(50)
    assert c.replica(0, "t").log_end_offset == 1


def test_min_insync_replicas_refuses_before_appending_and_recovers():
    """ISR shrinks below min.insync -> NotEnoughReplicas, nothing appended, HW frozen."""
    c = cluster(min_insync_replicas=2)
    acks_all = c.producer(acks="all", retries=0, enable_idempotence=False)
    assert acks_all.send("t", b"a").get().offset == 0
    c.pause(2)
    c.run(1000)
    assert c.state("t").isr == (0, 1)
    assert acks_all.send("t", b"b").get().offset == 1, "ISR {0,1} still meets min.insync=2"
    c.pause(1)
    c.run(1000)
    assert c.state("t").isr == (0,)
    leo = c.replica(0, "t").log_end_offset
    with pytest.raises(NotEnoughReplicasError):
        acks_all.send("t", b"c").get()
    assert c.replica(0, "t").log_end_offset == leo, "refused before appending"
    assert c.producer(acks=1).send("t", b"d").get().offset == leo, "acks=1 ignores min.insync"
    hw = c.replica(0, "t").high_watermark
    c.run(200)
    assert c.replica(0, "t").high_watermark == hw == leo, "Kafka 3.7+: HW frozen while under min ISR"
    c.resume(1)
    c.resume(2)
    c.run(1000)
    assert c.state("t").isr == (0, 1, 2)
    assert c.replica(0, "t").high_watermark == leo + 1
    assert acks_all.send("t", b"e").get().offset == leo + 1


def test_not_enough_replicas_after_append_keeps_the_data():
    """appended with a full ISR, committed by a smaller one than min.insync.

    Since Kafka 3.7 the HW stops while the ISR is under min.insync, so this
    needs the older HW rule, plugged in through the policy seam."""
    c = Cluster(3, seed=1, config=ClusterConfig.fast(min_insync_replicas=3),
                policies=Policies(advance_high_watermark=advance_high_watermark_before_3_7))
    c.create_topic("t", 1, 3)
    producer = c.producer(acks="all", retries=0, enable_idempotence=False, request_timeout_ms=2000,
                          delivery_timeout_ms=5000)
    producer.send("t", b"a").get()
    c.pause(2)
    future = producer.send("t", b"b")
    with pytest.raises(NotEnoughReplicasAfterAppendError):
        future.get()
    assert [r.value for r in c.brokers[0].read_committed(TP)] == [b"a", b"b"]


def test_clean_election_picks_the_first_alive_isr_replica_and_bumps_the_epoch():
    """assignment order, not the longest log; a new epoch."""
    c = cluster()
    producer = c.producer(acks="all")
    for i in range(5):
        producer.send("t", str(i).encode())
    producer.flush()
    c.crash(0)
    c.run(500)
    st = c.state("t")
    assert st.leader == 1 and st.leader_epoch == 1 and st.isr == (1, 2)
    assert c.replica(1, "t").log.leader_epoch_cache.entries[-1] == (1, 5)
    assert producer.send("t", b"after").get().offset == 5
    c.restart(0)
    c.run(1000)
    assert c.state("t").isr == (0, 1, 2) and c.state("t").leader == 1, "the old leader returns as follower"
    assert c.divergences() == []


def test_no_leader_without_an_alive_isr_member_unless_unclean(tmp_path):
    """unclean=false keeps the partition offline; unclean=true loses committed records."""
    for unclean in (False, True):
        c = cluster(brokers=2, rf=2, unclean_leader_election_enable=unclean)
        producer = c.producer(acks="all", delivery_timeout_ms=1000)
        c.pause(1)
        c.run(1000)
        assert c.state("t").isr == (0,)
        for i in range(3):
            producer.send("t", f"committed-{i}".encode())
        producer.flush()
        c.crash(0)
        c.resume(1)
        c.run(1000)
        if not unclean:
            assert c.leader("t") is None
            with pytest.raises(KafkaTimeoutError):
                producer.send("t", b"while offline").get()
            c.restart(0)
            assert c.settle()
            assert [r.value for r in c.brokers[1].read_committed(TP)] == [
                b"committed-0", b"committed-1", b"committed-2"]
        else:
            assert c.leader("t") == 1 and c.controller.elections[-1]["unclean"]
            assert producer.send("t", b"new").get().offset == 0, "offset 0 is reused"
            c.restart(0)
            assert c.settle()
            assert [r.value for r in c.brokers[0].read_committed(TP)] == [b"new"]


def _kip101_scenario_1(truncation):
    """Three replicas, a double failover, a follower whose HW lagged (item 66, in KRaft form)."""
    c = cluster(seed=5, truncation=truncation)
    producer = c.producer(acks="all")
    producer.send("t", b"m0").get()
    c.run(200)
    acked = producer.send("t", b"m1").get()
    assert c.replica(2, "t").high_watermark < 2 <= c.replica(2, "t").log_end_offset
    c.crash(0)
    c.cut(1, 2)  # broker 2 cannot fetch from the new leader
    c.sim.run_until(lambda: c.leader("t") == 1)
    c.run(60)  # broker 2 learns broker 1 leads
    c.crash(1)
    c.sim.run_until(lambda: c.leader("t") == 2, until=c.sim.now + 2000)
    assert c.settle()
    return acked, c


def test_kip101_high_watermark_truncation_loses_an_acknowledged_write():
    acked, c = _kip101_scenario_1("high_watermark")
    assert acked.offset == 1
    assert [r.value for r in c.brokers[2].read_committed(TP)] == [b"m0"]


def test_kip101_leader_epochs_keep_it():
    acked, c = _kip101_scenario_1("leader_epoch")
    assert [r.value for r in c.brokers[2].read_committed(TP)] == [b"m0", b"m1"]


def _kip101_scenario_2(truncation):
    """both replicas lose power; the one that lost m2 leads and writes m3 at offset 1."""
    c = cluster(brokers=2, rf=2, seed=3, truncation=truncation, os_writeback_interval_ms=1e9)
    producer = c.producer(acks="all", enable_idempotence=False)
    producer.send("t", b"m1").get()
    c.run(100)
    c.replica(1, "t").log.flush()  # broker 1's disk has m1 only
    producer.send("t", b"m2").get()
    c.run(100)
    c.replica(0, "t").log.flush()  # broker 0's disk has both
    c.crash(0, power_loss=True)
    c.run(300)
    c.crash(1, power_loss=True)
    c.run(300)
    c.restart(1)
    c.run(300)
    producer.send("t", b"m3").get()
    c.restart(0)
    c.run(500)
    return c


def test_kip101_divergence_with_the_old_rule():
    c = _kip101_scenario_2("high_watermark")
    entries = c.replica_entries("t")
    assert entries[0][1][2] == b"m2" and entries[1][1][2] == b"m3"
    [d] = c.divergences()
    assert d.offset == 1


def test_kip101_no_divergence_with_leader_epochs():
    c = _kip101_scenario_2("leader_epoch")
    entries = c.replica_entries("t")
    assert entries[0] == entries[1] and [v for *_, v in entries[0]] == [b"m1", b"m3"]
    assert c.divergences() == []


def test_truncation_offset_kip279_fast_double_failover():
    """B asks about epoch 2; A answers (1, 20); B must truncate to 10 and is done."""
    b_cache, b_leo = [(1, 0), (2, 10)], 15
    assert truncation_offset(b_cache, b_leo, 1, 20) == (10, True)
    # KIP-101 scenario 2 from A's side: A asks about 0, leader answers (0, 1)
    assert truncation_offset([(0, 0)], 2, 0, 1) == (1, True)
    # The follower never saw the leader's epoch: truncate to the end of its own earlier one, ask again
    assert truncation_offset([(1, 0), (3, 5)], 10, 2, 12) == (5, False)
    assert truncation_offset([(1, 0)], 5, 1, 5) == (5, True)


def test_a_leader_cut_off_from_the_cluster_cannot_acknowledge_acks_all():
    """the deposed leader keeps its old view, but its followers left; nothing gets committed."""
    c = cluster(min_insync_replicas=1)
    producer = c.producer(acks="all", retries=0, enable_idempotence=False, request_timeout_ms=1000,
                          delivery_timeout_ms=3000)
    producer.send("t", b"before").get()
    c.partition([0], [1, 2, "controller"])  # the producer can still reach everyone
    c.run(500)
    assert c.leader("t") == 1
    zombie = c.replica(0, "t")
    assert zombie.is_leader, "broker 0 has not heard that it was replaced"
    stale = producer.send("t", b"to the old leader", partition=0)
    hw_before = zombie.high_watermark
    c.run(100)
    assert zombie.log_end_offset == hw_before + 1, "the zombie appended it (it still has a big enough ISR)"
    assert zombie.high_watermark == hw_before, "but cannot commit it: its followers fetch elsewhere"
    with pytest.raises(RequestTimedOutError):
        stale.get()
    c.heal_all()
    assert c.settle()
    assert [r.value for r in c.brokers[0].read_committed(TP)] == [b"before"], "truncated away on return"


def test_replicas_keep_their_invariants_under_random_faults():
    """On every change: HW <= LEO; a leader's HW never drops within its epoch."""
    from msglib.cluster.scenario import run_scenario

    for seed in range(6):
        r = run_scenario(seed, duration_ms=500)
        assert r.ok, r.summary()
    c = Cluster(3, seed=11, trace=True)
    c.create_topic("t", 1, 3)
    from msglib.sim.faults import random_schedule
    c.schedule(random_schedule(c.sim.random("faults"), ["b0", "b1", "b2"], 1500, mean_interval_ms=200))
    producer = c.producer(acks="all")
    for i in range(300):
        c.sim.at(c.sim.now + i * 5, lambda i=i: producer.send("t", str(i).encode()))
    c.run(1600)
    assert c.settle()
    last_leader_hw = {}
    for row in c.trace:
        assert row["hw"] <= row["leo"], row
        if row["role"] == "leader":
            key = (row["broker"], row["leader_epoch"])
            assert row["hw"] >= last_leader_hw.get(key, 0), row
            last_leader_hw[key] = row["hw"]
    assert c.divergences() == []


def test_a_broker_restarting_behind_a_slow_link_still_learns_the_metadata():
    """Regression (seed 56): an old heartbeat answer arriving after a restart once made a broker skip
    the metadata log, so it never rejoined and kept a stale tail."""
    from msglib.cluster.scenario import run_scenario

    r = run_scenario(56)
    assert r.settled and not r.divergences and r.check.valid, r.summary()


def test_a_leader_that_missed_the_answer_to_its_isr_change_keeps_counting_the_new_member():
    """Regression (seed 7911): the controller added a follower to the ISR, the answer was lost, and
    the leader went back to its old, smaller ISR; cut off from the controller, it then committed
    writes the new leader (elected from the controller's ISR) never had."""
    from msglib.cluster.scenario import run_scenario

    r = run_scenario(7911)
    assert r.lost == 0 and r.check.valid, r.summary()


@pytest.mark.parametrize("bad", ["append", ("append", None)])
def test_a_check_sequence_seam_returning_something_else_is_named(bad):
    """A plugged-in sequence check must return a SequenceVerdict; anything else is a clear TypeError."""
    c = Cluster(3, seed=1, policies=Policies(check_sequence=lambda *args: bad))
    c.create_topic("t", 1, 3)
    leader = c.leader("t")
    c.producer(acks="all", enable_idempotence=True).send("t", b"a")
    with pytest.raises(TypeError, match="check_sequence returned .* SequenceVerdict"):
        c.run(500)
    assert c.replica(leader, "t").log_end_offset == 0  # nothing appended on a bad verdict


@pytest.mark.parametrize("bad", [True, 1.0, None])
def test_an_advance_high_watermark_seam_returning_a_non_int_is_named(bad):
    c = Cluster(3, seed=1, policies=Policies(advance_high_watermark=lambda *args: bad))
    with pytest.raises(TypeError, match="advance_high_watermark returned"):
        c.create_topic("t", 1, 3)  # a new leader computes its HW at once
