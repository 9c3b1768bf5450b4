"""Pictures and widgets for modules 07 (event sourcing) and 08 (CQRS)."""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from msglib.cqrs.commands import CommandHandler, CommandRejected
from msglib.cqrs.projection import ProjectionRunner
from msglib.cqrs.read_models import OrderSummaries
from msglib.cqrs.workload import random_order_commands
from msglib.es import BankAccount, EventStore, Repository
from msglib.sim import Simulation
from msglib.viz import figure


# -- module 07 ---------------------------------------------------------------------

def balance_history(store: EventStore, account_id: str) -> list[tuple[float, int, int, str]]:
    """(timestamp, version, balance after it, event type) for every event of the account."""
    rows = []
    balance = 0
    for e in store.read_stream(f"account-{account_id}"):
        if e.type == "MoneyDeposited":
            balance += e.data["amount"]
        elif e.type == "MoneyWithdrawn":
            balance -= e.data["amount"]
        rows.append((e.timestamp, e.version, balance, e.type))
    return rows


@figure
def plot_balance_over_time(store: EventStore, account_id: str, as_of: list[float] = (), ax=None):
    """The balance as a step function of time; dots mark ``Repository.load(as_of_time=t)`` answers."""
    import matplotlib.pyplot as plt

    rows = balance_history(store, account_id)
    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 3.4))
    else:
        fig = ax.figure
    ts = [r[0] for r in rows]
    ax.step(ts, [r[2] for r in rows], where="post", label="balance (fold of the events)")
    for t, _, b, kind in rows:
        ax.plot(t, b, "o", ms=4, color="tab:green" if kind == "MoneyDeposited" else
                "tab:red" if kind == "MoneyWithdrawn" else "k")
    repo = Repository(store, BankAccount)
    right = max(ts + list(as_of), default=1)
    for i, t in enumerate(as_of):
        b = repo.load(account_id, as_of_time=t).balance
        ax.axvline(t, color="grey", ls=":", lw=1)
        ax.plot(t, b, "D", ms=6, mfc="none", mec="k")
        # near the top, on a white box, alternating heights: no line or dot drawn over the words
        late, early = t > 0.75 * right, t < 0.35 * right      # early ones below the legend
        ax.annotate(f"as of t={t:g}: {b}", (t, 0.93 - 0.09 * (i % 2) - (0.15 if early else 0)),
                    xycoords=("data", "axes fraction"),
                    textcoords="offset points", xytext=(-4 if late else 4, 0), ha="right" if late else "left",
                    va="top", fontsize=8, bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="grey", alpha=0.9))
    ax.set(xlabel="time (s, the store's clock)", ylabel="balance (cents)",
           title=f"account {account_id}: green deposits, red withdrawals")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def replay_cost(lengths: tuple[int, ...] = (10, 100, 300, 1000, 3000), snapshot_every: int = 100,
                repeats: int = 3) -> list[dict[str, float]]:
    """Load one account whose stream has n events, with and without snapshots:
    events replayed and milliseconds (best of ``repeats``)."""
    out = []
    for n in lengths:
        store = EventStore(":memory:")
        repo = Repository(store, BankAccount, snapshot_every=snapshot_every)
        acc = BankAccount.open("a", "ada")
        for i in range(n - 1):
            acc.deposit(1)
            if i % 50 == 49:                # save in chunks, as a live account would be
                repo.save(acc)
        repo.save(acc)
        row: dict[str, float] = {"events": n}
        for label, use in (("full", False), ("snapshot", True)):
            best = float("inf")
            for _ in range(repeats):
                repo.events_replayed = 0
                t0 = time.perf_counter()
                repo.load("a", use_snapshots=use)
                best = min(best, time.perf_counter() - t0)
            row[f"{label}_ms"] = best * 1000
            row[f"{label}_replayed"] = repo.events_replayed
        out.append(row)
    return out


@figure
def plot_replay_cost(rows: list[dict[str, float]] | None = None, axes=None, **kwargs: Any):
    import matplotlib.pyplot as plt

    rows = rows or replay_cost(**kwargs)
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    else:
        fig = axes[0].figure
    xs = [r["events"] for r in rows]
    for label, style in (("full", "o-"), ("snapshot", "s--")):
        axes[0].plot(xs, [r[f"{label}_replayed"] for r in rows], style, label=f"{label} replay")
        axes[1].plot(xs, [r[f"{label}_ms"] for r in rows], style, label=f"{label} replay")
    axes[0].set(xlabel="events in the stream", ylabel="events replayed per load", xscale="log", yscale="log",
                title="work per load")
    axes[1].set(xlabel="events in the stream", ylabel="ms per load (this machine)", xscale="log",
                yscale="log", title="time per load")
    for a in axes:
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.tight_layout()
    return fig


@figure
def explore_time_travel(store: EventStore, account_id: str):
    """A slider over the account's versions: the state as of each version, and the event that made it."""
    import ipywidgets as widgets

    repo = Repository(store, BankAccount)
    events = store.read_stream(f"account-{account_id}")
    out = widgets.Output()
    slider = widgets.IntSlider(value=len(events), min=1, max=len(events), description="as of version", style={"description_width": "initial"})

    def show(change: Any = None) -> None:
        with out:
            out.clear_output(wait=True)
            acc = repo.load(account_id, as_of_version=slider.value)
            e = events[slider.value - 1]
            print(f"event {e.version}: {e.type} {e.data}  (t={e.timestamp:g})")
            print(f"state:   balance={acc.balance} closed={acc.closed} owner={acc.owner!r}")

    slider.observe(show, names="value")
    show()
    return widgets.VBox([slider, out])


