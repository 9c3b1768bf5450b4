"""The integrity scan and the re-run guard, on their own."""
from __future__ import annotations

from pathlib import Path

import nbformat

from msglib.grading import guard
from msglib.grading.integrity import scan_source
from tests.conftest import ROOT


def test_scan_flags_tampering_and_not_ordinary_code():
    ordinary = "import math\nfrom msglib.chain import ServiceDown\n" \
               "def call_chain(calls):\n    total = 0\n    for c in calls:\n        total += c()\n    return total\n"
    assert scan_source(ordinary) == []
    cleanup = "def f(conn):\n    try:\n        pass\n    except BaseException:\n        conn.rollback()\n        raise\n" \
              "runner.kill()\n"
    assert scan_source(cleanup) == []
    flags = [f.reason for f in scan_source(
        "import msglib.grading.ex00 as ex\nex.check_call_chain = print\n"
        "from msglib.log import Log\nLog.append = None\nsetattr(ex, 'x', 1)\n"
        "try:\n    pass\nexcept KeyboardInterrupt:\n    pass\nimport gc\nf = print.__code__\nimport sys\n"
        "sys.modules.clear()\n")]
    assert any("assigns into msglib (ex.check_call_chain)" in r for r in flags)
    assert any("assigns into msglib (Log.append)" in r for r in flags)
    assert any("setattr" in r for r in flags)
    assert any("KeyboardInterrupt" in r for r in flags)
    assert any("imports gc" in r for r in flags)
    assert any("__code__" in r for r in flags)
    assert any("sys.modules" in r for r in flags)


def test_guard_restores_patched_modules_classes_and_functions():
    import msglib.chain as chain
    from msglib.grading import ex00

    guard.arm()
    original_check, original_code = ex00.check_call_chain, chain.call_chain.__code__
    try:
        ex00.check_call_chain = lambda *a: None
        chain.call_chain.__code__ = (lambda calls: 0).__code__
        chain.ChainConfig.uniform = None
        chain.injected = 1
        guard.restore()
        assert ex00.check_call_chain is original_check
        assert chain.call_chain.__code__ is original_code
        assert callable(chain.ChainConfig.uniform)
        assert not hasattr(chain, "injected")
    finally:
        ex00.check_call_chain = original_check
        chain.call_chain.__code__ = original_code


def test_pins_bind_the_solution_cells_definitions_during_tests_only():
    ns = {"f": "solution version"}
    guard.pin("00-x", ns, ["f"])
    ns["f"] = "redefined later"
    guard.enter_test("00-x", ns)
    assert ns["f"] == "solution version"
    guard.leave_test(ns)
    assert ns["f"] == "redefined later"


def test_a_snapshot_kept_apart_restores_msglib_even_if_the_module_level_one_is_poisoned():
    import msglib.chain as chain

    snapshot = guard.Snapshot.take()
    original = chain.call_chain
    try:
        guard.arm()
        guard._snapshot.modules.clear()          # what a submission reaching into the guard could do
        chain.call_chain = lambda calls: 0
        guard.restore()                          # the poisoned module-level snapshot restores nothing
        assert chain.call_chain is not original
        snapshot.restore()                       # the re-run's own snapshot (held in its locals) does
        assert chain.call_chain is original
    finally:
        chain.call_chain = original


def test_the_pipeline_restores_stripped_metadata_by_cell_id_and_matches_a_renamed_notebook(tmp_path):
    from msglib.grading.pipeline import _release_notebooks, match_notebook_names, repair_submission
    from tests.conftest import make_course

    course = make_course(tmp_path, ["00_why_messaging"])
    release = _release_notebooks(course, "00_why_messaging")
    nb = release["00_why_messaging"]
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    folder = course / "submitted" / "s" / "00_why_messaging"
    folder.mkdir(parents=True)
    nbformat.write(nb, str(folder / "my copy.ipynb"))
    notes = match_notebook_names(folder, release)
    assert notes and (folder / "00_why_messaging.ipynb").exists()
    repair_submission(folder, {"00_why_messaging": {c.metadata["nbgrader"]["grade_id"] for c in
                                                    _release_notebooks(course, "00_why_messaging")
                                                    ["00_why_messaging"].cells if "nbgrader" in c.metadata}},
                      _release_notebooks(course, "00_why_messaging"))
    repaired = nbformat.read(str(folder / "00_why_messaging.ipynb"), as_version=4)
    fresh = _release_notebooks(course, "00_why_messaging")["00_why_messaging"]
    assert [c.metadata.get("nbgrader") for c in repaired.cells] == [c.metadata.get("nbgrader") for c in fresh.cells]


def test_hidden_feedback_never_shows_seeds_inputs_or_keys():
    from msglib.grading.pipeline import _scrub, hidden_message

    raw = ("hops [5 ms → 7 ms]: replies arrive out of order\nsmallest case: [3, 1]\n"
           "seed: 1384952104  (pass seed=...)\nhint: sort by 'offset'")
    assert hidden_message(raw, "none") == "a hidden test failed"
    assert hidden_message(raw, "summary") == "a hidden test failed: hops …: replies arrive out of order"
    assert hidden_message(raw, "full") == ("a hidden test failed: hops …: replies arrive out of order\n"
                                           "hint: sort by …")
    assert "1384952104" not in _scrub(raw, {"1384952104"}) and "[3, 1]" in _scrub(raw, {"1384952104"})


