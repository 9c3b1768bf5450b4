"""The workload runner: one seeded workload, driven through any broker model, measured the same way.

::

    producer ──► Intake (the broker node's capacity; how tenants share it) ──► model.publish(msg)
                                                                                  │  the model's own mechanism:
                                                                                  │  log + offsets, queue + acks,
                                                                                  ▼  visibility timeout, cursor...
                                                           Worker.give(msg, ack) ─► process ─► effect ─► ack

A model (``kafka.py``, ``rabbitmq.py``, ``sqs.py``, ``pulsar.py``) is a
:class:`BrokerModel`: it is told when a subscriber joins, when its consumers
start, when a message reaches the broker, when a consumer crashes and comes
back. Everything else (processing times, crashes, metrics) is shared here, so
the models differ only where the real systems differ.

A consumer (:class:`Worker`) processes one message at a time. With the
workload's ``crash_prob`` it dies *after* the effect of a message and *before*
its ack or commit reaches the broker: the classic at-least-once duplicate.
A model that offers transactions (``transactional = True``) commits the
effect together with the ack when ``exactly_once`` is asked for, so a crash
takes both back.
"""
from __future__ import annotations

from collections import deque
from typing import Any, Callable

from msglib.compare.metrics import Recorder, Report
from msglib.compare.workload import Behaviour, Message, Subscriber, Workload
from msglib.queue import topic_matches
from msglib.sim import Simulation

Ack = Callable[[], None]


class Worker:
    """One consumer process of a subscriber: an inbox, one message at a time, crashes and restarts."""

    def __init__(self, run: "Run", sub: Subscriber, index: int) -> None:
        self.run = run
        self.sub = sub
        self.index = index
        self.name = f"{sub.name}-c{index}"
        self.speed = run.behaviour.speed(index)
        self.alive = True
        self.busy = False
        self.inbox: deque[tuple[Message, Ack]] = deque()
        self.incarnation = 0            # bumps on every crash: timers of a dead incarnation do nothing
        self.processed = 0
        self.crashes = 0
        self.state: dict[str, Any] = {}  # the model's per-consumer state (positions, tags, handles...)

    def __repr__(self) -> str:
        return f"Worker({self.name}, {'alive' if self.alive else 'down'}, inbox={len(self.inbox)})"

    @property
    def idle(self) -> bool:
        return self.alive and not self.busy and not self.inbox

    def give(self, msg: Message, ack: Ack) -> None:
        """A delivery for this consumer; it is processed after the ones already waiting."""
        if not self.alive:
            return
        self.inbox.append((msg, ack))
        if not self.busy:
            self._next()

    def _next(self) -> None:
        run = self.run
        self.busy = True            # also guards against a delivery that arrives while we ack (re-entrant give)
        while self.inbox:
            msg, ack = self.inbox.popleft()
            if self.sub.pattern is not None and not topic_matches(self.sub.pattern, msg.routing_key):
                run.recorder.threw_away(self.sub.name, msg)   # read, then discarded by the client
                ack()
                if not self.alive:
                    return
                continue
            ms, crash = run.behaviour.next_attempt(self.sub.name, msg)
            run.sim.schedule(ms * self.speed, self._done, msg, ack, crash, self.incarnation)
            return
        self.busy = False
        run.model.on_idle(self)

    def _done(self, msg: Message, ack: Ack, crash: bool, incarnation: int) -> None:
        if incarnation != self.incarnation:
            return
        run = self.run
        atomic = run.atomic
        if not atomic:                                  # the effect happens now, whatever follows
            run.recorder.processed(self.sub.name, msg, self.name, run.sim.now)
        if crash:
            self.crash()                                # ... and the ack never reaches the broker
            return
        if atomic:                                      # effect and ack commit together
            run.recorder.processed(self.sub.name, msg, self.name, run.sim.now)
        self.processed += 1
        ack()
        if self.alive:
            self._next()

    def crash(self) -> None:
        """Die now: the inbox (prefetched messages) is lost; the model takes back what it must."""
        if not self.alive:
            return
        self.alive = False
        self.busy = False
        self.crashes += 1
        self.incarnation += 1
        self.inbox.clear()
        self.run.model.on_crash(self)
        self.run.sim.schedule(self.run.workload.restart_ms, self._restart, self.incarnation)

    def _restart(self, incarnation: int) -> None:
        if incarnation != self.incarnation:
            return
        self.alive = True
        self.run.model.on_restart(self)


