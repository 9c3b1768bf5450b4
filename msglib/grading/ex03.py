"""Checks for module 03 (producers): the idempotent producer's sequence check.

``03-sequence_check`` -- ``check_sequence(entry, producer_epoch, first_seq, last_seq)`` decides,
on the partition leader, what to do with an idempotent producer's batch. ``entry`` is None
(the partition has never heard of this producer) or has ``producer_epoch`` and ``batches``:
the metadata of its last five batches, oldest first, each a ``BatchMetadata(first_seq,
last_seq, first_offset, last_offset)``. The function returns ``"append"``,
``"out_of_order"``, ``"invalid_epoch"``, or the ``BatchMetadata`` of the batch this one
duplicates (the leader then answers with that batch's offsets and appends nothing).

The check compares it with msglib's own on hand-made cases, then installs it in every broker
of a simulated cluster (``Policies(check_sequence=...)``) and sends through a network that
loses messages: no write may be duplicated or reordered, and as many writes must be acknowledged
as with msglib's own check in the same run (see ``reference_acked``). The hidden check adds
edge cases (epochs against cached batches, a batch that only starts like a cached one, the
sequence just before the wrap), a few hundred random producer states and batches per seed
judged against the rule, and runs with brokers crashing and pausing.
"""
from __future__ import annotations

import json
import random
from typing import Any, Callable

from msglib.cluster import policies as ref
from msglib.cluster.policies import INT32_MAX, BatchMetadata, Policies, ProducerStateEntry, SequenceVerdict
from msglib.cluster.scenario import ScenarioResult, run_scenario
from msglib.grading.core import CheckFailed, call_learner, require_callable, seeds

EX_SEQ = "03-sequence_check"
ACTIONS = ("append", "out_of_order", "invalid_epoch")


def _entry(epoch: int, *firsts_and_counts: tuple[int, int]) -> ProducerStateEntry:
    e = ProducerStateEntry(epoch)
    for first, count in firsts_and_counts:
        e.batches.append(BatchMetadata(first, first + count - 1, 100 + first, 100 + first + count - 1))
    return e


def _cases() -> list[tuple[tuple, Any, str]]:
    e = _entry(0, (0, 5), (5, 5), (10, 5))  # sequences 0..14 written, at offsets 100..114
    return [
        ((None, 0, 0, 4), "append", "the partition has no state for this producer: it accepts the batch"),
        ((None, 0, 42, 50), "append", "unknown producer (its state expired): any sequence is accepted"),
        ((e, 0, 15, 19), "append", "the next batch: it starts right after the last sequence, 14"),
        ((e, 0, 10, 14), e.batches[2], "a retry of the last batch: a duplicate"),
        ((e, 0, 0, 4), e.batches[0], "a retry of a batch four back: still cached, still a duplicate"),
        ((e, 0, 16, 19), "out_of_order", "a gap: sequence 15 is missing"),
        ((e, 0, 3, 7), "out_of_order", "not the next batch and not a cached one"),
        ((e, 1, 0, 3), "append", "a new producer epoch starts again at sequence 0"),
        ((e, 1, 15, 19), "out_of_order", "a new epoch must start at sequence 0"),
        ((_entry(2, (0, 3)), 1, 3, 5), "invalid_epoch", "an older epoch than the partition knows: a zombie"),
        ((_entry(0, (2**31 - 3, 3)), 0, 0, 4), "append", "sequences wrap around after 2**31 - 1"),
    ]


def _hidden_cases() -> list[tuple[tuple, Any, str]]:
    e = _entry(0, (0, 5), (5, 5), (10, 5))
    near_wrap = _entry(0, (2**31 - 4, 3))  # sequences up to 2**31 - 2 written
    return [
        ((e, 0, 5, 9), e.batches[1], "a retry of the batch in the middle of the five"),
        ((e, 0, 10, 12), "out_of_order",
         "it starts like the last batch (10) but ends at 12, not 14: not that batch, and not the next one"),
        ((e, 1, 0, 4), "append",
         "a new epoch starting at 0: not a retry of the old epoch's batch 0..4 (a duplicate needs the same epoch)"),
        ((_entry(2, (0, 3)), 1, 0, 2), "invalid_epoch",
         "an older epoch is a zombie, even when its numbers match a remembered batch"),
        ((near_wrap, 0, 2**31 - 1, 2**31 - 1), "append", "2**31 - 1 itself comes next; the wrap is only after it"),
        ((near_wrap, 0, 0, 4), "out_of_order", "sequence 2**31 - 1 is still missing: 0 comes only after it"),
        # A marker with a newer epoch (the coordinator fenced the producer) leaves an entry with that epoch and
        # no batch yet (ProducerStateManager.complete_txn): the producer's next batch must start at 0.
        ((ProducerStateEntry(3), 3, 0, 4), "append",
         "the coordinator moved this producer to epoch 3 and nothing is written in it yet: sequence 0 comes next"),
        ((ProducerStateEntry(3), 3, 5, 9), "out_of_order",
         "the producer's epoch 3 has no batch yet: its first batch must start at sequence 0"),
    ]


