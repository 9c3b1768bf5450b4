"""A checker for histories of a Kafka-style log, modelled on Jepsen's.

The history holds two kinds of client operations (see ``msglib.sim.history``):

- ``send``: invoke ``{"key": k, "value": v}``; an ``ok`` completion adds
  ``"offset"`` (``-1`` or ``None`` when unknown, e.g. acks=0). ``k`` names a
  partition's log (``"orders-0"``). Values are unique per key.
- ``poll``: invoke ``{"from": {k: offset}}``; an ``ok`` completion holds
  ``{"reads": {k: [[offset, value], ...]}, "hw": {k: high_watermark}}``.

From every acknowledged send and every read the checker rebuilds, per key,
the *version order*: offset -> values, then the dense *index* of each offset
(offsets in ascending order, gaps skipped). It then looks for:

=====================  =========================================================
``lost-write``         an acknowledged value nobody read, although reads of its
                       key went past it ("saw offset 10, never offset 5")
``unseen``             an acknowledged value no read ever returned. When the
                       history ends with a full read of every partition (msglib
                       scenarios do), this is a loss too
``duplicate``          one value at two offsets (a retry that was not deduplicated)
``inconsistent-offsets`` one offset holding two values (replicas diverged, or
                       acknowledged data was truncated and the offset reused)
``reorder``            one producer sent a then b to a key, b landed before a
``read-past-hw``       a read returned an offset at or above the high-water
                       mark that came with it (uncommitted data was exposed)
``aborted-read``       a read returned a value whose send certainly failed
``poll-skip``          a reader's consecutive reads jumped over an offset that
                       exists (``int-`` prefix: within one poll)
``nonmonotonic-poll``  a reader's consecutive reads went backwards
=====================  =========================================================

Each finding is an :class:`Anomaly` that names the operations proving it.
:meth:`Anomaly.sub_history` cuts those operations (and the faults that
happened meanwhile) out of the full history: the smallest story showing the
problem, to print or draw with :meth:`Anomaly.plot`.
"""
from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

from msglib.sim.history import FAIL, INFO, OK, History, Op

LOSS_KINDS = ("lost-write", "unseen")
ALL_KINDS = ("lost-write", "unseen", "duplicate", "inconsistent-offsets", "reorder", "read-past-hw",
             "aborted-read", "int-poll-skip", "int-nonmonotonic-poll", "poll-skip", "nonmonotonic-poll")


@dataclass
class Anomaly:
    """One thing that went wrong, the ops that prove it, and why it matters."""

    kind: str
    key: str
    message: str
    ops: list[int]  # indices into the history: the witnesses
    values: list[Any] = field(default_factory=list)

    def sub_history(self, history: History) -> History:
        """The witnesses plus the faults between the first and the last of them."""
        wanted = set(self.ops)
        chosen = history.subset(wanted)
        times = [op.time for op in chosen]
        if times:
            lo, hi = min(times), max(times)
            wanted |= {op.index for op in history.faults() if lo <= op.time <= hi}
        return history.subset(wanted)

    def explain(self, history: History | None = None) -> str:
        text = f"[{self.kind}] {self.message}"
        if history is not None:
            text += "\n" + self.sub_history(history).format()
        return text

    def plot(self, history: History, ax=None):
        sub = self.sub_history(history)
        return sub.plot(ax=ax, highlight=self.ops, title=f"{self.kind} on {self.key}")


