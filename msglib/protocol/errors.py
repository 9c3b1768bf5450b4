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


class DuplicateSequenceNumberError(KafkaError):
    """Kept for API compatibility; msglib's broker answers a duplicate with success."""


class TransactionAbortedError(KafkaError):
    """The record was never sent: its transaction was aborted first."""


class NoOffsetForPartitionError(KafkaError):
    """No committed offset and ``auto_offset_reset='none'``: the consumer does not guess a start."""


class CommitFailedError(KafkaError):
    """The commit cannot succeed: the group rebalanced and this member's generation or id is stale.

    The partitions may already belong to another member; re-processing what
    was not committed is that member's job. Poll again to rejoin the group.
    """

    def __init__(self, reason: str = "") -> None:
        super().__init__(
            "Commit cannot be completed since the group has already rebalanced and assigned the partitions "
            "to another member" + (f" ({reason})" if reason else "") + ". This means the time between "
            "subsequent calls to poll() was longer than max_poll_interval_ms, or the member was removed "
            "(session timeout, a pause, a crash). Poll again: the consumer rejoins the group.")
        self.reason = reason


# -- one exception per broker error code: one row each -------------------------------------------
# (code, class name, retriable, what it means). Every class is a KafkaError whose ``errno`` is the code;
# the four that also need fresh metadata (``invalid_metadata``) and the one that is also a ValueError are
# listed under the tables. ``for_code`` looks up the first table, ``group_error_for_code`` the second.
_RECORD_ERRORS = (
    (REQUEST_TIMED_OUT, "RequestTimedOutError", True,
     "The broker did not answer within ``request_timeout_ms`` (acks=all waiting on slow followers, a cut link)."),
    (NOT_LEADER_OR_FOLLOWER, "NotLeaderForPartitionError", True,
     "This broker does not lead the partition (any more): refresh metadata and send to the new leader."),
    (LEADER_NOT_AVAILABLE, "LeaderNotAvailableError", True,
     "The partition has no leader right now (an election is under way, or no ISR member is alive)."),
    (NOT_ENOUGH_REPLICAS, "NotEnoughReplicasError", True,
     "acks=all refused before appending: the ISR is smaller than ``min.insync.replicas``."),
    (NOT_ENOUGH_REPLICAS_AFTER_APPEND, "NotEnoughReplicasAfterAppendError", True,
     "acks=all: appended on the leader, but the ISR shrank below ``min.insync.replicas`` before it was "
     "committed. Retrying may write the record twice unless the producer is idempotent."),
    (OUT_OF_ORDER_SEQUENCE_NUMBER, "OutOfOrderSequenceNumberError", False,
     "The leader expected a different sequence number from this idempotent producer: a batch is missing."),
    (INVALID_PRODUCER_EPOCH, "InvalidProducerEpochError", False,
     "The batch carries an older producer epoch than the partition has seen: it comes from a fenced producer."),
    (UNKNOWN_TOPIC_OR_PARTITION, "UnknownTopicOrPartitionError", True,
     "No such topic or partition on this broker (not created yet, or the metadata is stale)."),
    (FENCED_LEADER_EPOCH, "FencedLeaderEpochError", True,
     "The request names an older leader epoch than the broker's: the client's metadata is stale."),
    (UNKNOWN_LEADER_EPOCH, "UnknownLeaderEpochError", True,
     "The request names a newer leader epoch than the broker knows: it has not caught up yet."),
    (OFFSET_OUT_OF_RANGE, "OffsetOutOfRangeError", False,
     "The fetch offset is below the log start offset or above the log end offset."),
    (CORRUPT_MESSAGE, "CorruptRecordError", False,
     "The batch failed validation (CRC, size) or is not something a producer may write (a control batch)."),
    # transactions (module 06)
    (PRODUCER_FENCED, "ProducerFencedError", False,
     "A newer producer with the same transactional id (or the transaction timeout) bumped the epoch. Fatal: "
     "this producer can do nothing more. Close it; the newer instance carries on (and the transaction this "
     "one had open was aborted)."),
    (INVALID_TXN_STATE, "InvalidTxnStateError", False,
     "The request does not fit the transaction's state (e.g. a plain write inside an open transaction)."),
    (CONCURRENT_TRANSACTIONS, "ConcurrentTransactionsError", True,
     "The previous transaction of this transactional id is still completing: try again shortly."),
    (INVALID_PRODUCER_ID_MAPPING, "InvalidProducerIdMappingError", False,
     "The coordinator knows no producer id for this transactional id: call ``init_transactions`` first."),
    (INVALID_TRANSACTION_TIMEOUT, "InvalidTxnTimeoutError", False,
     "transaction_timeout_ms is above the coordinator's transaction.max.timeout.ms."),
    (UNSTABLE_OFFSET_COMMIT, "UnstableOffsetCommitError", True,
     "A transaction has offsets pending for this partition: wait until it ends."),
)

