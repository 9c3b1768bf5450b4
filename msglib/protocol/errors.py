"""Kafka's error codes, and the exceptions clients raise for them (kafka-python's ``kafka.errors``).

A broker answers with a *code* (a string such as ``"NOT_LEADER_OR_FOLLOWER"``,
Kafka's name for it); a client turns it into one of the exceptions below.
``retriable`` says whether the client may try again; ``invalid_metadata``
whether it should first ask who leads the partition now. This module imports
nothing else from msglib: brokers, coordinators and clients all build on it.
"""
from __future__ import annotations

# -- error codes (Kafka's names) --------------------------------------------------------------
# replication, produce, fetch
NONE = None
NOT_LEADER_OR_FOLLOWER = "NOT_LEADER_OR_FOLLOWER"
LEADER_NOT_AVAILABLE = "LEADER_NOT_AVAILABLE"
NOT_ENOUGH_REPLICAS = "NOT_ENOUGH_REPLICAS"
NOT_ENOUGH_REPLICAS_AFTER_APPEND = "NOT_ENOUGH_REPLICAS_AFTER_APPEND"
REQUEST_TIMED_OUT = "REQUEST_TIMED_OUT"
OFFSET_OUT_OF_RANGE = "OFFSET_OUT_OF_RANGE"
FENCED_LEADER_EPOCH = "FENCED_LEADER_EPOCH"
UNKNOWN_LEADER_EPOCH = "UNKNOWN_LEADER_EPOCH"
OUT_OF_ORDER_SEQUENCE_NUMBER = "OUT_OF_ORDER_SEQUENCE_NUMBER"
INVALID_PRODUCER_EPOCH = "INVALID_PRODUCER_EPOCH"
UNKNOWN_TOPIC_OR_PARTITION = "UNKNOWN_TOPIC_OR_PARTITION"
CORRUPT_MESSAGE = "CORRUPT_MESSAGE"
INVALID_UPDATE_VERSION = "INVALID_UPDATE_VERSION"
INELIGIBLE_REPLICA = "INELIGIBLE_REPLICA"
INVALID_TXN_STATE = "INVALID_TXN_STATE"  # e.g. a plain batch from a producer id with an open transaction

# Errors after which the data certainly was NOT appended (the client may say "failed").
DEFINITELY_NOT_APPENDED = frozenset({
    NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE, NOT_ENOUGH_REPLICAS, OUT_OF_ORDER_SEQUENCE_NUMBER,
    INVALID_PRODUCER_EPOCH, UNKNOWN_TOPIC_OR_PARTITION, CORRUPT_MESSAGE, INVALID_TXN_STATE})

# consumer groups
ILLEGAL_GENERATION = "ILLEGAL_GENERATION"            # the member's generation is not the group's
UNKNOWN_MEMBER_ID = "UNKNOWN_MEMBER_ID"              # the coordinator does not know this member
REBALANCE_IN_PROGRESS = "REBALANCE_IN_PROGRESS"      # join again
INCONSISTENT_GROUP_PROTOCOL = "INCONSISTENT_GROUP_PROTOCOL"
FENCED_INSTANCE_ID = "FENCED_INSTANCE_ID"            # a newer member took this group.instance.id
INVALID_SESSION_TIMEOUT = "INVALID_SESSION_TIMEOUT"
# consumer groups of the KIP-848 protocol (ConsumerGroupHeartbeat, Kafka 4.0)
FENCED_MEMBER_EPOCH = "FENCED_MEMBER_EPOCH"          # heartbeat: the member's epoch is not the coordinator's: rejoin
STALE_MEMBER_EPOCH = "STALE_MEMBER_EPOCH"            # OffsetCommit: the member epoch is not the member's current one
UNRELEASED_INSTANCE_ID = "UNRELEASED_INSTANCE_ID"    # a static member's instance id is still held by a live member
UNSUPPORTED_ASSIGNOR = "UNSUPPORTED_ASSIGNOR"        # the server has no assignor by that name
INVALID_REQUEST = "INVALID_REQUEST"                  # a request that breaks the protocol's rules (its message says which)

