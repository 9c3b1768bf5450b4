"""Share groups end to end: KafkaShareConsumer, the share-partition leader, and the two coordinators on the
coordinator runtime (durable state in __share_group_state, membership with session timeouts)."""
from __future__ import annotations

import pytest

from msglib.protocol import share as sp
from msglib.protocol.errors import IllegalStateError, KafkaConfigurationError
from msglib.protocol.structs import TopicPartition
from msglib.share import AcknowledgeType, RecordState, ShareGroupConfig
from msglib.share.broker import ShareBroker
from msglib.share.consumer import KafkaShareConsumer

TP = TopicPartition("jobs", 0)


def broker(n: int = 6, **config) -> ShareBroker:
    b = ShareBroker(config=ShareGroupConfig(**config))
    b.create_topic("jobs", 1)
    for i in range(n):
        b.produce("jobs", f"job-{i}", partition=0)
    return b


def offsets(polled) -> list[int]:
    return [r.offset for recs in polled.values() for r in recs]


def test_two_consumers_share_one_partition():
    b = broker(6)
    c1 = KafkaShareConsumer("jobs", group_id="g", broker=b, max_poll_records=2)
    c2 = KafkaShareConsumer("jobs", group_id="g", broker=b, max_poll_records=2)
    assert offsets(c1.poll()) == [0, 1] and offsets(c2.poll()) == [2, 3]   # one partition, two readers
    assert c1.assignment == c2.assignment == [TP]


def test_implicit_mode_accepts_on_the_next_poll_and_refuses_acknowledge():
    b = broker(4)
    c = KafkaShareConsumer("jobs", group_id="g", broker=b, max_poll_records=2)
    first = c.poll()
    with pytest.raises(IllegalStateError, match="explicit"):
        c.acknowledge(first[TP][0])
    assert offsets(c.poll()) == [2, 3]
    assert b.states("g", TP)[:2] == [RecordState.ACKNOWLEDGED] * 2
    assert c.commit_sync() == {TP: None}
    assert b.states("g", TP) == [RecordState.ACKNOWLEDGED] * 4


def test_explicit_mode_needs_every_record_acknowledged_before_poll():
    b = broker(3, delivery_count_limit=2)
    c = KafkaShareConsumer("jobs", group_id="g", broker=b, share_acknowledgement_mode="explicit")
    recs = c.poll()[TP]
    c.acknowledge(recs[0], AcknowledgeType.ACCEPT)
    with pytest.raises(IllegalStateError, match="acknowledge every record"):
        c.poll()
    c.acknowledge(recs[1], AcknowledgeType.REJECT)
    c.acknowledge(recs[2], AcknowledgeType.RELEASE)
    again = c.poll()[TP]
    assert [(r.offset, r.delivery_count) for r in again] == [(2, 2)]     # released: delivered again, counted
    c.acknowledge(again[0], AcknowledgeType.RELEASE)                     # second failure: the limit is 2
    assert c.commit_sync() == {TP: None}
    assert b.states("g", TP) == [RecordState.ACKNOWLEDGED, RecordState.ARCHIVED, RecordState.ARCHIVED]


def test_a_late_acknowledgement_after_lock_expiry_is_refused():
    b = broker(1, record_lock_duration_ms=1_000)
    slow = KafkaShareConsumer("jobs", group_id="g", broker=b, share_acknowledgement_mode="explicit")
    fast = KafkaShareConsumer("jobs", group_id="g", broker=b)
    rec = slow.poll()[TP][0]
    b.sim.run(until=b.sim.now + 1_500)                   # slow stalls past its lock
    assert offsets(fast.poll()) == [0]
    slow.acknowledge(rec, AcknowledgeType.ACCEPT)
    result = slow.commit_sync()
    assert isinstance(result[TP], sp.InvalidRecordStateError)


def test_share_state_survives_a_broker_crash_through_the_share_coordinator():
    b = broker(4)
    c = KafkaShareConsumer("jobs", group_id="g", broker=b, share_acknowledgement_mode="explicit",
                           max_poll_records=2)
    recs = c.poll()[TP]
    c.acknowledge(recs[0], AcknowledgeType.ACCEPT)
    c.acknowledge(recs[1], AcknowledgeType.ACCEPT)
    assert c.commit_sync() == {TP: None}
    c.poll()                                             # 2 and 3 acquired, then the leader dies
    b.crash()
    b.restart()
    snapshot = b.share_coordinator.shard.states[("g", "jobs", 0)]
    assert snapshot["start_offset"] == 2
    other = KafkaShareConsumer("jobs", group_id="g", broker=b)
    got = other.poll()[TP]
    assert [(r.offset, r.delivery_count) for r in got] == [(2, 2), (3, 2)]   # locks lost, counts kept


def test_share_coordinator_reloads_its_log_after_a_crash():
    b = broker(2)
    c = KafkaShareConsumer("jobs", group_id="g", broker=b)
    c.poll()
    c.commit_sync()
    before = dict(b.share_coordinator.shard.states)
    b.share_coordinator.crash()
    assert not b.share_coordinator.shard.states
    b.share_coordinator.restart()
    assert b.share_coordinator.shard.states == before
    assert b.share_coordinator.runtime.topic == "__share_group_state"


def test_session_timeout_removes_a_member_and_releases_its_records():
    b = broker(2, session_timeout_ms=10_000, record_lock_duration_ms=60_000)
    gone = KafkaShareConsumer("jobs", group_id="g", broker=b)
    assert offsets(gone.poll()) == [0, 1]
    b.sim.run(until=b.sim.now + 11_000)                  # no heartbeat: the coordinator removes the member
    assert not b.group_coordinator.describe("g")["members"]
    other = KafkaShareConsumer("jobs", group_id="g", broker=b)
    assert [(r.offset, r.delivery_count) for r in other.poll()[TP]] == [(0, 2), (1, 2)]


