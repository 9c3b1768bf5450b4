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


def test_a_folder_check_does_not_walk_the_whole_disk(tmp_path, capsys):
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    (deep / "x.ipynb").write_text("{}")
    assert main(["check", str(tmp_path)]) == 2          # three levels down is not a module folder
    assert "no notebooks" in capsys.readouterr().err
    assert main(["check", "/proc"]) == 2                # unreadable entries are skipped, not a traceback


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


# -- fuzzing the arguments ------------------------------------------------------------------------
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

import msglib.grading.pipeline  # noqa: E402
import msglib.grading.selfcheck  # noqa: E402
from msglib.cli_args import MODULE_ID  # noqa: E402

words = st.one_of(st.sampled_from(["..", ".", "/", "00_why_messaging", "02_the_log", "99_nope", "README.md",
                                   "notebooks", "notebooks/00_why_messaging", "-1", "0", "1e9", "", " ",
                                   "--timeout", "--student-timeout", "--no-verify", "--out", "-h"]),
                  st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                          max_size=12))


@settings(database=None, deadline=None, max_examples=200,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(command=st.sampled_from(["check", "release", "grade"]), rest=st.lists(words, max_size=5))
def test_any_arguments_run_a_checked_command_or_give_one_error_line(command, rest, monkeypatch, capsys,
                                                                       tmp_path_factory):
    """The real commands are replaced by recorders: only the argument checking runs."""
    calls = []
    capsys.readouterr()                                # the fixture is shared by every example: start empty
    monkeypatch.setattr(msglib.grading.pipeline, "release", lambda *a, **k: calls.append(("release", a, k)) or 0)
    monkeypatch.setattr(msglib.grading.pipeline, "grade", lambda *a, **k: calls.append(("grade", a, k)) or 0)
    monkeypatch.setattr(msglib.grading.selfcheck, "main", lambda *a, **k: calls.append(("check", a, k)) or 0)
    monkeypatch.chdir(ROOT)
    out = tmp_path_factory.mktemp("out")
    argv = [command, *rest]
    if command == "grade" and "--out" not in rest:
        argv += ["--out", str(out / "grades")]        # never create folders in the repository
    elif command == "grade":
        argv = [command, *[str(out / w) if i and rest[i - 1] == "--out" else w for i, w in enumerate(rest)]]
    try:
        rc = main(argv)
    except SystemExit as exc:                          # argparse: usage error (2) or --help (0)
        assert exc.code in (0, 2)
        return
    err = capsys.readouterr().err.strip().splitlines()
    if rc == 2:
        assert len(err) == 1 and err[0].startswith("error: "), err
        assert not calls
        return
    assert rc == 0 and len(calls) == 1, (rc, err, calls)
    name, args, kwargs = calls[0]
    if name in ("release", "grade"):
        assert all(MODULE_ID.match(m) and (ROOT / "solutions" / m).is_dir() for m in args[0])
    if name == "grade":
        assert kwargs["student_timeout"] > 0
