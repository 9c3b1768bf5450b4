"""Partitioning (section D #38) and topics of N partitions."""
import json

import pytest

from msglib.log import (DefaultPartitioner, RoundRobinPartitioner, RecordTypeError, Topic, default_partition,
                        murmur2)


@pytest.mark.parametrize("key, expected", [(b"", 681), (b"a", 524), (b"ab", 434), (b"abc", 107),
                                           (b"123456789", 566), (b"\x00 ", 742)])
def test_partition_matches_kafkas_java_client(key, expected):
    assert default_partition(key, 1000) == expected


def test_murmur2_is_signed_32_bit_and_positive_modulo_masks_the_sign():
    hashes = [murmur2(b"key-%d" % i) for i in range(200)]
    assert all(-2**31 <= h < 2**31 for h in hashes)
    assert any(h < 0 for h in hashes)
    assert all(0 <= default_partition(b"key-%d" % i, 7) < 7 for i in range(200))


def test_same_key_same_partition_and_order_within_it():
    topic = Topic("orders", 4)
    sent = [topic.send(b"v%d" % i, key=b"user-%d" % (i % 5)) for i in range(50)]
    by_key = {}
    for i, meta in enumerate(sent):
        by_key.setdefault(i % 5, set()).add(meta.partition)
    assert all(len(ps) == 1 for ps in by_key.values())
    p = sent[0].partition
    values = [r.value for r in topic[p].records() if r.key == b"user-0"]
    assert values == [b"v%d" % i for i in range(0, 50, 5)]


def test_keyless_records_are_sticky_then_switch():
    part = DefaultPartitioner(seed=3, sticky_bytes=100)
    picks = [part(None, 5, 10) for _ in range(40)]
    runs = [picks[i:i + 10] for i in range(0, 40, 10)]
    assert all(len(set(run)) == 1 for run in runs)            # 10 x 10 bytes per sticky run
    assert all(runs[i][0] != runs[i + 1][0] for i in range(3))  # then a different partition
    again = DefaultPartitioner(seed=3, sticky_bytes=100)
    assert picks == [again(None, 5, 10) for _ in range(40)]     # seeded: the same run twice


def test_round_robin_ignores_keys():
    rr = RoundRobinPartitioner()
    assert [rr(b"same", 3) for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    topic = Topic("t", 3, partitioner=RoundRobinPartitioner())
    for i in range(6):
        topic.send(b"x", key=b"k")
    assert topic.end_offsets() == [2, 2, 2]


def test_explicit_partition_and_serializers_and_errors():
    topic = Topic("events", 2, key_serializer=str.encode, value_serializer=lambda o: json.dumps(o).encode())
    meta = topic.send({"a": 1}, key="k", partition=1)
    assert (meta.partition, meta.offset) == (1, 0)
    assert topic[1].read(0).records()[0].value == b'{"a": 1}'
    with pytest.raises(ValueError, match="partitions 0..1"):
        topic.send({"a": 1}, partition=2)
    plain = Topic("plain", 2)
    with pytest.raises(RecordTypeError, match="value_serializer"):
        plain.send({"not": "bytes"})
    with pytest.raises(ValueError, match="must be an int in 0..1"):
        Topic("bad", 2, partitioner=lambda key, n: n).send(b"v", key=b"k")


def test_topic_on_disk_uses_topic_partition_directories(tmp_path):
    topic = Topic("orders", 2, directory=str(tmp_path))
    topic.send(b"v", key=b"k")
    topic.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orders-0", "orders-1"]
    again = Topic("orders", 2, directory=str(tmp_path))
    assert sum(again.end_offsets()) == 1
    assert again[0].topic == "orders" and again[1].partition == 1


def test_topic_passes_record_sizes_to_the_sticky_partitioner():
    # Keyless sends stay on one partition until ~sticky_bytes of key+value went there.
    topic = Topic("t", 4, partitioner=DefaultPartitioner(seed=1, sticky_bytes=100))
    picks = [topic.send(b"x" * 50).partition for _ in range(6)]
    assert picks[0] == picks[1] and picks[2] == picks[3] and picks[4] == picks[5]
    assert picks[1] != picks[2] and picks[3] != picks[4]
