"""RecordBatch v2: byte-exact format, varints, CRC-32C, compression, control batches."""
import struct

import pytest

from msglib.log import (Compression, ControlType, CorruptRecordError, Record, RecordBatch, RecordTypeError,
                        iter_batches, read_header)
from msglib.log.crc import crc32c, crc32c_python
from msglib.log.varint import decode_varint, encode_varint, varint


def test_crc32c_check_value():
    # The standard check value of CRC-32C (Castagnoli) for b"123456789".
    assert crc32c_python(b"123456789") == 0xE3069283
    assert crc32c(b"123456789") == 0xE3069283
    data = bytes(range(256)) * 7
    assert crc32c_python(data) == crc32c(data)
    # Continuing a CRC across pieces gives the CRC of the whole.
    assert crc32c_python(data[100:], crc32c_python(data[:100])) == crc32c_python(data)


@pytest.mark.parametrize("n, encoded", [(0, b"\x00"), (-1, b"\x01"), (1, b"\x02"), (-2, b"\x03"),
                                        (63, b"\x7e"), (-64, b"\x7f"), (64, b"\x80\x01"), (300, b"\xd8\x04")])
def test_zigzag_varints(n, encoded):
    assert encode_varint(n) == encoded
    assert varint(n) == encoded
    assert decode_varint(encoded + b"junk", 0) == (n, len(encoded))


def test_varint_roundtrip_large():
    for n in (2**31 - 1, -2**31, 2**62, -2**63, 16383, 16384, -16384, -16385):
        assert decode_varint(encode_varint(n), 0)[0] == n
        assert varint(n) == encode_varint(n)


def test_batch_matches_a_published_kafka_vector():
    # Same batch as the Kafka client libraries' serde test: their CRC for it is 3950153926.
    headers = (("header1", b"aaa"), ("header2", b"bbb"))
    recs = [Record(b"test", b"Super", 9999999 + o, headers) for o in range(10)]
    b = RecordBatch(recs, is_transactional=True, producer_id=123456, producer_epoch=123, base_sequence=9999)
    raw = b.encode()
    assert b.crc == 3950153926
    assert struct.unpack_from(">q", raw, 0)[0] == 0 and raw[16] == 2          # base offset, magic
    assert struct.unpack_from(">i", raw, 8)[0] == len(raw) - 12                  # batch length
    d = RecordBatch.decode(raw)
    assert (d.last_offset_delta, d.base_timestamp, d.max_timestamp) == (9, 9999999, 10000008)
    assert d.is_transactional and not d.is_control
    assert [r.offset for r in d.records] == list(range(10))
    assert d.records[3] == Record(b"test", b"Super", 10000002, headers, 3)
    # A single record "test"/"Super" with no headers is 16 bytes, length prefix included.
    assert len(RecordBatch([Record(b"test", b"Super", 1)]).encode()) == 61 + 16


def test_roundtrip_nulls_headers_and_lazy_offsets():
    b = RecordBatch([Record(b"k", None, 5, (("h", None),)), (None, b"v"), b"bare"], timestamp=7, base_offset=40)
    d = RecordBatch.decode(b.encode())
    assert [(r.offset, r.key, r.value, r.timestamp) for r in d.records] == \
        [(40, b"k", None, 5), (41, None, b"v", 7), (42, None, b"bare", 7)]
    assert d.records[0].headers == (("h", None),)
    assert d.records[0].is_tombstone
    d.base_offset = 100                      # the log re-stamps offsets: records follow
    assert [r.offset for r in d.records] == [100, 101, 102]
    assert RecordBatch.decode(d.encode()).base_offset == 100


def test_crc_does_not_cover_base_offset_and_epoch():
    raw = bytearray(RecordBatch([b"x"], timestamp=1).encode())
    struct.pack_into(">q", raw, 0, 12345)
    struct.pack_into(">i", raw, 12, 7)
    d = RecordBatch.decode(bytes(raw))       # still valid
    assert (d.base_offset, d.partition_leader_epoch) == (12345, 7)


