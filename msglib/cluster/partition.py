"""One broker's replica of one partition: its log, and what it knows as leader or follower.

As **leader** the replica appends producers' batches (stamping its leader
epoch), tracks each follower's log end offset from the follower's fetches,
computes the high-water mark (HW) from the ISR, and proposes ISR changes.
As **follower** it appends what it fetched and takes the leader's HW, capped
by its own LEO. Either way the producer state (idempotence) follows the log.

Invariants (checked by the tests under random faults):

- ``high_watermark <= log_end_offset`` on every replica, and it never
  decreases while a replica leads;
- the leader's HW never passes the LEO of any member of its (maximal) ISR;
- a record at an offset below the HW of the leader is on every ISR member;
- ``last_stable_offset <= high_watermark``, and no open transaction starts
  below it (what read_committed consumers may read is settled).

The networking (who sends what when) is in ``broker.py``; this module only
decides.
"""
from __future__ import annotations

from dataclasses import dataclass

from msglib import protocol as p
from msglib.cluster.config import ClusterConfig
from msglib.cluster.policies import FollowerState, Policies, SequenceVerdict
from msglib.cluster.producer_state import ProducerStateManager
from msglib.protocol import NO_LEADER, PartitionState, TopicPartition
from msglib.log import Log
from msglib.log.records import NO_PRODUCER_ID, ControlType, RecordBatch

LEADER, FOLLOWER = "leader", "follower"


@dataclass
class Follower:
    """The leader's view of one follower (Kafka's Replica state)."""

    log_end_offset: int = -1  # -1: no fetch from it since this replica became leader
    last_caught_up_ms: float = 0.0
    last_fetch_ms: float = -1e18  # never
    last_fetch_leader_leo: int = -1


