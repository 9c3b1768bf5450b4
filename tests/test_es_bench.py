"""The event-store benchmark script runs end to end on tiny counts (no speed is asserted)."""
import pytest

pytest.importorskip("eventsourcing")


def test_bench_es_quick_runs_and_checks_its_results(capsys):
    from benchmarks import bench_es, results
    real = results.RESULTS
    assert bench_es.main(["--quick"]) == 0
    assert results.RESULTS == real or not str(results.RESULTS).startswith(str(real.parent))
    results.RESULTS = real
    out = capsys.readouterr().out
    for name in ("es.file.single.append", "es.memory.batch20.reconstruct", "es.file.batch20.read_vs_decoded"):
        assert name in out
