"""``python -m msglib check PATH``: the learner's self-check.

Runs the learner's own notebook(s) top to bottom in a fresh kernel, then
prints, per exercise, pass/fail, the visible points and the first failure in
plain words. Exits non-zero when anything fails, so it also works in a
pre-commit hook or a learner's own CI. Hidden tests are not in the learner's
copy; they run when the instructor grades.
"""
from __future__ import annotations

import copy
import sys
import textwrap
from pathlib import Path
from typing import TextIO

from msglib.authoring import BEGIN_HIDDEN
from msglib.grading.notebooks import CellResult, NotebookResult, collect, execute, read


COURSE_ROOT = Path(__file__).resolve().parents[2]


def notebooks_in(path: Path) -> list[Path]:
    path = Path(path)
    if not path.exists() and not path.is_absolute() and (COURSE_ROOT / path).exists():
        path = COURSE_ROOT / path   # `notebooks/00_...` typed in a terminal that starts elsewhere (JupyterLab's)
    if path.is_file():
        return [path]
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; give a notebook or a module folder, "
                                "e.g. notebooks/00_why_messaging")
    found = sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not found:
        raise FileNotFoundError(f"no notebooks under {path}")
    return found


def check_notebook(path: Path, timeout: int = 60) -> NotebookResult:
    nb = read(path)
    original = copy.deepcopy(nb)
    fatal = execute(nb, path.parent, timeout)
    result = collect(nb, path)
    # hidden cells in a learner's copy are empty: they are not a pass
    hidden_here = {c.metadata.get("nbgrader", {}).get("grade_id") for c in original.cells if BEGIN_HIDDEN in c.source}
    for cell in result.cells:
        if cell.kind == "hidden" and cell.grade_id not in hidden_here:
            cell.passed = None
            cell.message = "hidden: runs when your instructor grades"
    result.error = fatal
    return result


def _wrapped(text: str, width: int = 100) -> list[str]:
    """One message line, wrapped at ``width``: nothing is cut off (the detail that explains a failure is
    often at the end of a long case)."""
    return textwrap.wrap(" ".join(text.split()), width, break_long_words=True, break_on_hyphens=False) or [""]


def report(result: NotebookResult, out: TextIO) -> tuple[bool, float, float]:
    """Print one notebook's report. Returns (all visible tests passed, points earned, visible points)."""
    print(f"\n{result.path}", file=out)
    if result.error:
        print(f"  ! {result.error}; the tests after it did not run", file=out)
    ok_all, earned, possible = result.error is None, 0.0, 0.0
    for ex, cells in result.by_exercise().items():
        manual = [c for c in cells if c.kind == "manual"]
        if manual:
            c = manual[0]
            print(f"  {ex:<34} written  {c.points:g} pts, graded by your instructor ({c.message})", file=out)
            continue
        visible = [c for c in cells if c.kind == "test" or (c.kind == "hidden" and c.passed is not None)]
        hidden_pts = sum(c.points for c in cells if c.kind == "hidden" and c.passed is None)
        got = sum(c.points for c in visible if c.passed)
        total = sum(c.points for c in visible)
        earned, possible = earned + got, possible + total
        failed = [c for c in visible if not c.passed]
        status = "PASS" if not failed else "FAIL"
        extra = f"  (+{hidden_pts:g} hidden pts at grading)" if hidden_pts else ""
        print(f"  {ex:<34} {status}     {got:g}/{total:g} pts{extra}", file=out)
        for c in visible:
            if c.changed:
                print(f"      ! the test cell {c.grade_id} was edited; grading restores the original, so this "
                      "result may differ. Undo your edits to it.", file=out)
        if failed:
            ok_all = False
            first: CellResult = failed[0]
            lines = [w for text in (first.message or "failed").splitlines() for w in _wrapped(text)]
            for i, text in enumerate(lines):
                print(("        " if i else "      → ") + text, file=out)
    return ok_all, earned, possible


def main(paths: list[str], timeout: int = 60, out: TextIO = sys.stdout) -> int:
    ok = True
    earned = possible = 0.0
    try:
        targets = [nb for p in paths for nb in notebooks_in(Path(p))]
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in targets:
        passed, got, total = report(check_notebook(path, timeout), out)
        ok, earned, possible = ok and passed, earned + got, possible + total
    print(f"\nvisible tests: {earned:g}/{possible:g} points. "
          + ("Everything checked here passes." if ok else "Some checks fail: see the → lines above."), file=out)
    return 0 if ok else 1
