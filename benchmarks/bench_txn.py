"""Benchmarks for transactions: what a transaction costs, and what exactly-once buys.

    .venv/bin/python -m benchmarks.bench_txn              # the figures below
    .venv/bin/python -m benchmarks.bench_txn --quick      # tiny counts: proves the script runs (nothing recorded)
    .venv/bin/python -m benchmarks.bench_txn --only eos   # one part only (throughput, eos, versions)

Figures (each recorded in benchmarks/results.json by ``record``):

* ``txn.produce.size<k>``: records/s of wall time for a transactional producer that sends
  ``--records`` records in transactions of ``k`` records each (begin, k sends, commit), on a
  3-broker cluster (RF=3, min.insync=2, acks=all). Baseline, measured in the same run: an
  idempotent-only producer sending the same records and flushing every ``k`` records (the same
  waits, no coordinator, no markers). The ratio is the price of the transaction per record. A
  transaction's cost grows with the partitions it touches (AddPartitionsToTxn round trips, one
  marker each): with 4 partitions and keys spread over them, 10-record transactions touch all 4,
  1-record ones only 1, so the ratio is not monotonic in the size.
* ``txn.eos.duplicates`` / ``txn.eos.lost`` / ``txn.eos.invalid_runs``: consume-transform-produce
  with ``eos_step`` over ``--seeds`` seeded schedules of crashes, stalls (zombies) and failed
  transactions (and, every other seed, broker and coordinator crashes): duplicated and lost
  inputs in the committed output, and runs the checker rejects (targets 0, 0, 0);
* ``txn.alo.duplicates`` / ``txn.alo.lost`` / ``txn.alo.runs_with_duplicates``: the at-least-once
  loop over the same crash and stall schedules (expected: duplicates > 0, losses 0).
* ``txn.versions.<v1|v1_verification|v2>.hanging_runs`` / ``.invalid_runs`` / ``.duplicates``: the same
  consume-transform-produce loop over ``--version-seeds`` schedules of application crashes and *stuck*
  produce requests (a late write of an aborted transaction, KIP-890), run with transaction version 1
  (KIP-98), version 1 with partition verification (KIP-890 part 1) and version 2 (part 2, Kafka 4.0's
  default): runs that end with a hanging transaction, runs the checkers reject (check_eos or
  find_hanging_transactions), duplicated inputs, and runs that did not finish within the drain (a
  harness limit, not a violation). Expected: v1 > 0; v2 0.
* ``txn.versions.hanging_scenario.<protocol>``: the deterministic story of ``msglib.txn.hanging`` over
  the same seeds: the fraction of seeds whose late write hangs the partition (v1: all; the others: none).
* ``txn.versions.sim_ms_per_txn.size<k>``: simulated ms per transaction of ``k`` records over 4
  partitions with version 2, baseline version 1 in the same run: v2 saves the client's
  AddPartitionsToTxn round trip before its first send to a partition (the leader's add runs while the
  batch waits at the leader), and pays one epoch bump per EndTxn (no extra request).

The machine is shared (2 cores, other jobs running): throughput is the best of ``--repeat`` runs.
"""
from __future__ import annotations

import argparse
import time

from benchmarks import results
from msglib.cluster import Cluster, ClusterConfig
from msglib.txn import TxnConfig, transaction_coordinator_for
from msglib.txn.eos import EVENT_KINDS, random_events, run_eos
from msglib.txn.hanging import run_hanging

QUICK = False
COMMAND = "python -m benchmarks.bench_txn"


def record(name: str, value: float, unit: str, **kw) -> None:
    """Record a figure, unless this is a --quick run (tiny counts must not overwrite real figures)."""
    if QUICK:
        base = kw.get("baseline")
        ratio = f"  ratio {value / base:.2f}" if base else ""
        print(f"{name:<55} {value:>14,.2f} {unit}{ratio}  (quick run: not recorded)")
    else:
        results.record(name, value, unit, command=COMMAND, **kw)


def _cluster() -> Cluster:
    cl = Cluster(3, seed=0, config=ClusterConfig.fast(min_insync_replicas=2))
    cl.create_topic("t", 4, 3)
    return cl


