"""Seeded runs of a consumer group under crashes, pauses and membership changes, checked for loss and duplicates.

:func:`run_group` is what the tests, the exercise checks, the benchmark and
the notebook's pictures run:

1. a :class:`LocalBroker` (or a :class:`~msglib.cluster.Cluster`) with one topic;
   a producer appends the integers 0, 1, 2, ... (each once) over time;
2. each consumer *application* loops ``step(consumer, process)``: poll, hand
   every record to ``process``, commit -- in the order ``step`` chooses.
   That order is the delivery guarantee: process-then-commit is
   at-least-once, commit-then-process is at-most-once;
3. a schedule of :class:`GroupEvent`\\ s: consumers join, leave (cleanly),
   crash in the middle of processing a record, or stall (a long GC pause:
   the process is frozen, its heartbeats stop, the group moves on without it,
   and it wakes up believing it still owns its partitions -- a *zombie*);
   crashed applications are restarted after ``restart_after_ms``;
4. when production stops, the survivors drain the topic;
5. the verdict compares what was produced with what was processed:
   ``lost`` (never processed) and ``duplicated`` (processed more than once).

Every application's polls, commits and processed records go into one
history (``msglib.sim.history``), so ``msglib.check`` can look at it too.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from msglib.client.consumer import ConsumerRebalanceListener, KafkaConsumer
from msglib.cluster import Cluster, ClusterConfig
from msglib.groups.config import GroupConfig
from msglib.groups.coordinator import coordinator_for
from msglib.groups.errors import CommitFailedError, ConsumerCrashed
from msglib.groups.lag import partition_view
from msglib.groups.local import LocalBroker
from msglib.protocol import TopicPartition
from msglib.protocol.errors import KafkaError
from msglib.sim.history import OK, History

TOPIC = "events"
GROUP = "workers"

Step = Callable[[KafkaConsumer, Callable[[Any], None]], None]


def at_least_once_step(consumer: KafkaConsumer, process: Callable[[Any], None]) -> None:
    """Process, then commit: a crash in between means those records come again (duplicates, no loss)."""
    batch = consumer.poll(timeout_ms=20)
    for records in batch.values():
        for record in records:
            process(record)
    if batch:
        consumer.commit()


def at_most_once_step(consumer: KafkaConsumer, process: Callable[[Any], None]) -> None:
    """Commit, then process: a crash in between loses the rest of the batch (no duplicates)."""
    batch = consumer.poll(timeout_ms=20)
    if batch:
        consumer.commit()
    for records in batch.values():
        for record in records:
            process(record)


@dataclass(frozen=True)
class GroupEvent:
    """``kind``: "join" (a new consumer), "leave" (one closes cleanly once its current batch is processed), "crash" (one dies while processing
    its next record), "pause" (one freezes for ``duration_ms`` while processing its next record),
    "coordinator_crash" (the coordinator is down for ``duration_ms``). ``target``: which running
    application (an index into those running, oldest first; None = drawn from the seed)."""

    time: float
    kind: str
    target: int | None = None
    duration_ms: float = 0.0

    def describe(self) -> str:
        who = "" if self.target is None else f" #{self.target}"
        extra = f" for {self.duration_ms:g} ms" if self.duration_ms else ""
        return f"t={self.time:g} ms: {self.kind}{who}{extra}"


KINDS = ("join", "leave", "crash", "pause", "coordinator_crash")


@dataclass
class Processed:
    app: str
    time: float
    partition: int
    offset: int
    value: int


class CommitOnRevoke(ConsumerRebalanceListener):
    """Commit a partition's position when it is taken away (the usual listener with manual commits)."""

    def __init__(self) -> None:
        self.consumer: KafkaConsumer | None = None

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        offsets = self.consumer._consumed_offsets(revoked)
        if offsets:
            try:
                self.consumer.commit(offsets)
            except (CommitFailedError, KafkaError):
                pass


