"""The decisions replication (and transactions) rest on, as small replaceable functions.

Each function here is msglib's own implementation of one rule of Kafka's
replication protocol. The broker and the controller call them through a
:class:`Policies` object, so an exercise (or a curious reader) can swap one
for their own and run the *real* cluster with it, under faults::

    Cluster(policies=Policies(elect_leader=my_elect_leader))

=========================  ============================  ==========================
function                   who calls it, when            Kafka's code
=========================  ============================  ==========================
advance_high_watermark     leader, after appends and     Partition.maybeIncrementLeaderHW
                           follower fetches
update_isr                 leader, on follower fetches   Partition.maybeExpandIsr /
                           and on a timer                getOutOfSyncReplicas
elect_leader               controller, when a leader     PartitionChangeBuilder
                           is lost or a broker returns   .electLeader
truncation_offset          follower, after a leader      AbstractFetcherThread
                           change (KIP-101/KIP-279)      .getOffsetTruncationState
check_sequence             leader, before appending an   ProducerAppendInfo.checkSequence
                           idempotent producer's batch
last_stable_offset         leader, for every read_       UnifiedLog.lastStableOffset
                           committed fetch (module 06)
=========================  ============================  ==========================

All six are pure: plain values in, a decision out. The callers do the
bookkeeping (and never trust a decision that would break an invariant they
can check cheaply, such as a leader that is not a replica).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Collection, Mapping, NamedTuple, Sequence

from msglib.log.epoch_cache import UNDEFINED_EPOCH, LeaderEpochCache

INT32_MAX = 2**31 - 1


# -- the high-water mark ------------------------------------------------------------------------
def advance_high_watermark(high_watermark: int, isr_log_end_offsets: Mapping[int, int],
                           min_insync_replicas: int) -> int:
    """The leader's new high-water mark.

    ``isr_log_end_offsets`` maps each replica in the ISR (the leader
    included) to its log end offset as the leader knows it (-1 if unknown).

    A record is committed once every ISR member has it, so the HW is the
    smallest LEO in the ISR. It never goes down (consumers may already have
    read up to it). With fewer ISR members than ``min_insync_replicas`` the
    HW does not move at all (Kafka 3.7+, KAFKA-15583): acks=1 writes are
    accepted but stay invisible until the ISR recovers.
    """
    if len(isr_log_end_offsets) < min_insync_replicas:
        return high_watermark
    return max(high_watermark, min(isr_log_end_offsets.values()))


def advance_high_watermark_before_3_7(high_watermark: int, isr_log_end_offsets: Mapping[int, int],
                                      min_insync_replicas: int) -> int:
    """The rule before Kafka 3.7: the HW follows the ISR whatever its size.

    An ISR that shrank to the leader alone commits acks=1 writes at once; an
    acks=all write appended with a full ISR can be committed by a smaller one
    and answered NOT_ENOUGH_REPLICAS_AFTER_APPEND. Kept to show both.
    """
    return max(high_watermark, min(isr_log_end_offsets.values()))


# -- the ISR --------------------------------------------------------------------------------
class FollowerState(NamedTuple):
    """What a leader knows about one follower, from its fetches."""

    log_end_offset: int  # the follower's fetch offset (-1: has not fetched from this leader yet)
    last_caught_up_ms: float  # last time the follower had everything the leader had
    last_fetch_ms: float  # last time it fetched at all


def update_isr(isr: Collection[int], leader: int, followers: Mapping[int, FollowerState], *,
               now_ms: float, leader_log_end_offset: int, high_watermark: int,
               leader_epoch_start_offset: int, replica_lag_time_max_ms: float) -> set[int]:
    """The ISR the leader wants: drop followers that fell behind, add those that caught up.

    - A member stays while it is caught up (its LEO equals the leader's) or
      was caught up within the last ``replica_lag_time_max_ms``. This covers
      both a follower that stopped fetching and one that fetches too slowly.
    - A non-member joins once it is fetching (it fetched within the last
      ``replica_lag_time_max_ms``: Kafka decides this *on* a fetch) and its LEO
      has reached the high-water mark *and* the start of the leader's current
      epoch (so it holds nothing from an older leader that this one truncated
      away).
    The leader always stays in its own ISR.
    """
    new = {leader}
    for replica, f in followers.items():
        if replica in isr:
            caught_up = f.log_end_offset == leader_log_end_offset
            if caught_up or now_ms - f.last_caught_up_ms <= replica_lag_time_max_ms:
                new.add(replica)
        elif (now_ms - f.last_fetch_ms <= replica_lag_time_max_ms and f.log_end_offset >= high_watermark
              and f.log_end_offset >= leader_epoch_start_offset):
            new.add(replica)
    return new


# -- leader election --------------------------------------------------------------------------
def elect_leader(replicas: Sequence[int], isr: Collection[int], alive: Collection[int],
                 unclean_leader_election_enable: bool) -> int | None:
    """Choose a partition's new leader, or None if none may lead.

    Clean election: the first replica, in assignment order, that is in the
    ISR and alive. Only ISR members are known to hold every committed
    record. If there is none and ``unclean_leader_election_enable``, the
    first alive replica leads anyway, and the committed records it lacks are
    lost: availability bought with data.
    """
    for r in replicas:
        if r in isr and r in alive:
            return r
    if unclean_leader_election_enable:
        for r in replicas:
            if r in alive:
                return r
    return None


# -- follower truncation ------------------------------------------------------------------------
def truncation_offset(epochs: Sequence[tuple[int, int]], log_end_offset: int,
                      leader_epoch: int, leader_end_offset: int) -> tuple[int, bool]:
    """Where a follower truncates after asking the new leader about its latest epoch.

    ``epochs`` is the follower's leader-epoch cache, ``(epoch, start_offset)``
    in increasing order. The leader answered ``(leader_epoch,
    leader_end_offset)``: the largest epoch it has that is <= the follower's
    latest, and where that epoch ends on the leader's log (see
    ``LeaderEpochCache.end_offset_for``, which the follower also asks of its
    own cache). Returns ``(offset, done)``: truncate the log to
    ``offset``; if not ``done``, ask the leader again about the (new) latest
    epoch of the truncated log.

    - The follower has ``leader_epoch`` too: both logs agree up to where that
      epoch ends on both, so truncate to the smaller end. Done.
    - It has not (it never saw that epoch): everything after its own last
      epoch below ``leader_epoch`` is suspect. Truncate to the end of that
      epoch and ask again about it (KIP-279; KIP-101 stopped here and let
      logs diverge).
    """
    mine, my_end = LeaderEpochCache(list(epochs)).end_offset_for(leader_epoch, log_end_offset)
    if mine == leader_epoch:
        return min(leader_end_offset, my_end, log_end_offset), True
    if mine == UNDEFINED_EPOCH:  # no epoch to compare: keep only what the leader also has
        return min(leader_end_offset, log_end_offset), True
    return min(my_end, log_end_offset), False


# -- idempotent producer -----------------------------------------------------------------------
class BatchMetadata(NamedTuple):
    """Where one of a producer's recent batches went."""

    first_seq: int
    last_seq: int
    first_offset: int
    last_offset: int


