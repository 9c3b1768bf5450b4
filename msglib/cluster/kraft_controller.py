"""KRaft mode for ``msglib.cluster``: partition leadership and ISRs decided through a replicated metadata log.

Kafka 4.0 runs only in KRaft mode (docs/kraft.md): a quorum of controllers replicates a metadata log
with a Raft-style protocol (KIP-595), the *active* controller (the quorum leader) turns broker requests
into metadata records (KIP-631), and brokers act only on records the quorum has *committed*. Here:

- :class:`ClusterImage`: the cluster's metadata as the replay of the log (brokers with their
  incarnation and fencing; partitions as :class:`~msglib.protocol.PartitionState`, ELR included).
- :class:`PartitionControl`: the decisions, from an image to the records that change it: register,
  fence or unfence a broker, create a topic, change an ISR (``AlterPartition``), elect a leader in the
  order ISR -> ELR (while the ISR is empty) -> the last known leader (ISR and ELR both empty, as Kafka
  did before 4.0) -> only with ``unclean_leader_election_enable``, any unfenced replica. ELR
  maintenance is KIP-966's ``msglib.kraft.policies.elr_update``.
- :class:`KRaftController`: a quorum voter (``msglib.kraft.raft.RaftNode``). While it leads it answers
  ``BrokerHeartbeat`` and ``AlterPartition``; everybody else answers :class:`NotController` with the
  leader it knows. An ``AlterPartition`` is answered only once its record is committed, and heartbeats
  hand brokers committed records only: a decision lost in a controller failover was never acted on.
- :class:`ControllerQuorum`: the voters together, as the cluster sees them: the committed log and image
  (``partitions``, ``brokers``, ``elections``), the active controller, and the gaps without one.

While no controller leads (a failover in progress), nothing is fenced and no partition leader is
elected: a partition whose leader died stays without one until a new controller is active.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable

from msglib import protocol as p
from msglib.cluster.config import ClusterConfig
from msglib.cluster.policies import Policies
from msglib.kraft.policies import Policies as QuorumPolicies
from msglib.kraft.raft import LEADER, QuorumConfig, RaftNode
from msglib.kraft.records import Entry
from msglib.protocol import NO_LEADER, PartitionState, TopicPartition
from msglib.sim.network import Network


# -- the records -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RegisterBrokerRecord:
    """A broker process (``incarnation``) registered; it starts fenced (KIP-631). ``clean_shutdown=False``:
    its previous process crashed, so KIP-966 takes it out of every ELR."""

    broker_id: int
    incarnation: int
    clean_shutdown: bool = True


@dataclass(frozen=True)
class BrokerFencingRecord:
    """``Fence``/``UnfenceBrokerRecord`` in one: the broker is now fenced (or not), and why."""

    broker_id: int
    incarnation: int
    fenced: bool
    why: str = ""


@dataclass(frozen=True)
class PartitionChangeRecord:
    """A partition's new state (``PartitionRecord`` when created, ``PartitionChangeRecord`` after).
    ``election``: where a new leader came from ("isr", "elr", "unclean", "none"), or None (no election)."""

    state: PartitionState
    why: str = ""
    election: str | None = None


@dataclass(frozen=True)
class NotController:
    """The answer of a controller that is not the active one: who it believes leads (or None)."""

    leader_hint: str | None
    request: Any = None


# -- the image -------------------------------------------------------------------------------------------------
@dataclass
class BrokerRegistration:
    """What the controllers know of one broker: which process (incarnation), fenced or not, and the offset
    of its registration record."""

    incarnation: int
    fenced: bool = True
    offset: int = -1


@dataclass
class ClusterImage:
    """The metadata that replaying the log up to ``offset`` (exclusive) builds."""

    offset: int = 0
    brokers: dict[int, BrokerRegistration] = field(default_factory=dict)
    partitions: dict[TopicPartition, PartitionState] = field(default_factory=dict)
    last_known_leader: dict[TopicPartition, int] = field(default_factory=dict)

    def apply(self, record: Any) -> None:
        if isinstance(record, RegisterBrokerRecord):
            self.brokers[record.broker_id] = BrokerRegistration(record.incarnation, True, self.offset)
        elif isinstance(record, BrokerFencingRecord):
            reg = self.brokers.get(record.broker_id)
            if reg is not None and reg.incarnation == record.incarnation:
                reg.fenced = record.fenced
        elif isinstance(record, PartitionChangeRecord):
            st = record.state
            self.partitions[st.tp] = st
            if st.leader != NO_LEADER:
                self.last_known_leader[st.tp] = st.leader
        self.offset += 1  # LeaderChange control records take an offset too

    def replay(self, entries: Iterable[Entry]) -> "ClusterImage":
        for e in entries:
            self.apply(e.record)
        return self

    @property
    def unfenced(self) -> set[int]:
        return {b for b, r in self.brokers.items() if not r.fenced}


def _ordered(replicas: tuple[int, ...], members: Iterable[int]) -> tuple[int, ...]:
    members = set(members)
    return tuple(r for r in replicas if r in members)


# -- the decisions -----------------------------------------------------------------------------------------------
@dataclass
class PartitionControl:
    """Records from decisions (Kafka's ``ReplicationControlManager`` / ``PartitionChangeBuilder``, reduced).

    Every method returns the records; the controller appends them to the log and to its image."""

    config: ClusterConfig
    policies: Policies = field(default_factory=Policies)
    quorum_policies: QuorumPolicies = field(default_factory=QuorumPolicies)

    @property
    def elr_enabled(self) -> bool:
        return self.config.eligible_leader_replicas

    def create_topic(self, image: ClusterImage, topic: str, partitions: int, replication_factor: int,
                     broker_ids: list[int]) -> list[PartitionChangeRecord]:
        """Replicas round-robin (partition i starts at broker i), first leaders elected from the ISR."""
        if any(tp.topic == topic for tp in image.partitions):
            raise ValueError(f"topic {topic!r} already exists")
        if not 1 <= replication_factor <= len(broker_ids):
            raise ValueError(f"replication_factor={replication_factor} needs between 1 and "
                             f"{len(broker_ids)} brokers (the cluster has {len(broker_ids)})")
        if partitions < 1:
            raise ValueError(f"a topic needs at least one partition, got {partitions}")
        out = []
        n = len(broker_ids)
        for i in range(partitions):
            replicas = tuple(broker_ids[(i + k) % n] for k in range(replication_factor))
            leader = self.policies.elect_leader(replicas, replicas, image.unfenced, False)
            leader = NO_LEADER if leader is None else leader
            out.append(PartitionChangeRecord(PartitionState(TopicPartition(topic, i), replicas, leader, 0, replicas, 0),
                                             "topic created", "isr" if leader != NO_LEADER else "none"))
        return out

    def register(self, image: ClusterImage, broker_id: int, incarnation: int) -> list[Any]:
        """A new process of ``broker_id``. Every restart in msglib follows a crash (no clean shutdown),
        so the broker leaves every ELR (KIP-966: it may have lost unflushed records)."""
        clean = broker_id not in image.brokers
        out: list[Any] = [RegisterBrokerRecord(broker_id, incarnation, clean)]
        if not clean and self.elr_enabled:
            for tp, st in sorted(image.partitions.items()):
                if broker_id in st.elr:
                    out.append(PartitionChangeRecord(
                        replace(st, elr=tuple(r for r in st.elr if r != broker_id),
                                partition_epoch=st.partition_epoch + 1),
                        f"broker {broker_id} restarted after a crash: out of the ELR"))
        return out

    def fence(self, image: ClusterImage, broker_id: int, why: str, unclean_shutdown: bool) -> list[Any]:
        """Fence ``broker_id``: it leaves every ISR (into the ELR while the ISR is below min.insync, unless it
        crashed), and partitions it led elect a new leader."""
        reg = image.brokers[broker_id]
        out: list[Any] = [BrokerFencingRecord(broker_id, reg.incarnation, True, why)]
        unfenced = image.unfenced - {broker_id}
        for tp, st in sorted(image.partitions.items()):
            if broker_id not in st.isr and st.leader != broker_id and broker_id not in st.elr:
                continue
            new_isr = tuple(r for r in st.isr if r != broker_id)
            change = self._change_isr(image, st, new_isr, unfenced, f"leader {broker_id} fenced ({why})"
                                      if st.leader == broker_id else f"broker {broker_id} fenced ({why})",
                                      unclean=(broker_id,) if unclean_shutdown else ())
            if change is not None:
                out.append(change)
        return out

    def unfence(self, image: ClusterImage, broker_id: int) -> list[Any]:
        """Unfence ``broker_id``; partitions without a leader that it replicates try an election."""
        reg = image.brokers[broker_id]
        out: list[Any] = [BrokerFencingRecord(broker_id, reg.incarnation, False, "caught up")]
        unfenced = image.unfenced | {broker_id}
        for tp, st in sorted(image.partitions.items()):
            if st.leader == NO_LEADER and broker_id in st.replicas:
                change = self._elect(image, st, st.isr, st.elr, unfenced, f"broker {broker_id} returned")
                if change is not None:
                    out.append(change)
        return out

    def alter_partition(self, image: ClusterImage, req: p.AlterPartition) -> tuple[str | None, list[Any]]:
        """A partition leader's ISR change (KIP-497), refused when it comes from a stale view."""
        st = image.partitions.get(req.tp)
        if st is None:
            return p.UNKNOWN_TOPIC_OR_PARTITION, []
        if st.leader != req.broker_id or st.leader_epoch != req.leader_epoch:
            return p.FENCED_LEADER_EPOCH, []  # not (or no longer) the leader
        if st.partition_epoch != req.partition_epoch:
            return p.INVALID_UPDATE_VERSION, []  # decided on a stale view of the ISR
        if req.broker_id not in req.new_isr or not set(req.new_isr) <= set(st.replicas):
            return p.INELIGIBLE_REPLICA, []
        if any(r not in image.unfenced for r in set(req.new_isr) - set(st.isr)):
            return p.INELIGIBLE_REPLICA, []  # a fenced broker may not join
        change = self._change_isr(image, st, tuple(req.new_isr), image.unfenced, "AlterPartition")
        return None, [] if change is None else [change]

    # -- helpers ----------------------------------------------------------------------------------------------
    def _min_isr(self, st: PartitionState) -> int:
        return min(self.config.min_insync_replicas, len(st.replicas))

    def _change_isr(self, image: ClusterImage, st: PartitionState, new_isr: tuple[int, ...], unfenced: set[int],
                    why: str, unclean: tuple[int, ...] = ()) -> PartitionChangeRecord | None:
        if self.elr_enabled:
            isr, elr = self.quorum_policies.elr_update(st.isr, new_isr, st.elr, self._min_isr(st),
                                                       unclean_shutdown=unclean)
            isr, elr = _ordered(st.replicas, isr), _ordered(st.replicas, elr)
        else:
            # Without ELR the ISR is never empty: its last member stays ("last replica standing").
            isr, elr = _ordered(st.replicas, new_isr) or st.isr, ()
        if st.leader != NO_LEADER and st.leader in isr and st.leader in unfenced:
            if (isr, elr) == (st.isr, st.elr):
                return None
            return PartitionChangeRecord(replace(st, isr=isr, elr=elr, partition_epoch=st.partition_epoch + 1), why)
        return self._elect(image, st, isr, elr, unfenced, why)

    def _elect(self, image: ClusterImage, st: PartitionState, isr: tuple[int, ...], elr: tuple[int, ...],
               unfenced: set[int], why: str) -> PartitionChangeRecord | None:
        """ISR -> ELR (only while the ISR is empty) -> last known leader (ISR and ELR empty) -> unclean: any."""
        unclean_ok = self.config.unclean_leader_election_enable
        source = "isr"
        leader = self._checked(st, self.policies.elect_leader(st.replicas, isr, unfenced,
                                                              unclean_ok and not self.elr_enabled), unfenced)
        if leader is not None and leader not in isr:
            source = "unclean"  # the election policy went outside the ISR
        if leader is None and self.elr_enabled:
            last = image.last_known_leader.get(st.tp)
            leader, source = self.quorum_policies.elect_partition_leader(st.replicas, isr, elr, unfenced, last,
                                                                         unclean_ok)
            self._checked(st, leader, unfenced)
        if leader is None:
            if st.leader == NO_LEADER and (isr, elr) == (st.isr, st.elr):
                return None  # still nobody, nothing changed: no record
            return PartitionChangeRecord(replace(st, leader=NO_LEADER, leader_epoch=st.leader_epoch + 1, isr=isr,
                                                 elr=elr, partition_epoch=st.partition_epoch + 1), why, "none")
        if source == "elr":  # the ELR member becomes the ISR (KIP-966)
            isr, elr = (leader,), tuple(r for r in elr if r != leader)
        elif source in ("unclean", "last_known_leader"):
            isr, elr = (leader,), ()
        return PartitionChangeRecord(replace(st, leader=leader, leader_epoch=st.leader_epoch + 1, isr=isr, elr=elr,
                                             partition_epoch=st.partition_epoch + 1), why, source)

    @staticmethod
    def _checked(st: PartitionState, leader: Any, unfenced: set[int]) -> int | None:
        if leader is not None and (leader not in st.replicas or leader not in unfenced):
            raise ValueError(f"elect_leader chose broker {leader} for {st.tp}, which is not an alive replica "
                             f"(replicas {list(st.replicas)}, alive {sorted(unfenced)}); return None when no "
                             f"replica may lead")
        return leader


# -- a controller ------------------------------------------------------------------------------------------------
class KRaftController(RaftNode):
    """One controller of the quorum; the *active* controller while it leads it."""

    def __init__(self, name: str, network: Network, voters: list[str], *, cluster_config: ClusterConfig,
                 policies: Policies, quorum_policies: QuorumPolicies, quorum_config: QuorumConfig,
                 on_commit: Callable[[str, int, Entry], None] | None = None,
                 observe: Callable[[str, str, dict], None] | None = None) -> None:
        self.cluster_config = cluster_config
        self.control = PartitionControl(cluster_config, policies, quorum_policies)
        self.image = ClusterImage()  # while leading: the whole log, committed or not
        self.last_contact: dict[int, float] = {}
        self.waiting: dict[int, list[tuple[str, Any]]] = {}  # offset -> answers sent once it is committed
        self._on_commit_cb = on_commit or (lambda name, offset, entry: None)
        super().__init__(name, network, voters, config=quorum_config, policies=quorum_policies, observe=observe)

    @property
    def active(self) -> bool:
        return self.alive and self.role == LEADER

    # -- quorum hooks -------------------------------------------------------------------------------------
    def on_become_leader(self) -> None:
        self.image = ClusterImage().replay(self.log)
        self.last_contact = {b: self.sim.now for b in self.image.brokers}  # a fresh session for everyone
        self.waiting = {}
        self.after(0.0, self._session_check, self.epoch)

    def on_resign(self) -> None:
        self.waiting = {}

    def on_commit(self, offset: int, entry: Entry) -> None:
        self._on_commit_cb(self.name, offset, entry)
        for src, answer in self.waiting.pop(offset, []):
            if self.role == LEADER:
                self.send(src, answer)

    def _answer_once_committed(self, src: str, answer: Any) -> None:
        """Send ``answer`` once everything this controller has written so far is committed: an answer
        (even a refusal) decided on records a failover could still erase is never sent."""
        last = len(self.log) - 1
        if last < self.high_watermark:
            self.send(src, answer)
        else:
            self.waiting.setdefault(last, []).append((src, answer))

    def on_crash(self, power_loss: bool) -> None:
        super().on_crash(power_loss)
        self.waiting = {}

    def write(self, records: list[Any]) -> int | None:
        """Append ``records`` (leader only) and apply them to the image; the offset of the last one."""
        offset = None
        for r in records:
            offset = self.append(r)
            if offset is None:
                return None
            self.image.apply(r)
        return offset

    def _session_check(self, epoch: int) -> None:
        if self.role != LEADER or self.epoch != epoch:
            return
        timeout = self.cluster_config.broker_session_timeout_ms
        for b, reg in sorted(self.image.brokers.items()):
            if not reg.fenced and self.sim.now - self.last_contact.get(b, self.sim.now) > timeout:
                self.write(self.control.fence(self.image, b, "session expired", unclean_shutdown=False))
        self.after(timeout / 3, self._session_check, epoch)

    # -- requests ---------------------------------------------------------------------------------------------
    def on_other_message(self, src: str, msg: Any) -> None:
        if not isinstance(msg, (p.BrokerHeartbeat, p.AlterPartition)):
            return
        if self.role != LEADER:
            self.send(src, NotController(self.leader if self.leader != self.name else None, msg))
        elif isinstance(msg, p.BrokerHeartbeat):
            self._on_heartbeat(src, msg)
        else:
            self._on_alter_partition(src, msg)

    def _on_heartbeat(self, src: str, hb: p.BrokerHeartbeat) -> None:
        b = hb.broker_id
        reg = self.image.brokers.get(b)
        if reg is not None and hb.incarnation < reg.incarnation:
            return  # a late heartbeat from a process that has since died
        if reg is None or reg.incarnation != hb.incarnation:
            if reg is not None and not reg.fenced:  # the old process is gone, and its memory with it
                self.write(self.control.fence(self.image, b, "restarted", unclean_shutdown=True))
            if self.write(self.control.register(self.image, b, hb.incarnation)) is None:
                return
            reg = self.image.brokers[b]
        self.last_contact[b] = self.sim.now
        hwm = self.high_watermark
        if reg.fenced and reg.offset < hwm and hb.metadata_offset >= hwm:
            self.write(self.control.unfence(self.image, b))  # registered, committed, caught up
        start = hb.metadata_offset
        if start > hwm:  # we learned the high-water mark after the broker did: nothing new to give
            self.send(src, p.BrokerHeartbeatResponse([], start, start, reg.fenced))
            return
        records = [e.record.state for e in self.log[start:hwm] if isinstance(e.record, PartitionChangeRecord)]
        self.send(src, p.BrokerHeartbeatResponse(records, start, hwm, reg.fenced))

    def _on_alter_partition(self, src: str, req: p.AlterPartition) -> None:
        """Decided on this controller's latest image; answered only once that image is committed (a
        refusal too: "your partition epoch is stale" must not rest on a record a failover erases)."""
        error, records = self.control.alter_partition(self.image, req)
        if records and self.write(records) is None:
            return
        self._answer_once_committed(src, p.AlterPartitionResponse(req.tp, error, self.image.partitions.get(req.tp)))

    # -- admin ----------------------------------------------------------------------------------------------------
    def create_topic(self, topic: str, partitions: int, replication_factor: int, broker_ids: list[int]) -> int:
        if self.role != LEADER:
            raise RuntimeError(f"{self.name} is not the active controller")
        offset = self.write(self.control.create_topic(self.image, topic, partitions, replication_factor, broker_ids))
        assert offset is not None
        return offset


# -- the quorum as the cluster sees it -------------------------------------------------------------------------------
class ControllerQuorum:
    """``voters`` controllers ``controller-0, controller-1, ...`` on the cluster's network, and what they have committed.

    ``partitions`` and ``brokers`` are the active controller's view (Kafka's controller acts on its
    in-memory state, committed or not) or, while no controller is active, the committed image.
    ``elections`` lists committed leader changes; ``timeline`` the active controller over time, with the
    gaps (``None``) in which no leader election can happen."""

    def __init__(self, network: Network, config: ClusterConfig, policies: Policies, broker_ids: list[int], *,
                 voters: int = 3, quorum_policies: QuorumPolicies | None = None) -> None:
        if voters < 1:
            raise ValueError(f"a KRaft quorum needs at least one controller, got controller_quorum_voters={voters}")
        self.sim = network.sim
        self.config = config
        self.broker_ids = list(broker_ids)
        self.names = [f"controller-{i}" for i in range(voters)]
        self.committed_log: list[Entry] = []
        self.committed = ClusterImage()
        self.elections: list[dict] = []
        self.violations: list[str] = []  # committed entries that changed (must stay empty)
        self.timeline: list[tuple[float, str | None]] = [(0.0, None)]
        quorum_config = quorum_config_for(config)
        self.nodes: dict[str, KRaftController] = {
            n: KRaftController(n, network, self.names, cluster_config=config, policies=policies,
                               quorum_policies=quorum_policies or QuorumPolicies(), quorum_config=quorum_config,
                               on_commit=self._committed, observe=self._observe) for n in self.names}

    # -- views -----------------------------------------------------------------------------------------------
    def active(self) -> KRaftController | None:
        """The active controller: the live quorum leader of the highest epoch (None during a failover)."""
        leaders = [c for c in self.nodes.values() if c.active]
        return max(leaders, key=lambda c: c.epoch) if leaders else None

    def _view(self) -> ClusterImage:
        c = self.active()
        return c.image if c is not None else self.committed

    @property
    def partitions(self) -> dict[TopicPartition, PartitionState]:
        return self._view().partitions

    @property
    def brokers(self) -> dict[int, BrokerRegistration]:
        return self.committed.brokers

    def no_controller_ms(self, until: float | None = None) -> float:
        """Simulated ms without an active controller (after the first one was elected)."""
        until = self.sim.now if until is None else until
        total, first = 0.0, True
        for (t, who), (t2, _) in zip(self.timeline, self.timeline[1:] + [(until, None)]):
            if who is None and not first:
                total += max(0.0, t2 - t)
            first = first and who is None
        return total

    def status(self) -> str:
        c = self.active()
        if c is None:
            return "no active controller: a failover is in progress, so no partition leader can be elected"
        return f"active controller {c.name} (quorum epoch {c.epoch}), metadata log committed up to {c.high_watermark}"

    # -- admin -----------------------------------------------------------------------------------------------
    def create_topic(self, topic: str, partitions: int, replication_factor: int) -> None:
        """Ask the active controller to create ``topic``; outside a simulation callback, wait until committed."""
        if not self.sim.in_callback:
            self.sim.run_until(lambda: self.active() is not None, until=self.sim.now + 5_000)
        c = self.active()
        if c is None:
            raise RuntimeError("no active controller (the quorum is electing one): let the cluster run a little "
                               "(cluster.run(200)) and create the topic again")
        offset = c.create_topic(topic, partitions, replication_factor, self.broker_ids)
        if not self.sim.in_callback:
            self.sim.run_until(lambda: len(self.committed_log) > offset, until=self.sim.now + 5_000)

    # -- bookkeeping ----------------------------------------------------------------------------------------------
    def _committed(self, node: str, offset: int, entry: Entry) -> None:
        if offset < len(self.committed_log):
            if self.committed_log[offset] != entry:
                self.violations.append(f"t={self.sim.now:.1f} ms: {node} committed {entry} at offset {offset}, "
                                       f"where {self.committed_log[offset]} was committed before")
            return
        if offset != len(self.committed_log):  # cannot happen: commits come in order
            self.violations.append(f"t={self.sim.now:.1f} ms: {node} committed offset {offset} before "
                                   f"offset {len(self.committed_log)}")
            return
        self.committed_log.append(entry)
        self.committed.apply(entry.record)
        r = entry.record
        if isinstance(r, PartitionChangeRecord) and r.election is not None and r.why != "topic created":
            self.elections.append({"time": self.sim.now, "tp": r.state.tp,
                                   "leader": None if r.state.leader == NO_LEADER else r.state.leader,
                                   "why": r.why, "unclean": r.election == "unclean", "source": r.election,
                                   "controller": node})

    def _observe(self, node: str, what: str, value: dict) -> None:
        if what in ("leader", "resign", "candidate"):
            self.sim.schedule(0.0, self._note_active)

    def _note_active(self) -> None:
        c = self.active()
        who = c.name if c is not None else None
        if self.timeline[-1][1] != who:
            self.timeline.append((self.sim.now, who))

    def note_crash(self) -> None:
        """Called by the cluster after it crashed a controller (crashes are not quorum transitions)."""
        self._note_active()


def quorum_config_for(config: ClusterConfig) -> QuorumConfig:
    """The quorum's timers, from the cluster's ``controller_quorum_*`` settings (Kafka's names)."""
    fetch_timeout = config.controller_quorum_fetch_timeout_ms
    return QuorumConfig(fetch_interval_ms=fetch_timeout / 8, fetch_timeout_ms=fetch_timeout,
                        election_timeout_ms=config.controller_quorum_election_timeout_ms,
                        check_quorum_ms=1.5 * fetch_timeout)
