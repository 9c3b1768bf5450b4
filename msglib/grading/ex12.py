"""Checks for module 12 (stream processing).

Each learner function runs inside a stream application on the simulated cluster (``msglib.streams.app``),
under seeded crashes, and the committed output is judged against msglib's reference run
(``msglib.check.streams``):

* ``12-windows`` -- ``windows_to_update(timestamp, stream_time, size_ms, advance_ms, grace_ms)`` picks the
  windows a record updates and counts the closed ones (``windowed_by(windows, windows_fn=fn)``);
* ``12-restore`` -- ``restore(consumer, tp, store, end_offset)`` rebuilds a store from its changelog when a
  task moves (``run_streams(..., restore=fn)``), from scratch or from a standby's copy;
* ``12-table_version`` -- ``value_as_of(versions, timestamp)``: the table version a stream record joins with
  (``builder.table(topic, versioned=True, lookup=fn)``);
* ``12-eos_commit`` -- ``commit(tasks, producer, consumer)``: the exactly-once commit step of an instance
  (``run_streams(..., commit=fn)``).
"""
from __future__ import annotations

import random
from typing import Any, Callable

from msglib.cluster import Cluster, ClusterConfig
from msglib.grading.core import CheckFailed, call_learner, guarded, require_callable, seeds
from msglib.protocol import TopicPartition
from msglib.protocol.errors import KafkaError
from msglib.streams.app import Crash, RestoreStuck, end_offsets, make_inputs, random_crashes, run_streams
from msglib.streams.stores import value_as_of as reference_value_as_of
from msglib.streams.topology import StreamsBuilder
from msglib.streams.windows import TimeWindows, windows_to_update as reference_windows
from msglib.txn.eos import AppCrashed

EX_WINDOWS = "12-windows"
EX_RESTORE = "12-restore"
EX_VERSION = "12-table_version"
EX_COMMIT = "12-eos_commit"


def _story(res: Any, n: int = 6) -> str:
    return "; ".join(f"t={t:.0f} {what}" for t, what in res.notes[-n:])


def _judge(res: Any, exercise: str, seed: int, case: str, hint: str) -> None:
    first = res.check.first()
    if first is not None:
        what = {"duplicate": "outputs were repeated", "overcount": "a count went up twice for one input",
                "lost": "outputs or updates are missing", "wrong": "an output differs from the reference"}
        raise CheckFailed(f"{what[first.kind]}: {first.message}", case=f"{case}. Last events: {_story(res)}",
                          seed=seed, exercise=exercise, hint=hint)
    if not res.drained:
        raise CheckFailed(f"the application never finished its input ({res.summary()})",
                          case=f"{case}. Last events: {_story(res)}", seed=seed, exercise=exercise, hint=hint)


def _crash_text(crashes: list[Crash]) -> str:
    return "; ".join(c.describe() for c in crashes) or "no crashes"


# ================================================================== exercise 1: windows, grace, late records
# (timestamp, stream_time, size, advance, grace) -> expected (starts, dropped)
WINDOW_CASES = [
    (5, 5, 10, 10, 0),          # tumbling: [0, 10)
    (10, 10, 10, 10, 0),        # the end is exclusive: 10 opens [10, 20)
    (9, 12, 10, 10, 5),         # out of order but within grace: [0, 10) closes at stream time 15
    (9, 15, 10, 10, 5),         # stream time reached end + grace: late, dropped
    (9, 14, 10, 10, 5),         # one ms before: still taken
    (7, 7, 10, 5, 0),           # hopping: [0, 10) and [5, 15)
    (12, 19, 10, 5, 0),         # hopping, one window closed ([5, 15) at 15), one open ([10, 20))
]
WINDOW_HIDDEN = [
    (0, 0, 10, 5, 0), (3, 3, 10, 5, 0), (4, 30, 10, 10, 100), (20, 24, 5, 1, 0), (99, 99, 100, 25, 0),
    (10, 25, 10, 10, 5), (10, 24, 10, 10, 5),
]


