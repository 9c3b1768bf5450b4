"""A log segment: one ``.log`` file of batches plus its two sparse indexes.

A partition's log is split into segments so old data can be deleted a whole
file at a time, and so a read can find its place without scanning gigabytes.
Each segment is three files named by its *base offset* (the first offset it
may hold), zero-padded to 20 digits::

    00000000000000001234.log        the batches, back to back (see records.py)
    00000000000000001234.index      offset index: (offset - 1234: int32, position: int32)
    00000000000000001234.timeindex  time index:   (timestamp: int64, offset - 1234: int32)

The indexes are *sparse*: one entry roughly every ``index.interval.bytes`` of
log. To find offset ``t``: take the index entry with the greatest offset <= t
(binary search), jump to its byte position, and scan batch headers forward to
the first batch whose last offset >= t. That batch may start before ``t``.

Invariants (checked when a segment is loaded, rebuilt when broken):

* index offsets and positions strictly increase; each entry's position is
  the start of a batch whose *last* offset is the entry's offset;
* time index timestamps strictly increase, and offsets never decrease;
* every batch in the file has ``base_offset >= segment.base_offset``, and
  offsets increase from batch to batch.
"""
from __future__ import annotations

import struct
from array import array
from bisect import bisect_right
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from .errors import CorruptRecordError
from .records import (HEADER_SIZE, NO_TIMESTAMP, BatchHeader, RecordBatch, check_header, read_header)
from .crc import crc32c
from .storage import FileHandle, Storage

INT32_MAX = 2**31 - 1
OFFSET_ENTRY = struct.Struct(">ii")   # relative offset, position
TIME_ENTRY = struct.Struct(">qi")     # timestamp, relative offset
_SCAN = struct.Struct(">qi4xb6xi")     # base_offset, batch_length, magic, last_offset_delta of a batch header


def segment_name(base_offset: int) -> str:
    """``1234 -> '00000000000000001234'`` (Kafka's file name prefix)."""
    return f"{base_offset:020d}"


# --------------------------------------------------------------------------- offset index
class OffsetIndex:
    """The sparse offset index of one segment: a sorted sequence of (offset, position).

    Offsets here are absolute (the file stores them relative to the
    segment's base offset so they fit in 4 bytes). ``index[i]`` is the i-th
    entry as an ``(offset, position)`` tuple, so a lookup function can treat
    it as a plain sorted list.
    """

    def __init__(self, file: FileHandle, base_offset: int, max_entries: int) -> None:
        self.file = file
        self.base_offset = base_offset
        self.max_entries = max_entries
        self.offsets: array = array("q")
        self.positions: array = array("q")

    def __len__(self) -> int:
        return len(self.offsets)

    def __getitem__(self, i: int) -> tuple[int, int]:
        return self.offsets[i], self.positions[i]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(zip(self.offsets, self.positions))

    def entries(self) -> list[tuple[int, int]]:
        return list(zip(self.offsets, self.positions))

    @property
    def is_full(self) -> bool:
        return len(self.offsets) >= self.max_entries

    def append(self, offset: int, position: int) -> None:
        """Add an entry; raises ValueError unless offset and position both grow (an internal invariant)."""
        if self.offsets and (offset <= self.offsets[-1] or position <= self.positions[-1]):
            raise ValueError(f"index entry ({offset}, {position}) does not follow "
                             f"({self.offsets[-1]}, {self.positions[-1]}); entries must increase")
        self.file.append(OFFSET_ENTRY.pack(offset - self.base_offset, position))
        self.offsets.append(offset)
        self.positions.append(position)

    def truncate_to(self, offset: int) -> None:
        """Remove every entry whose offset is >= ``offset``."""
        keep = bisect_right(self.offsets, offset - 1)
        self._truncate_entries(keep)

    def _truncate_entries(self, n: int) -> None:
        if n < len(self.offsets):
            del self.offsets[n:]
            del self.positions[n:]
            self.file.truncate(n * OFFSET_ENTRY.size)

    def reset(self) -> None:
        self._truncate_entries(0)
        self.file.truncate(0)

    def load(self) -> str | None:
        """Read the entries from the file; return why the file is unusable, or None."""
        data = self.file.read(0, self.file.size())
        self.offsets = array("q")
        self.positions = array("q")
        if len(data) % OFFSET_ENTRY.size:
            return f"index size {len(data)} is not a multiple of {OFFSET_ENTRY.size}"
        last_off, last_pos = -1, -1
        for rel, pos in OFFSET_ENTRY.iter_unpack(data):
            off = self.base_offset + rel
            if rel < 0 or off <= last_off or pos <= last_pos:
                return f"entry ({off}, {pos}) after ({last_off}, {last_pos}) breaks the sort order"
            self.offsets.append(off)
            self.positions.append(pos)
            last_off, last_pos = off, pos
        return None


