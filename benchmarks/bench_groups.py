"""Benchmarks for consumer groups and the consumer.

    .venv/bin/python -m benchmarks.bench_groups           # the figures below
    .venv/bin/python -m benchmarks.bench_groups --quick   # tiny counts: proves the script runs (nothing recorded)
    .venv/bin/python -m benchmarks.bench_groups --only rebalances   # one part: protocols, schedules or rebalances

Figures (each recorded in benchmarks/results.json by ``record``):

* ``groups.rebalance_ms.<protocol>.n<N>``: simulated ms from a new member's JoinGroup until every
  partition has an owner again and the group is Stable, for groups of N members (2N partitions),
  with Kafka's default timers (heartbeat 3 s, initial delay 3 s); each application polls every
  10..1000 ms (seeded: the time it spends processing a batch), so the slowest one decides when a
  rebalance can complete -- the real cost of a rebalance; eager (range)
  and cooperative (cooperative-sticky, both of its rebalances). Beside each
  (``groups.stop_the_world...``), the partition-seconds with no owner: the stop-the-world cost.
  One seed (N) per size: ``msglib.groups.protocol_compare.join_cost``, the workload of the
  ``groups.join_*`` figures below.
* ``groups.consume_local`` / ``groups.consume_cluster``: records/s of wall time one consumer reads
  (poll, max_poll_records=500), from a LocalBroker and from a 3-broker cluster (RF=3). Baselines in
  the same run: reading the same log with ``Log.records()`` (local), and msglib's minimal
  ``LogReader.read_to_end`` (cluster, no group, no positions) -- the ratio is the consumer's cost.
* ``groups.at_least_once_lost`` / ``groups.at_most_once_duplicated``: over ``--seeds`` seeded runs
  with three crashes each (targets 0 and 0); beside them how many runs duplicated / lost (> 0:
  the checks are not blind).
* ``groups.sticky_assign_ms``: wall ms for one sticky assignment of 1,000 partitions to 100 members
  whose previous owner left.
* ``groups.join_settle_ms.<protocol>.n<N>`` / ``groups.join_unowned_partition_s.<protocol>.n<N>``: the same
  workload under classic eager (range), classic cooperative-sticky and KIP-848 (``group_protocol="consumer"``,
  the server's uniform assignor): one member joins a settled group of N (2N partitions), Kafka's default
  timers (classic heartbeat 3 s; KIP-848 heartbeat interval 5 s, set by the coordinator); the median over
  ``--protocol-seeds`` seeds of the time to a settled assignment and of the partition-seconds without an
  owner (``msglib.groups.protocol_compare``).
* ``groups.kip848_schedules_failing``: over ``--schedules`` seeded KIP-848 rebalance schedules (joins, leaves,
  crashes, GC pauses, slow revocations, cuts, lossy and slow links, coordinator crashes), how many broke a
  property of ``msglib.check.rebalance`` (two owners of a partition at once, a needless revocation, a group
  that never settles); beside it the partition-milliseconds with two owners (target 0).
"""
from __future__ import annotations

import argparse
import time

from benchmarks import results
from msglib.client.consumer import KafkaConsumer
from msglib.cluster import Cluster, ClusterConfig
from msglib.groups import LocalBroker, Subscription, TopicPartition, sticky_assign
from msglib.groups.protocol_compare import compare, join_cost, summarize
from msglib.groups.rebalance_schedules import run_many
from msglib.groups.workload import at_least_once_step, at_most_once_step, run_group
from msglib.log import Record

QUICK = False
COMMAND = "python -m benchmarks.bench_groups"


def record(name: str, value: float, unit: str, **kw) -> None:
    if QUICK:
        print(f"{name:<55} {value:>14,.2f} {unit}  (quick run: not recorded)")
    else:
        results.record(name, value, unit, command=COMMAND, **kw)


