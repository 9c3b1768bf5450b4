"""Seeded KIP-848 rebalance schedules: members join, leave, crash, revoke slowly; the network and the
coordinator fail. Who owned which partition when is recorded and judged by :mod:`msglib.check.rebalance`.

A run is msglib's real group coordinator (:class:`~msglib.groups.coordinator.GroupCoordinator`, its KIP-848
half with the ``reconcile`` seam) and a few light simulated members that speak ConsumerGroupHeartbeat.
A member *owns* a partition from the moment an answer gives it until it has released it (a revocation,
slow or quick), is fenced, crashes, leaves -- or its **lease** runs out. The lease is what makes "a partition
has one owner at a time" a property a member can keep on its own, with no clock shared with the coordinator:

* the coordinator's session timer restarts when a heartbeat *arrives*; the member counts from when it
  *sent* the last heartbeat that was answered. So the member stops using its partitions no later than
  the coordinator may give them away (``group.consumer.session.timeout.ms``);
* the coordinator's revocation timer (the member's rebalance timeout) starts when it decides a revocation;
  the member counts from the first heartbeat it sent since its last answer (the decision came after that).
  If by then no answer has confirmed its acknowledgement -- its revocation was slow, or the acknowledgement
  was lost -- it gives up *everything*: the coordinator is about to fence it;
* a heartbeat left unanswered may have started a revocation the member never heard of: from the first
  unanswered one, the member keeps its partitions for at most its rebalance timeout;
* an answer that comes after one of these deadlines is not acted on.

(Kafka's clients do not do this: a consumer cut off from its coordinator keeps processing until it learns it
was fenced; only its commits are refused. docs/kip-848.md.)

:func:`run_schedule` runs one schedule; :func:`random_schedule` draws one from a seed; :func:`run_many` and
:func:`smallest_failure` are what the tests, the benchmark and the module 05 grader use.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from msglib import protocol as p
from msglib.check.rebalance import Finding, check_rebalance
from msglib.groups.config import GroupConfig
from msglib.groups.local import LocalBroker
from msglib.protocol import TopicPartition
from msglib.sim.network import Node

TOPIC = "events"
GROUP = "g"
KINDS = ("join", "leave", "crash", "pause", "slow_revocation", "cut", "lossy", "slow_network", "coordinator_crash")


@dataclass(frozen=True)
class RebalanceEvent:
    """At ``time`` ms: ``kind`` (one of KINDS) happens to running member number ``target`` (modulo how many
    run; None for group-wide events) for ``duration_ms`` (pauses, cuts, slow revocations, outages)."""

    time: float
    kind: str
    target: int | None = None
    duration_ms: float = 0.0

    def describe(self) -> str:
        who = "" if self.target is None else f" member #{self.target}"
        extra = f" for {self.duration_ms:g} ms" if self.duration_ms else ""
        return f"t={self.time:g} ms: {self.kind}{who}{extra}"


@dataclass
class Step:
    """One call of the reconciliation seam, as the coordinator made it."""

    time: float
    member: str
    assigned: frozenset
    target: frozenset
    owned_by_others: frozenset
    result: Any


@dataclass
class ScheduleResult:
    seed: int
    events: list[RebalanceEvent]
    partitions: int
    intervals: list[tuple[str, TopicPartition, float, float]]   # (member, partition, from, to)
    history: list[tuple[float, str, str]]                       # (time, who, what)
    steps: list[Step]
    final_owned: dict[str, frozenset]                           # live member -> what it owns at the end
    final_assigned: dict[str, frozenset]                        # coordinator: member id -> assigned
    group_state: str
    end_ms: float
    error: str | None = None                                    # the seam raised, or the run broke
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def unowned_partition_ms(self, since: float = 0.0) -> float:
        """Partition-milliseconds without an owner, from ``since`` to the end of the run."""
        total = 0.0
        for q in range(self.partitions):
            tp = TopicPartition(TOPIC, q)
            spans = sorted((max(s, since), e) for _, t, s, e in self.intervals if t == tp and e > since)
            covered = since
            for s, e in spans:
                if s > covered:
                    total += s - covered
                covered = max(covered, e)
            total += max(0.0, self.end_ms - covered)
        return total

    def story(self, around: Iterable[str] = (), limit: int = 40) -> str:
        """The history, one line per event (only the named members' lines, and faults, if ``around``)."""
        around = set(around)
        lines = [f"{t:9.1f} ms  {who:<11} {what}" for t, who, what in self.history
                 if not around or who in around or who == "faults"
                 or (who == "coordinator" and any(f"({m}:" in what for m in around))]
        if len(lines) > limit:
            lines = lines[:limit // 2] + [f"      ... {len(lines) - limit} lines ..."] + lines[-limit // 2:]
        return "\n".join(lines)


def _short(tps: Iterable[TopicPartition]) -> str:
    return "[" + ",".join(str(tp.partition) for tp in sorted(tps)) + "]"


def _short_result(result: Any) -> str:
    try:
        return (f"assigned {_short(result.assigned)}, revoking {_short(result.revoking)}, "
                f"unreleased {_short(result.unreleased)}")
    except Exception:
        return repr(result)


class SimMember(Node):
    """A light KIP-848 member (see the module docstring for its lease)."""

    def __init__(self, run: "ScheduleRun", name: str) -> None:
        super().__init__(name, run.network)
        self.run = run
        self.member_id = name
        self.epoch = p.JOIN_GROUP_MEMBER_EPOCH
        self.owned: dict[TopicPartition, float] = {}          # partition -> since when
        self.revoking: set[TopicPartition] = set()
        self.interval = run.config.group_consumer_heartbeat_interval_ms
        self.out: tuple[int, float, bool] | None = None       # (request id, sent at, full) of the one in flight
        self.unanswered_since: float | None = None
        self.lease_until = -math.inf
        self.full = True
        self.ack_needed = False
        self.revoke_delay: float | None = None                # the next revocation takes this long (a fault)
        self.ack_deadline: float | None = None                # revocation to be acknowledged by then
        self.ack_sent_at: float | None = None                 # when the heartbeat without them went out
        self.left = False
        self._ids = 0
        self._work = 0                                         # bumped when everything is dropped
        self.after(0.0, self._tick)

    # -- helpers
    def note(self, what: str) -> None:
        self.run.history.append((self.sim.now, self.name, what))

    def _end(self, tp: TopicPartition, at: float, why: str) -> None:
        since = self.owned.pop(tp, None)
        self.revoking.discard(tp)
        if since is not None:
            self.run.intervals.append((self.name, tp, since, max(since, at)))
            self.note(f"gives up {tp} ({why})" + ("" if at == self.sim.now else f" at t={at:.1f}"))

    def deadline(self) -> float:
        """Until when the member may use its partitions without hearing from the coordinator."""
        d = self.lease_until
        if self.unanswered_since is not None:
            d = min(d, self.unanswered_since + self.run.rebalance_timeout_ms)
        if self.ack_deadline is not None:
            d = min(d, self.ack_deadline)
        return d

    def drop_all(self, why: str, at: float | None = None) -> None:
        at = self.sim.now if at is None else at
        d = self.deadline()
        if at > d:                      # (paused, or not yet looked): it stopped using them when its lease ran out
            at, why = d, f"{why}; its lease had run out at t={d:.1f}"
        for tp in sorted(self.owned):
            self._end(tp, at, why)
        self.ack_deadline = self.ack_sent_at = None
        self._work += 1

    def _lease_ok(self) -> bool:
        d = self.deadline()
        if self.owned and self.sim.now >= d:
            why = "no answered heartbeat for the session timeout" if d == self.lease_until else \
                "a revocation not acknowledged within the rebalance timeout" if d == self.ack_deadline else \
                "a heartbeat unanswered for the rebalance timeout"
            self.drop_all(f"lease expired: {why}", at=d)
            self.full = True
        return self.sim.now < d

    # -- the heartbeat loop
    def _tick(self) -> None:
        if self.left:
            return
        self._lease_ok()
        if self.out is None:
            self._send()
        self.after(self.interval, self._tick)

    def _send(self, epoch: int | None = None) -> None:
        self._ids += 1
        epoch = self.epoch if epoch is None else epoch
        full = self.full or epoch == p.JOIN_GROUP_MEMBER_EPOCH
        req = p.ConsumerGroupHeartbeatRequest(
            self._ids, GROUP, self.member_id, epoch, None,
            rebalance_timeout_ms=self.run.rebalance_timeout_ms if full else -1,
            subscribed_topic_names=[TOPIC] if full else None, topic_partitions=sorted(self.owned),
            client_id=self.name)
        self.out = (self._ids, self.sim.now, full)
        if self.ack_deadline is not None and not self.revoking and self.ack_sent_at is None:
            self.ack_sent_at = self.sim.now                   # this heartbeat acknowledges the revocation
        if self.unanswered_since is None:
            self.unanswered_since = self.sim.now
            self.after(self.run.rebalance_timeout_ms, self._lease_ok)
        self.send(self.run.coordinator.name, req)
        self.after(self.run.request_timeout_ms, self._timeout, self._ids)

    def _timeout(self, rid: int) -> None:
        if self.out is not None and self.out[0] == rid:
            self.out = None
            self.full = True
            self.note("heartbeat timed out")

    def on_message(self, src: str, resp: Any) -> None:
        if self.left or self.out is None or getattr(resp, "request_id", None) != self.out[0]:
            return                                            # an answer to a request given up on
        _, sent, was_full = self.out
        self.out = None
        self._lease_ok()                # (a paused member looks at its deadlines first)
        first_unanswered, self.unanswered_since = self.unanswered_since, None
        expired = self.sim.now >= min(sent + self.run.session_timeout_ms,
                                      first_unanswered + self.run.rebalance_timeout_ms)
        if resp.error is not None:
            self.full = True
            if resp.error in (p.FENCED_MEMBER_EPOCH, p.UNKNOWN_MEMBER_ID):
                self.note(f"fenced ({resp.error}): rejoins with epoch 0")
                self.drop_all(f"fenced: {resp.error}")
                self.epoch = p.JOIN_GROUP_MEMBER_EPOCH
            else:
                self.note(f"heartbeat error {resp.error}")
            return
        if expired:
            self.drop_all("an answer that came after the member's deadline")
            self.full = True
            return
        if was_full:
            self.full = False          # (a drop since then asked for a full request: it still goes out)
        if self.ack_sent_at is not None and sent >= self.ack_sent_at:
            self.ack_deadline = self.ack_sent_at = None       # the coordinator has the acknowledgement
        self.lease_until = sent + self.run.session_timeout_ms
        self.after(self.lease_until - self.sim.now, self._lease_ok)
        if resp.member_epoch != self.epoch:
            self.note(f"epoch {self.epoch} -> {resp.member_epoch}")
        self.epoch = resp.member_epoch
        self.interval = resp.heartbeat_interval_ms or self.interval
        if resp.assignment is not None:
            self._apply(frozenset(resp.assignment), first_unanswered + self.run.rebalance_timeout_ms)
        if self.ack_needed and self.out is None:
            self.ack_needed = False
            self._send()

    def _apply(self, assignment: frozenset, deadline: float) -> None:
        new = sorted(assignment - set(self.owned))
        gone = sorted(set(self.owned) - assignment - self.revoking)
        for tp in new:
            self.owned[tp] = self.sim.now
        if new:
            self.note(f"takes {[str(tp) for tp in new]} (epoch {self.epoch})")
        if gone:
            delay = self.revoke_delay if self.revoke_delay is not None else self.run.rng.uniform(0.0, 5.0)
            self.revoke_delay = None
            self.revoking.update(gone)
            self.ack_deadline = deadline if self.ack_deadline is None else min(self.ack_deadline, deadline)
            self.ack_sent_at = None
            self.note(f"revoking {[str(tp) for tp in gone]} (takes {delay:.0f} ms, deadline t={deadline:.1f})")
            self.after(max(0.0, min(delay, deadline - self.sim.now)), self._revoked, gone, deadline, self._work)
            self.after(max(0.0, deadline - self.sim.now), self._ack_deadline_passed, self._work)

    def _ack_deadline_passed(self, work: int) -> None:
        if work == self._work and self.ack_deadline is not None and self.sim.now >= self.ack_deadline:
            self.drop_all("rebalance timeout: the revocation was not acknowledged in time", at=self.ack_deadline)
            self.ack_deadline = self.ack_sent_at = None
            self.full = True

    def _revoked(self, tps: list[TopicPartition], deadline: float, work: int) -> None:
        if work != self._work:
            return
        if self.sim.now >= deadline:
            self._ack_deadline_passed(work)
            return
        for tp in tps:
            if tp in self.revoking:
                self._end(tp, self.sim.now, "revoked")
        if not self.revoking:                                 # acknowledge at once
            if self.out is None:
                self._send()
            else:
                self.ack_needed = True

    def leave(self) -> None:
        self.drop_all("leaves the group")
        self.left = True
        self.send(self.run.coordinator.name, p.ConsumerGroupHeartbeatRequest(
            self._ids + 1, GROUP, self.member_id, p.LEAVE_GROUP_MEMBER_EPOCH, client_id=self.name))
        self.note("leaves (epoch -1)")

    def on_crash(self, power_loss: bool) -> None:
        self.drop_all("crashed")
        self.left = True


class ScheduleRun:
    def __init__(self, seed: int, *, partitions: int, reconcile: Callable[..., Any] | None,
                 config: GroupConfig, rebalance_timeout_ms: float, request_timeout_ms: float,
                 restart_after_ms: float) -> None:
        self.seed = seed
        self.config = config
        self.rebalance_timeout_ms = rebalance_timeout_ms
        self.request_timeout_ms = request_timeout_ms
        self.session_timeout_ms = config.group_consumer_session_timeout_ms
        self.restart_after_ms = restart_after_ms
        self.partitions = partitions
        self.steps: list[Step] = []
        self.history: list[tuple[float, str, str]] = []
        self.intervals: list[tuple[str, TopicPartition, float, float]] = []
        self.error: str | None = None
        seam = reconcile

        def logged(assigned: Any, target: Any, owned_by_others: Any) -> Any:
            from msglib.groups.reconciliation import reconcile as default
            fn = seam or default
            result = fn(frozenset(assigned), frozenset(target), frozenset(owned_by_others))
            member = self._calling_member
            self.steps.append(Step(self.broker.sim.now, member, frozenset(assigned), frozenset(target),
                                   frozenset(owned_by_others), result))
            self.history.append((self.broker.sim.now, "coordinator", f"reconcile({member}: assigned {_short(assigned)}, "
                                 f"target {_short(target)}, held by others {_short(owned_by_others)}) -> "
                                 f"{_short_result(result)}"))
            return result

        self.broker = LocalBroker(seed, config=config, latency_ms=(0.5, 3.0), reconcile=logged)
        self.broker.create_topic(TOPIC, partitions)
        self.sim = self.broker.sim
        self.network = self.broker.network
        self.coordinator = self.broker.coordinator
        self.rng = self.sim.random("rebalance-schedule")
        self.members: list[SimMember] = []
        self._count = 0
        self._calling_member = "?"
        original = self.coordinator.consumer_groups.on_heartbeat

        def on_heartbeat(src: str, req: Any) -> None:
            self._calling_member = req.member_id
            original(src, req)
        self.coordinator.handlers[p.ConsumerGroupHeartbeatRequest] = on_heartbeat

    def live(self) -> list[SimMember]:
        return [m for m in self.members if m.alive and not m.left]

    def start_member(self) -> SimMember:
        self._count += 1
        m = SimMember(self, f"m{self._count}")
        self.members.append(m)
        m.note("starts")
        return m

    def fault(self, what: str) -> None:
        self.history.append((self.sim.now, "faults", what))

    def apply(self, e: RebalanceEvent) -> None:
        if e.kind not in KINDS:
            raise ValueError(f"unknown event kind {e.kind!r}; use one of {KINDS}")
        if e.kind == "join":
            self.start_member()
            return
        if e.kind == "coordinator_crash":
            self.fault(f"coordinator crashes for {e.duration_ms:g} ms")
            self.coordinator.crash(power_loss=True)
            self.sim.schedule(e.duration_ms, self._restart_coordinator)
            return
        if e.kind == "lossy":
            self.fault(f"the network drops 30% of messages for {e.duration_ms:g} ms")
            self.network.loss = 0.3
            self.sim.schedule(e.duration_ms, self._heal_loss)
            return
        live = self.live()
        if not live:
            return
        m = live[(e.target or 0) % len(live)]
        if e.kind == "leave":
            self.fault(f"{m.name} shuts down cleanly")
            m.leave()
            m.crash()
        elif e.kind == "crash":
            self.fault(f"{m.name} crashes (a new member starts {self.restart_after_ms:g} ms later)")
            m.crash()
            self.sim.schedule(self.restart_after_ms, self.start_member)
        elif e.kind == "pause":
            self.fault(f"{m.name} pauses (GC) for {e.duration_ms:g} ms")
            m.pause()
            self.sim.schedule(e.duration_ms, m.resume)
        elif e.kind == "slow_revocation":
            self.fault(f"{m.name}'s next revocation takes {e.duration_ms:g} ms")
            m.revoke_delay = e.duration_ms
        elif e.kind == "cut":
            self.fault(f"{m.name} is cut off from the coordinator for {e.duration_ms:g} ms")
            self.network.cut(m.name, self.coordinator.name)
            self.sim.schedule(e.duration_ms, self.network.heal, m.name, self.coordinator.name)
        elif e.kind == "slow_network":
            self.fault(f"{m.name}'s messages take {e.duration_ms / 4:g} ms more for {e.duration_ms:g} ms")
            self.network.slow(m.name, e.duration_ms / 4)
            self.sim.schedule(e.duration_ms, self.network.slow, m.name, 0.0)

    def _restart_coordinator(self) -> None:
        self.coordinator.restart()
        self.fault("coordinator restarts (groups reloaded from __consumer_offsets)")

    def _heal_loss(self) -> None:
        self.network.loss = 0.0
        self.fault("the network stops dropping messages")

    def result(self, events: list[RebalanceEvent]) -> ScheduleResult:
        end = self.sim.now
        owned_now = {}
        for m in self.members:
            if m.alive and not m.left:
                owned_now[m.name] = frozenset(m.owned)
                for tp, since in m.owned.items():
                    self.intervals.append((m.name, tp, since, end))
        group = self.coordinator.consumer_groups.group(GROUP)
        assigned = {mid: frozenset(mem.assigned) for mid, mem in group.members.items()} if group else {}
        return ScheduleResult(self.seed, list(events), self.partitions, self.intervals, sorted(self.history,
                              key=lambda h: h[0]), self.steps, owned_now, assigned,
                              group.state if group else "Empty", end, self.error)


def run_schedule(seed: int, events: Iterable[RebalanceEvent] | None = None, *, members: int = 3,
                 partitions: int = 6, reconcile: Callable[..., Any] | None = None, settle_ms: float = 3_000.0,
                 config: GroupConfig | None = None, rebalance_timeout_ms: float = 300.0,
                 request_timeout_ms: float = 200.0, restart_after_ms: float = 100.0) -> ScheduleResult:
    """One schedule: ``members`` start, ``events`` happen (default: :func:`random_schedule`), then the group
    gets ``settle_ms`` with no fault to settle. The result is judged (``result.findings``)."""
    if partitions < 1 or members < 0:
        raise ValueError(f"need partitions >= 1 and members >= 0, got partitions={partitions}, members={members}")
    events = sorted(random_schedule(seed) if events is None else list(events), key=lambda e: e.time)
    for e in events:
        if e.kind not in KINDS:
            raise ValueError(f"unknown event kind {e.kind!r}; use one of {KINDS}")
    run = ScheduleRun(seed, partitions=partitions, reconcile=reconcile, config=config or GroupConfig.fast(),
                      rebalance_timeout_ms=rebalance_timeout_ms, request_timeout_ms=request_timeout_ms,
                      restart_after_ms=restart_after_ms)
    for _ in range(members):
        run.start_member()
    for e in events:
        run.sim.schedule(e.time, run.apply, e)
    last = max((e.time + e.duration_ms for e in events), default=0.0)
    try:
        run.sim.run(until=last + settle_ms)
    except AssertionError:     # a check's own finding (msglib.grading's CheckFailed) goes to the caller
        raise
    except Exception as exc:   # the seam (a learner's function) raised inside the coordinator
        run.error = f"{type(exc).__name__}: {exc}"
    result = run.result(events)
    result.findings = check_rebalance(result)
    return result


def random_schedule(seed: int, *, duration_ms: float = 3_000.0, count: int | None = None,
                    kinds: tuple[str, ...] = KINDS) -> list[RebalanceEvent]:
    """A seeded mix of membership changes and faults in the first ``duration_ms``."""
    rng = random.Random(f"kip848-schedule/{seed}")
    n = rng.randint(3, 7) if count is None else count
    out = []
    for _ in range(n):
        kind = rng.choice(kinds)
        duration = {"pause": rng.uniform(100, 900), "slow_revocation": rng.choice([20, 150, 280, 600]),
                    "cut": rng.uniform(100, 900), "lossy": rng.uniform(100, 600),
                    "slow_network": rng.uniform(50, 400), "coordinator_crash": rng.uniform(50, 700)}.get(kind, 0.0)
        out.append(RebalanceEvent(round(rng.uniform(0.1, 1.0) * duration_ms, 1), kind, rng.randrange(8),
                                  round(duration, 1)))
    return sorted(out, key=lambda e: e.time)


@dataclass
class ManyResult:
    runs: int
    failures: list[ScheduleResult]
    two_owner_partition_ms: float           # over every run: total time a partition had two owners
    unowned_partition_ms: float             # over every run, after the first settled assignment... (all time)

    @property
    def first_failure(self) -> ScheduleResult | None:
        return self.failures[0] if self.failures else None


def run_many(seeds: Iterable[int], *, reconcile: Callable[..., Any] | None = None, stop_at_first: bool = False,
             **options: Any) -> ManyResult:
    """:func:`run_schedule` for each seed (each with its own random schedule and 2-5 members)."""
    failures, runs, overlap, unowned = [], 0, 0.0, 0.0
    for seed in seeds:
        members = 2 + seed % 4
        r = run_schedule(seed, members=members, reconcile=reconcile, **options)
        runs += 1
        overlap += sum(f.overlap_ms for f in r.findings if f.kind == "two owners")
        unowned += r.unowned_partition_ms()
        if not r.ok:
            failures.append(r)
            if stop_at_first:
                break
    return ManyResult(runs, failures, overlap, unowned)


def smallest_failure(result: ScheduleResult, *, reconcile: Callable[..., Any] | None = None,
                     **options: Any) -> ScheduleResult:
    """Drop events from a failing schedule while it still fails the same way: the smallest history."""
    kind = result.findings[0].kind if result.findings else None
    if kind is None:
        return result
    members = 2 + result.seed % 4
    best = result
    events = list(result.events)
    changed = True
    while changed and events:
        changed = False
        for i in range(len(events)):
            trial = events[:i] + events[i + 1:]
            r = run_schedule(result.seed, trial, members=members, reconcile=reconcile, **options)
            if any(f.kind == kind for f in r.findings):
                events, best, changed = trial, r, True
                break
    return best


__all__ = ["KINDS", "ManyResult", "RebalanceEvent", "ScheduleResult", "SimMember", "Step", "random_schedule",
           "run_many", "run_schedule", "smallest_failure"]
