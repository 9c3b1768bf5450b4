"""The group coordinator: the broker-side half of consumer groups (Kafka's classic protocol).

One :class:`GroupCoordinator` node serves every group of a cluster. (In Kafka
each broker coordinates the groups whose ``__consumer_offsets`` partition it
leads; msglib keeps one coordinator node, which can be crashed and restarted
on its own.) It owns three things:

* **membership**: who is in each group, their subscriptions, session timers;
* **the rebalance**: the group state machine (``states.py``), generations,
  choosing the assignor, collecting the leader's assignment and handing it out;
* **committed offsets**: validated against the member's generation, stored in
  a compacted log (``offsets.py``), expired when a group stays empty too long.

Everything is a reaction to a message or a timer, as in a broker:

===================  ==================================================================
JoinGroup            add/refresh a member; start (or join) a rebalance; answer when
                     every member has rejoined or the rebalance timeout passed
SyncGroup            the leader's assignment completes the rebalance (-> Stable)
Heartbeat            keeps a member alive; says REBALANCE_IN_PROGRESS when it must rejoin
LeaveGroup           a member leaves at once (no waiting for its session timeout)
session timer        no heartbeat for session.timeout.ms: the member is removed
OffsetCommit         ``validate_offset_commit`` (a seam), then append to the log
OffsetFetch          the committed offsets, or None where there are none
===================  ==================================================================

The coordinator is built on the one coordinator runtime (:mod:`msglib.coordinator`): the
:class:`~msglib.groups.offsets.OffsetStore` is its shard (the tables rebuilt by replaying
``__consumer_offsets``), every record is flushed before the answer that depends on it, and the
session, join and retention timers are the runtime's keyed timers (a crash forgets them).

Seams (the exercises plug in here; msglib's own functions are the defaults):
``validate_offset_commit(group, member_id, generation_id) -> error code or None``
and ``can_transition(current_state, target_state) -> bool``.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from msglib import protocol as p
from msglib.coordinator import CompositeShard, CoordinatorNode
from msglib.groups.config import GroupConfig
from msglib.groups.consumer_group import ConsumerGroupCoordinator
from msglib.groups.offsets import TOPIC, OffsetStore
from msglib.groups.policies import validate_offset_commit  # noqa: F401  (the default seam; also its old import path)
from msglib.groups.states import (COMPLETING_REBALANCE, DEAD, EMPTY, PREPARING_REBALANCE, STABLE, GroupState,
                                  can_transition)
from msglib.protocol import Subscription, TopicPartition
from msglib.protocol.errors import IllegalStateError
from msglib.sim.network import Network

COORDINATOR = "group-coordinator"


@dataclass
class Member:
    """One consumer in a group, as the coordinator sees it."""

    member_id: str
    group_instance_id: str | None
    client: str                        # the node to answer
    session_timeout_ms: float
    rebalance_timeout_ms: float
    protocols: list[tuple[str, Subscription]]
    assignment: list[TopicPartition] = field(default_factory=list)
    join_request: int | None = None    # the JoinGroup we owe an answer to ("awaiting join")
    sync_request: int | None = None    # the SyncGroup we owe an answer to

    @property
    def protocol_names(self) -> list[str]:
        return [name for name, _ in self.protocols]

    def subscription(self, protocol: str) -> Subscription:
        return next(sub for name, sub in self.protocols if name == protocol)

    def vote(self, candidates: set[str]) -> str:
        """This member's most preferred assignor among those every member supports."""
        return next(name for name in self.protocol_names if name in candidates)


