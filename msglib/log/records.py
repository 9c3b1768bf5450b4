"""Records and record batches in Kafka's on-disk format (RecordBatch v2, "magic 2").

A partition's log is a sequence of *batches*; a batch holds one or more
*records*. The bytes below are exactly what Kafka writes to a ``.log`` file and
sends over the network, so a learner can hexdump a segment and read it.

Batch header (61 bytes, big-endian)::

    offset  size  field
         0     8  base_offset            first offset in the batch
         8     4  batch_length           bytes after this field
        12     4  partition_leader_epoch epoch of the leader that appended it
        16     1  magic                  2
        17     4  crc                    CRC-32C of bytes 21..end (unsigned)
        21     2  attributes             see the bits below
        23     4  last_offset_delta      last offset - base offset
        27     8  base_timestamp         first record's timestamp (or the delete horizon)
        35     8  max_timestamp
        43     8  producer_id            -1 when not idempotent
        51     2  producer_epoch
        53     4  base_sequence
        57     4  record_count
        61     .  records (compressed as a whole when a codec is set)

Attributes: bits 0-2 compression codec, bit 3 timestamp type (0 CreateTime,
1 LogAppendTime), bit 4 transactional, bit 5 control batch, bit 6 the base
timestamp holds a delete horizon (set by compaction, see ``cleaner.py``).

Each record (lengths and deltas are zigzag varints, see ``varint.py``)::

    length, attributes (1 byte, unused), timestamp_delta, offset_delta,
    key_length, key, value_length, value, header_count,
    then per header: key_length, key (UTF-8), value_length, value

A length of -1 means null (a record with a key and a null value is a
*tombstone*). Why CRC covers only attributes..end: the broker rewrites
``base_offset`` and ``partition_leader_epoch`` when it appends a batch, and that
must not invalidate the producer's checksum.
"""
from __future__ import annotations

import gzip
import struct
import zlib
from collections import namedtuple
from operator import itemgetter
from enum import IntEnum
from typing import Any, Iterable, Iterator, Sequence

from .crc import crc32c
from .errors import (CorruptRecordError, InvalidArgumentError, RecordTypeError, UnsupportedCompressionError,
                     check_int)
from .varint import VARINT, decode_varint, encode_varint, varint

MAGIC = 2
NO_TIMESTAMP = -1
NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
NO_SEQUENCE = -1
NO_PARTITION_LEADER_EPOCH = -1
INT16_MAX = 2**15 - 1
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
MIN_RECORD_SIZE = 7        # length, attributes, timestamp delta, offset delta, key, value, header count

HEADER = struct.Struct(">qiibIhiqqqhii")
HEADER_SIZE = HEADER.size  # 61
LOG_OVERHEAD = 12          # base_offset + batch_length: the part outside batch_length
CRC_OFFSET = 17
ATTRIBUTES_OFFSET = 21     # the CRC covers from here to the end of the batch
LENGTH_OFFSET = 8
EPOCH_OFFSET = 12

COMPRESSION_MASK = 0x07
TIMESTAMP_TYPE_BIT = 0x08
TRANSACTIONAL_BIT = 0x10
CONTROL_BIT = 0x20
DELETE_HORIZON_BIT = 0x40


class Compression(IntEnum):
    """Codec ids stored in the low 3 attribute bits."""

    NONE = 0
    GZIP = 1
    SNAPPY = 2
    LZ4 = 3
    ZSTD = 4


class TimestampType(IntEnum):
    CREATE_TIME = 0      # the producer's clock
    LOG_APPEND_TIME = 1  # the broker's clock at append


class ControlType(IntEnum):
    """The key of a control record: what a transaction marker says."""

    ABORT = 0
    COMMIT = 1


# --------------------------------------------------------------------------- records
class Record(tuple):
    """One record: an offset in its partition, a timestamp, a key, a value, headers.

    ``key``/``value`` are ``bytes`` or ``None`` (a null value with a key is a
    tombstone: "delete this key" for compacted topics). ``headers`` is a tuple of
    ``(str, bytes | None)`` pairs. ``offset`` is -1 until the log assigns one.

    A Record is an immutable tuple ``(key, value, timestamp, headers, offset)``:
    reading a log creates millions of them, and a tuple is the cheapest
    Python object that can hold five fields.

    Raises :class:`InvalidArgumentError` for a timestamp that is not None,
    -1 or 0..2**63-1 ms (Kafka's producer refuses negative timestamps), an
    offset that is not -1..2**63-1, or headers that are not ``(str, bytes |
    None)`` pairs. Keys and values are checked when the record is encoded
    (:class:`RecordTypeError`).
    """

    __slots__ = ()

    def __new__(cls, key: bytes | None = None, value: bytes | None = None, timestamp: int | None = None,
                headers: Sequence[tuple[str, bytes | None]] = (), offset: int = -1) -> "Record":
        # The common case (int fields in range, no headers) is checked inline: producers build millions.
        if headers or type(offset) is not int or not -1 <= offset <= INT64_MAX or (
                timestamp is not None and (type(timestamp) is not int or not -1 <= timestamp <= INT64_MAX)):
            timestamp, headers, offset = _check_record_fields(timestamp, headers, offset)
        return _new_record(cls, (key, value, timestamp, () if not headers else headers, offset))

    key = property(itemgetter(0), doc="bytes or None")
    value = property(itemgetter(1), doc="bytes, or None for a tombstone")
    timestamp = property(itemgetter(2), doc="ms since the epoch (None until set)")
    headers = property(itemgetter(3), doc="tuple of (str, bytes | None)")
    offset = property(itemgetter(4), doc="the record's offset in its partition (-1 until appended)")

    @property
    def is_tombstone(self) -> bool:
        return self[1] is None

    def replace(self, **changes: Any) -> "Record":
        """A copy with some fields changed: ``r.replace(offset=5)``."""
        fields = dict(zip(("key", "value", "timestamp", "headers", "offset"), self))
        fields.update(changes)
        return Record(**fields)

    def __getnewargs__(self) -> tuple:
        return tuple(self)

    def __repr__(self) -> str:
        hdr = f", headers={self[3]!r}" if self[3] else ""
        return (f"Record(offset={self[4]}, timestamp={self[2]}, "
                f"key={self[0]!r}, value={self[1]!r}{hdr})")


