"""Checks for module 11 (capstone: a notification system).

Every learner piece runs inside the whole system (``msglib.capstone``) through its seam, and every
run is judged by the end-to-end checker :func:`msglib.check.notifications.check_notifications`:

* ``11-route``        -- ``route(event, prefs)``: hand-picked cases at the edges of quiet hours and
  time zones, thousands of random cases against the rules, then the router of seeded runs;
* ``11-token_bucket`` -- ``TokenBucket(capacity, refill_per_s).allow(now_ms)``: scripted arrivals,
  then random arrival patterns (bursts, steady, sparse) replayed against a reference bucket (never
  past the limit, never refusing with a token left), then the limiter of seeded runs;
* ``11-handle``       -- ``handle(job, ctx)``: the channel workers of seeded runs with worker crashes
  before and after the provider call, a router crash, a stalled (zombie) worker, provider outages,
  lost responses, duplicate events, permanent failures, and redrives of admitted notifications;
* ``11-runbook``      -- ``runbook(ops)`` together with the learner's route, bucket and handle: the
  whole system under fault schedules (hidden: many), checked end to end. A piece that does not pass
  its own visible check yet is replaced by msglib's (and the check says so), so one unfinished
  exercise costs no points here.
"""
from __future__ import annotations

import functools
import random
import weakref
from typing import Any, Callable

from msglib.capstone.apps import RouteError
from msglib.capstone.events import (CHANNELS, DAY_MS, EVENT_TYPES, HOUR_MS, QUIET_HOURS, TIME_ZONES, Event,
                                    Preferences)
from msglib.capstone.faults import ProviderOutage, RouterCrash, SlowConsumer, WorkerCrash, random_faults, schedule
from msglib.capstone.ratelimit import TokenBucket as ReferenceBucket, max_in_window, replay, window_violation
from msglib.capstone.router import format_hour, local_hour, route as reference_route, why_not
from msglib.capstone.system import RunbookError, RunResult, SystemConfig, redrive_when_healthy, run_notifications
from msglib.capstone.worker import HandlerError, handle as reference_handle, render as render_notification
from msglib.check.notifications import NotificationCheckResult
from msglib.grading.core import CheckFailed, call_learner, quiet, require_callable, seeds
from msglib.sim.faults import FaultSchedule
from msglib.sim.history import INVOKE, OK

EX_ROUTE = "11-route"
EX_BUCKET = "11-token_bucket"
EX_HANDLE = "11-handle"
EX_RUNBOOK = "11-runbook"

MIDNIGHT = 1_718_236_800_000      # 2024-06-13 00:00:00 UTC

# The fault schedules of the visible checks: every kind of fault, twice over.
VISIBLE_FAULTS: list[FaultSchedule] = [
    schedule((400, WorkerCrash("email", "before-send")), (600, WorkerCrash("push", "after-send")),
             (900, RouterCrash()), (1200, ProviderOutage("sms", 1200)), (1500, SlowConsumer("email", 800)),
             (2000, WorkerCrash("sms", "before-send")), (2600, ProviderOutage("push", 400)),
             (3000, WorkerCrash("push", "before-send"))),
    schedule((300, WorkerCrash("push", "before-send")), (700, ProviderOutage("email", 1000)),
             (1100, WorkerCrash("email", "after-send")), (1600, RouterCrash()), (2100, SlowConsumer("push", 900)),
             (2500, WorkerCrash("sms", "after-send")), (2900, ProviderOutage("sms", 500))),
]


def _faults(seed: int) -> FaultSchedule:
    """A hidden run's faults: five drawn from the seed, plus an outage (so retries and the DLQ always matter)."""
    rng = random.Random(f"ex11/{seed}")
    faults = random_faults(seed, 4_000.0, count=5)
    faults.add(round(rng.uniform(500, 2_500), 1), ProviderOutage(rng.choice(CHANNELS), rng.randint(600, 1_400)))
    return faults


# ====================================================================================== shared
PIECE_OF = {"opted-out": "route", "quiet-hours": "route", "not-a-recipient": "route", "past-limit": "bucket",
            "starved": "bucket", "duplicate": "handle", "lost": "handle", "refused-after-admission": "handle",
            "limited-critical": "handle", "admitted-twice": "handle", "wrong-user": "handle",
            "wrong-content": "handle", "retried-permanent": "handle", "gave-up-early": "handle",
            "too-many-attempts": "handle", "unacknowledged": "handle", "redrove-permanent": "runbook",
            "parked-transient": "runbook", "redrove-into-outage": "runbook", "redrive-over-budget": "runbook",
            "left-in-dlq": "runbook"}

