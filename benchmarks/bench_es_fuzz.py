"""Fuzzing the event store: random event data, metadata and arguments, for long runs outside CI.

    .venv/bin/python -m benchmarks.bench_es_fuzz --fuzz 100000     # 100,000 cases, recorded in results.json
    .venv/bin/python -m benchmarks.bench_es_fuzz                   # (and --quick) 300 cases, nothing recorded:
                                                                   # `make bench` runs it this way, in seconds

Each case (``store_case``) appends an event whose data and metadata are random Python values (nested
dicts with non-string keys, NaN and infinity, sets, bytes, tuples, objects...) to an in-memory store,
or calls a reading method with random arguments. The rules: the store either refuses the call with
an ``EventStoreError`` (nothing written) or stores the event so that it reads back exactly as given
(tuples as lists, the one change JSON makes); every other exception is a finding; and after every
case ``read_all`` still returns every stored event. ``tests/test_es_fuzz.py`` checks the same rules
with hypothesis on a few hundred cases in every test run.

Figures: ``es.fuzz.cases`` (cases run) and ``es.fuzz.findings`` (cases that broke a rule).
"""
from __future__ import annotations

import argparse
import math
import random
import signal
import time
from typing import Any

from benchmarks import results
from msglib.es import EventStore, EventStoreError, NewEvent

COMMAND = ".venv/bin/python -m benchmarks.bench_es_fuzz"


class Finding(AssertionError):
    """A case that broke a rule."""