def _produce(records: int, size: int, transactional: bool) -> float:
    """Wall seconds to send ``records`` records in groups of ``size`` (transactions, or flushes)."""
    cl = _cluster()
    if transactional:
        p = cl.producer(transactional_id="bench", acks="all")
        p.init_transactions()
    else:
        p = cl.producer(enable_idempotence=True, acks="all")
    value = b"x" * 100
    t = time.perf_counter()
    for first in range(0, records, size):
        if transactional:
            p.begin_transaction()
        for i in range(first, min(first + size, records)):
            p.send("t", value, key=str(i % 64).encode())
        if transactional:
            p.commit_transaction()
        else:
            p.flush()
    return time.perf_counter() - t


def throughput(records: int, sizes: list[int], repeat: int) -> None:
    for size in sizes:
        txn = min(_produce(records, size, True) for _ in range(repeat))
        idem = min(_produce(records, size, False) for _ in range(repeat))
        record(f"txn.produce.size{size}", records / txn, f"records/s of wall time ({records} records, "
               f"transactions of {size})", baseline=records / idem,
               baseline_name=f"idempotent producer, flush every {size}")


def eos_under_faults(seeds: int) -> None:
    eos = {"dup": 0, "lost": 0, "invalid": 0, "inputs": 0}
    alo = {"dup": 0, "lost": 0, "runs_dup": 0, "inputs": 0}
    t = time.perf_counter()
    for s in range(seeds):
        # (the "stuck" fault has its own part, versions)
        kinds = tuple(k for k in EVENT_KINDS if k != "stuck") if s % 2 else ("crash", "pause", "error")
        r = run_eos(s, events=random_events(s, 1_500.0, count=4, kinds=kinds))
        eos["dup"] += r.duplicates
        eos["lost"] += r.lost
        eos["invalid"] += not r.valid
        eos["inputs"] += len(r.inputs)
        if not r.valid:
            print(f"  seed {s}: {r.summary()}")
        a = run_eos(s, transactional=False, events=random_events(s, 1_500.0, count=4, kinds=("crash", "pause")))
        alo["dup"] += a.duplicates
        alo["lost"] += a.lost
        alo["runs_dup"] += a.duplicates > 0
        alo["inputs"] += len(a.inputs)
    print(f"  {seeds} seeds, {eos['inputs']:,} + {alo['inputs']:,} inputs ({time.perf_counter() - t:.0f} s)")
    record("txn.eos.duplicates", eos["dup"], f"inputs duplicated in committed output ({seeds} seeds)",
           target="0", higher_is_better=False)
    record("txn.eos.lost", eos["lost"], f"inputs lost ({seeds} seeds)", target="0", higher_is_better=False)
    record("txn.eos.invalid_runs", eos["invalid"], f"runs rejected by check_eos ({seeds} seeds)", target="0",
           higher_is_better=False)
    record("txn.alo.duplicates", alo["dup"], f"inputs duplicated, at-least-once ({seeds} seeds)", target="> 0",
           higher_is_better=False)
    record("txn.alo.lost", alo["lost"], f"inputs lost, at-least-once ({seeds} seeds)", target="0",
           higher_is_better=False)
    record("txn.alo.runs_with_duplicates", alo["runs_dup"] / seeds, "fraction of runs", target="> 0",
           higher_is_better=False)


PROTOCOLS = {"v1": (1, False), "v1_verification": (1, True), "v2": (2, False)}
DRAIN_MS = 15_000.0


def _sim_ms_per_txn(version: int, size: int, transactions: int) -> float:
    cl = Cluster(3, seed=0, config=ClusterConfig.fast(min_insync_replicas=2))
    cl.create_topic("t", 4, 3)
    transaction_coordinator_for(cl, TxnConfig.fast(transaction_version=version))
    p = cl.producer(transactional_id="bench", acks="all")
    p.init_transactions()
    start = cl.sim.now
    for n in range(transactions):
        p.begin_transaction()
        for i in range(size):
            p.send("t", b"x" * 100, key=str(n * size + i).encode())
        p.commit_transaction()
    return (cl.sim.now - start) / transactions