_GROUP_ERRORS = (
    (ILLEGAL_GENERATION, "IllegalGenerationError", False,
     "The member's generation is not the group's: it missed a rebalance and must rejoin."),
    (UNKNOWN_MEMBER_ID, "UnknownMemberIdError", False,
     "The coordinator does not know this member id (e.g. it was removed after its session timeout): rejoin."),
    (REBALANCE_IN_PROGRESS, "RebalanceInProgressError", False,
     "Not retriable as such (kafka-python 3.x, and the Java client's RebalanceInProgressException): the "
     "member must rejoin the group before it commits again."),
    (COORDINATOR_NOT_AVAILABLE, "CoordinatorNotAvailableError", True,
     "The group coordinator cannot answer now (its broker is down, or it is loading the group): retry."),
    (INCONSISTENT_GROUP_PROTOCOL, "InconsistentGroupProtocolError", False,
     "No assignor is supported by every member (e.g. one says ``range``, another only ``roundrobin``)."),
    (FENCED_INSTANCE_ID, "FencedInstanceIdError", False,
     "Another consumer with the same ``group_instance_id`` took this one's place."),
    (INVALID_SESSION_TIMEOUT, "InvalidSessionTimeoutError", False,
     "The session timeout is outside the coordinator's group.min/max.session.timeout.ms."),
    # the KIP-848 consumer protocol
    (FENCED_MEMBER_EPOCH, "FencedMemberEpochError", False,
     "KIP-848: the coordinator fenced this member (its epoch is not the one the coordinator knows); it "
     "must give up its partitions and rejoin with member epoch 0."),
    (STALE_MEMBER_EPOCH, "StaleMemberEpochError", False,
     "KIP-848: an offset commit carried a member epoch that is not the member's current epoch."),
    (UNRELEASED_INSTANCE_ID, "UnreleasedInstanceIdError", False,
     "KIP-848 static membership: another live member still holds this ``group_instance_id``."),
    (UNSUPPORTED_ASSIGNOR, "UnsupportedAssignorError", False,
     "KIP-848: the coordinator has no server-side assignor with the name in ``group_remote_assignor``."),
)
_INVALID_METADATA = frozenset({NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION,
                               FENCED_LEADER_EPOCH})   # ask who leads the partition before retrying
_ALSO_VALUE_ERROR = frozenset({INVALID_TRANSACTION_TIMEOUT})   # a setting out of range, like a bad config


def _exceptions(rows: tuple) -> dict[str, type[KafkaError]]:
    """code -> a KafkaError subclass per row, each also a module attribute under its class name."""
    by_code = {}
    for code, name, retriable, doc in rows:
        bases = (KafkaError, ValueError) if code in _ALSO_VALUE_ERROR else (KafkaError,)
        cls = type(name, bases, {"__doc__": doc, "__module__": __name__, "errno": code, "retriable": retriable,
                                 "invalid_metadata": code in _INVALID_METADATA})
        globals()[name] = by_code[code] = cls
    return by_code


_BY_CODE = _exceptions(_RECORD_ERRORS)
_GROUP_BY_CODE = _exceptions(_GROUP_ERRORS)   # mapped by the consumer's coordinator client
NotLeaderOrFollowerError = _BY_CODE[NOT_LEADER_OR_FOLLOWER]   # NotLeaderForPartitionError, under the code's name


def for_code(code: str) -> KafkaError:
    """The exception for a broker error code (``"CORRUPT_MESSAGE: why"`` keeps its detail)."""
    name, _, detail = code.partition(": ")
    cls = _BY_CODE.get(name, KafkaError)
    return cls(detail or name)


def group_error_for_code(code: str) -> KafkaError:
    """The exception for a group coordinator's error code (``msglib.groups.errors.for_code``); an unknown
    code gives a plain KafkaError."""
    return _GROUP_BY_CODE.get(code, KafkaError)(code)
