"""Benchmarks for msglib.queue and msglib.dlq: how many messages the models push through per CPU second.

    .venv/bin/python -m benchmarks.bench_queue            # full counts (about a minute)
    .venv/bin/python -m benchmarks.bench_queue --quick    # tiny counts: proves the script runs, records nothing

Figures (each recorded in benchmarks/results.json):

* ``queue.work_queue_acked``      messages/s through a broker work queue: publish, dispatch to 4 consumers
  (prefetch 50), deliver, ack. Baseline, same run: a bare ``deque`` + dict loop doing the same bookkeeping
  (hand out, remember unacked, forget on ack) with no routing, events or consumers. The ratio is the price
  of the model.
* ``queue.work_queue_prefetch1``  the same with prefetch 1 (a dispatch round per ack); baseline = prefetch 50.
* ``queue.dead_letter``           messages/s rejected into a DLX and consumed from the dead-letter queue.
* ``sqs.send_receive_delete``     messages/s through the SQS model in batches of 10.
* ``dlq.retry_processor``         messages/s through the retry processor on a mixed workload (30% flaky,
  10% poison, 10% permanent, 4 attempts), counting every message once.
* ``dlq.retry_topics``            the same workload through Spring-style retry topics on msglib.log (records
  are encoded as Kafka batches with CRCs); baseline = the retry processor, same run.

Timings are the best of ``--repeat`` runs in CPU seconds of this process (``time.process_time``), so a
busy neighbour on the shared machine does not halve a figure.
"""
from __future__ import annotations

import argparse
import sys
from collections import deque

from benchmarks import results
from benchmarks.results import best_cpu_seconds as best_of
from msglib.dlq import make_workload, run_workload
from msglib.dlq.retry import RetryMessage, ScriptedHandler
from msglib.dlq.retry_topics import RetryTopicPipeline, RetryTopology
from msglib.dlq.backoff import ExponentialBackoff
from msglib.queue import Broker
from msglib.queue.sqs import SqsQueue
from msglib.sim import Simulation

COMMAND = "python -m benchmarks.bench_queue"
QUICK = False


def record(name: str, value: float, unit: str, **kw) -> None:
    if QUICK:
        print(f"{name:<55} {value:>14,.2f} {unit}  (quick run: not recorded)")
    else:
        results.record(name, value, unit, command=COMMAND, **kw)


def work_queue(n: int, prefetch: int, consumers: int = 4) -> None:
    sim = Simulation(0)
    b = Broker(sim)
    b.declare_queue("work")
    done = [0]

    def cb(d):
        done[0] += 1
        b.ack(d.delivery_tag)

    for i in range(consumers):
        b.consume("work", cb, prefetch=prefetch)
    for i in range(n):
        b.publish("", "work", i)
    sim.run()
    assert done[0] == n, done


def bare_deque(n: int, prefetch: int, consumers: int = 4) -> None:
    """The same bookkeeping with nothing else: ready deque, unacked dict, round-robin with room."""
    ready: deque = deque(range(n))
    unacked: dict[int, int] = {}
    load = [0] * consumers
    turn = 0
    tag = 0
    done = 0
    while ready or unacked:
        handed = []
        while ready:
            for step in range(consumers):
                c = (turn + step) % consumers
                if load[c] < prefetch:
                    break
            else:
                break
            turn = (c + 1) % consumers
            tag += 1
            unacked[tag] = ready.popleft()
            load[c] += 1
            handed.append((tag, c))
        for t, c in handed:          # every consumer acks what it got
            del unacked[t]
            load[c] -= 1
            done += 1
    assert done == n


def dead_letter(n: int) -> None:
    sim = Simulation(0)
    b = Broker(sim)
    b.declare_exchange("dlx", "fanout")
    b.declare_queue("dead")
    b.bind("dead", "dlx")
    b.declare_queue("work", {"x-dead-letter-exchange": "dlx"})
    got = [0]

    def dead(d):
        got[0] += 1
        b.ack(d.delivery_tag)

    b.consume("work", lambda d: b.reject(d.delivery_tag, requeue=False), prefetch=50)
    b.consume("dead", dead, prefetch=50)
    for i in range(n):
        b.publish("", "work", i)
    sim.run()
    assert got[0] == n


def sqs(n: int) -> None:
    sim = Simulation(0)
    q = SqsQueue(sim, "q")
    for i in range(n):
        q.send_message(i)
    done = 0
    while True:
        batch = q.receive_message(10)
        if not batch:
            break
        for m in batch:
            q.delete_message(m.receipt_handle)
            done += 1
    assert done == n


def retry_processor(n: int) -> None:
    run_workload(n, seed=1, every_ms=1.0)


def retry_topics(n: int) -> None:
    sim = Simulation(1)
    plans = make_workload(sim.random("workload"), n)
    handler = ScriptedHandler(plans)
    topo = RetryTopology.create("orders", 4, ExponentialBackoff(100, 2, 10_000))
    p = RetryTopicPipeline(sim, topo, lambda r: handler(RetryMessage(r.message_id, r.payload, r.attempt)))
    for i, mid in enumerate(plans):
        p.submit({"n": i}, message_id=mid, at=i * 1.0)
    p.run()
    assert len(p.processed) + len(p.dead_lettered) == n


def main(argv: list[str] | None = None) -> int:
    global QUICK
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts; nothing is recorded")
    parser.add_argument("--repeat", type=int, default=None, help="runs per figure, best kept (default 3, quick 1)")
    args = parser.parse_args(argv)
    QUICK = args.quick
    repeat = args.repeat or (1 if QUICK else 3)
    n = 2_000 if QUICK else 100_000
    n_retry = 500 if QUICK else 20_000
    cmd = COMMAND + (" --quick" if QUICK else "")
    print(f"msglib queue benchmarks ({cmd}), best of {repeat}, CPU seconds")

    base = best_of(repeat, lambda: bare_deque(n, 50))
    t50 = best_of(repeat, lambda: work_queue(n, 50))
    record("queue.work_queue_acked", n / t50, "messages/s", baseline=n / base,
           baseline_name="bare deque + dict loop, same bookkeeping (same run)")
    t1 = best_of(repeat, lambda: work_queue(n, 1))
    record("queue.work_queue_prefetch1", n / t1, "messages/s", baseline=n / t50, baseline_name="prefetch 50 (same run)")
    t = best_of(repeat, lambda: dead_letter(n // 2))
    record("queue.dead_letter", (n // 2) / t, "messages/s")
    t = best_of(repeat, lambda: sqs(n))
    record("sqs.send_receive_delete", n / t, "messages/s")
    tp = best_of(repeat, lambda: retry_processor(n_retry))
    record("dlq.retry_processor", n_retry / tp, "messages/s")
    tt = best_of(repeat, lambda: retry_topics(n_retry))
    record("dlq.retry_topics", n_retry / tt, "messages/s", baseline=n_retry / tp,
           baseline_name="msglib retry processor, same workload (same run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