class Partition:
    """One replica of one partition on one broker: its log, HW and LSO, and (as leader) its followers."""

    def __init__(self, broker_id: int, tp: TopicPartition, log: Log, config: ClusterConfig,
                 policies: Policies, high_watermark: int = 0) -> None:
        self.broker_id = broker_id
        self.tp = tp
        self.log = log
        self.config = config
        self.policies = policies
        self.role: str | None = None  # LEADER, FOLLOWER, or None before any metadata
        self.leader = NO_LEADER
        self.leader_epoch = -1
        self.partition_epoch = -1
        self.replicas: tuple[int, ...] = ()
        self.isr: frozenset[int] = frozenset()  # committed by the controller
        self.pending_isr: frozenset[int] | None = None  # proposed, not yet committed
        self.high_watermark = min(high_watermark, log.log_end_offset)
        self.epoch_start_offset = 0
        self.followers: dict[int, Follower] = {}
        self.producers = ProducerStateManager()
        self.producers.rebuild(log.batches())

    @property
    def log_end_offset(self) -> int:
        return self.log.log_end_offset

    @property
    def is_leader(self) -> bool:
        return self.role == LEADER

    @property
    def maximal_isr(self) -> frozenset[int]:
        """The ISR the HW must respect: committed members plus any being added.

        While a shrink is pending, the member being removed still counts: the
        controller may refuse the change (KIP-497's "maximal ISR").
        """
        return self.isr | self.pending_isr if self.pending_isr is not None else self.isr

    @property
    def effective_min_isr(self) -> int:
        return min(self.config.min_insync_replicas, len(self.replicas))

    # -- role changes ------------------------------------------------------------------------
    def make_leader(self, st: PartitionState, now: float) -> None:
        """Become leader in ``st.leader_epoch``: stamp the epoch into the cache at our LEO."""
        self.role = LEADER
        self._take(st)
        self.log.leader_epoch_cache.assign(st.leader_epoch, self.log_end_offset)
        self.epoch_start_offset = self.log_end_offset
        self.pending_isr = None
        # Followers must prove their position by fetching; ISR members get the
        # benefit of the doubt for one lag period, as in Kafka.
        self.followers = {r: Follower(last_caught_up_ms=now if r in self.isr else 0.0)
                          for r in self.replicas if r != self.broker_id}
        self.maybe_advance_high_watermark()

    def make_follower(self, st: PartitionState) -> None:
        self.role = FOLLOWER
        self._take(st)
        self.pending_isr = None
        self.followers = {}

    def update_state(self, st: PartitionState) -> None:
        """A metadata change that keeps our role (an ISR change, usually). The controller's newer
        state settles any ISR change we proposed: applied or not, this is now the ISR."""
        self._take(st)
        self.pending_isr = None

    def _take(self, st: PartitionState) -> None:
        self.leader = st.leader
        self.leader_epoch = st.leader_epoch
        self.partition_epoch = st.partition_epoch
        self.replicas = st.replicas
        self.isr = frozenset(st.isr)

    # -- transactions ------------------------------------------------------------------------
    @property
    def last_stable_offset(self) -> int:
        """Where read_committed consumers stop: before the earliest open transaction, and below the HW."""
        lso = self.policies.last_stable_offset(self.high_watermark, dict(self.producers.ongoing))
        if not isinstance(lso, int) or isinstance(lso, bool):
            raise TypeError(f"last_stable_offset returned {lso!r}; it must return an int offset")
        return lso

    def append_marker(self, producer_id: int, producer_epoch: int, commit: bool,
                      coordinator_epoch: int = 0) -> tuple[str | None, int]:
        """Write a COMMIT or ABORT marker ending ``producer_id``'s transaction. Returns ``(error, offset)``.

        A marker from an older producer epoch than this partition knows is stale
        (the producer was fenced since): refused. Markers are written with
        acks=all, so they too need ``min.insync.replicas``.
        """
        if len(self.isr) < self.effective_min_isr:
            return p.NOT_ENOUGH_REPLICAS, -1
        entry = self.producers.get(producer_id)
        if entry is not None and producer_epoch < entry.producer_epoch:
            return p.INVALID_PRODUCER_EPOCH, -1
        marker = RecordBatch.control(ControlType.COMMIT if commit else ControlType.ABORT, producer_id=producer_id,
                                     producer_epoch=producer_epoch, coordinator_epoch=coordinator_epoch,
                                     timestamp=int(self.log.clock()))
        info = self.log.append(marker, leader_epoch=self.leader_epoch)
        self.producers.complete_txn(producer_id, producer_epoch, commit, info.first_offset)
        self.maybe_advance_high_watermark()
        return None, info.first_offset

    # -- leader: appends -------------------------------------------------------------------
    def append_to_leader(self, batch: RecordBatch, acks: int) -> tuple[str | None, int, int]:
        """Append a producer's batch. Returns ``(error, first_offset, last_offset)``.

        acks=all needs at least ``min.insync.replicas`` in the ISR *before*
        appending (afterwards would be too late to refuse). An idempotent
        batch goes through the sequence check first: a duplicate is answered
        with the offsets it got the first time, and nothing is appended. A
        plain batch from a producer id that has a transaction open here is
        refused (INVALID_TXN_STATE): it would land inside the transaction.
        """
        if acks == -1 and len(self.isr) < self.effective_min_isr:
            return p.NOT_ENOUGH_REPLICAS, -1, -1
        if batch.is_control:
            return p.CORRUPT_MESSAGE + ": producers may not write control batches (markers)", -1, -1
        pid = batch.producer_id
        if pid != NO_PRODUCER_ID and not batch.is_transactional and self.producers.has_open_transaction(pid):
            return p.INVALID_TXN_STATE, -1, -1
        if pid != NO_PRODUCER_ID:
            verdict = self.policies.check_sequence(self.producers.get(pid), batch.producer_epoch,
                                                   batch.base_sequence, batch.last_sequence)
            if not isinstance(verdict, SequenceVerdict):
                raise TypeError(f"check_sequence returned {verdict!r}; it must return a SequenceVerdict whose "
                                f"action is 'append', 'duplicate', 'out_of_order' or 'invalid_epoch'")
            if verdict.action == "duplicate":
                dup = verdict.duplicate_of
                return None, dup.first_offset, dup.last_offset
            if verdict.action == "out_of_order":
                return p.OUT_OF_ORDER_SEQUENCE_NUMBER, -1, -1
            if verdict.action == "invalid_epoch":
                return p.INVALID_PRODUCER_EPOCH, -1, -1
            if verdict.action != "append":
                raise ValueError(f"check_sequence returned {verdict!r}; expected a SequenceVerdict whose action "
                                 f"is 'append', 'duplicate', 'out_of_order' or 'invalid_epoch'")
        info = self.log.append(batch, leader_epoch=self.leader_epoch)
        if pid != NO_PRODUCER_ID:
            self.producers.update(pid, batch.producer_epoch, batch.base_sequence, batch.last_sequence,
                                  info.first_offset, info.last_offset, batch.is_transactional)
        self.maybe_advance_high_watermark()
        return None, info.first_offset, info.last_offset

    # -- leader: followers' fetches ------------------------------------------------------------
    def record_follower_fetch(self, replica: int, fetch_offset: int, now: float) -> None:
        """A follower fetched from ``fetch_offset``: it has everything below it.

        It counts as caught up at ``now`` if it asked for our LEO, or at its
        previous fetch if it has now reached what our LEO was back then.
        """
        f = self.followers.setdefault(replica, Follower())
        leo = self.log_end_offset
        if fetch_offset >= leo:
            f.last_caught_up_ms = now
        elif fetch_offset >= f.last_fetch_leader_leo >= 0:
            f.last_caught_up_ms = max(f.last_caught_up_ms, f.last_fetch_ms)
        f.log_end_offset = fetch_offset
        f.last_fetch_leader_leo = leo
        f.last_fetch_ms = now

    def maybe_advance_high_watermark(self) -> bool:
        """Recompute the HW from the maximal ISR; True if it moved."""
        if not self.is_leader:
            return False
        leos = {r: self.followers.get(r, Follower()).log_end_offset for r in self.maximal_isr}
        leos[self.broker_id] = self.log_end_offset  # the leader is always in its own ISR
        new = self.policies.advance_high_watermark(self.high_watermark, leos, self.effective_min_isr)
        if isinstance(new, bool) or not isinstance(new, int):
            raise TypeError(f"advance_high_watermark returned {new!r}; it must return an int offset")
        new = min(new, self.log_end_offset)  # the HW cannot pass what the leader has (invariant)
        if new != self.high_watermark:
            self.high_watermark = new
            return True
        return False

    def wanted_isr(self, now: float) -> frozenset[int] | None:
        """The ISR the policy wants, if it differs from the current one and no change is pending."""
        if not self.is_leader or self.pending_isr is not None:
            return None
        states = {r: FollowerState(f.log_end_offset, f.last_caught_up_ms, f.last_fetch_ms)
                  for r, f in self.followers.items()}
        want = self.policies.update_isr(
            self.isr, self.broker_id, states, now_ms=now, leader_log_end_offset=self.log_end_offset,
            high_watermark=self.high_watermark, leader_epoch_start_offset=self.epoch_start_offset,
            replica_lag_time_max_ms=self.config.replica_lag_time_max_ms)
        want = frozenset(want) | {self.broker_id}
        return None if want == self.isr else want

    # -- follower ---------------------------------------------------------------------------
    def append_as_follower(self, batches: list[RecordBatch], leader_high_watermark: int) -> None:
        """Copy fetched batches, then take the leader's HW (never beyond our own LEO)."""
        for batch in batches:
            if batch.last_offset < self.log_end_offset:
                continue  # already have it (a duplicated fetch response)
            if batch.base_offset < self.log_end_offset:
                self.truncate_to(batch.base_offset)  # a batch straddling our end: take the leader's
            self.log.append_as_follower(batch)
            self.producers.update_from_batch(batch)
        # Kafka's UnifiedLog.updateHighWatermark: bounded by our log, and it may go
        # down (a new leader's HW can lag the old one's, item 73 of the reference).
        self.high_watermark = max(self.log.log_start_offset, min(leader_high_watermark, self.log_end_offset))

    def truncate_to(self, offset: int) -> int:
        """Drop our records from ``offset`` on; returns how many offsets were removed."""
        removed = max(0, self.log_end_offset - offset)
        if removed:
            self.log.truncate_to(offset)
            self.producers.rebuild(self.log.batches())
        else:
            # Kafka's UnifiedLog.truncateTo does this even when no record goes: an epoch this
            # replica stamped as leader at its LEO but never wrote under must not outlive the
            # truncation, or the follower keeps asking its new leader about that epoch forever.
            self.log.leader_epoch_cache.truncate_from_end(self.log_end_offset)
        self.high_watermark = min(self.high_watermark, self.log_end_offset)
        return removed

    def truncate_fully_and_start_at(self, offset: int) -> None:
        self.log.truncate_fully_and_start_at(offset)
        self.producers.rebuild(())
        self.high_watermark = offset

    # -- reading (for the checks) ---------------------------------------------------------------
    def batch_summary(self) -> list[tuple[int, int, int, int]]:
        """``(base_offset, last_offset, leader_epoch, crc)`` per batch: equal summaries mean
        equal logs (the CRC covers the records), at a fraction of the cost of decoding them."""
        return [(b.base_offset, b.last_offset, b.partition_leader_epoch, b.crc) for b in self.log.batches()]

    def entries(self) -> list[tuple[int, int, bytes | None]]:
        """``(offset, leader_epoch, value)`` for every record in this replica's log."""
        out = []
        for batch in self.log.batches():
            for r in batch.records:
                out.append((r.offset, batch.partition_leader_epoch, r.value))
        return out
