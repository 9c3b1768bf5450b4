"""`python -m msglib doctor` finds real problems and names the fix."""
from __future__ import annotations

import subprocess
import sys

import pytest

from msglib import doctor
from tests.conftest import ROOT


def test_packages_out_of_range_or_missing_are_named_with_a_fix():
    findings = doctor.check_packages(["nbformat>=99", "surely-not-a-package>=1,<2", "pytest>=1"])
    bad = [f for f in findings if not f.ok]
    assert len(bad) == 2
    assert "nbformat" in bad[0].what and "outside the tested range" in bad[0].what and "pip install" in bad[0].fix
    assert "not installed" in bad[1].what and "make setup" in bad[1].fix
    assert findings[2].ok


def test_disabled_extensions_are_reported():
    findings = doctor.check_extensions(lab="@jupyter-widgets/jupyterlab-manager v5.0.16 enabled OK",
                                       server="nbgrader.server_extensions.formgrader enabled")
    bad = [f.what for f in findings if not f.ok]
    assert any("nbgrader JupyterLab extension" in w for w in bad)
    assert any("validate server extension" in w for w in bad)
    assert not any("ipywidgets" in w for w in bad)


@pytest.mark.slow
def test_doctor_passes_on_this_setup():
    proc = subprocess.run([sys.executable, "-m", "msglib", "doctor"], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 to fix" in proc.stdout and "imports this msglib" in proc.stdout
