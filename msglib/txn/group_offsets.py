"""Transactional offset commits at the group coordinator (KIP-98's TxnOffsetCommit, KIP-447's fencing).

A transaction that consumed records commits the consumer's offsets *inside*
the transaction (``producer.send_offsets_to_transaction``), so the offsets
move if and only if the output is committed. At the group coordinator this
takes three things, which :func:`attach` adds to a
:class:`~msglib.groups.coordinator.GroupCoordinator` (msglib's groups stay
free of transactions; this module is the adapter):

1. **TxnOffsetCommit**: checked with the coordinator's own
   ``validate_offset_commit`` against the member id and generation the
   consumer had (KIP-447: a member the group has moved on from -- a zombie --
   is refused), then kept *pending*, per (group, producer id), in a log of
   its own: nobody reads pending offsets.
2. **the transaction's marker** (WriteTxnMarkers naming the group): COMMIT
   turns the pending offsets into committed ones; ABORT drops them.
3. **OffsetFetch** for a partition with pending offsets is answered
   UNSTABLE_OFFSET_COMMIT: a consumer that just got the partition must wait
   until the transaction ends, or it would start from an offset that is about
   to move and process those records a second time.

The pending offsets survive a coordinator crash (their log is on the
coordinator's disk; it is replayed on the first request after a restart).
"""
from __future__ import annotations

import json
from typing import Any

from msglib import protocol as proto
from msglib.groups.coordinator import Group, GroupCoordinator, coordinator_for
from msglib.log import Log, LogConfig, Record
from msglib.log.storage import MemoryStorage
from msglib.protocol import OffsetAndMetadata, TopicPartition

PendingKey = tuple[str, int]   # (group id, producer id)


class TxnOffsets:
    """The pending transactional offsets of one group coordinator."""

    def __init__(self, coordinator: GroupCoordinator) -> None:
        self.coordinator = coordinator
        self.storage = MemoryStorage(f"{coordinator.name}/__consumer_offsets-pending")
        self.pending: dict[PendingKey, dict[TopicPartition, OffsetAndMetadata]] = {}
        self._loaded_incarnation: int | None = None
        self._ensure_loaded()

    # -- the log of pending offsets ---------------------------------------------------------
    def _ensure_loaded(self) -> None:
        """After a crash and restart of the coordinator, rebuild ``pending`` from the log."""
        if self._loaded_incarnation == self.coordinator.incarnation:
            return
        self._loaded_incarnation = self.coordinator.incarnation
        config = LogConfig(cleanup_policy="compact", delete_retention_ms=0)
        self.log = Log(config=config, storage=self.storage, clock=lambda: self.coordinator.sim.now,
                       topic="__consumer_offsets-pending", partition=0)
        self.pending = {}
        for r in self.log.records():
            group_id, pid = json.loads(r.key)
            if r.value is None:
                self.pending.pop((group_id, pid), None)
            else:
                self.pending[(group_id, pid)] = {TopicPartition(t, p): OffsetAndMetadata(o, m, e)
                                                 for t, p, o, m, e in json.loads(r.value)}

    def _write(self, key: PendingKey, offsets: dict[TopicPartition, OffsetAndMetadata] | None) -> None:
        value = None if offsets is None else json.dumps(
            [[tp.topic, tp.partition, om.offset, om.metadata or "", om.leader_epoch]
             for tp, om in sorted(offsets.items())]).encode()
        self.log.append([Record(json.dumps(list(key)).encode(), value, int(self.coordinator.sim.now))])
        self.log.flush()

    def unstable(self, group_id: str, tps: list[TopicPartition] | None) -> bool:
        """Does a transaction have offsets pending for any of ``tps`` (None: any partition) of the group?"""
        for (g, _), offsets in self.pending.items():
            if g == group_id and (tps is None or any(tp in offsets for tp in tps)):
                return True
        return False

    # -- requests ----------------------------------------------------------------------------
    def on_txn_offset_commit(self, src: str, req: proto.TxnOffsetCommitRequest) -> None:
        self._ensure_loaded()
        coord = self.coordinator
        group = coord.groups.get(req.group_id)
        error = None
        if group is None:
            if req.generation_id >= 0 or req.member_id:
                error = proto.ILLEGAL_GENERATION
            else:   # a producer committing for a group with no members (no consumer group_metadata)
                group = coord.groups[req.group_id] = Group(req.group_id, state_since=coord.sim.now)
        if error is None:
            error = coord.validate_offset_commit(group, req.member_id, req.generation_id)
        if error is None:
            key = (req.group_id, req.producer_id)
            merged = dict(self.pending.get(key, {}))
            merged.update({TopicPartition(*tp): OffsetAndMetadata(*om) for tp, om in req.offsets.items()})
            self._write(key, merged)
            self.pending[key] = merged
        if group is not None:
            coord._record(group, "txn commit pending" if error is None else "txn commit rejected",
                          member=req.member_id, member_generation=req.generation_id, error=error,
                          producer_id=req.producer_id, offsets={str(tp): om.offset for tp, om in req.offsets.items()})
        coord.send(src, proto.TxnOffsetCommitResponse(req.request_id, error))

    def on_markers(self, src: str, req: proto.WriteTxnMarkersRequest) -> None:
        """COMMIT: the pending offsets become the group's committed offsets. ABORT: they are dropped."""
        self._ensure_loaded()
        coord = self.coordinator
        errors: dict[Any, str | None] = {}
        for group_id in req.groups:
            key = (group_id, req.producer_id)
            offsets = self.pending.get(key)
            if offsets:
                if req.commit:
                    coord.store.commit(group_id, offsets)   # first the offsets, then forget them: a crash in
                    coord.store.maybe_compact()             # between repeats the (same) commit, never loses it
                self._write(key, None)
                del self.pending[key]
                group = coord.groups.get(group_id)
                if group is not None:
                    coord._record(group, "txn offsets committed" if req.commit else "txn offsets aborted",
                                  producer_id=req.producer_id,
                                  offsets={str(tp): om.offset for tp, om in offsets.items()})
            errors[group_id] = None
        coord.send(src, proto.WriteTxnMarkersResponse(req.request_id, req.producer_id, errors))

    def wrap_offset_fetch(self, original) -> Any:
        def on_offset_fetch(src: str, req: proto.OffsetFetchRequest) -> None:
            self._ensure_loaded()
            if self.unstable(req.group_id, req.partitions):
                self.coordinator.send(src, proto.OffsetFetchResponse(req.request_id, proto.UNSTABLE_OFFSET_COMMIT))
                return
            original(src, req)
        return on_offset_fetch


def attach(coordinator: GroupCoordinator) -> TxnOffsets:
    """Teach a group coordinator transactional offset commits (once; later calls return the same)."""
    existing = getattr(coordinator, "txn_offsets", None)
    if existing is not None:
        return existing
    txn = TxnOffsets(coordinator)
    coordinator.txn_offsets = txn
    coordinator._handlers[proto.TxnOffsetCommitRequest] = txn.on_txn_offset_commit
    coordinator._handlers[proto.WriteTxnMarkersRequest] = txn.on_markers
    handlers = coordinator._handlers
    handlers[proto.OffsetFetchRequest] = txn.wrap_offset_fetch(handlers[proto.OffsetFetchRequest])
    return txn


def group_coordinator_of(cluster: Any) -> GroupCoordinator:
    """The cluster's group coordinator, able to take transactional offset commits."""
    coordinator = coordinator_for(cluster)
    attach(coordinator)
    return coordinator
