"""The instructor's pipeline: release, autograde a folder of submissions, export grades, feedback.

Every step drives the real nbgrader (from the repository root, where
``nbgrader_config.py`` lives) and adds what a class needs around it:

* every process that runs student code runs in a bubblewrap sandbox (``sandbox``):
  nbgrader's kernel and the independent re-run; ``--no-sandbox`` grades without
  it, and every report then says so;
* each submission is graded under a supervisor: a wall clock for all of its
  phases (autograde, in a process forked from a server that imported nbgrader
  once, and the re-run), its own scratch gradebook (merged into the course's
  when it finishes, so ``-j N`` submissions run side by side), and a crash of
  one submission never stops the batch;
* submissions are repaired first: a renamed notebook is matched to the release
  by its cells, nbgrader metadata that was stripped or altered is restored from
  the release by cell id, and renamed or duplicated test cells are dropped (nbgrader
  puts the real test cell back);
* an **independent re-run** (``verdicts``/``rerun``) runs each exercise's answer and
  tests again in a fresh sandboxed interpreter under an audit hook; its verdict is
  the score of every autograded test cell, a test that passed only in nbgrader's run
  scores 0 and is flagged, and tampering evidence holds the exercise for review or
  zeroes it (``--on-tamper``);
* an **integrity scan** flags code that tampers with grading, for review;
* ``grades/report.json`` and both CSVs are rewritten (atomically) as each
  submission finishes; feedback shows hidden tests only as ``--hidden-feedback``
  allows, and never the seeds or keys; after the batch, the package, the virtual
  environment and the course files are compared with their hashes from before.
"""
from __future__ import annotations

import copy
import csv
import hashlib
import io
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from msglib.grading import supervisor   # first: it keeps jsonschema's IRI grammar out (supervisor.lean_imports)

import nbformat

from msglib.authoring import lint_paths, source_notebooks
from msglib.grading.integrity import scan_notebook
from msglib.grading.notebooks import HIDDEN_IN_RERUN_ENV, cell_passed, deferred, exercise_of, failure_message
from msglib.grading.output_cap import MAX_CHARS as OUTPUT_CAP
from msglib.grading.output_cap import TRUNCATED
from msglib.grading.sandbox import SPEC_ENV, Limits, Spec, default_spec
from msglib.grading.sandbox import caps as sandbox_caps
from msglib.grading.sandbox import check as sandbox_check
from msglib.grading.verdicts import Verdicts, answers, build_job, hidden_values, rerun_notebook


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


