"""Pictures and a dashboard for module 11 (capstone: a notification system)."""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable

from msglib.capstone.design import THRESHOLDS
from msglib.capstone.events import CHANNELS
from msglib.capstone.faults import ProviderOutage, RouterCrash, SlowConsumer, WorkerCrash, schedule
from msglib.capstone.ratelimit import TokenBucket
from msglib.capstone.system import RunResult, SystemConfig, redrive_when_healthy, run_notifications
from msglib.sim.history import INVOKE
from msglib.viz import figure

CHANNEL_COLORS = {"push": "tab:blue", "email": "tab:green", "sms": "tab:purple"}


# ---------------------------------------------------------------------------------------------- the architecture
def _box(ax, x: float, y: float, w: float, h: float, text: str, color: str, fontsize: int = 8) -> None:
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.08", fc=color, ec="0.3",
                                alpha=0.9, lw=1))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, a: tuple[float, float], b: tuple[float, float], text: str = "", style: str = "-|>",
           color: str = "0.25", ls: str = "-", dy: float = 0.12) -> None:
    ax.annotate("", b, a, arrowprops=dict(arrowstyle=style, color=color, lw=1.2, ls=ls, shrinkA=2, shrinkB=2))
    if text:
        ax.text((a[0] + b[0]) / 2, (a[1] + b[1]) / 2 + dy, text, ha="center", va="bottom", fontsize=6.5,
                color=color)