def _windows_unit(fn: Callable, case: tuple, seed: int | None = None) -> None:
    ts, st, size, adv, grace = case
    text = (f"windows_to_update(timestamp={ts}, stream_time={st}, size_ms={size}, advance_ms={adv}, "
            f"grace_ms={grace})")
    got = call_learner(fn, ts, st, size, adv, grace, exercise=EX_WINDOWS, what=text, seed=seed)
    want = reference_windows(ts, st, size, adv, grace)
    try:
        starts, dropped = got
        norm = (sorted(starts), dropped)
    except (TypeError, ValueError):
        raise CheckFailed(f"you returned {got!r}; return a pair (list of window starts, number of closed windows)",
                          case=text, seed=seed, exercise=EX_WINDOWS) from None
    if norm != (sorted(want[0]), want[1]):
        raise CheckFailed(f"you returned {norm}; the answer is {want}", case=text, seed=seed, exercise=EX_WINDOWS,
                          hint="a window [start, start + size) holds ts when start <= ts < start + size; the "
                               "starts are multiples of advance_ms (never negative); a window takes the record "
                               "while stream_time < start + size + grace_ms, otherwise count it as dropped")


def window_topology(windows_fn: Callable | None, grace_ms: int = 1_000) -> Any:
    b = StreamsBuilder("windowed-counts")
    (b.stream("events").group_by_key()
     .windowed_by(TimeWindows(2_000, grace_ms=grace_ms, advance_ms=1_000), windows_fn=windows_fn)
     .count(emit="final").to_stream().to("counts"))
    return b.build()


def _windows_run(fn: Callable, seed: int, crashes: list[Crash]) -> None:
    case = f"hopping windows of 2 s every 1 s, grace 1 s, emit final, exactly-once; {_crash_text(crashes)}"
    learner = guarded(fn, EX_WINDOWS, seed=seed, case=case)
    res = run_streams(window_topology(learner), {"events": make_inputs(seed)}, outputs=["counts"], seed=seed,
                      crashes=crashes, reference=window_topology(None))
    _judge(res, EX_WINDOWS, seed, case, "check your function on the cases above; the run feeds it out-of-order "
                                        "records, some of them late")


def check_windows(fn: Callable, seed: int | None = None) -> None:
    """Visible check: the window boundaries, grace and lateness cases, then two runs with crashes."""
    require_callable(fn, "windows_to_update", EX_WINDOWS)
    for case in WINDOW_CASES:
        _windows_unit(fn, case)
    for s in ([seed] if seed is not None else seeds(EX_WINDOWS, 2)):
        _windows_run(fn, s, [Crash(300, 0, "process"), Crash(700, 1, "commit")])


def hidden_windows(fn: Callable, seed: int | None = None) -> None:
    """Hidden check: more edge cases, 300 random cases per seed against the rule, runs with random crashes."""
    require_callable(fn, "windows_to_update", EX_WINDOWS)
    for case in WINDOW_CASES + WINDOW_HIDDEN:
        _windows_unit(fn, case)
    for s in ([seed] if seed is not None else seeds(EX_WINDOWS, 3, hidden=True)):
        rng = random.Random(s)
        for _ in range(300):
            size = rng.randint(1, 30)
            adv = rng.randint(1, size)
            ts = rng.randint(0, 100)
            _windows_unit(fn, (ts, ts + rng.randint(0, 40), size, adv, rng.randint(0, 15)), seed=s)
        _windows_run(fn, s, random_crashes(s, 1_000.0))


# ================================================================== exercise 2: restore from the changelog
def balance_topology() -> Any:
    """A running count per key; a value that is a multiple of 10 deletes the key (a tombstone in the changelog)."""
    b = StreamsBuilder("balances")
    (b.stream("events").group_by_key()
     .aggregate(lambda: 0, lambda k, v, agg: None if v % 10 == 0 else agg + 1, store="balances")
     .to_stream().to("balances-out"))
    return b.build()


