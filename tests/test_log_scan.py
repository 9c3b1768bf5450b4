"""The column-at-a-time check of a records section (records._scan_runs) against the record-by-record walk.

``scan_records`` may accept a section through ``_scan_runs`` only when the walk would accept it with
the same result; on anything it cannot prove it must hand over to the walk. These tests feed both the
same sections (regular producer batches, then the same bytes damaged) and require the same answer.
"""
import random
import struct

import pytest

from msglib.log import CorruptRecordError, Log, Record, RecordBatch
from msglib.log import records as rec
from msglib.log.crc import crc32c
from msglib.log.records import HEADER_SIZE, _scan_runs, _walk_records, check_batch_records, read_header, scan_records


def walk_only(payload: bytes, count: int, last: int) -> int:
    """What scan_records answered before the column check existed: the walk alone."""
    if count < 1 or count * rec.MIN_RECORD_SIZE > len(payload):
        raise CorruptRecordError("count does not fit")
    _, min_ts, got = _walk_records(payload, count, 0, 0, last, False)
    if got != last:
        raise CorruptRecordError("last offset delta differs")
    return min_ts


def outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except CorruptRecordError:
        return ("corrupt", None)


def regular_batch(rng: random.Random, count: int) -> bytes:
    """A producer's batch: one key and value size throughout, timestamps near the first."""
    klen = rng.choice([None, 0, 3, 10, 70])
    vlen = rng.choice([0, 1, 50, 100, 200, 5000])
    base = 1_700_000_000_000
    spread = rng.choice([0, 0, 5, 60])
    back = rng.random() < 0.2                      # some timestamps before the first record's
    records = [Record(None if klen is None else rng.randbytes(klen), rng.randbytes(vlen),
                      base + rng.randint(-spread if back else 0, spread) if i else base)
               for i in range(count)]
    return RecordBatch(records).encode()


def damage(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        p = rng.randrange(HEADER_SIZE, len(b))
        kind = rng.randrange(4)
        if kind == 0:
            b[p] ^= 1 << rng.randrange(8)
        elif kind == 1:
            b[p] = rng.choice([0x00, 0x01, 0x02, 0x7E, 0x7F, 0x80, 0x81, 0xFF])
        elif kind == 2:
            del b[p:p + rng.randint(1, 3)]
        else:
            b[p:p] = bytes([rng.choice([0x00, 0x01, 0x80])])
    return bytes(b)


@pytest.mark.parametrize("count", [1, 2, 63, 64, 65, 200, 1000])
def test_a_regular_batch_is_proved_without_the_walk_and_agrees_with_it(count):
    rng = random.Random(count)
    for _ in range(5):
        data = regular_batch(rng, count)
        h = read_header(data)
        payload = data[HEADER_SIZE:]
        fast = _scan_runs(data, HEADER_SIZE, len(data), count, h.last_offset_delta)
        assert fast is not None, "a one-shape batch should not need the walk"
        assert fast == (walk_only(payload, count, h.last_offset_delta), h.last_offset_delta)
        assert scan_records(payload, count, h.last_offset_delta) == fast[0]
        assert scan_records(memoryview(payload), count, h.last_offset_delta) == fast[0]
        assert scan_records(bytearray(data), count, h.last_offset_delta, HEADER_SIZE) == fast[0]


@pytest.mark.parametrize("records", [[Record(None, b"v", 5)] * 8300,                 # offset deltas past 8191
                                     [Record(None, b"v" * 9000, 5)] * 3,              # 3-byte record lengths
                                     [Record(None, b"v", 5, (("h", b"1"),))] * 3,    # headers
                                     [Record(None, b"v" * (i % 3), 5) for i in range(9)],   # sizes vary
                                     [Record(None, b"v", 5 + 100 * i) for i in range(9)]])  # 2-byte ts deltas
def test_other_batches_hand_over_to_the_walk(records):
    data = RecordBatch(records).encode()
    h = read_header(data)
    assert _scan_runs(data, HEADER_SIZE, len(data), h.record_count, h.last_offset_delta) is None
    payload = data[HEADER_SIZE:]
    assert scan_records(payload, h.record_count, h.last_offset_delta) == walk_only(payload, h.record_count,
                                                                                  h.last_offset_delta)


def test_damaged_sections_get_the_walks_answer():
    rng = random.Random(20261205)
    accepted_by_columns = 0
    for case in range(1500):
        good = regular_batch(rng, rng.choice([1, 3, 64, 70, 300]))
        h = read_header(good)
        data = damage(rng, good)
        payload = data[HEADER_SIZE:]
        count = h.record_count + rng.choice([0, 0, 0, -1, 1])
        last = h.last_offset_delta + rng.choice([0, 0, 0, -1, 1])
        expected = outcome(walk_only, payload, count, last)
        assert outcome(scan_records, payload, count, last) == expected, case
        assert outcome(scan_records, data, count, last, HEADER_SIZE, len(data)) == expected, case
        fast = _scan_runs(data, HEADER_SIZE, len(data), count, last) if count >= 1 else None
        if fast is not None:
            accepted_by_columns += 1      # the walk must accept it too, with the same result
            assert _walk_records(payload, count, 0, 0, last, False)[1:] == fast, case
    assert accepted_by_columns > 100      # damage to keys and values is invisible to both: still proved


def test_a_negative_timestamp_hidden_in_a_run_is_refused():
    data = bytearray(RecordBatch([Record(None, b"x" * 20, 0)] * 100).encode())
    pos = HEADER_SIZE + 40 * 27 + 2            # record 40's timestamp delta (27-byte records, length 1 byte)
    assert data[pos] == 0x00

    def with_delta(zigzag: int) -> bytes:
        data[pos] = zigzag
        struct.pack_into(">I", data, 17, crc32c(bytes(data[21:])))
        return bytes(data)

    raw = with_delta(0x01)                     # delta -1: timestamp -1, "none", allowed
    assert _scan_runs(raw, HEADER_SIZE, len(raw), 100, 99) == (-1, 99)
    check_batch_records(raw, read_header(raw), leader=True)
    raw = with_delta(0x03)                     # delta -2: timestamp -2, refused
    log = Log()
    with pytest.raises(CorruptRecordError, match="timestamp -2"):
        log.append(raw)
    assert log.log_end_offset == 0
