"""The capstone benchmark script runs (tiny counts; no timing is asserted), and its baseline does the same work."""
from benchmarks import bench_capstone
from msglib.capstone import make_workload, run_notifications


def test_bench_capstone_quick_runs(capsys):
    assert bench_capstone.main(["--quick"]) == 0
    out = capsys.readouterr().out
    for name in ("capstone.system_notifications", "capstone.sim_events", "capstone.check_ops",
                 "capstone.system_large"):
        assert name in out
    assert "not recorded" in out          # a quick run never overwrites the real figures


def test_the_bare_baseline_makes_the_same_decisions_without_faults():
    w = make_workload(4, events=40, duration_ms=1_500.0)
    # no faults, no flaky provider, no rate limit (its decisions depend on when a job is handled): both deliver
    # exactly the routed notifications whose contact and data are valid
    config = bench_capstone.SystemConfig(transient_rate=0.0, lost_response_rate=0.0, capacity=1_000)
    system = run_notifications(4, workload=w, faults=None, runbook=None, config=config)
    assert bench_capstone.bare_loop(w, config) == system.metrics().delivered > 0


def test_the_bare_baseline_asks_the_limiter_as_the_system_does(monkeypatch):
    """Keyed (a repeat gets the recorded answer, no second token), and never for a critical notification."""
    from msglib.capstone.events import EVENT_TYPES
    from msglib.capstone.ratelimit import RateLimiter

    asked = []
    real = RateLimiter.allow

    def spy(self, user, channel, **kw):
        asked.append(kw.get("key"))
        return real(self, user, channel, **kw)
    monkeypatch.setattr(RateLimiter, "allow", spy)
    w = make_workload(4, events=60, duration_ms=1_500.0, duplicate_rate=0.3)
    bench_capstone.bare_loop(w, bench_capstone.SystemConfig(capacity=1))
    assert asked and all(key is not None for key in asked)
    critical = {e.event_id for _, e in w.events if EVENT_TYPES[e.type].critical}
    assert critical and not any(key[0] in critical for key in asked)
    repeats = [key for i, key in enumerate(asked) if key in asked[:i]]
    assert repeats and all(key[0] in w.duplicated for key in repeats)   # asked again: the producer's duplicate
