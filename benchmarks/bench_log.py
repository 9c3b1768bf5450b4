"""Benchmarks for msglib.log: throughput, memory, and the reliability trials at scale.

    .venv/bin/python -m benchmarks.bench_log            # the issue's figures (1M records, 200 kills, 1,000 corruptions)
    .venv/bin/python -m benchmarks.bench_log --quick    # tiny counts: proves the script runs
    .venv/bin/python -m benchmarks.bench_log --only append   # the pre-encoded append figure alone
    .venv/bin/python -m benchmarks.bench_log --fuzz 1000000 --fuzz-logs 10000   # long fuzz runs only

Figures (each recorded in benchmarks/results.json by ``record``):

* ``log.append_preencoded_disk``  records/s appending pre-encoded batches (1M records, 100-byte values,
  1,000 per batch) to the on-disk log; baseline = plain buffered file writes of the same bytes, same run;
  the load average (1, 5, 15 min) is recorded beside it.
* ``log.encode_append``           records/s building batches from Record objects + appending (producer path).
* ``log.read_decode``             records/s reading the whole log sequentially and decoding every record.
* ``log.memory_ratio``            in-memory log: traced bytes / encoded bytes for 1M 100-byte records.
* ``log.kill9_trials`` / ``log.corruption_trials``: trials run with zero failures (a failure aborts).
* ``log.fuzz.decoder_cases`` / ``log.fuzz.damaged_reopenings`` (``--fuzz``): fuzz cases run (see
  ``msglib/log/fuzz.py``), with ``*_findings`` beside them: how many broke a rule (each is printed
  with the seed that replays it). Recorded every ``--record-every`` cases and on Ctrl-C, so a long
  run stopped early still records the count it reached.

The machine is shared (2 cores, other jobs running), so each timing is the best of ``--repeat`` runs
measured in CPU seconds of this process (user + system, ``time.process_time``): a busy neighbour then
does not halve the figure. The wall-clock figure is printed beside it.
"""
from __future__ import annotations

import argparse
import gc
import os
import shutil
import signal
import sys
import tempfile
import time
import tracemalloc

from benchmarks import results

QUICK = False


def record(name: str, value: float, unit: str, **kw) -> None:
    """Record a figure, unless this is a --quick run (whose tiny counts must not overwrite real figures)."""
    if QUICK:
        print(f"{name:<55} {value:>14,.2f} {unit}  (quick run: not recorded)")
    else:
        results.record(name, value, unit, **kw)


def annotate(name: str, **fields: object) -> None:
    """Add facts (e.g. the machine's load average) to a figure just recorded (not on a --quick run)."""
    if QUICK:
        return
    import json
    data = json.loads(results.RESULTS.read_text())
    data[name].update(fields)
    results.RESULTS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


from msglib.log import Log, LogConfig, Record, RecordBatch
from msglib.log.crc import BACKEND
from msglib.log.torture import corruption_trial, kill_trial

COMMAND = "python -m benchmarks.bench_log"


def make_values(count: int) -> list[bytes]:
    return [(b"%08d" % i) * 12 + b"-padding" + b"%04d" % (i % 10000) for i in range(count)]  # 100 bytes


def best_of(repeat: int, fn) -> float:
    """Best CPU time of ``repeat`` runs (prints the best wall time too)."""
    best = best_wall = float("inf")
    for _ in range(repeat):
        gc.collect()
        t, c = time.perf_counter(), time.process_time()
        fn()
        best = min(best, time.process_time() - c)
        best_wall = min(best_wall, time.perf_counter() - t)
    print(f"    [{fn.__name__}: best of {repeat}: {best:.3f} CPU s, {best_wall:.3f} wall s]")
    return best


def bench_append_preencoded(tmp: str, batches: list[bytes], records: int, repeat: int) -> None:
    total_bytes = sum(len(b) for b in batches)
    counter = iter(range(10**9))

    def plain() -> None:
        path = os.path.join(tmp, f"plain-{next(counter)}.bin")
        with open(path, "wb") as f:
            for b in batches:
                f.write(b)
        os.remove(path)

    def log_append() -> None:
        d = os.path.join(tmp, f"bench-{next(counter)}")
        log = Log(directory=d, config=LogConfig(max_message_bytes=1 << 24), clock=lambda: 0)
        for b in batches:
            log.append(b)
        log.abandon()
        shutil.rmtree(d)

    base = best_of(repeat, plain)
    ours = best_of(repeat, log_append)
    record("log.append_preencoded_disk", records / ours, "records/CPU-s", baseline=records / base,
           baseline_name="plain buffered file writes of the same bytes (same run)", target=">= 0.5x baseline",
           command=COMMAND)
    load = os.getloadavg()
    annotate("log.append_preencoded_disk", load_average_1_5_15=[round(x, 2) for x in load])
    print(f"    ({total_bytes / 1e6:.1f} MB; log {total_bytes / ours / 1e6:.0f} MB/s, "
          f"plain {total_bytes / base / 1e6:.0f} MB/s; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})")


