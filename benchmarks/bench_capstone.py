"""Benchmarks for msglib.capstone: what a whole notification system costs to simulate and to check.

    .venv/bin/python -m benchmarks.bench_capstone            # full counts (a minute or two)
    .venv/bin/python -m benchmarks.bench_capstone --quick    # tiny counts: proves the script runs, records nothing

Figures (each recorded in benchmarks/results.json):

* ``capstone.system_notifications``  notifications delivered per CPU second by the whole system (events topic,
  routers, three consumer groups, retry topics, DLQs, runbook) on a seeded workload under four random faults.
  Baseline, same run: the same decisions (route, dedupe, rate limit, render, provider call, in-place retries,
  dead letters) in a plain loop over the same workload, with no log, no consumer group, no simulated network.
  The ratio is the price of running it as a distributed system in a simulation.
* ``capstone.system_large``          the same for a workload 10x larger (1,000 events over 40 simulated seconds).
* ``capstone.sim_events``            simulation events per CPU second in the standard run.
* ``capstone.check_ops``             history operations judged per CPU second by the end-to-end checker.
* ``capstone.grading_seconds``       CPU seconds for the visible and hidden checks of the four exercises with the
  reference pieces (what grading one notebook's module 11 costs; lower is better).

Timings are the best of ``--repeat`` runs in CPU seconds of this process (``time.process_time``).
"""
from __future__ import annotations

import argparse
import gc
import sys
import time

from benchmarks import results
from msglib.capstone import TokenBucket, handle, make_workload, random_faults, redrive_when_healthy, route
from msglib.capstone.events import EVENT_TYPES, Workload
from msglib.capstone.providers import Provider
from msglib.capstone.ratelimit import RateLimiter
from msglib.capstone.system import SystemConfig, run_notifications
from msglib.capstone.templates import render
from msglib.check.notifications import check_notifications
from msglib.dlq import HttpError, is_transient
from msglib.sim import Simulation

COMMAND = "python -m benchmarks.bench_capstone"
QUICK = False


def record(name: str, value: float, unit: str, **kw) -> None:
    if QUICK:
        print(f"{name:<55} {value:>14,.2f} {unit}  (quick run: not recorded)")
    else:
        results.record(name, value, unit, command=COMMAND, **kw)


def best_of(repeat: int, fn) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        c = time.process_time()
        out = fn()
        best = min(best, time.process_time() - c)
    return max(best, 1e-9), out


def system_run(workload: Workload, seed: int, duration_ms: float):
    return run_notifications(seed, workload=workload, faults=random_faults(seed, duration_ms))


def bare_loop(workload: Workload, config: SystemConfig = SystemConfig()) -> int:
    """The same decisions, in one loop: route, dedupe, rate-limit, render, send with in-place retries, DLQ."""
    sim = Simulation(workload.seed)
    clock = lambda: sim.now  # noqa: E731
    providers = {ch: Provider(ch, rng=sim.random(f"provider-{ch}"), clock=clock,
                              transient_rate=config.transient_rate, lost_response_rate=config.lost_response_rate,
                              invalid_users={u for u, k in workload.invalid_contacts if k == ch})
                 for ch in ("push", "email", "sms")}
    limiter = RateLimiter(config.capacity, config.refill_per_s, bucket=TokenBucket, clock=clock)
    delivered: set = set()
    dead: list = []
    for t, event in workload.events:
        sim.now = t
        for _ in range(2 if event.event_id in workload.duplicated else 1):
            for user, channel in route(event, workload.prefs):
                key = (event.event_id, channel, user)
                if key in delivered:
                    continue
                # the system's limiter use: keyed (a repeat of the notification gets its recorded answer and
                # costs no second token), and critical notifications skip it (their priority lane)
                if not EVENT_TYPES[event.type].critical and not limiter.allow(user, channel, key=key):
                    continue
                prefs = workload.prefs[user]
                for attempt in range(1, config.max_attempts + 1):
                    try:
                        text = render(event.type, channel, prefs.locale, event.data)
                        providers[channel].send(user, text, key)
                    except (HttpError, TimeoutError, KeyError) as exc:
                        if is_transient(exc) and attempt < config.max_attempts:
                            continue
                        dead.append(key)
                        break
                    delivered.add(key)
                    break
    return len(delivered)


def grading_once() -> None:
    from msglib.capstone.design import design
    from msglib.grading import ex11, ex11_design

    ex11._PASSED.clear()
    ex11.check_route(route)
    ex11.hidden_route(route)
    ex11.check_token_bucket(TokenBucket)
    ex11.hidden_token_bucket(TokenBucket)
    ex11.check_handle(handle)
    ex11.hidden_handle(handle)
    ex11.check_runbook(redrive_when_healthy, route=route, TokenBucket=TokenBucket, handle=handle)
    ex11.hidden_runbook(redrive_when_healthy, route=route, TokenBucket=TokenBucket, handle=handle)
    ex11_design.check_design(design)
    ex11_design.hidden_design(design)


def main(argv: list[str] | None = None) -> int:
    global QUICK
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts; nothing is recorded")
    parser.add_argument("--repeat", type=int, default=None, help="runs per figure, best kept (default 3, quick 1)")
    args = parser.parse_args(argv)
    QUICK = args.quick
    repeat = args.repeat or (1 if QUICK else 3)
    cmd = COMMAND + (" --quick" if QUICK else "")
    print(f"msglib capstone benchmarks ({cmd}), best of {repeat}, CPU seconds")

    events, duration = (20, 1_000.0) if QUICK else (100, 4_000.0)
    workload = make_workload(0, events=events, duration_ms=duration)
    t_sys, run = best_of(repeat, lambda: system_run(workload, 0, duration))
    delivered = run.metrics().delivered
    t_bare, bare_delivered = best_of(repeat, lambda: bare_loop(workload))
    record("capstone.system_notifications", delivered / t_sys, "notifications/s",
           baseline=bare_delivered / t_bare,
           baseline_name="the same decisions in a plain loop: no log, groups or network (same run)")
    record("capstone.sim_events", run.system.sim.events_run / t_sys, "sim events/s")
    t_check, _ = best_of(repeat, lambda: check_notifications(run.history))
    record("capstone.check_ops", len(run.history) / t_check, "ops/s")

    events, duration = (40, 2_000.0) if QUICK else (1_000, 40_000.0)
    big = make_workload(1, events=events, duration_ms=duration, users=40)
    t_big, big_run = best_of(1 if QUICK else min(repeat, 2), lambda: system_run(big, 1, duration))
    assert big_run.check().valid, big_run.check().summary()
    record("capstone.system_large", big_run.metrics().delivered / t_big, "notifications/s",
           baseline=delivered / t_sys, baseline_name="the standard 100-event run (same run)")

    if not QUICK:
        t_grade, _ = best_of(1, grading_once)
        record("capstone.grading_seconds", t_grade, "CPU s", higher_is_better=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
