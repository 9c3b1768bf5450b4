"""The classic group protocol's states, and which moves between them are legal.

A consumer group on the coordinator is always in one of five states::

                 member joins / leaves / dies
      Empty ─────────────────────────────────► PreparingRebalance ◄──────────────┐
        ▲                                        │      ▲                        │
        │ every member left                      │      │ a member joins,        │
        └────────────────────────────────────────┤      │ leaves or dies         │
                                  all members    │      │                        │
                                  (re)joined     ▼      │                        │
                                          CompletingRebalance ──────────────► Stable
                                                 leader sent the assignment

    Dead: the group is gone (its offsets expired, or it was deleted). Reachable from anywhere.

``VALID_PREVIOUS_STATES`` is Kafka's own table (``ClassicGroupState``): a move
is legal only from the listed states. The coordinator asks
:func:`can_transition` before every move, so an illegal move is a bug caught
at once rather than a group silently stuck in a wrong state.
"""
from __future__ import annotations

from enum import Enum


class GroupState(str, Enum):
    """A group's state. A ``str`` enum: ``GroupState.STABLE == "Stable"`` is True."""

    EMPTY = "Empty"                                # no members (offsets may still be stored)
    PREPARING_REBALANCE = "PreparingRebalance"     # waiting for every member to (re)join
    COMPLETING_REBALANCE = "CompletingRebalance"   # joined; waiting for the leader's assignment
    STABLE = "Stable"                              # everyone has an assignment and heartbeats
    DEAD = "Dead"                                  # no members, no offsets: about to be removed

    def __str__(self) -> str:
        return self.value


EMPTY = GroupState.EMPTY
PREPARING_REBALANCE = GroupState.PREPARING_REBALANCE
COMPLETING_REBALANCE = GroupState.COMPLETING_REBALANCE
STABLE = GroupState.STABLE
DEAD = GroupState.DEAD

# target state -> the states a group may come from
VALID_PREVIOUS_STATES: dict[GroupState, frozenset[GroupState]] = {
    PREPARING_REBALANCE: frozenset({STABLE, COMPLETING_REBALANCE, EMPTY}),
    COMPLETING_REBALANCE: frozenset({PREPARING_REBALANCE}),
    STABLE: frozenset({COMPLETING_REBALANCE}),
    EMPTY: frozenset({PREPARING_REBALANCE}),
    DEAD: frozenset(GroupState),
}


def can_transition(current: GroupState | str, target: GroupState | str) -> bool:
    """msglib's rule: may a group in ``current`` move to ``target``? (Kafka's table above.)"""
    return GroupState(current) in VALID_PREVIOUS_STATES[GroupState(target)]
