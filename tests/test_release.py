"""notebooks/ is exactly what nbgrader generates from solutions/: no drift, no hand edits, no outputs."""
from __future__ import annotations

import json

import nbformat
import pytest

from msglib.grading.pipeline import release
from tests.conftest import ROOT, make_course

pytestmark = pytest.mark.slow


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and ".ipynb_checkpoints" not in p.parts and "__pycache__" not in p.parts}


def test_release_matches_a_fresh_generation(tmp_path):
    course = make_course(tmp_path)
    fresh = course / "notebooks"
    import shutil
    shutil.rmtree(fresh, ignore_errors=True)
    assert release(root=course) == 0
    committed, generated = _files(ROOT / "notebooks"), _files(fresh)
    assert sorted(committed) == sorted(generated), "notebooks/ and a fresh release hold different files: make release"
    drifted = [str(p) for p in committed if committed[p] != generated[p]]
    assert not drifted, f"notebooks/ drifted from solutions/ (regenerate with `make release`): {drifted}"


def test_every_module_is_released():
    sources = {p.name for p in (ROOT / "solutions").iterdir() if p.is_dir()}
    released = {p.name for p in (ROOT / "notebooks").iterdir() if p.is_dir()}
    assert sources == released


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*/*.ipynb")), ids=lambda p: p.parent.name)
def test_release_has_no_solutions_hidden_tests_or_outputs(path):
    nb = nbformat.read(str(path), as_version=4)
    text = json.dumps(nb)
    assert "### BEGIN SOLUTION" not in text and "### BEGIN HIDDEN TESTS" not in text
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    source = nbformat.read(str(ROOT / "solutions" / path.parent.name / path.name), as_version=4)
    hidden_calls = [ln.strip() for c in source.cells if "### BEGIN HIDDEN TESTS" in c.source
                    for ln in c.source.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert hidden_calls and not any(call in text for call in hidden_calls if "hidden_" in call)


def test_release_refuses_a_notebook_that_breaks_the_conventions(tmp_path):
    course = make_course(tmp_path, ["00_why_messaging"])
    path = course / "solutions" / "00_why_messaging" / "00_why_messaging.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    nb.cells = [c for c in nb.cells if "hidden:" not in " ".join(c.metadata.get("tags", []))]
    nbformat.write(nb, str(path))
    assert release(root=course) == 1