# transactions (KIP-98)
PRODUCER_FENCED = "PRODUCER_FENCED"                    # a newer instance (or the timeout) bumped the epoch
CONCURRENT_TRANSACTIONS = "CONCURRENT_TRANSACTIONS"    # the previous transaction is still completing: retry
INVALID_PRODUCER_ID_MAPPING = "INVALID_PRODUCER_ID_MAPPING"  # this producer id is not the transactional id's
INVALID_TRANSACTION_TIMEOUT = "INVALID_TRANSACTION_TIMEOUT"  # above transaction.max.timeout.ms
COORDINATOR_NOT_AVAILABLE = "COORDINATOR_NOT_AVAILABLE"
UNSTABLE_OFFSET_COMMIT = "UNSTABLE_OFFSET_COMMIT"      # OffsetFetch: a transaction's offsets are pending

# -- exceptions ------------------------------------------------------------------------------------
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

    errno = REQUEST_TIMED_OUT
    retriable = True


class NotLeaderForPartitionError(KafkaError):
    """This broker does not lead the partition (any more): refresh metadata and send to the new leader."""

    errno = NOT_LEADER_OR_FOLLOWER
    retriable = True
    invalid_metadata = True


NotLeaderOrFollowerError = NotLeaderForPartitionError


class LeaderNotAvailableError(KafkaError):
    """The partition has no leader right now (an election is under way, or no ISR member is alive)."""

    errno = LEADER_NOT_AVAILABLE
    retriable = True
    invalid_metadata = True


class NotEnoughReplicasError(KafkaError):
    """acks=all refused before appending: the ISR is smaller than ``min.insync.replicas``."""

    errno = NOT_ENOUGH_REPLICAS
    retriable = True


class NotEnoughReplicasAfterAppendError(KafkaError):
    """acks=all: appended on the leader, but the ISR shrank below ``min.insync.replicas`` before it was
    committed. Retrying may write the record twice unless the producer is idempotent."""

    errno = NOT_ENOUGH_REPLICAS_AFTER_APPEND
    retriable = True


class OutOfOrderSequenceNumberError(KafkaError):
    """The leader expected a different sequence number from this idempotent producer: a batch is missing."""

    errno = OUT_OF_ORDER_SEQUENCE_NUMBER


class DuplicateSequenceNumberError(KafkaError):
    """Kept for API compatibility; msglib's broker answers a duplicate with success."""


class InvalidProducerEpochError(KafkaError):
    """The batch carries an older producer epoch than the partition has seen: it comes from a fenced producer."""

    errno = INVALID_PRODUCER_EPOCH


class UnknownTopicOrPartitionError(KafkaError):
    """No such topic or partition on this broker (not created yet, or the metadata is stale)."""

    errno = UNKNOWN_TOPIC_OR_PARTITION
    retriable = True
    invalid_metadata = True


class FencedLeaderEpochError(KafkaError):
    """The request names an older leader epoch than the broker's: the client's metadata is stale."""

    errno = FENCED_LEADER_EPOCH
    retriable = True
    invalid_metadata = True


class UnknownLeaderEpochError(KafkaError):
    """The request names a newer leader epoch than the broker knows: it has not caught up yet."""

    errno = UNKNOWN_LEADER_EPOCH
    retriable = True


class OffsetOutOfRangeError(KafkaError):
    """The fetch offset is below the log start offset or above the log end offset."""

    errno = OFFSET_OUT_OF_RANGE


class CorruptRecordError(KafkaError):
    """The batch failed validation (CRC, size) or is not something a producer may write (a control batch)."""

    errno = CORRUPT_MESSAGE


# -- transactions (module 06) --------------------------------
class ProducerFencedError(KafkaError):
    """A newer producer with the same transactional id (or the transaction timeout) bumped the epoch.

    Fatal: this producer can do nothing more. Close it; the newer instance
    carries on (and the transaction this one had open was aborted).
    """

    errno = PRODUCER_FENCED


class InvalidTxnStateError(KafkaError):
    """The request does not fit the transaction's state (e.g. a plain write inside an open transaction)."""

    errno = INVALID_TXN_STATE


class ConcurrentTransactionsError(KafkaError):
    """The previous transaction of this transactional id is still completing: try again shortly."""

    errno = CONCURRENT_TRANSACTIONS
    retriable = True


