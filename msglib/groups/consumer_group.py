"""KIP-848 consumer groups at the coordinator: ConsumerGroupHeartbeat, epochs, server-side assignment.

The *consumer* rebalance protocol (Apache Kafka 4.0, generally available; ``group_protocol="consumer"``)
moves the rebalance into the coordinator. There is no JoinGroup/SyncGroup barrier: each member only
heartbeats, and each heartbeat moves it one safe step toward the group's target assignment. Three epochs:

* **group epoch** -- bumped whenever what the assignment depends on changes: a member joins or leaves,
  a subscription changes, a subscribed topic gains partitions;
* **target assignment epoch** -- the group epoch the current target assignment was computed for. When
  the group epoch runs ahead, the next heartbeat runs the server-side assignor (``uniform`` or ``range``,
  ``server_assignors.py``) and the target catches up;
* **member epoch** -- where each member stands. It reaches the target epoch once the member holds no
  partition it must give up (``reconciliation.py``: revoke first, take only what is free).

Offset commits carry the member epoch (OffsetCommit v9's ``GenerationIdOrMemberEpoch``): an unknown member
is answered UNKNOWN_MEMBER_ID, another epoch than the member's STALE_MEMBER_EPOCH. A heartbeat with an
epoch the coordinator does not accept is answered FENCED_MEMBER_EPOCH (the member gives up everything and
rejoins with epoch 0) -- except the *previous* epoch with a subset of the current assignment, which only
means the answer that bumped the epoch was lost.

Timers are the coordinator runtime's (:mod:`msglib.coordinator`): the session timeout
(``group.consumer.session.timeout.ms``, 45 s) fences a member that stops heartbeating; the member's
rebalance timeout fences one that does not revoke in time. Static members (``group.instance.id``) leave
with epoch -2 and keep their partitions until they come back under a new member id or their session
expires.

Everything is kept as records of ``__consumer_offsets`` (the same log as the offsets: one coordinator
runtime, one shard per kind of state), replayed on load::

    ["cg-metadata", group]            {"epoch"}                                     the group epoch
    ["cg-member", group, member]      {"instance_id", "client", "subscribed", "rebalance_timeout_ms", "assignor"}
    ["cg-target-metadata", group]     {"epoch"}                                     target assignment epoch
    ["cg-target", group, member]      {"partitions"}                                the member's target
    ["cg-current", group, member]     {"member_epoch", "previous_member_epoch", "state", "assigned",
                                       "pending_revocation"}                        the member's current state

Seam: ``reconcile(assigned, target, owned_by_others) -> Reconciliation`` (msglib's: ``reconciliation.reconcile``).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from msglib import protocol as p
from msglib.groups.reconciliation import (STABLE, UNRELEASED_PARTITIONS, UNREVOKED_PARTITIONS, Reconciliation,
                                          check_reconciliation)
from msglib.groups.reconciliation import reconcile as default_reconcile
from msglib.groups.server_assignors import SERVER_ASSIGNORS
from msglib.protocol import TopicPartition

# group states (Kafka's ConsumerGroupState)
EMPTY, ASSIGNING, RECONCILING, GROUP_STABLE = "Empty", "Assigning", "Reconciling", "Stable"

TPs = frozenset  # frozenset[TopicPartition]


def _tps(items: Any) -> frozenset[TopicPartition]:
    return frozenset(TopicPartition(t, q) for t, q in items)


def _json_tps(tps: Any) -> list[list]:
    return [[tp.topic, tp.partition] for tp in sorted(tps)]


@dataclass
class ConsumerMember:
    """One member of a consumer group, as the coordinator knows it (rebuilt from its records)."""

    member_id: str
    instance_id: str | None = None
    client: str = ""
    subscribed: tuple[str, ...] = ()
    rebalance_timeout_ms: float = 300_000
    assignor: str | None = None
    member_epoch: int = 0
    previous_member_epoch: int = -1
    state: str = STABLE
    assigned: frozenset[TopicPartition] = frozenset()
    pending_revocation: frozenset[TopicPartition] = frozenset()

    def metadata_json(self) -> dict[str, Any]:
        return {"instance_id": self.instance_id, "client": self.client, "subscribed": list(self.subscribed),
                "rebalance_timeout_ms": self.rebalance_timeout_ms, "assignor": self.assignor}

    def current_json(self) -> dict[str, Any]:
        return {"member_epoch": self.member_epoch, "previous_member_epoch": self.previous_member_epoch,
                "state": self.state, "assigned": _json_tps(self.assigned),
                "pending_revocation": _json_tps(self.pending_revocation)}

    def describe(self) -> str:
        pending = f", revoking {[str(tp) for tp in sorted(self.pending_revocation)]}" if self.pending_revocation else ""
        static = f" ({self.instance_id})" if self.instance_id else ""
        return (f"{self.member_id}{static} epoch {self.member_epoch} {self.state}: "
                f"{[str(tp) for tp in sorted(self.assigned)]}{pending}")


@dataclass
class ConsumerGroup:
    """A consumer group's state at the coordinator (rebuilt from its records)."""

    group_id: str
    group_epoch: int = 0
    assignment_epoch: int = 0
    members: dict[str, ConsumerMember] = field(default_factory=dict)
    target: dict[str, frozenset[TopicPartition]] = field(default_factory=dict)
    subscription_metadata: dict[str, int] = field(default_factory=dict)   # topic -> partitions (not logged)
    metadata_refresh_at: float = 0.0

    @property
    def static_members(self) -> dict[str, str]:
        return {m.instance_id: m.member_id for m in self.members.values() if m.instance_id is not None}

    @property
    def state(self) -> str:
        if not self.members:
            return EMPTY
        if self.assignment_epoch < self.group_epoch:
            return ASSIGNING
        if any(m.member_epoch != self.assignment_epoch or m.state != STABLE for m in self.members.values()
               if m.member_epoch != p.LEAVE_GROUP_STATIC_MEMBER_EPOCH):
            return RECONCILING
        return GROUP_STABLE

    def owners(self) -> dict[TopicPartition, set[str]]:
        """Partition -> the members that hold it (assigned or pending revocation)."""
        out: dict[TopicPartition, set[str]] = {}
        for m in self.members.values():
            for tp in m.assigned | m.pending_revocation:
                out.setdefault(tp, set()).add(m.member_id)
        return out

    def owned_by_others(self, member_id: str) -> frozenset[TopicPartition]:
        return frozenset(tp for m in self.members.values() if m.member_id != member_id
                         for tp in m.assigned | m.pending_revocation)

    def describe(self) -> str:
        lines = [f"consumer group {self.group_id!r}: {self.state}, group epoch {self.group_epoch}, "
                 f"target epoch {self.assignment_epoch}"]
        lines += [f"  {m.describe()}; target {[str(tp) for tp in sorted(self.target.get(mid, ()))]}"
                  for mid, m in sorted(self.members.items())]
        return "\n".join(lines)


