"""Pictures and widgets for module 06 (transactions and exactly-once)."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from msglib.cluster import Cluster, ClusterConfig
from msglib.groups.coordinator import coordinator_for
from msglib.protocol import OffsetAndMetadata, TopicPartition
from msglib.txn.coordinator import transaction_coordinator_for
from msglib.txn.eos import EosEvent, random_events, run_eos
from msglib.viz import figure

# One color per kind of slot in a partition.
COLORS = {"committed": "#7fc97f", "aborted": "#f0a3a3", "open": "#fdc086", "plain": "#9ecae1",
          "COMMIT": "#3b7a3b", "ABORT": "#b03030"}


# The points of each loop where the widget and the crash-point table kill the application.
KILL_POINTS = {
    "at-least-once": ["send", "flush", "consumer_commit"],
    "transactions": ["send", "send_offsets", "commit", "commit_sent"],
}


# ------------------------------------------------------------------ a partition, slot by slot
@dataclass(frozen=True)
class Slot:
    """One offset of a partition: a data record or a marker, and the state of its transaction."""

    offset: int
    kind: str            # "committed", "aborted", "open" (transactional data), "plain", "COMMIT", "ABORT"
    producer_id: int
    label: str


def _label(value: Any) -> str:
    """A record's value, short: an exactly-once run's output shows the input it is for."""
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, str) and value.startswith("{"):
        try:
            import json

            return f"in {json.loads(value)['in']}"
        except (ValueError, KeyError, TypeError):
            pass
    return str(value)


def partition_slots(part: Any) -> list[Slot]:
    """Every offset of a partition replica's log, with what it is (a transaction's fate read from its marker)."""
    batches = list(part.log.batches())
    slots: list[Slot] = []
    for i, batch in enumerate(batches):
        if batch.is_control:
            kind = batch.control_type.name
            slots.append(Slot(batch.base_offset, kind, batch.producer_id, kind[0]))
            continue
        if batch.is_transactional:
            kind = "open"
            for later in batches[i + 1:]:
                if later.is_control and later.producer_id == batch.producer_id:
                    kind = "committed" if later.control_type.name == "COMMIT" else "aborted"
                    break
        else:
            kind = "plain"
        for r in batch.records:
            label = _label(r.value)
            slots.append(Slot(r.offset, kind, batch.producer_id, label))
    return slots


def draw_partition(ax: Any, part: Any, title: str = "", max_slots: int = 24) -> None:
    """Boxes for the offsets of one partition; the LSO and the HW as lines."""
    from matplotlib.patches import Patch, Rectangle

    slots = partition_slots(part)[-max_slots:]
    start = slots[0].offset if slots else 0
    for s in slots:
        x = s.offset - start
        ax.add_patch(Rectangle((x, 0), 0.92, 1, facecolor=COLORS[s.kind], edgecolor="black", lw=0.6,
                               hatch="//" if s.kind == "aborted" else None))
        text = s.label if s.kind in ("COMMIT", "ABORT") else f"{s.label[:6]}\npid {s.producer_id}"
        ax.text(x + 0.46, 0.5, text, ha="center", va="center", fontsize=7,
                color="white" if s.kind in ("COMMIT", "ABORT") else "black")
        ax.text(x + 0.46, -0.18, str(s.offset), ha="center", va="top", fontsize=7)
    end = (slots[-1].offset - start + 1) if slots else 1
    for name, value, color, y in (("LSO", part.last_stable_offset, "purple", 1.35),
                                  ("HW", part.high_watermark, "black", 1.15)):
        x = value - start - 0.04
        ax.axvline(x, color=color, lw=2, ls="--" if name == "LSO" else "-")
        ax.text(x, y, f" {name}={value}", color=color, fontsize=8, va="bottom")
    ax.set_xlim(-0.3, max(end, 4) + 0.5)
    ax.set_ylim(-0.6, 1.8)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10, loc="left")
    # one row of six entries needs about 6 inches: narrower axes get two rows, never wider than the figure
    width_in = ax.get_position().width * ax.figure.get_figwidth()
    ax.legend(handles=[Patch(facecolor=COLORS[k], edgecolor="black", label=k) for k in COLORS],
              loc="upper right", fontsize=7, ncol=6 if width_in >= 6.5 else 3, frameon=False,
              bbox_to_anchor=(1.0, 1.25 if width_in >= 6.5 else 1.45))


@figure
def plot_partition(part: Any, title: str = ""):
    """One partition: data by transaction state, markers, the last stable offset and the high-water mark."""
    import matplotlib.pyplot as plt

    n = len(partition_slots(part))
    # wide enough for the legend's one row and for "pid 1999" inside each box
    fig, ax = plt.subplots(figsize=(min(1.5 + 0.8 * max(n, 8), 14), 2.2))
    draw_partition(ax, part, title)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ one transaction, step by step
def transaction_timeline(seed: int = 0) -> list[dict]:
    """Consume three inputs and write their outputs to two partitions in one transaction, with the
    input offsets. After each step, a snapshot: the coordinator's state for the transaction, the
    LEO / HW / LSO of both output partitions, the group's committed offset, and what a
    read_committed reader of the outputs has received so far."""
    cl = Cluster(3, seed=seed, config=ClusterConfig.fast(min_insync_replicas=2))
    cl.create_topic("in", 1, 3)
    cl.create_topic("out", 2, 3)
    source = cl.producer()
    for i in range(3):
        source.send("in", f"in-{i}".encode(), partition=0).get()
    consumer = cl.consumer("in", group_id="app", isolation_level="read_committed", enable_auto_commit=False,
                           auto_offset_reset="earliest")
    producer = cl.producer(transactional_id="app-0")
    producer.init_transactions()
    reader = cl.consumer(isolation_level="read_committed", auto_offset_reset="earliest", fetch_max_wait_ms=10)
    outs = [TopicPartition("out", 0), TopicPartition("out", 1)]
    reader.assign(outs)
    coordinator = transaction_coordinator_for(cl)
    groups = coordinator_for(cl)
    seen: list[str] = []
    rows: list[dict] = []

    def snap(step: str) -> None:
        for records in reader.poll(timeout_ms=0).values():
            seen.extend(r.value.decode() for r in records)
        meta = coordinator.txns.get("app-0")
        row = {"step": step, "coordinator": str(getattr(meta, "state", "-")).split(".")[-1],
               "committed in-0": groups.committed("app", TopicPartition("in", 0)), "read_committed got": list(seen)}
        for tp in outs:
            part = cl.replica(cl.leader("out", tp.partition), "out", tp.partition)
            row[f"out-{tp.partition}"] = (part.log_end_offset, part.high_watermark, part.last_stable_offset)
        rows.append(row)

    batch: dict = {}
    for _ in range(20):
        batch = consumer.poll(timeout_ms=50)
        if batch:
            break
    records = [r for rs in batch.values() for r in rs]
    snap("polled 3 inputs")
    producer.begin_transaction()
    snap("begin_transaction()")
    for i, r in enumerate(records):
        producer.send("out", r.value.replace(b"in", b"out"), partition=i % 2).get()
        snap(f"send out-{i % 2} (for {r.value.decode()})")
    producer.send_offsets_to_transaction({TopicPartition("in", 0): OffsetAndMetadata(records[-1].offset + 1)},
                                         consumer.group_metadata())
    snap("send_offsets_to_transaction()")
    producer.commit_transaction()
    snap("commit_transaction() returns")
    # The markers are written asynchronously: wait until the coordinator has them all, and until the
    # reader's fetches (in flight meanwhile) came back with what the LSO now lets through.
    cl.sim.run_until(lambda: str(getattr(coordinator.txns.get("app-0"), "state", "")) == "CompleteCommit",
                     until=cl.sim.now + 1_000)
    for _ in range(20):
        if len(seen) >= len(records):
            break
        for polled in reader.poll(timeout_ms=20).values():
            seen.extend(r.value.decode() for r in polled)
    snap("markers written")
    return rows


def timeline_table(rows: list[dict]) -> str:
    """The timeline as text: one line per step."""
    head = f"{'step':<32}{'coordinator':<16}{'out-0 LEO/HW/LSO':<18}{'out-1 LEO/HW/LSO':<18}{'in-0 committed':<16}" \
           f"read_committed got"
    lines = [head, "-" * len(head)]
    for r in rows:
        o0, o1 = ("/".join(map(str, r[k])) for k in ("out-0", "out-1"))
        lines.append(f"{r['step']:<32}{r['coordinator']:<16}{o0:<18}{o1:<18}{str(r['committed in-0']):<16}"
                     f"{', '.join(r['read_committed got']) or '-'}")
    return "\n".join(lines)


@figure
def plot_timeline(rows: list[dict]):
    """LSO and HW of both output partitions and the group's committed input offset, step by step."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3.6))
    xs = range(len(rows))
    for p, color in ((0, "tab:blue"), (1, "tab:orange")):
        ax.plot(xs, [r[f"out-{p}"][1] for r in rows], color=color, lw=1, marker="o", label=f"out-{p} HW")
        ax.plot(xs, [r[f"out-{p}"][2] for r in rows], color=color, lw=2.5, ls="--", marker="s",
                label=f"out-{p} LSO")
    ax.plot(xs, [r["committed in-0"] if r["committed in-0"] is not None else 0 for r in rows], color="green", lw=2,
            marker="^", label="in-0 committed offset")
    for x, r in zip(xs, rows):
        ax.text(x, -0.55, r["coordinator"], rotation=0, ha="center", fontsize=7, color="purple")
    ax.set_xticks(list(xs))
    ax.set_xticklabels([r["step"] for r in rows], rotation=25, ha="right", fontsize=8)
    ax.set_xlim(-0.6, len(rows) - 0.4)     # room for the first and last state names, centred on their step
    ax.set_ylim(-0.8, max(3.5, max(r[f"out-{p}"][0] for r in rows for p in (0, 1)) + 0.5))
    ax.set_ylabel("offset")
    ax.set_title("one transaction across two partitions (purple: the coordinator's state)", fontsize=10)
    ax.legend(fontsize=7, ncol=5, loc="upper left")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ at-least-once vs exactly-once, over seeds
