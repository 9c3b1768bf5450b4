"""Share groups (KIP-932): seeded share-partition schedules with consumer crashes, stalls past the
acquisition lock and share-partition leader failover, judged by ``msglib.check.share``.

    .venv/bin/python -m benchmarks.bench_share                 # 2,000 schedules (the issue's figure)
    .venv/bin/python -m benchmarks.bench_share --seeds 10000   # more
    .venv/bin/python -m benchmarks.bench_share --record        # also merge the figures into results.json

Each schedule (``msglib.share.scenario.run_share_schedule``): 3-24 records (15% poison), 1-4 consumers,
a delivery count limit of 1, 2, 3 or 5, a 1 s acquisition lock, an in-flight window of 4, 8 or 200 records;
20 s of faults (consumer crashes, stalls of 1.2-2.5 lock durations, leader failovers), then quiet until every
record is delivery complete. Printed:

* ``share.violations``: schedules where the checker found a record delivered to two consumers at once, an
  acknowledgement applied for a member that no longer held the lock, a record accepted twice, a delivery
  count above the limit, a record archived below the limit, or a record never accepted or archived
  (target 0); the first one's seed and smallest history are printed;
* how much the faults did: deliveries, redeliveries, lock expiries, late acknowledgements refused,
  consumer crashes, leader failovers, records archived;
* the known-wrong state machines of tests/wrong/ex09_share.py: schedules until the checker catches each
  (it must, or the checker is blind);
* ``share.schedules_per_cpu_second``.
"""
from __future__ import annotations

import argparse
import time

from msglib.share.record import InFlightRecord, RecordState
from msglib.share.scenario import explain, run_share_schedules

COMMAND = "python -m benchmarks.bench_share"


def _wrong() -> list[tuple[str, object]]:
    try:
        from tests.wrong.ex09_share import WRONG
    except ImportError:                          # outside a clone (no tests/): nothing to compare
        return []
    out = []
    for mistake, source in WRONG["09-share_transition"]:
        ns: dict = {"InFlightRecord": InFlightRecord, "RecordState": RecordState}
        exec(source, ns)
        out.append((mistake, ns["share_transition"]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=2_000, help="number of schedules (default 2000)")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--record", action="store_true", help="merge the figures into benchmarks/results.json")
    args = ap.parse_args(argv)
    if args.seeds < 1:
        ap.error(f"--seeds must be at least 1 (got {args.seeds})")
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    s = run_share_schedules(seeds)
    cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
    print(f"{s.runs} schedules, {s.records} records: {len(s.failed)} with a violation")
    print(f"  deliveries {s.deliveries} ({s.deliveries - s.records} beyond the first), lock expiries "
          f"{s.lock_expiries}, late acknowledgements refused {s.late_acks_refused}")
    print(f"  consumer crashes {s.crashes}, leader failovers {s.failovers}; records accepted {s.accepted}, "
          f"archived {s.archived}")
    print(f"  {s.runs / max(cpu, 1e-9):.0f} schedules per CPU-second ({wall:.1f} s wall)")
    worst = s.smallest_failure()
    if worst:
        print("smallest failing schedule:\n" + explain(*worst))
    caught = []
    for mistake, fn in _wrong():
        w = run_share_schedules(seeds, transition=fn, stop_after=1)
        caught.append(bool(w.failed))
        where = f"caught at seed {w.failed[0].seed} ({w.runs} schedules)" if w.failed else "NOT CAUGHT"
        print(f"  known-wrong: {mistake}: {where}")
    if args.record:
        from benchmarks.results import record
        cmd = f"{COMMAND} --seeds {args.seeds}"
        record("share.violations", len(s.failed), f"schedules of {s.runs} with a violation", target="0",
               higher_is_better=False, command=cmd)
        record("share.redeliveries", s.deliveries - s.records, f"deliveries beyond the first over {s.runs} schedules",
               command=cmd)
        record("share.lock_expiries", s.lock_expiries, f"acquisition locks expired over {s.runs} schedules",
               command=cmd)
        record("share.late_acks_refused", s.late_acks_refused, f"late acknowledgements refused over {s.runs} "
                                                                f"schedules", command=cmd)
        record("share.consumer_crashes", s.crashes, f"consumer crashes over {s.runs} schedules", command=cmd)
        record("share.leader_failovers", s.failovers, f"leader failovers over {s.runs} schedules", command=cmd)
        if caught:
            record("share.known_wrong_caught", sum(caught), f"of {len(caught)} known-wrong state machines caught",
                   target=f"{len(caught)}", command=cmd)
        record("share.schedules_per_cpu_second", s.runs / max(cpu, 1e-9), "schedules/CPU-s", command=cmd)
    return 1 if s.failed or not all(caught) else 0


if __name__ == "__main__":
    raise SystemExit(main())