class Intake:
    """A broker node's capacity: each publish needs ``service_ms`` of it. How tenants share it:

    * ``"shared"``: one FIFO for everyone (a burst delays every tenant behind it);
    * ``"quota"``: each tenant may use at most ``1/tenants`` of the capacity; a tenant
      over its quota is delayed *before* the node (Kafka client quotas, Pulsar rate limits);
    * ``"separate"``: each tenant has capacity of its own (SQS: every queue scales on its own).
    """

    def __init__(self, service_ms: float, isolation: str, tenants: int) -> None:
        if isolation not in ("shared", "quota", "separate"):
            raise ValueError(f"isolation must be 'shared', 'quota' or 'separate', got {isolation!r}")
        self.service_ms = service_ms
        self.isolation = isolation
        self.tenants = max(1, tenants)
        self.free_at: dict[str, float] = {}       # server -> when it is free
        self.next_admit: dict[str, float] = {}    # tenant -> earliest admission (quota)
        self.throttled_ms: dict[str, float] = {}  # tenant -> total delay added by its quota

    def throttle(self, msg: Message, now: float) -> float:
        """When ``msg``, offered at ``now``, may enter the node: later only if its tenant is over quota."""
        if self.service_ms <= 0 or self.isolation != "quota":
            return now
        start = max(now, self.next_admit.get(msg.tenant, 0.0))
        self.next_admit[msg.tenant] = start + self.service_ms * self.tenants
        self.throttled_ms[msg.tenant] = self.throttled_ms.get(msg.tenant, 0.0) + (start - now)
        return start

    def serve(self, msg: Message, now: float) -> float:
        """``msg`` enters the node at ``now``: when it is stored (after the messages ahead of it)."""
        if self.service_ms <= 0:
            return now
        server = msg.tenant if self.isolation == "separate" else "node"
        begin = max(now, self.free_at.get(server, 0.0))
        self.free_at[server] = begin + self.service_ms
        return begin + self.service_ms


class BrokerModel:
    """What every model implements. Class attributes say what the model is and offers:

    * ``kind``: ``"log"`` (messages stay; readers keep positions) or ``"queue"``
      (a message leaves when acknowledged);
    * ``isolation``: how tenants share a node (see :class:`Intake`);
    * ``transactional``: it can commit an effect and the consumption position atomically;
    * ``publish_ms`` / ``deliver_ms``: fixed hop costs (producer -> stored, stored -> consumer).
      They are *assumptions*, kept as knobs; the differences beyond them come from the mechanisms.
    """

    name = "model"
    kind = "log"
    isolation = "shared"
    transactional = False
    publish_ms = 1.0
    deliver_ms = 1.0

    def __init__(self, run: "Run", **options: Any) -> None:
        self.run = run
        self.sim = run.sim
        if options:
            raise TypeError(f"{type(self).__name__} has no option(s) {sorted(options)}")

    # -- the life of a subscriber ------------------------------------------------------------
    def subscribe(self, sub: Subscriber) -> None:
        """``sub`` joins at ``sub.joins_at``: declare its queue, create its group or subscription."""
        raise NotImplementedError

    def start(self, sub: Subscriber, workers: list[Worker]) -> None:
        """Its consumers start (``sub.start``)."""
        raise NotImplementedError

    def add_worker(self, sub: Subscriber, worker: Worker) -> None:
        """One more consumer joins ``sub`` (scale-out)."""
        raise NotImplementedError

    def publish(self, msg: Message) -> None:
        """``msg`` reaches the broker now."""
        raise NotImplementedError

    def stored_copies(self) -> int:
        """How many message copies the broker holds now."""
        raise NotImplementedError

    # -- consumer events ----------------------------------------------------------------------
    def on_idle(self, worker: Worker) -> None:
        """``worker`` has nothing left to process (pull models fetch more here)."""

    def on_crash(self, worker: Worker) -> None:
        """``worker`` died holding unacknowledged messages."""

    def on_restart(self, worker: Worker) -> None:
        """``worker`` is back."""

    def tick(self) -> None:
        """Periodic housekeeping (retention checks)."""

    def facts(self) -> dict[str, Any]:
        """Model-specific numbers for the report."""
        return {}


