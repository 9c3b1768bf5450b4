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

Progress is printed every 500 schedules, so a run stopped early still says how far it got.
"""
from __future__ import annotations

import argparse
import time
from collections import Counter

from msglib.check.kraft import SAFETY_KINDS
from msglib.kraft.scenario import run_quorum

COMMAND = "python -m benchmarks.bench_kraft"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=10_000, help="number of schedules (default 10000)")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--record", action="store_true", help="merge the figures into benchmarks/results.json")
    ap.add_argument("--harsh", action="store_true", help="more loss, duplicates, faults and failovers")
    ap.add_argument("--controllers", type=int, default=3, help="quorum size (default 3)")
    args = ap.parse_args(argv)
    if args.seeds < 1:
        ap.error(f"--seeds must be at least 1 (got {args.seeds})")
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
