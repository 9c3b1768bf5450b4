"""What the batch runs side by side, decided without a kernel (fast).

* the independent re-run starts beside nbgrader's run only for a submission holding an answer
  (``pipeline._answered``); a blank one waits for nbgrader's run, as before;
* the batch's feedback is written in disjoint parts of the students that together cover every
  autograded student (``pipeline._feedback_parts``), each part excluding the others' ids.
"""
from __future__ import annotations

from pathlib import Path

import nbformat

from msglib.grading import pipeline


def _release() -> nbformat.NotebookNode:
    stub = nbformat.v4.new_code_cell("def lookup(index, target):\n    # YOUR CODE HERE\n    raise NotImplementedError()")
    stub.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "02-x", "locked": False,
                                 "schema_version": 3}
    test = nbformat.v4.new_code_cell("check(lookup)")
    test.metadata["nbgrader"] = {"solution": False, "grade": True, "grade_id": "02-x-test", "locked": True,
                                 "points": 1, "schema_version": 3}
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 02"), stub, test])


def _submit(folder: Path, nb) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / "m.ipynb"))
    return folder


def test_a_blank_submission_is_not_answered_and_an_edited_answer_is(tmp_path):
    release = {"m": _release()}
    blank = _submit(tmp_path / "blank", _release())
    assert not pipeline._answered(blank, release)
    answered = _release()
    answered.cells[1].source = "def lookup(index, target):\n    return 0"
    assert pipeline._answered(_submit(tmp_path / "answered", answered), release)


def test_a_notebook_the_release_lacks_or_that_cannot_be_read_counts_as_answered(tmp_path):
    release = {"m": _release()}
    other = tmp_path / "renamed"
    other.mkdir()
    nbformat.write(_release(), str(other / "mine.ipynb"))
    assert pipeline._answered(other, release)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "m.ipynb").write_text("{not json")
    assert pipeline._answered(broken, release)


def _autograded(root: Path, students: list[str], module: str = "m") -> Path:
    for s in students:
        (root / "autograded" / s / module).mkdir(parents=True)
    return root


def test_feedback_parts_are_disjoint_and_cover_every_autograded_student(tmp_path):
    students = [f"s{i:02d}" for i in range(7)]
    root = _autograded(tmp_path, students)
    parts = pipeline._feedback_parts(root, "m", jobs=4)
    assert len(parts) == 2                      # at most two nbgrader processes side by side
    assert sorted(s for part in parts for s in part) == students
    assert not set(parts[0]) & set(parts[1])
    assert pipeline._feedback_parts(root, "m", jobs=1) == [students]


def test_feedback_is_one_part_when_an_id_holds_a_comma_or_there_is_one_student(tmp_path):
    root = _autograded(tmp_path, ["a,b", "c"])
    assert pipeline._feedback_parts(root, "m", jobs=2) == [["a,b", "c"]]
    one = _autograded(tmp_path / "one", ["solo"])
    assert pipeline._feedback_parts(one, "m", jobs=2) == [["solo"]]
    assert pipeline._feedback_parts(one, "other", jobs=2) == [[]]


def test_each_feedback_part_excludes_exactly_the_other_parts(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(pipeline.supervisor, "autograde", lambda args, *a, **k: calls.append(args) or (0, ""))
    parts = [["a", "c"], ["b", "d"]]
    for i in range(2):
        pipeline._feedback_part(tmp_path, "m", parts, i, tmp_path / "logs")
    assert calls == [["generate_feedback", "m", "--force", "--CourseDirectory.student_id_exclude=b,d"],
                     ["generate_feedback", "m", "--force", "--CourseDirectory.student_id_exclude=a,c"]]
    calls.clear()
    pipeline._feedback_part(tmp_path, "m", [["a", "b"]], 0, tmp_path / "logs")
    assert calls == [["generate_feedback", "m", "--force"]]