_new_record = tuple.__new__


def _check_record_fields(timestamp: Any, headers: Any, offset: Any) -> tuple[int | None, tuple, int]:
    """The slow path of ``Record(...)``: check each field, name the bad one."""
    offset = check_int("Record offset", offset, -1, INT64_MAX, "an int from -1 (not yet appended) to 2**63-1")
    if timestamp is not None:
        timestamp = check_int("Record timestamp", timestamp, -1, INT64_MAX,
                              "None, -1 (no timestamp) or milliseconds since the epoch (0..2**63-1); Kafka "
                              "refuses other negative timestamps")
    if isinstance(headers, (str, bytes, bytearray)) or not isinstance(headers, Iterable):
        raise InvalidArgumentError("Record headers", headers, "a sequence of (str, bytes | None) pairs")
    checked = []
    for header in headers:
        if not isinstance(header, tuple) or len(header) != 2:
            raise InvalidArgumentError("a Record header", header, "a (str, bytes | None) pair")
        hkey, hvalue = header
        if type(hkey) is not str:
            raise InvalidArgumentError("a Record header key", hkey, "a str (e.g. 'trace-id')")
        try:
            hkey.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidArgumentError("a Record header key", hkey, "text that UTF-8 can encode "
                                       "(no lone surrogates)") from None
        if hvalue is not None and type(hvalue) is not bytes:
            hvalue = _check_bytes("header value", hvalue)
        checked.append((hkey, hvalue))
    return timestamp, tuple(checked), offset
# UNZIGZAG[z] = the signed value of the zigzag-encoded z, for every 1- and 2-byte varint.
UNZIGZAG = [(z >> 1) ^ -(z & 1) for z in range(1 << 14)]


def as_record(item: Any) -> Record:
    """Accept a Record, a ``(key, value)`` pair, or a bare value (bytes/None)."""
    if isinstance(item, Record):
        return item
    if isinstance(item, tuple) and len(item) == 2:
        return Record(item[0], item[1])
    return Record(None, item)


def _check_bytes(field: str, value: Any) -> bytes | None:
    if value is None or type(value) is bytes:
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise RecordTypeError(field, value)


def encode_records(records: Sequence[Record], base_offset: int, base_timestamp: int,
                   keep_offsets: bool = False) -> bytes:
    """Encode the records section (uncompressed).

    Offset deltas are 0, 1, 2... unless ``keep_offsets`` (compaction keeps each
    record's own offset, leaving gaps). Records without a timestamp must have
    been given one before this is called. Small varints come from the
    precomputed ``VARINT`` table: this loop is the producer's hot path.
    Raises :class:`RecordTypeError` for a key, value or header value that is not bytes.
    """
    parts: list[bytes] = []
    append = parts.append
    cache = VARINT
    lo, hi = -len(cache) // 2, len(cache) // 2
    join = b"".join
    for i, r in enumerate(records):
        key, value, timestamp, headers, offset = r
        if key is None:
            kpart = b"\x01"                      # varint(-1): null key
        else:
            if type(key) is not bytes:
                key = _check_bytes("key", key)
            n = len(key)
            kpart = (cache[n] if n < hi else encode_varint(n)) + key
        if value is None:
            vpart = b"\x01"
        else:
            if type(value) is not bytes:
                value = _check_bytes("value", value)
            n = len(value)
            vpart = (cache[n] if n < hi else encode_varint(n)) + value
        if headers:
            hparts = [varint(len(headers))]
            for hkey, hvalue in headers:
                hk = hkey.encode("utf-8")
                hparts.append(varint(len(hk)) + hk)
                hvalue = _check_bytes("header value", hvalue)
                hparts.append(b"\x01" if hvalue is None else varint(len(hvalue)) + hvalue)
            hpart = join(hparts)
        else:
            hpart = b"\x00"                      # zero headers
        delta = offset - base_offset if keep_offsets else i
        ts_delta = timestamp - base_timestamp
        body = join((b"\x00", cache[ts_delta] if lo <= ts_delta < hi else encode_varint(ts_delta),
                     cache[delta] if delta < hi else encode_varint(delta), kpart, vpart, hpart))
        n = len(body)
        append(cache[n] if n < hi else encode_varint(n))
        append(body)
    return join(parts)


def decode_records(payload: bytes, count: int, base_offset: int, base_timestamp: int,
                   log_append_time: int | None = None, last_offset_delta: int | None = None) -> list[Record]:
    """Decode ``count`` records from an uncompressed records section.

    Every length, count and varint is checked against the bytes that are
    actually there, so no input can make this loop run backwards or for ever:
    anything malformed raises :class:`CorruptRecordError` (a negative length
    other than -1 for null, a field running past its record, offset deltas
    that do not increase or pass ``last_offset_delta``, bytes left over...).
    """
    n = len(payload)
    if count < 0 or count * MIN_RECORD_SIZE > n:
        raise CorruptRecordError(f"record_count {count} cannot fit in {n} bytes of records "
                                 f"(each record takes at least {MIN_RECORD_SIZE})")
    max_delta = INT32_MAX if last_offset_delta is None else last_offset_delta
    records, _, _ = _walk_records(payload, count, base_offset, base_timestamp, max_delta, True)
    if log_append_time is not None:       # LogAppendTime: every record shows the broker's time
        new = _new_record
        records = [new(Record, (r[0], r[1], log_append_time, r[3], r[4])) for r in records]
    return records


