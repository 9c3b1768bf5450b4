"""CI executes every notebook top to bottom, as JupyterLab's Run All would.

* the source notebooks (solutions/): no error in any cell, tagged or not;
* the student release (notebooks/), untouched: every cell runs; the only errors are the visible tests of the
  unanswered exercises (tagged ``raises-exception``, so Run All goes on past them), each one short message.
"""
from __future__ import annotations

import os
import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from msglib.authoring import RAISES
from msglib.grading.notebooks import ANSI, run_cells
from tests.conftest import ROOT
from tests.exercise_harness import source_notebooks

pytestmark = pytest.mark.slow


def _run(path, tmp_path, env=None):
    # run in a copy of the module folder, so files a notebook writes never land in the repository
    work = tmp_path / path.parent.name
    shutil.copytree(path.parent, work)
    nb = nbformat.read(str(work / path.name), as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(work)}})
    run_cells(client, **({"env": env} if env else {}))
    return nb


def _errors(nb):
    return [(i, c, o) for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for o in c.outputs if o.output_type == "error"]


@pytest.mark.parametrize("path", source_notebooks(), ids=lambda p: p.parent.name)
def test_source_notebook_runs_without_errors(path, tmp_path):
    nb = _run(path, tmp_path)
    # every error counts, also in cells tagged raises-exception (the tag only lets Run All go on)
    errors = [(i, o.ename, ANSI.sub("", o.evalue)[:300]) for i, _, o in _errors(nb)]
    assert not errors, f"{path.parent.name}: cells raised: {errors}"
    stderr = [(i, o.text[:200]) for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.outputs if o.output_type == "stream" and o.name == "stderr"
              and "nbgrader" in str(c.metadata)]
    assert not stderr, f"graded cells wrote to stderr (nbgrader would score them 0): {stderr}"


def release_notebooks():
    return sorted(p for p in (ROOT / "notebooks").glob("*/*.ipynb") if ".ipynb_checkpoints" not in p.parts)


@pytest.mark.parametrize("path", release_notebooks(), ids=lambda p: p.parent.name)
def test_fresh_release_runs_every_non_exercise_cell(path, tmp_path):
    # pictures are skipped (a grading run) to keep this fast: the demos, which run the learner's
    # functions, still run, and must fall back to msglib's own version while an exercise is unanswered
    env = dict(os.environ, MSGLIB_GRADING_RUN="1")
    nb = _run(path, tmp_path, env)
    untagged = [(i, o.ename, ANSI.sub("", o.evalue)[:300]) for i, c, o in _errors(nb)
                if RAISES not in c.metadata.get("tags", [])]
    assert not untagged, f"{path.parent.name}: cells outside the exercises' tests failed on a fresh release: {untagged}"
    long = [(i, o.traceback) for i, c, o in _errors(nb) if len("".join(o.traceback).splitlines()) > 6]
    assert not long, f"{path.parent.name}: an unanswered exercise gave a traceback, not one short message: {long[:1]}"
    tests = [c for c in nb.cells if any(t.startswith("test:") for t in c.metadata.get("tags", []))]
    assert tests and all(RAISES in c.metadata.get("tags", []) for c in tests)