HINTS = {
    "duplicate": "name the notification, not the record or the attempt: key = (event_id, channel, user); check "
                 "ctx.delivered first, and pass idempotency_key=key to the provider (a crash or a lost answer "
                 "after the provider sent it leaves a gap only the provider's dedupe can close)",
    "lost": "acknowledge only once the job is settled (delivered, retried, dead-lettered or dropped), record the "
            "key only after the provider said yes, and make the key unique per (event, channel, user)",
    "refused-after-admission": "admission belongs to the notification, not to the attempt: ask "
                               "ctx.limiter.allow(job.user, job.channel, key=key) with the notification's key; the "
                               "limiter records its answer for that key, so a redrive or a redelivery (attempt 1 "
                               "again) gets the same answer instead of a fresh refusal",
    "limited-critical": "critical notifications (job.critical: a password reset) take the priority lane: do not ask "
                        "the limiter for them",
    "admitted-twice": "pass key=key to ctx.limiter.allow: a repeat of an admitted notification (a redelivery, a "
                      "duplicate event, a redrive) must not take a second token",
    "wrong-user": "send to job.user",
    "wrong-content": "send ctx.render(job), the template in the user's language",
    "retried-permanent": "ask ctx.is_transient(exc): a permanent failure goes to ctx.dead_letter at once",
    "gave-up-early": "retry a transient failure while job.attempt < ctx.max_attempts",
    "too-many-attempts": "job.attempt counts the first attempt: retry only while job.attempt < ctx.max_attempts",
    "unacknowledged": "every path through handle ends with ctx.ack(job): delivered, repeated, dropped, retried, "
                      "dead-lettered",
    "past-limit": "ask ctx.limiter.allow(job.user, job.channel, key=key) for every notification that is not "
                  "critical; allow only with a whole token in the bucket; refill at refill_per_s tokens per SECOND, "
                  "never above capacity",
    "starved": "a new bucket is full; refill continuously, keeping fractions of a token; a refused call costs "
               "nothing",
    "opted-out": "only channels in prefs[user].channels; marketing events only with prefs[user].marketing",
    "quiet-hours": "local hour = (UTC ms + tz_offset_h hours) modulo a day; quiet from start (included) to end "
                   "(excluded), wrapping past midnight; only push and SMS, never critical events",
    "not-a-recipient": "only the event's users, each once, and only the channels of the event's type",
    "redrove-permanent": "permanent failures go to ops.park; only the others are redriven",
    "parked-transient": "park only letters whose reason is 'permanent'",
    "redrove-into-outage": "ops.probe(channel) first: redriving into an outage only fills the DLQ again",
    "redrive-over-budget": "at most ops.budget letters per channel per tick",
    "left-in-dlq": "every tick, for every channel: park the permanent letters, and redrive the others (at most "
                   "ops.budget) whenever the provider answers, whatever the alarm says",
}


def _run(exercise: str, seed: int, faults: FaultSchedule | None, **pieces: Any) -> RunResult:
    """One seeded run with learner pieces; their exceptions become a CheckFailed."""
    config = pieces.pop("config", None)
    try:
        with quiet():
            return run_notifications(seed, faults=faults, config=config, **pieces)
    except CheckFailed:
        raise
    except RouteError as exc:
        raise _wrapped("route", exc.__cause__, f"route {exc.what}", exc, exercise, seed) from None
    except HandlerError as exc:
        raise _wrapped("handle", exc.exc, f"handle() raised {type(exc.exc).__name__}: {exc.exc}", exc, exercise,
                       seed) from None
    except RunbookError as exc:
        raise _wrapped("runbook", exc.__cause__, str(exc), exc, exercise, seed) from None
    except (TypeError, ValueError) as exc:     # a ctx/ops/limiter call the system refused, or a bucket's answer
        raise CheckFailed(f"the system refused a call from your code: {type(exc).__name__}: {exc}", seed=seed,
                          exercise=exercise) from None


def _wrapped(name: str, cause: BaseException | None, what: str, exc: Exception, exercise: str,
             seed: int) -> CheckFailed:
    if isinstance(cause, NotImplementedError):
        return CheckFailed(f"`{name}` is not implemented yet (it raised NotImplementedError)", exercise=exercise,
                           hint="replace `raise NotImplementedError()` with your code")
    return CheckFailed(what, case=str(exc), seed=seed, exercise=exercise)


def _judge(result: RunResult, exercise: str, seed: int, kinds: set[str] | None = None,
           who: str = "", hints: dict[str, str] | None = None) -> NotificationCheckResult:
    check = result.check()
    bad = [a for a in check.anomalies if kinds is None or a.kind in kinds]
    if bad:
        first = min(bad, key=lambda a: (list(PIECE_OF).index(a.kind) if a.kind in PIECE_OF else 99,
                                        min(a.ops, default=0)))
        story = check.story(first.key) if "/" in first.key and not first.key.startswith("?") else ""
        if first.kind == "lost" and story.endswith("no operation mentions it"):
            story = f"{first.key}: the router never produced this job"
        counts = ", ".join(f"{n} {k}" for k, n in sorted(check.counts.items()))
        raise CheckFailed(f"{who}the end-to-end check failed ({counts}): {first.message}",
                          case=story or None, seed=seed, exercise=exercise, hint=(hints or HINTS).get(first.kind))
    return check


# The end-to-end exercise plugs in only pieces that pass their own visible check (see _pieces).
_PASSED: "weakref.WeakKeyDictionary[Any, bool]" = weakref.WeakKeyDictionary()
REFERENCE = {"route": reference_route, "TokenBucket": ReferenceBucket, "handle": reference_handle}


