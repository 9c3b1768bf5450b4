"""One join under classic eager, classic cooperative-sticky and KIP-848: the same workload, measured."""
from __future__ import annotations

import pytest

from msglib.groups.protocol_compare import PROTOCOLS, compare, join_cost, summarize


def test_each_protocol_settles_after_a_join_and_reports_its_costs():
    costs = compare(2, [1], fast=True)
    assert set(costs) == set(PROTOCOLS)
    for proto, (run,) in costs.items():
        assert run.settle_ms > 0 and run.unowned_partition_s > 0 and run.moved >= 1, (proto, run)
    summary = {s.protocol: s for s in summarize(costs)}
    assert summary["kip848"].seeds == 1 and summary["eager"].members == 2


def test_the_same_seed_gives_the_same_figures():
    assert join_cost("kip848", 2, 4, fast=True) == join_cost("kip848", 2, 4, fast=True)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="protocol must be one of"):
        join_cost("sticky", 2)
    with pytest.raises(ValueError, match="members"):
        join_cost("eager", 0)
