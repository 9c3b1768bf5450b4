"""The authoring conventions (CONTRIBUTING.md) hold for every source notebook, and the tools enforce them."""
from __future__ import annotations

import json

import nbformat
import pytest

from msglib import authoring
from msglib.authoring import apply_metadata, lint, read_percent, write_percent
from tests.exercise_harness import source_notebooks

NOTEBOOKS = source_notebooks()


def test_there_are_source_notebooks():
    assert NOTEBOOKS, "solutions/ has no notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_source_notebook_follows_the_conventions(path):
    nb = nbformat.read(str(path), as_version=4)
    assert lint(nb, path.parent.name, str(path)) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_source_notebook_is_committed_synced(path):
    """`sync` would not change the file: no outputs, metadata from tags, canonical JSON."""
    before = path.read_text()
    nb = nbformat.reads(before, as_version=4)
    authoring.clear_outputs(nb)
    apply_metadata(nb)
    assert json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n" == before, \
        f"run: python -m msglib.authoring sync {path}"


def test_exercise_ids_are_unique_across_the_course():
    assert not [p for p in authoring.lint_paths(NOTEBOOKS) if "also used in" in p]


GOOD = '''# %% [markdown]
# # Title
# %% tags=["locked"]
import math
# %% tags=["solution:07-double"]
def double(x):
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION
# %% tags=["test:07-double:1"]
assert double(2) == 4
# %% tags=["hidden:07-double:2"]
# hidden
### BEGIN HIDDEN TESTS
assert double(-1) == -2
### END HIDDEN TESTS
# %% [markdown] tags=["manual:07-why:1"]
# Because.
'''


def _nb(text=GOOD):
    nb = read_percent(text)
    apply_metadata(nb)
    return nb


def test_tags_become_nbgrader_metadata():
    nb = _nb()
    meta = [c.metadata.get("nbgrader") for c in nb.cells]
    assert meta[1]["locked"] and not meta[1]["grade"]
    assert meta[2] == {"grade": False, "grade_id": "07-double", "locked": False, "schema_version": 3,
                       "solution": True, "task": False}
    assert meta[3]["grade_id"] == "07-double-test" and meta[3]["points"] == 1 and meta[3]["locked"]
    assert meta[4]["grade_id"] == "07-double-hidden" and meta[4]["points"] == 2
    assert meta[5]["grade"] and meta[5]["solution"] and meta[5]["points"] == 1
    assert lint(nb, "07_x") == []


def test_percent_round_trip_is_lossless():
    nb = _nb()
    again = read_percent(write_percent(nb))
    apply_metadata(again)
    assert [(c.cell_type, c.source, c.metadata) for c in again.cells] == \
           [(c.cell_type, c.source, c.metadata) for c in nb.cells]


@pytest.mark.parametrize("mutation,expected", [
    (lambda t: t.replace("# %% tags=[\"hidden:07-double:2\"]\n# hidden\n### BEGIN HIDDEN TESTS\n"
                         "assert double(-1) == -2\n### END HIDDEN TESTS\n", ""), "needs at least one hidden"),
    (lambda t: t.replace("# %% tags=[\"test:07-double:1\"]\nassert double(2) == 4\n", ""), "visible test cell"),
    (lambda t: t.replace("test:07-double:1", "test:07-double:0"), "points > 0"),
    (lambda t: t.replace("07-double", "7-double"), "must look like"),
    (lambda t: t.replace("assert double(2) == 4", "assert double(2) == 4\n### BEGIN HIDDEN TESTS\nx\n"
                         "### END HIDDEN TESTS"), "contains hidden tests"),
    (lambda t: t.replace("# hidden\n### BEGIN HIDDEN TESTS", "x = 1\n### BEGIN HIDDEN TESTS"), "only a"),
    (lambda t: t.replace("assert double(2) == 4", "double(2) == 4"), "bare value"),
    (lambda t: t.replace("    ### BEGIN SOLUTION\n", ""), "BEGIN SOLUTION"),
])
def test_lint_names_each_broken_convention(mutation, expected):
    problems = lint(_nb(mutation(GOOD)), "07_x")
    assert any(expected in p for p in problems), problems


def test_lint_rejects_outputs_and_hand_edited_metadata():
    nb = _nb()
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="hi")]
    nb.cells[3].metadata["nbgrader"]["points"] = 100
    problems = lint(nb, "07_x")
    assert any("has outputs" in p for p in problems)
    assert any("differs from the tags" in p for p in problems)


def test_bad_tags_give_clear_errors():
    with pytest.raises(authoring.AuthoringError, match="points must be a number"):
        authoring.parse_tag("test:07-x:two")
    with pytest.raises(authoring.AuthoringError, match="solution:<exercise id>"):
        authoring.parse_tag("solution:07-x:3")