def _remember(piece: Any, ok: bool) -> None:
    try:
        _PASSED[piece] = ok
    except TypeError:                          # not weak-referenceable: check it again next time
        pass


def _remembering(check: Callable) -> Callable:
    """A visible check that also remembers its verdict for the end-to-end exercise's gate."""
    @functools.wraps(check)
    def wrapper(piece: Any, seed: int | None = None) -> None:
        try:
            check(piece, seed)
        except CheckFailed:
            if seed is None:
                _remember(piece, False)
            raise
        if seed is None:
            _remember(piece, True)
    return wrapper


# ====================================================================================== exercise 1: route
def _case_event(etype: str, users: tuple[str, ...], local: float, tz: float, data: dict | None = None) -> Event:
    """An event at local time ``local`` (hours) for a user ``tz`` hours ahead of UTC."""
    utc = MIDNIGHT + round((local - tz) * HOUR_MS) % DAY_MS
    kind = EVENT_TYPES[etype]
    return Event("e1", etype, users, int(utc), data or {f: "x" for f in kind.fields})


def _p(user: str = "u1", channels: str = "push email sms", marketing: bool = True, tz: float = 0.0,
       quiet: tuple[int, int] | None = (22, 7)) -> Preferences:
    return Preferences(user, frozenset(channels.split()), marketing, tz, quiet)


ROUTE_CASES: list[tuple[str, Event, dict[str, Preferences]]] = [
    ("OrderShipped at noon, every channel", _case_event("OrderShipped", ("u1",), 12.0, 0.0), {"u1": _p()}),
    ("opted into email only", _case_event("OrderShipped", ("u1",), 12.0, 0.0), {"u1": _p(channels="email")}),
    ("23:00, quiet hours 22-7", _case_event("OrderShipped", ("u1",), 23.0, 0.0), {"u1": _p()}),
    ("exactly 22:00:00.000: quiet hours start", _case_event("OrderPlaced", ("u1",), 22.0, 0.0), {"u1": _p()}),
    ("exactly 07:00:00.000: quiet hours are over", _case_event("OrderPlaced", ("u1",), 7.0, 0.0), {"u1": _p()}),
    ("06:59:59.999: still quiet", _case_event("DeliveryDelayed", ("u1",), 7.0 - 1 / HOUR_MS, 0.0), {"u1": _p()}),
    ("22:00 local is 03:00 UTC for a user at UTC-5", _case_event("OrderShipped", ("u1",), 22.0, -5.0),
     {"u1": _p(tz=-5.0)}),
    ("22:00 local for a user at UTC+5:30", _case_event("OrderShipped", ("u1",), 22.0, 5.5), {"u1": _p(tz=5.5)}),
    ("noon local for a user at UTC+9 (03:00 UTC)", _case_event("OrderShipped", ("u1",), 12.0, 9.0),
     {"u1": _p(tz=9.0)}),
    ("quiet hours 13-15, at 14:00", _case_event("OrderShipped", ("u1",), 14.0, 0.0), {"u1": _p(quiet=(13, 15))}),
    ("quiet hours 13-15, at 15:00", _case_event("OrderShipped", ("u1",), 15.0, 0.0), {"u1": _p(quiet=(13, 15))}),
    ("no quiet hours, at 03:00", _case_event("OrderShipped", ("u1",), 3.0, 0.0), {"u1": _p(quiet=None)}),
    ("PasswordReset at 23:00 is critical", _case_event("PasswordReset", ("u1",), 23.0, 0.0), {"u1": _p()}),
    ("DeliveryDelayed at 01:00: everything silenced", _case_event("DeliveryDelayed", ("u1",), 1.0, 0.0),
     {"u1": _p()}),
    ("PriceDropped to three watchers: consent, no consent, deleted account",
     _case_event("PriceDropped", ("u1", "u2", "u3"), 12.0, 0.0), {"u1": _p(), "u2": _p("u2", marketing=False)}),
    ("PriceDropped to two watchers in different time zones",
     _case_event("PriceDropped", ("u1", "u2"), 23.5, 0.0), {"u1": _p(), "u2": _p("u2", tz=-10.0)}),
]


def _show_prefs(event: Event, prefs: dict[str, Preferences]) -> str:
    parts = []
    for user in event.users:
        p = prefs.get(user)
        if p is None:
            parts.append(f"{user}: no preferences (deleted account)")
            continue
        quiet_h = f"{p.quiet_hours[0]:02d}:00-{p.quiet_hours[1]:02d}:00" if p.quiet_hours else "none"
        parts.append(f"{user}: channels {sorted(p.channels)}, marketing {p.marketing}, UTC{p.tz_offset_h:+g} "
                     f"(local {format_hour(local_hour(event.time_ms, p.tz_offset_h))}), quiet hours {quiet_h}")
    kind = EVENT_TYPES[event.type]
    flags = ", ".join(f for f, on in (("critical", kind.critical), ("marketing", kind.marketing)) if on)
    return (f"event {event.event_id} {event.type} (channels {list(kind.channels)}{', ' + flags if flags else ''}) "
            f"at {format_hour(local_hour(event.time_ms, 0.0))} UTC for {list(event.users)}; " + "; ".join(parts))


