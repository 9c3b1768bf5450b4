"""Pictures and widgets for module 05 (consumer groups and offsets)."""
from __future__ import annotations

from typing import Any, Iterable

from msglib.groups.lag import LagMonitor
from msglib.groups.protocol_compare import JoinCost, summarize
from msglib.groups.workload import (GROUP, TOPIC, GroupEvent, GroupRun, GroupRunResult, at_least_once_step,
                                    at_most_once_step, ownership_intervals, random_events, run_group, stop_the_world_ms)
from msglib.protocol import TopicPartition
from msglib.sim.history import History
from msglib.viz import figure


def _colors(names: Iterable[str]) -> dict[str, Any]:
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("tab10")
    return {name: cmap(i % 10) for i, name in enumerate(names)}


def assignment_of(consumers: Iterable[Any]) -> dict[str, list[int]]:
    """``{consumer name: [partition numbers]}`` of running KafkaConsumers."""
    return {c.name: sorted(tp.partition for tp in c.assignment()) for c in consumers if not c._closed}


# ------------------------------------------------------------------ partitions -> consumers
def _draw_assignment(ax, assignment: dict[str, list[int]], partitions: int, title: str,
                     colors: dict[str, Any]) -> None:
    ax.set_xlim(-0.2, 3.4)
    top = max(partitions, len(assignment), 1)
    ax.set_ylim(-0.8, top - 0.2)
    ax.invert_yaxis()
    ax.axis("off")
    ax.set_title(title, fontsize=10)
    owner = {p: name for name, ps in assignment.items() for p in ps}
    c_y = {name: i * (top - 1) / max(1, len(assignment) - 1) if len(assignment) > 1 else (top - 1) / 2
           for i, name in enumerate(assignment)}
    for p in range(partitions):
        color = colors.get(owner.get(p), "lightgrey")
        ax.add_patch(_box(0, p - 0.35, 0.9, 0.7, color))
        ax.text(0.45, p, f"P{p}", ha="center", va="center", fontsize=9)
        if p in owner:
            ax.annotate("", xy=(2.3, c_y[owner[p]]), xytext=(0.92, p),
                        arrowprops=dict(arrowstyle="->", color=color, lw=1.4))
    for name, y in c_y.items():
        ax.add_patch(_box(2.3, y - 0.35, 1.05, 0.7, colors.get(name, "white")))
        n = len(assignment[name])
        ax.text(2.82, y, f"{name}\n{n} partition{'s' * (n != 1)}" if n else f"{name}\nidle", ha="center",
                va="center", fontsize=8)


def _box(x: float, y: float, w: float, h: float, color: Any):
    from matplotlib.patches import FancyBboxPatch

    return FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02", facecolor=color, edgecolor="black",
                          alpha=0.85, lw=0.8)


