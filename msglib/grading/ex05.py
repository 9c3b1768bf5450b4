"""Checks for module 05 (consumer groups and offsets).

Each learner function runs inside the real mechanism through a seam:

* ``05-range_assign``     -- ``range_assign(partitions_per_topic, subscriptions)`` is the assignor
  the group leader runs (``FunctionAssignor("range", fn)``) in live groups whose members come
  and go; every assignment it makes is compared with Kafka's range assignor;
* ``05-at_least_once`` / ``05-at_most_once`` -- ``step(consumer, process)`` is every consumer
  application's loop body in seeded group runs (``msglib.groups.workload``) with clean joins and
  leaves, crashes in the middle of a batch, GC pauses and coordinator outages; the verdict is
  what was lost and what was processed twice;
* ``05-starting_offset``  -- ``starting_offset(committed, bounds, policy)`` places every consumer
  on a newly assigned partition (``KafkaConsumer(reset_position=fn)``), after retention deleted
  what a group had committed, for new groups, and for groups that are caught up;

The cooperative-sticky assignor (``05-cooperative_sticky``) has its checks in ``ex05_cooperative.py``.
"""
from __future__ import annotations

import random
from typing import Any, Callable

from msglib.client.consumer import KafkaConsumer, PartitionBounds, starting_offset as reference_start
from msglib.client.errors import OffsetOutOfRangeError
from msglib.grading.core import CheckFailed, call_learner, learner_error, quiet, require_callable, seeds
from msglib.groups import (FunctionAssignor, LocalBroker, NoOffsetForPartitionError, Subscription, TopicPartition,
                           problems, range_assign as reference_range)
from msglib.groups.workload import GroupEvent, GroupRunResult, run_group
from msglib.log import LogConfig

EX_RANGE = "05-range_assign"
EX_ALO = "05-at_least_once"
EX_AMO = "05-at_most_once"
EX_START = "05-starting_offset"


def _learner_error(exc: BaseException, fn: Callable, exercise: str, case: Any, seed: int | None) -> CheckFailed:
    return learner_error(exc, fn, exercise, case=case, seed=seed)


# ================================================================== exercise 1: the range assignor
def _tp_name(tp: TopicPartition) -> str:
    return f"{tp.topic}p{tp.partition}"


def _show(assignment: dict) -> str:
    return "{" + ", ".join(f"{m}: [{', '.join(_tp_name(tp) for tp in sorted(tps))}]"
                           for m, tps in sorted(assignment.items())) + "}"


def _normalize_assignment(result: Any, case: str, seed: int | None) -> dict[str, list[TopicPartition]]:
    if not isinstance(result, dict):
        raise CheckFailed(f"range_assign returned {type(result).__name__}; it must return a dict "
                          "{member_id: [TopicPartition, ...]}", case=case, seed=seed, exercise=EX_RANGE)
    out = {}
    for m, tps in result.items():
        try:
            out[m] = sorted(TopicPartition(*tp) for tp in tps)
        except TypeError:
            raise CheckFailed(f"the value for member {m!r} is {tps!r}; it must be a list of "
                              "TopicPartition(topic, partition)", case=case, seed=seed, exercise=EX_RANGE) from None
    return out


def _range_case(ppt: dict[str, int], subs: dict[str, list[str]]) -> str:
    return f"range_assign({ppt}, {subs})"


def _check_range_output(ppt: dict[str, int], subs: dict[str, list[str]], result: Any, seed: int | None,
                        where: str = "") -> None:
    case = _range_case(ppt, subs) + where
    got = _normalize_assignment(result, case, seed)
    full = {m: Subscription(tuple(ts)) for m, ts in subs.items()}
    found = problems(ppt, full, got)
    if found:
        raise CheckFailed(f"the assignment is not valid: {found[0]}", case=case + f" returned {_show(got)}",
                          seed=seed, exercise=EX_RANGE)
    expected = reference_range(ppt, full)
    if got != expected:
        raise CheckFailed(f"you returned {_show(got)}; the range assignor gives {_show(expected)}", case=case,
                          seed=seed, exercise=EX_RANGE,
                          hint="per topic: sort the subscribed members by id (as strings), give each "
                               "partitions // members consecutive partitions, and one more to the first "
                               "partitions % members of them")


