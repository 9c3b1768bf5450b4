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


def _records(rng: random.Random, n: int) -> list[tuple]:
    out, now = [], 0
    for i in range(n):
        now += rng.randint(0, 30)
        ts = now - rng.randint(0, 400) if rng.random() < 0.2 else now
        if rng.random() < 0.03:
            ts = -rng.randint(1, 50)                         # no window holds it
        key = None if rng.random() < 0.03 else rng.choice(["a", "b", "c", 'q"uote', "é", "7"])
        value = None if rng.random() < 0.03 else i
        out.append((key, value, ts))
    return out


def _run(topology, records: list[tuple], restore_at: int | None) -> dict:
    sent: list = []
    writes: list = []
    task = StreamTask(topology, TaskId(0, 0), send=lambda topic, k, v, ts: sent.append((topic, k, v, ts)))
    image: dict = {}
    for i, (key, value, ts) in enumerate(records):
        task.process("in", key, value, ts)
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
    writes += task.changelog_writes()
    return {"sent": sent, "writes": writes, "dropped": task.dropped, "skipped": task.skipped, "late": task.late,
            "stores": {n: s.snapshot() for n, s in task.stores.items()}, "stream_time": task.stream_time}


@pytest.mark.parametrize("size,advance", [(100, 100), (100, 50), (60, 60)])
@pytest.mark.parametrize("emit", ["update", "final"])
@pytest.mark.parametrize("counting", [True, False])
def test_the_windowed_fast_path_gives_the_general_paths_results(size, advance, emit, counting):
    windows = TimeWindows(size, advance_ms=advance, grace_ms=40)
    for seed in range(4):
        records = _records(random.Random(seed), 400)
        for restore_at in (None, 150):
            fast = _run(_topology(windows, emit, counting, general=False), records, restore_at)
            slow = _run(_topology(windows, emit, counting, general=True), records, restore_at)
            assert fast == slow, f"seed {seed}, restore at {restore_at}"
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
