"""The log benchmark script runs (tiny counts; no timing is asserted)."""
from benchmarks import bench_log


def test_bench_log_quick_runs(capsys):
    bench_log.main(["--quick"])
    out = capsys.readouterr().out
    for name in ("log.append_preencoded_disk", "log.encode_append", "log.read_decode", "log.memory_ratio",
                 "log.kill9_trials", "log.corruption_trials"):
        assert name in out
    assert "not recorded" in out          # a quick run never overwrites the real figures


def test_bench_log_fuzz_quick_runs_and_reports_its_counts(capsys):
    bench_log.main(["--quick", "--fuzz", "800", "--fuzz-logs", "40", "--record-every", "400", "--processes", "2"])
    out = capsys.readouterr().out
    assert "fuzz: 800 decoder cases (0 findings), 40 damaged-log reopenings (0 findings)" in out
    assert "log.fuzz.decoder_cases" in out and "not recorded" in out
