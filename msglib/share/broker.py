"""A broker that serves share groups: topics, share-partitions, and the ShareFetch / ShareAcknowledge requests.

``ShareBroker`` is the share-partition leader for every partition of its topics. It keeps one
:class:`~msglib.share.partition.SharePartition` per (share group, partition), loaded from the share coordinator
(``__share_group_state``) the first time it is needed, and written back there after every change *before* it
answers (persist, then reply). A broker crash loses the in-memory share-partitions and their acquisition
locks; the next request reloads them from the share coordinator, where ACQUIRED records are AVAILABLE again.
"""
from __future__ import annotations

import zlib
from typing import Any

from msglib.protocol import share as sp
from msglib.protocol.errors import COORDINATOR_NOT_AVAILABLE, UNKNOWN_MEMBER_ID, UNKNOWN_TOPIC_OR_PARTITION
from msglib.protocol.structs import TopicPartition
from msglib.share.config import ShareGroupConfig
from msglib.share.coordinator import ShareCoordinator, ShareGroupCoordinator
from msglib.share.partition import SharePartition, Transition
from msglib.share.policies import transition as default_transition
from msglib.share.record import AcknowledgeType, RecordState
from msglib.sim import Network, Simulation

# a gap (type 0) marks offsets with no record (compacted away): they are archived like a reject
_WIRE_ACK = {sp.GAP: AcknowledgeType.REJECT, sp.ACCEPT: AcknowledgeType.ACCEPT,
             sp.RELEASE: AcknowledgeType.RELEASE, sp.REJECT: AcknowledgeType.REJECT}