class InvalidProducerIdMappingError(KafkaError):
    """The coordinator knows no producer id for this transactional id: call ``init_transactions`` first."""

    errno = INVALID_PRODUCER_ID_MAPPING


class InvalidTxnTimeoutError(KafkaError, ValueError):
    """transaction_timeout_ms is above the coordinator's transaction.max.timeout.ms."""

    errno = INVALID_TRANSACTION_TIMEOUT


class TransactionAbortedError(KafkaError):
    """The record was never sent: its transaction was aborted first."""


class UnstableOffsetCommitError(KafkaError):
    """A transaction has offsets pending for this partition: wait until it ends."""

    errno = UNSTABLE_OFFSET_COMMIT
    retriable = True



# -- consumer groups ---------------------------------------------------------------------------------
class CommitFailedError(KafkaError):
    """The commit cannot succeed: the group rebalanced and this member's generation or id is stale.

    The partitions may already belong to another member; re-processing what
    was not committed is that member's job. Poll again to rejoin the grou
    """

    def __init__(self, reason: str = "") -> None:
        super().__init__(
            "Commit cannot be completed since the group has already rebalanced and assigned the partitions "
            "to another member" + (f" ({reason})" if reason else "") + ". This means the time between "
            "subsequent calls to poll() was longer than max_poll_interval_ms, or the member was removed "
            "(session timeout, a pause, a crash). Poll again: the consumer rejoins the grou")
        self.reason = reason


class NoOffsetForPartitionError(KafkaError):
    """No committed offset and ``auto_offset_reset='none'``: the consumer does not guess a start."""


class IllegalGenerationError(KafkaError):
    errno = ILLEGAL_GENERATION


class UnknownMemberIdError(KafkaError):
    errno = UNKNOWN_MEMBER_ID


class RebalanceInProgressError(KafkaError):
    """Not retriable as such (kafka-python 3.x, and the Java client's RebalanceInProgressException): the
    member must rejoin the group before it commits again."""

    errno = REBALANCE_IN_PROGRESS


class CoordinatorNotAvailableError(KafkaError):
    errno = COORDINATOR_NOT_AVAILABLE
    retriable = True


class InconsistentGroupProtocolError(KafkaError):
    """No assignor is supported by every member (e.g. one says ``range``, another only ``roundrobin``)."""

    errno = INCONSISTENT_GROUP_PROTOCOL


class FencedInstanceIdError(KafkaError):
    """Another consumer with the same ``group_instance_id`` took this one's place."""

    errno = FENCED_INSTANCE_ID


class InvalidSessionTimeoutError(KafkaError):
    errno = INVALID_SESSION_TIMEOUT


class FencedMemberEpochError(KafkaError):
    """KIP-848: the coordinator fenced this member (its epoch is not the one the coordinator knows); it
    must give up its partitions and rejoin with member epoch 0."""

    errno = FENCED_MEMBER_EPOCH


class StaleMemberEpochError(KafkaError):
    """KIP-848: an offset commit carried a member epoch that is not the member's current epoch."""

    errno = STALE_MEMBER_EPOCH


class UnreleasedInstanceIdError(KafkaError):
    """KIP-848 static membership: another live member still holds this ``group_instance_id``."""

    errno = UNRELEASED_INSTANCE_ID


class UnsupportedAssignorError(KafkaError):
    """KIP-848: the coordinator has no server-side assignor with the name in ``group_remote_assignor``."""

    errno = UNSUPPORTED_ASSIGNOR



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


# Consumer-group codes, mapped by the consumer's coordinator client (an unknown code -> a plain KafkaError).
_GROUP_BY_CODE = {cls.errno: cls for cls in (IllegalGenerationError, UnknownMemberIdError, RebalanceInProgressError,
                                             CoordinatorNotAvailableError, InconsistentGroupProtocolError,
                                             FencedInstanceIdError, InvalidSessionTimeoutError,
                                             FencedMemberEpochError, StaleMemberEpochError,
                                             UnreleasedInstanceIdError, UnsupportedAssignorError)}


def group_error_for_code(code: str) -> KafkaError:
    """The exception for a group coordinator's error code (``msglib.groups.errors.for_code``)."""
    return _GROUP_BY_CODE.get(code, KafkaError)(code)