def _why(entry: ProducerStateEntry | None, producer_epoch: int, first_seq: int, want: SequenceVerdict) -> str:
    """The rule behind msglib's verdict, in words (for random cases, which have no hand-written reason)."""
    if entry is None:
        return "the partition has no state for this producer: it accepts any batch"
    if producer_epoch < entry.producer_epoch:
        return f"epoch {producer_epoch} is older than the partition's {entry.producer_epoch}: a zombie"
    if producer_epoch > entry.producer_epoch:
        return "a new epoch must start again at sequence 0"
    if want.action == "duplicate":
        return "same epoch, same first and last sequence as a remembered batch: a retry"
    expected = 0 if entry.last_seq == INT32_MAX else entry.last_seq + 1
    if want.action == "append":
        return f"it starts right after the last sequence, {entry.last_seq}"
    return f"not a remembered batch, and it does not start at {expected}, right after the last sequence"


def _random_case(rng: random.Random) -> tuple[ProducerStateEntry | None, int, int, int]:
    """A producer state the way a partition builds it (up to five consecutive batches, wrapping after
    2**31 - 1) and an incoming batch that is the next one, a retry, a near miss, a gap or a zombie."""
    epoch = rng.randint(0, 3)
    entry = None if rng.random() < 0.1 else ProducerStateEntry(epoch)
    seq = rng.choice([0, rng.randint(0, 200), INT32_MAX - rng.randint(0, 12)])
    offset = rng.randint(0, 50)
    for _ in range(rng.randint(1, 5) if entry is not None else 0):
        last = min(seq + rng.randint(1, 4) - 1, INT32_MAX)  # a batch never straddles the wrap
        entry.batches.append(BatchMetadata(seq, last, offset, offset + last - seq))
        offset += last - seq + 1
        seq = 0 if last == INT32_MAX else last + 1
    size = rng.randint(1, 4)
    kind = rng.choice(["next", "next", "retry", "near-retry", "gap", "zero"])
    if kind == "retry" and entry is not None:
        b = rng.choice(list(entry.batches))
        first, last = b.first_seq, b.last_seq
    elif kind == "near-retry" and entry is not None:
        b = rng.choice(list(entry.batches))
        first, last = b.first_seq, b.last_seq + 1  # starts like a remembered batch, ends elsewhere
        if b.last_seq > b.first_seq and rng.random() < 0.5:
            last = b.last_seq - 1
    elif kind == "gap":
        first = seq + rng.randint(1, 3)
        last = first + size - 1
    elif kind == "zero":
        first, last = 0, size - 1
    else:
        first, last = seq, seq + size - 1
    first, last = min(first, INT32_MAX), min(last, INT32_MAX)
    producer_epoch = max(0, epoch + rng.choice([0, 0, 0, 1, -1]))
    return entry, producer_epoch, first, last


def _as_verdict(got: Any, what: str) -> SequenceVerdict:
    """What the learner returned, as the broker's SequenceVerdict (or a clear complaint)."""
    if isinstance(got, SequenceVerdict):
        return got
    if isinstance(got, BatchMetadata):
        return SequenceVerdict("duplicate", got)
    if isinstance(got, str) and got in ACTIONS:
        return SequenceVerdict(got)
    raise CheckFailed(f"check_sequence returned {got!r}; return 'append', 'out_of_order', 'invalid_epoch', or "
                      f"the BatchMetadata of the batch it duplicates", case=what, exercise=EX_SEQ)


def _same(got: SequenceVerdict, want: Any) -> bool:
    if isinstance(want, BatchMetadata):
        return got.action == "duplicate" and got.duplicate_of == want
    return got.action == want and got.duplicate_of is None


def _describe(entry: ProducerStateEntry | None) -> str:
    if entry is None:
        return "None"
    return f"entry(producer_epoch={entry.producer_epoch}, batches={list(entry.batches)})"


def _learner_policy(fn: Callable) -> Callable:
    def check_sequence(entry: Any, producer_epoch: int, first_seq: int, last_seq: int) -> SequenceVerdict:
        what = f"check_sequence({_describe(entry)}, {producer_epoch}, {first_seq}, {last_seq})"
        got = call_learner(fn, entry, producer_epoch, first_seq, last_seq, exercise=EX_SEQ, what=what)
        return _as_verdict(got, what)
    return check_sequence


