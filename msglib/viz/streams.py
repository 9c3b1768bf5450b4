"""Pictures and widgets for module 12 (stream processing)."""
from __future__ import annotations

from typing import Any

from msglib.streams.app import Crash, make_inputs, run_streams
from msglib.streams.driver import TestDriver
from msglib.streams.topology import StreamsBuilder
from msglib.streams.windows import TimeWindows
from msglib.viz import figure


def window_story(records: list[tuple], size_ms: int, grace_ms: int, advance_ms: int | None = None) -> dict:
    """Run a windowed count (emit final) on ``records`` [(key, value, ts)] in one partition: what the
    timeline shows (each record with its stream time and fate, each window's final count)."""
    b = StreamsBuilder("timeline")
    (b.stream("in").group_by_key().windowed_by(TimeWindows(size_ms, grace_ms=grace_ms, advance_ms=advance_ms))
     .count(emit="final").to_stream().to("out"))
    driver = TestDriver(b.build())
    rows = []
    for i, (k, v, ts) in enumerate(records):
        before = driver.dropped
        driver.pipe("in", k, v, ts, partition=0)
        task = next(iter(driver.tasks.values()))
        rows.append({"i": i, "key": k, "ts": ts, "stream_time": task.stream_time,
                     "late": driver.dropped > before})
    return {"rows": rows, "finals": [tuple(o) for o in driver.read_output("out")], "size": size_ms,
            "grace": grace_ms}


@figure
def plot_window_timeline(story: dict):
    """Records by arrival (y) and event time (x); late ones as red crosses; each final window as a bar."""
    import matplotlib.pyplot as plt

    rows = story["rows"]
    fig, ax = plt.subplots(figsize=(11, 3.6))
    for r in rows:
        ax.plot(r["ts"], r["i"], "x" if r["late"] else "o", color="#c0392b" if r["late"] else "#2c7fb8")
        ax.plot(r["stream_time"], r["i"], "|", color="#777777")
    for (key, start, end), count, _ in story["finals"]:
        ax.axvspan(start, end, ymin=0, ymax=0.04, color="#7fc97f", alpha=0.6)
        ax.text((start + end) / 2, -1.2, f"{key}: {count}", ha="center", fontsize=8)
        ax.axvline(end + story["grace"], color="#fdc086", lw=0.8, ls="--")
    ax.set_xlabel("event time (ms): o processed, x late (dropped); | stream time; dashed: end + grace")
    ax.set_ylabel("arrival order")
    ax.invert_yaxis()
    ax.set_title(f"windows of {story['size']} ms, grace {story['grace']} ms: final counts below the axis")
    fig.tight_layout()
    return fig


def balances_topology() -> Any:
    b = StreamsBuilder("balances")
    b.stream("events").group_by_key().count(store="counts").to_stream().to("counts-out")
    return b.build()


def restore_rows(seeds: range | list[int] = range(3)) -> list[dict]:
    """An instance crashes; its tasks move: changelog records read to restore, without and with standbys."""
    rows = []
    for s in seeds:
        for standbys in (False, True):
            res = run_streams(balances_topology(), {"events": make_inputs(s, records=90)}, outputs=["counts-out"],
                              seed=s, crashes=[Crash(450, 0, "process")], standbys=standbys)
            rows.append({"seed": s, "standbys": standbys, "restored": res.restored_records,
                         "changelog": res.changelog_sends, "valid": res.check.valid})
    return rows


@figure
def plot_restore(rows: list[dict]):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3))
    labels = [f"seed {r['seed']}\n{'standby' if r['standbys'] else 'no standby'}" for r in rows]
    ax.bar(range(len(rows)), [r["restored"] for r in rows],
           color=["#7fc97f" if r["standbys"] else "#9ecae1" for r in rows])
    ax.set_xticks(range(len(rows)), labels, fontsize=8)
    ax.set_ylabel("changelog records read\nto rebuild stores")
    ax.set_title("after a crash the new owner replays the changelog; a standby has most of it already")
    fig.tight_layout()
    return fig


