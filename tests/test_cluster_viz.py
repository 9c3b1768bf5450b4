"""Modules 03 and 04's pictures and widgets draw, show what they claim, and skip themselves during grading."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from msglib.cluster import Cluster  # noqa: E402
from msglib.cluster.scenario import run_scenario  # noqa: E402
from msglib.sim import Crash  # noqa: E402
from msglib.viz import cluster as viz  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_history_timeline_highlights_the_anomaly_and_marks_faults():
    r = run_scenario(1, faults=None, loss=0.05, idempotent=False, duration_ms=600)
    dup = r.check.of_kind("duplicate")[0]
    r.history.fault(r.history[5].time, Crash("b1"))
    ax = viz.plot_history(r.history, highlight=dup.ops, title="dup")
    thick = [p for p in ax.patches if p.get_linewidth() > 1]
    assert ax.get_title() == "dup" and thick, "the anomaly's operations are drawn thick"
    assert any("crash b1" in t.get_text() for t in ax.texts), "faults are labelled"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["p1", "reader"]
    # a long history is thinned to max_ops bars, but the highlighted ones stay
    ax2 = viz.plot_history(r.history, highlight=dup.ops, max_ops=20)
    assert len(ax2.patches) <= 20 + 2 * len(dup.ops)


def _traced_cluster() -> Cluster:
    """Three brokers, one partition, five records written with acks=all, the replication trace on."""
    c = Cluster(3, seed=4, trace=True)
    c.create_topic("t", 1, 3)
    p = c.producer(acks="all")
    for i in range(5):
        p.send("t", b"x%d" % i)
    p.flush()
    return c


def test_replication_trace_plots_leo_and_hw_per_broker_and_the_isr():
    c = _traced_cluster()
    ax = viz.plot_replication(c.trace, "t-0")
    labels = sorted(line.get_label() for line in ax.get_lines())
    assert labels == sorted(f"broker {b} {k}" for b in range(3) for k in ("LEO", "HW"))
    leader_leo = next(line for line in ax.get_lines() if line.get_label() == "broker 0 LEO")
    assert max(leader_leo.get_ydata()) == 5
    isr_ax = viz.plot_isr(c.trace)
    assert max(isr_ax.get_lines()[0].get_ydata()) == 3


def test_replica_logs_show_one_cell_per_record_coloured_by_epoch():
    entries = {0: [(0, 0, b"m1"), (1, 0, b"m2")], 1: [(0, 0, b"m1"), (1, 2, b"m3")]}
    ax = viz.plot_replica_logs(entries, title="diverged")
    assert len(ax.patches) == 4 and {t.get_text() for t in ax.texts} >= {"m1", "m2", "m3"}
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["epoch 0", "epoch 2"]


def test_composed_pictures_stack_their_parts_on_one_figure():
    c = _traced_cluster()
    fig = viz.plot_replication_and_isr(c.trace, "t-0", history=c.history)
    top, bottom = fig.axes
    assert len(top.get_lines()) == 6 and bottom.get_ylabel() == "ISR size"
    assert top.get_shared_x_axes().joined(top, bottom)          # one time axis
    entries = {0: [(0, 0, b"m1")], 1: [(0, 0, b"m1"), (1, 2, b"m3")]}
    fig = viz.plot_replica_logs_stack([(entries, "first rule"), ({0: [(0, 1, b"x")]}, "second rule")],
                                      figsize=(9, 3.4))
    assert [ax.get_title() for ax in fig.axes[:2]] == ["first rule", "second rule"]
    assert len(fig.axes[0].patches) == 3 and tuple(fig.get_size_inches()) == (9, 3.4)
    with pytest.raises(ValueError, match="at least one"):
        viz.plot_replica_logs_stack([])


def test_loss_table_heat_map_has_one_cell_per_setting():
    table = {(a, m, e): 0.5 for a in (0, 1, "all") for m in (1, 2) for e in ("isr", "unclean", "elr")}
    table[("all", 2, "elr")] = 0.0
    ax = viz.plot_loss_table(table, seeds=10)
    assert "10 seeds" in ax.get_title()
    assert sorted(t.get_text() for t in ax.texts).count("50%") == 17
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[-1] == "min.insync=2\nISR, then ELR" and labels[0] == "min.insync=1\nISR only"


def test_linger_experiment_trades_latency_for_bigger_batches():
    rows = viz.linger_experiment(lingers=(0, 10), records=120, every_ms=2)
    assert [r["linger_ms"] for r in rows] == [0, 10]
    assert rows[1]["records_per_request"] > rows[0]["records_per_request"]
    assert rows[1]["p50_latency_ms"] > rows[0]["p50_latency_ms"]
    assert viz.plot_linger_tradeoff(rows).get_title().startswith("batching")


def test_playground_faults_are_recorded_and_the_checker_judges_the_run():
    pg = viz.ReplicationPlayground(seed=0, acks=1, min_insync_replicas=1)
    pg.run(100)
    leader = pg.cluster.leader("t")
    pg.set_cut(leader, (leader + 1) % 3, True)
    pg.set_down(leader, True)
    pg.run(300)
    assert pg.sent == 80
    kinds = [op.f for op in pg.cluster.history.faults()]
    assert kinds == ["cut", "crash"]
    result = pg.heal_and_check()
    assert pg.cluster.settled() and result.anomalies is not None
    sends = [op for op in pg.cluster.history if op.f == "send" and op.type == "invoke"]
    assert len(sends) == 80


def test_playground_records_a_healed_link_and_the_follower_catches_up():
    pg = viz.ReplicationPlayground(seed=0)
    leader = pg.cluster.leader("t")
    follower = (leader + 1) % 3
    pg.set_cut(leader, follower, True)
    pg.run(100)
    pg.set_cut(leader, follower, False)
    assert [op.f for op in pg.cluster.history.faults()] == ["cut", "heal"]
    assert pg.cluster.network.connected(f"b{leader}", f"b{follower}")
    pg.run(400)
    replicas = {b: pg.cluster.replica(b, "t").log_end_offset for b in range(3)}
    assert replicas[follower] == replicas[leader] > 0


def test_widgets_build_and_their_buttons_work():
    import ipywidgets

    box = viz.retries_widget()
    assert isinstance(box, ipywidgets.VBox)
    box = viz.cluster_widget(seed=0)
    assert isinstance(box, ipywidgets.VBox)
    down = box.children[1].children
    down[0].value = True  # crash broker 0
    step, failover, heal = box.children[3].children
    step.click()
    failover.click()
    assert "no partition leader is elected" in box.children[4].value
    heal.click()
    assert [t.value for t in down] == [False, False, False], "healing resets the toggles"
    down[1].value = True
    box.children[0].children[4].click()  # a new cluster
    assert [t.value for t in down] == [False, False, False], "a new cluster starts with every broker up"


def test_cluster_widget_shows_one_opaque_image_per_click_and_settings_take_effect():
    import io

    import ipywidgets
    from matplotlib.image import imread

    box = viz.cluster_widget(seed=0)
    text, picture = box.children[4], box.children[5]
    assert isinstance(picture, ipywidgets.Image) and isinstance(text, ipywidgets.HTML)
    step, failover, heal = box.children[3].children
    down = box.children[1].children
    for act in (lambda: setattr(down[0], "value", True), step.click, failover.click, heal.click,
                box.children[0].children[4].click):
        before = picture.value
        act()
        pixels = imread(io.BytesIO(picture.value), format="png")
        assert picture.value != before or act is heal.click
        assert pixels.shape[2] == 3 or pixels[..., 3].min() == 1.0, "the image is opaque"
        assert pixels[..., :3].std() > 0.05, "the image is not blank"
    acks = box.children[0].children[0]
    acks.value = 1
    assert "new cluster" in text.value, "changing acks builds a new cluster with it"


def test_everything_skips_during_grading(monkeypatch):
    monkeypatch.setenv("MSGLIB_GRADING_RUN", "1")
    assert viz.plot_replica_logs({0: []}) is None and viz.cluster_widget() is None
    assert viz.retries_widget() is None and viz.show_loss_table(seeds=1) is None
    assert viz.plot_isr([]) is None
    assert viz.plot_replication_and_isr([]) is None and viz.plot_replica_logs_stack([]) is None
