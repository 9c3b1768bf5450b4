"""The running processes: routers and channel workers, each a KafkaConsumer in its group.

* a **router** (group ``router``) polls ``notifications.events``, asks the
  route function who to notify on which channel, appends one job per
  ``(user, channel)`` to ``notify.<channel>`` (keyed by user, so a user's jobs
  stay in order on one partition), then commits: at least once;
* a **channel worker** (group ``<channel>-workers``) polls ``notify.<channel>``
  and ``notify.<channel>-retry`` and hands each job to the handler with a
  :class:`WorkerContext`. A retry record that is not due yet pauses its
  partition until it is (a retry topic is never consumed early).

Faults reach a process here: an armed crash fires inside its next provider
call (or, for a router, in the middle of its next batch); an armed stall
freezes it inside a provider call while the other processes run on.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from msglib.capstone.events import CHANNELS, Event
from msglib.capstone.faults import RouterCrash, SlowConsumer, WorkerCrash
from msglib.capstone.worker import DeliveryStore, HandlerError, Notification, WorkerCrashed, render
from msglib.client.consumer import KafkaConsumer
from msglib.client.errors import KafkaError
from msglib.dlq.classify import is_transient
from msglib.dlq.deadletters import DeadLetter
from msglib.dlq.retry_topics import ATTEMPTS, BACKOFF_TIMESTAMP, MESSAGE_ID
from msglib.groups.errors import CommitFailedError
from msglib.groups.protocol import OffsetAndMetadata, TopicPartition
from msglib.sim.history import FAIL, INFO, OK

if TYPE_CHECKING:  # pragma: no cover
    from msglib.capstone.system import NotificationSystem

EVENTS_TOPIC = "notifications.events"
ROUTER_GROUP = "router"


def channel_topic(channel: str) -> str:
    return f"notify.{channel}"


def retry_topic(channel: str) -> str:
    return f"notify.{channel}-retry"


def worker_group(channel: str) -> str:
    return f"{channel}-workers"


def lane_topic(channel: str) -> str:
    """The priority lane of a channel (``SystemConfig.critical_lane``): critical jobs only."""
    return f"notify.{channel}.priority"


def lane_group(channel: str) -> str:
    return f"{channel}-priority-workers"


class RouteError(Exception):
    """The route function raised or returned something the router cannot use."""

    def __init__(self, event: Event, what: str) -> None:
        super().__init__(f"route() on event {event.event_id} ({event.type} for {', '.join(event.users)}): {what}")
        self.event = event
        self.what = what


class App:
    """One process: a consumer, whether it is alive or frozen, and a fault armed for it."""

    kind = "app"

    def __init__(self, system: "NotificationSystem", name: str) -> None:
        self.system = system
        self.name = name
        self.alive = True
        self.frozen = False
        self.fault: Any = None
        self.started = system.sim.now
        self.consumer: KafkaConsumer = None  # type: ignore[assignment]
        self.lane: KafkaConsumer | None = None       # a worker's priority-lane consumer, if the design has one
        self.busy_until = 0.0                        # SystemConfig.job_ms: busy with the last job until then

    @property
    def consumers(self) -> list[KafkaConsumer]:
        return [c for c in (self.consumer, self.lane) if c is not None]

    def new_consumer(self, topics: list[str], group: str, max_poll_records: int = 50,
                     client_id: str | None = None) -> KafkaConsumer:
        return KafkaConsumer(*topics, cluster=self.system.broker, group_id=group, client_id=client_id or self.name,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             max_poll_records=max_poll_records)

    def die(self, why: str) -> None:
        """kill -9: no commit, no LeaveGroup; the group notices when the session times out."""
        if not self.alive:
            return
        self.system.note(f"{self.name} crashes ({why})")
        for consumer in self.consumers:
            consumer.crash()
        self.alive = False

    def check_alive(self) -> None:
        if not self.alive:
            raise WorkerCrashed(self.name)

    def freeze(self, ms: float) -> None:
        """Stall for ``ms``: no heartbeat, no progress; the other processes keep running meanwhile."""
        system = self.system
        system.note(f"{self.name} stalls for {ms:g} ms")
        for consumer in self.consumers:
            consumer.node.pause()
        self.frozen = True
        end = system.sim.now + ms
        while system.sim.now < end:
            system.round(until=end)
        self.frozen = False
        if self.alive:
            for consumer in self.consumers:
                consumer.node.resume()
            system.note(f"{self.name} wakes up")

    def step(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------- routers
class RouterApp(App):
    kind = "router"

    def __init__(self, system: "NotificationSystem", name: str) -> None:
        super().__init__(system, name)
        self.consumer = self.new_consumer([EVENTS_TOPIC], ROUTER_GROUP)

    def step(self) -> None:
        try:
            batch = self.consumer.poll(timeout_ms=0)
        except KafkaError:
            return
        records = [r for tp in sorted(batch) for r in batch[tp]]
        for i, record in enumerate(records):
            self.route_record(record)
            if i == 0 and isinstance(self.fault, RouterCrash):
                self.fault = None
                self.die(f"after routing {EVENTS_TOPIC}-{record.partition}@{record.offset}, "
                         f"{len(records) - 1} more records of the batch not routed, nothing committed")
                raise WorkerCrashed(self.name)
        if records:
            try:
                self.consumer.commit()
            except (CommitFailedError, KafkaError) as exc:
                self.system.note(f"{self.name}: commit failed ({type(exc).__name__})")

    def route_record(self, record: Any) -> None:
        system = self.system
        event = Event.decode(record.value)
        try:
            pairs = system.route(event, system.prefs)
            pairs = list(pairs) if pairs is not None else None
        except Exception as exc:
            raise RouteError(event, f"it raised {type(exc).__name__}: {exc}") from exc
        if pairs is None:
            raise RouteError(event, "it returned None; return a list of (user, channel) pairs (empty for nobody)")
        for pair in pairs:
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise RouteError(event, f"it returned {pair!r} in its list; each item is a (user, channel) pair")
            user, channel = pair
            if channel not in CHANNELS:
                raise RouteError(event, f"it returned channel {channel!r}; channels are {', '.join(CHANNELS)}")
            if user not in event.users:
                raise RouteError(event, f"it returned user {user!r}, who is not one of the event's users")
        for user, channel in pairs:
            prefs = system.prefs.get(user)
            job = Notification(event.event_id, event.type, user, channel, event.data,
                               prefs.locale if prefs is not None else "en", 1, float(event.time_ms - system.epoch_ms))
            system.broker.send(system.job_topic(channel, job.critical), json.dumps(job.to_json()).encode(),
                               key=system.job_key(event.event_id, user), headers=[(MESSAGE_ID, job.job_id.encode())])
            op = system.history.invoke(system.sim.now, self.name, "route",
                                       {"event_id": event.event_id, "user": user, "channel": channel,
                                        "job": job.job_id})
            system.history.complete(op, system.sim.now, OK)


# ---------------------------------------------------------------------------------------------- workers
class WorkerApp(App):
    kind = "worker"

    def __init__(self, system: "NotificationSystem", name: str, channel: str) -> None:
        super().__init__(system, name)
        self.channel = channel
        self.retry_topic = retry_topic(channel)
        batch = system.config.worker_batch
        self.consumer = self.new_consumer([channel_topic(channel), self.retry_topic], worker_group(channel), batch)
        if system.config.critical_lane:
            self.lane = self.new_consumer([lane_topic(channel)], lane_group(channel), batch, f"{name}-lane")
        self.handled = 0

    def consumer_for(self, topic: str) -> KafkaConsumer:
        """The consumer that read ``topic``: the lane's for the priority lane, else the channel's."""
        return self.lane if self.lane is not None and topic == lane_topic(self.channel) else self.consumer

    def step(self) -> None:
        if self.lane is not None:
            # the priority lane first: while it has jobs, the channel's backlog waits
            try:
                urgent = self.lane.poll(timeout_ms=0)
            except KafkaError:
                urgent = {}
            if urgent:
                for tp in sorted(urgent):
                    for record in urgent[tp]:
                        if not self.alive:
                            return
                        self.handle_record(record)
                return
        try:
            batch = self.consumer.poll(timeout_ms=0)
        except KafkaError:
            return
        for tp in sorted(batch):
            for record in batch[tp]:
                if not self.alive:
                    return
                if tp.topic == self.retry_topic:
                    due = _header(record.headers, BACKOFF_TIMESTAMP)
                    now = self.system.sim.now
                    if due is not None and float(due) > now:
                        # not due yet: rewind to it and pause this partition until it is
                        try:
                            self.consumer.seek(tp, record.offset)
                            self.consumer.pause(tp)
                        except KafkaError:
                            break
                        self.consumer.node.after(float(due) - now, self._resume, tp)
                        break
                self.handle_record(record)

    def _resume(self, tp: TopicPartition) -> None:
        if self.alive and not self.consumer._closed:
            self.consumer.resume(tp)

    def handle_record(self, record: Any) -> None:
        system = self.system
        job = Notification.from_json(json.loads(record.value), topic=record.topic, partition=record.partition,
                                     offset=record.offset)
        blocking = system.config.retry_order == "block-user" and not job.critical
        if blocking and self._wait_behind(job):
            return
        if system.config.job_ms:
            self.busy_until = system.sim.now + system.config.job_ms
        ctx = WorkerContext(self, job)
        op = system.history.invoke(system.sim.now, self.name, "handle",
                                   {"job": job.job_id, "attempt": job.attempt, "topic": job.topic,
                                    "partition": job.partition, "offset": job.offset, "redrives": job.redrives})
        self.handled += 1
        try:
            system.handle(job, ctx)
        except WorkerCrashed:
            system.history.complete(op, system.sim.now, INFO, {**op.value, "actions": ctx.actions},
                                    error="the worker crashed")
            raise
        except Exception as exc:
            system.history.complete(op, system.sim.now, FAIL, {**op.value, "actions": ctx.actions},
                                    error=f"{type(exc).__name__}: {exc}")
            raise HandlerError(job, exc) from exc
        if not self.alive:      # the handler swallowed the crash (a bare except): the process is dead anyway
            system.history.complete(op, system.sim.now, INFO, {**op.value, "actions": ctx.actions},
                                    error="the worker crashed")
            raise WorkerCrashed(self.name)
        system.history.complete(op, system.sim.now, OK, {**op.value, "actions": ctx.actions})
        if blocking:
            self._settled(job, ctx)

    # -- retry_order="block-user": a user's later jobs wait behind the one in retry ------------------------
    def _wait_behind(self, job: Notification) -> bool:
        """If another job of this user on this channel is in the retry path, send ``job`` to the retry topic
        behind it (same attempt, due just after the one it waits for) and commit; True if it waits."""
        system = self.system
        ukey = (job.user, job.channel)
        queue = system.waiting.get(ukey)
        if not queue or queue[0] == job.job_id:
            return False
        if job.job_id not in queue:
            queue.append(job.job_id)
        now = system.sim.now
        due = max(now, system.waiting_due.get(ukey, now)) + 1.0
        system.broker.send(self.retry_topic, json.dumps(job.to_json()).encode(), key=job.user.encode(),
                           headers=[(MESSAGE_ID, job.job_id.encode()), (ATTEMPTS, str(job.attempt).encode()),
                                    (BACKOFF_TIMESTAMP, f"{due:.3f}".encode())])
        op = system.history.invoke(now, self.name, "wait", {"job": job.job_id, "behind": queue[0],
                                                            "attempt": job.attempt, "due": round(due, 3)})
        system.history.complete(op, now, OK)
        ack = system.history.invoke(now, self.name, "ack", {"job": job.job_id, "topic": job.topic,
                                                            "partition": job.partition, "offset": job.offset})
        try:
            self.consumer_for(job.topic).commit({TopicPartition(job.topic, job.partition):
                                                 OffsetAndMetadata(job.offset + 1)})
        except (CommitFailedError, KafkaError) as exc:
            system.history.complete(ack, system.sim.now, FAIL, error=type(exc).__name__)
            return True
        system.history.complete(ack, system.sim.now, OK)
        return True

    def _settled(self, job: Notification, ctx: "WorkerContext") -> None:
        """After handle(): a job sent to retry heads (or keeps heading) its user's queue; a settled one leaves."""
        system = self.system
        ukey = (job.user, job.channel)
        queue = system.waiting.setdefault(ukey, [])
        if "retry" in ctx.actions:
            if not queue:
                queue.append(job.job_id)
            if queue[0] == job.job_id:
                system.waiting_due[ukey] = ctx.retry_due
        elif queue and queue[0] == job.job_id:
            queue.pop(0)
        if not queue:
            system.waiting.pop(ukey, None)
            system.waiting_due.pop(ukey, None)


