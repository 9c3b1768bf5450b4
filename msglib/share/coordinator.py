"""The two coordinators of share groups, both on msglib's one coordinator runtime (``msglib.coordinator``).

* :class:`ShareCoordinator` keeps the durable state of every share-partition (its SPSO and the state and
  delivery count of each in-flight record) in the compacted ``__share_group_state`` log, as Kafka's share
  coordinator does (KIP-932, Kafka 4.0+). The share-partition leader writes to it
  (``write_state``, Kafka's WriteShareGroupState) before it answers an acknowledgement, and reads from it
  (``read_state``, ReadShareGroupState) when it takes the partition over -- after a broker restart, say.
  Acquisition locks are not durable: a record that was ACQUIRED comes back AVAILABLE with its count.
* :class:`ShareGroupCoordinator` keeps share-group membership: members join, heartbeat
  (ShareGroupHeartbeat) and are removed after ``group.share.session.timeout.ms`` without one. Every member
  is given every partition of the topics the group subscribes to: in a share group the partitions are
  *shared*, the share-partition hands out records, not partitions. (Kafka's ``simple`` assignor spreads
  partitions over members when there are more members than partitions or fewer; msglib's runs have few
  partitions, so "everyone reads every partition" is the assignment -- see docs/share-groups.md.)
  The group epoch and the members' subscriptions are records of its own compacted log, so a restarted
  coordinator still knows its members and arms their session timers again.
"""
from __future__ import annotations

import itertools
from typing import Any, Callable

from msglib.coordinator import CoordinatorNode
from msglib.protocol import share as sp
from msglib.protocol.errors import COORDINATOR_NOT_AVAILABLE, UNKNOWN_MEMBER_ID
from msglib.protocol.structs import TopicPartition
from msglib.share.config import SHARE_GROUP_STATE_TOPIC, ShareGroupConfig
from msglib.sim.network import Network

SHARE_COORDINATOR = "share-coordinator"
SHARE_GROUP_COORDINATOR = "share-group-coordinator"


class ShareStateShard:
    """The share coordinator's state machine: (group, topic, partition) -> the latest snapshot."""

    def __init__(self) -> None:
        self.states: dict[tuple[str, str, int], dict] = {}

    def replay(self, key: list, value: dict | None) -> None:
        kind, group, topic, partition = key
        if kind != "share_state":
            raise ValueError(f"unknown __share_group_state record {key!r}")
        if value is None:
            self.states.pop((group, topic, partition), None)
        else:
            self.states[(group, topic, partition)] = value

    def reset(self) -> None:
        self.states.clear()


class ShareCoordinator(CoordinatorNode):
    """Durable share-partition state in ``__share_group_state`` (persist, then reply)."""

    def __init__(self, network: Network, *, name: str = SHARE_COORDINATOR, segment_bytes: int | None = None) -> None:
        self.shard = ShareStateShard()
        extra = {} if segment_bytes is None else {"segment_bytes": segment_bytes}
        super().__init__(name, network, self.shard, SHARE_GROUP_STATE_TOPIC, **extra)
        self.writes = 0
        self.start()

    def write_state(self, group: str, tp: TopicPartition, snapshot: dict) -> str | None:
        """WriteShareGroupState: persist one share-partition's snapshot. None, or COORDINATOR_NOT_AVAILABLE."""
        if not self.alive:
            return COORDINATOR_NOT_AVAILABLE
        self.runtime.write([(["share_state", group, tp.topic, tp.partition], snapshot)])
        self.writes += 1
        if self.writes % 200 == 0:
            self.runtime.maybe_compact()
        return None

    def read_state(self, group: str, tp: TopicPartition) -> tuple[str | None, dict | None]:
        """ReadShareGroupState: (error, snapshot or None when the share-partition is new)."""
        if not self.alive:
            return COORDINATOR_NOT_AVAILABLE, None
        return None, self.shard.states.get((group, tp.topic, tp.partition))

    def delete_state(self, group: str, tp: TopicPartition) -> None:
        """DeleteShareGroupState: a tombstone for the share-partition."""
        self.runtime.write([(["share_state", group, tp.topic, tp.partition], None)])


class ShareGroupShard:
    """The share-group coordinator's state machine: each group's epoch, members and subscriptions."""

    def __init__(self) -> None:
        self.epochs: dict[str, int] = {}
        self.members: dict[str, dict[str, list[str]]] = {}     # group -> member -> subscribed topics

    def replay(self, key: list, value: dict | None) -> None:
        if key[0] == "share_group":
            if value is None:
                self.epochs.pop(key[1], None)
                self.members.pop(key[1], None)
            else:
                self.epochs[key[1]] = int(value["epoch"])
        elif key[0] == "share_member":
            group, member = key[1], key[2]
            if value is None:
                self.members.get(group, {}).pop(member, None)
            else:
                self.members.setdefault(group, {})[member] = list(value["topics"])
        else:
            raise ValueError(f"unknown share-group record {key!r}")

    def reset(self) -> None:
        self.epochs.clear()
        self.members.clear()


