"""Judging KIP-848 rebalance runs: one owner per partition at a time, incremental revocation, settling.

Three properties of a run of :mod:`msglib.groups.rebalance_schedules` (its ``ScheduleResult``):

* **two owners** (safety): no partition is owned by two members at the same moment. Ownership spans are
  ``(member, partition, from, to)``; two spans of one partition by two members that overlap by more than
  zero milliseconds are a violation;
* **needless revocation** (the point of KIP-848's incremental protocol): a reconciliation step never
  revokes a partition that the member's target assignment keeps;
* **never settled** (liveness): after the faults stop, the group reaches a Stable state where every
  partition is owned by exactly one live member, and each member owns what the coordinator assigned it.

Each finding says what went wrong, when, and who was involved, so the runner can print the smallest
history around it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from msglib.groups.consumer_group import GROUP_STABLE
from msglib.groups.reconciliation import check_reconciliation


@dataclass
class Finding:
    kind: str                      # "two owners" | "needless revocation" | "never settled" | "error"
    message: str
    time: float = 0.0
    members: tuple[str, ...] = ()
    overlap_ms: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.kind} at t={self.time:.1f} ms: {self.message}"


def two_owners(intervals: list[tuple[str, Any, float, float]]) -> list[Finding]:
    """Every pair of ownership spans of one partition by two members that overlap in time."""
    by_tp: dict[Any, list[tuple[float, float, str]]] = {}
    for member, tp, start, end in intervals:
        if end > start:
            by_tp.setdefault(tp, []).append((start, end, member))
    out = []
    for tp, spans in sorted(by_tp.items(), key=lambda kv: str(kv[0])):
        spans.sort()
        for i, (s1, e1, m1) in enumerate(spans):
            for s2, e2, m2 in spans[i + 1:]:
                if s2 >= e1:
                    break
                if m1 != m2:
                    overlap = min(e1, e2) - s2
                    out.append(Finding("two owners", f"{tp} was owned by {m1} (from t={s1:.1f} to {e1:.1f}) and by "
                                       f"{m2} (from t={s2:.1f} to {e2:.1f}) at once, for {overlap:.1f} ms",
                                       s2, (m1, m2), overlap, {"partition": str(tp)}))
    return sorted(out, key=lambda f: f.time)


def needless_revocations(steps: list[Any]) -> list[Finding]:
    out = []
    for st in steps:
        try:
            step = check_reconciliation(st.result)
        except TypeError as exc:
            return [Finding("error", f"the reconciliation step returned something unusable: {exc}", st.time,
                            (st.member,))]
        kept = step.revoking & st.target
        if kept:
            out.append(Finding("needless revocation", f"{st.member} was told to revoke "
                               f"{sorted(str(tp) for tp in kept)} although its target "
                               f"{sorted(str(tp) for tp in st.target)} keeps them (assigned "
                               f"{sorted(str(tp) for tp in st.assigned)})", st.time, (st.member,)))
    return out


def unsettled(result: Any) -> list[Finding]:
    if not result.final_owned:
        return []                  # nobody left to own anything
    problems = []
    owners: dict[Any, list[str]] = {}
    for m, tps in result.final_owned.items():
        for tp in tps:
            owners.setdefault(tp, []).append(m)
    missing = [q for q in range(result.partitions) if not any(tp.partition == q for tp in owners)]
    doubled = {str(tp): ms for tp, ms in owners.items() if len(ms) > 1}
    if missing:
        problems.append(f"partitions {missing} have no owner")
    if doubled:
        problems.append(f"partitions owned twice: {doubled}")
    for m, tps in sorted(result.final_owned.items()):
        assigned = result.final_assigned.get(m)
        if assigned is not None and assigned != tps:
            problems.append(f"{m} owns {sorted(str(tp) for tp in tps)} but the coordinator assigned it "
                            f"{sorted(str(tp) for tp in assigned)}")
    if result.final_owned and result.group_state != GROUP_STABLE:
        problems.append(f"the group is {result.group_state}, not {GROUP_STABLE}")
    if not problems:
        return []
    return [Finding("never settled", "after the faults stopped: " + "; ".join(problems), result.end_ms,
                    tuple(sorted(result.final_owned)))]


def check_rebalance(result: Any) -> list[Finding]:
    """Every finding about one run, the most serious first (error, two owners, needless revocation, never settled)."""
    if result.error:
        return [Finding("error", f"the run stopped: {result.error}", result.end_ms)]
    return two_owners(result.intervals) + needless_revocations(result.steps) + unsettled(result)


__all__ = ["Finding", "check_rebalance", "needless_revocations", "two_owners", "unsettled"]
