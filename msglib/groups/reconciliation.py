"""KIP-848's reconciliation step: how far a member may move toward its target assignment right now.

With the consumer protocol the coordinator keeps, for every member, its *current* assignment (the
partitions it may use) and its *target* (what the server-side assignor wants it to have at the
target assignment epoch). Each heartbeat moves the member one safe step closer -- Apache Kafka's
``CurrentAssignmentBuilder`` (group coordinator, Kafka 4.0; docs/kip-848.md):

1. **keep** what is both current and target;
2. **revoke first**: what is current but no longer target goes to *pending revocation*. While the
   member has not acknowledged giving those up (its heartbeat still reports owning them), it gets
   nothing new and keeps its member epoch;
3. **take only what is free**: a target partition that another member still has (assigned, or pending
   revocation there) is *unreleased*: the member waits for it; the free ones are given now, and the
   member moves to the target epoch.

So a partition is never in two members' hands at once: it is given only after its previous owner let
go of it (or was fenced). :func:`reconcile` is that step as a pure function -- the seam of the module
05 exercise (``msglib.groups.consumer_group.ConsumerGroupCoordinator(reconcile=...)``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import AbstractSet

from msglib.protocol import TopicPartition

STABLE = "STABLE"                                  # reconciled to the target epoch
UNREVOKED_PARTITIONS = "UNREVOKED_PARTITIONS"      # waiting for the member to revoke partitions
UNRELEASED_PARTITIONS = "UNRELEASED_PARTITIONS"    # at the target epoch, waiting for partitions others hold
MEMBER_STATES = (STABLE, UNREVOKED_PARTITIONS, UNRELEASED_PARTITIONS)

Partitions = AbstractSet[TopicPartition]


@dataclass(frozen=True)
class Reconciliation:
    """One step: what the member may use now, what it must give up first, what it waits for."""

    assigned: frozenset[TopicPartition]      # the member's current assignment from now on (told to it)
    revoking: frozenset[TopicPartition]      # pending revocation: to be given up and acknowledged
    unreleased: frozenset[TopicPartition]    # target partitions still held elsewhere: later

    @property
    def state(self) -> str:
        if self.revoking:
            return UNREVOKED_PARTITIONS
        return UNRELEASED_PARTITIONS if self.unreleased else STABLE


def reconcile(assigned: Partitions, target: Partitions, owned_by_others: Partitions) -> Reconciliation:
    """The next step from ``assigned`` toward ``target`` (see the module docstring).

    ``owned_by_others``: partitions some *other* member still has, assigned or pending revocation.
    """
    assigned, target, busy = frozenset(assigned), frozenset(target), frozenset(owned_by_others)
    keep = assigned & target
    revoking = assigned - target
    if revoking:
        return Reconciliation(keep, revoking, frozenset())
    wanted = target - keep
    unreleased = wanted & busy
    return Reconciliation(keep | (wanted - unreleased), frozenset(), unreleased)


def check_reconciliation(step: object) -> Reconciliation:
    """``step`` as a :class:`Reconciliation`, or a clear error naming what is wrong with it."""
    if isinstance(step, Reconciliation):
        parts = (step.assigned, step.revoking, step.unreleased)
    elif isinstance(step, tuple) and len(step) == 3:
        parts = step
    else:
        raise TypeError(f"a reconciliation step is a Reconciliation(assigned, revoking, unreleased) or a tuple of "
                        f"those three sets, not {type(step).__name__}: {step!r}")
    out = []
    for name, part in zip(("assigned", "revoking", "unreleased"), parts):
        try:
            s = frozenset(part)
        except TypeError:
            raise TypeError(f"Reconciliation.{name} must be a set of TopicPartition, not {part!r}") from None
        bad = [x for x in s if not isinstance(x, TopicPartition)]
        if bad:
            raise TypeError(f"Reconciliation.{name} must hold TopicPartition objects; got {bad[0]!r}")
        out.append(s)
    return Reconciliation(*out)


__all__ = ["MEMBER_STATES", "Reconciliation", "STABLE", "UNRELEASED_PARTITIONS", "UNREVOKED_PARTITIONS",
           "check_reconciliation", "reconcile"]
