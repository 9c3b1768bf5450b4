"""Grading you can trust: the real nbgrader, on throwaway course folders.

* every module: the reference earns full marks, the untouched release 0, and a
  submission made of known-wrong implementations (the first one of every exercise)
  loses points on every exercise. All the known-wrong implementations go
  through the same test cells in-process in tests/test_exercises.py, with
  nbgrader's stderr rule; one round through the real nbgrader per module keeps
  the two honest without paying a kernel run per mistake;
* module 00 through the instructor's `grade` pipeline: tampered, hostile,
  endless and broken submissions gain nothing they did not earn, are reported
  by name, and the batch goes on; a correct solution that warns keeps full marks;
  feedback shows no hidden tests; grades export per exercise.

Each protection has a test here that fails if the protection is removed.
"""
from __future__ import annotations

import csv
import fcntl
import json
import os
import time
from pathlib import Path

import nbformat
import pytest

from msglib.grading import pipeline
from tests.conftest import ROOT, make_course
from tests.exercise_harness import wrong_implementations

pytestmark = pytest.mark.slow
CELL_TIMEOUT = 30          # generous: a slow CI machine must not fail a correct notebook
HOSTILE_CELL_TIMEOUT = 5   # the endless-loop scenarios: keep their timeouts short
MODULE = "00_why_messaging"
NB_NAME = f"{MODULE}.ipynb"


@pytest.fixture(autouse=True)
def _short_cell_timeout(monkeypatch):
    monkeypatch.setenv("MSGLIB_CELL_TIMEOUT", str(CELL_TIMEOUT))


def _release_nb(module: str, name: str | None = None):
    return nbformat.read(str(ROOT / "notebooks" / module / (name or f"{module}.ipynb")), as_version=4)


def _source_nb(module: str, name: str | None = None):
    return nbformat.read(str(ROOT / "solutions" / module / (name or f"{module}.ipynb")), as_version=4)


def _cell(nb, grade_id: str):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _solve(nb, module: str, name: str | None = None):
    """The release notebook with every answer cell filled in from the instructor's source."""
    source = _source_nb(module, name)
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            _cell(nb, meta["grade_id"]).source = cell.source
    return nb


def _submit(course: Path, student: str, module: str, nb=None, *, raw: str | None = None, name: str | None = None):
    folder = course / "submitted" / student / module
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"{module}.ipynb")
    if raw is not None:
        path.write_text(raw)
    else:
        nbformat.write(nb, str(path))


def _scores(course: Path, module: str, student: str) -> dict[str, tuple[float | None, bool]]:
    """grade id → (score, needs_manual_grade); {} if the submission was not graded."""
    with pipeline._gradebook(course) as gb:
        try:
            sub = gb.find_submission(module, student)
        except Exception:
            return {}
        return {g.name: (g.score, g.needs_manual_grade) for nb in sub.notebooks for g in nb.grades}


def _exercise_score(scores, exercise: str) -> float:
    return sum(s or 0.0 for gid, (s, _) in scores.items() if gid == exercise or gid.startswith(exercise + "-"))


def _autograded_points(nb) -> dict[str, float]:
    """exercise → points of its autograded (test/hidden) cells."""
    out: dict[str, float] = {}
    for c in nb.cells:
        meta = c.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            ex = meta["grade_id"].rsplit("-", 1)[0]
            out[ex] = out.get(ex, 0.0) + meta["points"]
    return out


# -- every module: reference, blank, known-wrong implementations ---------------------------------

MODULES = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())


