"""KafkaConsumer: positions, commits, resets, seeks, pause, auto-commit timing (section H), both backends."""
from __future__ import annotations

import pytest

from msglib.client.consumer import (ConsumerRebalanceListener, KafkaConsumer, PartitionBounds, starting_offset)
from msglib.client.errors import (IllegalStateError, KafkaConfigurationError, NoBrokersAvailable,
                                  OffsetOutOfRangeError)
from msglib.cluster import Cluster, ClusterConfig
from msglib.groups import (CommitFailedError, LocalBroker, NoOffsetForPartitionError, OffsetAndMetadata,
                           TopicPartition)
from msglib.log import LogConfig, Topic
from msglib.sim.history import History

TP0 = TopicPartition("t", 0)


def broker_with(n: int, partitions: int = 1, **topic_options) -> LocalBroker:
    b = LocalBroker(seed=3, fast=True)
    b.create_topic("t", partitions, **topic_options)
    for i in range(n):
        b.send("t", str(i).encode(), partition=i % partitions)
    return b


def offsets(records):
    return [r.offset for recs in records.values() for r in recs]


def drain(consumer, polls: int = 20, timeout_ms: float = 100):
    out = []
    for _ in range(polls):
        for recs in consumer.poll(timeout_ms=timeout_ms).values():
            out += recs
    return out


# ------------------------------------------------------------------ H#75-77: position and commit
def test_position_is_the_next_offset_and_commit_stores_it():
    b = broker_with(10)
    c = b.consumer(group_id="g", enable_auto_commit=False, auto_offset_reset="earliest")
    c.assign([TP0])
    assert c.position(TP0) == 0
    got = c.poll(timeout_ms=100, max_records=4)
    assert offsets(got) == [0, 1, 2, 3] and c.position(TP0) == 4
    c.poll(timeout_ms=100)
    assert c.position(TP0) == 10
    assert c.committed(TP0) is None
    c.commit()
    assert c.committed(TP0) == 10                                  # the NEXT offset, not the last read
    assert c.committed(TP0, metadata=True) == OffsetAndMetadata(10, "", -1)
    # a new consumer of the group resumes at the committed offset
    c.close()
    d = b.consumer(group_id="g", auto_offset_reset="earliest")
    d.assign([TP0])
    assert d.position(TP0) == 10


def test_commit_explicit_offsets_and_value_forms():
    b = broker_with(5)
    c = b.consumer(group_id="g", enable_auto_commit=False)
    c.assign([TP0])
    c.commit({TP0: OffsetAndMetadata(3, "meta")})
    assert c.committed(TP0, metadata=True) == OffsetAndMetadata(3, "meta", -1)
    c.commit({TP0: 4})
    assert c.committed(TP0) == 4
    with pytest.raises(TypeError):
        c.commit({"t-0": 4})
    with pytest.raises(TypeError):
        c.commit({TP0: OffsetAndMetadata(-2)})


def test_commit_and_committed_need_a_group_id():
    b = broker_with(3)
    c = b.consumer()
    c.assign([TP0])
    for call in (c.commit, lambda: c.committed(TP0), c.commit_async):
        with pytest.raises(IllegalStateError, match="group_id"):
            call()


# ------------------------------------------------------------------ H#78: auto.offset.reset
def test_reset_policies_without_a_committed_offset():
    b = broker_with(6)
    early = b.consumer(group_id="a", auto_offset_reset="earliest")
    early.assign([TP0])
    late = b.consumer(group_id="b", auto_offset_reset="latest")
    late.assign([TP0])
    assert early.position(TP0) == 0 and late.position(TP0) == 6
    none = b.consumer(group_id="c", auto_offset_reset="none")
    none.assign([TP0])
    with pytest.raises(NoOffsetForPartitionError):
        none.poll(timeout_ms=50)


def test_a_committed_offset_below_the_log_start_resets():
    b = LocalBroker(seed=1, fast=True)
    topic = b.create_topic("t", 1, config=LogConfig(segment_bytes=200, retention_bytes=300))
    for i in range(30):
        b.send("t", b"x" * 20)
    c = b.consumer(group_id="g", enable_auto_commit=False, auto_offset_reset="earliest")
    c.assign([TP0])
    c.commit({TP0: 2})
    topic[0].apply_retention()                 # deletes old segments: offset 2 is gone
    start = topic[0].log_start_offset
    assert start > 2
    d = b.consumer(group_id="g", auto_offset_reset="earliest")
    d.assign([TP0])
    assert d.position(TP0) == start
    n = b.consumer(group_id="g", auto_offset_reset="none")
    n.assign([TP0])
    with pytest.raises(OffsetOutOfRangeError):
        n.poll(timeout_ms=50)