class ShareBroker:
    """Topics (in-memory partitions of ``(key, value)``), share-partitions, and the two coordinators."""

    def __init__(self, sim: Simulation | None = None, *, config: ShareGroupConfig | None = None,
                 transition: Transition = default_transition, network: Network | None = None) -> None:
        self.sim = sim if sim is not None else Simulation(0)
        self.network = network if network is not None else Network(self.sim)
        self.config = config or ShareGroupConfig()
        self.transition = transition
        self.topics: dict[str, list[list[tuple[Any, Any]]]] = {}
        self.share_coordinator = ShareCoordinator(self.network)
        self.group_coordinator = ShareGroupCoordinator(self.network, self.partition_count, config=self.config,
                                                       on_member_removed=self._member_removed)
        self.share_partitions: dict[tuple[str, TopicPartition], SharePartition] = {}
        self.alive = True

    # -- topics --------------------------------------------------------------------------------------
    def create_topic(self, topic: str, partitions: int = 1) -> None:
        if partitions < 1:
            raise ValueError(f"a topic needs at least 1 partition, got {partitions}")
        self.topics.setdefault(topic, [[] for _ in range(partitions)])

    def partition_count(self, topic: str) -> int:
        return len(self.topics.get(topic, []))

    def produce(self, topic: str, value: Any, key: Any = None, partition: int | None = None) -> tuple[int, int]:
        """Append one record; returns (partition, offset). Without ``partition``: by key hash, else round robin."""
        if topic not in self.topics:
            self.create_topic(topic)
        parts = self.topics[topic]
        if partition is None:     # a stable hash (not Python's salted hash()), so a seed replays the run
            partition = (zlib.crc32(repr(key).encode()) if key is not None else sum(len(p) for p in parts)) \
                % len(parts)
        parts[partition].append((key, value))
        return partition, len(parts[partition]) - 1

    # -- share-partitions ----------------------------------------------------------------------------
    def share_partition(self, group: str, tp: TopicPartition) -> SharePartition:
        """The group's share-partition for ``tp``, loaded from the share coordinator on first use."""
        found = self.share_partitions.get((group, tp))
        if found is not None:
            return found
        if tp.topic not in self.topics or not 0 <= tp.partition < len(self.topics[tp.topic]):
            raise KeyError(f"unknown partition {tp}: create the topic first (broker.create_topic)")
        log = self.topics[tp.topic][tp.partition]
        p = SharePartition(self.sim, lambda: len(log), config=self.config, transition=self.transition,
                           name=f"{group}/{tp}", on_change=lambda part: self._persist(group, tp, part))
        error, snapshot = self.share_coordinator.read_state(group, tp)
        if error is not None:
            raise ConnectionError(error)
        p.restore(snapshot)
        self.share_partitions[(group, tp)] = p
        return p

    def _persist(self, group: str, tp: TopicPartition, part: SharePartition) -> None:
        error = self.share_coordinator.write_state(group, tp, part.snapshot())
        if error is not None:
            raise ConnectionError(error)

    def _member_removed(self, group: str, member: str) -> None:
        for (g, _), part in list(self.share_partitions.items()):
            if g == group:
                part.release_all(member)

    # -- requests ------------------------------------------------------------------------------------
    def _refuse(self, req: Any) -> str | None:
        if not self.alive or not self.share_coordinator.alive:
            return COORDINATOR_NOT_AVAILABLE
        if not self.group_coordinator.is_member(req.group_id, req.member_id):
            return UNKNOWN_MEMBER_ID
        return None

    def _acknowledge(self, group: str, member: str, tp: TopicPartition,
                     batches: list[sp.AcknowledgementBatch]) -> str | None:
        try:
            part = self.share_partition(group, tp)
        except KeyError:
            return UNKNOWN_TOPIC_OR_PARTITION
        error = None
        for batch in batches:
            for offset, wire in batch.types():
                e = part.acknowledge(member, offset, _WIRE_ACK[wire])
                error = error or e
        return error

    def share_fetch(self, req: sp.ShareFetchRequest) -> sp.ShareFetchResponse:
        """Apply the piggy-backed acknowledgements, then acquire up to ``max_records`` records."""
        refused = self._refuse(req)
        if refused is not None:
            return sp.ShareFetchResponse(error_code=refused)
        out: dict[TopicPartition, sp.ShareFetchPartitionData] = {}
        for tp, batches in req.acknowledgements.items():
            out[tp] = sp.ShareFetchPartitionData(tp, acknowledge_error_code=self._acknowledge(
                req.group_id, req.member_id, tp, batches))
        budget = req.max_records
        for tp in req.partitions:
            data = out.setdefault(tp, sp.ShareFetchPartitionData(tp))
            if budget <= 0:
                continue
            try:
                part = self.share_partition(req.group_id, tp)
            except KeyError:
                data.error_code = UNKNOWN_TOPIC_OR_PARTITION
                continue
            got = part.acquire(req.member_id, budget)
            budget -= len(got)
            log = self.topics[tp.topic][tp.partition]
            for r in got:
                key, value = log[r.offset]
                data.records.append((r.offset, key, value))
                last = data.acquired_records[-1] if data.acquired_records else None
                if last and last.last_offset == r.offset - 1 and last.delivery_count == r.delivery_count:
                    last.last_offset = r.offset
                else:
                    data.acquired_records.append(sp.AcquiredRecords(r.offset, r.offset, r.delivery_count))
        return sp.ShareFetchResponse(responses=list(out.values()))

    def share_acknowledge(self, req: sp.ShareAcknowledgeRequest) -> sp.ShareAcknowledgeResponse:
        refused = self._refuse(req)
        if refused is not None:
            return sp.ShareAcknowledgeResponse(error_code=refused)
        return sp.ShareAcknowledgeResponse(partitions={
            tp: self._acknowledge(req.group_id, req.member_id, tp, batches)
            for tp, batches in req.acknowledgements.items()})

    def heartbeat(self, req: sp.ShareGroupHeartbeatRequest) -> sp.ShareGroupHeartbeatResponse:
        return self.group_coordinator.heartbeat(req)

    # -- faults --------------------------------------------------------------------------------------
    def crash(self) -> None:
        """The share-partition leader dies: in-memory share-partitions and their locks are gone."""
        self.alive = False
        for part in self.share_partitions.values():
            part.cancel_locks()
        self.share_partitions.clear()

    def restart(self) -> None:
        self.alive = True

    # -- for pictures and checks ---------------------------------------------------------------------
    def states(self, group: str, tp: TopicPartition) -> list[RecordState]:
        """Every offset's state, from 0 to the log end (what a picture of the window draws)."""
        part = self.share_partition(group, tp)
        return [part.state_of(o) for o in range(len(self.topics[tp.topic][tp.partition]))]