RANGE_VISIBLE = [  # semantics reference section J: #102, #104, #106, #107, #108
    ({"t": 7}, {"C0": ["t"], "C1": ["t"], "C2": ["t"]}),
    ({"t0": 3, "t1": 3}, {"C0": ["t0", "t1"], "C1": ["t0", "t1"]}),
    ({"t": 2}, {"C0": ["t"], "C1": ["t"], "C2": ["t"]}),
    ({"t1": 3, "t2": 2}, {"c1": ["t1"], "c2": ["t1", "t2"], "c3": ["t1"]}),
    ({"t": 3}, {"C2": ["t"], "C10": ["t"]}),
]
RANGE_HIDDEN = [  # #103, #105, one member, a topic nobody takes twice
    ({"t": 10}, {"C0": ["t"], "C1": ["t"], "C2": ["t"]}),
    ({"t0": 7, "t1": 7}, {"C0": ["t0", "t1"], "C1": ["t0", "t1"], "C2": ["t0", "t1"]}),
    ({"t": 5}, {"only": ["t"]}),
    ({"a": 4, "b": 1}, {"m1": ["b"], "m2": ["a"], "m3": ["a", "b"]}),
    # a subscribed topic the metadata does not know (not created yet): no partitions, and no error
    ({"t": 3}, {"C0": ["t", "later"], "C1": ["later"]}),
]


def _random_range_case(rng: random.Random) -> tuple[dict[str, int], dict[str, list[str]]]:
    topics = {f"t{i}": rng.randint(1, 9) for i in range(rng.randint(1, 3))}
    members = rng.sample([f"C{i}" for i in range(13)], rng.randint(1, 6))
    subs = {m: sorted(rng.sample(sorted(topics), rng.randint(1, len(topics)))) for m in members}
    return topics, subs


def _range_unit(fn: Callable, ppt: dict[str, int], subs: dict[str, list[str]], seed: int | None = None) -> None:
    result = call_learner(fn, dict(ppt), {m: list(ts) for m, ts in subs.items()}, exercise=EX_RANGE,
                          what=_range_case(ppt, subs), seed=seed)
    _check_range_output(ppt, subs, result, seed)


