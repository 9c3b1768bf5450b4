"""The transaction coordinator: the broker-side half of transactions (KIP-98).

One :class:`TransactionCoordinator` node serves every transactional id of a
cluster. (In Kafka each broker coordinates the ids whose ``__transaction_state``
partition it leads; msglib keeps one coordinator node, which can be crashed and
restarted on its own, like the group coordinator.) For each transactional id
it keeps a :class:`~msglib.txn.state_log.TransactionMetadata` in its log, and
moves it through the state machine of ``states.py``:

==================  ================================================================
InitProducerId      a new id: a producer id, epoch 0. A known id: the *same* producer
                    id and a *bumped* epoch, which fences every older instance. If an
                    older instance left a transaction open, it is aborted first
                    (Ongoing -> PrepareEpochFence -> PrepareAbort) and the new instance
                    is told CONCURRENT_TRANSACTIONS: retry once the abort is done
AddPartitionsToTxn  Empty/Complete* -> Ongoing (a new transaction starts its clock),
                    or Ongoing -> Ongoing with more partitions
AddOffsetsToTxn     the same, for a consumer group's offsets
EndTxn              Ongoing -> PrepareCommit / PrepareAbort, *logged*, then answered:
                    from here on the outcome is decided, whatever crashes
markers             WriteTxnMarkers to the leader of every partition the transaction
                    touched (and to the group coordinator for its offsets), retried
                    until each is written; then CompleteCommit / CompleteAbort
timeout timer       an Ongoing transaction older than its timeout is aborted with an
                    epoch bump: its producer is fenced
expiration timer    an id unused for transactional.id.expiration.ms becomes Dead
==================  ================================================================

Fencing is by epoch: every request carries ``(producer_id, producer_epoch)``,
and an epoch older than the coordinator's is answered PRODUCER_FENCED. The
markers carry the new epoch to the partitions, whose producer state then
refuses the old epoch's batches too (INVALID_PRODUCER_EPOCH).

**Transaction version 2** (KIP-890, Kafka 4.0; ``TxnConfig.transaction_version``,
docs/transactions.md T18-T22) changes two rows of the table: EndTxn also bumps the
epoch (every transaction has its own, the markers carry it, the answer gives it
to the producer), and AddPartitionsToTxn comes from the partition leader, when
the first transactional batch of a transaction reaches it, instead of from the
producer. A late write of an ended transaction is then refused by the partition
itself. With version 1, ``verify_only`` requests from the leaders (KIP-890 part
1) check that the partition is in the open transaction.

The coordinator is built on the one coordinator runtime (``msglib.coordinator``,
docs/coordinator-runtime.md): its state is a
:class:`~msglib.txn.state_log.TransactionStateShard` replayed from the
``__transaction_state`` log; its timers are the runtime's keyed timers
(``abort-timed-out``, ``remove-expired``, a marker retry per transactional id),
which a crash forgets.

Seam: ``can_transition(current, target) -> bool`` (default: Kafka's table).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from msglib import protocol as proto
from msglib.coordinator import CoordinatorNode
from msglib.protocol import TopicPartition, broker_node
from msglib.protocol.errors import IllegalStateError
from msglib.protocol.metadata import ClientMetadata
from msglib.sim.core import Timer
from msglib.txn.config import TxnConfig
from msglib.txn.group_offsets import group_coordinator_of
from msglib.txn.state_log import TOPIC, TransactionMetadata, TransactionStateLog, TransactionStateShard
from msglib.txn.states import (COMPLETE_ABORT, COMPLETE_COMMIT, DEAD, EMPTY, ONGOING, PREPARE_ABORT, PREPARE_COMMIT,
                               PREPARE_EPOCH_FENCE, TransactionState, can_transition)

# Marker errors after which the marker is not needed any more (a newer epoch already ended it).
_MARKER_DONE = (None, proto.INVALID_PRODUCER_EPOCH)


@dataclass
class _MarkerJob:
    """The markers of one decided transaction still to be written."""

    transactional_id: str
    producer_id: int
    producer_epoch: int
    commit: bool
    partitions: set[TopicPartition]
    groups: set[str]
    outstanding: dict[int, tuple[str, list]] = field(default_factory=dict)  # request id -> (node, what)
    retry_timer: Timer | None = None


class TransactionCoordinator(CoordinatorNode):
    """See the module docstring. Built on the one coordinator runtime (``self.runtime``: the
    ``__transaction_state`` log, its :class:`~msglib.txn.state_log.TransactionStateShard`, the timers);
    ``trace`` records every state change and marker (for pictures and tests)."""

    def __init__(self, cluster: Any, config: TxnConfig | None = None, *, name: str = proto.TXN_COORDINATOR,
                 can_transition: Callable[[Any, Any], bool] | None = None) -> None:
        fast = getattr(getattr(cluster, "config", None), "broker_heartbeat_interval_ms", 2_000) < 1_000
        config = config or (TxnConfig.fast() if fast else TxnConfig())
        super().__init__(name, cluster.network, TransactionStateShard(), TOPIC, segment_bytes=config.segment_bytes)
        self.cluster = cluster
        self.config = config
        self.can_transition = can_transition or globals()["can_transition"]
        self.state_log = TransactionStateLog(self.runtime)
        self.jobs: dict[str, _MarkerJob] = {}
        self.handlers = {
            proto.InitProducerIdRequest: self._on_init_producer_id,
            proto.AddPartitionsToTxnRequest: self._on_add_partitions,
            proto.AddOffsetsToTxnRequest: self._on_add_offsets,
            proto.EndTxnRequest: self._on_end_txn,
            proto.WriteTxnMarkersResponse: self._on_markers_response,
            proto.MetadataResponse: lambda src, msg: self.metadata.on_response(msg),
        }
        self.start()

    # ------------------------------------------------------------------ life cycle
    @property
    def txns(self) -> dict[str, TransactionMetadata]:
        """Every transactional id's metadata: the shard's table, rebuilt from the log on every load."""
        return self.runtime.shard.txns

    def _boot(self) -> None:
        """Load the state log (again: after its storage was replaced, as ``msglib serve`` does), then boot."""
        self.start()

    def boot(self) -> None:
        """After every load (start, restart): finish what was decided, arm the timers."""
        self.jobs = {}
        self._ids = 0
        self.metadata = ClientMetadata(self, self.cluster.broker_ids, self.config.request_timeout_ms,
                                       self.config.retry_backoff_ms, on_update=self._retry_all)
        for meta in self.txns.values():
            if meta.state in (PREPARE_COMMIT, PREPARE_ABORT):
                self._write_markers(meta)       # decided before the crash: finish it
        self.runtime.schedule("abort-timed-out", self.config.transaction_abort_timed_out_transaction_cleanup_interval_ms,
                              self._timeout_timer)
        self.runtime.schedule("remove-expired", self.config.transaction_remove_expired_transaction_cleanup_interval_ms,
                              self._expiration_timer)

    def on_crash(self, power_loss: bool) -> None:
        super().on_crash(power_loss)            # timers cancelled, log abandoned, shard reset
        self.jobs = {}

    # ------------------------------------------------------------------ helpers
    def _record(self, meta: TransactionMetadata | None, event: str, **details: Any) -> None:
        entry: dict[str, Any] = {}
        if meta is not None:
            entry.update(transactional_id=meta.transactional_id, state=str(meta.state),
                         producer_id=meta.producer_id, producer_epoch=meta.producer_epoch,
                         partitions=sorted(str(tp) for tp in meta.partitions), groups=sorted(meta.groups))
        entry.update(details)
        self.runtime.record(event, **entry)

    def _transition(self, meta: TransactionMetadata, target: TransactionState, persist: bool = True) -> None:
        """Move ``meta`` to ``target`` (if the table allows it) and log the new state before going on."""
        if not self.can_transition(meta.state, target):
            raise IllegalStateError(f"transaction {meta.transactional_id!r} cannot move from {meta.state} to "
                                    f"{target}")
        meta.state = target
        meta.last_update_ms = self.sim.now
        if persist:
            self.state_log.write(meta)
        self._record(meta, f"-> {target}")

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def _check_producer(self, meta: TransactionMetadata | None, producer_id: int, epoch: int) -> str | None:
        if meta is None or meta.producer_id != producer_id:
            return proto.INVALID_PRODUCER_ID_MAPPING
        if epoch < meta.producer_epoch:
            return proto.PRODUCER_FENCED        # a newer instance, or the timeout, bumped the epoch
        if epoch > meta.producer_epoch:
            return proto.INVALID_PRODUCER_ID_MAPPING
        return None

    def transaction(self, transactional_id: str) -> TransactionMetadata | None:
        """The coordinator's view of one transactional id (for tests and pictures)."""
        return self.txns.get(transactional_id)

    # ------------------------------------------------------------------ InitProducerId
    def _on_init_producer_id(self, src: str, req: proto.InitProducerIdRequest) -> None:
        def reply(error: str | None, meta: TransactionMetadata | None = None) -> None:
            pid, epoch = (meta.producer_id, meta.producer_epoch) if meta and error is None else (-1, -1)
            self.send(src, proto.InitProducerIdResponse(req.request_id, error, pid, epoch))

        if not 0 < req.transaction_timeout_ms <= self.config.transaction_max_timeout_ms:
            return reply(proto.INVALID_TRANSACTION_TIMEOUT)
        meta = self.txns.get(req.transactional_id)
        if meta is None:
            self.state_log.write(TransactionMetadata(req.transactional_id, self.state_log.allocate_producer_id(), 0,
                                                     req.transaction_timeout_ms, EMPTY, last_update_ms=self.sim.now))
            meta = self.txns[req.transactional_id]     # replayed into the shard's table
            self._record(meta, "new producer id")
            return reply(None, meta)
        if meta.state in (PREPARE_COMMIT, PREPARE_ABORT):
            return reply(proto.CONCURRENT_TRANSACTIONS)       # the last transaction is completing: retry
        if meta.state == ONGOING:
            # An older instance left a transaction open: fence it and abort its transaction first.
            self._fence_and_abort(meta, "a new instance of the transactional id started")
            return reply(proto.CONCURRENT_TRANSACTIONS)
        meta.producer_epoch += 1                             # Empty / Complete*: the new instance's epoch
        meta.timeout_ms = req.transaction_timeout_ms
        meta.partitions, meta.groups, meta.txn_start_ms = set(), set(), -1.0
        self._transition(meta, EMPTY)
        reply(None, meta)

    def _fence_and_abort(self, meta: TransactionMetadata, why: str) -> None:
        """Ongoing -> PrepareEpochFence -> PrepareAbort with the epoch bumped, then write ABORT markers.

        The bumped epoch is in the markers: once they are written, the old
        instance's batches are refused by the partitions, and its requests
        here are answered PRODUCER_FENCED.
        """
        self._transition(meta, PREPARE_EPOCH_FENCE, persist=False)
        meta.producer_epoch += 1
        self._record(meta, "fenced", reason=why)
        self._transition(meta, PREPARE_ABORT)
        self._write_markers(meta)

    # ------------------------------------------------------------------ AddPartitions / AddOffsets
    def _add(self, meta: TransactionMetadata, partitions: list[TopicPartition], groups: list[str]) -> str | None:
        if meta.state in (PREPARE_COMMIT, PREPARE_ABORT):
            return proto.CONCURRENT_TRANSACTIONS       # the previous transaction is still writing its markers
        if meta.state == ONGOING and set(partitions) <= meta.partitions and set(groups) <= meta.groups:
            return None                              # nothing new (a retry)
        if meta.state != ONGOING:
            meta.partitions, meta.groups, meta.txn_start_ms = set(), set(), self.sim.now
        meta.partitions |= set(partitions)
        meta.groups |= set(groups)
        self._transition(meta, ONGOING)
        return None

    def _on_add_partitions(self, src: str, req: proto.AddPartitionsToTxnRequest) -> None:
        """From the producer (transaction version 1), or from a partition leader about to append a
        transactional batch (KIP-890): ``verify_only`` (part 1) checks that the partitions are in the
        open transaction of this producer id and epoch; otherwise (version 2) adds them, starting the
        transaction if none is open. A write from an older epoch is answered PRODUCER_FENCED."""
        meta = self.txns.get(req.transactional_id)
        error = self._check_producer(meta, req.producer_id, req.producer_epoch)
        partitions = [TopicPartition(*tp) for tp in req.partitions]
        if error is None and req.verify_only:
            if meta.state != ONGOING or not set(partitions) <= meta.partitions:
                error = proto.INVALID_TXN_STATE      # not in the open transaction: a late or stray write
        elif error is None:
            error = self._add(meta, partitions, [])
        if req.from_broker:
            self._record(meta, "leader verified" if req.verify_only else "leader added partitions",
                         leader=src, targets=[str(tp) for tp in partitions], error=error)
        self.send(src, proto.AddPartitionsToTxnResponse(req.request_id, error))

    def _on_add_offsets(self, src: str, req: proto.AddOffsetsToTxnRequest) -> None:
        meta = self.txns.get(req.transactional_id)
        error = self._check_producer(meta, req.producer_id, req.producer_epoch)
        if error is None:
            error = self._add(meta, [], [req.group_id])
        self.send(src, proto.AddOffsetsToTxnResponse(req.request_id, error))

    # ------------------------------------------------------------------ EndTxn
    def _on_end_txn(self, src: str, req: proto.EndTxnRequest) -> None:
        """Decide the outcome. Version 2 (KIP-890) also bumps the epoch: the markers carry the new
        epoch, so a late write of the ended transaction is refused by every partition, and the answer
        gives the producer its epoch for the next transaction."""
        meta = self.txns.get(req.transactional_id)
        error = self._check_producer(meta, req.producer_id, req.producer_epoch)
        v2 = req.transaction_version >= 2
        decided = {True: (PREPARE_COMMIT, COMPLETE_COMMIT), False: (PREPARE_ABORT, COMPLETE_ABORT)}
        if error == proto.PRODUCER_FENCED and v2 and meta.transaction_version >= 2 and \
                req.producer_epoch == meta.prev_producer_epoch:
            # A retry of an EndTxn that bumped the epoch (its answer was lost): answer it again.
            if meta.state == decided[req.commit][0]:
                error = proto.CONCURRENT_TRANSACTIONS
            elif meta.state in (decided[req.commit][1], EMPTY):
                error = None
            else:
                error = proto.INVALID_TXN_STATE
        elif error is None:
            if meta.state == ONGOING:
                meta.transaction_version = 2 if v2 else 1
                if v2:
                    self._bump(meta)
                self._transition(meta, decided[req.commit][0])   # logged: the outcome is decided now
                self._write_markers(meta)
            elif meta.state == decided[req.commit][0] or (v2 and meta.state in (PREPARE_COMMIT, PREPARE_ABORT)):
                error = proto.CONCURRENT_TRANSACTIONS   # a retry, or (v2) the previous one is writing its markers
            elif meta.state == decided[req.commit][1] and not v2:
                error = None                                     # a retry of a finished one: same answer
            elif v2 and not req.commit and meta.state in (EMPTY, COMPLETE_COMMIT, COMPLETE_ABORT):
                # Nothing was added (the leaders refused every write): no markers, but still a new epoch.
                meta.transaction_version = 2
                meta.partitions, meta.groups, meta.txn_start_ms = set(), set(), -1.0
                self._bump(meta)
                self._transition(meta, EMPTY)
            else:
                error = proto.INVALID_TXN_STATE                    # e.g. commit after the abort was decided
        if error is None and v2:
            self.send(src, proto.EndTxnResponse(req.request_id, None, meta.producer_id, meta.producer_epoch))
        else:
            self.send(src, proto.EndTxnResponse(req.request_id, error))

    def _bump(self, meta: TransactionMetadata) -> None:
        """Transaction version 2: every EndTxn moves the producer to a new epoch (logged with the state)."""
        meta.prev_producer_epoch = meta.producer_epoch
        meta.producer_epoch += 1
        self._record(meta, "epoch bumped", reason="EndTxn (transaction version 2)")

    # ------------------------------------------------------------------ markers
    def _write_markers(self, meta: TransactionMetadata) -> None:
        commit = meta.state == PREPARE_COMMIT
        job = _MarkerJob(meta.transactional_id, meta.producer_id, meta.producer_epoch, commit,
                         set(meta.partitions), set(meta.groups))
        self.runtime.cancel(("marker-retry", meta.transactional_id))
        self.jobs[meta.transactional_id] = job
        self._send_markers(job)

    def _send_markers(self, job: _MarkerJob) -> None:
        """Send the markers still missing (and not already on their way), grouped by leader."""
        busy = {x for _, what in job.outstanding.values() for x in what}
        by_leader: dict[int, list[TopicPartition]] = {}
        missing_leader = False
        for tp in sorted(job.partitions - busy):
            leader = self.metadata.leader(tp)
            if leader is None:
                missing_leader = True
                continue
            by_leader.setdefault(leader, []).append(tp)
        for leader, tps in by_leader.items():
            self._send_marker_request(job, broker_node(leader), tps, [])
        groups = sorted(job.groups - busy)
        if groups:
            self._send_marker_request(job, group_coordinator_of(self.cluster).name, [], groups)
        if missing_leader:
            self.metadata.request_update()
            self._retry_later(job)
        if not job.partitions and not job.groups:
            self._complete(job)

    def _send_marker_request(self, job: _MarkerJob, node: str, tps: list[TopicPartition], groups: list[str]) -> None:
        rid = self._next_id()
        job.outstanding[rid] = (node, list(tps) + list(groups))
        self.send(node, proto.WriteTxnMarkersRequest(rid, job.producer_id, job.producer_epoch, 0, job.commit,
                                                  list(tps), list(groups)))
        self.runtime.schedule(("marker-timeout", rid), self.config.request_timeout_ms, self._marker_timeout,
                              job.transactional_id, rid)
        self._record(self.txns.get(job.transactional_id), "markers sent", to=node,
                     targets=[str(x) for x in tps] + list(groups), commit=job.commit)

    def _job_for(self, rid: int) -> _MarkerJob | None:
        for job in self.jobs.values():
            if rid in job.outstanding:
                return job
        return None

    def _on_markers_response(self, src: str, resp: proto.WriteTxnMarkersResponse) -> None:
        job = self._job_for(resp.request_id)
        if job is None:
            return                                   # a late answer to a retried request
        del job.outstanding[resp.request_id]
        self.runtime.cancel(("marker-timeout", resp.request_id))
        for target, error in resp.errors.items():
            if error in _MARKER_DONE:
                job.partitions.discard(target)
                job.groups.discard(target)
            else:
                self.metadata.request_update()       # probably a leader change: ask who leads now
        if not job.partitions and not job.groups:
            self._complete(job)
        elif not job.outstanding:
            self._retry_later(job)

    def _marker_timeout(self, transactional_id: str, rid: int) -> None:
        job = self.jobs.get(transactional_id)
        if job is None or rid not in job.outstanding:
            return
        del job.outstanding[rid]
        self.metadata.request_update()
        self._retry_later(job)

    def _retry_later(self, job: _MarkerJob) -> None:
        if job.retry_timer is None:
            job.retry_timer = self.runtime.schedule(("marker-retry", job.transactional_id),
                                                    self.config.retry_backoff_ms, self._retry, job.transactional_id)

    def _retry(self, transactional_id: str) -> None:
        job = self.jobs.get(transactional_id)
        if job is None:
            return
        job.retry_timer = None
        self._send_markers(job)

    def _retry_all(self) -> None:
        for job in list(self.jobs.values()):
            if not job.outstanding and job.retry_timer is None and (job.partitions or job.groups):
                self._send_markers(job)

    def _complete(self, job: _MarkerJob) -> None:
        """Every marker is written: PrepareCommit -> CompleteCommit (or the abort's)."""
        if self.jobs.get(job.transactional_id) is not job:
            return
        del self.jobs[job.transactional_id]
        meta = self.txns.get(job.transactional_id)
        if meta is None or meta.state not in (PREPARE_COMMIT, PREPARE_ABORT):
            return
        self._transition(meta, COMPLETE_COMMIT if meta.state == PREPARE_COMMIT else COMPLETE_ABORT)
        self.state_log.maybe_compact()

    # ------------------------------------------------------------------ timers
    def _timeout_timer(self) -> None:
        """Abort (with an epoch bump) every transaction open longer than its timeout."""
        now = self.sim.now
        for meta in list(self.txns.values()):
            if meta.state == ONGOING and now - meta.txn_start_ms > meta.timeout_ms:
                self._fence_and_abort(meta, f"transaction timed out after {meta.timeout_ms:g} ms")
        self.runtime.schedule("abort-timed-out", self.config.transaction_abort_timed_out_transaction_cleanup_interval_ms,
                              self._timeout_timer)

    def _expiration_timer(self) -> None:
        self.expire_transactional_ids()
        self.runtime.schedule("remove-expired", self.config.transaction_remove_expired_transaction_cleanup_interval_ms,
                              self._expiration_timer)

    def expire_transactional_ids(self) -> list[str]:
        """Forget ids with no transaction for ``transactional_id_expiration_ms`` (-> Dead, tombstoned)."""
        now = self.sim.now
        gone = []
        for tid, meta in list(self.txns.items()):
            if meta.state in (EMPTY, COMPLETE_COMMIT, COMPLETE_ABORT) and \
                    now - meta.last_update_ms >= self.config.transactional_id_expiration_ms:
                self._transition(meta, DEAD, persist=False)
                self.state_log.delete(tid)             # the tombstone's replay drops it from the table
                gone.append(tid)
        return gone

    def describe(self) -> str:
        return "\n".join(self.txns[t].describe() for t in sorted(self.txns)) or "no transactional ids"


def transaction_coordinator_for(cluster: Any, config: TxnConfig | None = None,
                                **seams: Any) -> TransactionCoordinator:
    """The transaction coordinator of a :class:`~msglib.cluster.Cluster` (created on first use)."""
    existing = getattr(cluster, "_txn_coordinator", None)
    if existing is not None:
        if config is not None or seams:
            raise ValueError("this cluster already has a transaction coordinator; pass config/seams on first use "
                             "(msglib.txn.transaction_coordinator_for(cluster, ...)) before creating producers")
        return existing
    coordinator = TransactionCoordinator(cluster, config, **seams)
    cluster._txn_coordinator = coordinator
    return coordinator