def test_starting_offset_rule():
    bounds = PartitionBounds(10, 20, 25)
    assert starting_offset(None, bounds, "earliest") == 10
    assert starting_offset(None, bounds, "latest") == 20
    assert starting_offset(15, bounds, "none") == 15
    assert starting_offset(25, bounds, "earliest") == 25        # = log end: caught up, still valid
    assert starting_offset(22, bounds, "earliest") == 22        # above the HW but in the log: wait there
    assert starting_offset(9, bounds, "latest") == 20
    assert starting_offset(26, bounds, "earliest") == 10
    with pytest.raises(NoOffsetForPartitionError):
        starting_offset(None, bounds, "none")
    with pytest.raises(OffsetOutOfRangeError):
        starting_offset(3, bounds, "none")


def test_reset_position_seam_is_used():
    b = broker_with(10)
    calls = []

    def rule(committed, bounds, policy):
        calls.append((committed, bounds, policy))
        return 7
    c = b.consumer(group_id="g", reset_position=rule)
    c.assign([TP0])
    assert offsets(c.poll(timeout_ms=100)) == [7, 8, 9]
    assert calls == [(None, PartitionBounds(0, 10, 10), "latest")]
    bad = b.consumer(group_id="g2", reset_position=lambda *a: "7")
    bad.assign([TP0])
    with pytest.raises(TypeError, match="must return an int"):
        bad.poll(timeout_ms=50)


# ------------------------------------------------------------------ H#79-80: seek
def test_seek_last_one_wins_and_records_below_are_dropped():
    b = LocalBroker(seed=1, fast=True)
    topic = b.create_topic("t", 1)
    from msglib.log import Record
    topic[0].append([Record(None, str(i).encode()) for i in range(10)])   # one batch of 10
    c = b.consumer(auto_offset_reset="earliest")
    c.assign([TP0])
    c.seek(TP0, 2)
    c.seek(TP0, 6)
    got = c.poll(timeout_ms=100)
    assert offsets(got) == [6, 7, 8, 9]                       # the batch starts at 0: 0..5 dropped
    c.seek_to_beginning()
    assert c.position(TP0) == 0
    c.seek_to_end(TP0)
    assert c.position(TP0) == 10
    c.seek(TP0, 50)                                           # out of range: the reset policy at the next fetch
    assert offsets(c.poll(timeout_ms=100))[:1] == [0]         # earliest: from the log start again
    with pytest.raises(ValueError):
        c.seek(TP0, -1)
    with pytest.raises(ValueError):
        c.seek(TopicPartition("t", 9), 1)
    with pytest.raises(ValueError):
        c.seek_to_end(TopicPartition("t", 9))


# ------------------------------------------------------------------ H#81: auto-commit timing
def test_auto_commit_commits_the_previous_poll_at_the_start_of_the_next():
    b = broker_with(20)
    c = b.consumer(group_id="g", enable_auto_commit=True, auto_commit_interval_ms=100, auto_offset_reset="earliest",
                   max_poll_records=5)
    c.assign([TP0])
    assert offsets(c.poll(timeout_ms=10)) == [0, 1, 2, 3, 4]
    b.run(150)                                 # the interval has passed...
    assert c.committed(TP0) is None            # ...but nothing commits outside poll
    assert offsets(c.poll(timeout_ms=10)) == [5, 6, 7, 8, 9]
    b.run(20)
    assert c.committed(TP0) == 5               # the poll committed what the previous poll returned
    c.poll(timeout_ms=10)                      # within the interval: no new commit
    b.run(20)
    assert c.committed(TP0) == 5
    c.close()                                  # close commits the positions reached
    d = b.consumer(group_id="g")
    assert d.committed(TP0) == 15


def test_auto_commit_before_a_rebalance_hands_over_without_duplicates():
    b = broker_with(40, partitions=2)
    a = b.consumer("t", group_id="g", auto_commit_interval_ms=10_000, auto_offset_reset="earliest", max_poll_records=7)
    seen = [r.offset for r in a.poll(timeout_ms=2_000).get(TP0, [])]
    other = b.consumer("t", group_id="g", auto_commit_interval_ms=10_000, auto_offset_reset="earliest")
    got = {}
    for _ in range(60):
        for c in (a, other):
            for tp, recs in c.poll(timeout_ms=20).items():
                got.setdefault((c.name, tp), []).extend(r.offset for r in recs)
    # whoever got t-0 after the rebalance started exactly where a stopped
    everything = sorted(seen + [o for (name, tp), offs in got.items() if tp == TP0 for o in offs])
    assert everything == list(range(20))


