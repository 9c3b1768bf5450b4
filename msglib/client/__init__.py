"""Clients of the simulated cluster, shaped like kafka-python's.

``KafkaProducer`` (producer.py) sends; ``LogReader`` (reader.py) is a minimal
reader of committed records used to check runs. The consumer with groups
lives in ``consumer.py``.
"""
from msglib.client.errors import (IllegalStateError, KafkaConfigurationError, KafkaError, KafkaTimeoutError,
                                  NotEnoughReplicasAfterAppendError, NotEnoughReplicasError,
                                  NotLeaderForPartitionError, OutOfOrderSequenceNumberError)
from msglib.client.future import FutureRecordMetadata, RecordMetadata
from msglib.client.producer import KafkaProducer
from msglib.client.reader import LogReader
from msglib.cluster.protocol import TopicPartition

__all__ = ["KafkaProducer", "LogReader", "FutureRecordMetadata", "RecordMetadata", "TopicPartition",
           "KafkaError", "KafkaTimeoutError", "KafkaConfigurationError", "IllegalStateError",
           "NotEnoughReplicasError", "NotEnoughReplicasAfterAppendError", "NotLeaderForPartitionError",
           "OutOfOrderSequenceNumberError"]
