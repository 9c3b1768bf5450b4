"""Benchmark for the instructor's grading: submissions of module 02 graded per minute, and sandbox start-up.

    .venv/bin/python -m benchmarks.bench_grading              # 6 submissions, three ways (several minutes)
    .venv/bin/python -m benchmarks.bench_grading --quick      # 1 submission: proves the script runs, records nothing

Figures (each recorded in benchmarks/results.json), the same submissions in the same run, each way in a fresh
copy of the course:

* ``grading.nbgrader_autograde``  submissions per minute of wall clock, plain ``nbgrader autograde 02_the_log``
  (one process for the batch, no sandbox, no re-run): the baseline.
* ``grading.msglib_j1``           ``python -m msglib grade 02_the_log -j 1``: sandboxed, independent re-run
  included, feedback and exports included.
* ``grading.msglib_j2``           the same with ``-j 2``.
* ``grading.*_cpu_s``             CPU seconds of every process of that run per submission: the work, which a
  busy neighbour on a shared machine does not stretch. Counted by a cpuacct cgroup the run is started in
  (root, cgroup v1 or v2): every process of the run, the sandboxed kernels and re-runs included.
  ``getrusage(RUSAGE_CHILDREN)`` misses those (a sandbox's processes are reaped inside its PID namespace,
  or die with it): it counted 14 CPU-s of a run the cgroup counted 46 for. Without a cgroup the figure is
  rusage's, and the unit says so.
* ``grading.sandbox_start_s``     wall seconds to start a sandbox and run ``/bin/true`` in it (median of 20).
* ``grading.sandbox_kernel_extra_s``  how much longer a Jupyter kernel takes to be ready inside the sandbox
  than outside it (median of 5 each, same run).
* ``grading.load_average``        the machine's 1-minute load average, mean of its value before and after
  each of the three runs: on a shared machine the wall-clock figures shrink as it grows, the CPU
  seconds much less.

The submissions: the release with the reference answers (every test passes, so every re-run runs), and one
blank release.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from benchmarks import results
from msglib.grading.sandbox import Cgroup

ROOT = Path(__file__).resolve().parents[1]
MODULE = "02_the_log"
COMMAND = "python -m benchmarks.bench_grading"


def make_course(base: Path, submissions: int) -> Path:
    """A course folder with ``submissions`` submissions of module 02 (all but one solved, one blank)."""
    course = base / "course"
    course.mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", course)
    for folder in ("solutions", "notebooks"):
        shutil.copytree(ROOT / folder / MODULE, course / folder / MODULE)
    source = nbformat.read(str(ROOT / "solutions" / MODULE / f"{MODULE}.ipynb"), as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    for i in range(submissions):
        nb = nbformat.read(str(ROOT / "notebooks" / MODULE / f"{MODULE}.ipynb"), as_version=4)
        if i < submissions - 1 or submissions == 1:
            for cell in nb.cells:
                gid = cell.metadata.get("nbgrader", {}).get("grade_id")
                if gid in answers:
                    cell.source = answers[gid]
        folder = course / "submitted" / f"student{i:02d}" / MODULE
        folder.mkdir(parents=True)
        nbformat.write(nb, str(folder / f"{MODULE}.ipynb"))
    return course


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("MSGLIB_CELL_TIMEOUT", "120")
    env.setdefault("PYTHONWARNINGS", "ignore")
    return env


class CpuGroup(Cgroup):
    """A cgroup whose CPU counter covers every process started in it (sandboxed ones too).

    The sandbox's :class:`~msglib.grading.sandbox.Cgroup` with a CPU counter instead of caps: it finds
    the process's own cgroup and removes the folder the same way."""

    def __init__(self, folder: Path, counter: str) -> None:
        super().__init__([folder])
        self.folder, self.counter = folder, counter

    @classmethod
    def create(cls, name: str) -> "CpuGroup | None":  # type: ignore[override]
        if os.geteuid() != 0:
            return None
        v1 = Path("/sys/fs/cgroup/cpuacct")
        try:
            if (v1 / "cpuacct.usage").exists():
                folder = v1 / name
                folder.mkdir()
                return cls(folder, "cpuacct.usage")
            unified = Path("/sys/fs/cgroup")
            if (unified / "cgroup.controllers").exists():
                folder = unified / (cls._own("") or "/").lstrip("/") / name
                folder.mkdir()
                return cls(folder, "cpu.stat")
        except OSError:
            return None
        return None

    def join(self) -> None:
        """Move the calling process in (from a child's ``preexec_fn``, before it execs the command); where
        that fails the counter stays at 0 and :func:`timed` falls back to rusage."""
        try:
            (self.folder / "cgroup.procs").write_text(str(os.getpid()))
        except OSError:
            pass

    def seconds(self) -> float:
        text = (self.folder / self.counter).read_text()
        if self.counter == "cpuacct.usage":
            return int(text) / 1e9
        usage = dict(line.split() for line in text.splitlines())
        return int(usage["usage_usec"]) / 1e6


CPU_UNIT = {True: "CPU-s/submission (cgroup: every process of the run, sandboxed ones included)",
            False: "CPU-s/submission (getrusage of reaped children: misses sandboxed processes)"}
CGROUP_USED: list[bool] = []


