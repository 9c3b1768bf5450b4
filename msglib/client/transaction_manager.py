"""The client side of transactions: the transactional producer's state machine (kafka-python's
``TransactionManager``).

::

    UNINITIALIZED ──init_transactions()──► INITIALIZING ──► READY ──begin_transaction()──► IN_TRANSACTION
                                                              ▲                              │
                                                              │   commit_transaction()  ─► COMMITTING ─┤
                                                              └── abort_transaction()   ─► ABORTING  ──┘
    IN_TRANSACTION ── a send or an offset commit failed ──► ABORTABLE_ERROR ── abort_transaction() ──► READY
    anything ── fenced (a newer instance, or the transaction timed out) ──► FATAL_ERROR (close the producer)

What each call does on the wire:

* ``init_transactions()``: InitProducerId(transactional id) to the transaction
  coordinator; retried while it answers CONCURRENT_TRANSACTIONS (it is
  aborting what an older instance left open). The producer id and epoch it
  returns number every batch from now on.
* ``send()`` inside a transaction: with transaction version 1, the first
  record for a partition makes the manager send AddPartitionsToTxn; that
  partition's batches wait until the coordinator has the partition in the
  transaction (so a marker will reach it, whatever happens to this producer).
  With version 2 (KIP-890, Kafka 4.0) the producer sends the batches at once:
  the partition leader asks the coordinator to add the partition before it
  appends the first batch of the transaction.
* ``send_offsets_to_transaction(offsets, group_metadata)``: AddOffsetsToTxn,
  then TxnOffsetCommit to the group coordinator, checked against the
  consumer's generation (KIP-447).
* ``commit_transaction()``: flush every send, then EndTxn(commit). It
  returns once the coordinator has *logged* the decision; the markers that
  make the records visible to read_committed consumers follow. With version 2
  the answer carries a new epoch: every transaction has its own epoch, so a
  late write of an ended transaction is refused (docs/transactions.md T18-T21).

The version is chosen at each ``begin_transaction()``: the lower of what this
client supports (``max_version``, 2 like a Kafka 4.0 client; set it to 1 to
play an older client) and the cluster's finalized ``transaction.version``
(``TxnConfig.transaction_version``), as a 4.0 producer upgrades or downgrades
only between transactions.
* ``abort_transaction()``: drop what was not sent yet, wait for what was,
  then EndTxn(abort).

Misuse raises :class:`IllegalStateError` (docs/transactions.md T1): ``send`` before
``init_transactions`` or outside a transaction, a second ``begin``, a
``commit`` without ``begin``. In ABORTABLE_ERROR, only ``abort`` is allowed;
in FATAL_ERROR every call raises the fatal error again.
"""
from __future__ import annotations

from typing import Any, Callable

from msglib import protocol as proto
from msglib.groups.errors import CommitFailedError, FencedInstanceIdError
from msglib.protocol import TopicPartition, errors as E
from msglib.txn.coordinator import transaction_coordinator_for
from msglib.txn.group_offsets import group_coordinator_of

UNINITIALIZED = "UNINITIALIZED"
INITIALIZING = "INITIALIZING"
READY = "READY"
IN_TRANSACTION = "IN_TRANSACTION"
COMMITTING = "COMMITTING_TRANSACTION"
ABORTING = "ABORTING_TRANSACTION"
ABORTABLE_ERROR = "ABORTABLE_ERROR"
FATAL_ERROR = "FATAL_ERROR"

_RETRIABLE = (proto.CONCURRENT_TRANSACTIONS, proto.COORDINATOR_NOT_AVAILABLE, proto.REQUEST_TIMED_OUT,
              proto.COORDINATOR_NOT_AVAILABLE, proto.REBALANCE_IN_PROGRESS)
_FENCED = (proto.PRODUCER_FENCED, proto.INVALID_PRODUCER_ID_MAPPING)
CLIENT_TRANSACTION_VERSION = 2   # a Kafka 4.0 producer: KIP-890's protocol when the cluster has it


