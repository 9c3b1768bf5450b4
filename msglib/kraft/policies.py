"""The KRaft quorum's and the controller's decisions, as small pure functions.

The quorum node (``raft.py``) and the controller (``controller.py``) call these through a
:class:`Policies` object, so a replacement (an exercise, or a known-wrong variant in
``tests/wrong/kraft.py``) runs inside the real quorum under seeded faults::

    run_quorum(seed=3, policies=Policies(grant_vote=my_grant_vote))

=========================  ==============================  ==========================================
function                   who calls it, when              Kafka's code it mirrors (Apache Kafka 4.x)
=========================  ==============================  ==========================================
grant_vote                 a voter, on a Vote request      ``QuorumState``/``KafkaRaftClient``
                                                           ``.handleVoteRequest`` (KIP-595)
advance_high_watermark     the quorum leader, on Fetch     ``LeaderState.maybeUpdateHighWatermark``
                           requests from voters            (KIP-595)
elect_partition_leader     the controller, when a          ``PartitionChangeBuilder.electLeader``
                           partition leader is fenced      (KIP-966: ISR -> ELR -> last known leader
                                                           -> unclean)
elr_update                 the controller, on every        ``PartitionChangeBuilder`` ELR maintenance
                           ISR change                      (KIP-966)
=========================  ==============================  ==========================================

All four are pure: plain values in, a decision out.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Collection, Mapping, NamedTuple, Sequence


# -- the vote rule (KIP-595) ----------------------------------------------------------------------------
def grant_vote(*, epoch: int, voted_for: str | None, candidate: str, candidate_epoch: int,
               candidate_last_epoch: int, candidate_end_offset: int,
               last_epoch: int, end_offset: int) -> bool:
    """Should a voter in ``epoch`` (having voted for ``voted_for`` in it) vote for ``candidate``?

    Three conditions, all needed:

    - the candidate's epoch is not older than the voter's (the caller has already moved the voter to a
      newer epoch, with no vote yet, when the candidate's is newer);
    - the voter has not voted for someone else in this epoch (one vote per epoch: two leaders in one
      epoch would need a voter to vote twice);
    - the candidate's log is at least as up to date as the voter's: a larger last epoch wins; with the
      same last epoch, the longer log (end offset) wins. Every committed entry sits on a majority, and
      any majority of votes includes one of them, so the winner holds every committed entry.
    """
    if candidate_epoch < epoch:
        return False
    if voted_for is not None and voted_for != candidate:
        return False
    return (candidate_last_epoch, candidate_end_offset) >= (last_epoch, end_offset)


# -- the quorum's high-water mark (KIP-595) ---------------------------------------------------------------
def advance_high_watermark(high_watermark: int, voter_end_offsets: Mapping[str, int],
                           epoch_start_offset: int) -> int:
    """The quorum leader's new high-water mark.

    ``voter_end_offsets`` maps every voter (the leader included) to its log end offset as the leader
    knows it from Fetch requests (0 when it has not fetched in this epoch).

    An entry is committed once a majority of the voters have it: the HWM is the largest offset that a
    majority has reached (the median, for three voters). The leader only counts this once the majority
    holds an entry of its own epoch (HWM > ``epoch_start_offset``, the offset of its LeaderChange
    record): an older epoch's entry on a majority can still be overwritten (the Raft paper's figure 8).
    The HWM never goes down.
    """
    ends = sorted(voter_end_offsets.values(), reverse=True)
    majority = len(ends) // 2 + 1
    candidate = ends[majority - 1]
    if candidate <= epoch_start_offset:
        return high_watermark
    return max(high_watermark, candidate)


# -- partition leader election with eligible leader replicas (KIP-966) -------------------------------------
class Election(NamedTuple):
    """The elected leader (None: the partition stays leaderless) and where it came from:
    ``"isr"``, ``"elr"``, ``"unclean"`` or ``"none"``."""

    leader: int | None
    source: str


def elect_partition_leader(replicas: Sequence[int], isr: Collection[int], elr: Collection[int],
                           unfenced: Collection[int], last_known_leader: int | None,
                           unclean_leader_election_enable: bool) -> Election:
    """Choose a partition's leader: ISR, then ELR, then the last known leader, then (unclean) anyone.

    In assignment order (``replicas``): the first unfenced ISR member; else the first unfenced ELR member
    (it had every committed record when it left the ISR, KIP-966); else, when ISR and ELR are both empty,
    the last known leader if it is unfenced (what Kafka did before 4.0: wait for the last ISR member);
    else, only with ``unclean_leader_election_enable``, the first unfenced replica (committed records may
    be lost). Otherwise nobody: the partition stays offline.
    """
    for r in replicas:
        if r in isr and r in unfenced:
            return Election(r, "isr")
    for r in replicas:
        if r in elr and r in unfenced:
            return Election(r, "elr")
    if not isr and not elr and last_known_leader is not None and last_known_leader in unfenced:
        return Election(last_known_leader, "last_known_leader")
    if unclean_leader_election_enable:
        for r in replicas:
            if r in unfenced:
                return Election(r, "unclean")
    return Election(None, "none")


def elect_partition_leader_isr_only(replicas: Sequence[int], isr: Collection[int], elr: Collection[int],
                                    unfenced: Collection[int], last_known_leader: int | None,
                                    unclean_leader_election_enable: bool) -> Election:
    """The rule without ELR (Kafka before 4.0, or ``eligible.leader.replicas.version=0``): ISR, then
    (unclean) any unfenced replica. Kept to compare both in the ELR scenario."""
    for r in replicas:
        if r in isr and r in unfenced:
            return Election(r, "isr")
    if unclean_leader_election_enable:
        for r in replicas:
            if r in unfenced:
                return Election(r, "unclean")
    return Election(None, "none")


class ElrState(NamedTuple):
    isr: tuple[int, ...]
    elr: tuple[int, ...]


def elr_update(old_isr: Collection[int], new_isr: Collection[int], elr: Collection[int],
               min_insync_replicas: int, unclean_shutdown: Collection[int] = ()) -> ElrState:
    """The partition's ISR and ELR after an ISR change (KIP-966's maintenance rules).

    - While the ISR has at least ``min_insync_replicas`` members, the ELR is empty: the high-water mark
      can advance without the others, so a replica outside the ISR may miss committed records.
    - Once the ISR is below ``min_insync_replicas``, the HWM is frozen (strict min ISR), so a member that
      leaves the ISR still holds every committed record: it moves to the ELR.
    - A replica that rejoins the ISR leaves the ELR (the two sets never overlap).
    - A replica whose broker shut down uncleanly (lost unflushed data) leaves the ELR, and cannot be
      moved into it.
    Sets are returned sorted.
    """
    new = set(new_isr)
    bad = set(unclean_shutdown)
    if len(new) >= min_insync_replicas:
        return ElrState(tuple(sorted(new)), ())
    kept = (set(elr) | (set(old_isr) - new)) - new - bad
    return ElrState(tuple(sorted(new)), tuple(sorted(kept)))


# -- the bundle -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Policies:
    """The functions the quorum and the controller use (defaults: msglib's)."""

    grant_vote: Callable[..., bool] = grant_vote
    advance_high_watermark: Callable[..., int] = advance_high_watermark
    elect_partition_leader: Callable[..., Election] = elect_partition_leader
    elr_update: Callable[..., ElrState] = elr_update
