"""Histories: what the clients asked, what they were told, and what broke.

A history is the record a checker judges, in the style of Jepsen. Each client
operation appears twice: an ``invoke`` when the client starts it and a
completion when it learns the outcome:

- ``ok``: it happened (a send was acknowledged, with its offset);
- ``fail``: it certainly did not happen (the broker rejected it before writing);
- ``info``: nobody knows (a timeout: the write may or may not be in the log).

Faults appear once, as ``info`` operations of the ``nemesis`` process.

Values are plain JSON data, so a history can be printed, saved, loaded and
compared. ``meta`` carries what is needed to run it again: the seed and the
scenario's parameters, plus the name of the function that ran it, so
:meth:`History.replay` re-runs the whole simulation and returns a fresh
history that should be identical.
"""
from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from msglib.figures import figure

INVOKE, OK, FAIL, INFO = "invoke", "ok", "fail", "info"
NEMESIS = "nemesis"


@dataclass
class Op:
    """One line of a history."""

    index: int
    time: float  # simulated ms
    process: str
    type: str  # invoke | ok | fail | info
    f: str  # send | poll | crash | partition | ...
    value: Any = None
    error: str | None = None
    invoke_index: int | None = None  # on a completion: the index of its invoke

    def to_json(self) -> dict:
        d = {"index": self.index, "time": self.time, "process": self.process, "type": self.type,
             "f": self.f, "value": self.value}
        if self.error is not None:
            d["error"] = self.error
        if self.invoke_index is not None:
            d["invoke_index"] = self.invoke_index
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Op":
        return cls(d["index"], d["time"], d["process"], d["type"], d["f"], d.get("value"),
                   d.get("error"), d.get("invoke_index"))

    def describe(self) -> str:
        """One readable line: time, process, type, what."""
        what = _describe_value(self.f, self.type, self.value)
        err = f"  ({self.error})" if self.error else ""
        return f"{self.index:>5} {self.time:>10.1f} ms  {self.process:<10} {self.type:<6} {self.f:<9} {what}{err}"


def _describe_value(f: str, type_: str, value: Any) -> str:
    if f == "send" and isinstance(value, dict):
        off = value.get("offset")
        at = f" @ offset {off}" if off is not None and off >= 0 else ""
        return f"{value.get('key')} {value.get('value')!r}{at}"
    if f == "poll" and isinstance(value, dict) and "reads" in value:
        parts = []
        for key, reads in value["reads"].items():
            if reads:
                shown = ", ".join(f"{o}:{v!r}" for o, v in reads[:6])
                more = f", ... ({len(reads)} records)" if len(reads) > 6 else ""
                parts.append(f"{key} [{shown}{more}]")
            else:
                parts.append(f"{key} []")
        return "; ".join(parts)
    if f == "poll" and isinstance(value, dict):
        return ", ".join(f"{k} from {v}" for k, v in value.get("from", {}).items())
    if isinstance(value, dict) and "description" in value:
        return value["description"]
    return "" if value is None else json.dumps(value)


@dataclass
class History:
    """An append-only list of :class:`Op`, plus metadata for replay."""

    ops: list[Op] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    # -- recording ----------------------------------------------------------
    def invoke(self, time: float, process: str, f: str, value: Any = None) -> Op:
        op = Op(len(self.ops), time, process, INVOKE, f, value)
        self.ops.append(op)
        return op

    def complete(self, invoke: Op, time: float, type_: str, value: Any = None,
                 error: str | None = None) -> Op:
        if type_ not in (OK, FAIL, INFO):
            raise ValueError(f"completion type must be ok, fail or info, not {type_!r}")
        if invoke.type != INVOKE:
            raise ValueError(f"op {invoke.index} is a {invoke.type}, not an invoke; complete the invoke op")
        op = Op(len(self.ops), time, invoke.process, type_, invoke.f,
                invoke.value if value is None else value, error, invoke.index)
        self.ops.append(op)
        return op

    def fault(self, time: float, fault: Any) -> Op:
        """Record a fault (anything with ``kind``, ``describe()`` and ``to_json()``)."""
        value = fault.to_json()
        value["description"] = fault.describe()
        op = Op(len(self.ops), time, NEMESIS, INFO, fault.kind, value)
        self.ops.append(op)
        return op

    # -- reading ------------------------------------------------------------
    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops)

    def __len__(self) -> int:
        return len(self.ops)

    def __getitem__(self, i: int) -> Op:
        return self.ops[i]

    def completions(self) -> Iterator[tuple[Op, Op | None]]:
        """``(invoke, completion)`` pairs; completion is None if it never came."""
        done: dict[int, Op] = {op.invoke_index: op for op in self.ops if op.invoke_index is not None}
        for op in self.ops:
            if op.type == INVOKE:
                yield op, done.get(op.index)

    def faults(self) -> list[Op]:
        return [op for op in self.ops if op.process == NEMESIS]

    def processes(self) -> list[str]:
        seen: dict[str, None] = {}
        for op in self.ops:
            seen.setdefault(op.process, None)
        return list(seen)

    def subset(self, indices: Iterable[int]) -> "History":
        """A sub-history with the given op indices (an op's invoke/completion
        partner is pulled in too), keeping the original indices."""
        wanted = set(indices)
        for op in self.ops:
            if op.index in wanted and op.invoke_index is not None:
                wanted.add(op.invoke_index)
        partners = {op.index for op in self.ops if op.invoke_index in wanted}
        wanted |= partners
        return History([op for op in self.ops if op.index in wanted], dict(self.meta))

    # -- showing ------------------------------------------------------------
    def format(self, limit: int | None = None) -> str:
        ops = self.ops if limit is None else self.ops[:limit]
        lines = [op.describe() for op in ops]
        if limit is not None and len(self.ops) > limit:
            lines.append(f"... {len(self.ops) - limit} more ops")
        return "\n".join(lines)

    def print(self, limit: int | None = None) -> None:
        print(self.format(limit))

    def plot(self, ax=None, highlight: Iterable[int] = (), title: str | None = None):
        """Draw the history as a timeline (needs matplotlib): :func:`plot_history`."""
        return plot_history(self, ax=ax, highlight=highlight, title=title)

    # -- saving and replaying -----------------------------------------------
    def to_json(self) -> dict:
        return {"meta": self.meta, "ops": [op.to_json() for op in self.ops]}

    @classmethod
    def from_json(cls, data: dict) -> "History":
        return cls([Op.from_json(d) for d in data["ops"]], data.get("meta", {}))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json()))

    @classmethod
    def load(cls, path: str | Path) -> "History":
        return cls.from_json(json.loads(Path(path).read_text()))

    def replay(self) -> "History":
        """Run the recorded scenario again from its seed and return the new history.

        ``meta["runner"]`` names a function as ``"module:function"`` that takes
        ``meta["params"]`` as keyword arguments and returns an object with a
        ``history`` attribute (or a History).
        """
        runner = self.meta.get("runner")
        if not runner:
            raise ValueError("this history has no meta['runner']; only histories recorded by a "
                             "scenario runner (e.g. msglib.cluster.scenario.run_scenario) can be replayed")
        module, _, name = runner.partition(":")
        fn = getattr(importlib.import_module(module), name)
        result = fn(**self.meta.get("params", {}))
        return result if isinstance(result, History) else result.history

    def same_as(self, other: "History") -> bool:
        """True if both histories hold the same operations (meta is not compared)."""
        return [op.to_json() for op in self.ops] == [op.to_json() for op in other.ops]


