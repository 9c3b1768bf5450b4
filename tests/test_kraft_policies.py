"""msglib.kraft's pure decisions: the KIP-595 vote rule and high-water mark, KIP-966's ELR election and
maintenance (cases from KIP-966's "last replica standing" example), and the ELR scenario."""
from __future__ import annotations

import pytest

from msglib.check.kraft import check_election_rule, election_problem
from msglib.kraft.policies import (Election, Policies, advance_high_watermark, elect_partition_leader,
                                   elect_partition_leader_isr_only, elr_update, grant_vote)
from msglib.kraft.scenario import elr_scenario
from msglib.kraft.records import NO_LEADER


def vote(**kw):
    base = dict(epoch=5, voted_for=None, candidate="c1", candidate_epoch=5, candidate_last_epoch=4,
                candidate_end_offset=10, last_epoch=4, end_offset=10)
    base.update(kw)
    return grant_vote(**base)


class TestGrantVote:
    def test_equal_logs_and_no_vote_yet(self):
        assert vote()

    def test_older_candidate_epoch_is_refused(self):
        assert not vote(candidate_epoch=4)

    def test_one_vote_per_epoch(self):
        assert not vote(voted_for="c2")
        assert vote(voted_for="c1")  # a retried Vote from the same candidate gets the same answer

    def test_larger_last_epoch_wins_even_with_a_shorter_log(self):
        assert vote(candidate_last_epoch=5, candidate_end_offset=3, last_epoch=4, end_offset=10)

    def test_older_last_epoch_loses_even_with_a_longer_log(self):
        assert not vote(candidate_last_epoch=3, candidate_end_offset=50, last_epoch=4, end_offset=10)

    def test_same_last_epoch_shorter_log_loses(self):
        assert not vote(candidate_end_offset=9)
        assert vote(candidate_end_offset=11)


class TestHighWatermark:
    def test_majority_of_three_is_the_median(self):
        assert advance_high_watermark(0, {"c0": 10, "c1": 7, "c2": 3}, epoch_start_offset=2) == 7

    def test_waits_for_an_entry_of_its_own_epoch(self):
        # offsets 0..4 are older epochs; the leader's LeaderChange record is at 5: nothing new is committed
        # until a majority has reached past it
        assert advance_high_watermark(2, {"c0": 6, "c1": 5, "c2": 0}, epoch_start_offset=5) == 2
        assert advance_high_watermark(2, {"c0": 6, "c1": 6, "c2": 0}, epoch_start_offset=5) == 6

    def test_never_goes_down(self):
        assert advance_high_watermark(8, {"c0": 9, "c1": 3, "c2": 3}, epoch_start_offset=0) == 8

    def test_five_voters_need_three(self):
        assert advance_high_watermark(0, {"a": 9, "b": 8, "c": 7, "d": 1, "e": 0}, epoch_start_offset=0) == 7


UNFENCED = {0, 1, 2}


