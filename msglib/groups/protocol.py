"""The messages between consumers and the group coordinator, and the structs both sides share.

Names follow Kafka's protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
OffsetCommit, OffsetFetch) and kafka-python's structs (``OffsetAndMetadata``,
``ConsumerGroupMetadata``). Messages are plain objects on the simulated
network; nothing is serialised.

One rebalance, as the messages go::

    member                     coordinator                      (every member does this)
      JoinGroup(member_id="", subscription) ─►  waits until every known member has (re)joined
      ◄─ JoinGroupResponse(generation, leader, member_id; the leader also gets every subscription)
      SyncGroup(generation, leader only: the assignment it computed) ─►
      ◄─ SyncGroupResponse(my partitions)
      Heartbeat(generation) every heartbeat.interval.ms ─►   "REBALANCE_IN_PROGRESS" = join again
"""
from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass, field
from typing import Any

from msglib.cluster.protocol import TopicPartition

# -- error codes (Kafka's names) -----------------------------------------------------------
ILLEGAL_GENERATION = "ILLEGAL_GENERATION"            # the member's generation is not the group's
UNKNOWN_MEMBER_ID = "UNKNOWN_MEMBER_ID"              # the coordinator does not know this member
REBALANCE_IN_PROGRESS = "REBALANCE_IN_PROGRESS"      # join again
COORDINATOR_NOT_AVAILABLE = "COORDINATOR_NOT_AVAILABLE"
INCONSISTENT_GROUP_PROTOCOL = "INCONSISTENT_GROUP_PROTOCOL"
FENCED_INSTANCE_ID = "FENCED_INSTANCE_ID"            # a newer member took this group.instance.id
INVALID_SESSION_TIMEOUT = "INVALID_SESSION_TIMEOUT"
REQUEST_TIMED_OUT = "REQUEST_TIMED_OUT"              # client side: no answer in time

NO_GENERATION = -1
NO_MEMBER_ID = ""

# -- structs (kafka-python 3.x shapes) -------------------------------------------------------
OffsetAndMetadata = namedtuple("OffsetAndMetadata", ["offset", "metadata", "leader_epoch"],
                               defaults=["", -1])
OffsetAndMetadata.__doc__ = ("A committed offset: the NEXT offset to consume (last processed + 1), an "
                             "optional metadata string, and the leader epoch it was read in.")

ConsumerGroupMetadata = namedtuple("ConsumerGroupMetadata",
                                   ["group_id", "generation_id", "member_id", "group_instance_id"],
                                   defaults=[NO_GENERATION, NO_MEMBER_ID, None])


@dataclass(frozen=True)
class Subscription:
    """What a member tells the group when it joins (one per assignor it supports).

    ``owned_partitions`` and ``generation`` let sticky assignors keep
    partitions where they are (KIP-429/KIP-792 put them in the subscription).
    """

    topics: tuple[str, ...]
    owned_partitions: tuple[TopicPartition, ...] = ()
    generation: int = NO_GENERATION
    group_instance_id: str | None = None
    user_data: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "topics", tuple(sorted(set(self.topics))))
        object.__setattr__(self, "owned_partitions", tuple(sorted(self.owned_partitions)))


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


__all__ = [
    "TopicPartition", "OffsetAndMetadata", "ConsumerGroupMetadata", "Subscription", "JoinGroupRequest",
    "JoinMember", "JoinGroupResponse", "SyncGroupRequest", "SyncGroupResponse", "HeartbeatRequest",
    "HeartbeatResponse", "LeaveGroupRequest", "LeaveGroupResponse", "OffsetCommitRequest",
    "OffsetCommitResponse", "OffsetFetchRequest", "OffsetFetchResponse", "ILLEGAL_GENERATION",
    "UNKNOWN_MEMBER_ID", "REBALANCE_IN_PROGRESS", "COORDINATOR_NOT_AVAILABLE", "INCONSISTENT_GROUP_PROTOCOL",
    "FENCED_INSTANCE_ID", "INVALID_SESSION_TIMEOUT", "REQUEST_TIMED_OUT", "NO_GENERATION", "NO_MEMBER_ID",
]
