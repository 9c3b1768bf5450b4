"""A pytest plugin for the nbval runs of tests/test_notebooks_execute.py (``-p tests.nbval_capture``).

nbval executes a notebook cell by cell, one pytest item per code cell; this plugin writes what each cell
did to the JSON file named by ``NBVAL_CAPTURE``: its index, tags, nbval's verdict, and the outputs it
produced (nbval keeps them on the item as ``test_outputs``), so the caller can check more than nbval does.
"""
from __future__ import annotations

import json
import os

import pytest

_CELLS: list[dict] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not hasattr(item, "cell_num") or (report.when != "call" and not report.skipped):
        return
    outputs = []
    for out in item.test_outputs or []:
        kind = out.get("output_type")
        if kind == "error":
            outputs.append({"output_type": "error", "ename": out.get("ename"),
                            "evalue": out.get("evalue"), "traceback": list(out.get("traceback") or [])})
        elif kind == "stream":
            outputs.append({"output_type": "stream", "name": out.get("name"), "text": out.get("text", "")})
        else:
            outputs.append({"output_type": kind})
    _CELLS.append({"notebook": str(item.parent.fspath), "cell": item.cell_num,
                   "tags": list(item.cell.metadata.get("tags", [])),
                   "graded": "nbgrader" in item.cell.metadata, "outcome": report.outcome,
                   "report": str(report.longrepr)[-3000:] if report.failed else "", "outputs": outputs,
                   "seconds": round(report.duration, 3)})


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("NBVAL_CAPTURE")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(_CELLS, f)
