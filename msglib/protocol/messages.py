"""The requests and responses of Kafka's protocol, as msglib's nodes exchange them.

One module for everyone: brokers, the controller, the group and transaction
coordinators, and every client. They are plain objects on the simulated
network (nothing is serialised, except record batches, which travel as
Kafka's bytes). Names follow Kafka's protocol.

==========================  =========================================================
controller <-> brokers      BrokerHeartbeat, AlterPartition (KIP-497)
replication and reads       Fetch, ListOffsets, OffsetsForLeaderEpoch
producers                   Produce, Metadata, InitProducerId
transaction markers         WriteTxnMarkers (coordinators -> partition leaders)
consumer groups             JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch
transactions (KIP-98)       AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, TxnOffsetCommit
==========================  =========================================================

One rebalance, as the messages go::

    member                     coordinator                      (every member does this)
      JoinGroup(member_id="", subscription) ─►  waits until every known member has (re)joined
      ◄─ JoinGroupResponse(generation, leader, member_id; the leader also gets every subscription)
      SyncGroup(generation, leader only: the assignment it computed) ─►
      ◄─ SyncGroupResponse(my partitions)
      Heartbeat(generation) every heartbeat.interval.ms ─►   "REBALANCE_IN_PROGRESS" = join again

A transaction, as the messages go: InitProducerId(transactional id) to the
transaction coordinator (a producer id and a new epoch, fencing older
instances), AddPartitionsToTxn before writing to a partition, AddOffsetsToTxn
and TxnOffsetCommit (to the group coordinator) for consumed offsets, EndTxn
(commit or abort); the coordinator then writes markers (WriteTxnMarkers).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from msglib.protocol.structs import (NO_GENERATION, READ_UNCOMMITTED, AbortedTransaction, OffsetAndMetadata,
                                     PartitionState, Subscription, TopicPartition)

# -- node names on the simulated network ----------------------------------------------------
CONTROLLER = "controller"
TXN_COORDINATOR = "txn-coordinator"   # the transaction coordinator


def broker_node(broker_id: int) -> str:
    """The network name of broker ``broker_id``."""
    return f"b{broker_id}"


# -- controller <-> brokers ------------------------------------------------------------
@dataclass
class BrokerHeartbeat:
    broker_id: int
    incarnation: int
    metadata_offset: int  # how much of the metadata log the broker has applied


@dataclass
class BrokerHeartbeatResponse:
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
    # A transactional producer names its transactional id; transaction_version 2 (KIP-890, Kafka 4.0:
    # Produce v12) asks the leader to add the partition to the transaction itself.
    transactional_id: str | None = None
    transaction_version: int = 1


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
    """A producer id and epoch. ``transactional_id`` None: an idempotent producer, answered by any broker;
    a transactional id: sent to the transaction coordinator, which fences older instances of that id."""

    request_id: int
    transactional_id: str | None = None
    transaction_timeout_ms: float = -1.0


@dataclass
class InitProducerIdResponse:
    request_id: int
    error: str | None = None
    producer_id: int = -1
    producer_epoch: int = -1


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


# -- consumer groups -----------------------------------------------------------------------
@dataclass
class JoinGroupRequest:
    request_id: int
    group_id: str
    member_id: str                      # "" the first time: the coordinator assigns one
    group_instance_id: str | None       # static membership (KIP-345), or None
    client_id: str
    session_timeout_ms: float
    rebalance_timeout_ms: float
    protocol_type: str                  # "consumer"
    protocols: list[tuple[str, Subscription]]  # (assignor name, subscription), most preferred first


@dataclass
class JoinMember:
    member_id: str
    group_instance_id: str | None
    subscription: Subscription


@dataclass
class JoinGroupResponse:
    request_id: int
    error: str | None
    generation_id: int = NO_GENERATION
    protocol_name: str | None = None
    leader: str = ""
    member_id: str = ""
    members: list[JoinMember] = field(default_factory=list)  # only the leader gets them


@dataclass
class SyncGroupRequest:
    request_id: int
    group_id: str
    generation_id: int
    member_id: str
    group_instance_id: str | None
    assignments: dict[str, list[TopicPartition]]  # from the leader; {} from everyone else


@dataclass
class SyncGroupResponse:
    request_id: int
    error: str | None
    assignment: list[TopicPartition] = field(default_factory=list)


@dataclass
class HeartbeatRequest:
    request_id: int
    group_id: str
    generation_id: int
    member_id: str
    group_instance_id: str | None = None


@dataclass
class HeartbeatResponse:
    request_id: int
    error: str | None


@dataclass
class LeaveGroupRequest:
    request_id: int
    group_id: str
    member_id: str


@dataclass
class LeaveGroupResponse:
    request_id: int
    error: str | None


@dataclass
class OffsetCommitRequest:
    request_id: int
    group_id: str
    generation_id: int                  # -1 for a consumer that uses assign() (no group membership)
    member_id: str
    group_instance_id: str | None
    offsets: dict[TopicPartition, OffsetAndMetadata]


@dataclass
class OffsetCommitResponse:
    request_id: int
    error: str | None                   # one error for the whole request (msglib keeps it simple)


@dataclass
class OffsetFetchRequest:
    request_id: int
    group_id: str
    partitions: list[TopicPartition] | None  # None: every partition the group committed


@dataclass
class OffsetFetchResponse:
    request_id: int
    error: str | None
    offsets: dict[TopicPartition, OffsetAndMetadata | None] = field(default_factory=dict)


# -- transactions (KIP-98) ------------------------------------------------------------------
@dataclass
class AddPartitionsToTxnRequest:
    request_id: int
    transactional_id: str
    producer_id: int
    producer_epoch: int
    partitions: list[TopicPartition]
    # From a partition leader (AddPartitionsToTxn v4+, KIP-890): verify_only checks that the partitions
    # are already in the transaction (part 1, Kafka 3.6); False adds them (transaction version 2).
    verify_only: bool = False
    from_broker: bool = False


@dataclass
class AddPartitionsToTxnResponse:
    request_id: int
    error: str | None


@dataclass
class AddOffsetsToTxnRequest:
    request_id: int
    transactional_id: str
    producer_id: int
    producer_epoch: int
    group_id: str


@dataclass
class AddOffsetsToTxnResponse:
    request_id: int
    error: str | None


@dataclass
class EndTxnRequest:
    request_id: int
    transactional_id: str
    producer_id: int
    producer_epoch: int
    commit: bool
    transaction_version: int = 1     # 2: the coordinator bumps the epoch and answers with it (KIP-890)


@dataclass
class EndTxnResponse:
    request_id: int
    error: str | None
    # Transaction version 2 (EndTxn v5, KIP-890): the producer id and the epoch bumped by this EndTxn.
    producer_id: int = -1
    producer_epoch: int = -1


@dataclass
class TxnOffsetCommitRequest:
    """The offsets a transaction commits for a consumer group (sent to the group coordinator).

    ``generation_id`` / ``member_id`` / ``group_instance_id`` come from the
    consumer's ``group_metadata()``: a member the group has moved on from is
    refused (KIP-447), so a zombie cannot commit offsets it no longer owns.
    """

    request_id: int
    transactional_id: str
    group_id: str
    producer_id: int
    producer_epoch: int
    generation_id: int
    member_id: str
    group_instance_id: str | None
    offsets: dict[TopicPartition, OffsetAndMetadata] = field(default_factory=dict)


@dataclass
class TxnOffsetCommitResponse:
    request_id: int
    error: str | None
