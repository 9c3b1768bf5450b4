"""Opening a log directory, and recovering it after a crash.

A crash can leave a segment with a half-written batch at its end (a *torn
write*), or bytes that never reached the disk. What Kafka does on open, and
msglib too:

1. finish or undo interrupted compaction swaps (``.swap`` files are completed,
   ``.cleaned`` files deleted);
2. if the log was not closed cleanly (no ``.clean-shutdown`` marker), validate
   every batch from the *recovery point* on -- the offset up to which data was
   known to be flushed: header sanity, size, CRC-32C, increasing offsets;
3. cut a damaged segment at its first invalid batch, rebuilding the indexes
   of what was validated;
4. check the indexes of the other segments and rebuild any that are missing
   or wrong.

Where msglib differs from Kafka: Kafka deletes every segment after a cut.
That is right for a torn write at the end of the log, but msglib fsyncs a
segment when it rolls a new one, so damage to an *older* segment is damage to
flushed data (a bad disk sector, a stray write), not a crash. Deleting the
intact segments after it would throw away acknowledged records that are
still perfectly readable. So a cut in an older segment removes only that
segment's damaged tail; every later segment is validated batch by batch and
kept, and the offsets lost in between are listed in the report
(``lost_offsets``): reads skip the gap, as they skip a compacted log's gaps.

The log start offset never moves backwards silently: its checkpoint has a
checksum and a second copy (see ``checkpoint.py``); when neither copy can be
read the report says so, and the start is rebuilt from what remains (the
first segment, the leader-epoch checkpoint), the largest of them.

Nothing after an invalid batch of the same segment is kept, and the
:class:`RecoveryReport` says what happened, in words.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import checkpoint
from .epoch_cache import LeaderEpochCache
from .errors import CorruptRecordError
from .segment import LogSegment, SegmentRecovery

if TYPE_CHECKING:  # pragma: no cover
    from .log import Log


@dataclass
class RecoveryReport:
    """What opening the log found and did."""

    clean_shutdown: bool
    recovery_point: int = 0                  # from the checkpoint: everything below was flushed
    segments_loaded: int = 0
    recovered: list[SegmentRecovery] = field(default_factory=list)   # segments validated batch by batch
    truncated_bytes: int = 0
    deleted_segments: list[str] = field(default_factory=list)        # emptied by a cut, or overlapping
    lost_offsets: list[tuple[str, int, int]] = field(default_factory=list)  # (segment, first, last) cut away
    rebuilt_indexes: list[str] = field(default_factory=list)         # "<file>: why"
    completed_swaps: list[str] = field(default_factory=list)
    removed_files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    log_start_offset: int = 0
    log_end_offset: int = 0

    @property
    def truncated(self) -> bool:
        return self.truncated_bytes > 0 or bool(self.deleted_segments) or bool(self.lost_offsets)

    @property
    def first_problem(self) -> SegmentRecovery | None:
        for r in self.recovered:
            if r.problem:
                return r
        return None

    def summary(self) -> str:
        def n(count: int, word: str) -> str:
            return f"{count} {word}" if count == 1 else f"{count} {word}{'es' if word.endswith('h') else 's'}"

        lines = [f"{'clean' if self.clean_shutdown else 'UNCLEAN'} shutdown; {n(self.segments_loaded, 'segment')}; "
                 f"offsets {self.log_start_offset}..{self.log_end_offset}"]
        if not self.clean_shutdown:
            batches = sum(r.batches for r in self.recovered)
            lines.append(f"validated {n(batches, 'batch')} in {n(len(self.recovered), 'segment')} from the "
                         f"recovery point {self.recovery_point}")
        for r in self.recovered:
            if r.problem:
                lines.append(f"{r.segment}: cut {r.truncated_bytes} bytes at position {r.position}: {r.problem}")
        for name, first, last in self.lost_offsets:
            lines.append(f"offsets {first}..{last} are lost (next to {name}: a damaged tail, or a segment "
                         f"file that is gone); every other segment was validated and kept")
        for name in self.deleted_segments:
            lines.append(f"deleted {name}: nothing valid was left in it, or it overlapped the segment before")
        for what in self.rebuilt_indexes:
            lines.append(f"rebuilt index {what}")
        for name in self.completed_swaps:
            lines.append(f"completed an interrupted compaction swap: {name}")
        for name in self.removed_files:
            lines.append(f"removed leftover file {name}")
        lines.extend(self.notes)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _read_int(log: "Log", name: str, report: RecoveryReport) -> int | None:
    value, note = checkpoint.read(log.storage, name)
    if note:
        report.notes.append(note)
    return value


def load(log: "Log", full_recovery: bool = False) -> RecoveryReport:
    """Open ``log``'s storage: load or recover its segments and checkpoints (steps 1-4 above)."""
    from .log import CLEAN_SHUTDOWN, LOG_START_CHECKPOINT, RECOVERY_POINT_CHECKPOINT

    storage = log.storage
    clean = storage.exists(CLEAN_SHUTDOWN) and not full_recovery
    report = RecoveryReport(clean_shutdown=storage.exists(CLEAN_SHUTDOWN))
    if storage.exists(CLEAN_SHUTDOWN):
        storage.delete(CLEAN_SHUTDOWN)      # from now on, a crash is an unclean shutdown

    swapped_bases = _finish_interrupted_swaps(log, report)
    bases = _segment_bases(log, report)
    flushed = _read_int(log, RECOVERY_POINT_CHECKPOINT, report)
    recovery_point = flushed or 0
    start_checkpoint = _read_int(log, LOG_START_CHECKPOINT, report)
    start_damaged = start_checkpoint is None and any(n.startswith(LOG_START_CHECKPOINT) for n in storage.list())
    report.recovery_point = recovery_point

    segments, validated_from = _load_segments(log, bases, report, clean=clean, full_recovery=full_recovery,
                                              recovery_point=recovery_point, swapped_bases=swapped_bases)
    report.segments_loaded = len(segments)
    _drop_empty_tail(segments, report)
    start_lost = start_checkpoint is None and (start_damaged or any(seg.size for seg in segments))
    if start_lost:
        start_checkpoint = _rebuild_log_start(log, segments, report, start_damaged)
    _set_offsets(log, segments, start_checkpoint, report, flushed)
    _restore_epoch_cache(log, validated_from, report)

    log._write_checkpoint(RECOVERY_POINT_CHECKPOINT, log.recovery_point)
    if start_lost or report.truncated:
        log._write_checkpoint(LOG_START_CHECKPOINT, log._log_start_offset)
    if not report.clean_shutdown or report.truncated:
        for seg in log.segments:
            seg.sync()
    report.log_start_offset = log._log_start_offset
    report.log_end_offset = log._log_end_offset
    return report


