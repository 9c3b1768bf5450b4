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
loses messages: every write must be acknowledged exactly once, in order.
"""
from __future__ import annotations

from typing import Any, Callable

from msglib.cluster import policies as ref
from msglib.cluster.policies import BatchMetadata, Policies, ProducerStateEntry, SequenceVerdict
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


def _check(fn: Callable, seed_list: list[int], hidden: bool) -> None:
    require_callable(fn, "check_sequence", EX_SEQ)
    for args, want, why in _cases():
        entry, epoch, first, last = args
        what = f"check_sequence({_describe(entry)}, producer_epoch={epoch}, first_seq={first}, last_seq={last})"
        got = _as_verdict(call_learner(fn, *args, exercise=EX_SEQ, what=what), what)
        if not _same(got, want):
            shown = got.duplicate_of if got.action == "duplicate" else got.action
            raise CheckFailed(f"check_sequence returned {shown!r}; expected {want!r}: {why}", case=what,
                              exercise=EX_SEQ)
    policies = as_policies(fn)
    hint = ("a retry of one of the last five batches is a duplicate (answer with its offsets); otherwise the "
            "batch must start right after the last sequence")
    settings = [("idempotent producer, 5% of messages lost", dict(faults=None, loss=0.05))]
    if hidden:
        settings.append(("idempotent producer, 3% of messages lost, brokers crashing and pausing",
                         dict(loss=0.03, fault_kinds=("crash", "pause"), fault_interval_ms=250)))
    for setting, scenario in settings:
        for seed in seed_list:
            r = _run(seed, policies, duration_ms=500, **scenario)
            problem = r.first_problem()
            if problem is not None:
                what, story = problem
                raise CheckFailed(f"{setting}: {what}", case="\n" + story, seed=seed, exercise=EX_SEQ, hint=hint)
            if r.acked < r.stats["sent"]:
                first = next(op for op in r.history if op.process == "p1" and op.type in ("fail", "info"))
                raise CheckFailed(f"{setting}: only {r.acked} of {r.stats['sent']} writes were acknowledged (retries "
                                  f"of writes already in the log must be answered as duplicates)",
                                  case=first.describe(), seed=seed, exercise=EX_SEQ, hint=hint)


def check_sequence_check(fn: Callable, seed: int | None = None) -> None:
    _check(fn, [seed] if seed is not None else seeds(EX_SEQ, 2), hidden=False)


def hidden_sequence_check(fn: Callable, seed: int | None = None) -> None:
    _check(fn, [seed] if seed is not None else seeds(EX_SEQ, 4, hidden=True), hidden=True)


REFERENCE = ref.check_sequence
