"""Checks for module 05's KIP-848 exercise (``05-reconcile``): the member reconciliation step.

``reconcile(assigned, target, owned_by_others) -> Reconciliation(assigned, revoking, unreleased)`` is the
step msglib's group coordinator runs at each heartbeat of a KIP-848 member
(``msglib.groups.LocalBroker(reconcile=fn)``; Kafka's ``CurrentAssignmentBuilder``). It is judged twice:

1. **inside a group under seeded faults** (:mod:`msglib.groups.rebalance_schedules`): members join, leave,
   crash, pause, revoke slowly; links are cut, lossy, slow; the coordinator crashes. The checker
   (:mod:`msglib.check.rebalance`) looks for a partition owned by two members at once, a revocation of a
   partition the target keeps, and a group that never settles. A failing schedule is shrunk (events dropped
   while it still fails) and its history printed with the seed;
2. **on the rules, case by case** (hand-made and seeded random cases): keep what the target keeps; revoke the
   rest first and take nothing new meanwhile; then take only what no other member holds, and say what you wait
   for. Answers that are safe but not the protocol's (taking nothing, waiting for nothing) fail here.
"""
from __future__ import annotations

import random
from typing import Any, Callable

from msglib.grading.core import CheckFailed, call_learner, guarded, require_callable, seeds
from msglib.groups.rebalance_schedules import run_schedule, smallest_failure
from msglib.groups.reconciliation import Reconciliation, check_reconciliation
from msglib.groups.reconciliation import reconcile as reference
from msglib.protocol import TopicPartition

EX = "05-reconcile"
TOPIC = "events"

HINTS = {
    "two owners": "a partition may go to a member only when no other member holds it (owned_by_others), and a "
                  "member that must give partitions up gets nothing new until it has: put them in `revoking`, "
                  "do not just drop them from `assigned` (the coordinator would think them free while the member "
                  "still uses them)",
    "needless revocation": "only the partitions that are assigned but not in the target are revoked; the ones both "
                           "assigned and in the target stay (that is the point of the incremental protocol)",
    "never settled": "partitions of the target that others still hold go to `unreleased`: that is what makes "
                     "the coordinator call you again for this member once they are free",
    "error": "return Reconciliation(assigned=..., revoking=..., unreleased=...), three sets of TopicPartition",
}


def tps(*ns: int) -> frozenset[TopicPartition]:
    return frozenset(TopicPartition(TOPIC, n) for n in ns)


def _show(s: Any) -> str:
    try:
        return "{" + ", ".join(str(tp.partition) for tp in sorted(s)) + "}"
    except Exception:
        return repr(s)


def _case(a: frozenset, t: frozenset, o: frozenset) -> str:
    return f"reconcile(assigned={_show(a)}, target={_show(t)}, owned_by_others={_show(o)}) (partitions of {TOPIC!r})"


def _as_step(result: Any, case: str, seed: int | None) -> Reconciliation:
    try:
        return check_reconciliation(result)
    except TypeError as exc:
        raise CheckFailed(f"reconcile returned something unusable: {exc}", case=case, seed=seed, exercise=EX,
                          hint=HINTS["error"]) from None


# ------------------------------------------------------------------ 1. in a group, under faults
def _in_group(fn: Callable, seed_list: list[int]) -> None:
    for s in seed_list:
        seam = guarded(fn, EX, seed=s, case=lambda a, t, o: _case(frozenset(a), frozenset(t), frozenset(o)))
        result = run_schedule(s, members=2 + s % 4, reconcile=seam)
        if result.ok:
            continue
        small = smallest_failure(result, reconcile=seam)
        finding = small.findings[0] if small.findings else result.findings[0]
        schedule = "; ".join(e.describe() for e in small.events) or "no fault at all"
        story = small.story(around=finding.members, limit=40)
        raise CheckFailed(f"in a KIP-848 group: {finding}",
                          case=f"{2 + s % 4} members, 6 partitions; schedule: {schedule}\n{story}", seed=s,
                          exercise=EX, hint=HINTS.get(finding.kind))


