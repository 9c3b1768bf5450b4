"""Pictures and a widget for module 06, part 2: idempotent consumer, outbox, CDC.

The computations (:func:`crash_matrix`, :func:`outbox_run`, :func:`cdc_snapshot`)
are plain functions a test can check; the ``plot_*`` / ``explore_*`` functions
only draw what they return.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable

from msglib.log import Topic
from msglib.patterns import cdc as cdc_mod
from msglib.patterns import outbox as ob
from msglib.patterns.crash import CrashSchedule
from msglib.patterns.idempotent import IdempotentConsumer, Message, balances, idempotent, record_id_separately, top_up
from msglib.viz import figure

OUTCOME_COLOURS = {"ok": "tab:green", "double": "tab:orange", "lost": "tab:red"}

DEMO_MESSAGES = [Message("m1", {"account": "ada", "amount": 10}), Message("m2", {"account": "bob", "amount": 5}),
                 Message("m1", {"account": "ada", "amount": 10}), Message("m3", {"account": "ada", "amount": 1})]


def handle_variants(consumer_id: str = "wallets") -> dict[str, Callable]:
    """The three ways to record a message id, by name."""
    return {"id + effect in one transaction": idempotent(top_up, consumer_id),
            "effect, commit, then id": record_id_separately(top_up, consumer_id),
            "id, commit, then effect": record_id_separately(top_up, consumer_id, id_first=True)}


def _workdir(workdir: str | None) -> str:
    return workdir or tempfile.mkdtemp(prefix="msglib-06-viz-")


@dataclass
class CrashRun:
    """One consumer run with a single crash: where it crashed and what the wallets ended with."""

    point: str
    balances: dict[str, int]
    outcome: str                  # "ok" | "double" | "lost"


def run_with_crash(handle: Callable, k: int | None, messages: list[Message] = DEMO_MESSAGES,
                   workdir: str | None = None) -> tuple[CrashRun, CrashSchedule]:
    """Consume ``messages`` with ``handle``, crashing at fault point ``k`` (None: no crash)."""
    workdir = _workdir(workdir)
    topic = Topic("topups", 1, clock=lambda: 0)
    for m in messages:
        m.send_to(topic, 0)
    schedule = CrashSchedule.at(k) if k else CrashSchedule.at()
    path = os.path.join(workdir, f"run-{len(os.listdir(workdir))}.db")
    consumer = IdempotentConsumer(topic, path, "wallets", handle, fault=schedule)
    consumer.run()
    got = balances(consumer.conn)
    consumer.close()
    want: dict[str, int] = {}
    seen: set[str] = set()
    for m in messages:
        if m.id not in seen:
            seen.add(m.id)
            want[m.payload["account"]] = want.get(m.payload["account"], 0) + m.payload["amount"]
    total, expected = sum(got.values()), sum(want.values())
    outcome = "ok" if got == want else "double" if total > expected else "lost"
    point = schedule.crashes[0][1] if schedule.crashes else "no crash"
    return CrashRun(point, got, outcome), schedule


def crash_matrix(variants: dict[str, Callable] | None = None, messages: list[Message] = DEMO_MESSAGES,
                 workdir: str | None = None) -> dict[str, list[CrashRun]]:
    """For each handle variant, one run per fault point of its crash-free run (crash there, restart)."""
    variants = variants or handle_variants()
    workdir = _workdir(workdir)
    out: dict[str, list[CrashRun]] = {}
    for name, handle in variants.items():
        _, dry = run_with_crash(handle, None, messages, workdir)
        out[name] = [run_with_crash(handle, k, messages, workdir)[0] for k in range(1, len(dry.points) + 1)]
    return out


@figure
def plot_crash_matrix(matrix: dict[str, list[CrashRun]], ax: Any = None) -> Any:
    """One row per variant, one square per crash point: green ok, orange applied twice, red lost."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if ax is None:
        width = max(len(runs) for runs in matrix.values())
        fig, ax = plt.subplots(figsize=(min(14, 2 + 0.32 * width), 0.8 + 0.6 * len(matrix)))
    else:
        fig = ax.figure
    for row, (name, runs) in enumerate(matrix.items()):
        for k, run in enumerate(runs):
            ax.add_patch(plt.Rectangle((k, row), 0.9, 0.8, color=OUTCOME_COLOURS[run.outcome]))
    ax.set_xlim(0, max(len(r) for r in matrix.values()))
    ax.set_ylim(len(matrix), -0.2)
    ax.set_yticks([i + 0.4 for i in range(len(matrix))], list(matrix))
    ax.set_xlabel("the process crashes at fault point k (then restarts and the message is redelivered)")
    ax.set_title("one crash per run, at every point in turn")
    ax.legend(handles=[Patch(color=c, label=o) for o, c in OUTCOME_COLOURS.items()], loc="upper left",
              bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    return fig


@figure
def explore_crash_point() -> Any:
    """A slider over the crash point and a choice of variant: the fault points, the crash, the wallets."""
    import ipywidgets as widgets

    variants = handle_variants()
    workdir = _workdir(None)
    points = len(run_with_crash(variants["id + effect in one transaction"], None, workdir=workdir)[1].points)

    def show(variant: str, crash_at: int) -> None:
        run, schedule = run_with_crash(variants[variant], crash_at or None, workdir=workdir)
        trail = [f"{i:>2} {p}" + ("   <-- CRASH" if (i, p) in schedule.crashes else "")
                 for i, p in enumerate(schedule.points, 1)]
        print("\n".join(trail))
        print(f"\nwallets after restart and redelivery: {run.balances}  ->  {run.outcome.upper()}")

    return widgets.interactive(
        show,
        variant=widgets.Dropdown(options=list(variants), description="handle", layout={"width": "380px"}),
        crash_at=widgets.IntSlider(0, 0, points, description="crash at"),
    )


# -- the outbox ----------------------------------------------------------------------------

@dataclass
class OutboxRun:
    committed: list[str]
    delivered: list[str]
    crashes: list[tuple[int, str]] = field(default_factory=list)
    report: ob.DeliveryReport | None = None


def outbox_run(orders: int = 10, seed: int = 3, rate: float = 0.12, batch_size: int = 3,
               workdir: str | None = None) -> OutboxRun:
    """Orders through the outbox and msglib's relay under a seeded crash schedule."""
    path = os.path.join(_workdir(workdir), f"outbox-{seed}.db")
    if os.path.exists(path):
        os.remove(path)
    from msglib.patterns.crash import connect

    app = connect(path)
    ob.create_tables(app)
    committed = [ob.place_order(app, f"o{i}", "ada", i) for i in range(1, orders + 1)]
    app.close()
    topic = Topic("outbox.event.order", 1, clock=lambda: 0)
    schedule = CrashSchedule.random(seed, rate=rate, max_crashes=6)
    relay = ob.OutboxRelay(path, topic, batch_size=batch_size, fault=schedule)
    relay.run()
    relay.close()
    delivered = ob.delivered_ids(topic)
    return OutboxRun(committed, delivered, list(schedule.crashes), ob.judge_delivery(committed, delivered))


@figure
def plot_delivery(committed: list[str], delivered: list[str], title: str = "what reached the topic",
                  ax: Any = None) -> Any:
    """Each record on the topic (x: offset) against its event's commit order (y); duplicates in orange.

    A staircase that only climbs is in-order delivery; an orange dot is a
    repeat a deduplicating consumer skips; a missing step would be a loss.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 3.2))
    else:
        fig = ax.figure
    rank = {e: i for i, e in enumerate(committed)}
    seen: set[str] = set()
    for offset, e in enumerate(delivered):
        dup = e in seen
        seen.add(e)
        ax.plot(offset, rank.get(e, -1), "o", color="tab:orange" if dup else "tab:green", ms=6 if dup else 5)
    missing = [rank[e] for e in committed if e not in seen]
    for y in missing:
        ax.axhline(y, color="tab:red", lw=1, ls="--")
    ax.set(xlabel="offset on the topic", ylabel="commit order in the outbox",
           title=f"{title}: {len(delivered)} records, {len(delivered) - len(seen)} duplicates (orange), "
                 f"{len(missing)} lost (red lines)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# -- CDC --------------------------------------------------------------------------------------

@dataclass
class CdcSnapshot:
    rows: list[tuple]              # the table now
    changes: list[cdc_mod.Change]  # the change table
    position: int                  # the connector's stored position
    topic: list[cdc_mod.Change]    # what the topic holds, offset order


def cdc_snapshot(conn: Any, table: str, topic: Topic, position: int) -> CdcSnapshot:
    raw = getattr(conn, "raw", conn)
    cdc_mod._check_name("table", table)
    rows = raw.execute(f"SELECT * FROM {table}").fetchall()
    return CdcSnapshot(rows, cdc_mod.read_changes(raw, 0, 1000), position, cdc_mod.topic_changes(topic))


@figure
def plot_cdc_pipeline(snapshot: CdcSnapshot, table: str = "table") -> Any:
    """Three columns: the table now, the change table (with the stored position), the topic."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 0.9 + 0.32 * max(len(snapshot.changes), len(snapshot.topic), 4)))
    ops = {"c": ("INSERT", "tab:green"), "u": ("UPDATE", "tab:blue"), "d": ("DELETE", "tab:red")}

    rows = max(len(snapshot.rows), len(snapshot.changes), len(snapshot.topic), 1)

    def column(ax: Any, title: str, lines: list[tuple[str, str]]) -> None:
        ax.axis("off")
        ax.set_title(title, fontsize=10)
        for i, (text, colour) in enumerate(lines):          # same line spacing in every column, from the top
            ax.text(0.02, 1 - (i + 1) / (rows + 1), text, family="monospace", fontsize=8, color=colour,
                    transform=ax.transAxes)

    column(axes[0], f"{table} (now)", [(" ".join(str(v) for v in r), "k") for r in snapshot.rows])
    change_lines = []
    for ch in snapshot.changes:
        marker = "  <- stored position" if ch.seq == snapshot.position else ""
        change_lines.append((f"seq {ch.seq:>2} {ops[ch.op][0]:<6} {ch.key}{marker}",
                             ops[ch.op][1] if ch.seq > snapshot.position else "grey"))
    column(axes[1], "cdc_changes (grey: at or before the position)", change_lines)
    seen: set[int] = set()
    topic_lines = []
    for offset, ch in enumerate(snapshot.topic):
        dup = " (duplicate)" if ch.seq in seen else ""
        seen.add(ch.seq)
        topic_lines.append((f"offset {offset:>2}: seq {ch.seq:>2} {ops[ch.op][0]:<6} {ch.key}{dup}",
                            "tab:orange" if dup else ops[ch.op][1]))
    column(axes[2], "topic", topic_lines)
    fig.suptitle("triggers -> change table -> connector -> topic", fontsize=11)
    fig.tight_layout()
    return fig
