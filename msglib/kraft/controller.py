"""The active controller: it turns broker and admin requests into metadata records (KIP-631).

Three parts, read in this order:

- :class:`MetadataImage`: the cluster's metadata as the replay of metadata records (brokers with their
  epoch and fencing; topics; partitions with leader, leader epoch, ISR and ELR). Controllers and
  brokers build the same image from the same log prefix.
- :class:`ReplicationControl`: the decisions, from an image to the records that change it: fence or
  unfence a broker, register one, create a topic, change a partition's ISR. Leader election and ELR
  maintenance are the pure ``policies.elect_partition_leader`` and ``policies.elr_update``. No network:
  the ELR scenario (``scenario.elr_scenario``) runs it directly.
- :class:`QuorumController`: a quorum voter (``raft.RaftNode``) that, while it leads, answers
  ``BrokerRegistration``, ``BrokerHeartbeat`` and ``CreateTopic`` requests by appending records, and
  fences brokers whose heartbeats stop for ``broker.session.timeout.ms``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from msglib.kraft.policies import Policies
from msglib.kraft.raft import RaftNode
from msglib.kraft.records import (NO_LEADER, Entry, FenceBrokerRecord, MetadataRecord, PartitionChangeRecord,
                                  PartitionRecord, RegisterBrokerRecord, TopicRecord, UnfenceBrokerRecord)


# -- the image --------------------------------------------------------------------------------------------
@dataclass
class BrokerState:
    broker_epoch: int
    fenced: bool = True


@dataclass
class PartitionState:
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    leader: int
    leader_epoch: int = 0
    elr: tuple[int, ...] = ()
    last_known_elr: tuple[int, ...] = ()
    last_known_leader: int | None = None


@dataclass
class MetadataImage:
    """The metadata that replaying records up to ``offset`` (exclusive) builds."""

    offset: int = 0
    brokers: dict[int, BrokerState] = field(default_factory=dict)
    topics: set[str] = field(default_factory=set)
    partitions: dict[tuple[str, int], PartitionState] = field(default_factory=dict)

    def apply(self, record: MetadataRecord) -> None:
        self.offset += 1
        if isinstance(record, RegisterBrokerRecord):
            self.brokers[record.broker_id] = BrokerState(record.broker_epoch, fenced=True)
        elif isinstance(record, FenceBrokerRecord):
            if record.broker_id in self.brokers:
                self.brokers[record.broker_id].fenced = True
        elif isinstance(record, UnfenceBrokerRecord):
            if record.broker_id in self.brokers:
                self.brokers[record.broker_id].fenced = False
        elif isinstance(record, TopicRecord):
            self.topics.add(record.name)
        elif isinstance(record, PartitionRecord):
            self.partitions[(record.topic, record.partition)] = PartitionState(
                record.replicas, record.isr, record.leader, record.leader_epoch, record.elr, record.last_known_elr,
                record.leader if record.leader != NO_LEADER else None)
        elif isinstance(record, PartitionChangeRecord):
            p = self.partitions[(record.topic, record.partition)]
            if record.isr is not None:
                p.isr = record.isr
            if record.elr is not None:
                p.elr = record.elr
            if record.last_known_elr is not None:
                p.last_known_elr = record.last_known_elr
            if record.leader is not None and record.leader != p.leader:
                p.leader = record.leader
                p.leader_epoch += 1
                if record.leader != NO_LEADER:
                    p.last_known_leader = record.leader

    def replay(self, entries: Iterable[Entry]) -> "MetadataImage":
        for entry in entries:
            self.apply(entry.record)
        return self

    @property
    def unfenced(self) -> set[int]:
        return {b for b, s in self.brokers.items() if not s.fenced}

    def summary(self) -> dict:
        """Plain data, for histories and pictures."""
        return {"offset": self.offset,
                "brokers": {b: ("fenced" if s.fenced else "unfenced") for b, s in sorted(self.brokers.items())},
                "partitions": {f"{t}-{p}": {"leader": s.leader, "isr": list(s.isr), "elr": list(s.elr)}
                               for (t, p), s in sorted(self.partitions.items())}}


# -- the decisions ------------------------------------------------------------------------------------------
@dataclass
class ReplicationControl:
    """Records that change an image, decided with the policies (Kafka's ``ReplicationControlManager`` and
    ``ClusterControlManager``, much reduced). Every method returns the records; the caller appends them."""

    policies: Policies = field(default_factory=Policies)
    min_insync_replicas: int = 2
    unclean_leader_election_enable: bool = False
    eligible_leader_replicas: bool = True  # eligible.leader.replicas.version=1 (default for new 4.1+ clusters)

    def register_broker(self, image: MetadataImage, broker_id: int, broker_epoch: int,
                        clean_shutdown: bool = True) -> list[MetadataRecord]:
        out: list[MetadataRecord] = [RegisterBrokerRecord(broker_id, broker_epoch, clean_shutdown)]
        if not clean_shutdown and self.eligible_leader_replicas:
            for (topic, part), p in sorted(image.partitions.items()):
                if broker_id in p.elr:  # lost unflushed data: no longer eligible (KIP-966)
                    out.append(PartitionChangeRecord(topic, part, elr=tuple(r for r in p.elr if r != broker_id)))
        return out

    def unfence_broker(self, image: MetadataImage, broker_id: int) -> list[MetadataRecord]:
        state = image.brokers[broker_id]
        out: list[MetadataRecord] = [UnfenceBrokerRecord(broker_id, state.broker_epoch)]
        unfenced = image.unfenced | {broker_id}
        for (topic, part), p in sorted(image.partitions.items()):
            if p.leader == NO_LEADER and broker_id in p.replicas:
                change = self._elect(topic, part, p, p.isr, p.elr, unfenced)
                if change is not None:
                    out.append(change)
        return out

    def fence_broker(self, image: MetadataImage, broker_id: int) -> list[MetadataRecord]:
        state = image.brokers[broker_id]
        out: list[MetadataRecord] = [FenceBrokerRecord(broker_id, state.broker_epoch)]
        unfenced = image.unfenced - {broker_id}
        for (topic, part), p in sorted(image.partitions.items()):
            if broker_id not in p.isr and p.leader != broker_id:
                continue
            new_isr = tuple(r for r in p.isr if r != broker_id)
            out.append(self._change_isr(topic, part, p, new_isr, unfenced))
        return out

    def alter_partition(self, image: MetadataImage, topic: str, part: int,
                        new_isr: Iterable[int]) -> list[MetadataRecord]:
        """The partition leader asks for a new ISR (AlterPartition); the controller applies the ELR rules."""
        p = image.partitions[(topic, part)]
        return [self._change_isr(topic, part, p, tuple(sorted(new_isr)), image.unfenced)]

    def create_topic(self, image: MetadataImage, name: str, partitions: int,
                     replication_factor: int) -> list[MetadataRecord]:
        brokers = sorted(image.unfenced)
        if name in image.topics:
            raise ValueError(f"topic {name!r} already exists; choose another name")
        if len(brokers) < replication_factor:
            raise ValueError(f"replication factor {replication_factor} needs as many unfenced brokers; "
                             f"{len(brokers)} are unfenced")
        out: list[MetadataRecord] = [TopicRecord(name)]
        for i in range(partitions):
            replicas = tuple(brokers[(i + k) % len(brokers)] for k in range(replication_factor))
            out.append(PartitionRecord(name, i, replicas, replicas, replicas[0]))
        return out

    # -- helpers ------------------------------------------------------------------------------------------
    def _change_isr(self, topic: str, part: int, p: PartitionState, new_isr: tuple[int, ...],
                    unfenced: set[int]) -> PartitionChangeRecord:
        if self.eligible_leader_replicas:
            isr, elr = self.policies.elr_update(p.isr, new_isr, p.elr, self.min_insync_replicas)
        else:
            # Without ELR, KRaft never empties the ISR: the last member stays as "last replica standing".
            isr, elr = (new_isr if new_isr else p.isr), ()
        if p.leader != NO_LEADER and p.leader in isr and p.leader in unfenced:
            return PartitionChangeRecord(topic, part, isr=tuple(isr), elr=tuple(elr))
        change = self._elect(topic, part, p, tuple(isr), tuple(elr), unfenced)
        if change is None:
            return PartitionChangeRecord(topic, part, leader=NO_LEADER, isr=tuple(isr), elr=tuple(elr))
        return change

    def _elect(self, topic: str, part: int, p: PartitionState, isr: tuple[int, ...], elr: tuple[int, ...],
               unfenced: set[int]) -> PartitionChangeRecord | None:
        leader, source = self.policies.elect_partition_leader(
            p.replicas, isr, elr, unfenced, p.last_known_leader, self.unclean_leader_election_enable)
        if leader is None:
            return None
        if source == "elr":  # the ELR member becomes the ISR (KIP-966)
            isr, elr = (leader,), tuple(r for r in elr if r != leader)
        elif source == "unclean":
            isr, elr = (leader,), ()
        return PartitionChangeRecord(topic, part, leader=leader, isr=tuple(isr), elr=tuple(elr),
                                     unclean=source == "unclean")


# -- requests to the controller -------------------------------------------------------------------------------
@dataclass(frozen=True)
class BrokerRegistration:
    broker_id: int
    clean_shutdown: bool = True


@dataclass(frozen=True)
class BrokerRegistrationResponse:
    broker_id: int
    broker_epoch: int  # -1: NOT_CONTROLLER


@dataclass(frozen=True)
class BrokerHeartbeat:
    broker_id: int
    broker_epoch: int
    metadata_offset: int


@dataclass(frozen=True)
class BrokerHeartbeatResponse:
    error: str | None  # None, "NOT_CONTROLLER" or "STALE_BROKER_EPOCH"
    fenced: bool = True


@dataclass(frozen=True)
class CreateTopic:
    name: str
    partitions: int = 1
    replication_factor: int = 3


@dataclass(frozen=True)
class ControllerConfig:
    broker_session_timeout_ms: float = 180.0   # broker.session.timeout.ms, scaled down like every timer here
    min_insync_replicas: int = 2
    unclean_leader_election_enable: bool = False
    eligible_leader_replicas: bool = True


class QuorumController(RaftNode):
    """A controller: a quorum voter that, while it leads the quorum, is the *active* controller."""

    def __init__(self, name: str, network, voters: list[str], *, controller_config: ControllerConfig | None = None,
                 **kwargs: Any) -> None:
        self.controller_config = controller_config or ControllerConfig()
        super().__init__(name, network, voters, **kwargs)
        cc = self.controller_config
        self.control = ReplicationControl(self.policies, cc.min_insync_replicas, cc.unclean_leader_election_enable,
                                          cc.eligible_leader_replicas)
        self.image = MetadataImage()      # the active controller's view: its whole log, committed or not
        self.last_contact: dict[int, float] = {}
        self.committed = MetadataImage()  # every controller: the committed prefix

    # -- quorum hooks -----------------------------------------------------------------------------------
    def on_become_leader(self) -> None:
        self.image = MetadataImage().replay(self.log)
        self.last_contact = {b: self.sim.now for b in self.image.brokers}  # a fresh session for everyone
        self.after(0.0, self._session_check, self.epoch)

    def on_commit(self, offset: int, entry: Entry) -> None:
        if offset == self.committed.offset:
            self.committed.apply(entry.record)
        else:  # a restart or a truncation: rebuild from the log
            self.committed = MetadataImage().replay(self.log[:offset + 1])

    def on_crash(self, power_loss: bool) -> None:
        super().on_crash(power_loss)
        self.committed = MetadataImage()

    def _write(self, records: list[MetadataRecord]) -> None:
        for r in records:
            if self.append(r) is None:
                return
            self.image.apply(r)

    def _session_check(self, epoch: int) -> None:
        if self.role != "leader" or self.epoch != epoch:
            return
        timeout = self.controller_config.broker_session_timeout_ms
        for b, state in sorted(self.image.brokers.items()):
            if not state.fenced and self.sim.now - self.last_contact.get(b, self.sim.now) > timeout:
                self._write(self.control.fence_broker(self.image, b))
        self.after(self.config.fetch_interval_ms, self._session_check, epoch)

    # -- requests --------------------------------------------------------------------------------------
    def on_other_message(self, src: str, msg: Any) -> None:
        leading = self.role == "leader"
        if isinstance(msg, BrokerRegistration):
            if not leading:
                self.send(src, BrokerRegistrationResponse(msg.broker_id, -1))
                return
            epoch = len(self.log)  # the broker epoch is the offset of its registration record
            self._write(self.control.register_broker(self.image, msg.broker_id, epoch, msg.clean_shutdown))
            self.last_contact[msg.broker_id] = self.sim.now
            self.send(src, BrokerRegistrationResponse(msg.broker_id, epoch))
        elif isinstance(msg, BrokerHeartbeat):
            if not leading:
                self.send(src, BrokerHeartbeatResponse("NOT_CONTROLLER"))
                return
            state = self.image.brokers.get(msg.broker_id)
            if state is None or state.broker_epoch != msg.broker_epoch:
                self.send(src, BrokerHeartbeatResponse("STALE_BROKER_EPOCH"))
                return
            self.last_contact[msg.broker_id] = self.sim.now
            if state.fenced and msg.metadata_offset > state.broker_epoch:  # caught up past its registration
                self._write(self.control.unfence_broker(self.image, msg.broker_id))
            self.send(src, BrokerHeartbeatResponse(None, self.image.brokers[msg.broker_id].fenced))
        elif isinstance(msg, CreateTopic) and leading:
            try:
                records = self.control.create_topic(self.image, msg.name, msg.partitions, msg.replication_factor)
            except ValueError:
                return  # already exists, or too few brokers: the admin retries
            self._write(records)


