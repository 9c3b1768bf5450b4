"""The embedded default: kafka-python code runs on msglib with only its import line changed.

The two course snippets below are pasted as a learner would paste them (the manual-commit consumer loop
and the transactional producer), with ``from kafka import`` changed to ``from msglib.client import``.
What the snippets leave to the reader (``process_order``, ``log``) is defined around them.
"""
from __future__ import annotations

import logging
import warnings

import pytest

from msglib.client import embedded


@pytest.fixture(autouse=True)
def fresh_default():
    embedded.reset(seed=0)
    yield
    embedded.reset()


class _Stop(BaseException):
    """Ends the learner's endless ``for message in consumer`` loop from inside process_order (the snippet
    catches Exception, so a BaseException is what gets out, as KeyboardInterrupt would)."""


def test_the_manual_commit_consumer_snippet_runs_with_only_the_import_changed():
    from msglib.client import KafkaProducer
    producer = KafkaProducer(bootstrap_servers=["localhost:9092"])
    for i in range(5):
        producer.send("orders", f"order-{i}".encode())
    producer.flush()

    processed: list[bytes] = []
    failures = {b"order-2": 1}      # order-2 fails once, then succeeds when redelivered
    log = logging.getLogger("learner")

    def process_order(value: bytes) -> None:
        if failures.get(value):
            failures[value] -= 1
            raise RuntimeError(f"could not process {value!r}")
        processed.append(value)
        if len(processed) == 5:
            raise _Stop

    # -- the course snippet, verbatim apart from the import line --------------------------------------
    from msglib.client import KafkaConsumer, TopicPartition, OffsetAndMetadata

    # Manual offset management
    consumer = KafkaConsumer(
        'orders',
        bootstrap_servers=['localhost:9092'],
        group_id='order-processor',
        enable_auto_commit=False,  # Manual commit
        auto_offset_reset='earliest'
    )

    with pytest.raises(_Stop):
        for message in consumer:
            try:
                # Process message
                process_order(message.value)

                # Commit offset AFTER successful processing
                consumer.commit({
                    TopicPartition(message.topic, message.partition):
                        OffsetAndMetadata(message.offset + 1, None)
                })

            except Exception as e:
                # Don't commit - message will be redelivered
                log.error(f"Failed to process: {e}")
                # Optionally: seek back and retry
                consumer.seek(
                    TopicPartition(message.topic, message.partition),
                    message.offset
                )
    # ---------------------------------------------------------------------------------------------------
    assert processed == [f"order-{i}".encode() for i in range(5)]     # order-2 redelivered after the seek
    assert consumer.committed(TopicPartition("orders", 0)) == 4       # the commit of order-4 never ran
    consumer.close()


def test_the_transactional_producer_snippet_runs_with_only_the_import_changed():
    from msglib.client import KafkaProducer

    # -- the course snippet, verbatim apart from the import line --------------------------------------
    producer = KafkaProducer(
        bootstrap_servers=['localhost:9092'],
        transactional_id='my-producer'
    )

    producer.init_transactions()

    producer.begin_transaction()
    try:
        producer.send('topic-a', value=b'message1')
        producer.send('topic-b', value=b'message2')
        producer.commit_transaction()
    except:  # noqa: E722  (the course's own code)
        producer.abort_transaction()
    # ---------------------------------------------------------------------------------------------------
    from msglib.client import KafkaConsumer
    got = {}
    for topic in ("topic-a", "topic-b"):
        reader = KafkaConsumer(topic, group_id=f"check-{topic}", auto_offset_reset="earliest",
                               isolation_level="read_committed", consumer_timeout_ms=10_000)
        got[topic] = [m.value for m in reader]
    assert got == {"topic-a": [b"message1"], "topic-b": [b"message2"]}