def _restore_unit(fn: Callable, seed: int) -> None:
    """A changelog written by hand (puts, overwrites, tombstones, an aborted transaction), restored into a
    standby's copy that already holds its first records; the result must be what the changelog says."""
    rng = random.Random(f"restore-unit/{seed}")
    cluster = Cluster(1, seed=seed, config=ClusterConfig.fast())
    tp = TopicPartition("store-changelog", 0)
    cluster.create_topic(tp.topic, 1, 1)
    producer = cluster.producer(transactional_id="writer")
    producer.init_transactions()
    writes: list[tuple[bytes, bytes | None]] = []
    for txn in range(4):
        producer.begin_transaction()
        batch = [(f"k{rng.randrange(5)}".encode(), None if rng.random() < 0.3 else str(rng.randrange(99)).encode())
                 for _ in range(rng.randint(2, 5))]
        for k, v in batch:
            producer.send(tp.topic, v, key=k, partition=0)
        if txn == 2:
            producer.abort_transaction()              # never committed: a restore must not see it
        else:
            producer.commit_transaction()
            writes += batch
    split = len(writes) // 3                          # the standby already applied the first third
    image: dict = {}
    for k, v in writes[:split]:
        image.pop(k, None) if v is None else image.__setitem__(k, v)
    want = dict(image)
    for k, v in writes[split:]:
        want.pop(k, None) if v is None else want.__setitem__(k, v)
    consumer = cluster.consumer(isolation_level="read_committed", auto_offset_reset="earliest", max_poll_records=2)
    consumer.assign([tp])
    end = end_offsets(consumer, [tp])[tp]
    # the standby's position: just after the split-th committed record
    positions, seen = [], 0
    reader = cluster.consumer(isolation_level="read_committed", auto_offset_reset="earliest")
    reader.assign([tp])
    while reader.position(tp) < end:
        for recs in reader.poll(timeout_ms=50).values():
            positions += [r.offset for r in recs]
    consumer.seek(tp, positions[split - 1] + 1 if split else 0)
    case = (f"restore(consumer at offset {consumer.position(tp)}, {tp}, standby store {image}, end_offset={end}); "
            f"the committed changelog records: {writes} (one more transaction was aborted)")
    got = call_learner(fn, consumer, tp, dict(image), end, exercise=EX_RESTORE, what=case, seed=seed)
    if got != want:
        raise CheckFailed(f"your store is {got!r}; the changelog says {want!r}", case=case, seed=seed,
                          exercise=EX_RESTORE,
                          hint="keep what the store holds, read until consumer.position(tp) >= end_offset (poll "
                               "returns a few records at a time), put each value, delete on a value None")


def _restore_run(fn: Callable, seed: int, crashes: list[Crash], standbys: bool, guarantee: str) -> None:
    case = (f"a count per key (every 10th input deletes its key), {guarantee}, "
            f"{'with' if standbys else 'without'} standby replicas; {_crash_text(crashes)}")
    learner = guarded(fn, EX_RESTORE, seed=seed, case=case, passthrough=(AppCrashed, KafkaError))
    try:
        res = run_streams(balance_topology(), {"events": make_inputs(seed, records=70)}, outputs=["balances-out"],
                          seed=seed, crashes=crashes, restore=learner, standbys=standbys, guarantee=guarantee)
    except RestoreStuck as exc:
        raise CheckFailed(str(exc), case=case, seed=seed, exercise=EX_RESTORE,
                          hint="loop while consumer.position(tp) < end_offset; stop once it reaches it") from None
    except TypeError as exc:
        raise CheckFailed(str(exc), case=case, seed=seed, exercise=EX_RESTORE) from None
    _judge(res, EX_RESTORE, seed, case,
           "read from where the consumer is (the standby's copy already holds what comes before) to end_offset, "
           "in offset order; a record's value overwrites its key, a value None deletes the key; return the store")


def check_restore(fn: Callable, seed: int | None = None) -> None:
    """Visible check: tasks move after crashes, restored from scratch and from standbys."""
    require_callable(fn, "restore", EX_RESTORE)
    for s in ([seed] if seed is not None else seeds(EX_RESTORE, 2)):
        _restore_unit(fn, s)
        crashes = [Crash(400, 0, "process"), Crash(900, 1, "process")]
        _restore_run(fn, s, crashes, False, "exactly_once_v2")
        _restore_run(fn, s, crashes, True, "exactly_once_v2")


