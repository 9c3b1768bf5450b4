"""Checks for module 02 (the log).

Each learner function is plugged into msglib's real Log through a seam:

* ``02-sparse_index_lookup`` -- ``lookup(index, target_offset) -> position`` becomes every
  segment's index lookup (``Log(index_lookup=...)``); every offset is then read back;
* ``02-choose_segment``      -- ``choose_segment(base_offsets, offset) -> i`` picks the
  segment for every read (``Log(segment_chooser=...)``);
* ``02-compaction_rule``     -- ``should_retain(record, latest_offset_for_key, tombstones_expired)``
  decides every record during compaction (``Log(compaction_rule=...)``), twice: before
  and after the tombstones' delete horizon;
* ``02-retention``           -- ``deletable_segments(segments, *, now_ms, retention_ms,
  retention_bytes, high_watermark) -> count`` drives ``Log.apply_retention``;

The producer's sticky partitioner (``02-sticky_partitioner``) has its checks in ``ex02_partitioner.py``.

Each check compares with msglib's own implementation on seeded cases and reports the
smallest case where they differ.
"""
from __future__ import annotations

import random
from typing import Any, Callable

from msglib.grading.core import CheckFailed, call_learner, require_callable, seeds
from msglib.log import (Log, LogConfig, Record, RecordBatch, SegmentInfo, choose_segment,
                        deletable_segments, floor_lookup)

EX_LOOKUP = "02-sparse_index_lookup"
EX_SEGMENT = "02-choose_segment"
EX_COMPACT = "02-compaction_rule"
EX_RETENTION = "02-retention"


class _CountingSequence:
    """A read-only sequence that counts how many items are looked at (to tell binary search from a scan)."""

    def __init__(self, items: list) -> None:
        self._items = items
        self.reads = 0

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i: int) -> Any:
        self.reads += 1
        return self._items[i]

    def __iter__(self):
        for item in self._items:
            self.reads += 1
            yield item


def _check_logarithmic(fn: Callable, items: list, target: int, name: str, exercise: str) -> None:
    """A big sorted input: the answer must come from O(log n) reads, as a segment's index has ~1M entries."""
    seq = _CountingSequence(items)
    call_learner(fn, seq, target, exercise=exercise, what=f"{name} on {len(items):,} entries")
    budget = 4 * len(items).bit_length() + 4
    if seq.reads > budget:
        raise CheckFailed(f"{name} looked at {seq.reads:,} of {len(items):,} entries to answer one query; binary "
                          f"search needs about {len(items).bit_length()}",
                          case=f"{name}(<{len(items):,} sorted entries>, {target})", exercise=exercise,
                          hint="halve the range at each step: compare with the middle entry")


def _short(entries: list, limit: int = 6) -> str:
    return repr(entries) if len(entries) <= limit else repr(entries[:limit])[:-1] + f", ... ({len(entries)} in all)]"


# ------------------------------------------------------------------ exercise 1: sparse index lookup
LOOKUP_CASES = [
    ([], 5),
    ([(10, 100), (20, 200), (35, 350)], 5),
    ([(10, 100), (20, 200), (35, 350)], 10),
    ([(10, 100), (20, 200), (35, 350)], 15),
    ([(10, 100), (20, 200), (35, 350)], 20),
    ([(10, 100), (20, 200), (35, 350)], 34),
    ([(10, 100), (20, 200), (35, 350)], 35),
    ([(10, 100), (20, 200), (35, 350)], 1000),
    ([(7, 4100)], 7),
    ([(7, 4100)], 6),
]


def _random_log(rng: random.Random, **options: Any) -> Log:
    cfg = LogConfig(segment_bytes=rng.choice([400, 900, 2500]), index_interval_bytes=rng.choice([0, 60, 200, 500]))
    log = Log(config=cfg, clock=lambda: 0, **options)
    for _ in range(rng.randint(8, 40)):
        base = log.log_end_offset
        log.append([Record(b"k%d" % rng.randint(0, 5), b"v%d" % o + b"." * rng.randint(0, 40), o)
                    for o in range(base, base + rng.randint(1, 4))])
    return log