@figure
def plot_assignment(assignment: dict[str, list[int]], partitions: int, ax=None, title: str = "who reads what"):
    """Partitions on the left, the group's members on the right, an arrow from each partition to its owner."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 0.45 * max(partitions, len(assignment)) + 1))
    _draw_assignment(ax, assignment, partitions, title, _colors(assignment))
    return ax.figure


@figure
def plot_rebalance(before: dict[str, list[int]], after: dict[str, list[int]], partitions: int,
                   titles: tuple[str, str] = ("before the rebalance", "after the rebalance")):
    """The same group before and after a rebalance, side by side (each member keeps its colour)."""
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(list(before) + list(after)))
    colors = _colors(names)
    fig, axes = plt.subplots(1, 2, figsize=(8.6, 0.45 * max(partitions, len(names)) + 1.2))
    _draw_assignment(axes[0], before, partitions, titles[0], colors)
    _draw_assignment(axes[1], after, partitions, titles[1], colors)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ ownership over time
def _event_marks(result: GroupRunResult) -> list[tuple[float, str]]:
    """(time, label) of the faults and membership changes after the start (the first members are not marked)."""
    marks = []
    for t, what in result.notes:
        if t <= result.start_ms:
            continue
        for word, label in (("crashes", "crash"), ("killed", "crash"), ("stalls", "pause"), ("starts", "join"),
                            ("shuts down", "leave"), ("coordinator crashes", "coordinator down")):
            if word in what:
                marks.append((t, label))
                break
    return marks


def draw_timeline(result: GroupRunResult, ax, title: str = "", colors: dict[str, Any] | None = None) -> None:
    """One row per partition; a bar for every stretch an application believed it owned it.

    White gaps are partitions nobody consumes. Two bars on one row at the same time are
    a zombie: a paused member that still believes it owns what the group gave to another.
    """
    intervals = ownership_intervals(result)
    apps = list(result.assignment_logs)
    colors = colors or _colors(apps)
    partitions = result.params.get("partitions", 1 + max((p for _, p, _, _ in intervals), default=0))
    rows: dict[int, list[tuple[float, float]]] = {}
    for app, p, s, e in intervals:
        if e <= s:
            continue
        lane = rows.setdefault(p, [])
        overlap = any(s < e2 and s2 < e for s2, e2 in lane)
        lane.append((s, e))
        ax.barh(p + (0.2 if overlap else 0.0), (e - s) / 1000, left=s / 1000, height=0.6 if not overlap else 0.35,
                color=colors[app], edgecolor="black", lw=0.3, hatch="//" if overlap else None)
    for t, label in _event_marks(result):
        ax.axvline(t / 1000, color="black", lw=0.8, ls=":")
        ax.text(t / 1000, -0.55, label, fontsize=7, ha="center", va="bottom",
                bbox=dict(facecolor="white", edgecolor="none", pad=0.5))
    ax.set_yticks(range(partitions), [f"P{p}" for p in range(partitions)])
    ax.set_ylim(partitions - 0.4, -0.9)
    ax.set_xlabel("simulated time (s)")
    ax.set_title(title, fontsize=10)
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=colors[a], label=a) for a in apps], fontsize=7, loc="upper left",
              bbox_to_anchor=(1.0, 1.0))


@figure
def plot_timeline(result: GroupRunResult, ax=None, title: str = "who owns which partition, over time"):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(9, 0.4 * result.params.get("partitions", 4) + 1.5))
    draw_timeline(result, ax, title)
    ax.figure.tight_layout()
    return ax.figure


def protocol_runs(seed: int = 0, partitions: int = 6) -> dict[str, GroupRunResult]:
    """The same story twice, eager (range) and cooperative (cooperative-sticky): two members, then two joins."""
    joins = [GroupEvent(600, "join"), GroupEvent(1_300, "join")]
    out = {}
    for label, strategy in (("eager (range)", "range"), ("cooperative (cooperative-sticky)", "cooperative-sticky")):
        out[label] = run_group(seed, events=joins, consumers=2, partitions=partitions, records=300,
                               duration_ms=2_000, commit_on_revoke=True,
                               consumer_config={"partition_assignment_strategy": [strategy],
                                                "max_poll_interval_ms": 600})
    return out


@figure
def compare_protocols(seed: int = 0, partitions: int = 6):
    """Eager vs cooperative rebalancing: the same joins, the ownership timelines one above the other."""
    import matplotlib.pyplot as plt

    runs = protocol_runs(seed, partitions)
    fig, axes = plt.subplots(2, 1, figsize=(9.5, 0.8 * partitions + 2.5), sharex=True)
    for ax, (label, r) in zip(axes, runs.items()):
        gap = stop_the_world_ms(r) / 1000
        draw_timeline(r, ax, f"{label}: {gap:.2f} partition-seconds without an owner")
    fig.tight_layout()
    return fig


JOIN_LABELS = {"eager": "classic eager\n(range)", "cooperative": "classic cooperative\n(cooperative-sticky)",
               "kip848": "KIP-848\n(consumer, uniform)"}


@figure
def plot_join_costs(costs: dict[str, list[JoinCost]], title: str = ""):
    """What one join costs under each rebalance protocol (``protocol_compare.compare``): time to a
    settled assignment and partition-seconds without an owner; dots are seeds, bars medians."""
    import matplotlib.pyplot as plt

    if not costs:
        raise ValueError("plot_join_costs needs the costs of at least one protocol "
                         "(msglib.groups.protocol_compare.compare(...)); got none")
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    for x, runs in enumerate(costs.values()):
        left.scatter([x] * len(runs), [r.settle_ms for r in runs], color="tab:blue")
        right.scatter([x] * len(runs), [r.unowned_partition_s for r in runs], color="tab:red")
    for s in summarize(costs):
        x = list(costs).index(s.protocol)
        left.hlines(s.settle_ms_median, x - 0.25, x + 0.25, color="black")
        right.hlines(s.unowned_s_median, x - 0.25, x + 0.25, color="black")
    for ax, name in ((left, "time to a settled assignment (ms)"), (right, "partition-seconds without an owner")):
        ax.set_xticks(range(len(costs)), [JOIN_LABELS.get(p, p) for p in costs])
        ax.set_title(name)
        ax.set_ylim(bottom=0)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ lag
def lag_run(seed: int = 0, crash_at_ms: float = 700.0, restart_after_ms: float = 600.0,
            consumers: int = 2, duration_ms: float = 2_500.0) -> tuple[GroupRunResult, LagMonitor]:
    """A group with a lag monitor: one member crashes, a replacement starts ``restart_after_ms`` later."""
    run = GroupRun(seed, partitions=4, records=400, produce_every_ms=0.8 * duration_ms * 8 / 400, burst=8,
                   consumer_config={}, step=at_least_once_step, restart_after_ms=restart_after_ms,
                   history=History(), broker=None, group_config=None, validate_offset_commit=None, backend="local")
    monitor = LagMonitor(run.broker, run.coordinator, GROUP, [TopicPartition(TOPIC, p) for p in range(4)],
                         interval_ms=20).start()
    result = run.run(consumers, [GroupEvent(crash_at_ms, "crash", 0)], duration_ms, 3_000, 5.0)
    monitor.stop()
    return result, monitor


def draw_lag(monitor: LagMonitor, ax, result: GroupRunResult | None = None, title: str = "consumer lag") -> None:
    for tp, series in sorted(monitor.series.items()):
        ax.plot([t / 1000 for t, _ in series], [v for _, v in series], lw=0.9, label=f"P{tp.partition}")
    total = monitor.total()
    ax.plot([t / 1000 for t, _ in total], [v for _, v in total], color="black", lw=1.8, label="total")
    if result is not None:
        for t, label in _event_marks(result):
            ax.axvline(t / 1000, color="grey", lw=0.8, ls=":")
            ax.text(t / 1000, ax.get_ylim()[1] * 0.95, label, fontsize=7, rotation=90, va="top", ha="right")
    ax.set(xlabel="simulated time (s)", ylabel="records not yet committed", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper right")


@figure
def plot_lag(seed: int = 0, **kwargs: Any):
    """Lag per partition and in total while a member crashes and its replacement catches up."""
    import matplotlib.pyplot as plt

    result, monitor = lag_run(seed, **kwargs)
    fig, ax = plt.subplots(figsize=(9, 3.4))
    draw_lag(monitor, ax, result, "lag = end offset - committed offset")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ delivery guarantees, in numbers
def delivery_table(seeds: int = 10, crashes: int = 3) -> str:
    """At-least-once vs at-most-once over seeded runs with crashes: records lost and processed twice."""
    lines = [f"{'loop':<34}{'runs':>6}{'records':>10}{'lost':>8}{'processed twice':>17}"]
    for label, step in (("process, then commit (at-least-once)", at_least_once_step),
                        ("commit, then process (at-most-once)", at_most_once_step)):
        lost = dup = total = 0
        for s in range(seeds):
            r = run_group(s, events=random_events(s, 2_000, count=crashes), step=step)
            lost += len(r.lost)
            dup += sum(n - 1 for n in r.duplicated.values())
            total += len(r.produced)
        lines.append(f"{label:<34}{seeds:>6}{total:>10}{lost:>8}{dup:>17}")
    return "\n".join(lines)


def offsets_log(coordinator: Any, limit: int = 12) -> str:
    """The coordinator's ``__consumer_offsets`` log, record by record (key -> value)."""
    log = coordinator.store.log
    rows = [f"__consumer_offsets-0: offsets {log.log_start_offset}..{log.log_end_offset - 1}, "
            f"{len(log.segments)} segment(s)"]
    records = list(log.records())
    for r in records[-limit:]:
        value = "(tombstone)" if r.value is None else r.value.decode()
        rows.append(f"  {r.offset:>5}  {r.key.decode():<38} {value[:70]}")
    if len(records) > limit:
        rows.insert(1, f"  ... {len(records) - limit} earlier records")
    return "\n".join(rows)


