"""The transactions benchmark runs end to end with tiny counts (no speed is asserted, nothing is recorded)."""
from __future__ import annotations

from benchmarks import bench_txn, results


def test_bench_txn_quick_runs_and_records_nothing(capsys):
    before = results.RESULTS.read_text() if results.RESULTS.exists() else None
    bench_txn.main(["--quick"])
    out = capsys.readouterr().out
    for name in ("txn.produce.size1", "txn.produce.size10", "txn.eos.duplicates", "txn.eos.lost",
                 "txn.eos.invalid_runs", "txn.alo.duplicates", "txn.alo.runs_with_duplicates",
                 "txn.versions.v1.hanging_runs", "txn.versions.v2.invalid_runs",
                 "txn.versions.hanging_scenario.v1", "txn.versions.sim_ms_per_txn.size10"):
        assert name in out
    assert "ratio" in out
    after = results.RESULTS.read_text() if results.RESULTS.exists() else None
    assert before == after
