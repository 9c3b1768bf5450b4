"""The retention decision: which old segments may be deleted.

Kafka never deletes single records for retention; it deletes whole segments,
oldest first (section B of the semantics reference):

* **time**: a segment is expired when ``now - largest_timestamp > retention.ms``
  (-1 = never);
* **size**: delete the oldest segment while ``total_size - its size >=
  retention.bytes`` (-1 = no limit);
* **prefix**: the scan stops at the first segment that may not go -- a newer
  expired segment behind a kept one stays;
* **high watermark**: a segment may go only if every offset in it is below
  the high watermark (``next_offset <= high_watermark``); data not yet
  replicated is never deleted.

A rule is a function ``(segments, *, now_ms, retention_ms, retention_bytes,
high_watermark) -> how many of the oldest segments to delete``, pluggable into
``Log(retention_rule=...)`` -- the graded exercise's seam.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence


@dataclass(frozen=True)
class SegmentInfo:
    """What the retention rule may look at for one segment (oldest first in the list)."""

    base_offset: int
    next_offset: int          # one past its last offset: the next segment's base, or the log end
    size_bytes: int
    largest_timestamp: int    # the newest record timestamp in it (ms)


class RetentionRule(Protocol):
    def __call__(self, segments: Sequence[SegmentInfo], *, now_ms: float, retention_ms: int,
                 retention_bytes: int, high_watermark: int) -> int: ...


def deletable_segments(segments: Sequence[SegmentInfo], *, now_ms: float, retention_ms: int,
                       retention_bytes: int, high_watermark: int) -> int:
    """msglib's retention rule (Kafka's ``deletableSegments``): count of oldest segments to delete."""
    by_time = 0
    if retention_ms >= 0:
        for seg in segments:
            if seg.next_offset > high_watermark or not now_ms - seg.largest_timestamp > retention_ms:
                break           # prefix rule: stop at the first segment that stays
            by_time += 1
    by_size = 0
    if retention_bytes >= 0:
        excess = sum(seg.size_bytes for seg in segments) - retention_bytes
        for seg in segments:
            if seg.next_offset > high_watermark or excess - seg.size_bytes < 0:
                break
            excess -= seg.size_bytes
            by_size += 1
    return max(by_time, by_size)