def _route_problem(fn: Callable, event: Event, prefs: dict[str, Preferences], label: str,
                   seed: int | None) -> CheckFailed | None:
    case = f"{label}: {_show_prefs(event, prefs)}"
    got = call_learner(fn, event, {u: p for u, p in prefs.items()}, exercise=EX_ROUTE, seed=seed,
                       what=f"route({event.event_id}, prefs) -- {case}")
    try:
        pairs = [tuple(x) for x in got]
    except TypeError:
        return CheckFailed(f"route returned {got!r}; return a list of (user, channel) pairs", case=case, seed=seed,
                           exercise=EX_ROUTE)
    if any(len(x) != 2 for x in pairs):
        return CheckFailed(f"route returned {got!r}; each item is a (user, channel) pair", case=case, seed=seed,
                           exercise=EX_ROUTE)
    if len(set(pairs)) != len(pairs):
        dup = next(x for x in pairs if pairs.count(x) > 1)
        return CheckFailed(f"route returned {dup} twice: that user would be notified twice", case=case, seed=seed,
                           exercise=EX_ROUTE, hint="consider each user once")
    want = set(reference_route(event, prefs))
    extra = [x for x in pairs if x not in want]
    if extra:
        user, channel = extra[0]
        reason = why_not(event, prefs, user, channel) if channel in CHANNELS else f"{channel!r} is not a channel"
        return CheckFailed(f"route sends {event.type} to {user} on {channel}, but it must not: {reason}", case=case,
                           seed=seed, exercise=EX_ROUTE,
                           hint=HINTS["quiet-hours"] if "quiet" in (reason or "") else HINTS["opted-out"])
    missing = [x for x in reference_route(event, prefs) if x not in set(pairs)]
    if missing:
        user, channel = missing[0]
        p = prefs[user]
        hour = local_hour(event.time_ms, p.tz_offset_h)
        return CheckFailed(f"route does not send {event.type} to {user} on {channel}, but it should: {user} opted "
                           f"into {channel}, and at {format_hour(hour)} local time that is allowed", case=case,
                           seed=seed, exercise=EX_ROUTE, hint=HINTS["quiet-hours"])
    ordered = [tuple(x) for x in reference_route(event, prefs)]
    if pairs != ordered:                  # rules 1 and 3 give an order: the users', then the type's channels
        return CheckFailed(f"route returned the right pairs in another order: {pairs}; the rules give {ordered}",
                           case=case, seed=seed, exercise=EX_ROUTE,
                           hint="go through event.users in order, and each user's channels in the order of "
                                "EVENT_TYPES[event.type].channels")
    return None


def _random_route_case(rng: random.Random, n: int) -> tuple[Event, dict[str, Preferences]]:
    users = [f"u{i}" for i in range(rng.randint(1, 4))]
    prefs = {}
    for u in users:
        if rng.random() < 0.1:
            continue                                  # a deleted account
        quiet_h = rng.choice(QUIET_HOURS + ((5, 5), (23, 0), (0, 23)))
        prefs[u] = Preferences(u, frozenset(c for c in CHANNELS if rng.random() < 0.7), rng.random() < 0.6,
                               rng.choice(TIME_ZONES + (-9.5, 3.5, 13.0)), quiet_h)
    etype = rng.choice(list(EVENT_TYPES))
    who = tuple(rng.sample(users, rng.randint(1, len(users)))) if etype == "PriceDropped" else (users[0],)
    anchor = prefs.get(who[0])
    # aim at the edges of the first user's quiet hours (in their local time) half of the time
    if anchor is not None and anchor.quiet_hours and rng.random() < 0.5:
        local = rng.choice(anchor.quiet_hours) + rng.choice([0.0, 0.0, -1 / HOUR_MS, 1 / HOUR_MS])
        tz = anchor.tz_offset_h
    else:
        local, tz = rng.uniform(0, 24), 0.0
    event = _case_event(etype, who, local, tz)
    return Event(f"e{n}", event.type, event.users, event.time_ms, event.data), prefs


def _check_route(fn: Callable, n_random: int, seed_list: list[int], faults: list[FaultSchedule | None]) -> None:
    require_callable(fn, "route", EX_ROUTE)
    for label, event, prefs in ROUTE_CASES:
        problem = _route_problem(fn, event, prefs, label, None)
        if problem:
            raise problem
    for seed in seed_list:
        rng = random.Random(f"ex11-route/{seed}")
        for n in range(n_random):
            event, prefs = _random_route_case(rng, n)
            problem = _route_problem(fn, event, prefs, f"random case {n}", seed)
            if problem:
                raise problem
    for seed, f in zip(seed_list, faults):
        _judge(_run(EX_ROUTE, seed, f, route=fn), EX_ROUTE, seed, who="with your route as the router: ")


@_remembering
def check_route(route: Callable, seed: int | None = None) -> None:
    """Visible: 16 hand-picked cases, 300 random ones, one seeded run of the whole system."""
    seed_list = [seed] if seed is not None else seeds(EX_ROUTE, 1)
    _check_route(route, 300, seed_list, [VISIBLE_FAULTS[0]])


