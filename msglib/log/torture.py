"""Reliability trials for the log: kill -9 while appending, and corrupted files.

Used by the tests (a few trials) and ``benchmarks/bench_log.py`` (hundreds).
Every trial is seeded; a failure raises :class:`TrialFailed` with the seed.

* :func:`kill_trial` -- a child process appends with an fsync per append and
  prints each acknowledged offset; the parent kills it with SIGKILL at a
  random moment, reopens the log, and checks that every acknowledged record
  is there, intact, and that nothing invalid is returned.
* :func:`corruption_trial` -- build a log, crash or close it, flip random
  bytes in (or truncate) a random segment or index file, reopen: reads never
  return a wrong record, and a full recovery keeps every record outside the
  damaged segment's tail (``fuzz.py`` damages every other file kind too).
"""
from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from .config import LogConfig
from .errors import CorruptRecordError
from .log import Log
from .records import Compression, Record, RecordBatch
from .storage import MemoryStorage


class TrialFailed(AssertionError):
    pass


def expected_value(offset: int) -> bytes:
    """The value the kill trials write at ``offset`` (so any record can be checked alone)."""
    return b"offset=%d;" % offset + bytes([65 + offset % 26]) * (offset % 37)


# --------------------------------------------------------------------------- kill -9
KILL_CONFIG = dict(segment_bytes=8192, index_interval_bytes=512, flush_messages=1)


def _child(directory: str, seed: int) -> None:  # pragma: no cover - runs in the child process
    rng = random.Random(seed)
    log = Log(directory=directory, config=LogConfig(**KILL_CONFIG))
    out = sys.stdout
    while True:
        base = log.log_end_offset
        n = rng.randint(1, 8)
        info = log.append([Record(b"k%d" % (o % 11), expected_value(o), 1000 + o) for o in range(base, base + n)])
        out.write(f"{info.last_offset}\n")
        out.flush()


@dataclass
class KillResult:
    acked: int              # the last acknowledged offset (-1 if none)
    recovered_end: int      # the log end offset after reopening
    truncated_bytes: int