def _check_lookup(fn: Callable, seed_list: list[int], exercise: str) -> None:
    require_callable(fn, "lookup", exercise)
    for entries, target in LOOKUP_CASES:
        got = call_learner(fn, list(entries), target, exercise=exercise, what=f"lookup({entries}, {target})")
        want = floor_lookup(entries, target)
        if got != want:
            raise CheckFailed(f"lookup returned position {got!r}; the entry with the greatest offset <= {target} "
                              f"is at position {want}", case=f"lookup({entries}, target_offset={target})",
                              exercise=exercise,
                              hint="take the last entry whose offset is <= the target; with none, start at 0")
    big = [(10 * i, 100 * i + 7) for i in range(100_000)]
    _check_logarithmic(fn, big, 654_321, "lookup", exercise)
    for seed in seed_list:
        rng = random.Random(seed)
        calls: list[tuple] = []

        def learner(index: Any, target: int) -> int:
            result = call_learner(fn, index, target, exercise=exercise, seed=seed,
                                  what=f"lookup(index of {len(index)} entries, {target})")
            calls.append((index.entries(), target, result))
            return result

        log = _random_log(rng, index_lookup=learner)
        for offset in range(log.log_start_offset, log.log_end_offset):
            calls.clear()
            try:
                records = log.read(offset).records()
            except CheckFailed:
                raise
            except Exception as exc:   # a position inside a batch makes the scan read garbage
                entries, target, result = calls[-1]
                raise CheckFailed(f"reading offset {offset} failed ({type(exc).__name__}) after lookup returned "
                                  f"position {result!r}", case=f"lookup({_short(entries)}, {target})",
                                  seed=seed, exercise=exercise) from None
            for entries, target, result in calls:
                want = floor_lookup(entries, target)
                if result != want:
                    raise CheckFailed(f"lookup returned position {result!r}; the scan must start at the entry "
                                      f"with the greatest offset <= {target}, position {want}",
                                      case=f"lookup({_short(entries)}, {target})", seed=seed, exercise=exercise)
            if not records or records[0].offset != offset:
                raise CheckFailed(f"reading offset {offset} through your lookup returned "
                                  f"{records[0].offset if records else 'nothing'}", seed=seed, exercise=exercise)


def check_sparse_index_lookup(fn: Callable, seed: int | None = None) -> None:
    _check_lookup(fn, [seed] if seed is not None else seeds(EX_LOOKUP, 3), EX_LOOKUP)


def hidden_sparse_index_lookup(fn: Callable, seed: int | None = None) -> None:
    _check_lookup(fn, [seed] if seed is not None else seeds(EX_LOOKUP, 12, hidden=True), EX_LOOKUP)


# ------------------------------------------------------------------ exercise 2: choosing the segment
SEGMENT_CASES = [([0], 0), ([0], 7), ([0, 100, 250], 0), ([0, 100, 250], 99), ([0, 100, 250], 100),
                 ([0, 100, 250], 101), ([0, 100, 250], 249), ([0, 100, 250], 250), ([0, 100, 250], 10**6),
                 ([40, 41, 42], 41)]


def _check_segment(fn: Callable, seed_list: list[int], exercise: str) -> None:
    require_callable(fn, "choose_segment", exercise)
    for bases, offset in SEGMENT_CASES:
        got = call_learner(fn, list(bases), offset, exercise=exercise, what=f"choose_segment({bases}, {offset})")
        want = choose_segment(bases, offset)
        if got != want:
            raise CheckFailed(f"choose_segment returned {got!r}; offset {offset} lives in segment #{want} "
                              f"(base offset {bases[want]})", case=f"choose_segment({bases}, offset={offset})",
                              exercise=exercise,
                              hint="the segment holding an offset is the last one whose base offset is <= it")
    _check_logarithmic(fn, [1000 * i for i in range(100_000)], 12_345_678, "choose_segment", exercise)
    for seed in seed_list:
        rng = random.Random(seed)

        def learner(bases: Any, offset: int) -> int:
            got = call_learner(fn, bases, offset, exercise=exercise, seed=seed,
                               what=f"choose_segment({_short(list(bases))}, {offset})")
            want = choose_segment(bases, offset)
            if got != want:
                raise CheckFailed(f"choose_segment returned {got!r} for offset {offset}; it lives in segment "
                                  f"#{want} (base offset {bases[want]})",
                                  case=f"choose_segment({_short(list(bases))}, offset={offset})",
                                  seed=seed, exercise=exercise)
            return got

        log = _random_log(rng, segment_chooser=learner)
        if rng.random() < 0.5 and len(log.segments) > 2:       # a log whose start moved up
            log.delete_records_before(log.segments[1].base_offset + 1)
        for offset in range(log.log_start_offset, log.log_end_offset):
            records = log.read(offset).records()
            if not records or records[0].offset != offset:
                raise CheckFailed(f"reading offset {offset} through your choose_segment returned "
                                  f"{records[0].offset if records else 'nothing'}", seed=seed, exercise=exercise)