def guarantee_rows(seeds: range | list[int] = range(6), faults: int = 3) -> list[dict]:
    """The same seeded crash schedules against both loops: duplicates and losses in the committed output."""
    rows = []
    for s in seeds:
        events = random_events(s, 1_500.0, count=faults, kinds=("crash", "pause"))
        alo = run_eos(s, transactional=False, events=events)
        eos = run_eos(s, transactional=True, events=events)
        rows.append({"seed": s, "faults": "; ".join(e.describe() for e in events),
                     "alo_dup": alo.duplicates, "alo_lost": alo.lost, "eos_dup": eos.duplicates, "eos_lost": eos.lost,
                     "eos_aborted": len(eos.all_output) - len(eos.committed),
                     "fenced": sum("is fenced" in n for _, n in eos.notes)})
    return rows


def guarantee_table(rows: list[dict]) -> str:
    head = (f"{'seed':>4}  {'at-least-once dup/lost':>22}  {'exactly-once dup/lost':>21}  "
            f"{'aborted outputs':>15}  {'zombies fenced':>14}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['seed']:>4}  {r['alo_dup']:>15}/{r['alo_lost']:<6}  {r['eos_dup']:>14}/{r['eos_lost']:<6}  "
                     f"{r['eos_aborted']:>15}  {r['fenced']:>14}")
    return "\n".join(lines)


