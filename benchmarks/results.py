"""Shared helper for benchmark scripts: record figures into benchmarks/results.json.

Each benchmark script calls ``record(name, value, unit, baseline=..., target=...)``
for every figure it measures. Figures measured against a baseline in the same
run carry the ratio, so a reader never compares numbers from different runs.
"""
from __future__ import annotations

import gc
import json
import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("results.json")


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        # how busy the machine was when the figure was taken: wall-clock figures stretch with it
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def best_cpu_seconds(repeat: int, fn) -> float:
    """The fewest CPU seconds of this process ``fn()`` took over ``repeat`` runs.

    CPU time, not wall time: on a shared machine a busy neighbour stretches the
    wall clock but not the work this process did. Never 0 (figures divide by it).
    """
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return max(best, 1e-9)


def record(name: str, value: float, unit: str, *, baseline: float | None = None,
           baseline_name: str | None = None, target: str | None = None,
           higher_is_better: bool = True, command: str | None = None) -> dict:
    """Print one figure and merge it into results.json (keyed by ``name``)."""
    entry: dict = {"value": round(value, 4), "unit": unit}
    if baseline is not None:
        entry["baseline"] = round(baseline, 4)
        entry["baseline_name"] = baseline_name
        entry["ratio"] = round(value / baseline, 4) if baseline else None
    if target is not None:
        entry["target"] = target
    entry["higher_is_better"] = higher_is_better
    entry["command"] = command
    entry["machine"] = machine()
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[name] = entry
    RESULTS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    ratio = f"  ratio {entry['ratio']}" if baseline is not None else ""
    tgt = f"  (target {target})" if target else ""
    print(f"{name:<55} {value:>14,.2f} {unit}{ratio}{tgt}")
    return entry