@dataclass
class CheckResult:
    """What the checker found. ``valid`` is True when nothing was found."""

    anomalies: list[Anomaly]
    history: History
    allowed: frozenset[str] = frozenset()

    @property
    def valid(self) -> bool:
        return not any(a.kind not in self.allowed for a in self.anomalies)

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for a in self.anomalies:
            out[a.kind] = out.get(a.kind, 0) + 1
        return out

    def of_kind(self, *kinds: str) -> list[Anomaly]:
        return [a for a in self.anomalies if a.kind in kinds]

    @property
    def lost(self) -> set[tuple[str, Any]]:
        """Acknowledged ``(key, value)`` pairs that were lost or never seen."""
        return {(a.key, v) for a in self.of_kind(*LOSS_KINDS) for v in a.values}

    @property
    def duplicated(self) -> set[tuple[str, Any]]:
        return {(a.key, v) for a in self.of_kind("duplicate") for v in a.values}

    def summary(self) -> str:
        if not self.anomalies:
            return "valid: no anomalies found"
        parts = ", ".join(f"{k}: {n}" for k, n in sorted(self.counts.items()))
        return f"{'valid' if self.valid else 'INVALID'}: {parts}"

    def report(self, per_kind: int = 1) -> str:
        """The summary, then the smallest sub-history of the first anomalies of each kind."""
        lines = [self.summary()]
        shown: dict[str, int] = {}
        for a in self.anomalies:
            if shown.get(a.kind, 0) >= per_kind:
                continue
            shown[a.kind] = shown.get(a.kind, 0) + 1
            lines += ["", a.explain(self.history)]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"CheckResult({self.summary()})"


# ------------------------------------------------------------------------- the checker

@dataclass
class _Send:
    invoke: Op
    completion: Op | None
    key: str
    value: Any
    offset: int | None  # from the ack, when known


class _KeyLog:
    """The version order of one key: offset -> {value: first witnessing op}."""

    def __init__(self) -> None:
        self.at: dict[int, dict[Any, int]] = defaultdict(dict)
        self._where: dict[Any, set[int]] = defaultdict(set)  # value -> offsets holding it
        self._offsets: list[int] | None = None

    def add(self, offset: int, value: Any, op_index: int) -> None:
        self.at[offset].setdefault(value, op_index)
        self._where[value].add(offset)
        self._offsets = None

    @property
    def offsets(self) -> list[int]:
        if self._offsets is None:
            self._offsets = sorted(self.at)
        return self._offsets

    def index(self, offset: int) -> int:
        """Dense index of an offset (its rank among offsets ever seen)."""
        return bisect_left(self.offsets, offset)

    def offsets_of(self, value: Any) -> list[int]:
        return sorted(self._where.get(value, ()))


def check(history: History, allowed: Iterable[str] = ()) -> CheckResult:
    """Check a send/poll history for the anomalies listed in the module docstring.

    ``allowed``: kinds to report without making the result invalid (for
    instance ``{"duplicate"}`` for a producer known to be non-idempotent).
    """
    sends: list[_Send] = []
    polls: list[tuple[Op, Op]] = []  # (invoke, ok completion)
    for inv, done in history.completions():
        if inv.f == "send":
            v = inv.value
            offset = None
            if done is not None and done.type == OK and isinstance(done.value, dict):
                off = done.value.get("offset")
                offset = off if isinstance(off, int) and off >= 0 else None
            sends.append(_Send(inv, done, v["key"], v["value"], offset))
        elif inv.f == "poll" and done is not None and done.type == OK:
            polls.append((inv, done))

    # Which values were read, by which poll, at which offsets.
    read_by: dict[tuple[str, Any], list[int]] = defaultdict(list)  # (key, value) -> poll op indices
    for _, done in polls:
        for key, reads in done.value.get("reads", {}).items():
            for _, value in reads:
                read_by[(key, value)].append(done.index)

    def must_have_committed(s: _Send) -> bool:
        if s.completion is None:
            return (s.key, s.value) in read_by
        return s.completion.type == OK or (s.completion.type == INFO and (s.key, s.value) in read_by)

    logs: dict[str, _KeyLog] = defaultdict(_KeyLog)
    for s in sends:
        if s.offset is not None and must_have_committed(s):
            logs[s.key].add(s.offset, s.value, s.completion.index)
    for _, done in polls:
        for key, reads in done.value.get("reads", {}).items():
            for offset, value in reads:
                logs[key].add(offset, value, done.index)

    anomalies: list[Anomaly] = []
    anomalies += _inconsistent_offsets(logs)
    anomalies += _duplicates(logs, sends)
    anomalies += _lost_and_unseen(logs, sends, polls, read_by, must_have_committed, history)
    anomalies += _reorders(logs, sends)
    anomalies += _reads_past_hw(polls)
    anomalies += _aborted_reads(sends, read_by)
    anomalies += _poll_skips(logs, polls)
    return CheckResult(anomalies, history, frozenset(allowed))