def hidden_restore(fn: Callable, seed: int | None = None) -> None:
    """Hidden check: random crashes, with and without standbys, under both guarantees' restore paths."""
    require_callable(fn, "restore", EX_RESTORE)
    for s in ([seed] if seed is not None else seeds(EX_RESTORE, 3, hidden=True)):
        _restore_unit(fn, s)
        crashes = random_crashes(s, 1_200.0, count=3, points=("process", "changelog", "commit"))
        _restore_run(fn, s, crashes, s % 2 == 0, "exactly_once_v2")
        _restore_run(fn, s + 1, [Crash(500, 0, "process")], True, "exactly_once_v2")


# ================================================================== exercise 3: which table version a record sees
VERSION_CASES = [
    ([(100, "A")], 150, "A"),
    ([(100, "A")], 50, None),                         # no version old enough
    ([(100, "A"), (200, "B")], 200, "B"),             # a version is valid from its own timestamp on
    ([(100, "A"), (200, "B")], 199, "A"),
    ([(200, "B"), (100, "A")], 150, "A"),             # versions arrive out of order
    ([(100, "A"), (200, None)], 250, None),           # deleted at 200
]
VERSION_HIDDEN = [
    ([(100, "A"), (100, "A2")], 100, "A2"),           # same timestamp: the later write replaces
    ([(300, "C"), (100, "A"), (200, None)], 250, None),
    ([(300, "C"), (100, "A"), (200, None)], 300, "C"),
    ([], 10, None),
    ([(0, "zero")], 0, "zero"),
]


def _version_unit(fn: Callable, versions: list, ts: int, want: Any, seed: int | None = None) -> None:
    text = f"value_as_of({versions}, {ts})"
    got = call_learner(fn, list(versions), ts, exercise=EX_VERSION, what=text, seed=seed)
    if got != want:
        raise CheckFailed(f"you returned {got!r}; a stream record at {ts} sees {want!r}", case=text, seed=seed,
                          exercise=EX_VERSION,
                          hint="take the version with the greatest timestamp <= the record's timestamp (of two "
                               "with the same timestamp, the one that came later); its value None means no row")


def join_topology(lookup: Callable | None) -> Any:
    b = StreamsBuilder("orders-with-prices")
    prices = b.table("prices", versioned=True, lookup=lookup)
    b.stream("orders").join(prices, lambda order, price: [order, price]).to("priced")
    return b.build()


def join_inputs(seed: int) -> dict[str, list[tuple]]:
    rng = random.Random(f"join/{seed}")
    prices = []
    for i in range(24):
        ts = rng.randint(0, 4_000)
        prices.append((f"item{rng.randrange(4)}", None if rng.random() < 0.1 else 10 + i, ts))
    orders = [(f"item{rng.randrange(4)}", i, rng.randint(0, 5_000)) for i in range(30)]
    return {"prices": prices, "orders": orders}


def _version_run(fn: Callable, seed: int, crashes: list[Crash]) -> None:
    case = (f"orders joined with a versioned price table (price updates out of order, some deleted; the prices "
            f"are written first); "
            f"{_crash_text(crashes)}")
    learner = guarded(fn, EX_VERSION, seed=seed, case=case)
    res = run_streams(join_topology(learner), join_inputs(seed), outputs=["priced"], seed=seed, crashes=crashes,
                      reference=join_topology(None), produce_every_ms=15.0,
                      topic_gap_ms={"orders": 1_500.0})
    _judge(res, EX_VERSION, seed, case, "an order at time t is priced with the price valid at t")