def nbgrader(args: list[str], root: Path, timeout: float | None = None, log: Path | None = None,
             env_extra: dict[str, str] | None = None) -> tuple[int, str]:
    """Run ``nbgrader <args>`` from ``root`` in its own process group. Returns (returncode, output).

    On timeout the whole group is killed and the returncode is -9; a sandboxed kernel
    dies with it (bwrap's ``--die-with-parent``).
    """
    cmd = [sys.executable, "-m", "nbgrader", *args]
    proc = subprocess.Popen(cmd, cwd=root, env={**nbgrader_env(), **(env_extra or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        rc = -9
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text((out or "")[-2_000_000:])
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


def _feedback_parts(root: Path, module: str, jobs: int) -> list[list[str]]:
    """Every autograded student of ``module``, in up to ``jobs`` (at most 2) disjoint parts whose feedback
    nbgrader writes side by side; one part where a student id holds a comma (nbgrader's exclude list)."""
    students = sorted(p.parent.name for p in (root / "autograded").glob(f"*/{module}") if p.is_dir())
    n = max(1, min(jobs, 2, len(students)))
    if n == 1 or any("," in s for s in students):
        return [students]
    return [students[i::n] for i in range(n)]


def _feedback_part(root: Path, module: str, parts: list[list[str]], index: int, logs: Path) -> None:
    """``nbgrader generate_feedback <module> --force`` for ``parts[index]`` (the other parts' students excluded)."""
    args = ["generate_feedback", module, "--force"]
    others = sorted(s for i, part in enumerate(parts) if i != index for s in part)
    if others:
        args.append(f"--CourseDirectory.student_id_exclude={','.join(others)}")
    log = logs / (f"feedback--{module}.log" if len(parts) == 1 else f"feedback--{module}--{index + 1}.log")
    try:
        supervisor.autograde(args, root, nbgrader_env(), log, timeout=1800)
    except OSError:
        nbgrader(args, root, log=log)


def _import_gradebook() -> None:
    """Import what the batch needs of nbgrader here (the gradebook, its CSV export): about 1 CPU-s, which
    the set-up overlaps with the release; the first submission would otherwise wait for it."""
    import nbgrader.api  # noqa: F401
    import nbgrader.coursedir  # noqa: F401
    import nbgrader.plugins.export  # noqa: F401


def _generate_in_server(root: Path, module: str, logs: Path) -> tuple[bool, str]:
    """``nbgrader generate_assignment <module> --force`` forked from the batch's fork server (which has
    imported nbgrader), or in this process where no fork server can start."""
    try:
        rc, text = supervisor.autograde(["generate_assignment", module, "--force"], root, nbgrader_env(),
                                        logs / f"generate_assignment--{module}.log", timeout=1800)
    except OSError:
        return generate_assignment(root, module)
    return rc == 0, text


# -- grading -----------------------------------------------------------------------

@dataclass
class StudentResult:
    student: str
    module: str
    status: str = "ok"                     # ok | error | timeout
    detail: str = ""
    flags: list[str] = field(default_factory=list)       # reasons for a person to look (review)
    evidence: list[str] = field(default_factory=list)    # tampering evidence from the re-run (call, file, hook)
    overridden: list[str] = field(default_factory=list)  # test cells that passed only in nbgrader's run
    notes: list[str] = field(default_factory=list)       # harmless repairs and other remarks
    delegation: list[str] = field(default_factory=list)  # answers that used msglib's own implementation
    held_for_review: list[str] = field(default_factory=list)   # exercises tampered with (--on-tamper review)
    zeroed: list[str] = field(default_factory=list)            # exercises tampered with (--on-tamper zero)
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)


def _known_grade_ids(root: Path, module: str) -> dict[str, set[str]]:
    """Notebook name → the nbgrader ids of its cells in the source."""
    out = {}
    for path in sorted((root / "solutions" / module).glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        out[path.stem] = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata}
    return out


def _release_notebooks(root: Path, module: str) -> dict[str, Any]:
    return {p.stem: nbformat.read(str(p), as_version=4) for p in sorted((root / "notebooks" / module).glob("*.ipynb"))}


def match_notebook_names(folder: Path, release: dict[str, Any]) -> list[str]:
    """A submitted notebook with a name the release does not have is matched to a release notebook by its
    cells (ids and grade ids) and renamed; the original is kept as ``<name>.ipynb.orig``."""
    notes = []
    present = {p.stem for p in folder.glob("*.ipynb")}
    for path in sorted(folder.glob("*.ipynb")):
        if path.stem in release:
            continue
        try:
            nb = nbformat.read(str(path), as_version=4)
        except Exception:
            continue
        ids = {c.get("id") for c in nb.cells} | {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells}
        best, overlap = None, 0
        for name, rel in release.items():
            rel_ids = {c.get("id") for c in rel.cells} | {c.metadata.get("nbgrader", {}).get("grade_id")
                                                          for c in rel.cells}
            common = len((ids & rel_ids) - {None})
            if common > overlap and name not in present:
                best, overlap = name, common
        if best is not None and overlap >= 2:
            shutil.copy2(path, path.with_suffix(".ipynb.orig"))
            path.rename(folder / f"{best}.ipynb")
            present.add(best)
            notes.append(f"{path.name} renamed to {best}.ipynb (matched to the release by {overlap} cells)")
    return notes


def repair_submission(folder: Path, known: dict[str, set[str]], release: dict[str, Any] | None = None) -> list[str]:
    """Put a submission's nbgrader cell metadata back as released; returns flags for review.

    A cell whose id is a release cell's gets that cell's nbgrader metadata back
    (stripped or retagged metadata would otherwise make nbgrader fail the whole
    notebook on a checksum or an unknown id). Metadata the source does not have
    (renamed or duplicated cells with no release id) is dropped: the cell becomes
    ordinary learner code and nbgrader re-inserts the real test cell. The original
    file is kept beside it as ``<name>.ipynb.orig``.
    """
    notes = []
    release = release or {}
    for path in sorted(folder.glob("*.ipynb")):
        try:
            nb = nbformat.read(str(path), as_version=4)
        except Exception:
            continue  # unreadable: nbgrader reports it, and so does the integrity scan
        ids = known.get(path.stem, set())
        by_id = {c.get("id"): c for c in release[path.stem].cells} if path.stem in release else {}
        seen: set[str] = set()
        changed = False
        for index, cell in enumerate(nb.cells):
            meta = cell.metadata.get("nbgrader")
            twin = by_id.get(cell.get("id"))
            wanted = twin.metadata.get("nbgrader") if twin is not None else None
            if wanted is not None and twin.cell_type == cell.cell_type and meta != wanted:
                gid = (meta or {}).get("grade_id")
                if gid not in (None, wanted.get("grade_id")) and wanted.get("grade_id") not in seen:
                    notes.append(f"{path.name} cell {index}: unknown grade id {gid!r} (edited test cell "
                                 f"metadata); restored from the release by cell id as {wanted['grade_id']!r}")
                cell.metadata["nbgrader"] = copy.deepcopy(dict(wanted))
                changed = True
                meta = cell.metadata["nbgrader"]
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
            if not path.with_suffix(".ipynb.orig").exists():
                shutil.copy2(path, path.with_suffix(".ipynb.orig"))
            nbformat.write(nb, str(path))
    return notes


def _cell_timeout() -> int:
    return int(os.environ.get("MSGLIB_CELL_TIMEOUT", "60"))


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
    """grade id -> did the test cell pass in nbgrader's run. A cell that never ran did not pass: a run
    stopped at the wall clock leaves the notebook as it was copied in, every test cell without output."""
    return {c.metadata["nbgrader"]["grade_id"]: c.get("execution_count") is not None and cell_passed(c)
            for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
            and not c.metadata["nbgrader"].get("solution")}


def _gradebook(root: Path, url: str | None = None):
    from nbgrader.api import Gradebook
    from nbgrader.coursedir import CourseDirectory

    coursedir = CourseDirectory(config=_config(root))
    return Gradebook(url or coursedir.db_url, coursedir.course_id)


def _main_db_path(root: Path) -> Path:
    from nbgrader.coursedir import CourseDirectory

    url = CourseDirectory(config=_config(root)).db_url
    if not url.startswith("sqlite:///"):
        raise ValueError(f"the grader needs a SQLite gradebook (got {url}); unset MSGLIB_GRADEBOOK_URL")
    return Path(url[len("sqlite:///"):])


def merge_submission(root: Path, scratch_url: str, module: str, student: str) -> bool:
    """Copy one submission's grades from a scratch gradebook (one autograde run) into the course's."""
    from nbgrader.api import MissingEntry

    with _gradebook(root, scratch_url) as src, _gradebook(root) as dst:
        try:
            sub = src.find_submission(module, student)
        except MissingEntry:
            return False
        dst.update_or_create_student(student)
        dst.update_or_create_submission(module, student, timestamp=sub.timestamp)
        for nb in sub.notebooks:
            for g in nb.grades:
                d = dst.find_grade(g.name, nb.name, module, student)
                # a hand grade given in Formgrader survives a re-run (the scratch gradebook has none)
                manual = g.manual_score if g.manual_score is not None else d.manual_score
                extra = g.extra_credit if g.extra_credit is not None else d.extra_credit
                d.auto_score, d.manual_score, d.extra_credit = g.auto_score, manual, extra
                d.needs_manual_grade = g.needs_manual_grade and manual is None
            for c in nb.comments:
                d = dst.find_comment(c.name, nb.name, module, student)
                d.auto_comment = c.auto_comment
                d.manual_comment = c.manual_comment if c.manual_comment is not None else d.manual_comment
            dst.find_submission_notebook(nb.name, module, student).flagged = nb.flagged
        dst.db.commit()
    return True


def _ensure_submission(root: Path, module: str, student: str) -> None:
    """A gradebook entry for a submission nbgrader could not grade (the re-run's verdicts still count)."""
    from nbgrader.api import MissingEntry

    with _gradebook(root) as gb:
        try:
            gb.find_submission(module, student)
        except MissingEntry:
            gb.update_or_create_student(student)
            gb.update_or_create_submission(module, student)


def apply_verdicts(root: Path, result: StudentResult, verdicts_by_nb: dict[str, Verdicts], *,
                   nbgrader_passed: dict[str, dict[str, bool]], on_tamper: str) -> None:
    """The re-run's verdict is the score of every autograded test cell; tampered exercises per ``on_tamper``."""
    from nbgrader.api import MissingEntry

    tampered = {e.split(":", 1)[0] for v in verdicts_by_nb.values() for e in v.evidence if ":" in e}
    with _gradebook(root) as gb:
        for notebook, found in verdicts_by_nb.items():
            for gid, passed in found.passed.items():
                try:
                    grade = gb.find_grade(gid, notebook, result.module, result.student)
                except MissingEntry:
                    continue
                points = grade.max_score or 0.0
                score = points if passed else 0.0
                if on_tamper == "zero" and exercise_of(gid) in tampered:
                    score = 0.0
                if nbgrader_passed.get(notebook, {}).get(gid) and not passed:
                    result.overridden.append(f"{notebook}:{gid}")
                if grade.score != score:
                    grade.manual_score = score
                    grade.needs_manual_grade = False
                    try:
                        comment = gb.find_comment(gid, notebook, result.module, result.student)
                    except MissingEntry:
                        comment = None
                    if comment is not None and not passed and nbgrader_passed.get(notebook, {}).get(gid):
                        comment.manual_comment = ("This test passed only in the notebook run, not in the grader's "
                                                  "independent re-run; it scores 0. See your instructor.")
        gb.db.commit()
    if result.overridden:
        result.flags.append("tests passed only in nbgrader's run, not in the independent re-run (msglib "
                            "modified, the function under test redefined outside its answer cell, or the "
                            "answer needs code outside its answer cell): "
                            + ", ".join(result.overridden) + " set to 0")
    for ex in sorted(tampered):
        (result.zeroed if on_tamper == "zero" else result.held_for_review).append(ex)


# -- feedback: what a hidden test shows --------------------------------------------------------

HIDDEN_FEEDBACK = ("none", "summary", "full")
_NUMBER = re.compile(r"\b\d{4,}\b")


def _scrub(text: str, hidden: set[str]) -> str:
    """Hidden seeds and keys never appear in what a student sees."""
    text = _NUMBER.sub(lambda m: "<hidden>" if m.group(0) in hidden else m.group(0), text)
    for value in hidden:
        if len(value) > 12 and value in text:
            text = text.replace(value, "<hidden>")
    return text


_DATA = re.compile(r"\[[^\]]*\]|\([^)]*\)|\{[^}]*\}|'[^']*'|\"[^\"]*\"|-?\d+(?:\.\d+)?")


def in_words(text: str) -> str:
    """A check's finding without the data it quotes (lists, tuples, strings, numbers): a hidden case's
    inputs never reach feedback, the property that failed does."""
    words = _DATA.sub("…", text)
    return re.sub(r"(…[\s,;:]*)+…", "…", words).strip()


def hidden_message(raw: str, mode: str) -> str:
    """A hidden test's failure as the student may see it: none, the property in words, or words and hint."""
    lines = [ln for ln in raw.splitlines() if ln.strip()]
    if mode == "none" or not lines:
        return "a hidden test failed"
    what = "a hidden test failed: " + in_words(lines[0])
    if mode == "summary":
        return what
    hints = [in_words(ln.strip()) for ln in lines[1:] if ln.strip().startswith("hint:")]
    return "\n".join([what, *hints])


def shape_feedback(path: Path, found: Verdicts | None, hidden: set[str], mode: str) -> None:
    """Rewrite an autograded notebook's outputs before feedback is generated from it.

    Hidden test cells show only what ``mode`` allows (from the re-run's verdict when
    there is one); every output is scrubbed of the hidden seeds and keys.
    """
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        is_hidden = "### BEGIN HIDDEN TESTS" in cell.source or "-hidden" in meta.get("grade_id", "")
        if is_hidden and meta.get("grade") and not meta.get("solution"):
            gid = meta.get("grade_id", "")
            failed = not cell_passed(cell) if found is None else not found.passed.get(gid, False)
            if not failed:
                cell.outputs = []
                continue
            if found is None and deferred(cell):   # left to a re-run that did not run: it scored 0
                raw = ""
            else:
                raw = (found.messages.get(gid, "") if found is not None else "") or failure_message(cell)
            text = _scrub(hidden_message(raw.replace("CheckFailed", "").lstrip(": "), mode), hidden)
            cell.outputs = [nbformat.v4.new_output("error", ename="HiddenTestFailed", evalue=text,
                                                   traceback=[f"HiddenTestFailed: {text}"])]
            continue
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                output.text = _scrub(output.text, hidden)
            elif output.output_type == "error":
                output.evalue = _scrub(output.evalue, hidden)
                output.traceback = [_scrub(line, hidden) for line in output.traceback]
            elif "data" in output:
                for mime, value in list(output.data.items()):
                    if isinstance(value, str) and mime.startswith("text/"):
                        output.data[mime] = _scrub(value, hidden)
    nbformat.write(nb, str(path))


# -- one submission, supervised ----------------------------------------------------------------

@dataclass
class Settings:
    """How a batch grades (the ``grade`` command's options)."""

    student_timeout: float = 900
    verify: bool = True
    sandboxed: bool = True
    hidden_feedback: str = "summary"
    on_tamper: str = "review"
    limits: Limits = field(default_factory=Limits)


def _nbgrader_args(module: str, student: str, settings: Settings) -> list[str]:
    args = ["autograde", module, "--student", student, "--force"]
    if settings.sandboxed:
        args.append("--Execute.kernel_manager_class=msglib.grading.sandbox.SandboxKernelManager")
    return args


@dataclass
class _Rerun:
    """One submission's independent re-run: every notebook's verdicts and what it found."""

    verdicts: dict[str, Verdicts] = field(default_factory=dict)
    hidden: dict[str, set[str]] = field(default_factory=dict)
    evidence: list[str] = field(default_factory=list)
    delegation: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timed_out: bool = False
    seconds: float = 0.0


def _rerun_submission(root: Path, module: str, student: str, folder: Path, spec: Spec | None, deadline: float,
                      settings: Settings) -> _Rerun:
    """Re-run every submitted notebook of one submission (``verdicts.rerun_notebook``) within ``deadline``."""
    out, start = _Rerun(), time.monotonic()
    for path in sorted(folder.glob("*.ipynb")):
        source = root / "solutions" / module / path.name
        release_path = root / "notebooks" / module / path.name
        if not source.exists() or not release_path.exists():
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 1:
            out.timed_out = True
            break
        try:
            with tempfile.TemporaryDirectory(prefix="msglib-rerun-") as ws:
                found, hidden = rerun_notebook(source, release_path, path, student, cell_timeout=_cell_timeout(),
                                               spec=spec, timeout=remaining, workspace=Path(ws))
        except Exception as exc:  # unreadable notebook: nothing passes
            out.notes.append(f"{path.name}: not re-run ({type(exc).__name__})")
            continue
        out.verdicts[path.stem] = found
        out.hidden[path.stem] = hidden
        out.evidence += found.evidence
        out.delegation += found.delegation
        out.notes += list(found.problems)
    out.seconds = time.monotonic() - start
    return out


class _Early:
    """A call run in a thread of its own; :meth:`result` waits for it (and raises what it raised)."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._box: list[Any] = []
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self._box.append((True, fn()))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller of result()
            self._box.append((False, exc))

    def result(self) -> Any:
        self._thread.join()
        ok, value = self._box[0]
        if not ok:
            raise value
        return value


def _answered(folder: Path, release: dict[str, Any]) -> bool:
    """Does a submitted notebook differ from the release in an answer cell (or cannot be compared)?"""
    for path in folder.glob("*.ipynb"):
        rel = release.get(path.stem)
        if rel is None:
            return True
        try:
            given = answers(nbformat.read(str(path), as_version=4), rel)
        except Exception:
            return True
        if any(given.get(gid, stub) != stub for gid, stub in answers(rel, rel).items()):
            return True
    return False


def grade_student(root: Path, module: str, student: str, *, settings: Settings, logs: Path,
                  known: dict[str, set[str]], db_lock: threading.Lock, spec: Spec | None,
                  rerun_spec: Spec | None = None) -> StudentResult:
    """Prepare, autograde, re-run and record one submission, every phase under the submission's wall clock.

    The re-run starts beside nbgrader's run (``rerun_spec``: a sandbox of its own, with its own uid when
    the grader is root) when the submission holds an answer, and its verdicts are the scores. Hidden
    tests run only there: nbgrader's run leaves them unrun (``HIDDEN_IN_RERUN_ENV``). A submission
    with no answer is re-run only if nbgrader's run passed a test, raised or something was flagged."""
    result = StudentResult(student, module)
    start = time.monotonic()
    deadline = start + settings.student_timeout
    folder = root / "submitted" / student / module
    for link in sorted(p for p in folder.rglob("*") if p.is_symlink()):
        result.flags.append(f"symbolic link {link.relative_to(folder)} -> {os.readlink(link)} removed "
                            "(a submission holds files, not links to the course)")
        link.unlink()
    for shadow in sorted(p for p in folder.iterdir() if p.name in ("msglib", "msglib.py", "nbgrader", "IPython")):
        result.flags.append(f"ships its own {shadow.name}{'/' if shadow.is_dir() else ''} next to the notebook "
                            "(a shadow of a package the grader imports; the re-run never imports it)")
    release = _release_notebooks(root, module)
    result.notes += match_notebook_names(folder, release)
    result.flags += repair_submission(folder, known, release)
    for path in sorted(folder.glob("*.ipynb")):
        try:
            nb = nbformat.read(str(path), as_version=4)
        except Exception as exc:
            result.flags.append(f"{path.name} could not be read: {type(exc).__name__}")
            continue
        result.flags += [f"{path.name} {f}" for f in scan_notebook(nb, release.get(path.stem))]
    result.phases["prepare"] = time.monotonic() - start
    rerun_spec = rerun_spec or spec
    # the re-run reads only the submission: it runs beside nbgrader's run, in a sandbox of its own, unless no
    # answer was written (a blank submission usually needs none: decided after nbgrader's run, as always)
    early = _Early(lambda: _rerun_submission(root, module, student, folder, rerun_spec, deadline, settings)) \
        if settings.verify and _answered(folder, release) else None

    # autograde: nbgrader writes a scratch gradebook (one per submission, so submissions run in parallel)
    with tempfile.TemporaryDirectory(prefix="msglib-grade-") as tmp:
        scratch = Path(tmp) / "gradebook.db"
        with db_lock:
            shutil.copy2(_main_db_path(root), scratch)
        env_extra = {"MSGLIB_GRADEBOOK_URL": f"sqlite:///{scratch}"}
        if settings.verify:   # hidden tests run once, in the re-run (their score is its verdict)
            env_extra[HIDDEN_IN_RERUN_ENV] = "1"
        if spec is not None:
            env_extra[SPEC_ENV] = spec.to_json()
        t = time.monotonic()
        args, log = _nbgrader_args(module, student, settings), logs / f"{student}--{module}.log"
        try:   # forked from a server that imported nbgrader once (saves its start-up per submission)
            rc, out = supervisor.autograde(args, root, {**nbgrader_env(), **env_extra}, log,
                                           timeout=max(1.0, deadline - time.monotonic()))
        except OSError:
            rc, out = nbgrader(args, root, timeout=max(1.0, deadline - time.monotonic()), log=log,
                               env_extra=env_extra)
        result.phases["autograde"] = time.monotonic() - t
        if rc == -9:
            result.status, result.detail = "timeout", f"stopped after {settings.student_timeout:g} s (endless loop?)"
        elif rc != 0:
            result.status, result.detail = "error", _error_summary(out)
        with db_lock:
            merged = merge_submission(root, f"sqlite:///{scratch}", module, student)

    # one read of each autograded notebook: what passed in nbgrader's run, truncated prints, and answers
    # refused already there for using msglib's own implementation (delegation stubs)
    nbgrader_passed: dict[str, dict[str, bool]] = {}
    for path in _graded_notebooks(root, module, student):
        try:
            graded_nb = nbformat.read(str(path), as_version=4)
        except Exception:
            nbgrader_passed[path.stem] = {}
            continue
        nbgrader_passed[path.stem] = _test_cells_passed(graded_nb)
        for index, cell in enumerate(graded_nb.cells):
            gid = cell.metadata.get("nbgrader", {}).get("grade_id", "")
            if any(TRUNCATED in (o.get("text") or "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream"):
                result.notes.append(f"{path.name} cell {index}: printed output truncated (more than "
                                    f"{OUTPUT_CAP:,} characters); the feedback says so, the grade is unaffected")
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error" and output.get("ename") == "DelegationError":
                    where = f"{gid}: " if gid else ""
                    lines = (output.get("evalue") or "DelegationError").splitlines() or ["DelegationError"]
                    text = where + lines[0][:200]
                    if text not in result.delegation:
                        result.delegation.append(text)

    # the independent re-run: its verdicts are the scores
    t = time.monotonic()
    # every answered submission is re-run (it runs the hidden tests, which nbgrader's run left to it); an
    # unanswered one only when nbgrader's run passed a test, raised something or something was flagged:
    # otherwise its answers are the release's stubs, which pass nothing
    rerun = settings.verify and (early is not None or result.status != "ok" or bool(result.flags)
                                 or any(any(v.values()) for v in nbgrader_passed.values()))
    done = early.result() if early is not None else None   # the re-run started beside nbgrader's run
    if rerun and done is None:
        done = _rerun_submission(root, module, student, folder, rerun_spec, deadline, settings)
    verdicts_by_nb: dict[str, Verdicts] = {}
    hidden_by_nb: dict[str, set[str]] = {}
    if rerun and done is not None:
        verdicts_by_nb, hidden_by_nb = done.verdicts, done.hidden
        result.evidence += done.evidence
        result.delegation += done.delegation
        result.notes += done.notes
        if done.timed_out:
            result.status, result.detail = "timeout", f"stopped after {settings.student_timeout:g} s"
        result.phases["rerun"] = done.seconds
    else:
        result.phases["rerun"] = 0.0
    result.phases["rerun_wait"] = time.monotonic() - t

    with db_lock:
        if verdicts_by_nb:
            if not merged:
                _ensure_submission(root, module, student)
            apply_verdicts(root, result, verdicts_by_nb, nbgrader_passed=nbgrader_passed, on_tamper=settings.on_tamper)
        if result.evidence:
            what = "zeroed" if settings.on_tamper == "zero" else "held for review"
            result.flags.append(f"tampering seen in the independent re-run ({what}): " + "; ".join(result.evidence))
    if result.delegation:
        result.flags.append("answers that use msglib's own implementation of the exercise (they score 0): "
                            + "; ".join(result.delegation[:6]))
    for path in _graded_notebooks(root, module, student):
        if path.stem not in hidden_by_nb:
            hidden_by_nb[path.stem] = _hidden_of(root, module, path, student)
        try:
            shape_feedback(path, verdicts_by_nb.get(path.stem), hidden_by_nb.get(path.stem, set()),
                           settings.hidden_feedback)
        except Exception as exc:
            result.notes.append(f"{path.name}: feedback not shaped ({type(exc).__name__})")
    result.seconds = time.monotonic() - start
    return result


def _hidden_of(root: Path, module: str, path: Path, student: str) -> set[str]:
    """The hidden values of a notebook that was not re-run (so feedback is scrubbed all the same)."""
    try:
        source = nbformat.read(str(root / "solutions" / module / path.name), as_version=4)
        release = nbformat.read(str(root / "notebooks" / module / path.name), as_version=4)
        return hidden_values(build_job(source, release, nbformat.read(str(path), as_version=4), student,
                                       cell_timeout=1))
    except Exception:
        return set()


# -- exports, written as each submission finishes ------------------------------------------------

def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", newline="") as fh:
        fh.write(text)
    os.replace(tmp, path)


UNSANDBOXED = "UNSANDBOXED: graded with --no-sandbox; student code ran with the grader's rights"


def export_grades(root: Path, out: Path, results: list[StudentResult], *, sandboxed: bool = True) -> Path:
    """Per-exercise CSV: one row per (student, module), a column per exercise, status and flags."""
    by_key = {(r.student, r.module): r for r in results}
    rows = []
    exercise_cols: dict[str, float] = {}
    with _gradebook(root) as gb:
        for (student, module), r in sorted(by_key.items()):
            row = {"student_id": student, "module": module, "status": r.status, "detail": r.detail,
                   "flags": " | ".join(r.flags), "evidence": " | ".join(r.evidence),
                   "held_for_review": " ".join(r.held_for_review), "zeroed": " ".join(r.zeroed),
                   "delegation": " | ".join(r.delegation),
                   "needs_review": bool(r.flags or r.status != "ok" or r.held_for_review),
                   "sandbox": "yes" if sandboxed else UNSANDBOXED}
            try:
                sub = gb.find_submission(module, student)
            except Exception:
                sub = None
            total = max_total = 0.0
            if sub is not None:
                for nb in sub.notebooks:
                    for g in nb.grades:
                        col = exercise_of(g.name)
                        row[col] = row.get(col, 0.0) + (g.score or 0.0)
                        exercise_cols[col] = 0
                        total += g.score or 0.0
                        max_total += g.max_score or 0.0
                        if g.needs_manual_grade:
                            row["needs_manual_grading"] = True
                row["score"], row["max_score"] = round(total, 2), round(max_total, 2)
            rows.append(row)
    fields = ["student_id", "module", "score", "max_score", *exercise_cols, "status", "needs_review",
              "needs_manual_grading", "held_for_review", "zeroed", "sandbox", "detail", "flags", "evidence",
              "delegation"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in fields})
    path = out / "grades_by_exercise.csv"
    atomic_write(path, buffer.getvalue())
    return path


def export_nbgrader_csv(root: Path, out: Path, *, sandboxed: bool = True) -> Path:
    """nbgrader's own CSV export (``nbgrader export``), in this process, written atomically."""
    from nbgrader.plugins.export import CsvExportPlugin

    path = out / "grades.csv"
    with tempfile.TemporaryDirectory(prefix="msglib-export-") as tmp:
        target = Path(tmp) / "grades.csv"
        with _gradebook(root) as gb:
            CsvExportPlugin(to=str(target)).export(gb)
        text = target.read_text()
    if not sandboxed:
        text = "# " + UNSANDBOXED + "\n" + text
    atomic_write(path, text)
    return path


def write_report(out: Path, batch: dict, results: list[StudentResult]) -> Path:
    path = out / "report.json"
    atomic_write(path, json.dumps({"batch": batch, "submissions": [r.__dict__ for r in results]}, indent=2))
    return path


# -- what the batch must leave unchanged -----------------------------------------------------------

def _digest_tree(top: Path, *, content: Callable[[Path], bool]) -> dict[str, str]:
    """Path -> SHA-256 of the file (``content(path)`` true) or its inode record (:func:`_inode_record`)."""
    out: dict[str, str] = {}
    if not top.exists():
        return out
    for folder, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            p = Path(folder) / name
            if name.endswith(".pyc"):
                continue
            try:
                if content(p):
                    out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
                else:
                    out[str(p)] = _inode_record(p.lstat())
            except OSError:
                out[str(p)] = "unreadable"
    return out


def _inode_record(st: os.stat_result) -> str:
    """What any change to a file changes: size, mode, inode, modification and inode-change times.

    Writing a file sets its mtime and ctime; ``os.utime`` can put the mtime back but sets the
    ctime to now, and no call lets a process set a ctime (only the clock, which needs
    CAP_SYS_TIME); replacing the file (a rename over it) gives another inode.
    """
    return f"{st.st_size}:{st.st_mode:o}:{st.st_ino}:{st.st_mtime_ns}:{st.st_ctime_ns}"


FINGERPRINT_PARTS = ("package", "venv", "course")


def fingerprint(root: Path, parts: tuple[str, ...] = FINGERPRINT_PARTS) -> dict[str, dict[str, str]]:
    """What student code must never change: the package, the venv and the course files.

    Every file of the package and the course is hashed (SHA-256). The virtual environment's
    files (about 23,000) are compared by their inode record (:func:`_inode_record`: size, mode,
    inode, mtime and ctime, one ``lstat`` each), which any write, ``utime`` or replacement
    changes: 0.25 CPU-s where hashing them cost 0.55, before the batch and again after it.
    """
    import msglib

    out: dict[str, dict[str, str]] = {}
    if "package" in parts:
        out["package"] = _digest_tree(Path(msglib.__file__).resolve().parent, content=lambda p: True)
    if "venv" in parts:
        out["venv"] = _digest_tree(Path(sys.prefix), content=lambda p: False)
    if "course" in parts:
        course = {}
        for part in ("solutions", "notebooks"):
            course.update(_digest_tree(root / part, content=lambda p: True))
        config = root / "nbgrader_config.py"
        if config.exists():
            course[str(config)] = hashlib.sha256(config.read_bytes()).hexdigest()
        out["course"] = course
    return out


def compare_fingerprints(before: dict, after: dict) -> dict[str, Any]:
    report: dict[str, Any] = {}
    for part in before:
        a, b = before[part], after.get(part, {})
        changed = sorted(p for p in a.keys() | b.keys() if a.get(p) != b.get(p))
        report[part] = "identical" if not changed else {"changed": changed[:50], "count": len(changed)}
    return report


# -- the batch ----------------------------------------------------------------------------------

def _compile_package() -> None:
    """Bring msglib's bytecode up to date before the batch, as the grader (outside any sandbox).

    Inside the sandbox the package is read-only, so a module edited since its ``.pyc`` was
    written (a ``git pull``) would be compiled again by every sandboxed process of every
    submission. Where the package cannot be written, nothing happens: the sandboxes compile.
    """
    import compileall

    import msglib

    try:
        compileall.compile_dir(str(Path(msglib.__file__).resolve().parent), quiet=2, workers=1)
    except OSError:
        pass


def _progress(done: int, total: int, r: StudentResult) -> None:
    mark = {"ok": "graded", "error": "ERROR", "timeout": "TIMEOUT"}[r.status]
    extra = []
    if r.flags:
        extra.append(f"{len(r.flags)} flag(s)")
    if r.held_for_review or r.zeroed:
        extra.append("tampering: " + " ".join(r.held_for_review or r.zeroed))
    print(f"[{done:>3}/{total}] {r.module}  {r.student:<24} {mark:<8} {r.seconds:6.1f}s  {r.detail}"
          + (f"  [{'; '.join(extra)}]" if extra else ""), flush=True)


def grade(selected: list[str] | None = None, *, student_timeout: float = 900, verify: bool = True,
          out: str = "grades", root: Path | None = None, release_first: bool = True, jobs: int | None = None,
          sandboxed: bool = True, hidden_feedback: str = "summary", on_tamper: str = "review",
          limits: Limits | None = None) -> int:
    """Autograde ``submitted/<student>/<module>/`` for every student; see the module docstring."""
    root = root or find_root()
    if hidden_feedback not in HIDDEN_FEEDBACK:
        print(f"error: --hidden-feedback must be one of {', '.join(HIDDEN_FEEDBACK)}", file=sys.stderr)
        return 2
    if on_tamper not in ("zero", "review"):
        print("error: --on-tamper must be zero or review", file=sys.stderr)
        return 2
    submitted = root / "submitted"
    if not submitted.is_dir():
        print(f"error: no submissions: put them in {submitted}/<student>/<module>/<notebook>.ipynb "
              "(or use nbgrader collect / zip_collect)", file=sys.stderr)
        return 2
    spec = None
    sandbox_note = UNSANDBOXED
    if sandboxed:
        ok, message = sandbox_check()
        if not ok:
            print(f"error: grading needs the sandbox: {message}\n"
                  "       (to grade anyway with student code running as you, pass --no-sandbox; every report "
                  "then says so)", file=sys.stderr)
            return 2
        spec = default_spec(root, limits)
        sandbox_note = f"bubblewrap: {message}; limits: {sandbox_caps()}"
    mods = selected or sorted({p.name for p in submitted.glob("*/*") if p.is_dir()})
    unknown = [m for m in mods if not (root / "solutions" / m).is_dir()]
    if unknown:
        print(f"error: unknown module(s) {', '.join(unknown)}; choose from {', '.join(modules(root))}",
              file=sys.stderr)
        return 2
    outdir = root / out
    logs = outdir / "logs"
    supervisor.start()   # the fork server imports nbgrader (PRELOAD) while the batch is set up
    released: list[tuple[bool, str]] = []
    releasing = threading.Thread(target=lambda: released.extend(
        _generate_in_server(root, m, logs) for m in (mods if release_first else [])))
    releasing.start()
    _compile_package()
    before = fingerprint(root, ("package", "venv"))   # while the release is generated (the course is after it)
    _import_gradebook()   # meanwhile too: the first submission would wait for it
    releasing.join()
    for ok, text in released:
        if not ok:
            print(text, file=sys.stderr)
            supervisor.stop()
            return 1
    before.update(fingerprint(root, ("course",)))
    settings = Settings(student_timeout=student_timeout, verify=verify, sandboxed=sandboxed,
                        hidden_feedback=hidden_feedback, on_tamper=on_tamper, limits=limits or Limits())
    jobs = max(1, jobs or os.cpu_count() or 1)
    batch = {"sandbox": sandbox_note if sandboxed else UNSANDBOXED, "sandboxed": sandboxed,
             "limits": asdict(settings.limits), "jobs": jobs, "hidden_feedback": hidden_feedback,
             "on_tamper": on_tamper, "verify": verify, "student_timeout": student_timeout,
             "salt": "instructor's (MSGLIB_GRADING_SALT)" if os.environ.get("MSGLIB_GRADING_SALT")
             else "DEFAULT: set MSGLIB_GRADING_SALT, or anyone can compute the hidden cases",
             "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "finished": None, "unchanged": None}
    if not sandboxed:
        print("WARNING: " + UNSANDBOXED, file=sys.stderr)
    work = [(m, student, _known_grade_ids(root, m)) for m in mods
            for student in sorted(p.parent.name for p in submitted.glob(f"*/{m}") if p.is_dir())]
    results: list[StudentResult] = []
    db_lock, export_lock = threading.Lock(), threading.Lock()

    slots = queue.Queue()
    for n in range(jobs):
        slots.put(n)

    def one(item) -> StudentResult:
        m, student, known = item
        slot = slots.get()
        try:
            return grade_student(root, m, student, settings=settings, logs=logs, known=known, db_lock=db_lock,
                                 spec=spec.for_slot(slot) if spec is not None else None,
                                 rerun_spec=spec.for_slot(jobs + slot) if spec is not None else None)
        except Exception as exc:  # a bug or a broken submission never stops the batch
            r = StudentResult(student, m, status="error", detail=f"grader error: {type(exc).__name__}: {exc}"[:300])
            return r
        finally:
            slots.put(slot)

    def export() -> Path:
        """Both grade CSVs from the gradebook as it is now (under the gradebook's lock)."""
        with db_lock:
            path = export_grades(root, outdir, results, sandboxed=sandboxed)
            export_nbgrader_csv(root, outdir, sandboxed=sandboxed)
        return path

    exported = False   # the CSVs hold every result so far (nothing has changed the gradebook since)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(one, item) for item in work]
        for future in as_completed(futures):
            r = future.result()
            with export_lock:
                results.append(r)
                try:
                    export()
                    exported = True
                except Exception as exc:
                    exported = False
                    r.notes.append(f"export failed: {type(exc).__name__}: {exc}")
                write_report(outdir, batch, results)
                _progress(len(results), len(work), r)
    def feedback() -> None:
        for m in mods:   # forked from the same server (it imported nbgrader once): no second start-up of nbgrader
            parts = _feedback_parts(root, m, jobs)
            with ThreadPoolExecutor(max_workers=len(parts)) as writers:
                list(writers.map(lambda i: _feedback_part(root, m, parts, i, logs), range(len(parts))))
        supervisor.stop()

    # feedback (a process of its own) while this one writes the similarity report and compares the hashes
    writing = _Early(feedback)
    try:  # answers compared with each other, with solutions/ and with msglib's own implementations
        from msglib.grading import similarity
        pairs = similarity.report(root, mods, outdir)
        batch["similarity"] = {"suspicious_pairs": sum(1 for p in pairs if p.suspicious),
                               "csv": str(outdir / "similarity.csv"), "html": str(outdir / "similarity.html")}
    except Exception as exc:  # the report is advice for the instructor; grades stand without it
        batch["similarity"] = f"not produced: {type(exc).__name__}: {exc}"
    batch["unchanged"] = compare_fingerprints(before, fingerprint(root))
    writing.result()
    batch["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    # the last export failed, or there was nothing to grade: export now
    path = outdir / "grades_by_exercise.csv" if exported and results else export()
    report = write_report(outdir, batch, results)
    bad = [r for r in results if r.status != "ok"]
    flagged = [r for r in results if r.flags]
    print(f"\n{len(results)} submission(s) graded: {len(bad)} error/timeout, {len(flagged)} flagged for review.")
    print(f"grades: {outdir / 'grades.csv'} (nbgrader) and {path} (per exercise); feedback: feedback/; "
          f"report: {report}; logs: {logs}/")
    if isinstance(batch.get("similarity"), dict):
        print(f"similarity: {batch['similarity']['suspicious_pairs']} suspicious pair(s) in "
              f"{batch['similarity']['csv']} and {batch['similarity']['html']}")
    changed = {k: v for k, v in batch["unchanged"].items() if v != "identical"}
    print("package, venv and course files: " + ("identical before and after the batch" if not changed
                                                else f"CHANGED during the batch: {json.dumps(changed)[:500]}"))
    if not sandboxed:
        print("WARNING: " + UNSANDBOXED)
    for r in flagged:
        for f in r.flags:
            print(f"  review {r.student} {r.module}: {f}")
    return 1 if changed else 0


def verify_student(root: Path, result: StudentResult, *, sandboxed: bool | None = None) -> list[str]:
    """Independent re-run of an autograded submission: the test cells that passed for nbgrader but fail here."""
    if sandboxed is None:
        sandboxed = sandbox_check()[0]
    spec = default_spec(root) if sandboxed else None
    lost = []
    for path in _graded_notebooks(root, result.module, result.student):
        source = root / "solutions" / result.module / path.name
        release_path = root / "notebooks" / result.module / path.name
        with tempfile.TemporaryDirectory(prefix="msglib-rerun-") as ws:
            found, _ = rerun_notebook(source, release_path, path, result.student, cell_timeout=_cell_timeout(),
                                      spec=spec, timeout=1800, workspace=Path(ws))
        original = _test_cells_passed(nbformat.read(str(path), as_version=4))
        lost += [f"{path.stem}:{gid}" for gid, ok in original.items() if ok and not found.passed.get(gid, False)]
    return lost
