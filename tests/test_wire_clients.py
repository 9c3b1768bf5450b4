"""Real Kafka clients that nobody here wrote, against ``msglib serve`` (started by each test on a free port).

kafka-python and aiokafka (pure Python), confluent-kafka (librdkafka inside) and kcat (librdkafka's
command line). A client that cannot be imported or found skips its tests and says why.
"""
from __future__ import annotations

import asyncio
import importlib.util
import shutil
import subprocess
import threading
import time

import pytest

from msglib.wire.server import ServerThread


def need(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install -e '.[course]' installs it)")


@pytest.fixture
def server(tmp_path):
    with ServerThread(str(tmp_path / "data"), group_initial_rebalance_delay_ms=0, num_partitions=1) as s:
        yield s


@pytest.fixture
def server3(tmp_path):
    """Topics auto-created with 3 partitions (consumer groups)."""
    with ServerThread(str(tmp_path / "data"), group_initial_rebalance_delay_ms=0, num_partitions=3) as s:
        yield s


def codecs_for_kafka_python() -> list[str]:
    out = ["gzip"]
    if importlib.util.find_spec("lz4"):
        out.append("lz4")
    if importlib.util.find_spec("zstandard"):
        out.append("zstd")
    return out


# -- kafka-python --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("compression", [None] + codecs_for_kafka_python())
def test_kafka_python_keys_headers_and_compression(server, compression):
    need("kafka")
    from kafka import KafkaConsumer, KafkaProducer
    topic = f"kp-{compression}"
    with KafkaProducer(bootstrap_servers=server.address, compression_type=compression, acks="all") as producer:
        futures = [producer.send(topic, key=b"k%d" % i, value=b"v%d" % i, headers=[("n", b"%d" % i)])
                   for i in range(20)]
        producer.flush()
        offsets = [f.get(timeout=10).offset for f in futures]
    assert offsets == list(range(20))
    consumer = KafkaConsumer(topic, bootstrap_servers=server.address, auto_offset_reset="earliest",
                             consumer_timeout_ms=2000, group_id=None)
    got = [(m.key, m.value, m.headers, m.offset) for m in consumer]
    consumer.close()
    assert got == [(b"k%d" % i, b"v%d" % i, [("n", b"%d" % i)], i) for i in range(20)]


def test_kafka_python_group_rebalances_when_a_member_leaves(server3):
    need("kafka")
    from kafka import KafkaConsumer, KafkaProducer
    topic = "grp"
    with KafkaProducer(bootstrap_servers=server3.address) as producer:
        for i in range(30):
            producer.send(topic, key=b"%d" % i, value=b"%d" % i, partition=i % 3)
        producer.flush()
    consumers = [KafkaConsumer(topic, bootstrap_servers=server3.address, group_id="g3",
                               auto_offset_reset="earliest", heartbeat_interval_ms=100, session_timeout_ms=6000,
                               enable_auto_commit=False) for _ in range(3)]
    seen: set[bytes] = set()
    stop = threading.Event()
    lock = threading.Lock()
    active = list(consumers)

    def run(c):
        # poll(1000): with 100 ms, a kafka-python 3.0.12 leader whose poll gave up in the middle of its join
        # sometimes never turned its heartbeat back on (its SyncGroup answer came ~25 ms later), and the
        # coordinator removed it after session.timeout.ms.
        while not stop.is_set() and c in active:
            for records in c.poll(timeout_ms=1000).values():
                with lock:
                    seen.update(r.value for r in records)
                c.commit()

    threads = [threading.Thread(target=run, args=(c,), daemon=True) for c in consumers]
    for t in threads:
        t.start()
    try:
        assert wait(lambda: _disjoint_cover(active, 3) and _sizes(active) == [1, 1, 1], 20), \
            f"3 members never shared the 3 partitions one each: {_sizes(active)}"
        leaving = active.pop()
        threads[2].join(5)
        leaving.close()                                   # LeaveGroup: the others rebalance at once
        assert wait(lambda: _disjoint_cover(active, 3) and _sizes(active) == [1, 2], 20), \
            f"the 2 remaining members never took over the 3 partitions: {_sizes(active)}"
        assert wait(lambda: len(seen) == 30, 10), f"consumed {len(seen)} of 30"
        from kafka.admin import KafkaAdminClient
        admin = KafkaAdminClient(bootstrap_servers=server3.address)
        try:
            if hasattr(admin, "list_groups"):                 # kafka-python 3.x
                assert {"group_id": "g3", "protocol_type": "consumer"} in admin.list_groups()
                info = admin.describe_groups(["g3"])["g3"]
                state = (info["group_state"], info["protocol_data"], len(info["members"]))
            else:                                             # kafka-python 2.x
                assert ("g3", "consumer") in [tuple(g)[:2] for g in admin.list_consumer_groups()]
                info = admin.describe_consumer_groups(["g3"])[0]
                state = (info.state, info.protocol, len(info.members))
            assert state == ("Stable", "range", 2)
        finally:
            admin.close()
    finally:
        stop.set()
        for t in threads[:2]:
            t.join(5)
        for c in active:
            c.close()


