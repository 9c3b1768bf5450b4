"""The exactly-once checker for consume-transform-produce runs (docs/transactions.md T14, Jepsen's G1a and precommitted reads).

A run reads input records (each value a unique id) and writes, for each one,
an output record that names its input. The checker is given:

* ``inputs``: every input id that was produced (acknowledged);
* ``committed``: the output a read_committed consumer reads at the end, as
  :class:`OutputRecord` (partition, offset, input id, the transaction that
  wrote it). Output from aborted transactions is not in it: that is the point;
* ``reads``: what read_committed consumers read *during* the run, with the
  time of each read (:class:`Read`);
* ``transactions``: what each application did, one :class:`TxnRecord` per
  transaction: when it asked to commit, and how it ended.

Findings (each an :class:`EosAnomaly` naming its witnesses):

=====================  =================================================================
``lost``               an input with no output among the committed output
``duplicate``          an input with two or more outputs among the committed output
                       (duplicates in *aborted* output are allowed: nobody reads them)
``aborted-read``       a read_committed consumer read an output that is not in the final
                       committed output: its transaction aborted (Jepsen's G1a)
``precommitted-read``  a read_committed consumer read an output before its transaction
                       had even asked to commit (it saw uncommitted data)
``unexpected``         committed output that names no input of the run
=====================  =================================================================

Without transactions (at-least-once mode), ``committed`` is simply every
output record, and only ``lost`` and ``duplicate`` apply.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

EOS_KINDS = ("lost", "duplicate", "aborted-read", "precommitted-read", "unexpected")


@dataclass(frozen=True)
class OutputRecord:
    partition: int
    offset: int
    input_id: Any
    txn: str                     # "app-1#3": the writer and its transaction number (or batch, without transactions)


@dataclass(frozen=True)
class Read:
    time: float
    reader: str
    record: OutputRecord


@dataclass
class TxnRecord:
    """One transaction of one application, as the application saw it."""

    txn: str
    app: str
    begun_ms: float
    commit_asked_ms: float | None = None     # commit_transaction() was called (None: never)
    outcome: str = "open"                    # "committed", "aborted", "failed" (an error), "crashed", "open"
    outputs: list[Any] = field(default_factory=list)   # the input ids it wrote output for


@dataclass
class EosAnomaly:
    kind: str
    message: str
    input_id: Any = None
    witnesses: list[Any] = field(default_factory=list)

    def __str__(self) -> str:
        return f"[{self.kind}] {self.message}"


@dataclass
class EosCheckResult:
    anomalies: list[EosAnomaly]
    counts: dict[str, int]
    inputs: int
    committed: int

    @property
    def valid(self) -> bool:
        return not self.anomalies

    def of(self, kind: str) -> list[EosAnomaly]:
        return [a for a in self.anomalies if a.kind == kind]

    def first(self) -> EosAnomaly | None:
        """The first finding, in the order of EOS_KINDS (losses and duplicates first)."""
        for kind in EOS_KINDS:
            found = self.of(kind)
            if found:
                return found[0]
        return None

    def summary(self) -> str:
        if self.valid:
            return f"exactly once: {self.inputs} inputs, each with one committed output"
        parts = ", ".join(f"{n} {k}" for k, n in self.counts.items() if n)
        return f"{parts} (of {self.inputs} inputs, {self.committed} committed outputs)"


def check_eos(inputs: Iterable[Any], committed: Iterable[OutputRecord], reads: Iterable[Read] = (),
              transactions: Iterable[TxnRecord] = (), *, transactional: bool = True) -> EosCheckResult:
    """Judge one run. See the module docstring for what each finding means."""
    inputs = list(inputs)
    known = set(inputs)
    committed = list(committed)
    txns = {t.txn: t for t in transactions}
    anomalies: list[EosAnomaly] = []
    by_input: dict[Any, list[OutputRecord]] = defaultdict(list)
    for out in committed:
        if out.input_id not in known:
            anomalies.append(EosAnomaly("unexpected", f"output at partition {out.partition} offset {out.offset} "
                                                      f"names input {out.input_id!r}, which was never produced",
                                        out.input_id, [out]))
            continue
        by_input[out.input_id].append(out)
    for i in inputs:
        outs = by_input.get(i, [])
        if not outs:
            anomalies.append(EosAnomaly("lost", f"input {i!r} has no committed output", i))
        elif len(outs) > 1:
            where = ", ".join(f"p{o.partition}@{o.offset} by {o.txn}" for o in outs)
            anomalies.append(EosAnomaly("duplicate", f"input {i!r} has {len(outs)} committed outputs: {where}",
                                        i, list(outs)))
    if transactional:
        final = {(o.partition, o.offset) for o in committed}
        for read in reads:
            out = read.record
            if (out.partition, out.offset) not in final:
                t = txns.get(out.txn)
                how = f" (transaction {out.txn} {t.outcome})" if t is not None else ""
                anomalies.append(EosAnomaly("aborted-read", f"{read.reader} read the output of input "
                                            f"{out.input_id!r} at p{out.partition}@{out.offset} at t={read.time:.1f} ms, "
                                            f"but it is not committed{how}", out.input_id, [read]))
                continue
            t = txns.get(out.txn)
            if t is not None and (t.commit_asked_ms is None or read.time < t.commit_asked_ms):
                anomalies.append(EosAnomaly("precommitted-read", f"{read.reader} read the output of input "
                                            f"{out.input_id!r} at t={read.time:.1f} ms, before {out.txn} asked to "
                                            f"commit", out.input_id, [read]))
    counts = {k: sum(1 for a in anomalies if a.kind == k) for k in EOS_KINDS}
    return EosCheckResult(anomalies, counts, len(inputs), len(committed))


# ---------------------------------------------------------------------------------- hanging transactions
@dataclass(frozen=True)
class HangingTransaction:
    """A transaction open in a partition that its coordinator does not have open there: nothing will
    ever write its marker, so the partition's last stable offset stays at ``first_offset`` and
    read_committed consumers stop there (the "hanging transaction" of KIP-664 and KIP-890)."""

    partition: str
    producer_id: int
    first_offset: int
    last_stable_offset: int
    high_watermark: int
    transactional_id: str | None       # None: the coordinator knows no transactional id with this producer id
    coordinator_state: str | None

    def __str__(self) -> str:
        who = f"{self.transactional_id!r} (producer {self.producer_id})" if self.transactional_id else \
            f"producer {self.producer_id}"
        return (f"{self.partition}: a transaction of {who} is open from offset {self.first_offset}, but the "
                f"coordinator has it {self.coordinator_state or 'unknown'} without this partition; the last "
                f"stable offset is stuck at {self.last_stable_offset} (high watermark {self.high_watermark})")


def find_hanging_transactions(cluster: Any, coordinator: Any) -> list[HangingTransaction]:
    """Every transaction open on a partition leader that the transaction coordinator does not have open
    on that partition (Ongoing, PrepareCommit or PrepareAbort with the partition in it).

    Kafka's ``kafka-transactions.sh find-hanging`` (KIP-664, Kafka 3.0) applies the same test, plus an
    age: it lists only transactions open longer than ``transaction.max.timeout.ms``, since a transaction
    the coordinator is still adding may look hanging for an instant. Call this on a settled run.
    """
    by_pid = {meta.producer_id: meta for meta in coordinator.txns.values()}
    open_states = {"Ongoing", "PrepareCommit", "PrepareAbort"}
    found = []
    for tp in cluster.topic_partitions():
        leader = cluster.leader(tp.topic, tp.partition)
        part = cluster.replica(leader, tp.topic, tp.partition) if leader is not None else None
        if part is None:
            continue
        for pid, first in sorted(part.producers.ongoing.items()):
            meta = by_pid.get(pid)
            if meta is not None and str(meta.state) in open_states and tp in meta.partitions:
                continue
            found.append(HangingTransaction(str(tp), pid, first, part.last_stable_offset, part.high_watermark,
                                            meta.transactional_id if meta else None,
                                            str(meta.state) if meta else None))
    return found
