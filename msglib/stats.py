"""Small statistics the simulations report (percentiles of latencies and the like)."""
from __future__ import annotations

import math


def percentile(values: list[float], p: float, *, empty: float = math.nan) -> float:
    """The ``p``-th percentile (0..100) by the nearest-rank method: the smallest value with at
    least p% of the values at or below it. ``empty`` is returned when there are no values."""
    if not values:
        return empty
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]
