"""msglib.streams' fast paths give the general paths' results, record for record.

The windowed aggregation inlines msglib's ``windows_to_update`` for tumbling windows and recognises ``count()``;
the store encodes common keys and values without the JSON encoder. Passing ``windows_fn=windows_to_update``
explicitly switches the fast path off (a learner's function is always called), so the same records through
both topologies must give the same output, stores, changelog writes, late and skipped records, also across a
restore from the changelog in the middle of the run.
"""
from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings, strategies as st

from msglib.streams.stores import encode
from msglib.streams.task import StreamTask, TaskId
from msglib.streams.topology import StreamsBuilder
from msglib.streams.windows import TimeWindows, windows_to_update


def _topology(windows: TimeWindows, emit: str, counting: bool, general: bool):
    b = StreamsBuilder("fast")
    grouped = b.stream("in").group_by_key().windowed_by(windows, windows_fn=windows_to_update if general else None)
    if counting:
        table = grouped.count(emit=emit)
    else:
        table = grouped.aggregate(lambda: [], lambda k, v, agg: agg + [v], emit=emit)
    table.to_stream().to("out")
    return b.build()


def _records(rng: random.Random, n: int, step: int = 30) -> list[tuple]:
    out, now = [], 0
    for i in range(n):
        now += rng.randint(0, step)
        ts = now - rng.randint(0, 400) if rng.random() < 0.2 else now
        if rng.random() < 0.03:
            ts = -rng.randint(1, 50)                         # no window holds it
        key = None if rng.random() < 0.03 else rng.choice(["a", "b", "c", 'q"uote', "é", "7"])
        value = None if rng.random() < 0.03 else i
        out.append((key, value, ts))
    return out


def _run(topology, records: list[tuple], restore_at: int | None, batch: bool = False, topic: str = "in") -> dict:
    """Each record through ``task.process`` (or, ``batch``, the records between two commits through one
    ``task.process_batch``), a commit every 37 records, and a restore after record ``restore_at``."""
    sent: list = []
    writes: list = []
    task = StreamTask(topology, TaskId(0, 0), send=lambda topic, k, v, ts: sent.append((topic, k, v, ts)))
    image: dict = {}
    pending: list = []
    for i, (key, value, ts) in enumerate(records):
        if not batch:
            task.process(topic, key, value, ts)
        else:
            pending.append((key, value, ts))
            if i % 37 == 36 or i == restore_at:
                task.process_batch(topic, pending)
                pending = []
        if i % 37 == 36:
            flushed = task.changelog_writes()
            writes += flushed
            for w in flushed:
                if w.value is None:
                    image.pop(w.key, None)
                else:
                    image[w.key] = w.value
        if restore_at is not None and i == restore_at:
            for w in task.changelog_writes():                 # a commit, then a new owner restores the store
                image[w.key] = w.value
            image = {k: v for k, v in image.items() if v is not None}
            stream_time, dropped, skipped, late = task.stream_time, task.dropped, task.skipped, list(task.late)
            task = StreamTask(topology, TaskId(0, 0), send=task.send_fn)
            task.load({name: dict(image) for name in task.stores}, stream_time)
            task.dropped, task.skipped, task.late = dropped, skipped, late
            task.processed = i + 1
    if pending:
        task.process_batch(topic, pending)
    writes += task.changelog_writes()
    return {"sent": sent, "writes": writes, "dropped": task.dropped, "skipped": task.skipped, "late": task.late,
            "stores": {n: s.snapshot() for n, s in task.stores.items()}, "stream_time": task.stream_time,
            "processed": task.processed}


@pytest.mark.parametrize("size,advance", [(100, 100), (100, 50), (60, 60)])
@pytest.mark.parametrize("emit", ["update", "final"])
@pytest.mark.parametrize("counting", [True, False])
def test_the_windowed_fast_path_gives_the_general_paths_results(size, advance, emit, counting):
    windows = TimeWindows(size, advance_ms=advance, grace_ms=40)
    for seed in range(4):
        # seeds 2 and 3: records far apart, so that often no window is open when one opens
        records = _records(random.Random(seed), 400, step=30 if seed < 2 else 300)
        if seed == 3:                            # only records the fast path takes (none goes the general way)
            records = [r for r in records if r[0] is not None and r[1] is not None and r[2] >= 0]
        for restore_at in (None, 150):
            fast = _run(_topology(windows, emit, counting, general=False), records, restore_at)
            slow = _run(_topology(windows, emit, counting, general=True), records, restore_at)
            assert fast == slow, f"seed {seed}, restore at {restore_at}"
            for general in (False, True):       # process_batch: the window batch loop, and the per-record loop
                batched = _run(_topology(windows, emit, counting, general=general), records, restore_at, batch=True)
                assert batched == slow, f"seed {seed}, restore at {restore_at}, batch, general {general}"
            assert fast["sent"], "the run emitted nothing: the comparison would prove nothing"
            if emit == "final":       # windows close in (end, key) order: stream time only grows
                order = [(k[2], k[0]) for _, k, _, _ in fast["sent"]]
                assert order == sorted(order)