def kill_trial(directory: str, seed: int, max_acks: int = 40) -> KillResult:
    """One kill -9 trial on ``directory`` (which may hold earlier trials' data).

    Raises :class:`TrialFailed` naming the seed when an acknowledged record is missing or wrong.
    """
    rng = random.Random(seed)
    stop_after = rng.randint(0, max_acks)
    proc = subprocess.Popen([sys.executable, "-c",
                             f"from msglib.log.torture import _child; _child({directory!r}, {seed})"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    acked = -1
    assert proc.stdout is not None
    try:
        while stop_after > 0:
            line = proc.stdout.readline()
            if not line:
                break
            acked = int(line)
            stop_after -= 1
        time.sleep(rng.random() * 0.003)                 # land somewhere inside a later append
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for line in proc.stdout:                          # acks printed before the kill landed
            if line.strip():
                acked = int(line)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != -signal.SIGKILL:
        raise TrialFailed(f"seed {seed}: the child exited with {proc.returncode} before the kill: "
                          f"{proc.stderr.read() if proc.stderr else ''}")
    log = Log(directory=directory, config=LogConfig(**KILL_CONFIG))
    try:
        if log.log_end_offset <= acked:
            raise TrialFailed(f"seed {seed}: offset {acked} was acknowledged but the log ends at "
                              f"{log.log_end_offset} after recovery")
        for r in log.records():
            if r.value != expected_value(r.offset) or r.key != b"k%d" % (r.offset % 11):
                raise TrialFailed(f"seed {seed}: offset {r.offset} came back as {r.key!r}={r.value!r}")
        count = sum(1 for _ in log.records())
        if count != log.log_end_offset - log.log_start_offset:
            raise TrialFailed(f"seed {seed}: {count} records for offsets {log.log_start_offset}.."
                              f"{log.log_end_offset}: some are missing")
        return KillResult(acked, log.log_end_offset, log.recovery_report.truncated_bytes)
    finally:
        log.abandon()


# --------------------------------------------------------------------------- corruption
@dataclass
class CorruptionResult:
    file: str
    kind: str                # "flip" or "truncate"
    clean_shutdown: bool
    records: int             # records before the corruption
    kept: int                # records after full recovery
    detected: bool           # recovery (or a read) noticed


def _build(rng: random.Random, storage: MemoryStorage) -> tuple[Log, list[tuple]]:
    cfg = LogConfig(segment_bytes=rng.choice([600, 1500, 4000]), index_interval_bytes=rng.choice([0, 100, 300]))
    log = Log(storage=storage, config=cfg, clock=lambda: 0)
    epoch = 0
    for _ in range(rng.randint(5, 40)):
        base = log.log_end_offset
        recs = []
        for o in range(base, base + rng.randint(1, 6)):
            key = None if rng.random() < 0.2 else b"key-%d" % rng.randint(0, 9)
            value = None if rng.random() < 0.05 else rng.randbytes(rng.randint(0, 60))
            headers = (("h", b"%d" % o),) if rng.random() < 0.2 else ()
            recs.append(Record(key, value, 1000 + o, headers))
        if rng.random() < 0.1:
            epoch += 1
        codec = Compression.GZIP if rng.random() < 0.15 else Compression.NONE
        log.append(RecordBatch(recs, compression=codec), leader_epoch=epoch)
    expected = [(r.offset, r.key, r.value, r.timestamp, tuple(r.headers)) for r in log.records()]
    return log, expected


def _as_tuples(records) -> list[tuple]:
    return [(r.offset, r.key, r.value, r.timestamp, tuple(r.headers)) for r in records]


def corruption_trial(seed: int) -> CorruptionResult:
    """One corruption trial (in memory; the storage code path is the same as on disk).

    Raises :class:`TrialFailed` naming the seed when a read returns a record that was never
    written, or a full recovery loses a record outside the damaged stretch.
    """
    rng = random.Random(seed)
    storage = MemoryStorage()
    log, expected = _build(rng, storage)
    config = log.config
    # Where each batch lives, to know which records a damaged byte belongs to.
    layout = {seg.file_name: [(pos, h) for pos, h in seg.batch_headers()] for seg in log.segments}
    clean = rng.random() < 0.5
    if clean:
        log.close()
    else:
        log.flush()
        log.abandon()
    names = [n for n in storage.list() if n.endswith((".log", ".index", ".timeindex")) and storage.files[n].data]
    name = rng.choice(names)
    data = storage.files[name].data
    kind = rng.choice(["flip", "flip", "truncate"])
    if kind == "flip":
        where = sorted(rng.randrange(len(data)) for _ in range(rng.randint(1, 3)))
        for p in where:
            data[p] ^= rng.randint(1, 255)
        first_bad = where[0]
    else:
        first_bad = rng.randrange(len(data))
        del data[first_bad:]
    storage.files[name].synced = len(data)

    # Which records may be lost: in a damaged .log file, those of the first damaged batch and every
    # batch after it in that file (recovery cuts a damaged segment's tail, and keeps every other
    # segment). Damage to an index loses nothing: indexes are rebuilt from the batches.
    may_lose: set[int] = set()
    if name.endswith(".log"):
        damage = where if kind == "flip" else [first_bad]
        hit = False
        for pos, h in layout[name]:
            hit = hit or any(p < pos + h.size for p in damage)
            if hit:
                may_lose.update(range(h.base_offset, h.last_offset + 1))
    by_offset = {e[0]: e for e in expected}
    must_keep = [e for e in expected if e[0] not in may_lose]

    def check_correct(records: list[tuple], what: str) -> None:
        for r in records:
            if by_offset.get(r[0]) != r:
                raise TrialFailed(f"seed {seed}: after damaging {name} ({kind} at {first_bad}) {what} returned "
                                  f"{r!r}, which was never written at offset {r[0]}")

    # 1. A default open: whatever reads return must be exactly right.
    detected = False
    reopened = Log(storage=storage, config=config, clock=lambda: 0)
    detected = reopened.recovery_report.truncated or bool(reopened.recovery_report.rebuilt_indexes)
    got: list[tuple] = []
    try:
        for r in reopened.records():
            got.append(_as_tuples([r])[0])
    except CorruptRecordError:
        detected = True
    check_correct(got, "a read")
    reopened.abandon()

    # 2. A full recovery: every record outside the damaged stretch is kept, and nothing wrong.
    full = Log(storage=storage, config=config, clock=lambda: 0, full_recovery=True)
    kept = _as_tuples(full.records())
    check_correct(kept, "full recovery")
    missing = sorted({e[0] for e in must_keep} - {k[0] for k in kept})
    if missing:
        raise TrialFailed(f"seed {seed}: full recovery lost offsets {missing[:10]} after damage to {name} "
                          f"({kind} at byte {first_bad}), outside the damaged stretch. "
                          f"{full.recovery_report.summary()}")
    end = expected[-1][0] + 1 if expected else 0
    if kept and not kept[-1][0] < full.log_end_offset <= end:
        raise TrialFailed(f"seed {seed}: log end offset {full.log_end_offset} after recovery, but the last kept "
                          f"record is at {kept[-1][0]} and the log ended at {end}")
    full.abandon()
    return CorruptionResult(name, kind, clean, len(expected), len(kept), detected or len(kept) < len(expected))
