"""Benchmarks for the simulated cluster: reliability at scale, throughput, memory.

    .venv/bin/python -m benchmarks.bench_cluster              # the issue's figures (10,000 schedules...)
    .venv/bin/python -m benchmarks.bench_cluster --quick      # tiny counts: proves the script runs
    .venv/bin/python -m benchmarks.bench_cluster --only throughput,memory   # some parts only

Figures (each recorded in benchmarks/results.json by ``record``):

* ``cluster.safe_lost_acked_writes`` / ``cluster.safe_divergent_replicas``: RF=3, min.insync=2,
  acks=all, clean election, idempotent producer, random faults (crash, partition incl. the controller,
  cut, pause, slow): acknowledged writes lost and replica pairs that disagree, summed over
  ``--seeds`` schedules (target 0 and 0); ``cluster.safe_invalid_histories``: histories with any
  anomaly; ``cluster.safe_unsettled_runs``: runs whose replicas did not all catch up once every fault
  healed (target 0 each). Each entry carries the part's wall and CPU seconds and the load average.
* ``cluster.acks1_runs_losing`` / ``cluster.unclean_runs_losing``: the fraction of runs in which the
  checker finds lost acknowledged writes with acks=1 (leader crashes) and with unclean election
  (target > 0: the checker is not blind).
* ``cluster.idempotent_duplicates`` / ``cluster.non_idempotent_duplicates``: duplicated values over a
  lossy network (5% of messages lost), with and without idempotence (targets 0 and > 0).
* ``cluster.produce_acks_all``: records/s of wall time that a 3-broker cluster with acks=all simulates
  (producer, leader, two followers, all in this process); CPU-time figure beside it.
* ``cluster.idle_memory_growth``: bytes traced by tracemalloc that a cluster holding a fixed set of
  records gains over 60 s of simulated idle time (target ~0: memory follows the records kept, not time);
  ``cluster.memory_per_record``: traced bytes per record retained.
* ``cluster.loss_table_seconds``: wall seconds for the 04 notebook's data-loss table
  (3 acks x 2 min.insync x 3 election modes, 30 seeds per cell as the notebook runs it), on ``--processes``
  worker processes; the CPU seconds are printed beside it.

The machine is shared (2 cores, other jobs running): throughput is the best of ``--repeat`` runs.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
import tracemalloc

from benchmarks import results
from msglib.cluster import Cluster, ClusterConfig
from msglib.cluster.scenario import loss_table, run_many

QUICK = False
COMMAND = "python -m benchmarks.bench_cluster"


def record(name: str, value: float, unit: str, extra: dict | None = None, **kw) -> None:
    """Record a figure, unless this is a --quick run (tiny counts must not overwrite real figures).

    ``extra`` (CPU seconds, load averages, seeds with a finding...) is merged into the figure's entry.
    """
    if QUICK:
        print(f"{name:<55} {value:>14,.2f} {unit}  (quick run: not recorded)")
        return
    results.record(name, value, unit, command=COMMAND, **kw)
    if extra:
        data = json.loads(results.RESULTS.read_text())
        data[name].update(extra)
        results.RESULTS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def measured(fn):
    """Run ``fn()``; its result and what it cost: wall and CPU seconds (worker processes included), load."""
    load, t, c = os.getloadavg(), time.perf_counter(), os.times()
    out = fn()
    wall, after = time.perf_counter() - t, os.times()
    # run_many's worker processes are reaped when its pool closes, so their CPU is in the children's times
    cost = {"wall_seconds": round(wall, 1), "cpu_seconds": round(sum(after[:4]) - sum(c[:4]), 1),
            "load_average_1_5_15": [round(x, 2) for x in load],
            "load_average_1_5_15_after": [round(x, 2) for x in os.getloadavg()]}
    return out, cost


def reliability(seeds: int, processes: int) -> None:
    # the defaults: RF=3, min.insync=2, acks=all, clean election, KRaft controller quorum
    runs, cost = measured(lambda: run_many(range(seeds), processes))
    lost = sum(r["lost"] for r in runs)
    divergent = sum(r["divergent"] for r in runs)
    acked = sum(r["acked"] for r in runs)
    invalid = sum(1 for r in runs if not r["valid"])
    not_settled = [r["seed"] for r in runs if not r["settled"]]
    print(f"  {seeds} schedules, {acked:,} acknowledged writes, {lost} lost, {divergent} divergent, "
          f"{invalid} invalid histories, {len(not_settled)} runs that did not recover "
          f"({cost['wall_seconds']:.0f} s wall, {cost['cpu_seconds']:.0f} CPU-s, {processes} processes, "
          f"load average {cost['load_average_1_5_15'][0]:.2f} -> {cost['load_average_1_5_15_after'][0]:.2f})")
    bad = [r["seed"] for r in runs if r["lost"] or r["divergent"] or not r["valid"] or not r["settled"]]
    if bad:  # replay one with: run_scenario(seed, keep_cluster=True).summary()
        print(f"  seeds with a finding: {bad[:20]}")
    extra = dict(cost, acknowledged_writes=acked, processes=processes, seeds_with_a_finding=bad[:100],
                 seeds_not_settled=not_settled[:100], controller=ClusterConfig().controller)
    record("cluster.safe_lost_acked_writes", lost, f"writes lost over {seeds} seeded schedules",
           extra, target="0", higher_is_better=False)
    record("cluster.safe_divergent_replicas", divergent, f"divergent replica pairs over {seeds} schedules",
           extra, target="0", higher_is_better=False)
    record("cluster.safe_invalid_histories", invalid, f"histories with any anomaly over {seeds} schedules",
           extra, target="0", higher_is_better=False)
    record("cluster.safe_unsettled_runs", len(not_settled),
           f"runs over {seeds} schedules whose replicas did not all catch up once every fault healed",
           extra, target="0", higher_is_better=False)

    n = 5 if QUICK else max(20, seeds // 20)
    acks1, cost = measured(lambda: run_many(range(n), processes, acks=1, min_insync_replicas=1))
    print(f"  acks=1: {n} runs, {cost['cpu_seconds']:.0f} CPU-s")
    record("cluster.acks1_runs_losing", sum(1 for r in acks1 if r["lost"]) / n,
           f"fraction of {n} runs (acks=1, leader crashes) where the checker finds lost writes", cost,
           target="> 0")
    unclean, cost = measured(lambda: run_many(range(n), processes, acks="all", min_insync_replicas=1,
                                              unclean=True, duration_ms=1000, fault_interval_ms=100,
                                              fault_kinds=("crash", "pause")))
    print(f"  unclean election: {n} runs, {cost['cpu_seconds']:.0f} CPU-s")
    record("cluster.unclean_runs_losing", sum(1 for r in unclean if r["lost"]) / n,
           f"fraction of {n} runs (unclean election) where the checker finds lost writes", cost, target="> 0")

    m = 5 if QUICK else max(20, seeds // 5)
    lossy = dict(faults=None, loss=0.05)
    idem, cost = measured(lambda: run_many(range(m), processes, idempotent=True, **lossy))
    print(f"  idempotent, 5% loss: {m} runs, {cost['cpu_seconds']:.0f} CPU-s")
    record("cluster.idempotent_duplicates", sum(r["duplicated"] for r in idem),
           f"duplicated values over {m} runs, 5% message loss, idempotent producer", cost, target="0",
           higher_is_better=False)
    plain, cost = measured(lambda: run_many(range(m), processes, idempotent=False, **lossy))
    print(f"  not idempotent, 5% loss: {m} runs, {cost['cpu_seconds']:.0f} CPU-s")
    record("cluster.non_idempotent_duplicates", sum(r["duplicated"] for r in plain),
           f"duplicated values over {m} runs, 5% message loss, retries without idempotence", cost, target="> 0")


def throughput(records: int, repeat: int) -> None:
    def run() -> Cluster:
        c = Cluster(3, seed=1, config=ClusterConfig.fast(min_insync_replicas=2))
        c.create_topic("t", 1, 3)
        producer = c.producer(acks="all", linger_ms=5)
        payload = b"x" * 16
        for i in range(records):
            producer.send("t", payload)
            if i % 5000 == 4999:
                c.run(5)
        producer.flush()
        assert c.replica(0, "t").high_watermark == records
        return c

    best_wall = best_cpu = float("inf")
    load = [round(x, 2) for x in os.getloadavg()]
    for _ in range(repeat):
        gc.collect()
        t, cpu = time.perf_counter(), time.process_time()
        run()
        best_wall = min(best_wall, time.perf_counter() - t)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    extra = {"repeat": repeat, "load_average_1_5_15": load,
             "load_average_1_5_15_after": [round(x, 2) for x in os.getloadavg()]}
    print(f"  {records:,} records: best wall {best_wall:.2f} s, best CPU {best_cpu:.2f} s "
          f"(best of {repeat}, load average {load[0]:.2f})")
    record("cluster.produce_acks_all", records / best_wall, "records/s (wall), 3 brokers, acks=all, linger 5 ms",
           extra, target=">= 100000")
    record("cluster.produce_acks_all_cpu", records / best_cpu, "records/s (CPU time of this process)",
           extra, target=">= 100000")


def memory(records: int, idle_ms: float) -> None:
    tracemalloc.start()
    c = Cluster(3, seed=2, config=ClusterConfig.fast(min_insync_replicas=2))
    c.create_topic("t", 1, 3)
    producer = c.producer(acks="all", linger_ms=5)
    for i in range(records):
        producer.send("t", b"v%07d" % i)
    producer.flush()
    c.run(1000)
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    c.run(idle_ms)
    gc.collect()
    after_idle = tracemalloc.get_traced_memory()[0]
    for i in range(records):
        producer.send("t", b"v%07d" % i)
    producer.flush()
    c.run(1000)
    gc.collect()
    after_more = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    per_record = (after_more - after_idle) / records
    print(f"  {records:,} records kept: {before / 1e6:.1f} MB traced; +{(after_idle - before) / 1e3:.1f} kB "
          f"after {idle_ms / 1000:.0f} s idle; +{(after_more - after_idle) / 1e6:.1f} MB for {records:,} more")
    record("cluster.idle_memory_growth", after_idle - before,
           f"bytes gained over {idle_ms / 1000:.0f} s of simulated idle time", target="~0",
           higher_is_better=False)
    record("cluster.memory_per_record", per_record, "traced bytes per record retained (3 replicas)",
           higher_is_better=False)


def table(seeds: int, processes: int) -> None:
    t = time.perf_counter()
    cells, cost = measured(lambda: loss_table(seeds, processes=processes))
    elapsed, cpu = time.perf_counter() - t, cost["cpu_seconds"]
    for (acks, isr, election), frac in cells.items():
        print(f"  acks={acks!s:<3} min.insync={isr} election={election:<7}  {frac:5.1%} of runs lose writes")
    print(f"  {len(cells) * seeds} simulations, {cpu:.1f} CPU-s, load average {cost['load_average_1_5_15'][0]:.1f}")
    record("cluster.loss_table_seconds", elapsed,
           f"s (wall) for the {len(cells)}-cell data-loss table, {seeds} seeds per cell, {processes} processes "
           f"({cpu:.1f} CPU-s)", cost, higher_is_better=False)


def main(argv: list[str] | None = None) -> None:
    global QUICK
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts, nothing recorded")
    parser.add_argument("--seeds", type=int, default=10_000, help="fault schedules for the safe configuration")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="reliability,throughput,memory,table",
                        help="comma-separated parts to run (default: all)")
    args = parser.parse_args(argv)
    QUICK = args.quick
    parts = set(args.only.split(","))
    seeds = 5 if QUICK else args.seeds
    if "reliability" in parts:
        print("reliability (seeded fault schedules, checked)")
        reliability(seeds, args.processes)
    if "throughput" in parts:
        print("throughput")
        throughput(2_000 if QUICK else 200_000, 1 if QUICK else args.repeat)
    if "memory" in parts:
        print("memory")
        memory(1_000 if QUICK else 50_000, 2_000 if QUICK else 60_000)
    if "table" in parts:
        print("data-loss table (module 04)")
        table(2 if QUICK else 30, args.processes)  # module 04 runs 30 seeds per cell


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # progress shows in a log file as it happens
    main()
