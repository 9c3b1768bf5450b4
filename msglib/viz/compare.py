"""Pictures and widgets for module 10 (choosing a broker): every number comes from a run of msglib.compare."""
from __future__ import annotations

from typing import Any, Iterable

from msglib.compare import Subscriber, Workload, run
from msglib.compare.metrics import Report
from msglib.compare.scenarios import (MODEL_NAMES, compare, failure_costs, fan_out, many_consumers, ordering,
                                      slow_consumer)
from msglib.viz import figure

COLORS = {"kafka": "tab:blue", "rabbitmq": "tab:orange", "sqs": "tab:green", "pulsar": "tab:purple",
          "pulsar (shared)": "tab:pink"}
MARKERS = {"kafka": "o", "rabbitmq": "s", "sqs": "^", "pulsar": "x", "pulsar (shared)": "x"}


def _label(model: str) -> str:
    return {"pulsar": "pulsar (key_shared)"}.get(model, model)


@figure
def plot_order_vs_consumers(consumers: Iterable[int] = (1, 2, 3, 4, 6), seeds: Iterable[int] = (0,),
                            crash_prob: float = 0.03):
    """Messages processed out of order (per 300) as consumers are added to one subscriber."""
    import matplotlib.pyplot as plt

    consumers, seeds = list(consumers), list(seeds)
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    series = [(m, {}) for m in MODEL_NAMES] + [("pulsar (shared)", {"subscription_type": "shared"})]
    for name, options in series:
        model = "pulsar" if name.startswith("pulsar") else name
        ys = [sum(ordering(model, c, s, crash_prob, **options).order_violations for s in seeds) / len(seeds)
              for c in consumers]
        ax.plot(consumers, ys, marker=MARKERS[name], color=COLORS[name], label=_label(name),
                linestyle="--" if name == "pulsar (shared)" else "-")
    ax.set(xlabel="consumers sharing one subscriber", ylabel="messages out of order (of 300)",
           title="per-key order as consumers are added")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


@figure
def plot_key_timeline(model: str = "rabbitmq", seed: int = 0, keys: int = 3, consumers: int = 3, **options: Any):
    """When each message of a few keys was first processed: a line that goes down is an order violation."""
    import matplotlib.pyplot as plt

    w = Workload(n_messages=120, n_keys=6, interval_ms=0.5, subscribers=(Subscriber("app", consumers),),
                 crash_prob=0.03)
    r = run(model, w, seed, **options)
    fig, ax = plt.subplots(figsize=(8, 3.4))
    _timeline(ax, r, keys)
    fig.tight_layout()
    return fig


def _timeline(ax: Any, r: Report, keys: int, sub: str = "app") -> None:
    msgs = {m.id: m for m in r.workload.messages(r.seed)}
    first: dict[int, tuple[float, str]] = {}
    for t, mid, consumer in sorted(r.effects[sub], key=lambda e: e[0]):
        first.setdefault(mid, (t, consumer))
    names = sorted({m.key for m in msgs.values()})[:keys]
    for i, key in enumerate(names):
        pts = sorted((first[m.id][0], m.seq) for m in msgs.values() if m.key == key and m.id in first)
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        ax.plot(xs, ys, "-", color=f"C{i}", alpha=0.6, label=f"key {key}")
        bad = [(x, y) for j, (x, y) in enumerate(pts) if any(y < pts[k][1] for k in range(j))]
        ax.scatter(xs, ys, s=14, color=f"C{i}")
        if bad:
            ax.scatter([b[0] for b in bad], [b[1] for b in bad], s=80, facecolors="none", edgecolors="red",
                       label="out of order" if i == 0 else None)
    ax.set(xlabel="time first processed (simulated ms)", ylabel="message number within its key",
           title=f"{r.model}: {r.order_violations} of {r.delivered} messages out of order")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


@figure
def plot_storage_vs_subscribers(subscribers: Iterable[int] = (1, 2, 4, 8, 16), n_messages: int = 50,
                                message_bytes: int = 100):
    """Bytes stored while every subscriber is offline: one log read N times vs N queue copies."""
    import matplotlib.pyplot as plt

    subscribers = list(subscribers)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for m in MODEL_NAMES:
        ys = [fan_out(m, n, 0, n_messages).peak_copies * message_bytes / 1000 for n in subscribers]
        ax.plot(subscribers, ys, marker=MARKERS[m], color=COLORS[m], label=m, linestyle="--" if m in ("sqs", "pulsar") else "-")
    ax.set(xlabel="subscribers (offline while messages arrive)", ylabel="stored (kB)",
           title=f"{n_messages} messages of {message_bytes} bytes: copies stored")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


