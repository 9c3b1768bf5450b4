"""The instructor's order: grade → hand-grade in Formgrader → feedback. A re-run of `make grade` after
hand-grading keeps the hand grades and does not ask for them again."""
from __future__ import annotations

import shutil

from nbgrader.api import Gradebook

from msglib.grading import feedback
from msglib.grading.pipeline import merge_submission, nbgrader_env
from tests.conftest import ROOT


def _course(tmp_path, monkeypatch):
    monkeypatch.delenv("MSGLIB_GRADEBOOK_URL", raising=False)
    monkeypatch.setenv("PATH", nbgrader_env()["PATH"])  # nbgrader runs `alembic` to create a gradebook
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    (tmp_path / "solutions" / "m").mkdir(parents=True)
    return tmp_path


def _book(url: str, *, manual: float | None) -> None:
    """A gradebook with module m: one written answer (2 points) and one test (1 point), for student ada."""
    with Gradebook(url, "msglib") as gb:
        gb.update_or_create_assignment("m")
        gb.add_notebook("m", "m")
        gb.add_grade_cell("q", "m", "m", max_score=2, cell_type="markdown")
        gb.add_grade_cell("t", "m", "m", max_score=1, cell_type="code")
        gb.add_solution_cell("q", "m", "m")
        gb.add_student("ada")
        gb.add_submission("m", "ada")
        q = gb.find_grade("q", "m", "m", "ada")
        q.needs_manual_grade = manual is None
        q.manual_score = manual
        t = gb.find_grade("t", "m", "m", "ada")
        t.auto_score, t.needs_manual_grade = 1.0, False
        gb.db.commit()


def test_a_hand_grade_survives_a_re_run_and_is_not_asked_for_again(tmp_path, monkeypatch):
    root = _course(tmp_path, monkeypatch)
    _book(f"sqlite:///{root / 'gradebook.db'}", manual=1.5)        # graded by hand in Formgrader
    scratch = f"sqlite:///{root / 'scratch.db'}"
    _book(scratch, manual=None)                                      # a fresh autograde run knows nothing of it
    assert merge_submission(root, scratch, "m", "ada")
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", "msglib") as gb:
        q = gb.find_grade("q", "m", "m", "ada")
        assert (q.manual_score, q.needs_manual_grade) == (1.5, False)
        assert gb.find_grade("t", "m", "m", "ada").auto_score == 1.0
    assert feedback.still_to_grade(root) == []


def test_an_answer_not_yet_hand_graded_is_listed(tmp_path, monkeypatch):
    root = _course(tmp_path, monkeypatch)
    _book(f"sqlite:///{root / 'gradebook.db'}", manual=None)
    assert feedback.still_to_grade(root) == ["ada/m/q"]


def test_feedback_before_grading_says_what_to_run_first(tmp_path, monkeypatch, capsys):
    root = _course(tmp_path, monkeypatch)
    monkeypatch.chdir(root)
    assert feedback.main() == 2
    assert "make grade" in capsys.readouterr().out
