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
