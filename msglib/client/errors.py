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

__all__ = [
    "KafkaError", "IllegalStateError", "KafkaConfigurationError", "KafkaTimeoutError", "RequestTimedOutError",
    "NotLeaderForPartitionError", "NotLeaderOrFollowerError", "LeaderNotAvailableError", "NotEnoughReplicasError",
    "NotEnoughReplicasAfterAppendError", "OutOfOrderSequenceNumberError", "DuplicateSequenceNumberError",
    "InvalidProducerEpochError", "UnknownTopicOrPartitionError", "FencedLeaderEpochError", "UnknownLeaderEpochError",
    "OffsetOutOfRangeError", "CorruptRecordError", "ProducerFencedError", "InvalidTxnStateError",
    "ConcurrentTransactionsError", "InvalidProducerIdMappingError", "InvalidTxnTimeoutError",
    "TransactionAbortedError", "UnstableOffsetCommitError", "for_code",
]
