"""msglib.groups -- consumer groups: the coordinator, rebalancing, assignors, committed offsets.

A *consumer group* shares the partitions of its topics among its members:
each partition is read by exactly one member, and the group remembers, per
partition, how far it got (the *committed offset*). Members come and go;
each change is a *rebalance*, run by the *group coordinator*.

Read in this order:

* ``states.py``      -- the group state machine (Empty, PreparingRebalance, CompletingRebalance, Stable, Dead)
* ``protocol.py``    -- JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch
* ``assignors.py``   -- range, roundrobin, sticky, cooperative-sticky (and your own)
* ``policies.py``    -- the package's pure decisions (offset-commit fencing, lag, range, state changes)
* ``coordinator.py`` -- the broker side: membership, generations, the rebalance, fencing of commits
* ``offsets.py``     -- committed offsets in a compacted ``__consumer_offsets`` log, retention
* ``membership.py``  -- the consumer side: join, sync, heartbeat "thread", revoke/assign
* ``consumer_group.py``, ``reconciliation.py``, ``server_assignors.py``, ``consumer_membership.py`` -- KIP-848's
  consumer protocol (``group_protocol="consumer"``): ConsumerGroupHeartbeat, the group / target / member epochs,
  revoke-first reconciliation, the server's ``uniform`` and ``range`` assignors, and the client's heartbeat loop
  (docs/kip-848.md); ``rebalance_schedules.py`` and ``protocol_compare.py`` run them under faults and side by
  side with the classic protocol
* ``local.py``       -- LocalBroker: topics + coordinator in one process, for demos and fast runs
* ``lag.py``         -- lag = end offset - committed offset, and a monitor of it over time
* ``workload.py``    -- seeded runs of a group under crashes and pauses, checked for loss and duplicates

The consumer itself is ``msglib.client.consumer.KafkaConsumer``; ``membership.py`` is its coordinator client.
"""
from msglib.groups.assignors import (COOPERATIVE, EAGER, CooperativeStickyAssignor, FunctionAssignor, RangeAssignor,
                                     RoundRobinAssignor, StickyAssignor, make_assignor, problems, range_assign,
                                     roundrobin_assign, sticky_assign)
from msglib.groups.config import GroupConfig
from msglib.groups.coordinator import COORDINATOR, GroupCoordinator, coordinator_for, validate_offset_commit
from msglib.groups.errors import (CommitFailedError, ConsumerCrashed, FencedInstanceIdError,
                                  NoOffsetForPartitionError)
from msglib.groups.local import LocalBroker
from msglib.protocol import (COORDINATOR_NOT_AVAILABLE, ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS,
                                    UNKNOWN_MEMBER_ID, ConsumerGroupMetadata, OffsetAndMetadata, Subscription,
                                    TopicPartition)
from msglib.groups.states import GroupState, can_transition

__all__ = [
    "COOPERATIVE", "EAGER", "CooperativeStickyAssignor", "FunctionAssignor", "RangeAssignor", "RoundRobinAssignor",
    "StickyAssignor", "make_assignor", "problems", "range_assign", "roundrobin_assign", "sticky_assign",
    "GroupConfig", "COORDINATOR", "GroupCoordinator", "coordinator_for", "validate_offset_commit",
    "CommitFailedError", "ConsumerCrashed", "FencedInstanceIdError", "NoOffsetForPartitionError", "LocalBroker",
    "COORDINATOR_NOT_AVAILABLE", "ILLEGAL_GENERATION", "REBALANCE_IN_PROGRESS", "UNKNOWN_MEMBER_ID",
    "ConsumerGroupMetadata", "OffsetAndMetadata", "Subscription", "TopicPartition", "GroupState", "can_transition",
]
