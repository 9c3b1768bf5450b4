"""The notification system, assembled from msglib's parts and run under a fault schedule.

::

    producers ──► notifications.events ──► routers (group "router") ──► notify.push  ──► push-workers  ──► push service
     (seeded          (msglib.log,          route(event, prefs):         notify.email ──► email-workers ──► email service
      events)          4 partitions)         preferences, quiet hours    notify.sms   ──► sms-workers   ──► SMS gateway
                                                                          (keyed by user)   │ handle(job, ctx)
                                                                                            │ token buckets per (user, channel)
                                                                   notify.<ch>-retry ◄──────┤ retries with backoff
                                                                   DLQ per channel ◄────────┘ dead letters, depth alarm
                                                                        ▲
                                                    runbook(ops) every 200 ms: park, probe, redrive

The three decisions a learner writes are seams: ``route`` (the router),
``bucket`` (the rate limiter's token bucket class), ``handle`` (the channel
worker), plus ``runbook`` (the operator's automation; None: nobody redrives).
msglib's own versions are the defaults.

Everything runs on one :class:`~msglib.groups.LocalBroker`: one seeded
simulation, real consumer groups (joins, heartbeats, session timeouts,
rebalances, fenced commits) over its network. A driver loop lets each live
process take a step in turn (poll, handle what came), as :mod:`msglib.groups.workload` does.
Every operation that matters goes into one :class:`~msglib.sim.History`, which
:func:`msglib.check.notifications.check_notifications` judges and
:mod:`msglib.capstone.metrics` summarises.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from msglib.capstone.apps import (EVENTS_TOPIC, ROUTER_GROUP, App, RouteError, RouterApp, WorkerApp, channel_topic,
                                  lane_group, lane_topic, retry_topic, worker_group)
from msglib.capstone.events import CHANNELS, Event, Workload, make_workload
from msglib.capstone.faults import ProviderOutage, RouterCrash, SlowConsumer, WorkerCrash, random_faults
from msglib.capstone.providers import Provider
from msglib.capstone.ratelimit import Bucket, RateLimiter, TokenBucket
from msglib.capstone.router import route as default_route
from msglib.capstone.worker import DeliveryStore, HandlerError, Notification, WorkerCrashed, handle as default_handle
from msglib.dlq.backoff import ExponentialBackoff
from msglib.dlq.deadletters import Alert, DeadLetter, DeadLetterQueue, DepthAlarm
from msglib.groups.local import LocalBroker
from msglib.groups.protocol import TopicPartition
from msglib.sim.faults import Fault, FaultSchedule
from msglib.sim.history import OK, History


CHANNEL_KEYS = ("user", "event", "none")
RETRY_ORDERS = ("retry-topic", "block-user")


@dataclass(frozen=True)
class SystemConfig:
    """The system's knobs. Timers are the fast consumer defaults (session timeout 450 ms)."""

    event_partitions: int = 4
    channel_partitions: int = 3
    routers: int = 2
    workers: int = 2                      # per channel
    capacity: int = 3                     # token bucket per (user, channel)
    refill_per_s: float = 2.0
    max_attempts: int = 4                 # the first attempt included
    backoff_initial_ms: float = 100.0     # exponential backoff with full jitter (msglib.dlq)
    backoff_max_ms: float = 800.0
    transient_rate: float = 0.05          # per provider call
    lost_response_rate: float = 0.03      # per provider call: delivered, but the caller sees a timeout
    alarm_threshold: int = 5              # DLQ depth that raises the alarm
    alarm_clear_below: int = 1            # ... and the depth under which it clears
    redrive_budget: int = 5               # letters per channel per runbook tick
    runbook_every_ms: float = 200.0
    restart_after_ms: float = 200.0       # a crashed process comes back after this long
    tick_ms: float = 10.0                 # the driver's step when nothing happens
    settle_ms: float = 1_000.0            # quiet time required at the end (no DLQ change)
    drain_ms: float = 12_000.0            # after the last event and fault: give up waiting then
    latency_ms: tuple[float, float] = (0.2, 0.6)
    # the design decisions (msglib.capstone.design): how jobs are keyed, a lane for critical ones, retry order
    channel_key: str = "user"             # what keys a notify.<channel> record: "user", "event" or "none"
    critical_lane: bool = False           # critical jobs go to notify.<channel>.priority, read before the rest
    retry_order: str = "retry-topic"      # "block-user": a user's later jobs wait behind their job in retry
    worker_batch: int = 50                # jobs a worker handles per step (max_poll_records)
    job_ms: float = 0.0                   # simulated time a worker is busy per job it handles: its capacity
    lag_every_ms: float = 50.0            # how often the consumer lag per group is sampled (the dashboard)

    def __post_init__(self) -> None:
        for name in ("event_partitions", "channel_partitions", "routers", "workers", "capacity", "max_attempts",
                     "alarm_threshold", "redrive_budget", "worker_batch"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"SystemConfig.{name} must be an int >= 1, got {value!r}")
        if self.channel_key not in CHANNEL_KEYS:
            raise ValueError(f"SystemConfig.channel_key must be one of {', '.join(map(repr, CHANNEL_KEYS))}, "
                             f"got {self.channel_key!r}")
        if not self.job_ms >= 0:
            raise ValueError(f"SystemConfig.job_ms must be >= 0 (simulated ms per job), got {self.job_ms!r}")
        if self.retry_order not in RETRY_ORDERS:
            raise ValueError(f"SystemConfig.retry_order must be one of {', '.join(map(repr, RETRY_ORDERS))}, "
                             f"got {self.retry_order!r}")

    def with_(self, **changes: Any) -> "SystemConfig":
        return replace(self, **changes)


