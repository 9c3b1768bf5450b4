"""What a consumer reads: its subscription or its own assignment, the partitions it owns, where it stands in each.

kafka-python's ``SubscriptionState``: one object shared by the consumer, its fetcher and its
coordinator client. The coordinator client changes the assignment (a rebalance); the fetcher
moves positions (records returned); the application subscribes, assigns, seeks and pauses.

Invariants: ``positions`` has a key for exactly the assigned partitions (``None`` until the
starting offset is known); ``paused`` is a subset of them; ``assignment_log`` records every
change of ``assignment`` with its time.
"""
from __future__ import annotations

import re
from typing import Callable, Iterable

from msglib.protocol import OffsetAndMetadata, TopicPartition


class ConsumerRebalanceListener:
    """Called in ``poll()`` around a rebalance. Override what you need (kafka-python's shape)."""

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        """Before the partitions go: commit what you processed (they may be someone else's next)."""

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        """The new partitions; positions come from the committed offsets (or the reset policy)."""

    def on_partitions_lost(self, lost: list[TopicPartition]) -> None:
        """The partitions were already taken away (this member was removed): committing is too late."""
        self.on_partitions_revoked(lost)


class SubscriptionState:
    """The subscription (topics or a pattern) or the user's assignment, owned partitions, positions, pauses."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.subscription: set[str] | None = None       # None: not subscribed (assign() or nothing)
        self.pattern: re.Pattern | None = None
        self.user_assignment = False                      # assign() was used
        self.listener: ConsumerRebalanceListener | None = None
        self.assignment: list[TopicPartition] = []        # sorted
        self.positions: dict[TopicPartition, int | None] = {}
        self.paused: set[TopicPartition] = set()
        # (time, partitions owned from then on): who owned what when, for timelines and checks
        self.assignment_log: list[tuple[float, tuple[TopicPartition, ...]]] = [(clock(), ())]
        self._forget_hooks: list[Callable[[TopicPartition], None]] = []

    @property
    def group_managed(self) -> bool:
        """Partitions come from the group (subscribe), not from assign()."""
        return self.subscription is not None

    def on_forget(self, hook: Callable[[TopicPartition], None]) -> None:
        """Call ``hook(tp)`` whenever a partition is given up (the fetcher drops what it buffered for it)."""
        self._forget_hooks.append(hook)

    def matching_topics(self, topics: Iterable[str]) -> set[str]:
        return {t for t in topics if self.pattern.fullmatch(t)} if self.pattern else set()

    def is_assigned(self, tp: TopicPartition) -> bool:
        return tp in self.positions

    # -- changes of assignment ---------------------------------------------------------------
    def set_assignment(self, tps: Iterable[TopicPartition]) -> None:
        self.assignment = sorted(set(tps))
        if tuple(self.assignment) != self.assignment_log[-1][1]:
            self.assignment_log.append((self._clock(), tuple(self.assignment)))

    def forget(self, tp: TopicPartition) -> None:
        self.positions.pop(tp, None)
        self.paused.discard(tp)
        for hook in self._forget_hooks:
            hook(tp)

    def revoke(self, tps: list[TopicPartition]) -> None:
        """Give partitions up after telling the listener (``on_partitions_revoked``: it may still commit)."""
        if self.listener is not None:
            self.listener.on_partitions_revoked(list(tps))
        self._drop(tps)

    def lose(self, tps: list[TopicPartition]) -> None:
        """The partitions were taken away already (``on_partitions_lost``: too late to commit)."""
        if self.listener is not None:
            self.listener.on_partitions_lost(list(tps))
        self._drop(tps)

    def _drop(self, tps: list[TopicPartition]) -> None:
        for tp in tps:
            self.forget(tp)
        self.set_assignment(tp for tp in self.assignment if tp not in set(tps))

    def add(self, added: list[TopicPartition]) -> None:
        """New partitions from the group: no position yet (the fetcher finds one), then the listener hears."""
        for tp in added:
            self.positions[tp] = None
        if self.listener is not None:
            self.listener.on_partitions_assigned(added)

    # -- what to commit ----------------------------------------------------------------------------
    def consumed_offsets(self, tps: Iterable[TopicPartition] | None = None) -> dict[TopicPartition, OffsetAndMetadata]:
        """The positions reached (the next offsets to read): what a commit without arguments stores."""
        tps = self.assignment if tps is None else tps
        return {tp: OffsetAndMetadata(self.positions[tp], "", -1) for tp in tps if self.positions.get(tp) is not None}


__all__ = ["ConsumerRebalanceListener", "SubscriptionState"]
