"""Log compaction: keep the latest value of every key.

For a topic with ``cleanup.policy=compact`` the log is a changelog: "key K now
has value V". Compaction rewrites old segments keeping, for each key, only
its newest record (section C of the semantics reference):

* the *cleanable range* is every inactive segment below the first
  uncleanable offset: never the active segment, never at or past the last
  stable offset / high watermark, never a segment newer than
  ``min.compaction.lag.ms``;
* an *offset map* records each key's highest offset in the cleanable range;
  a record survives iff its offset is that highest one;
* offsets never change: survivors keep their offsets, leaving gaps;
* a *tombstone* (key with a null value) survives at least
  ``delete.retention.ms``: the first cleaning that sees it stamps its batch
  with ``delete_horizon_ms = now + delete.retention.ms``; a cleaning at or
  after the horizon drops it. A consumer that keeps up sees every delete.

The rule that decides one record is pluggable
(``Log(compaction_rule=...)``), the graded exercise's seam.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping, Protocol

from .records import Record
from .segment import LogSegment

if TYPE_CHECKING:  # pragma: no cover
    from .log import Log


class CompactionRule(Protocol):
    def __call__(self, record: Record, latest_offset_for_key: Mapping[bytes, int],
                 tombstones_expired: bool) -> bool: ...


def should_retain(record: Record, latest_offset_for_key: Mapping[bytes, int], tombstones_expired: bool) -> bool:
    """msglib's compaction rule: keep ``record``?

    ``latest_offset_for_key`` maps each key to its highest offset in the
    cleanable range; ``tombstones_expired`` says this record's batch is past
    its delete horizon.
    """
    if record.key is None:           # keyless records cannot be compacted; keep them
        return True
    if record.offset < latest_offset_for_key.get(record.key, record.offset):
        return False                 # a newer record for this key exists
    if record.value is None and tombstones_expired:
        return False                 # a tombstone past delete.retention.ms
    return True


@dataclass
class CleanerStats:
    """What one compaction pass did."""

    cleanable_end: int = 0                 # first offset not cleaned (the cleanable range's end)
    segments_cleaned: list[str] = field(default_factory=list)
    segments_removed: list[str] = field(default_factory=list)   # emptied by cleaning
    records_read: int = 0
    records_kept: int = 0
    tombstones_removed: int = 0
    horizons_stamped: int = 0
    bytes_before: int = 0
    bytes_after: int = 0

    def __str__(self) -> str:
        return (f"compacted {len(self.segments_cleaned)} segments below offset {self.cleanable_end}: "
                f"kept {self.records_kept}/{self.records_read} records, removed "
                f"{self.tombstones_removed} expired tombstones, {self.bytes_before} -> {self.bytes_after} bytes")


def cleanable_segments(log: "Log", now_ms: float, upper_bound: int | None) -> list[LogSegment]:
    """The inactive segments compaction may rewrite, oldest first."""
    limit = log.active_segment.base_offset
    if upper_bound is not None:
        limit = min(limit, upper_bound)
    out = []
    for seg in log.segments[:-1]:
        if log.next_offset_of(seg) > limit:
            break
        lag = log.config.min_compaction_lag_ms
        if lag > 0 and seg.max_timestamp > now_ms - lag:
            break                       # too recent: it and everything after stay dirty
        out.append(seg)
    return out


def clean(log: "Log", now_ms: float, rule: CompactionRule, upper_bound: int | None = None) -> CleanerStats:
    """Compact ``log``'s cleanable range in place (segment files are swapped atomically)."""
    stats = CleanerStats()
    segments = cleanable_segments(log, now_ms, upper_bound)
    stats.cleanable_end = log.next_offset_of(segments[-1]) if segments else log.log_start_offset
    if not segments:
        return stats
    # 1. The offset map: each key's highest offset in the cleanable range.
    latest: dict[bytes, int] = {}
    for seg in segments:
        for batch in seg.batches():
            if batch.is_control:
                continue
            for r in batch.records:
                if r.key is not None:
                    latest[r.key] = r.offset
    # 2. Rewrite each segment with the survivors.
    horizon_if_stamped = int(now_ms) + log.config.delete_retention_ms
    for seg in segments:
        stats.bytes_before += seg.size
        new_batches: list[bytes] = []
        changed = False
        for batch in seg.batches():
            records = batch.records
            stats.records_read += len(records)
            if batch.is_control:        # transaction markers are kept (see the module notes)
                new_batches.append(batch.encode())
                stats.records_kept += len(records)
                continue
            horizon = batch.delete_horizon_ms
            expired = horizon is not None and now_ms >= horizon
            kept = [r for r in records if rule(r, latest, expired)]
            stats.records_kept += len(kept)
            stats.tombstones_removed += sum(r.value is None for r in records) - sum(r.value is None for r in kept)
            stamp = horizon is None and any(r.value is None for r in kept)
            if len(kept) == len(records) and not stamp:
                new_batches.append(batch.encode())      # untouched: keep the original bytes
                continue
            changed = True
            if kept:
                if stamp:
                    stats.horizons_stamped += 1
                new = batch.with_records(kept, delete_horizon_ms=horizon_if_stamped if stamp else None)
                new_batches.append(new.encode())
        stats.segments_cleaned.append(seg.file_name)
        if changed:
            log._replace_segment(seg, new_batches)
        stats.bytes_after += sum(len(b) for b in new_batches)
    # 3. Drop segments emptied by cleaning (never the first: it anchors the log start offset).
    for seg in list(log.segments[1:-1]):
        if seg.size == 0 and seg.file_name in stats.segments_cleaned:
            stats.segments_removed.append(seg.file_name)
            log._remove_segment(seg)
    return stats
