"""Log: one partition's commit log -- an ordered list of segments.

The oldest segments are inactive (closed for writes); the last one is the
*active segment* every append goes to. Offsets are dense and increasing::

    log_start_offset                                         log_end_offset (LEO)
    v                                                          v
    [ seg 0: 0..999 ][ seg 1000: 1000..1999 ][ active 2000: 2000.. ]

* ``append`` (the leader) assigns offsets from the LEO and stamps the leader
  epoch; ``append_as_follower`` copies batches that already have offsets.
* ``read(offset)`` picks the segment by base offset, then the batch through
  the segment's sparse index; whole batches come back.
* ``truncate_to`` cuts the tail (replication needs it); ``delete_records_before``,
  ``apply_retention`` and ``compact`` remove from the head / the middle.
* Opening a log directory validates what a crash may have torn (see
  ``recovery.py``); ``flush`` and the durability policy decide what a crash
  can take.

Seams (the course's exercises plug in here; the defaults are msglib's own):
``index_lookup`` (segment.floor_lookup), ``segment_chooser``
(:func:`choose_segment`), ``retention_rule`` (retention.deletable_segments),
``compaction_rule`` (cleaner.should_retain).
"""
from __future__ import annotations

import os
import re
import struct
import time
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

from . import checkpoint, cleaner, recovery
from .config import LogConfig
from .epoch_cache import LeaderEpochCache
from .errors import (CorruptRecordError, InvalidArgumentError, InvalidRecordError, LogDirectoryError,
                     OffsetOutOfRangeError, RecordTooLargeError, UnexpectedAppendOffsetError, check_int)
from .records import (ATTRIBUTES_OFFSET, CRC_OFFSET, HEADER_SIZE, INT32_MAX, INT64_MAX, NO_TIMESTAMP,
                      TIMESTAMP_TYPE_BIT, Record, RecordBatch, check_batch_records, check_header, read_header)
from .crc import crc32c
from .retention import SegmentInfo, deletable_segments
from .segment import LogSegment, floor_lookup
from .storage import DiskStorage, MemoryStorage, Storage

EARLIEST_TIMESTAMP = -2   # offsets_for_times(-2): the log start offset
LATEST_TIMESTAMP = -1     # offsets_for_times(-1): the log end offset

LOG_START_CHECKPOINT = "log-start-offset-checkpoint"
RECOVERY_POINT_CHECKPOINT = "recovery-point-offset-checkpoint"
EPOCH_CHECKPOINT = "leader-epoch-checkpoint"
CLEAN_SHUTDOWN = ".clean-shutdown"


def choose_segment(base_offsets: Sequence[int], offset: int) -> int:
    """msglib's segment choice: the index of the last segment whose base offset <= ``offset``."""
    return bisect_right(base_offsets, offset) - 1


@dataclass
class LogAppendInfo:
    """What an append did: the offsets it assigned and facts the caller may need."""

    first_offset: int
    last_offset: int
    record_count: int
    max_timestamp: int
    offset_of_max_timestamp: int  # the batch's last offset (Kafka's "shallow" offset for v2 batches)
    log_append_time: int          # -1 unless message_timestamp_type=LogAppendTime
    size_in_bytes: int
    log_start_offset: int
    leader_epoch: int
    rolled: str | None = None     # why a new segment was rolled first, if it was

    @property
    def next_offset(self) -> int:
        return self.last_offset + 1


class FetchData(list):
    """The batches a read returned (a list of :class:`RecordBatch`), plus where the log stands.

    The first batch may start before ``fetch_offset`` (a batch is never
    split); :meth:`records` drops those records and the control records.
    """

    def __init__(self, batches: Iterable[RecordBatch], fetch_offset: int, log_start_offset: int,
                 log_end_offset: int, skip_to: int | None = None) -> None:
        super().__init__(batches)
        self.fetch_offset = fetch_offset
        self.log_start_offset = log_start_offset
        self.log_end_offset = log_end_offset
        self.skip_to = skip_to      # empty because no record exists from fetch_offset up to here

    @property
    def batches(self) -> list[RecordBatch]:
        return list(self)

    @property
    def next_offset(self) -> int:
        """Where the next read should start (past a gap with no records, when the read met one)."""
        return self[-1].next_offset if self else (self.skip_to or self.fetch_offset)

    def records(self) -> list[Record]:
        """Data records at offsets >= fetch_offset, in order."""
        out: list[Record] = []
        for batch in self:
            if batch.is_control:
                continue
            for r in batch.records:
                if r.offset >= self.fetch_offset:
                    out.append(r)
        return out

    @property
    def size_in_bytes(self) -> int:
        return sum(b.size_in_bytes for b in self)


