"""Clients of the simulated cluster, shaped like kafka-python 3.x's (docs/kafka-python-contract.md).

``KafkaProducer`` (producer.py) sends; ``KafkaConsumer`` (consumer.py) reads, alone or in a consumer
group; ``KafkaAdminClient`` (admin.py) creates and lists topics; ``LogReader`` (reader.py) is a minimal
reader of committed records used to check runs. Given no ``cluster=``, the three Kafka clients use the
embedded default cluster (embedded.py), so kafka-python code runs with only its import line changed::

    from msglib.client import KafkaConsumer, KafkaProducer, TopicPartition, OffsetAndMetadata
"""
from msglib.client.admin import KafkaAdminClient, NewTopic
from msglib.client.config import IgnoredConfigWarning
from msglib.client.consumer import ConsumerRebalanceListener, ConsumerRecord, KafkaConsumer
from msglib.client.errors import InvalidTopicError, NoBrokersAvailable, TopicAlreadyExistsError
from msglib.client.fetcher import OffsetAndTimestamp
from msglib.client.future import FutureRecordMetadata, RecordMetadata
from msglib.client.producer import KafkaProducer
from msglib.client.reader import LogReader
from msglib.protocol import ConsumerGroupMetadata, OffsetAndMetadata, TopicPartition
from msglib.protocol.errors import (CommitFailedError, IllegalStateError, KafkaConfigurationError, KafkaError,
                                    KafkaTimeoutError, NotEnoughReplicasAfterAppendError, NotEnoughReplicasError,
                                    NotLeaderForPartitionError, OutOfOrderSequenceNumberError)

__all__ = ["KafkaProducer", "KafkaConsumer", "KafkaAdminClient", "NewTopic", "ConsumerRecord",
           "ConsumerRebalanceListener", "LogReader", "FutureRecordMetadata", "RecordMetadata", "TopicPartition",
           "OffsetAndMetadata", "OffsetAndTimestamp", "ConsumerGroupMetadata", "KafkaError", "KafkaTimeoutError",
           "KafkaConfigurationError", "IllegalStateError", "CommitFailedError", "NoBrokersAvailable",
           "TopicAlreadyExistsError", "InvalidTopicError", "IgnoredConfigWarning", "NotEnoughReplicasError",
           "NotEnoughReplicasAfterAppendError", "NotLeaderForPartitionError", "OutOfOrderSequenceNumberError"]
