"""DLQ accounting: every message is processed once or dead-lettered once, none lost.

The checker reads a :class:`msglib.sim.History` with these operations (each
an ``invoke`` and its completion; the retry processor, the retry-topic
pipeline and the grading harnesses all record them):

=================  ============================================================
``publish``        ``{"id": m}``: a message entered the system
``attempt``        ``{"id": m, "attempt": n}``: one processing attempt; ``ok``
                   = processed, ``fail`` = raised (``error`` names the class)
``dead-letter``    ``{"id": m, "attempts": n, "reason": r}``: moved to the DLQ
``redrive``        ``{"id": m}``: taken out of the DLQ and sent again: the
                   message starts a new life (it may be processed or
                   dead-lettered once more)
=================  ============================================================

Findings, each an :class:`~msglib.check.kafka.Anomaly` naming its witness ops:

========================  =====================================================
``lost``                  published, never processed, not in the DLQ at the end
``processed-twice``       two successful attempts for one message
``processed-and-dead``    processed *and* dead-lettered
``dlq-duplicate``         dead-lettered twice with no redrive in between
``attempts-mismatch``     a dead letter claims n attempts, the history shows m
``too-many-attempts``     more than ``max_attempts`` attempts in one life
``gave-up-early``         dead-lettered for ``max-attempts`` before using them all
``attempt-after-dlq``     an attempt of a message sitting in the DLQ
``never-published``       activity for an id nobody published
========================  =====================================================
"""
from __future__ import annotations

from dataclasses import dataclass, field

from msglib.check.kafka import Anomaly
from msglib.sim.history import OK, History

DLQ_KINDS = ("lost", "processed-twice", "processed-and-dead", "dlq-duplicate", "attempts-mismatch",
             "too-many-attempts", "gave-up-early", "attempt-after-dlq", "never-published")


@dataclass
class _Life:
    """One message between its publish (or redrive) and its end."""

    start: int                                     # op index of the publish / redrive
    attempts: list[int] = field(default_factory=list)   # completion op indices
    ok: list[int] = field(default_factory=list)
    dead: list[int] = field(default_factory=list)
    claimed: int | None = None                     # the attempts its dead letter claims
    reason: str | None = None                      # why it was dead-lettered


@dataclass
class DlqCheckResult:
    anomalies: list[Anomaly]
    history: History
    processed: set[str]
    dead_lettered: set[str]
    published: set[str]

    @property
    def valid(self) -> bool:
        return not self.anomalies

    def of_kind(self, *kinds: str) -> list[Anomaly]:
        return [a for a in self.anomalies if a.kind in kinds]

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for a in self.anomalies:
            out[a.kind] = out.get(a.kind, 0) + 1
        return out

    def summary(self) -> str:
        head = (f"{len(self.published)} published, {len(self.processed)} processed, "
                f"{len(self.dead_lettered)} in the DLQ")
        if not self.anomalies:
            return f"valid: {head}"
        return f"INVALID: {head}; " + ", ".join(f"{k}: {n}" for k, n in sorted(self.counts.items()))

    def report(self, per_kind: int = 1) -> str:
        lines = [self.summary()]
        shown: dict[str, int] = {}
        for a in self.anomalies:
            if shown.get(a.kind, 0) < per_kind:
                shown[a.kind] = shown.get(a.kind, 0) + 1
                lines.append(a.explain(self.history))
        return "\n".join(lines)