class ConsumerGroupsShard:
    """The coordinator shard of KIP-848 groups: the tables change only by replaying records."""

    KEYS = ("cg-metadata", "cg-member", "cg-target-metadata", "cg-target", "cg-current")

    def __init__(self) -> None:
        self.groups: dict[str, ConsumerGroup] = {}

    def reset(self) -> None:
        self.groups = {}

    def _group(self, group_id: str) -> ConsumerGroup:
        return self.groups.setdefault(group_id, ConsumerGroup(group_id))

    def replay(self, key: list, value: dict[str, Any] | None) -> None:
        kind = key[0]
        if kind not in self.KEYS:
            return
        group_id = key[1]
        if kind == "cg-metadata":
            if value is None:
                self.groups.pop(group_id, None)
            else:
                self._group(group_id).group_epoch = value["epoch"]
            return
        group = self._group(group_id)
        if kind == "cg-target-metadata":
            group.assignment_epoch = value["epoch"] if value else 0
            return
        member_id = key[2]
        if kind == "cg-member":
            if value is None:
                group.members.pop(member_id, None)
                return
            m = group.members.get(member_id) or ConsumerMember(member_id)
            m.instance_id, m.client = value["instance_id"], value["client"]
            m.subscribed, m.rebalance_timeout_ms = tuple(value["subscribed"]), value["rebalance_timeout_ms"]
            m.assignor = value["assignor"]
            group.members[member_id] = m
        elif kind == "cg-target":
            if value is None:
                group.target.pop(member_id, None)
            else:
                group.target[member_id] = _tps(value["partitions"])
        elif kind == "cg-current":
            m = group.members.get(member_id)
            if value is None or m is None:
                return
            m.member_epoch, m.previous_member_epoch = value["member_epoch"], value["previous_member_epoch"]
            m.state = value["state"]
            m.assigned, m.pending_revocation = _tps(value["assigned"]), _tps(value["pending_revocation"])