def random_value(rng: random.Random, depth: int = 0) -> Any:
    """A random Python value: mostly JSON, sometimes not (to be refused)."""
    pick = rng.random()
    if depth > 3 or pick < 0.45:
        return rng.choice([None, True, False, 0, -1, 2**70, rng.randrange(-10**6, 10**6), rng.random() * 1e6,
                           float("nan"), float("inf"), -0.0, "", "text", "ünï\u2603", "\x00", b"bytes",
                           {1, 2}, object(), 1j])
    if pick < 0.75:
        keys = [rng.choice(["a", "b", "key", "", "é", 1, 2.5, None, True, (1, 2)]) for _ in range(rng.randint(0, 4))]
        return {k: random_value(rng, depth + 1) for k in keys}
    items = [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return items if rng.random() < 0.8 else tuple(items)


def as_json(value: Any) -> Any:
    """What the store should give back for ``value``: tuples become lists, nothing else changes."""
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def check_append(store: EventStore, stream: str, data: Any, metadata: Any = None, **kwargs: Any) -> bool:
    """Append one event; True if stored. Raises Finding if a rule broke."""
    before = store.read_all()
    try:
        result = store.append(stream, NewEvent("E", data, metadata=metadata), **kwargs)
    except EventStoreError:
        after = store.read_all()
        if [e.position for e in after] != [e.position for e in before]:
            raise Finding(f"a refused append changed the store: data={data!r:.200}") from None
        return False
    except Exception as exc:  # noqa: BLE001 - anything else is a finding
        raise Finding(f"append(data={data!r:.200}, metadata={metadata!r:.100}, {kwargs}) raised "
                      f"{type(exc).__name__}: {exc}") from exc
    events = store.read_all()                       # the whole store stays readable
    stored = events[-1]
    expected = {} if data is None else as_json(data)   # NewEvent(type, None) means empty data
    if stored.position != result.last_position or not _same(stored.data, expected):
        raise Finding(f"data {data!r:.200} read back as {stored.data!r:.200}")
    if metadata and not _same(dict(stored.metadata), as_json(dict(metadata))):
        raise Finding(f"metadata {metadata!r:.200} read back as {stored.metadata!r:.200}")
    return True


# method -> (fewest, most) positional arguments: the fuzzer gets the arity right and the values wrong.
_CALLS = {"read_all": (0, 2), "read_stream": (1, 1), "iter_all": (0, 2), "set_checkpoint": (2, 2),
          "get_checkpoint": (1, 1), "save_snapshot": (3, 4), "latest_snapshot": (1, 3), "streams": (0, 1),
          "stream_version": (1, 1)}


def check_call(store: EventStore, method: str, args: tuple) -> None:
    """Call a store method with arbitrary arguments: a result or an EventStoreError, nothing else."""
    try:
        out = getattr(store, method)(*args)
        if method == "iter_all":
            list(out)
    except EventStoreError:
        pass
    except Exception as exc:  # noqa: BLE001
        raise Finding(f"{method}{args!r:.200} raised {type(exc).__name__}: {exc}") from exc
    store.read_all()


def store_case(store: EventStore, seed: int) -> str:
    """Case number ``seed``: an append of random data/metadata or a call with random arguments."""
    rng = random.Random(seed)
    try:
        if rng.random() < 0.7:
            data = random_value(rng) if rng.random() < 0.3 else {f"k{i}": random_value(rng, 1)
                                                                  for i in range(rng.randint(0, 3))}
            metadata = None if rng.random() < 0.5 else random_value(rng)
            kwargs = {}
            if rng.random() < 0.2:
                kwargs["correlation_id"] = random_value(rng, 3)
            return "stored" if check_append(store, rng.choice(["s", "t-1", "acc"]), data, metadata, **kwargs) \
                else "refused"
        method = rng.choice(sorted(_CALLS))
        low, high = _CALLS[method]
        args = tuple(random_value(rng, 3) if rng.random() < 0.6 else rng.randint(-3, 5)
                     for _ in range(rng.randint(low, high)))
        check_call(store, method, args)
        return "call"
    except Finding as exc:
        raise Finding(f"es seed {seed}: {exc}") from None


def run(cases: int, start: int, record_every: int, quick: bool) -> int:
    counts = {"stored": 0, "refused": 0, "call": 0}
    findings = 0
    done = 0

    def save() -> None:
        if quick or not done:
            print(f"es.fuzz.cases {done:,} ({findings} findings; quick run: not recorded)")
            return
        command = f"{COMMAND} --fuzz {cases}"
        results.record("es.fuzz.cases", done, f"cases run (seeds {start}..{start + done - 1})",
                       target=">= 100,000", command=command)
        results.record("es.fuzz.findings", findings, "cases that broke a rule", target="0",
                       higher_is_better=False, command=command)

    def stop(*_: object) -> None:
        raise KeyboardInterrupt      # SIGTERM ends the run like Ctrl-C: the count reached is recorded

    signal.signal(signal.SIGTERM, stop)
    t = time.perf_counter()
    store = EventStore(":memory:", clock=lambda: 1.0)
    try:
        for seed in range(start, start + cases):
            if done and done % 2000 == 0:          # a fresh store now and then: reads stay short
                store.close()
                store = EventStore(":memory:", clock=lambda: 1.0)
            try:
                counts[store_case(store, seed)] += 1
            except Finding as exc:
                findings += 1
                print(f"FINDING: {exc}", flush=True)
            done += 1
            if done % record_every == 0:
                print(f"  {done:,} cases, {findings} findings, {time.perf_counter() - t:.0f} s", flush=True)
                save()
    except KeyboardInterrupt:
        print("interrupted: recording the count reached", flush=True)
    save()
    print(f"es fuzz: {done:,} cases ({counts['stored']:,} stored, {counts['refused']:,} refused, "
          f"{counts['call']:,} calls), {findings} findings, {time.perf_counter() - t:.0f} s")
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fuzz", type=int, default=None, metavar="N",
                        help="cases to run and record (without it: 300 cases, not recorded)")
    parser.add_argument("--fuzz-start", type=int, default=0, help="first seed (to continue a run)")
    parser.add_argument("--record-every", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="300 cases, nothing recorded")
    args = parser.parse_args(argv)
    if (args.fuzz is not None and args.fuzz < 0) or args.record_every < 1:
        parser.error("--fuzz takes a count >= 0 and --record-every one >= 1")
    quick = args.quick or args.fuzz is None
    cases = 300 if quick else args.fuzz
    if args.fuzz is None and not args.quick:
        print("a short check of 300 cases; long runs: --fuzz N (e.g. --fuzz 100000), recorded in results.json")
    return 1 if run(cases, args.fuzz_start, args.record_every, quick) else 0


if __name__ == "__main__":
    raise SystemExit(main())
