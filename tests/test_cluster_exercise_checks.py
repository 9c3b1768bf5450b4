"""The exercise checks of modules 03 and 04: their hand-made cases agree with msglib's own policies,
and their cluster runs alone (without the cases) catch the mistakes a history can show."""
import pytest

from msglib.grading import CheckFailed, ex03, ex04
from tests.wrong.ex03 import WRONG as WRONG03
from tests.wrong.ex04 import WRONG as WRONG04


@pytest.mark.parametrize("cases,exercise", [(ex04.HW_CASES, ex04.EX_HW), (ex04.ISR_CASES, ex04.EX_ISR),
                                            (ex04.ELECT_CASES, ex04.EX_ELECT), (ex04.TRUNC_CASES, ex04.EX_TRUNC)])
def test_the_expected_answers_are_msglibs_own(cases, exercise):
    reference = ex04.REFERENCE[exercise]
    for args, kwargs, want, why in cases:
        got = reference(*args, **kwargs)
        assert (set(got) if isinstance(want, set) else got) == want, why


def test_the_sequence_cases_agree_with_msglibs_check():
    for (entry, epoch, first, last), want, why in ex03._cases():
        got = ex03.REFERENCE(entry, epoch, first, last)
        assert ex03._same(got, want), why


def _load(wrong, exercise, mistake_start, name):
    src = next(src for mistake, src in wrong[exercise] if mistake.startswith(mistake_start))
    ns = {}
    exec(src, ns)
    return ns[name]


@pytest.mark.parametrize("exercise,mistake,name,check", [
    (ex04.EX_HW, "the largest LEO", "advance_high_watermark", ex04._check_hw),
    (ex04.EX_HW, "off by one", "advance_high_watermark", ex04._check_hw),
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
    ex04.check_high_watermark(p.advance_high_watermark)
    ex04.check_isr(p.update_isr)
    ex04.check_elect_leader(p.elect_leader)
    ex04.check_truncation(p.truncation_offset)