def check_dlq(history: History, *, max_attempts: int | None = None) -> DlqCheckResult:
    """Judge a history; ``max_attempts`` defaults to ``history.meta["max_attempts"]`` if present."""
    if max_attempts is None:
        max_attempts = history.meta.get("max_attempts")
    lives: dict[str, list[_Life]] = {}
    in_dlq: dict[str, bool] = {}
    anomalies: list[Anomaly] = []

    def current(mid: str, op_index: int) -> _Life | None:
        if mid not in lives:
            anomalies.append(Anomaly("never-published", mid, f"{mid} was processed or dead-lettered but never "
                                     "published", [op_index], [mid]))
            lives[mid] = [_Life(op_index)]
        return lives[mid][-1]

    for invoke, done in history.completions():
        v = invoke.value if isinstance(invoke.value, dict) else {}
        mid = v.get("id")
        if mid is None:
            continue
        if invoke.f == "publish" and done is not None and done.type == OK:
            lives.setdefault(mid, []).append(_Life(invoke.index))
            in_dlq[mid] = False
        elif invoke.f == "redrive" and done is not None and done.type == OK:
            if not in_dlq.get(mid):
                # a redrive of something not in the DLQ would create a second copy
                anomalies.append(Anomaly("dlq-duplicate", mid, f"{mid} was redriven while not in the DLQ",
                                         [invoke.index], [mid]))
            in_dlq[mid] = False
            lives.setdefault(mid, []).append(_Life(invoke.index))
        elif invoke.f == "attempt" and done is not None:
            life = current(mid, invoke.index)
            if in_dlq.get(mid):
                anomalies.append(Anomaly("attempt-after-dlq", mid, f"{mid} was attempted while it sat in the DLQ",
                                         [invoke.index, done.index], [mid]))
            life.attempts.append(done.index)
            if done.type == OK:
                life.ok.append(done.index)
        elif invoke.f == "dead-letter" and done is not None and done.type == OK:
            life = current(mid, invoke.index)
            life.dead.append(invoke.index)
            life.claimed = v.get("attempts")
            life.reason = v.get("reason")
            if in_dlq.get(mid):
                anomalies.append(Anomaly("dlq-duplicate", mid, f"{mid} was dead-lettered twice without a redrive "
                                         "in between", life.dead[-2:] if len(life.dead) > 1 else [invoke.index], [mid]))
            in_dlq[mid] = True

    processed: set[str] = set()
    dead: set[str] = {m for m, flag in in_dlq.items() if flag}
    for mid, ls in lives.items():
        ok_all = [i for life in ls for i in life.ok]
        if ok_all:
            processed.add(mid)
        if len(ok_all) > 1:
            anomalies.append(Anomaly("processed-twice", mid, f"{mid} was processed {len(ok_all)} times",
                                     ok_all, [mid]))
        for life in ls:
            if life.ok and life.dead:
                anomalies.append(Anomaly("processed-and-dead", mid, f"{mid} was processed and also dead-lettered",
                                         life.ok[:1] + life.dead[:1], [mid]))
            if life.dead and life.claimed is not None and life.claimed != len(life.attempts):
                anomalies.append(Anomaly("attempts-mismatch", mid,
                                         f"the dead letter of {mid} says {life.claimed} attempts; the history "
                                         f"shows {len(life.attempts)}", life.dead[:1] + life.attempts, [mid]))
            if (max_attempts is not None and life.dead and life.reason == "max-attempts"
                    and len(life.attempts) < max_attempts):
                anomalies.append(Anomaly("gave-up-early", mid, f"{mid} was dead-lettered for max-attempts after "
                                         f"{len(life.attempts)} of {max_attempts} attempts", life.attempts, [mid]))
            if max_attempts is not None and len(life.attempts) > max_attempts:
                anomalies.append(Anomaly("too-many-attempts", mid, f"{mid} was attempted {len(life.attempts)} "
                                         f"times; at most {max_attempts} are allowed", life.attempts, [mid]))
        last = ls[-1]
        if not ok_all and not in_dlq.get(mid) and mid not in dead:
            anomalies.append(Anomaly("lost", mid, f"{mid} was neither processed nor left in the DLQ "
                                     f"({len(last.attempts)} attempt(s) in its last life)",
                                     [last.start] + last.attempts, [mid]))
    published = {m for m in lives}
    return DlqCheckResult(anomalies, history, processed, dead, published)


__all__ = ["check_dlq", "DlqCheckResult", "DLQ_KINDS"]