class App:
    """One consumer application: a KafkaConsumer, its processing function, and its pending fault."""

    def __init__(self, run: "GroupRun", name: str) -> None:
        self.run = run
        self.name = name
        self.consumer = run.new_consumer(name)
        if run.commit_on_revoke:
            listener = CommitOnRevoke()
            listener.consumer = self.consumer
            self.consumer.subscribe([TOPIC], listener=listener)
        self.alive = True
        self.fault: GroupEvent | None = None      # a crash or pause armed for a coming record
        self.leaving = False                      # a clean shutdown armed for the end of the next batch
        self.leaving_steps = 0
        self.frozen = False                       # inside a GC pause
        self.started = run.sim.now
        self._poll_count = -1
        self._index_in_batch = 0                 # which record of the current poll's batch this is
        self._since_armed = 0

    def _take_fault(self) -> GroupEvent | None:
        """An armed crash fires inside a batch (on its 2nd record or later) when there is one, so that
        the batch is half done: exactly where committing before or after processing makes a difference.
        (After 20 records without such a batch, it fires anyway.) A pause fires at once."""
        polls = self.consumer.stats["polls"]
        if polls != self._poll_count:
            self._poll_count, self._index_in_batch = polls, 0
        else:
            self._index_in_batch += 1
        fault = self.fault
        if fault is None:
            return None
        self._since_armed += 1
        if fault.kind == "crash" and self._index_in_batch == 0 and self._since_armed < 20:
            return None
        self.fault = None
        self._since_armed = 0
        return fault

    def process(self, record: Any) -> None:
        """What the application does with one record (its "side effect" is recorded as processed)."""
        if not hasattr(record, "offset") or not hasattr(record, "partition"):
            raise TypeError(f"process() takes a record as poll() returned it (a ConsumerRecord), not "
                            f"{type(record).__name__} {record!r}")
        fault = self._take_fault()
        run = self.run
        if fault is not None and fault.kind == "crash":
            run.note(f"{self.name} crashes while processing {record.topic}-{record.partition}@{record.offset}")
            self.consumer.crash()
            self.alive = False
            raise ConsumerCrashed(self.name)
        if fault is not None and fault.kind == "pause":
            run.note(f"{self.name} stalls {fault.duration_ms:g} ms (GC pause) at "
                     f"{record.topic}-{record.partition}@{record.offset}")
            # Frozen: no heartbeat, no message handled, this step does not go on. The other
            # applications keep running meanwhile (they are other processes).
            self.consumer.node.pause()
            self.frozen = True
            end = run.sim.now + fault.duration_ms
            while run.sim.now < end:
                run.round(until=end)
            self.frozen = False
            self.consumer.node.resume()
        run.processed.append(Processed(self.name, run.sim.now, record.partition, record.offset, record.value))
        if run.history is not None:
            op = run.history.invoke(run.sim.now, self.name, "process", {"partition": record.partition,
                                                                      "offset": record.offset,
                                                                      "value": record.value})
            run.history.complete(op, run.sim.now, OK)


