"""What a learner waits for: Run All per module (the student release and the solutions) and `make check`.

    .venv/bin/python -m benchmarks.bench_notebooks                  # every module
    .venv/bin/python -m benchmarks.bench_notebooks 00_why_messaging # some modules

Run All is measured as JupyterLab runs it: a fresh kernel (its start included), every cell in order, pictures
drawn, errors kept (the release's unanswered exercises fail their tests and Run All goes on). `make check` is
`python -m msglib check notebooks/<module>` in a fresh process, as the learner runs it (imports, kernel start,
the run in grading mode, the report). Wall-clock seconds, one run each, on a copy of the module folder;
on a shared machine they vary by a few seconds. Target: every Run All under 20 s on 2 cores.

Beside each wall-clock figure the script gives the CPU seconds behind it (user + system of this process and
of the kernel or ``msglib check`` process it started, which a busy neighbour does not stretch) and the
machine's 1-minute load average at the start and end of the module's runs, so a slow figure can be read as
work or as waiting.
"""
from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from benchmarks.results import record
from msglib.grading.notebooks import QUIET_KERNEL, run_cells

ROOT = Path(__file__).resolve().parents[1]


def _cpu() -> float:
    """CPU seconds so far of this process and of its finished children (kernels, ``msglib check``)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_all_seconds(folder: Path) -> float:
    """Wall seconds of a fresh-kernel Run All of the module's notebook(s), in a temporary copy."""
    with tempfile.TemporaryDirectory(prefix="msglib-bench-") as tmp:
        work = Path(tmp) / folder.name
        shutil.copytree(folder, work)
        total = 0.0
        for path in sorted(work.glob("*.ipynb")):
            nb = nbformat.read(str(path), as_version=4)
            # a cell that waits a whole minute is interrupted (and named below), so one stall cannot stop
            # the benchmark; its minute is in the figure
            client = NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True, interrupt_on_timeout=True,
                                    resources={"metadata": {"path": str(work)}}, extra_arguments=QUIET_KERNEL)
            start = time.perf_counter()
            run_cells(client)
            total += time.perf_counter() - start
            for i, cell in enumerate(nb.cells):
                if any(o.get("ename") == "KeyboardInterrupt" for o in cell.get("outputs", [])):
                    print(f"  note: {folder.parent.name}/{folder.name} cell {i} ran 60 s and was interrupted")
    return total


def check_seconds(module: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "msglib", "check", f"notebooks/{module}"], cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    modules = argv or sorted(p.name for p in (ROOT / "notebooks").iterdir() if any(p.glob("*.ipynb")))
    rows = []
    for m in modules:
        load_start, cpu = os.getloadavg()[0], []
        for run in (lambda: run_all_seconds(ROOT / "notebooks" / m), lambda: run_all_seconds(ROOT / "solutions" / m),
                    lambda: check_seconds(m)):
            before = _cpu()
            cpu.append((run(), _cpu() - before))
        (release, release_cpu), (solutions, solutions_cpu), (check, check_cpu) = cpu
        rows.append((m, release, solutions, check, release_cpu, solutions_cpu, check_cpu,
                     load_start, os.getloadavg()[0]))
        print(f"  {m}: CPU-s release {release_cpu:.1f}, solutions {solutions_cpu:.1f}, check {check_cpu:.1f}; "
              f"load average {load_start:.1f} -> {os.getloadavg()[0]:.1f}", flush=True)
        for kind, value in (("release", release), ("solutions", solutions)):
            record(f"notebooks.run_all.{kind}.{m}", value, "s", higher_is_better=False, target="< 20 s",
                   command="python -m benchmarks.bench_notebooks")
        record(f"notebooks.make_check.{m}", check, "s", higher_is_better=False,
               command="python -m benchmarks.bench_notebooks")
        for kind, value in (("release", release_cpu), ("solutions", solutions_cpu), ("make_check", check_cpu)):
            record(f"notebooks.cpu_s.{kind}.{m}", value, "CPU-s", higher_is_better=False,
                   command="python -m benchmarks.bench_notebooks")
    print("\n| module | Run All, release | Run All, solutions | `make check` | CPU-s (release / solutions / check) "
          "| load average (1 min), start → end |")
    print("|---|---|---|---|---|---|")
    for m, release, solutions, check, rc, sc, cc, l0, l1 in rows:
        print(f"| `{m}` | {release:.1f} s | {solutions:.1f} s | {check:.1f} s | {rc:.1f} / {sc:.1f} / {cc:.1f} "
              f"| {l0:.1f} → {l1:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
