"""Do the replicas of a partition agree? (The invariant KIP-101/KIP-279 restore.)

``Cluster.divergences()`` and ``settle`` report it; ``msglib.check.replicas`` re-exports it for checkers.

Each replica is given as a list of ``(offset, leader_epoch, value)`` for the
records in its log. Two replicas *diverge* when, at an offset both of them
hold, they hold different records. A replica may be shorter than another (it
is catching up); it may never disagree.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

Entry = tuple[int, int, Any]  # (offset, leader_epoch, value)


@dataclass(frozen=True)
class Divergence:
    partition: str
    a: Any
    b: Any
    offset: int
    a_entry: Entry
    b_entry: Entry

    def describe(self) -> str:
        (_, ea, va), (_, eb, vb) = self.a_entry, self.b_entry
        return (f"{self.partition}: replicas {self.a} and {self.b} disagree at offset {self.offset}: "
                f"{self.a} has {va!r} (epoch {ea}), {self.b} has {vb!r} (epoch {eb})")


def divergences(partition: str, replicas: Mapping[Any, Sequence[Entry]]) -> list[Divergence]:
    """The first offset at which each pair of replicas disagrees (empty when they agree)."""
    found = []
    names = sorted(replicas, key=repr)
    by_offset = {n: {e[0]: e for e in replicas[n]} for n in names}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            common = sorted(by_offset[a].keys() & by_offset[b].keys())
            for off in common:
                ea, eb = by_offset[a][off], by_offset[b][off]
                if ea != eb:
                    found.append(Divergence(partition, a, b, off, ea, eb))
                    break
    return found