def floor_lookup(index: Sequence[tuple[int, int]], target_offset: int) -> int:
    """msglib's sparse-index lookup: where to start scanning for ``target_offset``.

    Returns the byte position of the entry with the greatest offset <= target
    (binary search), or 0 when every entry is greater (or there are none):
    the scan then starts at the beginning of the segment.
    """
    lo, hi = 0, len(index)          # invariant: entries [0, lo) are <= target, [hi, end) are > target
    while lo < hi:
        mid = (lo + hi) // 2
        if index[mid][0] <= target_offset:
            lo = mid + 1
        else:
            hi = mid
    return index[lo - 1][1] if lo > 0 else 0


# --------------------------------------------------------------------------- time index
class TimeIndex:
    """Sparse (max timestamp so far -> offset) entries; backs ``offsets_for_times``."""

    def __init__(self, file: FileHandle, base_offset: int, max_entries: int) -> None:
        self.file = file
        self.base_offset = base_offset
        self.max_entries = max_entries
        self.timestamps: array = array("q")
        self.offsets: array = array("q")

    def __len__(self) -> int:
        return len(self.timestamps)

    def __getitem__(self, i: int) -> tuple[int, int]:
        return self.timestamps[i], self.offsets[i]

    def entries(self) -> list[tuple[int, int]]:
        return list(zip(self.timestamps, self.offsets))

    @property
    def is_full(self) -> bool:
        return len(self.timestamps) >= self.max_entries

    @property
    def last_timestamp(self) -> int:
        return self.timestamps[-1] if self.timestamps else NO_TIMESTAMP

    def maybe_append(self, timestamp: int, offset: int, skip_full_check: bool = False) -> None:
        """Add an entry only if ``timestamp`` is newer than the last one (Kafka's rule)."""
        if timestamp <= self.last_timestamp or timestamp < 0:
            return
        if self.is_full and not skip_full_check:
            return
        if self.offsets and offset < self.offsets[-1]:
            return
        self.file.append(TIME_ENTRY.pack(timestamp, offset - self.base_offset))
        self.timestamps.append(timestamp)
        self.offsets.append(offset)

    def lookup(self, timestamp: int) -> tuple[int, int]:
        """The entry with the greatest timestamp <= ``timestamp``, else (-1, base_offset)."""
        i = bisect_right(self.timestamps, timestamp)
        if i == 0:
            return NO_TIMESTAMP, self.base_offset
        return self.timestamps[i - 1], self.offsets[i - 1]

    def truncate_to(self, offset: int) -> None:
        """Remove every entry whose offset is >= ``offset``."""
        keep = bisect_right(self.offsets, offset - 1)
        if keep < len(self.offsets):
            del self.timestamps[keep:]
            del self.offsets[keep:]
            self.file.truncate(keep * TIME_ENTRY.size)

    def reset(self) -> None:
        self.truncate_to(-1)
        self.file.truncate(0)

    def load(self) -> str | None:
        data = self.file.read(0, self.file.size())
        self.timestamps = array("q")
        self.offsets = array("q")
        if len(data) % TIME_ENTRY.size:
            return f"time index size {len(data)} is not a multiple of {TIME_ENTRY.size}"
        last_ts, last_off = NO_TIMESTAMP, -1
        for ts, rel in TIME_ENTRY.iter_unpack(data):
            off = self.base_offset + rel
            if rel < 0 or ts <= last_ts or off < last_off:
                return f"entry ({ts}, {off}) after ({last_ts}, {last_off}) breaks the sort order"
            self.timestamps.append(ts)
            self.offsets.append(off)
            last_ts, last_off = ts, off
        return None


