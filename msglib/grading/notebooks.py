"""Running notebooks and reading their graded cells (shared by self-check, verification and tests)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from msglib.authoring import cell_role

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class CellResult:
    """One graded cell after execution."""

    grade_id: str
    exercise: str
    kind: str                 # "test", "hidden", "manual" or "solution"
    points: float
    passed: bool | None       # None: not run / not autograded
    message: str = ""         # the first failure in plain words
    changed: bool = False     # the learner edited this test cell


@dataclass
class NotebookResult:
    path: Path
    cells: list[CellResult] = field(default_factory=list)
    error: str | None = None  # the notebook could not be run at all (timeout, kernel died, bad JSON)

    def by_exercise(self) -> dict[str, list[CellResult]]:
        out: dict[str, list[CellResult]] = {}
        for c in self.cells:
            out.setdefault(c.exercise, []).append(c)
        return out


def exercise_of(grade_id: str) -> str:
    """``00-call_chain-hidden2`` → ``00-call_chain``."""
    return re.sub(r"-(test|hidden)\d*$", "", grade_id)


def failure_message(cell) -> str:
    """The first error or stderr text of an executed cell, without ANSI codes or traceback noise."""
    for out in cell.get("outputs", []):
        if out.output_type == "error":
            tb = [ANSI.sub("", line) for line in out.get("traceback", [])]
            if len(tb) == 1:          # CheckFailed renders itself as one block (no traceback)
                return tb[0]
            return f"{out.ename}: {ANSI.sub('', out.evalue)}"
        if out.output_type == "stream" and out.name == "stderr":
            text = out.text.strip().splitlines()
            return "wrote to stderr (the grader counts that as a failure): " + (text[0] if text else "")
    return ""


# Hidden tests deferred to the independent re-run: ``msglib grade`` (which re-runs every answered
# submission) sets this for nbgrader's run, whose Execute then leaves each hidden test cell unrun,
# with one error output that scores it 0 until the re-run's verdict replaces the score. The hidden
# key never enters nbgrader's kernel, and the hidden checks run once per submission, not twice.
HIDDEN_IN_RERUN_ENV = "MSGLIB_HIDDEN_IN_RERUN"
HIDDEN_DEFERRED = "HiddenTestDeferred"


def deferred_output():
    """The output a deferred hidden test cell gets in nbgrader's run (an error: it scores 0 there)."""
    text = "not run in the notebook run: the grader's independent re-run runs this hidden test and scores it"
    return nbformat.v4.new_output("error", ename=HIDDEN_DEFERRED, evalue=text, traceback=[f"{HIDDEN_DEFERRED}: {text}"])


def deferred(cell) -> bool:
    """Was this hidden test cell left unrun in nbgrader's run (``HIDDEN_IN_RERUN_ENV``)?"""
    return any(o.get("output_type") == "error" and o.get("ename") == HIDDEN_DEFERRED for o in cell.get("outputs", []))


def cell_passed(cell) -> bool:
    """nbgrader's rule: a test cell fails on any error output or any stderr output."""
    return not any(o.output_type == "error" or (o.output_type == "stream" and o.name == "stderr")
                   for o in cell.get("outputs", []))


def test_cell_changed(cell) -> bool:
    """True if a locked cell's source no longer matches the checksum stored at release."""
    from nbgrader.utils import compute_checksum  # imported late: nbgrader is heavy

    meta = cell.metadata.get("nbgrader", {})
    return "checksum" in meta and meta["checksum"] != compute_checksum(cell)


# Kernel start-up arguments for the course's own runs (check, doctor, benchmarks): the kernel logs only
# errors to our terminal, so ipykernel 7's "Kernel is running over TCP without encryption" warning (the kernel
# listens on 127.0.0.1 only) does not look like a problem to a learner. Errors and tracebacks still show.
QUIET_KERNEL = ["--IPKernelApp.log_level=ERROR"]


SHELL_POLL_SLICE_S = 0.5


