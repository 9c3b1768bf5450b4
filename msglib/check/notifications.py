"""End-to-end checker for the notification system (msglib.capstone): judge a run by its history.

The spec, per notification ``(event, user, channel)``: the events the
producers published and the users' preferences (in ``history.meta``) say,
through msglib's router rules, which notifications **should** happen. Then:

* each one is **delivered exactly once**, or **dead-lettered** (in a DLQ at
  the end, with its attempts), or **rate-limited** (the limiter refused it,
  rightly);
* nothing is delivered that should not be: never on a channel the user did
  not opt into, never marketing without consent, never a push or an SMS in
  quiet hours unless critical;
* the user's limit holds: nothing is delivered that the limiter did not allow
  (critical events excepted: they take the priority lane and skip it), and
  the limiter allowed only with a token in the user's bucket for that channel
  and refused only without one (a reference bucket replays every decision
  that touched a bucket);
* admission is durable: a notification the limiter admitted is never refused
  later (a retry, a redrive or a redelivery asked again and was dropped), it
  never takes a second token, and a critical notification is never refused;
* dead letters keep honest accounts: a permanent failure is not retried, a
  transient one is not given up before ``max_attempts``, nobody gets more;
* every job read was acknowledged (no lag left at the end);
* with a runbook: it never redrives a permanent failure (those are parked),
  never parks a transient one, never redrives into an outage, never more than
  its budget per tick, and leaves the DLQs empty once the providers are healthy.

It reads these operations (``msglib.capstone`` records them):

==============  =====================================================================
``publish``     an event appended to ``notifications.events`` (``duplicate``: a repeat)
``route``       a router turned an event into a job ``event/channel/user``
``handle``      a worker handed a job to ``handle`` (attempt, topic, partition, offset)
``throttle``    a limiter decision for a job: ``allowed``; ``repeat``: answered from the record
``send``        a provider call; ``notify``: a message a user really received
``retry``       a job sent to the retry topic; ``dead-letter``: into the DLQ
``ack``         a commit past a job; ``redrive``: a dead letter sent back; ``park``: set aside
``final``       the end: consumer lag per partition, what the DLQs and parking lots hold
==============  =====================================================================

Each finding is an :class:`~msglib.check.kafka.Anomaly` whose ``key`` is the
job (``e12/sms/u3``) and whose ``ops`` are the operations that prove it;
:meth:`NotificationCheckResult.story` tells one job's life in a few lines.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from msglib.capstone.events import EVENT_TYPES, Event, Preferences
from msglib.capstone.ratelimit import replay
from msglib.capstone.router import route as reference_route, why_not
from msglib.capstone.templates import TemplateError, render
from msglib.check.kafka import Anomaly
from msglib.sim.history import INVOKE, NEMESIS, OK, History, Op

# most serious first: the order in which a grader reports them
KINDS = ("duplicate", "lost", "refused-after-admission", "limited-critical", "opted-out", "quiet-hours", "not-a-recipient", "wrong-user", "past-limit", "starved",
         "wrong-content", "retried-permanent", "gave-up-early", "too-many-attempts", "admitted-twice", "unacknowledged",
         "redrove-permanent", "parked-transient", "redrove-into-outage", "redrive-over-budget", "left-in-dlq")

OUTCOMES = ("delivered", "dead-lettered", "rate-limited", "lost")


def job_id(event_id: str, channel: str, user: str) -> str:
    return f"{event_id}/{channel}/{user}"


def split_job(job: str) -> tuple[str, str, str]:
    event_id, channel, user = job.split("/", 2)
    return event_id, channel, user


@dataclass
class NotificationCheckResult:
    anomalies: list[Anomaly]
    history: History
    events: dict[str, Event]
    expected: set[str]                               # job ids that should notify
    outcomes: dict[str, str]                         # expected job id -> delivered | dead-lettered | rate-limited | lost
    notified: Counter = field(default_factory=Counter)   # job id -> messages the user received
    final_dlq: dict[str, list[str]] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.anomalies

    def of_kind(self, *kinds: str) -> list[Anomaly]:
        return [a for a in self.anomalies if a.kind in kinds]

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(a.kind for a in self.anomalies))

    def first(self) -> Anomaly | None:
        """The most serious finding (by :data:`KINDS`), earliest first."""
        if not self.anomalies:
            return None
        return min(self.anomalies, key=lambda a: (KINDS.index(a.kind), min(a.ops, default=0)))

    def tally(self) -> Counter:
        return Counter(self.outcomes.values())

    def summary(self) -> str:
        t = self.tally()
        head = (f"{len(self.events)} events, {len(self.expected)} notifications due: {t['delivered']} delivered, "
                f"{t['dead-lettered']} dead-lettered, {t['rate-limited']} rate-limited, {t['lost']} lost")
        if self.valid:
            return f"valid: {head}"
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.counts.items(), key=lambda kv: KINDS.index(kv[0])))
        return f"INVALID ({kinds}): {head}"

    def story(self, job: str, limit: int = 20) -> str:
        """The life of one job: every operation about it, and the faults in between."""
        return job_story(self.history, job, limit)


def _completions(history: History, f: str) -> list[Op]:
    return [op for op in history.ops if op.f == f and op.type != INVOKE]


def job_story(history: History, job: str, limit: int = 20) -> str:
    ops = [op for op in history.ops if op.type != INVOKE and isinstance(op.value, dict) and op.value.get("job") == job
           and op.f != "final"]
    if not ops:
        return f"{job}: no operation mentions it"
    lo, hi = ops[0].time, ops[-1].time
    faults = [op for op in history.faults() if lo - 300 <= op.time <= hi]
    lines = []
    # in the order things started: a handle() line comes before what it did
    for op in sorted(ops + faults, key=lambda o: o.invoke_index if o.invoke_index is not None else o.index):
        start = history.ops[op.invoke_index].time if op.f == "handle" and op.invoke_index is not None else op.time
        lines.append(_describe(op, start))
    if len(lines) > limit:
        lines = lines[:limit - 1] + [f"... ({len(lines) - limit + 1} more)"]
    return "\n".join(lines)


def _describe(op: Op, time: float | None = None) -> str:
    v = op.value if isinstance(op.value, dict) else {}
    t = f"t={op.time if time is None else time:7.1f} ms  {op.process:<14}"
    if op.process == NEMESIS:
        return f"{t} FAULT: {v.get('description', op.f)}"
    if op.f == "route":
        return f"{t} routes it"
    if op.f == "handle":
        actions = ", ".join(v.get("actions", [])) or "nothing"
        crash = f" -- {op.error}" if op.error else ""
        return f"{t} handles attempt {v.get('attempt')} ({v.get('topic')}-{v.get('partition')}@{v.get('offset')}): " \
               f"{actions}{crash}"
    if op.f == "throttle":
        repeat = " (its recorded answer: no token)" if v.get("repeat") else ""
        return f"{t} limiter {'allows' if v.get('allowed') else 'REFUSES'} it{repeat}"
    if op.f == "send":
        outcome = op.error or ("notified" if v.get("notified") else "deduplicated by the provider")
        return f"{t} provider call (attempt {v.get('attempt')}, key {v.get('idempotency_key')!r}): {outcome}"
    if op.f == "notify":
        return f"{t} the user RECEIVES: {v.get('text')!r}"
    if op.f == "retry":
        return f"{t} retry after {v.get('error')} (attempt {v.get('attempt')} failed), due t={v.get('due'):.0f}"
    if op.f == "dead-letter":
        return f"{t} DEAD-LETTERED after {v.get('attempts')} attempt(s), {v.get('reason')}: {v.get('error')}"
    if op.f == "ack":
        return f"{t} ack {v.get('topic')}-{v.get('partition')}@{v.get('offset')}" + \
            ("" if op.type == OK else f" FAILED ({op.error})")
    if op.f == "redrive":
        return f"{t} redriven from the DLQ (it was {v.get('reason')})"
    if op.f == "park":
        return f"{t} parked for a person to look at (it was {v.get('reason')})"
    return f"{t} {op.f} {v}"


def _outage_windows(history: History) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for op in history.faults():
        if op.f == "outage":
            out[op.value["channel"]].append((op.time, op.time + op.value["duration_ms"]))
    return out


def check_notifications(history: History) -> NotificationCheckResult:
    """Judge a notification system's run (see the module docstring)."""
    meta = history.meta
    prefs = {u: Preferences.from_json(p) for u, p in meta.get("prefs", {}).items()}
    capacity = meta["rate_limit"]["capacity"]
    refill = meta["rate_limit"]["refill_per_s"]
    max_attempts = meta["max_attempts"]
    anomalies: list[Anomaly] = []

    def found(kind: str, job: str, message: str, ops: list[int]) -> None:
        anomalies.append(Anomaly(kind, job, message, sorted(set(ops))))

    # -- what should happen ---------------------------------------------------------------
    events: dict[str, Event] = {}
    publish_op: dict[str, int] = {}
    for op in _completions(history, "publish"):
        eid = op.value["event_id"]
        if eid not in events:
            events[eid] = Event.from_json(op.value["event"])
            publish_op[eid] = op.index
    expected: set[str] = set()
    for eid, event in events.items():
        for user, channel in reference_route(event, prefs):
            expected.add(job_id(eid, channel, user))
    ops_of: dict[str, list[int]] = defaultdict(list)
    for op in history.ops:
        if op.type != INVOKE and isinstance(op.value, dict) and "job" in op.value:
            ops_of[op.value["job"]].append(op.index)

    # -- what the users received ---------------------------------------------------------
    notified: Counter = Counter()
    first_notify: dict[str, Op] = {}
    for op in _completions(history, "notify"):
        v = op.value
        job = v["job"]
        notified[job] += 1
        first_notify.setdefault(job, op)
        eid, channel, user = split_job(job)
        if v["user"] != user:
            found("wrong-user", job, f"{job} was meant for {user} but the provider was asked to notify {v['user']}",
                  [op.index])
            continue
        event = events.get(eid)
        if job not in expected:
            reason = why_not(event, prefs, user, channel) if event is not None else "its event was never published"
            kind = "not-a-recipient"
            if reason and ("opt" in reason or "consent" in reason):
                kind = "opted-out"
            elif reason and "quiet hours" in reason:
                kind = "quiet-hours"
            found(kind, job, f"{user} received {job} on {channel} but should not have: {reason}",
                  ops_of[job] + [publish_op.get(eid, op.index)])
            continue
        p = prefs[user]
        try:
            want = render(event.type, channel, p.locale, event.data)
        except TemplateError:
            want = None
        if want is not None and v["text"] != want:
            found("wrong-content", job, f"{user} received {v['text']!r} for {job}; the {p.locale} template renders "
                                        f"{want!r}", [op.index])
    for job, n in notified.items():
        if n > 1:
            found("duplicate", job, f"{split_job(job)[2]} received {job} {n} times", ops_of[job])

    # -- the rate limit ---------------------------------------------------------------------
    def critical(job: str) -> bool:
        event = events.get(split_job(job)[0])
        kind = EVENT_TYPES.get(event.type) if event is not None else None
        return kind is not None and kind.critical

    decisions: dict[tuple[str, str], list[Op]] = defaultdict(list)   # the ones that touched a bucket
    refused: set[str] = set()
    allowed_ops: dict[str, list[Op]] = defaultdict(list)
    charged_twice: set[str] = set()
    for op in _completions(history, "throttle"):
        v = op.value
        if not v.get("repeat"):
            decisions[(v["user"], v["channel"])].append(op)
        job = v.get("job")
        if not job:
            continue
        if v["allowed"]:
            if allowed_ops[job] and not v.get("repeat") and job not in charged_twice:
                charged_twice.add(job)
                first = allowed_ops[job][0]
                found("admitted-twice", job, f"the limiter was asked again for {job} at t={op.time:.1f} ms and took a "
                                             f"second token from {v['user']}'s {v['channel']} bucket; it had admitted "
                                             f"it at t={first.time:.1f} ms: one notification, one token",
                      [first.index, op.index])
            allowed_ops[job].append(op)
            continue
        refused.add(job)
        if allowed_ops[job]:
            first = allowed_ops[job][0]
            found("refused-after-admission", job,
                  f"the limiter admitted {job} at t={first.time:.1f} ms and refused it at t={op.time:.1f} ms (a "
                  f"retry, a redrive or a redelivery asked again); the notification was dropped although it had "
                  f"been admitted", ops_of[job] + [first.index, op.index])
        if critical(job):
            found("limited-critical", job, f"{job} is a critical {events[split_job(job)[0]].type} and the limiter "
                                           f"refused it at t={op.time:.1f} ms: critical notifications take the "
                                           "priority lane and are never rate-limited", ops_of[job] + [op.index])
    for (user, channel), ops in decisions.items():
        verdict = replay([(op.time, op.value["allowed"]) for op in ops], capacity, refill)
        if verdict is not None:
            op = ops[verdict.index]
            job = op.value.get("job") or f"?/{channel}/{user}"
            earlier = [o.index for o in ops[max(0, verdict.index - capacity - 2):verdict.index + 1]]
            if verdict.kind == "past-limit":
                msg = (f"the limiter allowed {job} at t={op.time:.1f} ms with {verdict.tokens:.3f} token(s) left in "
                       f"{user}'s {channel} bucket (capacity {capacity}, {refill:g}/s): past the limit")
            else:
                msg = (f"the limiter refused {job} at t={op.time:.1f} ms although {user}'s {channel} bucket held "
                       f"{verdict.tokens:.3f} tokens (capacity {capacity}, {refill:g}/s): a refusal without cause")
            found("past-limit" if verdict.kind == "past-limit" else "starved", job, msg, earlier)
    for job, first in first_notify.items():
        allowed_before = [o for o in allowed_ops.get(job, []) if o.index < first.index]
        if not allowed_before and not critical(job):
            user, channel = split_job(job)[2], split_job(job)[1]
            found("past-limit", job, f"{user} received {job} but the limiter never allowed it: every notification "
                                     f"needs a token from the user's {channel} bucket first (only critical ones "
                                     f"skip it)", ops_of[job])

    # -- dead letters and attempts -------------------------------------------------------------
    reasons: dict[str, str] = {}
    for op in _completions(history, "dead-letter"):
        v = op.value
        job = v["job"]
        reasons[job] = v["reason"]
        if v["reason"] == "max-attempts" and v["attempts"] < max_attempts:
            found("gave-up-early", job, f"{job} was dead-lettered after {v['attempts']} attempt(s) for a transient "
                                        f"failure ({v['error']}); it had {max_attempts} attempts", ops_of[job])
    for op in _completions(history, "retry"):
        v = op.value
        if not v.get("transient", True):
            found("retried-permanent", v["job"], f"{v['job']} failed permanently ({v['error']}) on attempt "
                                                 f"{v['attempt']} and was retried: a permanent failure goes to the "
                                                 "DLQ at once", ops_of[v["job"]])
    too_many: set[str] = set()
    unacked = False
    for op in _completions(history, "handle"):
        v = op.value
        if op.type == OK and not unacked and not {"ack", "ack-failed"} & set(v.get("actions", ())):
            unacked = True                          # one is enough to tell the story
            found("unacknowledged", v["job"], f"handle() returned without acknowledging {v['job']} "
                                              f"({v['topic']}-{v['partition']}@{v['offset']}): after a crash or a "
                                              "rebalance the group would deliver it again, and a partition whose last "
                                              "job is never acknowledged stays behind for ever", [op.index])
        if v["attempt"] > max_attempts and v["job"] not in too_many:
            too_many.add(v["job"])
            found("too-many-attempts", v["job"], f"{v['job']} was attempted {v['attempt']} times; at most "
                                                 f"{max_attempts} attempts (the first one included)", ops_of[v["job"]])

    # -- the end state ---------------------------------------------------------------------------
    final = next((op.value for op in reversed(history.ops) if op.f == "final" and op.type == OK), None)
    final_dlq: dict[str, list[str]] = final["dlq"] if final else {}
    final_parked: dict[str, list[str]] = final.get("parked", {}) if final else {}
    in_dlq = {job for jobs in list(final_dlq.values()) + list(final_parked.values()) for job in jobs}
    outcomes: dict[str, str] = {}
    for job in sorted(expected):
        if notified[job]:
            outcomes[job] = "delivered"
        elif job in in_dlq:
            outcomes[job] = "dead-lettered"
        elif job in refused and not allowed_ops.get(job):
            outcomes[job] = "rate-limited"
        elif job in refused:
            outcomes[job] = "lost"                  # admitted, then refused: reported as refused-after-admission
        else:
            outcomes[job] = "lost"
            eid = split_job(job)[0]
            found("lost", job, f"{job} should have notified {split_job(job)[2]} but was neither delivered, "
                               "dead-lettered nor rate-limited", ops_of[job] + [publish_op[eid]])
    if final and final["lag"] and not unacked:
        where, (committed, end) = sorted(final["lag"].items())[0]       # one is enough to tell the story
        group, tp = where.split(" ", 1)
        topic, _, partition = tp.rpartition("-")
        witness = next((op for op in _completions(history, "handle") if op.value["topic"] == topic
                        and op.value["partition"] == int(partition) and op.value["offset"] == committed), None)
        job = witness.value["job"] if witness is not None else "?"
        detail = (f"; the first of them, {job} at offset {committed}, was handled at t={witness.time:.0f} ms and "
                  "never acknowledged") if witness is not None else f" (offsets {committed}..{end - 1} never handled)"
        found("unacknowledged", job, f"{group} left {end - committed} record(s) of {tp} uncommitted at the "
                                     f"end{detail}", [witness.index] if witness is not None else [])

    # -- the runbook ---------------------------------------------------------------------------------
    if meta.get("runbook"):
        outages = _outage_windows(history)
        budget = meta.get("redrive_budget", 10)
        per_tick: Counter = Counter()
        tick_ops: dict[tuple[int, str], list[int]] = defaultdict(list)
        for op in _completions(history, "redrive"):
            v = op.value
            if v["reason"] == "permanent":
                found("redrove-permanent", v["job"], f"the runbook redrove {v['job']}, a permanent failure: it will "
                                                     "fail the same way again", [op.index])
            for start, end in outages.get(v["channel"], []):
                if start <= op.time < end:
                    found("redrove-into-outage", v["job"],
                          f"the runbook redrove {v['job']} at t={op.time:.0f} ms while the {v['channel']} provider "
                          f"was down (outage {start:.0f}..{end:.0f} ms)", [op.index])
            per_tick[(v["tick"], v["channel"])] += 1
            tick_ops[(v["tick"], v["channel"])].append(op.index)
        for (tick, channel), n in sorted(per_tick.items()):
            if n > budget:
                found("redrive-over-budget", f"tick {tick}",
                      f"the runbook redrove {n} {channel} letters in one tick (tick {tick}); the budget is {budget}",
                      tick_ops[(tick, channel)])
                break
        for op in _completions(history, "park"):
            v = op.value
            if v["reason"] != "permanent":
                found("parked-transient", v["job"], f"the runbook parked {v['job']}, which failed for a transient "
                                                    f"reason ({v['reason']}): a redrive would still deliver it",
                      [op.index])
        for channel, jobs in final_dlq.items():
            for job in jobs:
                if reasons.get(job) != "permanent":
                    found("left-in-dlq", job, f"{job} is still in the {channel} DLQ at the end ({reasons.get(job)}), "
                                              "although the provider is healthy again: the runbook should redrive it",
                          ops_of[job])
                else:
                    found("left-in-dlq", job, f"{job} is still in the {channel} DLQ at the end, a permanent failure: "
                                              "the runbook should park it, so the DLQ's depth (and its alarm) counts "
                                              "only what a redrive may still deliver", ops_of[job])
    return NotificationCheckResult(anomalies, history, events, expected, outcomes, notified, final_dlq)


