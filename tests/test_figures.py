"""Grading runs draw nothing, and ``%matplotlib inline`` imports nothing in them (``msglib.figures``)."""
from __future__ import annotations

import nbformat

from msglib.figures import INLINE_BACKEND
from msglib.grading.notebooks import execute


def _run(tmp_path, grading: bool) -> list[str]:
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("%matplotlib inline"),
        nbformat.v4.new_code_cell("import sys\nprint('matplotlib.pyplot' in sys.modules)"),
        nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nprint(plt.get_backend())"),
        nbformat.v4.new_code_cell("%matplotlib inline\nprint(plt.get_backend())"),   # after pyplot: the original
    ])
    assert execute(nb, tmp_path, timeout=60, grading=grading) is None
    texts = []
    for cell in nb.cells[1:]:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, errors
        text = "".join(o.text for o in cell.outputs if o.output_type == "stream").strip()
        texts.append("inline" if text == INLINE_BACKEND else text)   # matplotlib's two names for it
    return texts


def test_in_a_grading_kernel_the_magic_names_the_inline_backend_and_imports_no_pyplot(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")   # as the Makefile sets it: the magic must still win
    assert _run(tmp_path, grading=True) == ["False", "inline", "inline"]


def test_for_a_learner_the_magic_is_matplotlibs_own(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    assert _run(tmp_path, grading=False) == ["True", "inline", "inline"]


def test_no_modules_locked_cells_import_matplotlib_in_a_grading_run():
    """The re-run runs every locked cell of a notebook (magics stripped) before each submission's answers:
    none of them may import matplotlib (about 0.5 CPU-s per submission and kernel). Pictures come from
    ``msglib.viz``, which imports pyplot when it draws, and draws nothing in grading runs."""
    import subprocess
    import sys

    from msglib.grading.verdicts import build_job
    from tests.conftest import ROOT

    probe = "\nimport sys\nprint(sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'ipywidgets'}))"
    found = {}
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        locked = build_job(nb, nb, nb, "probe", cell_timeout=1, salt="probe")["locked"]   # what the re-run runs
        done = subprocess.run([sys.executable, "-c", "\n".join(locked) + probe], capture_output=True, text=True,
                              cwd=path.parent, env={"MSGLIB_GRADING_RUN": "1", "PATH": "/usr/bin:/bin", "HOME": "/tmp"},
                              timeout=120)
        assert done.returncode == 0, f"{path.name}: {done.stderr[-500:]}"
        found[path.parent.name] = done.stdout.strip().splitlines()[-1]
    assert len(found) == len(list((ROOT / "solutions").glob("*/"))) and set(found.values()) == {"[]"}, found