_OFFSET_LENGTH_EPOCH = struct.Struct(">qii")   # base_offset, batch_length, partition_leader_epoch
_PARTITION_DIR = re.compile(r"^(?P<topic>.+)-(?P<partition>\d+)$")


def _offset(name: str, value: Any) -> int:
    return check_int(name, value, 0, INT64_MAX, "an int offset >= 0")


class Log:
    """One partition's log, in memory (``Log()``) or in a directory (``Log(directory=...)``).

    Opening a directory recovers it (see ``recovery.py``); ``recovery_report``
    says what was found and done. Raises :class:`InvalidArgumentError` for a
    directory that is not a non-empty str or path, or a config that is not a
    LogConfig, and :class:`LogDirectoryError` when the directory cannot be
    created or read (it names the path and the OS's reason).
    """

    def __init__(self, directory: str | os.PathLike | None = None, config: LogConfig | None = None, *,
                 storage: Storage | None = None, clock: Callable[[], float] | None = None,
                 topic: str | None = None, partition: int | None = None,
                 index_lookup: Callable[[Sequence[tuple[int, int]], int], int] | None = None,
                 segment_chooser: Callable[[Sequence[int], int], int] | None = None,
                 retention_rule: Callable[..., int] | None = None,
                 compaction_rule: cleaner.CompactionRule | None = None,
                 full_recovery: bool = False) -> None:
        if config is not None and not isinstance(config, LogConfig):
            raise InvalidArgumentError("config", config, "a LogConfig (e.g. LogConfig(segment_bytes=1 << 20))")
        self.config = config or LogConfig()
        if directory is not None:
            if isinstance(directory, os.PathLike):
                directory = os.fspath(directory)
            if not isinstance(directory, str) or not directory.strip():
                raise InvalidArgumentError("directory", directory,
                                           "a non-empty path (str or pathlib.Path) to the partition's folder, "
                                           "e.g. 'data/orders-0'; leave it out for an in-memory log")
        if storage is None:
            if directory is not None:
                try:
                    storage = DiskStorage(directory)
                    storage.list()
                except OSError as exc:
                    raise LogDirectoryError(
                        f"cannot use {directory!r} as a log directory: {exc.strerror or exc}; give the path "
                        f"of a folder this process can create and write (not a file)") from None
            else:
                storage = MemoryStorage()
        self.storage = storage
        name = os.path.basename(os.path.normpath(directory)) if directory else ""
        m = _PARTITION_DIR.match(name)
        self.topic = topic if topic is not None else (m.group("topic") if m else None)
        self.partition = partition if partition is not None else (int(m.group("partition")) if m else None)
        # Simulations pass their clock (sim.now); real use reads the wall clock (ms).
        self.clock = clock or (lambda: time.time() * 1000.0)
        self.index_lookup = index_lookup or floor_lookup
        self.segment_chooser = segment_chooser or choose_segment
        self.retention_rule = retention_rule or deletable_segments
        self.compaction_rule = compaction_rule or cleaner.should_retain
        self.segments: list[LogSegment] = []
        self._log_start_offset = 0
        self._log_end_offset = 0
        self.recovery_point = 0
        self._unflushed_records = 0
        self._last_flush_ms = self.clock()
        self.closed = False
        self.leader_epoch_cache = LeaderEpochCache(on_change=self._save_epoch_checkpoint)
        self.recovery_report = recovery.load(self, full_recovery=full_recovery)

    # ------------------------------------------------------------------ facts
    @property
    def log_start_offset(self) -> int:
        """The first offset a reader may fetch."""
        return self._log_start_offset

    @property
    def log_end_offset(self) -> int:
        """The offset the next appended record will get (LEO)."""
        return self._log_end_offset

    @property
    def active_segment(self) -> LogSegment:
        return self.segments[-1]

    @property
    def size_in_bytes(self) -> int:
        return sum(s.size for s in self.segments)

    @property
    def base_offsets(self) -> list[int]:
        return [s.base_offset for s in self.segments]

    def next_offset_of(self, segment: LogSegment) -> int:
        """One past the last offset ``segment`` may hold: the next segment's base, or the LEO."""
        i = self.segments.index(segment)
        return self.segments[i + 1].base_offset if i + 1 < len(self.segments) else self._log_end_offset

    def segment_infos(self) -> list[SegmentInfo]:
        """What the retention rule sees, oldest first (an empty active segment is left out)."""
        infos = []
        segments = self.segments
        for i, s in enumerate(segments):
            last = i == len(segments) - 1
            if last and s.size == 0:
                break
            upper = self._log_end_offset if last else segments[i + 1].base_offset
            infos.append(SegmentInfo(s.base_offset, upper, s.size, s.largest_timestamp))
        return infos

    def __repr__(self) -> str:
        where = self.topic if self.topic is None else f"{self.topic}-{self.partition}"
        return (f"Log({where or self.storage.description}, offsets {self._log_start_offset}.."
                f"{self._log_end_offset}, {len(self.segments)} segments, {self.size_in_bytes} bytes)")

    # ------------------------------------------------------------------ append
    def append(self, batch_or_records: Any, leader_epoch: int = 0, *, timestamp: int | None = None) -> LogAppendInfo:
        """Append as the leader: assign offsets from the LEO and stamp ``leader_epoch``.

        Accepts a :class:`RecordBatch`, its encoded bytes, or a list of records
        (``Record``, ``(key, value)`` pairs or bare values); records without a
        timestamp get ``timestamp`` or the clock's now. The batch is checked
        first, header, CRC and every record (as Kafka's broker does); a
        rejected append changes nothing.

        Raises :class:`CorruptRecordError` for bytes that are not one valid
        producer batch (records that do not match the header's count and
        offset deltas, negative timestamps other than -1, a malformed control
        marker), :class:`RecordTooLargeError`, :class:`InvalidRecordError` (no
        key on a compacted log), :class:`RecordTypeError` (a key or value that
        is not bytes), :class:`InvalidArgumentError` (a bad ``leader_epoch``,
        ``timestamp`` or record field) and RuntimeError once the log is closed.
        """
        self._check_open()
        check_int("leader_epoch", leader_epoch, -1, INT32_MAX, "-1 (none) or an int from 0 to 2**31-1")
        if timestamp is not None:
            check_int("timestamp", timestamp, -1, INT64_MAX, "None, -1 (none) or ms since the epoch (>= 0)")
        now = int(self.clock())
        data, trusted = self._to_bytes(batch_or_records, timestamp if timestamp is not None else now)
        h = self._validate(data)
        if h.record_count != h.last_offset_delta + 1:
            raise CorruptRecordError(f"leader append of a batch with {h.record_count} records but offset "
                                     f"deltas up to {h.last_offset_delta}; a producer batch has deltas 0..n-1")
        if not trusted:
            check_batch_records(data, h, leader=True)       # every record, as Kafka's LogValidator does
        if self.config.compact:
            self._check_keys(RecordBatch.decode(data, verify_crc=False))
        if self.config.message_timestamp_type == "LogAppendTime":
            buf = bytearray(data)
            attributes = struct.unpack_from(">h", buf, ATTRIBUTES_OFFSET)[0] | TIMESTAMP_TYPE_BIT
            struct.pack_into(">h", buf, ATTRIBUTES_OFFSET, attributes)
            struct.pack_into(">q", buf, 35, now)                  # max_timestamp = append time
            struct.pack_into(">I", buf, CRC_OFFSET, crc32c(memoryview(buf)[ATTRIBUTES_OFFSET:]))
            data = bytes(buf)
            h = read_header(data)
        # Offsets start at the LEO; the batch is stamped with the leader's epoch. Both fields
        # are outside the CRC, so only the first 16 bytes change: they are written separately
        # and the rest of the caller's bytes go to the file without being copied.
        head = _OFFSET_LENGTH_EPOCH.pack(self._log_end_offset, h.batch_length, leader_epoch)
        h = h._replace(base_offset=self._log_end_offset, partition_leader_epoch=leader_epoch)
        log_append_time = now if self.config.message_timestamp_type == "LogAppendTime" else -1
        return self._append_bytes((head, memoryview(data)[16:]), h, log_append_time)

    def append_as_follower(self, batch: RecordBatch | bytes) -> LogAppendInfo:
        """Append a batch that already has offsets and an epoch (replication).

        Its base offset must equal the LEO -- or, on a compacted log, may be
        above it (the leader's cleaner removed whole batches, leaving a gap).
        Raw bytes are checked record by record as in :meth:`append`; a
        RecordBatch object is checked by header and CRC (Kafka's followers
        trust what the leader validated).

        Raises :class:`UnexpectedAppendOffsetError` for offsets that do not
        continue the log, :class:`CorruptRecordError`,
        :class:`RecordTooLargeError`, TypeError for something that is not a
        batch, and RuntimeError once the log is closed.
        """
        self._check_open()
        if isinstance(batch, RecordBatch):
            data = batch.encode()
        elif isinstance(batch, (bytes, bytearray, memoryview)):
            data = bytes(batch)
        else:
            raise InvalidArgumentError("batch", batch, "a RecordBatch or its encoded bytes")
        h = self._validate(data)
        if not isinstance(batch, RecordBatch):
            check_batch_records(data, h)
        if h.base_offset > self._log_end_offset and not self.config.compact:
            raise UnexpectedAppendOffsetError(
                f"follower append of offsets {h.base_offset}..{h.last_offset} would leave a gap after the log "
                f"end offset {self._log_end_offset}; fetch from {self._log_end_offset} instead (only a compacted "
                f"log has gaps)")
        if h.base_offset < self._log_end_offset:
            raise UnexpectedAppendOffsetError(
                f"follower append of offsets {h.base_offset}..{h.last_offset} but the log already ends at "
                f"{self._log_end_offset}; truncate_to({h.base_offset}) first if the leader says these "
                f"offsets are different")
        return self._append_bytes(data, h, -1)

    def _to_bytes(self, item: Any, now: int) -> tuple[bytes, bool]:
        """The batch's bytes, and whether msglib's own encoder made them from checked records."""
        if isinstance(item, RecordBatch):
            return item.encode(), item.built_by_encoder
        if isinstance(item, (bytes, bytearray, memoryview)):
            return bytes(item), False
        if isinstance(item, Record):
            item = [item]
        if isinstance(item, (list, tuple)):
            if not item:
                raise InvalidArgumentError("records", item, "at least one record")
            return RecordBatch(item, timestamp=now).encode(), True
        raise InvalidArgumentError("append's argument", item,
                                   "a RecordBatch, encoded batch bytes or a list of records")

    def _validate(self, data: bytes) -> Any:
        """Check size, header and CRC of one encoded batch; return its header."""
        if len(data) > self.config.max_message_bytes:
            raise RecordTooLargeError(len(data), self.config.max_message_bytes)
        if len(data) > self.config.segment_bytes:
            raise RecordTooLargeError(len(data), self.config.segment_bytes, "segment_bytes")
        if len(data) < HEADER_SIZE:
            raise CorruptRecordError(f"{len(data)} bytes is shorter than a batch header ({HEADER_SIZE})")
        h = read_header(data)
        problem = check_header(h, len(data))
        if problem:
            raise CorruptRecordError(problem)
        if h.size != len(data):
            raise CorruptRecordError(f"batch_length says {h.size} bytes but {len(data)} were given; "
                                     f"append one batch at a time")
        actual = crc32c(memoryview(data)[ATTRIBUTES_OFFSET:])
        if actual != h.crc:
            raise CorruptRecordError(f"CRC-32C mismatch: stored {h.crc:#010x}, computed {actual:#010x}")
        if h.record_count < 1:
            raise CorruptRecordError("a batch must hold at least one record")
        return h

    def _check_keys(self, batch: RecordBatch) -> None:
        if batch.is_control:
            return
        for r in batch.records:
            if r.key is None:
                raise InvalidRecordError(
                    "Compacted topic cannot accept message without key: compaction keeps the latest value "
                    "per key, so every record needs one (or use cleanup_policy='delete')")

    def _append_bytes(self, data: bytes | tuple, h: Any, log_append_time: int) -> LogAppendInfo:
        now = self.clock()
        seg = self.active_segment
        rolled = seg.should_roll(h.size, h.max_timestamp, h.last_offset, now, self.config.segment_bytes,
                                 self.config.segment_ms, self.config.segment_jitter_ms)
        if rolled:
            seg = self.roll(h.base_offset)
        seg.append(data, h)
        self._log_end_offset = h.next_offset
        if h.partition_leader_epoch >= 0 and h.partition_leader_epoch > self.leader_epoch_cache.latest_epoch:
            self.leader_epoch_cache.assign(h.partition_leader_epoch, h.base_offset)
        self._unflushed_records += h.record_count
        self._maybe_flush(now)
        return LogAppendInfo(h.base_offset, h.last_offset, h.record_count, h.max_timestamp, h.last_offset,
                             log_append_time, h.size, self._log_start_offset, h.partition_leader_epoch, rolled)

    # ------------------------------------------------------------------ durability
    def _maybe_flush(self, now: float) -> None:
        c = self.config
        if c.flush_messages is not None and self._unflushed_records >= c.flush_messages:
            self.flush()
        elif c.flush_ms is not None and now - self._last_flush_ms >= c.flush_ms:
            self.flush()

    def flush(self) -> None:
        """fsync every segment holding unflushed data; the recovery point becomes the LEO.

        Raises RuntimeError once the log is closed, OSError if the disk refuses.
        """
        self._check_open()
        # Newest first, down to the segment holding the old recovery point: older ones are durable.
        for seg in reversed(self.segments):
            seg.sync()
            if seg.base_offset <= self.recovery_point:
                break
        self.recovery_point = self._log_end_offset
        self._unflushed_records = 0
        self._last_flush_ms = self.clock()

    @property
    def unflushed_records(self) -> int:
        return self._unflushed_records

    def roll(self, next_offset: int | None = None) -> LogSegment:
        """Close the active segment and start a new one at the LEO (or ``next_offset``).

        Raises :class:`InvalidArgumentError` for a ``next_offset`` that is not None or an int >= 0.
        """
        if next_offset is not None:
            _offset("next_offset", next_offset)
        base = self._log_end_offset if next_offset is None else max(next_offset, self._log_end_offset)
        old = self.active_segment
        if old.size == 0 and old.base_offset == base:
            return old
        if old.size == 0:
            self.segments.pop()          # an empty active segment is replaced, not kept
            old.delete()
        else:
            old.on_become_inactive()
            # Kafka flushes a rolled segment right away: everything before the new
            # segment is then durable and below the recovery point.
            old.sync()
            self.recovery_point = max(self.recovery_point, base)
            self._write_checkpoint(RECOVERY_POINT_CHECKPOINT, self.recovery_point)
        seg = self._new_segment(base)
        self.segments.append(seg)
        return seg

    def _new_segment(self, base_offset: int) -> LogSegment:
        return LogSegment(self.storage, base_offset, index_interval_bytes=self.config.index_interval_bytes,
                          max_index_entries=self.config.max_index_entries, created_ms=self.clock(),
                          index_lookup=self._lookup, contiguous=not self.config.compact)

    def _lookup(self, index: Sequence[tuple[int, int]], target: int) -> int:
        return self.index_lookup(index, target)

    # ------------------------------------------------------------------ read
    def read(self, fetch_offset: int, max_bytes: int = 1_048_576, max_offset: int | None = None, *,
             min_one: bool = True) -> FetchData:
        """Whole batches starting with the one that holds ``fetch_offset``.

        * ``fetch_offset`` outside ``[log_start_offset, log_end_offset]`` ->
          :class:`OffsetOutOfRangeError`; ``== log_end_offset`` -> empty.
        * ``max_offset`` (exclusive) bounds what is visible, e.g. the high
          watermark for a consumer; a batch reaching it is left out.
        * At most ``max_bytes``, except that the first batch is returned
          whatever its size (``min_one``), so a reader always progresses.
        * A fetch offset inside a gap (compaction) starts at the next record.

        Raises :class:`OffsetOutOfRangeError`, :class:`CorruptRecordError`
        naming the segment file and position of a damaged batch,
        :class:`InvalidArgumentError` for an offset or size that is not an int
        (``read(0.5)``) or is negative, and RuntimeError once the log is closed.
        """
        self._check_open()
        if type(fetch_offset) is not int:
            fetch_offset = check_int("fetch_offset", fetch_offset, -INT64_MAX, INT64_MAX, "an int offset")
        check_int("max_bytes", max_bytes, 0, INT64_MAX, "an int >= 0")
        if max_offset is not None:
            check_int("max_offset", max_offset, 0, INT64_MAX, "None or an int offset >= 0")
        if fetch_offset < self._log_start_offset or fetch_offset > self._log_end_offset:
            raise OffsetOutOfRangeError(fetch_offset, self._log_start_offset, self._log_end_offset)
        empty = FetchData([], fetch_offset, self._log_start_offset, self._log_end_offset)
        if fetch_offset == self._log_end_offset or (max_offset is not None and fetch_offset >= max_offset):
            return empty
        bases = self.base_offsets
        i = self.segment_chooser(bases, fetch_offset)
        if i == -1 and fetch_offset < bases[0]:
            i = 0                        # between the log start and the first segment (a gap)
        if not 0 <= i < len(self.segments):
            raise IndexError(f"segment chooser returned {i} for offset {fetch_offset}; there are "
                             f"{len(self.segments)} segments with base offsets {bases}")
        verify = self.config.verify_crc_on_read
        while i < len(self.segments):
            seg = self.segments[i]
            raw = seg.read(fetch_offset, max_bytes, max_offset, min_one)
            if raw is not None and not raw:
                return empty             # a limit (max_offset, max_bytes) stopped the read
            if raw:
                batches = [self._decode_at(data, seg, pos, verify) for pos, data in raw]
                return FetchData(batches, fetch_offset, self._log_start_offset, self._log_end_offset)
            if max_offset is not None and i + 1 < len(self.segments) and \
                    self.segments[i + 1].base_offset >= max_offset:
                break
            i += 1                       # nothing at/after the offset here (a gap): try the next segment
        if max_offset is None:           # no record from fetch_offset to the LEO: a reader may skip there
            return FetchData([], fetch_offset, self._log_start_offset, self._log_end_offset,
                             skip_to=self._log_end_offset)
        return empty

    @staticmethod
    def _decode_at(data: bytes, seg: LogSegment, position: int, verify: bool) -> RecordBatch:
        try:
            batch = RecordBatch.decode(data, verify_crc=verify, file=seg.file_name)
        except CorruptRecordError as exc:
            raise CorruptRecordError(exc.reason, seg.file_name, position) from None
        batch.source = (seg.file_name, position)
        return batch

    def records(self, start: int | None = None, end: int | None = None) -> Iterator[Record]:
        """Every data record from ``start`` (default: log start) to ``end`` (default: LEO), in order.

        Raises what :meth:`read` raises (:class:`OffsetOutOfRangeError`,
        :class:`CorruptRecordError` naming the damaged batch, :class:`InvalidArgumentError`).
        """
        if start is not None:
            check_int("start", start, -INT64_MAX, INT64_MAX, "None or an int offset")
        if end is not None:
            check_int("end", end, -INT64_MAX, INT64_MAX, "None or an int offset")
        offset = self._log_start_offset if start is None else start
        stop = self._log_end_offset if end is None else end
        while offset < stop:
            data = self.read(offset, max_bytes=4 * 1024 * 1024, max_offset=stop)
            if not data:
                break
            for r in data.records():
                if r.offset < stop:
                    yield r
            offset = data.next_offset

    def batches(self) -> Iterator[RecordBatch]:
        """Every batch in the log, oldest first (including control batches).

        Raises :class:`CorruptRecordError` naming the file and position of a damaged batch.
        """
        for seg in list(self.segments):
            yield from seg.batches(verify_crc=self.config.verify_crc_on_read)

    def offsets_for_times(self, timestamp: int) -> tuple[int, int] | None:
        """``(offset, timestamp)`` of the earliest record with timestamp >= ``timestamp``, or None.

        ``-2`` (EARLIEST_TIMESTAMP) gives the log start offset, ``-1``
        (LATEST_TIMESTAMP) the log end offset, as Kafka's ListOffsets does.
        Raises :class:`InvalidArgumentError` for anything but an int >= -2, and
        :class:`CorruptRecordError` for a damaged batch on the way.
        """
        check_int("timestamp", timestamp, -2, INT64_MAX,
                  "-2 (earliest), -1 (latest) or ms since the epoch (>= 0)")
        if timestamp == EARLIEST_TIMESTAMP:
            return self._log_start_offset, NO_TIMESTAMP
        if timestamp == LATEST_TIMESTAMP:
            return self._log_end_offset, NO_TIMESTAMP
        for seg in self.segments:
            if seg.max_timestamp < timestamp:
                continue
            found = seg.find_offset_by_timestamp(timestamp, self._log_start_offset)
            if found is not None:
                return found
        return None

    # ------------------------------------------------------------------ truncation
    def truncate_to(self, offset: int) -> int:
        """Remove every record at ``offset`` or after (a follower's truncation); return bytes removed.

        Nothing happens when ``offset >= log_end_offset``. Truncating below the
        log start offset empties the log and restarts it at ``offset``.
        Raises :class:`InvalidArgumentError` for an offset that is not an int
        >= 0 (``truncate_to(-1)`` is refused, not taken as "empty the log"),
        :class:`CorruptRecordError` for a damaged batch at the cut, and
        RuntimeError once the log is closed.
        """
        self._check_open()
        _offset("truncate_to offset", offset)
        if offset >= self._log_end_offset:
            return 0
        if offset <= self._log_start_offset:
            before = self.size_in_bytes
            self.truncate_fully_and_start_at(offset if offset >= 0 else 0)
            return before
        removed = 0
        while len(self.segments) > 1 and self.active_segment.base_offset >= offset:
            seg = self.segments.pop()
            removed += seg.size
            seg.delete()
        removed += self.active_segment.truncate_to(offset)
        self.active_segment.sync()       # a truncation must be durable, or a crash could undo it
        self._log_end_offset = offset
        self.recovery_point = min(self.recovery_point, offset)
        # The checkpoint must not say more was flushed than the log now holds: recovery would
        # take the difference for lost data and continue past it.
        self._write_checkpoint(RECOVERY_POINT_CHECKPOINT, self.recovery_point)
        self._unflushed_records = 0
        self.leader_epoch_cache.truncate_from_end(offset)
        return removed

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Delete everything; the log restarts empty at ``offset`` (log start = LEO = offset).

        Raises :class:`InvalidArgumentError` for an offset that is not an int
        >= 0, RuntimeError once the log is closed.
        """
        self._check_open()
        _offset("offset", offset)
        for seg in self.segments:
            seg.delete()
        self.segments = [self._new_segment(offset)]
        self._log_start_offset = self._log_end_offset = self.recovery_point = offset
        self._write_checkpoint(LOG_START_CHECKPOINT, offset)
        self._write_checkpoint(RECOVERY_POINT_CHECKPOINT, offset)
        self.leader_epoch_cache.clear()

    def delete_records_before(self, offset: int, high_watermark: int | None = None) -> int:
        """Move the log start offset up to ``offset`` (admin DeleteRecords); return the new start.

        ``offset`` may not pass the high watermark (default: the LEO). Whole
        segments below the new start are deleted at once. Raises
        :class:`OffsetOutOfRangeError` past the high watermark,
        :class:`InvalidArgumentError` for an offset that is not an int >= 0,
        RuntimeError once the log is closed.
        """
        self._check_open()
        _offset("delete_records_before offset", offset)
        if high_watermark is not None:
            _offset("high_watermark", high_watermark)
        limit = self._log_end_offset if high_watermark is None else min(high_watermark, self._log_end_offset)
        if offset > limit:
            raise OffsetOutOfRangeError(offset, self._log_start_offset, limit, what="delete_records_before")
        if offset <= self._log_start_offset:
            return self._log_start_offset
        self._log_start_offset = offset
        self._write_checkpoint(LOG_START_CHECKPOINT, offset)
        self._delete_segments_below_start()
        self.leader_epoch_cache.truncate_from_start(offset)
        return offset

    def _delete_segments_below_start(self) -> list[str]:
        deleted = []
        while len(self.segments) > 1 and self.segments[1].base_offset <= self._log_start_offset:
            seg = self.segments.pop(0)
            deleted.append(seg.file_name)
            seg.delete()
        if len(self.segments) == 1 and self._log_start_offset == self._log_end_offset \
                and self.active_segment.size > 0:
            self.roll()
            seg = self.segments.pop(0)
            deleted.append(seg.file_name)
            seg.delete()
        return deleted

    # ------------------------------------------------------------------ retention & compaction
    def apply_retention(self, now_ms: float | None = None, high_watermark: int | None = None) -> list[str]:
        """Delete old segments by ``retention.ms`` / ``retention.bytes``; return the deleted file names.

        Only with ``delete`` in the cleanup policy. Uses ``retention_rule`` to
        count the oldest segments to delete. If every segment goes, a new
        empty segment is rolled at the LEO first: offsets continue, they never
        restart at 0. Raises :class:`InvalidArgumentError` (a ValueError) when
        the retention rule returns anything but an int from 0 to the number of
        segments, and RuntimeError once the log is closed.
        """
        self._check_open()
        if not self.config.delete:
            return []
        now = self.clock() if now_ms is None else now_ms
        hw = self._log_end_offset if high_watermark is None else min(high_watermark, self._log_end_offset)
        infos = self.segment_infos()
        count = self.retention_rule(infos, now_ms=now, retention_ms=self.config.retention_ms,
                                    retention_bytes=self.config.retention_bytes, high_watermark=hw)
        if not isinstance(count, int) or not 0 <= count <= len(infos):
            raise InvalidArgumentError("retention rule result", count, message=(
                f"retention rule returned {count!r}; it must be an int from 0 to {len(infos)} "
                f"(how many of the oldest segments to delete)"))
        if count == 0:
            return []
        if count == len(self.segments):
            self.roll()                  # deleting the active segment: start a fresh one at the LEO
        deleted = []
        for _ in range(count):
            seg = self.segments.pop(0)
            deleted.append(seg.file_name)
            seg.delete()
        new_start = self.segments[0].base_offset
        if new_start > self._log_start_offset:
            self._log_start_offset = min(new_start, self._log_end_offset)
            self._write_checkpoint(LOG_START_CHECKPOINT, self._log_start_offset)
            self.leader_epoch_cache.truncate_from_start(self._log_start_offset)
        return deleted

    def compact(self, now_ms: float | None = None, upper_bound: int | None = None) -> cleaner.CleanerStats:
        """Run one compaction pass (see ``cleaner.py``). ``upper_bound``: the LSO / high watermark.

        Raises :class:`InvalidArgumentError` (a ValueError) on a log whose
        cleanup policy is 'delete', :class:`CorruptRecordError` for a damaged
        batch met on the way, and RuntimeError once the log is closed.
        """
        self._check_open()
        if not self.config.compact:
            raise InvalidArgumentError("cleanup_policy", message=(
                "this log's cleanup_policy is 'delete': compaction would leave gaps in offsets that such a log "
                "promises not to have; open it with LogConfig(cleanup_policy='compact') (or 'compact,delete')"))
        now = self.clock() if now_ms is None else now_ms
        return cleaner.clean(self, now, self.compaction_rule, upper_bound)

    def dirty_ratio(self) -> float:
        """Bytes in inactive segments / all bytes: a rough cleaner trigger."""
        total = self.size_in_bytes
        return (total - self.active_segment.size) / total if total else 0.0

    def _replace_segment(self, seg: LogSegment, batches: list[bytes]) -> None:
        """Swap ``seg``'s files for a rewritten copy, crash-safely (.cleaned -> .swap -> real)."""
        i = self.segments.index(seg)
        tmp = LogSegment(_SuffixStorage(self.storage, ".cleaned"), seg.base_offset,
                         index_interval_bytes=self.config.index_interval_bytes,
                         max_index_entries=self.config.max_index_entries, created_ms=seg.created_ms)
        for data in batches:
            tmp.append(data, read_header(data))
        tmp.on_become_inactive()
        tmp.sync()
        tmp.close()
        names = [seg.name + ext for ext in (".log", ".index", ".timeindex")]
        for n in names:
            self.storage.rename(n + ".cleaned", n + ".swap")
        seg.close()
        for n in names:
            self.storage.delete(n)
            self.storage.rename(n + ".swap", n)
        new = self._new_segment(seg.base_offset)
        new.created_ms = seg.created_ms
        problem = new.check_indexes()
        if problem:                                   # cannot happen unless storage misbehaves
            new.recover()
        else:
            new.scan(new._last_indexed_position())
        self.segments[i] = new

    def _remove_segment(self, seg: LogSegment) -> None:
        self.segments.remove(seg)
        seg.delete()

    # ------------------------------------------------------------------ checkpoints & lifecycle
    def _write_checkpoint(self, name: str, value: int) -> None:
        checkpoint.write(self.storage, name, value)

    def _save_epoch_checkpoint(self) -> None:
        self.storage.write_file(EPOCH_CHECKPOINT, self.leader_epoch_cache.to_bytes())

    def close(self) -> None:
        """Flush, write the checkpoints and the clean-shutdown marker, close the files."""
        if self.closed:
            return
        self.flush()
        self.active_segment.on_become_inactive()
        self.active_segment.sync()
        self._write_checkpoint(RECOVERY_POINT_CHECKPOINT, self.recovery_point)
        self._write_checkpoint(LOG_START_CHECKPOINT, self._log_start_offset)
        self.storage.write_file(CLEAN_SHUTDOWN, b"")
        for seg in self.segments:
            seg.close()
        if hasattr(self.storage, "close"):
            self.storage.close()  # type: ignore[attr-defined]
        self.closed = True

    def abandon(self) -> None:
        """Drop the log without a clean shutdown (what a crash does); the files stay as they are."""
        for seg in self.segments:
            seg.close()
        if hasattr(self.storage, "close"):
            self.storage.close()  # type: ignore[attr-defined]
        self.closed = True

    def crash_and_reopen(self, **kwargs: Any) -> "Log":
        """Simulate a crash: lose what was not flushed (memory storage), reopen and recover.

        Returns the new Log (this one is closed); its ``recovery_report`` says
        what recovery found. On disk a crash of the process loses nothing the
        OS already has, so this only exercises recovery.
        """
        self.abandon()
        if isinstance(self.storage, MemoryStorage):
            self.storage.crash()
        options = dict(config=self.config, storage=self.storage, clock=self.clock, topic=self.topic,
                       partition=self.partition, index_lookup=self.index_lookup,
                       segment_chooser=self.segment_chooser, retention_rule=self.retention_rule,
                       compaction_rule=self.compaction_rule)
        options.update(kwargs)
        return Log(**options)

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError("this Log is closed; open the directory again with Log(directory=...)")

    def __enter__(self) -> "Log":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _SuffixStorage:
    """A view of a storage that appends a suffix to every file name (for .cleaned files)."""

    def __init__(self, storage: Storage, suffix: str) -> None:
        self._storage = storage
        self._suffix = suffix
        self.description = storage.description

    def open(self, name: str) -> Any:
        return self._storage.open(name + self._suffix)
