"""Every exercise: the reference earns every check, each known-wrong implementation fails one.

Runs the checks in-process (fast). tests/test_grading_pipeline.py does the same
through the real nbgrader.
"""
from __future__ import annotations

import pytest

from msglib.authoring import exercises
from tests.exercise_harness import run_module, source_notebooks, wrong_implementations

import nbformat

NOTEBOOKS = source_notebooks()


def _autograded_exercises(path):
    nb = nbformat.read(str(path), as_version=4)
    return {ex: entry for ex, entry in exercises(nb).items() if entry["solution"]}


@pytest.mark.slow  # a whole module's checks, hidden ones included (scheduled first)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_reference_solution_passes_every_check(path):
    results = run_module(path)
    assert results, f"{path} has no autograded test cells"
    failed = {gid: msg for gid, msg in results.items() if not passed_(results, gid)}
    assert not failed, f"the reference solution fails: {failed}"


def passed_(results, gid):
    return results[gid][0]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_every_exercise_has_three_known_wrong_implementations(path):
    wrong = wrong_implementations(path.parent.name[:2])
    for ex in _autograded_exercises(path):
        assert len(wrong.get(ex, [])) >= 3, (f"{ex} needs at least three known-wrong implementations in "
                                             f"tests/wrong/ex{path.parent.name[:2]}.py")


CASES = [(path, ex, i, mistake, src)
         for path in NOTEBOOKS
         for ex, items in wrong_implementations(path.parent.name[:2]).items()
         for i, (mistake, src) in enumerate(items)]


@pytest.mark.parametrize("path,ex,i,mistake,src", CASES, ids=[f"{c[1]}-{c[2]}" for c in CASES])
def test_known_wrong_implementation_loses_points(path, ex, i, mistake, src):
    results = run_module(path, {ex: src}, only=ex)
    assert results, f"no test cells found for {ex}"
    assert not all(ok for ok, _ in results.values()), f"{ex}: the wrong implementation '{mistake}' passes every check"


@pytest.mark.slow  # a whole module's checks, hidden ones included (scheduled first)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_one_wrong_exercise_costs_no_points_elsewhere(path):
    """Exercises are independent: with one answer wrong, every other exercise still passes all its checks."""
    wrong = wrong_implementations(path.parent.name[:2])
    if not wrong:
        pytest.skip("no known-wrong implementations")
    for ex, items in wrong.items():
        results = run_module(path, {ex: items[0][1]})
        broken = {gid: msg for gid, (ok, msg) in results.items() if not ok and not gid.startswith(ex + "-")}
        assert not broken, f"a wrong {ex} made other exercises fail: {broken}"
