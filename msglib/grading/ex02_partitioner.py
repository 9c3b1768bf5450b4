"""Checks for module 02's partitioner exercise (``02-sticky_partitioner``).

``update_sticky(sticky, appended_bytes, batch_full, queue_sizes, r)`` is the rule the producer's
built-in partitioner runs after every record without a key (``BuiltInPartitioner(update=fn)``,
Kafka 3.3+, KIP-794). It is judged three ways:

* **the rule** on hand-made steps: the first choice, counting bytes, switching at ``batch_size`` only
  when the batch is full, at ``2 * batch_size`` whatever the batch, and the weighted draw (the
  example of Kafka's own code: queues ``[0, 3, 1]`` give weights ``[4, 1, 3]``);
* **seeded traces** of appends, shortest first, run beside msglib's rule: the first step where they
  part is reported with the steps before it (the smallest history) and the seed;
* **a producer** (``KafkaProducer``) sending keyless records to a 3-broker cluster where one broker is
  slow: batches sent, records per batch, and the share of the records that went to the slow broker's
  partitions, beside the same run with msglib's rule.
"""
from __future__ import annotations

import copy
import random
from typing import Any, Callable, Sequence

from msglib.cluster import Cluster, ClusterConfig
from msglib.grading.core import CheckFailed, learner_error, quiet, require_callable, seeds
from msglib.log.partitioner import BuiltInPartitioner, StickyPartition, update_sticky as reference_update
from msglib.protocol import broker_node

EX_STICKY = "02-sticky_partitioner"

HINT = ("add appended_bytes to sticky.produced_bytes; switch when produced_bytes >= batch_size and the batch is "
        "full, or when produced_bytes >= 2 * batch_size; to switch, weight each partition max(queue_sizes) + 1 - "
        "its queue size, take x = r % total, pick the first partition whose running sum is > x, and count from 0")


def _state(s: StickyPartition) -> str:
    return f"StickyPartition(batch_size={s.batch_size}, partition={s.partition}, produced_bytes={s.produced_bytes})"


def _call(s: StickyPartition, appended: int, full: bool, queues: Sequence[int], r: int) -> str:
    return f"update_sticky({_state(s)}, appended_bytes={appended}, batch_full={full}, queue_sizes={list(queues)}, r={r})"


def _step(fn: Callable, state: StickyPartition, appended: int, full: bool, queues: Sequence[int], r: int,
          *, seed: int | None, history: list[str]) -> tuple[StickyPartition, StickyPartition]:
    """One step of the learner's rule and of msglib's, each on its own copy: (theirs, expected)."""
    theirs, expected = copy.copy(state), copy.copy(state)
    what = _call(state, appended, full, queues, r)
    try:
        with quiet():
            fn(theirs, appended, full, list(queues), r)
    except Exception as exc:
        raise learner_error(exc, fn, EX_STICKY, case=_history(history + [what]), seed=seed) from None
    reference_update(expected, appended, full, list(queues), r)
    if (theirs.partition, theirs.produced_bytes) != (expected.partition, expected.produced_bytes):
        got = f"partition={theirs.partition!r}, produced_bytes={theirs.produced_bytes!r}"
        want = f"partition={expected.partition}, produced_bytes={expected.produced_bytes}"
        raise CheckFailed(f"after {what} the state is {got}; Kafka's rule gives {want}",
                          case=_history(history + [what]), seed=seed, exercise=EX_STICKY, hint=HINT)
    return theirs, expected


def _history(lines: list[str]) -> str:
    if len(lines) == 1:
        return lines[0]
    shown = lines[-6:]
    skipped = len(lines) - len(shown)
    return ("the steps, in order" + (f" (the first {skipped} omitted)" if skipped else "") + ":\n  "
            + "\n  ".join(shown))


# ------------------------------------------------------------------ the rule, step by step
def _s(partition: int | None, produced: int, batch_size: int = 1000) -> StickyPartition:
    return StickyPartition(batch_size=batch_size, partition=partition, produced_bytes=produced)


