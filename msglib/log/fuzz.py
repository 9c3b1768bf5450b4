"""Fuzzing the log: malformed batches for the decoder, and random damage to a log's files.

Used by ``tests/test_log_fuzz.py`` (hypothesis, a few hundred cases) and by
``benchmarks/bench_log.py --fuzz N`` (millions). Each case either passes or
raises :class:`Finding` with what went wrong and how to replay it.

* :func:`decoder_case` -- hand bytes to ``RecordBatch.decode`` / ``.records``
  / ``.control_type`` and to ``Log.append``: the only errors allowed are
  msglib's documented ones, and each call must finish quickly (a decoder
  that loops, or allocates for a claimed count of 2**62, is a finding). A
  batch the log accepts must read back as the very records it held.
* :func:`mutated_batch` -- a valid batch with random damage *and the CRC
  recomputed*, so the damage gets past the checksum to the record decoder
  (what a buggy or hostile client can send).
* :func:`damaged_log_trial` -- build a log (appends, a delete_records_before),
  close it or crash it, damage one of its files (segments, indexes,
  checkpoints and their copies, the clean-shutdown marker), reopen it:
  opening succeeds or raises a msglib error; no record comes back different
  from what was written; no record deleted by delete_records_before comes
  back; every record outside the damaged stretch is still there; nothing hangs.
"""
from __future__ import annotations

import random
import signal
import struct
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from .config import LogConfig
from .crc import crc32c
from .errors import CorruptRecordError, LogError, UnsupportedCompressionError
from .log import Log
from .records import ATTRIBUTES_OFFSET, CRC_OFFSET, HEADER_SIZE, Compression, Record, RecordBatch
from .storage import MemoryStorage

ALLOWED_DECODE_ERRORS = (CorruptRecordError, UnsupportedCompressionError)
SLOW_CASE_SECONDS = 2.0   # CPU seconds: a case slower than this is a finding (a loop, a huge allocation);
#                           CPU time, not wall time, so a busy machine does not turn a pause into a finding


class Finding(AssertionError):
    """A fuzz case that broke a rule: an unexpected exception, a wrong record, a lost record, a hang."""


class _Runaway(BaseException):
    """Raised inside a case by the CPU watchdog; a BaseException so no ``except Exception`` swallows it."""


@contextmanager
def cpu_watchdog(seconds: float, what: str) -> Iterator[None]:
    """Stop a case that runs away (a decoder loop): raises :class:`Finding` after ``seconds`` of CPU time.

    Uses a SIGPROF timer (Unix, main thread only); elsewhere a case is only
    timed after it returns, so a true infinite loop would hang instead.
    """
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def fire(signum: int, frame: object) -> None:
        raise _Runaway()

    previous = signal.signal(signal.SIGPROF, fire)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    except _Runaway:
        raise Finding(f"{what}: still running after {seconds:g} CPU seconds (a loop?)") from None
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


# --------------------------------------------------------------------------- the decoder
def valid_batch(rng: random.Random) -> bytes:
    """A random well-formed batch (keys, values, headers, nulls, sometimes gzip or a control marker)."""
    if rng.random() < 0.05:
        return RecordBatch.control(rng.choice(["commit", "abort"]), producer_id=rng.randrange(100),
                                   producer_epoch=rng.randrange(5), timestamp=rng.randrange(10**6)).encode()
    records = []
    for i in range(rng.randint(1, 6)):
        key = None if rng.random() < 0.3 else rng.randbytes(rng.randint(0, 20))
        value = None if rng.random() < 0.1 else rng.randbytes(rng.randint(0, 200))
        headers = tuple((f"h{j}", None if rng.random() < 0.2 else rng.randbytes(rng.randint(0, 8)))
                        for j in range(rng.choice([0, 0, 0, 1, 3])))
        records.append(Record(key, value, rng.choice([-1, 0, 1700000000000 + i, rng.randrange(2**40)]), headers))
    codec = Compression.GZIP if rng.random() < 0.1 else Compression.NONE
    return RecordBatch(records, compression=codec, base_offset=rng.choice([0, rng.randrange(2**40)]),
                       partition_leader_epoch=rng.choice([-1, 0, 7])).encode()