class TestElection:
    def test_isr_first_in_assignment_order(self):
        assert elect_partition_leader((2, 0, 1), {0, 1}, set(), UNFENCED, 2, False) == Election(0, "isr")

    def test_fenced_isr_members_are_skipped(self):
        assert elect_partition_leader((0, 1, 2), {0, 1}, set(), {1, 2}, 0, False) == Election(1, "isr")

    def test_elr_when_no_isr_member_is_unfenced(self):
        # KIP-966: ISR {2} fenced, ELR {1}: 1 leads, with no data loss
        assert elect_partition_leader((0, 1, 2), {2}, {1}, {0, 1}, 2, False) == Election(1, "elr")

    def test_fenced_elr_member_is_not_elected(self):
        assert elect_partition_leader((0, 1, 2), set(), {1}, {0}, 2, False) == Election(None, "none")

    def test_last_known_leader_when_isr_and_elr_are_empty_then_unclean(self):
        assert elect_partition_leader((0, 1, 2), set(), set(), {0, 2}, 2, False) == Election(2, "last_known_leader")
        assert elect_partition_leader((0, 1, 2), set(), set(), {0}, 2, False) == Election(None, "none")
        assert elect_partition_leader((0, 1, 2), set(), set(), {0}, 2, True) == Election(0, "unclean")
        # a fenced ELR member is waited for: it holds every committed record
        assert elect_partition_leader((0, 1, 2), set(), {1}, {0, 2}, 2, False) == Election(None, "none")

    def test_exhaustive_rule_check_accepts_msglibs_rule(self):
        assert check_election_rule(elect_partition_leader) is None

    def test_exhaustive_rule_check_rejects_the_isr_only_rule(self):
        problem = check_election_rule(elect_partition_leader_isr_only)
        assert problem is not None and ("ELR" in problem or "last known leader" in problem)

    def test_election_problem_names_the_mistake(self):
        assert "ELR member(s) [1]" in election_problem((0, 1, 2), set(), {1}, {0, 1}, None, False, 0, "elr")
        assert "fenced" in election_problem((0, 1, 2), {0}, set(), {1}, None, False, 0, "isr")


class TestElrUpdate:
    """KIP-966's example: replicas 0, 1, 2, min.insync.replicas 2."""

    def test_shrink_to_min_isr_keeps_the_elr_empty(self):
        assert elr_update({0, 1, 2}, {1, 2}, (), 2) == ((1, 2), ())

    def test_shrink_below_min_isr_moves_the_member_to_the_elr(self):
        assert elr_update({1, 2}, {2}, (), 2) == ((2,), (1,))

    def test_the_last_isr_member_joins_the_elr_too(self):
        assert elr_update({2}, set(), (1,), 2) == ((), (1, 2))

    def test_unclean_shutdown_leaves_the_elr(self):
        assert elr_update((), (), (1, 2), 2, unclean_shutdown={2}) == ((), (1,))

    def test_rejoining_the_isr_leaves_the_elr(self):
        assert elr_update((2,), (1,), (1, 2), 2) == ((1,), (2,))

    def test_isr_back_at_min_isr_clears_the_elr(self):
        assert elr_update((1,), (0, 1), (2,), 2) == ((0, 1), ())

    def test_never_overlap(self):
        isr, elr = elr_update((0, 1, 2), (0,), (), 3)
        assert set(isr).isdisjoint(elr) and elr == (1, 2)


class TestElrScenario:
    def test_elr_elects_the_eligible_replica_and_loses_nothing(self):
        out = elr_scenario(eligible_leader_replicas=True)
        assert out.leader == 1 and out.committed_lost == 0
        assert [s.elr for s in out.steps][2] == (1,)  # 1 entered the ELR when the ISR fell below min ISR

    def test_isr_only_waits_for_the_last_replica_and_loses_committed_records(self):
        out = elr_scenario(eligible_leader_replicas=False)
        leaderless = [s for s in out.steps if s.leader == NO_LEADER]
        assert len(leaderless) == 3  # offline until b2 came back
        assert out.leader == 2 and out.committed_lost == 8

    def test_isr_only_with_unclean_election_loses_more(self):
        out = elr_scenario(eligible_leader_replicas=False, unclean_leader_election_enable=True)
        assert out.leader == 0 and out.committed_lost == 10

    def test_table_prints(self):
        assert "committed records lost: 0" in elr_scenario().table()


def test_policies_defaults_are_msglibs():
    p = Policies()
    assert (p.grant_vote, p.advance_high_watermark, p.elect_partition_leader, p.elr_update) == (
        grant_vote, advance_high_watermark, elect_partition_leader, elr_update)


def test_quorum_rejects_bad_sizes():
    from msglib.kraft.quorum import KRaftQuorum
    with pytest.raises(ValueError, match="at least one controller"):
        KRaftQuorum(controllers=0)