def test_the_fast_path_is_the_one_running_and_the_general_path_is_not():
    windows = TimeWindows(100, grace_ms=0)
    fast = _topology(windows, "final", True, general=False)
    slow = _topology(windows, "final", True, general=True)
    node = lambda t: t.sources["in"].children[0]      # noqa: E731
    assert "process" in vars(node(fast)) and "process" not in vars(node(slow))


@settings(database=None, deadline=None, max_examples=300)
@given(st.one_of(st.integers(), st.booleans(), st.none(), st.text(max_size=6),
                 st.tuples(st.text(max_size=6), st.integers()), st.tuples(st.text(max_size=4), st.booleans()),
                 st.lists(st.integers(), max_size=3)))
def test_encode_writes_what_the_json_encoder_writes(obj):
    want = None if obj is None else json.dumps(obj, separators=(",", ":")).encode()
    assert encode(obj) == want


def test_store_flush_writes_what_the_json_encoder_writes():
    from msglib.streams.stores import KeyValueStore

    store = KeyValueStore("s")
    keys = [("k", 1), ('q"', 2), ("\\", 3), ("é", 4), ("\x7f", 5), ("ok", True), 9, "plain", ("a", "b"), ("x", -7)]
    for i, k in enumerate(keys):
        store.put(k, i if i % 3 else [i])
    store.delete(("gone", 1))
    for k, v, ts in store.flush():
        assert ts is None
        key = json.loads(k)
        assert k == json.dumps(key, separators=(",", ":")).encode()
        assert v is None or v == json.dumps(json.loads(v), separators=(",", ":")).encode()


def _join_topology(left: bool, versioned: bool, sink_only: bool, two_children: bool = False):
    b = StreamsBuilder("join")
    table = b.table("rows", versioned=versioned)
    stream = b.stream("in")
    if two_children:                             # a source with two children: the per-record batch loop
        stream.filter(lambda k, v: v is not None and v % 5 == 0).to("fives")
    joined = stream.join(table, lambda v, row: [v, row], left=left)
    (joined if sink_only else joined.filter(lambda k, v: v[0] % 3 != 0)).to("out")
    return b.build()


@pytest.mark.parametrize("left", [False, True])
@pytest.mark.parametrize("versioned", [False, True])
@pytest.mark.parametrize("sink_only,two_children", [(True, False), (False, False), (True, True)])
def test_the_join_batch_gives_the_per_record_results(left, versioned, sink_only, two_children):
    for seed in range(3):
        rng = random.Random(seed)
        records = _records(rng, 300)
        rows = [(rng.choice(["a", "b", "c", "7"]), rng.choice([None, 1, 2, 3]), rng.randint(0, 3_000))
                for _ in range(30)]
        runs = []
        for batch in (False, True):
            topology = _join_topology(left, versioned, sink_only, two_children)
            task = StreamTask(topology, TaskId(0, 0))
            sent: list = []
            task.send_fn = lambda topic, k, v, ts: sent.append((topic, k, v, ts))
            for i in range(0, len(records), 50):       # table updates between the batches of stream records
                for key, value, ts in rows[i // 10:i // 10 + 5]:
                    task.process("rows", key, value, ts)
                chunk = records[i:i + 50]
                if batch:
                    task.process_batch("in", chunk)
                else:
                    for key, value, ts in chunk:
                        task.process("in", key, value, ts)
            runs.append((sent, task.skipped, task.stream_time, task.processed, task.changelog_writes()))
        assert runs[0] == runs[1], f"seed {seed}"
        assert runs[0][0], "the run joined nothing: the comparison would prove nothing"


def test_a_failing_aggregator_leaves_the_task_as_the_per_record_path_does():
    def boom(k, v, agg):
        if v == 5:
            raise RuntimeError("boom")
        return agg + [v]

    states = []
    for batch in (False, True):
        b = StreamsBuilder("fail")
        b.stream("in").group_by_key().windowed_by(TimeWindows(100)).aggregate(lambda: [], boom).to_stream().to("o")
        task = StreamTask(b.build(), TaskId(0, 0))
        records = [("a", i, i * 30) for i in range(10)]
        with pytest.raises(RuntimeError):
            if batch:
                task.process_batch("in", records)
            else:
                for key, value, ts in records:
                    task.process("in", key, value, ts)
        states.append((task.stream_time, task.processed, task.stores[next(iter(task.stores))].snapshot()))
    assert states[0] == states[1]
    assert states[0][:2] == (150, 6)              # the failing record counted, its stream time taken


def test_a_batch_for_a_topic_the_topology_does_not_read_is_refused_by_name():
    task = StreamTask(_join_topology(False, False, True), TaskId(0, 0))
    with pytest.raises(ValueError, match="'orders' is not a source of this topology"):
        task.process_batch("orders", [("a", 1, 0)])