# (state, appended_bytes, batch_full, queue_sizes, r): every case is judged against msglib's rule
VISIBLE = [
    (_s(None, 0), 0, True, [0, 0, 0], 7),          # the first keyless record: choose (7 % 3 = 1)
    (_s(1, 0), 300, False, [0, 0, 0], 5),          # counting
    (_s(1, 600), 300, True, [0, 0, 0], 5),         # 900 < 1000: stay, even with a full batch
    (_s(1, 900), 200, True, [0, 0, 0], 5),         # 1100 and full: switch (5 % 3 = 2)
    (_s(1, 900), 200, False, [0, 0, 0], 5),        # 1100, batch not full: stay
    (_s(1, 1900), 150, False, [0, 0, 0], 4),       # 2050 >= 2000: switch whatever the batch
    (_s(1, 1900), 100, False, [0, 0, 0], 4),       # exactly 2000: switch too
    (_s(2, 900), 100, True, [0, 3, 1], 4),         # exactly 1000 and full: switch; weights 4 1 3, x=4 -> 1
    *[(_s(0, 999), 1, True, [0, 3, 1], r) for r in range(8)],   # x 0..3 -> 0, 4 -> 1, 5..7 -> 2
]
HIDDEN = [
    (_s(None, 0, 16384), 0, True, [5, 0], 11),
    (_s(0, 16383), 1, False, [1, 1, 1, 1], 9),
    (_s(0, 32767), 1, False, [1, 1, 1, 1], 9),
    (_s(3, 500, 100), 0, False, [2, 2, 2, 9], 2**31 - 1),
    (_s(None, 0), 0, True, [4, 0, 0, 4], 3),
    (_s(1, 0), 0, True, [0, 0], 1),                 # nothing produced yet: a full batch is no reason to switch
]


def _unit(fn: Callable, cases: list, seed: int | None = None) -> None:
    for state, appended, full, queues, r in cases:
        _step(fn, state, appended, full, queues, r, seed=seed, history=[])


