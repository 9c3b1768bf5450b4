"""The decisions consumer groups rest on, as small replaceable functions (the groups side of
``msglib.cluster.policies``).

=========================  ==================================  ==========================================
function                   who calls it, when                  Kafka's code (docs/layering.md: versions)
=========================  ==================================  ==========================================
validate_offset_commit     the group coordinator, on every     OffsetMetadataManager.validateOffsetCommit
                           OffsetCommit (fencing)
consumer_lag               the lag monitor, per partition      ConsumerGroupCommand.getLag (the LAG column
                                                               of ``kafka-consumer-groups.sh``)
range_assign               the group leader's range assignor   RangeAssignor.assign
cooperative_sticky_assign  the leader's cooperative-sticky     CooperativeStickyAssignor (KIP-429) over
                           assignor, at every rebalance        AbstractStickyAssignor
can_transition             the coordinator, on every change    GroupMetadata.transitionTo (its valid
                           of a group's state                  previous states)
=========================  ==================================  ==========================================

The first two are defined here. ``range_assign`` and ``cooperative_sticky_assign`` live with the other
assignors (``assignors.py``) and
``can_transition`` with the state table it reads (``states.py``). They are re-exported so this module lists
every decision of the package. Each is a seam: ``GroupCoordinator(validate_offset_commit=...,
can_transition=...)``, ``LagMonitor(lag_fn=...)``, ``FunctionAssignor("range", ...)``,
``CooperativeStickyAssignor(assign=...)``. All are pure.
msglib's lag differs from Kafka's on purpose: with no committed offset Kafka shows no lag, msglib counts
every record still in the log.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from msglib import protocol as p
from msglib.groups.assignors import cooperative_sticky_assign, range_assign
from msglib.groups.states import COMPLETING_REBALANCE, DEAD, EMPTY, can_transition

if TYPE_CHECKING:  # pragma: no cover  (a type only: the coordinator imports this module)
    from msglib.groups.coordinator import Group


def validate_offset_commit(group: Group, member_id: str, generation_id: int) -> str | None:
    """msglib's rule for accepting an OffsetCommit (Kafka's ``validateOffsetCommit``). None = accept.

    The point is *fencing*: a member the group has moved on from (removed
    after a pause, or still on an old generation) must not overwrite the
    offsets of the member that owns the partition now.
    """
    if group.state == DEAD:
        return p.COORDINATOR_NOT_AVAILABLE
    if generation_id < 0 and group.state == EMPTY:
        return None                                    # a consumer using assign(): no group membership
    if generation_id >= 0 or member_id:
        if member_id not in group.members:
            return p.UNKNOWN_MEMBER_ID
        if generation_id != group.generation_id:
            return p.ILLEGAL_GENERATION
    elif group.state != EMPTY:
        return p.UNKNOWN_MEMBER_ID                     # no id, no generation, but the group has members
    if group.state == COMPLETING_REBALANCE:
        return p.REBALANCE_IN_PROGRESS                 # the member knows the new generation: let it sync first
    return None                                        # Stable, or PreparingRebalance (revoking members commit)


def consumer_lag(committed: int | None, log_start_offset: int, end_offset: int) -> int:
    """msglib's lag rule for one partition (see the module docstring)."""
    if committed is None or committed < log_start_offset:
        return end_offset - log_start_offset
    return max(0, end_offset - committed)


__all__ = ["validate_offset_commit", "consumer_lag", "range_assign", "cooperative_sticky_assign", "can_transition"]
