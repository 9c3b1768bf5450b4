"""The simulation core: deterministic order, independent seeded streams, clear errors."""
from __future__ import annotations

import pytest

from msglib.sim import Simulation


def _trace(seed):
    sim = Simulation(seed)
    rng = sim.random("jitter")
    seen = []
    for i in range(50):
        sim.schedule(rng.random() * 100, seen.append, (i, sim.now))
    sim.schedule(10, lambda: [sim.schedule(0, seen.append, "nested")])
    sim.run()
    return seen, sim.now


def test_same_seed_same_run_and_different_seed_different_run():
    assert _trace(7) == _trace(7)
    assert _trace(7) != _trace(8)


def test_simultaneous_events_run_in_scheduling_order():
    sim = Simulation()
    seen = []
    for name in "abc":
        sim.schedule(5, seen.append, name)
    sim.run()
    assert seen == ["a", "b", "c"]


def test_named_streams_do_not_shift_each_other():
    a = Simulation(1)
    first = [a.random("net").random() for _ in range(3)]
    b = Simulation(1)
    b.random("faults").random()
    assert [b.random("net").random() for _ in range(3)] == first


def test_run_until_stops_the_clock_and_cancel_works():
    sim = Simulation()
    seen = []
    t = sim.schedule(50, seen.append, "late")
    sim.schedule(5, seen.append, "early")
    assert sim.run(until=20) == 1 and sim.now == 20 and seen == ["early"]
    t.cancel()
    sim.run()
    assert seen == ["early"]


def test_scheduling_in_the_past_is_a_clear_error():
    sim = Simulation()
    sim.run(until=10)
    with pytest.raises(ValueError, match="delay must be >= 0"):
        sim.schedule(-1, print)
    with pytest.raises(ValueError, match="already at 10"):
        sim.at(5, print)


def test_max_events_runs_exactly_that_many_and_leaves_the_clock_at_the_last_one():
    sim = Simulation()
    seen = []
    for t in (1, 2, 3, 4):
        sim.schedule(t, seen.append, t)
    assert sim.run(until=10, max_events=2) == 2
    assert seen == [1, 2] and sim.now == 2  # stopped by max_events: the clock does not jump to `until`
    assert sim.run(max_events=0) == 0 and seen == [1, 2]
    assert sim.run() == 2 and seen == [1, 2, 3, 4]


def test_step_skips_cancelled_timers_and_reports_an_empty_queue():
    sim = Simulation()
    seen = []
    sim.schedule(1, seen.append, "cancelled").cancel()
    sim.schedule(2, seen.append, "runs")
    assert sim.step() is True
    assert seen == ["runs"] and sim.now == 2 and sim.events_run == 1
    assert sim.step() is False
