"""Differential tests: msglib's clients against kafka-python 3.x, for everything that needs no broker.

kafka-python is a test dependency (pyproject's ``course`` extra). Each test runs the same script on both:
constructor settings and their defaults (``DEFAULT_CONFIG``), settings each client refuses and with which
exception, the shapes of ``TopicPartition``/``OffsetAndMetadata``/``ConsumerRecord``/``RecordMetadata``,
error class names and hierarchy, and the iterator/seek/commit semantics -- the latter with kafka-python's
own ``KafkaConsumer.__next__``, ``seek`` and ``SubscriptionState``, only ``poll`` stubbed to read a
five-record partition. Where msglib differs on purpose, the difference is listed here with its reason
(and in docs/kafka-python-contract.md).
"""
from __future__ import annotations

import warnings

import pytest

kafka = pytest.importorskip("kafka", reason="kafka-python is a test dependency: pip install -e '.[course]'")
if not kafka.__version__.startswith("3."):
    pytest.skip(f"these tests compare with kafka-python 3.x, found {kafka.__version__}", allow_module_level=True)

import kafka.errors as KE  # noqa: E402
from kafka.consumer.fetcher import ConsumerRecord as KConsumerRecord  # noqa: E402
from kafka.consumer.subscription_state import SubscriptionState as KSubscriptionState  # noqa: E402
from kafka.producer.future import RecordMetadata as KRecordMetadata  # noqa: E402

import msglib.client as M  # noqa: E402
from msglib.client import admin as m_admin, consumer as m_consumer, embedded, producer as m_producer  # noqa: E402
from msglib.client.config import IGNORED_ADMIN, IGNORED_CONSUMER, IGNORED_PRODUCER  # noqa: E402
from msglib.groups.local import LocalBroker  # noqa: E402
from msglib.protocol.structs import MemberState  # noqa: E402

# Settings whose default differs on purpose: name -> why.
DIFFERENT_DEFAULTS = {
    "client_id": "msglib names each client (consumer-1, producer-2...) so that timelines and histories can "
                 "tell them apart; kafka-python uses 'kafka-python-<version>' for all",
    "partition_assignment_strategy": "the same assignors (range, then roundrobin), named instead of classes",
    "partitioner": "None means the Java client's built-in partitioner: murmur2 of the key, like kafka-python's; "
                   "keyless records stick to a partition (KIP-794) where kafka-python draws one per record",
    "linger_ms": "msglib uses Kafka 4.0's default, 5 ms (KIP-1030, docs/kafka-defaults.md); kafka-python keeps 0",
}

CLIENTS = [("KafkaConsumer", m_consumer.DEFAULT_CONFIG, IGNORED_CONSUMER, kafka.KafkaConsumer),
           ("KafkaProducer", m_producer.DEFAULT_CONFIG, IGNORED_PRODUCER, kafka.KafkaProducer),
           ("KafkaAdminClient", m_admin.DEFAULT_CONFIG, IGNORED_ADMIN, kafka.KafkaAdminClient)]


@pytest.fixture(autouse=True)
def fresh_default():
    embedded.reset()
    yield
    embedded.reset()


# -- settings -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,mine,ignored,theirs", CLIENTS, ids=[c[0] for c in CLIENTS])
def test_every_kafka_python_setting_is_implemented_or_ignored_with_a_warning(name, mine, ignored, theirs):
    missing = sorted(set(theirs.DEFAULT_CONFIG) - set(mine) - ignored)
    assert missing == [], f"{name} refuses kafka-python settings {missing}"
    assert not set(mine) & ignored, "a setting is either implemented or ignored, not both"


@pytest.mark.parametrize("name,mine,ignored,theirs", CLIENTS, ids=[c[0] for c in CLIENTS])
def test_defaults_are_kafka_pythons(name, mine, ignored, theirs):
    differ = {k: (mine[k], theirs.DEFAULT_CONFIG[k]) for k in set(mine) & set(theirs.DEFAULT_CONFIG)
              if mine[k] != theirs.DEFAULT_CONFIG[k] and k not in DIFFERENT_DEFAULTS}
    assert differ == {}
    if name == "KafkaConsumer":
        assert [a.name for a in theirs.DEFAULT_CONFIG["partition_assignment_strategy"]] == \
            list(mine["partition_assignment_strategy"])


