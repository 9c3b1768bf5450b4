"""ConsumerGroupHeartbeat (API key 68): the one request of KIP-848's consumer rebalance protocol.

A member of a *consumer* group (``group_protocol="consumer"``) sends it every heartbeat interval. It
joins (member epoch 0), says it is alive, reports the partitions it owns (acknowledging revocations),
and leaves (epoch -1; -2 for a static member that will come back). The answer carries the member id,
the member's epoch, the heartbeat interval the coordinator wants, and -- when it changed -- the
partitions the member may use now. Fields follow Apache Kafka's ``ConsumerGroupHeartbeatRequest.json`` /
``ConsumerGroupHeartbeatResponse.json`` (``clients/src/main/resources/common/message/``, versions 0-1);
msglib names partitions by topic name where Kafka 4.0 uses topic ids, and leaves out the rack and the
topic regex (docs/kip-848.md).

"null if it did not change since the last heartbeat" is the rule for the optional request fields, so
a steady heartbeat is small; a *full* request (joining, or after an error) sets them all.
"""
from __future__ import annotations

from dataclasses import dataclass

from msglib.protocol.structs import TopicPartition

JOIN_GROUP_MEMBER_EPOCH = 0            # member epoch 0: join the group
LEAVE_GROUP_MEMBER_EPOCH = -1          # leave the group
LEAVE_GROUP_STATIC_MEMBER_EPOCH = -2   # a static member leaves for now; it will rejoin with its instance id


@dataclass
class ConsumerGroupHeartbeatRequest:
    request_id: int
    group_id: str
    member_id: str                                   # "" to join: the coordinator gives one
    member_epoch: int                                # 0 join, -1 leave, -2 static leave, else the current epoch
    instance_id: str | None = None                   # group.instance.id (static membership)
    rebalance_timeout_ms: float = -1                 # -1: unchanged
    subscribed_topic_names: list[str] | None = None  # None: unchanged
    server_assignor: str | None = None               # None: unchanged (the group's default: the first one)
    topic_partitions: list[TopicPartition] | None = None   # the partitions the member owns; None: unchanged
    client_id: str = ""


@dataclass
class ConsumerGroupHeartbeatResponse:
    request_id: int
    error: str | None
    member_id: str | None = None
    member_epoch: int = -1
    heartbeat_interval_ms: float = 0
    assignment: list[TopicPartition] | None = None   # None: no change; else what the member may use now
    error_message: str | None = None


__all__ = ["ConsumerGroupHeartbeatRequest", "ConsumerGroupHeartbeatResponse", "JOIN_GROUP_MEMBER_EPOCH",
           "LEAVE_GROUP_MEMBER_EPOCH", "LEAVE_GROUP_STATIC_MEMBER_EPOCH"]