def _finish_interrupted_swaps(log: "Log", report: RecoveryReport) -> set[str]:
    """Step 1: complete ``.swap`` renames, delete ``.cleaned``/``.tmp`` leftovers; return the swapped bases."""
    storage = log.storage
    swapped_bases = set()
    for name in storage.list():
        if name.endswith(".swap"):
            final = name[: -len(".swap")]
            storage.delete(final)
            storage.rename(name, final)
            report.completed_swaps.append(final)
            swapped_bases.add(final[:20])
        elif name.endswith(".cleaned") or name.endswith(".tmp"):
            storage.delete(name)
            report.removed_files.append(name)
    return swapped_bases


def _segment_bases(log: "Log", report: RecoveryReport) -> list[int]:
    """The base offsets of the ``.log`` files, oldest first; index files without a ``.log`` are deleted."""
    storage = log.storage
    names = storage.list()
    bases = sorted(int(n[:20]) for n in names if n.endswith(".log") and len(n) == 24 and n[:20].isdigit())
    base_names = {f"{b:020d}" for b in bases}
    for n in names:
        if (n.endswith(".index") or n.endswith(".timeindex")) and n.split(".")[0] not in base_names:
            storage.delete(n)
            report.removed_files.append(n)
    return bases


def _trusted_segment_problem(seg: LogSegment, next_base: int | None, missing: list[str]) -> str | None:
    """Why a segment that recovery would trust (flushed, cleanly closed) cannot be, or None.

    Its index files must have existed (``missing`` lists those that did not, checked before the
    segment was opened, which creates them empty), load and agree with the log; its batches'
    headers must be valid and continue each other's offsets; and a contiguous segment must end
    exactly where the next one starts.
    """
    if missing:
        return f"{missing[0]}: missing"
    problem = seg.check_indexes()
    if problem is None:
        # Every batch header, not only those after the last index entry: a damaged header in
        # flushed data is found now, and cut by recover(), rather than by a reader later.
        bad = seg.first_invalid_batch(verify_crc=False, next_base=next_base)
        if bad is not None:
            problem = f"{seg.name}.log: batch at position {bad[0]}: {bad[1]}"
    if problem is None:
        try:
            seg.scan(seg._last_indexed_position())
        except CorruptRecordError as exc:
            problem = f"{seg.name}.log: {exc.reason}"
    if problem is None and len(seg.time_index) and seg.time_index.offsets[-1] >= max(seg.next_offset, 1) \
            and seg.size:
        problem = f"{seg.name}.timeindex: entry offset {seg.time_index.offsets[-1]} past the segment end"
    if problem is None and next_base is not None and seg.next_offset > next_base:
        problem = (f"{seg.file_name}: ends at offset {seg.next_offset - 1}, inside the next segment "
                   f"(which starts at {next_base})")
    if problem is None and seg.contiguous and next_base is not None and seg.next_offset != next_base:
        problem = (f"{seg.file_name}: ends at offset {seg.next_offset - 1} but the next segment starts "
                   f"at {next_base}")
    return problem