def _header(headers: Any, name: str) -> str | None:
    for k, v in headers or ():
        if k == name:
            return None if v is None else v.decode()
    return None


# ---------------------------------------------------------------------------------------------- the handler's tools
class _StoreView:
    """``ctx.delivered``: the shared DeliveryStore, as seen by one living worker."""

    def __init__(self, worker: WorkerApp, store: DeliveryStore, ctx: "WorkerContext") -> None:
        self._worker = worker
        self._store = store
        self._ctx = ctx

    def add(self, key: Any) -> None:
        self._worker.check_alive()
        self._store.add(key)
        self._ctx.actions.append("store")

    def __contains__(self, key: Any) -> bool:
        self._worker.check_alive()
        return key in self._store

    def __len__(self) -> int:
        return len(self._store)


class _LimiterView:
    """``ctx.limiter``: the shared RateLimiter; each decision is recorded with the job it was made for."""

    def __init__(self, worker: WorkerApp, job: Notification, ctx: "WorkerContext") -> None:
        self._worker = worker
        self._job = job
        self._ctx = ctx

    def allow(self, user: str, channel: str, key: Any = None) -> bool:
        """Take a token; with ``key`` (the notification's key) the answer is durable for that notification."""
        self._worker.check_alive()
        if not isinstance(user, str) or not isinstance(channel, str):
            raise TypeError(f"limiter.allow(user, channel, key=...) takes two strings and a key, got {user!r}, "
                            f"{channel!r}")
        allowed = self._worker.system.limiter.allow(user, channel, key=key, job=self._job.job_id,
                                                    process=self._worker.name)
        self._ctx.actions.append("allowed" if allowed else "throttled")
        return allowed