class Operations:
    """``ops``: what the runbook sees and may do, once per tick."""

    def __init__(self, system: "NotificationSystem", tick: int) -> None:
        self._system = system
        self.tick = tick
        self.channels: tuple[str, ...] = CHANNELS
        self.budget: int = system.config.redrive_budget
        self.redriven: dict[str, int] = {}

    @property
    def now(self) -> float:
        return self._system.sim.now

    def _channel(self, channel: str) -> str:
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}; use one of {', '.join(CHANNELS)}")
        return channel

    def dlq(self, channel: str) -> DeadLetterQueue:
        return self._system.dlqs[self._channel(channel)]

    def dead_letters(self, channel: str) -> list[DeadLetter]:
        """The channel's dead letters, oldest first (``.message_id``, ``.reason``, ``.attempts``, ``.error_type``)."""
        return list(self.dlq(channel))

    def alarm(self, channel: str) -> str:
        """The DLQ depth alarm's state: ``"OK"`` or ``"ALARM"``."""
        return self._system.alarms[self._channel(channel)].state

    def probe(self, channel: str) -> bool:
        """A health check: True if the channel's provider answers now."""
        return not self._system.providers[self._channel(channel)].down()

    def park(self, channel: str, letters: Any) -> int:
        """Move these dead letters of ``channel`` to its parking lot: failures only a person can fix (a wrong
        phone number, broken event data). They leave the DLQ, so its depth (and its alarm) counts only what
        a redrive may still deliver. Returns how many."""
        return self._move(channel, letters, "park")

    def redrive(self, channel: str, letters: Any) -> int:
        """Send these dead letters of ``channel`` back to ``notify.<channel>`` as new jobs (attempt 1, same
        event, user and channel, so the same notification key: the limiter's admission for it still holds),
        each removed from the DLQ once sent. Returns how many."""
        moved = self._move(channel, letters, "redrive")
        self.redriven[channel] = self.redriven.get(channel, 0) + moved
        return moved

    def _move(self, channel: str, letters: Any, how: str) -> int:
        system = self._system
        dlq = self.dlq(channel)
        if isinstance(letters, (str, DeadLetter)):
            letters = [letters]
        moved = 0
        for letter in list(letters):
            mid = letter.message_id if isinstance(letter, DeadLetter) else letter
            stored = dlq.get(mid) if isinstance(mid, str) else None
            if stored is None:
                raise ValueError(f"{mid!r} is not in the {channel} DLQ; {how} letters from ops.dead_letters("
                                 f"{channel!r})")
            if how == "redrive":
                system.redrive_letter(channel, stored, self.tick)
            else:
                system.park_letter(channel, stored, self.tick)
            moved += 1
        return moved