@pytest.mark.parametrize("module", MODULES)
def test_reference_full_marks_blank_zero_and_every_wrong_implementation_loses_points(module, tmp_path):
    course = make_course(tmp_path, [module])
    assert pipeline.release(root=course) == 0
    names = sorted(p.name for p in (ROOT / "solutions" / module).glob("*.ipynb"))
    wrong = wrong_implementations(module[:2])
    rounds = min(1, max((len(v) for v in wrong.values()), default=0))
    for name in names:
        _submit(course, "ref", module, _source_nb(module, name), name=name)
        _submit(course, "blank", module, _release_nb(module, name), name=name)
        for k in range(rounds):
            nb = _solve(_release_nb(module, name), module, name)
            for ex, items in wrong.items():
                cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == ex]
                if cells and k < len(items):
                    cells[0].source = items[k][1]
            _submit(course, f"wrong{k}", module, nb, name=name)
    # one nbgrader process for the whole batch (the per-submission pipeline is exercised on module 00 below),
    # its kernels in the grading sandbox as `msglib grade` starts them (where bubblewrap works)
    from msglib.grading import sandbox
    from msglib.grading.verdicts import rerun_notebook

    sandboxed = sandbox.check()[0]
    args, env = ["autograde", module, "--force"], {}
    if sandboxed:
        args.append("--Execute.kernel_manager_class=msglib.grading.sandbox.SandboxKernelManager")
        env[pipeline.SPEC_ENV] = sandbox.default_spec(course).to_json()
    rc, out = pipeline.nbgrader(args, course, timeout=1800, env_extra=env)
    assert rc == 0, out[-3000:]
    # the independent re-run (sandboxed too) must not take a point from a correct submission ...
    assert pipeline.verify_student(course, pipeline.StudentResult("ref", module), sandboxed=sandboxed) == []
    # ... and the verdicts that count, the re-run's, fail every known-wrong implementation as well
    for k in range(rounds):
        for name in names:
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("MSGLIB_GRADING_SALT", "wrong-implementations-salt")
                workspace = tmp_path / f"rerun-{k}-{name}"
                workspace.mkdir()
                found, _ = rerun_notebook(ROOT / "solutions" / module / name, course / "notebooks" / module / name,
                                          course / "submitted" / f"wrong{k}" / module / name, f"wrong{k}",
                                          cell_timeout=CELL_TIMEOUT, spec=sandbox.default_spec(course)
                                          if sandboxed else None, timeout=600, workspace=workspace)
            for ex, items in wrong.items():
                tests = [g for g in found.passed if g.startswith(ex + "-")]
                if k < len(items) and tests:
                    assert not all(found.passed[g] for g in tests), \
                        f"{ex}: known-wrong implementation #{k} ({items[k][0]}) passes the independent re-run"
    points = {}
    for name in names:
        points.update(_autograded_points(_source_nb(module, name)))
    ref, blank = _scores(course, module, "ref"), _scores(course, module, "blank")
    for ex, pts in points.items():
        assert _exercise_score(ref, ex) == pts, f"reference loses points on {ex}: {ref}"
    assert sum(s or 0.0 for s, _ in blank.values()) == 0, f"the untouched release earns points: {blank}"
    for k in range(rounds):
        got = _scores(course, module, f"wrong{k}")
        for ex, items in wrong.items():
            if k < len(items):
                assert _exercise_score(got, ex) < points[ex], \
                    f"{ex}: known-wrong implementation #{k} ({items[k][0]}) keeps full marks"


# -- module 00 through the instructor's pipeline: tampering, hostility, failures ---------------------

WRONG_CALL_CHAIN = "def call_chain(calls):\n    return 0.0\n"
SOLUTION_CALL_CHAIN = _cell(_source_nb(MODULE), "00-call_chain").source