def _delete_later(log: "Log", bases: list[int], report: RecoveryReport, first: LogSegment | None = None) -> None:
    """Delete the segments with these bases: they come after a cut (``first`` is already open)."""
    for base in bases:
        doomed = first if first is not None and base == first.base_offset else log._new_segment(base)
        report.truncated_bytes += doomed.size
        report.deleted_segments.append(doomed.file_name)
        doomed.delete()


def _load_segments(log: "Log", bases: list[int], report: RecoveryReport, *, clean: bool, full_recovery: bool,
                   recovery_point: int, swapped_bases: set[str]) -> tuple[list[LogSegment], int | None]:
    """Steps 2-4: open each segment, oldest first, validating those a crash may have torn.

    A segment is validated batch by batch when the shutdown was unclean and it reaches past the
    recovery point, when ``full_recovery`` asks for it, when a compaction swap just replaced it,
    when its indexes turn out to be unusable, or when an earlier segment was damaged. A damaged
    segment loses only its tail from the first invalid batch; later segments are kept (see the
    module docstring). Returns the segments and the index of the first validated one (None if
    none was).
    """
    segments: list[LogSegment] = []
    validated_from = None
    damaged = False
    for i, base in enumerate(bases):
        name = f"{base:020d}"
        missing = [name + ext for ext in (".index", ".timeindex") if not log.storage.exists(name + ext)]
        seg = log._new_segment(base)
        next_base = bases[i + 1] if i + 1 < len(bases) else None
        past_recovery_point = next_base is None or next_base > recovery_point
        must_validate = full_recovery or damaged or (not clean and past_recovery_point) or seg.name in swapped_bases
        if not must_validate:
            problem = _trusted_segment_problem(seg, next_base, missing)
            if problem is not None:
                report.rebuilt_indexes.append(problem)
                must_validate = True
        if not must_validate:
            segments.append(seg)
            continue
        if segments and seg.base_offset < segments[-1].next_offset:
            report.notes.append(f"{seg.file_name} starts at {seg.base_offset}, inside the previous segment "
                                f"(which ends at {segments[-1].next_offset - 1}): deleted")
            _delete_later(log, [base], report, first=seg)
            continue
        # Epochs must not decrease within a segment. Across segments they are not compared: the
        # leader epoch is outside the CRC, and one batch whose epoch was damaged upwards would
        # otherwise condemn every intact segment after it.
        result = seg.recover(verify_crc=True, next_base=next_base)
        report.recovered.append(result)
        report.truncated_bytes += result.truncated_bytes
        if validated_from is None:
            validated_from = len(segments)
        if next_base is not None and seg.contiguous and seg.next_offset < next_base:
            if not result.problem:
                result.problem = (f"the segment ends at offset {seg.next_offset - 1} but the next one starts at "
                                  f"{next_base}: the offsets between are missing")
                result.position = result.valid_bytes
            report.lost_offsets.append((seg.file_name, seg.next_offset, next_base - 1))
        elif next_base is not None and result.problem and result.truncated_bytes:
            report.lost_offsets.append((seg.file_name, seg.next_offset, next_base - 1))
        if result.problem:
            damaged = True
        if seg.size == 0 and next_base is not None and (result.problem or seg.contiguous):
            report.deleted_segments.append(seg.file_name)     # emptied by the cut: the next segment takes over
            seg.delete()
            continue
        segments.append(seg)
    return segments, validated_from