def _outcome(make):
    """'ok', or the exception's kafka-python-visible kind: its class name and the builtin bases it has."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            client = make()
        except Exception as exc:   # noqa: BLE001  (the outcome is what is compared)
            return type(exc).__name__, isinstance(exc, ValueError), isinstance(exc, RuntimeError)
    client.close()
    return "ok"


def _has(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False


# (settings, what kafka-python raises or 'ok'). api_version is given so that kafka-python builds the client
# without asking a broker for its version (msglib ignores it, with a warning).
PRODUCER_CASES = [
    ({"lingerms": 5}, None),                                      # a typo
    ({"compression_type": "brotli"}, None),                       # not a codec
    ({"compression_type": "gzip"}, None),
    ({"compression_type": "lz4"}, None),                          # ok if lz4 is installed, else RuntimeError
    ({"compression_type": "zstd"}, None),                         # ok if zstandard is installed
    ({"enable_idempotence": True, "acks": 1}, None),              # explicit idempotence needs acks=all
    ({"acks": 1}, None),                                          # the default idempotence gives way
    ({"transactional_id": "tx", "acks": "all"}, None),
]
CONSUMER_CASES = [
    ({"enable_autocommit": False}, None),                         # a typo
    ({"fetch_max_wait_ms": 40_000}, None),                        # longer than request_timeout_ms
    ({"auto_offset_reset": "smallest"}, None),                    # old name of 'earliest'
    ({"group_id": "g", "enable_auto_commit": False, "auto_offset_reset": "earliest"}, None),
    ({"group_id": "g", "isolation_level": "read_committed"}, None),
]


@pytest.mark.parametrize("settings", [c[0] for c in PRODUCER_CASES], ids=str)
def test_the_producer_accepts_and_refuses_what_kafka_python_does(settings):
    theirs = _outcome(lambda: kafka.KafkaProducer(api_version=(3, 7), bootstrap_timeout_ms=200, **settings))
    mine = _outcome(lambda: M.KafkaProducer(bootstrap_servers="localhost:9092", **settings))
    if settings.get("compression_type") == "snappy":
        pytest.fail("snappy is compared in its own test")
    if theirs == "ok":
        assert mine == "ok"
    else:
        assert mine != "ok", f"kafka-python raises {theirs[0]} for {settings}; msglib accepted it"
        # what an except clause written for kafka-python catches: the same builtin base
        assert (theirs[1] and mine[1]) or (theirs[2] and mine[2]) or theirs[0] == mine[0], (theirs, mine)


def test_snappy_is_refused_clearly_and_missing_codec_packages_are_named():
    with pytest.raises(M.KafkaConfigurationError, match="snappy.*not supported"):
        M.KafkaProducer(compression_type="snappy")
    for codec, package in (("lz4", "lz4"), ("zstd", "zstandard")):
        if _has("lz4.frame" if codec == "lz4" else "zstandard"):
            M.KafkaProducer(compression_type=codec).close()
        else:
            with pytest.raises(M.KafkaConfigurationError, match=f"pip install {package}"):
                M.KafkaProducer(compression_type=codec)


@pytest.mark.parametrize("settings", [c[0] for c in CONSUMER_CASES], ids=str)
def test_the_consumer_accepts_and_refuses_what_kafka_python_does(settings):
    theirs = _outcome(lambda: kafka.KafkaConsumer(api_version=(3, 7), bootstrap_timeout_ms=200, **settings))
    mine = _outcome(lambda: M.KafkaConsumer(bootstrap_servers="localhost:9092", **settings))
    if theirs == "ok":
        assert mine == "ok"
    else:
        assert mine != "ok" and (theirs[0] == mine[0] or (theirs[1] and mine[1])), (theirs, mine)


def test_deprecated_reset_names_map_like_kafka_pythons():
    theirs = kafka.KafkaConsumer(api_version=(3, 7), auto_offset_reset="largest")
    mine = M.KafkaConsumer(auto_offset_reset="largest")
    assert mine.config["auto_offset_reset"] == theirs.config["auto_offset_reset"] == "latest"
    theirs.close()
    mine.close()


# -- shapes ---------------------------------------------------------------------------------------------------
def test_structs_have_kafka_pythons_fields():
    assert M.TopicPartition._fields == kafka.TopicPartition._fields
    assert M.TopicPartition("t", 1) == kafka.TopicPartition("t", 1)
    assert M.OffsetAndMetadata._fields == kafka.OffsetAndMetadata._fields
    # OffsetAndMetadata(offset, metadata) as the course writes it: leader_epoch defaults to -1 in both
    assert M.OffsetAndMetadata(5, None) == kafka.OffsetAndMetadata(5, None)
    assert M.OffsetAndMetadata(5) == kafka.OffsetAndMetadata(5)
    assert M.ConsumerRecord._fields == KConsumerRecord._fields
    assert M.RecordMetadata._fields == KRecordMetadata._fields
    assert M.OffsetAndTimestamp._fields == kafka.structs.OffsetAndTimestamp._fields
    # every field's default too: OffsetAndMetadata() is (None, '', -1) in kafka-python 3.0.12
    assert M.OffsetAndMetadata._field_defaults == kafka.OffsetAndMetadata._field_defaults
    assert M.OffsetAndMetadata() == kafka.OffsetAndMetadata()
    # ConsumerGroupMetadata: KIP-447's four fields, then kafka-python 3.x's live 'state' (MemberState values)
    assert M.ConsumerGroupMetadata._fields == kafka.ConsumerGroupMetadata._fields
    assert M.ConsumerGroupMetadata._field_defaults == kafka.ConsumerGroupMetadata._field_defaults
    assert M.ConsumerGroupMetadata("g") == kafka.ConsumerGroupMetadata("g")
    assert {k: v for k, v in vars(MemberState).items() if k.isupper()} == \
        {k: v for k, v in vars(kafka.structs.MemberState).items() if k.isupper()}


def test_group_metadata_reports_the_member_state_as_kafka_python_3():
    broker = LocalBroker(seed=3, fast=True)
    broker.create_topic("t", partitions=1)
    consumer = M.KafkaConsumer("t", cluster=broker, group_id="g", auto_offset_reset="earliest")
    before = consumer.group_metadata()
    assert (before.group_id, before.generation_id, before.state) == ("g", -1, kafka.structs.MemberState.UNJOINED)
    for _ in range(20):
        consumer.poll(timeout_ms=100)
        if consumer.group_metadata().state == kafka.structs.MemberState.STABLE:
            break
    joined = consumer.group_metadata()
    assert joined.state == kafka.structs.MemberState.STABLE and joined.generation_id >= 1 and joined.member_id
    consumer.close()


def test_poll_returns_a_dict_of_topic_partition_to_consumer_records():
    broker = LocalBroker(seed=1, fast=True)
    broker.create_topic("t", partitions=2)
    for i in range(4):
        broker.send("t", f"v{i}".encode(), partition=i % 2)
    consumer = M.KafkaConsumer(cluster=broker, auto_offset_reset="earliest")
    consumer.assign([M.TopicPartition("t", 0), M.TopicPartition("t", 1)])
    out = consumer.poll(timeout_ms=1_000)
    assert isinstance(out, dict) and set(out) == {kafka.TopicPartition("t", 0), kafka.TopicPartition("t", 1)}
    for tp, records in out.items():
        assert isinstance(records, list) and all(type(r)._fields == KConsumerRecord._fields for r in records)
        assert [r.offset for r in records] == [0, 1] and all(r.topic == tp.topic for r in records)


ERRORS = ["KafkaError", "KafkaTimeoutError", "KafkaConfigurationError", "IllegalStateError", "CommitFailedError",
          "NoOffsetForPartitionError", "OffsetOutOfRangeError", "UnknownTopicOrPartitionError",
          "NotLeaderForPartitionError", "LeaderNotAvailableError", "RequestTimedOutError",
          "NotEnoughReplicasError", "NotEnoughReplicasAfterAppendError", "OutOfOrderSequenceNumberError",
          "IllegalGenerationError", "UnknownMemberIdError", "RebalanceInProgressError", "TransactionAbortedError",
          "ProducerFencedError", "TopicAlreadyExistsError", "CorruptRecordError", "InvalidTopicError"]


def _msglib_error(name: str):
    import msglib.client.errors as ce
    import msglib.protocol.errors as pe
    return getattr(M, name, None) or getattr(ce, name, None) or getattr(pe, name)


def test_error_classes_have_kafka_pythons_names_and_hierarchy():
    mismatches = []
    for name in ERRORS:
        theirs = getattr(KE, name, None) or getattr(KE, name.replace("Error", "Exception"), None)
        assert theirs is not None, f"kafka-python has no {name}"
        mine = _msglib_error(name)
        assert issubclass(mine, M.KafkaError)
        if bool(getattr(theirs, "retriable", False)) != bool(getattr(mine, "retriable", False)):
            mismatches.append(f"{name}.retriable: kafka-python {theirs.retriable}, msglib {mine.retriable}")
    for a in ERRORS:
        for b in ERRORS:
            ka, kb = getattr(KE, a, None), getattr(KE, b, None)
            if ka is not None and kb is not None and issubclass(ka, kb) and a != b:
                if not issubclass(_msglib_error(a), _msglib_error(b)):
                    mismatches.append(f"{a} is a {b} in kafka-python, not in msglib")
    assert mismatches == []


def test_no_brokers_available_is_caught_as_kafka_python_3_reports_a_failed_bootstrap():
    # kafka-python 3.x: KafkaTimeoutError('Unable to bootstrap from ...'); 2.x: NoBrokersAvailable
    with pytest.raises(M.KafkaTimeoutError):
        M.KafkaConsumer(bootstrap_servers="kafka:9092")
    assert issubclass(M.NoBrokersAvailable, M.KafkaTimeoutError) and issubclass(KE.KafkaTimeoutError, KE.KafkaError)


# -- iterator, seek, commit -----------------------------------------------------------------------------------
LOG = [f"v{i}".encode() for i in range(5)]


def _kafka_python_consumer():
    """kafka-python's own KafkaConsumer iterator, seek and SubscriptionState; only poll() reads a list."""
    tp = kafka.TopicPartition("t", 0)
    c = kafka.KafkaConsumer.__new__(kafka.KafkaConsumer)
    c._closed, c._iterator, c._consumer_timeout = False, None, float("inf")
    c.config = dict(kafka.KafkaConsumer.DEFAULT_CONFIG, consumer_timeout_ms=50)
    c._subscription = KSubscriptionState("earliest")
    c._subscription.assign_from_user([tp])
    c._subscription.seek(tp, 0)

    def poll(timeout_ms=0, max_records=None, update_offsets=True):
        start = c._subscription.assignment[tp].position.offset
        records = [KConsumerRecord("t", 0, -1, o, 0, 0, None, LOG[o], [], None, -1, 2, -1)
                   for o in range(start, len(LOG))]
        if update_offsets and records:
            c._subscription.assignment[tp].position = kafka.OffsetAndMetadata(len(LOG), "", -1)
        return {tp: records} if records else {}
    c.poll = poll
    return c, lambda: {tp: om.offset for tp, om in c._subscription.all_consumed_offsets().items()}


