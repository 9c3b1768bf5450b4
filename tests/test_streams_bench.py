"""The streams benchmark runs end to end with tiny counts (no speed is asserted, nothing is recorded)."""
from __future__ import annotations

from benchmarks import bench_streams, results


def test_bench_streams_quick_runs_and_records_nothing(capsys):
    before = results.RESULTS.read_text() if results.RESULTS.exists() else None
    bench_streams.main(["--quick"])
    out = capsys.readouterr().out
    for name in ("streams.windowed_count", "streams.stream_table_join", "streams.cluster_windowed_count.alos",
                 "streams.cluster_windowed_count.eos", "streams.restore_per_million", "streams.load_average"):
        assert name in out
    assert "ratio" in out
    after = results.RESULTS.read_text() if results.RESULTS.exists() else None
    assert before == after


def test_the_engine_and_the_plain_loop_agree():
    records = bench_streams.make_records(5_000)
    assert bench_streams.engine_windowed_count(records) == bench_streams.plain_windowed_count(records)
    table = [(f"k{i}", i, 0) for i in range(0, 1_000, 2)]
    assert bench_streams.engine_join(table, records) == bench_streams.plain_join(table, records)