def scan_records(payload: bytes, count: int, last_offset_delta: int, start: int = 0,
                 stop: int | None = None) -> int:
    """Check a records section as :func:`decode_records` does, without building Records; return the
    smallest timestamp delta.

    The log runs this on every batch it did not encode itself (Kafka's broker
    validates each record on append too), with the last offset delta required
    to be ``last_offset_delta``. The section is ``payload[start:stop]`` (the
    log passes a whole batch and its records' bounds: nothing is copied).
    Runs of records of one shape (see :func:`_scan_runs`) are checked a column
    at a time; anything else takes the record-by-record walk, which raises the
    same :class:`CorruptRecordError`s as :func:`decode_records`.
    """
    if type(payload) is not bytes:
        payload = bytes(payload)                  # a memoryview has no count/translate; bytearray is rare
    if stop is None:
        stop = len(payload)
    n = stop - start
    if count < 1 or count * MIN_RECORD_SIZE > n:
        raise CorruptRecordError(f"record_count {count} cannot fit in {n} bytes of records "
                                 f"(each record takes at least {MIN_RECORD_SIZE})")
    found = _scan_runs(payload, start, stop, count, last_offset_delta)
    if found is None:               # not one shape throughout, or bad: the walk says which record and why
        section = payload if start == 0 and stop == len(payload) else payload[start:stop]
        _, min_ts_delta, last = _walk_records(section, count, 0, 0, last_offset_delta, False)
    else:
        min_ts_delta, last = found
    if last != last_offset_delta:
        raise CorruptRecordError(f"the last record's offset delta is {last} but last_offset_delta "
                                 f"says {last_offset_delta}")
    return min_ts_delta


# Tables for _scan_runs: the zigzag-varint bytes of consecutive offset deltas (one byte for 0..63, two
# for 64..8191), and one-byte timestamp deltas mapped to delta + 64 (order kept; 0xFF: a longer varint).
_DELTA_1 = bytes(2 * d for d in range(64))
_DELTA_2_LOW = bytes((2 * d) & 0x7F | 0x80 for d in range(8192))
_DELTA_2_HIGH = bytes((2 * d) >> 7 for d in range(8192))
_TS_RANK = bytes(((z >> 1) ^ -(z & 1)) + 64 for z in range(128)) + b"\xff" * 128
_TS_LONG = b"\xff"
_TS_ZERO = b"\x40"
_TS_NOT_NEGATIVE = bytes(range(64, 256))