def saga_story(store: EventStore, transfer_id: str) -> str:
    """The saga's own events and the account events it caused (correlated by transfer id), in $all order."""
    lines = []
    for e in store.read_all():
        tag = e.correlation_id or ""
        if e.stream == f"transfer-{transfer_id}" or tag == transfer_id:
            lines.append(f"{e.position:>4}  {e.stream:<14} v{e.version:<3} {e.type:<20} {e.data}")
    return "\n".join(lines)


# -- module 08 ---------------------------------------------------------------------

@dataclass
class LagRun:
    times: list[float] = field(default_factory=list)     # seconds
    head: list[int] = field(default_factory=list)        # write side: last position
    checkpoint: list[int] = field(default_factory=list)  # read side
    lag_s: list[float] = field(default_factory=list)     # age of the oldest unprojected event
    outage: tuple[float, float] | None = None


def simulate_lag(duration_s: float = 30.0, commands_per_s: float = 20.0, projection_events_per_s: float = 30.0,
                 outage: tuple[float, float] | None = (8.0, 14.0), seed: int = 0) -> LagRun:
    """A writer handles order commands at ``commands_per_s`` (Poisson arrivals); a projection
    processes up to ``projection_events_per_s``, except during ``outage`` (start, end) in seconds.
    Simulated time only: the store's clock is the simulation's clock."""
    sim = Simulation(seed)
    store = EventStore(":memory:", clock=lambda: sim.now / 1000)
    handler = CommandHandler(store)
    runner = ProjectionRunner(store, OrderSummaries(), batch_size=1000, clock=lambda: sim.now / 1000)
    arrivals = sim.random("arrivals")
    commands = iter(random_order_commands(sim.random("commands"), int(duration_s * commands_per_s * 3) + 100))
    run = LagRun(outage=outage)
    tick_ms = 100.0

    def write() -> None:
        try:
            handler.handle(next(commands))
        except CommandRejected:
            pass
        sim.schedule(arrivals.expovariate(commands_per_s) * 1000, write)

    budget = [0.0]

    def project() -> None:
        now_s = sim.now / 1000
        down = outage is not None and outage[0] <= now_s < outage[1]
        if not down:
            budget[0] += projection_events_per_s * tick_ms / 1000
            n = int(budget[0])
            if n:
                done = runner.catch_up(max_events=n)
                budget[0] = min(budget[0] - done, 1.0)   # unused capacity does not pile up
        lag = runner.lag()
        run.times.append(now_s)
        run.head.append(lag.head)
        run.checkpoint.append(lag.checkpoint)
        run.lag_s.append(lag.seconds)
        sim.schedule(tick_ms, project)

    sim.schedule(0.0, write)
    sim.schedule(tick_ms, project)
    sim.run(until=duration_s * 1000)
    return run


@figure
def plot_lag(run: LagRun | None = None, axes=None, **kwargs: Any):
    import matplotlib.pyplot as plt

    run = run or simulate_lag(**kwargs)
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    else:
        fig = axes[0].figure
    axes[0].plot(run.times, run.head, label="write side: last position")
    axes[0].plot(run.times, run.checkpoint, label="read model: checkpoint")
    axes[0].set(xlabel="time (s)", ylabel="events", title="the read side follows the write side")
    axes[1].plot(run.times, [h - c for h, c in zip(run.head, run.checkpoint)], label="lag (events)")
    twin = axes[1].twinx()
    twin.plot(run.times, run.lag_s, color="tab:red", lw=1, label="lag (s)")
    twin.set_ylabel("seconds behind", color="tab:red")
    axes[1].set(xlabel="time (s)", ylabel="events not yet projected", title="lag")
    for a in axes:
        if run.outage:
            a.axvspan(*run.outage, color="grey", alpha=0.2, label="projection down")
        a.grid(alpha=0.3)
        a.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


@figure
def explore_lag():
    """Sliders: command rate, projection speed, and the outage."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    out = widgets.Output()
    rate = widgets.FloatSlider(value=20, min=1, max=60, step=1, description="commands/s", style={"description_width": "initial"})
    speed = widgets.FloatSlider(value=30, min=1, max=80, step=1, description="projection ev/s", style={"description_width": "initial"})
    down = widgets.FloatRangeSlider(value=(8, 14), min=0, max=30, step=1, description="outage (s)", style={"description_width": "initial"})

    def show(change: Any = None) -> None:
        with out:
            out.clear_output(wait=True)
            outage = down.value if down.value[1] > down.value[0] else None
            plot_lag(simulate_lag(commands_per_s=rate.value, projection_events_per_s=speed.value,
                                  outage=outage, seed=0))
            plt.show()

    for w in (rate, speed, down):
        w.observe(show, names="value")
    show()
    return widgets.VBox([widgets.HBox([rate, speed, down]), out])


def seeded_bank(seed: int = 0, accounts: int = 3, operations: int = 40) -> EventStore:
    """A small bank with a fake clock: a few accounts and a day of seeded deposits/withdrawals."""
    rng = random.Random(seed)
    clock = [0.0]
    store = EventStore(":memory:", clock=lambda: clock[0])
    repo = Repository(store, BankAccount)
    for i in range(accounts):
        repo.save(BankAccount.open(f"acc{i}", f"owner{i}"))
    for _ in range(operations):
        clock[0] += rng.expovariate(1 / 600)   # about one operation every 10 minutes
        acc = repo.load(f"acc{rng.randrange(accounts)}")
        if rng.random() < 0.6 or acc.balance < 10:
            acc.deposit(rng.randint(1, 50) * 100)
        else:
            acc.withdraw(rng.randint(1, acc.balance // 100) * 100 if acc.balance >= 100 else acc.balance)
        repo.save(acc)
    return store