# ------------------------------------------------------------------ 2. the rules, case by case
VISIBLE = [
    # (assigned, target, owned_by_others): a new member; a member whose share shrinks; one whose share grows
    (tps(), tps(0, 1, 2), tps()),
    (tps(0, 1, 2, 3), tps(0, 1), tps()),
    (tps(0, 1), tps(0, 1, 2), tps(2)),
    (tps(0, 1), tps(0, 1, 2, 3), tps(2)),
    (tps(0, 1, 2), tps(1, 3), tps(3)),           # revoke first, even though 3 is busy anyway
    (tps(0, 1), tps(0, 1), tps(2, 3)),           # nothing to do
]
HIDDEN = [
    (tps(0, 1, 2), tps(), tps()),                # its topic went away: revoke everything
    (tps(), tps(0, 1), tps(0, 1)),               # everything it wants is still held elsewhere
    (tps(4), tps(4, 5), tps()),
    (tps(0, 5), tps(1, 2), tps(1)),
]


def _unit(fn: Callable, cases: list[tuple[frozenset, frozenset, frozenset]], seed: int | None = None) -> None:
    for a, t, o in cases:
        case = _case(a, t, o)
        got = _as_step(call_learner(fn, frozenset(a), frozenset(t), frozenset(o), exercise=EX, what=case, seed=seed),
                       case, seed)
        want = reference(a, t, o)
        if got == want:
            continue
        if got.revoking != want.revoking:
            what = (f"revoking is {_show(got.revoking)}; it must be {_show(want.revoking)}: the assigned "
                    f"partitions the target does not keep")
        elif got.assigned != want.assigned and want.revoking:
            what = (f"assigned is {_show(got.assigned)} while {_show(want.revoking)} are being revoked; it must be "
                    f"{_show(want.assigned)}: keep what the target keeps and take nothing new until the member "
                    f"has given the revoked ones up")
        elif got.assigned != want.assigned:
            what = (f"assigned is {_show(got.assigned)}; it must be {_show(want.assigned)}: what the target keeps, "
                    f"plus the target partitions no other member holds")
        else:
            what = (f"unreleased is {_show(got.unreleased)}; it must be {_show(want.unreleased)}: the target "
                    f"partitions still held by other members (nothing is waited for while revoking)")
        raise CheckFailed(what, case=f"{case} returned assigned={_show(got.assigned)}, revoking="
                          f"{_show(got.revoking)}, unreleased={_show(got.unreleased)}", seed=seed, exercise=EX)


def _random_cases(seed: int, n: int) -> list[tuple[frozenset, frozenset, frozenset]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        universe = list(range(rng.randint(1, 8)))
        a = tps(*rng.sample(universe, rng.randint(0, len(universe))))
        t = tps(*rng.sample(universe, rng.randint(0, len(universe))))
        o = tps(*(p.partition for p in t - a if rng.random() < 0.5)) | tps(*(x + 10 for x in range(rng.randint(0, 2))))
        out.append((a, t, o))
    return sorted(out, key=lambda c: sum(map(len, c)))     # the smallest failing case comes first


def check_reconcile(reconcile: Callable, seed: int | None = None) -> None:
    """Visible check: 12 seeded schedules in a live KIP-848 group, then six hand-made cases."""
    require_callable(reconcile, "reconcile", EX)
    _in_group(reconcile, [seed] if seed is not None else seeds(EX, 12))
    _unit(reconcile, VISIBLE)


def hidden_reconcile(reconcile: Callable, seed: int | None = None) -> None:
    require_callable(reconcile, "reconcile", EX)
    run_seeds = [seed] if seed is not None else seeds(EX, 30, hidden=True)
    _unit(reconcile, HIDDEN)
    for s in run_seeds[:3]:
        _unit(reconcile, _random_cases(s, 150), seed=s)
    _in_group(reconcile, run_seeds)


__all__ = ["EX", "check_reconcile", "hidden_reconcile"]
