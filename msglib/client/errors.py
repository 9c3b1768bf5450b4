"""Client errors, named and shaped like kafka-python's ``kafka.errors``.

Each broker error code (``msglib.cluster.protocol``) maps to one class here.
``retriable`` says whether the producer may try again; ``invalid_metadata``
whether it should first ask who leads the partition now.
"""
from __future__ import annotations

from msglib.cluster import protocol as p


class KafkaError(RuntimeError):
    """Base of every client error. ``retriable``: the producer may send again; ``invalid_metadata``: ask
    who leads first; ``errno``: the broker error code it stands for."""

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
    """The broker did not answer within ``request_timeout_ms`` (acks=all waiting on slow followers, a cut link)."""

    errno = p.REQUEST_TIMED_OUT
    retriable = True


class NotLeaderForPartitionError(KafkaError):
    """This broker does not lead the partition (any more): refresh metadata and send to the new leader."""

    errno = p.NOT_LEADER_OR_FOLLOWER
    retriable = True
    invalid_metadata = True


NotLeaderOrFollowerError = NotLeaderForPartitionError


class LeaderNotAvailableError(KafkaError):
    """The partition has no leader right now (an election is under way, or no ISR member is alive)."""

    errno = p.LEADER_NOT_AVAILABLE
    retriable = True
    invalid_metadata = True


class NotEnoughReplicasError(KafkaError):
    """acks=all refused before appending: the ISR is smaller than ``min.insync.replicas``."""

    errno = p.NOT_ENOUGH_REPLICAS
    retriable = True


class NotEnoughReplicasAfterAppendError(KafkaError):
    """acks=all: appended on the leader, but the ISR shrank below ``min.insync.replicas`` before it was
    committed. Retrying may write the record twice unless the producer is idempotent."""

    errno = p.NOT_ENOUGH_REPLICAS_AFTER_APPEND
    retriable = True


class OutOfOrderSequenceNumberError(KafkaError):
    """The leader expected a different sequence number from this idempotent producer: a batch is missing."""

    errno = p.OUT_OF_ORDER_SEQUENCE_NUMBER


class DuplicateSequenceNumberError(KafkaError):
    """Kept for API compatibility; msglib's broker answers a duplicate with success."""


class InvalidProducerEpochError(KafkaError):
    """The batch carries an older producer epoch than the partition has seen: it comes from a fenced producer."""

    errno = p.INVALID_PRODUCER_EPOCH


class UnknownTopicOrPartitionError(KafkaError):
    """No such topic or partition on this broker (not created yet, or the metadata is stale)."""

    errno = p.UNKNOWN_TOPIC_OR_PARTITION
    retriable = True
    invalid_metadata = True


class FencedLeaderEpochError(KafkaError):
    """The request names an older leader epoch than the broker's: the client's metadata is stale."""

    errno = p.FENCED_LEADER_EPOCH
    retriable = True
    invalid_metadata = True


class UnknownLeaderEpochError(KafkaError):
    """The request names a newer leader epoch than the broker knows: it has not caught up yet."""

    errno = p.UNKNOWN_LEADER_EPOCH
    retriable = True


class OffsetOutOfRangeError(KafkaError):
    """The fetch offset is below the log start offset or above the log end offset."""

    errno = p.OFFSET_OUT_OF_RANGE


class CorruptRecordError(KafkaError):
    """The batch failed validation (CRC, size) or is not something a producer may write (a control batch)."""

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
    """The coordinator knows no producer id for this transactional id: call ``init_transactions`` first."""

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
