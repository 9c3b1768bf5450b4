"""The leader epoch cache (KIP-101): which leader epoch began at which offset.

Every batch is stamped with the epoch of the leader that appended it. The
cache keeps one entry per epoch: ``(epoch, start_offset)`` = "epoch E's first
batch is at this offset". Replication uses it to decide how far a follower
must truncate after a leader change (``end_offset_for``), instead of trusting
the high watermark, which lost or diverged data before KIP-101.

Invariant: epochs and start offsets both strictly increase along ``entries``.
"""
from __future__ import annotations

from bisect import bisect_right
from typing import Callable

UNDEFINED_EPOCH = -1
UNDEFINED_EPOCH_OFFSET = -1


class LeaderEpochCache:
    """A sorted list of (epoch, start_offset), persisted as ``leader-epoch-checkpoint``."""

    def __init__(self, entries: list[tuple[int, int]] | None = None,
                 on_change: Callable[[], None] | None = None) -> None:
        self.entries: list[tuple[int, int]] = list(entries or [])
        self._on_change = on_change

    @property
    def latest_epoch(self) -> int:
        """The newest epoch known, or -1 (UNDEFINED_EPOCH) when empty."""
        return self.entries[-1][0] if self.entries else UNDEFINED_EPOCH

    @property
    def earliest_epoch(self) -> int:
        return self.entries[0][0] if self.entries else UNDEFINED_EPOCH

    def assign(self, epoch: int, start_offset: int) -> bool:
        """Record that ``epoch`` starts at ``start_offset``; True if the cache changed.

        A repeat of the latest epoch changes nothing. Entries that would break
        the invariant (an epoch >= the new one, or a start offset >= the new
        one) are removed first, as Kafka does.
        """
        if epoch < 0:
            return False
        if self.entries:
            last_epoch, last_start = self.entries[-1]
            if epoch == last_epoch and start_offset >= last_start:
                return False
        self.entries = [(e, o) for e, o in self.entries if e < epoch and o < start_offset]
        self.entries.append((epoch, start_offset))
        self._changed()
        return True

    def end_offset_for(self, requested_epoch: int, log_end_offset: int) -> tuple[int, int]:
        """Answer OffsetsForLeaderEpoch: ``(epoch, end_offset)`` for ``requested_epoch``.

        * the latest epoch -> (it, log_end_offset);
        * an older one -> (greatest cached epoch <= requested, start offset of
          the first cached epoch > requested);
        * below every cached epoch -> (requested, start of the first epoch);
        * newer than any, undefined, or an empty cache -> (-1, -1).
        """
        if requested_epoch == UNDEFINED_EPOCH or not self.entries:
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if requested_epoch == self.latest_epoch:
            return requested_epoch, log_end_offset
        epochs = [e for e, _ in self.entries]
        higher = bisect_right(epochs, requested_epoch)       # first entry with epoch > requested
        if higher == len(epochs):
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if higher == 0:
            return requested_epoch, self.entries[0][1]
        return self.entries[higher - 1][0], self.entries[higher][1]

    def epoch_for_offset(self, offset: int) -> int:
        """The epoch whose range holds ``offset`` (-1 if before the first entry)."""
        starts = [o for _, o in self.entries]
        i = bisect_right(starts, offset)
        return self.entries[i - 1][0] if i else UNDEFINED_EPOCH

    def truncate_from_end(self, end_offset: int) -> None:
        """The log was truncated to ``end_offset``: forget epochs starting at or after it."""
        kept = [(e, o) for e, o in self.entries if o < end_offset]
        if len(kept) != len(self.entries):
            self.entries = kept
            self._changed()

    def truncate_from_start(self, start_offset: int) -> None:
        """The log start moved to ``start_offset``: drop older epochs, clamp the one holding it."""
        starts = [o for _, o in self.entries]
        i = bisect_right(starts, start_offset)   # entries[:i] start at or before start_offset
        if i == 0:
            return
        epoch, first = self.entries[i - 1]
        kept = [(epoch, max(first, start_offset))] + self.entries[i:]
        if kept != self.entries:
            self.entries = kept
            self._changed()

    def clear(self) -> None:
        if self.entries:
            self.entries = []
            self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()

    # -- checkpoint file format (Kafka's): version, count, then "epoch offset" lines --------
    def to_bytes(self) -> bytes:
        lines = ["0", str(len(self.entries))] + [f"{e} {o}" for e, o in self.entries]
        return ("\n".join(lines) + "\n").encode()

    @staticmethod
    def parse(data: bytes) -> list[tuple[int, int]]:
        """Entries from a checkpoint file; raises ValueError when it is malformed."""
        lines = data.decode().split("\n")
        if lines[0] != "0":
            raise ValueError(f"unknown leader-epoch-checkpoint version {lines[0]!r}")
        count = int(lines[1])
        entries = []
        for line in lines[2:2 + count]:
            e, o = line.split()
            entries.append((int(e), int(o)))
        if len(entries) != count:
            raise ValueError("leader-epoch-checkpoint has fewer entries than its count")
        return entries

    def __repr__(self) -> str:
        return f"LeaderEpochCache({self.entries})"