def versions(seeds: int, transactions: int) -> None:
    t = time.perf_counter()
    for name, (version, verification) in PROTOCOLS.items():
        hanging = invalid = dup = undrained = 0
        for s in range(seeds):
            # three stuck requests in a row can keep an application from finishing for ~10 s: a long drain
            r = run_eos(s, events=random_events(s, 1_500.0, count=3, kinds=("crash", "stuck")),
                        transaction_version=version, verification=verification, drain_ms=DRAIN_MS)
            hanging += bool(r.hanging)
            invalid += bool(r.hanging) or not r.check.valid
            dup += r.duplicates
            undrained += not r.drained
            if not r.valid and name != "v1":
                print(f"  seed {s}: {r.summary()}")
        scenario = sum(bool(run_hanging(s, transaction_version=version, verification=verification).hanging)
                       for s in range(min(seeds, 20)))
        print(f"  {name}: {hanging} hanging, {invalid} invalid runs, {dup} duplicated inputs of {seeds} seeds "
              f"({undrained} not finished within the drain); scenario hangs {scenario} of {min(seeds, 20)}")
        target = "> 0" if name == "v1" else "0"
        record(f"txn.versions.{name}.hanging_runs", hanging, f"runs ending with a hanging transaction ({seeds} "
               f"seeds, crashes and stuck produce requests)", target=target if name != "v1_verification" else "0",
               higher_is_better=False)
        record(f"txn.versions.{name}.invalid_runs", invalid, f"runs rejected by check_eos or find_hanging ({seeds} "
               f"seeds)", target=target, higher_is_better=False)
        record(f"txn.versions.{name}.undrained_runs", undrained, f"runs not finished within the drain of "
               f"{DRAIN_MS:g} ms ({seeds} seeds)", target="0", higher_is_better=False)
        record(f"txn.versions.{name}.duplicates", dup, f"inputs duplicated in committed output ({seeds} seeds)",
               target=target, higher_is_better=False)
        record(f"txn.versions.hanging_scenario.{name}", scenario / min(seeds, 20),
               f"fraction of seeds whose late write hangs the partition (msglib.txn.hanging, {min(seeds, 20)} seeds)",
               target="1" if name == "v1" else "0", higher_is_better=False)
    for size in (1, 10):
        v1 = _sim_ms_per_txn(1, size, transactions)
        v2 = _sim_ms_per_txn(2, size, transactions)
        record(f"txn.versions.sim_ms_per_txn.size{size}", v2, f"simulated ms per transaction of {size} records "
               f"over 4 partitions, transaction version 2 ({transactions} transactions)", baseline=v1,
               baseline_name="transaction version 1", higher_is_better=False)
    print(f"  ({time.perf_counter() - t:.0f} s)")


def main(argv: list[str] | None = None) -> None:
    global QUICK
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts, nothing recorded")
    parser.add_argument("--records", type=int, default=5_000, help="records per throughput run")
    parser.add_argument("--seeds", type=int, default=200, help="seeded fault schedules per loop")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--version-seeds", type=int, default=100, help="seeded schedules per transaction version")
    parser.add_argument("--only", default="throughput,eos,versions",
                        help="comma-separated parts: throughput, eos, versions")
    args = parser.parse_args(argv)
    QUICK = args.quick
    parts = set(args.only.split(","))
    if "throughput" in parts:
        print("produce throughput, transactional vs idempotent-only (best of --repeat):")
        throughput(100 if QUICK else args.records, [1, 10] if QUICK else [1, 10, 100, 1000],
                   1 if QUICK else args.repeat)
    if "eos" in parts:
        print("consume-transform-produce under faults:")
        eos_under_faults(2 if QUICK else args.seeds)
    if "versions" in parts:
        print("transaction version 1 vs 2 (KIP-890): late writes of aborted transactions, cost per transaction:")
        versions(2 if QUICK else args.version_seeds, 20 if QUICK else 200)


if __name__ == "__main__":
    main()
