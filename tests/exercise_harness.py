"""Run a module's exercise checks in-process, the way nbgrader runs the test cells, without a kernel.

The notebook's locked cells (setup imports) run first; then, for each exercise,
its solution cell (the reference, or a replacement such as a known-wrong
implementation) and its test cells. Everything a solution or a test needs must
be in a locked cell (CONTRIBUTING.md), so this is the same context the grader sees.
"""
from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import nbformat

from msglib.authoring import cell_role

ROOT = Path(__file__).resolve().parents[1]


def source_notebooks() -> list[Path]:
    return sorted(p for p in (ROOT / "solutions").glob("*/*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def strip_magics(source: str) -> str:
    return "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in source.splitlines())


def reference_source(source: str) -> str:
    """A solution cell as the instructor wrote it, markers removed."""
    return "\n".join(ln for ln in source.splitlines() if not re.match(r"\s*### (BEGIN|END) SOLUTION", ln))


def run_module(path: Path, replacements: dict[str, str] | None = None,
               only: str | None = None) -> dict[str, tuple[bool, str]]:
    """grade id → (passed, message) for every autograded test cell of ``path``.

    ``replacements``: exercise id → source that replaces its solution cell.
    ``only``: run just this exercise's test cells (every solution cell still runs).
    """
    replacements = replacements or {}
    nb = nbformat.read(str(path), as_version=4)
    ns: dict = {"__name__": "__main__"}
    results: dict[str, tuple[bool, str]] = {}
    for cell in nb.cells:
        kind, ex, _ = cell_role(cell)
        if cell.cell_type != "code" or kind == "plain":
            continue
        if kind == "locked":
            exec(compile(strip_magics(cell.source), f"<{path.stem} locked cell>", "exec"), ns)
        elif kind == "solution":
            src = replacements.get(ex, reference_source(cell.source))
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(compile(src, f"<solution {ex}>", "exec"), ns)
            except Exception as exc:  # a broken solution cell: its tests will fail on their own
                ns.pop("__solution_error__", None)
                ns["__solution_error__"] = exc
        elif kind in ("test", "hidden"):
            if only is not None and ex != only:
                continue
            gid = cell.metadata["nbgrader"]["grade_id"]
            err = io.StringIO()
            try:
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                    exec(compile(cell.source, f"<{gid}>", "exec"), ns)
            except Exception as exc:
                results[gid] = (False, f"{type(exc).__name__}: {exc}")
            else:
                # nbgrader's rule: any stderr output in a test cell scores 0
                results[gid] = (not err.getvalue(), f"wrote to stderr: {err.getvalue()[:200]}" if err.getvalue() else "")
    return results


def wrong_implementations(module_number: str) -> dict[str, list[tuple[str, str]]]:
    """``tests/wrong/exNN.py``'s WRONG table: exercise id → [(mistake, source), ...]."""
    import importlib

    try:
        mod = importlib.import_module(f"tests.wrong.ex{module_number}")
    except ModuleNotFoundError:
        return {}
    return mod.WRONG