# ------------------------------------------------------------------ H#82-84: committed, assign, subscribe
def test_manual_assign_commits_only_while_the_group_is_empty():
    b = broker_with(10, partitions=2)
    manual = b.consumer(group_id="g", enable_auto_commit=False)
    manual.assign([TP0])
    manual.commit({TP0: 3})
    member = b.consumer("t", group_id="g", enable_auto_commit=False)
    member.poll(timeout_ms=5_000)
    assert member.assignment()
    with pytest.raises(CommitFailedError):
        manual.commit({TP0: 4})               # generation -1 and a non-empty group: UNKNOWN_MEMBER_ID
    assert manual.committed(TP0) == 3


def test_assign_and_subscribe_do_not_mix():
    b = broker_with(3)
    c = b.consumer(group_id="g")
    c.assign([TP0])
    with pytest.raises(IllegalStateError, match="only one way"):
        c.subscribe(["t"])
    c.assign([])                              # same as unsubscribe()
    assert c.assignment() == set()
    c.subscribe(["t"])
    with pytest.raises(IllegalStateError, match="only one way"):
        c.assign([TP0])
    with pytest.raises(KafkaConfigurationError, match="group_id"):
        b.consumer().subscribe(["t"])


# ------------------------------------------------------------------ H#85-87: pause, max.poll.records, offsets
def test_pause_stops_records_without_a_rebalance():
    b = broker_with(20, partitions=2)
    c = b.consumer("t", group_id="g", auto_offset_reset="earliest", max_poll_records=3)
    c.poll(timeout_ms=5_000)
    generation = c.generation
    c.pause(TP0)
    got = drain(c, polls=10, timeout_ms=20)
    assert {r.partition for r in got} == {1}
    assert c.paused() == {TP0}
    c.resume(TP0)
    later = drain(c, polls=10, timeout_ms=20)
    assert {r.partition for r in later} == {0}
    assert c.generation == generation


def test_max_poll_records_keeps_the_rest_in_order():
    b = broker_with(12)
    c = b.consumer(auto_offset_reset="earliest", max_poll_records=5)
    c.assign([TP0])
    assert [offsets(c.poll(timeout_ms=50)) for _ in range(3)] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]
    assert offsets(c.poll(timeout_ms=50, max_records=1)) == []


def test_beginning_and_end_offsets_and_highwater():
    b = broker_with(8, partitions=2)
    c = b.consumer(auto_offset_reset="earliest")
    tps = [TopicPartition("t", 0), TopicPartition("t", 1)]
    c.assign(tps)
    assert c.beginning_offsets(tps) == {tps[0]: 0, tps[1]: 0}
    assert c.end_offsets(tps) == {tps[0]: 4, tps[1]: 4}
    assert c.highwater(tps[0]) is None
    c.poll(timeout_ms=50)
    assert c.highwater(tps[0]) == 4
    assert c.partitions_for_topic("t") == {0, 1} and "t" in c.topics()


# ------------------------------------------------------------------ API edges
def test_argument_and_state_errors():
    b = broker_with(3)
    with pytest.raises(KafkaConfigurationError, match="Unrecognized"):
        b.consumer(bogus=1)
    with pytest.raises(KafkaConfigurationError, match="module 06"):
        b.consumer(isolation_level="read_committed")
    with pytest.raises(KafkaConfigurationError):
        b.consumer(auto_offset_reset="oldest")
    assert b.consumer(auto_offset_reset="smallest").config["auto_offset_reset"] == "earliest"   # kafka-python's map
    c = b.consumer()
    with pytest.raises(IllegalStateError, match="subscribe\\(\\) or assign\\(\\)"):
        c.poll()
    c.assign([TP0])
    with pytest.raises(ValueError):
        c.poll(timeout_ms=-1)
    with pytest.raises(TypeError):
        c.poll(max_records=2.5)
    with pytest.raises(ValueError):
        c.poll(max_records=0)
    with pytest.raises(IllegalStateError):
        c.position(TopicPartition("t", 5))
    with pytest.raises(TypeError):
        c.position("t-0")
    c.close()
    with pytest.raises(IllegalStateError, match="closed"):
        c.poll()
    # without cluster=, only the embedded default's address can be served (tests/test_embedded_cluster.py)
    with pytest.raises(NoBrokersAvailable, match="Two ways forward"):
        KafkaConsumer("t", group_id="g", bootstrap_servers="kafka:9092")