def check_choose_segment(fn: Callable, seed: int | None = None) -> None:
    _check_segment(fn, [seed] if seed is not None else seeds(EX_SEGMENT, 3), EX_SEGMENT)


def hidden_choose_segment(fn: Callable, seed: int | None = None) -> None:
    _check_segment(fn, [seed] if seed is not None else seeds(EX_SEGMENT, 12, hidden=True), EX_SEGMENT)


# ------------------------------------------------------------------ exercise 3: the compaction rule
def _rule_cases() -> list[tuple[Record, dict, bool, bool, str]]:
    latest = {b"a": 4, b"b": 2}
    return [
        (Record(b"a", b"new", 0, offset=4), latest, False, True, "the latest value of its key"),
        (Record(b"a", b"old", 0, offset=1), latest, False, False, "an older value of a key"),
        (Record(b"b", None, 0, offset=2), latest, False, True, "the latest record is a tombstone, not yet expired"),
        (Record(b"b", None, 0, offset=2), latest, True, False, "the latest record is a tombstone past its horizon"),
        (Record(b"a", None, 0, offset=3), latest, False, False, "an older tombstone"),
        (Record(b"a", b"new", 0, offset=4), latest, True, True, "a value (not a tombstone) in an expired batch"),
        (Record(b"b", b"", 0, offset=2), latest, True, True,
         "an empty value b'' in an expired batch (empty is a value; only None is a tombstone)"),
    ]


def _survivors(log: Log) -> list[tuple]:
    return [(r.offset, r.key, r.value) for r in log.records()]


def _check_compaction(fn: Callable, seed_list: list[int], exercise: str) -> None:
    require_callable(fn, "should_retain", exercise)
    for record, latest, expired, want, why in _rule_cases():
        got = call_learner(fn, record, dict(latest), expired, exercise=exercise, what=why)
        if bool(got) != want:
            raise CheckFailed(f"should_retain returned {got!r} for {why}; it should return {want}",
                              case=f"should_retain({record!r}, {latest}, tombstones_expired={expired})",
                              exercise=exercise)
    day = 24 * 3600 * 1000
    for seed in seed_list:
        rng = random.Random(seed)
        mine = Log(config=LogConfig(cleanup_policy="compact", segment_bytes=rng.choice([300, 700, 5000]),
                                    delete_retention_ms=day), clock=lambda: 0)
        theirs = Log(config=mine.config, clock=lambda: 0,
                     compaction_rule=lambda r, latest, expired: call_learner(
                         fn, r, latest, expired, exercise=exercise, seed=seed, what=f"should_retain({r!r}, ...)"))
        writes = []
        for o in range(rng.randint(5, 40)):
            key = b"k%d" % rng.randint(0, 4)
            roll = rng.random()
            value = None if roll < 0.2 else b"" if roll < 0.3 else b"v%d" % o    # b"" is a value, not a delete
            writes.append((key, value))
            for log in (mine, theirs):
                log.append(RecordBatch([Record(key, value, o)]))
        for log in (mine, theirs):
            log.roll()
        for now, when in ((1000, "first compaction"), (1000 + day, "a compaction after delete.retention.ms")):
            mine.compact(now_ms=now)
            theirs.compact(now_ms=now)
            want, got = _survivors(mine), _survivors(theirs)
            if want != got:
                extra = sorted(set(got) - set(want))
                missing = sorted(set(want) - set(got))
                raise CheckFailed(f"after the {when} your rule kept {extra[:3] or 'nothing extra'} and dropped "
                                  f"{missing[:3] or 'nothing it should keep'}",
                                  case=f"writes (key, value) in offset order: {writes[:12]}"
                                       f"{' ...' if len(writes) > 12 else ''}", seed=seed, exercise=exercise)


def check_compaction_rule(fn: Callable, seed: int | None = None) -> None:
    _check_compaction(fn, [seed] if seed is not None else seeds(EX_COMPACT, 4), EX_COMPACT)


