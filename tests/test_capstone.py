"""msglib.capstone: the notification system's parts, and whole runs under faults."""
from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings, strategies as st

from msglib.capstone import (EVENT_TYPES, Event, Preferences, ProviderOutage, RouterCrash, SlowConsumer, TokenBucket,
                             WorkerCrash, in_quiet_hours, local_hour, make_workload, random_faults, route,
                             run_notifications, schedule)
from msglib.capstone.apps import RouteError
from msglib.capstone.events import HOUR_MS
from msglib.capstone.faults import schedule_from_json
from msglib.capstone.providers import Provider
from msglib.capstone.ratelimit import RateLimiter, max_in_window, replay, window_violation
from msglib.capstone.router import format_hour, why_not
from msglib.capstone.system import RunbookError, SystemConfig
from msglib.capstone.templates import TemplateError, language_chain, render
from msglib.capstone.worker import HandlerError, Notification
from msglib.dlq import HttpError, is_transient
from msglib.sim import History

MIDNIGHT = 1_718_236_800_000        # 2024-06-13 00:00 UTC


def at(hour: float) -> int:
    return int(MIDNIGHT + hour * HOUR_MS)


def prefs(**kw):
    base = dict(user="u1", channels=frozenset({"push", "email", "sms"}), marketing=True, tz_offset_h=0.0,
                quiet_hours=(22, 7), locale="en")
    base.update(kw)
    return {base["user"]: Preferences(**base)}


# ------------------------------------------------------------------------------------------ the router
def test_quiet_hours_start_included_end_excluded_and_wrapping():
    assert in_quiet_hours(22.0, (22, 7)) and in_quiet_hours(23.99, (22, 7)) and in_quiet_hours(0.0, (22, 7))
    assert in_quiet_hours(6.999, (22, 7)) and not in_quiet_hours(7.0, (22, 7)) and not in_quiet_hours(21.99, (22, 7))
    assert in_quiet_hours(13.0, (13, 15)) and not in_quiet_hours(15.0, (13, 15)) and not in_quiet_hours(12.5, (13, 15))
    assert not in_quiet_hours(3.0, None) and not in_quiet_hours(3.0, (5, 5))


def test_local_hour_uses_the_users_offset_even_fractional_and_negative():
    assert local_hour(at(23.5), 0.0) == 23.5
    assert local_hour(at(23.5), 1.0) == 0.5                     # past midnight for the user
    assert local_hour(at(1.0), -3.5) == 21.5                    # the day before, in Newfoundland
    assert local_hour(at(20.0), 5.75) == pytest.approx(1.75)    # Nepal
    assert format_hour(22.5) == "22:30:00.000"


def test_route_applies_channels_consent_quiet_hours_and_critical():
    shipped = Event("e1", "OrderShipped", ("u1",), at(12.0), {"order": "A1", "tracking": "1Z"})
    assert route(shipped, prefs()) == [("u1", "push"), ("u1", "sms"), ("u1", "email")]
    assert route(shipped, prefs(channels=frozenset({"email"}))) == [("u1", "email")]
    night = Event("e2", "OrderShipped", ("u1",), at(23.0), shipped.data)
    assert route(night, prefs()) == [("u1", "email")]                        # push and SMS wait for the morning
    assert route(night, prefs(tz_offset_h=-10.0)) == route(shipped, prefs())  # 13:00 for this user
    reset = Event("e3", "PasswordReset", ("u1",), at(23.0), {"code": "123456"})
    assert route(reset, prefs()) == [("u1", "email"), ("u1", "sms")]          # critical: quiet hours do not apply
    drop = Event("e4", "PriceDropped", ("u1", "u2", "ghost"), at(12.0), {"product": "kettle", "price": "9.99"})
    everyone = {**prefs(), **prefs(user="u2", marketing=False)}
    assert route(drop, everyone) == [("u1", "push"), ("u1", "email")]         # no consent, no account: nothing


def test_why_not_agrees_with_route_on_random_workloads():
    for seed in range(5):
        w = make_workload(seed)
        for _, event in w.events:
            routed = set(route(event, w.prefs))
            for user in event.users:
                for channel in EVENT_TYPES[event.type].channels:
                    reason = why_not(event, w.prefs, user, channel)
                    assert (reason is None) == ((user, channel) in routed), (event, user, channel, reason)


# ------------------------------------------------------------------------------------------ templates
def test_templates_fall_back_and_missing_fields_are_permanent():
    assert language_chain("fr-CA") == ["fr-CA", "fr", "en"]
    assert render("OrderShipped", "sms", "fr-CA", {"order": "A1", "tracking": "1Z9"}).startswith("Commande A1")
    assert render("OrderShipped", "sms", "es", {"order": "A1", "tracking": "1Z9"}).startswith("Your order A1")
    with pytest.raises(TemplateError, match="needs tracking") as info:
        render("OrderShipped", "email", "en", {"order": "A1"})
    assert isinstance(info.value, KeyError) and not is_transient(info.value)
    assert len(render("OrderShipped", "sms", "en", {"order": "A" * 300, "tracking": "x"})) == 160
    for (etype, channel) in [(t, c) for t, k in EVENT_TYPES.items() for c in k.channels]:
        render(etype, channel, "de", {f: "x" for f in EVENT_TYPES[etype].fields})


