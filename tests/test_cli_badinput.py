"""Bad command-line arguments: one line naming the problem and a non-zero exit, never a traceback."""
import subprocess
import sys
from pathlib import Path

import pytest

from msglib.__main__ import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("argv, match", [
    (["check", "README.md"], "not a notebook"),
    (["check", "no/such/notebook.ipynb"], "does not exist"),
    (["check", "msglib"], "no notebooks"),
    (["grade", "--student-timeout", "-1"], "--student-timeout must be"),
    (["grade", "--student-timeout", "0"], "--student-timeout must be"),
    (["release", ".."], "not a module id"),
    (["grade", ".."], "not a module id"),
    (["release", "solutions/../x"], "not a module id"),
    (["release", "99_no_such_module"], "no module '99_no_such_module'"),
    (["check", "README.md", "--timeout", "0"], "--timeout must be"),
])
def test_bad_arguments_give_one_line_and_exit_2(argv, match, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and match in err[0], err


def test_a_notebook_that_is_not_json_is_named(tmp_path, capsys):
    nb = tmp_path / "broken.ipynb"
    nb.write_text("{ not json")
    assert main(["check", str(nb)]) == 2
    assert "cannot be read as a notebook" in capsys.readouterr().err


def test_grade_outside_the_repository(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["grade"]) == 2
    assert "run this from the course repository" in capsys.readouterr().err


def test_grade_out_to_an_unwritable_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert main(["grade", "--out", str(blocker / "grades")]) == 2
    err = capsys.readouterr().err
    assert "cannot write in" in err and str(blocker) in err


def test_through_the_real_command_line_there_is_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "msglib", "grade", "--student-timeout", "-1"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.startswith("error: ")
