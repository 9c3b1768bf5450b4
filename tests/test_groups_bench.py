"""The groups benchmark runs end to end with tiny counts (no speed is asserted, nothing is recorded)."""
from __future__ import annotations

import json

from benchmarks import bench_groups, results


def test_bench_groups_quick_runs_and_records_nothing(capsys):
    before = results.RESULTS.read_text() if results.RESULTS.exists() else None
    bench_groups.main(["--quick"])
    out = capsys.readouterr().out
    for name in ("groups.rebalance_ms.eager.n2", "groups.consume_local", "groups.consume_cluster",
                 "groups.at_least_once_lost", "groups.sticky_assign_ms"):
        assert name in out
    after = results.RESULTS.read_text() if results.RESULTS.exists() else None
    assert before == after
    if after:
        json.loads(after)


def test_bench_groups_only_rebalances_runs_that_part_alone(capsys):
    bench_groups.main(["--quick", "--only", "rebalances"])
    out = capsys.readouterr().out
    assert "groups.rebalance_ms.cooperative.n2" in out and "groups.stop_the_world.eager.n3" in out
    assert "groups.consume_local" not in out and "groups.join_settle_ms" not in out