# ------------------------------------------------------------------------------------------ rate limiting
def test_token_bucket_bursts_refills_continuously_and_caps():
    b = TokenBucket(3, 2.0)                                      # 3 tokens, one more every 500 ms
    assert [b.allow(0) for _ in range(4)] == [True, True, True, False]
    assert not b.allow(499) and b.allow(500)                     # 0.998 tokens at 499 ms: not yet
    assert not b.allow(501)
    assert [b.allow(60_000) for _ in range(4)] == [True, True, True, False]   # a long pause refills 3, not 120
    with pytest.raises(ValueError, match="backwards"):
        b.allow(10)
    with pytest.raises(ValueError):
        TokenBucket(0, 1.0)


def test_replay_finds_past_limit_and_starvation():
    assert replay([(0, True), (0, True), (0, False), (1000, True)], 2, 1.0) is None
    assert replay([(0, True), (0, True), (0, True)], 2, 1.0).kind == "past-limit"
    assert replay([(0, True), (0, False)], 3, 1.0).kind == "starved"
    assert replay([(0, True), (0, False)], 2, 1.0) is None          # exactly one token: rounding decides
    assert replay([(0, True), (0, True), (999.9999999999, True)], 2, 1.0) is None   # within EPS of a token
    assert replay([(0, True), (0, True), (999.99, True)], 2, 1.0).kind == "past-limit"
    assert window_violation([0.0, 0.0, 10.0], 2, 1.0) == (0, 2)
    assert window_violation([0.0, 0.0, 1000.0], 2, 1.0) is None
    assert max_in_window(3, 2.0, 1500) == 6


@settings(database=None, deadline=None, max_examples=60)
@given(st.integers(1, 5), st.sampled_from([0.5, 1.0, 2.0, 3.3]),
       st.lists(st.floats(0, 800, allow_nan=False), min_size=1, max_size=60))
def test_reference_bucket_never_passes_the_limit_and_never_starves(capacity, rate, gaps):
    b = TokenBucket(capacity, rate)
    t, decisions = 0.0, []
    for g in gaps:
        t += g
        decisions.append((t, b.allow(t)))
    assert replay(decisions, capacity, rate) is None
    assert window_violation([t for t, ok in decisions if ok], capacity, rate) is None


def test_rate_limiter_keeps_one_bucket_per_user_and_channel_and_records_decisions():
    h = History()
    lim = RateLimiter(1, 1.0, history=h)
    assert lim.allow("u1", "sms", key="e1/sms/u1") and not lim.allow("u1", "sms", key="e2/sms/u1")
    assert lim.allow("u1", "push") and lim.allow("u2", "sms")
    assert [op.value["allowed"] for op in h if op.type == "ok"] == [True, False, True, True]
    bad = RateLimiter(1, 1.0, bucket=lambda c, r: type("B", (), {"allow": lambda self, now: 1})())
    with pytest.raises(TypeError, match="True or False"):
        bad.allow("u1", "sms")


# ------------------------------------------------------------------------------------------ providers
def test_provider_failures_idempotency_and_lost_responses():
    now = [0.0]
    h = History()
    p = Provider("sms", rng=random.Random(1), clock=lambda: now[0], history=h, transient_rate=0.0,
                 lost_response_rate=0.0, invalid_users={"u9"})
    assert p.send("u1", "hi", ("e1", "sms", "u1")) == p.send("u1", "hi", ("e1", "sms", "u1"))
    assert len(p.inbox) == 1                                     # the repeat was recognised
    p.send("u1", "hi")
    p.send("u1", "hi")
    assert len(p.inbox) == 3                                     # no key: every call is new
    with pytest.raises(HttpError) as info:
        p.send("u9", "hi", "k")
    assert info.value.status == 400 and not is_transient(info.value)
    p.add_outage(10, 20)
    now[0] = 15
    with pytest.raises(HttpError) as info:
        p.send("u1", "hi", "k2")
    assert info.value.status == 503 and is_transient(info.value) and p.down()
    now[0] = 20
    lossy = Provider("push", rng=random.Random(1), clock=lambda: now[0], transient_rate=0.0,
                     lost_response_rate=0.999)
    with pytest.raises(TimeoutError):
        lossy.send("u1", "hi", "k")
    assert len(lossy.inbox) == 1                                 # it did arrive
    with pytest.raises(TimeoutError):
        lossy.send("u1", "hi", "k")                              # the retry: deduplicated, answer lost again
    assert len(lossy.inbox) == 1


