"""The messages brokers, the controller and clients exchange, and the error codes.

They are plain objects passed through the simulated network (nothing is
serialised, except the record batches, which travel as Kafka's bytes). Names
follow Kafka's protocol: ProduceRequest, FetchRequest, OffsetsForLeaderEpoch,
AlterPartition, BrokerHeartbeat, Metadata, InitProducerId.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

# -- error codes (Kafka's names) -------------------------------------------------------
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

NO_LEADER = -1

# Fetch and ListOffsets isolation levels (Kafka's byte values).
READ_UNCOMMITTED = 0
READ_COMMITTED = 1
ISOLATION_LEVELS = {"read_uncommitted": READ_UNCOMMITTED, "read_committed": READ_COMMITTED}

# ListOffsets' special timestamps.
EARLIEST_TIMESTAMP = -2
LATEST_TIMESTAMP = -1


class TopicPartition(NamedTuple):
    """A partition of a topic (kafka-python's ``TopicPartition``)."""

    topic: str
    partition: int

    def __str__(self) -> str:
        return f"{self.topic}-{self.partition}"


# -- controller <-> brokers ------------------------------------------------------------
@dataclass(frozen=True)
class PartitionState:
    """What the controller decided about one partition (one metadata record).

    ``leader_epoch`` rises by one on every leader change (a new leader, or
    none); ``partition_epoch`` rises on every change, ISR-only ones included.
    """

    tp: TopicPartition
    replicas: tuple[int, ...]
    leader: int
    leader_epoch: int
    isr: tuple[int, ...]
    partition_epoch: int

    def describe(self) -> str:
        leader = "none" if self.leader == NO_LEADER else self.leader
        return (f"{self.tp}: leader {leader} (epoch {self.leader_epoch}), isr {list(self.isr)}, "
                f"replicas {list(self.replicas)}")


@dataclass
class BrokerHeartbeat:
    broker_id: int
    incarnation: int
    metadata_offset: int  # how much of the metadata log the broker has applied


@dataclass
class HeartbeatResponse:
    records: list[PartitionState]  # the metadata log from start_offset on
    start_offset: int
    metadata_offset: int  # where the log ends
    fenced: bool


@dataclass
class AlterPartition:
    """The leader asks the controller to change the ISR (KIP-497)."""

    broker_id: int
    tp: TopicPartition
    leader_epoch: int
    partition_epoch: int
    new_isr: tuple[int, ...]


@dataclass
class AlterPartitionResponse:
    tp: TopicPartition
    error: str | None
    state: PartitionState | None


# -- replication -------------------------------------------------------------------------
class AbortedTransaction(NamedTuple):
    """An aborted transaction a fetch range overlaps: its producer and the offset of its first record."""

    producer_id: int
    first_offset: int


@dataclass
class FetchRequest:
    request_id: int
    replica_id: int  # -1 for a consumer
    tp: TopicPartition
    fetch_offset: int
    current_leader_epoch: int  # -1: not checked (consumers that do not know it)
    max_bytes: int = 1_048_576
    max_wait_ms: float = 0.0
    # Consumers only: READ_COMMITTED reads below the last stable offset, and the
    # response lists the aborted transactions in the range it returns.
    isolation_level: int = READ_UNCOMMITTED


@dataclass
class FetchResponse:
    request_id: int
    tp: TopicPartition
    error: str | None
    batches: list[Any] = field(default_factory=list)
    high_watermark: int = -1
    log_start_offset: int = -1
    log_end_offset: int = -1
    last_stable_offset: int = -1
    aborted_transactions: list[AbortedTransaction] | None = None  # READ_COMMITTED fetches only


@dataclass
class ListOffsetsRequest:
    """Where is the earliest / latest offset, or the first one at or after a timestamp?

    ``timestamp``: EARLIEST_TIMESTAMP, LATEST_TIMESTAMP (the high-water mark, or
    the last stable offset under READ_COMMITTED), or a time in ms.
    """

    request_id: int
    replica_id: int  # -1 for a consumer
    tp: TopicPartition
    timestamp: int
    isolation_level: int = READ_UNCOMMITTED
    current_leader_epoch: int = -1


@dataclass
class ListOffsetsResponse:
    """``offset`` -1 (and ``timestamp`` -1) when no record is at or after the asked time.

    msglib also returns the partition's bounds with every answer, so one round
    trip tells a consumer everything its offset-reset rule needs.
    """

    request_id: int
    tp: TopicPartition
    error: str | None
    offset: int = -1
    timestamp: int = -1
    leader_epoch: int = -1
    log_start_offset: int = -1
    high_watermark: int = -1
    log_end_offset: int = -1
    last_stable_offset: int = -1


@dataclass
class OffsetsForLeaderEpochRequest:
    request_id: int
    replica_id: int
    tp: TopicPartition
    current_leader_epoch: int
    leader_epoch: int  # "where does this epoch end on your log?"


@dataclass
class OffsetsForLeaderEpochResponse:
    request_id: int
    tp: TopicPartition
    error: str | None
    leader_epoch: int = -1
    end_offset: int = -1


# -- clients -----------------------------------------------------------------------------
@dataclass
class ProduceRequest:
    request_id: int
    acks: int  # 0, 1 or -1 (all)
    timeout_ms: float
    batches: dict[TopicPartition, Any]  # one encoded RecordBatch (bytes) per partition


@dataclass
class PartitionProduceResult:
    error: str | None
    base_offset: int = -1
    log_start_offset: int = -1


@dataclass
class ProduceResponse:
    request_id: int
    results: dict[TopicPartition, PartitionProduceResult]


@dataclass
class MetadataRequest:
    request_id: int
    topics: list[str] | None = None  # None: all


@dataclass
class MetadataResponse:
    request_id: int
    partitions: dict[TopicPartition, PartitionState]


@dataclass
class InitProducerIdRequest:
    request_id: int


@dataclass
class InitProducerIdResponse:
    request_id: int
    producer_id: int
    producer_epoch: int


# -- transaction markers (transaction coordinator -> partition leaders) ---------------------
@dataclass
class WriteTxnMarkersRequest:
    """Write a COMMIT or ABORT marker for ``producer_id`` on each partition (this broker leads them).

    Sent to the group coordinator instead, ``groups`` says whose pending
    transactional offsets to make visible (commit) or drop (abort).
    """

    request_id: int
    producer_id: int
    producer_epoch: int
    coordinator_epoch: int
    commit: bool
    partitions: list[TopicPartition] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)


@dataclass
class WriteTxnMarkersResponse:
    request_id: int
    producer_id: int
    errors: dict[Any, str | None]  # TopicPartition (or group id) -> error code or None
