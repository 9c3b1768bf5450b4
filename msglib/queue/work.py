"""Module 01's simulations: a work queue with crashing workers, and consumer groups.

**Work queue.** A producer publishes ``n_messages`` tasks to one queue; a few
workers consume them with a prefetch limit. Each delivery goes to the
worker's ``handle(delivery, channel, process, seen)``, the seam of module 01's
consumer exercise:

* ``process(body)`` does the work. It takes simulated time, and it may raise
  :class:`ProcessingFailed` (a transient failure: nothing was done, try again
  later) or :class:`WorkerCrashed` (the worker process died mid-task: nothing
  was done, and the worker's channel is gone);
* ``channel.ack(delivery)`` / ``channel.nack(delivery, requeue=...)`` answer
  the broker;
* ``seen`` is a durable set shared by all workers (a table in a database):
  ``key in seen``, ``seen.add(key)``. It survives crashes.

Workers also lose their connection *after* the handler acknowledged, before
the ack reached the broker (``ack_loss_prob``): the broker then redelivers a
message whose work was already done. Acknowledgements give at-least-once
delivery; only the handler can turn that into "each task's effect happens
exactly once", by remembering what it has done (an idempotent consumer).

In this model ``process`` and ``seen.add`` right after it cannot be torn apart
by a crash (crashes happen inside ``process`` or after the handler returns).
A real system must make them atomic: one database transaction (module 06).

**Consumer groups.** ``group_queue(broker, exchange, group, member)`` is the
other seam: each member of each group calls it to learn which queue to
consume from. One queue per group, bound to a fanout exchange, gives "every
group gets every message, members of a group share them".
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from msglib.queue.broker import Broker
from msglib.queue.dispatch import Dispatcher, round_robin
from msglib.queue.message import Delivery
from msglib.queue.routing import topic_matches
from msglib.sim import Simulation


class ProcessingFailed(Exception):
    """The task failed this time (a busy database, a timeout): nothing was done; retrying may work."""


class WorkerCrashed(BaseException):
    """The worker died in the middle of a task. A BaseException, like a kill -9: ``except Exception``
    does not catch it, and nothing the handler does afterwards reaches the broker."""


class Seen:
    """A durable set of processed keys, shared by the workers (survives their crashes)."""

    def __init__(self) -> None:
        self._keys: set = set()

    def add(self, key: Any) -> None:
        self._keys.add(key)

    def __contains__(self, key: Any) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def discard(self, key: Any) -> None:
        self._keys.discard(key)


@dataclass
class WorkerSpec:
    """One worker: how long a task takes, how often it crashes, how often its ack gets lost."""

    name: str
    mean_ms: float = 20.0           # mean processing time (exponential)
    crash_prob: float = 0.0         # per task: dies inside process()
    ack_loss_prob: float = 0.0      # per delivery: the connection drops after the handler answered
    restart_ms: float = 200.0       # a crashed worker comes back after this long

    def __post_init__(self) -> None:
        if self.mean_ms <= 0:
            raise ValueError(f"worker {self.name}: mean_ms must be > 0, got {self.mean_ms}")
        for what in ("crash_prob", "ack_loss_prob"):
            if not 0.0 <= getattr(self, what) <= 1.0:
                raise ValueError(f"worker {self.name}: {what} is a probability in [0, 1], got {getattr(self, what)}")


@dataclass
class WorkConfig:
    """A work-queue experiment."""

    workers: list[WorkerSpec]
    n_messages: int = 100
    publish_every_ms: float = 5.0
    prefetch: int = 1
    failure_prob: float = 0.0       # per process() call: ProcessingFailed
    max_time_ms: float = 120_000.0  # stop here even if work is left
    sample_every_ms: float = 50.0

    @classmethod
    def uniform(cls, n_workers: int = 3, *, mean_ms: float = 20.0, crash_prob: float = 0.0,
                ack_loss_prob: float = 0.0, **kwargs: Any) -> "WorkConfig":
        if n_workers < 1:
            raise ValueError(f"a work queue needs at least one worker, got {n_workers}")
        return cls([WorkerSpec(f"w{i + 1}", mean_ms, crash_prob, ack_loss_prob) for i in range(n_workers)], **kwargs)


@dataclass
class DeliveryRecord:
    """What happened to one delivery (the checks and the plots read these)."""

    time: float
    message_id: str
    worker: str
    redelivered: bool
    outcome: str = ""                 # done | failed | crashed
    answered: list[str] = field(default_factory=list)   # channel calls, in order: ack, nack, nack-drop
    ack_lost: bool = False
    finished: float = 0.0

    def describe(self) -> str:
        again = " (redelivered)" if self.redelivered else ""
        lost = ", then the connection dropped before the ack reached the broker" if self.ack_lost else ""
        calls = ", ".join(self.answered) or "nothing"
        work = f"process() {self.outcome}" if self.outcome else "process() not called"
        return f"t={self.time:.0f} ms {self.message_id}{again} to {self.worker}: {work}, the handler answered {calls}{lost}"


@dataclass
class WorkRun:
    """The outcome of a work-queue run."""

    seed: int
    message_ids: list[str]
    effects: dict[str, int]                  # message id -> times its work was done
    deliveries: list[DeliveryRecord]
    depth: list[tuple[float, int, int]]      # (time, ready, unacked)
    per_worker: dict[str, int]               # tasks done per worker
    crashes: list[tuple[float, str]]
    finished_at: float
    left_in_queue: int
    dropped: int                             # nacked without requeue and no DLX: gone

    @property
    def lost(self) -> list[str]:
        return [m for m in self.message_ids if self.effects.get(m, 0) == 0]

    @property
    def duplicated(self) -> list[str]:
        return [m for m in self.message_ids if self.effects.get(m, 0) > 1]

    def summary(self) -> dict[str, Any]:
        return {"messages": len(self.message_ids), "deliveries": len(self.deliveries),
                "redeliveries": sum(d.redelivered for d in self.deliveries), "crashes": len(self.crashes),
                "lost": len(self.lost), "done twice or more": len(self.duplicated),
                "finished at (ms)": round(self.finished_at, 1)}


class Channel:
    """What a handler answers the broker with. Calls are applied when the task's time has passed."""

    def __init__(self, record: DeliveryRecord, delivery: Delivery) -> None:
        self._record = record
        self._delivery = delivery
        self.ops: list[tuple[str, bool]] = []
        self.closed = False

    def _check(self, delivery: Any) -> bool:
        if self.closed:
            return False                       # the worker is dead: nothing reaches the broker
        if delivery is not self._delivery and getattr(delivery, "delivery_tag", None) != self._delivery.delivery_tag:
            raise ValueError(f"ack/nack the delivery you were given ({self._delivery!r}), not {delivery!r}")
        return True

    def ack(self, delivery: Delivery) -> None:
        """Done: the broker may delete the message."""
        if self._check(delivery):
            self.ops.append(("ack", False))
            self._record.answered.append("ack")

    def nack(self, delivery: Delivery, requeue: bool = True) -> None:
        """Not done: requeue it (``requeue=True``) or drop / dead-letter it."""
        if self._check(delivery):
            self.ops.append(("nack", bool(requeue)))
            self._record.answered.append("nack" if requeue else "nack-drop")

    def reject(self, delivery: Delivery, requeue: bool = True) -> None:
        self.nack(delivery, requeue)