@figure
def plot_guarantees(rows: list[dict]):
    """Duplicates per seed: at-least-once against transactions."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 2.8))
    xs = [r["seed"] for r in rows]
    ax.bar([x - 0.2 for x in xs], [r["alo_dup"] for r in rows], width=0.4, color="#e6550d", label="at-least-once")
    ax.bar([x + 0.2 for x in xs], [r["eos_dup"] for r in rows], width=0.4, color="#31a354", label="transactions")
    ax.set_xlabel("seed (the same crashes and stalls for both)")
    ax.set_ylabel("duplicated outputs")
    ax.set_xticks(xs)
    ax.legend(fontsize=8)
    ax.set_title("duplicates among the committed output, 40 inputs per run", fontsize=10)
    fig.tight_layout()
    return fig


def crash_point_rows(seeds: range | list[int] = range(3)) -> list[dict]:
    """For each point of each loop: two crashes there (one per application), summed over ``seeds``."""
    rows = []
    for mode, points in KILL_POINTS.items():
        for point in points:
            dup = lost = 0
            for s in seeds:
                events = [EosEvent(300, "crash", 0, point), EosEvent(800, "crash", 1, point)]
                r = run_eos(s, transactional=(mode == "transactions"), events=events)
                dup += r.duplicates
                lost += r.lost
            rows.append({"loop": mode, "point": point, "duplicates": dup, "lost": lost, "runs": len(list(seeds))})
    return rows


def crash_point_table(rows: list[dict]) -> str:
    head = f"{'loop':<15}{'killed at':<17}{'runs':>5}{'duplicated inputs':>19}{'lost inputs':>13}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['loop']:<15}{r['point']:<17}{r['runs']:>5}{r['duplicates']:>19}{r['lost']:>13}")
    return "\n".join(lines)


# ------------------------------------------------------------------ the widget: kill the app somewhere
def kill_run(point: str = "commit", mode: str = "transactions", seed: int = 0) -> Any:
    """One application, 12 inputs, killed at ``point`` of its loop, then restarted (same transactional.id)."""
    return run_eos(seed, transactional=(mode == "transactions"), apps=1, records=12, duration_ms=600.0,
                   events=[EosEvent(150, "crash", 0, point)])


def kill_report(res: Any) -> str:
    """What happened, and what a read_committed reader (and a read_uncommitted one) received."""
    from collections import Counter

    committed = Counter(o.input_id for o in res.committed)
    everything = Counter(o.input_id for o in res.all_output)
    crash = [f"t={t:.0f} ms  {n}" for t, n in res.notes if "crash" in n or "starts" in n]
    lines = crash + [
        f"outputs in the log: {len(res.all_output)}; a read_committed reader gets {len(res.committed)}",
        f"inputs with 2+ outputs among what the reader gets: {sorted(i for i, n in committed.items() if n > 1) or 'none'}",
    ]
    if res.params.get("transactional"):
        lines.append(f"inputs with 2+ outputs in the log (aborted ones included): "
                     f"{sorted(i for i, n in everything.items() if n > 1) or 'none'}")
    lines.append(f"verdict: {res.check.summary()}")
    return "\n".join(lines)


@figure
def explore_kill(seed: int = 0):
    """Pick a loop and the step where the application is killed (-9): see the output partitions and
    what a read_committed reader receives, after the restarted application has finished."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    mode = widgets.ToggleButtons(options=list(KILL_POINTS), value="transactions", description="loop",
                                 style={"button_width": "auto"})
    point = widgets.Dropdown(options=KILL_POINTS["transactions"], value="commit", description="kill at")
    seed_w = widgets.IntSlider(value=seed, min=0, max=20, description="seed")
    out = widgets.Output()
    text = widgets.HTML()

    def show(_: Any = None) -> None:
        if point.value not in KILL_POINTS[mode.value]:
            point.options = KILL_POINTS[mode.value]
            return                                   # (setting the options calls show again)
        res = kill_run(point.value, mode.value, seed_w.value)
        with out:
            out.clear_output(wait=True)
            fig, axes = plt.subplots(2, 1, figsize=(12, 3.8))
            for p, ax in enumerate(axes):
                part = res.cluster.replica(res.cluster.leader("output", p), "output", p)
                draw_partition(ax, part, f"output-{p}")
            fig.tight_layout()
            plt.show()
        text.value = "<pre>" + kill_report(res) + "</pre>"

    def on_mode(_: Any) -> None:
        point.options = KILL_POINTS[mode.value]
        show()
    mode.observe(on_mode, names="value")
    point.observe(show, names="value")
    seed_w.observe(show, names="value")
    show()
    return widgets.VBox([widgets.HBox([mode, point, seed_w]), out, text])