def _range_live(fn: Callable, seed: int, consumers: int, partitions: tuple[int, int]) -> None:
    """A live group on two topics: members join (some subscribed to one topic only) and leave; the leader
    runs ``fn`` at every rebalance. Every assignment is checked, then every record must be consumed."""
    calls: list[tuple[dict, dict, Any]] = []
    errors: list[CheckFailed] = []

    def recording(ppt: dict[str, int], subs: dict[str, list[str]]) -> Any:
        try:
            with quiet():
                result = fn(dict(ppt), {m: list(ts) for m, ts in subs.items()})
        except Exception as exc:  # reported after the run, with its input
            errors.append(_learner_error(exc, fn, EX_RANGE, _range_case(ppt, subs) + " (in a live group)", seed))
            raise
        calls.append((ppt, subs, result))
        return result

    b = LocalBroker(seed, fast=True)
    b.create_topic("orders", partitions[0])
    b.create_topic("payments", partitions[1])
    rng = random.Random(seed)
    for i in range(60):
        b.send(rng.choice(["orders", "payments"]), str(i).encode(), partition=None)
    assignor = FunctionAssignor("range", recording, simple=True)
    live: list[KafkaConsumer] = []

    def join(k: int) -> None:
        topics = ["orders", "payments"] if k % 3 else ["orders"]
        live.append(b.consumer(*topics, group_id="g", client_id=f"c{k}", auto_offset_reset="earliest",
                               partition_assignment_strategy=[assignor]))
    seen: set[tuple[str, int, int]] = set()

    def run(ms: float) -> None:
        end = b.sim.now + ms
        while b.sim.now < end:
            for c in live:
                for tp, recs in c.poll(0).items():
                    seen.update((tp.topic, tp.partition, r.offset) for r in recs)
            b.run(10)
    try:
        for k in range(1, consumers + 1):
            join(k)
            run(120)
        run(300)
        for c in live[::3]:
            c.close()
        live[:] = [c for c in live if not c._closed]
        run(600)
    except CheckFailed:
        raise
    except Exception as exc:
        if errors:
            raise errors[0] from None
        raise _learner_error(exc, fn, EX_RANGE, "a live group", seed) from None
    if errors:
        raise errors[0]
    if not calls:
        raise CheckFailed("the group never ran your assignor", seed=seed, exercise=EX_RANGE)
    for ppt, subs, result in calls:
        _check_range_output(ppt, subs, result, seed, where=" (a rebalance of a live group)")
    expected = {(tp, p, o) for tp in ("orders", "payments") for p in range(b.topics[tp].num_partitions)
                for o in range(b.topics[tp].partitions[p].log_end_offset)}
    if seen != expected:
        missing = sorted(expected - seen)[:3]
        raise CheckFailed(f"the live group never consumed some records, e.g. {missing}: a partition had no owner",
                          seed=seed, exercise=EX_RANGE)


def check_range_assign(range_assign: Callable, seed: int | None = None) -> None:
    """Visible check: the examples of section J, then a live group of 4 members."""
    require_callable(range_assign, "range_assign", EX_RANGE)
    for ppt, subs in RANGE_VISIBLE:
        _range_unit(range_assign, ppt, subs)
    for s in ([seed] if seed is not None else seeds(EX_RANGE, 1)):
        _range_live(range_assign, s, consumers=4, partitions=(5, 3))


def hidden_range_assign(range_assign: Callable, seed: int | None = None) -> None:
    """Hidden check: more examples, 200 seeded random groups, live groups of up to 12 members."""
    require_callable(range_assign, "range_assign", EX_RANGE)
    for ppt, subs in RANGE_HIDDEN:
        _range_unit(range_assign, ppt, subs)
    for s in ([seed] if seed is not None else seeds(EX_RANGE, 2, hidden=True)):
        rng = random.Random(s)
        for _ in range(100):
            ppt, subs = _random_range_case(rng)
            _range_unit(range_assign, ppt, subs, seed=s)
        _range_live(range_assign, s, consumers=5 + s % 8, partitions=(3 + s % 6, 2 + s % 4))


# ================================================================== exercises 2 and 3: the commit order
GRACEFUL = [GroupEvent(300, "join"), GroupEvent(700, "leave", 0), GroupEvent(1_000, "join"),
            GroupEvent(1_400, "leave", 1)]


def _crashes(seed: int, n: int = 3) -> list[GroupEvent]:
    rng = random.Random(f"05-crashes/{seed}")
    return sorted((GroupEvent(round(rng.uniform(150, 1_500)), "crash", rng.randrange(8)) for _ in range(n)),
                  key=lambda e: e.time)


def _describe_run(r: GroupRunResult) -> str:
    p = r.params
    events = "; ".join(e.describe() for e in r.events) or "no faults"
    return (f"{p['partitions']} partitions, {p['consumers']} consumers, {p['records']} records; {events}\n"
            f"what happened:\n{r.story()}")


def _run_step(fn: Callable, exercise: str, seed: int, events: list[GroupEvent], **kw: Any) -> GroupRunResult:
    try:
        with quiet():
            return run_group(seed, events=events, step=fn, **kw)
    except CheckFailed:
        raise
    except Exception as exc:
        raise _learner_error(exc, fn, exercise, f"a group run with events {[e.describe() for e in events]}",
                             seed) from None


