"""Pictures and widgets for module 02 (the log)."""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any, Sequence

from msglib.log import Log, LogConfig, Record, RecordBatch
from msglib.log.records import HEADER_SIZE
from msglib.log.varint import decode_varint
from msglib.viz import figure

# Figures measured by `python -m benchmarks.bench_log` when the notebook was written (2 cores, shared machine),
# shown when benchmarks/results.json is absent (a fresh clone). Run the benchmark to see your own machine's.
AUTHORING_FIGURES = {
    "log.append_preencoded_disk": (0.85, "x plain buffered writes", 0.5),
    "log.encode_append": (0.93e6, "records/CPU-s", 0.5e6),
    "log.read_decode": (0.58e6, "records/CPU-s", 0.5e6),
    "log.memory_ratio": (1.04, "x encoded size", 2.0),
}


# ------------------------------------------------------------------ a directory, a batch
def describe_file(name: str) -> str:
    if name.endswith(".log"):
        return f"segment: batches from offset {int(name[:20])} on"
    if name.endswith(".timeindex"):
        return "time index: (timestamp, offset) entries, 12 bytes each"
    if name.endswith(".index"):
        return "offset index: (offset, position) entries, 8 bytes each"
    if name == "leader-epoch-checkpoint":
        return "leader epoch -> first offset (for replication)"
    if name.endswith("checkpoint"):
        return "a number the log remembers across restarts"
    if name == ".clean-shutdown":
        return "written by close(): the log was shut down cleanly"
    return ""


def directory_listing(path: str) -> str:
    """``ls -l`` of a partition directory, with what each file is."""
    rows = [f"{os.path.basename(os.path.abspath(path))}/"]
    for name in sorted(os.listdir(path)):
        size = os.path.getsize(os.path.join(path, name))
        rows.append(f"  {name:<34} {size:>8} bytes   {describe_file(name)}")
    return "\n".join(rows)


_FIELDS = [  # (name, struct format, meaning)
    ("base_offset", ">q", "first offset in the batch (set by the leader)"),
    ("batch_length", ">i", "bytes after this field"),
    ("partition_leader_epoch", ">i", "epoch of the leader that appended it"),
    ("magic", ">b", "format version: 2"),
    ("crc", ">I", "CRC-32C of everything after this field"),
    ("attributes", ">h", "compression, timestamp type, transactional, control"),
    ("last_offset_delta", ">i", "last offset - base offset"),
    ("base_timestamp", ">q", "first record's timestamp (ms)"),
    ("max_timestamp", ">q", "largest timestamp in the batch"),
    ("producer_id", ">q", "-1: not an idempotent producer"),
    ("producer_epoch", ">h", ""),
    ("base_sequence", ">i", "-1: no sequence numbers"),
    ("record_count", ">i", ""),
]


def hexdump_batch(data: bytes, max_records: int = 3) -> str:
    """The bytes of one batch, each header field labelled, then its first records field by field."""
    lines = [f"{'bytes':>9}  {'hex':<24} {'field':<23} {'value':<22} meaning"]
    pos = 0
    for name, fmt, meaning in _FIELDS:
        size = struct.calcsize(fmt)
        (value,) = struct.unpack_from(fmt, data, pos)
        shown = f"{value:#010x}" if name == "crc" else str(value)
        lines.append(f"{pos:>4}-{pos + size - 1:<4}  {data[pos:pos + size].hex(' '):<24} {name:<23} {shown:<22} "
                     f"{meaning}")
        pos += size
    (count,) = struct.unpack_from(">i", data, HEADER_SIZE - 4)
    if struct.unpack_from(">h", data, 21)[0] & 0x07:
        lines.append(f"{pos:>4}-...   (compressed records)")
        return "\n".join(lines)
    for i in range(min(count, max_records)):
        lines.append(f"  record #{i}:")
        start = pos
        last_length = -1
        for name in ("length", "attributes", "timestamp_delta", "offset_delta", "key_length", "key",
                     "value_length", "value", "header_count"):
            if name == "attributes":
                value, end = data[pos], pos + 1
            elif name in ("key", "value"):
                length = last_length
                end = pos + max(length, 0)
                value = bytes(data[pos:end]) if length >= 0 else None
            else:
                value, end = decode_varint(data, pos)
                if name in ("key_length", "value_length"):
                    last_length = value
            raw = data[pos:end].hex(" ")
            if len(raw) > 23:
                raw = raw[:20] + "..."
            lines.append(f"{pos:>4}-{max(end - 1, pos):<4}  {raw:<24} {name:<23} {str(value)[:22]:<22}")
            pos = end
            if name == "header_count" and value:
                lines.append("        (headers...)")
                break
        pos = start + decode_varint(data, start)[0] + (decode_varint(data, start)[1] - start)
    if count > max_records:
        lines.append(f"  ... {count - max_records} more records")
    return "\n".join(lines)


