"""Client errors, named and shaped like kafka-python's ``kafka.errors``.

Each broker error code (``msglib.cluster.protocol``) maps to one class here.
``retriable`` says whether the producer may try again; ``invalid_metadata``
whether it should first ask who leads the partition now.
"""
from __future__ import annotations

from msglib.cluster import protocol as p


class KafkaError(RuntimeError):
    retriable = False
    invalid_metadata = False
    errno: str | None = None


class IllegalStateError(KafkaError):
    """The client was used in a state that does not allow it (e.g. send after close)."""


class KafkaConfigurationError(KafkaError, ValueError):
    """A setting, or a combination of settings, that cannot work."""


class KafkaTimeoutError(KafkaError):
    """Something did not finish in time (a delivery timeout, a flush/get timeout)."""

    retriable = True


class RequestTimedOutError(KafkaError):
    errno = p.REQUEST_TIMED_OUT
    retriable = True


class NotLeaderForPartitionError(KafkaError):
    errno = p.NOT_LEADER_OR_FOLLOWER
    retriable = True
    invalid_metadata = True


NotLeaderOrFollowerError = NotLeaderForPartitionError


class LeaderNotAvailableError(KafkaError):
    errno = p.LEADER_NOT_AVAILABLE
    retriable = True
    invalid_metadata = True


class NotEnoughReplicasError(KafkaError):
    errno = p.NOT_ENOUGH_REPLICAS
    retriable = True


class NotEnoughReplicasAfterAppendError(KafkaError):
    errno = p.NOT_ENOUGH_REPLICAS_AFTER_APPEND
    retriable = True


class OutOfOrderSequenceNumberError(KafkaError):
    errno = p.OUT_OF_ORDER_SEQUENCE_NUMBER


class DuplicateSequenceNumberError(KafkaError):
    """Kept for API compatibility; msglib's broker answers a duplicate with success."""


class InvalidProducerEpochError(KafkaError):
    errno = p.INVALID_PRODUCER_EPOCH


class UnknownTopicOrPartitionError(KafkaError):
    errno = p.UNKNOWN_TOPIC_OR_PARTITION
    retriable = True
    invalid_metadata = True


class FencedLeaderEpochError(KafkaError):
    errno = p.FENCED_LEADER_EPOCH
    retriable = True
    invalid_metadata = True


class UnknownLeaderEpochError(KafkaError):
    errno = p.UNKNOWN_LEADER_EPOCH
    retriable = True


class OffsetOutOfRangeError(KafkaError):
    errno = p.OFFSET_OUT_OF_RANGE


class CorruptRecordError(KafkaError):
    errno = p.CORRUPT_MESSAGE


# -- transactions (module 06; the codes are msglib.txn.protocol's) --------------------------------
class ProducerFencedError(KafkaError):
    """A newer producer with the same transactional id (or the transaction timeout) bumped the epoch.

    Fatal: this producer can do nothing more. Close it; the newer instance
    carries on (and the transaction this one had open was aborted).
    """

    errno = "PRODUCER_FENCED"


class InvalidTxnStateError(KafkaError):
    """The request does not fit the transaction's state (e.g. a plain write inside an open transaction)."""

    errno = p.INVALID_TXN_STATE


class ConcurrentTransactionsError(KafkaError):
    """The previous transaction of this transactional id is still completing: try again shortly."""

    errno = "CONCURRENT_TRANSACTIONS"
    retriable = True


class InvalidProducerIdMappingError(KafkaError):
    errno = "INVALID_PRODUCER_ID_MAPPING"


class InvalidTxnTimeoutError(KafkaError, ValueError):
    """transaction_timeout_ms is above the coordinator's transaction.max.timeout.ms."""

    errno = "INVALID_TRANSACTION_TIMEOUT"


class TransactionAbortedError(KafkaError):
    """The record was never sent: its transaction was aborted first."""


class UnstableOffsetCommitError(KafkaError):
    """A transaction has offsets pending for this partition: wait until it ends."""

    errno = "UNSTABLE_OFFSET_COMMIT"
    retriable = True


_BY_CODE = {cls.errno: cls for cls in (
    RequestTimedOutError, NotLeaderForPartitionError, LeaderNotAvailableError, NotEnoughReplicasError,
    NotEnoughReplicasAfterAppendError, OutOfOrderSequenceNumberError, InvalidProducerEpochError,
    UnknownTopicOrPartitionError, FencedLeaderEpochError, UnknownLeaderEpochError, OffsetOutOfRangeError,
    CorruptRecordError, ProducerFencedError, InvalidTxnStateError, ConcurrentTransactionsError,
    InvalidProducerIdMappingError, InvalidTxnTimeoutError, UnstableOffsetCommitError)}


def for_code(code: str) -> KafkaError:
    """The exception for a broker error code (``"CORRUPT_MESSAGE: why"`` keeps its detail)."""
    name, _, detail = code.partition(": ")
    cls = _BY_CODE.get(name, KafkaError)
    return cls(detail or name)