# -- the picture of a history -----------------------------------------------------------------
COLORS = {OK: "#2e7d32", FAIL: "#c62828", INFO: "#ef6c00", None: "#9e9e9e"}


def _label(op) -> str:
    v = op.value if isinstance(op.value, dict) else {}
    if op.f == "send":
        off = v.get("offset")
        return f"{v.get('value')}" + (f"@{off}" if isinstance(off, int) and off >= 0 else "")
    if op.f == "poll" and "reads" in v:
        parts = []
        for key, reads in v["reads"].items():
            if reads:
                parts.append(f"{key}:{reads[0][0]}..{reads[-1][0]}")
        return " ".join(parts) or "empty"
    return op.f


@figure
def plot_history(history: History, ax=None, highlight: Iterable[int] = (), title: str | None = None,
                 max_ops: int = 400):
    """Draw a history as a timeline: one row per process, one bar per operation
    from invocation to completion (green ok, red fail, orange unknown, grey
    never completed), faults as dashed vertical lines. Ops whose index is in
    ``highlight`` are drawn thick with a black edge."""
    import matplotlib.pyplot as plt

    highlight = set(highlight)
    pairs = list(history.completions())
    if len(pairs) > max_ops:  # keep the highlighted ones, thin out the rest evenly
        step = len(pairs) / max_ops
        keep = {int(i * step) for i in range(max_ops)}
        pairs = [p for i, p in enumerate(pairs)
                 if i in keep or p[0].index in highlight or (p[1] and p[1].index in highlight)]
    procs = [p for p in history.processes() if p != NEMESIS]
    row = {p: i for i, p in enumerate(procs)}
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 1.0 + 0.55 * max(len(procs), 1)))
    end = max((op.time for op in history), default=1.0) or 1.0
    for inv, done in pairs:
        y = row[inv.process]
        t1 = done.time if done is not None else end
        color = COLORS[done.type if done is not None else None]
        hot = inv.index in highlight or (done is not None and done.index in highlight)
        ax.barh(y, max(t1 - inv.time, end * 0.002), left=inv.time, height=0.5 if hot else 0.35,
                color=color, alpha=1.0 if hot or not highlight else 0.35,
                edgecolor="black" if hot else "none", linewidth=1.2 if hot else 0)
        if hot or len(pairs) <= 40:
            ax.text(inv.time, y + 0.3, _label(done or inv), fontsize=7, va="bottom")
    for op in history.faults():
        ax.axvline(op.time, color="#6a1b9a", ls="--", lw=0.8, alpha=0.7)
        desc = op.value.get("description", op.f) if isinstance(op.value, dict) else op.f
        ax.text(op.time, len(procs) - 0.4, desc, rotation=90, fontsize=7, color="#6a1b9a",
                va="top", ha="right")
    ax.set_yticks(range(len(procs)), procs)
    ax.set_ylim(-0.6, max(len(procs), 1) - 0.2 + 0.8)
    ax.set_xlabel("simulated time (ms)")
    from matplotlib.patches import Patch
    ax.legend(handles=[Patch(color=COLORS[k], label=n) for k, n in
                       ((OK, "ok"), (FAIL, "fail"), (INFO, "unknown"), (None, "no answer"))],
              fontsize=7, loc="lower right", ncols=4)
    if title:
        ax.set_title(title)
    return ax
