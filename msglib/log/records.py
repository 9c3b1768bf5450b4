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
from collections import namedtuple
from operator import itemgetter
from enum import IntEnum
from typing import Any, Iterable, Iterator, Sequence

from .crc import crc32c
from .errors import CorruptRecordError, RecordTypeError, UnsupportedCompressionError
from .varint import VARINT, decode_varint, encode_varint, varint

MAGIC = 2
NO_TIMESTAMP = -1
NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
NO_SEQUENCE = -1
NO_PARTITION_LEADER_EPOCH = -1

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
    """

    __slots__ = ()

    def __new__(cls, key: bytes | None = None, value: bytes | None = None, timestamp: int | None = None,
                headers: Sequence[tuple[str, bytes | None]] = (), offset: int = -1) -> "Record":
        return _new_record(cls, (key, value, timestamp, headers if type(headers) is tuple else tuple(headers),
                                 offset))

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
                   log_append_time: int | None = None) -> list[Record]:
    """Decode ``count`` records from an uncompressed records section.

    The loop decodes one-byte varints inline (the common case) and falls back
    to :func:`decode_varint` for longer ones: this is the consumer's hot path.
    """
    records: list[Record] = []
    append = records.append
    new = _new_record
    zz = UNZIGZAG
    pos = 0
    try:
        for _ in range(count):
            # Each varint: one byte (< 0x80) or two bytes inline, longer ones by decode_varint.
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
            b = payload[pos + 1]                  # skip the attributes byte (unused); timestamp delta
            if b < 0x80:
                ts_delta = zz[b]
                pos += 2
            else:
                ts_delta, pos = decode_varint(payload, pos + 1)
            b = payload[pos]                      # offset delta
            if b < 0x80:
                off_delta = zz[b]
                pos += 1
            elif payload[pos + 1] < 0x80:
                off_delta = zz[(b & 0x7F) | (payload[pos + 1] << 7)]
                pos += 2
            else:
                off_delta, pos = decode_varint(payload, pos)
            b = payload[pos]                      # key length (-1, one byte 0x01: null)
            if b == 1:
                key = None
                klen = -1
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
                if klen < 0:
                    key = None
                else:
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
            if vlen < 0:
                value = None
            else:
                value = payload[pos:pos + vlen]
                pos += vlen
            if payload[pos] == 0:                 # header count: usually zero
                headers: tuple = ()
                pos += 1
            else:
                hcount, pos = decode_varint(payload, pos)
                hlist = []
                for _h in range(hcount):
                    hklen, pos = decode_varint(payload, pos)
                    hkey = payload[pos:pos + hklen].decode("utf-8")
                    pos += hklen
                    hvlen, pos = decode_varint(payload, pos)
                    if hvlen < 0:
                        hvalue = None
                    else:
                        hvalue = payload[pos:pos + hvlen]
                        pos += hvlen
                    hlist.append((hkey, hvalue))
                headers = tuple(hlist)
            if pos != end:
                raise CorruptRecordError(f"record length {length} does not match its fields")
            append(new(Record, (key, value, base_timestamp + ts_delta, headers, base_offset + off_delta)))
    except (IndexError, ValueError, UnicodeDecodeError) as exc:
        raise CorruptRecordError(f"cannot decode record #{len(records)}: {exc}") from None
    if pos != len(payload):
        raise CorruptRecordError(f"{len(payload) - pos} bytes left over after {count} records")
    if log_append_time is not None:       # LogAppendTime: every record shows the broker's time
        records = [new(Record, (r[0], r[1], log_append_time, r[3], r[4])) for r in records]
    return records


# --------------------------------------------------------------------------- compression
def _codec(compression: int) -> tuple[Any, Any]:
    """(compress, decompress) functions for a codec id."""
    if compression == Compression.GZIP:
        # mtime=0 makes the bytes deterministic (same batch -> same CRC).
        return (lambda data: gzip.compress(data, compresslevel=6, mtime=0)), gzip.decompress
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
    return data if compression == Compression.NONE else _codec(compression)[0](data)


def decompress(compression: int, data: bytes) -> bytes:
    if compression == Compression.NONE:
        return data
    try:
        return _codec(compression)[1](data)
    except UnsupportedCompressionError:
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
                 "record_count", "crc", "_payload", "_records", "_records_base", "_raw")

    def __init__(self, records: Iterable[Any] = (), *, base_offset: int = 0,
                 partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH,
                 producer_id: int = NO_PRODUCER_ID, producer_epoch: int = NO_PRODUCER_EPOCH,
                 base_sequence: int = NO_SEQUENCE, is_transactional: bool = False, is_control: bool = False,
                 compression: int = Compression.NONE, timestamp: int | None = None,
                 timestamp_type: int = TimestampType.CREATE_TIME, delete_horizon_ms: int | None = None,
                 keep_offsets: bool = False) -> None:
        recs = [r if type(r) is Record else as_record(r) for r in records]
        if not recs:
            raise ValueError("a RecordBatch needs at least one record")
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

    # -- the Kafka byte format ---------------------------------------------------------
    @classmethod
    def decode(cls, data: bytes, position: int = 0, *, verify_crc: bool = True,
               file: str | None = None) -> "RecordBatch":
        """Parse the batch at ``position`` of ``data``; check its CRC unless told not to.

        Raises :class:`CorruptRecordError` naming ``file`` and ``position`` for
        anything that is not a well-formed batch.
        """
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

    def _header_fields(self) -> tuple:
        return (self.attributes, self.last_offset_delta, self.base_timestamp, self.max_timestamp,
                self.producer_id, self.producer_epoch, self.base_sequence, self.record_count)

    # -- records -----------------------------------------------------------------------
    @property
    def records(self) -> list[Record]:
        """The records, with absolute offsets and timestamps (decoded once, then cached)."""
        if self._records is not None and self._records_base != self.base_offset:
            shift = self.base_offset - self._records_base  # the log re-stamped base_offset
            self._records = [Record(r.key, r.value, r.timestamp, r.headers, r.offset + shift)
                             for r in self._records]
            self._records_base = self.base_offset
        if self._records is None:
            self._records_base = self.base_offset
            payload = decompress(self.compression, self._payload)
            lat = self.max_timestamp if self.attributes & TIMESTAMP_TYPE_BIT else None
            self._records = decode_records(payload, self.record_count, self.base_offset,
                                           self.base_timestamp, lat)
        return self._records

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
        """COMMIT or ABORT for a transaction marker, None for a data batch."""
        if not self.is_control:
            return None
        key = self.records[0].key
        if key is None or len(key) < 4:
            raise CorruptRecordError("control record without a 4-byte key")
        return ControlType(struct.unpack(">hh", key[:4])[1])

    @classmethod
    def control(cls, control_type: ControlType | str, *, producer_id: int, producer_epoch: int,
                coordinator_epoch: int = 0, timestamp: int = NO_TIMESTAMP, base_offset: int = 0,
                partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH) -> "RecordBatch":
        """A transaction marker: one control record saying COMMIT or ABORT.

        Key = (version int16 = 0, type int16); value = (version int16 = 0,
        coordinator_epoch int32). It takes one offset and is never handed to
        applications.
        """
        if isinstance(control_type, str):
            control_type = ControlType[control_type.upper()]
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


def iter_batches(data: bytes, *, verify_crc: bool = True, file: str | None = None) -> Iterator[RecordBatch]:
    """Decode every batch in a buffer of consecutive batches (e.g. a whole ``.log`` file)."""
    pos = 0
    n = len(data)
    while pos < n:
        batch = RecordBatch.decode(data, pos, verify_crc=verify_crc, file=file)
        pos += batch.size_in_bytes
        yield batch
