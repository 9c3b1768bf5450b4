"""msglib.dlq.sequenced: parking per key keeps each key's order (checklist item 39)."""
from __future__ import annotations

import random

from hypothesis import given, settings, strategies as st

from msglib.dlq import HttpError
from msglib.dlq.sequenced import SequencedProcessor


def test_a_failed_key_blocks_only_itself_and_replays_in_order():
    broken = {"A"}
    calls = []

    def handler(key, event):
        calls.append((key, event))
        if key in broken and event == "created":
            raise HttpError(400, "schema v2 not supported")

    p = SequencedProcessor(handler)
    stream = [("A", "created"), ("B", "created"), ("A", "paid"), ("B", "paid"), ("A", "shipped")]
    outcomes = [p.process(f"m{i}", k, e) for i, (k, e) in enumerate(stream)]
    assert outcomes == ["parked", "processed", "blocked", "processed", "blocked"]
    assert calls.count(("A", "paid")) == 0                 # never attempted out of order
    assert [x.payload for x in p.dlq.sequence("A")] == ["created", "paid", "shipped"]
    broken.clear()
    assert p.replay("A") == ["m0", "m2", "m4"]
    assert "A" not in p.dlq and p.process("m5", "A", "delivered") == "processed"


def test_replay_stops_at_the_first_failure_and_keeps_the_rest_behind_it():
    fail = {"paid"}

    def handler(key, event):
        if event in fail:
            raise ValueError(event)

    p = SequencedProcessor(handler)
    p.process("m0", "A", "paid")
    p.process("m1", "A", "shipped")
    assert p.replay("A") == [] and [x.message_id for x in p.dlq.sequence("A")] == ["m0", "m1"]
    assert p.dlq.sequence("A")[0].attempts == 2


def test_transient_failures_are_retried_in_place_first():
    n = {"calls": 0}

    def handler(key, event):
        n["calls"] += 1
        if n["calls"] < 3:
            raise TimeoutError()

    p = SequencedProcessor(handler, max_attempts=3)
    assert p.process("m0", "A", "x") == "processed" and n["calls"] == 3


@settings(database=None, deadline=None, max_examples=60)
@given(st.integers(0, 10_000), st.integers(1, 4), st.integers(5, 40))
def test_property_per_key_order_holds_through_parking_and_replay(seed, n_keys, n):
    rng = random.Random(seed)
    stream = [(f"m{i}", f"k{rng.randrange(n_keys)}", i) for i in range(n)]
    bad = {i for i in range(n) if rng.random() < 0.2}

    def handler(key, i):
        if i in bad:
            raise ValueError(i)

    p = SequencedProcessor(handler)
    for mid, key, i in stream:
        p.process(mid, key, i)
    bad.clear()
    for key in p.dlq.keys():
        p.replay(key)
    assert len(p.dlq) == 0
    for key in {k for _, k, _ in stream}:
        expected = [mid for mid, k, _ in stream if k == key]
        assert [mid for k, mid in p.processed if k == key] == expected
