"""The messages between consumers and the group coordinator: now in ``msglib.protocol`` (one package
the broker, the coordinators and every client share). This module keeps the old import path working."""
from msglib.protocol import (TopicPartition, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS,
                             COORDINATOR_NOT_AVAILABLE, INCONSISTENT_GROUP_PROTOCOL, FENCED_INSTANCE_ID,
                             INVALID_SESSION_TIMEOUT, REQUEST_TIMED_OUT, NO_GENERATION, NO_MEMBER_ID,
                             OffsetAndMetadata, ConsumerGroupMetadata, Subscription, JoinGroupRequest, JoinMember,
                             JoinGroupResponse, SyncGroupRequest, SyncGroupResponse, HeartbeatRequest,
                             HeartbeatResponse, LeaveGroupRequest, LeaveGroupResponse, OffsetCommitRequest,
                             OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse)

__all__ = [
    "ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID", "REBALANCE_IN_PROGRESS", "COORDINATOR_NOT_AVAILABLE",
    "INCONSISTENT_GROUP_PROTOCOL", "FENCED_INSTANCE_ID", "INVALID_SESSION_TIMEOUT", "REQUEST_TIMED_OUT",
    "NO_GENERATION", "NO_MEMBER_ID", "OffsetAndMetadata", "ConsumerGroupMetadata", "Subscription",
    "JoinGroupRequest", "JoinMember", "JoinGroupResponse", "SyncGroupRequest", "SyncGroupResponse",
    "HeartbeatRequest", "HeartbeatResponse", "LeaveGroupRequest", "LeaveGroupResponse", "OffsetCommitRequest",
    "OffsetCommitResponse", "OffsetFetchRequest", "OffsetFetchResponse",
]