@dataclass
class ProducerStateEntry:
    """What a partition remembers about one producer id: its epoch and last 5 batches."""

    producer_epoch: int
    batches: deque = field(default_factory=lambda: deque(maxlen=5))  # of BatchMetadata

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else -1


class SequenceVerdict(NamedTuple):
    """``action`` is "append", "duplicate", "out_of_order" or "invalid_epoch"."""

    action: str
    duplicate_of: BatchMetadata | None = None


APPEND = SequenceVerdict("append")
OUT_OF_ORDER = SequenceVerdict("out_of_order")
INVALID_EPOCH = SequenceVerdict("invalid_epoch")


def check_sequence(entry: ProducerStateEntry | None, producer_epoch: int, first_seq: int,
                   last_seq: int) -> SequenceVerdict:
    """Decide what to do with an idempotent producer's batch ``first_seq..last_seq``.

    - Unknown producer (no entry): accept whatever comes.
    - An older epoch than the entry's: a zombie producer; reject.
    - A newer epoch must start again at sequence 0.
    - Same epoch: a batch identical to one of the last five is a retry of
      something already written: report it as a duplicate (the caller answers
      with the original offsets and appends nothing). Otherwise it must follow
      on directly from the last sequence (wrapping after 2**31-1), or a batch
      is missing in between: out of order.
    """
    if entry is None:
        return APPEND
    if producer_epoch < entry.producer_epoch:
        return INVALID_EPOCH
    if producer_epoch > entry.producer_epoch:
        return APPEND if first_seq == 0 else OUT_OF_ORDER
    for b in entry.batches:
        if b.first_seq == first_seq and b.last_seq == last_seq:
            return SequenceVerdict("duplicate", b)
    expected = 0 if entry.last_seq == INT32_MAX else entry.last_seq + 1
    return APPEND if first_seq == expected else OUT_OF_ORDER


# -- transactions: the last stable offset ----------------------------------------------------------
def last_stable_offset(high_watermark: int, open_transactions: Mapping[int, int]) -> int:
    """How far a read_committed consumer may read a partition (exclusive).

    ``open_transactions`` maps each producer id with an open transaction in
    this partition to the offset of that transaction's first record here.
    Nothing at or after the first record of the earliest open transaction is
    *stable*: it may still be aborted, and a read_committed consumer must not
    read past it, not even records of other producers that came after it
    (their order in the log must be kept). Nothing at or after the high-water
    mark is committed at all. So the LSO is the smaller of the two.
    """
    first_open = min(open_transactions.values(), default=high_watermark)
    return min(first_open, high_watermark)


# -- the bundle ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Policies:
    """The functions a cluster uses for its decisions (defaults: msglib's)."""

    advance_high_watermark: Callable[..., int] = advance_high_watermark
    update_isr: Callable[..., set] = update_isr
    elect_leader: Callable[..., "int | None"] = elect_leader
    truncation_offset: Callable[..., tuple] = truncation_offset
    check_sequence: Callable[..., SequenceVerdict] = check_sequence
    last_stable_offset: Callable[..., int] = last_stable_offset
