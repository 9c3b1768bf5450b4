"""msglib's Kafka byte formats and assignors against kafka-python, an independent implementation.

kafka-python (pure Python, a test dependency) encodes and decodes record batches (format v2,
Kafka 0.11+), hashes keys with the Java client's murmur2, and implements the range and
round-robin assignors. Each test runs many seeded random cases both ways; any disagreement
names the seed and the case.
"""
from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

kafka = pytest.importorskip("kafka", reason="kafka-python (a test dependency) is not installed: "
                                           "pip install -e '.[course]'")
from kafka.coordinator.assignors.range import RangePartitionAssignor  # noqa: E402
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor  # noqa: E402
from kafka.partitioner.default import murmur2 as kp_murmur2  # noqa: E402
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder  # noqa: E402

from msglib.groups.assignors import range_assign, roundrobin_assign  # noqa: E402
from msglib.log.partitioner import default_partition, murmur2  # noqa: E402
from msglib.log.records import Compression, ControlType, Record, RecordBatch  # noqa: E402
from msglib.protocol import Subscription, TopicPartition  # noqa: E402

CASES = 150


def random_records(rng: random.Random) -> list[Record]:
    base = rng.choice([0, 1_700_000_000_000, rng.randrange(2**40)])
    out = []
    for i in range(rng.randint(1, 12)):
        key = None if rng.random() < 0.2 else rng.randbytes(rng.randint(0, 20))
        value = None if rng.random() < 0.1 else (rng.randbytes(rng.choice([0, 1, 50])) if rng.random() < 0.5
                                                  else b"order-%d;" % rng.randrange(10) * rng.randint(1, 60))
        headers = tuple((f"h{j}-{rng.randrange(100)}", None if rng.random() < 0.1 else rng.randbytes(rng.randint(0, 8)))
                        for j in range(rng.choice([0, 0, 1, 3])))
        out.append(Record(key, value, base + rng.randint(-5, 5_000) * (i > 0), headers))
    return out


def producer_fields(rng: random.Random) -> dict:
    if rng.random() < 0.5:
        return dict(producer_id=-1, producer_epoch=-1, base_sequence=-1, is_transactional=False)
    return dict(producer_id=rng.randrange(2**40), producer_epoch=rng.randrange(2**15), base_sequence=rng.randrange(2**20),
                is_transactional=rng.random() < 0.5)


def kp_records(batch: DefaultRecordBatch) -> list[tuple]:
    return [(r.key, r.value, r.timestamp, tuple((k, v) for k, v in r.headers), r.offset) for r in batch]


@pytest.mark.parametrize("compression", [Compression.NONE, Compression.GZIP], ids=["none", "gzip"])
def test_msglib_batches_decode_in_kafka_python(compression):
    for seed in range(CASES):
        rng = random.Random(seed)
        records, fields = random_records(rng), producer_fields(rng)
        base_offset = rng.choice([0, 17, 2**33])
        batch = RecordBatch(records, base_offset=base_offset, compression=compression, **fields)
        kp = DefaultRecordBatch(bytes(batch.encode()))
        assert kp.validate_crc(), seed
        assert (kp.base_offset, kp.compression_type, kp.is_transactional, kp.producer_id, kp.producer_epoch,
                kp.base_sequence, kp.first_timestamp, kp.max_timestamp, kp.last_offset_delta) == (
            base_offset, int(compression), fields["is_transactional"], fields["producer_id"],
            fields["producer_epoch"], fields["base_sequence"], records[0].timestamp,
            max(r.timestamp for r in records), len(records) - 1), seed
        assert kp_records(kp) == [(r.key, r.value, r.timestamp, r.headers, base_offset + i)
                                  for i, r in enumerate(records)], seed


@pytest.mark.parametrize("compression", [Compression.NONE, Compression.GZIP], ids=["none", "gzip"])
def test_kafka_python_batches_decode_in_msglib(compression):
    compressed = 0
    for seed in range(CASES):
        rng = random.Random(1_000 + seed)
        records, fields = random_records(rng), producer_fields(rng)
        builder = DefaultRecordBatchBuilder(magic=2, compression_type=int(compression),
                                            is_transactional=fields["is_transactional"],
                                            producer_id=fields["producer_id"], producer_epoch=fields["producer_epoch"],
                                            base_sequence=fields["base_sequence"], batch_size=2**30)
        for i, r in enumerate(records):
            builder.append(i, timestamp=r.timestamp, key=r.key, value=r.value, headers=list(r.headers))
        data = bytes(builder.build())
        batch = RecordBatch.decode(data)                   # checks the CRC
        # kafka-python sends a batch uncompressed when gzip would not make it smaller
        written = Compression(DefaultRecordBatch(data).compression_type)
        compressed += written == Compression.GZIP
        assert (batch.compression, batch.is_transactional, batch.producer_id, batch.producer_epoch,
                batch.base_sequence, len(batch)) == (written, fields["is_transactional"],
                                                     fields["producer_id"], fields["producer_epoch"],
                                                     fields["base_sequence"], len(records)), seed
        assert [tuple(r) for r in batch.records] == [(r.key, r.value, r.timestamp, r.headers, i)
                                                     for i, r in enumerate(records)], seed
        if written == Compression.NONE:                    # no codec choices: the bytes themselves agree
            again = RecordBatch(records, producer_id=fields["producer_id"], producer_epoch=fields["producer_epoch"],
                                base_sequence=fields["base_sequence"], is_transactional=fields["is_transactional"],
                                partition_leader_epoch=0)       # kafka-python writes 0; the broker sets it anyway
            assert bytes(again.encode()) == data, seed
    assert compression == Compression.NONE or compressed > CASES // 4   # gzip really was exercised