def _scenario(name: str):
    """(notebook or raw text) for each submission scenario."""
    nb = _solve(_release_nb(MODULE), MODULE)
    if name == "edit_test":           # wrong answer, visible and hidden tests replaced by `pass`
        _cell(nb, "00-call_chain").source = WRONG_CALL_CHAIN
        _cell(nb, "00-call_chain-test").source = "pass"
        _cell(nb, "00-call_chain-hidden").source = "pass"
    elif name == "delete_test":       # wrong call_chain, correct handle; all test cells deleted
        _cell(nb, "00-call_chain").source = WRONG_CALL_CHAIN
        nb.cells = [c for c in nb.cells if not (c.metadata.get("nbgrader", {}).get("grade")
                                               and not c.metadata["nbgrader"].get("solution"))]
    elif name == "rename_test":       # correct answers; a test cell's grade id renamed (copy-paste accident)
        cell = _cell(nb, "00-call_chain-test")
        cell.metadata["nbgrader"]["grade_id"] = "my_test"
        cell.source = "pass"
    elif name == "monkeypatch":       # wrong answer; the checks replaced from the learner's own cell
        _cell(nb, "00-call_chain").source = WRONG_CALL_CHAIN + (
            "import msglib.grading.ex00 as ex00\n"
            "ex00.check_call_chain = lambda *a, **k: None\n"
            "ex00.hidden_call_chain = lambda *a, **k: None\n")
    elif name == "redefine":          # wrong answer in the solution cell, the right one pasted in a later cell
        _cell(nb, "00-call_chain").source = WRONG_CALL_CHAIN
        index = nb.cells.index(_cell(nb, "00-call_chain"))
        nb.cells.insert(index + 1, nbformat.v4.new_code_cell(SOLUTION_CALL_CHAIN.replace("### ", "# ")))
    elif name == "loop":              # an endless loop in one exercise
        _cell(nb, "00-call_chain").source = "def call_chain(calls):\n    while True:\n        pass\n"
    elif name == "loop_nasty":        # an endless loop that swallows the interrupt
        _cell(nb, "00-call_chain").source = (
            "def call_chain(calls):\n    while True:\n        try:\n            while True:\n"
            "                pass\n        except KeyboardInterrupt:\n            pass\n")
    elif name == "megabytes":         # correct, but prints megabytes
        _cell(nb, "00-call_chain").source = SOLUTION_CALL_CHAIN + "\nprint('x' * 200_000_000)\n"
    elif name == "import_fail":       # a module that does not exist
        _cell(nb, "00-call_chain").source = "import numpyy\n" + SOLUTION_CALL_CHAIN
    elif name == "warns":             # correct, but warns and writes to stderr on every call
        _cell(nb, "00-call_chain").source = SOLUTION_CALL_CHAIN.replace(
            "    total = 0.0\n",
            "    import sys, warnings\n    warnings.warn('deprecated', DeprecationWarning)\n"
            "    print('debug', file=sys.stderr)\n    total = 0.0\n")
    elif name == "rerun_loop":        # correct in the notebook run, an endless loop only in the re-run
        _cell(nb, "00-call_chain").source = SOLUTION_CALL_CHAIN.replace(
            "    total = 0.0\n", "    import sys\n    while sys.flags.isolated:\n        pass\n    total = 0.0\n")
    elif name == "corrupt":
        return json.dumps(nb)[: 5000]
    return nb


SCENARIOS = ["edit_test", "delete_test", "rename_test", "monkeypatch", "redefine", "loop", "loop_nasty",
             "megabytes", "import_fail", "warns", "corrupt", "rerun_loop"]
# Each group is graded in its own course folder (pytest-xdist runs groups side by side).
GROUPS = {
    "tamper": ["edit_test", "delete_test", "rename_test", "monkeypatch", "redefine"],
    "hostile": ["loop", "loop_nasty", "corrupt", "rerun_loop"],
    "noisy": ["megabytes", "import_fail", "warns"],
}


def _need_sandbox() -> None:
    from msglib.grading import sandbox

    ok, message = sandbox.check()
    if not ok:
        pytest.skip(f"make grade needs its sandbox and it cannot start here ({message}); "
                    "the per-module tests above still run nbgrader and the re-run unsandboxed")


