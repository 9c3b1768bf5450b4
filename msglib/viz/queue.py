"""Pictures and widgets for modules 01 (queue patterns) and 09 (retries and dead letters)."""
from __future__ import annotations

import random
from typing import Any, Callable

from msglib.dlq import ExponentialBackoff, RetryProcessor, RetryTopicPipeline, make_workload, run_workload
from msglib.dlq.deadletters import DeadLetterQueue, DepthAlarm
from msglib.dlq.retry import Plan
from msglib.queue import Broker, topic_matches
from msglib.queue.work import (WorkConfig, WorkRun, group_queue, handle as idempotent_handle, simulate_groups,
                               simulate_work_queue)
from msglib.sim import Simulation
from msglib.viz import figure

OUTCOME_COLORS = {"done": "tab:green", "failed": "tab:orange", "crashed": "tab:red", "": "tab:gray"}


# ====================================================================== module 01
def routing_table(patterns: list[str], keys: list[str], matcher: Callable[[str, str], bool] = topic_matches) -> str:
    """Which binding patterns each routing key matches, as a small text table."""
    width = max(len(p) for p in patterns) + 2
    lines = [" " * 20 + "".join(f"{p:>{width}}" for p in patterns)]
    for key in keys:
        lines.append(f"{key or '(empty)':<20}" + "".join(f"{'✓' if matcher(p, key) else '·':>{width}}"
                                                       for p in patterns))
    return "\n".join(lines)


@figure
def plot_delivery_patterns(n_messages: int = 12, seed: int = 0):
    """Who receives which message: a work queue, a fan-out, and consumer groups."""
    import matplotlib.pyplot as plt

    work = simulate_groups({"workers": 3}, n_messages, seed)
    fanout = simulate_groups({"email": 1, "stats": 1, "audit": 1}, n_messages, seed,
                             group_queue=lambda b, ex, g, m: group_queue(b, ex, m, m))
    groups = simulate_groups({"email": 2, "stats": 1, "audit": 3}, n_messages, seed)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4), sharex=True)
    for ax, run, title in ((axes[0], work, "work queue: each message to ONE consumer"),
                           (axes[1], fanout, "fan-out: each message to EVERY subscriber"),
                           (axes[2], groups, "consumer groups: one copy per GROUP")):
        rows = list(run.received)
        for y, key in enumerate(rows):
            xs = [int(m.split("-")[1]) for m in run.received[key]]
            ax.scatter(xs, [y] * len(xs), s=40, marker="s",
                       color=f"C{list(run.groups).index(key[0])}")
        ax.set_yticks(range(len(rows)), [m for _, m in rows])
        ax.set(title=title, xlabel="message number")
        ax.invert_yaxis()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