Handler = Callable[[Delivery, Channel, Callable[[Any], Any], Seen], Any]


def handle(delivery: Delivery, channel: Channel, process: Callable[[Any], Any], seen: Seen) -> None:
    """msglib's idempotent consumer: skip what is done, ack only after the work, requeue failures.

    * a message id already in ``seen`` was done before (its ack got lost):
      acknowledge it again, do not redo the work;
    * otherwise process; on a transient failure ask for a redelivery;
    * remember the id *after* the work succeeded, then acknowledge.
    """
    key = delivery.message_id
    if key in seen:
        channel.ack(delivery)
        return
    try:
        process(delivery.body)
    except ProcessingFailed:
        channel.nack(delivery, requeue=True)
        return
    seen.add(key)
    channel.ack(delivery)


def simulate_work_queue(config: WorkConfig, seed: int = 0, *, handle: Handler = handle,
                        dispatcher: Dispatcher = round_robin, queue_arguments: dict | None = None,
                        broker: Broker | None = None) -> WorkRun:
    """Run the work queue; ``handle`` and ``dispatcher`` are the seams."""
    sim = Simulation(seed) if broker is None else broker.sim
    broker = broker or Broker(sim, dispatcher=dispatcher)
    q = broker.declare_queue("tasks", queue_arguments)
    fail_rng = sim.random("failures")
    seen = Seen()
    effects: dict[str, int] = {}
    records: list[DeliveryRecord] = []
    crashes: list[tuple[float, str]] = []
    per_worker = {w.name: 0 for w in config.workers}
    depth: list[tuple[float, int, int]] = []
    ids = [f"task-{i}" for i in range(config.n_messages)]

    class Worker:
        def __init__(self, spec: WorkerSpec) -> None:
            self.spec = spec
            self.rng = sim.random(f"worker/{spec.name}")
            self.inbox: deque[Delivery] = deque()
            self.busy = False
            self.tag: str | None = None
            self.start()

        def start(self) -> None:
            self.tag = broker.consume("tasks", self.on_delivery, prefetch=config.prefetch,
                                      consumer_tag=f"{self.spec.name}#{len(crashes)}")

        def on_delivery(self, d: Delivery) -> None:
            self.inbox.append(d)
            if not self.busy:
                self.next()

        def next(self) -> None:
            if not self.inbox:
                self.busy = False
                return
            self.busy = True
            d = self.inbox.popleft()
            rec = DeliveryRecord(sim.now, d.message_id, self.spec.name, d.redelivered)
            records.append(rec)
            channel = Channel(rec, d)
            spent = [0.0]
            crashed = [False]

            def process(body: Any) -> Any:
                if channel.closed:
                    raise WorkerCrashed(f"{self.spec.name} is dead")
                spent[0] += self.rng.expovariate(1.0 / self.spec.mean_ms)
                if self.rng.random() < self.spec.crash_prob:
                    crashed[0] = True
                    channel.closed = True
                    rec.outcome = "crashed"
                    raise WorkerCrashed(f"{self.spec.name} died while processing {d.message_id}")
                if fail_rng.random() < config.failure_prob:
                    rec.outcome = "failed"
                    raise ProcessingFailed(f"{d.message_id}: transient failure, try again")
                rec.outcome = "done"
                effects[d.message_id] = effects.get(d.message_id, 0) + 1
                per_worker[self.spec.name] += 1
                return body

            try:
                handle(d, channel, process, seen)
            except WorkerCrashed:
                crashed[0] = True
            if not crashed[0] and self.rng.random() < self.spec.ack_loss_prob:
                rec.ack_lost = True
            sim.schedule(spent[0], self.finish, d, channel, crashed[0] or rec.ack_lost, rec)

        def finish(self, d: Delivery, channel: Channel, dies: bool, rec: DeliveryRecord) -> None:
            rec.finished = sim.now
            if not rec.ack_lost:
                for op, requeue in channel.ops:       # what the handler said, in order
                    try:
                        if op == "ack":
                            broker.ack(d.delivery_tag)
                        else:
                            broker.nack(d.delivery_tag, requeue=requeue)
                    except Exception:                 # a second answer for the same delivery: ignored
                        pass
            if dies:
                crashes.append((sim.now, self.spec.name))
                broker.cancel(self.tag)               # the channel closes: unacked messages go back
                self.inbox.clear()
                self.busy = False
                sim.schedule(self.spec.restart_ms, self.start)
                return
            self.next()

    published = [0]

    def publish(i: int) -> None:
        broker.publish("", "tasks", {"task": i}, message_id=ids[i])
        published[0] += 1
        if i + 1 < config.n_messages:
            sim.schedule(config.publish_every_ms, publish, i + 1)

    def sample() -> None:
        depth.append((sim.now, q.messages_ready, q.messages_unacknowledged))
        sim.schedule(config.sample_every_ms, sample)

    workers = [Worker(spec) for spec in config.workers]
    if config.n_messages:
        sim.at(0.0, publish, 0)
    sim.at(0.0, sample)

    def done() -> bool:
        # everything published, nothing left with the broker, no worker in the middle of a task
        return published[0] == config.n_messages and q.messages == 0 and not any(w.busy for w in workers)

    sim.run_until(done, until=config.max_time_ms)
    depth.append((sim.now, q.messages_ready, q.messages_unacknowledged))
    return WorkRun(seed, ids, effects, records, depth, per_worker, crashes, sim.now, q.messages,
                   sum(q.dropped.values()))


