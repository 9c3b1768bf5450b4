"""Seeded KRaft quorum schedules with controller failover: safety violations over many seeds.

    .venv/bin/python -m benchmarks.bench_kraft                  # 10,000 schedules (the issue's figure)
    .venv/bin/python -m benchmarks.bench_kraft --seeds 200      # fewer
    .venv/bin/python -m benchmarks.bench_kraft --record         # also merge the figures into results.json
    .venv/bin/python -m benchmarks.bench_kraft --harsh --seeds 1000 --controllers 5   # a harsher mix

Each schedule (``msglib.kraft.scenario.run_quorum``): 3 controllers, 3 brokers, 2 s of random faults
(controller crash and restart, partitions including brokers, cuts, pauses, slow links; at most one
controller down at a time), 2 ``ControllerFailover`` faults (the active controller crashes), 2% of
messages lost, topics created meanwhile; then 1.5 s healed, then ``msglib.check.kraft``. Printed:

* ``kraft.safety_violations``: schedules with an election-safety, log-matching, committed-record or
  broker-image violation (target 0); the first one's seed and smallest history are printed;
* ``kraft.no_leader_at_end``: schedules with no leader 1.5 s after healing (liveness, reported only);
* ``kraft.elections_per_schedule`` and ``kraft.seconds_per_schedule`` (wall time, shared machine).

``--harsh``: 10% of messages lost, 5% duplicated, a fault every 100 ms on average, 4 failovers, no cap
on crashed controllers (with 5 controllers: at most 2 crashed by the schedule).

``--cluster``: the whole data plane on KRaft (``msglib.cluster.scenario.run_scenario``): 3 brokers, 3
controllers, one topic with RF 3, ``min.insync.replicas=2``, ``acks=all``, an idempotent producer; 400 ms of
random faults (broker crashes, partitions and cuts that include the controllers, pauses, slow links) plus 2
``ControllerFailover`` faults (whichever controller is active crashes, and restarts 30-250 ms later); then
every fault is healed, the cluster settles, and ``msglib.check`` judges the history (acknowledged writes
lost, duplicates, order) while ``msglib.check.kraft.cluster_metadata_problems`` judges the committed
metadata (leaders from ISR/ELR, KIP-966's invariants) and the quorum reports any committed entry that
changed. Printed: ``kraft_cluster.lost_acked_writes`` (target 0), ``kraft_cluster.schedules_with_loss``
(target 0), ``kraft_cluster.metadata_violations`` (target 0), ``kraft_cluster.unsettled`` (liveness),
acknowledged writes, failovers that found an active controller, ms without one, elections per schedule.

    .venv/bin/python -m benchmarks.bench_kraft --cluster                # 10,000 schedules
    .venv/bin/python -m benchmarks.bench_kraft --cluster --seeds 300    # the test's size

Progress is printed every 500 schedules, so a run stopped early still says how far it got.
"""
from __future__ import annotations

import argparse
import time
from collections import Counter

from msglib.check.kraft import SAFETY_KINDS
from msglib.kraft.scenario import run_quorum

COMMAND = "python -m benchmarks.bench_kraft"


# The --cluster schedule (RF 3, min.insync.replicas 2, acks=all, KRaft failovers in the fault mix).
CLUSTER_SCENARIO = dict(duration_ms=400.0, send_interval_ms=8.0, fault_interval_ms=100.0, controller_failovers=2,
                        acks="all", min_insync_replicas=2, replication_factor=3, brokers=3)


def cluster_schedules(seeds, **overrides) -> dict:
    """Run the --cluster schedules; the totals, and the first failing seed's story."""
    from msglib.cluster.scenario import run_scenario

    totals: Counter = Counter()
    first = None
    start = time.perf_counter()
    for seed in seeds:
        r = run_scenario(seed, **dict(CLUSTER_SCENARIO, **overrides))
        totals["schedules"] += 1
        totals["acked"] += r.acked
        totals["lost"] += r.lost
        totals["schedules_with_loss"] += bool(r.lost)
        totals["metadata_violations"] += bool(r.stats["metadata_violations"])
        totals["divergent"] += bool(r.divergences)
        totals["unsettled"] += not r.settled
        totals["invalid"] += not r.check.valid
        totals["failovers"] += r.stats["controller_failovers"]
        totals["elections"] += r.stats["elections"]
        totals["elr_elections"] += r.stats["elr_elections"]
        totals["no_controller_ms"] += r.stats["no_controller_ms"]
        if not r.settled and "first_unsettled" not in totals:
            totals["first_unsettled"] = seed  # liveness: printed, never a safety failure
            print(f"seed {seed}: did not settle after every fault was healed", flush=True)
        if first is None and (r.lost or r.stats["metadata_violations"] or r.divergences or not r.check.valid):
            what, story = r.first_problem()
            first = f"seed {seed}: {what}\n{story}"
            print(first, flush=True)
        if totals["schedules"] % 500 == 0:
            print(f"{totals['schedules']:>6} schedules  lost {totals['lost']}  metadata violations "
                  f"{totals['metadata_violations']}  {time.perf_counter() - start:8.1f} s", flush=True)
    totals["seconds"] = time.perf_counter() - start
    return {"totals": dict(totals), "first": first}