def as_policies(fn: Callable) -> Policies:
    """Cluster policies with the learner's ``check_sequence`` on every broker."""
    return Policies(check_sequence=_learner_policy(fn))


def _run(seed: int, policies: Policies, **scenario: Any) -> ScenarioResult:
    try:
        return run_scenario(seed, policies=policies, **scenario)
    except CheckFailed as exc:
        raise CheckFailed(exc.what, case=exc.case, seed=seed, hint=exc.hint, exercise=EX_SEQ) from None


_REFERENCE_ACKED: dict[str, int] = {}


def reference_acked(seed: int, **scenario: Any) -> int:
    """How many writes the same run acknowledges with msglib's own ``check_sequence``.

    Not always all of them: the simulated network loses single messages, so a producer's first
    batch can be lost while a later one arrives; the partition, which has never heard of the
    producer, accepts the later one, and the lost batch's retries are out of order from then
    on (real TCP connections do not lose one request and deliver the next). A learner's check
    must do as well as msglib's. Runs are deterministic, so each is computed once.
    """
    key = json.dumps([seed, scenario], sort_keys=True)
    if key not in _REFERENCE_ACKED:
        _REFERENCE_ACKED[key] = run_scenario(seed, **scenario).acked
    return _REFERENCE_ACKED[key]


def _judge_case(fn: Callable, args: tuple, want: Any, why: str, seed: int | None = None) -> None:
    entry, epoch, first, last = args
    what = f"check_sequence({_describe(entry)}, producer_epoch={epoch}, first_seq={first}, last_seq={last})"
    got = _as_verdict(call_learner(fn, *args, exercise=EX_SEQ, what=what, seed=seed), what)
    if not _same(got, want):
        shown = got.duplicate_of if got.action == "duplicate" else got.action
        raise CheckFailed(f"check_sequence returned {shown!r}; expected {want!r}: {why}", case=what, seed=seed,
                          exercise=EX_SEQ)


def _random_cases(fn: Callable, seed_list: list[int], per_seed: int = 150) -> None:
    """Random producer states and batches, judged against the rule; the smallest failing one is reported."""
    cases = []
    for seed in seed_list:
        rng = random.Random(seed)
        for _ in range(per_seed):
            entry, _, first, last = args = _random_case(rng)
            size = (len(entry.batches) if entry is not None else 0, max(first, last, entry.last_seq if entry else 0))
            cases.append((size, seed, args))
    for _, seed, args in sorted(cases, key=lambda c: c[0]):  # fewest batches and smallest numbers first
        want = ref.check_sequence(*args)
        _judge_case(fn, args, want.duplicate_of if want.action == "duplicate" else want.action,
                    _why(args[0], args[1], args[2], want), seed=seed)


def _check(fn: Callable, seed_list: list[int], hidden: bool) -> None:
    require_callable(fn, "check_sequence", EX_SEQ)
    for args, want, why in _cases() + (_hidden_cases() if hidden else []):
        _judge_case(fn, args, want, why)
    if hidden:
        _random_cases(fn, seed_list)
    policies = as_policies(fn)
    hint = ("a retry of one of the last five batches is a duplicate (answer with its offsets); otherwise the "
            "batch must start right after the last sequence")
    settings = [("idempotent producer, 5% of messages lost", dict(faults=None, loss=0.05))]
    if hidden:
        settings.append(("idempotent producer, 3% of messages lost, brokers crashing and pausing",
                         dict(loss=0.03, fault_kinds=("crash", "pause"), fault_interval_ms=250)))
    for setting, scenario in settings:
        scenario = dict(scenario, duration_ms=500)
        for seed in seed_list:
            r = _run(seed, policies, **scenario)
            problem = r.first_problem()
            if problem is not None:
                what, story = problem
                raise CheckFailed(f"{setting}: {what}", case="\n" + story, seed=seed, exercise=EX_SEQ, hint=hint)
            expected = reference_acked(seed, **scenario)
            if r.acked < expected:
                first = next(op for op in r.history if op.process == "p1" and op.type in ("fail", "info"))
                raise CheckFailed(f"{setting}: only {r.acked} of {r.stats['sent']} writes were acknowledged; with "
                                  f"msglib's check_sequence, {expected} are (retries of writes already in the log "
                                  f"must be answered as duplicates)",
                                  case=first.describe(), seed=seed, exercise=EX_SEQ, hint=hint)


def check_sequence_check(fn: Callable, seed: int | None = None) -> None:
    _check(fn, [seed] if seed is not None else seeds(EX_SEQ, 2), hidden=False)


def hidden_sequence_check(fn: Callable, seed: int | None = None) -> None:
    _check(fn, [seed] if seed is not None else seeds(EX_SEQ, 8, hidden=True), hidden=True)


REFERENCE = ref.check_sequence
