"""CI executes every source notebook top to bottom: any error in any cell fails the test."""
from __future__ import annotations

import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from msglib.grading.notebooks import run_cells
from tests.exercise_harness import source_notebooks

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("path", source_notebooks(), ids=lambda p: p.parent.name)
def test_source_notebook_runs_without_errors(path, tmp_path):
    # run in a copy of the module folder, so files a notebook writes never land in solutions/
    work = tmp_path / path.parent.name
    shutil.copytree(path.parent, work)
    nb = nbformat.read(str(work / path.name), as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(work)}})
    run_cells(client)  # raises CellExecutionError naming the cell on the first error
    stderr = [(i, o.text[:200]) for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.outputs if o.output_type == "stream" and o.name == "stderr"
              and "nbgrader" in str(c.metadata)]
    assert not stderr, f"graded cells wrote to stderr (nbgrader would score them 0): {stderr}"
