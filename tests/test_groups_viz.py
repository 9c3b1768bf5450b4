"""Module 05's pictures and widget draw, and skip themselves during grading runs."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from msglib.groups.workload import GroupEvent, run_group  # noqa: E402
from msglib.viz import groups as viz  # noqa: E402


def test_pictures_draw():
    figs = [viz.plot_assignment({"a": [0, 1], "b": [2]}, 3),
            viz.plot_rebalance({"a": [0, 1], "b": [2, 3]}, {"a": [0], "b": [2, 3], "c": [1]}, 4),
            viz.plot_timeline(run_group(0, events=[GroupEvent(500, "pause", 0, duration_ms=1_000)])),
            viz.compare_protocols(seed=1, partitions=4),
            viz.plot_lag(seed=1)]
    for fig in figs:
        assert fig is not None and fig.axes
    plt.close("all")


def test_join_costs_show_a_dot_per_seed_and_a_median_bar_per_protocol():
    from msglib.groups.protocol_compare import compare

    costs = compare(members=2, seeds=range(2), fast=True, protocols=("eager", "cooperative"))
    fig = viz.plot_join_costs(costs, "one join")
    left, right = fig.axes
    assert fig._suptitle.get_text() == "one join"
    assert [t.get_text() for t in left.get_xticklabels()] == [viz.JOIN_LABELS["eager"], viz.JOIN_LABELS["cooperative"]]
    assert sum(len(c.get_offsets()) for c in left.collections if hasattr(c, "get_offsets")
               and c.__class__.__name__ == "PathCollection") == 4      # 2 protocols x 2 seeds
    assert len([c for c in right.collections if c.__class__.__name__ == "LineCollection"]) == 2   # the medians
    with pytest.raises(ValueError, match="at least one protocol"):
        viz.plot_join_costs({})
    plt.close("all")


def test_zombie_timeline_shows_two_owners_at_once():
    r = run_group(0, events=[GroupEvent(500, "pause", 0, duration_ms=1_000)])
    fig, ax = plt.subplots()
    viz.draw_timeline(r, ax)
    assert any(p.get_hatch() == "//" for p in ax.patches)   # the zombie's overlap is drawn hatched
    plt.close("all")


def test_tables_and_text():
    table = viz.delivery_table(seeds=2)
    assert "at-least-once" in table and "at-most-once" in table
    r = run_group(1, events=[GroupEvent(300, "join")])
    story = viz.group_story(r.broker.coordinator, "workers")
    assert "-> Stable" in story and "assignment" in story
    assert "__consumer_offsets-0" in viz.offsets_log(r.broker.coordinator)


def test_widget_and_playground():
    pg = viz.Playground(seed=2, partitions=4)
    pg.add()
    pg.advance(800)
    assert len(pg.assignment()) == 3
    pg.kill_one()
    pg.advance(1_500)
    assert len(pg.assignment()) == 2 and sorted(p for ps in pg.assignment().values() for p in ps) == [0, 1, 2, 3]
    pg.stop_one()
    pg.advance(800)
    assert len(pg.assignment()) == 1
    assert viz.explore_group(seed=0) is not None


def test_pictures_skip_during_grading(monkeypatch):
    monkeypatch.setenv("MSGLIB_GRADING_RUN", "1")
    assert viz.compare_protocols() is None and viz.explore_group() is None and viz.plot_lag() is None
    assert viz.plot_join_costs({}) is None