@dataclass
class Group:
    group_id: str
    state: GroupState = EMPTY
    generation_id: int = 0
    protocol_type: str | None = None   # "consumer" once a member joined; None: only manual commits
    protocol_name: str | None = None   # the chosen assignor
    leader_id: str | None = None
    members: dict[str, Member] = field(default_factory=dict)
    static_members: dict[str, str] = field(default_factory=dict)  # group.instance.id -> member id
    state_since: float = 0.0           # when it entered its current state (offset retention counts from it)
    initial_delay: bool = False        # the first rebalance of an empty group waits for more members
    new_member_added: bool = False
    rebalance_deadline: float = 0.0

    def describe(self) -> str:
        members = ", ".join(f"{m}={[str(tp) for tp in mem.assignment]}" for m, mem in sorted(self.members.items()))
        return (f"group {self.group_id!r}: {self.state}, generation {self.generation_id}, "
                f"protocol {self.protocol_name}, leader {self.leader_id}, members [{members}]")


class GroupCoordinator(CoordinatorNode):
    """See the module docstring. ``trace`` records every state change and commit (for pictures and checks)."""

    def __init__(self, network: Network, config: GroupConfig | None = None, *, name: str = COORDINATOR,
                 validate_offset_commit: Callable[..., str | None] | None = None,
                 can_transition: Callable[[Any, Any], bool] | None = None,
                 partition_counts: Callable[[list[str]], dict[str, int]] | None = None,
                 reconcile: Callable[..., Any] | None = None) -> None:
        self.config = config or GroupConfig()
        self.store = OffsetStore()          # a shard: committed offsets and classic group metadata, from the log
        shards = CompositeShard(self.store)
        super().__init__(name, network, shards, TOPIC, segment_bytes=self.config.offsets_segment_bytes)
        self.store.bind(self.runtime)       # the runtime's storage is the "disk": it survives crashes
        # KIP-848 consumer groups beside the classic ones: same node, same log, their own shard
        self.consumer_groups = ConsumerGroupCoordinator(self, partition_counts=partition_counts, reconcile=reconcile)
        shards.add(self.consumer_groups.shard)
        self.validate_offset_commit = validate_offset_commit or globals()["validate_offset_commit"]
        self.can_transition = can_transition or globals()["can_transition"]
        self._id_rng = self.sim.random(f"member-ids/{name}")
        self.groups: dict[str, Group] = {}
        self._handlers = self.handlers      # (its old name: txn.group_offsets adds handlers here)
        self.handlers.update({
            p.JoinGroupRequest: self._on_join, p.SyncGroupRequest: self._on_sync,
            p.HeartbeatRequest: self._on_heartbeat, p.LeaveGroupRequest: self._on_leave,
            p.OffsetCommitRequest: self._on_offset_commit, p.OffsetFetchRequest: self._on_offset_fetch,
            p.ConsumerGroupHeartbeatRequest: self.consumer_groups.on_heartbeat,
        })
        self.start()

    # ------------------------------------------------------------------ life cycle
    def _boot(self) -> None:
        """Load the offsets log and rebuild every group (after swapping ``storage``, e.g. for a disk)."""
        self.start()

    def boot(self) -> None:
        """Start, or restart after a crash: the runtime replayed the log; rebuild every group from it."""
        self.groups = {}
        self._ids = itertools.count(1)
        for group_id, meta in self.store.groups.items():
            self.groups[group_id] = self._group_from_metadata(group_id, meta)
        for group_id in self.store.offsets:
            self.groups.setdefault(group_id, Group(group_id, state_since=self.sim.now))
        self.runtime.schedule("offsets-retention", self.config.offsets_retention_check_interval_ms,
                              self._retention_timer)
        self.consumer_groups.boot()

    def on_crash(self, power_loss: bool) -> None:
        super().on_crash(power_loss)
        self.groups = {}

    def on_restart(self) -> None:
        self.start()
        self._record(None, "coordinator restarted")

    def on_message(self, src: str, msg: Any) -> None:
        self.handlers[type(msg)](src, msg)

    # ------------------------------------------------------------------ helpers
    def group(self, group_id: str) -> Group | None:
        return self.groups.get(group_id)

    def _record(self, group: Group | None, event: str, **details: Any) -> None:
        entry = {"time": self.sim.now, "group": group.group_id if group else None, "event": event}
        if group is not None:
            entry.update(state=str(group.state), generation=group.generation_id, leader=group.leader_id,
                         members=sorted(group.members))
        entry.update(details)
        self.trace.append(entry)

    def _transition(self, group: Group, target: GroupState) -> None:
        if not self.can_transition(group.state, target):
            raise IllegalStateError(f"group {group.group_id!r} cannot move from {group.state} to {target}")
        group.state = target
        group.state_since = self.sim.now
        self._record(group, f"-> {target}")

    def _new_member_id(self, client_id: str) -> str:
        # Kafka: clientId-UUID. A seeded hex suffix keeps runs reproducible.
        return f"{client_id}-{self._id_rng.getrandbits(32):08x}"

    def _arm_session(self, group: Group, member: Member) -> None:
        self.runtime.schedule(("session", group.group_id, member.member_id), member.session_timeout_ms,
                              self._session_expired, group.group_id, member.member_id)

    # ------------------------------------------------------------------ JoinGroup
    def _on_join(self, src: str, req: p.JoinGroupRequest) -> None:
        def reply(error: str) -> None:
            self.send(src, p.JoinGroupResponse(req.request_id, error, member_id=req.member_id))

        cfg = self.config
        if not cfg.group_min_session_timeout_ms <= req.session_timeout_ms <= cfg.group_max_session_timeout_ms:
            return reply(p.INVALID_SESSION_TIMEOUT)
        modern = self.consumer_groups.group(req.group_id)
        if modern is not None and modern.members:
            return reply(p.INCONSISTENT_GROUP_PROTOCOL)    # a KIP-848 group: its members heartbeat instead
        group = self.groups.get(req.group_id)
        if group is None:
            if req.member_id:
                return reply(p.UNKNOWN_MEMBER_ID)
            group = self.groups[req.group_id] = Group(req.group_id, state_since=self.sim.now)
        if group.state == DEAD:
            return reply(p.COORDINATOR_NOT_AVAILABLE)
        names = {name for name, _ in req.protocols}
        others = self._candidates(group, exclude=req.member_id)
        if group.protocol_type not in (None, req.protocol_type) or (others is not None and not names & others):
            return reply(p.INCONSISTENT_GROUP_PROTOCOL)
        instance = req.group_instance_id
        if not req.member_id:
            if instance is not None and instance in group.static_members:
                return self._static_rejoin(group, src, req)
            return self._add_member(group, src, req)
        member = group.members.get(req.member_id)
        if member is None:
            fenced = instance is not None and group.static_members.get(instance) not in (None, req.member_id)
            return reply(p.FENCED_INSTANCE_ID if fenced else p.UNKNOWN_MEMBER_ID)
        self._existing_member_join(group, member, src, req)

    def _candidates(self, group: Group, exclude: str = "") -> set[str] | None:
        """Assignor names every member (but ``exclude``) supports; None when there is nobody else."""
        sets = [set(m.protocol_names) for mid, m in group.members.items() if mid != exclude]
        return set.intersection(*sets) if sets else None

    def _add_member(self, group: Group, src: str, req: p.JoinGroupRequest) -> None:
        member = Member(self._new_member_id(req.client_id), req.group_instance_id, src, req.session_timeout_ms,
                        req.rebalance_timeout_ms, list(req.protocols), join_request=req.request_id)
        group.members[member.member_id] = member
        if member.group_instance_id is not None:
            group.static_members[member.group_instance_id] = member.member_id
        group.protocol_type = req.protocol_type
        group.new_member_added = True
        self._record(group, "member joined", member=member.member_id)
        if group.state in (EMPTY, STABLE, COMPLETING_REBALANCE):
            self._prepare_rebalance(group, f"{member.member_id} joined")
        else:
            self._maybe_complete_join(group)

    def _static_rejoin(self, group: Group, src: str, req: p.JoinGroupRequest) -> None:
        """A restarted static member takes its old place under a new member id (KIP-345).

        If the group is Stable and the subscription is unchanged, no rebalance
        happens: the member syncs and gets its old partitions back.
        """
        old_id = group.static_members[req.group_instance_id]
        old = group.members.pop(old_id)
        self.runtime.cancel(("session", group.group_id, old_id))
        if old.sync_request is not None:
            self.send(old.client, p.SyncGroupResponse(old.sync_request, p.FENCED_INSTANCE_ID))
        if old.join_request is not None:
            self.send(old.client, p.JoinGroupResponse(old.join_request, p.FENCED_INSTANCE_ID))
        member = Member(self._new_member_id(req.client_id), req.group_instance_id, src, req.session_timeout_ms,
                        req.rebalance_timeout_ms, list(req.protocols), assignment=old.assignment)
        group.members[member.member_id] = member
        group.static_members[req.group_instance_id] = member.member_id
        if group.leader_id == old_id:
            group.leader_id = member.member_id
        self._record(group, "static member replaced", member=member.member_id, old_member=old_id)
        if group.state == STABLE and member.protocols == old.protocols:
            self._arm_session(group, member)
            self._persist(group)
            self.send(src, p.JoinGroupResponse(req.request_id, None, group.generation_id, group.protocol_name,
                                               group.leader_id or "", member.member_id, []))
            return
        member.join_request = req.request_id
        if group.state in (STABLE, COMPLETING_REBALANCE, EMPTY):
            self._prepare_rebalance(group, f"static member {req.group_instance_id} rejoined")
        else:
            self._maybe_complete_join(group)

    def _existing_member_join(self, group: Group, member: Member, src: str, req: p.JoinGroupRequest) -> None:
        changed = member.protocols != list(req.protocols)
        member.client = src
        member.protocols = list(req.protocols)
        member.session_timeout_ms = req.session_timeout_ms
        member.rebalance_timeout_ms = req.rebalance_timeout_ms
        if group.state == PREPARING_REBALANCE:
            member.join_request = req.request_id
            self._maybe_complete_join(group)
        elif group.state == COMPLETING_REBALANCE and not changed:
            # A repeated join (its answer was lost): answer again with the same generation.
            self._arm_session(group, member)
            self.send(src, self._join_response(group, member, req.request_id))
        elif group.state == STABLE and not changed and member.member_id != group.leader_id:
            # Nothing new: just tell it the current generation.
            self._arm_session(group, member)
            self.send(src, self._join_response(group, member, req.request_id))
        else:
            # The leader rejoining, or a changed subscription: everyone must rejoin.
            member.join_request = req.request_id
            self._prepare_rebalance(group, f"{member.member_id} rejoined")

    def _join_response(self, group: Group, member: Member, request_id: int) -> p.JoinGroupResponse:
        members = []
        if member.member_id == group.leader_id:
            members = [p.JoinMember(m.member_id, m.group_instance_id, m.subscription(group.protocol_name))
                       for m in group.members.values()]
        return p.JoinGroupResponse(request_id, None, group.generation_id, group.protocol_name, group.leader_id or "",
                                   member.member_id, members)

    # ------------------------------------------------------------------ the rebalance
    def _prepare_rebalance(self, group: Group, reason: str) -> None:
        if group.state == COMPLETING_REBALANCE:
            for m in group.members.values():       # the assignment being collected is void now
                m.assignment = []
                if m.sync_request is not None:
                    self.send(m.client, p.SyncGroupResponse(m.sync_request, p.REBALANCE_IN_PROGRESS))
                    m.sync_request = None
        first = group.state == EMPTY
        self._transition(group, PREPARING_REBALANCE)
        self._record(group, "rebalance", reason=reason)
        self.runtime.cancel(("join", group.group_id))
        timeout = max((m.rebalance_timeout_ms for m in group.members.values()), default=0.0)
        group.rebalance_deadline = self.sim.now + timeout
        if first and self.config.group_initial_rebalance_delay_ms > 0:
            # Kafka's InitialDelayedJoin: wait a little for the rest of a starting group.
            group.initial_delay = True
            group.new_member_added = False
            delay = min(self.config.group_initial_rebalance_delay_ms, timeout)
            self.runtime.schedule(("join", group.group_id), delay, self._initial_delay_over, group.group_id,
                                  group.generation_id)
        else:
            group.initial_delay = False
            self.runtime.schedule(("join", group.group_id), timeout, self._join_deadline, group.group_id,
                                  group.generation_id)
            self._maybe_complete_join(group)

    def _initial_delay_over(self, group_id: str, generation: int) -> None:
        group = self.groups.get(group_id)
        if group is None or group.state != PREPARING_REBALANCE or group.generation_id != generation:
            return
        remaining = group.rebalance_deadline - self.sim.now
        if group.new_member_added and remaining > 0:
            group.new_member_added = False        # someone came: wait another delay (up to the deadline)
            delay = min(self.config.group_initial_rebalance_delay_ms, remaining)
            self.runtime.schedule(("join", group_id), delay, self._initial_delay_over, group_id, generation)
            return
        group.initial_delay = False
        self.runtime.schedule(("join", group_id), max(0.0, remaining), self._join_deadline, group_id, generation)
        self._maybe_complete_join(group)

    def _join_deadline(self, group_id: str, generation: int) -> None:
        group = self.groups.get(group_id)
        if group is None or group.state != PREPARING_REBALANCE or group.generation_id != generation:
            return
        self._complete_join(group)

    def _maybe_complete_join(self, group: Group) -> None:
        if group.state == PREPARING_REBALANCE and not group.initial_delay and all(
                m.join_request is not None for m in group.members.values()):
            self._complete_join(group)

    def _complete_join(self, group: Group) -> None:
        """Close the join phase: drop members that did not rejoin, start the next generation."""
        self.runtime.cancel(("join", group.group_id))
        # (Kafka keeps static members that did not rejoin; msglib drops them like the others, so a
        # static member's privilege is only the one of section I#100: a quick restart while Stable.)
        for m in [m for m in group.members.values() if m.join_request is None]:
            self._drop(group, m, "did not rejoin within the rebalance timeout")
        group.generation_id += 1
        if not group.members:
            group.protocol_name = None
            group.leader_id = None
            self._transition(group, EMPTY)
            self._persist(group)
            return
        candidates = self._candidates(group)
        votes: dict[str, int] = {}
        for m in group.members.values():
            choice = m.vote(candidates)
            votes[choice] = votes.get(choice, 0) + 1
        group.protocol_name = min(votes, key=lambda name: (-votes[name], name))  # most votes; ties by name
        joined = list(group.members.values())   # everyone left has rejoined
        if group.leader_id not in group.members:
            group.leader_id = joined[0].member_id
        self._transition(group, COMPLETING_REBALANCE)
        for m in joined:
            self.send(m.client, self._join_response(group, m, m.join_request))
            m.join_request = None
            self._arm_session(group, m)

    # ------------------------------------------------------------------ SyncGroup
    def _on_sync(self, src: str, req: p.SyncGroupRequest) -> None:
        def reply(error: str | None, assignment: list[TopicPartition] = ()) -> None:
            self.send(src, p.SyncGroupResponse(req.request_id, error, list(assignment)))

        group = self.groups.get(req.group_id)
        error = self._member_error(group, req.member_id, req.group_instance_id)
        if error:
            return reply(error)
        member = group.members[req.member_id]
        if req.generation_id != group.generation_id:
            return reply(p.ILLEGAL_GENERATION)
        if group.state == PREPARING_REBALANCE:
            return reply(p.REBALANCE_IN_PROGRESS)
        self._arm_session(group, member)
        if group.state == STABLE:
            return reply(None, member.assignment)
        member.client = src
        member.sync_request = req.request_id
        if req.member_id == group.leader_id:
            for m in group.members.values():
                m.assignment = sorted(TopicPartition(*tp) for tp in req.assignments.get(m.member_id, []))
            self._transition(group, STABLE)
            self._record(group, "assignment", assignment={m.member_id: [str(tp) for tp in m.assignment]
                                                          for m in group.members.values()},
                         protocol=group.protocol_name)
            self._persist(group)
            for m in group.members.values():
                if m.sync_request is not None:
                    self.send(m.client, p.SyncGroupResponse(m.sync_request, None, list(m.assignment)))
                    m.sync_request = None

    def _member_error(self, group: Group | None, member_id: str, instance: str | None) -> str | None:
        if group is None or group.state == EMPTY:
            return p.UNKNOWN_MEMBER_ID
        if group.state == DEAD:
            return p.COORDINATOR_NOT_AVAILABLE
        if member_id not in group.members:
            if instance is not None and group.static_members.get(instance) not in (None, member_id):
                return p.FENCED_INSTANCE_ID
            return p.UNKNOWN_MEMBER_ID
        return None

    # ------------------------------------------------------------------ Heartbeat, LeaveGroup, sessions
    def _on_heartbeat(self, src: str, req: p.HeartbeatRequest) -> None:
        group = self.groups.get(req.group_id)
        error = self._member_error(group, req.member_id, req.group_instance_id)
        if error is None:
            member = group.members[req.member_id]
            if req.generation_id != group.generation_id:
                error = p.ILLEGAL_GENERATION
            else:
                self._arm_session(group, member)
                if group.state in (PREPARING_REBALANCE, COMPLETING_REBALANCE):
                    error = p.REBALANCE_IN_PROGRESS     # "join again"
        self.send(src, p.HeartbeatResponse(req.request_id, error))

    def _on_leave(self, src: str, req: p.LeaveGroupRequest) -> None:
        group = self.groups.get(req.group_id)
        if group is None or req.member_id not in group.members:
            return self.send(src, p.LeaveGroupResponse(req.request_id, p.UNKNOWN_MEMBER_ID))
        self._remove(group, group.members[req.member_id], "left the group")
        self.send(src, p.LeaveGroupResponse(req.request_id, None))

    def _session_expired(self, group_id: str, member_id: str) -> None:
        group = self.groups.get(group_id)
        member = group.members.get(member_id) if group else None
        if member is None:
            return   # gone already (re-arming cancels the old timer, so a live timer is the current one)
        if member.join_request is not None or member.sync_request is not None:
            self._arm_session(group, member)   # it is waiting on us: a pending join or sync keeps it alive
            return
        self._remove(group, member, f"no heartbeat for {member.session_timeout_ms:g} ms (session timeout)")

    def _drop(self, group: Group, member: Member, reason: str) -> None:
        del group.members[member.member_id]
        self.runtime.cancel(("session", group.group_id, member.member_id))
        if member.group_instance_id is not None and \
                group.static_members.get(member.group_instance_id) == member.member_id:
            del group.static_members[member.group_instance_id]
        self._record(group, "member removed", member=member.member_id, reason=reason)

    def _remove(self, group: Group, member: Member, reason: str) -> None:
        self._drop(group, member, reason)
        if group.state in (STABLE, COMPLETING_REBALANCE):
            self._prepare_rebalance(group, f"{member.member_id} {reason}")
        elif group.state == PREPARING_REBALANCE:
            self._maybe_complete_join(group)

    # ------------------------------------------------------------------ offsets
    def _on_offset_commit(self, src: str, req: p.OffsetCommitRequest) -> None:
        if self.consumer_groups.owns(req.group_id):
            return self._on_consumer_group_commit(src, req)
        group = self.groups.get(req.group_id)
        if group is None:
            if req.generation_id >= 0 or req.member_id:
                return self.send(src, p.OffsetCommitResponse(req.request_id, p.ILLEGAL_GENERATION))
            group = self.groups[req.group_id] = Group(req.group_id, state_since=self.sim.now)
        error = self.validate_offset_commit(group, req.member_id, req.generation_id)
        if error is None:
            self.store.commit(group.group_id, dict(req.offsets))
            member = group.members.get(req.member_id)
            if member is not None and group.state != DEAD:
                self._arm_session(group, member)     # a commit is proof of life too
            self.store.maybe_compact()
        self._record(group, "commit" if error is None else "commit rejected", member=req.member_id,
                     member_generation=req.generation_id, error=error,
                     offsets={str(tp): om.offset for tp, om in req.offsets.items()})
        self.send(src, p.OffsetCommitResponse(req.request_id, error))

    def _on_consumer_group_commit(self, src: str, req: p.OffsetCommitRequest) -> None:
        """A KIP-848 group's commit: ``generation_id`` carries the member epoch (OffsetCommit v9+)."""
        error = self.consumer_groups.validate_offset_commit(req.group_id, req.member_id, req.generation_id)
        if error is None:
            self.store.commit(req.group_id, dict(req.offsets))
            self.store.maybe_compact()
        self.trace.append({"time": self.sim.now, "group": req.group_id, "protocol": "consumer",
                           "event": "commit" if error is None else "commit rejected", "member": req.member_id,
                           "member_epoch": req.generation_id, "error": error,
                           "offsets": {str(tp): om.offset for tp, om in req.offsets.items()}})
        self.send(src, p.OffsetCommitResponse(req.request_id, error))

    def _on_offset_fetch(self, src: str, req: p.OffsetFetchRequest) -> None:
        stored = self.store.group_offsets(req.group_id)
        tps = sorted(stored) if req.partitions is None else req.partitions
        offsets = {tp: (stored[tp].as_offset_and_metadata() if tp in stored else None) for tp in tps}
        self.send(src, p.OffsetFetchResponse(req.request_id, None, offsets))

    def committed(self, group_id: str, tp: TopicPartition) -> int | None:
        """The committed offset (for tests and pictures; clients use OffsetFetch)."""
        c = self.store.committed(group_id, tp)
        return None if c is None else c.offset

    def _retention_timer(self) -> None:
        self.expire_offsets()
        self.runtime.schedule("offsets-retention", self.config.offsets_retention_check_interval_ms,
                              self._retention_timer)

    def expire_offsets(self) -> None:
        """Offsets retention (Kafka >= 2.1): a group's offsets expire once it has been Empty for
        ``offsets.retention.minutes``; a group that never had members (only manual commits) loses
        each offset that long after it was committed. An Empty group with no offsets left is Dead."""
        now = self.sim.now
        retention = self.config.offsets_retention_ms
        for group_id, group in list(self.groups.items()):
            if group.state != EMPTY:
                continue
            stored = self.store.group_offsets(group_id)
            if group.protocol_type is None:
                expired = [tp for tp, c in stored.items() if c.commit_timestamp + retention <= now]
            else:
                expired = list(stored) if group.state_since + retention <= now else []
            if expired:
                self.store.delete_offsets(group_id, expired)
                self._record(group, "offsets expired", partitions=[str(tp) for tp in sorted(expired)])
            if not self.store.group_offsets(group_id) and group.state_since + retention <= now:
                self._transition(group, DEAD)
                self.store.delete_group(group_id)
                del self.groups[group_id]

    # ------------------------------------------------------------------ persistence of group metadata
    def _persist(self, group: Group) -> None:
        """Write the group's generation and assignment to the log (what a restart reloads)."""
        members = [{"member_id": m.member_id, "group_instance_id": m.group_instance_id, "client": m.client,
                    "session_timeout_ms": m.session_timeout_ms, "rebalance_timeout_ms": m.rebalance_timeout_ms,
                    "protocols": [[name, _sub_to_json(sub)] for name, sub in m.protocols],
                    "assignment": [[tp.topic, tp.partition] for tp in m.assignment]}
                   for m in group.members.values()]
        self.store.store_group(group.group_id, {
            "protocol_type": group.protocol_type, "generation": group.generation_id,
            "protocol": group.protocol_name, "leader": group.leader_id, "members": members,
            "state_since": group.state_since})

    def _group_from_metadata(self, group_id: str, meta: dict[str, Any]) -> Group:
        group = Group(group_id, generation_id=meta["generation"], protocol_type=meta["protocol_type"],
                      protocol_name=meta["protocol"], leader_id=meta["leader"], state_since=meta["state_since"])
        for d in meta["members"]:
            m = Member(d["member_id"], d["group_instance_id"], d["client"], d["session_timeout_ms"],
                       d["rebalance_timeout_ms"], [(n, _sub_from_json(s)) for n, s in d["protocols"]],
                       assignment=[TopicPartition(t, q) for t, q in d["assignment"]])
            group.members[m.member_id] = m
            if m.group_instance_id is not None:
                group.static_members[m.group_instance_id] = m.member_id
        if group.members:
            group.state = STABLE   # loaded groups resume where they were; sessions start again from now
            for m in group.members.values():
                self._arm_session(group, m)
        else:
            group.state = EMPTY
        return group

    def describe(self, group_id: str | None = None) -> str:
        groups = [self.groups[group_id]] if group_id else [self.groups[g] for g in sorted(self.groups)]
        return "\n".join(g.describe() for g in groups)