def check_table_version(fn: Callable, seed: int | None = None) -> None:
    """Visible check: the lookup cases, then joins of out-of-order orders with a versioned price table."""
    require_callable(fn, "value_as_of", EX_VERSION)
    for versions, ts, want in VERSION_CASES:
        _version_unit(fn, versions, ts, want)
    for s in ([seed] if seed is not None else seeds(EX_VERSION, 2)):
        _version_run(fn, s, [Crash(500, 0, "process"), Crash(1_650, 1, "process")])


def hidden_table_version(fn: Callable, seed: int | None = None) -> None:
    """Hidden check: edge cases (same timestamp, deletes, empty history), random histories, more runs."""
    require_callable(fn, "value_as_of", EX_VERSION)
    for versions, ts, want in VERSION_CASES + VERSION_HIDDEN:
        _version_unit(fn, versions, ts, want)
    for s in ([seed] if seed is not None else seeds(EX_VERSION, 3, hidden=True)):
        rng = random.Random(s)
        for _ in range(200):
            versions = [(rng.randint(0, 20), rng.choice(["a", "b", "c", None])) for _ in range(rng.randint(0, 6))]
            ts = rng.randint(0, 22)
            _version_unit(fn, versions, ts, reference_value_as_of(versions, ts), seed=s)
        _version_run(fn, s, random_crashes(s, 2_500.0, count=2))


# ================================================================== exercise 4: the exactly-once commit step
COMMIT_POINTS = ("process", "changelog", "send_offsets", "commit")


def _commit_run(fn: Callable, seed: int, crashes: list[Crash], topology: str) -> None:
    case = f"{topology}, exactly-once, 4 partitions (2 tasks per instance); {_crash_text(crashes)}"
    learner = guarded(fn, EX_COMMIT, seed=seed, case=case, passthrough=(AppCrashed, KafkaError))
    if topology.startswith("priced"):            # a versioned table: its changelog records carry the versions' times
        res = run_streams(join_topology(None), join_inputs(seed), outputs=["priced"], seed=seed, crashes=crashes,
                          commit=learner, guarantee="exactly_once_v2", partitions=4, produce_every_ms=15.0,
                          topic_gap_ms={"orders": 1_500.0})
    else:
        topo = window_topology(None) if topology.startswith("windowed") else balance_topology()
        out = "counts" if topology.startswith("windowed") else "balances-out"
        res = run_streams(topo, {"events": make_inputs(seed, keys=8)}, outputs=[out], seed=seed, crashes=crashes,
                          commit=learner, guarantee="exactly_once_v2", partitions=4)
    _judge(res, EX_COMMIT, seed, case,
           "inside the open transaction: send every task's changelog_writes() (topic, value, key, partition, "
           "timestamp_ms=w.timestamp: a versioned table's versions are restored at their timestamps), "
           "then producer.send_offsets_to_transaction(offsets of every task, consumer.group_metadata()), then "
           "producer.commit_transaction()")


def check_eos_commit(fn: Callable, seed: int | None = None) -> None:
    """Visible check: crashes between the steps of the commit, in the middle of a window, no crash at all."""
    require_callable(fn, "commit", EX_COMMIT)
    runs = [seed] if seed is not None else seeds(EX_COMMIT, 2)
    _commit_run(fn, runs[0], [], "a count per key")
    for s in runs:
        _commit_run(fn, s, [Crash(300, 0, "send_offsets"), Crash(700, 1, "commit")], "a count per key")
        _commit_run(fn, s, [Crash(400, 0, "process"), Crash(800, 1, "changelog")], "windowed counts")
    _commit_run(fn, runs[0], [Crash(1_650, 0, "process")], "priced orders (a versioned price table)")


def hidden_eos_commit(fn: Callable, seed: int | None = None) -> None:
    """Hidden check: random crashes at every point of the loop, both topologies."""
    require_callable(fn, "commit", EX_COMMIT)
    for s in ([seed] if seed is not None else seeds(EX_COMMIT, 3, hidden=True)):
        _commit_run(fn, s, random_crashes(s, 1_200.0, count=3, points=COMMIT_POINTS), "a count per key")
        _commit_run(fn, s, random_crashes(s + 7, 1_200.0, count=3, points=COMMIT_POINTS), "windowed counts")