class ConsumerGroupCoordinator:
    """KIP-848 groups, served by a :class:`~msglib.groups.coordinator.GroupCoordinator` beside its classic
    groups: same node, same ``__consumer_offsets`` runtime, same committed offsets.

    ``partition_counts(topics) -> {topic: partitions}`` is the coordinator's view of topic metadata (what a
    Kafka broker's metadata image gives its coordinator); topics it omits have no partitions yet.
    """

    def __init__(self, host: Any, *, partition_counts: Callable[[list[str]], dict[str, int]] | None = None,
                 reconcile: Callable[..., Any] | None = None) -> None:
        self.host = host                     # the GroupCoordinator node: send, runtime, config, trace
        self.runtime = host.runtime
        self.config = host.config
        self.shard = ConsumerGroupsShard()
        self.partition_counts = partition_counts or (lambda topics: {})
        self.reconcile = reconcile or default_reconcile
        self._id_rng = host.sim.random(f"consumer-member-ids/{host.name}")

    # ------------------------------------------------------------------ helpers
    @property
    def groups(self) -> dict[str, ConsumerGroup]:
        return self.shard.groups

    def group(self, group_id: str) -> ConsumerGroup | None:
        return self.shard.groups.get(group_id)

    def owns(self, group_id: str) -> bool:
        """Is ``group_id`` a consumer-protocol group (with members or a group epoch)?"""
        return group_id in self.shard.groups

    def _record(self, group: ConsumerGroup, event: str, **details: Any) -> None:
        entry = {"time": self.host.sim.now, "group": group.group_id, "event": event, "protocol": "consumer",
                 "state": group.state, "group_epoch": group.group_epoch, "target_epoch": group.assignment_epoch,
                 "members": sorted(group.members)}
        entry.update(details)
        self.host.trace.append(entry)

    def _new_member_id(self, client_id: str) -> str:
        # Kafka 4.0 members use a UUID; a seeded hex suffix keeps runs reproducible.
        return f"{client_id or 'member'}-{self._id_rng.getrandbits(48):012x}"

    # ------------------------------------------------------------------ life cycle
    def boot(self) -> None:
        """After a load: every member's session starts again from now; unrevoked ones get their timeout."""
        for group in self.groups.values():
            group.subscription_metadata = self.partition_counts(sorted({t for m in group.members.values()
                                                                        for t in m.subscribed}))
            for m in group.members.values():
                self._arm_session(group, m)
                if m.state == UNREVOKED_PARTITIONS:
                    self._arm_revocation(group, m)

    # ------------------------------------------------------------------ ConsumerGroupHeartbeat
    def on_heartbeat(self, src: str, req: p.ConsumerGroupHeartbeatRequest) -> None:
        try:
            response, records = self._heartbeat(src, req)
        except _Reject as reject:
            response, records = p.ConsumerGroupHeartbeatResponse(
                req.request_id, reject.code, req.member_id, req.member_epoch, error_message=reject.message), []
            self.host.trace.append({"time": self.host.sim.now, "group": req.group_id, "protocol": "consumer",
                                    "event": "heartbeat rejected", "member": req.member_id,
                                    "member_epoch": req.member_epoch, "error": reject.code, "why": reject.message})
        self.runtime.write(records)          # persist, then reply
        self.host.send(src, response)

    def _heartbeat(self, src: str, req: p.ConsumerGroupHeartbeatRequest
                   ) -> tuple[p.ConsumerGroupHeartbeatResponse, list]:
        if not isinstance(req.member_epoch, int) or req.member_epoch < p.LEAVE_GROUP_STATIC_MEMBER_EPOCH:
            raise _Reject(p.INVALID_REQUEST, f"member_epoch must be >= -2, got {req.member_epoch!r}")
        if req.member_epoch in (p.LEAVE_GROUP_MEMBER_EPOCH, p.LEAVE_GROUP_STATIC_MEMBER_EPOCH):
            return self._leave(req)
        classic = self.host.groups.get(req.group_id)
        if classic is not None and classic.members:
            raise _Reject(p.INCONSISTENT_GROUP_PROTOCOL, f"group {req.group_id!r} is a classic group with members "
                          f"(JoinGroup/SyncGroup); a consumer-protocol member cannot join it")
        joining = req.member_epoch == p.JOIN_GROUP_MEMBER_EPOCH
        if joining and (req.subscribed_topic_names is None or req.rebalance_timeout_ms is None
                        or req.rebalance_timeout_ms < 0):
            raise _Reject(p.INVALID_REQUEST, "a member joining (epoch 0) must send subscribed_topic_names and "
                          "rebalance_timeout_ms")
        if req.server_assignor is not None and req.server_assignor not in self.config.group_consumer_assignors:
            raise _Reject(p.UNSUPPORTED_ASSIGNOR, f"no server-side assignor {req.server_assignor!r}; this "
                          f"coordinator has {list(self.config.group_consumer_assignors)}")
        group = self.group(req.group_id)
        if group is None and not joining:
            raise _Reject(p.UNKNOWN_MEMBER_ID, f"group {req.group_id!r} does not exist")
        records: list = []
        if group is None:
            records.append((["cg-metadata", req.group_id], {"epoch": 0}))
            self.runtime.write(records)
            records = []
            group = self.group(req.group_id)
        member, records, bump = self._member_for(group, src, req)
        # 1. the member's metadata; a new member or a changed subscription bumps the group epoch
        updated = ConsumerMember(member.member_id, req.instance_id if req.instance_id is not None else
                                 member.instance_id, src,
                                 tuple(sorted(req.subscribed_topic_names)) if req.subscribed_topic_names is not None
                                 else member.subscribed,
                                 req.rebalance_timeout_ms if req.rebalance_timeout_ms not in (None, -1)
                                 else member.rebalance_timeout_ms,
                                 req.server_assignor if req.server_assignor is not None else member.assignor)
        if updated.metadata_json() != member.metadata_json() or member.member_id not in group.members:
            records.append((["cg-member", group.group_id, member.member_id], updated.metadata_json()))
            if updated.subscribed != member.subscribed or member.member_id not in group.members:
                bump = True
        now = self.host.sim.now
        if bump or now >= group.metadata_refresh_at:   # topic metadata: on a change, else once per interval
            group.metadata_refresh_at = now + self.config.group_consumer_heartbeat_interval_ms
            topics = sorted({t for m in group.members.values() if m.member_id != member.member_id
                             for t in m.subscribed} | set(updated.subscribed))
            metadata = {t: n for t, n in self.partition_counts(topics).items() if n > 0}
            if metadata != group.subscription_metadata:
                group.subscription_metadata = metadata
                bump = True
        if bump:
            records.append((["cg-metadata", group.group_id], {"epoch": group.group_epoch + 1}))
        self.runtime.write(records)
        if bump:
            self._record(group, "group epoch bumped", member=member.member_id)
        records = []
        member = group.members[member.member_id]
        # 2. a new target assignment when the group epoch ran ahead of it
        if group.group_epoch > group.assignment_epoch:
            records += self._new_target(group)
            self.runtime.write(records)
            records = []
        # 3. one reconciliation step for this member
        before = frozenset(member.assigned)
        records += self._maybe_reconcile(group, member, req.topic_partitions)
        self._arm_session(group, member)
        member = group.members[member.member_id]
        full = joining or (req.rebalance_timeout_ms not in (None, -1) and req.subscribed_topic_names is not None
                           and req.topic_partitions is not None)
        assignment = sorted(member.assigned) if full or member.assigned != before else None
        response = p.ConsumerGroupHeartbeatResponse(req.request_id, None, member.member_id, member.member_epoch,
                                                    self.config.group_consumer_heartbeat_interval_ms, assignment)
        return response, records

    def _member_for(self, group: ConsumerGroup, src: str, req: p.ConsumerGroupHeartbeatRequest
                    ) -> tuple[ConsumerMember, list, bool]:
        """The member this heartbeat is from (new, replaced or existing), with records and whether the
        group epoch must be bumped; or a _Reject."""
        joining = req.member_epoch == p.JOIN_GROUP_MEMBER_EPOCH
        owned = None if req.topic_partitions is None else frozenset(req.topic_partitions)
        records: list = []
        if req.instance_id is not None:
            existing_id = group.static_members.get(req.instance_id)
            existing = group.members.get(existing_id) if existing_id else None
            if joining:
                if existing is None:
                    return ConsumerMember(req.member_id or self._new_member_id(req.client_id), req.instance_id), \
                        records, True
                if existing.member_epoch != p.LEAVE_GROUP_STATIC_MEMBER_EPOCH and existing.member_id != req.member_id:
                    raise _Reject(p.UNRELEASED_INSTANCE_ID, f"instance id {req.instance_id!r} is still held by "
                                  f"member {existing.member_id} (it has not left with epoch -2)")
                # The static member comes back: a new member id takes the old one's place and partitions.
                new_id = req.member_id if req.member_id and req.member_id != existing.member_id else \
                    self._new_member_id(req.client_id)
                replaced = ConsumerMember(new_id, req.instance_id, src, existing.subscribed,
                                          existing.rebalance_timeout_ms, existing.assignor, 0, 0, STABLE,
                                          existing.assigned, frozenset())
                records += self._tombstones(group, existing.member_id)
                records += [(["cg-member", group.group_id, new_id], replaced.metadata_json()),
                            (["cg-target", group.group_id, new_id],
                             {"partitions": _json_tps(group.target.get(existing.member_id, ()))}),
                            (["cg-current", group.group_id, new_id], replaced.current_json())]
                self.runtime.cancel(("cg-session", group.group_id, existing.member_id))
                self.runtime.cancel(("cg-revocation", group.group_id, existing.member_id))
                self.runtime.write(records)
                self._record(group, "static member replaced", member=new_id, old_member=existing.member_id)
                return group.members[new_id], [], False
            if existing is None:
                raise _Reject(p.UNKNOWN_MEMBER_ID, f"instance id {req.instance_id!r} is unknown")
            if existing.member_id != req.member_id:
                raise _Reject(p.FENCED_INSTANCE_ID, f"instance id {req.instance_id!r} belongs to member "
                              f"{existing.member_id} now")
            self._check_epoch(existing, req.member_epoch, owned)
            return existing, records, False
        member = group.members.get(req.member_id) if req.member_id else None
        if joining:
            if member is None:
                return ConsumerMember(req.member_id or self._new_member_id(req.client_id)), records, True
            if owned:
                raise _Reject(p.FENCED_MEMBER_EPOCH, "a member rejoining with epoch 0 must own no partition")
            # A fenced member rejoins under its id: its old incarnation goes, a fresh one joins.
            records += self._tombstones(group, member.member_id)
            self.runtime.write(records)
            self._record(group, "member rejoined", member=member.member_id)
            return ConsumerMember(member.member_id), [], True
        if member is None:
            raise _Reject(p.UNKNOWN_MEMBER_ID, f"member {req.member_id!r} is not in group {group.group_id!r} "
                          f"(removed after its session timeout, or never joined): rejoin with epoch 0")
        self._check_epoch(member, req.member_epoch, owned)
        return member, records, False

    @staticmethod
    def _check_epoch(member: ConsumerMember, epoch: int, owned: frozenset | None) -> None:
        if epoch > member.member_epoch:
            raise _Reject(p.FENCED_MEMBER_EPOCH, f"epoch {epoch} is ahead of the coordinator's {member.member_epoch}")
        if epoch < member.member_epoch and (epoch != member.previous_member_epoch or owned is None
                                            or not owned <= member.assigned):
            raise _Reject(p.FENCED_MEMBER_EPOCH, f"epoch {epoch} is behind the coordinator's {member.member_epoch}")

    # ------------------------------------------------------------------ target assignment
    def _assignor_for(self, group: ConsumerGroup) -> str:
        """The assignor most members ask for (none asked: the configured default, the first one)."""
        default = self.config.group_consumer_assignors[0]
        votes = Counter(m.assignor or default for m in group.members.values())
        order = list(self.config.group_consumer_assignors)
        return min(votes, key=lambda a: (-votes[a], order.index(a))) if votes else default

    def _new_target(self, group: ConsumerGroup) -> list:
        name = self._assignor_for(group)
        subs = {mid: m.subscribed for mid, m in group.members.items()}
        target = SERVER_ASSIGNORS[name](subs, group.subscription_metadata, group.target) if subs else {}
        records = []
        for mid in sorted(set(group.target) | set(target)):
            new = frozenset(target.get(mid, ()))
            if mid not in target:
                records.append((["cg-target", group.group_id, mid], None))
            elif group.target.get(mid) != new:
                records.append((["cg-target", group.group_id, mid], {"partitions": _json_tps(new)}))
        records.append((["cg-target-metadata", group.group_id], {"epoch": group.group_epoch}))
        self._record(group, "target assignment", assignor=name, epoch=group.group_epoch,
                     assignment={mid: [str(tp) for tp in sorted(tps)] for mid, tps in sorted(target.items())})
        return records

    # ------------------------------------------------------------------ reconciliation
    def _maybe_reconcile(self, group: ConsumerGroup, member: ConsumerMember,
                         owned: list[TopicPartition] | None) -> list:
        owned_set = None if owned is None else frozenset(owned)
        target_epoch = group.assignment_epoch
        if member.state == STABLE and member.member_epoch == target_epoch:
            return []
        if member.state == UNREVOKED_PARTITIONS:
            if owned_set is None or owned_set & member.pending_revocation:
                return []                          # still holds what it must give up: no progress
            epoch = member.member_epoch + 1
        else:
            epoch = member.member_epoch
        target = group.target.get(member.member_id, frozenset())
        busy = group.owned_by_others(member.member_id)
        step = check_reconciliation(self.reconcile(member.assigned, target, busy))
        if step.revoking and owned_set is not None and not owned_set & step.revoking:
            # it already let them go (its heartbeat says so): go on to what it may take
            step = check_reconciliation(self.reconcile(step.assigned, target, busy))
        if step.revoking:
            new = ConsumerMember(**{**member.__dict__, "member_epoch": epoch,
                                    "previous_member_epoch": member.member_epoch if epoch != member.member_epoch
                                    else member.previous_member_epoch,
                                    "state": UNREVOKED_PARTITIONS, "assigned": step.assigned,
                                    "pending_revocation": step.revoking})
        else:
            new = ConsumerMember(**{**member.__dict__, "member_epoch": target_epoch,
                                    "previous_member_epoch": member.member_epoch if target_epoch != member.member_epoch
                                    else member.previous_member_epoch,
                                    "state": step.state, "assigned": step.assigned,
                                    "pending_revocation": frozenset()})
        if new.current_json() == member.current_json():
            return []
        records = [(["cg-current", group.group_id, member.member_id], new.current_json())]
        self.runtime.write(records)
        if new.state == UNREVOKED_PARTITIONS:
            self._arm_revocation(group, new)
        else:
            self.runtime.cancel(("cg-revocation", group.group_id, member.member_id))
        self._record(group, "member reconciled", member=member.member_id, member_epoch=new.member_epoch,
                     member_state=new.state, assigned=[str(tp) for tp in sorted(new.assigned)],
                     revoking=[str(tp) for tp in sorted(new.pending_revocation)],
                     unreleased=[str(tp) for tp in sorted(step.unreleased)])
        return []

    # ------------------------------------------------------------------ leaving, fencing, timers
    def _tombstones(self, group: ConsumerGroup, member_id: str) -> list:
        return [(["cg-current", group.group_id, member_id], None), (["cg-target", group.group_id, member_id], None),
                (["cg-member", group.group_id, member_id], None)]

    def _leave(self, req: p.ConsumerGroupHeartbeatRequest) -> tuple[p.ConsumerGroupHeartbeatResponse, list]:
        group = self.group(req.group_id)
        member = group.members.get(req.member_id) if group else None
        if member is None:
            raise _Reject(p.UNKNOWN_MEMBER_ID, f"member {req.member_id!r} is not in group {req.group_id!r}")
        if req.member_epoch == p.LEAVE_GROUP_STATIC_MEMBER_EPOCH:
            if member.instance_id is None:
                raise _Reject(p.INVALID_REQUEST, "epoch -2 is for static members (group_instance_id) only")
            left = ConsumerMember(**{**member.__dict__, "member_epoch": p.LEAVE_GROUP_STATIC_MEMBER_EPOCH,
                                     "pending_revocation": frozenset()})
            self.runtime.cancel(("cg-revocation", group.group_id, member.member_id))
            self._record(group, "static member left for now", member=member.member_id)
            return (p.ConsumerGroupHeartbeatResponse(req.request_id, None, member.member_id,
                                                     p.LEAVE_GROUP_STATIC_MEMBER_EPOCH),
                    [(["cg-current", group.group_id, member.member_id], left.current_json())])
        self.fence(group, member, "left the group")
        return p.ConsumerGroupHeartbeatResponse(req.request_id, None, member.member_id,
                                                p.LEAVE_GROUP_MEMBER_EPOCH), []

    def fence(self, group: ConsumerGroup, member: ConsumerMember, reason: str) -> None:
        """Remove a member: its partitions are free, the group epoch goes up (a new target follows)."""
        self.runtime.cancel(("cg-session", group.group_id, member.member_id))
        self.runtime.cancel(("cg-revocation", group.group_id, member.member_id))
        records = self._tombstones(group, member.member_id)
        records.append((["cg-metadata", group.group_id], {"epoch": group.group_epoch + 1}))
        self.runtime.write(records)
        self._record(group, "member removed", member=member.member_id, reason=reason,
                     freed=[str(tp) for tp in sorted(member.assigned | member.pending_revocation)])

    def _arm_session(self, group: ConsumerGroup, member: ConsumerMember) -> None:
        self.runtime.schedule(("cg-session", group.group_id, member.member_id),
                              self.config.group_consumer_session_timeout_ms, self._session_expired,
                              group.group_id, member.member_id)

    def _arm_revocation(self, group: ConsumerGroup, member: ConsumerMember) -> None:
        self.runtime.schedule(("cg-revocation", group.group_id, member.member_id), member.rebalance_timeout_ms,
                              self._revocation_expired, group.group_id, member.member_id, member.member_epoch)

    def _session_expired(self, group_id: str, member_id: str) -> None:
        group = self.group(group_id)
        member = group.members.get(member_id) if group else None
        if member is not None:
            self.fence(group, member, f"no heartbeat for {self.config.group_consumer_session_timeout_ms:g} ms "
                                      f"(group.consumer.session.timeout.ms)")

    def _revocation_expired(self, group_id: str, member_id: str, epoch: int) -> None:
        group = self.group(group_id)
        member = group.members.get(member_id) if group else None
        if member is not None and member.state == UNREVOKED_PARTITIONS and member.member_epoch == epoch:
            self.fence(group, member, f"did not revoke {[str(tp) for tp in sorted(member.pending_revocation)]} "
                                      f"within its rebalance timeout ({member.rebalance_timeout_ms:g} ms)")

    # ------------------------------------------------------------------ offsets
    def validate_offset_commit(self, group_id: str, member_id: str, member_epoch: int) -> str | None:
        """Kafka's ``ConsumerGroup.validateOffsetCommit``: epoch -1 from a non-member of an empty group
        passes; an unknown member is UNKNOWN_MEMBER_ID; another epoch than the member's, STALE_MEMBER_EPOCH."""
        group = self.group(group_id)
        members = group.members if group else {}
        if member_epoch < 0 and not members:
            return None
        member = members.get(member_id)
        if member is None:
            return p.UNKNOWN_MEMBER_ID
        if member_epoch != member.member_epoch:
            return p.STALE_MEMBER_EPOCH
        return None

    def validate_offset_fetch(self, group_id: str, member_id: str | None, member_epoch: int) -> str | None:
        """Kafka's ``ConsumerGroup.validateOffsetFetch`` (OffsetFetch v9): no member id and epoch -1 (an admin)
        passes; an unknown member is UNKNOWN_MEMBER_ID; another epoch than the member's, STALE_MEMBER_EPOCH."""
        if member_id is None and member_epoch < 0:
            return None
        group = self.group(group_id)
        member = group.members.get(member_id) if group else None
        if member is None:
            return p.UNKNOWN_MEMBER_ID
        return p.STALE_MEMBER_EPOCH if member_epoch != member.member_epoch else None

    def describe(self, group_id: str | None = None) -> str:
        groups = [self.groups[group_id]] if group_id else [self.groups[g] for g in sorted(self.groups)]
        return "\n".join(g.describe() for g in groups)


class _Reject(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


__all__ = ["ASSIGNING", "ConsumerGroup", "ConsumerGroupCoordinator", "ConsumerGroupsShard", "ConsumerMember",
           "EMPTY", "GROUP_STABLE", "RECONCILING", "Reconciliation", "UNRELEASED_PARTITIONS"]
