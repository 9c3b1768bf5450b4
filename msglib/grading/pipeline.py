"""The instructor's pipeline: release, autograde a folder of submissions, export grades, feedback.

Every step drives the real nbgrader (from the repository root, where
``nbgrader_config.py`` lives) and adds what a class needs around it:

* each submission is graded in its own process with a wall-clock limit, so a
  broken, hostile or endless notebook is reported by name and the batch goes on;
* submissions whose test cells were renamed or duplicated are repaired first
  (the stray metadata is dropped and nbgrader puts the real test cell back);
* an **independent re-run** grades each submission a second time with msglib
  restored before every test and each exercise's own solution cell bound
  (``guard``); a test that passed only in nbgrader's run loses its points and
  the submission is flagged;
* an **integrity scan** flags code that tampers with grading, for review;
* grades go to nbgrader's CSV and to a per-exercise CSV; feedback is generated
  with hidden tests and their tracebacks removed.
"""
from __future__ import annotations

import ast
import copy
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from msglib.authoring import lint_paths, source_notebooks
from msglib.grading.integrity import scan_notebook
from msglib.grading.notebooks import cell_passed, exercise_of, execute


def find_root(start: Path | None = None) -> Path:
    """The course root: the folder holding nbgrader_config.py and solutions/."""
    here = Path(start or Path.cwd()).resolve()
    for folder in [here, *here.parents]:
        if (folder / "nbgrader_config.py").exists() and (folder / "solutions").is_dir():
            return folder
    raise FileNotFoundError("run this from the course repository (the folder with nbgrader_config.py and "
                            "solutions/), or a folder inside it")


def nbgrader_env() -> dict[str, str]:
    """nbgrader shells out to `alembic` when it creates a gradebook: our interpreter's bin/ goes first on PATH."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("PYTHONWARNINGS", "ignore")
    return env


def nbgrader(args: list[str], root: Path, timeout: float | None = None, log: Path | None = None) -> tuple[int, str]:
    """Run ``nbgrader <args>`` from ``root`` in its own process group. Returns (returncode, output).

    On timeout the whole group (nbgrader and its kernel) is killed and the returncode is -9.
    """
    cmd = [sys.executable, "-m", "nbgrader", *args]
    proc = subprocess.Popen(cmd, cwd=root, env=nbgrader_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        rc = -9
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(out or "")
    return rc, out or ""


def modules(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "solutions").iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


# -- release -----------------------------------------------------------------------

def release(selected: list[str] | None = None, root: Path | None = None) -> int:
    """Generate ``notebooks/<module>/`` from ``solutions/<module>/`` for each module (all by default)."""
    root = root or find_root()
    mods = selected or modules(root)
    unknown = [m for m in mods if not (root / "solutions" / m).is_dir()]
    if unknown:
        print(f"error: no such module(s) in solutions/: {', '.join(unknown)}; choose from {', '.join(modules(root))}",
              file=sys.stderr)
        return 2
    problems = lint_paths(p for m in mods for p in source_notebooks(root / "solutions") if p.parent.name == m)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print("error: fix the authoring problems above before releasing", file=sys.stderr)
        return 1
    for m in mods:
        ok, log = generate_assignment(root, m)
        if not ok:
            print(log, file=sys.stderr)
            print(f"error: nbgrader generate_assignment {m} failed", file=sys.stderr)
            return 1
        print(f"released {m} → notebooks/{m}/")
    return 0


def _config(root: Path):
    """The course's nbgrader configuration, read from its nbgrader_config.py (the file nbgrader reads)."""
    from traitlets.config import Config

    cfg = Config()
    path = root / "nbgrader_config.py"
    exec(compile(path.read_text(), str(path), "exec"), {"get_config": lambda: cfg, "__file__": str(path)})
    return cfg


def generate_assignment(root: Path, module: str) -> tuple[bool, str]:
    """``nbgrader generate_assignment <module> --force`` through nbgrader's API, in this process.

    One process for every module instead of one nbgrader start-up per module.
    """
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    os.environ["PATH"] = nbgrader_env()["PATH"]   # alembic, when the gradebook is created
    cfg = _config(root)
    api = NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)
    result = api.generate_assignment(module, force=True)
    return bool(result.get("success")), (result.get("log") or "") + (result.get("error") or "")