def redrive_when_healthy(ops: Operations) -> None:
    """msglib's runbook. Permanent failures go to the parking lot (a retry cannot fix them; a person can).
    The rest failed for reasons time fixes: once the channel's provider answers again, send them back,
    ``ops.budget`` per tick, so a provider that just recovered is not flooded."""
    for channel in ops.channels:
        letters = ops.dead_letters(channel)
        ops.park(channel, [letter for letter in letters if letter.reason == "permanent"])
        if ops.probe(channel):
            waiting = [letter for letter in letters if letter.reason != "permanent"]
            ops.redrive(channel, waiting[:ops.budget])


class RunbookError(Exception):
    """The runbook raised."""


class NotificationSystem:
    """One run: build it, :meth:`run` it, read :attr:`history` (or use :func:`run_notifications`)."""

    def __init__(self, workload: Workload, faults: FaultSchedule | None = None, *, config: SystemConfig | None = None,
                 route: Callable[..., Any] = default_route, bucket: Bucket = TokenBucket,
                 handle: Callable[..., Any] = default_handle, runbook: Callable[[Operations], Any] | None = None,
                 seed: int | None = None) -> None:
        self.workload = workload
        self.faults = faults if faults is not None else FaultSchedule()
        for _, fault in self.faults:
            if not isinstance(fault, (WorkerCrash, RouterCrash, ProviderOutage, SlowConsumer)):
                raise TypeError(f"{fault!r} is not a capstone fault; use WorkerCrash, RouterCrash, ProviderOutage "
                                "or SlowConsumer (msglib.capstone.faults)")
        self.config = c = config or SystemConfig()
        self.seed = workload.seed if seed is None else seed
        self.route = route
        self.handle = handle
        self.runbook = runbook
        self.prefs = workload.prefs
        self.epoch_ms = workload.epoch_ms
        self.broker = LocalBroker(self.seed, fast=True, latency_ms=c.latency_ms)
        self.sim = self.broker.sim
        clock = lambda: self.sim.now  # noqa: E731
        self.history = History(meta={
            "seed": self.seed, "epoch_ms": self.epoch_ms, "channels": list(CHANNELS),
            "prefs": {u: p.to_json() for u, p in self.prefs.items()},
            "rate_limit": {"capacity": c.capacity, "refill_per_s": c.refill_per_s},
            "max_attempts": c.max_attempts, "runbook": runbook is not None, "redrive_budget": c.redrive_budget,
            "runbook_every_ms": c.runbook_every_ms, "faults": self.faults.to_json(),
            "design": {"channel_key": c.channel_key, "channel_partitions": c.channel_partitions,
                       "workers": c.workers, "critical_lane": c.critical_lane, "retry_order": c.retry_order}})
        self.broker.create_topic(EVENTS_TOPIC, c.event_partitions)
        for ch in CHANNELS:
            self.broker.create_topic(channel_topic(ch), c.channel_partitions)
            self.broker.create_topic(retry_topic(ch), c.channel_partitions)
            if c.critical_lane:
                self.broker.create_topic(lane_topic(ch), c.channel_partitions)
        # retry_order="block-user": per (user, channel), the jobs in the retry path, the one retrying first
        self.waiting: dict[tuple[str, str], list[str]] = {}
        self.waiting_due: dict[tuple[str, str], float] = {}
        self.lag_history: list[tuple[float, dict[str, int]]] = []     # (time, {group: records behind})
        self._next_lag = 0.0
        self.providers = {ch: Provider(ch, rng=self.sim.random(f"provider-{ch}"), clock=clock, history=self.history,
                                       transient_rate=c.transient_rate, lost_response_rate=c.lost_response_rate,
                                       invalid_users={u for u, k in workload.invalid_contacts if k == ch})
                          for ch in CHANNELS}
        self.limiter = RateLimiter(c.capacity, c.refill_per_s, bucket=bucket, clock=clock, history=self.history)
        self.delivered = DeliveryStore()
        self.alarms = {ch: DepthAlarm(c.alarm_threshold, clear_below=min(c.alarm_clear_below, c.alarm_threshold),
                                      notify=self._alert_recorder(ch)) for ch in CHANNELS}
        self.dlqs = {ch: DeadLetterQueue(f"notify.{ch}.dlq", clock=clock, alarm=self.alarms[ch]) for ch in CHANNELS}
        self.parked = {ch: DeadLetterQueue(f"notify.{ch}.parked", clock=clock) for ch in CHANNELS}
        self.backoff = ExponentialBackoff(c.backoff_initial_ms, 2.0, c.backoff_max_ms, jitter="full")
        self.backoff_rng = self.sim.random("backoff")
        self.fault_rng = self.sim.random("fault-targets")
        self.apps: list[App] = []
        self.notes: list[tuple[float, str]] = []
        self._names: dict[str, int] = {}
        self._dlq_changed_at = 0.0
        self._next_tick = c.runbook_every_ms
        self._tick = 0
        self._quiet_check = 0.0
        self.finished = False
        self.drained = False

    # ------------------------------------------------------------------ building
    def note(self, what: str) -> None:
        self.notes.append((self.sim.now, what))

    def _name(self, prefix: str) -> str:
        self._names[prefix] = self._names.get(prefix, 0) + 1
        return f"{prefix}-{self._names[prefix]}"

    def _alert_recorder(self, channel: str) -> Callable[[Alert], None]:
        def record(alert: Alert) -> None:
            op = self.history.invoke(alert.time, f"alarm-{channel}", "alarm",
                                     {"channel": channel, "state": alert.state, "depth": alert.depth})
            self.history.complete(op, alert.time, OK)
            self.note(f"{channel} DLQ alarm: {alert.state} at depth {alert.depth}")
        return record

    def start_router(self) -> RouterApp:
        app = RouterApp(self, self._name("router"))
        self.apps.append(app)
        return app

    def start_worker(self, channel: str) -> WorkerApp:
        app = WorkerApp(self, self._name(channel), channel)
        self.apps.append(app)
        return app

    def _produce(self, event: Event, duplicate: bool) -> None:
        key = event.users[0] if len(event.users) == 1 else event.event_id
        op = self.history.invoke(self.sim.now, "events", "publish",
                                 {"event_id": event.event_id, "event": event.to_json(), "duplicate": duplicate})
        meta = self.broker.send(EVENTS_TOPIC, event.encode(), key=key.encode())
        self.history.complete(op, self.sim.now, OK, {**op.value, "partition": meta.partition, "offset": meta.offset})

    def _apply(self, fault: Fault) -> None:
        self.history.fault(self.sim.now, fault)
        self.note(fault.describe())
        if isinstance(fault, ProviderOutage):
            return                                    # its window was put on the provider at start
        if isinstance(fault, RouterCrash):
            live = [a for a in self.apps if a.alive and isinstance(a, RouterApp) and a.fault is None]
            index = fault.router
        else:
            live = [a for a in self.apps if a.alive and isinstance(a, WorkerApp) and a.channel == fault.channel
                    and a.fault is None]
            busy = [a for a in live if a.consumer.assignment()]
            live = busy or live
            index = fault.worker
        if not live:
            self.note(f"nobody to take the fault ({fault.describe()})")
            return
        app = live[index % len(live)] if index is not None else self.fault_rng.choice(live)
        app.fault = fault

    def _restart(self, app: App) -> None:
        new = self.start_router() if isinstance(app, RouterApp) else self.start_worker(app.channel)
        self.note(f"{new.name} replaces {app.name}")

    # ------------------------------------------------------------------ the operator
    def redrive_letter(self, channel: str, letter: DeadLetter, tick: int) -> None:
        # A fresh set of attempts; the admission stays with the notification key (RateLimiter.admissions),
        # so the handler's ask for this key gets the answer it got before, without a second token.
        job = Notification.from_json({**letter.payload, "attempt": 1,
                                      "redrives": int(letter.payload.get("redrives", 0)) + 1})
        op = self.history.invoke(self.sim.now, "operator", "redrive",
                                 {"id": letter.message_id, "job": letter.message_id, "channel": channel,
                                  "reason": letter.reason, "attempts": letter.attempts, "tick": tick})
        self.broker.send(self.job_topic(channel, job.critical), json.dumps(job.to_json()).encode(),
                         key=self.job_key(job.event_id, job.user))
        self.dlqs[channel].remove(letter.message_id)        # sent first, then forgotten
        self.history.complete(op, self.sim.now, OK)

    def job_key(self, event_id: str, user: str) -> bytes | None:
        """The key of a notify.<channel> record, by the design's ``channel_key`` (None: no key, spread)."""
        key = self.config.channel_key
        return user.encode() if key == "user" else event_id.encode() if key == "event" else None

    def job_topic(self, channel: str, critical: bool) -> str:
        """Where a job goes: the channel's priority lane if it is critical and the design has one."""
        return lane_topic(channel) if critical and self.config.critical_lane else channel_topic(channel)

    def park_letter(self, channel: str, letter: DeadLetter, tick: int) -> None:
        op = self.history.invoke(self.sim.now, "operator", "park",
                                 {"id": letter.message_id, "job": letter.message_id, "channel": channel,
                                  "reason": letter.reason, "attempts": letter.attempts, "tick": tick})
        self.parked[channel].add(letter)
        self.dlqs[channel].remove(letter.message_id)
        self.history.complete(op, self.sim.now, OK)

    def _maybe_runbook(self) -> None:
        if self.runbook is None or self.sim.now < self._next_tick:
            return
        self._tick += 1
        self._next_tick = self.sim.now + self.config.runbook_every_ms
        try:
            self.runbook(Operations(self, self._tick))
        except Exception as exc:
            raise RunbookError(f"the runbook raised {type(exc).__name__}: {exc} (tick {self._tick}, "
                               f"t={self.sim.now:.0f} ms)") from exc

    # ------------------------------------------------------------------ running
    def start(self) -> None:
        c = self.config
        for t, fault in self.faults:
            if isinstance(fault, ProviderOutage):
                self.providers[fault.channel].add_outage(t, t + fault.duration_ms)
            self.sim.at(t, self._apply, fault)
        for t, event in self.workload.events:
            self.sim.at(t, self._produce, event, False)
            if event.event_id in self.workload.duplicated:
                self.sim.at(t + 2.0, self._produce, event, True)   # a producer retry after a lost ack
        for _ in range(c.routers):
            self.start_router()
        for ch in CHANNELS:
            for _ in range(c.workers):
                self.start_worker(ch)
        last_event = max((t for t, _ in self.workload.events), default=0.0) + 2.0
        last_fault = max((t + getattr(f, "duration_ms", 0.0) for t, f in self.faults), default=0.0)
        self.min_end = max(last_event, last_fault)
        self.deadline = self.min_end + c.drain_ms

    def round(self, until: float | None = None) -> None:
        """Apply what is due, then every live process takes one step; time moves by ``tick_ms`` if idle."""
        before = self.sim.now
        self._maybe_runbook()
        for app in list(self.apps):
            if until is not None and self.sim.now >= until:
                break
            if app.alive and not app.frozen and app.busy_until <= self.sim.now:
                self._step(app)
        if self.sim.now == before:
            step_to = self.sim.now + self.config.tick_ms
            self.sim.run(until=step_to if until is None else min(step_to, until))

    def _step(self, app: App) -> None:
        try:
            app.step()
        except WorkerCrashed:
            app.alive = False
            self.sim.schedule(self.config.restart_after_ms, self._restart, app)

    def lag(self) -> dict[str, tuple[int, int]]:
        """``"group topic-partition"`` -> (committed offset, end offset), for the partitions that are behind."""
        out: dict[str, tuple[int, int]] = {}
        for group, topic in self.group_topics():
            for p, log in enumerate(self.broker.topics[topic].partitions):
                committed = self.broker.coordinator.committed(group, TopicPartition(topic, p)) or 0
                if log.log_end_offset > committed:
                    out[f"{group} {topic}-{p}"] = (committed, log.log_end_offset)
        return out

    def group_topics(self) -> list[tuple[str, str]]:
        """Every (consumer group, topic) pair of the system."""
        out = [(ROUTER_GROUP, EVENTS_TOPIC)]
        for ch in CHANNELS:
            out += [(worker_group(ch), channel_topic(ch)), (worker_group(ch), retry_topic(ch))]
            if self.config.critical_lane:
                out.append((lane_group(ch), lane_topic(ch)))
        return out

    def lag_by_group(self) -> dict[str, int]:
        """Records not yet committed, per consumer group (every group, 0 included): what a lag alarm watches."""
        out: dict[str, int] = {}
        for group, topic in self.group_topics():
            behind = 0
            for p, log in enumerate(self.broker.topics[topic].partitions):
                committed = self.broker.coordinator.committed(group, TopicPartition(topic, p)) or 0
                behind += max(0, log.log_end_offset - committed)
            out[group] = out.get(group, 0) + behind
        return out

    def _sample_lag(self) -> None:
        if self.sim.now >= self._next_lag:
            self._next_lag = self.sim.now + self.config.lag_every_ms
            self.lag_history.append((self.sim.now, self.lag_by_group()))

    def _quiescent(self) -> bool:
        if self.sim.now < self.min_end or any(a.frozen for a in self.apps) or self.lag():
            return False
        if self.runbook is not None:
            changed = max((h[-1][0] for h in (d.depth_history for d in self.dlqs.values()) if h), default=0.0)
            if self.sim.now - changed < self.config.settle_ms:
                return False
        return True

    def run(self) -> "NotificationSystem":
        """Run until everything is produced, the faults are over and every group has committed all it read
        (and, with a runbook, the DLQs stayed unchanged for ``settle_ms``), or until the deadline."""
        self.start()
        while self.sim.now < self.deadline:
            self.round()
            self._sample_lag()
            if self.sim.now >= self._quiet_check:
                self._quiet_check = self.sim.now + 50.0
                if self._quiescent():
                    self.drained = True
                    break
        self.finish()
        return self

    def finish(self) -> None:
        lag = self.lag()
        dlq = {ch: [d.message_id for d in self.dlqs[ch]] for ch in CHANNELS}
        parked = {ch: [d.message_id for d in self.parked[ch]] for ch in CHANNELS}
        op = self.history.invoke(self.sim.now, "system", "final",
                                 {"lag": {k: list(v) for k, v in lag.items()}, "drained": self.drained, "dlq": dlq,
                                  "parked": parked})
        self.history.complete(op, self.sim.now, OK)
        self.history.meta["final"] = {"lag": {k: list(v) for k, v in lag.items()}, "drained": self.drained,
                                      "end_ms": self.sim.now}
        self.history.meta["lag_samples"] = [[t, lags] for t, lags in self.lag_history]
        self.finished = True