def test_an_address_msglib_cannot_serve_is_refused_at_construction():
    from msglib.client import KafkaAdminClient, KafkaConsumer, KafkaProducer, NoBrokersAvailable
    from msglib.client import KafkaTimeoutError
    for make in (lambda: KafkaProducer(bootstrap_servers="kafka:9092"),
                 lambda: KafkaConsumer("orders", bootstrap_servers=["kafka:9092"], group_id="g"),
                 lambda: KafkaAdminClient(bootstrap_servers="broker1:9092,broker2:9092"),
                 lambda: KafkaProducer(bootstrap_servers="localhost:9093")):
        with pytest.raises(NoBrokersAvailable) as info:
            make()
        text = str(info.value)
        assert "localhost:9092" in text and "python -m msglib serve" in text and "from kafka import" in text
        assert isinstance(info.value, KafkaTimeoutError)   # what kafka-python 3.x raises when it cannot bootstrap


@pytest.mark.parametrize("address", ["localhost", "localhost:9092", "127.0.0.1:9092", "[::1]:9092",
                                     ["localhost:9092"], "localhost:9092,127.0.0.1:9092"])
def test_the_embedded_default_answers_to_its_own_address(address):
    from msglib.client import KafkaProducer
    producer = KafkaProducer(bootstrap_servers=address)
    assert producer.cluster is embedded.default_cluster()
    assert producer.send("t", b"x").get(timeout=30).offset == 0


def test_clients_without_cluster_share_one_process_wide_cluster_and_topics_are_auto_created():
    from msglib.client import KafkaAdminClient, KafkaConsumer, KafkaProducer
    with KafkaProducer() as producer:
        producer.send("auto", b"a")
    with KafkaAdminClient() as admin:
        assert "auto" in admin.list_topics()
        assert len(admin.describe_topics(["auto"])[0]["partitions"]) == embedded.NUM_PARTITIONS
    with KafkaConsumer("auto", group_id="g", auto_offset_reset="earliest", consumer_timeout_ms=5_000) as consumer:
        assert [m.value for m in consumer] == [b"a"]
    embedded.reset()
    with KafkaAdminClient() as admin:
        assert admin.list_topics() == []     # a new default starts empty


def test_allow_auto_create_topics_false_leaves_missing_topics_missing():
    from msglib.client import KafkaProducer, KafkaTimeoutError
    producer = KafkaProducer(allow_auto_create_topics=False, max_block_ms=2_000)
    with pytest.raises(KafkaTimeoutError, match="does topic 'nowhere' exist"):
        producer.send("nowhere", b"x").get(timeout=30)


def test_a_transaction_whose_send_failed_never_reports_success():
    from msglib.client import KafkaError, KafkaProducer
    producer = KafkaProducer(transactional_id="t1", allow_auto_create_topics=False, max_block_ms=2_000)
    producer.init_transactions()
    producer.begin_transaction()
    producer.send("missing-topic", b"lost")
    with pytest.raises(KafkaError):
        producer.commit_transaction()
    producer.abort_transaction()       # the way out, as in kafka-python
    producer.begin_transaction()       # and the producer goes on
    producer.commit_transaction()


def test_a_transaction_with_a_send_to_a_missing_partition_cannot_commit():
    from msglib.client import KafkaError, KafkaProducer
    producer = KafkaProducer(transactional_id="t2")
    producer.init_transactions()
    producer.begin_transaction()
    producer.send("one-partition", b"ok")
    future = producer.send("one-partition", b"nowhere", partition=7)
    with pytest.raises(KafkaError):
        producer.commit_transaction()
    assert future.failed()
    producer.abort_transaction()


def test_ignored_kafka_python_settings_give_one_warning_naming_them():
    from msglib.client import IgnoredConfigWarning, KafkaConsumer, KafkaProducer
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        KafkaProducer(bootstrap_servers="localhost:9092", api_version=(3, 7), security_protocol="SSL",
                      ssl_cafile="ca.pem", sasl_mechanism="PLAIN", client_id="me", request_timeout_ms=20_000)
    mine = [w for w in caught if issubclass(w.category, IgnoredConfigWarning)]
    assert len(mine) == 1
    for key in ("api_version", "security_protocol", "ssl_cafile", "sasl_mechanism"):
        assert key in str(mine[0].message)
    assert "client_id" not in str(mine[0].message)     # implemented, not ignored
    from msglib.client import KafkaConfigurationError
    with pytest.raises(KafkaConfigurationError, match="Unrecognized configs"):
        KafkaConsumer(group_id="g", enable_autocommit=False)    # a typo is still an error
