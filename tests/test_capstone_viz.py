"""Module 11's pictures and dashboard draw without error and show what they claim."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from msglib.capstone import TokenBucket  # noqa: E402
from msglib.viz import capstone as viz  # noqa: E402


def teardown_function():
    plt.close("all")


@pytest.fixture(scope="module")
def runs():
    return {"runbook": viz.dashboard_run(0), "no runbook": viz.dashboard_run(0, runbook=False)}


def test_architecture_has_a_box_per_piece():
    fig = viz.draw_architecture()
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    for piece in ("notifications.events", "routers", "notify.sms", "email-workers", "SMS gateway", "token buckets",
                  "runbook"):
        assert piece in texts


def test_timeline_shows_traffic_dead_letters_and_the_alarm(runs):
    fig = viz.plot_run_timeline(runs["runbook"], lag_alarm=5)
    assert len(fig.axes) == 4
    labels = [t.get_text() for t in fig.axes[2].texts]
    assert "ALARM" in labels and "OK" in labels          # the email outage raised it, the redrive cleared it
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "email outage" in legend


def test_latency_and_compare(runs):
    fig = viz.plot_latency(runs)
    assert len(fig.axes[0].lines) == 2
    table = viz.compare(runs)
    assert "in DLQ at the end" in table and table.count("valid") == 2
    row = next(line for line in table.splitlines() if line.startswith("redrives"))
    assert row.split()[1] != "0" and row.split()[2] == "0"


def test_token_bucket_picture_marks_refusals():
    fig = viz.plot_token_bucket(capacity=2, refill_per_s=1.0, arrivals=[0, 0, 0, 100], bucket=TokenBucket)
    refused = next(line for line in fig.axes[0].lines if line.get_label() == "refused")
    assert len(refused.get_xdata()) == 2


def test_dashboard_builds_and_toggles_change_the_run():
    assert viz.dashboard() is not None
    quiet = viz.dashboard_run(1, outage="none", crash_workers=False, crash_router=False, slow_consumer=False)
    assert quiet.check().valid and quiet.metrics().redrives == 0 and not quiet.history.faults()


def test_the_timeline_shows_consumer_lag_per_channel_group(runs):
    result = runs["runbook"]
    fig = viz.plot_run_timeline(result, lag_alarm=5)
    labels = {line.get_label() for line in fig.axes[3].lines}
    assert {"router", "push-workers", "email-workers", "sms-workers", "lag alarm at 5"} <= labels
    worst = viz.max_lag(result)
    assert worst["email-workers"][0] > 0                 # the email outage's jobs were behind for a while
    series = viz.lag_series(result)
    assert series["email-workers"][1][-1] == 0            # ... and every group caught up by the end


def test_a_repeated_refusal_is_one_mark_not_two():
    # capacity 1, slow refill, many duplicate events: refused notifications come back (duplicates, redrives)
    # and the limiter answers them from the record (repeat=True): the same notification, dropped once
    result = viz.dashboard_run(2, capacity=1, refill_per_s=0.25, outage="none", crash_workers=False,
                               crash_router=False, slow_consumer=False, events=120)
    throttles = [op for op in result.history.ops if op.f == "throttle" and op.type != "invoke"
                 and not op.value["allowed"]]
    repeats = [op for op in throttles if op.value["repeat"]]
    assert repeats, "the run never answered a refusal from the record: the test would prove nothing"
    assert len(viz._series(result)["throttled"]) == len(throttles) - len(repeats)


def test_the_design_picture_has_a_panel_per_measure():
    from msglib.capstone.design import design, evaluate

    fig = viz.plot_design({"msglib's": evaluate(design(), 0)})
    assert len(fig.axes) == 4 and all(ax.patches for ax in fig.axes)