def _verdict(r: GroupRunResult, exercise: str, seed: int, *, clean: bool, allow_loss: bool,
             allow_duplicates: bool) -> None:
    story = _describe_run(r)
    if r.lost and not r.drained and len(r.lost) > len(r.produced) // 4:
        raise CheckFailed("the group stopped consuming: " + r.first_loss() + f". At the end the committed offsets "
                          f"were {r.committed}, the partitions' ends {r.end_offsets}", case=story, seed=seed,
                          exercise=exercise, hint="after a failed commit (CommitFailedError) the consumer rejoins "
                                                  "the group at its next poll(): make sure every step polls")
    checks = [("dup", not allow_duplicates or clean), ("loss", not allow_loss or clean)]
    if exercise == EX_AMO:
        checks.reverse()   # at-most-once: a duplicate is the worse news
    for kind, enforced in checks:
        if not enforced:
            continue
        if kind == "loss" and r.lost:
            what = ("records were lost in a run without crashes: " if clean else "records were lost: ")
            raise CheckFailed(what + r.first_loss(), case=story, seed=seed, exercise=exercise,
                              hint="a record may only be committed once it has been processed" if not clean else
                              "process every record poll() returns, in every partition")
        if kind == "dup" and r.duplicated:
            what = ("in a run without crashes, " if clean else "under crashes, ") + r.first_duplicate()
            raise CheckFailed(what, case=story, seed=seed, exercise=exercise,
                              hint="commit before processing, so a crash can never hand processed records to "
                                   "the next owner" if not clean else
                              "commit the positions after each batch (consumer.commit()), so whoever takes a "
                              "partition over starts right after the last record you handled")
    if not r.drained:
        raise CheckFailed("the group never committed the end of the topic: after the last records were handled, "
                          f"the committed offsets were {r.committed}, the ends {r.end_offsets}", case=story,
                          seed=seed, exercise=exercise, hint="call consumer.commit() in every step that polled "
                                                             "records")


def _check_guarantee(fn: Callable, exercise: str, seed: int, events: list[GroupEvent], clean: bool,
                     **kw: Any) -> None:
    r = _run_step(fn, exercise, seed, events, **kw)
    if exercise == EX_ALO:
        _verdict(r, exercise, seed, clean=clean, allow_loss=False, allow_duplicates=True)
    else:
        _verdict(r, exercise, seed, clean=clean, allow_loss=True, allow_duplicates=False)


def _hidden_guarantee(fn: Callable, exercise: str, seed: int | None) -> None:
    for i, s in enumerate([seed] if seed is not None else seeds(exercise, 2, hidden=True)):
        shape = dict(partitions=2 + s % 5, consumers=1 + s % 4, records=120 + s % 150,
                     consumer_config={"max_poll_records": 3 + s % 20})
        _check_guarantee(fn, exercise, s, GRACEFUL[: 2 + i % 3], True, **shape)
        _check_guarantee(fn, exercise, s, _crashes(s, 3 + i), False, **shape)
        zombie = [GroupEvent(400 + s % 500, "pause", s % 4, duration_ms=900), GroupEvent(1_200, "crash", 1)]
        _check_guarantee(fn, exercise, s, zombie, False, **shape)
        outage = [GroupEvent(500, "coordinator_crash", duration_ms=300), GroupEvent(800, "crash", 0)]
        _check_guarantee(fn, exercise, s, outage, False, **shape)


def check_at_least_once(step: Callable, seed: int | None = None) -> None:
    """Visible check: clean joins and leaves (exactly once), then three crashes (nothing lost)."""
    require_callable(step, "at_least_once", EX_ALO)
    for s in ([seed] if seed is not None else seeds(EX_ALO, 1)):
        _check_guarantee(step, EX_ALO, s, GRACEFUL, True)
        _check_guarantee(step, EX_ALO, s, _crashes(s), False)