def _scan_runs(data: bytes, pos: int, stop: int, count: int,
               max_delta: int) -> tuple[int, int] | None:
    """Prove ``data[pos:stop]`` is ``count`` valid records without a Python step per record, or give up.

    Returns ``(smallest timestamp delta, last offset delta)`` exactly as the
    walk would, or None when it cannot prove the section valid (the caller
    then walks it record by record, which finds the fault or accepts it).

    A producer's batch is usually runs of records of one *shape*: the same
    length, key and value lengths, no headers, a one-byte timestamp delta,
    and offset deltas counting up by one in varints of one width (0..63 take
    one byte, 64..8191 two). The first record of a run is parsed field by
    field; the rest of the run then sits at a fixed stride, so each field is
    one strided slice of the bytes, compared in C: every length byte equal to
    the first record's, the offset-delta bytes equal to the expected
    consecutive varints, the timestamp-delta bytes all one-byte varints (their
    minimum taken through a translation table). Attribute bytes, keys and
    values are not interpreted by the walk either, so they are not read.
    """
    prev = -1
    min_ts = INT64_MAX
    zz = UNZIGZAG
    try:
        while count:
            b = data[pos]                                  # record length: one- or two-byte varint
            if b < 0x80:
                length, lv = zz[b], 1
            elif data[pos + 1] < 0x80:
                length, lv = zz[(b & 0x7F) | (data[pos + 1] << 7)], 2
            else:
                return None
            size = lv + length                             # the stride of this run
            first = prev + 1                               # offset deltas of the run: first, first + 1 ...
            if first < 64:
                width, runs_to = 1, 64
            elif first < 8192:
                width, runs_to = 2, 8192
            else:
                return None
            if length < MIN_RECORD_SIZE - 1 or pos + size > stop or first > max_delta \
                    or data[pos + lv + 1] >= 0x80:         # timestamp delta longer than one byte
                return None
            kpos = lv + 2 + width                          # key length, relative to the record
            b = data[pos + kpos]
            if b < 0x80:
                klen, kv = zz[b], 1
            elif data[pos + kpos + 1] < 0x80:
                klen, kv = zz[(b & 0x7F) | (data[pos + kpos + 1] << 7)], 2
            else:
                return None
            if klen < -1:
                return None
            vpos = kpos + kv + (klen if klen > 0 else 0)
            if vpos + 2 > size:
                return None
            b = data[pos + vpos]
            if b < 0x80:
                vlen, vv = zz[b], 1
            elif data[pos + vpos + 1] < 0x80:
                vlen, vv = zz[(b & 0x7F) | (data[pos + vpos + 1] << 7)], 2
            else:
                return None
            if vlen < -1 or vpos + vv + (vlen if vlen > 0 else 0) + 1 != size or data[pos + size - 1] != 0:
                return None                                # the fields must fill the record; no headers
            k = min(count, runs_to - first, max_delta - first + 1, (stop - pos) // size)
            end = pos + k * size
            # Every record of the run: the same length, key-length and value-length bytes, header count 0.
            for j in {0, lv - 1, kpos, kpos + kv - 1, vpos, vpos + vv - 1, size - 1}:
                column = data[pos + j:end:size]
                if column.count(data[pos + j:pos + j + 1]) != k:
                    return None
            # Offset deltas first..first+k-1, each in its shortest varint.
            o = pos + lv + 2
            if width == 1:
                if data[o:end:size] != _DELTA_1[first:first + k]:
                    return None
            elif data[o:end:size] != _DELTA_2_LOW[first:first + k] \
                    or data[o + 1:end:size] != _DELTA_2_HIGH[first:first + k]:
                return None
            ranks = data[pos + lv + 1:end:size].translate(_TS_RANK)
            if _TS_LONG in ranks:
                return None
            negative = ranks.translate(None, _TS_NOT_NEGATIVE)
            if negative:                                   # min() walks in Python: only where needed
                low = min(negative) - 64
            elif min_ts <= 0:
                low = 0
            else:
                low = 0 if _TS_ZERO in ranks else min(ranks) - 64
            if low < min_ts:
                min_ts = low
            prev = first + k - 1
            count -= k
            pos = end
    except IndexError:
        return None
    if pos != stop:
        return None
    return min_ts, prev


def _walk_records(payload: bytes, count: int, base_offset: int, base_timestamp: int, max_delta: int,
                  build: bool) -> tuple[list[Record], int, int]:
    """The one walk over a records section: ``(records built, or [] when not build; smallest timestamp
    delta; last offset delta)``. Checks every length against its record and the section.

    One-byte varints (the common case) and two-byte ones are decoded inline, longer ones by
    :func:`decode_varint`: this is the consumer's and the appending broker's hot path.
    """
    n = len(payload)
    records: list[Record] = []
    append = records.append
    new = _new_record
    zz = UNZIGZAG
    pos = 0
    previous_delta = -1
    min_ts_delta = INT64_MAX
    i = 0
    key = value = None
    headers: tuple = ()
    try:
        for i in range(count):
            b = payload[pos]                      # record length -> where the record ends
            if b < 0x80:
                length = zz[b]
                pos += 1
            elif payload[pos + 1] < 0x80:
                length = zz[(b & 0x7F) | (payload[pos + 1] << 7)]
                pos += 2
            else:
                length, pos = decode_varint(payload, pos)
            end = pos + length
            if length < MIN_RECORD_SIZE - 1 or end > n:
                raise CorruptRecordError(f"record #{i} claims {length} bytes but {n - pos} remain "
                                         f"(a record body takes {MIN_RECORD_SIZE - 1} to {n - pos} bytes)")
            b = payload[pos + 1]                  # skip the attributes byte (unused); timestamp delta
            if b < 0x80:
                ts_delta = zz[b]
                pos += 2
            else:
                ts_delta, pos = decode_varint(payload, pos + 1)
            if ts_delta < min_ts_delta:
                min_ts_delta = ts_delta
            b = payload[pos]                      # offset delta
            if b < 0x80:
                off_delta = zz[b]
                pos += 1
            elif payload[pos + 1] < 0x80:
                off_delta = zz[(b & 0x7F) | (payload[pos + 1] << 7)]
                pos += 2
            else:
                off_delta, pos = decode_varint(payload, pos)
            if off_delta <= previous_delta or off_delta > max_delta:
                raise CorruptRecordError(f"record #{i} has offset delta {off_delta}: deltas must increase "
                                         f"(previous {previous_delta}) and stay within 0..{max_delta} "
                                         f"(the batch's last_offset_delta)")
            previous_delta = off_delta
            b = payload[pos]                      # key length (-1, one byte 0x01: null)
            if b == 1:
                key = None
                pos += 1
            else:
                if b < 0x80:
                    klen = zz[b]
                    pos += 1
                elif payload[pos + 1] < 0x80:
                    klen = zz[(b & 0x7F) | (payload[pos + 1] << 7)]
                    pos += 2
                else:
                    klen, pos = decode_varint(payload, pos)
                if klen < -1 or pos + klen > end:
                    raise CorruptRecordError(f"record #{i} key length {klen} does not fit in the record")
                if klen == -1:
                    key = None
                else:
                    if build:
                        key = payload[pos:pos + klen]
                    pos += klen
            b = payload[pos]                      # value length (-1: null)
            if b < 0x80:
                vlen = zz[b]
                pos += 1
            elif payload[pos + 1] < 0x80:
                vlen = zz[(b & 0x7F) | (payload[pos + 1] << 7)]
                pos += 2
            else:
                vlen, pos = decode_varint(payload, pos)
            if vlen < -1 or pos + vlen > end:
                raise CorruptRecordError(f"record #{i} value length {vlen} does not fit in the record")
            if vlen == -1:
                value = None
            else:
                if build:
                    value = payload[pos:pos + vlen]
                pos += vlen
            if payload[pos] == 0:                 # header count: usually zero
                headers = ()
                pos += 1
            else:
                hcount, pos = decode_varint(payload, pos)
                if hcount < 0 or 2 * hcount > end - pos:
                    raise CorruptRecordError(f"record #{i} header count {hcount} does not fit in the record "
                                             f"(each header takes at least 2 bytes)")
                hlist = []
                for _h in range(hcount):
                    hklen, pos = decode_varint(payload, pos)
                    if hklen < 0 or pos + hklen > end:
                        raise CorruptRecordError(f"record #{i} header key length {hklen} does not fit in "
                                                 f"the record")
                    hkey = payload[pos:pos + hklen].decode("utf-8")
                    pos += hklen
                    hvlen, pos = decode_varint(payload, pos)
                    if hvlen < -1 or pos + hvlen > end:
                        raise CorruptRecordError(f"record #{i} header value length {hvlen} does not fit in "
                                                 f"the record")
                    if hvlen == -1:
                        hvalue = None
                    else:
                        hvalue = payload[pos:pos + hvlen] if build else None
                        pos += hvlen
                    hlist.append((hkey, hvalue))
                headers = tuple(hlist)
            if pos != end:
                raise CorruptRecordError(f"record #{i} length {length} does not match its fields")
            if build:
                append(new(Record, (key, value, base_timestamp + ts_delta, headers, base_offset + off_delta)))
    except (IndexError, ValueError, UnicodeDecodeError) as exc:
        raise CorruptRecordError(f"cannot decode record #{i}: {exc}") from None
    if pos != n:
        raise CorruptRecordError(f"{n - pos} bytes left over after {count} records")
    return records, min_ts_delta, previous_delta


# --------------------------------------------------------------------------- compression
MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024   # a gzip batch that inflates past this is refused (a "zip bomb")


def _gunzip(data: bytes) -> bytes:
    """gzip.decompress, but refusing output past MAX_DECOMPRESSED_BYTES instead of filling memory."""
    out = bytearray()
    while data:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out += d.decompress(data, MAX_DECOMPRESSED_BYTES - len(out) + 1)
        if len(out) > MAX_DECOMPRESSED_BYTES:
            raise CorruptRecordError(f"gzip records inflate to more than {MAX_DECOMPRESSED_BYTES} bytes")
        if not d.eof:
            raise CorruptRecordError("gzip records end in the middle of the compressed stream")
        data = d.unused_data
    return bytes(out)


def _codec(compression: int) -> tuple[Any, Any]:
    """(compress, decompress) functions for a codec id."""
    if compression == Compression.GZIP:
        # mtime=0 makes the bytes deterministic (same batch -> same CRC).
        return (lambda data: gzip.compress(data, compresslevel=6, mtime=0)), _gunzip
    if compression == Compression.LZ4:
        try:
            import lz4.frame  # type: ignore[import-not-found]
        except ImportError:
            raise UnsupportedCompressionError("lz4 compression needs the lz4 package: pip install lz4") from None
        # Kafka's Java client reads LZ4 frames with independent blocks and no content size.
        return (lambda data: lz4.frame.compress(data, block_linked=False, store_size=False)), lz4.frame.decompress
    if compression == Compression.ZSTD:
        try:
            import zstandard  # type: ignore[import-not-found]
        except ImportError:
            raise UnsupportedCompressionError(
                "zstd compression needs the zstandard package: pip install zstandard") from None
        return (zstandard.ZstdCompressor().compress,
                lambda data: zstandard.ZstdDecompressor().decompressobj().decompress(data))
    if compression == Compression.SNAPPY:
        raise UnsupportedCompressionError(
            "snappy (Kafka's xerial framing) is not implemented in msglib; use gzip, lz4 or zstd")
    raise UnsupportedCompressionError(f"unknown compression codec id {compression}; valid ids are 0..4")


def compress(compression: int, data: bytes) -> bytes:
    """``data`` compressed with codec ``compression``; raises :class:`UnsupportedCompressionError`
    for a codec whose package is missing (lz4, zstandard) or that msglib lacks (snappy)."""
    return data if compression == Compression.NONE else _codec(compression)[0](data)


def decompress(compression: int, data: bytes) -> bytes:
    """``data`` decompressed; raises :class:`CorruptRecordError` for bytes the codec cannot read
    and :class:`UnsupportedCompressionError` as :func:`compress` does."""
    if compression == Compression.NONE:
        return data
    try:
        return _codec(compression)[1](data)
    except (UnsupportedCompressionError, CorruptRecordError):
        raise
    except Exception as exc:  # noqa: BLE001 - any codec failure means corrupt data
        raise CorruptRecordError(f"cannot decompress {Compression(compression).name} records: {exc}") from None


# --------------------------------------------------------------------------- batch header
class BatchHeader(namedtuple("BatchHeader", "base_offset batch_length partition_leader_epoch magic crc "
                                            "attributes last_offset_delta base_timestamp max_timestamp "
                                            "producer_id producer_epoch base_sequence record_count")):
    """The 61-byte header of a batch, parsed without touching its records."""

    __slots__ = ()

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def size(self) -> int:
        """Total bytes of the batch on disk."""
        return self.batch_length + LOG_OVERHEAD

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_BIT)

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_BIT)


