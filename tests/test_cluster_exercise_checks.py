"""The exercise checks of modules 03 and 04 (04's vote rule runs the KRaft quorum): their hand-made cases agree with msglib's own policies,
their random cases cover every kind of answer, the reference passes on any seed, and their cluster
runs alone (without the cases) catch the mistakes a history can show."""
import random
from collections import Counter

import pytest

from msglib.grading import CheckFailed, ex03, ex04
from tests.wrong.ex03 import WRONG as WRONG03
from tests.wrong.ex04 import WRONG as WRONG04


@pytest.mark.parametrize("cases,exercise", [
    (ex04.VOTE_CASES, ex04.EX_VOTE), (ex04.ISR_CASES, ex04.EX_ISR), (ex04.ELECT_CASES, ex04.EX_ELECT),
    (ex04.TRUNC_CASES, ex04.EX_TRUNC), (ex04.VOTE_HIDDEN_CASES, ex04.EX_VOTE), (ex04.ISR_HIDDEN_CASES, ex04.EX_ISR),
    (ex04.ELECT_HIDDEN_CASES, ex04.EX_ELECT), (ex04.TRUNC_HIDDEN_CASES, ex04.EX_TRUNC)])
def test_the_expected_answers_are_msglibs_own(cases, exercise):
    reference = ex04.REFERENCE[exercise]
    for args, kwargs, want, why in cases:
        got = reference(*args, **kwargs)
        assert (set(got) if isinstance(want, set) else got) == want, why


def test_the_sequence_cases_agree_with_msglibs_check():
    for (entry, epoch, first, last), want, why in ex03._cases() + ex03._hidden_cases():
        got = ex03.REFERENCE(entry, epoch, first, last)
        assert ex03._same(got, want), why


def _load(wrong, exercise, mistake_start, name):
    src = next(src for mistake, src in wrong[exercise] if mistake.startswith(mistake_start))
    ns = {}
    exec(src, ns)
    return ns[name]


@pytest.mark.parametrize("exercise,mistake,name,check", [
    (ex04.EX_VOTE, "ignores whether", "grant_vote", ex04._check_vote),
    (ex04.EX_VOTE, "forgets its vote", "grant_vote", ex04._check_vote),
    (ex04.EX_VOTE, "strictly more up to date", "grant_vote", ex04._check_vote),
    (ex04.EX_ISR, "never shrinks", "update_isr", ex04._check_isr),
    (ex04.EX_ISR, "never lets a follower back in", "update_isr", ex04._check_isr),
    (ex04.EX_ELECT, "ignores the ISR", "elect_leader", ex04._check_elect),
    (ex04.EX_ELECT, "ignores liveness", "elect_leader", ex04._check_elect),
    (ex04.EX_TRUNC, "KIP-101 only", "truncation_offset", ex04._check_trunc),
    (ex04.EX_TRUNC, "truncates to the leader's answer but never below", "truncation_offset", ex04._check_trunc),
])
def test_the_cluster_runs_alone_catch_the_mistake(exercise, mistake, name, check):
    fn = _load(WRONG04, exercise, mistake, name)
    with pytest.raises(CheckFailed) as failed:
        check(fn, [0, 1, 2], exercise, hidden=False, cases=False)
    assert failed.value.seed is not None, "a failure found by running the cluster names the seed that replays it"


def test_a_sequence_check_that_never_sees_duplicates_shows_them_in_the_cluster(monkeypatch):
    fn = _load(WRONG03, ex03.EX_SEQ, "never looks for duplicates", "check_sequence")
    monkeypatch.setattr(ex03, "_cases", lambda: [])
    with pytest.raises(CheckFailed) as failed:
        ex03.check_sequence_check(fn)
    assert "duplicate" in failed.value.what and failed.value.seed is not None


def test_the_reference_policies_pass_every_check():
    from msglib.cluster import policies as p
    from msglib.kraft import policies as kp
    ex04.check_vote(kp.grant_vote)
    ex04.check_isr(p.update_isr)
    ex04.check_elect_leader(p.elect_leader)
    ex04.check_truncation(p.truncation_offset)


def test_random_sequence_cases_reach_every_verdict_and_the_wrap():
    rng = random.Random(0)
    verdicts, wrapped = Counter(), 0
    for _ in range(600):
        entry, epoch, first, last = ex03._random_case(rng)
        verdicts[ex03.REFERENCE(entry, epoch, first, last).action] += 1
        if entry is not None:
            assert len(entry.batches) >= 1 and all(b.first_seq <= b.last_seq <= 2**31 - 1 for b in entry.batches)
            wrapped += any(a.last_seq == 2**31 - 1 and b.first_seq == 0 for a, b in zip(entry.batches,
                                                                                         list(entry.batches)[1:]))
    assert set(verdicts) == {"append", "duplicate", "out_of_order", "invalid_epoch"}
    assert min(verdicts.values()) >= 20 and wrapped > 0, (verdicts, wrapped)


def _isr_change(args, got):
    old, new = set(args[0]), set(got)
    return ("shrinks" if old - new else "") + ("grows" if new - old else "") or "same"


@pytest.mark.parametrize("draw,reference,kind,expected", [
    (ex04._draw_vote, ex04.REFERENCE[ex04.EX_VOTE], lambda args, got: "granted" if got else "refused",
     {"granted", "refused"}),
    (ex04._draw_isr, ex04.REFERENCE[ex04.EX_ISR], _isr_change, {"shrinks", "grows", "shrinksgrows", "same"}),
    (ex04._draw_elect, ex04.REFERENCE[ex04.EX_ELECT],
     lambda args, got: "none" if got is None else ("clean" if got in args[1] else "unclean"),
     {"none", "clean", "unclean"}),
])
def test_random_policy_inputs_reach_every_kind_of_answer(draw, reference, kind, expected):
    rng = random.Random(1)
    seen = Counter()
    for _ in range(500):
        _, args, kwargs = draw(rng)
        seen[kind(args, reference(*args, **kwargs))] += 1
    assert set(seen) == expected and min(seen.values()) >= 10, seen


@pytest.mark.parametrize("seed", [23770, 174231, 4242])
def test_the_reference_sequence_check_passes_even_when_the_network_eats_the_first_batch(seed):
    """With seeds 23770 and 174231 the lossy network drops the producer's first batches while later ones
    arrive: msglib's own check cannot get every write acknowledged there, so neither need the learner's."""
    ex03.hidden_sequence_check(ex03.REFERENCE, seed=seed)


def test_the_reference_policies_pass_every_hidden_check_on_other_seeds():
    from msglib.cluster import policies as p
    from msglib.kraft import policies as kp
    for seed in (7, 99991):
        ex04.hidden_vote(kp.grant_vote, seed=seed)
        ex04.hidden_isr(p.update_isr, seed=seed)
        ex04.hidden_elect_leader(p.elect_leader, seed=seed)
        ex04.hidden_truncation(p.truncation_offset, seed=seed)


def test_a_check_that_only_hidden_cases_can_catch_is_caught_by_them():
    fn = _load(WRONG04, ex04.EX_ELECT, "an unclean election picks any alive broker", "elect_leader")
    ex04.check_elect_leader(fn)  # the visible cases never offer a broker that is alive but not a replica
    with pytest.raises(CheckFailed, match="only this partition's replicas"):
        ex04.hidden_elect_leader(fn)