def _shared_dir(tmp_path_factory) -> Path:
    """A folder every pytest-xdist worker of this run sees (each worker's basetemp is inside it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    """Grade a group of scenarios once per test run, whichever worker asks first.

    The first worker to ask takes the group's lock and grades; one asking meanwhile
    waits on the lock and then reads the same course folder and report. The first test
    of each group grades it; the others are marked ``late`` (conftest runs them last),
    so they usually find the batch done instead of waiting.
    """
    shared = _shared_dir(tmp_path_factory)
    _need_sandbox()

    def run(group: str):
        folder = shared / f"graded-{group}"
        with open(shared / f"graded-{group}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            if not (folder / "done.json").exists():
                os.environ["MSGLIB_CELL_TIMEOUT"] = str(HOSTILE_CELL_TIMEOUT if group == "hostile"
                                                        else CELL_TIMEOUT)
                os.environ["MSGLIB_GRADING_SALT"] = SALT
                folder.mkdir(exist_ok=True)
                course = make_course(folder, [MODULE])
                for name in GROUPS[group]:
                    scenario = _scenario(name)
                    if isinstance(scenario, str):
                        _submit(course, name, MODULE, raw=scenario)
                    else:
                        _submit(course, name, MODULE, scenario)
                start = time.monotonic()
                rc = pipeline.grade([MODULE], student_timeout=150, root=course)
                elapsed = time.monotonic() - start
                (folder / "done.json").write_text(json.dumps({"rc": rc, "elapsed": elapsed}))
        course = folder / "course"
        done = json.loads((folder / "done.json").read_text())
        report = {r["student"]: r for r in json.loads((course / "grades" / "report.json").read_text())["submissions"]}
        return course, done["rc"], report, done["elapsed"]
    return run


FULL = 5.0  # each exercise: 2 visible + 3 hidden points
SALT = "instructor-salt-for-the-pipeline-tests"


def test_edited_test_cells_are_restored_and_run(graded):
    course, _, report, _ = graded("tamper")
    scores = _scores(course, MODULE, "edit_test")
    assert _exercise_score(scores, "00-call_chain") == 0
    assert _exercise_score(scores, "00-queue_handler") == FULL
    assert report["edit_test"]["status"] == "ok"


@pytest.mark.late
def test_deleted_test_cells_are_put_back_and_graded_not_left_for_manual_grading(graded):
    course, _, _, _ = graded("tamper")
    scores = _scores(course, MODULE, "delete_test")
    assert _exercise_score(scores, "00-call_chain") == 0
    assert _exercise_score(scores, "00-queue_handler") == FULL  # the restored tests ran on the correct handler
    assert not any(manual for gid, (_, manual) in scores.items() if gid.endswith(("-test", "-hidden")))


@pytest.mark.late
def test_a_renamed_test_cell_is_repaired_graded_and_flagged(graded):
    course, _, report, _ = graded("tamper")
    scores = _scores(course, MODULE, "rename_test")
    assert report["rename_test"]["status"] == "ok"
    assert _exercise_score(scores, "00-call_chain") == FULL
    assert any("unknown grade id 'my_test'" in f for f in report["rename_test"]["flags"])


@pytest.mark.late
def test_monkeypatching_the_checks_gains_nothing_and_is_flagged(graded):
    course, _, report, _ = graded("tamper")
    scores = _scores(course, MODULE, "monkeypatch")
    assert _exercise_score(scores, "00-call_chain") == 0
    assert _exercise_score(scores, "00-queue_handler") == FULL
    flags = " ".join(report["monkeypatch"]["flags"])
    assert "assigns into msglib" in flags and "independent re-run" in flags


@pytest.mark.late
def test_redefining_the_function_outside_its_solution_cell_gains_nothing(graded):
    course, _, report, _ = graded("tamper")
    scores = _scores(course, MODULE, "redefine")
    assert _exercise_score(scores, "00-call_chain") == 0
    assert any("independent re-run" in f for f in report["redefine"]["flags"])


def test_an_endless_loop_costs_only_its_exercise(graded):
    course, _, report, elapsed = graded("hostile")
    scores = _scores(course, MODULE, "loop")
    assert report["loop"]["status"] == "ok"
    assert _exercise_score(scores, "00-call_chain") == 0
    assert _exercise_score(scores, "00-queue_handler") == FULL


@pytest.mark.late
def test_a_loop_that_swallows_the_interrupt_is_stopped_reported_and_the_batch_goes_on(graded):
    course, rc, report, elapsed = graded("hostile")
    assert report["loop_nasty"]["status"] in ("error", "timeout")
    scores = _scores(course, MODULE, "loop_nasty")
    assert _exercise_score(scores, "00-call_chain") == 0
    # nbgrader gave up on the notebook; the re-run's verdicts count: the loop costs only its exercise
    assert _exercise_score(scores, "00-queue_handler") == FULL
    assert any("KeyboardInterrupt" in f for f in report["loop_nasty"]["flags"])
    assert report["corrupt"]["status"] == "error"          # graded after loop_nasty: the batch went on
    assert "NotJSONError" in report["corrupt"]["detail"]
    assert "CellTimeoutError" in report["loop_nasty"]["detail"] or report["loop_nasty"]["status"] == "timeout"
    assert report["loop_nasty"]["seconds"] < 150            # within the configured per-submission limit
    rows = list(csv.DictReader((course / "grades" / "grades_by_exercise.csv").open()))
    assert {r["student_id"] for r in rows} == set(GROUPS["hostile"])
    assert all(r["needs_review"] == "True" for r in rows if r["student_id"] not in ("loop", "rerun_loop"))


def test_printing_megabytes_is_truncated_and_scored_normally(graded):
    """A 200 MB print beside a correct answer: cut in the kernel, full marks, status ok (not an error), and
    the student's feedback and the report say the output was truncated."""
    course, _, report, _ = graded("noisy")
    scores = _scores(course, MODULE, "megabytes")
    assert _exercise_score(scores, "00-call_chain") == FULL
    assert report["megabytes"]["status"] == "ok", report["megabytes"]
    assert any("output truncated" in n for n in report["megabytes"]["notes"]), report["megabytes"]["notes"]
    size = (course / "autograded" / "megabytes" / MODULE / NB_NAME).stat().st_size
    assert size < 1_000_000, f"autograded notebook is {size} bytes"
    feedback = "".join(p.read_text() for p in (course / "feedback" / "megabytes").rglob("*.html"))
    assert "output truncated by the grader" in feedback


