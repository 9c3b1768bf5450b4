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

# Errors after which the data certainly was NOT appended (the client may say "failed").
DEFINITELY_NOT_APPENDED = frozenset({
    NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE, NOT_ENOUGH_REPLICAS, OUT_OF_ORDER_SEQUENCE_NUMBER,
    INVALID_PRODUCER_EPOCH, UNKNOWN_TOPIC_OR_PARTITION, CORRUPT_MESSAGE})

NO_LEADER = -1


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
@dataclass
class FetchRequest:
    request_id: int
    replica_id: int  # -1 for a consumer
    tp: TopicPartition
    fetch_offset: int
    current_leader_epoch: int  # -1: not checked (consumers that do not know it)
    max_bytes: int = 1_048_576
    max_wait_ms: float = 0.0


@dataclass
class FetchResponse:
    request_id: int
    tp: TopicPartition
    error: str | None
    batches: list[Any] = field(default_factory=list)
    high_watermark: int = -1
    log_start_offset: int = -1
    log_end_offset: int = -1


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
