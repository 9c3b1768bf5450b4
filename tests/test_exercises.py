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
    results = run_module(path, {ex: src})
    mine = {gid: r for gid, r in results.items() if gid.startswith(ex + "-")}
    assert mine, f"no test cells found for {ex}"
    assert not all(ok for ok, _ in mine.values()), f"{ex}: the wrong implementation '{mistake}' passes every check"
    # the other exercises are unaffected (exercises are independent)
    others = {gid: r for gid, r in results.items() if not gid.startswith(ex + "-")}
    assert all(ok for ok, _ in others.values()), f"replacing {ex} broke other exercises: {others}"