def read_header(data: bytes, position: int = 0) -> BatchHeader:
    """Parse the batch header at ``position`` (no CRC check)."""
    return BatchHeader._make(HEADER.unpack_from(data, position))


def check_header(h: BatchHeader, available: int | None = None) -> str | None:
    """Why these header fields cannot be a valid batch, or None if they can.

    ``available`` is how many bytes the file has from the batch's start: a
    batch that claims more is a torn write.
    """
    if h.magic != MAGIC:
        return f"magic byte is {h.magic}, expected {MAGIC} (not a RecordBatch v2, or not a batch boundary)"
    if h.batch_length < HEADER_SIZE - LOG_OVERHEAD:
        return f"batch_length {h.batch_length} is smaller than a batch header"
    if available is not None and h.size > available:
        return f"batch claims {h.size} bytes but only {available} remain (a torn write)"
    if h.record_count < 0 or h.last_offset_delta < 0 or h.base_offset < 0:
        return (f"negative field: base_offset={h.base_offset}, last_offset_delta={h.last_offset_delta}, "
                f"record_count={h.record_count}")
    if h.record_count > h.last_offset_delta + 1:
        return (f"record_count {h.record_count} is more than the {h.last_offset_delta + 1} offsets "
                f"its last_offset_delta {h.last_offset_delta} leaves room for")
    if h.base_offset > INT64_MAX - h.last_offset_delta - 1:
        return f"base_offset {h.base_offset} + last_offset_delta {h.last_offset_delta} overflows an int64"
    if h.attributes & COMPRESSION_MASK > Compression.ZSTD:
        return f"unknown compression codec id {h.attributes & COMPRESSION_MASK}"
    return None


def batch_crc(data: bytes, position: int = 0, size: int | None = None) -> int:
    """The CRC-32C a batch should carry: over its attributes..end."""
    if size is None:
        size = read_header(data, position).size
    if position == 0 and size == len(data):
        return crc32c(memoryview(data)[ATTRIBUTES_OFFSET:])
    return crc32c(memoryview(data)[position + ATTRIBUTES_OFFSET:position + size])


def check_batch_records(data: bytes, h: BatchHeader, leader: bool = False) -> None:
    """:meth:`RecordBatch.check_records` on one batch's bytes (``data`` is exactly the batch, ``h`` its
    header), without building a RecordBatch or copying its records: the log's append path.

    An uncompressed data batch is scanned in place; a compressed or control
    batch goes through :meth:`RecordBatch.check_records`. Raises the same
    :class:`CorruptRecordError`s, naming the batch's offsets.
    """
    if h.attributes & (COMPRESSION_MASK | CONTROL_BIT):
        RecordBatch.decode(data, verify_crc=False).check_records(leader)
        return
    count, last_delta = h.record_count, h.last_offset_delta
    try:
        if leader and count != last_delta + 1:
            raise CorruptRecordError(f"a producer batch with {count} records has offset deltas 0..{count - 1}, "
                                     f"but last_offset_delta is {last_delta}")
        lowest = h.base_timestamp + scan_records(data, count, last_delta, HEADER_SIZE, len(data))
        if not h.attributes & TIMESTAMP_TYPE_BIT and lowest < -1:
            raise CorruptRecordError(f"a record has timestamp {lowest}: Kafka refuses negative timestamps "
                                     f"other than -1 (none)")
    except CorruptRecordError as exc:
        raise CorruptRecordError(f"batch of offsets {h.base_offset}..{h.base_offset + last_delta}: "
                                 f"{exc.reason}") from None


