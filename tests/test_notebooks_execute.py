"""CI executes every notebook top to bottom through nbval, as JupyterLab's Run All would.

The notebooks run under ``pytest --nbval-lax`` (nbval 0.11: one pytest item per code cell, outputs not
compared; a cell that raises fails unless it is tagged ``raises-exception``, and a tagged cell passes
whether it raises or not), in one subprocess per kind (every solution notebook, every release notebook:
pytest and nbval start once, each notebook gets its own kernel), on copies of the module folders, with
``tests/nbval_capture.py`` recording what each cell did. Then:

* the source notebooks (solutions/): the copies have their ``raises-exception`` tags removed, so nbval
  fails on an error in any cell, visible tests included; graded cells write nothing to stderr;
* the student release (notebooks/), untouched and tagged as released: nbval runs every code cell and
  fails on an error outside the tagged cells; every visible test is tagged; an unanswered exercise's
  test gives one short message, not a traceback.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import nbformat
import pytest

from msglib.authoring import RAISES
from msglib.grading.notebooks import ANSI
from tests.conftest import ROOT
from tests.exercise_harness import source_notebooks

pytestmark = pytest.mark.slow
CELL_TIMEOUT = 120


def release_notebooks() -> list[Path]:
    return sorted(p for p in (ROOT / "notebooks").glob("*/*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def nbval_run(paths: list[Path], tmp_path: Path, *, strip_raises: bool, env_extra: dict | None = None):
    """Run nbval over copies of ``paths``' module folders.

    Returns ``(exit status, {module: [cell records]}, pytest's output, {module: code cell count})``.
    """
    if importlib.util.find_spec("nbval") is None:
        pytest.skip("nbval is not installed (pip install -e '.[course]' installs it)")
    targets, code_cells = [], {}
    for path in paths:
        work = tmp_path / "course" / path.parent.name
        shutil.copytree(path.parent, work, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        target = work / path.name
        nb = nbformat.read(str(target), as_version=4)
        if strip_raises:
            for cell in nb.cells:
                tags = cell.metadata.get("tags")
                if tags and RAISES in tags:
                    cell.metadata["tags"] = [t for t in tags if t != RAISES]
            nbformat.write(nb, str(target))
        code_cells[path.parent.name] = sum(c.cell_type == "code" for c in nb.cells)
        targets.append(str(target))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    capture = tmp_path / "cells.json"
    env = dict(os.environ, NBVAL_CAPTURE=str(capture), PYTHONPATH=str(ROOT), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
               **(env_extra or {}))
    env.pop("PYTEST_XDIST_WORKER", None)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "nbval.plugin", "-p", "tests.nbval_capture", "--nbval-lax",
         "--nbval-current-env", f"--nbval-cell-timeout={CELL_TIMEOUT}", "-p", "no:cacheprovider", "-q",
         "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path), *targets],
        cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=CELL_TIMEOUT * 40)
    cells: dict[str, list] = defaultdict(list)
    for c in (json.loads(capture.read_text()) if capture.exists() else []):
        cells[Path(c["notebook"]).parent.name].append(c)
    return run.returncode, cells, run.stdout[-8000:] + run.stderr[-2000:], code_cells


def _errors(cells):
    return [(c["cell"], o) for c in cells for o in c["outputs"] if o["output_type"] == "error"]


def test_source_notebooks_run_without_errors(tmp_path):
    status, by_module, output, code_cells = nbval_run(source_notebooks(), tmp_path, strip_raises=True)
    problems = []
    for module, count in code_cells.items():
        cells = by_module.get(module, [])
        errors = [(i, o["ename"], ANSI.sub("", o["evalue"] or "")[:300]) for i, o in _errors(cells)]
        if errors:
            problems.append(f"{module}: cells raised: {errors}")
        if len(cells) != count or any(c["outcome"] != "passed" for c in cells):
            problems.append(f"{module}: nbval ran {len(cells)} of {count} code cells, failed: "
                            f"{[c['cell'] for c in cells if c['outcome'] != 'passed']}")
        stderr = [(c["cell"], o["text"][:200]) for c in cells if c["graded"] for o in c["outputs"]
                  if o["output_type"] == "stream" and o["name"] == "stderr"]
        if stderr:
            problems.append(f"{module}: graded cells wrote to stderr (nbgrader would score them 0): {stderr}")
    assert not problems, "\n".join(problems) + f"\n\nnbval:\n{output}"
    assert status == 0, f"nbval failed:\n{output}"


def test_fresh_release_runs_every_non_exercise_cell(tmp_path):
    # pictures are skipped (a grading run) to keep this fast: the demos, which run the learner's
    # functions, still run, and must fall back to msglib's own version while an exercise is unanswered
    status, by_module, output, code_cells = nbval_run(release_notebooks(), tmp_path, strip_raises=False,
                                                      env_extra={"MSGLIB_GRADING_RUN": "1"})
    problems = []
    for module, count in code_cells.items():
        cells = by_module.get(module, [])
        untagged = [(c["cell"], o["ename"], ANSI.sub("", o["evalue"] or "")[:300]) for c in cells
                    if RAISES not in c["tags"] for o in c["outputs"] if o["output_type"] == "error"]
        if untagged:
            problems.append(f"{module}: cells outside the exercises' tests failed on a fresh release: {untagged}")
        if len(cells) != count or any(c["outcome"] != "passed" for c in cells):
            problems.append(f"{module}: nbval ran {len(cells)} of {count} code cells, failed: "
                            f"{[c['cell'] for c in cells if c['outcome'] != 'passed']}")
        long = [(i, o["traceback"]) for i, o in _errors(cells) if len("".join(o["traceback"]).splitlines()) > 6]
        if long:
            problems.append(f"{module}: an unanswered exercise gave a traceback, not one short message: {long[:1]}")
        tests = [c for c in cells if any(t.startswith("test:") for t in c["tags"])]
        if not tests or not all(RAISES in c["tags"] for c in tests):
            problems.append(f"{module}: visible tests missing or not tagged {RAISES}")
    assert not problems, "\n".join(problems) + f"\n\nnbval:\n{output}"
    assert status == 0, f"nbval failed on the fresh release:\n{output}"
