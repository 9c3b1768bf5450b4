"""Bad input to the log and the record format: each is refused with msglib's own error, by name.

One test per hole a fuzzer found (a batch that made reads loop for ever, records lost
after an append, arguments accepted that Kafka refuses, errors that were not msglib's).
"""
import os
import pathlib
import struct

import pytest

from msglib.log import (CorruptRecordError, Log, LogConfig, LogError, MemoryStorage, Record, RecordBatch)
from msglib.log.crc import crc32c
from msglib.log.errors import InvalidArgumentError, LogDirectoryError
from msglib.log.records import ATTRIBUTES_OFFSET, CRC_OFFSET, HEADER, MAGIC, ControlType
from msglib.log.varint import encode_varint


def batch_bytes(records_payload: bytes, count: int, last_offset_delta: int, attributes: int = 0,
                base_timestamp: int = 0) -> bytes:
    """A batch with a valid CRC around any records section (what a crafted or buggy client sends)."""
    length = HEADER.size - 12 + len(records_payload)
    head = HEADER.pack(0, length, -1, MAGIC, 0, attributes, last_offset_delta, base_timestamp, base_timestamp,
                       -1, -1, -1, count)
    data = bytearray(head + records_payload)
    struct.pack_into(">I", data, CRC_OFFSET, crc32c(bytes(data[ATTRIBUTES_OFFSET:])))
    return bytes(data)


def record_bytes(*fields: bytes) -> bytes:
    body = b"".join(fields)
    return encode_varint(len(body)) + body


def v(n: int) -> bytes:
    return encode_varint(n)


# -- the record decoder ----------------------------------------------------------------------
def test_a_crafted_batch_with_a_huge_header_count_and_negative_key_length_is_refused():
    # header count 2**62, header key length -2: the decoder used to step backwards for ever.
    rec = record_bytes(b"\x00", v(0), v(0), v(-1), v(1), b"x", v(2**62), v(-2), b"k" * 3)
    data = batch_bytes(rec, 1, 0)
    log = Log()
    with pytest.raises(CorruptRecordError, match="header count"):
        log.append(data)
    assert log.log_end_offset == 0
    with pytest.raises(CorruptRecordError, match=r"batch of offsets 0\.\.0.*header count"):
        RecordBatch.decode(data).records


@pytest.mark.parametrize("fields, match", [
    ((b"\x00", v(0), v(0), v(-2), v(1), b"x", v(0)), "key length -2"),
    ((b"\x00", v(0), v(0), v(-1), v(-7), v(0)), "value length -7"),
    ((b"\x00", v(0), v(0), v(-1), v(500), b"x", v(0)), "value length 500"),
    ((b"\x00", v(0), v(0), v(-1), v(1), b"x", v(1), v(-3), v(1), b"y"), "header key length -3"),
    ((b"\x00", v(0), v(0), v(-1), v(1), b"x", v(-4)), "header count -4"),
])
def test_every_length_is_bounded_by_the_bytes_present(fields, match):
    data = batch_bytes(record_bytes(*fields), 1, 0)
    with pytest.raises(CorruptRecordError, match=match):
        RecordBatch.decode(data).records
    with pytest.raises(CorruptRecordError):
        Log().append(data)


def test_decode_of_something_that_is_not_bytes_is_refused_by_name():
    with pytest.raises(InvalidArgumentError, match="bytes"):
        RecordBatch.decode("x" * 100)


def test_a_negative_record_length_and_a_count_larger_than_the_bytes_are_refused():
    with pytest.raises(CorruptRecordError, match="claims -5 bytes"):
        RecordBatch.decode(batch_bytes(v(-5) + b"\x00" * 10, 1, 0)).records
    rec = record_bytes(b"\x00", v(0), v(0), v(-1), v(1), b"x", v(0))
    with pytest.raises(CorruptRecordError, match="cannot fit"):
        RecordBatch.decode(batch_bytes(rec, 2**31 - 1, 2**31 - 1)).records


def test_an_offset_delta_outside_the_batch_is_refused_on_append():
    # One record whose offset delta is 1000 in a batch whose header says one record at delta 0.
    rec = record_bytes(b"\x00", v(0), v(1000), v(-1), v(1), b"x", v(0))
    data = batch_bytes(rec, 1, 0)
    log = Log()
    with pytest.raises(CorruptRecordError, match="offset delta 1000"):
        log.append(data)
    with pytest.raises(CorruptRecordError):
        log.append_as_follower(data)
    assert log.log_end_offset == 0 and list(log.records()) == []


