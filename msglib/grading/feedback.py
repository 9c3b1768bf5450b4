"""``python -m msglib feedback``: the instructor's last step, after hand-grading in Formgrader.

The order is: ``make grade`` (autograde, re-run, export) → the written answers graded by hand in Formgrader
(``make lab-instructor``) → ``make feedback``. This step writes ``feedback/<student>/<module>/*.html`` from the
autograded notebooks (already shaped by ``make grade``: hidden tests in words only) and the gradebook, which
now holds the hand grades, and exports nbgrader's ``grades/grades.csv`` again with them.
"""
from __future__ import annotations

from pathlib import Path

from msglib.grading.pipeline import export_nbgrader_csv, find_root, nbgrader


def graded_modules(root: Path) -> list[str]:
    """Modules with at least one autograded submission."""
    autograded = root / "autograded"
    if not autograded.is_dir():
        return []
    return sorted({m.name for student in autograded.iterdir() if student.is_dir()
                   for m in student.iterdir() if m.is_dir()})


def still_to_grade(root: Path) -> list[str]:
    """``student/module/cell`` for every grade that still needs a hand grade."""
    from msglib.grading.pipeline import _gradebook

    out = []
    with _gradebook(root) as gb:
        for assignment in gb.assignments:
            for sub in assignment.submissions:
                for nb in sub.notebooks:
                    out += [f"{sub.student.id}/{assignment.name}/{g.name}" for g in nb.grades if g.needs_manual_grade]
    return out


def main(selected: list[str] | None = None, out: str = "grades") -> int:
    root = find_root()
    mods = selected or graded_modules(root)
    if not mods:
        print("error: nothing autograded yet; run `make grade` first, then grade the written answers in "
              "Formgrader (`make lab-instructor`), then `make feedback`")
        return 2
    pending = still_to_grade(root)
    if pending:
        print(f"note: {len(pending)} answer(s) still need a hand grade in Formgrader, e.g. {', '.join(pending[:3])}; "
              "their feedback shows no points for them yet")
    failed = []
    for m in mods:
        rc, text = nbgrader(["generate_feedback", m, "--force"], root)
        if rc != 0:
            failed.append(m)
            print(f"error: feedback for {m} failed:\n{text[-2000:]}")
    path = export_nbgrader_csv(root, root / out)
    print(f"feedback written to feedback/ for {', '.join(m for m in mods if m not in failed) or 'no module'}; "
          f"grades with the hand grades: {path}")
    return 1 if failed else 0