# ---------------------------------------------------------------------- consumer groups
def group_queue(broker: Broker, exchange: str, group: str, member: str) -> str:
    """msglib's answer: one durable queue per *group*, bound to the fanout exchange.

    Every member of a group gets the same queue (declaring it again is
    harmless), so they compete for its messages; another group has its own
    queue, so it gets its own copy of every message.
    """
    name = f"{exchange}.{group}"
    broker.declare_queue(name)
    broker.bind(name, exchange)
    return name


GroupQueue = Callable[[Broker, str, str, str], str]


@dataclass
class GroupRun:
    """Who received what: ``received[(group, member)]`` lists the message ids, in order."""

    groups: dict[str, list[str]]
    message_ids: list[str]
    received: dict[tuple[str, str], list[str]]
    queues: dict[tuple[str, str], str]

    def per_group(self, group: str) -> list[str]:
        return [m for member in self.groups[group] for m in self.received[(group, member)]]

    def counts(self) -> dict[tuple[str, str], int]:
        return {k: len(v) for k, v in self.received.items()}


def simulate_groups(groups: dict[str, int | list[str]], n_messages: int = 12, seed: int = 0, *,
                    group_queue: GroupQueue = group_queue, exchange: str = "events",
                    mean_ms: float = 10.0, publish_every_ms: float = 5.0,
                    topic_matcher: Callable[[str, str], bool] = topic_matches) -> GroupRun:
    """Publish ``n_messages`` to a fanout exchange; each group's members subscribe via ``group_queue``.

    ``groups`` maps a group name to its member count (or member names). Members
    take ``mean_ms`` per message and ack after it (prefetch 1), so a group
    spreads its load over its members.
    """
    sim = Simulation(seed)
    broker = Broker(sim, topic_matcher=topic_matcher)
    broker.declare_exchange(exchange, "fanout")
    members = {g: ([f"{g}-{i + 1}" for i in range(m)] if isinstance(m, int) else list(m)) for g, m in groups.items()}
    received: dict[tuple[str, str], list[str]] = {(g, m): [] for g, ms in members.items() for m in ms}
    queues: dict[tuple[str, str], str] = {}
    rng = sim.random("members")

    def subscribe(g: str, m: str) -> None:
        name = group_queue(broker, exchange, g, m)
        if not isinstance(name, str) or name not in broker.queues:
            raise ValueError(f"group_queue returned {name!r} for group {g!r}, member {m!r}; it must return the "
                             f"name of a queue it declared (queues now: {sorted(broker.queues)})")
        queues[(g, m)] = name

        def on_delivery(d: Delivery) -> None:
            received[(g, m)].append(d.message_id)
            sim.schedule(rng.expovariate(1.0 / mean_ms), broker.ack, d.delivery_tag)

        broker.consume(name, on_delivery, prefetch=1, consumer_tag=f"{g}/{m}")

    for g, ms in members.items():
        for m in ms:
            subscribe(g, m)
    ids = [f"evt-{i}" for i in range(n_messages)]
    def publish(i: int) -> None:
        broker.publish(exchange, "", {"n": i}, message_id=ids[i])

    for i in range(n_messages):
        sim.at(i * publish_every_ms, publish, i)
    sim.run()
    return GroupRun(members, ids, received, queues)


__all__ = ["ProcessingFailed", "WorkerCrashed", "Seen", "WorkerSpec", "WorkConfig", "WorkRun", "DeliveryRecord",
           "Channel", "handle", "simulate_work_queue", "group_queue", "simulate_groups", "GroupRun"]