def test_records_must_match_the_headers_count_and_last_offset_delta():
    one = record_bytes(b"\x00", v(0), v(0), v(-1), v(1), b"x", v(0))
    two = record_bytes(b"\x00", v(0), v(1), v(-1), v(1), b"y", v(0))
    log = Log()
    with pytest.raises(CorruptRecordError, match="left over"):        # 2 records, header says 1
        log.append(batch_bytes(one + two, 1, 0))
    with pytest.raises(CorruptRecordError):                           # header says 2, 1 present
        log.append(batch_bytes(one, 2, 1))
    with pytest.raises(CorruptRecordError, match="record_count 3"):   # more records than offsets
        log.append(batch_bytes(one + two, 3, 1))
    assert log.append(batch_bytes(one + two, 2, 1)).last_offset == 1  # the well-formed one is fine


def test_a_negative_timestamp_other_than_minus_one_is_refused():
    with pytest.raises(InvalidArgumentError, match="timestamp"):
        Record(b"k", b"v", -5)
    assert Record(b"k", b"v", -1).timestamp == -1
    rec = record_bytes(b"\x00", v(-4), v(0), v(-1), v(1), b"x", v(0))    # base -1, delta -4: timestamp -5
    with pytest.raises(CorruptRecordError, match="timestamp -5"):
        Log().append(batch_bytes(rec, 1, 0, base_timestamp=-1))


@pytest.mark.parametrize("kwargs, match", [
    (dict(offset="x"), "offset"),
    (dict(offset=-2), "offset"),
    (dict(timestamp=1.5), "timestamp"),
    (dict(timestamp=2**70), "timestamp"),
    (dict(timestamp=True), "timestamp"),
    (dict(headers=[(1, b"x")]), "header key"),
    (dict(headers=[("h", "text")]), "header value"),
    (dict(headers=["h"]), "pair"),
    (dict(headers=5), "headers"),
    (dict(headers=[("h\ud800", b"x")]), "UTF-8"),
])
def test_record_fields_are_checked_by_name(kwargs, match):
    with pytest.raises(LogError, match=match) as info:
        Record(b"k", b"v", **kwargs)
    assert isinstance(info.value, (ValueError, TypeError))


@pytest.mark.parametrize("kwargs, match", [
    (dict(partition_leader_epoch=2**40), "partition_leader_epoch"),
    (dict(partition_leader_epoch="x"), "partition_leader_epoch"),
    (dict(partition_leader_epoch=-5), "partition_leader_epoch"),
    (dict(producer_epoch=2**15), "producer_epoch"),
    (dict(base_sequence=-2), "base_sequence"),
    (dict(producer_id=2**64), "producer_id"),
    (dict(base_offset=-1), "base_offset"),
    (dict(compression=9), "compression"),
    (dict(timestamp=-5), "timestamp"),
])
def test_batch_fields_are_checked_by_name(kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        RecordBatch([Record(b"k", b"v", 5)], **kwargs)


@pytest.mark.parametrize("epoch", [2**40, "x", -5, 1.0])
def test_log_append_checks_the_leader_epoch(epoch):
    log = Log()
    with pytest.raises(InvalidArgumentError, match="leader_epoch"):
        log.append([b"v"], leader_epoch=epoch)
    assert log.log_end_offset == 0


@pytest.mark.parametrize("timestamp", [2**70, -5, 1.5, "now"])
def test_log_append_checks_the_timestamp(timestamp):
    log = Log()
    with pytest.raises(InvalidArgumentError, match="timestamp"):
        log.append([b"v"], timestamp=timestamp)
    with pytest.raises(InvalidArgumentError, match="timestamp"):
        log.append([Record(b"k", b"v", timestamp)])
    assert log.log_end_offset == 0


def test_control_batches_are_checked():
    marker = RecordBatch.control("commit", producer_id=1, producer_epoch=0)
    assert marker.control_type is ControlType.COMMIT
    with pytest.raises(InvalidArgumentError, match="control_type"):
        RecordBatch.control(7, producer_id=1, producer_epoch=0)
    # A marker of type 7, built by hand: a msglib error, not a ValueError from the enum.
    odd = RecordBatch([Record(struct.pack(">hh", 0, 7), struct.pack(">hi", 0, 0), 0)], producer_id=1,
                      producer_epoch=0, is_transactional=True, is_control=True)
    with pytest.raises(CorruptRecordError, match="control record type 7"):
        odd.control_type
    with pytest.raises(CorruptRecordError, match="control record type 7"):
        Log().append(odd.encode())
    # A control batch with no record at all (header count 0): a msglib error, not an IndexError.
    empty = batch_bytes(b"", 0, 0, attributes=0x30)
    with pytest.raises(CorruptRecordError, match="exactly one"):
        RecordBatch.decode(empty).control_type


# -- Log arguments -------------------------------------------------------------------------------
def test_truncate_to_a_negative_offset_is_refused():
    log = Log()
    log.append([b"a", b"b"])
    with pytest.raises(InvalidArgumentError, match="truncate_to"):
        log.truncate_to(-1)
    assert log.log_end_offset == 2 and [r.value for r in log.records()] == [b"a", b"b"]


@pytest.mark.parametrize("call", [
    lambda log: log.read(0.5), lambda log: log.read("0"), lambda log: log.read(0, max_bytes=-1),
    lambda log: log.delete_records_before(-1), lambda log: log.delete_records_before(1.0),
    lambda log: log.truncate_fully_and_start_at(-3), lambda log: log.offsets_for_times(-3),
    lambda log: list(log.records(start="a")), lambda log: log.roll(-1),
])
def test_offsets_must_be_ints(call):
    log = Log()
    log.append([b"a", b"b"])
    with pytest.raises(InvalidArgumentError):
        call(log)
    assert [r.value for r in log.records()] == [b"a", b"b"]


def test_an_empty_directory_name_is_refused_and_a_path_is_accepted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidArgumentError, match="directory"):
        Log(directory="")
    with pytest.raises(InvalidArgumentError, match="directory"):
        Log(directory="   ")
    assert os.listdir(tmp_path) == []                 # nothing written into the current folder
    log = Log(pathlib.Path(tmp_path) / "orders-3")
    log.append([b"x"])
    assert (log.topic, log.partition) == ("orders", 3)
    log.close()
    assert Log(pathlib.Path(tmp_path) / "orders-3").log_end_offset == 1