_INTERESTING = [0, 1, -1, -2, 2**7, 2**14, 2**31 - 1, -2**31, 2**62, 2**63 - 1, -2**63]


def mutated_batch(rng: random.Random) -> bytes:
    """A valid batch with random damage, its CRC recomputed so the damage reaches the record decoder."""
    data = bytearray(valid_batch(rng))
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(6)
        if kind == 0:                                   # flip bytes anywhere
            p = rng.randrange(len(data))
            data[p] ^= rng.randint(1, 255)
        elif kind == 1 and len(data) > HEADER_SIZE:     # overwrite a byte of the records with a varint-ish value
            p = rng.randrange(HEADER_SIZE, len(data))
            data[p] = rng.choice([0x00, 0x01, 0x03, 0x7F, 0x80, 0xFF, 0xFE])
        elif kind == 2:                                 # a header count field set to an extreme value
            off, fmt = rng.choice([(23, ">i"), (57, ">i"), (27, ">q"), (35, ">q"), (51, ">h"), (53, ">i")])
            bits = struct.calcsize(fmt) * 8
            value = rng.choice(_INTERESTING)
            value = max(-2**(bits - 1), min(2**(bits - 1) - 1, value))
            struct.pack_into(fmt, data, off, value)
        elif kind == 3 and len(data) > HEADER_SIZE:     # cut or insert bytes in the records
            p = rng.randrange(HEADER_SIZE, len(data) + 1)
            if rng.random() < 0.5:
                del data[p:p + rng.randint(1, 8)]
            else:
                data[p:p] = rng.randbytes(rng.randint(1, 8))
        elif kind == 4 and len(data) > HEADER_SIZE:     # splice a long varint into the records
            p = rng.randrange(HEADER_SIZE, len(data))
            data[p:p + 1] = bytes([0xFF] * rng.randint(1, 11)) + bytes([rng.randrange(0x80)])
        else:                                           # attributes: codec, control, timestamp type bits
            struct.pack_into(">h", data, ATTRIBUTES_OFFSET, rng.randrange(-2**15, 2**15))
    if len(data) >= HEADER_SIZE:
        if rng.random() < 0.9:                          # keep batch_length consistent most of the time
            struct.pack_into(">i", data, 8, len(data) - 12)
        struct.pack_into(">I", data, CRC_OFFSET, crc32c(bytes(data[ATTRIBUTES_OFFSET:])))
    return bytes(data)


def random_bytes(rng: random.Random) -> bytes:
    """Arbitrary bytes, sometimes behind a plausible header prefix."""
    data = rng.randbytes(rng.choice([0, 1, 12, 60, 61, 62, 80, rng.randrange(400)]))
    if rng.random() < 0.5 and len(data) >= HEADER_SIZE:
        b = bytearray(data)
        struct.pack_into(">qib", b, 0, 0, len(b) - 12, 0)
        b[16] = 2                                       # magic
        struct.pack_into(">I", b, CRC_OFFSET, crc32c(bytes(b[ATTRIBUTES_OFFSET:])))
        data = bytes(b)
    return data


def decoder_case(data: bytes, *, append: bool = True) -> str:
    """Run one input through the decoder (and the log); return 'ok', 'refused' or 'accepted'.

    Raises :class:`Finding` for any other exception, a case slower than
    ``SLOW_CASE_SECONDS`` (stopped by the watchdog if it never ends), or a
    batch the log accepted that does not read back.
    """
    start = time.process_time()
    try:
        with cpu_watchdog(5 * SLOW_CASE_SECONDS, "decoder case"):
            outcome = _decode_and_append(data, append)
    except Finding:
        raise
    except Exception as exc:  # noqa: BLE001 - anything else is what the fuzzer looks for
        raise Finding(f"{type(exc).__name__}: {exc}") from exc
    elapsed = time.process_time() - start
    if elapsed > SLOW_CASE_SECONDS:
        raise Finding(f"one case took {elapsed:.1f} CPU seconds")
    return outcome