def _sub_to_json(sub: Subscription) -> dict[str, Any]:
    return {"topics": list(sub.topics), "owned": [[tp.topic, tp.partition] for tp in sub.owned_partitions],
            "generation": sub.generation, "group_instance_id": sub.group_instance_id}


def _sub_from_json(d: dict[str, Any]) -> Subscription:
    return Subscription(tuple(d["topics"]), tuple(TopicPartition(t, q) for t, q in d["owned"]), d["generation"],
                        d["group_instance_id"])


def coordinator_for(network_owner: Any, config: GroupConfig | None = None, **seams: Any) -> GroupCoordinator:
    """The group coordinator of a :class:`~msglib.cluster.Cluster` (created on first use)."""
    existing = getattr(network_owner, "_group_coordinator", None)
    if existing is not None:
        if config is not None or seams:
            raise ValueError("this cluster already has a group coordinator; pass config/seams on first use "
                             "(msglib.groups.coordinator_for(cluster, ...)) before creating consumers")
        return existing
    if config is None:
        fast = getattr(getattr(network_owner, "config", None), "broker_heartbeat_interval_ms", 2_000) < 1_000
        config = GroupConfig.fast() if fast else GroupConfig()
    seams.setdefault("partition_counts", _cluster_partition_counts(network_owner))
    coordinator = GroupCoordinator(network_owner.network, config, **seams)
    network_owner._group_coordinator = coordinator
    return coordinator


def _cluster_partition_counts(cluster: Any) -> Callable[[list[str]], dict[str, int]]:
    """The coordinator's view of topic metadata: partitions per topic, as the cluster's controller has them."""
    def counts(topics: list[str]) -> dict[str, int]:
        wanted = set(topics)
        out: dict[str, int] = {}
        for tp in cluster.topic_partitions() if hasattr(cluster, "topic_partitions") else ():
            if tp.topic in wanted:
                out[tp.topic] = max(out.get(tp.topic, 0), tp.partition + 1)
        return out
    return counts


def tps(items: Iterable[Any]) -> list[TopicPartition]:
    return [TopicPartition(*x) for x in items]
