"""What the batch compares before and after, and the grader's lean imports (fast: no kernel, no nbgrader run).

The virtual environment is compared by each file's inode record (size, mode, inode, mtime, ctime) instead of
a hash of its content: these tests make the changes a hash would catch and check the record catches them too,
including a same-size rewrite whose modification time is put back with ``os.utime``.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from msglib.grading import pipeline


def _tree(tmp_path: Path) -> Path:
    top = tmp_path / "venv"
    (top / "lib").mkdir(parents=True)
    (top / "lib" / "mod.py").write_text("VALUE = 1\n")
    (top / "lib" / "blob.so").write_bytes(b"\x7fELF" + bytes(1000))
    return top


def _record(top: Path) -> dict[str, str]:
    return pipeline._digest_tree(top, content=lambda p: False)


def _later() -> None:
    """Let the kernel's file clock (coarse: one tick, up to 10 ms) move on."""
    time.sleep(0.05)


def test_a_same_size_rewrite_with_its_mtime_put_back_is_seen(tmp_path):
    top = _tree(tmp_path)
    target = top / "lib" / "mod.py"
    before = _record(top)
    st = target.stat()
    _later()
    target.write_text("VALUE = 2\n")                       # same size
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime as it was
    after = _record(top)
    assert target.stat().st_mtime_ns == st.st_mtime_ns and target.stat().st_size == st.st_size
    assert pipeline.compare_fingerprints({"venv": before}, {"venv": after})["venv"]["changed"] == [str(target)]


def test_a_file_replaced_by_a_rename_a_chmod_and_a_new_file_are_seen(tmp_path):
    top = _tree(tmp_path)
    blob, mod = top / "lib" / "blob.so", top / "lib" / "mod.py"
    before = _record(top)
    _later()
    copy = top / "lib" / ".blob.tmp"
    copy.write_bytes(blob.read_bytes())
    st = blob.stat()
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(copy, blob)                                 # same bytes, same mtime, another inode
    os.chmod(mod, 0o777)
    (top / "lib" / "sitecustomize.py").write_text("import os\n")
    report = pipeline.compare_fingerprints({"venv": before}, {"venv": _record(top)})["venv"]
    assert sorted(report["changed"]) == sorted(str(p) for p in (blob, mod, top / "lib" / "sitecustomize.py"))


def test_an_untouched_tree_is_identical_and_reading_it_changes_nothing(tmp_path):
    top = _tree(tmp_path)
    before = _record(top)
    _later()
    for p in top.rglob("*"):
        if p.is_file():
            p.read_bytes()
    assert pipeline.compare_fingerprints({"venv": before}, {"venv": _record(top)}) == {"venv": "identical"}


def test_the_package_and_the_course_are_still_hashed(tmp_path):
    course = tmp_path / "course"
    (course / "notebooks" / "m").mkdir(parents=True)
    nb = course / "notebooks" / "m" / "m.ipynb"
    nb.write_text("{}")
    before = pipeline.fingerprint(course, ("course",))
    st = nb.stat()
    _later()
    nb.write_text("[]")
    os.utime(nb, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = pipeline.fingerprint(course, ("course",))
    assert len(before["course"][str(nb)]) == 64                 # a SHA-256, not an inode record
    assert pipeline.compare_fingerprints(before, after)["course"]["changed"] == [str(nb)]
    assert set(pipeline.fingerprint(course)) == {"package", "venv", "course"}


def test_the_grader_imports_nbformat_without_the_iri_grammar_and_still_validates_notebooks():
    """supervisor.lean_imports: jsonschema's rfc3987_syntax (1.4 CPU-s of parser building) stays out of the
    grader, and nbformat still rejects a broken notebook."""
    code = ("import sys, time\n"
            "import msglib.grading.pipeline, nbformat\n"
            "assert sys.modules.get('rfc3987_syntax', 'absent') is None, sys.modules.get('rfc3987_syntax')\n"
            "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('x = 1')])\n"
            "nbformat.validate(nb)\n"
            "nb.cells[0]['outputs'] = 'not a list'\n"
            "try:\n"
            "    nbformat.validate(nb)\n"
            "except nbformat.ValidationError:\n"
            "    print('rejected')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "rejected"


def test_lean_imports_leaves_a_process_that_already_imported_jsonschema_alone():
    code = ("import sys, jsonschema\n"
            "had = 'rfc3987_syntax' in sys.modules and sys.modules['rfc3987_syntax'] is not None\n"
            "import msglib.grading.supervisor\n"
            "now = 'rfc3987_syntax' in sys.modules and sys.modules['rfc3987_syntax'] is not None\n"
            "print(had == now)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if out.returncode != 0 and "No module named 'jsonschema'" in out.stderr:
        pytest.skip("jsonschema is not installed here")
    assert out.stdout.strip() == "True", out.stderr
