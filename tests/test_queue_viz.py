"""Modules 01 and 09's pictures and widgets draw without error and show what they claim."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from msglib.dlq import (DeadLetter, DeadLetterQueue, DepthAlarm, ExponentialBackoff, RetryTopicPipeline,  # noqa: E402
                        RetryTopology, run_workload)
from msglib.queue.work import WorkConfig, simulate_work_queue  # noqa: E402
from msglib.sim import Simulation  # noqa: E402
from msglib.viz import queue as viz  # noqa: E402


def teardown_function():
    plt.close("all")


def test_routing_table_marks_matches():
    table = viz.routing_table(["order.*", "#"], ["order.created", ""])
    rows = table.splitlines()
    assert rows[1].split()[1:] == ["✓", "✓"] and rows[2].split()[1:] == ["·", "✓"]


def test_module_01_pictures():
    fig = viz.plot_delivery_patterns(n_messages=6)
    assert [len(ax.get_yticks()) for ax in fig.axes] == [3, 3, 6]
    run = simulate_work_queue(WorkConfig.uniform(2, crash_prob=0.1, n_messages=30), 0)
    assert "tasks done" in viz.plot_work_queue(run).axes[2].get_title()
    counts, finished = viz._prefetch_run(1, 0, n=100)
    assert counts["fast (5 ms)"] > counts["slow (50 ms)"] and sum(counts.values()) == 100
    assert len(viz.plot_prefetch((1, 0)).axes) == 2


def test_module_09_pictures():
    assert len(viz.plot_backoff(retries=4, samples=40).axes) == 4
    assert len(viz.plot_thundering_herd(clients=20).axes) == 3
    proc, handler = run_workload(15, 0)
    fig = viz.plot_retry_timeline(proc, handler.plans)
    assert len(fig.axes[0].get_yticks()) == 15
    sim = Simulation(0)
    pipe = RetryTopicPipeline(sim, RetryTopology.create("o", 3, ExponentialBackoff(100, 2)),
                              lambda r: (_ for _ in ()).throw(TimeoutError()))
    pipe.send({}, message_id="m")
    pipe.run()
    assert [t.get_text() for t in viz.plot_retry_topics(pipe).axes[0].get_yticklabels()] == \
        ["o", "o-retry-100", "o-retry-200", "o-dlt"]
    alarm = DepthAlarm(2)
    dlq = DeadLetterQueue(alarm=alarm)
    for i in range(3):
        dlq.add(DeadLetter(f"m{i}", i, "s", "permanent", 1))
    assert viz.plot_dlq_depth(dlq, alarm, events=[(0, "fix")]).axes[0].get_title() == "dead letters waiting"


def test_widgets_build():
    import ipywidgets
    assert isinstance(viz.explore_work_queue(), ipywidgets.interactive)
    assert isinstance(viz.explore_retries(), ipywidgets.interactive)


def test_pictures_are_skipped_while_grading(monkeypatch):
    monkeypatch.setenv("MSGLIB_GRADING_RUN", "1")
    assert viz.plot_backoff() is None and viz.explore_retries() is None