def test_a_bare_topic_gets_its_own_local_broker_shared_by_its_consumers():
    topic = Topic("orders", 2)
    for i in range(6):
        topic.send(str(i).encode(), partition=i % 2)
    a = KafkaConsumer(cluster=topic, auto_offset_reset="earliest")
    a.assign([TopicPartition("orders", 0), TopicPartition("orders", 1)])
    assert sorted(int(r.value) for r in drain(a, polls=3)) == list(range(6))
    b = KafkaConsumer(cluster=topic)
    assert b.coordinator_node is a.coordinator_node


def test_iterator_and_deserializers():
    b = broker_with(4)
    c = b.consumer(auto_offset_reset="earliest", value_deserializer=lambda v: int(v), consumer_timeout_ms=500)
    c.assign([TP0])
    assert [r.value for r in c] == [0, 1, 2, 3]


def test_polls_and_commits_are_recorded_in_a_history():
    h = History()
    b = broker_with(5)
    c = b.consumer(group_id="g", auto_offset_reset="earliest", enable_auto_commit=False, history=h,
                   value_deserializer=int)
    c.assign([TP0])
    c.poll(timeout_ms=50)
    c.commit()
    kinds = [(op.f, op.type) for op in h]
    assert kinds == [("poll", "invoke"), ("poll", "ok"), ("commit", "invoke"), ("commit", "ok")]
    assert h[1].value["reads"] == {"t-0": [[i, i] for i in range(5)]}


class Recorder(ConsumerRebalanceListener):
    def __init__(self):
        self.calls = []

    def on_partitions_revoked(self, revoked):
        self.calls.append(("revoked", sorted(revoked)))

    def on_partitions_assigned(self, assigned):
        self.calls.append(("assigned", sorted(assigned)))


def test_unsubscribe_revokes_and_leaves():
    b = broker_with(4, partitions=2)
    r = Recorder()
    c = b.consumer(group_id="g", auto_offset_reset="earliest")
    c.subscribe(["t"], listener=r)
    c.poll(timeout_ms=5_000)
    c.unsubscribe()
    assert r.calls[-1] == ("revoked", [TopicPartition("t", 0), TopicPartition("t", 1)])
    b.run(100)
    assert b.coordinator.group("g").state == "Empty"


# ------------------------------------------------------------------ the cluster backend
@pytest.fixture
def cluster():
    cl = Cluster(3, seed=5, config=ClusterConfig.fast(min_insync_replicas=2))
    cl.create_topic("t", 2, 3)
    p = cl.producer(value_serializer=lambda v: str(v).encode())
    for i in range(30):
        p.send("t", i, partition=i % 2)
    p.flush()
    return cl


def test_cluster_consumer_reads_everything_below_the_high_watermark(cluster):
    c = KafkaConsumer("t", cluster=cluster, group_id="g", auto_offset_reset="earliest", value_deserializer=int)
    values = [r.value for r in drain(c, polls=30, timeout_ms=50)]
    assert sorted(values) == list(range(30))
    tps = [TopicPartition("t", 0), TopicPartition("t", 1)]
    assert c.end_offsets(tps) == {tps[0]: 15, tps[1]: 15}
    assert c.beginning_offsets(tps) == {tps[0]: 0, tps[1]: 0}
    c.commit()
    assert c.committed(tps[0]) == 15


def test_cluster_consumer_survives_a_leader_crash(cluster):
    c = KafkaConsumer(cluster=cluster, group_id="g", auto_offset_reset="earliest", value_deserializer=int)
    c.assign([TopicPartition("t", 0)])
    first = [r.value for r in drain(c, polls=3, timeout_ms=50)]
    cluster.crash(cluster.leader("t", 0))
    p = cluster.producer(value_serializer=lambda v: str(v).encode())
    for i in range(30, 40):
        p.send("t", i, partition=0)
    p.flush()
    later = [r.value for r in drain(c, polls=40, timeout_ms=50)]
    assert first + later == list(range(0, 30, 2)) + list(range(30, 40))


def test_offsets_for_times_on_a_local_topic():
    b = LocalBroker(seed=1, fast=True)
    b.create_topic("t", 1)
    for i in range(5):
        b.send("t", b"x", timestamp=1_000 * i)
    c = b.consumer()
    c.assign([TP0])
    found = c.offsets_for_times({TP0: 2_500})
    assert found[TP0].offset == 3 and found[TP0].timestamp == 3_000
    assert c.offsets_for_times({TP0: 10_000}) == {TP0: None}
    with pytest.raises(ValueError):
        c.offsets_for_times({TP0: -5})