@pytest.mark.parametrize("kind", [ControlType.COMMIT, ControlType.ABORT])
def test_transaction_markers_read_as_control_records_in_kafka_python(kind):
    marker = RecordBatch.control(kind, producer_id=4_242, producer_epoch=7, coordinator_epoch=3,
                                 timestamp=1_700_000_000_123, base_offset=99)
    kp = DefaultRecordBatch(bytes(marker.encode()))
    assert kp.validate_crc() and kp.is_control_batch and kp.is_transactional
    assert (kp.producer_id, kp.producer_epoch, kp.base_offset) == (4_242, 7, 99)
    [record] = list(kp)
    assert (record.type, record.version, record.commit, record.abort) == (
        int(kind), 0, kind == ControlType.COMMIT, kind == ControlType.ABORT)
    assert RecordBatch.decode(bytes(marker.encode())).control_type == kind


def test_murmur2_and_the_default_partition_agree_with_kafka_python():
    rng = random.Random(7)
    keys = [b"", b"a", b"ab", b"abc", b"abcd", b"customer-42", "clé-ü".encode()] + [
        rng.randbytes(rng.randint(0, 64)) for _ in range(3_000)]
    for key in keys:
        assert murmur2(key) & 0xFFFFFFFF == kp_murmur2(key) & 0xFFFFFFFF, key
        n = rng.randint(1, 200)
        assert default_partition(key, n) == (kp_murmur2(key) & 0x7FFFFFFF) % n, key


def _kafka_python_assignment(assignor, partitions_per_topic, subscriptions) -> dict:
    cluster = SimpleNamespace(partitions_for_topic=lambda t: set(range(partitions_per_topic[t]))
                              if partitions_per_topic.get(t) else None)
    members = [SimpleNamespace(member_id=m, group_instance_id=s.group_instance_id,
                               metadata=SimpleNamespace(topics=list(s.topics))) for m, s in subscriptions.items()]
    out = assignor.assign(cluster, members)
    return {m: sorted(TopicPartition(t, p) for t, ps in a.assignment for p in ps) for m, a in out.items()}


@pytest.mark.parametrize("ours,theirs", [(range_assign, RangePartitionAssignor),
                                         (roundrobin_assign, RoundRobinPartitionAssignor)],
                         ids=["range", "roundrobin"])
def test_assignors_agree_with_kafka_python_on_generated_subscriptions(ours, theirs):
    """Every member dynamic, or every member static (``group.instance.id``, sorted first by it):
    kafka-python 3.0 groups static and dynamic members with ``itertools.groupby`` on an unsorted
    list, so a mix of the two is not compared.

    Round-robin with members subscribed to different topics is not compared: kafka-python
    3.0.12 raises KeyError there (its skip loop reads the member cycle wrongly), so for it every
    member subscribes to the same topics. Range is compared on mixed subscriptions too.
    """
    for seed in range(300):
        rng = random.Random(seed)
        topics = [f"t{i}" for i in range(rng.randint(1, 4))]
        partitions = {t: rng.randint(1, 12) for t in topics}
        members = rng.sample([f"C{i}" for i in range(15)] + [f"consumer-{i}" for i in range(3)], rng.randint(1, 7))
        same = tuple(rng.sample(topics, rng.randint(1, len(topics))))
        static = seed % 2 == 1
        subscriptions = {m: Subscription(same if theirs is RoundRobinPartitionAssignor
                                         else tuple(rng.sample(topics, rng.randint(1, len(topics)))),
                                         group_instance_id=f"host-{rng.randrange(50)}-{m}" if static else None)
                         for m in members}
        mine = {m: sorted(tps) for m, tps in ours(partitions, subscriptions).items()}
        assert mine == _kafka_python_assignment(theirs, partitions, subscriptions), (seed, partitions, subscriptions)
