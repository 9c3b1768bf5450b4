"""Small promises of the learner's and instructor's experience (docs/browser-and-ux.md lists each with its test).

* ``make check`` / ``python -m msglib check`` prints a failure message whole, wrapped, never cut: the detail
  that explains a failure is often at the end of a long smallest case;
* points are stored as JSON integers, so saving a notebook in JupyterLab (which writes ``2``) leaves
  a released or source notebook unchanged in git.
"""
from __future__ import annotations

import io
import re

from msglib.grading.notebooks import CellResult, NotebookResult
from msglib.grading.selfcheck import report
from tests.conftest import ROOT


def test_check_prints_a_long_failure_message_whole_and_wrapped(tmp_path):
    case = ", ".join(f"SegmentInfo(base_offset={i}, size_bytes={100 + i}, largest_timestamp={1000 + i})"
                     for i in range(6))
    message = f"smallest case: deletable_segments([{case}], high_watermark=1) kept a segment below the HW"
    result = NotebookResult(tmp_path / "02_the_log.ipynb", [
        CellResult("02-retention-test", "02-retention", "test", 2.0, False, message),
        CellResult("02-segments-test", "02-segments", "test", 1.0, True)])
    out = io.StringIO()
    ok, earned, possible = report(result, out)
    text = out.getvalue()
    assert (ok, earned, possible) == (False, 1.0, 3.0)
    assert "02-retention                       FAIL     0/2 pts" in text
    assert "02-segments                        PASS     1/1 pts" in text
    # every word of the message is printed, the last ones included, on lines no longer than 110 characters
    printed = " ".join(line.strip().lstrip("→ ") for line in text.splitlines() if line.startswith("      "))
    assert printed.replace(" ", "") == message.replace(" ", ""), printed
    assert "high_watermark=1) kept a segment below the HW" in printed
    assert max(len(line) for line in text.splitlines()) <= 110


def test_points_are_json_integers_so_a_lab_save_changes_nothing():
    fractional_zero = re.compile(r'"points":\s*\d+\.0\b')
    found = [str(p.relative_to(ROOT)) for folder in ("notebooks", "solutions")
             for p in sorted((ROOT / folder).glob("*/*.ipynb")) if fractional_zero.search(p.read_text())]
    assert not found, f"points written as N.0 (JupyterLab rewrites them as N on save): {found}"
    assert any('"points": 2' in p.read_text() for p in (ROOT / "notebooks").glob("*/*.ipynb"))
