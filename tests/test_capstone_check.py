"""msglib.check.notifications: the end-to-end checker catches each mistake a notification system can make.

Each case plugs one broken piece (a handler, a router, a bucket, a runbook) into an otherwise correct
system, runs it under a fixed fault schedule, and expects the checker to name the mistake.
"""
from __future__ import annotations

import pytest

from msglib.capstone import (ProviderOutage, RouterCrash, SlowConsumer, WorkerCrash, make_workload, route,
                             run_notifications, schedule)
from msglib.capstone.events import EVENT_TYPES, INTRUSIVE
from msglib.check.notifications import KINDS, check_notifications, job_story
from msglib.sim import History

FAULTS = schedule((400, WorkerCrash("email", "before-send")), (600, WorkerCrash("push", "after-send")),
                  (900, RouterCrash()), (1200, ProviderOutage("sms", 1200)), (1500, SlowConsumer("email", 800)),
                  (2000, WorkerCrash("sms", "before-send")), (2600, ProviderOutage("push", 400)),
                  (3000, WorkerCrash("push", "before-send")))


def _handler(*, key=lambda j: (j.event_id, j.channel, j.user), ack_first=False, provider_key=True,
             classify=True, bound=lambda a, m: a < m, limiter=True, store_first=False, ack_drop=True):
    """msglib's handler with one decision changed (each keyword is one mistake)."""
    def handle(job, ctx):
        k = key(job)
        if ack_first:
            ctx.ack(job)
        if k in ctx.delivered:
            ctx.ack(job)
            return
        if limiter and not job.critical and not ctx.limiter.allow(job.user, job.channel, key=k):
            if ack_drop:
                ctx.ack(job)
            return
        if store_first:
            ctx.delivered.add(k)
        try:
            text = ctx.render(job)
            if provider_key:
                ctx.provider.send(job.user, text, idempotency_key=k)
            else:
                ctx.provider.send(job.user, text)
        except Exception as exc:
            if (not classify or ctx.is_transient(exc)) and bound(job.attempt, ctx.max_attempts):
                ctx.retry(job, exc)
            else:
                ctx.dead_letter(job, exc)
            ctx.ack(job)
            return
        ctx.delivered.add(k)
        ctx.ack(job)
    return handle


HANDLERS = {
    "acks before sending: a crash loses the job": (_handler(ack_first=True), "lost"),
    "no idempotency key to the provider: crashes and lost answers notify twice":
        (_handler(provider_key=False), "duplicate"),
    "the key includes the attempt: a retry after a lost answer notifies twice":
        (_handler(key=lambda j: (j.event_id, j.channel, j.user, j.attempt)), "duplicate"),
    "the key forgets the channel: an email hides the SMS": (_handler(key=lambda j: (j.event_id, j.user)), "lost"),
    "the key forgets the user: a broadcast reaches one watcher":
        (_handler(key=lambda j: (j.event_id, j.channel)), "lost"),
    "retries permanent failures": (_handler(classify=False), "retried-permanent"),
    "one attempt too many": (_handler(bound=lambda a, m: a <= m), "too-many-attempts"),
    "gives up at the first transient failure": (_handler(bound=lambda a, m: False), "gave-up-early"),
    "no rate limit": (_handler(limiter=False), "past-limit"),
    "records the key before sending": (_handler(store_first=True), "lost"),
    "forgets to ack a dropped job": (_handler(ack_drop=False), "unacknowledged"),
}


@pytest.fixture(scope="module")
def reference_run():
    return run_notifications(0, faults=FAULTS)


def test_the_reference_system_is_valid_under_the_schedule(reference_run):
    check = reference_run.check()
    assert check.valid, check.summary()
    assert set(check.tally()) == {"delivered", "dead-lettered", "rate-limited"}
    assert "valid:" in check.summary()


@pytest.mark.parametrize("mistake", list(HANDLERS))
def test_each_handler_mistake_is_caught(mistake):
    handle, kind = HANDLERS[mistake]
    check = run_notifications(0, faults=FAULTS, handle=handle).check()
    assert kind in check.counts, (mistake, check.summary())
    first = check.first()
    assert first is not None and first.message and check.story(first.key)


def _route_without(rule):
    def broken(event, prefs):
        kind = EVENT_TYPES[event.type]
        out = []
        for user in event.users:
            p = prefs.get(user)
            if p is None or (rule != "consent" and kind.marketing and not p.marketing):
                continue
            for channel in kind.channels:
                if rule != "opt-in" and channel not in p.channels:
                    continue
                if rule != "quiet" and (user, channel) not in route(event, prefs) and channel in INTRUSIVE:
                    continue
                out.append((user, channel))
        return out
    return broken


@pytest.mark.parametrize("rule,kind", [("consent", "opted-out"), ("opt-in", "opted-out"), ("quiet", "quiet-hours")])
def test_router_mistakes_are_caught(rule, kind):
    check = run_notifications(0, faults=None, route=_route_without(rule)).check()
    assert kind in check.counts, check.summary()


class _NoCap:
    def __init__(self, capacity, refill_per_s):
        self.rate, self.tokens, self.last = refill_per_s, float(capacity), None

    def allow(self, now):
        if self.last is not None:
            self.tokens += (now - self.last) * self.rate / 1000
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class _StartsEmpty(_NoCap):
    def __init__(self, capacity, refill_per_s):
        super().__init__(capacity, refill_per_s)
        self.tokens = 0.0


@pytest.mark.parametrize("bucket,kind", [(_NoCap, "past-limit"), (_StartsEmpty, "starved")])
def test_bucket_mistakes_are_caught(bucket, kind):
    check = run_notifications(0, faults=None, bucket=bucket).check()
    assert kind in check.counts, check.summary()