@pytest.mark.late
def test_an_import_failure_costs_only_its_exercise(graded):
    course, _, report, _ = graded("noisy")
    scores = _scores(course, MODULE, "import_fail")
    assert _exercise_score(scores, "00-call_chain") == 0
    assert _exercise_score(scores, "00-queue_handler") == FULL


@pytest.mark.late
def test_a_correct_solution_that_warns_keeps_full_marks(graded):
    course, _, _, _ = graded("noisy")
    scores = _scores(course, MODULE, "warns")
    assert _exercise_score(scores, "00-call_chain") == FULL


@pytest.mark.late
def test_grades_export_per_exercise_and_feedback_hides_hidden_tests(graded):
    course, _, _, _ = graded("noisy")
    rows = list(csv.DictReader((course / "grades" / "grades_by_exercise.csv").open()))
    assert {"00-call_chain", "00-queue_handler", "00-reflect_latency"} <= set(rows[0])
    assert (course / "grades" / "grades.csv").exists()
    import re
    hidden_names = {m for c in _source_nb(MODULE).cells if "### BEGIN HIDDEN TESTS" in c.source
                    for m in re.findall(r"hidden_\w+", c.source)}
    assert hidden_names
    pages = list((course / "feedback").rglob("*.html"))
    assert pages
    for page in pages:
        text = page.read_text()
        assert "BEGIN HIDDEN TESTS" not in text
        assert not any(name in text for name in hidden_names), f"{page} shows a hidden test"