class ProviderClient:
    """``ctx.provider``: the channel's provider, called by one worker for one job (faults strike here)."""

    def __init__(self, worker: WorkerApp, job: Notification, ctx: "WorkerContext") -> None:
        self._worker = worker
        self._job = job
        self._ctx = ctx

    def send(self, user: str, text: str, idempotency_key: Any = None) -> str:
        worker, job = self._worker, self._job
        worker.check_alive()
        system = worker.system
        info = {"job": job.job_id, "event_id": job.event_id, "channel": job.channel, "for_user": job.user,
                "attempt": job.attempt, "created_ms": job.created_ms, "worker": worker.name}
        fault = worker.fault if isinstance(worker.fault, (WorkerCrash, SlowConsumer)) else None
        if fault is not None:
            worker.fault = None
        self._ctx.actions.append("send")
        if isinstance(fault, SlowConsumer):
            worker.freeze(fault.duration_ms)
            worker.check_alive()
        if isinstance(fault, WorkerCrash) and fault.when == "before-send":
            worker.die(f"before its call to the {job.channel} provider for {job.job_id} left")
            raise WorkerCrashed(worker.name)
        try:
            receipt = system.providers[worker.channel].send(user, text, idempotency_key, job=info)
        finally:
            if isinstance(fault, WorkerCrash):      # after-send: the provider acted; the answer dies with us
                worker.die(f"after the {job.channel} provider received {job.job_id}, before the answer")
                raise WorkerCrashed(worker.name)
        self._ctx.actions.append("sent")
        return receipt


