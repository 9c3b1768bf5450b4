"""Client errors, named and shaped like kafka-python's ``kafka.errors``: now in ``msglib.protocol.errors``
(the bottom floor, shared by brokers and clients). This module keeps the old import path working."""
from msglib.protocol.errors import (KafkaError, IllegalStateError, KafkaConfigurationError, KafkaTimeoutError,
                                    RequestTimedOutError, NotLeaderForPartitionError, NotLeaderOrFollowerError,
                                    LeaderNotAvailableError, NotEnoughReplicasError,
                                    NotEnoughReplicasAfterAppendError, OutOfOrderSequenceNumberError,
                                    DuplicateSequenceNumberError, InvalidProducerEpochError,
                                    UnknownTopicOrPartitionError, FencedLeaderEpochError, UnknownLeaderEpochError,
                                    OffsetOutOfRangeError, CorruptRecordError, ProducerFencedError,
                                    InvalidTxnStateError, ConcurrentTransactionsError, InvalidProducerIdMappingError,
                                    InvalidTxnTimeoutError, TransactionAbortedError, UnstableOffsetCommitError,
                                    for_code)


class NoBrokersAvailable(KafkaTimeoutError):
    """No broker can be reached at ``bootstrap_servers``: raised when a client is built.

    kafka-python 2.x raises ``NoBrokersAvailable`` when it cannot bootstrap; 3.x raises
    ``KafkaTimeoutError('Unable to bootstrap from ...')`` once ``bootstrap_timeout_ms`` has passed.
    msglib raises at once (its in-process clients can tell the address is not theirs), with this
    name and as a KafkaTimeoutError, so the ``except`` clause of either version catches it.
    """

    retriable = True
    invalid_metadata = True


class TopicAlreadyExistsError(KafkaError):
    """CreateTopics: a topic with this name exists (Kafka's TOPIC_ALREADY_EXISTS, code 36)."""

    errno = "TOPIC_ALREADY_EXISTS"


class InvalidTopicError(KafkaError):
    """A topic name Kafka refuses (Kafka's INVALID_TOPIC_EXCEPTION, code 17): 1-249 characters of ASCII
    letters, digits, '.', '_' and '-', and not '.' or '..'."""

    errno = "INVALID_TOPIC_EXCEPTION"

__all__ = [
    "KafkaError", "IllegalStateError", "KafkaConfigurationError", "KafkaTimeoutError", "RequestTimedOutError",
    "NotLeaderForPartitionError", "NotLeaderOrFollowerError", "LeaderNotAvailableError", "NotEnoughReplicasError",
    "NotEnoughReplicasAfterAppendError", "OutOfOrderSequenceNumberError", "DuplicateSequenceNumberError",
    "InvalidProducerEpochError", "UnknownTopicOrPartitionError", "FencedLeaderEpochError", "UnknownLeaderEpochError",
    "OffsetOutOfRangeError", "CorruptRecordError", "ProducerFencedError", "InvalidTxnStateError",
    "ConcurrentTransactionsError", "InvalidProducerIdMappingError", "InvalidTxnTimeoutError",
    "TransactionAbortedError", "UnstableOffsetCommitError", "for_code", "NoBrokersAvailable",
    "TopicAlreadyExistsError", "InvalidTopicError",
]
