"""``msglib serve --brokers 3``: real clients against the simulated replicated cluster, one port per broker.

The leader of a partition is crashed while a producer with acks=all is writing: every record the client
saw acknowledged must be read back afterwards, and the client must carry on with the new leader. A client
that is not installed skips its test and says why.
"""
from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import threading
import time

import pytest

from msglib.log.errors import InvalidArgumentError
from msglib.log.records import RecordBatch
from msglib.protocol import UnknownTopicOrPartitionError
from msglib.wire.replicated import ClusterServerThread
from msglib.wire.specs import ERROR_CODES
from tests.wire_call import call


def need(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install -e '.[course]' installs it)")


@pytest.fixture
def cluster():
    with ClusterServerThread(brokers=3, group_initial_rebalance_delay_ms=0) as srv:
        yield srv


def metadata(address: str, topic: str) -> dict:
    return call(address, 3, 8, {"topics": [{"name": topic}], "allow_auto_topic_creation": True,
                                "include_cluster_authorized_operations": False,
                                "include_topic_authorized_operations": False})


def wait_for_leader(srv: ClusterServerThread, topic: str) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        parts = metadata(srv.addresses[0], topic)["topics"][0]["partitions"]
        if parts and parts[0]["leader_id"] >= 0:
            return parts[0]["leader_id"]
        time.sleep(0.05)
    raise AssertionError(f"no leader for {topic} after 10 s:\n{srv.describe()}")


def test_metadata_lists_three_brokers_and_the_leader(cluster):
    leader = wait_for_leader(cluster, "meta")
    answer = metadata(cluster.addresses[1], "meta")
    assert sorted((b["node_id"], f"{b['host']}:{b['port']}") for b in answer["brokers"]) == \
        list(enumerate(cluster.addresses))
    part = answer["topics"][0]["partitions"][0]
    assert part["leader_id"] == leader == cluster.leader("meta", 0)
    assert sorted(part["replica_nodes"]) == [0, 1, 2] and sorted(part["isr_nodes"]) == [0, 1, 2]


def test_leader_of_an_unknown_topic_or_partition_names_it_and_the_fix(cluster):
    with pytest.raises(UnknownTopicOrPartitionError, match=r"no topic 'nope' on this cluster .*create it first"):
        cluster.leader("nope", 0)
    leader = wait_for_leader(cluster, "known")     # created by the Metadata request, one partition
    with pytest.raises(UnknownTopicOrPartitionError, match=r"topic 'known' has partitions 0\.\.0, not 3"):
        cluster.leader("known", 3)
    with pytest.raises(InvalidArgumentError, match=r"partition must be a partition number"):
        cluster.leader("known", "0")
    assert cluster.leader("known", 0) == leader


def test_a_non_leader_answers_not_leader_or_follower(cluster):
    leader = wait_for_leader(cluster, "nl")
    body = {"transactional_id": None, "acks": -1, "timeout_ms": 2000, "topic_data": [
        {"name": "nl", "partition_data": [{"index": 0, "records": RecordBatch([(b"k", b"v")]).encode()}]}]}
    follower = (leader + 1) % 3
    wrong = call(cluster.addresses[follower], 0, 8, body)["responses"][0]["partition_responses"][0]
    assert wrong["error_code"] == ERROR_CODES["NOT_LEADER_OR_FOLLOWER"]
    right = call(cluster.addresses[leader], 0, 8, body)["responses"][0]["partition_responses"][0]
    assert right["error_code"] == 0 and right["base_offset"] == 0


def test_crashed_broker_leaves_metadata_and_its_port_closes(cluster):
    leader = wait_for_leader(cluster, "gone")
    cluster.crash_broker(leader)
    with pytest.raises(OSError):
        socket.create_connection(tuple(cluster.addresses[leader].rsplit(":", 1)), timeout=2).close()
    other = cluster.addresses[(leader + 1) % 3]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        answer = metadata(other, "gone")
        part = answer["topics"][0]["partitions"][0]
        if part["leader_id"] not in (-1, leader):
            break
        time.sleep(0.05)
    assert leader not in [b["node_id"] for b in answer["brokers"]]
    assert part["leader_id"] not in (-1, leader), cluster.describe()
    assert leader in part["offline_replicas"] and leader not in part["isr_nodes"]
    cluster.heal()
    assert metadata(cluster.addresses[leader], "gone")["brokers"], "the restarted broker's port did not reopen"


def _produce_through_a_crash(cluster, send, pump, flush, topic: str, total: int = 300):
    """Send ``total`` values with acks=all; crash the leader while the second third is in flight."""
    acked: set[int] = set()
    lock = threading.Lock()

    def on_ack(i: int) -> None:
        with lock:
            acked.add(i)

    third = total // 3
    for i in range(third):
        send(i, on_ack)
    deadline = time.monotonic() + 20
    while len(acked) < third // 2 and time.monotonic() < deadline:
        pump()
        time.sleep(0.01)
    assert acked, "nothing acknowledged before the crash"
    for i in range(third, 2 * third):
        send(i, on_ack)
    crashed = cluster.leader(topic, 0)
    cluster.crash_broker(crashed)            # with records of the second third still in flight
    for i in range(2 * third, total):
        send(i, on_ack)
    flush()
    return crashed, acked


def _read_all(cluster, topic: str) -> list[int]:
    from kafka import KafkaConsumer
    consumer = KafkaConsumer(topic, bootstrap_servers=cluster.bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=3000, group_id=None)
    try:
        return [int(m.value) for m in consumer]
    finally:
        consumer.close()