def _inconsistent_offsets(logs: dict[str, _KeyLog]) -> list[Anomaly]:
    out = []
    for key, log in sorted(logs.items()):
        for offset in log.offsets:
            values = log.at[offset]
            if len(values) > 1:
                said = "; ".join(f"{v!r} (op {i})" for v, i in values.items())
                out.append(Anomaly(
                    "inconsistent-offsets", key,
                    f"offset {offset} of {key} held different values at different times: {said}. "
                    f"An offset, once acknowledged or read, must never change: the replicas diverged or "
                    f"acknowledged data was truncated and the offset reused.",
                    sorted(values.values()), sorted(values, key=repr)))
    return out


def _duplicates(logs: dict[str, _KeyLog], sends: list[_Send]) -> list[Anomaly]:
    out = []
    sent_by: dict[tuple[str, Any], int] = {(s.key, s.value): s.invoke.index for s in sends}
    for key, log in sorted(logs.items()):
        first_witness: dict[Any, dict[int, int]] = defaultdict(dict)
        for offset in log.offsets:
            for value, op in log.at[offset].items():
                first_witness[value][offset] = op
        for value, where in first_witness.items():
            if len(where) > 1:
                ops = sorted(set(where.values()) | ({sent_by[(key, value)]} if (key, value) in sent_by else set()))
                out.append(Anomaly(
                    "duplicate", key,
                    f"value {value!r} was sent once but is in {key} at offsets {sorted(where)}: "
                    f"a retry appended it again (the broker did not recognise the retry as a duplicate).",
                    ops, [value]))
    return out


def _lost_and_unseen(logs, sends, polls, read_by, must_have_committed, history) -> list[Anomaly]:
    out = []
    # Per key: the highest index any ok poll read, and the poll ops in completion order.
    polls_of_key: dict[str, list[tuple[Op, int]]] = defaultdict(list)  # key -> [(poll op, max index read)]
    for _, done in polls:
        for key, reads in done.value.get("reads", {}).items():
            if reads:
                log = logs[key]
                polls_of_key[key].append((done, max(log.index(o) for o, _ in reads)))
    for s in sends:
        if not must_have_committed(s) or (s.key, s.value) in read_by:
            continue
        log = logs.get(s.key)
        offsets = log.offsets_of(s.value) if log else []
        if offsets:
            last_index = log.index(offsets[-1])
            witness = next((p for p, top in polls_of_key.get(s.key, []) if top >= last_index), None)
            if witness is not None:
                out.append(Anomaly(
                    "lost-write", s.key,
                    f"{s.value!r} was acknowledged at offset {offsets[-1]} of {s.key} (op {s.completion.index}), "
                    f"but no read ever returned it, although op {witness.index} read {s.key} up to or past "
                    f"that offset. An acknowledged write disappeared.",
                    [s.invoke.index, s.completion.index, witness.index], [s.value]))
                continue
        last_poll = polls_of_key.get(s.key, [])
        tail = [last_poll[-1][0].index] if last_poll else []
        where = f"at offset {s.offset}" if s.offset is not None else "(offset unknown)"
        done_ix = s.completion.index if s.completion is not None else s.invoke.index
        out.append(Anomaly(
            "unseen", s.key,
            f"{s.value!r} was acknowledged {where} of {s.key} (op {done_ix}) but no read ever returned it"
            + (f"; the last read of {s.key} was op {tail[0]}." if tail else f"; {s.key} was never read.")
            + " If the history ends with a complete read of the partition, this write was lost.",
            [s.invoke.index] + ([s.completion.index] if s.completion else []) + tail, [s.value]))
    return out


