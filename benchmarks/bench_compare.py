"""Benchmarks for msglib.compare: how fast the four models run the same workload, and the measured table.

    .venv/bin/python -m benchmarks.bench_compare            # full counts (about a minute)
    .venv/bin/python -m benchmarks.bench_compare --quick    # tiny counts: proves the script runs, records nothing

Figures (each recorded in benchmarks/results.json):

* ``compare.<model>.workload``  messages/s (CPU) through each model: 20,000 messages, 16 keys, one subscriber
  with 4 consumers, 1% crashes. Baseline, same run: the harness with a *direct* model that hands each
  message to the next consumer and forgets it (no log, no queue, no acks). The ratio is the price of
  each model's mechanism on top of the shared runner.
* ``compare.fan_out_20.<model>`` messages/s (CPU) delivered with 20 subscribers (one log read 20 times vs
  20 queue copies); baseline = the direct model with 20 subscribers.
* ``compare.pulsar.key_shared_vs_shared`` messages/s through a key_shared subscription; baseline = shared
  (the price of the sticky-key bookkeeping).
* ``compare.scorecard``         CPU seconds to measure the whole comparison table (the notebook's table).

Simulated time is what the models report; these figures are about how long a learner waits.
Timings are the best of ``--repeat`` runs in CPU seconds (``time.process_time``).
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from benchmarks import results
from benchmarks.results import best_cpu_seconds as best_of
from msglib.compare import Subscriber, Workload, run
from msglib.compare.harness import BrokerModel, Worker
from msglib.compare import scenarios

COMMAND = "python -m benchmarks.bench_compare"
QUICK = False
MODELS = ("kafka", "rabbitmq", "sqs", "pulsar")


def record(name: str, value: float, unit: str, **kw: Any) -> None:
    if QUICK:
        print(f"{name:<55} {value:>14,.2f} {unit}  (quick run: not recorded)")
    else:
        results.record(name, value, unit, command=COMMAND, **kw)


class DirectModel(BrokerModel):
    """The baseline: each message goes straight to the next consumer of each subscriber. No storage,
    no acks, no redelivery (a crash loses what the consumer held)."""

    name = "direct"
    publish_ms = 1.0
    deliver_ms = 1.0

    def __init__(self, run_: Any) -> None:
        super().__init__(run_)
        self.workers: dict[str, list[Worker]] = {}
        self.turn: dict[str, int] = {}

    def subscribe(self, sub: Subscriber) -> None:
        self.workers[sub.name] = []
        self.turn[sub.name] = 0

    def start(self, sub: Subscriber, workers: list[Worker]) -> None:
        self.workers[sub.name].extend(workers)

    def add_worker(self, sub: Subscriber, worker: Worker) -> None:
        self.workers[sub.name].append(worker)

    def publish(self, msg: Any) -> None:
        for name, ws in self.workers.items():
            if ws:
                w = ws[self.turn[name] % len(ws)]
                self.turn[name] += 1
                self.sim.schedule(self.deliver_ms, w.give, msg, lambda: None)

    def stored_copies(self) -> int:
        return 0


def main(argv: list[str] | None = None) -> int:
    global QUICK
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny counts; nothing is recorded")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    QUICK = args.quick
    n = 300 if QUICK else 20_000
    repeat = 1 if QUICK else args.repeat

    w = Workload(n_messages=n, interval_ms=0.5, subscribers=(Subscriber("app", 4),), crash_prob=0.01)
    base = best_of(repeat, lambda: run(DirectModel, w, 0))
    for m in MODELS:
        t = best_of(repeat, lambda m=m: run(m, w, 0))
        record(f"compare.{m}.workload", n / t, "messages/s", baseline=n / base, baseline_name="direct model, same run")

    nf = 50 if QUICK else 1_000
    wf = Workload(n_messages=nf, interval_ms=0.5, subscribers=tuple(Subscriber(f"s{i}", 1) for i in range(20)))
    base = best_of(repeat, lambda: run(DirectModel, wf, 0))
    for m in MODELS:
        t = best_of(repeat, lambda m=m: run(m, wf, 0))
        record(f"compare.fan_out_20.{m}", 20 * nf / t, "deliveries/s", baseline=20 * nf / base,
               baseline_name="direct model, same run")

    wk = Workload(n_messages=n, interval_ms=0.5, subscribers=(Subscriber("app", 4),))
    shared = best_of(repeat, lambda: run("pulsar", wk, 0, subscription_type="shared"))
    keyed = best_of(repeat, lambda: run("pulsar", wk, 0, subscription_type="key_shared"))
    record("compare.pulsar.key_shared_vs_shared", n / keyed, "messages/s", baseline=n / shared,
           baseline_name="shared subscription, same run")

    def card() -> None:
        for f in (scenarios.ordering, scenarios.replay, scenarios.fan_out, scenarios.routing, scenarios.slow_consumer,
                  scenarios.exactly_once, scenarios.noisy_neighbour, scenarios.offline):
            f.cache_clear()
        scenarios.scorecard(seed=0)
    if QUICK:
        record("compare.scorecard", 0.0, "s (not measured in a quick run)", higher_is_better=False)
    else:
        record("compare.scorecard", best_of(repeat, card), "s", higher_is_better=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