# ------------------------------------------------------------------ the hanging transaction (KIP-890)
@figure
def plot_hanging(*results: Any):
    """One partition per :class:`msglib.txn.hanging.HangingResult`: its log at the end, the LSO and the
    HW, the late write of the aborted transaction outlined in red (or, refused, named in the title)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from msglib.txn.hanging import protocol_name

    fig, axes = plt.subplots(len(results), 1, figsize=(11, 2.4 * len(results)), squeeze=False)
    for ax, r in zip(axes[:, 0], results):
        verdict = "HANGING: read_committed stops at the LSO" if r.hanging else \
            ("aborted a2 read as committed" if r.aborted_visible else "no hanging transaction")
        draw_partition(ax, r.partition, f"{protocol_name(r.transaction_version, r.verification)}: late a2 "
                                        f"{r.late_write}. {verdict}")
        if r.late_offset is not None:
            start = partition_slots(r.partition)[0].offset
            ax.add_patch(Rectangle((r.late_offset - start - 0.04, -0.06), 1.0, 1.12, fill=False,
                                   edgecolor="red", lw=2.5))
            ax.text(r.late_offset - start + 0.46, -0.45, "late write", color="red", ha="center", fontsize=8)
    fig.tight_layout()
    return fig


def hanging_seed_rows(seeds: range | list[int] = range(8)) -> list[dict]:
    """Module 06's consume-transform-produce loop with crashes and a stuck produce request, per seed, with
    transaction version 1 and 2: hanging transactions, duplicated inputs, whether the checkers accept the run."""
    rows = []
    for s in seeds:
        row: dict = {"seed": s}
        for version in (1, 2):
            r = run_eos(s, events=random_events(s, 1_500.0, count=3, kinds=("crash", "stuck")),
                        transaction_version=version)
            row[f"v{version} hanging"] = len(r.hanging)
            row[f"v{version} duplicates"] = r.duplicates
            row[f"v{version} valid"] = r.valid
        rows.append(row)
    return rows


def hanging_seed_table(rows: list[dict]) -> str:
    head = f"{'seed':>4}  {'v1 hanging':>10} {'v1 dup':>6} {'v1 ok':>5}   {'v2 hanging':>10} {'v2 dup':>6} {'v2 ok':>5}"
    lines = [head]
    for r in rows:
        lines.append(f"{r['seed']:>4}  {r['v1 hanging']:>10} {r['v1 duplicates']:>6} {str(r['v1 valid']):>5}   "
                     f"{r['v2 hanging']:>10} {r['v2 duplicates']:>6} {str(r['v2 valid']):>5}")
    bad1 = sum(not r["v1 valid"] for r in rows)
    bad2 = sum(not r["v2 valid"] for r in rows)
    lines.append(f"runs the checkers reject: v1 {bad1} of {len(rows)}, v2 {bad2} of {len(rows)}")
    return "\n".join(lines)


# ------------------------------------------------------------------ a real client on your own log (optional)
@contextmanager
def serve_subprocess(timeout_s: float = 20.0) -> Iterator[str | None]:
    """``python -m msglib serve`` in a subprocess on 127.0.0.1, on a free port, with a temporary data folder.
    Yields its address (``"127.0.0.1:<port>"``); stops it and removes the folder on the way out. While a grader
    runs the notebook it starts nothing and yields None (the optional real-client cell is skipped then)."""
    import shutil
    import socket
    import subprocess
    import sys
    import tempfile
    import time

    from msglib.figures import grading_run

    if grading_run():
        yield None
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tempfile.mkdtemp(prefix="msglib-serve-")
    server = subprocess.Popen([sys.executable, "-m", "msglib", "serve", "--host", "127.0.0.1", "--port", str(port),
                               "--data", data], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if server.poll() is not None:
                    raise RuntimeError(f"msglib serve exited with code {server.returncode}: "
                                       f"{server.stderr.read()[-500:]}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"msglib serve did not accept connections on 127.0.0.1:{port} within "
                                       f"{timeout_s:g} s") from None
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        if server.stderr is not None:
            server.stderr.close()
        shutil.rmtree(data, ignore_errors=True)