# --------------------------------------------------------------------------- batches
class RecordBatch:
    """A batch of records: the unit the log appends, stores, replicates and reads.

    Build one from records::

        RecordBatch([Record(b"k", b"v"), (b"k2", b"v2"), b"just a value"], timestamp=1000)

    or parse Kafka bytes with :meth:`decode`. ``records`` is decoded lazily on
    first access, so reading a log and looking only at headers costs nothing
    per record.
    """

    __slots__ = ("base_offset", "partition_leader_epoch", "attributes", "last_offset_delta",
                 "base_timestamp", "max_timestamp", "producer_id", "producer_epoch", "base_sequence",
                 "record_count", "crc", "_payload", "_records", "_records_base", "_raw", "source", "_built")

    def __init__(self, records: Iterable[Any] = (), *, base_offset: int = 0,
                 partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH,
                 producer_id: int = NO_PRODUCER_ID, producer_epoch: int = NO_PRODUCER_EPOCH,
                 base_sequence: int = NO_SEQUENCE, is_transactional: bool = False, is_control: bool = False,
                 compression: int = Compression.NONE, timestamp: int | None = None,
                 timestamp_type: int = TimestampType.CREATE_TIME, delete_horizon_ms: int | None = None,
                 keep_offsets: bool = False) -> None:
        """Encode ``records`` (Record objects, ``(key, value)`` pairs or bare values) as one batch.

        Raises :class:`InvalidArgumentError` (a ValueError and TypeError) for no
        records or a field out of its Kafka range (offsets and the producer id
        int64, the leader epoch and sequence int32, the producer epoch int16,
        -1 meaning "none"; timestamps -1 or >= 0; a codec id 0..4), and
        :class:`RecordTypeError` for a key, value or header value that is not bytes.
        """
        recs = [r if type(r) is Record else as_record(r) for r in records]
        if not recs:
            raise InvalidArgumentError("records", recs, "at least one record (a RecordBatch cannot be empty)")
        _check_batch_fields(base_offset, partition_leader_epoch, producer_id, producer_epoch, base_sequence,
                            compression, timestamp, timestamp_type, delete_horizon_ms)
        # Records without a timestamp take the batch's (the producer's "now").
        timestamps = [r[2] for r in recs]
        if None in timestamps:
            fill = NO_TIMESTAMP if timestamp is None else timestamp
            recs = [r if r[2] is not None else Record(r[0], r[1], fill, r[3], r[4]) for r in recs]
            timestamps = [r[2] for r in recs]
        self.base_offset = base_offset
        self.partition_leader_epoch = partition_leader_epoch
        self.producer_id = producer_id
        self.producer_epoch = producer_epoch
        self.base_sequence = base_sequence
        attrs = int(compression) & COMPRESSION_MASK
        if timestamp_type == TimestampType.LOG_APPEND_TIME:
            attrs |= TIMESTAMP_TYPE_BIT
        if is_transactional:
            attrs |= TRANSACTIONAL_BIT
        if is_control:
            attrs |= CONTROL_BIT
        first_ts = timestamps[0]
        self.max_timestamp = max(timestamps)
        base_ts = delete_horizon_ms if delete_horizon_ms is not None else first_ts
        if not (-INT64_MAX - 1 <= min(timestamps) - base_ts and self.max_timestamp - base_ts <= INT64_MAX):
            raise InvalidArgumentError("record timestamps", (min(timestamps), self.max_timestamp),
                                       f"within 2**63-1 ms of the batch's base timestamp {base_ts} "
                                       f"(Kafka stores each as a 64-bit delta)")
        if keep_offsets:
            offsets = [r[4] for r in recs]
            if offsets[0] < base_offset or any(a >= b for a, b in zip(offsets, offsets[1:])) \
                    or offsets[-1] - base_offset > INT32_MAX:
                raise InvalidArgumentError("record offsets", offsets[:5],
                                           f"increasing offsets from base_offset {base_offset} on, within "
                                           f"2**31-1 of it (keep_offsets=True keeps each record's own offset)")
        if delete_horizon_ms is not None:
            attrs |= DELETE_HORIZON_BIT
            self.base_timestamp = delete_horizon_ms
        else:
            self.base_timestamp = first_ts
        self.attributes = attrs
        if keep_offsets:
            self.last_offset_delta = recs[-1].offset - base_offset
        else:
            self.last_offset_delta = len(recs) - 1
        self.record_count = len(recs)
        payload = encode_records(recs, base_offset, self.base_timestamp, keep_offsets)
        self._payload = compress(attrs & COMPRESSION_MASK, payload)
        self.crc = None
        self._raw = None
        self._records = recs if keep_offsets else None  # else decoded on demand, with real offsets
        self._records_base = base_offset
        self.source: tuple[str | None, int] | None = None  # (file, position) when decoded from a log
        self._built: tuple | None = self._header_fields()  # what the encoder made, to spot later edits

    # -- the Kafka byte format ---------------------------------------------------------
    @classmethod
    def decode(cls, data: bytes, position: int = 0, *, verify_crc: bool = True,
               file: str | None = None) -> "RecordBatch":
        """Parse the batch at ``position`` of ``data``; check its CRC unless told not to.

        Raises :class:`CorruptRecordError` naming ``file`` and ``position`` for
        anything that is not a well-formed batch header, size or CRC (the
        records themselves are checked when :attr:`records` first decodes them),
        and :class:`InvalidArgumentError` when ``data`` is not bytes.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidArgumentError("data", data, "bytes (an encoded batch)")
        if len(data) - position < HEADER_SIZE:
            raise CorruptRecordError(f"only {len(data) - position} bytes, a batch header needs {HEADER_SIZE}",
                                     file, position)
        h = read_header(data, position)
        problem = check_header(h, len(data) - position)
        if problem:
            raise CorruptRecordError(problem, file, position)
        end = position + h.size
        if verify_crc:
            actual = crc32c(memoryview(data)[position + ATTRIBUTES_OFFSET:end])
            if actual != h.crc:
                raise CorruptRecordError(f"CRC-32C mismatch: stored {h.crc:#010x}, computed {actual:#010x}",
                                         file, position)
        self = cls.__new__(cls)
        self.base_offset = h.base_offset
        self.partition_leader_epoch = h.partition_leader_epoch
        self.attributes = h.attributes
        self.last_offset_delta = h.last_offset_delta
        self.base_timestamp = h.base_timestamp
        self.max_timestamp = h.max_timestamp
        self.producer_id = h.producer_id
        self.producer_epoch = h.producer_epoch
        self.base_sequence = h.base_sequence
        self.record_count = h.record_count
        self.crc = h.crc
        self._payload = bytes(data[position + HEADER_SIZE:end])
        self._records = None
        self._records_base = h.base_offset
        self._raw = bytes(data[position:end]) if (position or end != len(data) or type(data) is not bytes) \
            else data
        self.source = (file, position) if file is not None else None
        self._built = None
        return self

    def encode(self) -> bytes:
        """The batch as Kafka bytes (header + CRC-32C + records)."""
        raw = self._raw
        if raw is not None:
            stored = HEADER.unpack_from(raw)
            if stored[0] == self.base_offset and stored[2] == self.partition_leader_epoch \
                    and stored[5:] == self._header_fields():
                return raw  # unchanged since it was last encoded: reuse the bytes and CRC
        batch_length = HEADER_SIZE - LOG_OVERHEAD + len(self._payload)
        head = HEADER.pack(self.base_offset, batch_length, self.partition_leader_epoch, MAGIC, 0,
                           *self._header_fields())
        data = bytearray(head)
        data += self._payload
        crc = crc32c(memoryview(data)[ATTRIBUTES_OFFSET:])
        struct.pack_into(">I", data, CRC_OFFSET, crc)
        self.crc = crc
        self._raw = raw = bytes(data)
        return raw

    @property
    def built_by_encoder(self) -> bool:
        """True when msglib encoded these records itself and no header field was changed since.

        Such a batch is valid by construction, so the log need not decode it
        again on append; bytes from elsewhere are checked record by record.
        """
        return self._built is not None and self._built == self._header_fields()

    def _header_fields(self) -> tuple:
        return (self.attributes, self.last_offset_delta, self.base_timestamp, self.max_timestamp,
                self.producer_id, self.producer_epoch, self.base_sequence, self.record_count)

    # -- records -----------------------------------------------------------------------
    @property
    def records(self) -> list[Record]:
        """The records, with absolute offsets and timestamps (decoded once, then cached).

        Raises :class:`CorruptRecordError` naming this batch (its offsets, and its
        file and position when it was read from a log) if the records section is
        malformed, and :class:`UnsupportedCompressionError` for a codec that is not installed.
        """
        if self._records is not None and self._records_base != self.base_offset:
            shift = self.base_offset - self._records_base  # the log re-stamped base_offset
            self._records = [Record(r.key, r.value, r.timestamp, r.headers, r.offset + shift)
                             for r in self._records]
            self._records_base = self.base_offset
        if self._records is None:
            self._records_base = self.base_offset
            payload = decompress(self.compression, self._payload)
            lat = self.max_timestamp if self.attributes & TIMESTAMP_TYPE_BIT else None
            try:
                self._records = decode_records(payload, self.record_count, self.base_offset,
                                               self.base_timestamp, lat, self.last_offset_delta)
            except CorruptRecordError as exc:
                raise self._corrupt(exc.reason) from None
        return self._records

    def _corrupt(self, reason: str) -> CorruptRecordError:
        """A CorruptRecordError that names this batch."""
        file, position = self.source if self.source is not None else (None, None)
        return CorruptRecordError(f"batch of offsets {self.base_offset}..{self.last_offset}: {reason}",
                                  file, position)

    def check_records(self, leader: bool = False) -> None:
        """Check that the records section holds exactly what the header says (the log does it on append).

        Decodes every record: ``record_count`` records must be there, their
        offset deltas must increase up to ``last_offset_delta`` (and be exactly
        0..n-1 for a producer's batch, ``leader=True``), the last one must be
        ``last_offset_delta``, their CreateTime timestamps -1 or >= 0, and a
        control batch must hold one valid COMMIT/ABORT marker. Raises
        :class:`CorruptRecordError` naming the batch otherwise.
        """
        if leader and self.record_count != self.last_offset_delta + 1:
            raise self._corrupt(f"a producer batch with {self.record_count} records has offset deltas 0.."
                                f"{self.record_count - 1}, but last_offset_delta is {self.last_offset_delta}")
        if self.is_control:
            self.control_type                          # decodes its one record, and checks it
        try:
            payload = decompress(self.compression, self._payload)
            min_ts_delta = scan_records(payload, self.record_count, self.last_offset_delta)
        except CorruptRecordError as exc:
            raise self._corrupt(exc.reason) from None
        lowest = self.base_timestamp + min_ts_delta
        if not self.attributes & TIMESTAMP_TYPE_BIT and lowest < -1:
            raise self._corrupt(f"a record has timestamp {lowest}: Kafka refuses negative timestamps other "
                                f"than -1 (none)")

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def __len__(self) -> int:
        return self.record_count

    # -- derived fields ------------------------------------------------------------------
    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def size_in_bytes(self) -> int:
        return HEADER_SIZE + len(self._payload)

    @property
    def compression(self) -> Compression:
        return Compression(self.attributes & COMPRESSION_MASK)

    @property
    def timestamp_type(self) -> TimestampType:
        return TimestampType((self.attributes & TIMESTAMP_TYPE_BIT) >> 3)

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_BIT)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_BIT)

    @property
    def delete_horizon_ms(self) -> int | None:
        """When compaction may drop this batch's tombstones (None: not stamped yet)."""
        return self.base_timestamp if self.attributes & DELETE_HORIZON_BIT else None

    @property
    def last_sequence(self) -> int:
        if self.base_sequence == NO_SEQUENCE:
            return NO_SEQUENCE
        return (self.base_sequence + self.last_offset_delta) % (1 << 31)

    @property
    def control_type(self) -> ControlType | None:
        """COMMIT or ABORT for a transaction marker, None for a data batch.

        Raises :class:`CorruptRecordError` naming the batch for a control batch
        that does not hold exactly one marker with a 4-byte key of type 0 or 1.
        """
        if not self.is_control:
            return None
        records = self.records
        if len(records) != 1:
            raise self._corrupt(f"a control batch holds exactly one marker record, this one holds {len(records)}")
        key = records[0].key
        if key is None or len(key) < 4:
            raise self._corrupt("control record without a 4-byte key")
        version, kind = struct.unpack(">hh", key[:4])
        if kind not in (ControlType.ABORT, ControlType.COMMIT):
            raise self._corrupt(f"control record type {kind} is unknown (0 = ABORT, 1 = COMMIT)")
        return ControlType(kind)

    @classmethod
    def control(cls, control_type: ControlType | str, *, producer_id: int, producer_epoch: int,
                coordinator_epoch: int = 0, timestamp: int = NO_TIMESTAMP, base_offset: int = 0,
                partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH) -> "RecordBatch":
        """A transaction marker: one control record saying COMMIT or ABORT.

        Key = (version int16 = 0, type int16); value = (version int16 = 0,
        coordinator_epoch int32). It takes one offset and is never handed to
        applications. Raises :class:`InvalidArgumentError` for a type other than
        COMMIT/ABORT or a field out of its Kafka range.
        """
        if isinstance(control_type, str) and control_type.upper() in ControlType.__members__:
            control_type = ControlType[control_type.upper()]
        if control_type not in (ControlType.ABORT, ControlType.COMMIT) or isinstance(control_type, (str, bool)):
            raise InvalidArgumentError("control_type", control_type, "ControlType.COMMIT or ControlType.ABORT "
                                       "(or 'commit' / 'abort')")
        check_int("coordinator_epoch", coordinator_epoch, -1, INT32_MAX)
        key = struct.pack(">hh", 0, int(control_type))
        value = struct.pack(">hi", 0, coordinator_epoch)
        return cls([Record(key, value, timestamp)], base_offset=base_offset,
                   partition_leader_epoch=partition_leader_epoch, producer_id=producer_id,
                   producer_epoch=producer_epoch, is_transactional=True, is_control=True)

    def with_records(self, records: Sequence[Record], *, delete_horizon_ms: int | None = None) -> "RecordBatch":
        """A copy keeping this batch's metadata and offsets but holding only ``records``.

        Compaction and mid-batch truncation use it: offsets and producer fields
        stay, so readers and the producer-state logic see the same numbers.
        """
        horizon = delete_horizon_ms if delete_horizon_ms is not None else self.delete_horizon_ms
        new = RecordBatch(records, base_offset=self.base_offset,
                          partition_leader_epoch=self.partition_leader_epoch, producer_id=self.producer_id,
                          producer_epoch=self.producer_epoch, base_sequence=self.base_sequence,
                          is_transactional=self.is_transactional, is_control=self.is_control,
                          compression=self.compression, timestamp_type=self.timestamp_type,
                          delete_horizon_ms=horizon, keep_offsets=True)
        if self.timestamp_type == TimestampType.LOG_APPEND_TIME:
            new.max_timestamp = self.max_timestamp
        return new

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, RecordBatch):
            return NotImplemented
        return self.encode() == other.encode()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        flags = []
        if self.is_transactional:
            flags.append("transactional")
        if self.is_control:
            flags.append("control")
        if self.compression:
            flags.append(self.compression.name.lower())
        extra = f", {' '.join(flags)}" if flags else ""
        pid = f", producer_id={self.producer_id}, seq={self.base_sequence}" if self.producer_id >= 0 else ""
        return (f"RecordBatch(offsets {self.base_offset}..{self.last_offset}, {self.record_count} records, "
                f"epoch={self.partition_leader_epoch}{pid}{extra}, {self.size_in_bytes} bytes)")


