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
    fig = viz.plot_run_timeline(runs["runbook"])
    assert len(fig.axes) == 3
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
