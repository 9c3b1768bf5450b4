"""Pictures of share groups (KIP-932): the share-partition window over time, for modules 01 and 09."""
from __future__ import annotations

from msglib.share.record import RecordState
from msglib.share.scenario import ShareRunResult, run_share_schedule
from msglib.viz import figure

STATE_COLORS = {RecordState.AVAILABLE: "#d9d9d9", RecordState.ACQUIRED: "#f2b134",
                RecordState.ACKNOWLEDGED: "#4caf50", RecordState.ARCHIVED: "#c0392b"}
_ORDER = [RecordState.AVAILABLE, RecordState.ACQUIRED, RecordState.ACKNOWLEDGED, RecordState.ARCHIVED]


def share_run(records: int = 24, consumers: int = 3, poison: tuple[int, ...] = (3,), limit: int = 5,
              lock_ms: float = 1_000.0, max_record_locks: int = 8, seed: int = 0, crash_rate: float = 0.0,
              transition=None, sample_ms: float = 100.0) -> ShareRunResult:
    """A small share-group run for the pictures (no faults unless ``crash_rate`` > 0)."""
    kwargs = {} if transition is None else {"transition": transition}
    return run_share_schedule(seed, records=records, consumers=consumers, limit=limit, crash_rate=crash_rate,
                              poison=set(poison), lock_ms=lock_ms, max_record_locks=max_record_locks,
                              sample_ms=sample_ms, **kwargs)


@figure
def plot_share_window(run: ShareRunResult, title: str | None = None, ax=None):
    """Each offset's state over time (grey available, amber acquired, green acknowledged, red archived), with
    the share-partition start offset (SPSO) and end offset (SPEO): the in-flight window lies between them."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    if not run.timeline:
        raise ValueError("the run has no timeline: run it with sample_ms=... (share_run does)")
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(12, 3.8))
    times = [t for t, *_ in run.timeline]
    grid = [[_ORDER.index(s) for s in states] for *_, states in run.timeline]
    cmap = ListedColormap([STATE_COLORS[s] for s in _ORDER])
    n = len(grid[0])
    step = times[1] - times[0] if len(times) > 1 else 1.0
    ax.imshow(list(map(list, zip(*grid))), aspect="auto", origin="lower", cmap=cmap, vmin=0, vmax=3,
              extent=(times[0], times[-1] + step, -0.5, n - 0.5), interpolation="nearest")
    ax.step(times, [spso - 0.5 for _, spso, _, _ in run.timeline], where="post", color="black", lw=1.6,
            label="SPSO (share-partition start offset)")
    ax.step(times, [speo - 0.5 for _, _, speo, _ in run.timeline], where="post", color="black", lw=1.2, ls="--",
            label="SPEO (share-partition end offset)")
    for i, t in enumerate(run.crash_times):
        ax.axvline(t, color="tab:purple", lw=2, alpha=0.9, label="consumer crash" if i == 0 else None)
    for o in sorted(run.poison):
        ax.annotate(f"poison (offset {o})", (times[0], o), xytext=(-28, 0), textcoords="offset points",
                    ha="right", va="center", fontsize=8, color=STATE_COLORS[RecordState.ARCHIVED],
                    annotation_clip=False)
    handles = [Patch(color=STATE_COLORS[s], label=s.value) for s in _ORDER]
    ax.legend(handles=handles + ax.get_legend_handles_labels()[0], fontsize=8, loc="upper left",
              bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    ax.set(xlabel="time (ms)", ylabel="offset",
           title=title or f"one partition, {run.consumers} share consumers, delivery count limit {run.limit}")
    if fig is not None:
        fig.tight_layout()
    return fig if fig is not None else ax.figure


@figure
def explore_share_group():
    """Sliders: consumers, the delivery count limit, the in-flight window, poison records and faults."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    def show(consumers: int = 3, limit: int = 5, window: int = 8, poison: int = 1, faults: float = 1.0,
             seed: int = 0) -> None:
        records = 24
        bad = tuple(range(3, 3 + 6 * poison, 6))[:poison]
        run = share_run(records=records, consumers=consumers, poison=bad, limit=limit, max_record_locks=window,
                        crash_rate=faults, seed=seed)
        print(f"done at {run.finished_ms:,.0f} ms: {run.accepted} accepted, {run.archived} archived; "
              f"{run.deliveries} deliveries, {run.lock_expiries} locks expired, {run.crashes} crashes, "
              f"{run.late_acks_refused} late acknowledgements refused; rule violations: {len(run.violations)}")
        plot_share_window(run)
        plt.show()

    wide = {"description_width": "initial"}
    return widgets.interactive(
        show,
        consumers=widgets.IntSlider(3, 1, 8, description="consumers"),
        limit=widgets.IntSlider(5, 1, 8, description="delivery count limit", style=wide),
        window=widgets.IntSlider(8, 2, 24, description="max in-flight records", style=wide),
        poison=widgets.IntSlider(1, 0, 4, description="poison records", style=wide),
        faults=widgets.FloatSlider(1.0, min=0, max=3, step=0.5, description="faults (crashes, stalls)",
                                   style=wide),
        seed=widgets.IntSlider(0, 0, 20, description="seed"),
    )