# ------------------------------------------------------------------ segments and the index
@figure
def plot_segments(log: Log, ax=None, title: str | None = None):
    """Each segment as a bar over its offsets; ticks mark its index entries; log start and end marked."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 1.9))
    else:
        fig = ax.figure
    colors = plt.get_cmap("tab10")
    start, leo = log.log_start_offset, log.log_end_offset
    span = max(leo - start, 1)
    for i, seg in enumerate(log.segments):
        end = log.next_offset_of(seg)
        width = max(end - seg.base_offset, 0.4)
        ax.barh(0, width, left=seg.base_offset, height=0.6, color=colors(i % 10), alpha=0.55,
                edgecolor="k", linewidth=0.6)
        share = width / span           # narrow segments get a shorter label, the narrowest none
        if share >= 0.07:
            ax.text(seg.base_offset + width / 2, 0, f"{seg.name[-6:]}\n{seg.size} B", ha="center", va="center",
                    fontsize=7)
        elif share >= 0.03:
            ax.text(seg.base_offset + width / 2, 0, seg.name[-6:].lstrip("0") or "0", ha="center", va="center",
                    fontsize=6, rotation=90)
        for off, _ in seg.offset_index:
            ax.plot([off + 0.5, off + 0.5], [0.3, 0.42], color="k", lw=1)
    ax.axvline(start, color="tab:green", ls="--", lw=1)
    ax.axvline(leo, color="tab:red", ls="--", lw=1)
    # "log start" to the right of its line, "LEO" to the left of its own, one row higher when they are close
    ax.text(start, 0.5, " log start", color="tab:green", fontsize=8, va="bottom", ha="left")
    close = leo - start < 0.25 * span or leo == start
    ax.text(leo, 0.64 if close else 0.5, "LEO " if not close else " LEO", color="tab:red", fontsize=8,
            va="bottom", ha="right" if not close else "left")
    if leo == start:
        ax.set_xlim(start - 0.5, start + 1.5)
        ax.set_xticks([start, start + 1])
    ax.set_ylim(-0.5, 0.85)
    ax.set_yticks([])
    ax.set_xlabel("offset (ticks above a segment: its sparse index entries)")
    count = len(log.segments)
    ax.set_title(title or f"{count} segment{'' if count == 1 else 's'}, offsets {start}..{leo}"
                 + (" (empty)" if leo == start else ""),
                 fontsize=10)
    fig.tight_layout()
    return fig


@figure
def plot_index_lookup(log: Log, target: int, ax=None):
    """How a read finds ``target``: the floor index entry, then a scan of batch headers."""
    import matplotlib.pyplot as plt

    i = max(0, log.segment_chooser(log.base_offsets, target))
    seg = log.segments[i]
    start = log.index_lookup(seg.offset_index, target)
    found = seg.find(target)
    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 2.4))
    else:
        fig = ax.figure
    for pos, h in seg.batch_headers():
        hit = found is not None and pos == found[0]
        scanned = start <= pos <= (found[0] if found else seg.size)
        ax.barh(0, h.size, left=pos, height=0.5, edgecolor="k", linewidth=0.5,
                color="tab:orange" if hit else ("tab:blue" if scanned else "lightgrey"), alpha=0.8)
        if h.size > seg.size / 40:
            ax.text(pos + h.size / 2, 0, f"{h.base_offset}-{h.last_offset}", ha="center", va="center", fontsize=6)
    for off, pos in seg.offset_index:
        chosen = pos == start
        ax.annotate(str(off), (pos, 0.27), xytext=(pos, 0.75), ha="center", fontsize=7,
                    color="tab:red" if chosen else "k",
                    arrowprops=dict(arrowstyle="->", color="tab:red" if chosen else "grey"))
    ax.set_ylim(-0.5, 1.0)
    ax.set_yticks([])
    ax.set_xlabel(f"byte position in {seg.file_name}")
    ax.set_title(f"read offset {target}: index entry -> position {start} (red), scan headers (blue) "
                 f"to the batch holding it (orange)", fontsize=9)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ compaction
@figure
def plot_compaction(before: Sequence[Record], after: Sequence[Record], ax=None):
    """Records as boxes by offset, coloured by key; tombstones hatched; before above, after below."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 2.2))
    else:
        fig = ax.figure
    keys = sorted({r.key for r in before if r.key is not None})
    colors = plt.get_cmap("tab10")
    for row, records in ((1, before), (0, after)):
        for r in records:
            color = colors(keys.index(r.key) % 10) if r.key in keys else "grey"
            ax.add_patch(plt.Rectangle((r.offset, row), 0.9, 0.7, color=color, alpha=0.7,
                                       hatch="//" if r.value is None else None, ec="k", lw=0.5))
            ax.text(r.offset + 0.45, row + 0.35, (r.key or b"").decode(errors="replace")[:3], ha="center",
                    va="center", fontsize=7)
    end = max([r.offset for r in before] + [0]) + 1
    ax.set_xlim(min([r.offset for r in before] + [0]) - 0.2, end + 0.2)
    ax.set_ylim(-0.2, 1.9)
    ax.set_yticks([0.35, 1.35], ["after", "before"])
    ax.set_xlabel("offset (hatched: tombstone)")
    ax.set_title(f"compaction: {len(before)} records -> {len(after)}; offsets never change", fontsize=10)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ the widget
