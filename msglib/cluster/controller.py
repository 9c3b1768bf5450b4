"""The controller: the one place partition leadership and ISRs are decided (KRaft-like).

It keeps, for every partition, a :class:`PartitionState` (replicas, leader,
leader epoch, ISR, partition epoch) and an append-only *metadata log* of
every change. Brokers heartbeat to it every ``broker_heartbeat_interval_ms``
with how much of that log they have applied; the reply carries what they
have not seen yet (this is how KRaft brokers follow the metadata log).

- A broker silent for ``broker_session_timeout_ms`` is *fenced*: it leaves
  every ISR (except where it is the last member, so the ISR is never empty),
  and partitions it led get a new leader from what remains of the ISR
  (``elect_leader``), or none.
- A broker that comes back with a new incarnation (it restarted) has lost
  its in-memory state: its old registration is fenced the same way. It is
  unfenced once it has caught up with the metadata log, and partitions
  without a leader may then elect it.
- Leaders change ISRs only through :class:`AlterPartition`, which carries the
  leader epoch and partition epoch the leader saw: a deposed leader, or one
  with a stale view, is refused. This is what stops a leader cut off from
  the cluster from shrinking the ISR to itself and acknowledging writes
  alone.

This is ``ClusterConfig(controller="single_node")``: one controller node that never
fails, no eligible leader replicas. The default, ``controller="kraft"``, replicates the
same decisions through a controller quorum (``kraft_controller.py``, docs/kraft.md).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from msglib import protocol as p
from msglib.cluster.config import ClusterConfig
from msglib.cluster.policies import Policies
from msglib.protocol import (CONTROLLER, NO_LEADER, PartitionState, TopicPartition,  # noqa: F401 (re-exported)
                             broker_node)
from msglib.sim.network import Network, Node


@dataclass
class BrokerRegistration:
    """What the controller knows of one broker: which run of it (incarnation), when it last heartbeated,
    and whether it is fenced (out of every ISR, not electable)."""

    incarnation: int
    last_heartbeat_ms: float
    fenced: bool


class Controller(Node):
    """The single controller: partition states (leader, epoch, ISR), broker liveness, the metadata log."""

    def __init__(self, network: Network, config: ClusterConfig, policies: Policies,
                 broker_ids: list[int]) -> None:
        super().__init__(CONTROLLER, network)
        self.config = config
        self.policies = policies
        self.broker_ids = list(broker_ids)
        self.brokers: dict[int, BrokerRegistration] = {}
        self.partitions: dict[TopicPartition, PartitionState] = {}
        self.metadata_log: list[PartitionState] = []
        self.elections: list[dict] = []  # every leader change, for notebooks and tests
        self.after(self.config.broker_session_timeout_ms / 3, self._check_sessions)

    # -- admin ---------------------------------------------------------------------------
    def create_topic(self, topic: str, partitions: int, replication_factor: int) -> None:
        """Assign replicas round-robin (partition i starts at broker i) and elect first leaders."""
        if any(tp.topic == topic for tp in self.partitions):
            raise ValueError(f"topic {topic!r} already exists")
        if not 1 <= replication_factor <= len(self.broker_ids):
            raise ValueError(f"replication_factor={replication_factor} needs between 1 and "
                             f"{len(self.broker_ids)} brokers (the cluster has {len(self.broker_ids)})")
        if partitions < 1:
            raise ValueError(f"a topic needs at least one partition, got {partitions}")
        n = len(self.broker_ids)
        for i in range(partitions):
            replicas = tuple(self.broker_ids[(i + k) % n] for k in range(replication_factor))
            tp = TopicPartition(topic, i)
            alive = self._alive()
            leader = self.policies.elect_leader(replicas, replicas, alive, False)
            leader = NO_LEADER if leader is None else leader
            self._record(PartitionState(tp, replicas, leader, 0, replicas, 0))

    # -- messages ------------------------------------------------------------------------
    def on_message(self, src: str, msg) -> None:
        if isinstance(msg, p.BrokerHeartbeat):
            self._on_heartbeat(src, msg)
        elif isinstance(msg, p.AlterPartition):
            self._on_alter_partition(src, msg)

    def _on_heartbeat(self, src: str, hb: p.BrokerHeartbeat) -> None:
        reg = self.brokers.get(hb.broker_id)
        if reg is None or reg.incarnation != hb.incarnation:
            if reg is not None and not reg.fenced:
                self._fence(hb.broker_id, "restarted")  # the old process is gone, and its memory with it
            reg = self.brokers[hb.broker_id] = BrokerRegistration(hb.incarnation, self.sim.now, True)
        reg.last_heartbeat_ms = self.sim.now
        if reg.fenced and hb.metadata_offset >= len(self.metadata_log):
            self._unfence(hb.broker_id)
        start = min(hb.metadata_offset, len(self.metadata_log))
        self.send(src, p.BrokerHeartbeatResponse(self.metadata_log[start:], start, len(self.metadata_log), reg.fenced))

    def _on_alter_partition(self, src: str, req: p.AlterPartition) -> None:
        st = self.partitions.get(req.tp)
        error = None
        if st is None:
            error = p.UNKNOWN_TOPIC_OR_PARTITION
        elif st.leader != req.broker_id or st.leader_epoch != req.leader_epoch:
            error = p.FENCED_LEADER_EPOCH  # not (or no longer) the leader
        elif st.partition_epoch != req.partition_epoch:
            error = p.INVALID_UPDATE_VERSION  # decided on a stale view of the ISR
        elif req.broker_id not in req.new_isr or not set(req.new_isr) <= set(st.replicas):
            error = p.INELIGIBLE_REPLICA
        elif any(self._fenced(r) for r in set(req.new_isr) - set(st.isr)):
            error = p.INELIGIBLE_REPLICA  # a fenced broker may not join
        if error is None:
            st = self._record(replace(st, isr=_ordered(st.replicas, req.new_isr),
                                      partition_epoch=st.partition_epoch + 1))
        self.send(src, p.AlterPartitionResponse(req.tp, error, st))

    # -- liveness ------------------------------------------------------------------------
    def _check_sessions(self) -> None:
        for b, reg in self.brokers.items():
            if not reg.fenced and self.sim.now - reg.last_heartbeat_ms > self.config.broker_session_timeout_ms:
                self._fence(b, "session expired")
        self.after(self.config.broker_session_timeout_ms / 3, self._check_sessions)

    def _alive(self) -> set[int]:
        return {b for b, reg in self.brokers.items() if not reg.fenced}

    def _fenced(self, b: int) -> bool:
        reg = self.brokers.get(b)
        return reg is None or reg.fenced

    def _fence(self, b: int, why: str) -> None:
        self.brokers[b].fenced = True
        alive = self._alive()
        for st in list(self.partitions.values()):
            if b not in st.isr and st.leader != b:
                continue
            isr = tuple(r for r in st.isr if r != b) or st.isr  # never empty: the last member stays
            if st.leader == b:
                self._elect(st, isr, alive, why=f"leader {b} fenced ({why})")
            elif isr != st.isr:
                self._record(replace(st, isr=isr, partition_epoch=st.partition_epoch + 1))

    def _unfence(self, b: int) -> None:
        self.brokers[b].fenced = False
        alive = self._alive()
        for st in list(self.partitions.values()):
            if st.leader == NO_LEADER and b in st.replicas:
                self._elect(st, st.isr, alive, why=f"broker {b} returned")

    def _elect(self, st: PartitionState, isr: tuple[int, ...], alive: set[int], why: str) -> None:
        leader = self.policies.elect_leader(st.replicas, isr, alive, self.config.unclean_leader_election_enable)
        if leader is not None and (leader not in st.replicas or leader not in alive):
            raise ValueError(f"elect_leader chose broker {leader} for {st.tp}, which is not an alive replica "
                             f"(replicas {list(st.replicas)}, alive {sorted(alive)}); return None when no "
                             f"replica may lead")
        if leader is None:
            if st.leader == NO_LEADER and isr == st.isr:
                return  # still nobody: no change to record
            self._record(replace(st, leader=NO_LEADER, leader_epoch=st.leader_epoch + 1, isr=isr,
                                 partition_epoch=st.partition_epoch + 1))
            self.elections.append({"time": self.sim.now, "tp": st.tp, "leader": None, "why": why,
                                   "unclean": False})
            return
        unclean = leader not in isr
        new_isr = (leader,) if unclean else isr
        self._record(replace(st, leader=leader, leader_epoch=st.leader_epoch + 1, isr=new_isr,
                             partition_epoch=st.partition_epoch + 1))
        self.elections.append({"time": self.sim.now, "tp": st.tp, "leader": leader, "why": why,
                               "unclean": unclean})

    def _record(self, st: PartitionState) -> PartitionState:
        self.partitions[st.tp] = st
        self.metadata_log.append(st)
        return st


def _ordered(replicas: tuple[int, ...], members) -> tuple[int, ...]:
    members = set(members)
    return tuple(r for r in replicas if r in members)
