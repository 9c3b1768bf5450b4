"""msglib.txn.interleaving: several producers' transactions interleaved, every read_committed read judged."""
import pytest

from msglib.txn.interleaving import run_interleaving


@pytest.mark.parametrize("seed", range(6))
def test_msglib_rules_pass_and_the_runs_are_not_idle(seed):
    r = run_interleaving(seed)
    assert r.valid, [f.message for f in r.findings]
    assert "committed" in r.outcome.values() and "aborted" in r.outcome.values()
    assert any(w.txn is None for w in r.written)               # plain writes between the transactions
    for p, got in r.final.items():
        assert got == r.expected(p) and got                        # every committed record, in order


def test_reads_happen_while_transactions_are_open():
    r = run_interleaving(1)
    assert len(r.reads) >= len(r.final[0]) + len(r.final[1])       # two readers during the run
    assert any(step.endswith("aborts") for step in r.steps)


def test_an_lso_that_ignores_open_transactions_is_caught():
    r = run_interleaving(0, last_stable_offset=lambda hw, open_txns: hw)
    assert r.findings[0].kind == "past-lso"
    assert "still open since offset" in r.findings[0].message


def test_an_lso_one_too_far_is_caught():
    r = run_interleaving(0, last_stable_offset=lambda hw, o: min(min(o.values(), default=hw) + 1, hw))
    assert any(f.kind == "past-lso" for f in r.findings)


def test_a_filter_that_keeps_aborted_data_is_caught():
    r = run_interleaving(0, aborted_filter=lambda batches, aborted: [b for b in batches if not b.is_control])
    assert r.findings[0].kind == "aborted-read"


def test_a_filter_that_drops_too_much_is_caught():
    def drop_all_of_aborting_producers(batches, aborted):
        pids = {pid for pid, _ in aborted}
        return [b for b in batches if not b.is_control and not (b.is_transactional and b.producer_id in pids)]

    r = run_interleaving(0, aborted_filter=drop_all_of_aborting_producers)
    assert any(f.kind == "missing" for f in r.findings)


def test_replays_from_the_seed():
    a, b = run_interleaving(4), run_interleaving(4)
    assert a.steps == b.steps and a.reads == b.reads