def cluster_main(args) -> int:
    out = cluster_schedules(range(args.first_seed, args.first_seed + args.seeds))
    t = out["totals"]
    n = t["schedules"]
    figures = [("kraft_cluster.lost_acked_writes", t["lost"], "writes", "0", False),
               ("kraft_cluster.schedules_with_loss", t["schedules_with_loss"], "schedules", "0", False),
               ("kraft_cluster.metadata_violations", t["metadata_violations"], "schedules", "0", False),
               ("kraft_cluster.divergent_or_invalid", t["divergent"] + t["invalid"], "schedules", "0", False),
               ("kraft_cluster.unsettled", t["unsettled"], "schedules", None, False),
               ("kraft_cluster.acked_writes", t["acked"], "writes", None, True),
               ("kraft_cluster.controller_failovers_scheduled", t["failovers"], "failovers", None, True),
               ("kraft_cluster.no_controller_ms_per_schedule", t["no_controller_ms"] / n, "ms", None, False),
               ("kraft_cluster.elections_per_schedule", t["elections"] / n, "elections", None, True),
               ("kraft_cluster.seconds_per_schedule", t["seconds"] / n, "s", None, False)]
    print(f"{n} cluster schedules, seeds {args.first_seed}..{args.first_seed + n - 1} "
          f"(RF 3, min.insync.replicas 2, acks=all, 2 controller failovers each)")
    for name, value, unit, target, higher in figures:
        if args.record:  # record() prints the figure too
            from benchmarks import results
            results.record(name, value, unit, target=target, higher_is_better=higher,
                           command=f"{COMMAND} --cluster --seeds {args.seeds}")
        else:
            print(f"{name:<46} {value:>14,.4f} {unit}" + (f"  (target {target})" if target else ""))
    return 1 if t["lost"] or t["metadata_violations"] else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=10_000, help="number of schedules (default 10000)")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--record", action="store_true", help="merge the figures into benchmarks/results.json")
    ap.add_argument("--harsh", action="store_true", help="more loss, duplicates, faults and failovers")
    ap.add_argument("--controllers", type=int, default=3, help="quorum size (default 3)")
    ap.add_argument("--cluster", action="store_true",
                    help="the whole cluster on KRaft (RF 3, min.insync 2, acks=all, controller failovers)")
    args = ap.parse_args(argv)
    if args.seeds < 1:
        ap.error(f"--seeds must be at least 1 (got {args.seeds})")
    if args.cluster:
        return cluster_main(args)
    if args.controllers < 1:
        ap.error(f"--controllers must be at least 1 (got {args.controllers})")
    params: dict = {"controllers": args.controllers}
    if args.harsh:
        params.update(loss=0.1, duplicate=0.05, mean_fault_interval_ms=100.0, failovers=4,
                      max_down=None if args.controllers <= 3 else (args.controllers - 1) // 2)
    prefix = "kraft_harsh" if args.harsh else "kraft"
    kinds: Counter[str] = Counter()
    violating = no_leader = elections = 0
    first_report = None
    start = time.perf_counter()
    done = 0
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        run = run_quorum(seed, **params)
        done += 1
        elections += sum(1 for op in run.history if op.f == "leader")
        counts = run.result.counts
        kinds.update(counts)
        if any(k in SAFETY_KINDS for k in counts):
            violating += 1
            if first_report is None:
                first_report = run.report()
                print(first_report, flush=True)
        if "no-leader-at-end" in counts:
            no_leader += 1
        if done % 500 == 0:
            print(f"{done:>6} schedules  safety violations {violating}  no leader at end {no_leader}  "
                  f"{time.perf_counter() - start:8.1f} s", flush=True)
    seconds = time.perf_counter() - start
    figures = [(f"{prefix}.safety_violations", violating, "schedules", "0", False),
               (f"{prefix}.no_leader_at_end", no_leader, "schedules", None, False),
               (f"{prefix}.elections_per_schedule", elections / done, "elections", None, True),
               (f"{prefix}.seconds_per_schedule", seconds / done, "s", None, False)]
    print(f"{done} schedules, seeds {args.first_seed}..{args.first_seed + done - 1}; anomaly kinds: {dict(kinds)}")
    for name, value, unit, target, higher in figures:
        if args.record:
            from benchmarks import results
            results.record(name, value, unit, target=target, higher_is_better=higher,
                           command=f"{COMMAND} --seeds {args.seeds}"
                                   + (f" --harsh --controllers {args.controllers}" if args.harsh else ""))
        else:
            print(f"{name:<40} {value:>12,.4f} {unit}" + (f"  (target {target})" if target else ""))
    return 1 if violating else 0


if __name__ == "__main__":
    raise SystemExit(main())