def _msglib_consumer():
    broker = LocalBroker(seed=2, fast=True)
    broker.create_topic("t", partitions=1)
    for value in LOG:
        broker.send("t", value)
    c = M.KafkaConsumer(cluster=broker, auto_offset_reset="earliest", consumer_timeout_ms=500)
    c.assign([M.TopicPartition("t", 0)])
    return c, lambda: {tp: om.offset for tp, om in c._consumed_offsets().items()}


def _script(consumer, consumed, tp):
    """Iterate; after the first record note what commit() would store; at offset 2 seek back to 2 once."""
    seen, first_commit = [], None
    for record in consumer:
        seen.append(record.offset)
        if len(seen) == 1:
            first_commit = consumed()
        if record.offset == 2 and seen.count(2) == 1:
            consumer.seek(tp, 2)
    return seen, {tuple(tp): offset for tp, offset in first_commit.items()}


def test_iterating_seeking_and_committing_behave_as_kafka_pythons():
    theirs = _script(*_kafka_python_consumer(), kafka.TopicPartition("t", 0))
    mine = _script(*_msglib_consumer(), M.TopicPartition("t", 0))
    assert theirs == ([0, 1, 2, 2, 3, 4], {("t", 0): 1})
    assert mine == theirs


def test_commit_after_the_first_yielded_record_stores_its_offset_plus_one():
    broker = LocalBroker(seed=4, fast=True)
    broker.create_topic("t", partitions=1)
    for value in LOG:
        broker.send("t", value)
    c = M.KafkaConsumer(cluster=broker, group_id="g", enable_auto_commit=False, auto_offset_reset="earliest",
                        consumer_timeout_ms=2_000)
    c.assign([M.TopicPartition("t", 0)])
    first = next(iter(c))
    c.commit()
    assert first.offset == 0 and c.committed(M.TopicPartition("t", 0)) == 1