def _decode_and_append(data: bytes, append: bool) -> str:
    outcome = "refused"
    try:
        batch = RecordBatch.decode(data)
        records = batch.records
        if batch.is_control:
            batch.control_type
        if len(records) != batch.record_count:
            raise Finding(f"decoded {len(records)} records, the header says {batch.record_count}")
        outcome = "ok"
    except ALLOWED_DECODE_ERRORS:
        pass
    if append:
        log = Log(config=LogConfig(max_message_bytes=1 << 20), clock=lambda: 0)
        try:
            info = log.append(data)
        except LogError:
            return outcome
        expected = RecordBatch.decode(data).records
        got = [(r.key, r.value, r.headers) for b in log.read(0, max_bytes=1 << 21) for r in b.records]
        if got != [(r.key, r.value, r.headers) for r in expected] or info.record_count != len(expected):
            raise Finding("an accepted batch reads back different records")
        outcome = "accepted"
    return outcome


def decoder_seed_case(seed: int) -> str:
    """The decoder case number ``seed`` of a long run: mutated batches, arbitrary bytes, valid batches.

    Raises :class:`Finding` (with the seed and the input's first bytes) when the case breaks a rule.
    """
    rng = random.Random(seed)
    pick = rng.random()
    data = mutated_batch(rng) if pick < 0.7 else random_bytes(rng) if pick < 0.9 else valid_batch(rng)
    try:
        return decoder_case(data, append=rng.random() < 0.5)
    except Finding as exc:
        raise Finding(f"decoder seed {seed} ({data[:80].hex()}...): {exc}") from None


# --------------------------------------------------------------------------- damaged logs
FILE_KINDS = (".log", ".index", ".timeindex", "log-start-offset-checkpoint", "log-start-offset-checkpoint.copy",
              "recovery-point-offset-checkpoint", "recovery-point-offset-checkpoint.copy", "leader-epoch-checkpoint",
              ".clean-shutdown")
DAMAGE_KINDS = ("flip", "truncate", "delete", "garbage", "append", "field")
# "field": one header field of one batch set to an extreme value (a .log file only; elsewhere a flip).
# Random flips rarely land on the few bytes that decide offsets; this aims at them.
_HEADER_FIELDS = [(0, ">q"), (8, ">i"), (12, ">i"), (17, ">I"), (21, ">h"), (23, ">i"), (27, ">q"), (35, ">q"),
                  (43, ">q"), (51, ">h"), (53, ">i"), (57, ">i")]


@dataclass
class TrialResult:
    file: str
    damage: str
    clean: bool
    records: int        # records readable before the damage
    kept: int           # records readable after a full recovery
    refused: bool       # opening raised a msglib error instead


def _as_tuple(r: Record) -> tuple:
    return (r.offset, r.key, r.value, r.timestamp, tuple(r.headers))


def build_log(rng: random.Random, storage: MemoryStorage) -> tuple[Log, dict[int, tuple], int]:
    """A random log: appends with varied records and epochs, sometimes a delete_records_before."""
    cfg = LogConfig(segment_bytes=rng.choice([500, 1200, 4000]), index_interval_bytes=rng.choice([0, 100, 400]))
    log = Log(storage=storage, config=cfg, clock=lambda: 0)
    epoch = rng.choice([0, 0, 3])
    for _ in range(rng.randint(3, 30)):
        base = log.log_end_offset
        recs = []
        for o in range(base, base + rng.randint(1, 5)):
            key = None if rng.random() < 0.2 else b"key-%d" % rng.randrange(10)
            value = None if rng.random() < 0.05 else rng.randbytes(rng.randint(0, 50))
            headers = (("h", b"%d" % o),) if rng.random() < 0.2 else ()
            recs.append(Record(key, value, 1000 + o, headers))
        if rng.random() < 0.1:
            epoch += 1
        codec = Compression.GZIP if rng.random() < 0.1 else Compression.NONE
        log.append(RecordBatch(recs, compression=codec), leader_epoch=epoch)
    deleted_before = 0
    if rng.random() < 0.5 and log.log_end_offset > 1:
        deleted_before = log.delete_records_before(rng.randrange(1, log.log_end_offset))
    expected = {r.offset: _as_tuple(r) for r in log.records()}
    return log, expected, deleted_before