# ------------------------------------------------------------------ rebalance time vs group size
def rebalances(sizes: list[int]) -> None:
    """One join per group size (seed N), the workload of :func:`msglib.groups.protocol_compare.join_cost`."""
    for label in ("eager", "cooperative"):
        for n in sizes:
            cost = join_cost(label, n, seed=n)
            ms, gap, moved = cost.settle_ms, cost.unowned_partition_s, cost.moved
            print(f"  {label:<12} n={n:<3} {ms:8.0f} ms to settle, {gap:6.1f} partition-s unowned, {moved} moved")
            record(f"groups.rebalance_ms.{label}.n{n}", ms, "simulated ms", higher_is_better=False)
            record(f"groups.stop_the_world.{label}.n{n}", gap, "partition-s without an owner", higher_is_better=False)


# ------------------------------------------------------------------ consumption throughput
def read_all(consumer: KafkaConsumer, tp: TopicPartition, records: int) -> float:
    """Records/s of wall time ``consumer``, assigned ``tp`` alone, polls the first ``records`` of it; then closes it."""
    consumer.assign([tp])
    t = time.perf_counter()
    got = 0
    while got < records:
        got += sum(len(v) for v in consumer.poll(timeout_ms=100).values())
    rate = got / (time.perf_counter() - t)
    consumer.close()
    return rate