@pytest.mark.late
def test_hidden_tests_run_once_in_the_rerun_which_scores_them(graded):
    """nbgrader's kernel never runs a hidden test under `msglib grade` (nor sees its key): nbgrader's own
    score of every hidden cell is 0, and the re-run's verdict is the score that counts: full for the
    correct student, 0 where the answer fails to import."""
    course, _, _, _ = graded("noisy")
    hidden = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for c in _source_nb(MODULE).cells
              if "### BEGIN HIDDEN TESTS" in c.source}
    assert hidden
    with pipeline._gradebook(course) as gb:
        grades = {student: {g.name: (g.auto_score, g.score) for nb in gb.find_submission(MODULE, student).notebooks
                            for g in nb.grades if g.name in hidden}
                  for student in ("warns", "import_fail")}
    for student, found in grades.items():
        assert set(found) == set(hidden)
        assert all(auto == 0 for auto, _ in found.values()), f"{student}: a hidden test ran in nbgrader's kernel"
    assert {gid: score for gid, (_, score) in grades["warns"].items()} == hidden
    assert grades["import_fail"]["00-call_chain-hidden"][1] == 0
    assert grades["import_fail"]["00-queue_handler-hidden"][1] == hidden["00-queue_handler-hidden"]


@pytest.mark.late
def test_an_endless_loop_only_in_the_rerun_is_stopped_and_the_test_scores_zero(graded):
    course, _, report, _ = graded("hostile")
    scores = _scores(course, MODULE, "rerun_loop")
    assert _exercise_score(scores, "00-call_chain") == 0
    assert _exercise_score(scores, "00-queue_handler") == FULL
    assert report["rerun_loop"]["seconds"] < 150
    assert any("independent re-run" in f for f in report["rerun_loop"]["flags"])


@pytest.mark.late
def test_the_batch_says_it_was_sandboxed_and_left_venv_and_course_unchanged(graded):
    course, _, _, _ = graded("noisy")
    batch = json.loads((course / "grades" / "report.json").read_text())["batch"]
    assert batch["sandboxed"] and batch["sandbox"].startswith("bubblewrap")
    assert batch["unchanged"]["venv"] == "identical" and batch["unchanged"]["course"] == "identical"
    assert batch["salt"].startswith("instructor's")
    assert batch["jobs"] == (os.cpu_count() or 1)         # -j defaults to the number of cores
    assert batch["on_tamper"] == "review" and batch["hidden_feedback"] == "summary"   # the defaults
    rows = list(csv.DictReader((course / "grades" / "grades_by_exercise.csv").open()))
    assert {r["sandbox"] for r in rows} == {"yes"}


@pytest.mark.late
def test_feedback_never_holds_the_salt_the_keys_or_the_hidden_seeds(graded):
    from msglib.grading import core

    for group in ("noisy", "tamper"):
        course, _, _, _ = graded(group)
        for page in (course / "feedback").rglob("*.html"):
            student = page.relative_to(course / "feedback").parts[0]
            text = page.read_text()
            assert SALT not in text
            for ex in ("00-call_chain", "00-queue_handler"):
                key = core.hidden_key(SALT, student, ex)
                core.use_hidden_key(key)
                try:
                    hidden = core.seeds(ex, 16, hidden=True)
                finally:
                    core.use_hidden_key(None)
                assert key not in text
                assert not [s for s in hidden if str(s) in text], f"{page} shows a hidden seed of {ex}"