def test_group_membership_survives_a_coordinator_restart():
    b = broker(1)
    c = KafkaShareConsumer("jobs", group_id="g", broker=b)
    c.poll()
    member = c.member_id
    b.group_coordinator.crash()
    b.group_coordinator.restart()
    assert b.group_coordinator.describe("g")["members"] == {member: ["jobs"]}


def test_close_releases_unacknowledged_records_and_leaves():
    b = broker(2)
    c = KafkaShareConsumer("jobs", group_id="g", broker=b, share_acknowledgement_mode="explicit")
    recs = c.poll()[TP]
    c.acknowledge(recs[0], AcknowledgeType.ACCEPT)
    c.close()
    assert b.states("g", TP) == [RecordState.ACKNOWLEDGED, RecordState.AVAILABLE]
    assert not b.group_coordinator.describe("g")["members"]
    with pytest.raises(IllegalStateError, match="closed"):
        c.poll()


@pytest.mark.parametrize("kwargs,word", [({"share_acknowledgement_mode": "auto"}, "implicit' or 'explicit"),
                                         ({"group_id": ""}, "group_id"), ({"max_poll_records": 0}, "max_poll")])
def test_bad_settings_are_named(kwargs, word):
    args = {"group_id": "g", "broker": broker(0)} | kwargs
    with pytest.raises(KafkaConfigurationError, match=word):
        KafkaShareConsumer("jobs", **args)


def test_poll_before_subscribe_is_refused():
    with pytest.raises(IllegalStateError, match="subscribe"):
        KafkaShareConsumer(group_id="g", broker=broker(0)).poll()


def test_acknowledgement_batch_validates_types():
    assert sp.AcknowledgementBatch(3, 5, [1]).types() == [(3, 1), (4, 1), (5, 1)]
    with pytest.raises(ValueError, match="0 gap, 1 accept"):
        sp.AcknowledgementBatch(3, 3, [7])
    with pytest.raises(ValueError, match="needs 1 or 2"):
        sp.AcknowledgementBatch(3, 4, [1, 1, 1])


@pytest.mark.parametrize("seed", range(40))
def test_seeded_share_consumers_with_crashes_and_leader_restarts_end_complete_and_lawful(seed):
    """Three explicit-mode share consumers; consumers die (stop polling, a new one takes their place), the
    share-partition leader restarts (state reloaded from __share_group_state), one record is poison. Every
    record ends accepted or archived, and each share-partition incarnation's history passes the checker."""
    import random

    from msglib.check.share import check_history

    rng = random.Random(seed)
    b = broker(12, delivery_count_limit=3, record_lock_duration_ms=1_000, session_timeout_ms=3_000,
               heartbeat_interval_ms=1_000)
    poison = rng.randrange(12)
    histories = []
    consumers = [KafkaShareConsumer("jobs", group_id="g", broker=b, share_acknowledgement_mode="explicit",
                                    max_poll_records=rng.randint(1, 3)) for _ in range(3)]
    for _ in range(400):
        if rng.random() < 0.03:                                  # a consumer dies holding its records
            consumers[rng.randrange(3)] = KafkaShareConsumer("jobs", group_id="g", broker=b,
                                                             share_acknowledgement_mode="explicit")
        if rng.random() < 0.02:                                  # the share-partition leader restarts
            histories += [p.history for p in b.share_partitions.values()]
            b.crash()
            b.restart()
        c = consumers[rng.randrange(3)]
        for recs in c.poll(timeout_ms=50).values():
            for r in recs:
                c.acknowledge(r, AcknowledgeType.RELEASE if r.value == f"job-{poison}" or rng.random() < 0.1
                              else AcknowledgeType.ACCEPT)
        c.commit_sync()
        b.sim.run(until=b.sim.now + rng.uniform(0, 300))
        if all(s.terminal for s in b.states("g", TP)):
            break
    histories += [p.history for p in b.share_partitions.values()]
    assert all(s.terminal for s in b.states("g", TP)), b.states("g", TP)
    assert b.states("g", TP)[poison] is RecordState.ARCHIVED
    for h in histories:
        assert check_history(h, 3) == []


def test_keyed_records_go_to_one_partition_by_a_stable_hash():
    b = ShareBroker()
    b.create_topic("t", 4)
    places = {b.produce("t", i, key="customer-7")[0] for i in range(5)}
    assert len(places) == 1
    import zlib
    assert places == {zlib.crc32(repr("customer-7").encode()) % 4}


def test_share_group_state_log_is_compacted_and_reloads_the_latest_snapshots():
    from msglib.share.coordinator import ShareCoordinator
    from msglib.sim import Network, Simulation

    coord = ShareCoordinator(Network(Simulation(0)), segment_bytes=2_000)
    for i in range(1_000):
        coord.write_state("g", TopicPartition("t", i % 3), {"start_offset": i, "end_offset": i + 1,
                                                             "states": [[i, "AVAILABLE", 1]]})
    latest = dict(coord.shard.states)
    log = coord.runtime.log
    assert sum(1 for _ in log.records()) < 1_000          # compaction dropped overwritten snapshots
    coord.crash()
    coord.restart()
    assert coord.shard.states == latest
    assert latest[("g", "t", 0)]["start_offset"] == 999


def test_commit_async_sends_acknowledgements_and_the_lock_timeout_is_known():
    b = broker(2, record_lock_duration_ms=7_000)
    c = KafkaShareConsumer("jobs", group_id="g", broker=b)
    c.poll()
    assert c.acquisition_lock_timeout_ms == 7_000
    c.commitAsync()
    assert b.states("g", TP) == [RecordState.ACKNOWLEDGED] * 2