def _repeated_users(fn: Callable, seed_list: list[int], n_cases: int) -> None:
    """Events that list a user twice (a watcher on two of a product's lists): each user is considered once."""
    for seed in seed_list:
        rng = random.Random(f"ex11-route-repeats/{seed}")
        for n in range(n_cases):
            event, prefs = _random_route_case(rng, n)
            users = event.users + tuple(rng.choice(event.users) for _ in range(rng.randint(1, 2)))
            event = Event(event.event_id, event.type, users, event.time_ms, event.data)
            problem = _route_problem(fn, event, prefs, f"random case {n}, a user listed twice", seed)
            if problem:
                raise problem


def hidden_route(route: Callable, seed: int | None = None) -> None:
    """Hidden: 2 x 1500 random cases aimed at the edges of quiet hours, 2 x 100 whose events list a user twice,
    two runs under random faults."""
    seed_list = [seed] if seed is not None else seeds(EX_ROUTE, 2, hidden=True)
    require_callable(route, "route", EX_ROUTE)
    _repeated_users(route, seed_list, 100)
    _check_route(route, 1500, seed_list, [_faults(s) for s in seed_list])


# ====================================================================================== exercise 2: token bucket
# (capacity, refill_per_s, [(now_ms, expected)], what it shows). Numbers are exact in binary floating point.
BUCKET_SCRIPTS: list[tuple[int, float, list[tuple[float, bool]], str]] = [
    (3, 2.0, [(0, True), (0, True), (0, True), (0, False)], "a new bucket is full: a burst of 3, then no more"),
    (3, 2.0, [(0, True), (0, True), (0, True), (250, False), (500, True), (500, False)],
     "2 tokens per second: one more token 500 ms later"),
    (2, 4.0, [(0, True), (10_000, True), (10_000, True), (10_000, False)],
     "after a long pause the bucket holds its capacity, no more"),
    (1, 1.0, [(0, True), (250, False), (500, False), (750, False), (1000, True)],
     "fractions of a token add up: 4 x 250 ms at 1 token/s make one token"),
    (1, 2.0, [(0, True), (500, True)], "exactly one token (500 ms at 2/s) is enough"),
    (1, 2.0, [(0, True), (100, False), (200, False), (300, False), (400, False), (500, True)],
     "a refused call costs nothing"),
    (2, 1.0, [(5_000, True), (5_000, True), (5_000, False)], "the first call may come at any time: still full"),
    (1, 1.0, [(0, True), (10, False)], "refill_per_s is per SECOND; times are milliseconds"),
]


BUCKET_HINTS = {
    "past-limit": "allow only with a whole token in the bucket; refill at refill_per_s tokens per SECOND (times are "
                  "in ms), never above capacity",
    "starved": HINTS["starved"],
}


def _new_bucket(cls: Any, capacity: int, rate: float, seed: int | None) -> Any:
    what = f"TokenBucket({capacity}, {rate:g})"
    b = call_learner(cls, capacity, rate, exercise=EX_BUCKET, what=what, seed=seed)
    if not callable(getattr(b, "allow", None)):
        raise CheckFailed(f"{what} has no allow(now_ms) method", exercise=EX_BUCKET,
                          hint="define `def allow(self, now_ms):` returning True or False")
    return b


def _decide(b: Any, capacity: int, rate: float, now: float, seed: int | None) -> bool:
    got = call_learner(b.allow, now, exercise=EX_BUCKET, seed=seed,
                       what=f"TokenBucket({capacity}, {rate:g}).allow({now:g})")
    if not isinstance(got, bool):
        raise CheckFailed(f"allow({now:g}) returned {got!r}; return True or False", exercise=EX_BUCKET, seed=seed)
    return got


def _show_decisions(decisions: list[tuple[float, bool]], upto: int) -> str:
    start = max(0, upto - 7)
    shown = ", ".join(f"t={t:g}: {'allowed' if ok else 'refused'}" for t, ok in decisions[start:upto + 1])
    return ("... " if start else "") + shown


def _bucket_pattern(rng: random.Random, n: int) -> list[float]:
    """Arrival times: bursts at one instant, steady streams, sparse ones and long pauses, mixed."""
    t, out = 0.0, []
    while len(out) < n:
        kind = rng.random()
        if kind < 0.3:
            out += [t] * rng.randint(2, 6)                       # a burst
        elif kind < 0.6:
            gap = rng.choice([50.0, 125.0, 250.0, rng.uniform(20, 400)])
            for _ in range(rng.randint(3, 12)):
                t += gap
                out.append(t)
        elif kind < 0.85:
            t += rng.uniform(0, 300)
            out.append(t)
        else:
            t += rng.uniform(1_000, 8_000)                       # a long pause
            out.append(t)
        t += rng.uniform(0, 50)
    return out[:n]