def poll_in_slices(channel, slice_s: float = SHELL_POLL_SLICE_S) -> None:
    """Make ``channel.get_msg(timeout)`` wait in short polls instead of one long one.

    Why: a cell's execute_reply sometimes sat on the shell socket for a whole cell timeout (a 60 s stall
    with no CPU, seen in 07, 08, 09 and 11 around output widgets): the client sends on that same socket
    (an output widget's comm_msg) while it polls for the reply, and the socket's one-shot "message
    waiting" wake-up can be consumed by that send (the kernel side had the same bug: ipykernel #1529).
    A fresh poll checks the socket's state again, so a reply that is already there is found within
    ``slice_s``. The overall timeout is unchanged: ``queue.Empty`` is raised once it has passed.
    """
    from queue import Empty
    from time import monotonic

    get_msg = channel.get_msg

    async def get_msg_in_slices(timeout: float | None = None):
        deadline = None if timeout is None else monotonic() + timeout
        while True:
            left = None if deadline is None else deadline - monotonic()
            step = slice_s if left is None else max(0.0, min(slice_s, left))
            try:
                return await get_msg(timeout=step)
            except Empty:
                if deadline is not None and monotonic() >= deadline:
                    raise

    channel.get_msg = get_msg_in_slices


def run_silently(client, code: str) -> None:
    """Run ``code`` in ``client``'s kernel without a trace in the notebook (no output, no history) and
    wait for its reply."""
    from jupyter_core.utils import run_sync

    msg_id = client.kc.execute(code, silent=True, store_history=False, allow_stdin=False)
    run_sync(client.async_wait_for_reply)(msg_id, None)


def run_cells(client, *, setup: str | None = None, **kernel_kwargs) -> None:
    """Start ``client``'s kernel and run every cell, like ``NotebookClient.execute``.

    Unlike it, no second ``kernel_info`` request follows the start-up handshake
    (which already exchanged one): on a loaded machine that second reply was
    sometimes never seen, and nbclient then waited a whole cell timeout (120 s in
    CI) before running the first cell. ``setup``: code run silently (no output, no
    history) before the first cell.
    """
    client.reset_execution_trackers()
    with client.setup_kernel(**kernel_kwargs):
        poll_in_slices(client.kc.shell_channel)
        if setup:
            run_silently(client, setup)
        for index, cell in enumerate(client.nb.cells):
            client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
        client.set_widgets_metadata()


def execute(nb, cwd: Path, timeout: int = 60, *, grading: bool = True) -> str | None:
    """Run ``nb`` in place in a fresh kernel; errors are kept as outputs. Returns a fatal problem or None.

    ``grading``: the kernel runs with MSGLIB_GRADING_RUN=1, so pictures are skipped
    (``msglib.viz.figure``) and ``%matplotlib inline`` imports nothing
    (``figures.defer_matplotlib_magic``). Only the kernel's environment changes, never ours.
    """
    import os

    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            interrupt_on_timeout=True, resources={"metadata": {"path": str(cwd)}},
                            extra_arguments=QUIET_KERNEL)
    env = dict(os.environ)
    if grading:
        env["MSGLIB_GRADING_RUN"] = "1"
    setup = "__import__('msglib.figures', fromlist=['f']).defer_matplotlib_magic()" if grading else None
    try:
        run_cells(client, setup=setup, env=env)
    except CellTimeoutError:
        return f"a cell ran longer than {timeout} s and could not be interrupted"
    except DeadKernelError:
        return "the kernel died while running the notebook"
    return None


def collect(nb, path: Path) -> NotebookResult:
    """Read every graded cell's outcome from an executed notebook."""
    result = NotebookResult(path)
    for cell in nb.cells:
        kind, ex, points = cell_role(cell)
        meta = cell.metadata.get("nbgrader", {})
        if kind not in ("test", "hidden", "manual") or not meta.get("grade"):
            continue
        grade_id = meta.get("grade_id", ex or "?")
        if kind == "manual":
            answered = cell.source.strip() not in ("", "YOUR ANSWER HERE")
            result.cells.append(CellResult(grade_id, ex or grade_id, kind, points or 0.0, None,
                                           "answered" if answered else "not answered yet"))
            continue
        ran = cell.get("execution_count") is not None or bool(cell.get("outputs"))
        passed = cell_passed(cell) if ran else None
        result.cells.append(CellResult(grade_id, exercise_of(grade_id), kind, points or 0.0, passed,
                                       failure_message(cell) if ran else "not run", test_cell_changed(cell)))
    return result


def read(path: Path):
    return nbformat.read(str(path), as_version=4)