# The moments of the loop where the widget kills an instance, as each guarantee's loop names them.
CRASH_MOMENTS = {
    "mid-window (after a record)": {"at_least_once": "process", "exactly_once_v2": "process"},
    "while sending the changelog": {"at_least_once": "changelog", "exactly_once_v2": "changelog"},
    "changelog sent, offsets not committed": {"at_least_once": "consumer_commit", "exactly_once_v2": "send_offsets"},
}


def crash_topology() -> Any:
    b = StreamsBuilder("windowed")
    (b.stream("events").group_by_key().windowed_by(TimeWindows(2_000, grace_ms=1_000))
     .count(emit="update").to_stream().to("counts"))
    return b.build()


def crash_run(point: str = "process", guarantee: str = "exactly_once_v2", seed: int = 0, at_ms: float = 250):
    """A windowed count (2 s windows, 1 s grace, every update written) with one instance killed at ``point``."""
    return run_streams(crash_topology(), {"events": make_inputs(seed)}, outputs=["counts"], seed=seed,
                       crashes=[Crash(at_ms, 0, point)], guarantee=guarantee)


def _window(key: Any) -> str:
    k, start, end = key
    return f"{k} [{start / 1000:g} s, {end / 1000:g} s)"


def crash_report(res: Any, keys: int = 6) -> str:
    """What the crash did: the store the new owner restored, and each window's committed counts beside the
    reference's."""
    lines = [res.summary(), ""]
    crashed = [(t, n) for t, n in res.notes if "crashes at" in n]
    lines += [f"{t:7.0f} ms  {n}" for t, n in crashed]
    after = [r for r in res.restores if crashed and r.time >= crashed[0][0]]
    for r in after[:2]:
        store = next(iter(r.stores.values()), {})
        shown = ", ".join(f"{k[0]}@{k[1] / 1000:g}s={v}" for k, v in sorted(store.items())[:6])
        lines.append(f"{r.time:7.0f} ms  {r.instance} restores task {r.task}"
                     f"{' from its standby' if r.from_standby else ' from the changelog'}: {{{shown}"
                     f"{', ...' if len(store) > 6 else ''}}}, stream time {r.stream_time}")
    lines += ["", "window: reference counts | committed counts"]
    want: dict = {}
    got: dict = {}
    for k, v, _ in res.expected["counts"]:
        want.setdefault(k, []).append(v)
    for k, v, _ in res.output["counts"]:
        got.setdefault(k, []).append(v)
    differ = [k for k in want if want[k] != got.get(k)]
    for k in (differ or list(want))[:keys]:
        mark = "  <- differs" if k in differ else ""
        lines.append(f"  {_window(k):<22} {want[k]} | {got.get(k, [])}{mark}")
    return "\n".join(lines)


@figure
def explore_crash(seed: int = 0):
    """Kill an instance at a chosen moment (in the middle of a window, or inside its commit): the store its
    tasks' new owner restores, and each window's committed counts against the reference, at-least-once and
    exactly-once side by side (the same seed, the same crash)."""
    import ipywidgets as widgets

    moment = widgets.Dropdown(options=list(CRASH_MOMENTS), value="changelog sent, offsets not committed",
                              description="kill", layout=widgets.Layout(width="420px"))
    when = widgets.IntSlider(value=250, min=50, max=450, step=50, description="at ms")
    seed_w = widgets.IntSlider(value=seed, min=0, max=10, description="seed")
    columns = {g: widgets.HTML() for g in ("at_least_once", "exactly_once_v2")}

    def show(_: Any = None) -> None:
        for guarantee, html in columns.items():
            res = crash_run(CRASH_MOMENTS[moment.value][guarantee], guarantee, seed_w.value, when.value)
            html.value = f"<b>{guarantee}</b><pre>{crash_report(res)}</pre>"
    for w in (moment, when, seed_w):
        w.observe(show, names="value")
    show()
    return widgets.VBox([widgets.HBox([moment, when, seed_w]), widgets.HBox(list(columns.values()))])
