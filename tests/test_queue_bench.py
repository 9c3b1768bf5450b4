"""The queue/DLQ benchmark script runs (tiny counts; no timing is asserted)."""
from benchmarks import bench_queue


def test_bench_queue_quick_runs(capsys):
    assert bench_queue.main(["--quick"]) == 0
    out = capsys.readouterr().out
    for name in ("queue.work_queue_acked", "queue.work_queue_prefetch1", "queue.dead_letter",
                 "sqs.send_receive_delete", "dlq.retry_processor", "dlq.retry_topics"):
        assert name in out
    assert "not recorded" in out          # a quick run never overwrites the real figures


def test_the_bare_baseline_does_the_same_bookkeeping():
    bench_queue.bare_deque(1_000, 1)
    bench_queue.bare_deque(1_000, 50)
    bench_queue.work_queue(1_000, 50)