@figure
def segment_widget(value_size: int = 40):
    """Append records and watch segments roll and index entries appear."""
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import display

    seg_bytes = w.IntSlider(value=600, min=200, max=3000, step=100, description="segment.bytes", style={"description_width": "initial"})
    interval = w.IntSlider(value=150, min=0, max=1000, step=50, description="index.interval", style={"description_width": "initial"})
    per_batch = w.IntSlider(value=1, min=1, max=10, description="records/batch", style={"description_width": "initial"})
    add = w.Button(description="append a batch", layout={"width": "auto"})
    add10 = w.Button(description="append 10 batches", layout={"width": "auto"})
    reset = w.Button(description="reset", layout={"width": "auto"})
    out = w.Output()
    state: dict[str, Any] = {}

    def new_log(*_: Any) -> None:
        state["log"] = Log(config=LogConfig(segment_bytes=seg_bytes.value, index_interval_bytes=interval.value),
                           clock=lambda: 0)
        draw()

    def append(n: int) -> None:
        log = state["log"]
        for _ in range(n):
            base = log.log_end_offset
            log.append([Record(b"k%d" % (o % 5), b"v" * value_size, o) for o in range(base, base + per_batch.value)])
        draw()

    def draw() -> None:
        log = state["log"]
        with out:
            out.clear_output(wait=True)
            fig = plot_segments(log)
            plt.show()
            plt.close(fig)
            for seg in log.segments:
                print(f"{seg.file_name}: {seg.size:>5} bytes, index {seg.offset_index.entries()}")

    add.on_click(lambda _: append(1))
    add10.on_click(lambda _: append(10))
    reset.on_click(new_log)
    for s in (seg_bytes, interval):
        s.observe(new_log, names="value")
    new_log()
    box = w.VBox([w.HBox([seg_bytes, interval, per_batch]), w.HBox([add, add10, reset]), out])
    display(box)
    return box


# ------------------------------------------------------------------ benchmark figures
def benchmark_figures(path: str | None = None) -> tuple[dict[str, tuple[float, str, float]], str]:
    """(figures, where they came from): benchmarks/results.json if present, else the authoring run."""
    p = Path(path) if path else Path(__file__).resolve().parents[2] / "benchmarks" / "results.json"
    if p.exists():
        data = json.loads(p.read_text())
        figs = {}
        for name, (_, unit, target) in AUTHORING_FIGURES.items():
            if name in data:
                entry = data[name]
                value = entry.get("ratio") if name == "log.append_preencoded_disk" else entry["value"]
                if value is not None:
                    figs[name] = (value, unit, target)
        if len(figs) == len(AUTHORING_FIGURES):
            return figs, "benchmarks/results.json" if path is None else str(p)
    return dict(AUTHORING_FIGURES), "figures measured when the notebook was written"


@figure
def plot_benchmarks(path: str | None = None, ax=None):
    """Each figure as a fraction of its target (>= 1 is good; memory is inverted: target / value)."""
    import matplotlib.pyplot as plt

    figs, source = benchmark_figures(path)
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 2.4))
    else:
        fig = ax.figure
    names, scores, labels = [], [], []
    for name, (value, unit, target) in figs.items():
        score = target / value if name == "log.memory_ratio" else value / target
        names.append(name.replace("log.", ""))
        scores.append(score)
        labels.append(f"{value:,.2f} {unit}" if value < 100 else f"{value / 1e3:,.0f}k {unit}")
    ax.barh(names, scores, color=["tab:green" if s >= 1 else "tab:red" for s in scores])
    ax.axvline(1, color="k", lw=1)
    for y, (s, label) in enumerate(zip(scores, labels)):
        ax.text(s, y, " " + label, va="center", fontsize=8)
    ax.set_xlim(0, max(scores) * 1.6)
    ax.set_xlabel("figure / target (1 = meets the target)")
    ax.set_title(f"msglib.log performance ({source})", fontsize=9)
    fig.tight_layout()
    return fig


def example_batch() -> bytes:
    """A small batch to hexdump: two records, one with a header."""
    return RecordBatch([Record(b"user-1", b"signed up", 1_700_000_000_000),
                        Record(b"user-2", b"paid", 1_700_000_000_250, (("trace", b"7f"),))],
                       base_offset=42, partition_leader_epoch=3).encode()