def _check_bucket(cls: Any, combos: list[tuple[int, float]], seed_list: list[int], n: int,
                  faults: list[FaultSchedule | None]) -> None:
    require_callable(cls, "TokenBucket", EX_BUCKET)
    for capacity, rate, script, what in BUCKET_SCRIPTS:
        b = _new_bucket(cls, capacity, rate, None)
        decisions: list[tuple[float, bool]] = []
        for i, (now, want) in enumerate(script):
            got = _decide(b, capacity, rate, now, None)
            decisions.append((now, got))
            if got != want:
                verdict = replay(decisions, capacity, rate)
                tokens = f" (the bucket held {verdict.tokens:.3f} tokens)" if verdict else ""
                raise CheckFailed(f"TokenBucket({capacity}, {rate:g}): allow({now:g}) returned {got}, expected "
                                  f"{want}{tokens}: {what}", case=_show_decisions(decisions, i), exercise=EX_BUCKET,
                                  hint=BUCKET_HINTS["past-limit" if got else "starved"])
    a, b = _new_bucket(cls, 1, 1.0, None), _new_bucket(cls, 1, 1.0, None)
    if not (_decide(a, 1, 1.0, 0, None) and _decide(b, 1, 1.0, 0, None)):
        raise CheckFailed("two new buckets share their tokens: the second TokenBucket(1, 1) refused its first call "
                          "after the first one was used", exercise=EX_BUCKET,
                          hint="keep tokens in self (set them in __init__), not in the class or a global")
    for seed in seed_list:
        rng = random.Random(f"ex11-bucket/{seed}")
        for capacity, rate in combos:
            times = _bucket_pattern(rng, n)
            bucket = _new_bucket(cls, capacity, rate, seed)
            decisions = []
            for now in times:
                decisions.append((now, _decide(bucket, capacity, rate, now, seed)))
            allowed = [t for t, ok in decisions if ok]
            window = window_violation(allowed, capacity, rate)
            if window is not None:                   # never more than capacity + rate * W in any window W
                i, j = window
                w = allowed[j] - allowed[i]
                last = next(k for k, (t, ok) in enumerate(decisions) if ok and t == allowed[j])
                raise CheckFailed(f"TokenBucket({capacity}, {rate:g}) allowed {j - i + 1} calls between t={allowed[i]:g} "
                                  f"and t={allowed[j]:g} ms; in {w:g} ms at most {max_in_window(capacity, rate, w):.2f} "
                                  f"fit (capacity + {rate:g}/s x {w / 1000:g} s): past the limit",
                                  case=f"{len(decisions)} random arrivals; around the failure: "
                                       + _show_decisions(decisions, last),
                                  seed=seed, exercise=EX_BUCKET, hint=BUCKET_HINTS["past-limit"])
            verdict = replay(decisions, capacity, rate)
            if verdict is not None:
                t, ok = decisions[verdict.index]
                if verdict.kind == "past-limit":
                    what = (f"allowed a call at t={t:g} ms with only {verdict.tokens:.3f} token(s) in the bucket: "
                            f"past the limit")
                else:
                    what = f"refused a call at t={t:g} ms with {verdict.tokens:.3f} tokens in the bucket: starvation"
                raise CheckFailed(f"TokenBucket({capacity}, {rate:g}) {what}",
                                  case=f"{len(decisions)} random arrivals; around the failure: "
                                       + _show_decisions(decisions, verdict.index),
                                  seed=seed, exercise=EX_BUCKET, hint=BUCKET_HINTS[verdict.kind])
    for seed, f in zip(seed_list, faults):
        _judge(_run(EX_BUCKET, seed, f, bucket=cls), EX_BUCKET, seed, kinds={"past-limit", "starved"},
               who="with your TokenBucket in the rate limiter: ", hints={**HINTS, **BUCKET_HINTS})


@_remembering
def check_token_bucket(TokenBucket: Any, seed: int | None = None) -> None:
    """Visible: 8 scripted cases, random arrivals for 4 (capacity, rate) pairs, one seeded run of the system."""
    seed_list = [seed] if seed is not None else seeds(EX_BUCKET, 1)
    _check_bucket(TokenBucket, [(3, 2.0), (1, 1.0), (5, 0.5), (2, 3.3)], seed_list, 200, [None])


def hidden_token_bucket(TokenBucket: Any, seed: int | None = None) -> None:
    """Hidden: odd capacities and rates (1 to 10 tokens, 0.7 to 10 per second), 2 x 400 arrivals each, two runs."""
    seed_list = [seed] if seed is not None else seeds(EX_BUCKET, 2, hidden=True)
    combos = [(1, 0.7), (10, 10.0), (4, 1.5), (2, 0.25), (7, 3.0), (3, 2.0)]
    _check_bucket(TokenBucket, combos, seed_list, 400, [_faults(s) for s in seed_list])


# ====================================================================================== exercise 3: handle
def _wasted_call(result: RunResult) -> tuple[str, Any] | None:
    """A provider call for a job that an earlier, finished handle() had already delivered (and could have
    recorded): the first one, or None."""
    done_at: dict[str, int] = {}                   # job -> index of the completion of a handle that delivered it
    invokes: dict[int, Any] = {}
    for op in result.history.ops:
        if op.f != "handle":
            continue
        if op.type == INVOKE:
            invokes[op.index] = op
            continue
        job = op.value["job"]
        actions = op.value.get("actions", [])
        started = op.invoke_index
        if job in done_at and started is not None and started > done_at[job] and "send" in actions:
            return job, op
        if op.type == OK and "sent" in actions:
            done_at.setdefault(job, op.index)
    return None