class WorkerContext:
    """What ``handle(job, ctx)`` works with (see ``worker.py`` for the table)."""

    def __init__(self, worker: WorkerApp, job: Notification) -> None:
        system = worker.system
        self._worker = worker
        self._system = system
        self.job = job
        self.channel = worker.channel
        self.actions: list[str] = []
        self.delivered = _StoreView(worker, system.delivered, self)
        self.limiter = _LimiterView(worker, job, self)
        self.provider = ProviderClient(worker, job, self)
        self.max_attempts: int = system.config.max_attempts
        self.is_transient = is_transient
        self.retry_due = 0.0

    @property
    def now(self) -> float:
        return self._system.sim.now

    def render(self, job: Notification) -> str:
        self._worker.check_alive()
        return render(job)

    def _same_job(self, job: Any, what: str) -> None:
        self._worker.check_alive()
        if not isinstance(job, Notification) or job.job_id != self.job.job_id or job.offset != self.job.offset:
            raise ValueError(f"ctx.{what}() takes the job handle() was given ({self.job.job_id}), got {job!r}")

    def _error(self, exc: Any, what: str) -> BaseException:
        if not isinstance(exc, BaseException):
            raise TypeError(f"ctx.{what}(job, exc) takes the exception that failed the job, got {exc!r}")
        return exc

    def retry(self, job: Notification, exc: BaseException) -> float:
        """Send ``job`` to the retry topic as attempt ``job.attempt + 1``, due after a backoff. Returns the due time."""
        self._same_job(job, "retry")
        self._error(exc, "retry")
        system = self._system
        now = system.sim.now
        delay = system.backoff(job.attempt, system.backoff_rng)
        due = now + delay
        nxt = Notification.from_json({**job.to_json(), "attempt": job.attempt + 1})
        system.broker.send(retry_topic(job.channel), json.dumps(nxt.to_json()).encode(), key=job.user.encode(),
                           headers=[(MESSAGE_ID, job.job_id.encode()), (ATTEMPTS, str(nxt.attempt).encode()),
                                    (BACKOFF_TIMESTAMP, f"{due:.3f}".encode())])
        op = system.history.invoke(now, self._worker.name, "retry",
                                   {"job": job.job_id, "attempt": job.attempt, "due": round(due, 3),
                                    "error": f"{type(exc).__name__}: {exc}",
                                    "transient": is_transient(exc) if isinstance(exc, Exception) else True})
        system.history.complete(op, now, OK)
        self.actions.append("retry")
        self.retry_due = due
        return due

    def dead_letter(self, job: Notification, exc: BaseException) -> None:
        """Put ``job`` in the channel's DLQ, with the error and the attempts it had."""
        self._same_job(job, "dead_letter")
        self._error(exc, "dead_letter")
        system = self._system
        now = system.sim.now
        transient = is_transient(exc) if isinstance(exc, Exception) else True
        reason = "max-attempts" if transient else "permanent"
        letter = DeadLetter(job.job_id, job.to_json(), job.topic, reason, job.attempt, type(exc).__name__, str(exc),
                            now, now, headers={"redrives": job.redrives})
        stored = system.dlqs[job.channel].add(letter)
        op = system.history.invoke(now, self._worker.name, "dead-letter",
                                   {"id": job.job_id, "job": job.job_id, "attempts": job.attempt, "reason": reason,
                                    "error": f"{type(exc).__name__}: {exc}", "stored": stored})
        system.history.complete(op, now, OK)
        self.actions.append("dead-letter")

    def ack(self, job: Notification) -> bool:
        """Commit past ``job`` (its offset + 1). False if the group has moved on (a rebalance fenced this
        worker out: the job's new owner will see it again)."""
        self._same_job(job, "ack")
        system = self._system
        consumer = self._worker.consumer_for(job.topic)
        tp = TopicPartition(job.topic, job.partition)
        op = system.history.invoke(system.sim.now, self._worker.name, "ack",
                                   {"job": job.job_id, "topic": job.topic, "partition": job.partition,
                                    "offset": job.offset})
        try:
            consumer.commit({tp: OffsetAndMetadata(job.offset + 1)})
        except (CommitFailedError, KafkaError) as exc:
            system.history.complete(op, system.sim.now, FAIL, error=type(exc).__name__)
            self.actions.append("ack-failed")
            return False
        system.history.complete(op, system.sim.now, OK)
        self.actions.append("ack")
        return True


__all__ = ["EVENTS_TOPIC", "ROUTER_GROUP", "channel_topic", "retry_topic", "worker_group", "lane_topic", "lane_group",
           "RouteError", "App",
           "RouterApp", "WorkerApp", "WorkerContext", "ProviderClient"]