class Run:
    """One model, one workload, one seed: the shared state of a run."""

    def __init__(self, model_cls: type[BrokerModel], workload: Workload, seed: int, *, until: float | None = None,
                 **options: Any) -> None:
        self.workload = workload
        self.until = until
        self.seed = seed
        self.sim = Simulation(seed)
        self.behaviour = Behaviour(workload, seed)
        self.messages = workload.messages(seed)
        self.recorder = Recorder(self.messages, workload.subscribers)
        self.workers: dict[str, list[Worker]] = {s.name: [] for s in workload.subscribers}
        self.notes: list[str] = []
        self.model = model_cls(self, **options)
        self.atomic = workload.exactly_once and self.model.transactional
        tenants = 2 if workload.noisy_messages else 1
        self.intake = Intake(workload.broker_service_ms, self.model.isolation, tenants)
        self.tenant_latency: dict[str, list[float]] = {}

    @property
    def horizon(self) -> float:
        """When the run stops: ``until`` if given, else the last publish or start plus ``drain_ms``."""
        if self.until is not None:
            return self.until
        w = self.workload
        last_start = max((s.start for s in w.subscribers), default=0.0)
        last_scale = max((t for s in w.subscribers for t in s.scale_out), default=0.0)
        return max(w.publish_end_ms, last_start, last_scale) + w.drain_ms

    def _offer(self, msg: Message) -> None:
        at = self.intake.throttle(msg, self.sim.now)
        if at > self.sim.now:
            self.sim.at(at, self._enter, msg)        # a tenant over its quota waits at the producer
        else:
            self._enter(msg)

    def _enter(self, msg: Message) -> None:
        self.sim.at(self.intake.serve(msg, self.sim.now) + self.model.publish_ms, self._arrive, msg)

    def _arrive(self, msg: Message) -> None:
        if msg.tenant != "main":
            # the noisy tenant's messages only load the node; their consumers are not simulated
            self.tenant_latency.setdefault(msg.tenant, []).append(self.sim.now - msg.produced_at)
            return
        self.model.publish(msg)
        self.recorder.stored(self.sim.now, self.model.stored_copies())

    def _start(self, sub: Subscriber) -> None:
        workers = [Worker(self, sub, i) for i in range(sub.consumers)]
        self.workers[sub.name].extend(workers)
        self.model.start(sub, workers)

    def _scale_out(self, sub: Subscriber) -> None:
        worker = Worker(self, sub, len(self.workers[sub.name]))
        self.workers[sub.name].append(worker)
        self.model.add_worker(sub, worker)

    def _tick(self, every: float) -> None:
        self.model.tick()
        self.recorder.stored(self.sim.now, self.model.stored_copies())
        if self.sim.now + every <= self.horizon:
            self.sim.schedule(every, self._tick, every)

    def execute(self) -> Report:
        sim, w = self.sim, self.workload
        for sub in w.subscribers:                  # scheduled first: a subscriber joining at t=0 sees t=0's messages
            sim.at(sub.joins_at, self.model.subscribe, sub)
        for sub in w.subscribers:
            sim.at(sub.start, self._start, sub)
            for t in sub.scale_out:
                sim.at(max(t, sub.start), self._scale_out, sub)
        for msg in self.messages + w.noisy(self.seed):
            sim.at(msg.produced_at, self._offer, msg)
        every = max(1.0, self.horizon / 200)
        sim.schedule(every, self._tick, every)
        sim.run(until=self.horizon)
        self.model.tick()
        self.recorder.stored(sim.now, self.model.stored_copies())
        stats = {s.name: self.recorder.stats(s) for s in w.subscribers}
        facts = dict(self.model.facts())
        facts["crashes"] = sum(wk.crashes for ws in self.workers.values() for wk in ws)
        facts["idle consumers"] = sum(1 for ws in self.workers.values() for wk in ws if wk.processed == 0)
        if self.intake.throttled_ms:
            facts["throttled ms"] = {t: round(v, 1) for t, v in self.intake.throttled_ms.items()}
        return Report(self.model.name, w, self.seed, stats, self.recorder.storage, facts, self.notes,
                      self.recorder.effects)


MODELS: dict[str, type[BrokerModel]] = {}


def register(cls: type[BrokerModel]) -> type[BrokerModel]:
    """Make a model available to :func:`run` under ``cls.name``."""
    MODELS[cls.name] = cls
    return cls


def run(model: str | type[BrokerModel], workload: Workload | None = None, seed: int = 0, *,
        until: float | None = None, **options: Any) -> Report:
    """Drive ``workload`` through ``model`` (a name from :data:`MODELS` or a class) and measure it.

    ``until`` stops the run at that simulated time (default: ``drain_ms`` after the
    last publish or consumer start); ``options`` go to the model (``partitions=``,
    ``subscription_type=``, ``visibility_timeout_ms=``...).

    >>> from msglib.compare import Workload, run
    >>> run("kafka", Workload(n_messages=20), seed=1).delivered
    20
    """
    _load_models()
    if isinstance(model, str):
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}; choose one of {sorted(MODELS)}")
        model = MODELS[model]
    return Run(model, workload or Workload(), seed, until=until, **options).execute()


def _load_models() -> None:
    from msglib.compare import kafka, pulsar, rabbitmq, sqs  # noqa: F401  (each registers its model)


__all__ = ["Worker", "Intake", "BrokerModel", "Run", "MODELS", "register", "run"]
