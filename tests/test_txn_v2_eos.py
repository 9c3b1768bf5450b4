"""Transactions v1 vs v2 under module 06's consume-transform-produce runs with crashes and stuck produce
requests (a late write of an aborted transaction): v1 lets it hang a partition or join the next transaction;
v2 fences it; zombies are fenced and read_committed never reads aborted data in either (docs/transactions.md)."""
from __future__ import annotations

import pytest

from msglib.txn.eos import EosEvent, random_events, run_eos

KINDS = ("crash", "stuck")


def runs(seeds, version, verification=False):
    return {s: run_eos(s, events=random_events(s, 1_500.0, count=3, kinds=KINDS), transaction_version=version,
                       verification=verification) for s in seeds}


def test_v1_late_writes_break_exactly_once_and_v2_fences_them():
    seeds = [0, 5, 9]       # 5: a hanging transaction under v1; 9: a late write swallowed by the next one
    v1, v2 = runs(seeds, 1), runs(seeds, 2)
    assert v1[5].hanging and v1[5].hanging[0].partition.startswith("output")
    assert not v1[5].valid and "HANGING" in v1[5].summary()
    assert v1[9].duplicates > 0                       # aborted output committed by the next transaction
    assert all(not r.hanging and r.valid for r in v2.values()), [r.summary() for r in v2.values() if not r.valid]
    assert v1[0].valid and v2[0].valid                # the same schedule with no late write harms neither


def test_v2_stuck_request_alone():
    events = [EosEvent(300.0, "stuck", target=0, point="send", duration_ms=9_000.0)]
    for version in (1, 2):
        r = run_eos(3, events=events, transaction_version=version)
        notes = " ".join(what for _, what in r.notes)
        assert "stuck in the network" in notes
        assert r.check.counts["aborted-read"] == 0 and r.check.counts["precommitted-read"] == 0
        if version == 2:
            assert r.valid, r.summary()


@pytest.mark.parametrize("version", [1, 2])
def test_zombies_fenced_and_no_aborted_reads(version):
    events = [EosEvent(200.0, "pause", target=0, point="send_offsets", duration_ms=1_300.0),
              EosEvent(500.0, "crash", target=1, point="commit_sent")]
    r = run_eos(4, events=events, transaction_version=version)
    assert r.valid, r.summary()
    notes = " ".join(what for _, what in r.notes)
    assert "is fenced" in notes or "PRODUCER_FENCED" in notes or "ProducerFenced" in notes, r.story()
    assert r.check.counts["aborted-read"] == 0


def test_epochs_bump_per_transaction_in_a_run():
    r = run_eos(1, transaction_version=2)
    c = r.cluster._txn_coordinator
    committed = sum(1 for t in r.txns if t.outcome == "committed")
    # each transaction ended with EndTxn moved its id's epoch: the sum of the ids' epochs is at least that many
    assert sum(m.producer_epoch for m in c.txns.values()) >= committed > 0
    r1 = run_eos(1, transaction_version=1)
    assert all(m.producer_epoch == 0 for m in r1.cluster._txn_coordinator.txns.values())


@pytest.mark.slow
def test_over_twenty_seeds():
    seeds = range(20)
    v1, v1v, v2 = runs(seeds, 1), runs(seeds, 1, True), runs(seeds, 2)
    bad_v1 = [s for s, r in v1.items() if not r.valid]
    assert len(bad_v1) >= 3 and any(r.hanging for r in v1.values())
    assert not [s for s, r in v2.items() if not r.valid]
    assert not [s for s, r in v1v.items() if r.hanging]