def damaged_log_trial(seed: int, *, file_kind: str | None = None, damage: str | None = None) -> TrialResult:
    """One damaged-log reopening (in memory: the same code path as on disk). Raises Finding on a broken rule."""
    rng = random.Random(seed)
    storage = MemoryStorage()
    log, expected, deleted_before = build_log(rng, storage)
    layout = {seg.file_name: list(seg.batch_headers()) for seg in log.segments}
    clean = rng.random() < 0.5
    if clean:
        log.close()
    else:
        log.flush()
        log.abandon()
    file_kind = file_kind or rng.choice(FILE_KINDS)
    damage = damage or rng.choice(DAMAGE_KINDS)
    names = [n for n in storage.list() if n.endswith(file_kind)] if file_kind.startswith(".") and \
        file_kind != ".clean-shutdown" else [file_kind]
    name = rng.choice(names) if names else file_kind
    where = _damage(storage, name, damage, rng, [pos for pos, _ in layout.get(name, [])])

    # Records that damage to `name` may take: in a .log file, from the first damaged batch to the
    # end of that segment. Everything else must survive a full recovery.
    may_lose: set[int] = set()
    if name.endswith(".log") and name in layout and where is None:      # the whole segment file is gone
        for _, h in layout[name]:
            may_lose.update(range(h.base_offset, h.last_offset + 1))
    if name.endswith(".log") and name in layout and where is not None:
        hit = False
        for pos, h in layout[name]:
            hit = hit or where < pos + h.size
            if hit:
                may_lose.update(range(h.base_offset, h.last_offset + 1))
    started = time.process_time()
    context = f"log seed {seed}: {damage} {name}{'' if where is None else f' at {where}'}, " \
              f"{'clean' if clean else 'unclean'} shutdown"
    with cpu_watchdog(20 * SLOW_CASE_SECONDS, context):
        kept, refused = _reopen_and_check(storage, log.config, context, expected, deleted_before, may_lose,
                                          log.log_end_offset)
    if time.process_time() - started > 10 * SLOW_CASE_SECONDS:
        raise Finding(f"{context}: reopening took {time.process_time() - started:.1f} CPU seconds")
    return TrialResult(name, damage, clean, len(expected), kept, refused)


