"""A broker: hosts partition replicas, serves producers and consumers, replicates by fetching.

The broker is a simulated node; everything it does is a reaction to a
message or a timer:

- **heartbeat** (timer): tell the controller we are alive and how much of the
  metadata log we applied; apply what comes back (become leader, become
  follower, take a new ISR).
- **ProduceRequest**: the leader appends each batch (``Partition.append_to_leader``).
  acks=0: no answer. acks=1: answer now. acks=all: park the request as a
  *delayed produce* until the HW passes the batch (or it times out, or
  leadership is lost).
- **FetchRequest** from a follower: record its position, maybe move the HW
  and the ISR, send what follows. With nothing to send, the fetch is parked
  until data arrives or ``replica_fetch_wait_max_ms`` passes (long polling).
  From a consumer (``replica_id=-1``): only records below the HW, or below
  the last stable offset for a read_committed consumer, who also gets the
  aborted transactions in the range (module 06).
- **ListOffsets**: the earliest, latest or first-after-a-time offset.
- **WriteTxnMarkers** (from the transaction coordinator): append a COMMIT or
  ABORT marker to each partition, answer once the markers are committed.
- **Follower side** (per partition it follows): on a leader change, first
  find where its log and the new leader's agree (OffsetsForLeaderEpoch and
  ``truncation_offset``, or the old truncate-to-HW rule), truncate, then
  fetch in a loop.

What survives a crash is on the :class:`BrokerDisk`: each partition's log
files, the HW checkpoint and the producer-id counter. With ``power_loss``
the log files lose what the simulated OS had not written back yet.
"""
from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable

from msglib import protocol as p
from msglib.cluster.config import ClusterConfig
from msglib.cluster.controller import CONTROLLER, broker_node
from msglib.cluster.kraft_controller import NotController
from msglib.cluster.partition import Partition
from msglib.cluster.policies import Policies
from msglib.protocol import NO_LEADER, PartitionState, TopicPartition
from msglib.log import Log, OffsetOutOfRangeError, RecordBatch
from msglib.log.storage import MemoryStorage
from msglib.sim.core import Timer
from msglib.sim.network import Network, Node

TraceFn = Callable[[int, TopicPartition, "Partition", str], None]


@dataclass
class BrokerDisk:
    """What a broker keeps across crashes."""

    storages: dict[TopicPartition, MemoryStorage] = field(default_factory=dict)
    hw_checkpoint: dict[TopicPartition, int] = field(default_factory=dict)
    producer_id_counter: int = 0


@dataclass
class _FetchSession:
    """A follower's replication of one partition from one leader in one epoch."""

    leader: int
    leader_epoch: int
    request_id: int = -1  # the request we are waiting for (-1: none)
    timer: Timer | None = None  # resends the request if no answer comes

    def arm(self, timer: Timer) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = timer


@dataclass
class _DelayedProduce:
    src: str
    request_id: int
    results: dict[TopicPartition, p.PartitionProduceResult]
    waiting: dict[TopicPartition, int]  # partition -> HW it must reach
    done: bool = False
    timer: Timer | None = None
    # How to answer (default: a ProduceResponse); transaction markers answer differently.
    respond: Callable[[dict], object] | None = None


