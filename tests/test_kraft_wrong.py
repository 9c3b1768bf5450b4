"""Known-wrong KRaft policies (tests/wrong/kraft.py): the checker must catch every one, printing the
seed and the smallest history. These are the seeds of the future KRaft exercises."""
from __future__ import annotations

import pytest

from msglib.check.kraft import check_election_rule
from msglib.kraft.policies import Policies
from msglib.kraft.scenario import elr_scenario, run_quorum
from tests.wrong.kraft import ELECTION, QUORUM

MAX_SEEDS = 200


@pytest.mark.parametrize("name,field,fn", QUORUM, ids=[q[0] for q in QUORUM])
def test_wrong_quorum_policy_is_caught(name, field, fn):
    for seed in range(MAX_SEEDS):
        run = run_quorum(seed, policies=Policies(**{field: fn}), duration_ms=1000, settle_ms=700)
        if not run.valid:
            report = run.report()
            assert f"seed {seed}" in report and "INVALID" in report
            print(f"{name}: caught\n{report[:1500]}")
            return
    pytest.fail(f"{name}: no violation found in {MAX_SEEDS} seeds; the fault mix or the checker is too weak")


@pytest.mark.parametrize("name,field,fn", ELECTION, ids=[e[0] for e in ELECTION])
def test_wrong_election_rule_is_caught(name, field, fn):
    problem = check_election_rule(fn)
    assert problem is not None, name
    # and in KIP-966's story it loses committed records
    assert elr_scenario(policies=Policies(**{field: fn})).committed_lost > 0
