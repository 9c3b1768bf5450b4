"""Checks for module 11's design decision (``11-design``): the simulation judges a design by what it measures.

The learner's ``design()`` returns a dict (:data:`msglib.capstone.design.FIELDS`): the key of a channel
job, the partitions of each channel topic, the workers per channel, a priority lane for critical messages,
whether critical messages skip the rate limiter, and the retry order. The check runs the design story
(:func:`msglib.capstone.design.run_design`: a campaign that floods the channels, password resets during
it, crashes, a stalled worker, a push outage) and holds the measured properties to
:data:`msglib.capstone.design.THRESHOLDS`. Visible: seed 0 and 1. Hidden: three seeds from the grading salt.
"""
from __future__ import annotations

from typing import Any, Callable

from msglib.capstone.design import FIELDS, THRESHOLDS, Design, DesignVerdict, evaluate
from msglib.grading.core import CheckFailed, call_learner, quiet, require_callable, seeds

EX_DESIGN = "11-design"

HINTS = {
    "invalid": "the end-to-end check found a notification lost, duplicated or sent where it should not be: "
               "read the story it prints",
    "critical_lost": "a password reset was rate-limited: the user just asked for it, and dropping it locks them "
                     "out; let critical messages skip the limiter (abuse is throttled where the reset is asked)",
    "critical_wait_ms": "during the campaign the channel's partitions hold a long backlog, and a critical job "
                        "queued behind it waits for all of it: give critical messages a lane of their own that "
                        "the workers read first",
    "inversions": "a user's messages stay in order only if (1) all their jobs share a partition (key them by "
                  "the user: one partition, one consumer at a time) and (2) a failed job does not let the "
                  "user's later jobs overtake it in the retry topic (retry_order='block-user')",
    "latency_p95_ms": "a partition is read by one worker of the group at a time: with fewer partitions than "
                      "workers some workers stand idle, and with one partition one worker drains the whole "
                      "campaign; give each channel topic at least as many partitions as workers",
}


def _answer(design: Callable[[], Any]) -> Design:
    require_callable(design, "design", EX_DESIGN)
    answer = call_learner(design, exercise=EX_DESIGN, what="design()")
    try:
        return Design.of(answer)
    except (TypeError, ValueError) as exc:
        raise CheckFailed(f"design() returned something the system cannot build: {exc}", case=repr(answer),
                          exercise=EX_DESIGN, hint="return a dict with the keys " + ", ".join(FIELDS)
                          + ", e.g. {'key': 'user', 'partitions': 3, ...}") from None


def _example(verdict: DesignVerdict, measure: str) -> str:
    m = verdict.measures
    if measure == "inversions" and m.inversions:
        earlier, later = m.inversions[0]
        return (f"{later} overtook {earlier}: routed after it, received before it\n"
                + m.check.story(earlier, limit=8))
    if measure == "critical_wait_ms" and m.critical_wait_ms:
        job = max((j for j in m.critical_wait_ms if j.startswith("r")), key=m.critical_wait_ms.get,
                  default=None)
        if job is not None:
            return f"{job} waited {m.critical_wait_ms[job]:.0f} ms for a worker\n" + m.check.story(job, limit=6)
    if measure in ("critical_lost", "invalid"):
        first = m.check.first()
        if first is not None:
            return first.message + "\n" + m.check.story(first.key, limit=8)
    return ""


def _check(design: Callable[[], Any], seed_list: list[int]) -> None:
    d = _answer(design)
    for seed in seed_list:
        with quiet():
            verdict = evaluate(d, seed)
        if verdict.failed:
            first = verdict.failed[0]
            failed = ", ".join(t.measure for t in verdict.failed)
            raise CheckFailed(f"the design {d.as_dict()} fails {failed} on the design story: {first.what} "
                              f"(measured {verdict.values[first.measure]:g}, limit {first.limit:g})",
                              case=verdict.table() + "\n" + _example(verdict, first.measure), seed=seed,
                              exercise=EX_DESIGN, hint=HINTS[first.measure])


def check_design(design: Callable[[], Any], seed: int | None = None) -> None:
    """Visible: the design story on seeds 0 and 1, every threshold."""
    _check(design, [seed] if seed is not None else seeds(EX_DESIGN, 2))


def hidden_design(design: Callable[[], Any], seed: int | None = None) -> None:
    """Hidden: the design story on three seeds from the grading salt (other users, campaigns, faults)."""
    _check(design, [seed] if seed is not None else seeds(EX_DESIGN, 3, hidden=True))


__all__ = ["check_design", "hidden_design", "EX_DESIGN", "THRESHOLDS"]