def _rebuild_log_start(log: "Log", segments: list[LogSegment], report: RecoveryReport, damaged: bool) -> int:
    """No copy of the log-start checkpoint is readable: the largest start the other files still show.

    The first segment's base offset is a lower bound. The leader-epoch checkpoint is the other
    witness: ``delete_records_before`` clamps its first entry's start offset up to the new log
    start, so when the first batch carries that entry's epoch, the entry's offset is the start.
    """
    from .log import EPOCH_CHECKPOINT, LOG_START_CHECKPOINT

    first = next((seg for seg in segments if seg.size), None)
    candidates = {"the first segment's base offset": first.base_offset if first else 0}
    data = log.storage.read_file(EPOCH_CHECKPOINT)
    if data is not None and first is not None:
        try:
            entries = LeaderEpochCache.parse(data)
            first_epoch = first._header_at(0).partition_leader_epoch
            if entries and entries[0][0] == first_epoch:
                candidates["the leader-epoch checkpoint's first entry"] = entries[0][1]
        except (ValueError, IndexError, CorruptRecordError):
            pass
    source, start = max(candidates.items(), key=lambda item: item[1])
    state = "unreadable" if damaged else "missing"
    report.notes.append(f"{LOG_START_CHECKPOINT} {state}: rebuilt the log start offset as {start} from {source} "
                        f"(the largest of: {', '.join(f'{k} {v}' for k, v in candidates.items())}); records "
                        f"deleted with delete_records_before above it, if any, may be readable again")
    return start


def _drop_empty_tail(segments: list[LogSegment], report: RecoveryReport) -> None:
    """Drop empty trailing segments left by a cut, except one to append to."""
    while len(segments) > 1 and segments[-1].size == 0 and segments[-2].size > 0 \
            and segments[-1].base_offset <= segments[-2].next_offset and report.truncated:
        seg = segments.pop()
        report.deleted_segments.append(seg.file_name)
        seg.delete()


def _set_offsets(log: "Log", segments: list[LogSegment], start_checkpoint: int | None,
                 report: RecoveryReport, flushed: int | None = None) -> None:
    """Install the segments and derive the log start / end offsets and the recovery point.

    ``flushed`` is the checkpointed recovery point: every offset below it was on disk. When the
    segments now end below it, flushed data is gone (a deleted or cut segment file): the loss is
    reported and the log continues at ``flushed``, so no offset a reader has seen is ever reused.
    """
    if not segments:
        segments = [log._new_segment(start_checkpoint or 0)]
    log.segments = segments
    last = segments[-1]
    log._log_end_offset = max(last.next_offset, last.base_offset)
    first = segments[0]
    if start_checkpoint is not None and first.size and first.base_offset > start_checkpoint and \
            not any(lo <= start_checkpoint and first.base_offset - 1 <= hi for _, lo, hi in report.lost_offsets):
        report.lost_offsets.append((first.file_name, start_checkpoint, first.base_offset - 1))
    if flushed is not None and flushed > log._log_end_offset:
        report.lost_offsets.append((last.file_name, log._log_end_offset, flushed - 1))
        report.notes.append(f"the recovery point checkpoint says offsets below {flushed} were flushed, but the "
                            f"segments end at {log._log_end_offset}: the log continues at {flushed} so that "
                            f"no offset is used twice")
        if last.size == 0:
            segments.pop()
            last.delete()
        segments.append(log._new_segment(flushed))
        log._log_end_offset = flushed
    start = max(start_checkpoint or 0, segments[0].base_offset)
    if start > log._log_end_offset:
        # Everything left is below the checkpointed start (a crash lost the tail after a
        # delete_records): restart empty at the start, so offsets are never reused.
        report.notes.append(f"the log ended at {log._log_end_offset}, below its start offset {start}: "
                            f"restarted empty at {start}")
        for seg in segments:
            seg.delete()
        log.segments = [log._new_segment(start)]
        log._log_end_offset = start
    log._log_start_offset = start
    log.recovery_point = log._log_end_offset


def _restore_epoch_cache(log: "Log", validated_from: int | None, report: RecoveryReport) -> None:
    """Load the leader-epoch checkpoint, or rebuild it from the batch headers.

    Without a readable checkpoint every segment is scanned; with one, only the segments
    that were validated (their batches may differ from what the checkpoint saw).
    """
    from .log import EPOCH_CHECKPOINT

    cache = log.leader_epoch_cache
    data = log.storage.read_file(EPOCH_CHECKPOINT)
    entries = None
    if data is not None:
        try:
            entries = LeaderEpochCache.parse(data)
        except (ValueError, IndexError):
            report.notes.append("leader-epoch-checkpoint was unreadable: rebuilt from the batches")
    rebuild_from = 0 if entries is None else validated_from
    cache.entries = list(entries or [])
    segments = log.segments
    if rebuild_from is not None and (entries is not None or any(s.size for s in segments)):
        for seg in segments[rebuild_from:]:
            for _, h in seg.batch_headers():
                if h.partition_leader_epoch >= 0 and h.partition_leader_epoch > cache.latest_epoch:
                    cache.entries.append((h.partition_leader_epoch, h.base_offset))
    cache.truncate_from_end(log._log_end_offset)
    cache.truncate_from_start(log._log_start_offset)
    if entries != cache.entries:
        log._save_epoch_checkpoint()