# ------------------------------------------------------------------ the widget
class Playground:
    """A live group for the widget: records arrive steadily; add, stop and kill members; watch."""

    def __init__(self, seed: int = 0, partitions: int = 6, rate_per_s: float = 150.0) -> None:
        self.run = GroupRun(seed, partitions=partitions, records=10**9, produce_every_ms=1000 * 6 / rate_per_s,
                            burst=6, consumer_config={}, step=at_least_once_step, restart_after_ms=None,
                            history=History(), broker=None, group_config=None, validate_offset_commit=None,
                            backend="local")
        self.run.records = 10**9
        self.monitor = LagMonitor(self.run.broker, self.run.coordinator, GROUP,
                                  [TopicPartition(TOPIC, p) for p in range(partitions)], interval_ms=50).start()
        self.run.begin(2)
        self.partitions = partitions
        self.advance(1_500)

    def advance(self, ms: float) -> None:
        self.run.advance(ms)

    def add(self) -> None:
        self.run.start_app()

    def stop_one(self) -> None:
        live = self.run.live()
        if live:
            self.run._apply(GroupEvent(self.run.sim.now, "leave", len(live) - 1))

    def kill_one(self) -> None:
        live = self.run.live()
        if live:
            self.run.crash_now(live[0])

    def assignment(self) -> dict[str, list[int]]:
        return assignment_of(app.consumer for app in self.run.live())

    def draw(self, axes) -> None:
        colors = _colors([a.name for a in self.run.apps])
        _draw_assignment(axes[0], self.assignment(), self.partitions,
                         f"t = {self.run.sim.now / 1000:.1f} s, generation "
                         f"{getattr(self.run.coordinator.group(GROUP), 'generation_id', 0)}", colors)
        draw_lag(self.monitor, axes[1], self.run.result(), "lag")


