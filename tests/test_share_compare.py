"""Share groups in module 10's comparison: the share-group row, the 8-consumers column, and choose_broker's
grader accepting Kafka where only its share group fits."""
from __future__ import annotations

from msglib.compare.scenarios import Requirements, fit, fitting_configuration, many_consumers, scorecard


def test_a_share_group_uses_more_consumers_than_partitions():
    group, share = many_consumers("kafka", 8), many_consumers("kafka-share", 8)
    assert share.latency(99) < group.latency(99) / 2
    # a consumer group with 8 consumers on 4 partitions is no faster than with 4: the others sit idle
    assert group.latency(99) >= many_consumers("kafka", 4).latency(99) * 0.9


def test_the_scorecard_has_the_share_group_row_and_the_many_consumers_column():
    card = scorecard(seed=0, all_configurations=True)
    col = "p99 ms, 8 consumers (4 partitions)"
    assert col in card.columns
    share = card.row("kafka: a share group (Kafka 4.2+)")
    group = card.row("kafka: a consumer group")
    assert share[col] < group[col]
    assert share["order violations"] > 0 == group["order violations"]


def test_kafka_fits_through_its_share_group_where_its_consumer_group_does_not():
    req = Requirements(replay=True, tolerate_slow_consumer=True)
    assert fit("kafka", req) == []
    assert fitting_configuration("kafka", req) == "a share group (Kafka 4.2+)"
    assert fitting_configuration("kafka", Requirements(replay=True)) == "a consumer group"


def test_the_many_consumers_picture_has_the_share_group_line():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from msglib.viz import compare as viz
    fig = viz.plot_latency_vs_consumers(consumers=(4, 8), partitions=4)
    lines = {line.get_label(): list(line.get_ydata()) for line in fig.axes[0].get_lines()}
    share, group = lines["kafka share group (4 partitions)"], lines["kafka (4 partitions)"]
    assert share[0] < group[0] and share[1] < group[1] / 2      # no consumer waits on a hot partition
    plt.close("all")
