"""Benchmarks for msglib.streams: what the processing costs beside a plain Python loop, and restore speed.

    .venv/bin/python -m benchmarks.bench_streams            # the figures below
    .venv/bin/python -m benchmarks.bench_streams --quick    # tiny counts: proves the script runs (nothing recorded)

Figures (recorded in benchmarks/results.json):

* ``streams.windowed_count``: records per CPU-second through one :class:`StreamTask` running a tumbling-window
  count (60 s windows, 10 s grace, emit final, exactly-once off, no cluster) on ``--records`` decoded records
  (1,000 keys, timestamps increasing with every 8th record up to 20 s late), handed to the task one commit
  interval (10,000 records) at a time with ``StreamTask.process_batch`` (the same results as ``process`` per
  record), and after each interval the store's changelog records encoded as an at-least-once commit would
  (the last write per key since the previous commit). Baseline, same run, same records:
  a plain dict loop computing the same final counts (stream time, grace, late records dropped). The script
  checks that both give the same counts before it records anything. Target: >= 0.3x the plain loop.
* ``streams.stream_table_join``: the same for a stream-table join (1,000 table rows, then the records joined
  with them) against a dict lookup loop.
* ``streams.cluster_windowed_count.{alos,eos}``: records per second of wall time for the whole application on
  the simulated 3-broker cluster (fetch, process, changelog, output, commits; 2 instances, 2 partitions),
  at-least-once and exactly-once v2 (``--cluster-records`` records).
* ``streams.restore_per_million``: seconds of wall time to restore a store from ``--restore-records``
  changelog records on the cluster (read_committed consumer, ``restore_from_changelog``), scaled to one
  million records (a linear extrapolation from the smaller run, as the unit says).

* ``streams.load_average``: the machine's 1-minute load average, mean of its values before and after the two
  in-process measurements (2 cores, shared: a busy machine lowers both sides of a ratio, not always evenly).

Timings are the best of ``--repeat`` runs, in CPU seconds of this process where the work is all in-process
(the machine is shared), in wall seconds for the cluster runs.
"""
from __future__ import annotations

import argparse
import os
import random
import time

from benchmarks import results
from msglib.cluster import Cluster, ClusterConfig
from msglib.protocol import TopicPartition
from msglib.streams.app import end_offsets, run_streams
from msglib.streams.stores import encode, restore_from_changelog
from msglib.streams.task import StreamTask, TaskId
from msglib.streams.topology import StreamsBuilder
from msglib.streams.windows import TimeWindows

QUICK = False
COMMAND = "python -m benchmarks.bench_streams"
SIZE, GRACE = 60_000, 10_000
COMMIT_EVERY = 10_000     # records per commit (Kafka's commit.interval.ms: 30 s at-least-once, 100 ms exactly-once)


def record(name: str, value: float, unit: str, **kw) -> None:
    if QUICK:
        base = kw.get("baseline")
        ratio = f"  ratio {value / base:.2f}" if base else ""
        print(f"{name:<55} {value:>14,.2f} {unit}{ratio}  (quick run: not recorded)")
    else:
        results.record(name, value, unit, command=COMMAND, **kw)


def make_records(n: int, keys: int = 1_000, seed: int = 0) -> list[tuple[str, int, int]]:
    rng = random.Random(seed)
    out, now = [], 0
    for i in range(n):
        now += rng.randint(0, 20)
        ts = max(0, now - rng.randint(0, 20_000)) if i % 8 == 7 else now
        out.append((f"k{rng.randrange(keys)}", i, ts))
    return out


# ---------------------------------------------------------------------------------- windowed count
def plain_windowed_count(records: list[tuple]) -> tuple[dict, int]:
    counts: dict = {}
    dropped = 0
    stream_time = -1
    for key, _value, ts in records:
        if ts > stream_time:
            stream_time = ts
        start = ts - ts % SIZE
        if stream_time < start + SIZE + GRACE:
            k = (key, start)
            counts[k] = counts.get(k, 0) + 1
        else:
            dropped += 1
    return counts, dropped


def windowed_topology():
    b = StreamsBuilder("bench")
    (b.stream("events").group_by_key().windowed_by(TimeWindows(SIZE, grace_ms=GRACE))
     .count(emit="final").to_stream().to("out"))
    return b.build()


def engine_windowed_count(records: list[tuple]) -> tuple[dict, int]:
    finals: dict = {}

    def collect(topic: str, key, value, ts) -> None:
        finals[(key[0], key[1])] = value
    task = StreamTask(windowed_topology(), TaskId(0, 0), send=collect)
    for first in range(0, len(records), COMMIT_EVERY):
        task.process_batch("events", records[first:first + COMMIT_EVERY])
        task.changelog_writes()                     # what an at-least-once commit sends to the changelog
    for (key, start), count in next(iter(task.stores.values())).data.items():
        finals[(key, start)] = count                # windows still open at the end
    return finals, task.dropped