# -- grading -----------------------------------------------------------------------

@dataclass
class StudentResult:
    student: str
    module: str
    status: str = "ok"                     # ok | error | timeout
    detail: str = ""
    flags: list[str] = field(default_factory=list)
    overridden: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _known_grade_ids(root: Path, module: str) -> dict[str, set[str]]:
    """Notebook name → the nbgrader ids of its cells in the source."""
    out = {}
    for path in sorted((root / "solutions" / module).glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        out[path.stem] = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata}
    return out


def repair_submission(folder: Path, known: dict[str, set[str]]) -> list[str]:
    """Drop nbgrader metadata the source does not have (renamed or duplicated cells).

    nbgrader would refuse such a notebook ("does not exist in the database",
    "duplicate grade id") and leave it ungraded. Without the stray metadata the
    cell is ordinary learner code, and nbgrader re-inserts the real test cell.
    The original file is kept beside it as ``<name>.ipynb.orig``.
    """
    notes = []
    for path in sorted(folder.glob("*.ipynb")):
        try:
            nb = nbformat.read(str(path), as_version=4)
        except Exception:
            continue  # unreadable: nbgrader reports it, and so does the integrity scan
        ids = known.get(path.stem, set())
        seen: set[str] = set()
        changed = False
        for index, cell in enumerate(nb.cells):
            meta = cell.metadata.get("nbgrader")
            if not meta:
                continue
            gid = meta.get("grade_id")
            if gid not in ids or gid in seen:
                why = "unknown" if gid not in ids else "duplicate"
                notes.append(f"{path.name} cell {index}: {why} grade id {gid!r} (edited or copied test cell); "
                             "metadata removed, the original test cell is restored")
                del cell.metadata["nbgrader"]
                changed = True
            seen.add(gid)
        if changed:
            shutil.copy2(path, path.with_suffix(".ipynb.orig"))
            nbformat.write(nb, str(path))
    return notes


def _solution_names(source: str) -> list[str]:
    """Top-level names a solution cell defines."""
    try:
        tree = ast.parse("\n".join(ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))))
    except SyntaxError:
        return []
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return names


def guarded_copy(nb):
    """The notebook with the guard cells injected around solution and test cells (see ``guard``)."""
    out = copy.deepcopy(nb)
    cells = []
    g = "__msglib_guard__"
    arm = nbformat.v4.new_code_cell(f"import msglib.grading.guard as {g}\n{g}.arm()")
    arm.metadata["msglib_injected"] = True
    cells.append(arm)
    for cell in out.cells:
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id", "")
        is_test = cell.cell_type == "code" and meta.get("grade") and not meta.get("solution")
        if is_test:
            before = nbformat.v4.new_code_cell(f"{g}.enter_test({exercise_of(gid)!r}, globals())")
            before.metadata["msglib_injected"] = True
            cells.append(before)
        cells.append(cell)
        if is_test:
            after = nbformat.v4.new_code_cell(f"{g}.leave_test(globals())")
            after.metadata["msglib_injected"] = True
            cells.append(after)
        if cell.cell_type == "code" and meta.get("solution"):
            pin = nbformat.v4.new_code_cell(f"{g}.pin({gid!r}, globals(), {_solution_names(cell.source)!r})")
            pin.metadata["msglib_injected"] = True
            cells.append(pin)
    for cell in cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    out.cells = cells
    return out


def verify(autograded_nb: Path, timeout: int) -> dict[str, bool]:
    """Independent re-run of an autograded notebook: grade id → passed, for every test cell."""
    nb = guarded_copy(nbformat.read(str(autograded_nb), as_version=4))
    execute(nb, autograded_nb.parent, timeout)
    results = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            results[meta["grade_id"]] = cell_passed(cell) and cell.get("execution_count") is not None
    return results


def _cell_timeout() -> int:
    return int(os.environ.get("MSGLIB_CELL_TIMEOUT", "60"))