# ---------------------------------------------------------------------------------------------- design measures
@dataclass
class DesignMeasures:
    """What a design is judged on (``msglib.capstone.design``), measured from a run's history.

    * ``inversions``: ``(earlier, later)`` pairs of one user's everyday (non-critical) jobs on one channel
      that the user received in the opposite order to the one they were routed in (the first delivery
      counts). A job that went through the DLQ is left out: a redrive is a new attempt, hours later
      in real life, and it cannot keep its place;
    * ``critical_latency_ms``: event in to the user's first copy, per delivered critical job;
    * ``critical_wait_ms``: from the router's job to the first time a worker took it up, per critical job
      (the queueing a priority lane shortens; routing comes before it, provider failures after it);
    * ``critical_lost``: critical jobs due that were rate-limited or lost;
    * ``latency_ms``: the same for the everyday jobs delivered.
    """

    check: NotificationCheckResult
    inversions: list[tuple[str, str]]
    critical_latency_ms: list[float]
    critical_wait_ms: dict[str, float]
    critical_lost: list[str]
    latency_ms: list[float]

    def latency(self, q: float) -> float:
        """The ``q``-th percentile (nearest rank) of the everyday latency; 0.0 if nothing was delivered."""
        xs = sorted(self.latency_ms)
        if not xs:
            return 0.0
        return xs[max(0, min(len(xs) - 1, -(-len(xs) * q // 100) - 1))]


def measure_design(history: History) -> DesignMeasures:
    """Per-user order, critical latency and loss, everyday latency, and the end-to-end verdict of a run."""
    check = check_notifications(history)
    routed: dict[str, int] = {}
    delivered: dict[str, float] = {}
    latency: dict[str, float] = {}
    went_to_dlq: set[str] = set()
    routed_at: dict[str, float] = {}
    first_handled: dict[str, float] = {}
    for op in history.ops:
        if not isinstance(op.value, dict):
            continue
        v = op.value
        if op.type == INVOKE:
            if op.f == "handle":
                first_handled.setdefault(v["job"], op.time)
            continue
        if op.f == "route":
            routed.setdefault(v["job"], op.index)
            routed_at.setdefault(v["job"], op.time)
        elif op.f == "notify" and v["job"] not in delivered:
            delivered[v["job"]] = op.time
            latency[v["job"]] = op.time - v.get("created_ms", op.time)
        elif op.f == "dead-letter":
            went_to_dlq.add(v["job"])

    def critical(job: str) -> bool:
        event = check.events.get(split_job(job)[0])
        kind = EVENT_TYPES.get(event.type) if event is not None else None
        return kind is not None and kind.critical

    lanes: dict[tuple[str, str], list[str]] = defaultdict(list)
    for job in sorted(routed, key=routed.get):
        if job in delivered and job not in went_to_dlq and not critical(job):
            _, channel, user = split_job(job)
            lanes[(user, channel)].append(job)
    inversions = []
    for jobs in lanes.values():
        for i, earlier in enumerate(jobs):
            overtaken_by = next((later for later in jobs[i + 1:] if delivered[later] < delivered[earlier]), None)
            if overtaken_by is not None:
                inversions.append((earlier, overtaken_by))
    crit_latency = [latency[j] for j in delivered if critical(j)]
    crit_wait = {j: first_handled[j] - routed_at[j] for j in first_handled if j in routed_at and critical(j)}
    crit_lost = sorted(j for j, outcome in check.outcomes.items() if critical(j) and outcome in ("rate-limited", "lost"))
    everyday = [latency[j] for j in delivered if not critical(j)]
    return DesignMeasures(check, inversions, crit_latency, crit_wait, crit_lost, everyday)


__all__ = ["KINDS", "OUTCOMES", "check_notifications", "NotificationCheckResult", "job_story", "job_id", "split_job",
           "DesignMeasures", "measure_design"]