def hidden_at_least_once(step: Callable, seed: int | None = None) -> None:
    """Hidden check: varied groups, more crashes, zombies after GC pauses, a coordinator outage."""
    require_callable(step, "at_least_once", EX_ALO)
    _hidden_guarantee(step, EX_ALO, seed)


def check_at_most_once(step: Callable, seed: int | None = None) -> None:
    """Visible check: clean joins and leaves (exactly once), then three crashes (nothing twice)."""
    require_callable(step, "at_most_once", EX_AMO)
    for s in ([seed] if seed is not None else seeds(EX_AMO, 1)):
        _check_guarantee(step, EX_AMO, s, GRACEFUL, True)
        _check_guarantee(step, EX_AMO, s, _crashes(s), False)


def hidden_at_most_once(step: Callable, seed: int | None = None) -> None:
    require_callable(step, "at_most_once", EX_AMO)
    _hidden_guarantee(step, EX_AMO, seed)


# ================================================================== exercise 5: where a consumer starts
B = PartitionBounds
START_VISIBLE = [
    (None, B(0, 10, 10), "earliest"), (None, B(0, 10, 10), "latest"), (6, B(0, 10, 10), "earliest"),
    (6, B(0, 10, 10), "none"), (2, B(5, 10, 10), "earliest"), (2, B(5, 10, 10), "latest"),
    (10, B(0, 10, 10), "earliest"), (None, B(0, 10, 10), "none"), (2, B(5, 10, 10), "none"),
]
START_HIDDEN = [
    (14, B(0, 10, 10), "earliest"), (14, B(0, 10, 10), "latest"), (5, B(5, 10, 10), "latest"),
    (12, B(0, 10, 15), "earliest"),            # above the high-water mark but in the log: stay
    (None, B(3, 10, 15), "latest"),            # latest is the high-water mark, not the log end
    (16, B(3, 10, 15), "latest"), (0, B(0, 0, 0), "latest"), (None, B(7, 7, 7), "earliest"),
    (4, B(5, 5, 5), "earliest"), (None, B(5, 5, 5), "none"), (99, B(0, 3, 3), "none"),
]


def _start_case(committed, bounds, policy) -> str:
    return (f"starting_offset(committed={committed}, bounds=PartitionBounds(log_start_offset="
            f"{bounds.log_start_offset}, high_watermark={bounds.high_watermark}, log_end_offset="
            f"{bounds.log_end_offset}), policy={policy!r})")


def _start_unit(fn: Callable, cases: list) -> None:
    for committed, bounds, policy in cases:
        case = _start_case(committed, bounds, policy)
        try:
            expected: Any = reference_start(committed, bounds, policy)
        except (NoOffsetForPartitionError, OffsetOutOfRangeError) as exc:
            expected = type(exc)
        try:
            with quiet():
                got: Any = fn(committed, bounds, policy)
        except (NoOffsetForPartitionError, OffsetOutOfRangeError) as exc:
            got = type(exc)
        except Exception as exc:
            raise _learner_error(exc, fn, EX_START, case, None) from None
        if got != expected:
            said = f"raised {got.__name__}" if isinstance(got, type) else f"returned {got!r}"
            want = f"raise {expected.__name__}" if isinstance(expected, type) else f"return {expected}"
            raise CheckFailed(f"you {said}; a consumer must {want}", case=case, exercise=EX_START,
                              hint="a committed offset is used if log_start_offset <= committed <= log_end_offset; "
                                   "otherwise earliest -> log start, latest -> high-water mark, none -> raise "
                                   "(NoOffsetForPartitionError without a commit, OffsetOutOfRangeError with one)")