def test_a_directory_that_is_a_file_is_named(tmp_path):
    path = tmp_path / "not-a-folder"
    path.write_text("x")
    with pytest.raises(LogDirectoryError, match="not-a-folder"):
        Log(directory=str(path))


def test_a_config_that_is_not_a_logconfig_is_refused():
    with pytest.raises(InvalidArgumentError, match="LogConfig"):
        Log(config={"segment_bytes": 100})


# -- recovery after damage ------------------------------------------------------------------------
CFG = LogConfig(segment_bytes=600, index_interval_bytes=100)


def _fill(log: Log, n: int) -> None:
    for i in range(n):
        log.append([Record(b"k", b"value-%d" % i, 1000 + i)])


def test_damage_to_the_first_batch_after_a_clean_shutdown_keeps_later_segments():
    storage = MemoryStorage()
    log = Log(storage=storage, config=CFG, clock=lambda: 0)
    _fill(log, 30)
    first, later = log.segments[0], log.segments[1:]
    assert later, "the test needs more than one segment"
    log.close()
    data = storage.files[first.file_name].data
    for i in range(20, 60):                           # 40 bytes of the first batch
        data[i] ^= 0x5A
    again = Log(storage=storage, config=CFG, clock=lambda: 0)
    kept = [r.offset for r in again.records()]
    assert kept == list(range(later[0].base_offset, 30))     # the intact later segments are all there
    report = again.recovery_report
    assert report.lost_offsets == [(first.file_name, 0, later[0].base_offset - 1)]
    assert f"offsets 0..{later[0].base_offset - 1}" in report.summary()
    assert again.log_end_offset == 30


def test_a_torn_tail_of_the_last_segment_is_still_cut():
    storage = MemoryStorage()
    log = Log(storage=storage, config=CFG, clock=lambda: 0)
    _fill(log, 30)
    last = log.active_segment
    log.flush()
    log.abandon()
    del storage.files[last.file_name].data[-10:]
    again = Log(storage=storage, config=CFG, clock=lambda: 0)
    assert again.log_end_offset == 29 and [r.offset for r in again.records()] == list(range(29))
    assert "torn write" in again.recovery_report.summary()


@pytest.mark.parametrize("damage", ["delete", "garbage", "digit", "both-copies"])
def test_the_log_start_offset_never_moves_back_when_its_checkpoint_is_damaged(damage):
    storage = MemoryStorage()
    log = Log(storage=storage, config=CFG, clock=lambda: 0)
    _fill(log, 30)
    assert log.delete_records_before(17) == 17
    log.close()
    name = "log-start-offset-checkpoint"
    if damage == "delete":
        storage.delete(name)
    elif damage == "garbage":
        storage.files[name].data[:] = b"\xff\x00garbage"
    elif damage == "digit":
        storage.files[name].data[0:2] = b"10"          # "17 <crc>" -> "10 <crc>": the checksum catches it
    else:
        storage.delete(name)
        storage.delete(name + ".copy")
    again = Log(storage=storage, config=CFG, clock=lambda: 0)
    assert again.log_start_offset >= 17, again.recovery_report.summary()
    assert [r.offset for r in again.records()][:1] == [again.log_start_offset]
    assert name in again.recovery_report.summary()
    with pytest.raises(LogError):
        again.read(16)


