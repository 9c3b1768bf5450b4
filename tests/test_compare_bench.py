"""The compare benchmark script runs (tiny counts; no timing is asserted)."""
from benchmarks import bench_compare
from msglib.compare import Subscriber, Workload, run


def test_bench_compare_quick_runs(capsys):
    assert bench_compare.main(["--quick"]) == 0
    out = capsys.readouterr().out
    for name in ("compare.kafka.workload", "compare.rabbitmq.workload", "compare.sqs.workload",
                 "compare.pulsar.workload", "compare.fan_out_20.kafka", "compare.pulsar.key_shared_vs_shared",
                 "compare.scorecard"):
        assert name in out
    assert "not recorded" in out          # a quick run never overwrites the real figures


def test_the_direct_baseline_delivers_the_same_workload():
    w = Workload(n_messages=200, subscribers=(Subscriber("a", 3), Subscriber("b", 1)))
    r = run(bench_compare.DirectModel, w, 0)
    assert r.delivered == 400 and r.peak_copies == 0