def _start_live(fn: Callable, seed: int) -> None:
    """Real consumers placed by ``fn``: after retention, for a caught-up group, for new groups."""
    b = LocalBroker(seed, fast=True)
    topic = b.create_topic("t", 1, config=LogConfig(segment_bytes=250, retention_bytes=500))
    tp = TopicPartition("t", 0)
    rng = random.Random(seed)
    for i in range(30 + rng.randrange(20)):
        b.send("t", f"{i:04d}".encode() * 3)
    old = b.consumer(group_id="slow", enable_auto_commit=False)
    old.assign([tp])
    old.commit({tp: 1 + rng.randrange(3)})
    caught_up = b.consumer(group_id="done", enable_auto_commit=False)
    caught_up.assign([tp])
    caught_up.commit({tp: topic[0].log_end_offset})
    middle = b.consumer(group_id="middle", enable_auto_commit=False)
    middle.assign([tp])
    topic[0].apply_retention()
    start, end = topic[0].log_start_offset, topic[0].log_end_offset
    mid = (start + end) // 2
    middle.commit({tp: mid})
    scenarios = [
        ("slow", "earliest", start, "the group 'slow' committed an offset that retention has deleted since"),
        ("done", "earliest", end, "the group 'done' has consumed everything (committed = log end)"),
        ("middle", "latest", mid, "the group 'middle' committed an offset still in the log"),
        ("new-a", "earliest", start, "a brand-new group, auto_offset_reset='earliest'"),
        ("new-b", "latest", end, "a brand-new group, auto_offset_reset='latest'"),
    ]
    for group, policy, expected, story in scenarios:
        c = b.consumer(group_id=group, auto_offset_reset=policy, reset_position=fn, enable_auto_commit=False)
        c.assign([tp])
        try:
            with quiet():
                records = c.poll(timeout_ms=200).get(tp, [])
                position = c.position(tp)
        except CheckFailed:
            raise
        except Exception as exc:
            raise _learner_error(exc, fn, EX_START, story, seed) from None
        first = records[0].offset if records else position
        case = f"{story}; the log holds offsets {start}..{end - 1}"
        if first != expected:
            raise CheckFailed(f"the consumer started at offset {first}; it should start at {expected}", case=case,
                              seed=seed, exercise=EX_START)
    n = b.consumer(group_id="strict", auto_offset_reset="none", reset_position=fn)
    n.assign([tp])
    try:
        with quiet():
            n.poll(timeout_ms=100)
    except NoOffsetForPartitionError:
        pass
    except Exception as exc:
        raise _learner_error(exc, fn, EX_START, "a new group with auto_offset_reset='none'", seed) from None
    else:
        raise CheckFailed("a consumer of a new group with auto_offset_reset='none' started reading; it must raise "
                          "NoOffsetForPartitionError instead of guessing", seed=seed, exercise=EX_START)


def check_starting_offset(starting_offset: Callable, seed: int | None = None) -> None:
    """Visible check: the rule on nine cases, then real consumers of five groups."""
    require_callable(starting_offset, "starting_offset", EX_START)
    _start_unit(starting_offset, START_VISIBLE)
    for s in ([seed] if seed is not None else seeds(EX_START, 1)):
        _start_live(starting_offset, s)


def hidden_starting_offset(starting_offset: Callable, seed: int | None = None) -> None:
    require_callable(starting_offset, "starting_offset", EX_START)
    _start_unit(starting_offset, START_HIDDEN)
    for s in ([seed] if seed is not None else seeds(EX_START, 3, hidden=True)):
        _start_live(starting_offset, s)
        rng = random.Random(s)
        cases = []
        for _ in range(60):
            lo = rng.randrange(0, 50)
            hw = lo + rng.randrange(0, 30)
            leo = hw + rng.choice([0, 0, rng.randrange(0, 5)])
            committed = rng.choice([None, rng.randrange(0, leo + 10)])
            cases.append((committed, B(lo, hw, leo), rng.choice(["earliest", "latest", "none"])))
        _start_unit(starting_offset, cases)


__all__ = ["check_range_assign", "hidden_range_assign", "check_at_least_once", "hidden_at_least_once",
           "check_at_most_once", "hidden_at_most_once",
           "check_starting_offset", "hidden_starting_offset"]