def _runbook(*, park=True, probe=True, budget=True, only_alarm=False, park_all=False, redrive_permanent=False):
    def runbook(ops):
        for ch in ops.channels:
            letters = ops.dead_letters(ch)
            if park_all:
                ops.park(ch, letters)
                continue
            if park:
                ops.park(ch, [d for d in letters if d.reason == "permanent"])
            if (probe and not ops.probe(ch)) or (only_alarm and ops.alarm(ch) != "ALARM"):
                continue
            todo = letters if redrive_permanent else [d for d in letters if d.reason != "permanent"]
            ops.redrive(ch, todo[:ops.budget] if budget else todo)
    return runbook


@pytest.mark.parametrize("options,kind", [
    (dict(park=False, redrive_permanent=True), "redrove-permanent"),
    (dict(probe=False), "redrove-into-outage"),
    (dict(budget=False), "redrive-over-budget"),
    (dict(park=False), "left-in-dlq"),
    (dict(park_all=True), "parked-transient"),
    (dict(only_alarm=True), "left-in-dlq"),
])
def test_runbook_mistakes_are_caught(options, kind):
    check = run_notifications(0, faults=FAULTS, runbook=_runbook(**options)).check()
    assert kind in check.counts, (options, check.summary())


def test_the_checker_reads_a_saved_history(reference_run, tmp_path):
    path = tmp_path / "run.json"
    reference_run.history.save(path)
    again = check_notifications(History.load(path))
    assert again.valid and again.outcomes == reference_run.check().outcomes


def test_stories_name_the_faults_and_every_kind_is_ordered():
    result = run_notifications(0, faults=FAULTS, handle=HANDLERS["acks before sending: a crash loses the job"][0])
    check = result.check()
    lost = check.of_kind("lost")[0]
    story = job_story(result.history, lost.key)
    assert "FAULT" in story and "crash" in story and "ack" in story
    assert all(a.kind in KINDS for a in check.anomalies)
    assert check.first().kind == "lost" and not check.valid


def test_expected_notifications_follow_the_routing_rules():
    w = make_workload(0)
    check = run_notifications(0, workload=w, faults=None).check()
    due = {f"{e.event_id}/{c}/{u}" for _, e in w.events for u, c in route(e, w.prefs)}
    assert check.expected == due


# -- admission is durable per notification; critical notifications take the priority lane ----------------

STORY = schedule((500, WorkerCrash("push", "after-send")), (900, RouterCrash()),
                 (1_000, ProviderOutage("email", 1_200)), (1_400, SlowConsumer("sms", 900)),
                 (1_800, WorkerCrash("email", "before-send")))


def _asks_afresh(job, ctx):
    """The limiter asked without the notification's key, on attempt 1 only: redrives and redeliveries ask again."""
    key = (job.event_id, job.channel, job.user)
    if key in ctx.delivered:
        ctx.ack(job)
        return
    if job.attempt == 1 and not job.critical and not ctx.limiter.allow(job.user, job.channel):
        ctx.ack(job)
        return
    try:
        ctx.provider.send(job.user, ctx.render(job), idempotency_key=key)
    except Exception as exc:
        ctx.retry(job, exc) if ctx.is_transient(exc) and job.attempt < ctx.max_attempts else \
            ctx.dead_letter(job, exc)
        ctx.ack(job)
        return
    ctx.delivered.add(key)
    ctx.ack(job)


def test_an_admitted_notification_asked_again_and_refused_is_flagged():
    check = run_notifications(0, faults=STORY, handle=_asks_afresh).check()   # the notebook's story run
    assert check.counts.get("refused-after-admission", 0) >= 1 and check.counts.get("admitted-twice", 0) >= 1
    dropped = [a for a in check.of_kind("refused-after-admission") if check.outcomes[a.key] == "lost"]
    assert dropped                  # admitted before the outage, redriven after it, then dropped: silently, before
    bad = dropped[0]
    story = check.story(bad.key, limit=60)
    assert "limiter allows it" in story and "limiter REFUSES it" in story and "redriven" in story


def test_the_reference_keeps_admission_through_redrives_and_redeliveries():
    result = run_notifications(0, faults=STORY)
    check = result.check()
    assert check.valid, check.summary()
    throttles = [op.value for op in result.history if op.f == "throttle" and op.type == "ok"]
    repeats = [v for v in throttles if v["repeat"]]
    first = {}
    for v in throttles:
        first.setdefault(v["job"], v["allowed"])
    assert repeats and all(v["allowed"] == first[v["job"]] for v in repeats)   # the recorded answer, no token
    redriven = {op.value["job"] for op in result.history if op.f == "redrive" and op.type == "ok"}
    assert redriven & {v["job"] for v in repeats}                   # some of them were redrives
    assert result.metrics().rate_limited == check.tally()["rate-limited"] > 0


def test_a_critical_notification_is_never_rate_limited():
    def no_lane(job, ctx):
        key = (job.event_id, job.channel, job.user)
        if key in ctx.delivered:
            ctx.ack(job)
            return
        if not ctx.limiter.allow(job.user, job.channel, key=key):
            ctx.ack(job)
            return
        try:
            ctx.provider.send(job.user, ctx.render(job), idempotency_key=key)
        except Exception as exc:
            ctx.retry(job, exc) if ctx.is_transient(exc) and job.attempt < ctx.max_attempts else \
                ctx.dead_letter(job, exc)
            ctx.ack(job)
            return
        ctx.delivered.add(key)
        ctx.ack(job)

    check = run_notifications(0, faults=FAULTS, handle=no_lane).check()
    assert "limited-critical" in check.counts, check.summary()
    assert "PasswordReset" in check.of_kind("limited-critical")[0].message
