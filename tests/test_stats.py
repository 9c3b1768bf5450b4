"""msglib.stats: the nearest-rank percentile every simulation reports."""
import math

from msglib.stats import percentile


def test_nearest_rank_percentile():
    values = [15, 20, 35, 40, 50]
    assert percentile(values, 5) == 15
    assert percentile(values, 30) == 20
    assert percentile(values, 40) == 20
    assert percentile(values, 50) == 35
    assert percentile(values, 100) == 50
    assert percentile(list(reversed(values)), 50) == 35


def test_empty_input():
    assert math.isnan(percentile([], 50))
    assert percentile([], 99, empty=0.0) == 0.0
