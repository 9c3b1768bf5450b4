"""Pictures for modules 03 and 04: histories as timelines, replication over time."""
from __future__ import annotations

from typing import Any, Iterable

from msglib.sim.history import FAIL, INFO, INVOKE, NEMESIS, OK, History

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


def plot_replication(trace: list[dict[str, Any]], partition: str | None = None, ax=None,
                     history: History | None = None):
    """Plot each replica's log end offset (solid) and high-water mark (dashed)
    over simulated time, from a cluster's replication trace (see
    ``Cluster.trace``). Faults from ``history`` are drawn as vertical lines."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3.5))
    rows = [r for r in trace if partition is None or r["partition"] == partition]
    brokers = sorted({r["broker"] for r in rows})
    cmap = plt.get_cmap("tab10")
    for i, b in enumerate(brokers):
        mine = [r for r in rows if r["broker"] == b]
        times = [r["time"] for r in mine]
        ax.step(times, [r["leo"] for r in mine], where="post", color=cmap(i), label=f"broker {b} LEO")
        ax.step(times, [r["hw"] for r in mine], where="post", color=cmap(i), ls="--", alpha=0.8,
                label=f"broker {b} HW")
    if history is not None:
        for op in history.faults():
            ax.axvline(op.time, color="#6a1b9a", ls=":", lw=0.8)
            desc = op.value.get("description", op.f) if isinstance(op.value, dict) else op.f
            ax.text(op.time, ax.get_ylim()[1], desc, rotation=90, fontsize=7, color="#6a1b9a", va="top")
    ax.set(xlabel="simulated time (ms)", ylabel="offset",
           title=f"log end offset and high-water mark per replica{' of ' + partition if partition else ''}")
    ax.legend(fontsize=7, ncols=2)
    ax.grid(alpha=0.3)
    return ax
