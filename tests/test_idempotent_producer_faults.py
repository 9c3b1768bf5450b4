"""The idempotent producer never reports a record as sent when it is not in the log.

The case these tests were written for (docs/idempotent-producer.md): the first produce request of a
producer is lost, the leader, which has no state for the producer yet, takes the next batch whatever
its sequence number (Kafka >= 2.5, KIP-360), and the retried first batch is answered
OUT_OF_ORDER_SEQUENCE_NUMBER. It is not in the log, and it can no longer be written in order: it must
fail, never pass for a duplicate or for a record "in the log".
"""
from __future__ import annotations

import random
from collections import defaultdict

import pytest

from msglib import protocol as p
from msglib.cluster import Cluster, ClusterConfig
from msglib.log.records import RecordBatch
from msglib.protocol import TopicPartition
from msglib.protocol.errors import OutOfOrderSequenceNumberError
from msglib.sim.history import FAIL, OK

from tests.test_producer import _produce_raw


def _log(c: Cluster, partition: int = 0) -> list[tuple[int, bytes]]:
    tp = TopicPartition("t", partition)
    return [(r.offset, r.value) for r in c.brokers[c.leader("t", partition)].read_committed(tp)]


# -- the broker's rule (Kafka's ProducerAppendInfo.checkSequence and findDuplicateBatch) -----------

def test_a_leader_that_does_not_know_the_producer_takes_any_sequence_then_refuses_the_gap():
    c = Cluster(3, seed=3, config=ClusterConfig.fast())
    c.create_topic("t", 1, 3)
    c.run(100)

    def batch(seq, n):
        return RecordBatch([b"v"] * n, producer_id=7007, producer_epoch=0, base_sequence=seq)
    assert _produce_raw(c, batch(3, 2)).base_offset == 0, "no state for the producer: sequence 3 is taken"
    late = _produce_raw(c, batch(0, 3))
    assert late.error == p.OUT_OF_ORDER_SEQUENCE_NUMBER, "not one of the cached batches: not a duplicate"
    assert c.replica(c.leader("t"), "t", 0).log_end_offset == 2
    assert _produce_raw(c, batch(3, 2)).base_offset == 0, "the cached batch itself is a duplicate"
    assert _produce_raw(c, batch(5, 1)).base_offset == 2


# -- the producer -------------------------------------------------------------------------------

def test_a_lost_first_request_fails_its_records_and_the_later_ones_keep_their_order():
    """The scenario without random loss: the first request is cut on its way, the next one gets in."""
    c = Cluster(3, seed=1, config=ClusterConfig.fast())
    c.create_topic("t", 1, 3)
    producer = c.producer(history=c.history)
    assert producer.partitions_for("t") == {0}     # metadata first: only the produce request is cut
    c.run(100)
    assert producer.producer_id >= 0
    leader = c.leader("t")
    c.cut(producer.name, leader)
    first = [producer.send("t", b"a%d" % i) for i in range(3)]
    c.run(20)                              # lingered 5 ms, sent, dropped by the cut
    c.heal_link(producer.name, leader)
    later = [producer.send("t", b"b%d" % i) for i in range(2)]
    producer.flush()
    for f in first:
        with pytest.raises(OutOfOrderSequenceNumberError, match="not in the log"):
            f.get()
        assert f.maybe_written is False
    assert [f.get().offset for f in later] == [0, 1]
    assert _log(c) == [(0, b"b0"), (1, b"b1")]
    outcomes = [op.type for op in c.history.ops if op.f == "send" and op.type != "invoke"]
    assert sorted(outcomes) == sorted([FAIL] * 3 + [OK] * 2)


def test_seed_0_at_the_default_linger():
    """The run that showed the problem: 150 records, one every 3 ms, 8 % of messages lost, linger 5 ms.
    The first request (records 0-2) is lost; before this fix those records failed with an error saying
    they were in the log."""
    c = Cluster(3, seed=0, config=ClusterConfig.fast(), loss=0.08)
    c.create_topic("t", 1, 3)
    producer = c.producer(acks="all", value_serializer=lambda v: str(v).encode())
    assert producer.config["linger_ms"] == 5
    futures = []
    for i in range(150):
        c.sim.at(c.sim.now + i * 3, lambda i=i: futures.append(producer.send("t", i)))
    c.run(450)
    producer.flush()
    assert c.settle()
    log = _log(c)
    for i in (0, 1, 2):
        with pytest.raises(OutOfOrderSequenceNumberError):
            futures[i].get()
        assert futures[i].maybe_written is False
    assert [int(v) for _, v in log] == list(range(3, 150))
    assert [(futures[i].get().offset, str(i).encode()) for i in range(3, 150)] == log


# -- the property, over seeded schedules --------------------------------------------------------

def _schedule(seed: int, linger_ms: int) -> tuple[list[str], bool]:
    """One seeded run: lossy links, up to two leader crashes, 60 records over two partitions.
    Returns the broken promises (empty when all hold) and whether a leader changed."""
    rng = random.Random(f"idempotent-producer/{seed}")
    c = Cluster(3, seed=seed, config=ClusterConfig.fast(), loss=rng.choice([0.03, 0.08, 0.15]))
    c.create_topic("t", 2, 3)
    epochs = [c.state("t", part).leader_epoch for part in (0, 1)]
    producer = c.producer(linger_ms=linger_ms, value_serializer=lambda v: str(v).encode())
    sent: list[tuple[int, int, object]] = []        # in send order: (record, partition, future)
    at = c.sim.now
    for i in range(60):
        at += rng.choice([0, 1, 2, 3])
        part = rng.randrange(2)
        c.sim.at(at, lambda i=i, part=part: sent.append((i, part, producer.send("t", i, partition=part))))
    for _ in range(rng.randrange(3)):
        def crash(part=rng.randrange(2), down=rng.uniform(50, 400)):
            broker = c.leader("t", part)
            if broker is not None:
                c.crash(broker)
                c.sim.at(c.sim.now + down, lambda: c.restart(broker))
        c.sim.at(c.sim.now + rng.uniform(0, 200), crash)
    c.run(300)
    producer.flush()
    assert c.settle()
    moved = any(c.state("t", part).leader_epoch != epochs[part] for part in (0, 1))
    broken = []
    for part in (0, 1):
        where = defaultdict(list)
        for offset, value in _log(c, part):
            where[int(value)].append(offset)
        acknowledged = []
        for i, part_, future in sent:
            if part_ != part:
                continue
            if not future.is_done:
                broken.append(f"record {i} never got an answer")
            elif future.exception is not None:
                if not future.maybe_written and where[i]:
                    broken.append(f"record {i} failed as not written ({future.exception!r}) but is in the log")
            elif where[i] != [future.value.offset]:
                broken.append(f"record {i} reported sent at offset {future.value.offset}; the log has it at "
                              f"{where[i]}")
            else:
                acknowledged.append(future.value.offset)
        if acknowledged != sorted(acknowledged):
            broken.append(f"partition {part}: acknowledged records out of send order in the log")
        broken += [f"record {v} written twice: {o}" for v, o in where.items() if len(o) > 1]
    return broken, moved


@pytest.mark.slow   # 150 schedules: about 5-10 s per linger_ms
@pytest.mark.parametrize("linger_ms", [0, 5])
def test_acknowledged_means_in_the_log_once_and_in_order(linger_ms):
    moved = 0
    for seed in range(150):
        broken, leader_changed = _schedule(seed, linger_ms)
        assert not broken, f"seed {seed}, linger_ms={linger_ms}: {broken[:3]}"
        moved += leader_changed
    assert moved >= 75, f"only {moved} of 150 schedules changed a leader"