@dataclass
class GroupRunResult:
    params: dict
    produced: list[tuple[int, int, int]]        # (partition, offset, value)
    processed: list[Processed]
    history: History
    trace: list[dict]                            # the coordinator's record of states, assignments, commits
    assignment_logs: dict[str, list]             # app -> [(time, partitions owned from then on)]
    app_spans: dict[str, tuple[float, float, str]]  # app -> (started, ended, how it ended)
    events: list[GroupEvent]
    notes: list[tuple[float, str]]
    committed: dict[int, int | None]             # partition -> the group's final committed offset
    end_offsets: dict[int, int]
    commit_failures: int
    drained: bool
    duration_ms: float
    start_ms: float = 0.0                        # simulated time when the run started (a Cluster boots first)
    broker: Any = None

    @property
    def end_ms(self) -> float:
        return self.start_ms + self.duration_ms

    @property
    def lost(self) -> list[int]:
        """Values produced but never processed, in order."""
        done = {p.value for p in self.processed}
        return [v for _, _, v in self.produced if v not in done]

    @property
    def duplicated(self) -> dict[int, int]:
        """Value -> how many times it was processed, for values processed more than once."""
        counts = Counter(p.value for p in self.processed)
        return {v: n for v, n in sorted(counts.items()) if n > 1}

    def first_duplicate(self) -> str | None:
        dup = self.duplicated
        if not dup:
            return None
        v = next(iter(dup))
        who = [f"{p.app} at t={p.time:.0f} ms" for p in self.processed if p.value == v]
        where = next((f"partition {p} offset {o}" for p, o, val in self.produced if val == v), "?")
        return f"record {v} ({where}) was processed {dup[v]} times: by " + ", ".join(who)

    def first_loss(self) -> str | None:
        lost = self.lost
        if not lost:
            return None
        v = lost[0]
        where = next((f"partition {p} offset {o}" for p, o, val in self.produced if val == v), "?")
        return f"record {v} ({where}) was never processed ({len(lost)} records lost in all)"

    def summary(self) -> str:
        return (f"seed {self.params['seed']}: {len(self.produced)} produced, {len(self.processed)} processed, "
                f"{len(self.lost)} lost, {len(self.duplicated)} duplicated, {self.commit_failures} failed commits, "
                f"{'drained' if self.drained else 'NOT drained'} at t={self.duration_ms:.0f} ms")

    def story(self) -> str:
        """The faults and rebalances, one line each (the smallest account of what happened)."""
        lines = [f"{t:8.0f} ms  {what}" for t, what in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"GroupRunResult({self.summary()})"


class GroupRun:
    """Builds and drives one run; :func:`run_group` is the usual entry point."""

    def __init__(self, seed: int, *, partitions: int, records: int, produce_every_ms: float, burst: int,
                 consumer_config: dict, step: Step, restart_after_ms: float | None, history: History,
                 broker: LocalBroker | None, group_config: GroupConfig | None,
                 validate_offset_commit: Callable | None, backend: str, commit_on_revoke: bool = False,
                 log_config: Any = None, retention_every_ms: float = 100.0) -> None:
        self.seed = seed
        self.commit_on_revoke = commit_on_revoke
        self.step = step
        self.history = history
        self.restart_after_ms = restart_after_ms
        self.consumer_config = consumer_config
        self.backend = backend
        self.notes: list[tuple[float, str]] = []
        self.processed: list[Processed] = []
        self.produced: list[tuple[int, int, int]] = []
        self.apps: list[App] = []
        self.ended: dict[str, tuple[float, float, str]] = {}
        self.commit_failures = 0
        self._count = 0
        if backend == "local":
            self.broker = broker or LocalBroker(seed, fast=True, config=group_config, history=history,
                                                validate_offset_commit=validate_offset_commit)
            options = {"config": log_config} if log_config is not None else {}
            self.topic = self.broker.create_topic(TOPIC, partitions, **options)
            self.coordinator = self.broker.coordinator
            if log_config is not None and (log_config.retention_bytes >= 0 or log_config.retention_ms >= 0):
                self.retention_every_ms = retention_every_ms
                self.broker.sim.schedule(retention_every_ms, self._retention)
        else:
            self.broker = Cluster(3, seed=seed, config=ClusterConfig.fast(min_insync_replicas=2), history=history)
            self.coordinator = coordinator_for(self.broker, group_config, **(
                {"validate_offset_commit": validate_offset_commit} if validate_offset_commit else {}))
            self.broker.create_topic(TOPIC, partitions, 3)
            self.producer = self.broker.producer(value_serializer=lambda v: str(v).encode(), client_id="producer")
        self.sim = self.broker.sim
        self.partitions = partitions
        self.records = records
        self.produce_every_ms = produce_every_ms
        self.burst = burst
        self.rng = self.sim.random("group-workload")

    def _retention(self) -> None:
        """The broker's retention check: old segments go, and the log start offset moves up."""
        for log in self.topic.partitions:
            log.apply_retention()
        self.sim.schedule(self.retention_every_ms, self._retention)

    def note(self, what: str) -> None:
        self.notes.append((self.sim.now, what))

    # -- the pieces --------------------------------------------------------------------------
    def new_consumer(self, name: str) -> KafkaConsumer:
        config = dict(group_id=GROUP, client_id=name, auto_offset_reset="earliest", enable_auto_commit=False,
                      value_deserializer=int, history=self.history)
        config.update(self.consumer_config)
        return KafkaConsumer(TOPIC, cluster=self.broker, **config)

    def start_app(self) -> App:
        self._count += 1
        app = App(self, f"c{self._count}")
        self.apps.append(app)
        self.note(f"{app.name} starts")
        return app

    def _produce(self, first: int) -> None:
        """Append a burst of records (values first, first+1, ...), spread over the partitions."""
        for i in range(first, min(first + self.burst, self.records)):
            partition = i % self.partitions
            if self.backend == "local":
                meta = self.broker.send(TOPIC, str(i).encode(), partition=partition)
                self.produced.append((partition, meta.offset, i))
            else:
                def acked(meta: Any, value: int = i) -> None:
                    self.produced.append((meta.partition, meta.offset, value))
                self.producer.send(TOPIC, i, partition=partition).add_callback(acked)
        if first + self.burst < self.records:
            self.sim.schedule(self.produce_every_ms, self._produce, first + self.burst)

    def live(self) -> list[App]:
        return [a for a in self.apps if a.alive]

    def runnable(self) -> list[App]:
        return [a for a in self.apps if a.alive and not a.frozen]

    def _apply(self, event: GroupEvent) -> None:
        live = [a for a in self.live() if not a.leaving]     # one leaving is no longer a target
        if event.kind == "join":
            self.start_app()
            return
        if event.kind == "coordinator_crash":
            self.note(f"the group coordinator crashes for {event.duration_ms:g} ms")
            self.coordinator.crash()
            self.sim.schedule(event.duration_ms, self._restart_coordinator)
            return
        if not live:
            return
        app = live[event.target % len(live)] if event.target is not None else self.rng.choice(live)
        if event.kind == "leave":
            app.leaving = True     # like a SIGTERM handler: it finishes the batch in hand, then closes
        elif event.kind in ("crash", "pause"):
            app.fault = event
        else:
            raise ValueError(f"unknown event kind {event.kind!r}; use one of {KINDS}")

    def _restart_coordinator(self) -> None:
        self.coordinator.restart()
        self.note("the group coordinator is back (groups and offsets reloaded from its log)")

    def _end_offsets(self) -> dict[int, int]:
        return {p: partition_view(self.broker, TopicPartition(TOPIC, p))[1] for p in range(self.partitions)}

    def _drained(self) -> bool:
        if len(self.produced) < self.records:
            return False
        ends = self._end_offsets()
        for p, end in ends.items():
            if self.coordinator.committed(GROUP, TopicPartition(TOPIC, p)) != end:
                return False
        return True

    # -- the loop ---------------------------------------------------------------------------
    def run(self, consumers: int, events: list[GroupEvent], duration_ms: float, drain_ms: float,
            tick_ms: float) -> GroupRunResult:
        """Start ``consumers`` applications and production, apply ``events`` at their times, drain, judge."""
        self.begin(consumers)
        self.tick_ms = tick_ms
        self.pending = sorted(events, key=lambda e: e.time)
        deadline = self.start_ms + duration_ms + drain_ms
        drained = False
        while self.sim.now < deadline:
            self.round()
            if self.sim.now - self.start_ms >= duration_ms and not self.pending and self._drained():
                drained = True
                break
        return self.result(events, drained)

    def begin(self, consumers: int) -> None:
        for _ in range(consumers):
            self.start_app()
        if self.records:
            self.sim.schedule(0.0, self._produce, 0)
        self.start_ms = self.sim.now

    tick_ms = 5.0
    pending: list[GroupEvent] = []

    def round(self, until: float | None = None) -> None:
        """Apply the events that are due, then every running application takes one step
        (time moves on by at least ``tick_ms``, without passing ``until``)."""
        while self.pending and self.pending[0].time <= self.sim.now - self.start_ms:
            self._apply(self.pending.pop(0))
        before = self.sim.now
        for app in self.runnable():
            if until is not None and self.sim.now >= until:
                break
            if not app.alive or app.frozen:
                continue     # it crashed or froze meanwhile (inside another application's GC pause)
            self._step(app)
        if self.sim.now == before:
            step_to = self.sim.now + self.tick_ms
            self.sim.run(until=step_to if until is None else min(step_to, until))

    def advance(self, ms: float) -> None:
        """Let the applications run for ``ms`` of simulated time (for interactive use)."""
        end = self.sim.now + ms
        while self.sim.now < end:
            self.round()

    def crash_now(self, app: App) -> None:
        """Kill an application at once (between two records), as ``kill -9`` would."""
        self.note(f"{app.name} is killed")
        app.consumer.crash()
        app.alive = False
        self.ended[app.name] = (app.started, self.sim.now, "crashed")

    def result(self, events: list[GroupEvent] = (), drained: bool = False) -> GroupRunResult:
        ended = dict(self.ended)
        for app in self.apps:
            ended.setdefault(app.name, (app.started, self.sim.now, "running" if app.alive else "crashed"))
        committed = {p: self.coordinator.committed(GROUP, TopicPartition(TOPIC, p)) for p in range(self.partitions)}
        return GroupRunResult(
            params={}, produced=sorted(self.produced, key=lambda x: x[2]), processed=self.processed,
            history=self.history, trace=list(self.coordinator.trace),
            assignment_logs={a.name: list(a.consumer.assignment_log) for a in self.apps},
            app_spans=ended, events=list(events), notes=list(self.notes), committed=committed,
            end_offsets=self._end_offsets(), commit_failures=self.commit_failures, drained=drained,
            duration_ms=self.sim.now - self.start_ms, start_ms=self.start_ms, broker=self.broker)

    def _leave(self, app: App) -> None:
        self.note(f"{app.name} shuts down cleanly")
        try:
            app.consumer.close()
        except KafkaError:
            pass
        app.alive = False
        self.ended[app.name] = (app.started, self.sim.now, "left")

    def _step(self, app: App) -> None:
        done_before = len(self.processed)
        try:
            self.step(app.consumer, app.process)
            if app.leaving:
                # A clean shutdown comes right after a step that processed records (so whatever the step
                # leaves uncommitted shows), or after 20 steps without any.
                app.leaving_steps += 1
                if len(self.processed) > done_before or app.leaving_steps >= 20:
                    self._leave(app)
        except ConsumerCrashed:
            app.alive = False
            self.ended[app.name] = (app.started, self.sim.now, "crashed")
            if self.restart_after_ms is not None:
                self.sim.schedule(self.restart_after_ms, self._restart, app.name)
        except CommitFailedError as exc:
            self.commit_failures += 1
            self.note(f"{app.name}: commit failed ({exc.reason or 'rebalanced'})")

    def _restart(self, crashed: str) -> None:
        app = self.start_app()
        self.note(f"{app.name} replaces {crashed}")


def random_events(seed: int, duration_ms: float, *, kinds: tuple[str, ...] = ("crash",), count: int = 3,
                  pause_ms: float = 1_000.0, coordinator_down_ms: float = 300.0) -> list[GroupEvent]:
    """``count`` events of the given kinds at seeded times in the first 80% of the run."""
    import random

    rng = random.Random(f"group-events/{seed}")
    out = []
    for _ in range(count):
        kind = rng.choice(kinds)
        duration = pause_ms if kind == "pause" else coordinator_down_ms if kind == "coordinator_crash" else 0.0
        out.append(GroupEvent(round(rng.uniform(0.05, 0.8) * duration_ms), kind, rng.randrange(8), duration))
    return sorted(out, key=lambda e: e.time)


def run_group(seed: int = 0, *, partitions: int = 4, records: int = 200, consumers: int = 3,
              events: list[GroupEvent] | str | None = None, step: Step = at_least_once_step,
              duration_ms: float = 2_000.0, burst: int = 8, drain_ms: float = 6_000.0,
              restart_after_ms: float | None = 200.0, consumer_config: dict | None = None,
              group_config: GroupConfig | None = None, validate_offset_commit: Callable | None = None,
              backend: str = "local", history: History | None = None, tick_ms: float = 5.0,
              commit_on_revoke: bool = False, log_config: Any = None) -> GroupRunResult:
    """One seeded run (see the module docstring). ``events="random"`` draws three crashes from the seed.

    ``log_config`` (local backend): the topic's LogConfig; with a retention limit, retention runs
    every 100 ms, so slow groups find their committed offsets deleted. ``commit_on_revoke``: each
    application commits a partition's position in
    ``on_partitions_revoked`` (what manual-commit applications do with
    cooperative rebalancing, where commits during a rebalance fail).
    """
    if backend not in ("local", "cluster"):
        raise ValueError(f"backend must be 'local' or 'cluster', not {backend!r}")
    params = dict(seed=seed, partitions=partitions, records=records, consumers=consumers, duration_ms=duration_ms,
                  backend=backend, burst=burst)
    if events == "random":
        events = random_events(seed, duration_ms)
    events = list(events or [])
    for e in events:
        if e.kind not in KINDS:
            raise ValueError(f"unknown event kind {e.kind!r}; use one of {KINDS}")
    history = history if history is not None else History(meta={"seed": seed})
    if not isinstance(burst, int) or burst < 1:
        raise ValueError(f"burst must be an int >= 1, not {burst!r}")
    # Production spreads over the first 80% of the run, `burst` records at a time.
    every = max(0.1, 0.8 * duration_ms * burst / max(1, records))
    run = GroupRun(seed, partitions=partitions, records=records, produce_every_ms=every, burst=burst,
                   consumer_config=consumer_config or {}, step=step, restart_after_ms=restart_after_ms,
                   history=history, broker=None, group_config=group_config,
                   validate_offset_commit=validate_offset_commit, backend=backend, commit_on_revoke=commit_on_revoke,
                   log_config=log_config)
    result = run.run(consumers, events, duration_ms, drain_ms, tick_ms)
    result.params = params
    return result


def ownership_intervals(result: GroupRunResult) -> list[tuple[str, int, float, float]]:
    """``(app, partition, start_ms, end_ms)`` for every stretch of time an app believed it owned a partition."""
    out = []
    end_of_run = result.end_ms
    for app, log in result.assignment_logs.items():
        span_end = result.app_spans.get(app, (0.0, end_of_run, ""))[1]
        for i, (t, tps) in enumerate(log):
            t_next = log[i + 1][0] if i + 1 < len(log) else span_end
            for tp in tps:
                out.append((app, tp.partition, t, max(t, t_next)))
    return out


def stop_the_world_ms(result: GroupRunResult) -> float:
    """Total partition-milliseconds in which some partition had no owner, after the group first became Stable."""
    intervals = ownership_intervals(result)
    first = min((s for _, _, s, _ in intervals), default=math.inf)
    if first == math.inf:
        return 0.0
    end = result.end_ms
    total = 0.0
    for p in range(result.params["partitions"]):
        spans = sorted((s, e) for _, q, s, e in intervals if q == p)
        covered_until = first
        for s, e in spans:
            if s > covered_until:
                total += s - covered_until
            covered_until = max(covered_until, e)
        total += max(0.0, end - covered_until)
    return total
