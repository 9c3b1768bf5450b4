"""Module 09, share groups: the share-partition record state machine (KIP-932), graded inside msglib.

The learner writes ``share_transition(record, event, member, limit)``: the record's state after an
acquisition, an acknowledgement (accept / release / reject) or the expiry of its acquisition lock.
msglib's ``SharePartition`` runs it for every decision, in seeded runs where consumers crash, stall past
their locks (their acknowledgements arrive late) and meet poison records; ``msglib.check.share`` judges the
history. A failure names the rule, the record's smallest history and the seed that replays the run.
"""
from __future__ import annotations

from typing import Callable

from msglib.check.share import check_history, size
from msglib.grading.core import CheckFailed, guarded, require_callable, seeds
from msglib.share.partition import ShareEvent
from msglib.share.record import (ACCEPT, ACQUIRE, LOCK_EXPIRED, REJECT, RELEASE, InFlightRecord,
                                 RecordState)
from msglib.share.scenario import ShareRunResult, explain, run_share_schedule

EX_SHARE = "09-share_transition"
HINT = ("acquire only an AVAILABLE record (+1 delivery); accept/release/reject only by the member holding "
        "the lock while ACQUIRED; release and lock expiry: AVAILABLE again below the limit, ARCHIVED at it; "
        "return the record itself when the event does not apply")

A, Q, K, X = RecordState.AVAILABLE, RecordState.ACQUIRED, RecordState.ACKNOWLEDGED, RecordState.ARCHIVED

# (record before, event, member, limit): the table of single decisions the visible check starts with
VISIBLE_CASES: list[tuple[InFlightRecord, str, str]] = [
    (InFlightRecord(0), ACQUIRE, "c1"),
    (InFlightRecord(0, A, 2), ACQUIRE, "c2"),
    (InFlightRecord(0, Q, 1, "c1"), ACQUIRE, "c2"),
    (InFlightRecord(0, Q, 1, "c1"), ACCEPT, "c1"),
    (InFlightRecord(0, Q, 1, "c1"), ACCEPT, "c2"),
    (InFlightRecord(0, Q, 2, "c1"), RELEASE, "c1"),
    (InFlightRecord(0, Q, 5, "c1"), RELEASE, "c1"),
    (InFlightRecord(0, Q, 1, "c1"), REJECT, "c1"),
    (InFlightRecord(0, Q, 5, "c1"), LOCK_EXPIRED, "c1"),
    (InFlightRecord(0, A, 1), ACCEPT, "c1"),
    (InFlightRecord(0, K, 1), ACQUIRE, "c1"),
    (InFlightRecord(0, X, 5), ACQUIRE, "c1"),
]
HIDDEN_CASES: list[tuple[InFlightRecord, str, str]] = [
    (InFlightRecord(7, Q, 4, "c3"), LOCK_EXPIRED, "c3"),
    (InFlightRecord(7, Q, 4, "c3"), RELEASE, "c3"),
    (InFlightRecord(7, Q, 1, "c3"), REJECT, "c1"),
    (InFlightRecord(7, K, 2), ACCEPT, "c1"),
    (InFlightRecord(7, X, 1), RELEASE, "c1"),
    (InFlightRecord(7, A, 3), RELEASE, "c1"),
    (InFlightRecord(7, Q, 1, "c1"), LOCK_EXPIRED, "c1"),
]


def _possible(record: InFlightRecord, limit: int) -> bool:
    """A state a correct share-partition can reach under ``limit`` (an AVAILABLE record is below it)."""
    if record.state is A:
        return record.delivery_count < limit
    return record.delivery_count <= limit


def _judge_one(fn: Callable, record: InFlightRecord, event: str, member: str, limit: int,
               seed: int | None) -> None:
    """One decision, judged by the same checker that judges whole runs."""
    after = fn(record, event, member, limit)
    if not isinstance(after, InFlightRecord):
        raise CheckFailed(f"share_transition must return an InFlightRecord (the record itself when the event does "
                          f"not apply), got {after!r}", case=f"share_transition({record!r}, {event!r}, {member!r}, "
                          f"{limit})", seed=seed, hint=HINT, exercise=EX_SHARE)
    e = ShareEvent(0.0, event, record.offset, member, record, after, after != record)
    problems = check_history([e], limit)
    if problems:
        raise CheckFailed(f"{problems[0].rule}: {problems[0].what}",
                          case=f"limit={limit}: {e}", seed=seed, hint=HINT, exercise=EX_SHARE)


def _runs(fn: Callable, seed_list: list[int], crash_rate: float, exercise: str, keep: int = 4) -> None:
    failures: list[ShareRunResult] = []
    for s in seed_list:
        try:
            r = run_share_schedule(s, transition=fn, crash_rate=crash_rate)
        except TypeError as exc:       # the share-partition refused what share_transition returned
            raise CheckFailed(str(exc), seed=s, hint=HINT, exercise=exercise) from None
        if not r.ok:
            failures.append(r)
            if len(failures) >= keep:
                break
    if not failures:
        return
    best = min(((r, v) for r in failures for v in r.violations),
               key=lambda rv: (size(rv[1]), rv[0].records * rv[0].consumers, rv[0].seed))
    result, violation = best
    raise CheckFailed(f"a share-partition run broke a rule: {violation.rule}: {violation.what}",
                      case="\n" + explain(result, violation), seed=result.seed, hint=HINT, exercise=exercise)


def _check(share_transition: Callable, cases: list[tuple[InFlightRecord, str, str]], limits: tuple[int, ...],
           seed_list: list[int], crash_rate: float) -> None:
    require_callable(share_transition, "share_transition", EX_SHARE)
    fn = guarded(share_transition, EX_SHARE,
                 case=lambda record, event, member, limit: f"share_transition({record!r}, {event!r}, {member!r}, "
                                                           f"{limit})")
    for record, event, member in cases:
        for limit in limits:
            if _possible(record, limit):
                _judge_one(fn, record, event, member, limit, None)
    _runs(fn, seed_list, crash_rate, EX_SHARE)


def check_share_transition(share_transition: Callable, seed: int | None = None) -> None:
    """Visible: 12 single decisions (limits 5 and 2), then 150 seeded runs with crashes and stalls."""
    _check(share_transition, VISIBLE_CASES, (5, 2), [seed] if seed is not None else seeds(EX_SHARE, 150), 1.0)


def hidden_share_transition(share_transition: Callable, seed: int | None = None) -> None:
    """Hidden: more decisions (limits 4, 1, 5), then 250 runs from hidden seeds with twice the faults."""
    _check(share_transition, VISIBLE_CASES + HIDDEN_CASES, (4, 1, 5),
           [seed] if seed is not None else seeds(EX_SHARE, 250, hidden=True), 2.0)
