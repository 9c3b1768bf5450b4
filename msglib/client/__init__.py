"""Clients of the simulated cluster, shaped like kafka-python's.

``KafkaProducer`` (producer.py) sends; ``KafkaConsumer`` (consumer.py) reads,
alone or in a consumer group; ``LogReader`` (reader.py) is a minimal reader of
committed records used to check runs.
"""
from msglib.client.consumer import ConsumerRebalanceListener, ConsumerRecord, KafkaConsumer
from msglib.client.future import FutureRecordMetadata, RecordMetadata
from msglib.client.producer import KafkaProducer
from msglib.client.reader import LogReader
from msglib.protocol import TopicPartition
from msglib.protocol.errors import (IllegalStateError, KafkaConfigurationError, KafkaError, KafkaTimeoutError,
                                    NotEnoughReplicasAfterAppendError, NotEnoughReplicasError,
                                    NotLeaderForPartitionError, OutOfOrderSequenceNumberError)

__all__ = ["KafkaProducer", "KafkaConsumer", "ConsumerRecord", "ConsumerRebalanceListener", "LogReader",
           "FutureRecordMetadata", "RecordMetadata", "TopicPartition", "KafkaError", "KafkaTimeoutError",
           "KafkaConfigurationError", "IllegalStateError", "NotEnoughReplicasError",
           "NotEnoughReplicasAfterAppendError", "NotLeaderForPartitionError", "OutOfOrderSequenceNumberError"]
