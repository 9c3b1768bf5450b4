"""KIP-848 through ``msglib serve`` with a client nobody here wrote: confluent-kafka (librdkafka inside)
with ``group.protocol=consumer``, against msglib's own KIP-848 coordinator.

What is checked: the group is a consumer-protocol group at the coordinator (not a classic one); one
consumer reads every record and commits with OffsetCommit v9; two consumers share four partitions,
each partition's records are read in offset order exactly once across the two (so no partition was
read by both at once and nothing was lost), the handover happens when one joins and when one leaves;
the committed offsets survive a restart of the server. kafka-python 3.0.12 has no KIP-848 client
(``group_protocol`` is an unknown setting there), which the last test states and checks.
"""
from __future__ import annotations

import importlib.util
import time

import pytest

from msglib.wire.server import ServerThread

HEARTBEAT_MS = 200      # the coordinator's group.consumer.heartbeat.interval.ms (Kafka's default: 5000)
TOPIC = "kip848"


def need(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install -e '.[course]' installs it)")


def start(folder: str) -> ServerThread:
    return ServerThread(folder, group_initial_rebalance_delay_ms=0, group_consumer_heartbeat_interval_ms=HEARTBEAT_MS,
                        group_consumer_session_timeout_ms=6000).start()


def produce(address: str, topic: str, count: int, partitions: int, first: int = 0) -> None:
    from confluent_kafka import Producer
    producer = Producer({"bootstrap.servers": address, "linger.ms": 5})
    for i in range(first, first + count):
        producer.produce(topic, key=b"%d" % i, value=b"%d" % i, partition=i % partitions)
    assert producer.flush(10) == 0


def create_topic(address: str, topic: str, partitions: int) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": address})      # kept alive until the answer is in
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(10)