class Broker(Node):
    """One broker: its partition replicas (leader or follower), the requests it serves, its fetchers."""

    def __init__(self, broker_id: int, network: Network, config: ClusterConfig, policies: Policies,
                 trace: TraceFn | None = None, controllers: list[str] | None = None) -> None:
        super().__init__(broker_node(broker_id), network)
        self.broker_id = broker_id
        # The controller nodes (KRaft: the quorum's voters); heartbeats and AlterPartition go to the one
        # believed active, found by asking around (NotController answers name the leader they know).
        self.controllers = list(controllers or [CONTROLLER])
        self.config = config
        self.policies = policies
        self.trace = trace
        self.disk = BrokerDisk()
        self._handlers = {
            p.BrokerHeartbeatResponse: self._on_heartbeat_response,
            p.ProduceRequest: self._on_produce,
            p.FetchRequest: self._on_fetch,
            p.FetchResponse: self._on_fetch_response,
            p.OffsetsForLeaderEpochRequest: self._on_epoch_request,
            p.OffsetsForLeaderEpochResponse: self._on_epoch_response,
            p.AlterPartitionResponse: self._on_alter_partition_response,
            p.MetadataRequest: self._on_metadata,
            NotController: self._on_not_controller,
            p.InitProducerIdRequest: self._on_init_producer_id,
            p.ListOffsetsRequest: self._on_list_offsets,
            p.WriteTxnMarkersRequest: self._on_write_txn_markers,
            p.AddPartitionsToTxnResponse: self._on_txn_check_answer,
        }
        self._boot()

    # -- life cycle -----------------------------------------------------------------------
    def _boot(self) -> None:
        """Start (or restart): open the logs found on disk, start the timers."""
        self.partitions: dict[TopicPartition, Partition] = {}
        self.metadata: dict[TopicPartition, PartitionState] = {}
        self.metadata_offset = 0
        self.sessions: dict[TopicPartition, _FetchSession] = {}
        self.delayed: dict[TopicPartition, list[_DelayedProduce]] = defaultdict(list)
        self.parked: dict[TopicPartition, list[tuple[str, p.FetchRequest, list]]] = defaultdict(list)
        self.pending_alter: dict[TopicPartition, int] = {}
        self.controller_node = self.controllers[self.broker_id % len(self.controllers)]
        self._heartbeat_answered = True
        self.txn_checks: dict[int, tuple] = {}  # produce requests waiting for the transaction coordinator
        self._ids = itertools.count()
        for tp in self.disk.storages:
            self.partitions[tp] = self._open(tp)
        self._heartbeat()
        self.after(self.config.replica_lag_time_max_ms / 2, self._isr_timer)
        self.after(self.config.replica_high_watermark_checkpoint_interval_ms, self._checkpoint_timer)
        self.after(self.config.os_writeback_interval_ms, self._writeback_timer)

    def _open(self, tp: TopicPartition) -> Partition:
        storage = self.disk.storages.setdefault(tp, MemoryStorage(f"{self.name}/{tp}"))
        log = Log(config=self.config.log, storage=storage, clock=lambda: self.sim.now,
                  topic=tp.topic, partition=tp.partition)
        part = Partition(self.broker_id, tp, log, self.config, self.policies,
                         high_watermark=self.disk.hw_checkpoint.get(tp, 0))
        return part

    def on_crash(self, power_loss: bool) -> None:
        for part in self.partitions.values():
            part.log.abandon()
        if power_loss:
            for storage in self.disk.storages.values():
                storage.crash()
        self.partitions = {}
        self.sessions = {}
        self.delayed = defaultdict(list)
        self.parked = defaultdict(list)

    def on_restart(self) -> None:
        self._boot()

    def on_message(self, src: str, msg) -> None:
        self._handlers[type(msg)](src, msg)

    def _emit(self, part: Partition, event: str) -> None:
        if self.trace is not None:
            self.trace(self.broker_id, part.tp, part, event)

    # -- timers ---------------------------------------------------------------------------
    def _heartbeat(self) -> None:
        if not self._heartbeat_answered:  # nobody answered the last one: try the next controller
            i = self.controllers.index(self.controller_node) if self.controller_node in self.controllers else -1
            self.controller_node = self.controllers[(i + 1) % len(self.controllers)]
        self._heartbeat_answered = False
        self.send(self.controller_node, p.BrokerHeartbeat(self.broker_id, self.incarnation, self.metadata_offset))
        self.after(self.config.broker_heartbeat_interval_ms, self._heartbeat)

    def _isr_timer(self) -> None:
        for part in self.partitions.values():
            if part.is_leader:
                self._leader_progress(part)
        self.after(self.config.replica_lag_time_max_ms / 2, self._isr_timer)

    def _checkpoint_timer(self) -> None:
        for tp, part in self.partitions.items():
            self.disk.hw_checkpoint[tp] = part.high_watermark
        self.after(self.config.replica_high_watermark_checkpoint_interval_ms, self._checkpoint_timer)

    def _writeback_timer(self) -> None:
        for part in self.partitions.values():
            if part.log.unflushed_records:
                part.log.flush()
        self.after(self.config.os_writeback_interval_ms, self._writeback_timer)

    # -- metadata -------------------------------------------------------------------------
    def _on_not_controller(self, src: str, msg: NotController) -> None:
        """A controller that is not the active one: follow its hint (or try another at the next
        heartbeat); a refused AlterPartition is sent again after a heartbeat interval."""
        if msg.leader_hint in self.controllers:
            self.controller_node = msg.leader_hint
            self._heartbeat_answered = True
        req = msg.request
        pending = self.pending_alter.get(req.tp) if isinstance(req, p.AlterPartition) else None
        if pending is not None:
            pending[1].cancel()
            self.pending_alter[req.tp] = (pending[0], self.after(self.config.broker_heartbeat_interval_ms,
                                                                 self._alter_timeout, req.tp, pending[0]))

    def _on_heartbeat_response(self, src: str, resp: p.BrokerHeartbeatResponse) -> None:
        self._heartbeat_answered = True
        self.controller_node = src
        if resp.start_offset != self.metadata_offset or resp.metadata_offset <= self.metadata_offset:
            return  # an answer to an older heartbeat (or a duplicate): not a continuation of what we have
        latest: dict[TopicPartition, PartitionState] = {}
        for st in resp.records:
            latest[st.tp] = st  # only the newest state of each partition matters
        self.metadata_offset = resp.metadata_offset
        for st in latest.values():
            self.apply_partition_state(st)

    def apply_partition_state(self, st: PartitionState) -> None:
        old = self.metadata.get(st.tp)
        if old is not None and (st.leader_epoch, st.partition_epoch) < (old.leader_epoch, old.partition_epoch):
            return
        self.metadata[st.tp] = st
        if self.broker_id not in st.replicas:
            return
        part = self.partitions.get(st.tp)
        if part is None:
            part = self.partitions[st.tp] = self._open(st.tp)
        if (st.leader_epoch, st.partition_epoch) <= (part.leader_epoch, part.partition_epoch):
            return  # already applied (e.g. through an AlterPartition answer)
        if st.leader == self.broker_id:
            if part.is_leader and part.leader_epoch == st.leader_epoch:
                part.update_state(st)
                self._leader_progress(part)
            else:
                self._become_leader(part, st)
        elif st.leader_epoch != part.leader_epoch or part.role is None or part.is_leader:
            self._become_follower(part, st)
        else:
            part.update_state(st)

    def _become_leader(self, part: Partition, st: PartitionState) -> None:
        self.sessions.pop(part.tp, None)
        part.make_leader(st, self.sim.now)
        self._emit(part, "leader")
        self._leader_progress(part)

    def _become_follower(self, part: Partition, st: PartitionState) -> None:
        was_leader = part.is_leader
        part.make_follower(st)
        if was_leader:
            self._fail_delayed(part.tp, p.NOT_LEADER_OR_FOLLOWER)
        self._answer_parked(part.tp, error=p.NOT_LEADER_OR_FOLLOWER)
        self.pending_alter.pop(part.tp, None)
        self._emit(part, "follower")
        self.sessions.pop(part.tp, None)
        if st.leader != NO_LEADER:
            self._start_session(part)

    # -- leader: produce ------------------------------------------------------------------
    def _on_produce(self, src: str, req: p.ProduceRequest, checked: bool = False) -> None:
        if not checked and self._txn_check(src, req, self.sim.now + req.timeout_ms):
            return  # waits until the transaction coordinator has the partition in the transaction
        results: dict[TopicPartition, p.PartitionProduceResult] = {}
        waiting: dict[TopicPartition, int] = {}
        for tp, data in req.batches.items():
            part = self.partitions.get(tp)
            if part is None or not part.is_leader:
                results[tp] = p.PartitionProduceResult(p.NOT_LEADER_OR_FOLLOWER)
                continue
            try:
                batch = RecordBatch.decode(data)
            except Exception as exc:  # a corrupt batch is refused, nothing appended
                results[tp] = p.PartitionProduceResult(p.CORRUPT_MESSAGE + f": {exc}")
                continue
            error, first, last = part.append_to_leader(batch, req.acks)
            results[tp] = p.PartitionProduceResult(error, first, part.log.log_start_offset)
            if error is None:
                self._emit(part, "append")
                if req.acks == -1:
                    waiting[tp] = last + 1
                self._wake_parked(part)
        if req.acks == 0:
            return
        dp = _DelayedProduce(src, req.request_id, results, waiting)
        if waiting:
            for tp in waiting:
                self.delayed[tp].append(dp)
            dp.timer = self.after(req.timeout_ms, self._expire_produce, dp)
            for tp in list(waiting):
                self._check_delayed(self.partitions[tp])
        else:
            self._respond_produce(dp)

    # -- leader: transactional writes checked with the coordinator (KIP-890) ---------------------
    def _txn_check(self, src: str, req: p.ProduceRequest, deadline: float) -> bool:
        """A transactional batch that opens a transaction here (its producer has none open in this
        epoch) first goes to the transaction coordinator: with transaction version 2 the coordinator
        adds the partition (the producer sent no AddPartitionsToTxn); with version 1 and
        ``transaction_partition_verification_enable`` (KIP-890 part 1) it only verifies the partition
        is in the open transaction. True: the request waits for the answer (``txn_checks``)."""
        v2 = req.transaction_version >= 2
        if req.transactional_id is None or not (v2 or self.config.transaction_partition_verification_enable):
            return False
        need, ident = [], (-1, -1)
        for tp, data in req.batches.items():
            part = self.partitions.get(tp)
            if part is None or not part.is_leader:
                continue
            try:
                batch = RecordBatch.decode(data)
            except Exception:
                continue
            entry = part.producers.get(batch.producer_id)
            if batch.is_transactional and (entry is None or batch.producer_epoch > entry.producer_epoch or
                                           not part.producers.has_open_transaction(batch.producer_id)):
                need.append(tp)          # (an older epoch than the partition's is refused by the append)
                ident = (batch.producer_id, batch.producer_epoch)
        if not need:
            return False
        rid = next(self._ids)
        timer = self.after(max(0.0, deadline - self.sim.now), self._txn_check_timeout, rid)
        self.txn_checks[rid] = (src, req, deadline, timer)
        self.send(p.TXN_COORDINATOR, p.AddPartitionsToTxnRequest(rid, req.transactional_id, ident[0], ident[1],
                                                                 need, verify_only=not v2, from_broker=True))
        return True

    def _on_txn_check_answer(self, coordinator: str, resp: p.AddPartitionsToTxnResponse) -> None:
        entry = self.txn_checks.pop(resp.request_id, None)
        if entry is None:
            return
        src, req, deadline, timer = entry
        timer.cancel()
        if resp.error is None:
            self._on_produce(src, req, checked=True)
        elif resp.error == p.CONCURRENT_TRANSACTIONS and self.sim.now + 20 < deadline:
            # The producer's previous transaction is still writing its markers: retry here, as Kafka 4.0 does.
            self.after(20, lambda: self._txn_check(src, req, deadline) or self._on_produce(src, req, checked=True))
        else:
            self._refuse_produce(src, req, resp.error)

    def _txn_check_timeout(self, rid: int) -> None:
        entry = self.txn_checks.pop(rid, None)
        if entry is not None:
            self._refuse_produce(entry[0], entry[1], p.REQUEST_TIMED_OUT)

    def _refuse_produce(self, src: str, req: p.ProduceRequest, error: str) -> None:
        if req.acks != 0:
            self.send(src, p.ProduceResponse(req.request_id, {tp: p.PartitionProduceResult(error)
                                                              for tp in req.batches}))

    def _check_delayed(self, part: Partition) -> None:
        """Answer every delayed produce whose records in ``part`` are now committed."""
        pending = self.delayed.get(part.tp)
        if not pending:
            return
        still = []
        for dp in pending:
            need = dp.waiting.get(part.tp)
            if dp.done or need is None:
                continue
            if part.high_watermark >= need:
                del dp.waiting[part.tp]
                if len(part.isr) < part.effective_min_isr:
                    # Committed, but by a smaller ISR than required: say so (the data stays).
                    dp.results[part.tp] = p.PartitionProduceResult(p.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
                                                                   dp.results[part.tp].base_offset)
                if not dp.waiting:
                    self._respond_produce(dp)
            else:
                still.append(dp)
        self.delayed[part.tp] = still

    def _fail_delayed(self, tp: TopicPartition, error: str) -> None:
        for dp in self.delayed.pop(tp, []):
            if dp.done or tp not in dp.waiting:
                continue
            del dp.waiting[tp]
            dp.results[tp] = p.PartitionProduceResult(error)
            if not dp.waiting:
                self._respond_produce(dp)

    def _expire_produce(self, dp: _DelayedProduce) -> None:
        if dp.done:
            return
        for tp in dp.waiting:
            dp.results[tp] = p.PartitionProduceResult(p.REQUEST_TIMED_OUT)
        dp.waiting.clear()
        self._respond_produce(dp)

    def _respond_produce(self, dp: _DelayedProduce) -> None:
        dp.done = True
        if dp.timer is not None:
            dp.timer.cancel()
        if dp.respond is not None:
            self.send(dp.src, dp.respond(dp.results))
        else:
            self.send(dp.src, p.ProduceResponse(dp.request_id, dp.results))

    # -- leader: HW and ISR ---------------------------------------------------------------
    def _leader_progress(self, part: Partition) -> None:
        """After anything that may move the HW or the ISR: move them, answer who waited."""
        if part.maybe_advance_high_watermark():
            self._emit(part, "hw")
            self._check_delayed(part)
            self._wake_parked(part)
        want = part.wanted_isr(self.sim.now)
        if want is not None:
            part.pending_isr = want
            self._send_alter_partition(part)
            self._emit(part, "isr-proposed")

    def _send_alter_partition(self, part: Partition) -> None:
        request_id = next(self._ids)
        self.send(self.controller_node, p.AlterPartition(self.broker_id, part.tp, part.leader_epoch, part.partition_epoch,
                                               tuple(sorted(part.pending_isr))))
        timer = self.after(self.config.replica_socket_timeout_ms, self._alter_timeout, part.tp, request_id)
        self.pending_alter[part.tp] = (request_id, timer)

    def _alter_timeout(self, tp: TopicPartition, request_id: int) -> None:
        """No answer: the controller may or may not have applied the change. Ask again, and keep
        counting the proposed members meanwhile (reverting to the smaller ISR could commit records
        that a member the controller already added does not have)."""
        if self.pending_alter.get(tp, (None,))[0] != request_id:
            return
        del self.pending_alter[tp]
        part = self.partitions.get(tp)
        if part is not None and part.is_leader and part.pending_isr is not None:
            self._send_alter_partition(part)

    def _on_alter_partition_response(self, src: str, resp: p.AlterPartitionResponse) -> None:
        part = self.partitions.get(resp.tp)
        pending = self.pending_alter.pop(resp.tp, None)
        if pending is not None:
            pending[1].cancel()
        if part is None or not part.is_leader:
            return
        st = resp.state
        if resp.error is None and st is not None and st.leader_epoch == part.leader_epoch \
                and st.partition_epoch > part.partition_epoch:
            self.metadata[st.tp] = st
            part.update_state(st)
            self._emit(part, "isr")
            self._leader_progress(part)
        elif resp.error in (p.INELIGIBLE_REPLICA, p.UNKNOWN_TOPIC_OR_PARTITION):
            part.pending_isr = None  # refused, nothing changed: propose again later
        # Otherwise (a stale partition epoch, a newer leader epoch) the controller's state has moved
        # on: keep the proposal pending until the metadata log tells us what the ISR is now.

    # -- leader: fetches ------------------------------------------------------------------
    def _on_fetch(self, src: str, req: p.FetchRequest, parked: bool = False) -> None:
        part = self.partitions.get(req.tp)
        error = self._check_leader(part, req.current_leader_epoch)
        if error is None and req.replica_id >= 0 and req.replica_id not in part.replicas:
            error = p.NOT_LEADER_OR_FOLLOWER
        if error is not None:
            self.send(src, p.FetchResponse(req.request_id, req.tp, error))
            return
        log = part.log
        if not log.log_start_offset <= req.fetch_offset <= log.log_end_offset:
            self.send(src, p.FetchResponse(req.request_id, req.tp, p.OFFSET_OUT_OF_RANGE,
                                           high_watermark=part.high_watermark,
                                           log_start_offset=log.log_start_offset,
                                           log_end_offset=log.log_end_offset,
                                           last_stable_offset=part.last_stable_offset))
            return
        follower = req.replica_id >= 0
        if follower and not parked:
            part.record_follower_fetch(req.replica_id, req.fetch_offset, self.sim.now)
            self._leader_progress(part)
        limit = self._fetch_limit(part, req)  # consumers see only committed (read_committed: stable) records
        batches = log.read(req.fetch_offset, req.max_bytes, max_offset=limit)
        if not batches and req.max_wait_ms > 0 and not parked:
            entry = (src, req, [False, None])  # [answered?, the timer that answers it empty]
            self.parked[req.tp].append(entry)
            entry[2][1] = self.after(req.max_wait_ms, self._park_timeout, req.tp, entry)
            return
        aborted = None
        if not follower and req.isolation_level == p.READ_COMMITTED:
            upper = batches[-1].next_offset if batches else req.fetch_offset
            aborted = [p.AbortedTransaction(a.producer_id, a.first_offset)
                       for a in part.producers.aborted_in_range(req.fetch_offset, upper)]
        self.send(src, p.FetchResponse(req.request_id, req.tp, None, list(batches), part.high_watermark,
                                       log.log_start_offset, log.log_end_offset, part.last_stable_offset, aborted))

    @staticmethod
    def _fetch_limit(part: Partition, req: p.FetchRequest) -> int | None:
        """The end (exclusive) of what a fetch may return: the LEO for a follower, the HW for a
        consumer, the last stable offset for a read_committed consumer."""
        if req.replica_id >= 0:
            return None
        if req.isolation_level == p.READ_COMMITTED:
            return part.last_stable_offset
        return part.high_watermark

    def _check_leader(self, part: Partition | None, epoch: int) -> str | None:
        if part is None or not part.is_leader:
            return p.NOT_LEADER_OR_FOLLOWER
        if epoch >= 0 and epoch < part.leader_epoch:
            return p.FENCED_LEADER_EPOCH  # the asker is behind
        if epoch > part.leader_epoch:
            return p.UNKNOWN_LEADER_EPOCH  # we are behind
        return None

    def _wake_parked(self, part: Partition) -> None:
        """New data (or a higher HW): answer the fetches that were waiting for it."""
        waiting = self.parked.get(part.tp)
        if not waiting:
            return
        keep = []
        for entry in waiting:
            src, req, done = entry
            if done[0]:
                continue
            limit = self._fetch_limit(part, req)
            if (part.log_end_offset if limit is None else limit) > req.fetch_offset:
                done[0] = True
                done[1].cancel()
                self._on_fetch(src, req, parked=True)
            else:
                keep.append(entry)
        self.parked[part.tp] = keep

    def _park_timeout(self, tp: TopicPartition, entry) -> None:
        src, req, done = entry
        if done[0]:
            return
        done[0] = True
        self.parked[tp] = [e for e in self.parked[tp] if e is not entry]
        self._on_fetch(src, req, parked=True)

    def _answer_parked(self, tp: TopicPartition, error: str) -> None:
        for src, req, done in self.parked.pop(tp, []):
            if not done[0]:
                done[0] = True
                done[1].cancel()
                self.send(src, p.FetchResponse(req.request_id, tp, error))

    # -- leader: ListOffsets ---------------------------------------------------------------
    def _on_list_offsets(self, src: str, req: p.ListOffsetsRequest) -> None:
        """Earliest (the log start), latest (the HW; the LSO for read_committed), or the first
        offset whose record has a timestamp >= ``req.timestamp``, among the records a consumer of
        that isolation level may read."""
        part = self.partitions.get(req.tp)
        error = self._check_leader(part, req.current_leader_epoch)
        if error is not None:
            self.send(src, p.ListOffsetsResponse(req.request_id, req.tp, error))
            return
        log = part.log
        lso = part.last_stable_offset
        visible_end = lso if req.isolation_level == p.READ_COMMITTED else part.high_watermark
        offset, timestamp = -1, -1
        if req.timestamp == p.EARLIEST_TIMESTAMP:
            offset = log.log_start_offset
        elif req.timestamp == p.LATEST_TIMESTAMP:
            offset = visible_end
        else:
            found = log.offsets_for_times(req.timestamp)
            if found is not None and found[0] < visible_end:
                offset, timestamp = found
        epoch = part.log.leader_epoch_cache.epoch_for_offset(offset) if offset >= 0 else -1
        self.send(src, p.ListOffsetsResponse(req.request_id, req.tp, None, offset, timestamp, epoch,
                                             log.log_start_offset, part.high_watermark, log.log_end_offset, lso))

    # -- leader: transaction markers ----------------------------------------------------------
    def _on_write_txn_markers(self, src: str, req: p.WriteTxnMarkersRequest) -> None:
        """Append the marker to each partition we lead; answer once every one is committed
        (below the HW), as acks=all would. Errors per partition: the coordinator retries those."""
        errors: dict[TopicPartition, str | None] = {}
        waiting: dict[TopicPartition, int] = {}
        for tp in req.partitions:
            part = self.partitions.get(tp)
            if part is None or not part.is_leader:
                errors[tp] = p.NOT_LEADER_OR_FOLLOWER
                continue
            error, offset = part.append_marker(req.producer_id, req.producer_epoch, req.commit,
                                               req.coordinator_epoch)
            errors[tp] = error
            if error is None:
                self._emit(part, "marker")
                waiting[tp] = offset + 1
                self._wake_parked(part)

        def respond(results: dict) -> p.WriteTxnMarkersResponse:
            out = dict(errors)
            for tp, result in results.items():
                out[tp] = result.error if result.error != p.NOT_ENOUGH_REPLICAS_AFTER_APPEND else None
            return p.WriteTxnMarkersResponse(req.request_id, req.producer_id, out)

        dp = _DelayedProduce(src, req.request_id, {tp: p.PartitionProduceResult(None) for tp in waiting}, waiting,
                             respond=respond)
        if not waiting:
            self._respond_produce(dp)
            return
        for tp in waiting:
            self.delayed[tp].append(dp)
        dp.timer = self.after(self.config.replica_socket_timeout_ms, self._expire_produce, dp)
        for tp in list(waiting):
            self._check_delayed(self.partitions[tp])

    def _on_epoch_request(self, src: str, req: p.OffsetsForLeaderEpochRequest) -> None:
        part = self.partitions.get(req.tp)
        error = self._check_leader(part, req.current_leader_epoch)
        if error is not None:
            self.send(src, p.OffsetsForLeaderEpochResponse(req.request_id, req.tp, error))
            return
        epoch, end = part.log.leader_epoch_cache.end_offset_for(req.leader_epoch, part.log_end_offset)
        self.send(src, p.OffsetsForLeaderEpochResponse(req.request_id, req.tp, None, epoch, end))

    # -- follower: truncate, then fetch -------------------------------------------------------
    def _start_session(self, part: Partition) -> None:
        session = self.sessions[part.tp] = _FetchSession(part.leader, part.leader_epoch)
        if self.config.truncation == "high_watermark":
            # Before KIP-101: anything above our HW might not be on the new leader, so drop it.
            # (The HW lags the leader's by a fetch round trip: this is what loses data.)
            if part.truncate_to(part.high_watermark):
                self._emit(part, "truncate")
            self._send_fetch(part, session)
        else:
            self._ask_epoch_end(part, session)

    def _ask_epoch_end(self, part: Partition, session: _FetchSession) -> None:
        epoch = part.log.leader_epoch_cache.latest_epoch
        if epoch < 0:  # nothing stamped in our log: nothing to compare, just fetch
            self._send_fetch(part, session)
            return
        session.request_id = rid = next(self._ids)
        self.send(broker_node(session.leader), p.OffsetsForLeaderEpochRequest(
            rid, self.broker_id, part.tp, session.leader_epoch, epoch))
        session.arm(self.after(self.config.replica_socket_timeout_ms, self._session_timeout, part.tp, session,
                               rid, True))

    def _send_fetch(self, part: Partition, session: _FetchSession) -> None:
        session.request_id = rid = next(self._ids)
        self.send(broker_node(session.leader), p.FetchRequest(
            rid, self.broker_id, part.tp, part.log_end_offset, session.leader_epoch,
            self.config.replica_fetch_max_bytes, self.config.replica_fetch_wait_max_ms))
        session.arm(self.after(self.config.replica_socket_timeout_ms, self._session_timeout, part.tp, session,
                               rid, False))

    def _current(self, tp: TopicPartition, request_id: int) -> tuple[Partition, _FetchSession] | None:
        session = self.sessions.get(tp)
        part = self.partitions.get(tp)
        if session is None or part is None or session.request_id != request_id:
            return None  # an answer to a session that has since ended, or a duplicate
        if session.timer is not None:
            session.timer.cancel()
            session.timer = None
        return part, session

    def _session_timeout(self, tp: TopicPartition, session: _FetchSession, request_id: int,
                         truncating: bool) -> None:
        if self.sessions.get(tp) is session and session.request_id == request_id:
            part = self.partitions[tp]
            (self._ask_epoch_end if truncating else self._send_fetch)(part, session)

    def _retry_later(self, part: Partition, session: _FetchSession, truncating: bool) -> None:
        session.request_id = rid = next(self._ids)  # nothing outstanding; this id marks the retry
        session.arm(self.after(self.config.replica_fetch_backoff_ms, self._session_timeout, part.tp, session, rid,
                               truncating))

    def _on_epoch_response(self, src: str, resp: p.OffsetsForLeaderEpochResponse) -> None:
        cur = self._current(resp.tp, resp.request_id)
        if cur is None:
            return
        part, session = cur
        if resp.error is not None:
            self._retry_later(part, session, truncating=True)
            return
        if resp.leader_epoch < 0:  # the leader knows no such epoch: fall back to our HW
            offset, done = part.high_watermark, True
        else:
            epochs = list(part.log.leader_epoch_cache.entries)
            offset, done = self.policies.truncation_offset(epochs, part.log_end_offset, resp.leader_epoch,
                                                            resp.end_offset)
            if not isinstance(offset, int) or offset < 0:
                raise ValueError(f"truncation_offset returned offset {offset!r}; it must be an int >= 0")
        if part.truncate_to(offset):
            self._emit(part, "truncate")
        if done or part.log.leader_epoch_cache.latest_epoch < 0:
            self._send_fetch(part, session)
        else:
            self._ask_epoch_end(part, session)

    def _on_fetch_response(self, src: str, resp: p.FetchResponse) -> None:
        cur = self._current(resp.tp, resp.request_id)
        if cur is None:
            return
        part, session = cur
        if resp.error == p.OFFSET_OUT_OF_RANGE:
            if part.log_end_offset > resp.log_end_offset:
                part.truncate_to(resp.log_end_offset)  # the leader has less than we do
            elif part.log_end_offset < resp.log_start_offset:
                part.truncate_fully_and_start_at(resp.log_start_offset)
            self._emit(part, "truncate")
            self._send_fetch(part, session)
            return
        if resp.error is not None:
            self._retry_later(part, session, truncating=False)
            return
        part.append_as_follower(resp.batches, resp.high_watermark)
        self._emit(part, "fetch")
        self._send_fetch(part, session)

    # -- clients' side requests ----------------------------------------------------------------
    def _on_metadata(self, src: str, req: p.MetadataRequest) -> None:
        parts = {tp: st for tp, st in self.metadata.items() if req.topics is None or tp.topic in req.topics}
        self.send(src, p.MetadataResponse(req.request_id, parts))

    def _on_init_producer_id(self, src: str, req: p.InitProducerIdRequest) -> None:
        # Unique without asking anyone: a per-broker counter (on disk) times 1000, plus our id.
        self.disk.producer_id_counter += 1
        pid = self.disk.producer_id_counter * 1000 + self.broker_id
        self.send(src, p.InitProducerIdResponse(req.request_id, producer_id=pid, producer_epoch=0))

    # -- for tests and notebooks -------------------------------------------------------------
    def read_committed(self, tp: TopicPartition, offset: int = 0) -> list:
        """Records below the HW on this replica (a direct look, no network)."""
        part = self.partitions[tp]
        out = []
        while offset < part.high_watermark:
            try:
                data = part.log.read(offset, max_offset=part.high_watermark)
            except OffsetOutOfRangeError:
                break
            if not data:
                break
            out += [r for r in data.records() if r.offset < part.high_watermark]
            offset = data.next_offset
        return out
