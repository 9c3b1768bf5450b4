"""Consume-transform-produce under crashes and zombies (msglib.txn.eos), and the EOS checker (msglib.check.eos).

The runs: eos_step must give every input exactly one committed output whatever the schedule; at-least-once must
show duplicates on some seeds (so the checker is not blind); a loop that commits offsets outside the transaction
must be caught. The checker: hand-made histories, one per finding.
"""
import pytest

from msglib.check.eos import EOS_KINDS, OutputRecord, Read, TxnRecord, check_eos
from msglib.txn.eos import (EVENT_KINDS, POINTS, EosEvent, at_least_once_step, eos_step, output_value, parse_output,
                            random_events, run_eos)

SEEDS = range(10)


# ------------------------------------------------------------------------------------------- the checker
def out(p, o, i, txn="a#1"):
    return OutputRecord(p, o, i, txn)


def test_checker_accepts_exactly_once():
    res = check_eos([1, 2, 3], [out(0, 0, 1), out(0, 1, 2), out(1, 0, 3)])
    assert res.valid and res.counts == {k: 0 for k in EOS_KINDS}
    assert "exactly once" in res.summary()


def test_checker_finds_a_duplicate_with_both_outputs():
    res = check_eos([1, 2], [out(0, 0, 1, "a#1"), out(0, 1, 2, "a#1"), out(1, 5, 1, "b#1")])
    assert [a.kind for a in res.anomalies] == ["duplicate"]
    dup = res.first()
    assert dup.input_id == 1 and len(dup.witnesses) == 2
    assert "p0@0 by a#1" in dup.message and "p1@5 by b#1" in dup.message


def test_checker_finds_a_lost_input():
    res = check_eos([1, 2, 3], [out(0, 0, 1), out(0, 1, 3)])
    assert [(a.kind, a.input_id) for a in res.anomalies] == [("lost", 2)]
    assert res.counts["lost"] == 1 and not res.valid


def test_checker_finds_an_aborted_read():
    """The verifier read p0@1, which is not in the final committed output: its transaction aborted (G1a)."""
    committed = [out(0, 0, 1, "a#1"), out(0, 3, 2, "b#1")]
    reads = [Read(10.0, "verifier", out(0, 0, 1, "a#1")), Read(12.0, "verifier", out(0, 1, 2, "a#2"))]
    txns = [TxnRecord("a#1", "a", 0.0, 5.0, "committed", [1]), TxnRecord("a#2", "a", 6.0, None, "aborted", [2]),
            TxnRecord("b#1", "b", 20.0, 25.0, "committed", [2])]
    res = check_eos([1, 2], committed, reads, txns)
    assert [a.kind for a in res.anomalies] == ["aborted-read"]
    assert "a#2 aborted" in res.anomalies[0].message


def test_checker_finds_a_precommitted_read():
    """Read at t=4, but the transaction asked to commit only at t=5 (or never)."""
    committed = [out(0, 0, 1, "a#1"), out(0, 1, 2, "a#2")]
    txns = [TxnRecord("a#1", "a", 0.0, 5.0, "committed", [1]), TxnRecord("a#2", "a", 6.0, None, "open", [2])]
    reads = [Read(4.0, "verifier", out(0, 0, 1, "a#1")), Read(9.0, "verifier", out(0, 1, 2, "a#2"))]
    res = check_eos([1, 2], committed, reads, txns)
    assert [(a.kind, a.input_id) for a in res.anomalies] == [("precommitted-read", 1), ("precommitted-read", 2)]
    # the same read after the commit was asked for is fine
    ok = check_eos([1, 2], committed, [Read(5.0, "v", out(0, 0, 1, "a#1"))], txns)
    assert ok.valid


def test_checker_finds_unexpected_output_and_ignores_reads_without_transactions():
    res = check_eos([1], [out(0, 0, 1), out(0, 1, 99)])
    assert [a.kind for a in res.anomalies] == ["unexpected"]
    # at-least-once: reads are not judged (nothing is "committed" or "aborted")
    res = check_eos([1], [out(0, 0, 1)], [Read(0.0, "v", out(0, 7, 1, "x"))], transactional=False)
    assert res.valid


def test_first_prefers_losses_and_duplicates():
    res = check_eos([1, 2], [out(0, 0, 1), out(0, 1, 1)], [Read(0.0, "v", out(3, 3, 1, "z"))])
    assert {a.kind for a in res.anomalies} == {"lost", "duplicate", "aborted-read"}
    assert res.first().kind == "lost"


def test_output_value_round_trip():
    assert parse_output(output_value(7, "app-1#2")) == (7, "app-1#2")


# ------------------------------------------------------------------------------------------- the runs
@pytest.mark.parametrize("seed", SEEDS)
def test_eos_step_is_exactly_once_under_crashes_zombies_and_errors(seed):
    events = random_events(seed, 1_500.0, count=3, kinds=("crash", "pause", "error"))
    r = run_eos(seed, events=events)
    assert r.drained, r.story()
    assert r.check.valid, (r.summary(), str(r.check.first()), r.story())
    assert r.duplicates == 0 and r.lost == 0
    assert len(r.inputs) == 40 and len(r.committed) == 40