def test_pausing_a_partition_stops_the_iterator_yielding_it():
    broker = LocalBroker(seed=5, fast=True)
    broker.create_topic("t", partitions=1)
    for value in LOG:
        broker.send("t", value)
    c = M.KafkaConsumer(cluster=broker, auto_offset_reset="earliest", consumer_timeout_ms=300)
    tp = M.TopicPartition("t", 0)
    c.assign([tp])
    it = iter(c)
    assert next(it).offset == 0
    c.pause(tp)
    assert list(it) == [] and c.position(tp) == 1


# -- context managers -----------------------------------------------------------------------------------------
class _CloseRecorder:
    def __init__(self):
        self.calls = []

    def close(self, *args, **kwargs):
        self.calls.append(kwargs)


@pytest.mark.parametrize("exc_type", [None, ValueError])
def test_the_consumer_context_manager_closes_as_kafka_pythons(exc_type):
    theirs, mine = _CloseRecorder(), _CloseRecorder()
    kafka.KafkaConsumer.__exit__(theirs, exc_type, None, None)
    M.KafkaConsumer.__exit__(mine, exc_type, None, None)
    assert mine.calls == theirs.calls == [{"autocommit": exc_type is None}]


def test_producer_and_admin_are_context_managers_like_kafka_pythons():
    for name in ("KafkaProducer", "KafkaAdminClient", "KafkaConsumer"):
        assert hasattr(getattr(kafka, name), "__enter__") and hasattr(getattr(M, name), "__enter__")
    with M.KafkaProducer() as producer:
        producer.send("cm", b"x")
    assert producer.closed
    with M.KafkaAdminClient() as admin:
        assert "cm" in admin.list_topics()
    with pytest.raises(M.IllegalStateError):
        admin.list_topics()


def test_partitions_for_like_kafka_python_3():
    with M.KafkaAdminClient() as admin:
        admin.create_topics({"three": {"num_partitions": 3}})
        with pytest.raises(M.TopicAlreadyExistsError):
            admin.create_topics(["three"])
    producer = M.KafkaProducer()
    assert producer.partitions_for("three") == {0, 1, 2}
    assert producer.partitions_for("made-on-first-use") == {0}       # auto-created, num.partitions=1
    consumer = M.KafkaConsumer(allow_auto_create_topics=False)
    assert consumer.partitions_for_topic("three") == {0, 1, 2}
    assert consumer.partitions_for_topic("absent") == set()          # kafka-python 3.x: an empty set