# ------------------------------------------------------------------ traces beside msglib's rule
def random_trace(rng: random.Random, length: int) -> tuple[int, list[tuple[int, bool, list[int], int]]]:
    """A batch size and ``length`` appends: (bytes, batch_full, queue_sizes, r) each."""
    batch_size = rng.choice([200, 1000, 16384])
    n = rng.randint(1, 6)
    queues = [rng.randint(0, 3) for _ in range(n)]
    steps = []
    for _ in range(length):
        queues = [max(0, q + rng.choice([-1, 0, 0, 1])) for q in queues]
        size = rng.randint(1, max(1, batch_size // rng.choice([2, 4, 8])))
        steps.append((size, rng.random() < 0.5, list(queues), rng.getrandbits(31)))
    return batch_size, steps


def _trace(fn: Callable, seed: int, count: int) -> None:
    rng = random.Random(f"{EX_STICKY}/{seed}")
    traces = sorted((random_trace(rng, rng.randint(1, 40)) for _ in range(count)), key=lambda t: len(t[1]))
    for batch_size, steps in traces:                   # shortest first: the first failure is the smallest
        n = len(steps[0][2])
        state = StickyPartition(batch_size=batch_size)
        history: list[str] = []
        state, _ = _step(fn, state, 0, True, [0] * n, steps[0][3], seed=seed, history=history)
        history.append(_call(StickyPartition(batch_size=batch_size), 0, True, [0] * n, steps[0][3]))
        for appended, full, queues, r in steps:
            before = copy.copy(state)
            state, _ = _step(fn, state, appended, full, queues, r, seed=seed, history=history)
            history.append(_call(before, appended, full, queues, r))


# ------------------------------------------------------------------ a producer and a slow broker
PARTITIONS = 6
BATCH_SIZE = 2048


def producer_run(update: Callable, seed: int, *, records: int = 3000, slow_ms: float = 40.0) -> dict[str, Any]:
    """Keyless 100-byte records from one producer (acks=1, linger.ms 5, batch.size 2 KiB) to a 6-partition
    topic on 3 brokers; the leader of partition 0's broker answers ``slow_ms`` late. Returns what
    the logs hold: batches, records per batch, and the slow broker's share of the records."""
    cluster = Cluster(3, seed=seed, config=ClusterConfig.fast())
    cluster.create_topic("t", PARTITIONS, 1)
    cluster.run(200)
    slow = cluster.leader("t", 0)
    cluster.network.slow(broker_node(slow), slow_ms)
    producer = cluster.producer(acks=1, linger_ms=5, batch_size=BATCH_SIZE,
                                partitioner=BuiltInPartitioner(seed, BATCH_SIZE, update))
    for i in range(records):
        producer.send("t", b"x" * 100)
        if i % 10 == 9:
            cluster.run(1)          # 10 records per simulated millisecond
    producer.flush()
    batches, total, on_slow, per = 0, 0, 0, []
    for p in range(PARTITIONS):
        leader = cluster.leader("t", p)
        log = cluster.brokers[leader].partitions[("t", p)].log
        found = list(log.batches())
        n = sum(len(b.records) for b in found)
        per.append(n)
        batches += len(found)
        total += n
        on_slow += n if leader == slow else 0
    return {"batches": batches, "records_per_batch": total / max(1, batches), "slow_share": on_slow / max(1, total),
            "records": total, "per_partition": per, "slow_broker": slow}


def _describe(m: dict[str, Any]) -> str:
    return (f"{m['batches']} batches, {m['records_per_batch']:.1f} records per batch, "
            f"{100 * m['slow_share']:.0f}% of the records on the slow broker (per partition: {m['per_partition']})")


def _producer(fn: Callable, seed: int) -> None:
    try:
        with quiet():
            theirs = producer_run(fn, seed)
    except CheckFailed:
        raise
    except Exception as exc:
        raise learner_error(exc, fn, EX_STICKY, case="a producer sending keyless records", seed=seed) from None
    expected = producer_run(reference_update, seed)
    case = (f"3 brokers, 6 partitions (RF 1), broker {expected['slow_broker']} answers 40 ms late; 3,000 keyless "
            f"records of 100 bytes, linger.ms 5, batch.size {BATCH_SIZE}")
    problems = []
    if theirs["records"] != expected["records"]:
        problems.append(f"{theirs['records']} records reached the logs instead of {expected['records']}")
    if theirs["batches"] > 1.15 * expected["batches"]:
        problems.append("the batches are smaller: records leave half-empty batches behind")
    if theirs["slow_share"] > expected["slow_share"] + 0.08:
        problems.append("the slow broker gets more than its share: the switch does not avoid long queues")
    if problems:
        raise CheckFailed("with your rule the producer wrote " + _describe(theirs) + "; with Kafka's rule "
                          + _describe(expected) + ": " + "; ".join(problems), case=case, seed=seed,
                          exercise=EX_STICKY, hint=HINT)


# ------------------------------------------------------------------ the checks
def check_sticky_partitioner(update_sticky: Callable, seed: int | None = None) -> None:
    """Visible check: sixteen steps of the rule, 40 seeded traces, one producer beside a slow broker."""
    require_callable(update_sticky, "update_sticky", EX_STICKY)
    _unit(update_sticky, VISIBLE)
    for s in ([seed] if seed is not None else seeds(EX_STICKY, 1)):
        _trace(update_sticky, s, 40)
        _producer(update_sticky, s)


def hidden_sticky_partitioner(update_sticky: Callable, seed: int | None = None) -> None:
    """Hidden check: more steps, 300 traces per seed, producers on two seeds."""
    require_callable(update_sticky, "update_sticky", EX_STICKY)
    _unit(update_sticky, HIDDEN)
    for s in ([seed] if seed is not None else seeds(EX_STICKY, 2, hidden=True)):
        _trace(update_sticky, s, 300)
        _producer(update_sticky, s)


__all__ = ["check_sticky_partitioner", "hidden_sticky_partitioner", "producer_run", "random_trace"]