@figure
def explore_group(seed: int = 0):
    """Buttons: add a consumer, stop one cleanly, kill one (-9); each runs the group for a second."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    pg = Playground(seed)
    out = widgets.Output()
    log = widgets.HTML()

    def show() -> None:
        with out:
            out.clear_output(wait=True)
            fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.6), gridspec_kw={"width_ratios": [1, 2]})
            pg.draw(axes)
            fig.tight_layout()
            plt.show()
        recent = [f"{t / 1000:6.2f} s  {what}" for t, what in pg.run.notes[-4:]]
        log.value = "<pre>" + "\n".join(recent) + "</pre>"

    def act(fn):
        def handler(_: Any) -> None:
            fn()
            pg.advance(1_000)
            show()
        return handler
    buttons = []
    for label, fn in (("add a consumer", pg.add), ("stop one (clean)", pg.stop_one), ("kill one (-9)", pg.kill_one),
                      ("wait 1 s", lambda: None)):
        b = widgets.Button(description=label)
        b.on_click(act(fn))
        buttons.append(b)
    show()
    return widgets.VBox([widgets.HBox(buttons), out, log])


def group_story(coordinator: Any, group_id: str, limit: int | None = None) -> str:
    """The coordinator's record of one group: joins, state changes, assignments, removals."""
    lines = []
    for e in coordinator.trace:
        if e["group"] != group_id or e["event"] in ("commit", "commit rejected"):
            continue
        what = e["event"]
        if what == "assignment":
            # member ids are client id + "-" + a suffix the coordinator chose: show the client id
            what += " " + ", ".join(f"{m.rsplit('-', 1)[0]}={tps}" for m, tps in sorted(e["assignment"].items()))
        elif "reason" in e:
            what += f" ({e['reason']})"
        elif "member" in e:
            what += f" {e['member']}"
        lines.append(f"{e['time'] / 1000:8.3f} s  gen {e['generation']:<3} {what}")
    return "\n".join(lines if limit is None else lines[-limit:])