class _ProviderWatch:
    """``ctx.provider`` as the learner's handle sees it: every send must carry the job's user and its rendered
    text (an exception the real provider raises is remembered: it may fail the job)."""

    def __init__(self, ctx: "_CtxWatch") -> None:
        self._ctx = ctx

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx._real.provider, name)

    def send(self, *args: Any, **kwargs: Any) -> Any:
        job = self._ctx._real.job
        user = args[0] if args else kwargs.get("user")
        text = args[1] if len(args) > 1 else kwargs.get("text")
        if user != job.user:
            self._ctx._note(f"provider.send was called with user {user!r} for {job.job_id}, whose user is "
                            f"{job.user!r}", "provider.send(job.user, ctx.render(job), idempotency_key=key)")
        else:
            try:
                want = render_notification(job)
            except Exception:          # a template error: the handler's own render call meets it first
                want = None
            if want is not None and text != want:
                self._ctx._note(f"provider.send got the text {text!r} for {job.job_id}; ctx.render(job) gives "
                                f"{want!r}", "send the text ctx.render(job) returns")
        try:
            return self._ctx._real.provider.send(*args, **kwargs)
        except Exception as exc:
            self._ctx._raised.add(id(exc))
            raise


class _CtxWatch:
    """The worker context handed to the learner's handle: the real one, watched for what one delivery does
    (what reaches the provider, and which errors the job is retried or dead-lettered for)."""

    def __init__(self, real: Any, notes: list[tuple[str, str]]) -> None:
        self._real = real
        self._notes = notes
        self._raised: set[int] = set()          # ids of exceptions the provider or the template raised
        self.provider = _ProviderWatch(self)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def _note(self, what: str, hint: str) -> None:
        if not self._notes:
            self._notes.append((what, hint))

    def render(self, job: Any) -> str:
        if job is not self._real.job:
            self._note(f"ctx.render was given {job!r}, not the job handle() is delivering "
                       f"({self._real.job.job_id})", "text = ctx.render(job)")
        try:
            return self._real.render(job)
        except Exception as exc:
            self._raised.add(id(exc))
            raise

    def _settle(self, how: str, job: Any, exc: Any) -> Any:
        chain, e = [], exc
        while isinstance(e, BaseException) and len(chain) < 10:   # a wrapper (raise X from e) names its cause
            chain.append(id(e))
            e = e.__cause__ or e.__context__
        if isinstance(exc, BaseException) and not self._raised.intersection(chain):
            self._note(f"{self._real.job.job_id} was {how} for {type(exc).__name__}: {exc}, which neither the "
                       "provider nor the template raised: an error in the handler itself, not a failed delivery",
                       "call ctx.render(job) and provider.send(job.user, text, idempotency_key=key) as the spec "
                       "says; retry or dead-letter only the exception they raised")
        return getattr(self._real, "retry" if how == "retried" else "dead_letter")(job, exc)

    def retry(self, job: Any, exc: Any) -> Any:
        return self._settle("retried", job, exc)

    def dead_letter(self, job: Any, exc: Any) -> Any:
        return self._settle("dead-lettered", job, exc)


def _watched(fn: Callable, notes: list[tuple[str, str]]) -> Callable:
    @functools.wraps(fn)
    def handle(job: Any, ctx: Any) -> Any:
        return fn(job, _CtxWatch(ctx, notes))
    return handle


def _check_handle(fn: Callable, runs: list[tuple[int, FaultSchedule | None, SystemConfig | None]],
                  redriven: list[tuple[int, FaultSchedule]] = ()) -> None:
    """Runs without a runbook, then ``redriven`` runs with msglib's runbook: there dead letters come back as
    attempt 1 of the same notification, after its admission (the limiter must not be asked afresh)."""
    require_callable(fn, "handle", EX_HANDLE)
    plan = [(seed, faults, config, None) for seed, faults, config in runs]
    plan += [(seed, faults, None, redrive_when_healthy) for seed, faults in redriven]
    for seed, faults, config, runbook in plan:
        notes: list[tuple[str, str]] = []
        result = _run(EX_HANDLE, seed, faults, handle=_watched(fn, notes), runbook=runbook, config=config)
        if notes:   # what one delivery did: the provider call's arguments, the error a job was settled for
            raise CheckFailed(notes[0][0], seed=seed, exercise=EX_HANDLE, hint=notes[0][1])
        _judge(result, EX_HANDLE, seed, who="with your handle in every channel worker: ")
        wasted = _wasted_call(result)
        if wasted is not None:
            job, op = wasted
            raise CheckFailed(f"{job} had already been delivered, and that handle() call had finished, yet handle() "
                              f"called the provider again for it at t={op.time:.0f} ms (a redelivery): every call "
                              "costs money, and a provider without idempotency keys would notify twice",
                              case=result.check().story(job), seed=seed, exercise=EX_HANDLE,
                              hint="after a successful send, ctx.delivered.add(key); check `key in ctx.delivered` "
                                   "first and just ack a job that is already done")