def test_kafka_python_acks_all_through_a_leader_crash_loses_nothing(cluster):
    need("kafka")
    from kafka import KafkaProducer
    wait_for_leader(cluster, "kp-fail")
    producer = KafkaProducer(bootstrap_servers=cluster.bootstrap, acks="all", retries=50,
                             enable_idempotence=True, request_timeout_ms=5000, linger_ms=2)

    def send(i, on_ack):
        producer.send("kp-fail", value=b"%d" % i).add_callback(lambda _md, i=i: on_ack(i))

    crashed, acked = _produce_through_a_crash(cluster, send, lambda: None, lambda: producer.flush(30), "kp-fail")
    producer.close()
    new_leader = cluster.leader("kp-fail", 0)
    assert new_leader not in (None, crashed), cluster.describe()
    assert len(acked) == 300, f"only {len(acked)} of 300 acknowledged: the client did not fail over"
    got = _read_all(cluster, "kp-fail")
    assert acked <= set(got), f"acknowledged but lost: {sorted(acked - set(got))[:10]}"
    assert len(got) == len(set(got)), "the idempotent producer wrote duplicates"


def test_confluent_kafka_acks_all_through_a_leader_crash_loses_nothing(cluster):
    need("confluent_kafka")
    need("kafka")
    from confluent_kafka import Producer
    wait_for_leader(cluster, "ck-fail")
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all", "enable.idempotence": True,
                         "linger.ms": 2, "message.timeout.ms": 30000, "log_level": 0})

    def send(i, on_ack):
        producer.produce("ck-fail", value=b"%d" % i,
                         on_delivery=lambda err, _msg, i=i: err is None and on_ack(i))
        producer.poll(0)

    crashed, acked = _produce_through_a_crash(cluster, send, lambda: producer.poll(0), lambda: producer.flush(30),
                                              "ck-fail")
    new_leader = cluster.leader("ck-fail", 0)
    assert new_leader not in (None, crashed), cluster.describe()
    assert len(acked) == 300, f"only {len(acked)} of 300 acknowledged: the client did not fail over"
    got = _read_all(cluster, "ck-fail")
    assert acked <= set(got), f"acknowledged but lost: {sorted(acked - set(got))[:10]}"
    assert len(got) == len(set(got)), "the idempotent producer wrote duplicates"


def test_consumer_group_over_the_cluster(cluster):
    need("kafka")
    from kafka import KafkaConsumer, KafkaProducer
    wait_for_leader(cluster, "grp")
    with KafkaProducer(bootstrap_servers=cluster.bootstrap, acks="all") as producer:
        for i in range(10):
            producer.send("grp", value=b"%d" % i)
        producer.flush(10)
    consumer = KafkaConsumer("grp", bootstrap_servers=cluster.bootstrap, group_id="g", consumer_timeout_ms=3000,
                             auto_offset_reset="earliest", enable_auto_commit=False)
    try:
        got = [int(m.value) for m in consumer]
        consumer.commit()
        committed = consumer.committed(__import__("kafka").TopicPartition("grp", 0))
    finally:
        consumer.close()
    assert got == list(range(10)) and committed == 10


def test_confluent_transactions_and_a_read_committed_group_over_the_cluster(cluster):
    """librdkafka follows FindCoordinator's answer: it must be the same whichever broker is asked (a
    coordinator that moved between answers made its consumer abandon every join)."""
    need("confluent_kafka")
    from confluent_kafka import Consumer, Producer
    wait_for_leader(cluster, "tx")
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "transactional.id": "tx-1", "log_level": 0})
    producer.init_transactions(20)
    producer.begin_transaction()
    for i in range(3):
        producer.produce("tx", value=b"aborted-%d" % i)
    producer.flush(10)
    producer.abort_transaction(20)
    producer.begin_transaction()
    for i in range(3):
        producer.produce("tx", value=b"committed-%d" % i)
    producer.commit_transaction(20)
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "rc", "auto.offset.reset": "earliest",
                         "isolation.level": "read_committed", "log_level": 0})
    consumer.subscribe(["tx"])
    got: list[bytes] = []
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline and len(got) < 3:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                got.append(msg.value())
    finally:
        consumer.close()
    assert got == [b"committed-%d" % i for i in range(3)], got


def test_find_coordinator_gives_one_answer_whichever_broker_is_asked(cluster):
    wait_for_leader(cluster, "fc")
    answers = {(a["node_id"], a["port"]) for address in cluster.addresses
               for a in [call(address, 10, 2, {"key": "some-group", "key_type": 0})]}
    assert len(answers) == 1, answers


def test_serve_brokers_command_line_starts_three_ports_and_stops_on_sigterm():
    import re
    import signal
    proc = subprocess.Popen([sys.executable, "-m", "msglib", "serve", "--brokers", "3", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        ports = re.findall(r"broker (\d) on 127\.0\.0\.1:(\d+)", line)
        assert [b for b, _ in ports] == ["0", "1", "2"], line
        answer = metadata(f"127.0.0.1:{ports[2][1]}", "cli")
        assert sorted(b["port"] for b in answer["brokers"]) == sorted(int(p) for _, p in ports)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "stopped" in out, (out, err)


def test_serve_brokers_command_line_bad_value():
    out = subprocess.run([sys.executable, "-m", "msglib", "serve", "--brokers", "0"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "--brokers must be 1 to 9" in out.stderr, out.stderr


def test_the_cluster_benchmark_runs(capsys):
    need("confluent_kafka")
    from benchmarks import bench_serve_cluster
    bench_serve_cluster.main(["--quick"])
    out = capsys.readouterr().out
    assert "produce acks=all:" in out and "failover: first acknowledgement" in out
