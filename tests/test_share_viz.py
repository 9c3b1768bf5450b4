"""The share-group pictures (modules 01 and 09) draw without error and show what they claim."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from msglib.share.record import RecordState  # noqa: E402
from msglib.viz import share as viz  # noqa: E402


def teardown_function():
    plt.close("all")


def test_window_picture_shows_spso_speo_states_and_crashes():
    run = viz.share_run(records=16, poison=(3,), limit=4, max_record_locks=6, crash_rate=1.0, seed=1)
    assert run.ok and run.timeline and run.crash_times
    fig = viz.plot_share_window(run)
    ax = fig.axes[0]
    labels = ax.get_legend().get_texts()
    names = {t.get_text() for t in labels}
    assert {"AVAILABLE", "ACQUIRED", "ACKNOWLEDGED", "ARCHIVED", "consumer crash"} <= names
    assert any("SPSO" in n for n in names) and any("SPEO" in n for n in names)
    assert run.timeline[-1][3][3] is RecordState.ARCHIVED                  # the poison record ends archived
    assert all(speo - spso <= 6 for _, spso, speo, _ in run.timeline)     # the window never exceeds its cap


def test_window_picture_needs_a_timeline():
    from msglib.share.scenario import run_share_schedule
    with pytest.raises(ValueError, match="sample_ms"):
        viz.plot_share_window(run_share_schedule(0))


def test_explorer_builds():
    w = viz.explore_share_group()
    assert {c.description for c in w.children[:-1]} >= {"consumers", "delivery count limit", "poison records"}