def grade_student(root: Path, module: str, student: str, *, student_timeout: float, logs: Path,
                  known: dict[str, set[str]]) -> StudentResult:
    """Repair, autograde (own process, wall-clock limit) and scan one submission."""
    result = StudentResult(student, module)
    start = time.monotonic()
    result.flags += repair_submission(root / "submitted" / student / module, known)
    rc, out = nbgrader(["autograde", module, "--student", student, "--force"], root, timeout=student_timeout,
                       log=logs / f"{student}--{module}.log")
    if rc == -9:
        result.status, result.detail = "timeout", f"stopped after {student_timeout:g} s (endless loop?)"
    elif rc != 0:
        result.status = "error"
        result.detail = _error_summary(out)
    for path in sorted((root / "submitted" / student / module).glob("*.ipynb")):
        try:
            nb = nbformat.read(str(path), as_version=4)
        except Exception as exc:
            result.flags.append(f"{path.name} could not be read: {type(exc).__name__}")
            continue
        result.flags += [f"{path.name} {f}" for f in scan_notebook(nb)]
    result.seconds = time.monotonic() - start
    return result


def _error_summary(log: str) -> str:
    """The exception nbgrader died of, in one line (e.g. ``CellTimeoutError: A cell timed out ...``)."""
    found = re.findall(r"^\s*(?:[\w]+\.)*(\w+(?:Error|Exception)): (.*)$", log, flags=re.M)
    if found:
        name, message = found[-1]
        return f"{name}: {message}"[:300]
    errors = [ln for ln in log.splitlines() if "| ERROR]" in ln]
    return (errors[-1] if errors else "nbgrader failed without a message")[:300]


def _graded_notebooks(root: Path, module: str, student: str) -> list[Path]:
    return sorted((root / "autograded" / student / module).glob("*.ipynb"))


def _test_cells_passed(nb) -> dict[str, bool]:
    return {c.metadata["nbgrader"]["grade_id"]: cell_passed(c) for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
            and not c.metadata["nbgrader"].get("solution")}


def _any_test_passed(root: Path, result: StudentResult) -> bool:
    """Nothing to re-check when no test passed: the re-run can only take points away."""
    return any(any(_test_cells_passed(nbformat.read(str(p), as_version=4)).values())
               for p in _graded_notebooks(root, result.module, result.student))


def verify_student(root: Path, result: StudentResult) -> list[str]:
    """Independent re-run: the test cells that passed for nbgrader but fail here (``notebook:grade_id``)."""
    lost = []
    for path in _graded_notebooks(root, result.module, result.student):
        original = _test_cells_passed(nbformat.read(str(path), as_version=4))
        rerun = verify(path, _cell_timeout())
        lost += [f"{path.stem}:{gid}" for gid, ok in original.items() if ok and not rerun.get(gid, False)]
    return lost


def _gradebook(root: Path):
    from nbgrader.api import Gradebook
    from nbgrader.coursedir import CourseDirectory

    coursedir = CourseDirectory(config=_config(root))
    return Gradebook(coursedir.db_url, coursedir.course_id)


def _override_scores(root: Path, module: str, student: str, cells: list[str]) -> None:
    with _gradebook(root) as gb:
        for item in cells:
            notebook, gid = item.split(":", 1)
            grade = gb.find_grade(gid, notebook, module, student)
            grade.manual_score = 0.0
            comment = gb.find_comment(gid, notebook, module, student) if _has_comment(gb, gid, notebook, module,
                                                                                         student) else None
            if comment is not None:
                comment.manual_comment = ("This test passed only when msglib or the function under test was "
                                          "changed outside its solution cell; it scores 0. See your instructor.")
        gb.db.commit()


def _has_comment(gb, gid: str, notebook: str, module: str, student: str) -> bool:
    try:
        gb.find_comment(gid, notebook, module, student)
        return True
    except Exception:
        return False