def hidden_compaction_rule(fn: Callable, seed: int | None = None) -> None:
    _check_compaction(fn, [seed] if seed is not None else seeds(EX_COMPACT, 20, hidden=True), EX_COMPACT)


# ------------------------------------------------------------------ exercise 4: retention
def _segments(rng: random.Random) -> tuple[list[SegmentInfo], int]:
    out = []
    offset = rng.randint(0, 50)
    ts = 1000
    for _ in range(rng.randint(1, 6)):
        n = rng.randint(1, 20)
        ts += rng.randint(-200, 600)
        out.append(SegmentInfo(offset, offset + n, rng.choice([100, 200, 300]), ts))
        offset += n
    return out, offset


def _check_retention(fn: Callable, seed_list: list[int], exercise: str) -> None:
    require_callable(fn, "deletable_segments", exercise)

    def call(segments: list, seed: int | None = None, **policy: Any) -> Any:
        return call_learner(fn, list(segments), **policy, exercise=exercise, seed=seed,
                            what=f"deletable_segments({segments}, {policy})")

    cases = []
    for seed in seed_list:
        rng = random.Random(seed)
        for _ in range(40):
            segments, end = _segments(rng)
            policy = dict(now_ms=rng.choice([1500, 2500, 4000]),
                          retention_ms=rng.choice([-1, 0, 500, 1000, 2000]),
                          retention_bytes=rng.choice([-1, -1, 0, 250, 400, 600]),
                          high_watermark=rng.choice([end, end, segments[-1].base_offset, segments[0].next_offset]))
            cases.append((len(segments), seed, segments, policy))
    fixed = [
        ([SegmentInfo(0, 10, 100, 1000)], dict(now_ms=2000, retention_ms=1000, retention_bytes=-1, high_watermark=10)),
        ([SegmentInfo(0, 10, 100, 1000), SegmentInfo(10, 20, 100, 900)],
         dict(now_ms=5000, retention_ms=-1, retention_bytes=-1, high_watermark=20)),
        ([SegmentInfo(0, 10, 100, 5000), SegmentInfo(10, 20, 100, 100), SegmentInfo(20, 25, 100, 5200)],
         dict(now_ms=5500, retention_ms=1000, retention_bytes=-1, high_watermark=25)),
    ]
    cases = [(len(s), None, s, p) for s, p in fixed] + sorted(cases, key=lambda c: c[0])
    for _, seed, segments, policy in cases:
        got = call(segments, seed, **policy)
        want = deletable_segments(segments, **policy)
        if got != want:
            raise CheckFailed(f"your rule says delete {got!r} of the oldest segments; the rules say {want}",
                              case=f"deletable_segments({segments}, now_ms={policy['now_ms']}, "
                                   f"retention_ms={policy['retention_ms']}, "
                                   f"retention_bytes={policy['retention_bytes']}, "
                                   f"high_watermark={policy['high_watermark']})", seed=seed, exercise=exercise,
                              hint="time: now - largest_timestamp > retention.ms; size: total - oldest >= "
                                   "retention.bytes; stop at the first segment that stays; never past the HW; "
                                   "-1 = no limit")
    # And inside a real log: apply_retention moves the log start to the first remaining segment.
    for seed in seed_list[:2]:
        rng = random.Random(seed)
        log = Log(config=LogConfig(retention_ms=rng.choice([100, 300]), retention_bytes=-1), clock=lambda: 0,
                  retention_rule=fn)
        for s in range(5):
            for _ in range(3):
                log.append([Record(None, b"x", s * 100)])
            log.roll()
        deleted = call_learner(log.apply_retention, now_ms=550, exercise=exercise, seed=seed,
                               what="Log.apply_retention with your rule")
        if log.log_start_offset != 3 * len(deleted):
            raise CheckFailed("after apply_retention the log start offset is not the first remaining "
                              "segment's base offset", seed=seed, exercise=exercise)


def check_retention(fn: Callable, seed: int | None = None) -> None:
    _check_retention(fn, [seed] if seed is not None else seeds(EX_RETENTION, 3), EX_RETENTION)


def hidden_retention(fn: Callable, seed: int | None = None) -> None:
    _check_retention(fn, [seed] if seed is not None else seeds(EX_RETENTION, 15, hidden=True), EX_RETENTION)