class TransactionManager:
    """One transactional producer's transactions. See the module docstring."""

    def __init__(self, producer: Any, transactional_id: str, transaction_timeout_ms: float) -> None:
        self.producer = producer
        self.transactional_id = transactional_id
        self.transaction_timeout_ms = transaction_timeout_ms
        self.state = UNINITIALIZED
        self.last_error: BaseException | None = None
        self.partitions: set[TopicPartition] = set()     # in the transaction (the coordinator said so)
        self.pending: set[TopicPartition] = set()        # written to, not yet added
        self.adding: set[TopicPartition] = set()         # AddPartitionsToTxn on its way
        self.groups: set[str] = set()
        self.needs_epoch_bump = False                    # a sequence gap: start again under a new epoch
        self.transactions = 0                            # how many were begun (for histories and pictures)
        self._requests: dict[int, tuple[str, Callable[[str | None, Any], None]]] = {}
        self._add_retry_at = 0.0
        # msglib: called once, right after the next EndTxn is sent and before its answer arrives
        # (fault injection: msglib.txn.eos kills or stalls an application "with the commit on its way").
        self.on_end_sent: Callable[[], None] | None = None
        self.coordinator = transaction_coordinator_for(producer.cluster)   # the cluster's (made on first use)
        self.max_version = CLIENT_TRANSACTION_VERSION    # what this client speaks (1: a pre-4.0 client)
        self.version = self._negotiated_version()        # of the current transaction
        self.epochs: list[int] = []                      # the epoch each transaction began with (pictures, tests)

    def _negotiated_version(self) -> int:
        """The lower of the client's version and the cluster's finalized ``transaction.version``."""
        return min(self.max_version, self.coordinator.config.transaction_version)

    # ------------------------------------------------------------------ state checks
    def _raise_if_failed(self) -> None:
        if self.state == FATAL_ERROR:
            raise self.last_error
        if self.state == ABORTABLE_ERROR:
            raise E.KafkaError(f"the transaction cannot go on and must be aborted (abort_transaction()): "
                               f"{self.last_error}")

    def _require(self, *states: str, doing: str) -> None:
        if self.state in states:
            return
        if self.state == FATAL_ERROR:
            raise self.last_error
        raise E.IllegalStateError(f"Cannot call {doing} in state {self.state}")

    def check_send(self) -> None:
        """``send`` is allowed only inside a transaction (docs/transactions.md T1)."""
        if self.state == UNINITIALIZED:
            raise E.IllegalStateError("Cannot call send before init_transactions(): a transactional producer "
                                      "must first get its producer id and epoch")
        if self.state == IN_TRANSACTION:
            return
        self._raise_if_failed()
        raise E.IllegalStateError(f"Cannot call send in state {self.state}: call begin_transaction() first")

    def abortable(self, error: BaseException) -> None:
        """Something in the transaction failed: only abort_transaction() may follow."""
        if self.state == FATAL_ERROR:
            return
        if isinstance(error, E.ProducerFencedError):
            self.fatal(error)
            return
        if self.state in (IN_TRANSACTION, COMMITTING, ABORTABLE_ERROR):
            self.state = ABORTABLE_ERROR
            self.last_error = error

    def fatal(self, error: BaseException) -> None:
        self.state = FATAL_ERROR
        self.last_error = error
        self.producer._fail_unsent(error)

    # ------------------------------------------------------------------ requests to the coordinators
    def _send(self, kind: str, node: str, msg: Any, callback: Callable[[str | None, Any], None]) -> None:
        self._requests[msg.request_id] = (kind, callback)
        self.producer.node.send(node, msg)
        self.producer.node.after(self.producer.config["request_timeout_ms"], self._timeout, msg.request_id)

    def _timeout(self, rid: int) -> None:
        entry = self._requests.pop(rid, None)
        if entry is not None:
            entry[1](proto.REQUEST_TIMED_OUT, None)

    def on_response(self, msg: Any) -> bool:
        """A coordinator's answer (False: not one of ours)."""
        entry = self._requests.pop(getattr(msg, "request_id", None), None)
        if entry is None:
            return False
        entry[1](msg.error, msg)
        return True

    def _next_id(self) -> int:
        self.producer._request_ids += 1
        return self.producer._request_ids

    def _call(self, kind: str, node: str, make: Callable[[int], Any], what: str) -> Any:
        """Send a request and wait for its answer, retrying retriable errors until ``max_block_ms``."""
        sim = self.producer.sim
        deadline = sim.now + self.producer.config["max_block_ms"]
        backoff = self.producer.config["retry_backoff_ms"]
        while True:
            box: list = []
            self._send(kind, node, make(self._next_id()), lambda err, msg: box.append((err, msg)))
            if kind == "end" and self.on_end_sent is not None:
                hook, self.on_end_sent = self.on_end_sent, None
                hook()
            sim.run_until(lambda: bool(box), until=deadline)
            if not box:
                raise E.KafkaTimeoutError(f"{what} did not finish within max_block_ms="
                                          f"{self.producer.config['max_block_ms']:g} ms")
            error, msg = box[0]
            if error is None:
                return msg
            if error in _RETRIABLE and sim.now < deadline:
                sim.run(until=min(deadline, sim.now + backoff))
                continue
            return msg if msg is not None else _Failed(error)

    # ------------------------------------------------------------------ init_transactions
    def init_transactions(self) -> None:
        self._require(UNINITIALIZED, doing="init_transactions")
        self.state = INITIALIZING
        self._init_producer_id()
        self.state = READY

    def _init_producer_id(self) -> None:
        msg = self._call("init", proto.TXN_COORDINATOR, lambda rid: proto.InitProducerIdRequest(
            rid, self.transactional_id, self.transaction_timeout_ms), "init_transactions")
        if msg.error == proto.INVALID_TRANSACTION_TIMEOUT:
            self.state = FATAL_ERROR
            self.last_error = E.InvalidTxnTimeoutError(
                f"transaction_timeout_ms={self.transaction_timeout_ms:g} is not accepted by the coordinator "
                f"(it must be > 0 and <= transaction.max.timeout.ms)")
            raise self.last_error
        if msg.error is not None:
            self.fatal(E.for_code(msg.error))
            raise self.last_error
        self.producer._start_epoch(msg.producer_id, msg.producer_epoch)
        self.needs_epoch_bump = False

    # ------------------------------------------------------------------ begin / partitions
    def begin_transaction(self) -> None:
        self._require(READY, doing="begin_transaction")
        self.state = IN_TRANSACTION
        self.partitions, self.pending, self.adding, self.groups = set(), set(), set(), set()
        self.transactions += 1
        self.version = self._negotiated_version()
        self.epochs.append(self.producer.producer_epoch)

    def maybe_add_partition(self, tp: TopicPartition) -> None:
        if self.version >= 2:
            self.partitions.add(tp)   # the leader adds it when the first batch arrives (KIP-890)
        elif tp not in self.partitions and tp not in self.adding:
            self.pending.add(tp)

    def partition_ready(self, tp: TopicPartition) -> bool:
        """May this partition's batches be sent? Only once it is in the transaction."""
        return tp in self.partitions

    def maybe_send_add_partitions(self) -> None:
        """Called by the sender: ask the coordinator to add the partitions written to since the last ask."""
        if not self.pending or self.adding or self.state not in (IN_TRANSACTION, COMMITTING):
            return
        if self.producer.sim.now < self._add_retry_at:
            self.producer._schedule_tick()
            return
        self.adding, self.pending = set(self.pending), set()
        p = self.producer
        self._send("add_partitions", proto.TXN_COORDINATOR, proto.AddPartitionsToTxnRequest(
            self._next_id(), self.transactional_id, p.producer_id, p.producer_epoch, sorted(self.adding)),
            self._on_add_partitions)

    def _on_add_partitions(self, error: str | None, msg: Any) -> None:
        added, self.adding = self.adding, set()
        if error is None:
            self.partitions |= added
        elif error in _RETRIABLE:
            self.pending |= added
            self._add_retry_at = self.producer.sim.now + self.producer.config["retry_backoff_ms"]
        else:
            exc = E.for_code(error)
            if error in _FENCED:
                exc = E.ProducerFencedError(f"AddPartitionsToTxn: {error}")
                self.fatal(exc)
            else:
                self.abortable(exc)
            self.producer._fail_waiting(added, exc)
        self.producer._wake()

    # ------------------------------------------------------------------ offsets
    def send_offsets_to_transaction(self, offsets: dict, group_metadata: Any) -> None:
        if self.state != IN_TRANSACTION:
            self._raise_if_failed()
            raise E.IllegalStateError(f"Cannot send offsets to a transaction in state {self.state}: "
                                      "not in an active transaction (call begin_transaction() first)")
        if isinstance(group_metadata, str):
            group_metadata = proto.ConsumerGroupMetadata(group_metadata)
        if not isinstance(group_metadata, tuple) or not getattr(group_metadata, "group_id", None):
            raise TypeError("group_metadata must be consumer.group_metadata() (or a group id string)")
        normalized = {}
        for tp, om in offsets.items():
            if isinstance(om, int) and not isinstance(om, bool):
                om = proto.OffsetAndMetadata(om, "", -1)
            if not isinstance(om, tuple) or not isinstance(om[0], int) or om[0] < 0:
                raise TypeError(f"offsets must map TopicPartition -> OffsetAndMetadata(offset) with an int offset "
                                f">= 0 (the NEXT offset to consume), got {om!r} for {tp}")
            normalized[TopicPartition(*tp)] = proto.OffsetAndMetadata(*om)
        p = self.producer
        group_id = group_metadata.group_id
        if group_id not in self.groups:
            msg = self._call("add_offsets", proto.TXN_COORDINATOR, lambda rid: proto.AddOffsetsToTxnRequest(
                rid, self.transactional_id, p.producer_id, p.producer_epoch, group_id), "AddOffsetsToTxn")
            if msg.error is not None:
                self._offsets_failed(msg.error)
            self.groups.add(group_id)
        coordinator = group_coordinator_of(p.cluster).name
        msg = self._call("txn_offset_commit", coordinator, lambda rid: proto.TxnOffsetCommitRequest(
            rid, self.transactional_id, group_id, p.producer_id, p.producer_epoch, group_metadata.generation_id,
            group_metadata.member_id, group_metadata.group_instance_id, normalized), "TxnOffsetCommit")
        if msg.error is not None:
            self._offsets_failed(msg.error)

    def _offsets_failed(self, error: str) -> None:
        if error in _FENCED:
            self.fatal(E.ProducerFencedError(f"send_offsets_to_transaction: {error}"))
        elif error in (proto.ILLEGAL_GENERATION, proto.UNKNOWN_MEMBER_ID):
            self.abortable(CommitFailedError(f"the group has moved on ({error}): a zombie may not commit the "
                                             f"offsets of partitions it no longer owns (KIP-447)"))
        elif error == proto.FENCED_INSTANCE_ID:
            self.abortable(FencedInstanceIdError(error))
        else:
            self.abortable(E.for_code(error))
        raise self.last_error

    # ------------------------------------------------------------------ commit / abort
    def commit_transaction(self) -> None:
        self._require(IN_TRANSACTION, ABORTABLE_ERROR, doing="commit_transaction")
        self._raise_if_failed()
        self.state = COMMITTING
        self.producer.flush()
        if self.state != COMMITTING:       # a send of this transaction failed while flushing
            self._raise_if_failed()
        self._end(commit=True)

    def abort_transaction(self) -> None:
        self._require(IN_TRANSACTION, ABORTABLE_ERROR, doing="abort_transaction")
        self.state = ABORTING
        self.producer._abort_unsent(E.TransactionAbortedError("the transaction was aborted before this record "
                                                              "was sent"))
        self.producer.flush()
        self._end(commit=False)
        if self.needs_epoch_bump and self.state == READY:
            self._init_producer_id()        # KIP-360: a new epoch numbers the next transaction from 0

    def _end(self, commit: bool) -> None:
        """EndTxn, unless nothing was added to the transaction (then there is nothing to end)."""
        if self.state == FATAL_ERROR:
            raise self.last_error
        if self.adding:   # an AddPartitionsToTxn is on its way: its answer decides what there is to end
            self.producer.sim.run_until(lambda: not self.adding,
                                        until=self.producer.sim.now + self.producer.config["max_block_ms"])
        if not (self.partitions or self.groups):
            self.state = READY
            return
        p = self.producer
        what = "commit_transaction" if commit else "abort_transaction"
        msg = self._call("end", proto.TXN_COORDINATOR, lambda rid: proto.EndTxnRequest(
            rid, self.transactional_id, p.producer_id, p.producer_epoch, commit, self.version), what)
        if msg.error is None:
            self.state = READY
            if self.version >= 2 and getattr(msg, "producer_epoch", -1) >= 0:
                p._start_epoch(msg.producer_id, msg.producer_epoch)   # the next transaction's epoch
                self.needs_epoch_bump = False
            return
        if msg.error in _FENCED:
            self.fatal(E.ProducerFencedError(
                f"{what}: {msg.error}. A newer producer with transactional_id {self.transactional_id!r} "
                f"started, or the transaction ran longer than transaction_timeout_ms="
                f"{self.transaction_timeout_ms:g} and the coordinator aborted it"))
        else:
            exc = E.for_code(msg.error)
            self.abortable(exc)
            if self.state != FATAL_ERROR:            # (an abort that failed: abort_transaction() may be retried)
                self.state, self.last_error = ABORTABLE_ERROR, exc
        raise self.last_error


class _Failed:
    """A request that failed with no message to show for it (a timeout)."""

    def __init__(self, error: str) -> None:
        self.error = error
