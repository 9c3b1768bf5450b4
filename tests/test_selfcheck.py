"""`python -m msglib check`: the learner's one-command self-check."""
from __future__ import annotations

import shutil
import subprocess
import sys

import nbformat
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow
MODULE = "00_why_messaging"


def _check(path):
    return subprocess.run([sys.executable, "-m", "msglib", "check", str(path), "--timeout", "60"],
                          capture_output=True, text=True, cwd=ROOT)


def test_untouched_release_fails_with_plain_words(tmp_path):
    shutil.copytree(ROOT / "notebooks" / MODULE, tmp_path / MODULE)
    proc = _check(tmp_path / MODULE)
    assert proc.returncode == 1
    out = proc.stdout
    assert "00-call_chain" in out and "FAIL" in out and "0/2 pts" in out
    assert "not implemented yet" in out
    assert "hidden pts at grading" in out
    assert "not answered yet" in out
    assert "Traceback" not in out


def test_solved_notebook_passes_and_a_bug_is_explained_with_its_seed(tmp_path):
    work = tmp_path / MODULE
    shutil.copytree(ROOT / "notebooks" / MODULE, work)
    path = work / f"{MODULE}.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    solutions = {c.metadata["nbgrader"]["grade_id"]: c.source
                 for c in nbformat.read(str(ROOT / "solutions" / MODULE / f"{MODULE}.ipynb"), as_version=4).cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in solutions and cell.cell_type == "code":
            cell.source = solutions[gid]
    # a learner's bug in the handler: acknowledge even when the service failed
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "00-queue_handler":
            cell.source = cell.source.replace("return False  # keep it", "return True  # keep it")
    nbformat.write(nb, str(path))
    proc = _check(work)
    assert proc.returncode == 1, proc.stdout
    assert "00-call_chain                      PASS" in proc.stdout
    assert "00-queue_handler                   FAIL" in proc.stdout
    assert "acknowledged" in proc.stdout and "seed: 0" in proc.stdout and "smallest case" in proc.stdout


def test_source_notebook_passes(tmp_path):
    shutil.copytree(ROOT / "solutions" / MODULE, tmp_path / MODULE)
    proc = _check(tmp_path / MODULE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Everything checked here passes" in proc.stdout


def test_missing_path_is_a_clear_error():
    proc = _check(ROOT / "notebooks" / "99_nope")
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_nbgrader_validate_button_api_agrees(tmp_path):
    """The JupyterLab Validate button calls nbgrader's Validator: blank fails, the solution passes."""
    from nbgrader.validator import Validator

    shutil.copytree(ROOT / "notebooks" / MODULE, tmp_path / "blank")
    shutil.copytree(ROOT / "solutions" / MODULE, tmp_path / "ref")
    blank = Validator().validate(str(tmp_path / "blank" / f"{MODULE}.ipynb"))
    ref = Validator().validate(str(tmp_path / "ref" / f"{MODULE}.ipynb"))
    assert blank.get("failed")
    assert not ref.get("failed") and not ref.get("changed")
