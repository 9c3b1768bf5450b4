"""Transactions of several producers interleaved on the same partitions, watched by read_committed readers.

:func:`run_interleaving` is how module 06 checks the two rules of a
read_committed consumer on the real cluster (docs/transactions.md T7-T11):

* the **last stable offset** (a broker policy, ``Policies.last_stable_offset``):
  a reader must never get a record at or past the first record of a
  transaction that is still open, nor past the high-water mark;
* the **aborted-transaction filter** (a consumer seam, ``aborted_filter``):
  a reader must never get a record of an aborted transaction, nor a marker,
  and must get every committed record once, in offset order.

Several transactional producers and one plain (non-transactional) producer
take seeded turns: begin, send, commit, abort, or a plain send. Between
turns the readers poll. Each record's value is unique, so every read can be
traced back to its transaction. Each read is judged against the truth at
that moment: the leader's own log, with msglib's reference rules.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable

from msglib.client.consumer import filter_aborted as reference_filter
from msglib.cluster import Cluster, ClusterConfig
from msglib.cluster.policies import Policies, last_stable_offset as reference_lso
from msglib.protocol import TopicPartition

TOPIC = "txns"


@dataclass
class Written:
    """One data record the workload wrote: where it landed and which transaction it belongs to."""

    value: bytes
    partition: int
    offset: int
    txn: str | None          # None: written by the plain producer
    written_ms: float


@dataclass
class InterleavingFinding:
    kind: str                 # "past-lso", "aborted-read", "marker-read", "duplicate-read", "out-of-order", "missing"
    message: str


@dataclass
class InterleavingResult:
    seed: int
    written: list[Written]
    outcome: dict[str, str]                       # txn -> "committed" / "aborted"
    reads: list[tuple[float, str, int, int, bytes]]  # (time, reader, partition, offset, value)
    final: dict[int, list[tuple[int, bytes]]]     # partition -> what a fresh read_committed reader got at the end
    findings: list[InterleavingFinding] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.findings

    def expected(self, partition: int) -> list[tuple[int, bytes]]:
        """The committed data of one partition, in offset order: what read_committed must deliver."""
        return sorted((w.offset, w.value) for w in self.written if w.partition == partition
                      and (w.txn is None or self.outcome.get(w.txn) == "committed"))


def run_interleaving(seed: int = 0, *, last_stable_offset: Callable[..., int] | None = None,
                     aborted_filter: Callable[..., list] | None = None, producers: int = 3, partitions: int = 2,
                     turns: int = 40, abort_ratio: float = 0.4, readers: int = 2) -> InterleavingResult:
    """One seeded run; ``last_stable_offset`` / ``aborted_filter`` replace msglib's own (None: msglib's)."""
    rng = random.Random(f"interleaving/{seed}")
    policies = Policies(last_stable_offset=last_stable_offset or reference_lso)
    cluster = Cluster(3, seed=seed, config=ClusterConfig.fast(min_insync_replicas=2), policies=policies)
    cluster.create_topic(TOPIC, partitions, 3)
    sim = cluster.sim
    tps = [TopicPartition(TOPIC, p) for p in range(partitions)]
    txn_producers = []
    for i in range(producers):
        p = cluster.producer(transactional_id=f"tx-{i}", client_id=f"tx-{i}")
        p.init_transactions()
        txn_producers.append(p)
    plain = cluster.producer(client_id="plain")
    extra = {} if aborted_filter is None else {"aborted_filter": aborted_filter}
    reader_list = []
    for i in range(readers):
        c = cluster.consumer(client_id=f"reader-{i}", isolation_level="read_committed", auto_offset_reset="earliest",
                             **extra)
        c.assign(tps)
        reader_list.append(c)

    res = InterleavingResult(seed, [], {}, [], {})
    by_value: dict[bytes, Written] = {}
    open_txn: dict[int, str | None] = {i: None for i in range(producers)}
    counts = [0] * producers
    last_read: dict[tuple[str, int], int] = {}

    def leader_part(p: int) -> Any:
        return cluster.replica(cluster.leader(TOPIC, p), TOPIC, p)

    def write(producer: Any, txn: str | None) -> None:
        part = rng.randrange(partitions)
        value = f"{txn or 'plain'}/{len(res.written)}".encode()
        meta = producer.send(TOPIC, value, partition=part).get()
        w = Written(value, meta.partition, meta.offset, txn, sim.now)
        res.written.append(w)
        by_value[value] = w
        res.steps.append(f"{txn or 'plain'} writes {value.decode()} at p{meta.partition}@{meta.offset}")

    def read(reader: Any) -> None:
        for tp, records in reader.poll(timeout_ms=0).items():
            lso_now = reference_lso(leader_part(tp.partition).high_watermark,
                                    dict(leader_part(tp.partition).producers.ongoing))
            for r in records:
                res.reads.append((sim.now, reader.name, tp.partition, r.offset, r.value))
                judge(reader.name, tp.partition, r.offset, r.value, lso_now)

    def judge(reader: str, partition: int, offset: int, value: bytes, lso_now: int) -> None:
        where = f"{reader} read p{partition}@{offset} ({value!r}) at t={sim.now:.1f} ms"
        w = by_value.get(value)
        if w is None:
            res.findings.append(InterleavingFinding(
                "marker-read", f"{where}: that is not a data record of the run (a COMMIT/ABORT marker?); markers "
                               f"are never handed to the application"))
            return
        key = (reader, partition)
        if key in last_read and offset <= last_read[key]:
            kind = "duplicate-read" if offset == last_read[key] else "out-of-order"
            res.findings.append(InterleavingFinding(kind, f"{where}, after it had already read offset "
                                                          f"{last_read[key]}"))
        last_read[key] = max(offset, last_read.get(key, -1))
        if w.txn is not None and res.outcome.get(w.txn) == "aborted":
            res.findings.append(InterleavingFinding("aborted-read", f"{where}: its transaction {w.txn} aborted"))
        elif offset >= lso_now:
            opened = [x for x in res.written if x.partition == partition and x.txn is not None
                      and x.offset <= offset and res.outcome.get(x.txn) is None]
            why = (f"transaction {opened[0].txn} is still open since offset {opened[0].offset}" if opened
                   else "it is at or past the high-water mark")
            res.findings.append(InterleavingFinding("past-lso", f"{where}, but the last stable offset is "
                                                                f"{lso_now}: {why}"))

    def end(i: int, commit: bool) -> None:
        txn = open_txn[i]
        if commit:
            txn_producers[i].commit_transaction()
        else:
            txn_producers[i].flush()              # written, then aborted: the aborted data is in the log
            txn_producers[i].abort_transaction()
        res.outcome[txn] = "committed" if commit else "aborted"
        res.steps.append(f"{txn} {'commits' if commit else 'aborts'}")
        open_txn[i] = None

    for _ in range(turns):
        who = rng.randrange(producers + 1)
        if who == producers:
            write(plain, None)
        elif open_txn[who] is None:
            counts[who] += 1
            open_txn[who] = f"tx-{who}#{counts[who]}"
            txn_producers[who].begin_transaction()
            write(txn_producers[who], open_txn[who])
        else:
            roll = rng.random()
            if roll < 0.5:
                write(txn_producers[who], open_txn[who])
            else:
                end(who, commit=rng.random() >= abort_ratio)
        sim.run(until=sim.now + rng.uniform(0.0, 6.0))
        for reader in reader_list:
            read(reader)
    for i in range(producers):            # end what is still open, then let every marker land
        if open_txn[i] is not None:
            end(i, commit=rng.random() >= abort_ratio)
    deadline = sim.now + 300.0
    while sim.now < deadline:
        sim.run(until=sim.now + 10.0)
        for reader in reader_list:
            read(reader)

    final = cluster.consumer(client_id="final", isolation_level="read_committed", auto_offset_reset="earliest",
                             **extra)
    final.assign(tps)
    got: dict[int, list[tuple[int, bytes]]] = {p: [] for p in range(partitions)}
    for _ in range(40):
        for tp, records in final.poll(timeout_ms=20).items():
            got[tp.partition] += [(r.offset, r.value) for r in records]
    res.final = got
    for p in range(partitions):
        want = res.expected(p)
        if got[p] != want:
            missing = [x for x in want if x not in got[p]]
            extra_ = [x for x in got[p] if x not in want]
            if missing:
                o, v = missing[0]
                w = by_value[v]
                who = f"transaction {w.txn} (committed)" if w.txn else "the plain producer"
                res.findings.append(InterleavingFinding(
                    "missing", f"after every transaction ended, a read_committed reader of p{p} never got "
                               f"offset {o} ({v!r}), written by {who}; it got {len(got[p])} of {len(want)} "
                               f"committed records"))
            elif extra_:
                o, v = extra_[0]
                res.findings.append(InterleavingFinding("aborted-read", f"after every transaction ended, a "
                                    f"read_committed reader of p{p} got offset {o} ({v!r}), which is not committed"))
            else:
                res.findings.append(InterleavingFinding("out-of-order", f"p{p}: read {got[p]}, expected {want}"))
    return res


__all__ = ["run_interleaving", "InterleavingResult", "InterleavingFinding", "Written", "TOPIC", "reference_filter"]
