"""The share-group messages of KIP-932 (Kafka 4.x): ShareGroupHeartbeat, ShareFetch, ShareAcknowledge.

Field names follow Kafka's message definitions (apache/kafka ``ShareGroupHeartbeatRequest.json``,
``ShareFetchRequest.json``, ``ShareAcknowledgeRequest.json`` and their responses), in Python's spelling;
msglib keeps what its share groups use and leaves out throttling, topic ids and leader endpoints (a topic
is named by its name here). The API keys are 76 (ShareGroupHeartbeat), 78 (ShareFetch) and 79
(ShareAcknowledge). ShareFetch version 0 was Kafka 4.0's early access and was removed in 4.1; version 1, the
stable one, adds ``MaxRecords`` (here ``max_records``) and ``BatchSize``; version 2 adds an acquire mode and a
fourth acknowledge type, renew (KIP-1206, KIP-1222), which msglib does not model. Acknowledgements travel as
batches of offsets with one type per offset: 0 gap, 1 accept, 2 release, 3 reject. See docs/share-groups.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from msglib.protocol.errors import KafkaError
from msglib.protocol.structs import TopicPartition

SHARE_GROUP_HEARTBEAT_API_KEY = 76
SHARE_FETCH_API_KEY = 78
SHARE_ACKNOWLEDGE_API_KEY = 79

# Error codes brokers answer share-group requests with (Kafka's names; codes 121-123 on the wire).
INVALID_RECORD_STATE = "INVALID_RECORD_STATE"          # the acknowledgement does not match the record's state
SHARE_SESSION_NOT_FOUND = "SHARE_SESSION_NOT_FOUND"
INVALID_SHARE_SESSION_EPOCH = "INVALID_SHARE_SESSION_EPOCH"
GROUP_ID_NOT_FOUND = "GROUP_ID_NOT_FOUND"

# Acknowledge types on the wire (AcknowledgeTypes of an AcknowledgementBatch).
GAP, ACCEPT, RELEASE, REJECT = 0, 1, 2, 3

# Member epochs of a ShareGroupHeartbeat: 0 joins, -1 leaves.
JOIN_EPOCH = 0
LEAVE_EPOCH = -1
# ShareSessionEpoch: 0 opens a share session, -1 closes it, otherwise it counts up request by request.
OPEN_SESSION_EPOCH = 0
CLOSE_SESSION_EPOCH = -1


class InvalidRecordStateError(KafkaError):
    """The broker refused an acknowledgement: the record is not acquired by this member any more (its lock
    expired and it was released, or it was already acknowledged)."""

    errno = INVALID_RECORD_STATE


class ShareSessionNotFoundError(KafkaError):
    errno = SHARE_SESSION_NOT_FOUND


class InvalidShareSessionEpochError(KafkaError):
    errno = INVALID_SHARE_SESSION_EPOCH


@dataclass
class ShareGroupHeartbeatRequest:
    """Join (member_epoch 0), stay (the current epoch) or leave (-1) a share group."""

    group_id: str
    member_id: str
    member_epoch: int
    rack_id: str | None = None
    subscribed_topic_names: list[str] | None = None     # None: unchanged since the last heartbeat


@dataclass
class ShareGroupHeartbeatResponse:
    error_code: str | None = None
    error_message: str | None = None
    member_id: str | None = None
    member_epoch: int = 0
    heartbeat_interval_ms: int = 5_000
    assignment: list[TopicPartition] | None = None      # None: unchanged


@dataclass
class AcknowledgementBatch:
    """Offsets ``first_offset..last_offset`` (inclusive) and one acknowledge type for each (or one for all)."""

    first_offset: int
    last_offset: int
    acknowledge_types: list[int]

    def __post_init__(self) -> None:
        n = self.last_offset - self.first_offset + 1
        if n < 1 or len(self.acknowledge_types) not in (1, n):
            raise ValueError(f"an acknowledgement batch {self.first_offset}..{self.last_offset} needs 1 or {max(n, 0)} "
                             f"acknowledge types, got {len(self.acknowledge_types)}")
        bad = [t for t in self.acknowledge_types if t not in (GAP, ACCEPT, RELEASE, REJECT)]
        if bad:
            raise ValueError(f"acknowledge types are 0 gap, 1 accept, 2 release, 3 reject; got {bad}")

    def types(self) -> list[tuple[int, int]]:
        """(offset, acknowledge type) for every offset of the batch."""
        offsets = range(self.first_offset, self.last_offset + 1)
        if len(self.acknowledge_types) == 1:
            return [(o, self.acknowledge_types[0]) for o in offsets]
        return list(zip(offsets, self.acknowledge_types))


@dataclass
class ShareFetchRequest:
    """Fetch records for a member (acquiring them), piggy-backing acknowledgements of earlier ones."""

    group_id: str
    member_id: str
    share_session_epoch: int
    partitions: list[TopicPartition] = field(default_factory=list)
    acknowledgements: dict[TopicPartition, list[AcknowledgementBatch]] = field(default_factory=dict)
    max_wait_ms: int = 500
    min_bytes: int = 1
    max_bytes: int = 0x7FFFFFFF
    max_records: int = 500


@dataclass
class AcquiredRecords:
    """A run of acquired offsets that share one delivery count."""

    first_offset: int
    last_offset: int
    delivery_count: int


@dataclass
class ShareFetchPartitionData:
    partition: TopicPartition
    error_code: str | None = None
    acknowledge_error_code: str | None = None
    records: list[tuple[int, Any, Any]] = field(default_factory=list)        # (offset, key, value)
    acquired_records: list[AcquiredRecords] = field(default_factory=list)


@dataclass
class ShareFetchResponse:
    error_code: str | None = None
    error_message: str | None = None
    responses: list[ShareFetchPartitionData] = field(default_factory=list)


@dataclass
class ShareAcknowledgeRequest:
    """Acknowledge without fetching (commitSync, close)."""

    group_id: str
    member_id: str
    share_session_epoch: int
    acknowledgements: dict[TopicPartition, list[AcknowledgementBatch]] = field(default_factory=dict)


@dataclass
class ShareAcknowledgeResponse:
    error_code: str | None = None
    error_message: str | None = None
    partitions: dict[TopicPartition, str | None] = field(default_factory=dict)   # acknowledge error per partition
