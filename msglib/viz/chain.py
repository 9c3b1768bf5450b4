"""Pictures and a widget for module 00: a synchronous chain vs services behind queues."""
from __future__ import annotations

from typing import Any

from msglib.chain import ChainConfig, ChainRun, percentile, simulate
from msglib.viz import figure


@figure
def plot_chain_length(lengths: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 10), failure_prob: float = 0.02,
                      seed: int = 0, ax=None, **config: Any):
    """Availability and median client latency as the chain grows, RPC vs queue."""
    import matplotlib.pyplot as plt

    config.setdefault("duration_ms", 4_000)
    lengths = list(lengths)
    rows = {mode: [simulate(ChainConfig.uniform(n, failure_prob=failure_prob, **config), mode, seed).summary()
                   for n in lengths] for mode in ("rpc", "queue")}
    if ax is None:
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    else:
        fig = ax[0].figure
    for mode, style in (("rpc", "o-"), ("queue", "s--")):
        ax[0].plot(lengths, [r["availability"] for r in rows[mode]], style, label=mode)
        ax[1].plot(lengths, [r["client_p50_ms"] for r in rows[mode]], style, label=f"{mode}: client waits")
    ax[1].plot(lengths, [r["end_to_end_p50_ms"] for r in rows["queue"]], "s:", label="queue: work finished")
    ax[0].plot(lengths, [(1 - failure_prob) ** n for n in lengths], "k:", lw=1, label="(1-p)^n")
    ax[0].set(xlabel="services in the chain", ylabel="requests that succeed (client view)",
              title=f"availability, each call fails with p={failure_prob}", ylim=(0, 1.05))
    ax[1].set(xlabel="services in the chain", ylabel="median latency (ms)", title="latency")
    for a in ax:
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _bucket(values: list[tuple[float, float]], width: float, end: float) -> tuple[list[float], list[float]]:
    n = int(end // width) + 1
    sums, counts = [0.0] * n, [0] * n
    for t, v in values:
        i = int(t // width)
        if i < n:
            sums[i] += v
            counts[i] += 1
    xs = [i * width for i in range(n)]
    return xs, [s / c if c else float("nan") for s, c in zip(sums, counts)]


@figure
def plot_outage(n: int = 3, down: int = 2, start_ms: float = 2_000, end_ms: float = 5_000, seed: int = 0,
                duration_ms: float = 8_000, axes=None, **config: Any):
    """One service goes down for a while: what the client sees, and where the work waits."""
    import matplotlib.pyplot as plt

    cfg = ChainConfig.uniform(n, outage=(down, start_ms, end_ms), duration_ms=duration_ms, **config)
    rpc, queue = simulate(cfg, "rpc", seed), simulate(cfg, "queue", seed)
    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    else:
        fig = axes[0].figure
    xs, errs = _bucket([(o.sent_at, 0.0 if o.client_ok else 1.0) for o in rpc.outcomes], 250, duration_ms)
    _, qerrs = _bucket([(o.sent_at, 0.0 if o.client_ok else 1.0) for o in queue.outcomes], 250, duration_ms)
    axes[0].plot(xs, errs, drawstyle="steps-post", label="rpc")
    axes[0].plot(xs, qerrs, "--", drawstyle="steps-post", label="queue")
    axes[0].set(title="errors the client sees", xlabel="time (ms)", ylabel="fraction of requests failing")
    ts = [t for t, _ in queue.queue_depth if t <= duration_ms + 3_000]
    for k in range(n):
        axes[1].plot(ts, [d[k] for t, d in queue.queue_depth if t <= duration_ms + 3_000], label=f"queue of S{k + 1}")
    axes[1].set(title="queue mode: messages waiting", xlabel="time (ms)", ylabel="queue depth")
    e2e = [(o.sent_at, o.end_to_end_ms) for o in queue.outcomes if o.end_to_end_ms is not None]
    axes[2].scatter([t for t, _ in e2e], [v for _, v in e2e], s=3, label="queue: work finished after")
    axes[2].scatter([o.sent_at for o in rpc.outcomes if o.client_ok],
                    [o.client_latency_ms for o in rpc.outcomes if o.client_ok], s=3, label="rpc: answered after")
    axes[2].set(title="latency of each request", xlabel="sent at (ms)", ylabel="ms", yscale="log")
    for a in axes:
        a.axvspan(start_ms, end_ms, color="red", alpha=0.08)
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.tight_layout()
    return fig


def summary_table(runs: dict[str, ChainRun]) -> str:
    """A small fixed-width table of run summaries."""
    keys = ["requests", "availability", "completion_rate", "client_p50_ms", "client_p99_ms",
            "end_to_end_p50_ms", "end_to_end_p99_ms"]
    lines = [f"{'':8}" + "".join(f"{k:>19}" for k in keys)]
    for name, run in runs.items():
        s = run.summary()
        lines.append(f"{name:8}" + "".join(f"{s[k]:>19}" for k in keys))
    return "\n".join(lines)


@figure
def explore():
    """Sliders for chain length, failure probability and an outage; redraws both architectures."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    def show(n: int = 3, failure_prob: float = 0.02, outage: bool = True, seed: int = 0) -> None:
        cfg = ChainConfig.uniform(n, failure_prob=failure_prob, duration_ms=5_000,
                                  outage=(max(1, n // 2 + 1), 1_500.0, 3_000.0) if outage else None)
        runs = {mode: simulate(cfg, mode, seed) for mode in ("rpc", "queue")}
        print(summary_table(runs))
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.2))
        for mode, run in runs.items():
            lat = sorted(run.client_latencies())
            ax[0].plot(lat, [i / max(1, len(lat)) for i in range(len(lat))], label=f"{mode}: client waits")
        e2e = sorted(runs["queue"].end_to_end())
        ax[0].plot(e2e, [i / max(1, len(e2e)) for i in range(len(e2e))], ":", label="queue: work finished")
        ax[0].set(xscale="log", xlabel="ms", ylabel="fraction of requests ≤ x", title="latency distribution")
        ax[1].bar(["rpc", "queue"], [runs["rpc"].availability, runs["queue"].availability])
        ax[1].set(ylim=(0, 1.05), title="requests the client saw succeed")
        for a in ax:
            a.legend(fontsize=8) if a.get_legend_handles_labels()[0] else None
            a.grid(alpha=0.3)
        fig.tight_layout()
        plt.show()

    return widgets.interactive(
        show,
        n=widgets.IntSlider(3, 1, 10, description="services"),
        failure_prob=widgets.FloatSlider(0.02, min=0.0, max=0.3, step=0.01, description="p(fail)"),
        outage=widgets.Checkbox(True, description="outage in the middle service"),
        seed=widgets.IntSlider(0, 0, 20, description="seed"),
    )


__all__ = ["plot_chain_length", "plot_outage", "explore", "summary_table", "percentile"]
