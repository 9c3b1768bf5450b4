"""msglib.dlq.retry, deadletters and msglib.check.dlq: retries, the DLQ, redrive, alerts, accounting.

Each test's name states the behaviour. The real systems' rules and their sources (Spring Kafka, Celery,
RabbitMQ, SQS) are in docs/kafka-behaviours.md, "Retries and dead letters", and docs/fidelity.md, "SQS rules".
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from msglib.check.dlq import check_dlq
from msglib.dlq import (DeadLetter, DeadLetterQueue, DepthAlarm, ExponentialBackoff, FixedBackoff, HttpError,
                        RetryProcessor, run_workload)
from msglib.sim import History, Simulation


@pytest.mark.parametrize("seed", range(3))
def test_accounting_invariant_on_a_mixed_workload(seed):
    proc, handler = run_workload(80, seed)
    result = check_dlq(proc.history)
    assert result.valid, result.report()
    kinds = {mid: plan.kind for mid, plan in handler.plans.items()}
    assert {k for k in kinds.values()} == {"ok", "flaky", "poison", "permanent"}
    for mid, kind in kinds.items():
        calls = handler.calls[mid]
        if kind in ("ok", "flaky"):
            assert handler.effects[mid] == 1 and mid not in proc.dlq
        elif kind == "poison":
            assert calls == 4 and proc.dlq.get(mid).reason == "max-attempts"
        else:
            assert calls == 1 and proc.dlq.get(mid).reason == "permanent"       # no retries wasted
    assert result.processed | result.dead_lettered == result.published


def test_delays_follow_the_backoff_and_the_dead_letter_keeps_the_evidence():
    sim = Simulation(0)
    errors = [HttpError(503), TimeoutError("slow"), ConnectionError("refused")]
    calls = []

    def handler(msg):
        calls.append(sim.now)
        raise errors[msg.attempt - 1]

    proc = RetryProcessor(sim, handler, max_attempts=3, backoff=ExponentialBackoff(100, 2, 10_000))
    proc.submit("m1", {"order": 7})
    proc.run()
    assert calls == [0, 100, 300]
    letter = proc.dlq.get("m1")
    assert (letter.reason, letter.attempts, letter.error_type, letter.payload) == \
        ("max-attempts", 3, "ConnectionError", {"order": 7})
    assert (letter.first_failed_at, letter.last_failed_at) == (0, 300)


def test_global_timeout_sends_the_next_failure_to_the_dlq():
    sim = Simulation(0)
    proc = RetryProcessor(sim, lambda m: (_ for _ in ()).throw(TimeoutError()), max_attempts=10,
                          backoff=FixedBackoff(400), timeout_ms=1_000)
    proc.submit("m")
    proc.run()
    letter = proc.dlq.get("m")
    assert letter.reason == "timeout" and letter.attempts == 4      # attempts at 0, 400, 800, 1200


def test_bad_seams_get_clear_errors():
    sim = Simulation(0)

    def fail(m):
        raise TimeoutError()

    RetryProcessor(sim, fail, classifier=lambda e: "yes").submit("a")
    with pytest.raises(TypeError, match="must return True"):
        sim.run()
    sim2 = Simulation(0)
    RetryProcessor(sim2, fail, backoff=lambda n, rng: -5).submit("a")
    with pytest.raises(ValueError, match="finite number >= 0"):
        sim2.run()
    with pytest.raises(ValueError, match="first delivery"):
        RetryProcessor(sim, fail, max_attempts=0)


def test_redrive_after_a_fix_keeps_ids_and_the_check_still_holds():
    sim = Simulation(0)
    fixed = [False]

    def handler(msg):
        if not fixed[0]:
            raise HttpError(400, "unknown currency")

    proc = RetryProcessor(sim, handler)
    for i in range(5):
        proc.submit(f"m{i}", at=i * 10)
    proc.run()
    assert len(proc.dlq) == 5
    fixed[0] = True
    assert proc.redrive(limit=3) == ["m0", "m1", "m2"]           # oldest first
    proc.run()
    assert len(proc.dlq) == 2 and sorted(proc.processed) == ["m0", "m1", "m2"]
    result = check_dlq(proc.history)
    assert result.valid, result.report()


def test_dlq_redrive_removes_only_after_a_successful_send():
    q = DeadLetterQueue()
    for i in range(4):
        q.add(DeadLetter(f"m{i}", i, "orders", "permanent", 1, dead_lettered_at=i))
    sent = []

    def send(letter):
        if letter.message_id == "m2":
            raise ConnectionError("broker down")
        sent.append(letter.message_id)

    with pytest.raises(ConnectionError):
        q.redrive(send)
    assert sent == ["m0", "m1"] and [d.message_id for d in q] == ["m2", "m3"]


def test_dlq_holds_no_duplicates_and_inspection():
    q = DeadLetterQueue("orders.dlq")
    assert q.summary() == "orders.dlq: empty"
    assert q.add(DeadLetter("a", 1, "orders", "permanent", 1, "ValueError", "bad", dead_lettered_at=2))
    assert q.add(DeadLetter("b", 2, "orders", "max-attempts", 4, "TimeoutError", "slow", dead_lettered_at=1))
    assert not q.add(DeadLetter("a", 1, "orders", "permanent", 1))
    assert len(q) == 2 and q.duplicates_ignored == 1
    assert [d.message_id for d in q.oldest()] == ["b", "a"]
    assert q.by_reason() == {"permanent": 1, "max-attempts": 1}
    assert [d.message_id for d in q.where(lambda d: d.error_type == "ValueError")] == ["a"]
    assert "oldest: b from orders: max-attempts after 4 attempt(s)" in q.summary()
    with pytest.raises(KeyError, match="no dead letter"):
        q.remove("zzz")


def test_dlq_survives_a_restart(tmp_path):
    path = tmp_path / "dlq.jsonl"
    q = DeadLetterQueue(path=path)
    q.add(DeadLetter("a", {"x": 1}, "orders", "permanent", 1, "ValueError", "bad", 5, 5, 5, {"h": "1"}))
    q.add(DeadLetter("b", b"raw", "orders", "max-attempts", 4))
    q.remove("b")
    q.add(DeadLetter("c", None, "orders", "max-attempts", 4, dead_lettered_at=9))
    with open(path, "a") as f:
        f.write('{"op": "add", "letter": {"message_')          # a torn write at the crash
    again = DeadLetterQueue(path=path)
    assert [d.message_id for d in again] == ["a", "c"]
    assert again.get("a") == q.get("a")


def test_depth_alarm_fires_on_crossing_and_clears_with_hysteresis():
    seen = []
    alarm = DepthAlarm(3, clear_below=2, notify=seen.append)
    q = DeadLetterQueue(alarm=alarm)
    for i in range(5):
        q.add(DeadLetter(f"m{i}", i, "s", "permanent", 1))
    q.remove("m0")
    q.remove("m1")           # depth 3: still in alarm (clears below 2)
    q.remove("m2")           # depth 2
    q.remove("m3")           # depth 1: clears
    assert [(a.state, a.depth) for a in seen] == [("ALARM", 3), ("OK", 1)]
    with pytest.raises(ValueError, match="clear_below"):
        DepthAlarm(3, clear_below=5)


# ---------------------------------------------------------------- the checker finds what it should
def _history(*events):
    h = History()
    t = 0.0
    for f, value, outcome in events:
        t += 1
        op = h.invoke(t, "p", f, value)
        h.complete(op, t, outcome, error="E" if outcome == "fail" else None)
    return h


def test_checker_findings():
    lost = _history(("publish", {"id": "a"}, "ok"), ("attempt", {"id": "a", "attempt": 1}, "fail"))
    assert check_dlq(lost).counts == {"lost": 1}
    twice = _history(("publish", {"id": "a"}, "ok"), ("attempt", {"id": "a", "attempt": 1}, "ok"),
                     ("attempt", {"id": "a", "attempt": 2}, "ok"))
    assert check_dlq(twice).counts == {"processed-twice": 1}
    both = _history(("publish", {"id": "a"}, "ok"), ("attempt", {"id": "a", "attempt": 1}, "ok"),
                    ("dead-letter", {"id": "a", "attempts": 1}, "ok"))
    assert "processed-and-dead" in check_dlq(both).counts
    dup = _history(("publish", {"id": "a"}, "ok"), ("attempt", {"id": "a", "attempt": 1}, "fail"),
                   ("dead-letter", {"id": "a", "attempts": 1}, "ok"), ("dead-letter", {"id": "a", "attempts": 1}, "ok"))
    assert "dlq-duplicate" in check_dlq(dup).counts
    mismatch = _history(("publish", {"id": "a"}, "ok"), ("attempt", {"id": "a", "attempt": 1}, "fail"),
                        ("dead-letter", {"id": "a", "attempts": 3}, "ok"))
    assert check_dlq(mismatch).counts == {"attempts-mismatch": 1}
    many = _history(("publish", {"id": "a"}, "ok"), *[("attempt", {"id": "a", "attempt": n}, "fail") for n in (1, 2, 3)],
                    ("dead-letter", {"id": "a", "attempts": 3}, "ok"))
    assert check_dlq(many, max_attempts=2).counts == {"too-many-attempts": 1}
    assert check_dlq(many, max_attempts=3).valid
    early = _history(("publish", {"id": "a"}, "ok"), ("attempt", {"id": "a", "attempt": 1}, "fail"),
                     ("dead-letter", {"id": "a", "attempts": 1, "reason": "max-attempts"}, "ok"))
    assert check_dlq(early, max_attempts=3).counts == {"gave-up-early": 1}
    permanent = _history(("publish", {"id": "a"}, "ok"), ("attempt", {"id": "a", "attempt": 1}, "fail"),
                         ("dead-letter", {"id": "a", "attempts": 1, "reason": "permanent"}, "ok"))
    assert check_dlq(permanent, max_attempts=3).valid
    after = _history(("publish", {"id": "a"}, "ok"), ("attempt", {"id": "a", "attempt": 1}, "fail"),
                     ("dead-letter", {"id": "a", "attempts": 1}, "ok"), ("attempt", {"id": "a", "attempt": 2}, "ok"))
    assert "attempt-after-dlq" in check_dlq(after).counts
    ghost = _history(("attempt", {"id": "z", "attempt": 1}, "ok"))
    assert "never-published" in check_dlq(ghost).counts
    report = check_dlq(lost).report()
    assert "INVALID" in report and "[lost]" in report


@settings(database=None, deadline=None, max_examples=25)
@given(st.integers(0, 10_000), st.integers(1, 6), st.floats(0, 0.6), st.floats(0, 0.3), st.floats(0, 0.3))
def test_property_any_workload_any_limit_keeps_the_accounting(seed, attempts, flaky, poison, permanent):
    from msglib.dlq import make_workload
    sim = Simulation(seed)
    plans = make_workload(sim.random("w"), 25, flaky=flaky, poison=poison, permanent=permanent)
    proc, handler = run_workload(plans=plans, seed=seed, max_attempts=attempts)
    result = check_dlq(proc.history)
    assert result.valid, result.report()
    assert all(c <= attempts for c in handler.calls.values())
    for mid, plan in plans.items():
        expected_ok = plan.kind == "ok" or (plan.kind == "flaky" and len(plan.errors) < attempts)
        assert (mid in result.processed) == expected_ok
