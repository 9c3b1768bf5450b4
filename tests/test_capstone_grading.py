"""Module 11's checks: readable failures, the gate of the end-to-end exercise, stubs and broken pieces."""
from __future__ import annotations

import pytest

from msglib.capstone import TokenBucket, handle, redrive_when_healthy, route
from msglib.grading import CheckFailed, ex11


def stub(*args, **kwargs):
    raise NotImplementedError()


class StubBucket:
    def __init__(self, capacity, refill_per_s):
        raise NotImplementedError()


def test_release_stubs_say_not_implemented():
    for check, piece in ((ex11.check_route, stub), (ex11.check_token_bucket, StubBucket), (ex11.check_handle, stub)):
        with pytest.raises(CheckFailed, match="not implemented yet"):
            check(piece)
    with pytest.raises(CheckFailed, match="not implemented yet"):
        ex11.check_runbook(stub, route=route, TokenBucket=TokenBucket, handle=handle)


def test_a_failure_names_the_job_the_story_and_the_seed():
    def double(job, ctx):                       # forgets the provider's idempotency key
        key = (job.event_id, job.channel, job.user)
        if key in ctx.delivered:
            ctx.ack(job)
            return
        if not job.critical and not ctx.limiter.allow(job.user, job.channel, key=key):
            ctx.ack(job)
            return
        try:
            ctx.provider.send(job.user, ctx.render(job))
        except Exception as exc:
            ctx.retry(job, exc) if ctx.is_transient(exc) and job.attempt < ctx.max_attempts else \
                ctx.dead_letter(job, exc)
            ctx.ack(job)
            return
        ctx.delivered.add(key)
        ctx.ack(job)

    with pytest.raises(CheckFailed) as info:
        ex11.check_handle(double)
    failure = info.value
    assert failure.seed == 0 and "duplicate" in failure.what and "received" in failure.what
    assert "the user RECEIVES" in failure.case and "idempotency_key" in failure.hint
    assert failure.exercise == "11-handle"


def test_the_end_to_end_gate_swaps_in_msglib_for_pieces_that_fail_their_own_check(capsys):
    def broken_route(event, prefs):
        return []                               # nobody is ever notified
    ex11.check_runbook(redrive_when_healthy, route=broken_route, TokenBucket=TokenBucket, handle=handle)
    out = capsys.readouterr().out
    assert "your route does not pass its own visible check yet" in out
    ex11.check_runbook(redrive_when_healthy, route=route, TokenBucket=TokenBucket, handle=handle)
    assert "note:" not in capsys.readouterr().out


def test_learner_exceptions_inside_the_system_become_check_failures():
    def crashing_handle(job, ctx):
        return {}["no such key"]

    with pytest.raises(CheckFailed, match="handle\\(\\) raised KeyError") as info:
        ex11.check_handle(crashing_handle)
    assert info.value.seed is not None

    def bad_runbook(ops):
        ops.redrive("fax", [])

    with pytest.raises(CheckFailed, match="unknown channel 'fax'"):
        ex11.check_runbook(bad_runbook, route=route, TokenBucket=TokenBucket, handle=handle)

    class Answers1:
        def __init__(self, capacity, refill_per_s):
            pass

        def allow(self, now_ms):
            return 1

    with pytest.raises(CheckFailed, match="return True or False"):
        ex11.check_token_bucket(Answers1)


def test_hidden_schedules_always_hold_an_outage_and_depend_on_the_salt(monkeypatch):
    from msglib.grading.core import seeds

    a = seeds("11-runbook", 3, hidden=True)
    monkeypatch.setenv("MSGLIB_GRADING_SALT", "another course")
    assert seeds("11-runbook", 3, hidden=True) != a
    for s in a:
        assert any(f.kind == "outage" for _, f in ex11._faults(s))