# -- every public function says what it raises ------------------------------------------------------
def undocumented_raisers(path) -> list[str]:
    """Public functions and methods in ``path`` that raise (or call an argument check) without
    their docstring (or their class's, for ``__init__``) saying what they raise."""
    import ast

    checkers = {"check_int", "_check_str", "_check_count", "_check_expected", "_offset", "_check_bytes",
                "_check_open", "_check_partition", "_check_batch_fields", "_check_record_fields"}

    def raises(fn) -> bool:
        for node in ast.walk(fn):
            if isinstance(node, ast.Raise):
                return True
            if isinstance(node, ast.Call):
                f = node.func
                if (f.id if isinstance(f, ast.Name) else getattr(f, "attr", "")) in checkers:
                    return True
        return False

    tree = ast.parse(pathlib.Path(path).read_text())
    missing = []
    scopes = [(None, tree.body)] + [(c, c.body) for c in tree.body
                                    if isinstance(c, ast.ClassDef) and not c.name.startswith("_")]
    for cls, body in scopes:
        for fn in body:
            if not isinstance(fn, ast.FunctionDef) or (fn.name.startswith("_") and fn.name != "__init__"):
                continue
            doc = ast.get_docstring(fn) or ""
            if cls is not None and fn.name == "__init__":
                doc += ast.get_docstring(cls) or ""
            if raises(fn) and "raise" not in doc.lower():
                missing.append(f"{path}:{fn.lineno} {cls.name + '.' if cls else ''}{fn.name}")
    return missing


LOG_MODULES = sorted(str(p) for p in (pathlib.Path(__file__).parent.parent / "msglib" / "log").glob("*.py"))


@pytest.mark.parametrize("path", LOG_MODULES, ids=lambda p: pathlib.Path(p).name)
def test_every_public_function_of_the_log_names_the_errors_it_raises(path):
    assert undocumented_raisers(path) == []


def test_a_gzip_bomb_is_refused_instead_of_filling_memory(monkeypatch):
    import gzip

    from msglib.log import records
    monkeypatch.setattr(records, "MAX_DECOMPRESSED_BYTES", 1 << 20)
    batch = RecordBatch([Record(None, b"\x00" * (2 << 20), 0)], compression=1)   # 2 MiB of zeros, ~2 KiB gzipped
    assert len(batch.encode()) < 10_000
    with pytest.raises(CorruptRecordError, match="inflate to more than"):
        RecordBatch.decode(batch.encode()).records
    with pytest.raises(CorruptRecordError, match="inflate to more than"):
        Log().append(batch.encode())
    half = gzip.compress(b"abc" * 1000)[:-20]
    with pytest.raises(CorruptRecordError, match="end in the middle"):
        records.decompress(1, half)


def test_a_damaged_last_batch_cannot_move_the_end_offset_after_a_clean_shutdown():
    # last_offset_delta of the log's last batch is covered only by the CRC: a clean open used to take
    # it at its word, claim 2**31 offsets, and write that end into the recovery point checkpoint.
    storage = MemoryStorage()
    log = Log(storage=storage, config=CFG, clock=lambda: 0)
    _fill(log, 30)
    last_position = [p for p, _ in log.active_segment.batch_headers()][-1]
    name = log.active_segment.file_name
    log.close()
    struct.pack_into(">i", storage.files[name].data, last_position + 23, 2**31 - 1)
    again = Log(storage=storage, config=CFG, clock=lambda: 0)
    report = again.recovery_report
    assert f"{name}: cut" in report.summary() and any(lo <= 29 <= hi for _, lo, hi in report.lost_offsets)
    # The batch is lost; the log goes on at 30, where it ended, so offset 29 is never given twice.
    assert again.log_end_offset == 30 and [r.offset for r in again.records()] == list(range(29))
    again.close()
    assert Log(storage=storage, config=CFG, clock=lambda: 0, full_recovery=True).log_end_offset == 30


def test_timestamps_too_far_apart_for_a_64_bit_delta_are_refused():
    with pytest.raises(InvalidArgumentError, match="64-bit delta"):
        RecordBatch([Record(b"a", b"1", -1), Record(b"b", b"2", 2**63 - 1)])
    assert RecordBatch([Record(b"a", b"1", 0), Record(b"b", b"2", 2**63 - 1)]).max_timestamp == 2**63 - 1