def test_eos_runs_do_meet_zombies_and_aborts():
    """The schedules are not idle: across the seeds, zombies are fenced and transactions are aborted."""
    fenced = aborted = 0
    for seed in range(6):
        r = run_eos(seed, events=random_events(seed, 1_500.0, count=3, kinds=("crash", "pause", "error")))
        fenced += any("is fenced" in n for _, n in r.notes)
        aborted += len(r.all_output) > len(r.committed)
        assert r.valid, r.summary()
    assert fenced >= 1 and aborted >= 2


@pytest.mark.parametrize("point", ["begin", "send", "transform", "send_offsets", "commit", "commit_sent", "poll"])
def test_eos_step_survives_a_crash_and_a_zombie_at_each_point(point):
    r = run_eos(1, events=[EosEvent(300, "crash", 0, point), EosEvent(700, "pause", 1, point, duration_ms=1_300)])
    assert r.valid, (r.summary(), r.story())
    assert any("crashes at" in n for _, n in r.notes) and any("stalls" in n for _, n in r.notes)
    if point != "commit_sent":   # (there, its EndTxn reached the coordinator before the replacement started)
        assert any("is fenced" in n for _, n in r.notes)      # the stalled one was replaced: a zombie


def test_a_short_stall_is_fenced_by_the_group_generation():
    """Stalled past the session timeout but not replaced: the group moves on, KIP-447 refuses its offsets."""
    r = run_eos(1, events=[EosEvent(300, "pause", 0, "send_offsets", duration_ms=600)])
    assert r.valid, r.summary()
    assert any("refused" in n and "KIP-447" in n for _, n in r.notes), r.story()


@pytest.mark.parametrize("point", ["send", "send_offsets", "commit"])
def test_a_failed_transaction_is_aborted_and_redone(point):
    r = run_eos(2, events=[EosEvent(200, "error", 0, point), EosEvent(400, "error", 1, point)])
    assert r.valid, (r.summary(), r.story())
    assert sum("the transaction fails" in n for _, n in r.notes) == 2
    assert any(t.outcome == "aborted" for t in r.txns)


def test_forgetting_to_rewind_after_an_abort_loses_inputs():
    def no_rewind(consumer, producer, transform):
        batch = consumer.poll(timeout_ms=20)
        if not batch:
            return
        producer.begin_transaction()
        try:
            for records in batch.values():
                for r in records:
                    producer.send("output", transform(r), key=r.key)
            producer.send_offsets_to_transaction({tp: rs[-1].offset + 1 for tp, rs in batch.items()},
                                                 consumer.group_metadata())
            producer.commit_transaction()
        except Exception:
            producer.abort_transaction()

    r = run_eos(2, step=no_rewind, events=[EosEvent(200, "error", 0, "send"), EosEvent(400, "error", 1, "commit")])
    assert r.lost > 0 and r.duplicates == 0


@pytest.mark.parametrize("seed", range(4))
def test_eos_step_survives_broker_and_coordinator_crashes(seed):
    r = run_eos(seed, events=random_events(seed, 1_500.0, count=4, kinds=EVENT_KINDS))
    assert r.valid, (r.summary(), r.story())


def test_at_least_once_duplicates_on_some_seeds_and_never_loses():
    dup_seeds = []
    for seed in SEEDS:
        r = run_eos(seed, transactional=False, events="random")
        assert r.drained and r.lost == 0, r.summary()
        if r.duplicates:
            dup_seeds.append(seed)
            assert r.check.first().kind == "duplicate"
    assert dup_seeds, "at-least-once under crashes never duplicated: the checker (or the schedule) is blind"
    assert len(dup_seeds) < len(SEEDS)


def test_offsets_committed_outside_the_transaction_duplicate():
    """A crash between commit_transaction and consumer.commit: the outputs are committed, the offsets not."""
    def commit_after(consumer, producer, transform):
        batch = consumer.poll(timeout_ms=20)
        if not batch:
            return
        producer.begin_transaction()
        for records in batch.values():
            for r in records:
                producer.send("output", transform(r), key=r.key)
        producer.commit_transaction()
        consumer.commit()

    r = run_eos(0, step=commit_after, events=[EosEvent(300, "crash", 0, "consumer_commit")])
    assert r.drained and r.duplicates > 0 and r.lost == 0


def test_runs_replay_from_the_seed():
    a = run_eos(3, events="random")
    b = run_eos(3, events="random")
    assert a.summary() == b.summary() and a.notes == b.notes and a.committed == b.committed


def test_explicit_steps_match_the_defaults():
    assert run_eos(2, step=eos_step).summary() == run_eos(2).summary()
    assert (run_eos(2, step=at_least_once_step, transactional=False).summary()
            == run_eos(2, transactional=False).summary())


def test_bad_events_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="unknown event kind 'nap'"):
        run_eos(0, events=[EosEvent(10, "nap")])
    with pytest.raises(ValueError, match="unknown point 'lunch'.*begin"):
        run_eos(0, events=[EosEvent(10, "crash", 0, "lunch")])
    with pytest.raises(ValueError, match="inside a transaction"):
        run_eos(0, events=[EosEvent(10, "error", 0, "poll")])
    assert set(POINTS) >= {"begin", "send", "commit", "commit_sent"}
