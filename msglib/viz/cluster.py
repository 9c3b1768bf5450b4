"""Pictures for modules 03 and 04: histories as timelines, replication over time."""
from __future__ import annotations

from typing import Any, Iterable

from msglib.sim.history import FAIL, INFO, NEMESIS, OK, History
from msglib.viz import figure

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


# -- module 04: replicas side by side ------------------------------------------------------------
def plot_replica_logs(entries: dict[int, list], ax=None, title: str | None = None, max_offsets: int = 30):
    """Each replica's log as a row of cells: one cell per offset, coloured by the leader epoch
    that wrote it, labelled with its value. Divergence shows as columns that do not match."""
    import matplotlib.pyplot as plt

    brokers = sorted(entries)
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 0.6 + 0.5 * len(brokers)))
    cmap = plt.get_cmap("Pastel1")
    epochs = sorted({e for rows in entries.values() for _, e, _ in rows})
    color = {e: cmap(i % 9) for i, e in enumerate(epochs)}
    width = 0
    for y, b in enumerate(brokers):
        for offset, epoch, value in entries[b][:max_offsets]:
            ax.add_patch(plt.Rectangle((offset, y - 0.4), 1, 0.8, facecolor=color[epoch], edgecolor="grey"))
            text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
            ax.text(offset + 0.5, y, text, ha="center", va="center", fontsize=7)
            width = max(width, offset + 1)
    ax.set_xlim(0, max(width, 1))
    if width <= 30:
        ax.set_xticks([o + 0.5 for o in range(width)], [str(o) for o in range(width)])
    ax.set_ylim(-0.6, len(brokers) - 0.4)
    ax.set_yticks(range(len(brokers)), [f"broker {b}" for b in brokers])
    ax.set_xlabel("offset")
    from matplotlib.patches import Patch
    ax.legend(handles=[Patch(color=color[e], label=f"epoch {e}") for e in epochs], fontsize=7,
              loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        ax.set_title(title)
    return ax


def plot_isr(trace: list[dict[str, Any]], ax=None, partition: str | None = None):
    """The ISR size each leader reported over time (a step plot)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 1.8))
    rows = [r for r in trace if r["role"] == "leader" and (partition is None or r["partition"] == partition)]
    ax.step([r["time"] for r in rows], [len(r["isr"]) for r in rows], where="post", color="#1565c0")
    ax.set(xlabel="simulated time (ms)", ylabel="ISR size", ylim=(0, max([len(r["isr"]) for r in rows] + [1]) + 0.5))
    ax.grid(alpha=0.3)
    return ax


def plot_loss_table(table: dict[tuple, float], ax=None, seeds: int | None = None):
    """The data-loss table as a heat map: rows acks, columns (min.insync.replicas, unclean)."""
    import matplotlib.pyplot as plt

    acks = sorted({k[0] for k in table}, key=lambda a: {0: 0, 1: 1, "all": 2}.get(a, 3))
    cols = sorted({(k[1], k[2]) for k in table})
    grid = [[table.get((a, m, u), float("nan")) for m, u in cols] for a in acks]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 2.6))
    im = ax.imshow(grid, cmap="Reds", vmin=0, vmax=1, aspect="auto")
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            ax.text(j, i, f"{v:.0%}", ha="center", va="center", color="black" if v < 0.6 else "white")
    ax.set_xticks(range(len(cols)), [f"min.insync={m}\nunclean={'on' if u else 'off'}" for m, u in cols], fontsize=8)
    ax.set_yticks(range(len(acks)), [f"acks={a}" for a in acks])
    ax.set_title("runs that lose acknowledged writes" + (f" ({seeds} seeds per cell)" if seeds else ""))
    plt.colorbar(im, ax=ax, fraction=0.03)
    return ax


# -- module 03: batching ---------------------------------------------------------------------------
def linger_experiment(lingers=(0, 1, 2, 5, 10, 20), records: int = 600, every_ms: float = 0.25,
                      seed: int = 0, acks: Any = "all") -> list[dict[str, float]]:
    """Send ``records`` records, one every ``every_ms``, with each ``linger_ms``; measure what batching buys.

    For each setting: records per produce request (what a broker's throughput depends on: each
    request costs it a fixed amount of work) and the median time from send() to acknowledgement.
    """
    from msglib.cluster import Cluster

    rows = []
    for linger in lingers:
        c = Cluster(3, seed=seed)
        c.create_topic("t", 1, 3)
        producer = c.producer(acks=acks, linger_ms=linger)
        latencies: list[float] = []
        start = c.sim.now
        for i in range(records):
            t = start + i * every_ms

            def send(t=t):
                f = producer.send("t", b"x" * 20)
                f.add_callback(lambda _m, t=t: latencies.append(c.sim.now - t))
            c.sim.at(t, send)
        before = c.network.stats["sent"]
        c.run(records * every_ms + 50)
        producer.flush()
        latencies.sort()
        requests = producer.metrics()["produce_requests_sent"]
        rows.append({"linger_ms": linger, "requests": requests, "records_per_request": records / max(requests, 1),
                     "p50_latency_ms": latencies[len(latencies) // 2], "messages": c.network.stats["sent"] - before})
    return rows


def plot_linger_tradeoff(rows: list[dict[str, float]], ax=None):
    """Records per request (throughput's driver) and median latency, against linger.ms."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.2))
    x = [r["linger_ms"] for r in rows]
    ax.plot(x, [r["records_per_request"] for r in rows], "o-", color="#2e7d32", label="records per request")
    ax.set_xlabel("linger.ms")
    ax.set_ylabel("records per produce request", color="#2e7d32")
    ax2 = ax.twinx()
    ax2.plot(x, [r["p50_latency_ms"] for r in rows], "s--", color="#c62828", label="median send->ack (ms)")
    ax2.set_ylabel("median send -> ack (ms)", color="#c62828")
    ax.set_title("batching: fewer, bigger requests, paid for in latency")
    ax.grid(alpha=0.3)
    return ax


@figure
def show_loss_table(seeds: int = 200, processes: int = 2, **scenario: Any):
    """Module 04's data-loss table: compute it live (``msglib.cluster.scenario.loss_table``,
    ``seeds`` runs per cell) and draw it. Skipped when a grader runs the notebook: it takes
    tens of seconds of CPU and nobody looks at it then."""
    import matplotlib.pyplot as plt

    from msglib.cluster.scenario import loss_table

    table = loss_table(seeds, processes=processes, **scenario)
    ax = plot_loss_table(table, seeds=seeds)
    plt.show()
    return table


# -- widgets -----------------------------------------------------------------------------------------
@figure
def retries_widget():
    """Module 03: a lossy network, retries, with and without idempotence; the checker judges each run."""
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import display

    from msglib.cluster.scenario import run_scenario

    loss = w.FloatSlider(value=0.05, min=0.0, max=0.2, step=0.01, description="message loss", readout_format=".0%")
    idem = w.Checkbox(value=False, description="enable_idempotence")
    inflight = w.IntSlider(value=5, min=1, max=5, description="max in flight")
    seed = w.IntText(value=1, description="seed")
    go = w.Button(description="run 1 s of sends")
    out = w.Output()

    def run(_=None) -> None:
        with out:
            out.clear_output(wait=True)
            r = run_scenario(seed.value, faults=None, loss=loss.value, idempotent=idem.value,
                             max_in_flight=inflight.value, duration_ms=1000)
            print(r.summary())
            found = r.check.of_kind("duplicate") or r.check.of_kind("reorder")
            if found:
                print("\n" + found[0].explain(r.history))
                ax = found[0].plot(r.history)
                plt.show()
                plt.close(ax.figure)

    go.on_click(run)
    display(w.VBox([w.HBox([loss, inflight]), w.HBox([idem, seed, go]), out]))
    run()


@figure
def cluster_widget(seed: int = 0):
    """Module 04: crash brokers and cut links while a producer runs; watch LEO, HW and ISR, then
    heal everything and let the checker say what was lost."""
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import display

    from msglib.check import check
    from msglib.cluster import Cluster, ClusterConfig

    acks = w.Dropdown(options=[("0", 0), ("1", 1), ("all", "all")], value="all", description="acks")
    min_isr = w.Dropdown(options=[1, 2], value=2, description="min.insync")
    unclean = w.Checkbox(value=False, description="unclean election")
    new = w.Button(description="new cluster")
    crash = [w.ToggleButton(description=f"broker {b} down") for b in range(3)]
    cuts = {(a, b): w.ToggleButton(description=f"cut {a}-{b}") for a, b in ((0, 1), (0, 2), (1, 2))}
    step = w.Button(description="run 200 ms")
    heal = w.Button(description="heal all, then check")
    out = w.Output()
    state: dict[str, Any] = {}

    def build(_=None) -> None:
        cfg = ClusterConfig.fast(min_insync_replicas=min_isr.value, unclean_leader_election_enable=unclean.value)
        c = Cluster(3, seed=seed, config=cfg, trace=True)
        c.create_topic("t", 1, 3)
        state.update(cluster=c, n=0, producer=c.producer(acks=acks.value, history=c.history, client_id="p1",
                                                         value_serializer=lambda v: str(v).encode()))
        for t in (*crash, *cuts.values()):
            t.value = False
        draw("new cluster: leader " + str(c.leader("t")))

    def toggle_crash(b: int, change) -> None:
        c = state["cluster"]
        (c.crash if change["new"] else c.restart)(b)
        draw(("crashed" if change["new"] else "restarted") + f" broker {b}")

    def toggle_cut(pair, change) -> None:
        c = state["cluster"]
        if change["new"]:
            c.cut(*pair)
        else:
            c.network.heal(c.node(pair[0]), c.node(pair[1]))
        draw(("cut" if change["new"] else "healed") + f" {pair[0]}-{pair[1]}")

    def run(_=None) -> None:
        c, producer = state["cluster"], state["producer"]
        start = c.sim.now
        for i in range(40):  # one send every 5 ms
            c.sim.at(start + i * 5, lambda n=state["n"] + i: producer.send("t", n))
        state["n"] += 40
        c.run(200)
        draw(f"ran 200 ms; {state['n']} sends so far")

    def heal_and_check(_=None) -> None:
        c = state["cluster"]
        for t in (*crash, *cuts.values()):
            t.unobserve_all()
            t.value = False
        c.settle()
        state["producer"].flush()
        reader = c.reader(history=c.history, value_deserializer=lambda b: int(b))
        reader.read_to_end(c.topic_partitions())
        result = check(c.history)
        lost = len(result.lost)
        draw(f"healed and settled. {lost} acknowledged writes lost. {result.summary()}")
        with out:
            if result.anomalies:
                print("\n" + result.report(per_kind=1)[:3000])
        wire()

    def draw(message: str) -> None:
        c = state["cluster"]
        with out:
            out.clear_output(wait=True)
            print(message)
            print(c.describe())
            fig, axes = plt.subplots(2, 1, figsize=(10, 4.6), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
            if c.trace:
                plot_replication(c.trace, "t-0", ax=axes[0], history=c.history)
                plot_isr(c.trace, ax=axes[1])
            plt.show()
            plt.close(fig)

    def wire() -> None:
        for b, t in enumerate(crash):
            t.observe(lambda ch, b=b: toggle_crash(b, ch), names="value")
        for pair, t in cuts.items():
            t.observe(lambda ch, pair=pair: toggle_cut(pair, ch), names="value")

    new.on_click(build)
    step.on_click(run)
    heal.on_click(heal_and_check)
    wire()
    display(w.VBox([w.HBox([acks, min_isr, unclean, new]), w.HBox(crash), w.HBox(list(cuts.values())),
                    w.HBox([step, heal]), out]))
    build()
    run()