def test_unsandboxed_grades_say_so_everywhere(tmp_path, monkeypatch):
    monkeypatch.setenv("MSGLIB_CELL_TIMEOUT", str(CELL_TIMEOUT))
    course = make_course(tmp_path, [MODULE])
    _submit(course, "blank", MODULE, _release_nb(MODULE))
    assert pipeline.grade([MODULE], root=course, sandboxed=False, student_timeout=150) in (0, 1)
    assert "UNSANDBOXED" in (course / "grades" / "grades.csv").read_text().splitlines()[0]
    rows = list(csv.DictReader((course / "grades" / "grades_by_exercise.csv").open()))
    assert rows and all(r["sandbox"].startswith("UNSANDBOXED") for r in rows)
    batch = json.loads((course / "grades" / "report.json").read_text())["batch"]
    assert batch["sandboxed"] is False and batch["sandbox"].startswith("UNSANDBOXED")
    # the unsandboxed kernel talks TCP: its transport is encrypted (CurveZMQ), so ipykernel has nothing to warn
    log = (course / "grades" / "logs" / f"blank--{MODULE}.log").read_text()
    assert "without encryption" not in log and "signing is disabled" not in log, log[-2000:]


def test_on_tamper_zero_zeroes_the_tampered_exercise_and_review_holds_it(tmp_path, monkeypatch):
    """Correct answers, one of which also walks the interpreter's objects (denied and recorded in the re-run):
    ``--on-tamper zero`` scores that exercise 0 and names it in ``zeroed``; the default, ``review``, keeps
    the score and names it in ``held_for_review``. The other exercise keeps its marks either way."""
    _need_sandbox()
    monkeypatch.setenv("MSGLIB_CELL_TIMEOUT", str(CELL_TIMEOUT))
    course = make_course(tmp_path, [MODULE])
    nb = _solve(_release_nb(MODULE), MODULE)
    _cell(nb, "00-call_chain").source = SOLUTION_CALL_CHAIN + (
        "\nimport gc\ntry:\n    gc.get_referrers(call_chain)\nexcept Exception:\n    pass\n")
    _submit(course, "walker", MODULE, nb)
    for mode, zeroed, held, points in (("zero", ["00-call_chain"], [], 0.0),
                                       ("review", [], ["00-call_chain"], FULL)):
        assert pipeline.grade([MODULE], root=course, student_timeout=150, on_tamper=mode) in (0, 1)
        report = {r["student"]: r for r in json.loads((course / "grades" / "report.json").read_text())["submissions"]}
        walker = report["walker"]
        assert walker["zeroed"] == zeroed and walker["held_for_review"] == held, (mode, walker)
        assert any("gc.get_referrers" in e for e in walker["evidence"]), walker["evidence"]
        scores = _scores(course, MODULE, "walker")
        assert _exercise_score(scores, "00-call_chain") == points, (mode, scores)
        assert _exercise_score(scores, "00-queue_handler") == FULL, (mode, scores)
        row = next(csv.DictReader((course / "grades" / "grades_by_exercise.csv").open()))
        assert row["needs_review"] == "True" and "gc.get_referrers" in row["evidence"]


def test_a_killed_batch_leaves_everything_graded_so_far(tmp_path):
    _need_sandbox()
    import signal
    import subprocess
    import sys

    course = make_course(tmp_path, [MODULE])
    for student in ("a_blank", "b_blank", "c_loop"):
        nb = _release_nb(MODULE)
        if student == "c_loop":
            nb = _scenario("loop_nasty")
        _submit(course, student, MODULE, nb)
    env = {**os.environ, "MSGLIB_CELL_TIMEOUT": "5"}
    proc = subprocess.Popen([sys.executable, "-m", "msglib", "grade", MODULE, "-j", "1"], cwd=course, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    report = course / "grades" / "report.json"
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            if report.exists() and len(json.loads(report.read_text())["submissions"]) >= 2:
                break
            time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    graded_so_far = {r["student"] for r in json.loads(report.read_text())["submissions"]}
    assert {"a_blank", "b_blank"} <= graded_so_far
    rows = list(csv.DictReader((course / "grades" / "grades_by_exercise.csv").open()))
    assert {r["student_id"] for r in rows} == graded_so_far
    assert [ln for ln in (course / "grades" / "grades.csv").read_text().splitlines() if "_blank" in ln]