def bench_encode_append(values: list[bytes], per_batch: int, repeat: int) -> Log:
    records = [Record(None, v, 1_700_000_000_000) for v in values]
    chunks = [records[i:i + per_batch] for i in range(0, len(records), per_batch)]
    holder: list[Log] = []

    def run() -> None:
        holder.clear()
        log = Log(config=LogConfig(max_message_bytes=1 << 24), clock=lambda: 0)
        for chunk in chunks:
            log.append(RecordBatch(chunk))
        holder.append(log)

    t = best_of(repeat, run)
    record("log.encode_append", len(values) / t, "records/CPU-s", target=">= 500,000 records/s", command=COMMAND)
    return holder[0]


def bench_read_decode(log: Log, repeat: int) -> None:
    count = [0]

    def run() -> None:
        n = 0
        offset = log.log_start_offset
        end = log.log_end_offset
        while offset < end:
            data = log.read(offset)           # the default fetch size, 1 MiB (max.partition.fetch.bytes)
            for batch in data:
                n += len(batch.records)
            offset = data.next_offset
        count[0] = n

    t = best_of(repeat, run)
    assert count[0] == log.log_end_offset, (count[0], log.log_end_offset)
    record("log.read_decode", count[0] / t, "records/CPU-s", target=">= 500,000 records/s", command=COMMAND)


def bench_memory(batches: list[bytes], records: int) -> None:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    log = Log(config=LogConfig(max_message_bytes=1 << 24), clock=lambda: 0)
    for b in batches:
        log.append(b)
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    encoded = log.size_in_bytes
    record("log.memory_ratio", used / encoded, "x encoded size", target="<= 2.0", higher_is_better=False,
           command=COMMAND)
    print(f"    ({records:,} records: {used / 1e6:.1f} MB held for {encoded / 1e6:.1f} MB encoded, "
          f"{used / records:.1f} bytes/record)")


def bench_reliability(tmp: str, kills: int, corruptions: int) -> None:
    directory = os.path.join(tmp, "kill-0")
    t = time.perf_counter()
    truncations = 0
    for seed in range(kills):
        result = kill_trial(directory, seed)
        truncations += result.truncated_bytes > 0
    record("log.kill9_trials", kills, "trials, 0 acknowledged records lost", target=">= 200", command=COMMAND)
    print(f"    ({truncations} of them found a torn tail to cut; {time.perf_counter() - t:.0f} s)")
    t = time.perf_counter()
    cut = 0
    for seed in range(corruptions):
        result = corruption_trial(seed)
        cut += result.kept < result.records
    record("log.corruption_trials", corruptions, "trials, 0 wrong records returned", target=">= 1,000",
           command=COMMAND)
    print(f"    ({cut} needed a cut; {time.perf_counter() - t:.0f} s)")


def _fuzz_chunk(job: tuple[str, int, int]) -> tuple[int, list[str]]:
    """Run ``count`` cases of one kind from seed ``first`` (in a worker process); (cases run, findings)."""
    from msglib.log.fuzz import Finding, damaged_log_trial, decoder_seed_case

    kind, first, count = job
    case = decoder_seed_case if kind == "decoder" else damaged_log_trial
    found = []
    for seed in range(first, first + count):
        try:
            case(seed)
        except Finding as exc:
            found.append(str(exc))
    return count, found