def test_scan_names_writes_ipython_hooks_and_leaves_the_reference_solutions_alone():
    import glob

    from msglib.grading.integrity import scan_notebook

    flags = " | ".join(f.reason for f in scan_source(
        "with open(ex00.__file__, 'a') as f:\n    f.write('x')\nip = get_ipython()\n"
        "ip.input_transformers_cleanup.append(1)\nip.set_custom_exc((Exception,), print)\n"
        "account.open('sam')\n"))
    assert "open(..., 'a')" in flags and "get_ipython" in flags
    assert "input_transformers_cleanup" in flags and "set_custom_exc" in flags
    assert "'sam'" not in flags                                  # a domain object's open() is not a file
    for path in sorted(glob.glob(str(ROOT / "solutions" / "*" / "*.ipynb"))):
        # the answer cells are scanned; the course's own cells (as released) are not a learner's doing
        release = ROOT / "notebooks" / Path(path).parent.name / Path(path).name
        assert scan_notebook(nbformat.read(path, as_version=4), nbformat.read(str(release), as_version=4)) == [], path
    # ... but the same demo code written by a learner in a cell of their own is flagged
    assert any("imports threading" in f.reason for f in scan_source("import threading\n"))


def test_the_kernel_output_cap_cuts_each_cell_and_says_so():
    """msglib.grading.output_cap: at most ``max_chars`` per cell and stream, one note, a fresh budget per cell."""
    import io

    from msglib.grading.output_cap import TRUNCATED, CappedStream

    target = io.StringIO()
    capped = CappedStream(target, 10)
    assert capped.write("x" * 1_000_000) == 1_000_000
    capped.write("more")
    text = target.getvalue()
    assert text.startswith("x" * 10 + "\n") and text.count(TRUNCATED) == 1 and len(text) < 200
    capped.reset()
    capped.write("short")
    assert target.getvalue().endswith("short")


def test_a_hidden_test_left_to_a_re_run_that_never_ran_shows_it_failed_in_feedback(tmp_path):
    """``msglib grade`` leaves hidden tests unrun in nbgrader's run (the re-run scores them); when no re-run
    happened (an unanswered submission) the feedback says the hidden test failed, not the placeholder."""
    from msglib.grading.notebooks import HIDDEN_DEFERRED, cell_passed, deferred, deferred_output
    from msglib.grading.pipeline import shape_feedback
    from msglib.grading.verdicts import Verdicts

    def notebook() -> Path:
        cell = nbformat.v4.new_code_cell("### BEGIN HIDDEN TESTS\nex00.hidden_call_chain(call_chain)\n"
                                         "### END HIDDEN TESTS")
        cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "00-call_chain-hidden",
                                     "points": 3}
        cell.outputs = [deferred_output()]
        path = tmp_path / f"nb{len(list(tmp_path.iterdir()))}.ipynb"
        nbformat.write(nbformat.v4.new_notebook(cells=[cell]), str(path))
        return path

    path = notebook()
    cell = nbformat.read(str(path), as_version=4).cells[0]
    assert deferred(cell) and not cell_passed(cell)          # 0 points in nbgrader's gradebook until replaced
    shape_feedback(path, None, set(), "summary")
    [out] = nbformat.read(str(path), as_version=4).cells[0].outputs
    assert out.ename == "HiddenTestFailed" and out.evalue == "a hidden test failed"
    assert HIDDEN_DEFERRED not in out.evalue
    # with a re-run, its verdict decides (passed: no output; failed: its message in words)
    path = notebook()
    shape_feedback(path, Verdicts(passed={"00-call_chain-hidden": True}), set(), "summary")
    assert nbformat.read(str(path), as_version=4).cells[0].outputs == []
    path = notebook()
    shape_feedback(path, Verdicts(passed={"00-call_chain-hidden": False},
                                  messages={"00-call_chain-hidden": "replies arrive out of order"}), set(), "summary")
    [out] = nbformat.read(str(path), as_version=4).cells[0].outputs
    assert out.evalue == "a hidden test failed: replies arrive out of order"


def test_a_test_cell_that_never_ran_did_not_pass_in_nbgraders_run():
    """A run stopped at the wall clock leaves the notebook as it was copied in: its test cells have no
    output and no execution count, and must not count as "passed only in nbgrader's run" (a flag names
    evidence; there is none)."""
    from msglib.grading.pipeline import _test_cells_passed

    def cell(gid, count, outputs):
        c = nbformat.v4.new_code_cell("check()", execution_count=count)
        c.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": gid, "points": 1}
        c.outputs = outputs
        return c

    error = nbformat.v4.new_output("error", ename="CheckFailed", evalue="no", traceback=[])
    nb = nbformat.v4.new_notebook(cells=[cell("never-ran", None, []), cell("ran-passed", 3, []),
                                         cell("ran-failed", 4, [error])])
    assert _test_cells_passed(nb) == {"never-ran": False, "ran-passed": True, "ran-failed": False}
