"""Judge a stream-processing run: its committed output against the reference's, key by key.

Within one key, a stream application's output is ordered (one key, one partition, one task), so the committed
output of each key must be *exactly* the reference's sequence. What a difference means:

* ``duplicate``: the run repeats a stretch of the reference (inputs reprocessed and their output kept:
  at-least-once after a crash);
* ``overcount``: a value the reference never reaches at that point, above it (state updated twice: the
  changelog kept an update whose input was then processed again);
* ``lost``: the run stops short of the reference (outputs or updates missing);
* ``wrong``: any other difference (a window counted wrong, a join with the wrong table version).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Finding:
    kind: str
    topic: str
    key: Any
    message: str


@dataclass
class StreamsCheckResult:
    findings: list[Finding] = field(default_factory=list)
    keys: int = 0

    @property
    def valid(self) -> bool:
        return not self.findings

    def first(self) -> Finding | None:
        return self.findings[0] if self.findings else None

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.kind] = out.get(f.kind, 0) + 1
        return out

    def summary(self) -> str:
        if self.valid:
            return f"valid: every one of {self.keys} keys has exactly the reference output"
        return "INVALID: " + ", ".join(f"{n} {k}" for k, n in sorted(self.counts().items())) + " (keys)"


def _by_key(records: list[tuple]) -> dict[Any, list]:
    out: dict[Any, list] = {}
    for key, value, *_ in records:
        out.setdefault(key, []).append(value)
    return out


def _kind(want: list, got: list) -> tuple[str, int]:
    i = 0
    while i < min(len(want), len(got)) and want[i] == got[i]:
        i += 1
    if i == len(got):
        return "lost", i
    if i == len(want):
        return "duplicate", i
    if got[i] in want[:i] or (i and got[i] == got[i - 1]):
        return "duplicate", i
    numbers = (int, float)
    if isinstance(got[i], numbers) and isinstance(want[i], numbers) and got[i] > want[i]:
        return "overcount", i
    return "wrong", i


def check_streams(expected: dict[str, list[tuple]], got: dict[str, list[tuple]]) -> StreamsCheckResult:
    """``expected``/``got``: ``{topic: [(key, value, timestamp), ...]}`` in offset order per partition."""
    res = StreamsCheckResult()
    for topic in expected:
        want_k, got_k = _by_key(expected[topic]), _by_key(got.get(topic, []))
        res.keys += len(set(want_k) | set(got_k))
        for key in sorted(set(want_k) | set(got_k), key=repr):
            want, have = want_k.get(key, []), got_k.get(key, [])
            if want == have:
                continue
            kind, i = _kind(want, have)
            res.findings.append(Finding(kind, topic, key, (
                f"key {key!r} on {topic!r}: the reference outputs {_short(want)}, the run committed "
                f"{_short(have)} (first difference at output #{i + 1})")))
    return res


def _short(values: list, n: int = 12) -> str:
    return repr(values) if len(values) <= n else repr(values[:n])[:-1] + f", ... ({len(values)} in all)]"
