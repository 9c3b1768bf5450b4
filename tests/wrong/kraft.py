"""Known-wrong KRaft policies: the mistakes the future KRaft exercises must catch.

Each entry is ``(name, policy field, function)``; the function's docstring says why it is wrong.
``tests/test_kraft_wrong.py`` runs the quorum (or the ELR checks) with each one and requires the
checker to find a violation.
"""
from __future__ import annotations

from msglib.kraft.policies import Election


def grant_vote_ignores_log(*, epoch, voted_for, candidate, candidate_epoch, candidate_last_epoch,
                           candidate_end_offset, last_epoch, end_offset):
    """Votes for any candidate of a current epoch: a candidate missing committed entries can win."""
    return candidate_epoch >= epoch and voted_for in (None, candidate)


def grant_vote_end_offset_only(*, epoch, voted_for, candidate, candidate_epoch, candidate_last_epoch,
                               candidate_end_offset, last_epoch, end_offset):
    """Compares log lengths only: a long log of stale epochs beats a shorter, newer one."""
    return (candidate_epoch >= epoch and voted_for in (None, candidate)
            and candidate_end_offset >= end_offset)


def grant_vote_twice(*, epoch, voted_for, candidate, candidate_epoch, candidate_last_epoch,
                     candidate_end_offset, last_epoch, end_offset):
    """Forgets its earlier vote: two candidates of one epoch can both win a majority."""
    return candidate_epoch >= epoch and (candidate_last_epoch, candidate_end_offset) >= (last_epoch, end_offset)


def advance_hwm_leader_only(high_watermark, voter_end_offsets, epoch_start_offset):
    """Commits whatever the leader has written, without waiting for a majority."""
    return max(high_watermark, max(voter_end_offsets.values()))


def elect_outside_elr(replicas, isr, elr, unfenced, last_known_leader, unclean_leader_election_enable):
    """After the ISR, takes any unfenced replica, in ELR or not (an unclean election in disguise)."""
    for r in replicas:
        if r in isr and r in unfenced:
            return Election(r, "isr")
    for r in replicas:
        if r in unfenced:
            return Election(r, "elr")
    return Election(None, "none")


QUORUM = [
    ("vote ignores log up-to-dateness", "grant_vote", grant_vote_ignores_log),
    ("vote compares end offsets, not last epochs first", "grant_vote", grant_vote_end_offset_only),
    ("HWM advanced on the leader's own log alone", "advance_high_watermark", advance_hwm_leader_only),
    ("votes again in an epoch it already voted in", "grant_vote", grant_vote_twice),
]
ELECTION = [
    ("ELR election takes a replica not in the ELR", "elect_partition_leader", elect_outside_elr),
]