def _check_batch_fields(base_offset: Any, partition_leader_epoch: Any, producer_id: Any, producer_epoch: Any,
                        base_sequence: Any, compression: Any, timestamp: Any, timestamp_type: Any,
                        delete_horizon_ms: Any) -> None:
    """Refuse, by name, batch fields that do not fit their Kafka header field."""
    check_int("base_offset", base_offset, 0, INT64_MAX)
    check_int("partition_leader_epoch", partition_leader_epoch, -1, INT32_MAX,
              "-1 (none) or an int from 0 to 2**31-1")
    check_int("producer_id", producer_id, -1, INT64_MAX, "-1 (not idempotent) or an int from 0 to 2**63-1")
    check_int("producer_epoch", producer_epoch, -1, INT16_MAX, "-1 (none) or an int from 0 to 32767")
    check_int("base_sequence", base_sequence, -1, INT32_MAX, "-1 (none) or an int from 0 to 2**31-1")
    check_int("compression", compression, 0, int(Compression.ZSTD),
              "a Compression codec id: NONE 0, GZIP 1, SNAPPY 2, LZ4 3, ZSTD 4")
    if timestamp is not None:
        check_int("timestamp", timestamp, -1, INT64_MAX, "None, -1 (no timestamp) or ms since the epoch (>= 0)")
    check_int("timestamp_type", timestamp_type, 0, 1, "TimestampType.CREATE_TIME (0) or LOG_APPEND_TIME (1)")
    if delete_horizon_ms is not None:
        check_int("delete_horizon_ms", delete_horizon_ms, 0, INT64_MAX)


def iter_batches(data: bytes, *, verify_crc: bool = True, file: str | None = None) -> Iterator[RecordBatch]:
    """Decode every batch in a buffer of consecutive batches (e.g. a whole ``.log`` file).

    Raises :class:`CorruptRecordError` at the first malformed batch, naming ``file`` and its position.
    """
    pos = 0
    n = len(data)
    while pos < n:
        batch = RecordBatch.decode(data, pos, verify_crc=verify_crc, file=file)
        pos += batch.size_in_bytes
        yield batch
