"""The exactly-once patterns benchmark runs end to end on tiny counts (no speed is asserted)."""


def test_bench_patterns_quick_runs(capsys):
    from benchmarks import bench_patterns, results
    real = results.RESULTS
    assert bench_patterns.main(["--quick"]) == 0
    assert results.RESULTS == real
    out = capsys.readouterr().out
    for name in ("patterns.idempotent_consumer", "patterns.outbox.place_order", "patterns.outbox.relay",
                 "patterns.cdc.captured_inserts", "patterns.cdc.connector"):
        assert name in out