# ---------------------------------------------------------------------------------- stream-table join
def join_topology():
    b = StreamsBuilder("bench-join")
    prices = b.table("prices")
    b.stream("orders").join(prices, lambda order, price: price).to("priced")
    return b.build()


def engine_join(table: list[tuple], records: list[tuple]) -> list:
    out: list = []
    task = StreamTask(join_topology(), TaskId(0, 0), send=lambda topic, k, v, ts: out.append(v))
    for key, value, ts in table:
        task.process("prices", key, value, ts)
    for first in range(0, len(records), COMMIT_EVERY):
        task.process_batch("orders", records[first:first + COMMIT_EVERY])
        task.changelog_writes()
    return out


def plain_join(table: list[tuple], records: list[tuple]) -> list:
    rows = {}
    for key, value, _ts in table:
        rows[key] = value
    out = []
    for key, _value, _ts in records:
        row = rows.get(key)
        if row is not None:
            out.append(row)
    return out


# ---------------------------------------------------------------------------------- restore
def restore_seconds(n: int, keys: int = 10_000) -> float:
    cluster = Cluster(1, seed=0, config=ClusterConfig.fast())
    tp = TopicPartition("bench-store-changelog", 0)
    cluster.create_topic(tp.topic, 1, 1)
    producer = cluster.producer(transactional_id="bench-writer")
    producer.init_transactions()
    rng = random.Random(1)
    for first in range(0, n, 1_000):
        producer.begin_transaction()
        for _ in range(min(1_000, n - first)):
            producer.send(tp.topic, encode(rng.randrange(1_000)), key=encode(f"k{rng.randrange(keys)}"), partition=0)
        producer.commit_transaction()
    consumer = cluster.consumer(isolation_level="read_committed", auto_offset_reset="earliest",
                                max_poll_records=5_000)
    consumer.assign([tp])
    end = end_offsets(consumer, [tp])[tp]
    start = time.perf_counter()
    store = restore_from_changelog(consumer, tp, {}, end)
    took = time.perf_counter() - start
    assert len(store) <= keys
    return took


def main(argv: list[str] | None = None) -> None:
    global QUICK
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny counts; print, record nothing")
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--cluster-records", type=int, default=2_000)
    ap.add_argument("--restore-records", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    QUICK = a.quick
    if a.quick:
        a.records, a.cluster_records, a.restore_records, a.repeat = 3_000, 120, 2_000, 1

    load_before = os.getloadavg()[0]
    records = make_records(a.records)
    want, want_dropped = plain_windowed_count(records)
    got, got_dropped = engine_windowed_count(records)
    if (got, got_dropped) != (want, want_dropped):
        raise SystemExit("the engine's windowed counts differ from the plain loop's: not recording anything")
    plain_s = results.best_cpu_seconds(a.repeat, lambda: plain_windowed_count(records))
    engine_s = results.best_cpu_seconds(a.repeat, lambda: engine_windowed_count(records))
    record("streams.windowed_count", a.records / engine_s, "records/CPU-s", baseline=a.records / plain_s,
           baseline_name="plain dict loop, same records, same counts", target=">= 0.3x the plain loop")

    table = [(f"k{i}", 100 + i, 0) for i in range(1_000)]
    if engine_join(table, records) != plain_join(table, records):
        raise SystemExit("the engine's join differs from the plain loop's: not recording anything")
    plain_s = results.best_cpu_seconds(a.repeat, lambda: plain_join(table, records))
    engine_s = results.best_cpu_seconds(a.repeat, lambda: engine_join(table, records))
    record("streams.stream_table_join", a.records / engine_s, "records/CPU-s", baseline=a.records / plain_s,
           baseline_name="plain dict lookup loop, same records, same output")
    record("streams.load_average", (load_before + os.getloadavg()[0]) / 2,
           "1-min load average during the in-process runs (2 cores)", higher_is_better=False)

    small = make_records(a.cluster_records, keys=50)
    for guarantee, short in (("at_least_once", "alos"), ("exactly_once_v2", "eos")):
        best = float("inf")
        for _ in range(a.repeat):
            start = time.perf_counter()
            res = run_streams(windowed_topology(), {"events": small}, outputs=["out"], seed=0, guarantee=guarantee,
                              burst=50, produce_every_ms=5.0, max_poll_records=200, commit_interval_ms=100.0)
            best = min(best, time.perf_counter() - start)
            if not res.valid:
                raise SystemExit(f"the {guarantee} run is not valid: {res.summary()}")
        record(f"streams.cluster_windowed_count.{short}", a.cluster_records / best, "records/s (wall)")

    took = min(restore_seconds(a.restore_records) for _ in range(a.repeat))
    record("streams.restore_per_million", took * 1_000_000 / a.restore_records,
           f"s per 1M changelog records (wall; extrapolated from {a.restore_records:,})", higher_is_better=False)


if __name__ == "__main__":
    main()