class Member:
    """A KIP-848 member that commits each record before its next poll, and logs what it read."""

    def __init__(self, address: str, group: str, log: list, name: str) -> None:
        from confluent_kafka import Consumer
        self.consumer = Consumer({"bootstrap.servers": address, "group.id": group, "group.protocol": "consumer",
                                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
        self.consumer.subscribe([TOPIC])
        self.log, self.name = log, name
        self.stale_commits = 0

    def poll(self, seconds: float) -> None:
        m = self.consumer.poll(seconds)
        if m is None:
            return
        assert not m.error(), m.error()
        self.log.append((m.partition(), m.offset(), self.name))
        self.commit(m)

    def commit(self, m) -> None:
        """OffsetCommit v9 carries the member id and epoch. A commit that crosses the heartbeat answer giving
        the member its next epoch is STALE_MEMBER_EPOCH (Kafka checks the epoch strictly); an application
        sends it again once the client holds the new epoch, as msglib's own client does."""
        from confluent_kafka import KafkaError, KafkaException
        for _ in range(40):
            try:
                self.consumer.commit(message=m, asynchronous=False)
                return
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.STALE_MEMBER_EPOCH:
                    raise
                self.stale_commits += 1
                time.sleep(0.05)
        raise AssertionError(f"{self.name}: the commit of offset {m.offset()} stayed STALE_MEMBER_EPOCH for 2 s")

    def partitions(self) -> set[int]:
        return {tp.partition for tp in self.consumer.assignment()}

    def close(self) -> None:
        self.consumer.close()                                     # leaves with member epoch -1


def poll_round(members: list, seconds: float = 0.05) -> None:
    for m in members:
        m.poll(seconds)


def poll_until(consumers: list, condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        poll_round(consumers)
        assignments = [c.partitions() for c in consumers]
        for i, a in enumerate(assignments):          # never one partition in two members' hands at once
            for b in assignments[i + 1:]:
                assert not a & b, f"partitions {sorted(a & b)} assigned to two consumers at once: {assignments}"
        if condition():
            return True
    return False


def check_each_partition_read_in_order_once(log: list, partitions: int, per_partition: int) -> None:
    for q in range(partitions):
        offsets = [o for p, o, _ in log if p == q]
        assert offsets == list(range(per_partition)), (
            f"partition {q}: read offsets {offsets} (readers {[n for p, _, n in log if p == q]}); every offset "
            f"0..{per_partition - 1} exactly once, in order, was expected")


def test_one_consumer_protocol_member_reads_everything_and_commits(tmp_path):
    need("confluent_kafka")
    server = start(str(tmp_path / "data"))
    try:
        create_topic(server.address, TOPIC, 2)
        produce(server.address, TOPIC, 40, 2)
        log: list = []
        c = Member(server.address, "one", log, "a")
        try:
            assert poll_until([c], lambda: len(log) == 40, 20), f"{len(log)} of 40 records read"
        finally:
            c.close()
        check_each_partition_read_in_order_once(log, 2, 20)
        coordinator = server.server.broker.coordinators.group
        assert coordinator.consumer_groups.owns("one"), "the group should be a KIP-848 group at the coordinator"
        assert not coordinator.groups.get("one") or not coordinator.groups["one"].members
        assert coordinator.consumer_groups.group("one").members == {}      # left cleanly
        for q in range(2):
            assert coordinator.committed("one", _tp(TOPIC, q)) == 20
    finally:
        server.stop()


def test_two_consumer_protocol_members_share_partitions_and_hand_over(tmp_path):
    need("confluent_kafka")
    folder = str(tmp_path / "data")
    server = start(folder)
    log: list = []
    try:
        create_topic(server.address, TOPIC, 4)
        produce(server.address, TOPIC, 80, 4)                      # offsets 0..19 in each partition
        a = Member(server.address, "two", log, "a")
        b = None
        try:
            assert poll_until([a], lambda: len(log) >= 20, 20), f"a read {len(log)} records"
            b = Member(server.address, "two", log, "b")          # joins: a gives up two partitions first
            joined = time.monotonic()
            assert poll_until([a, b], lambda: len(a.partitions()) == 2 and len(b.partitions()) == 2, 20), \
                (a.partitions(), b.partitions())
            settled_join = time.monotonic() - joined
            produce(server.address, TOPIC, 80, 4, first=80)         # offsets 20..39
            assert poll_until([a, b], lambda: len(log) >= 120, 20), f"{len(log)} of 160 read"
            assert {n for *_, n in log[20:]} == {"a", "b"}, "both members should have read records"
            a.close()                                               # leaves: b takes every partition
            left = time.monotonic()
            assert poll_until([b], lambda: len(b.partitions()) == 4, 20), b.partitions()
            settled_leave = time.monotonic() - left
            assert poll_until([b], lambda: len(log) == 160, 20), len(log)
            print(f"heartbeat interval {HEARTBEAT_MS} ms: 2+2 partitions {settled_join:.2f} s after the join, 4 on "
                  f"the one left {settled_leave:.2f} s after the leave; {a.stale_commits + b.stale_commits} "
                  f"commits sent again after STALE_MEMBER_EPOCH")
        finally:
            if b is not None:
                b.close()
        check_each_partition_read_in_order_once(log, 4, 40)
        server.stop()

        server = start(folder)                                      # the commits are on disk
        produce(server.address, TOPIC, 8, 4, first=160)             # offset 40 in each partition
        after: list = []
        c = Member(server.address, "two", after, "c")
        try:
            assert poll_until([c], lambda: len(after) == 8, 20), after
            poll_round([c], 0.3)
        finally:
            c.close()
        assert sorted((p, o) for p, o, _ in after) == [(q, o) for q in range(4) for o in (40, 41)], \
            "after the restart the group should resume at the committed offsets (40), nothing read twice"
    finally:
        server.stop()


def test_consumer_protocol_member_on_the_replicated_cluster():
    """``serve --brokers 3``: the same heartbeat handler in front of the simulated cluster's coordinator."""
    need("confluent_kafka")
    from msglib.wire.replicated import ClusterServerThread
    with ClusterServerThread(brokers=3, group_initial_rebalance_delay_ms=0,
                             group_consumer_heartbeat_interval_ms=HEARTBEAT_MS,
                             group_consumer_session_timeout_ms=6000) as srv:
        create_topic(srv.bootstrap, TOPIC, 2)
        produce(srv.bootstrap, TOPIC, 20, 2)
        log: list = []
        c = Member(srv.bootstrap, "cluster", log, "a")
        try:
            assert poll_until([c], lambda: len(log) == 20, 20), f"{len(log)} of 20 records read"
        finally:
            c.close()
        check_each_partition_read_in_order_once(log, 2, 10)
        assert srv.call(lambda cluster: cluster._group_coordinator.consumer_groups.owns("cluster"))


def test_kafka_python_has_no_consumer_protocol_client():
    """kafka-python 3.0.12 speaks the classic protocol only: it refuses ``group_protocol`` as an unknown
    setting. If a later release accepts it, this fails: then test it here like confluent-kafka."""
    need("kafka")
    import kafka
    from kafka.errors import KafkaConfigurationError
    with pytest.raises(KafkaConfigurationError, match="group_protocol"):
        kafka.KafkaConsumer(group_protocol="consumer", bootstrap_servers="127.0.0.1:1")


def _tp(topic: str, partition: int):
    from msglib.protocol import TopicPartition
    return TopicPartition(topic, partition)