@figure
def draw_architecture(ax=None):
    """Events → router → per-channel topics and consumer groups → providers; retries, DLQs, the runbook."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(13, 5.2))
    else:
        fig = ax.figure
    ax.set(xlim=(0, 13.6), ylim=(-0.6, 6.4))
    ax.axis("off")
    _box(ax, 0.1, 2.6, 1.5, 1.0, "orders, catalog,\naccounts\n(producers)", "0.92")
    _box(ax, 2.1, 2.6, 1.7, 1.0, "notifications.events\n(topic, 4 partitions)", "#fde6b3")
    _box(ax, 4.3, 2.6, 1.8, 1.0, "routers\n(group 'router')\npreferences,\nquiet hours", "#f7c6c7", 7)
    _box(ax, 0.1, 0.4, 1.5, 0.9, "preferences\n(per user)", "0.92")
    _arrow(ax, (1.6, 3.1), (2.1, 3.1))
    _arrow(ax, (3.8, 3.1), (4.3, 3.1))
    _arrow(ax, (1.6, 0.85), (5.2, 2.6), "prefs", ls="--")
    for i, ch in enumerate(("push", "email", "sms")):
        y = 4.8 - 2.1 * i
        c = CHANNEL_COLORS[ch]
        _box(ax, 6.7, y, 1.5, 0.8, f"notify.{ch}\n(keyed by user)", "#fde6b3", 7)
        _box(ax, 8.7, y, 1.8, 0.8, f"{ch}-workers\n(consumer group)\nhandle(job, ctx)", c, 7)
        provider = {"push": "push service\n(FCM / APNs)", "email": "email service\n(SES)",
                    "sms": "SMS gateway\n(Twilio)"}[ch]
        _box(ax, 11.2, y, 1.6, 0.8, provider, "0.92", 7)
        _arrow(ax, (6.1, 3.1), (6.7, y + 0.4))
        _arrow(ax, (8.2, y + 0.4), (8.7, y + 0.4))
        _arrow(ax, (10.5, y + 0.4), (11.2, y + 0.4), "key", dy=0.05)
        ax.text(9.6, y - 0.25, f"↺ notify.{ch}-retry   ⇣ DLQ + alarm", ha="center", va="center", fontsize=6.5,
                color="0.3")
    _box(ax, 8.7, -0.55, 1.8, 0.55, "token buckets\nper (user, channel)", "#d5e8d4", 7)
    _box(ax, 11.2, -0.55, 1.6, 0.55, "runbook: park,\nprobe, redrive", "#dae8fc", 7)
    _arrow(ax, (12.0, 0.0), (9.9, 0.45), ls=":", color="tab:blue")
    ax.set_title("the notification system: every arrow is at-least-once, every box can crash", fontsize=10)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------- a run over time
def _series(result: RunResult) -> dict[str, Any]:
    """Per-op counts and depths over time, for the timeline and the dashboard."""
    h = result.history
    out: dict[str, Any] = {"publish": [], "notify": defaultdict(list), "retry": defaultdict(list),
                           "dead": defaultdict(list), "redrive": defaultdict(list), "throttled": [], "faults": []}
    for op in h.ops:
        if op.type == INVOKE:
            continue
        v = op.value if isinstance(op.value, dict) else {}
        if op.f == "publish":
            out["publish"].append(op.time)
        elif op.f == "notify":
            out["notify"][v["channel"]].append(op.time)
        elif op.f == "retry":
            out["retry"][v["job"].split("/")[1]].append(op.time)
        elif op.f == "dead-letter":
            out["dead"][v["job"].split("/")[1]].append(op.time)
        elif op.f == "redrive":
            out["redrive"][v["channel"]].append(op.time)
        elif op.f == "throttle" and not v["allowed"] and not v.get("repeat"):
            # a refusal answered from the record (a retry, redrive or duplicate of a refused notification)
            # is the same refusal again: one notification dropped, one mark
            out["throttled"].append(op.time)
    out["faults"] = [(op.time, op.f, op.value) for op in h.faults()]
    return out


def _rate(times: list[float], width: float, end: float) -> tuple[list[float], list[float]]:
    n = int(end // width) + 1
    counts = [0] * n
    for t in times:
        if t < end:
            counts[int(t // width)] += 1
    return [i * width for i in range(n)], [c * 1000.0 / width for c in counts]


def _shade_faults(ax, faults: list, label: bool = False) -> None:
    for t, kind, value in faults:
        if kind == "outage":
            ax.axvspan(t, t + value["duration_ms"], color=CHANNEL_COLORS[value["channel"]], alpha=0.12,
                       label=f"{value['channel']} outage" if label else None)
        elif kind in ("worker-crash", "router-crash", "slow-consumer"):
            ax.axvline(t, color="tab:red" if kind != "slow-consumer" else "tab:orange", lw=0.8, ls=":")


def lag_series(result: RunResult) -> dict[str, tuple[list[float], list[int]]]:
    """Consumer lag per group over the run: ``{group: (times, records behind)}`` (sampled by the system every
    ``SystemConfig.lag_every_ms``)."""
    out: dict[str, tuple[list[float], list[int]]] = {}
    for t, lags in result.system.lag_history:
        for group, behind in lags.items():
            times, values = out.setdefault(group, ([], []))
            times.append(t)
            values.append(behind)
    return out


def max_lag(result: RunResult) -> dict[str, tuple[int, float]]:
    """The worst lag of each group and when: ``{group: (records behind, time)}``."""
    return {g: max(zip(v, t)) if v else (0, 0.0) for g, (t, v) in lag_series(result).items()}


def _group_color(group: str) -> str:
    return next((c for ch, c in CHANNEL_COLORS.items() if group.startswith(ch)), "0.4")


@figure
def plot_run_timeline(result: RunResult, width_ms: float = 100.0, axes=None, lag_alarm: int | None = None):
    """One run over time: traffic, retries and dead letters, the DLQs' depth and their alarms, consumer lag
    per group (with a lag alarm line, if given), the faults."""
    import matplotlib.pyplot as plt

    s = _series(result)
    system = result.system
    end = system.sim.now
    if axes is None:
        fig, axes = plt.subplots(4, 1, figsize=(12, 9.5), sharex=True)
    else:
        fig = axes[0].figure
    ax = axes[0]
    x, y = _rate(s["publish"], width_ms, end)
    ax.step(x, y, where="post", color="0.4", label="events in")
    for ch in CHANNELS:
        x, y = _rate(s["notify"][ch], width_ms, end)
        ax.step(x, y, where="post", color=CHANNEL_COLORS[ch], label=f"{ch} delivered")
    _shade_faults(ax, s["faults"], label=True)
    ax.set(ylabel="per second", title="traffic: events in, notifications out (shaded: outages; dotted: crashes "
                                      "and stalls)")
    ax.legend(fontsize=7, ncol=4, loc="upper right")
    ax = axes[1]
    for ch in CHANNELS:
        if s["retry"][ch]:
            ax.plot(s["retry"][ch], [ch] * len(s["retry"][ch]), "|", color=CHANNEL_COLORS[ch], ms=10)
        if s["dead"][ch]:
            ax.plot(s["dead"][ch], [ch] * len(s["dead"][ch]), "x", color="tab:red", ms=6)
        if s["redrive"][ch]:
            ax.plot(s["redrive"][ch], [ch] * len(s["redrive"][ch]), ">", color="tab:blue", ms=5)
    if s["throttled"]:
        ax.plot(s["throttled"], ["rate-limited"] * len(s["throttled"]), "o", color="0.5", ms=3)
    _shade_faults(ax, s["faults"])
    ax.plot([], [], "|", color="0.3", label="retry")
    ax.plot([], [], "x", color="tab:red", label="dead-lettered")
    ax.plot([], [], ">", color="tab:blue", label="redriven")
    ax.legend(fontsize=7, ncol=3, loc="upper right")
    ax.set(title="retries, dead letters, redrives, and what the rate limiter dropped")
    ax = axes[2]
    for ch in CHANNELS:
        hist = system.dlqs[ch].depth_history
        if hist:
            ax.step([0.0] + [t for t, _ in hist] + [end], [0] + [d for _, d in hist] + [hist[-1][1]], where="post",
                    color=CHANNEL_COLORS[ch], label=f"{ch} DLQ")
        for alert in system.alarms[ch].alerts:
            ax.annotate(alert.state, (alert.time, alert.depth), textcoords="offset points", xytext=(0, 6),
                        ha="center", fontsize=7, color="tab:red" if alert.state == "ALARM" else "tab:green")
    ax.axhline(system.config.alarm_threshold, color="tab:red", ls="--", lw=0.8,
               label=f"alarm at {system.config.alarm_threshold}")
    _shade_faults(ax, s["faults"])
    ax.set(ylabel="letters", title="dead letters waiting, and the depth alarm")
    ax.legend(fontsize=7, ncol=4, loc="upper right")
    if len(axes) > 3:
        ax = axes[3]
        for group, (times, values) in sorted(lag_series(result).items()):
            ls = ":" if "priority" in group else "-"
            ax.step(times, values, where="post", color=_group_color(group), ls=ls, label=group)
        if lag_alarm is not None:
            ax.axhline(lag_alarm, color="tab:red", ls="--", lw=0.8, label=f"lag alarm at {lag_alarm}")
        _shade_faults(ax, s["faults"])
        ax.set(ylabel="records behind", title="consumer lag per group (records not yet committed)")
        ax.legend(fontsize=7, ncol=4, loc="upper right")
    axes[-1].set_xlabel("simulated time (ms)")
    for a in axes:
        a.grid(alpha=0.3)
    fig.tight_layout()
    return fig


@figure
def plot_latency(results: dict[str, RunResult], ax=None):
    """End-to-end latency (event in → the user's phone) as a CDF, one line per run."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 3.4))
    else:
        fig = ax.figure
    for name, result in results.items():
        xs = sorted(result.metrics().latency_ms)
        if xs:
            ax.step(xs, [(i + 1) / len(xs) for i in range(len(xs))], where="post", label=name)
    ax.set(xscale="log", xlabel="end-to-end latency (ms, log scale)", ylabel="fraction delivered",
           title="how long until the user's phone buzzes")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------- token buckets
@figure
def plot_token_bucket(capacity: int = 3, refill_per_s: float = 2.0, arrivals: list[float] | None = None,
                      bucket: Callable[[int, float], Any] = TokenBucket, ax=None):
    """Tokens in one bucket over time, and which arrivals it allowed (●) or refused (×)."""
    import matplotlib.pyplot as plt

    if arrivals is None:
        arrivals = [0, 0, 0, 0, 0, 300, 600, 650, 700, 1500, 1510, 1520, 1530, 3500, 3500, 3500, 3500, 3600]
    b = bucket(capacity, refill_per_s)
    tokens, last = float(capacity), None
    curve_t, curve_v, decided = [0.0], [float(capacity)], []
    for t in arrivals:
        if last is not None:
            # the reference level, sampled so the refill shows as a ramp
            steps = max(1, int((t - last) // 25))
            for k in range(1, steps + 1):
                u = last + (t - last) * k / steps
                curve_t.append(u)
                curve_v.append(min(capacity, tokens + (u - last) * refill_per_s / 1000))
            tokens = min(capacity, tokens + (t - last) * refill_per_s / 1000)
        last = t
        ok = b.allow(t)
        decided.append((t, ok, tokens))
        if ok:
            tokens = max(0.0, tokens - 1)
        curve_t.append(t)
        curve_v.append(tokens)
    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 3))
    else:
        fig = ax.figure
    ax.plot(curve_t, curve_v, color="tab:green", label="tokens (reference)")
    ax.axhline(1, color="0.5", ls=":", lw=1)
    ax.plot([t for t, ok, _ in decided if ok], [v for _, ok, v in decided if ok], "o", color="tab:blue",
            label="allowed")
    ax.plot([t for t, ok, _ in decided if not ok], [v for _, ok, v in decided if not ok], "x", color="tab:red",
            ms=8, label="refused")
    ax.set(xlabel="time (ms)", ylabel="tokens", ylim=(-0.2, capacity + 0.5),
           title=f"a token bucket: capacity {capacity}, {refill_per_s:g} tokens per second")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------- tables and the dashboard
def compare(results: dict[str, RunResult]) -> str:
    """Metrics of several runs side by side, with the end-to-end verdict."""
    rows = {name: r.metrics().as_dict() for name, r in results.items()}
    names = list(results)
    width = max(12, *(len(n) + 2 for n in names))
    lines = [" " * 24 + "".join(f"{n:>{width}}" for n in names)]
    for key in next(iter(rows.values())):
        lines.append(f"{key:<24}" + "".join(f"{rows[n][key]:>{width}}" for n in names))
    lines.append(f"{'end-to-end check':<24}" + "".join(
        f"{('valid' if r.check().valid else 'INVALID'):>{width}}" for r in results.values()))
    return "\n".join(lines)


def dashboard_run(seed: int = 0, *, outage: str = "email", outage_ms: int = 1200, crash_workers: bool = True,
                  crash_router: bool = True, slow_consumer: bool = True, runbook: bool = True, capacity: int = 3,
                  refill_per_s: float = 2.0, max_attempts: int = 4, lost_response_rate: float = 0.03,
                  events: int = 100, handle: Callable | None = None) -> RunResult:
    """The run the dashboard shows: a fault schedule built from its toggles."""
    entries = []
    if outage != "none" and outage_ms > 0:
        entries.append((1_000.0, ProviderOutage(outage, outage_ms)))
    if crash_workers:
        entries += [(500.0, WorkerCrash("push", "after-send")), (1_800.0, WorkerCrash("email", "before-send"))]
    if crash_router:
        entries.append((900.0, RouterCrash()))
    if slow_consumer:
        entries.append((1_400.0, SlowConsumer("sms", 900)))
    config = SystemConfig(capacity=capacity, refill_per_s=refill_per_s, max_attempts=max_attempts,
                          lost_response_rate=lost_response_rate)
    pieces = {"handle": handle} if handle is not None else {}
    return run_notifications(seed, faults=schedule(*entries), config=config, events=events,
                             runbook=redrive_when_healthy if runbook else None, **pieces)


@figure
def dashboard(handle: Callable | None = None):
    """Fault toggles and rates; shows the metrics, the end-to-end verdict and the timeline of the run."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    def show(outage: str = "email", outage_ms: int = 1200, crash_workers: bool = True, crash_router: bool = True,
             slow_consumer: bool = True, runbook: bool = True, capacity: int = 3, refill_per_s: float = 2.0,
             max_attempts: int = 4, lost_response_rate: float = 0.03, events: int = 100, seed: int = 0,
             lag_alarm: int = 20) -> None:
        result = dashboard_run(seed, outage=outage, outage_ms=outage_ms, crash_workers=crash_workers,
                               crash_router=crash_router, slow_consumer=slow_consumer, runbook=runbook,
                               capacity=capacity, refill_per_s=refill_per_s, max_attempts=max_attempts,
                               lost_response_rate=lost_response_rate, events=events, handle=handle)
        print(result.metrics().table())
        worst = max_lag(result)
        print("worst consumer lag: " + ", ".join(f"{g} {n} at t={t:.0f} ms" for g, (n, t) in sorted(worst.items())))
        check = result.check()
        print(check.summary())
        if not check.valid:
            first = check.first()
            print(first.message)
            print(check.story(first.key))
        plot_run_timeline(result, lag_alarm=lag_alarm)
        plt.show()

    return widgets.interactive(
        show,
        outage=widgets.Dropdown(options=["none", "push", "email", "sms"], value="email", description="outage"),
        outage_ms=widgets.IntSlider(1200, 0, 3000, step=100, description="outage (ms)", style={"description_width": "initial"}),
        crash_workers=widgets.Checkbox(True, description="crash two workers"),
        crash_router=widgets.Checkbox(True, description="crash a router"),
        slow_consumer=widgets.Checkbox(True, description="stall an SMS worker 900 ms"),
        runbook=widgets.Checkbox(True, description="runbook (park, probe, redrive)"),
        capacity=widgets.IntSlider(3, 1, 10, description="bucket size", style={"description_width": "initial"}),
        refill_per_s=widgets.FloatSlider(2.0, min=0.25, max=10, step=0.25, description="refill /s", style={"description_width": "initial"}),
        max_attempts=widgets.IntSlider(4, 1, 8, description="attempts"),
        lost_response_rate=widgets.FloatSlider(0.03, min=0, max=0.3, step=0.01, description="lost answers", style={"description_width": "initial"}),
        events=widgets.IntSlider(100, 20, 300, step=20, description="events"),
        seed=widgets.IntSlider(0, 0, 20, description="seed"),
        lag_alarm=widgets.IntSlider(20, 1, 200, description="lag alarm", style={"description_width": "initial"}),
    )


__all__ = ["draw_architecture", "plot_run_timeline", "plot_latency", "plot_token_bucket", "compare",
           "dashboard_run", "dashboard", "lag_series", "max_lag", "plot_design"]


# ---------------------------------------------------------------------------------------------- the design decision
@figure
def plot_design(verdicts: dict[str, Any], axes=None):
    """Designs side by side on what the simulation measured, each panel with its threshold (dashed)."""
    import matplotlib.pyplot as plt

    shown = [t for t in THRESHOLDS if t.measure != "invalid"]
    if axes is None:
        fig, axes = plt.subplots(1, len(shown), figsize=(3.2 * len(shown), 3.4))
    else:
        fig = axes[0].figure
    names = list(verdicts)
    for ax, t in zip(axes, shown):
        values = [verdicts[n].values[t.measure] for n in names]
        colors = ["tab:red" if v > t.limit else "tab:green" for v in values]
        ax.bar(range(len(names)), values, color=colors)
        ax.axhline(t.limit, color="0.2", ls="--", lw=1)
        ax.set_xticks(range(len(names)), names, rotation=40, ha="right", fontsize=7)
        ax.set_title(t.measure.replace("_", " "), fontsize=9)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle("what the simulation measured (red: over the limit, dashed)", fontsize=10)
    fig.tight_layout()
    return fig