class ShareGroupCoordinator(CoordinatorNode):
    """Share-group membership: ShareGroupHeartbeat, session timeouts, the assignment.

    ``partitions_of(topic)`` says how many partitions a topic has; ``on_member_removed(group, member)``
    lets the share-partition leaders release what the member held.
    """

    def __init__(self, network: Network, partitions_of: Callable[[str], int], *,
                 config: ShareGroupConfig | None = None, name: str = SHARE_GROUP_COORDINATOR,
                 on_member_removed: Callable[[str, str], None] | None = None) -> None:
        self.shard = ShareGroupShard()
        self.config = config or ShareGroupConfig()
        self.partitions_of = partitions_of
        self.on_member_removed = on_member_removed
        self._ids = itertools.count(1)
        self.member_epochs: dict[tuple[str, str], int] = {}
        super().__init__(name, network, self.shard, "__consumer_offsets")
        self.start()

    def boot(self) -> None:
        # members survive a coordinator restart; each gets a full session to heartbeat again
        self.member_epochs = {(g, m): self.shard.epochs.get(g, 0) for g, ms in self.shard.members.items() for m in ms}
        for group, members in self.shard.members.items():
            for member in members:
                self._arm_session(group, member)

    def _arm_session(self, group: str, member: str) -> None:
        self.runtime.schedule(("session", group, member), self.config.session_timeout_ms, self._expire, group, member)

    def _expire(self, group: str, member: str) -> None:
        self.runtime.record("session expired", group=group, member=member)
        self._remove(group, member)

    def _remove(self, group: str, member: str) -> None:
        if member not in self.shard.members.get(group, {}):
            return
        self.runtime.cancel(("session", group, member))
        epoch = self.shard.epochs.get(group, 0) + 1
        self.runtime.write([(["share_member", group, member], None), (["share_group", group], {"epoch": epoch})])
        self.member_epochs.pop((group, member), None)
        if self.on_member_removed is not None:
            self.on_member_removed(group, member)

    def assignment(self, group: str, member: str) -> list[TopicPartition]:
        topics = self.shard.members.get(group, {}).get(member, [])
        return [TopicPartition(t, p) for t in sorted(topics) for p in range(self.partitions_of(t))]

    def is_member(self, group: str, member: str) -> bool:
        return member in self.shard.members.get(group, {})

    def heartbeat(self, req: sp.ShareGroupHeartbeatRequest) -> sp.ShareGroupHeartbeatResponse:
        """Handle one ShareGroupHeartbeat (join with epoch 0, leave with -1)."""
        if not self.alive:
            return sp.ShareGroupHeartbeatResponse(error_code=COORDINATOR_NOT_AVAILABLE)
        group, interval = req.group_id, int(self.config.heartbeat_interval_ms)
        if req.member_epoch == sp.LEAVE_EPOCH:
            self._remove(group, req.member_id)
            return sp.ShareGroupHeartbeatResponse(member_id=req.member_id, member_epoch=sp.LEAVE_EPOCH,
                                                  heartbeat_interval_ms=interval)
        members = self.shard.members.get(group, {})
        if req.member_epoch == sp.JOIN_EPOCH and req.member_id not in members:
            member = req.member_id or f"{group}-member-{next(self._ids)}"
            topics = sorted(req.subscribed_topic_names or [])
            epoch = self.shard.epochs.get(group, 0) + 1
            self.runtime.write([(["share_member", group, member], {"topics": topics}),
                                (["share_group", group], {"epoch": epoch})])
            self.member_epochs[(group, member)] = epoch
            self._arm_session(group, member)
            self.runtime.record("member joined", group=group, member=member, epoch=epoch)
            return sp.ShareGroupHeartbeatResponse(member_id=member, member_epoch=epoch, heartbeat_interval_ms=interval,
                                                  assignment=self.assignment(group, member))
        if req.member_id not in members:
            return sp.ShareGroupHeartbeatResponse(error_code=UNKNOWN_MEMBER_ID, member_id=req.member_id,
                                                  error_message="the member was removed (session timeout): "
                                                                "rejoin with member epoch 0")
        if req.subscribed_topic_names is not None and sorted(req.subscribed_topic_names) != members[req.member_id]:
            epoch = self.shard.epochs.get(group, 0) + 1
            topics = sorted(req.subscribed_topic_names)
            self.runtime.write([(["share_member", group, req.member_id], {"topics": topics}),
                                (["share_group", group], {"epoch": epoch})])
            self.member_epochs[(group, req.member_id)] = epoch
        self._arm_session(group, req.member_id)
        return sp.ShareGroupHeartbeatResponse(member_id=req.member_id,
                                              member_epoch=self.member_epochs.get((group, req.member_id), 0),
                                              heartbeat_interval_ms=interval,
                                              assignment=self.assignment(group, req.member_id))

    def describe(self, group: str) -> dict[str, Any]:
        return {"group": group, "epoch": self.shard.epochs.get(group, 0),
                "members": {m: list(t) for m, t in self.shard.members.get(group, {}).items()}}