@dataclass
class RunResult:
    """A finished run: the system (topics, DLQs, providers...), its history, and the verdict helpers."""

    system: NotificationSystem
    history: History = field(init=False)

    def __post_init__(self) -> None:
        self.history = self.system.history

    @property
    def workload(self) -> Workload:
        return self.system.workload

    def check(self):
        from msglib.check.notifications import check_notifications

        return check_notifications(self.history)

    def metrics(self):
        from msglib.capstone.metrics import metrics

        return metrics(self.history)

    def summary(self) -> str:
        return self.metrics().summary()


def run_notifications(seed: int = 0, *, workload: Workload | None = None,
                      faults: FaultSchedule | str | None = "random", config: SystemConfig | None = None,
                      route: Callable[..., Any] = default_route, bucket: Bucket = TokenBucket,
                      handle: Callable[..., Any] = default_handle,
                      runbook: Callable[[Operations], Any] | None = redrive_when_healthy,
                      **workload_options: Any) -> RunResult:
    """One seeded run. ``faults="random"`` draws four faults from the seed; None: no faults.
    ``workload_options`` go to :func:`~msglib.capstone.events.make_workload` (users, events, duration_ms...)."""
    workload = workload if workload is not None else make_workload(seed, **workload_options)
    if faults == "random":
        faults = random_faults(seed, workload_options.get("duration_ms", 4_000.0))
    elif isinstance(faults, str):
        raise ValueError(f"faults must be a FaultSchedule, 'random' or None, not {faults!r}")
    system = NotificationSystem(workload, faults, config=config, route=route, bucket=bucket, handle=handle,
                                runbook=runbook, seed=seed)
    system.run()
    return RunResult(system)


__all__ = ["SystemConfig", "Operations", "redrive_when_healthy", "RunbookError", "NotificationSystem", "RunResult",
           "run_notifications", "RouteError", "HandlerError"]