def _reopen_and_check(storage: MemoryStorage, config: LogConfig, context: str, expected: dict[int, tuple],
                      deleted_before: int, may_lose: set[int], end: int) -> tuple[int, bool]:
    """Open the damaged log twice (default, then full recovery) and check the rules; (kept, refused).

    ``end`` is the log end offset before the damage: no reopening may claim offsets past it.
    """
    kept = 0
    refused = False
    for full in (False, True):
        try:
            again = Log(storage=storage, config=config, clock=lambda: 0, full_recovery=full)
        except LogError:
            refused = True       # refusing to open, with a msglib error that says why, is allowed
            continue
        except Exception as exc:  # noqa: BLE001
            raise Finding(f"{context}: opening raised {type(exc).__name__}: {exc}") from exc
        try:
            if again.log_end_offset > end:
                raise Finding(f"{context}: the log end offset grew from {end} to {again.log_end_offset} "
                              f"({'full recovery' if full else 'default open'}). {again.recovery_report.summary()}")
            got = _read_all(again, context)
            for r in got:
                if r[0] < deleted_before:
                    raise Finding(f"{context}: offset {r[0]} came back although delete_records_before("
                                  f"{deleted_before}) deleted it. {again.recovery_report.summary()}")
                if expected.get(r[0]) != r:
                    raise Finding(f"{context}: offset {r[0]} came back as {r!r}, never written")
            if full:
                kept = len(got)
                have = {r[0] for r in got}
                missing = sorted(o for o in expected if o not in may_lose and o not in have)
                if missing:
                    raise Finding(f"{context}: full recovery lost offsets {missing[:8]} outside the damaged "
                                  f"stretch. {again.recovery_report.summary()}")
                if again.log_start_offset < deleted_before:
                    raise Finding(f"{context}: the log start offset went back from {deleted_before} to "
                                  f"{again.log_start_offset}. {again.recovery_report.summary()}")
                top = max(have, default=-1)
                info = again.append([Record(b"after", b"reopen", 5)])
                if info.first_offset <= top:
                    raise Finding(f"{context}: an append after recovery got offset {info.first_offset}, "
                                  f"already used by a kept record")
        finally:
            again.abandon()
    return kept, refused


def _read_all(log: Log, context: str) -> list[tuple]:
    """Every record a reader gets, going on past a batch that reads as corrupt (a default open may meet one)."""
    out: list[tuple] = []
    offset = log.log_start_offset
    for _ in range(100_000):
        if offset >= log.log_end_offset:
            return out
        try:
            data = log.read(offset, max_bytes=1 << 20)
            records = data.records()
        except CorruptRecordError:
            offset += 1             # a damaged batch: a reader is told, and may skip it
            continue
        except LogError as exc:
            raise Finding(f"{context}: read({offset}) raised {type(exc).__name__}: {exc}") from exc
        out.extend(_as_tuple(r) for r in records)
        if data.next_offset <= offset:
            raise Finding(f"{context}: read({offset}) did not move forward")
        offset = data.next_offset
    raise Finding(f"{context}: reading never reached the log end offset")


def _damage(storage: MemoryStorage, name: str, damage: str, rng: random.Random,
            batch_positions: list[int]) -> int | None:
    """Damage one file; return the first damaged byte position in it (None if it was deleted or created)."""
    f = storage.files.get(name)
    if damage == "delete" or f is None:
        if f is None and damage in ("garbage", "append"):
            storage.write_file(name, rng.randbytes(rng.randint(0, 30)))   # a file that should not be there
        else:
            storage.delete(name)
        return None
    data = f.data
    if not data:
        data += rng.randbytes(rng.randint(1, 20))
        f.synced = len(data)
        return 0
    if damage == "field" and batch_positions:
        start = rng.choice(batch_positions)
        offset, fmt = rng.choice(_HEADER_FIELDS)
        bits = struct.calcsize(fmt) * 8
        low, high = (0, 2**bits - 1) if fmt.endswith("I") else (-2**(bits - 1), 2**(bits - 1) - 1)
        value = rng.choice([low, high, 0, 1, -1, 100, rng.randint(low, high)])
        struct.pack_into(fmt, data, start + offset, max(low, min(high, value)))
        f.synced = len(data)
        return start + offset
    if damage in ("flip", "field"):
        spots = sorted(rng.randrange(len(data)) for _ in range(rng.randint(1, 4)))
        for p in spots:
            data[p] ^= rng.randint(1, 255)
        where = spots[0]
    elif damage == "truncate":
        where = rng.randrange(len(data))
        del data[where:]
    elif damage == "garbage":
        where = rng.randrange(len(data))
        n = rng.randint(1, 40)
        data[where:where + n] = rng.randbytes(min(n, len(data) - where))
    else:                                               # junk after the end (a torn or stray write)
        where = len(data)
        data += rng.randbytes(rng.randint(1, 80))
    f.synced = len(data)
    return where