def _reorders(logs, sends: list[_Send]) -> list[Anomaly]:
    out = []
    by_proc_key: dict[tuple[str, str], list[_Send]] = defaultdict(list)
    for s in sends:
        by_proc_key[(s.invoke.process, s.key)].append(s)
    for (proc, key), ss in sorted(by_proc_key.items()):
        log = logs.get(key)
        if log is None:
            continue
        best: tuple[int, _Send] | None = None  # highest index so far, and whose
        for s in ss:  # in invocation order
            offsets = log.offsets_of(s.value)
            if not offsets:
                continue
            idx = log.index(offsets[0])
            if best is not None and idx < best[0]:
                earlier = best[1]
                witnesses = [earlier.invoke.index, s.invoke.index]
                witnesses += [log.at[offsets[0]][s.value],
                              log.at[log.offsets[best[0]]][earlier.value]]
                out.append(Anomaly(
                    "reorder", key,
                    f"{proc} sent {earlier.value!r} (op {earlier.invoke.index}) before {s.value!r} "
                    f"(op {s.invoke.index}) to {key}, but {s.value!r} is at offset {offsets[0]}, before "
                    f"{earlier.value!r} at offset {log.offsets[best[0]]}: a retried batch overtook a later one.",
                    sorted(set(witnesses)), [earlier.value, s.value]))
            if best is None or idx > best[0]:
                best = (idx, s)
    return out


def _reads_past_hw(polls) -> list[Anomaly]:
    out = []
    for inv, done in polls:
        hws = done.value.get("hw", {})
        for key, reads in done.value.get("reads", {}).items():
            hw = hws.get(key)
            past = [(o, v) for o, v in reads if hw is not None and o >= hw]
            if past:
                out.append(Anomaly(
                    "read-past-hw", key,
                    f"op {done.index} read {key} at offsets {[o for o, _ in past]}, at or above the high-water "
                    f"mark {hw} returned with the same response: consumers must only see committed records.",
                    [inv.index, done.index], [v for _, v in past]))
    return out


def _aborted_reads(sends, read_by) -> list[Anomaly]:
    out = []
    for s in sends:
        if s.completion is not None and s.completion.type == FAIL and (s.key, s.value) in read_by:
            polls = read_by[(s.key, s.value)]
            out.append(Anomaly(
                "aborted-read", s.key,
                f"{s.value!r} was reported as certainly not written (op {s.completion.index}: "
                f"{s.completion.error}), yet op {polls[0]} read it.",
                [s.invoke.index, s.completion.index, polls[0]], [s.value]))
    return out


def _poll_skips(logs, polls) -> list[Anomaly]:
    out = []
    last: dict[tuple[str, str], tuple[int, int, Any]] = {}  # (process, key) -> (offset, index, op)
    for inv, done in polls:
        starts = (inv.value or {}).get("from", {})
        for key, reads in done.value.get("reads", {}).items():
            if not reads:
                continue
            log = logs[key]
            prev = last.get((inv.process, key))
            # The external check applies only when the reader continued where it stopped.
            if prev is not None and starts.get(key) == prev[0] + 1:
                _step(out, log, key, prev, reads[0], prev[2], done.index, external=True)
            for a, b in zip(reads, reads[1:]):
                _step(out, log, key, (a[0], log.index(a[0]), done.index), b, done.index, done.index,
                      external=False)
            last[(inv.process, key)] = (reads[-1][0], log.index(reads[-1][0]), done.index)
    return out


def _step(out, log, key, prev, read, prev_op, op, external: bool) -> None:
    delta = log.index(read[0]) - prev[1]
    if delta == 1:
        return
    prefix = "" if external else "int-"
    where = f"from op {prev_op} to op {op}" if external else f"within op {op}"
    if delta > 1:
        skipped = log.offsets[prev[1] + 1:prev[1] + delta]
        out.append(Anomaly(
            prefix + "poll-skip", key,
            f"reading {key} {where} jumped from offset {prev[0]} to {read[0]}, skipping offsets {skipped} "
            f"that exist in the log.", sorted({prev_op, op})))
    else:
        out.append(Anomaly(
            prefix + "nonmonotonic-poll", key,
            f"reading {key} {where} went from offset {prev[0]} back to {read[0]}.", sorted({prev_op, op})))