@figure
def plot_work_queue(run: WorkRun, title: str | None = None):
    """Queue depth over time, each delivery per worker (colour = what process() did), tasks per worker."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6), gridspec_kw={"width_ratios": [3, 4, 1.3]})
    ts = [t for t, _, _ in run.depth]
    axes[0].plot(ts, [r for _, r, _ in run.depth], label="ready")
    axes[0].plot(ts, [u for _, _, u in run.depth], label="unacked (delivered, not acked)")
    for t, _ in run.crashes:
        axes[0].axvline(t, color="tab:red", alpha=0.25, lw=1)
    axes[0].set(title="queue depth (red lines: worker crashes)", xlabel="time (ms)", ylabel="messages")
    axes[0].legend(fontsize=8)
    workers = list(run.per_worker)
    for d in run.deliveries:
        y = workers.index(d.worker)
        face = OUTCOME_COLORS.get(d.outcome, "tab:gray")
        axes[1].scatter(d.time, y, s=14, marker="o", color=face if not d.redelivered else "none",
                        edgecolors=face)
        if d.ack_lost:
            axes[1].scatter(d.time, y + 0.25, s=12, marker="v", color="black")
    axes[1].set_yticks(range(len(workers)), workers)
    axes[1].set(title="deliveries: green done, orange failed, red crashed, grey skipped;\n"
                      "hollow = redelivered, ▼ = ack lost", xlabel="time (ms)")
    axes[2].bar(workers, [run.per_worker[w] for w in workers], color="tab:green")
    axes[2].set(title="tasks done")
    for a in axes:
        a.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _prefetch_run(prefetch: int, seed: int, n: int = 300) -> tuple[dict[str, int], float]:
    sim = Simulation(seed)
    b = Broker(sim)
    b.declare_queue("work")
    counts = {"fast (5 ms)": 0, "slow (50 ms)": 0}
    busy_until = {k: 0.0 for k in counts}
    rng = sim.random("work")

    def consumer(name: str, mean: float) -> None:
        def cb(d: Any) -> None:
            counts[name] += 1
            start = max(sim.now, busy_until[name])           # one task at a time; prefetched ones wait
            busy_until[name] = start + rng.expovariate(1.0 / mean)
            sim.at(busy_until[name], b.ack, d.delivery_tag)
        b.consume("work", cb, prefetch=prefetch, consumer_tag=name)

    consumer("fast (5 ms)", 5.0)
    consumer("slow (50 ms)", 50.0)
    for i in range(n):
        b.publish("", "work", i)
    sim.run()
    return counts, sim.now


@figure
def plot_prefetch(prefetches: tuple[int, ...] = (1, 2, 5, 20, 0), seed: int = 0):
    """A fast and a slow consumer share 300 messages: how prefetch decides who does what."""
    import matplotlib.pyplot as plt

    rows = [_prefetch_run(p, seed) for p in prefetches]
    labels = [str(p) if p else "0 (∞)" for p in prefetches]
    fig, ax = plt.subplots(1, 2, figsize=(11, 3.4))
    names = list(rows[0][0])
    bottom = [0] * len(rows)
    for name in names:
        vals = [r[0][name] for r in rows]
        ax[0].bar(labels, vals, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax[0].set(title="messages taken by each consumer", xlabel="prefetch", ylabel="messages")
    ax[0].legend(fontsize=8)
    ax[1].bar(labels, [r[1] / 1000 for r in rows], color="tab:purple")
    ax[1].set(title="time to finish all 300", xlabel="prefetch", ylabel="seconds")
    for a in ax:
        a.grid(alpha=0.3)
    fig.tight_layout()
    return fig


HANDLERS: dict[str, Callable] = {}


def _naive(delivery: Any, channel: Any, process: Callable, seen: Any) -> None:
    from msglib.queue.work import ProcessingFailed
    try:
        process(delivery.body)
    except ProcessingFailed:
        channel.nack(delivery, requeue=True)
        return
    channel.ack(delivery)


def _ack_first(delivery: Any, channel: Any, process: Callable, seen: Any) -> None:
    from msglib.queue.work import ProcessingFailed
    channel.ack(delivery)
    try:
        process(delivery.body)
    except ProcessingFailed:
        pass


HANDLERS.update({"ack after work + dedupe (idempotent)": idempotent_handle,
                 "ack after work, no dedupe": _naive,
                 "ack first, then work (auto-ack)": _ack_first})


@figure
def explore_work_queue():
    """Sliders: workers, crash and ack-loss rates, transient failures, prefetch, and the handler."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    def show(handler: str, workers: int = 3, crash_prob: float = 0.03, ack_loss_prob: float = 0.03,
             failure_prob: float = 0.1, prefetch: int = 1, seed: int = 0) -> None:
        cfg = WorkConfig.uniform(workers, crash_prob=crash_prob, ack_loss_prob=ack_loss_prob,
                                 failure_prob=failure_prob, prefetch=prefetch, n_messages=150, max_time_ms=30_000)
        run = simulate_work_queue(cfg, seed, handle=HANDLERS[handler])
        print(", ".join(f"{k}: {v}" for k, v in run.summary().items()))
        plot_work_queue(run)
        plt.show()

    return widgets.interactive(
        show,
        handler=widgets.Dropdown(options=list(HANDLERS), description="handler", layout={"width": "420px"},
                                 style={"description_width": "initial"}),
        workers=widgets.IntSlider(3, 1, 8, description="workers"),
        crash_prob=widgets.FloatSlider(0.03, min=0, max=0.3, step=0.01, description="p(crash)"),
        ack_loss_prob=widgets.FloatSlider(0.03, min=0, max=0.3, step=0.01, description="p(ack lost)", style={"description_width": "initial"}),
        failure_prob=widgets.FloatSlider(0.1, min=0, max=0.6, step=0.05, description="p(fail)"),
        prefetch=widgets.IntSlider(1, 0, 20, description="prefetch"),
        seed=widgets.IntSlider(0, 0, 20, description="seed"),
    )


