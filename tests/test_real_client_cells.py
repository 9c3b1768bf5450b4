"""The optional "point a real client at your own log" cells of modules 02 and 05, run for real.

Each cell is off by default (``run_it = False``: Run All stays fast); here it runs with ``run_it = True``:
``msglib serve`` in a child process on 127.0.0.1, kafka-python producing and consuming (a group of two in
module 05), then the server stopped.
"""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from msglib.wire.process import ServeProcess

ROOT = Path(__file__).resolve().parents[1]


def _cells(module: str) -> tuple[list[str], str]:
    nb = json.loads((ROOT / "solutions" / module / f"{module}.ipynb").read_text(encoding="utf-8"))
    sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in nb["cells"]
               if c["cell_type"] == "code"]
    locked = [s for c, s in zip([c for c in nb["cells"] if c["cell_type"] == "code"], sources)
              if "locked" in c.get("metadata", {}).get("tags", [])]
    real = [s for s in sources if "ServeProcess" in s]
    assert len(real) == 1, f"{module}: expected one cell that starts msglib serve, found {len(real)}"
    return locked, real[0]


def _run(module: str) -> str:
    pytest.importorskip("kafka", reason="kafka-python is not installed (pip install kafka-python)")
    locked, cell = _cells(module)
    assert "run_it = False" in cell, "the cell must be off by default, so that Run All stays fast"
    ns: dict = {}
    for source in locked:
        exec("\n".join(line for line in source.splitlines() if not line.startswith("%")), ns)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(cell.replace("run_it = False", "run_it = True", 1), ns)
    return out.getvalue()


def test_off_by_default_the_cells_say_how_to_run_them():
    for module in ("02_the_log", "05_consumer_groups"):
        _, cell = _cells(module)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(cell, {})
        assert "set run_it = True" in out.getvalue()


@pytest.mark.slow   # a child process and kafka-python: a few seconds
def test_module_02_kafka_python_writes_and_reads_msglibs_log():
    out = _run("02_the_log")
    assert out.count("kafka-python read partition") == 6, out
    assert "a batch at offset 0" in out and "orders-0: ['00000000000000000000.index'" in out, out


@pytest.mark.slow
def test_module_05_a_kafka_python_group_of_two_shares_the_partitions():
    out = _run("05_consumer_groups")
    assert "records consumed by the group: 20 of 20" in out, out
    owns = [line for line in out.splitlines() if " owns partitions " in line]
    assert len(owns) == 2 and all("[]" not in line and "None" not in line for line in owns), out


def test_serve_process_reports_a_server_that_cannot_start(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(RuntimeError, match="msglib serve did not start"):
        ServeProcess(str(blocker)).start()


def test_serve_process_refuses_bad_partitions():
    with pytest.raises(ValueError, match="partitions must be an int >= 1"):
        ServeProcess(partitions=0)