# --------------------------------------------------------------------------- segment
@dataclass
class SegmentRecovery:
    """What validating one segment found."""

    segment: str
    batches: int = 0
    valid_bytes: int = 0
    truncated_bytes: int = 0
    problem: str | None = None     # why the tail was cut, if it was
    position: int | None = None    # where
    last_epoch: int = -1           # the leader epoch of the last valid batch


class LogSegment:
    """One segment: append batches, find an offset through the index, read, truncate, recover."""

    def __init__(self, storage: Storage, base_offset: int, *, index_interval_bytes: int = 4096,
                 max_index_entries: int = 10 * 1024 * 1024 // 8, created_ms: float = 0,
                 index_lookup: Callable[[Sequence[tuple[int, int]], int], int] | None = None,
                 contiguous: bool = False) -> None:
        self.storage = storage
        self.contiguous = contiguous      # offsets have no gaps (the log is never compacted)
        self.base_offset = base_offset
        self.name = segment_name(base_offset)
        self.index_interval_bytes = index_interval_bytes
        self.index_lookup = index_lookup or floor_lookup
        self.log = storage.open(self.name + ".log")
        self.offset_index = OffsetIndex(storage.open(self.name + ".index"), base_offset, max_index_entries)
        self.time_index = TimeIndex(storage.open(self.name + ".timeindex"), base_offset,
                                    max_index_entries * 8 // 12)
        self.created_ms = created_ms
        # State derived from the batches (rebuilt by scan() when a segment is opened):
        self.next_offset = base_offset          # offset after the last batch in this segment
        self.max_timestamp = NO_TIMESTAMP       # largest timestamp of any batch
        self.offset_of_max_timestamp = base_offset
        self.first_batch_timestamp: int | None = None   # basis for time-based rolling
        self.bytes_since_last_index_entry = 0

    # -- facts -----------------------------------------------------------------------
    @property
    def size(self) -> int:
        return self.log.size()

    @property
    def file_name(self) -> str:
        return self.name + ".log"

    @property
    def largest_timestamp(self) -> int:
        """What time retention compares with; Kafka falls back to the file's mtime when no batch has one."""
        return self.max_timestamp if self.max_timestamp >= 0 else int(self.created_ms)

    def __repr__(self) -> str:
        return (f"LogSegment({self.name}, offsets {self.base_offset}..{self.next_offset - 1}, "
                f"{self.size} bytes, {len(self.offset_index)} index entries)")

    # -- rolling ---------------------------------------------------------------------
    def should_roll(self, batch_size: int, batch_max_timestamp: int, batch_last_offset: int, now_ms: float,
                    segment_bytes: int, segment_ms: int, jitter_ms: int = 0) -> str | None:
        """Why this segment must be closed before appending the batch (None = it need not).

        Kafka's LogSegment.shouldRoll: size, time, full index, or an offset too
        far from the base offset to store relative to it in 4 bytes.
        """
        size = self.size
        if size > 0 and size > segment_bytes - batch_size:
            return "segment.bytes"
        if size > 0:
            if self.first_batch_timestamp is not None and self.first_batch_timestamp >= 0:
                waited = batch_max_timestamp - self.first_batch_timestamp
            else:
                waited = now_ms - self.created_ms
            if waited > segment_ms - jitter_ms:
                return "segment.ms"
        if self.offset_index.is_full or self.time_index.is_full:
            return "index full"
        if batch_last_offset - self.base_offset > INT32_MAX:
            return "offset overflow"
        return None

    # -- append ----------------------------------------------------------------------
    def append(self, data: bytes | tuple, header: BatchHeader) -> int:
        """Append one validated batch; maybe add index entries first. Returns its position.

        The index rule (Kafka's): if more than ``index.interval.bytes`` were
        appended since the last entry, index *this* batch -- its last offset
        -> its start position -- before writing it. So the first batch of a
        segment never gets an entry.
        """
        if header.max_timestamp > self.max_timestamp:
            self.max_timestamp = header.max_timestamp
            self.offset_of_max_timestamp = header.last_offset
        position = self.log.size()
        if self.bytes_since_last_index_entry > self.index_interval_bytes:
            self.offset_index.append(header.last_offset, position)
            self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)
            self.bytes_since_last_index_entry = 0
        self.log.append(data)
        self.bytes_since_last_index_entry += header.size
        if self.first_batch_timestamp is None:
            self.first_batch_timestamp = header.max_timestamp
        self.next_offset = header.next_offset
        return position

    def on_become_inactive(self) -> None:
        """When the segment stops being the active one: record its final max timestamp."""
        self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp, skip_full_check=True)

    # -- finding and reading ---------------------------------------------------------
    def _header_at(self, position: int) -> BatchHeader:
        raw = self.log.read(position, HEADER_SIZE)
        if len(raw) < HEADER_SIZE:
            raise CorruptRecordError(f"truncated batch header ({len(raw)} bytes)", self.file_name, position)
        h = read_header(raw)
        problem = check_header(h, self.size - position)
        if problem:
            raise CorruptRecordError(problem, self.file_name, position)
        return h

    def find(self, offset: int, start_position: int = 0) -> tuple[int, BatchHeader] | None:
        """The (position, header) of the first batch whose last offset >= ``offset``, or None.

        Starts scanning at the index entry chosen by ``index_lookup``. With
        ``contiguous`` set (logs that are never compacted), every scanned batch
        must continue the offsets of the one before -- a batch whose offsets
        were corrupted is reported instead of returned: it raises
        :class:`CorruptRecordError` naming the file and position.
        """
        position = max(self.index_lookup(self.offset_index, offset), start_position)
        end = self.size
        expected_base, expected_last = self._expected_at(position)
        # Read the stretch to scan in one piece (about index.interval.bytes), and look at just the
        # four header fields the scan needs; the full header is parsed only for the batch found.
        chunk, chunk_start = b"", position
        while position < end:
            p = position - chunk_start
            if p + HEADER_SIZE > len(chunk):
                chunk_start, p = position, 0
                chunk = self.log.read(position, min(end - position, self.index_interval_bytes + 16384))
                if len(chunk) < HEADER_SIZE:
                    self._header_at(position)            # raises: a truncated header
            base, length, magic, last_delta = _SCAN.unpack_from(chunk, p)
            size = length + 12
            if magic != 2 or length < HEADER_SIZE - 12 or size > end - position or last_delta < 0 \
                    or base < self.base_offset or base + last_delta >= self.next_offset:
                h = self._header_at(position)            # raises with the precise reason
                self._check_within(h, position)
                raise CorruptRecordError("batch offsets do not fit this segment", self.file_name, position)
            if self.contiguous:
                if (expected_base is not None and base != expected_base) or \
                        (expected_last is not None and base + last_delta != expected_last):
                    raise CorruptRecordError(
                        f"batch offsets {base}..{base + last_delta} do not continue the log "
                        f"(expected {'base ' + str(expected_base) if expected_base is not None else ''}"
                        f"{'last ' + str(expected_last) if expected_last is not None else ''})",
                        self.file_name, position)
                expected_base, expected_last = base + last_delta + 1, None
            if base + last_delta >= offset:
                return position, read_header(chunk, p)
            position += size
        return None

    def _check_within(self, h: BatchHeader, position: int) -> None:
        if h.last_offset >= self.next_offset or h.base_offset < self.base_offset:
            raise CorruptRecordError(f"batch claims offsets {h.base_offset}..{h.last_offset} but this segment "
                                     f"holds {self.base_offset}..{self.next_offset - 1}", self.file_name, position)

    def _expected_at(self, position: int) -> tuple[int | None, int | None]:
        """What the batch at ``position`` must hold: (base offset, last offset), each None if unknown."""
        if position == 0:
            return self.base_offset, None
        i = bisect_right(self.offset_index.positions, position) - 1
        if i >= 0 and self.offset_index.positions[i] == position:
            return None, self.offset_index.offsets[i]
        return None, None

    def read(self, offset: int, max_bytes: int, max_offset: int | None = None,
             min_one: bool = True) -> list[tuple[int, bytes]] | None:
        """Raw batches starting with the one holding ``offset``: [(position, bytes)].

        None when no batch in this segment reaches ``offset`` (look in the next
        segment); an empty list when a limit stopped the read.

        Stops before ``max_bytes`` would be exceeded (but returns at least one
        batch when ``min_one``, so one big batch cannot block a reader), and
        before any batch that reaches ``max_offset``. Raises
        :class:`CorruptRecordError` naming the file and position of a damaged batch.
        """
        found = self.find(offset)
        if found is None:
            return None
        position, h = found
        end = self.size
        want = min(max(max_bytes, h.size), end - position)
        chunk = self.log.read(position, want)
        out: list[tuple[int, bytes]] = []
        total = 0
        pos = 0
        expected = h.base_offset
        while position + pos < end:
            if pos + HEADER_SIZE > len(chunk):
                break
            base, length, magic, last_delta = _SCAN.unpack_from(chunk, pos)
            size = length + 12
            last = base + last_delta
            if magic != 2 or length < HEADER_SIZE - 12 or size > end - position - pos or last_delta < 0 \
                    or base < self.base_offset or last >= self.next_offset:
                h = read_header(chunk, pos)          # find the precise reason
                problem = check_header(h, end - position - pos)
                if problem:
                    raise CorruptRecordError(problem, self.file_name, position + pos)
                self._check_within(h, position + pos)
            if self.contiguous and out and base != expected:
                raise CorruptRecordError(f"batch base offset {base} does not continue the log "
                                         f"(expected {expected})", self.file_name, position + pos)
            expected = last + 1
            if max_offset is not None and last >= max_offset:
                break
            if total + size > max_bytes and (out or not min_one):
                break
            if pos + size > len(chunk):
                if out:
                    break
                chunk = self.log.read(position, size)    # a single batch bigger than max_bytes
            out.append((position + pos, chunk[pos:pos + size] if (pos or size != len(chunk)) else chunk))
            total += size
            pos += size
        return out

    def batch_headers(self, start_position: int = 0) -> Iterator[tuple[int, BatchHeader]]:
        """(position, header) of every batch from ``start_position`` on (no CRC check)."""
        position = start_position
        end = self.size
        while position < end:
            h = self._header_at(position)
            yield position, h
            position += h.size

    def batches(self, start_position: int = 0, verify_crc: bool = True) -> Iterator[RecordBatch]:
        """Every batch, decoded (records lazily)."""
        for position, h in self.batch_headers(start_position):
            yield RecordBatch.decode(self.log.read(position, h.size), verify_crc=verify_crc,
                                     file=self.file_name)

    def find_offset_by_timestamp(self, timestamp: int, starting_offset: int) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record >= ``starting_offset`` with timestamp >= ``timestamp``."""
        _, ts_offset = self.time_index.lookup(timestamp)
        start = self.index_lookup(self.offset_index, max(ts_offset, starting_offset))
        for position, h in self.batch_headers(start):
            if h.max_timestamp >= timestamp and h.last_offset >= starting_offset:
                batch = RecordBatch.decode(self.log.read(position, h.size), file=self.file_name)
                if batch.is_control:
                    continue
                for r in batch.records:
                    if r.timestamp >= timestamp and r.offset >= starting_offset:
                        return r.offset, r.timestamp
        return None

    # -- truncation and recovery ---------------------------------------------------------
    def truncate_to(self, offset: int) -> int:
        """Remove everything at offsets >= ``offset``; return the bytes removed.

        A batch that straddles ``offset`` is rewritten holding only its records
        below ``offset`` (same base offset, producer fields and epoch).
        """
        found = self.find(offset)
        if found is None:
            return 0
        position, h = found
        before = self.size
        keep_batch = None
        if h.base_offset < offset:
            batch = RecordBatch.decode(self.log.read(position, h.size), file=self.file_name)
            kept = [r for r in batch.records if r.offset < offset]
            if kept:
                keep_batch = batch.with_records(kept)
        self.offset_index.truncate_to(offset)
        self.time_index.truncate_to(offset)
        self.log.truncate(position)
        if keep_batch is not None:
            data = keep_batch.encode()
            self.log.append(data)
        self.scan(self._last_indexed_position())
        if self.time_index.offsets and self.time_index.offsets[-1] >= self.next_offset:
            self.time_index.truncate_to(self.next_offset)
        return before - self.size

    def _last_indexed_position(self) -> int:
        return self.offset_index.positions[-1] if len(self.offset_index) else 0

    def scan(self, start_position: int = 0) -> None:
        """Recompute next offset, max timestamp and index bookkeeping from the batches.

        Starts at ``start_position`` (a batch boundary whose state the indexes
        already cover) and reads only headers.
        """
        if start_position == 0:
            self.max_timestamp = NO_TIMESTAMP
            self.offset_of_max_timestamp = self.base_offset
            self.next_offset = self.base_offset
        else:
            # The time index's last entry is the max timestamp of every batch up to
            # the last offset-index entry (both are appended together).
            self.max_timestamp = self.time_index.last_timestamp
            self.offset_of_max_timestamp = self.time_index.offsets[-1] if len(self.time_index) \
                else self.base_offset
        self.first_batch_timestamp = None
        if self.size > 0:
            self.first_batch_timestamp = self._header_at(0).max_timestamp
        last_index_pos = self._last_indexed_position()
        for position, h in self.batch_headers(start_position):
            if h.max_timestamp > self.max_timestamp:
                self.max_timestamp = h.max_timestamp
                self.offset_of_max_timestamp = h.last_offset
            self.next_offset = h.next_offset
        self.bytes_since_last_index_entry = self.size - last_index_pos

    def check_indexes(self) -> str | None:
        """Load both indexes and check them against the log; why they are unusable, or None."""
        problem = self.offset_index.load()
        if problem:
            return f"{self.name}.index: {problem}"
        size = self.size
        for off, pos in self.offset_index:
            if pos >= size:
                return f"{self.name}.index: entry ({off}, {pos}) points past the end of the log ({size} bytes)"
            try:
                h = self._header_at(pos)
            except CorruptRecordError as exc:
                return f"{self.name}.index: entry ({off}, {pos}) does not point at a batch ({exc.reason})"
            if h.last_offset != off:
                return (f"{self.name}.index: entry ({off}, {pos}) points at a batch whose last offset "
                        f"is {h.last_offset}")
        problem = self.time_index.load()
        if problem:
            return f"{self.name}.timeindex: {problem}"
        return None

    def _batch_problem(self, position: int, size: int, expected_next: int, previous_epoch: int,
                       next_base: int | None, verify_crc: bool) -> tuple[BatchHeader | None, str | None]:
        """(header, why the batch at ``position`` is invalid or None): the checks of :meth:`recover`."""
        raw = self.log.read(position, HEADER_SIZE)
        if len(raw) < HEADER_SIZE:
            return None, f"only {len(raw)} bytes left, less than a batch header (a torn write)"
        h = read_header(raw)
        problem = check_header(h, size - position)
        if problem is None and h.base_offset < expected_next:
            problem = (f"batch base offset {h.base_offset} is below the expected "
                       f"{expected_next} (offsets must increase)")
        if problem is None and self.contiguous and h.base_offset != expected_next:
            problem = (f"batch base offset {h.base_offset} leaves a gap after {expected_next - 1} "
                       f"in a log that is never compacted")
        if problem is None and h.partition_leader_epoch < previous_epoch:
            problem = (f"leader epoch {h.partition_leader_epoch} is below the previous batch's "
                       f"{previous_epoch} (epochs never decrease along a log)")
        if problem is None and h.last_offset - self.base_offset > INT32_MAX:
            problem = f"offset {h.last_offset} too far from segment base {self.base_offset}"
        if problem is None and next_base is not None and h.last_offset >= next_base:
            problem = (f"batch offsets {h.base_offset}..{h.last_offset} reach into the next segment, "
                       f"which starts at {next_base}")
        if problem is None and verify_crc:
            data = self.log.read(position, h.size)
            actual = crc32c(memoryview(data)[21:])
            if actual != h.crc:
                problem = f"CRC-32C mismatch: stored {h.crc:#010x}, computed {actual:#010x}"
        return h, problem

    def first_invalid_batch(self, verify_crc: bool = False,
                            next_base: int | None = None) -> tuple[int, str] | None:
        """(position, why) of the first batch :meth:`recover` would cut at, or None; changes nothing.

        Without ``verify_crc`` only the headers are read, and the CRC of the last
        batch alone: cheap enough to run on every open, and it catches damage to
        sizes, offsets and epochs, and to the last batch that sets the end offset.
        """
        size = self.size
        position = 0
        last = None
        expected, epoch = self.base_offset, -1
        while position < size:
            h, problem = self._batch_problem(position, size, expected, epoch, next_base, verify_crc)
            if problem is not None:
                return position, problem
            assert h is not None
            last = position, h
            expected, epoch = h.next_offset, max(epoch, h.partition_leader_epoch)
            position += h.size
        if last is not None and not verify_crc:
            # The last batch decides where the segment (and perhaps the log) ends, and nothing after
            # it checks its offsets: its CRC, which covers last_offset_delta, is checked too.
            position, h = last
            actual = crc32c(memoryview(self.log.read(position, h.size))[21:])
            if actual != h.crc:
                return position, f"CRC-32C mismatch: stored {h.crc:#010x}, computed {actual:#010x}"
        return None

    def recover(self, verify_crc: bool = True, previous_epoch: int = -1,
                next_base: int | None = None) -> SegmentRecovery:
        """Validate every batch; cut the file at the first bad one; rebuild both indexes.

        A batch is valid when its header is sane, it fits in the file, its
        CRC matches, its offsets continue the ones before it (without gaps
        when ``contiguous``), and its leader epoch is not below the previous
        batch's (``previous_epoch`` carries it over from the segment before),
        and it ends before ``next_base``, where the next segment starts.
        """
        report = SegmentRecovery(self.name + ".log")
        self.offset_index.reset()
        self.time_index.reset()
        self.max_timestamp = NO_TIMESTAMP
        self.offset_of_max_timestamp = self.base_offset
        self.first_batch_timestamp = None
        self.next_offset = self.base_offset
        size = self.size
        position = 0
        last_entry_position = 0
        while position < size:
            h, problem = self._batch_problem(position, size, self.next_offset, previous_epoch, next_base,
                                             verify_crc)
            if problem is not None:
                report.problem, report.position = problem, position
                report.truncated_bytes = size - position
                self.log.truncate(position)
                break
            assert h is not None
            if h.max_timestamp > self.max_timestamp:
                self.max_timestamp = h.max_timestamp
                self.offset_of_max_timestamp = h.last_offset
            if position - last_entry_position > self.index_interval_bytes:
                self.offset_index.append(h.last_offset, position)
                self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)
                last_entry_position = position
            if self.first_batch_timestamp is None:
                self.first_batch_timestamp = h.max_timestamp
            self.next_offset = h.next_offset
            previous_epoch = max(previous_epoch, h.partition_leader_epoch)
            report.batches += 1
            position += h.size
        report.valid_bytes = position
        report.last_epoch = previous_epoch
        self.bytes_since_last_index_entry = position - last_entry_position
        return report

    # -- lifecycle -------------------------------------------------------------------
    def sync(self) -> None:
        self.log.sync()
        self.offset_index.file.sync()
        self.time_index.file.sync()

    def close(self) -> None:
        for f in (self.log, self.offset_index.file, self.time_index.file):
            f.close()

    def delete(self) -> None:
        self.close()
        for ext in (".log", ".index", ".timeindex"):
            self.storage.delete(self.name + ext)