def consume_local(records: int, repeat: int) -> None:
    b = LocalBroker(seed=1)
    topic = b.create_topic("t", 1)
    batch = [Record(None, b"x" * 100) for _ in range(100)]
    for _ in range(records // 100):
        topic[0].append(batch)
    best = base = 0.0
    for _ in range(repeat):
        t = time.perf_counter()
        n = sum(1 for _ in topic[0].records())
        base = max(base, n / (time.perf_counter() - t))
        best = max(best, read_all(b.consumer(auto_offset_reset="earliest"), TopicPartition("t", 0), records))
    record("groups.consume_local", best, "records/s (wall)", baseline=base, baseline_name="Log.records() scan")


def consume_cluster(records: int, repeat: int) -> None:
    cl = Cluster(3, seed=1, config=ClusterConfig.fast(min_insync_replicas=2))
    cl.create_topic("t", 1, 3)
    p = cl.producer(linger_ms=5, batch_size=64 * 1024)
    for i in range(records):
        p.send("t", b"x" * 100, partition=0)
    p.flush()
    tp = TopicPartition("t", 0)
    best = base = 0.0
    for i in range(repeat):
        reader = cl.reader(f"reader-{i}")
        t = time.perf_counter()
        n = len(reader.read_to_end([tp], timeout_ms=600_000)[tp])
        base = max(base, n / (time.perf_counter() - t))
        best = max(best, read_all(KafkaConsumer(cluster=cl, auto_offset_reset="earliest"), tp, records))
    record("groups.consume_cluster", best, "records/s (wall)", baseline=base,
           baseline_name="LogReader.read_to_end (no group)")


# ------------------------------------------------------------------ delivery guarantees at scale
def guarantees(seeds: int) -> None:
    t = time.perf_counter()
    lost = dup_runs = 0
    for s in range(seeds):
        r = run_group(s, events="random", step=at_least_once_step)
        lost += len(r.lost)
        dup_runs += bool(r.duplicated)
    dup = loss_runs = 0
    for s in range(seeds):
        r = run_group(s, events="random", step=at_most_once_step)
        dup += len(r.duplicated)
        loss_runs += bool(r.lost)
    print(f"  {2 * seeds} runs in {time.perf_counter() - t:.1f} s")
    record("groups.at_least_once_lost", lost, f"records lost over {seeds} runs with 3 crashes", target="0",
           higher_is_better=False)
    record("groups.at_least_once_runs_duplicating", dup_runs / seeds, "fraction of runs", target="> 0")
    record("groups.at_most_once_duplicated", dup, f"records duplicated over {seeds} runs with 3 crashes",
           target="0", higher_is_better=False)
    record("groups.at_most_once_runs_losing", loss_runs / seeds, "fraction of runs", target="> 0")


def assignor_speed(members: int, partitions: int, repeat: int) -> None:
    topics = {"t": partitions}
    first = sticky_assign(topics, {f"m{i:03d}": Subscription(("t",)) for i in range(members)})
    survivors = {m: Subscription(("t",), tuple(tps), 1) for m, tps in first.items() if m != "m000"}
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        sticky_assign(topics, survivors)
        best = min(best, time.perf_counter() - t)
    record("groups.sticky_assign_ms", best * 1000, f"wall ms ({partitions} partitions, {members} members)",
           higher_is_better=False)


# ------------------------------------------------------------------ classic vs KIP-848
def protocols(sizes: list[int], seeds: int) -> None:
    for n in sizes:
        for s in summarize(compare(n, range(seeds))):
            print(f"  {s.protocol:<12} n={n:<3} {s.settle_ms_median:8.0f} ms to settle (median of {s.seeds}), "
                  f"{s.unowned_s_median:6.1f} partition-s unowned")
            record(f"groups.join_settle_ms.{s.protocol}.n{n}", s.settle_ms_median,
                   f"simulated ms, median of {s.seeds} seeds", higher_is_better=False)
            record(f"groups.join_unowned_partition_s.{s.protocol}.n{n}", s.unowned_s_median,
                   f"partition-s without an owner, median of {s.seeds} seeds", higher_is_better=False)


def schedules(count: int) -> None:
    t = time.perf_counter()
    many = run_many(range(count))
    print(f"  {many.runs} KIP-848 schedules in {time.perf_counter() - t:.1f} s: {len(many.failures)} failing, "
          f"{many.two_owner_partition_ms:g} partition-ms with two owners")
    for f in many.failures[:3]:
        print(f"    seed {f.seed}: {f.findings[0]}")
    record("groups.kip848_schedules_failing", len(many.failures), f"schedules failing of {many.runs}", target="0",
           higher_is_better=False)
    record("groups.kip848_two_owner_partition_ms", many.two_owner_partition_ms,
           f"partition-ms with two owners over {many.runs} schedules", target="0", higher_is_better=False)


def main(argv: list[str] | None = None) -> None:
    global QUICK
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts, nothing recorded")
    parser.add_argument("--seeds", type=int, default=500, help="seeded runs per delivery guarantee")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--protocol-seeds", type=int, default=5, help="seeds per protocol and group size")
    parser.add_argument("--schedules", type=int, default=2_000, help="seeded KIP-848 rebalance schedules")
    parser.add_argument("--only", choices=["protocols", "schedules", "rebalances"],
                        help="run only these figures (rebalances: groups.rebalance_ms / groups.stop_the_world)")
    args = parser.parse_args(argv)
    QUICK = args.quick
    if args.only in (None, "protocols"):
        print("one join: classic eager vs classic cooperative-sticky vs KIP-848 (Kafka's default timers):")
        protocols([2, 3] if QUICK else [2, 5, 10, 20], 2 if QUICK else args.protocol_seeds)
    if args.only in (None, "schedules"):
        print("KIP-848 rebalance schedules:")
        schedules(20 if QUICK else args.schedules)
    if args.only in (None, "rebalances"):
        print("rebalance time vs group size (Kafka's default timers):")
        rebalances([2, 3] if QUICK else [2, 5, 10, 20, 50])
    if args.only:
        return
    print("consumption (best of --repeat):")
    consume_local(2_000 if QUICK else 200_000, 1 if QUICK else args.repeat)
    consume_cluster(1_000 if QUICK else 50_000, 1 if QUICK else args.repeat)
    print("delivery guarantees:")
    guarantees(3 if QUICK else args.seeds)
    assignor_speed(10 if QUICK else 100, 100 if QUICK else 1_000, 1 if QUICK else args.repeat)


if __name__ == "__main__":
    main()