def export_grades(root: Path, out: Path, results: list[StudentResult]) -> Path:
    """Per-exercise CSV: one row per (student, module), a column per exercise, status and flags."""
    by_key = {(r.student, r.module): r for r in results}
    rows = []
    exercise_cols: dict[str, float] = {}
    with _gradebook(root) as gb:
        for (student, module), r in sorted(by_key.items()):
            row = {"student_id": student, "module": module, "status": r.status, "detail": r.detail,
                   "flags": " | ".join(r.flags), "needs_review": bool(r.flags or r.status != "ok")}
            try:
                sub = gb.find_submission(module, student)
            except Exception:
                sub = None
            total = max_total = 0.0
            if sub is not None:
                for nb in sub.notebooks:
                    for g in nb.grades:
                        ex = exercise_of(g.name)
                        col = f"{ex}"
                        row[col] = row.get(col, 0.0) + (g.score or 0.0)
                        exercise_cols[col] = exercise_cols.get(col, 0.0) + 0  # keep order of appearance
                        total += g.score or 0.0
                        max_total += g.max_score or 0.0
                        if g.needs_manual_grade:
                            row["needs_manual_grading"] = True
                row["score"], row["max_score"] = round(total, 2), round(max_total, 2)
            rows.append(row)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "grades_by_exercise.csv"
    fields = ["student_id", "module", "score", "max_score", *exercise_cols, "status", "needs_review",
              "needs_manual_grading", "detail", "flags"]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in fields})
    return path


def grade(selected: list[str] | None = None, *, student_timeout: float = 900, verify: bool = True,
          out: str = "grades", root: Path | None = None, release_first: bool = True) -> int:
    """Autograde ``submitted/<student>/<module>/`` for every student; see the module docstring."""
    root = root or find_root()
    submitted = root / "submitted"
    if not submitted.is_dir():
        print(f"error: no submissions: put them in {submitted}/<student>/<module>/<notebook>.ipynb "
              "(or use nbgrader collect / zip_collect)", file=sys.stderr)
        return 2
    mods = selected or sorted({p.name for p in submitted.glob("*/*") if p.is_dir()})
    unknown = [m for m in mods if not (root / "solutions" / m).is_dir()]
    if unknown:
        print(f"error: unknown module(s) {', '.join(unknown)}; choose from {', '.join(modules(root))}",
              file=sys.stderr)
        return 2
    outdir = root / out
    logs = outdir / "logs"
    # the gradebook must know each assignment (generate_assignment writes it; the release is deterministic)
    for m in (mods if release_first else []):
        ok, text = generate_assignment(root, m)
        if not ok:
            print(text, file=sys.stderr)
            return 1
    results: list[StudentResult] = []
    # nbgrader writes the gradebook, so submissions are autograded one at a time; the independent
    # re-runs only read, so they run beside the next autograde.
    with ThreadPoolExecutor(max_workers=max(1, (os.cpu_count() or 2) - 1)) as pool:
        pending = []
        for m in mods:
            known = _known_grade_ids(root, m)
            students = sorted(p.parent.name for p in submitted.glob(f"*/{m}") if p.is_dir())
            for student in students:
                r = grade_student(root, m, student, student_timeout=student_timeout, logs=logs, known=known)
                results.append(r)
                mark = {"ok": "graded", "error": "ERROR", "timeout": "TIMEOUT"}[r.status]
                print(f"{m}  {student:<24} {mark:<8} {r.seconds:6.1f}s  {r.detail}"
                      + (f"  [{len(r.flags)} flag(s)]" if r.flags else ""), flush=True)
                if verify and r.status == "ok" and _any_test_passed(root, r):
                    pending.append((r, pool.submit(verify_student, root, r)))
        for r, future in pending:
            r.overridden = future.result()
            if r.overridden:
                _override_scores(root, r.module, r.student, r.overridden)
                r.flags.append("tests passed only in nbgrader's run, not in the independent re-run (msglib "
                               "modified, or the function under test redefined outside its solution cell): "
                               + ", ".join(r.overridden) + " set to 0")
    rc_export, text = nbgrader(["export", "--to", str(outdir / "grades.csv")], root)
    path = export_grades(root, outdir, results)
    for m in mods:
        nbgrader(["generate_feedback", m, "--force"], root, log=logs / f"feedback--{m}.log")
    report = outdir / "report.json"
    report.write_text(json.dumps([r.__dict__ for r in results], indent=2))
    bad = [r for r in results if r.status != "ok"]
    flagged = [r for r in results if r.flags]
    print(f"\n{len(results)} submission(s) graded: {len(bad)} error/timeout, {len(flagged)} flagged for review.")
    print(f"grades: {outdir / 'grades.csv'} (nbgrader) and {path} (per exercise); feedback: feedback/; "
          f"report: {report}; logs: {logs}/")
    for r in flagged:
        for f in r.flags:
            print(f"  review {r.student} {r.module}: {f}")
    return 0 if rc_export == 0 else 1