@_remembering
def check_handle(handle: Callable, seed: int | None = None) -> None:
    """Visible: two seeded runs under fixed schedules (crashes before and after the provider call, a router
    crash, a stalled worker, outages), with lost responses, duplicate events and permanent failures; then one
    with msglib's runbook, so dead letters are redriven after their admission."""
    if seed is not None:
        runs = [(seed, VISIBLE_FAULTS[0], None)]
    else:
        runs = [(s, VISIBLE_FAULTS[i % 2], None) for i, s in enumerate(seeds(EX_HANDLE, 2))]
    _check_handle(handle, runs, [(runs[0][0], VISIBLE_FAULTS[0])])


def hidden_handle(handle: Callable, seed: int | None = None) -> None:
    """Hidden: five runs under random faults, one of them with a flaky network (10% lost responses, 15%
    transient failures) and one with a single attempt per job; then two with msglib's runbook (redrives)."""
    seed_list = [seed] if seed is not None else seeds(EX_HANDLE, 5, hidden=True)
    configs = [None, SystemConfig(lost_response_rate=0.1, transient_rate=0.15), None,
               SystemConfig(max_attempts=1), SystemConfig(max_attempts=6, workers=3)]
    _check_handle(handle, [(s, _faults(s), configs[i % len(configs)]) for i, s in enumerate(seed_list)],
                  [(s, _faults(s)) for s in seed_list[:2]])


# ====================================================================================== exercise 4: the runbook, end to end


def _passes_own_check(name: str, piece: Any) -> bool:
    """Does the learner's piece pass its own exercise's visible check? (Remembered per function object.)"""
    check = {"route": check_route, "TokenBucket": check_token_bucket, "handle": check_handle}[name]
    try:
        return _PASSED[piece]
    except (KeyError, TypeError):
        pass
    try:
        check(piece)
    except Exception:                          # CheckFailed, or anything else the piece does wrong
        _remember(piece, False)
        return False
    return True


def _pieces(route: Any, TokenBucket: Any, handle: Any) -> tuple[dict[str, Any], str]:
    chosen, notes = {}, []
    for name, piece in (("route", route), ("TokenBucket", TokenBucket), ("handle", handle)):
        if piece is not None and _passes_own_check(name, piece):
            chosen[name] = piece
        else:
            chosen[name] = REFERENCE[name]
            notes.append(name)
    if notes:
        print(f"note: your {', '.join(notes)} {'does' if len(notes) == 1 else 'do'} not pass {'its' if len(notes) == 1 else 'their'} "
              f"own visible check yet, so this run uses msglib's in {'its' if len(notes) == 1 else 'their'} place.")
    mine = [n for n in ("route", "TokenBucket", "handle") if n not in notes]
    return chosen, (f"with your runbook and your {', '.join(mine)}: " if mine else "with your runbook: ")


def _check_runbook(runbook: Callable, route: Any, TokenBucket: Any, handle: Any,
                   runs: list[tuple[int, FaultSchedule]]) -> None:
    require_callable(runbook, "runbook", EX_RUNBOOK)
    chosen, who = _pieces(route, TokenBucket, handle)
    for seed, faults in runs:
        result = _run(EX_RUNBOOK, seed, faults, route=chosen["route"], bucket=chosen["TokenBucket"],
                      handle=chosen["handle"], runbook=runbook)
        _judge(result, EX_RUNBOOK, seed, who=who)
        if not result.system.drained:
            raise CheckFailed(f"{who}the system never settled: work was still pending when the run gave up "
                              f"(t={result.system.sim.now:.0f} ms)", seed=seed, exercise=EX_RUNBOOK)


def check_runbook(runbook: Callable, route: Any = None, TokenBucket: Any = None, handle: Any = None,
                  seed: int | None = None) -> None:
    """Visible: the whole system with all your pieces, under the two fixed fault schedules."""
    if seed is not None:
        runs = [(seed, VISIBLE_FAULTS[0])]
    else:
        runs = [(s, VISIBLE_FAULTS[i % 2]) for i, s in enumerate(seeds(EX_RUNBOOK, 2))]
    _check_runbook(runbook, route, TokenBucket, handle, runs)


def hidden_runbook(runbook: Callable, route: Any = None, TokenBucket: Any = None, handle: Any = None,
                   seed: int | None = None) -> None:
    """Hidden: the whole system with all your pieces under six random fault schedules (each with an outage)."""
    seed_list = [seed] if seed is not None else seeds(EX_RUNBOOK, 6, hidden=True)
    _check_runbook(runbook, route, TokenBucket, handle, [(s, _faults(s)) for s in seed_list])


__all__ = ["check_route", "hidden_route", "check_token_bucket", "hidden_token_bucket", "check_handle",
           "hidden_handle", "check_runbook", "hidden_runbook", "VISIBLE_FAULTS", "redrive_when_healthy"]
