"""KafkaConsumer on a simulated Cluster: ListOffsets (earliest, latest, by timestamp), Cluster.consumer, exports."""
from __future__ import annotations

import pytest

from msglib.cluster import Cluster, ClusterConfig
from msglib.cluster import protocol as cp
from msglib.groups import TopicPartition
from msglib.sim.network import Endpoint

TP0, TP1 = TopicPartition("t", 0), TopicPartition("t", 1)


@pytest.fixture
def cluster():
    cl = Cluster(3, seed=11, config=ClusterConfig.fast(min_insync_replicas=2))
    cl.create_topic("t", 2, 3)
    p = cl.producer(value_serializer=lambda v: str(v).encode())
    for i in range(10):
        p.send("t", i, partition=0, timestamp_ms=1_000 * i)
    p.flush()
    return cl


def ask(cluster, request_factory):
    """Send one request to the leader of t-0 from a bare endpoint; return the answer."""
    answers = []
    node = Endpoint(cluster.next_client_name("asker"), cluster.network, lambda src, msg: answers.append(msg))
    node.send(f"b{cluster.leader('t', 0)}", request_factory())
    cluster.sim.run_until(lambda: bool(answers), until=cluster.sim.now + 1_000)
    return answers[0]


def test_list_offsets_earliest_latest_and_by_time(cluster):
    earliest = ask(cluster, lambda: cp.ListOffsetsRequest(1, -1, TP0, cp.EARLIEST_TIMESTAMP))
    latest = ask(cluster, lambda: cp.ListOffsetsRequest(2, -1, TP0, cp.LATEST_TIMESTAMP))
    at = ask(cluster, lambda: cp.ListOffsetsRequest(3, -1, TP0, 2_500))
    after_all = ask(cluster, lambda: cp.ListOffsetsRequest(4, -1, TP0, 99_000))
    assert (earliest.error, earliest.offset) == (None, 0)
    assert (latest.offset, latest.high_watermark, latest.log_end_offset, latest.last_stable_offset) == (10, 10, 10, 10)
    assert (at.offset, at.timestamp) == (3, 3_000)
    assert (after_all.offset, after_all.timestamp) == (-1, -1)


def test_list_offsets_to_a_follower_is_refused(cluster):
    follower = next(b for b in cluster.state("t", 0).replicas if b != cluster.leader("t", 0))
    answers = []
    node = Endpoint("asker", cluster.network, lambda src, msg: answers.append(msg))
    node.send(f"b{follower}", cp.ListOffsetsRequest(1, -1, TP0, cp.LATEST_TIMESTAMP))
    cluster.sim.run_until(lambda: bool(answers), until=cluster.sim.now + 1_000)
    assert answers[0].error == cp.NOT_LEADER_OR_FOLLOWER


def test_cluster_consumer_factory_and_bounds_from_list_offsets(cluster):
    c = cluster.consumer(group_id="g", auto_offset_reset="latest", value_deserializer=int)
    c.assign([TP0, TP1])
    assert c.position(TP0) == 10 and c.position(TP1) == 0       # 'latest' = the high-water mark
    assert c.end_offsets([TP0, TP1]) == {TP0: 10, TP1: 0}
    assert c.beginning_offsets([TP0]) == {TP0: 0}
    found = c.offsets_for_times({TP0: 2_500, TP1: 0})
    assert found[TP0].offset == 3 and found[TP0].timestamp == 3_000
    assert found[TP1] is None                                    # no record at all
    with pytest.raises(ValueError):
        c.offsets_for_times({TP0: -1})
    c.seek(TP0, found[TP0].offset)
    values = []
    for _ in range(10):
        values += [r.value for recs in c.poll(timeout_ms=50).values() for r in recs]
    assert values == list(range(3, 10))


def test_consumer_with_subscription_from_the_cluster_factory(cluster):
    c = cluster.consumer("t", group_id="g2", auto_offset_reset="earliest", value_deserializer=int)
    assert c.subscription() == {"t"}
    got = []
    for _ in range(30):
        got += [r.value for recs in c.poll(timeout_ms=50).values() for r in recs]
    assert sorted(got) == list(range(10))


def test_package_exports():
    import msglib.check as check
    import msglib.client as client
    from msglib.client.consumer import KafkaConsumer

    assert client.KafkaConsumer is KafkaConsumer
    assert "KafkaConsumer" in client.__all__
    assert callable(check.check_dlq) and "check_dlq" in check.__all__
    with pytest.raises(AttributeError):
        client.NoSuchThing
