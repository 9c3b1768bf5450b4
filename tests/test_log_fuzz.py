"""Property-based fuzzing of the record decoder and of damaged log directories (bounded for CI).

The long runs (a million decoder cases, ten thousand damaged logs) are
``python -m benchmarks.bench_log --fuzz N``; these keep a few hundred cases in every test run.
"""
import random
import struct

from hypothesis import HealthCheck, given, settings, strategies as st

from msglib.log import Record, RecordBatch
from msglib.log.crc import crc32c
from msglib.log.fuzz import DAMAGE_KINDS, FILE_KINDS, damaged_log_trial, decoder_case, mutated_batch
from msglib.log.records import ATTRIBUTES_OFFSET, CRC_OFFSET, HEADER_SIZE

FUZZ = settings(database=None, deadline=None, max_examples=300,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

records = st.lists(st.builds(
    Record,
    key=st.one_of(st.none(), st.binary(max_size=16)),
    value=st.one_of(st.none(), st.binary(max_size=64)),
    # up to 2**62: a batch mixing -1 and 2**63-1 cannot store the difference (RecordBatch refuses it)
    timestamp=st.one_of(st.just(-1), st.integers(0, 2**62)),
    headers=st.lists(st.tuples(st.text(max_size=5), st.one_of(st.none(), st.binary(max_size=5))), max_size=3),
), min_size=1, max_size=5)


@st.composite
def damaged_batches(draw):
    """A valid batch, then byte edits in its records section, with the CRC recomputed."""
    data = bytearray(RecordBatch(draw(records)).encode())
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(HEADER_SIZE - 8, len(data) - 1))
        edit = draw(st.sampled_from(["set", "insert", "delete"]))
        if edit == "set":
            data[position] = draw(st.sampled_from([0x00, 0x01, 0x03, 0x7F, 0x80, 0xFF])) if draw(st.booleans()) \
                else draw(st.integers(0, 255))
        elif edit == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=11))
        elif len(data) > HEADER_SIZE + 1:
            del data[position:position + draw(st.integers(1, 6))]
    if draw(st.booleans()):
        struct.pack_into(">i", data, 8, len(data) - 12)           # batch_length kept consistent
    struct.pack_into(">I", data, CRC_OFFSET, crc32c(bytes(data[ATTRIBUTES_OFFSET:])))
    return bytes(data)


@FUZZ
@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_only_msglib_errors(data):
    decoder_case(data)


@FUZZ
@given(damaged_batches())
def test_damaged_batches_with_a_valid_crc_give_only_msglib_errors_or_read_back(data):
    decoder_case(data)


@FUZZ
@given(st.integers(0, 2**32))
def test_mutated_batches_of_every_kind(seed):
    decoder_case(mutated_batch(random.Random(seed)))


@settings(database=None, deadline=None, max_examples=150)
@given(seed=st.integers(0, 2**32), file_kind=st.sampled_from(FILE_KINDS), damage=st.sampled_from(DAMAGE_KINDS))
def test_damage_to_any_file_loses_nothing_outside_it_and_resurrects_nothing(seed, file_kind, damage):
    damaged_log_trial(seed, file_kind=file_kind, damage=damage)


def test_the_watchdog_turns_a_decoder_that_never_ends_into_a_finding():
    import pytest

    from msglib.log.fuzz import Finding, cpu_watchdog

    with pytest.raises(Finding, match="still running after 0.2 CPU seconds"):
        with cpu_watchdog(0.2, "a loop"):
            while True:
                try:
                    pass
                except Exception:    # the runaway is a BaseException: no ``except Exception`` keeps it
                    pass