@pytest.mark.parametrize("position", [21, 30, 61, 70])
def test_flipped_byte_under_crc_is_detected(position):
    raw = bytearray(RecordBatch([b"hello world"] * 3, timestamp=1).encode())
    raw[position] ^= 0x40
    with pytest.raises(CorruptRecordError):
        RecordBatch.decode(bytes(raw)).records


def test_corrupt_errors_name_file_and_position():
    raw = RecordBatch([b"a"], timestamp=1).encode()
    with pytest.raises(CorruptRecordError, match="torn write") as e:
        RecordBatch.decode(raw[:-3], file="00000000000000000000.log")
    assert "00000000000000000000.log" in str(e.value) and "position 0" in str(e.value)
    bad = bytearray(raw)
    bad[16] = 1
    with pytest.raises(CorruptRecordError, match="magic"):
        RecordBatch.decode(bytes(bad))


def test_gzip_roundtrip_is_deterministic():
    recs = [(b"k%d" % i, b"value " * 50) for i in range(20)]
    a = RecordBatch(recs, compression=Compression.GZIP, timestamp=3)
    b = RecordBatch(recs, compression=Compression.GZIP, timestamp=3)
    assert a.encode() == b.encode()
    assert a.size_in_bytes < RecordBatch(recs, timestamp=3).size_in_bytes / 5
    d = RecordBatch.decode(a.encode())
    assert d.compression == Compression.GZIP
    assert [r.value for r in d.records] == [v for _, v in recs]


def test_control_batch():
    c = RecordBatch.control("commit", producer_id=9, producer_epoch=2, coordinator_epoch=4, timestamp=1)
    d = RecordBatch.decode(c.encode())
    assert d.is_control and d.is_transactional and d.control_type == ControlType.COMMIT
    assert d.records[0].key == struct.pack(">hh", 0, 1)
    assert RecordBatch.control(ControlType.ABORT, producer_id=1, producer_epoch=0).control_type == ControlType.ABORT


def test_non_bytes_key_or_value_is_a_clear_error():
    with pytest.raises(RecordTypeError, match="key must be bytes.*serializer"):
        RecordBatch([Record("text key", b"v")])
    with pytest.raises(TypeError, match="value must be bytes"):
        RecordBatch([(b"k", 42)])


def test_iter_batches_over_concatenated_bytes():
    data = b"".join(RecordBatch([b"%d" % i], base_offset=i, timestamp=i).encode() for i in range(5))
    assert [b.base_offset for b in iter_batches(data)] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("codec, package", [(Compression.LZ4, "lz4"), (Compression.ZSTD, "zstandard")])
def test_optional_codecs_roundtrip_when_installed(codec, package):
    pytest.importorskip(package)
    recs = [(b"k%d" % i, b"value " * 40) for i in range(30)]
    b = RecordBatch(recs, compression=codec, timestamp=3)
    assert b.size_in_bytes < RecordBatch(recs, timestamp=3).size_in_bytes / 4
    d = RecordBatch.decode(b.encode())
    assert d.compression == codec and [r.value for r in d.records] == [v for _, v in recs]


def test_snappy_is_refused_with_a_clear_error():
    from msglib.log import UnsupportedCompressionError
    with pytest.raises(UnsupportedCompressionError, match="gzip, lz4 or zstd"):
        RecordBatch([b"x"], compression=Compression.SNAPPY)


def test_unknown_compression_codec_id_is_reported():
    from msglib.log.records import check_header
    h = read_header(RecordBatch([Record(None, b"x", 0)]).encode())
    assert check_header(h._replace(attributes=h.attributes | 0x07)) == "unknown compression codec id 7"


def test_last_sequence_wraps_at_two_to_the_31():
    batch = RecordBatch([Record(None, b"%d" % i, 0) for i in range(3)], producer_id=7, producer_epoch=0,
                        base_sequence=2**31 - 2)
    assert batch.last_sequence == 0          # 2**31-2, 2**31-1, then 0 (Kafka's sequence wraparound)