def timed(cmd: list[str], cwd: Path) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the command and every process it started, returncode)."""
    group = CpuGroup.create(f"msglib-bench-grading-{os.getpid()}-{time.monotonic_ns()}")
    CGROUP_USED.append(group is not None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              preexec_fn=group.join if group is not None else None)
        wall = time.monotonic() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        counted = group.seconds() if group is not None else 0.0
        CGROUP_USED[-1] = counted > 0
        cpu = counted or cpu
    finally:
        if group is not None:
            group.remove()
    return wall, cpu, proc.returncode


def batch_runs(submissions: int) -> dict[str, tuple[float, float, int]]:
    from msglib.grading.pipeline import generate_assignment

    out = {}
    ways = {
        "nbgrader_autograde": [sys.executable, "-m", "nbgrader", "autograde", MODULE, "--force"],
        "msglib_j1": [sys.executable, "-m", "msglib", "grade", MODULE, "-j", "1"],
        "msglib_j2": [sys.executable, "-m", "msglib", "grade", MODULE, "-j", "2"],
    }
    for name, cmd in ways.items():
        with tempfile.TemporaryDirectory(prefix="msglib-bench-grading-") as tmp:
            course = make_course(Path(tmp), submissions)
            os.environ["PATH"] = _env()["PATH"]
            ok, log = generate_assignment(course, MODULE)   # the gradebook knows the assignment (both ways)
            if not ok:
                raise SystemExit(f"generate_assignment failed: {log[-2000:]}")
            load = os.getloadavg()[0]
            wall, cpu, rc = timed(cmd, course)
            load = (load + os.getloadavg()[0]) / 2
            out[name] = (wall, cpu, rc)
            LOADS.append(load)
            how = "cgroup" if CGROUP_USED[-1] else "rusage"
            print(f"  {name:<20} {submissions} submissions: {wall:6.1f} s wall, {cpu:6.1f} CPU-s ({how}), rc {rc}, "
                  f"load average {load:.1f}", flush=True)
    return out


LOADS: list[float] = []


def sandbox_start(repeat: int = 20) -> float:
    from msglib.grading import sandbox

    spec = sandbox.default_spec(ROOT)
    times = []
    with tempfile.TemporaryDirectory(prefix="msglib-bench-sbx-") as tmp:
        for i in range(repeat):
            work = sandbox.private_copy(None, Path(tmp) / str(i))
            done = sandbox.run(["/bin/true"], spec, workdir=work, timeout=60)
            times.append(done.seconds)
    return statistics.median(times)


async def _ready(km_class, cwd: str) -> float:
    km = km_class(kernel_name="python3")
    start = time.monotonic()
    await km.start_kernel(cwd=cwd)
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=120)
        return time.monotonic() - start
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)


def kernel_ready(sandboxed: bool, repeat: int = 5) -> float:
    """Median wall seconds from start_kernel to a kernel that answers (wait_for_ready)."""
    import asyncio

    from jupyter_client.manager import AsyncKernelManager

    from msglib.grading.sandbox import SandboxKernelManager

    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="msglib-bench-kernel-") as cwd:
            times.append(asyncio.run(_ready(SandboxKernelManager if sandboxed else AsyncKernelManager, cwd)))
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one submission, record nothing")
    parser.add_argument("--submissions", type=int, default=6,
                        help="submissions per run (default 6); another size records under grading.batchN.*")
    args = parser.parse_args(argv)
    from msglib.grading import sandbox

    ok, message = sandbox.check()
    if not ok:
        print(f"error: {message}", file=sys.stderr)
        return 2
    n = 1 if args.quick else args.submissions
    start = sandbox_start(3 if args.quick else 20)
    plain = kernel_ready(False, 1 if args.quick else 5)
    boxed = kernel_ready(True, 1 if args.quick else 5)
    print(f"  sandbox start (bwrap ... /bin/true): {start:.3f} s; kernel ready: {plain:.2f} s plain, "
          f"{boxed:.2f} s sandboxed", flush=True)
    runs = batch_runs(n)
    if args.quick:
        return 0 if all(rc in (0, 1) for _, _, rc in runs.values()) else 1
    per_min = {name: n * 60.0 / wall for name, (wall, _, _) in runs.items()}
    # the default batch of 6 keeps the historical keys; a class-sized batch (a batch's fixed set-up and
    # tail spread over more submissions) records beside it, so both readings stay in the file
    key = "grading." if n == 6 else f"grading.batch{n}."
    command = COMMAND if n == 6 else f"{COMMAND} --submissions {n}"
    results.record(f"{key}nbgrader_autograde", per_min["nbgrader_autograde"], "submissions/min",
                   command=command)
    for name in ("msglib_j1", "msglib_j2"):
        results.record(f"{key}{name}", per_min[name], "submissions/min",
                       baseline=per_min["nbgrader_autograde"], baseline_name=f"{key}nbgrader_autograde",
                       target=">= 20/min at -j 2, sandboxed, re-run included" if name == "msglib_j2" else None,
                       command=command)
    for name, (wall, cpu, _) in runs.items():
        results.record(f"{key}{name}_cpu_s", cpu / n, CPU_UNIT[all(CGROUP_USED)], higher_is_better=False,
                       command=command)
    results.record(f"{key}load_average", statistics.mean(LOADS), "1-min load average during the runs (2 cores)",
                   higher_is_better=False, command=command)
    if n != 6:   # the sandbox's start-up figures do not depend on the batch: kept with the default run
        return 0
    results.record("grading.sandbox_start_s", start, "s", higher_is_better=False, target="< 0.5 s per kernel",
                   command=COMMAND)
    results.record("grading.sandbox_kernel_extra_s", boxed - plain, "s", higher_is_better=False,
                   baseline=plain, baseline_name="kernel ready outside the sandbox", target="< 0.5 s per kernel",
                   command=COMMAND)
    return 0


if __name__ == "__main__":
    sys.exit(main())