# ====================================================================== module 09
@figure
def plot_backoff(retries: int = 8, base_ms: float = 100.0, cap_ms: float = 5_000.0, samples: int = 200,
                 seed: int = 0):
    """The delay before each retry under the four jitter policies (dots = seeded draws, line = ceiling)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(14, 3.3), sharey=True)
    for ax, jitter in zip(axes, ("none", "full", "equal", "decorrelated")):
        rng = random.Random(seed)
        xs, ys = [], []
        for _ in range(samples // retries + 1):       # one "client" per loop: retries 1..n in order
            b = ExponentialBackoff(base_ms, 2, cap_ms, jitter=jitter)
            for n in range(1, retries + 1):
                xs.append(n + rng.uniform(-0.2, 0.2))
                ys.append(b(n, rng))
        ax.scatter(xs, ys, s=4, alpha=0.35)
        ceil = ExponentialBackoff(base_ms, 2, cap_ms)
        ax.plot(range(1, retries + 1), ceil.ceilings(retries), "k--", lw=1, label="ceiling min(cap, base·2ⁿ⁻¹)")
        ax.set(title=f"jitter: {jitter}", xlabel="retry number")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("delay (ms)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


@figure
def plot_thundering_herd(clients: int = 300, retries: int = 5, base_ms: float = 100.0, cap_ms: float = 5_000.0,
                         seed: int = 0):
    """A service restarts and every client failed at t=0: when do their retries arrive?"""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.2), sharey=True)
    for ax, jitter in zip(axes, ("none", "full", "equal")):
        rng = random.Random(seed)
        times = []
        for _ in range(clients):
            b = ExponentialBackoff(base_ms, 2, cap_ms, jitter=jitter)
            t = 0.0
            for n in range(1, retries + 1):
                t += b(n, rng)
                times.append(t)
        ax.hist(times, bins=120, range=(0, 3_500), color="tab:blue")
        ax.set(title=f"jitter: {jitter}", xlabel="time of retry (ms)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"retries per bucket ({clients} clients)")
    fig.tight_layout()
    return fig


KIND_COLORS = {"ok": "tab:green", "flaky": "tab:blue", "poison": "tab:purple", "permanent": "tab:red"}


@figure
def plot_retry_timeline(proc: RetryProcessor, plans: dict[str, Plan] | None = None, limit: int = 25, ax=None):
    """One row per message: each attempt (● ok, × failed), the retries' waits, and ■ where it was dead-lettered."""
    import matplotlib.pyplot as plt

    ids = list(dict.fromkeys(a.message_id for a in proc.attempts))[:limit]
    if ax is None:
        fig, ax = plt.subplots(figsize=(12, 0.25 * len(ids) + 1.5))
    else:
        fig = ax.figure
    for y, mid in enumerate(ids):
        attempts = [a for a in proc.attempts if a.message_id == mid]
        color = KIND_COLORS.get(plans[mid].kind, "tab:gray") if plans else "tab:blue"
        ax.plot([a.time for a in attempts], [y] * len(attempts), "-", color=color, alpha=0.4)
        for a in attempts:
            marker = "o" if a.error is None else ("s" if a.next_step == "dlq" else "x")
            ax.scatter(a.time, y, marker=marker, color=color, s=30)
    ax.set_yticks(range(len(ids)), ids, fontsize=7)
    ax.invert_yaxis()
    title = "attempts per message: ● done, × failed (retry), ■ failed → DLQ"
    if plans:
        title += "  |  " + ", ".join(f"{k}" for k in KIND_COLORS)
        handles = [plt.Line2D([], [], color=c, marker="o", ls="", label=k) for k, c in KIND_COLORS.items()]
        ax.legend(handles=handles, fontsize=7, loc="lower right")
    ax.set(title=title, xlabel="time (ms)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


@figure
def plot_retry_topics(pipe: RetryTopicPipeline, limit: int = 12, ax=None):
    """Each record's path through main → retry topics → DLT over time (one line per message)."""
    import matplotlib.pyplot as plt

    lanes = list(pipe.topology.chain) + [pipe.topology.dlt]
    if ax is None:
        fig, ax = plt.subplots(figsize=(12, 3.2))
    else:
        fig = ax.figure
    ids = list(dict.fromkeys(a.message_id for a in pipe.attempts if a.error))[:limit]
    for k, mid in enumerate(ids):
        steps = [a for a in pipe.attempts if a.message_id == mid]
        xs, ys = [], []
        for a in steps:
            xs.append(a.time)
            ys.append(lanes.index(a.topic) + 0.03 * k)
            if a.sent_to == pipe.topology.dlt:
                xs.append(a.time)
                ys.append(len(lanes) - 1 + 0.03 * k)
        ax.plot(xs, ys, "o-", ms=4, label=mid)
    ax.set_yticks(range(len(lanes)), lanes)
    ax.set(title="non-blocking retries: each failed record climbs the ladder", xlabel="time (ms)")
    ax.legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


@figure
def plot_dlq_depth(dlq: DeadLetterQueue, alarm: DepthAlarm | None = None, events: list[tuple[float, str]] = (),
                   ax=None):
    """The DLQ's depth over time, the alarm threshold, the alerts, and labelled events (a fix, a redrive)."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 3))
    else:
        fig = ax.figure
    hist = dlq.depth_history
    if hist:
        ax.step([t for t, _ in hist], [d for _, d in hist], where="post", label="DLQ depth")
    if alarm is not None:
        ax.axhline(alarm.threshold, color="tab:red", ls="--", lw=1, label=f"alarm at {alarm.threshold}")
        for a in alarm.alerts:
            ax.annotate(a.state, (a.time, a.depth), textcoords="offset points", xytext=(0, 8), ha="center",
                        color="tab:red" if a.state == "ALARM" else "tab:green", fontsize=8)
    for t, label in events:
        ax.axvline(t, color="gray", lw=1, alpha=0.6)
        ax.annotate(label, (t, 0), textcoords="offset points", xytext=(3, 3), fontsize=8, color="gray")
    ax.set(title="dead letters waiting", xlabel="time (ms)", ylabel="messages")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def retry_everything(exc: BaseException) -> bool:
    """A classifier that never gives up early (for comparison)."""
    return True


@figure
def explore_retries():
    """Sliders: attempts, backoff and jitter, the workload's mix, and whether errors are classified."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from msglib.dlq import is_transient

    def show(max_attempts: int = 4, base_ms: int = 100, jitter: str = "full", classify: bool = True,
             flaky: float = 0.3, poison: float = 0.1, permanent: float = 0.1, seed: int = 0) -> None:
        sim = Simulation(seed)
        plans = make_workload(sim.random("workload"), 40, flaky=flaky, poison=poison, permanent=permanent)
        proc, handler = run_workload(plans=plans, seed=seed, max_attempts=max_attempts,
                                     backoff=ExponentialBackoff(base_ms, 2, 20 * base_ms, jitter=jitter),
                                     classifier=is_transient if classify else retry_everything)
        wasted = sum(handler.calls[m] for m, p in plans.items() if p.kind == "permanent")
        print(f"{len(proc.processed)} processed, {len(proc.dlq)} dead-lettered, "
              f"{sum(handler.calls.values())} attempts in all ({wasted} spent on permanent failures), "
              f"last message settled at t={max(a.time for a in proc.attempts):.0f} ms")
        print(proc.dlq.summary())
        plot_retry_timeline(proc, plans)
        plt.show()

    return widgets.interactive(
        show,
        max_attempts=widgets.IntSlider(4, 1, 8, description="attempts"),
        base_ms=widgets.IntSlider(100, 10, 1000, step=10, description="base (ms)", style={"description_width": "initial"}),
        jitter=widgets.Dropdown(options=["none", "full", "equal", "decorrelated"], value="full", description="jitter"),
        classify=widgets.Checkbox(True, description="classify errors (permanent → DLQ at once)"),
        flaky=widgets.FloatSlider(0.3, min=0, max=0.8, step=0.05, description="flaky"),
        poison=widgets.FloatSlider(0.1, min=0, max=0.5, step=0.05, description="poison"),
        permanent=widgets.FloatSlider(0.1, min=0, max=0.5, step=0.05, description="permanent", style={"description_width": "initial"}),
        seed=widgets.IntSlider(0, 0, 20, description="seed"),
    )


__all__ = ["routing_table", "plot_delivery_patterns", "plot_work_queue", "plot_prefetch", "explore_work_queue",
           "plot_backoff", "plot_thundering_herd", "plot_retry_timeline", "plot_retry_topics", "plot_dlq_depth",
           "explore_retries", "retry_everything", "HANDLERS"]