def run_fuzz(decoder_cases: int, log_trials: int, start: int, record_every: int, processes: int = 1) -> int:
    """Run the fuzzers for long; record the counts reached and the findings. Returns the findings.

    Seeds are handed out in chunks, in order, to ``processes`` workers; the counts recorded are
    those of the chunks finished in seed order (seeds ``start`` .. ``start + count - 1``).
    """
    import multiprocessing

    from msglib.log.crc import BACKEND

    counts = {"decoder": 0, "logs": 0}
    findings = {"decoder": 0, "logs": 0}
    command = f"{COMMAND} --fuzz {decoder_cases} --fuzz-logs {log_trials} --processes {processes}"

    def save() -> None:
        for kind, name in (("decoder", "log.fuzz.decoder_cases"), ("logs", "log.fuzz.damaged_reopenings")):
            if counts[kind]:
                record(name, counts[kind], f"cases run (seeds {start}..{start + counts[kind] - 1}; "
                                           f"CRC-32C: {BACKEND})",
                       target=">= 1,000,000" if kind == "decoder" else ">= 10,000", command=command)
                record(name.replace("_cases", "_findings").replace("reopenings", "findings"), findings[kind],
                       "cases that broke a rule", target="0", higher_is_better=False, command=command)

    def stop(*_: object) -> None:
        raise KeyboardInterrupt      # SIGTERM (e.g. a deadline) ends the run like Ctrl-C: counts recorded

    signal.signal(signal.SIGTERM, stop)
    t = time.perf_counter()
    pool = multiprocessing.Pool(processes) if processes > 1 else None
    try:
        for kind, total in (("logs", log_trials), ("decoder", decoder_cases)):
            size = 2000 if kind == "decoder" else 100
            jobs = [(kind, first, min(size, start + total - first)) for first in range(start, start + total, size)]
            results = pool.imap(_fuzz_chunk, jobs) if pool is not None else map(_fuzz_chunk, jobs)
            every = record_every if kind == "decoder" else max(1, record_every // 50)   # a log trial is slower
            for done, found in results:
                for message in found:
                    print(f"FINDING ({kind}): {message}", flush=True)
                before = counts[kind]
                counts[kind] += done
                findings[kind] += len(found)
                if counts[kind] // every > before // every:
                    print(f"  {kind}: {counts[kind]:,} cases, {findings[kind]} findings, "
                          f"{time.perf_counter() - t:.0f} s", flush=True)
                    save()
    except KeyboardInterrupt:
        print("interrupted: recording the counts reached", flush=True)
    finally:
        if pool is not None:
            pool.terminate()
    save()
    print(f"fuzz: {counts['decoder']:,} decoder cases ({findings['decoder']} findings), {counts['logs']:,} "
          f"damaged-log reopenings ({findings['logs']} findings), {time.perf_counter() - t:.0f} s")
    return findings["decoder"] + findings["logs"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts, to check the script runs")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-reliability", action="store_true")
    parser.add_argument("--only", choices=("append",), default=None,
                        help="only the pre-encoded append figure (log.append_preencoded_disk)")
    parser.add_argument("--fuzz", type=int, default=None, metavar="N",
                        help="only fuzz: N record-decoder cases (and --fuzz-logs damaged-log reopenings)")
    parser.add_argument("--fuzz-logs", type=int, default=None, metavar="M",
                        help="damaged-log reopenings with --fuzz (default N // 100)")
    parser.add_argument("--fuzz-start", type=int, default=0, help="first fuzz seed (to continue a run)")
    parser.add_argument("--record-every", type=int, default=50_000, help="record the fuzz counts this often")
    parser.add_argument("--processes", type=int, default=1, help="fuzz worker processes (default 1)")
    args = parser.parse_args(argv)
    global QUICK
    QUICK = args.quick
    if args.fuzz is not None:
        if args.fuzz < 0 or (args.fuzz_logs is not None and args.fuzz_logs < 0) or args.record_every < 1:
            parser.error("--fuzz, --fuzz-logs and --record-every take counts >= 0 (--record-every >= 1)")
        logs = args.fuzz // 100 if args.fuzz_logs is None else args.fuzz_logs
        if args.processes < 1:
            parser.error("--processes takes a count >= 1")
        run_fuzz(args.fuzz, logs, args.fuzz_start, min(args.record_every, max(1, args.fuzz)), args.processes)
        return
    records, per_batch = (20_000, 1000) if args.quick else (1_000_000, 1000)
    repeat = 1 if args.quick else args.repeat
    kills, corruptions = (3, 20) if args.quick else (200, 1000)
    print(f"msglib.log benchmarks: {records:,} records of 100 bytes, {per_batch} per batch; CRC-32C: {BACKEND}")
    values = make_values(records)
    batches = [RecordBatch([Record(None, v, 1_700_000_000_000) for v in values[i:i + per_batch]]).encode()
               for i in range(0, records, per_batch)]
    tmp = tempfile.mkdtemp(prefix="bench_log_")
    try:
        bench_append_preencoded(tmp, batches, records, repeat)
        if args.only == "append":
            return
        log = bench_encode_append(values, per_batch, repeat)
        bench_read_decode(log, repeat)
        del log
        bench_memory(batches, records)
        if not args.skip_reliability:
            bench_reliability(tmp, kills, corruptions)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if BACKEND == "pure Python":
        print("note: the pure-Python CRC-32C was used; `pip install crc32c` for the real figures", file=sys.stderr)


if __name__ == "__main__":
    main()