def _sizes(consumers) -> list[int]:
    try:
        return sorted(len(c.assignment()) for c in consumers)
    except Exception:
        return []


def _disjoint_cover(consumers, partitions: int) -> bool:
    try:
        sets = [c.assignment() for c in consumers]
    except Exception:
        return False
    union = set().union(*sets)
    return len(union) == partitions and sum(len(s) for s in sets) == partitions


def wait(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_kafka_python_committed_offsets_survive_a_restart(server):
    need("kafka")
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    with KafkaProducer(bootstrap_servers=server.address) as producer:
        for i in range(10):
            producer.send("restart", value=b"%d" % i)
        producer.flush()
    tp = TopicPartition("restart", 0)
    consumer = KafkaConsumer(bootstrap_servers=server.address, group_id="keep", enable_auto_commit=False,
                             auto_offset_reset="earliest")
    consumer.assign([tp])
    consumer.commit({tp: __import__("kafka").OffsetAndMetadata(7, "", -1)})
    consumer.close()
    server.restart()
    consumer = KafkaConsumer(bootstrap_servers=server.address, group_id="keep", enable_auto_commit=False,
                             auto_offset_reset="earliest", consumer_timeout_ms=2000)
    consumer.assign([tp])
    assert consumer.committed(tp) == 7
    assert [m.value for m in consumer] == [b"7", b"8", b"9"]
    consumer.close()


def test_kafka_python_admin_creates_lists_and_deletes_topics(server):
    need("kafka")
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError
    admin = KafkaAdminClient(bootstrap_servers=server.address)
    try:
        admin.create_topics([NewTopic("made", num_partitions=4, replication_factor=1,
                                      topic_configs={"cleanup.policy": "compact"})])
        assert "made" in admin.list_topics()
        with pytest.raises(TopicAlreadyExistsError):
            admin.create_topics([NewTopic("made", num_partitions=1, replication_factor=1)])
        assert len(server.server.broker.topics["made"]) == 4
        assert server.server.broker.topics["made"][0].log.config.compact
        admin.delete_topics(["made"])
        assert "made" not in server.server.broker.topics
    finally:
        admin.close()


# -- aiokafka ------------------------------------------------------------------------------------------------
def test_aiokafka_produce_and_consume_in_a_group(server):
    need("aiokafka")
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    async def run():
        producer = AIOKafkaProducer(bootstrap_servers=server.address, compression_type="gzip")
        await producer.start()
        try:
            for i in range(10):
                await producer.send_and_wait("aio", b"v%d" % i, key=b"k%d" % i, headers=[("h", b"%d" % i)])
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer("aio", bootstrap_servers=server.address, group_id="aio-group",
                                    auto_offset_reset="earliest")
        await consumer.start()
        got = []
        try:
            while len(got) < 10:
                m = await asyncio.wait_for(consumer.getone(), 10)
                got.append((m.key, m.value, list(m.headers), m.offset))
            await consumer.commit()
            committed = await consumer.committed(next(iter(consumer.assignment())))
        finally:
            await consumer.stop()
        return got, committed

    got, committed = asyncio.run(run())
    assert got == [(b"k%d" % i, b"v%d" % i, [("h", b"%d" % i)], i) for i in range(10)]
    assert committed == 10


# -- confluent-kafka (librdkafka) ----------------------------------------------------------------------------
def _poll_all(consumer, count: int, seconds: float = 10.0) -> list:
    got = []
    deadline = time.monotonic() + seconds
    while len(got) < count and time.monotonic() < deadline:
        m = consumer.poll(0.2)
        if m is None or m.error():
            continue
        got.append(m)
    return got


@pytest.mark.parametrize("compression", ["none", "gzip", "lz4", "zstd", "snappy"])
def test_confluent_idempotent_producer_keys_headers_compression(server, compression):
    need("confluent_kafka")
    from confluent_kafka import Consumer, Producer
    producer = Producer({"bootstrap.servers": server.address, "enable.idempotence": True,
                         "compression.type": compression, "linger.ms": 5})
    reports = []
    for i in range(50):
        producer.produce(f"ck-{compression}", key=b"k%d" % i, value=b"v%d" % i, headers=[("i", b"%d" % i)],
                         on_delivery=lambda err, msg: reports.append((err, msg.offset() if msg else None)))
    producer.flush(10)
    errors = {str(e) for e, _ in reports if e is not None}
    refused = compression == "snappy" or (compression == "zstd" and importlib.util.find_spec("zstandard") is None)
    if refused:   # msglib's log has no snappy (nor zstd without zstandard): refused by name, nothing written
        assert reports and all(e is not None for e, _ in reports), "snappy batches were not refused"
        assert any("UNSUPPORTED_COMPRESSION" in e.upper() or "compression" in e.lower() for e in errors), errors
        return
    assert not errors, errors
    assert sorted(o for _, o in reports) == list(range(50))
    state = server.server.broker.partition(__import__("msglib").protocol.TopicPartition(f"ck-{compression}", 0))
    assert len(state.producers.entries) == 1, "the idempotent producer's id was not recorded"
    consumer = Consumer({"bootstrap.servers": server.address, "group.id": f"cg-{compression}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([f"ck-{compression}"])
    try:
        got = _poll_all(consumer, 50)
    finally:
        consumer.close()
    assert [(m.key(), m.value(), m.headers(), m.offset()) for m in got] == \
        [(b"k%d" % i, b"v%d" % i, [("i", b"%d" % i)], i) for i in range(50)]


def test_confluent_transactions_and_read_committed(server):
    need("confluent_kafka")
    from confluent_kafka import Consumer, Producer
    producer = Producer({"bootstrap.servers": server.address, "transactional.id": "tx-1"})
    producer.init_transactions(10)
    producer.begin_transaction()
    for i in range(3):
        producer.produce("tx", key=b"a", value=b"aborted-%d" % i)
    producer.flush(10)                                  # written to the log, then aborted
    producer.abort_transaction(10)
    producer.begin_transaction()
    for i in range(3):
        producer.produce("tx", key=b"c", value=b"committed-%d" % i)
    producer.commit_transaction(10)

    def read(isolation: str, count: int) -> list[bytes]:
        consumer = Consumer({"bootstrap.servers": server.address, "group.id": f"r-{isolation}",
                             "auto.offset.reset": "earliest", "isolation.level": isolation})
        consumer.subscribe(["tx"])
        try:
            return [m.value() for m in _poll_all(consumer, count, 6)]
        finally:
            consumer.close()

    assert read("read_committed", 3) == [b"committed-0", b"committed-1", b"committed-2"]
    everything = read("read_uncommitted", 6)
    assert everything == [b"aborted-0", b"aborted-1", b"aborted-2", b"committed-0", b"committed-1", b"committed-2"]
    part = server.server.broker.partition(__import__("msglib").protocol.TopicPartition("tx", 0))
    assert part.log.log_end_offset == 8                  # 6 records and 2 markers (ABORT, COMMIT)
    assert len(part.producers.aborted) == 1


def test_confluent_consume_transform_produce_commits_offsets_in_the_transaction(server):
    need("confluent_kafka")
    from confluent_kafka import Consumer, Producer, TopicPartition
    with_plain = Producer({"bootstrap.servers": server.address})
    for i in range(5):
        with_plain.produce("in", value=b"%d" % i)
    with_plain.flush(10)
    consumer = Consumer({"bootstrap.servers": server.address, "group.id": "eos", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, "isolation.level": "read_committed"})
    consumer.subscribe(["in"])
    producer = Producer({"bootstrap.servers": server.address, "transactional.id": "eos-1"})
    producer.init_transactions(10)
    try:
        got = _poll_all(consumer, 5)
        assert len(got) == 5
        producer.begin_transaction()
        for m in got:
            producer.produce("out", value=m.value() * 2)
        producer.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                             consumer.consumer_group_metadata(), 10)
        producer.commit_transaction(10)
        committed = consumer.committed([TopicPartition("in", 0)], 10)
    finally:
        consumer.close()
    assert committed[0].offset == 5


# -- kcat ----------------------------------------------------------------------------------------------------
def kcat(*args: str, stdin: bytes | None = None) -> str:
    if shutil.which("kcat") is None:
        pytest.skip("kcat is not installed (Debian/Ubuntu: apt-get install kcat; `make sysdeps` does it)")
    done = subprocess.run(["kcat", *args], input=stdin, capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def test_kcat_metadata_listing_and_round_trip(server):
    kcat("-b", server.address, "-t", "cat", "-P", "-K:", "-H", "source=kcat", "-z", "gzip",
         stdin=b"a:1\nb:2\nc:3\n")
    listing = kcat("-b", server.address, "-L")
    assert "1 brokers:" in listing and f"broker 0 at {server.address}" in listing
    assert 'topic "cat" with 1 partitions:' in listing
    out = kcat("-b", server.address, "-t", "cat", "-C", "-e", "-f", "%k=%s %h @%o\\n")
    assert out.splitlines() == ["a=1 source=kcat @0", "b=2 source=kcat @1", "c=3 source=kcat @2"]


def test_confluent_group_of_two_rebalances_when_one_closes(server3):
    need("confluent_kafka")
    from confluent_kafka import Consumer, Producer
    producer = Producer({"bootstrap.servers": server3.address})
    for i in range(30):
        producer.produce("cgrp", value=b"%d" % i, partition=i % 3)
    producer.flush(10)

    def member() -> Consumer:
        c = Consumer({"bootstrap.servers": server3.address, "group.id": "two", "auto.offset.reset": "earliest",
                      "session.timeout.ms": 6000, "heartbeat.interval.ms": 100, "enable.auto.commit": True,
                      "auto.commit.interval.ms": 100})
        c.subscribe(["cgrp"])
        return c

    a, b = member(), member()
    seen: set[bytes] = set()

    def poll_until(consumers, condition, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for c in consumers:
                m = c.poll(0.05)
                if m is not None and not m.error():
                    seen.add(m.value())
            if condition():
                return True
        return False

    try:
        assert poll_until([a, b], lambda: sorted(len(c.assignment()) for c in (a, b)) == [1, 2], 20), \
            [c.assignment() for c in (a, b)]
        assert {tp.partition for c in (a, b) for tp in c.assignment()} == {0, 1, 2}
        b.close()                                       # LeaveGroup: a takes every partition
        assert poll_until([a], lambda: len(a.assignment()) == 3 and len(seen) == 30, 20), \
            (a.assignment(), len(seen))
    finally:
        a.close()


def _learner_snippet(producer_cls, consumer_cls, bootstrap: str, topic: str) -> list[tuple]:
    """Code a learner writes once: produce five keyed records, read them in a group, commit each."""
    producer = producer_cls(bootstrap_servers=bootstrap, acks="all")
    for i in range(5):
        producer.send(topic, key=b"k%d" % i, value=b"v%d" % i)
    producer.flush()
    producer.close()
    consumer = consumer_cls(topic, bootstrap_servers=bootstrap, group_id="snippet", auto_offset_reset="earliest",
                            enable_auto_commit=False, consumer_timeout_ms=10_000)
    out = []
    for message in consumer:
        out.append((message.key, message.value, message.offset))
        consumer.commit()
        if len(out) == 5:
            break
    consumer.close()
    return out


def test_the_same_code_on_msglib_clients_and_on_kafka_python_against_serve(server):
    need("kafka")
    import uuid

    import kafka

    import msglib.client as embedded
    topic = "snippet-" + uuid.uuid4().hex[:8]          # the embedded cluster is process-wide
    try:
        inside = _learner_snippet(embedded.KafkaProducer, embedded.KafkaConsumer, "localhost:9092", topic)
    except (TypeError, ValueError) as exc:
        pytest.skip(f"msglib's clients do not take bootstrap_servers alone here: {exc}")
    outside = _learner_snippet(kafka.KafkaProducer, kafka.KafkaConsumer, server.address, topic)
    assert inside == outside == [(b"k%d" % i, b"v%d" % i, i) for i in range(5)]


def test_confluent_static_member_restarts_without_a_rebalance(tmp_path):
    """KIP-345: a member with group.instance.id that comes back gets its partitions, same generation."""
    need("confluent_kafka")
    from confluent_kafka import Consumer, Producer
    with ServerThread(str(tmp_path / "data"), group_initial_rebalance_delay_ms=0, num_partitions=2) as s:
        producer = Producer({"bootstrap.servers": s.address})
        producer.produce("static", value=b"x")
        producer.flush(10)

        def member(instance: str) -> Consumer:
            c = Consumer({"bootstrap.servers": s.address, "group.id": "static", "group.instance.id": instance,
                          "session.timeout.ms": 6000, "heartbeat.interval.ms": 100})
            c.subscribe(["static"])
            return c

        def poll_until(consumers, condition) -> bool:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not condition():
                for c in consumers:
                    c.poll(0.05)
            return condition()

        a, b = member("a"), member("b")
        assert poll_until([a, b], lambda: len(a.assignment()) == 1 and len(b.assignment()) == 1)
        group = s.server.broker.coordinators.group.group("static")
        generation, before = group.generation_id, [tp.partition for tp in b.assignment()]
        b.close()                                   # a static member sends no LeaveGroup
        b = member("b")
        try:
            assert poll_until([a, b], lambda: len(b.assignment()) == 1)
            assert [tp.partition for tp in b.assignment()] == before
            assert group.generation_id == generation, "the static member's return caused a rebalance"
        finally:
            a.close()
            b.close()


def test_aiokafka_transactions_abort_and_commit(server):
    need("aiokafka")
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    async def run() -> dict[str, list[bytes]]:
        producer = AIOKafkaProducer(bootstrap_servers=server.address, transactional_id="aio-tx")
        await producer.start()
        try:
            with pytest.raises(RuntimeError):
                async with producer.transaction():
                    await producer.send_and_wait("atx", b"aborted")   # written, then aborted
                    raise RuntimeError("abort this transaction")
            async with producer.transaction():
                await producer.send_and_wait("atx", b"committed")
        finally:
            await producer.stop()
        seen = {}
        for isolation in ("read_committed", "read_uncommitted"):
            consumer = AIOKafkaConsumer("atx", bootstrap_servers=server.address, isolation_level=isolation,
                                        auto_offset_reset="earliest", group_id=None)
            await consumer.start()
            values: list[bytes] = []
            try:
                while batch := await consumer.getmany(timeout_ms=1500):
                    values += [m.value for records in batch.values() for m in records]
            finally:
                await consumer.stop()
            seen[isolation] = values
        return seen

    assert asyncio.run(run()) == {"read_committed": [b"committed"], "read_uncommitted": [b"aborted", b"committed"]}
