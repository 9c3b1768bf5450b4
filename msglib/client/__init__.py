"""Clients of the simulated cluster, shaped like kafka-python's.

``KafkaProducer`` (producer.py) sends; ``KafkaConsumer`` (consumer.py) reads,
alone or in a consumer group; ``LogReader`` (reader.py) is a minimal reader of
committed records used to check runs.
"""
from msglib.protocol.errors import (IllegalStateError, KafkaConfigurationError, KafkaError, KafkaTimeoutError,
                                  NotEnoughReplicasAfterAppendError, NotEnoughReplicasError,
                                  NotLeaderForPartitionError, OutOfOrderSequenceNumberError)
from msglib.client.future import FutureRecordMetadata, RecordMetadata
from msglib.client.producer import KafkaProducer
from msglib.client.reader import LogReader
from msglib.protocol import TopicPartition

__all__ = ["KafkaProducer", "KafkaConsumer", "LogReader", "FutureRecordMetadata", "RecordMetadata", "TopicPartition",
           "KafkaError", "KafkaTimeoutError", "KafkaConfigurationError", "IllegalStateError",
           "NotEnoughReplicasError", "NotEnoughReplicasAfterAppendError", "NotLeaderForPartitionError",
           "OutOfOrderSequenceNumberError"]


def __getattr__(name: str):
    # The consumer needs msglib.groups, which needs msglib.client.errors: importing it here
    # eagerly would be circular. It is loaded on first use instead.
    if name in ("KafkaConsumer", "ConsumerRecord", "ConsumerRebalanceListener"):
        from msglib.client import consumer

        return getattr(consumer, name)
    raise AttributeError(f"module 'msglib.client' has no attribute {name!r}")