@figure
def plot_slow_consumer(seed: int = 0):
    """p50 and p99 latency with four consumers, without and with one 20x slower consumer."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), sharey=True)
    for ax, slow, title in ((axes[0], 0, "four equal consumers"), (axes[1], 1, "one of four is 20x slower")):
        reports = [slow_consumer(m, seed=seed, slow=slow) for m in MODEL_NAMES]
        x = range(len(MODEL_NAMES))
        ax.bar([i - 0.2 for i in x], [r.latency(50) for r in reports], 0.4, label="p50", color="lightgrey")
        ax.bar([i + 0.2 for i in x], [r.latency(99) for r in reports], 0.4, label="p99",
               color=[COLORS[m] for m in MODEL_NAMES])
        ax.set_xticks(list(x), [_label(m) for m in MODEL_NAMES], fontsize=8)
        ax.set(title=title, yscale="log")
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_ylabel("latency (simulated ms, log scale)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


@figure
def plot_latency_vs_consumers(consumers: Iterable[int] = (2, 3, 4, 6, 8), seed: int = 0, partitions: int = 4):
    """p99 latency of a heavy load as consumers are added; Kafka's topic has ``partitions`` partitions."""
    import matplotlib.pyplot as plt

    consumers = list(consumers)
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    for m in MODEL_NAMES:
        reports = [many_consumers(m, c, seed, partitions) for c in consumers]
        label = f"kafka ({partitions} partitions)" if m == "kafka" else _label(m)
        ax.plot(consumers, [r.latency(99) for r in reports], marker=MARKERS[m], color=COLORS[m], label=label)
    # the same topic read by a share group (KIP-932): consumers share partitions, so all of them work
    shared = [many_consumers("kafka-share", c, seed, partitions) for c in consumers]
    ax.plot(consumers, [r.latency(99) for r in shared], marker=MARKERS["kafka"], color=COLORS["kafka"], ls="--",
            mfc="none", label=f"kafka share group ({partitions} partitions)")
    ax.set(xlabel="consumers sharing one subscriber", ylabel="p99 latency (simulated ms)", yscale="log",
           title="a load that needs about 3.3 busy consumers")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


@figure
def plot_failure_costs(n_messages: int = 1_000, message_bytes: int = 100):
    """Bytes copied to recover from a failed node, same data: Kafka broker vs Pulsar broker vs Pulsar bookie."""
    import matplotlib.pyplot as plt

    costs = failure_costs(n_messages, message_bytes)
    payload = costs.pop("payload bytes")
    fig, ax = plt.subplots(figsize=(7, 2.8))
    names = list(costs)
    ax.barh(names, [costs[n] / 1000 for n in names], color=["tab:blue", "tab:purple", "plum"])
    for i, n in enumerate(names):
        ax.text(costs[n] / 1000, i, f"  {costs[n] / 1000:,.0f} kB", va="center", fontsize=8)
    ax.set(xlabel="kB copied to recover", title=f"{payload / 1000:,.0f} kB of messages, replicated 3 times")
    ax.invert_yaxis()
    ax.set_xlim(0, max(costs.values()) / 1000 * 1.3 + 1)
    fig.tight_layout()
    return fig


@figure
def explore():
    """Sliders for the workload; the measured table and the order / latency / storage bars follow."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    def show(consumers: int = 3, subscribers: int = 1, crash_prob: float = 0.02, slow_consumers: int = 0,
             keys: int = 16, pulsar_subscription: str = "key_shared", seed: int = 0) -> None:
        subs = tuple(Subscriber(f"s{i}", consumers) for i in range(subscribers))
        w = Workload(n_messages=200, n_keys=keys, interval_ms=1.0, subscribers=subs, crash_prob=crash_prob,
                     slow_consumers=min(slow_consumers, consumers))
        table = compare(w, seed, options={"pulsar": {"subscription_type": pulsar_subscription}})
        display(table)
        fig, axes = plt.subplots(1, 3, figsize=(12, 2.6))
        models = table.column("model")
        colors = [COLORS[m] for m in models]
        for ax, col, title in ((axes[0], "order violations", "out of order"), (axes[1], "p99 ms", "p99 latency (ms)"),
                               (axes[2], "peak copies", "copies stored at peak")):
            ax.bar(models, table.column(col), color=colors)
            ax.set_title(title, fontsize=9)
            ax.tick_params(labelsize=8)
        fig.tight_layout()
        plt.show()

    return widgets.interactive(
        show,
        consumers=widgets.IntSlider(3, 1, 8, description="consumers", style={"description_width": "initial"}),
        subscribers=widgets.IntSlider(1, 1, 10, description="subscribers", style={"description_width": "initial"}),
        crash_prob=widgets.FloatSlider(0.02, min=0, max=0.2, step=0.01, description="p(crash)"),
        slow_consumers=widgets.IntSlider(0, 0, 4, description="slow ones", style={"description_width": "initial"}),
        keys=widgets.IntSlider(16, 1, 64, description="keys"),
        pulsar_subscription=widgets.Dropdown(options=["key_shared", "shared", "failover", "exclusive"],
                                             description="pulsar sub"),
        seed=widgets.IntSlider(0, 0, 20, description="seed"),
    )


__all__ = ["plot_order_vs_consumers", "plot_key_timeline", "plot_storage_vs_subscribers", "plot_slow_consumer",
           "plot_latency_vs_consumers",
           "plot_failure_costs", "explore"]