# ------------------------------------------------------------------------------------------ faults
def test_fault_schedules_are_seeded_and_round_trip_through_json():
    a, b = random_faults(3), random_faults(3)
    assert a.to_json() == b.to_json() and len(a) >= 1
    assert schedule_from_json(json.loads(a.dumps())).to_json() == a.to_json()
    s = schedule((500, WorkerCrash("sms", "before-send")), (100, ProviderOutage("email", 900)))
    assert [f.kind for _, f in s] == ["outage", "worker-crash"]
    with pytest.raises(ValueError, match="unknown channel"):
        WorkerCrash("fax")
    with pytest.raises(ValueError, match="before-send"):
        WorkerCrash("sms", "during")


# ------------------------------------------------------------------------------------------ whole runs
def test_a_run_is_deterministic():
    a, b = run_notifications(5), run_notifications(5)
    assert a.history.same_as(b.history)


@pytest.mark.parametrize("seed", range(6))
def test_msglib_pieces_pass_the_end_to_end_checker_under_random_faults(seed):
    result = run_notifications(seed)
    check = result.check()
    assert check.valid, check.summary() + "\n" + "\n".join(a.message for a in check.anomalies[:3])
    assert result.system.drained
    tally = check.tally()
    m = result.metrics()
    assert m.delivered == tally["delivered"] and m.duplicates == 0
    assert m.in_dlq_at_end == 0                      # the runbook parked or redrove everything
    assert tally["delivered"] > 0.6 * len(check.expected)


def test_every_fault_kind_has_its_effect_and_nothing_breaks():
    faults = schedule((300, WorkerCrash("email", "after-send")), (500, WorkerCrash("push", "before-send")),
                      (700, RouterCrash()), (900, SlowConsumer("sms", 900)), (1200, ProviderOutage("email", 1200)))
    result = run_notifications(2, faults=faults)
    h = result.history
    notes = "\n".join(n for _, n in result.system.notes)
    assert "after the email provider received" in notes and "before its call to the push provider" in notes
    assert "router-" in notes and "stalls for 900 ms" in notes and "wakes up" in notes
    routes = [op.value["job"] for op in h if op.f == "route" and op.type == "ok"]
    assert len(routes) > len(set(routes))                        # the router crash re-routed part of a batch
    assert any(op.f == "ack" and op.type == "fail" for op in h)  # the stalled worker came back fenced out
    assert any(op.f == "alarm" and op.value["state"] == "ALARM" for op in h if op.type == "ok")
    assert any(op.f == "redrive" for op in h)
    check = result.check()
    assert check.valid, [a.message for a in check.anomalies[:3]]
    assert result.metrics().duplicates == 0


def test_without_a_runbook_transient_dead_letters_stay_and_that_is_allowed():
    result = run_notifications(2, faults=schedule((800, ProviderOutage("push", 1500))), runbook=None)
    check = result.check()
    assert check.valid and result.metrics().in_dlq_at_end > 0 and result.metrics().redrives == 0


def test_bad_pieces_fail_with_clear_errors():
    def bad_route(event, prefs):
        return [(event.users[0], "fax")]

    with pytest.raises(RouteError, match="channel 'fax'"):
        run_notifications(0, faults=None, route=bad_route, events=10)

    def broken_handle(job, ctx):
        raise ZeroDivisionError("oops")

    with pytest.raises(HandlerError, match="ZeroDivisionError: oops on job e"):
        run_notifications(0, faults=None, handle=broken_handle, events=10)

    def broken_runbook(ops):
        ops.redrive("sms", ["nope"])

    with pytest.raises(RunbookError, match="not in the sms DLQ"):
        run_notifications(0, faults=None, runbook=broken_runbook, events=10)
    with pytest.raises(ValueError, match="SystemConfig.workers"):
        SystemConfig(workers=0)


def test_notification_json_round_trip_and_job_id():
    n = Notification("e1", "OrderShipped", "u1", "sms", {"order": "A1"}, "fr", 2, 12.5, "notify.sms", 1, 7)
    back = Notification.from_json(n.to_json(), topic="notify.sms", partition=1, offset=7)
    assert back == n and back.job_id == "e1/sms/u1"


def test_admission_is_durable_per_notification_key():
    h = History()
    lim = RateLimiter(1, 1.0, history=h)
    assert lim.allow("u1", "sms", key=("e1", "sms", "u1"), job="e1/sms/u1")
    assert lim.allow("u1", "sms", key=("e1", "sms", "u1"), job="e1/sms/u1")      # the record answers: no token
    assert not lim.allow("u1", "sms", key=("e2", "sms", "u1"), job="e2/sms/u1")  # the bucket is empty
    assert not lim.allow("u1", "sms", key=("e2", "sms", "u1"))                   # refused stays refused
    assert lim.decisions[("u1", "sms")] == [(0.0, True), (0.0, False)]           # two decisions touched the bucket
    assert [op.value["repeat"] for op in h if op.type == "ok"] == [False, True, False, True]
    with pytest.raises(TypeError, match="hashable"):
        lim.allow("u1", "sms", key=["e3"])
