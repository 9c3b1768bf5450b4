"""A Kafka Streams-like application on msglib's cluster, run under seeded crashes and judged.

:func:`run_streams` builds a 3-broker :class:`~msglib.cluster.Cluster`, writes seeded input records, and runs
``instances`` application instances. Each instance is one consumer in the group ``application_id`` (it is
given partitions by the group coordinator; one task per sub-topology and partition number) and one producer:

* **at_least_once**: the commit step sends the buffered changelog writes, flushes, then commits the input
  offsets with the consumer. A crash between the two replays inputs whose effect is already in the changelog:
  counts go up twice.
* **exactly_once_v2** (KIP-447): one transactional producer per instance; every output, repartition and
  changelog record of a commit interval and the input offsets (``send_offsets_to_transaction``) are in one
  transaction. A crash aborts all of it; the new owner restores the store from the read_committed changelog
  and reprocesses from the committed offsets: the same records, the same state, the same output.

When the group's generation changes, an instance aborts its open transaction and rebuilds every task: the
store from its changelog (from a standby's copy when it keeps one, reading only what the standby lacks), the
stream time and the positions from the committed offsets. (Kafka commits before giving tasks up and rebuilds
only after a dirty close; rebuilding always is slower, and gives the same guarantees.)

Seams: ``commit=`` (the commit step, exercise 4), ``restore=`` (reading a changelog into a store, exercise 2),
and the topology's own (``windows_fn``, the versioned table's ``lookup``: exercises 1 and 3).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable

from msglib.check.streams import StreamsCheckResult, check_streams
from msglib.cluster import Cluster, ClusterConfig
from msglib.groups.errors import CommitFailedError
from msglib.log.partitioner import default_partition
from msglib.protocol import TopicPartition
from msglib.protocol.errors import KafkaError, KafkaTimeoutError, ProducerFencedError
from msglib.streams.driver import TestDriver
from msglib.streams.stores import decode, decode_key, encode, restore_from_changelog
from msglib.streams.task import NO_TIME, StreamTask, TaskId, stream_time_of
from msglib.streams.topology import Topology
from msglib.txn.eos import AppCrashed

GUARANTEES = ("at_least_once", "exactly_once_v2")
POINTS = ("process", "changelog", "flush", "consumer_commit", "send_offsets", "commit")

Commit = Callable[[list, Any, Any], None]
Restore = Callable[[Any, TopicPartition, dict, int], dict]


def exactly_once_commit(tasks: list[StreamTask], producer: Any, consumer: Any) -> None:
    """EOS v2's commit: changelog writes, then the input offsets, in the open transaction; then commit it."""
    for task in tasks:
        for w in task.changelog_writes():
            producer.send(w.topic, w.value, key=w.key, partition=w.partition, timestamp_ms=w.timestamp)
    offsets = {}
    for task in tasks:
        offsets.update(task.offsets_to_commit())
    producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
    producer.commit_transaction()


def at_least_once_commit(tasks: list[StreamTask], producer: Any, consumer: Any) -> None:
    """At-least-once: changelog writes, wait for every acknowledgement, then commit the offsets."""
    for task in tasks:
        for w in task.changelog_writes():
            producer.send(w.topic, w.value, key=w.key, partition=w.partition, timestamp_ms=w.timestamp)
    producer.flush()
    offsets = {}
    for task in tasks:
        offsets.update(task.offsets_to_commit())
    consumer.commit(offsets)


@dataclass(frozen=True)
class Crash:
    """At ``time`` ms, instance ``target`` (an index into the live ones) dies (kill -9) at its next ``point``
    (None: the ``after``-th point from then on). ``point="process"`` strikes after a record was processed:
    in the middle of a window."""

    time: float
    target: int = 0
    point: str | None = None
    after: int = 0

    def describe(self) -> str:
        return f"t={self.time:g} ms: instance #{self.target} crashes at {self.point or f'point {self.after + 1}'}"


def random_crashes(seed: int, duration_ms: float, count: int = 2,
                   points: tuple[str, ...] = ("process", "changelog", "send_offsets", "commit",
                                              "consumer_commit")) -> list[Crash]:
    rng = random.Random(f"streams-crashes/{seed}")
    return sorted((Crash(round(rng.uniform(0.1, 0.7) * duration_ms), rng.randrange(4), rng.choice(points))
                   for _ in range(count)), key=lambda c: c.time)


# ---------------------------------------------------------------------------------- an instance
class _Proxy:
    def __init__(self, instance: "Instance", real: Any) -> None:
        self._instance = instance
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class InstanceProducer(_Proxy):
    def send(self, topic: str, value: Any = None, key: Any = None, **kwargs: Any) -> Any:
        if topic.endswith("-changelog"):
            self._instance.point("changelog")
            self._instance.run.changelog_sends += 1
        return self._real.send(topic, value, key=key, **kwargs)

    def send_offsets_to_transaction(self, offsets: dict, group_metadata: Any) -> None:
        self._instance.point("send_offsets")
        self._real.send_offsets_to_transaction(offsets, group_metadata)

    def commit_transaction(self) -> None:
        self._instance.point("commit")
        self._real.commit_transaction()
        self._instance.in_txn = False

    def flush(self, timeout: float | None = None) -> None:
        self._instance.point("flush")
        self._real.flush(timeout)


class InstanceConsumer(_Proxy):
    def commit(self, offsets: dict | None = None, timeout_ms: float | None = None) -> None:
        self._instance.point("consumer_commit")
        self._real.commit(offsets, timeout_ms)


class RestoreConsumer(_Proxy):
    """The restore consumer handed to ``restore``: counts records, and stops a restore that never ends."""

    def poll(self, timeout_ms: float = 0, max_records: int | None = None, update_offsets: bool = True) -> dict:
        self._instance.restore_polls += 1
        if self._instance.restore_polls > 400:
            raise RestoreStuck("restore() polled 400 times without returning: it never reached end_offset")
        batch = self._real.poll(timeout_ms=timeout_ms, max_records=max_records, update_offsets=update_offsets)
        self._instance.run.restored_records += sum(len(r) for r in batch.values())
        return batch


class RestoreStuck(RuntimeError):
    """A restore function that keeps polling past the changelog's end."""


@dataclass
class Standby:
    """A copy of a task's stores kept up to date from their changelogs by an instance that does not own it."""

    images: dict[str, dict] = field(default_factory=dict)       # store -> {key bytes: value bytes}
    positions: dict[TopicPartition, int] = field(default_factory=dict)


class Instance:
    def __init__(self, run: "StreamsRun", slot: int, name: str) -> None:
        self.run, self.slot, self.name = run, slot, name
        self.alive = True
        self.fault: Crash | None = None
        self._points = 0
        self.in_txn = False
        self.tasks: dict[TaskId, StreamTask] = {}
        self.standbys: dict[TaskId, Standby] = {}
        self.generation: tuple | None = None
        self.last_commit = run.sim.now
        self.uncommitted = 0
        self.restore_polls = 0
        eos = run.eos
        cl = run.cluster
        self.real_consumer = cl.consumer(
            group_id=run.topology.application_id, client_id=name, auto_offset_reset="earliest",
            enable_auto_commit=False, isolation_level="read_committed" if eos else "read_uncommitted",
            max_poll_records=run.max_poll_records, partition_assignment_strategy=("range",))
        self.real_consumer.subscribe(run.topology.source_topics())
        config: dict[str, Any] = {"client_id": f"{name}-producer", "enable_idempotence": True}
        if eos:
            config["transactional_id"] = f"{run.topology.application_id}-{slot}"
        self.real_producer = cl.producer(**config)
        if eos:
            self.real_producer.init_transactions()          # fences this slot's previous instance
        self.consumer = InstanceConsumer(self, self.real_consumer)
        self.producer = InstanceProducer(self, self.real_producer)
        iso = "read_committed" if eos else "read_uncommitted"
        self.restorer = cl.consumer(client_id=f"{name}-restore", auto_offset_reset="earliest", isolation_level=iso,
                                    max_poll_records=run.max_poll_records)
        self.standby_reader = cl.consumer(client_id=f"{name}-standby", auto_offset_reset="earliest",
                                          isolation_level=iso)
        self._standby_tps: list[TopicPartition] = []
        self.probe = cl.consumer(client_id=f"{name}-probe", auto_offset_reset="earliest")

    # -- faults --------------------------------------------------------------------------------
    def point(self, name: str) -> None:
        f = self.fault
        if f is None or not self.alive:
            return
        if f.point != name and (f.point is not None or self._points < f.after):
            self._points += 1
            return
        self.fault = None
        self.run.note(f"{self.name} crashes at '{name}'")
        self.crash()
        raise AppCrashed(self.name)

    def crash(self) -> None:
        self.alive = False
        for client in (self.real_consumer, self.real_producer, self.restorer, self.probe, self.standby_reader):
            client.crash()

    # -- sending -------------------------------------------------------------------------------
    def emit(self, topic: str, key: Any, value: Any, ts: int) -> None:
        if self.run.eos and not self.in_txn:
            self.real_producer.begin_transaction()
            self.in_txn = True
        n = self.run.partitions
        kb = encode(key)
        self.producer.send(topic, encode(value), key=kb, timestamp_ms=ts,
                           partition=0 if kb is None else default_partition(kb, n))

    # -- tasks -----------------------------------------------------------------------------------
    def rebuild(self) -> bool:
        """Drop every task and rebuild those of the current assignment from changelogs and committed offsets.
        False if a changelog still has an open transaction (try again later)."""
        topo = self.run.topology
        if self.in_txn:
            try:
                self.real_producer.abort_transaction()
            except ProducerFencedError:
                raise
            except KafkaError:
                pass
            self.in_txn = False
        assigned = sorted(self.real_consumer.assignment())
        ids = sorted({TaskId(topo.subtopology_of(tp.topic), tp.partition) for tp in assigned},
                     key=lambda t: (t.subtopology, t.partition))
        changelogs = [TopicPartition(t, tid.partition) for tid in ids
                      for t in StreamTask(topo, tid).changelog_topics().values()]
        if changelogs:
            committed_end = end_offsets(self.restorer, changelogs)
            high = end_offsets(self.probe, changelogs)
            if any(committed_end[tp] < high[tp] for tp in changelogs):
                return False        # a transaction is still open on a changelog: its fate decides the state
        self.tasks = {}
        for tid in ids:
            task = StreamTask(topo, tid, send=self.emit)
            images: dict[str, Any] = {}
            standby = self.standbys.pop(tid, None)
            for store, topic in task.changelog_topics().items():
                tp = TopicPartition(topic, tid.partition)
                images[store] = self._restore(task.stores[store].versioned, tp, standby, store)
            stream_time = NO_TIME
            for tp in task.inputs:
                om = self.real_consumer.committed(tp, metadata=True)
                start = 0 if om is None else om.offset
                if om is not None:
                    stream_time = max(stream_time, stream_time_of(om.metadata))
                self.real_consumer.seek(tp, start)
                task.positions[tp] = start
            task.load(images, stream_time)
            self.run.restores.append(Restored(self.run.sim.now, self.name, str(tid), standby is not None,
                                              {n: dict(st.data) for n, st in task.stores.items()}, task.stream_time))
            self.tasks[tid] = task
            self.run.note(f"{self.name} builds task {tid}" + (" from its standby" if standby else "") +
                          f": {sum(len(s) for s in task.stores.values())} keys, stream time {task.stream_time}")
        return True

    def _restore(self, versioned: bool, tp: TopicPartition, standby: Standby | None, store: str) -> Any:
        r = self.restorer
        r.assign([tp])
        end = end_offsets(r, [tp])[tp]
        if versioned:
            r.seek(tp, 0)
            records = []
            while r.position(tp) < end:
                for recs in r.poll(timeout_ms=50).values():
                    records += [(x.key, x.value, x.timestamp) for x in recs]
            self.run.restored_records += len(records)
            return records
        image: dict = {}
        start = 0
        if standby is not None and store in standby.images:
            image = dict(standby.images[store])
            start = standby.positions.get(tp, 0)
        r.seek(tp, start)
        self.restore_polls = 0
        result = self.run.restore(RestoreConsumer(self, r), tp, image, end)
        if not isinstance(result, dict):
            raise TypeError(f"restore() returned {type(result).__name__}; it must return the store dict")
        return result

    def update_standbys(self) -> None:
        """Keep a standby of every task owned by the next live instance (Kafka: num.standby.replicas=1): a
        consumer of their changelogs applies each record to a copy of the store."""
        if not self.run.standbys:
            return
        wanted: set[TaskId] = set()
        for other in self.run.standby_sources(self):
            wanted |= set(other.tasks)
        wanted -= set(self.tasks)
        # A standby whose active owner went away is kept (no longer updated): when this instance gets the task,
        # it restores only what the standby lacks.
        topo = self.run.topology
        tps: dict[TopicPartition, tuple[TaskId, str]] = {}
        for tid in wanted:
            probe = StreamTask(topo, tid)
            for store, topic in probe.changelog_topics().items():
                if not probe.stores[store].versioned:
                    tps[TopicPartition(topic, tid.partition)] = (tid, store)
        r = self.standby_reader
        if sorted(tps) != self._standby_tps:
            self._standby_tps = sorted(tps)
            if not tps:
                return
            r.assign(self._standby_tps)
            for tp, (tid, _) in tps.items():
                r.seek(tp, self.standbys.setdefault(tid, Standby()).positions.get(tp, 0))
        if not tps:
            return
        for tp, recs in r.poll(timeout_ms=0).items():
            tid, store = tps[tp]
            sb = self.standbys.setdefault(tid, Standby())
            image = sb.images.setdefault(store, {})
            for x in recs:
                if x.value is None:
                    image.pop(x.key, None)
                else:
                    image[x.key] = x.value
                sb.positions[tp] = x.offset + 1

    # -- one turn of the loop ------------------------------------------------------------------------
    def step(self) -> None:
        batch = self.consumer.poll(timeout_ms=10)
        gen = (self.real_consumer.generation, tuple(sorted(self.real_consumer.assignment())))
        if gen != self.generation:
            if not self.rebuild():
                return
            self.generation = gen
            self.last_commit = self.run.sim.now
            return                                    # this batch is dropped: the positions were reset
        for tp, records in batch.items():
            tid = TaskId(self.run.topology.subtopology_of(tp.topic), tp.partition)
            if tid in self.tasks:
                self.tasks[tid].add_records(tp, records)
        try:
            for task in self.tasks.values():
                while self.ready(task) and task.process_one():
                    self.uncommitted += 1
                    self.point("process")
        except ProducerFencedError:
            raise
        except KafkaError as exc:
            if not (self.run.eos and self.in_txn):
                raise
            # A send refused because the transaction already lost a record (an OUT_OF_ORDER_SEQUENCE_NUMBER,
            # a batch given up): Kafka Streams treats it as a migrated task (TaskMigratedException): the
            # transaction is aborted and the tasks resume from the committed offsets and changelogs.
            self.run.note(f"{self.name}: a send failed ({type(exc).__name__}: the transaction must be aborted); "
                          f"tasks rebuilt")
            self.generation = None                    # rebuild() aborts the transaction first
            self.uncommitted = 0
            return
        if self.uncommitted and self.run.sim.now - self.last_commit >= self.run.commit_interval_ms:
            self.commit()
        self.update_standbys()

    def ready(self, task: StreamTask) -> bool:
        """A task with several inputs processes only when every input has a record queued, or has none left
        to fetch (Kafka's max.task.idle.ms = 0, KIP-695): otherwise the smallest timestamp is not known yet."""
        if len(task.inputs) == 1:
            return True
        for tp, q in task.queues.items():
            if not q:
                hw = self.real_consumer.highwater(tp)
                if hw is None or self.real_consumer.position(tp) < hw:
                    return False
        return True

    def commit(self) -> None:
        tasks = list(self.tasks.values())
        if self.run.eos and not self.in_txn:
            self.real_producer.begin_transaction()
            self.in_txn = True
        try:
            self.run.commit(tasks, self.producer, self.consumer)
        except (ProducerFencedError, AppCrashed):
            raise
        except (KafkaError, CommitFailedError) as exc:
            self.run.note(f"{self.name}: commit failed ({type(exc).__name__}); tasks rebuilt")
            self.generation = None                    # rebuild from what was committed
        if not self.run.eos:
            self.in_txn = False
        elif self.in_txn and self.generation is not None:
            # The commit step returned without committing: the transaction stays open and grows.
            self.run.note(f"{self.name}: the commit step returned with its transaction still open")
        self.uncommitted = 0
        self.last_commit = self.run.sim.now
        self.run.commits += 1


# ---------------------------------------------------------------------------------- the run
@dataclass(frozen=True)
class Restored:
    """A task rebuilt by an instance: its stores as restored, and the stream time it resumed with."""

    time: float
    instance: str
    task: str
    from_standby: bool
    stores: dict[str, dict]
    stream_time: int


@dataclass
class StreamsRunResult:
    params: dict
    inputs: dict[str, list[tuple]]
    expected: dict[str, list]                 # output topic -> the reference driver's records
    output: dict[str, list]                   # output topic -> committed output records (key, value, ts)
    check: StreamsCheckResult
    notes: list[tuple[float, str]]
    crashes: list[Crash]
    drained: bool
    restored_records: int
    changelog_sends: int
    commits: int
    stores: dict[str, dict]                   # store -> final content across the live instances
    dropped: int
    restores: list[Restored] = field(default_factory=list)
    cluster: Any = None

    @property
    def valid(self) -> bool:
        return self.check.valid and self.drained

    def summary(self) -> str:
        g = self.params["guarantee"]
        return (f"seed {self.params['seed']} ({g}): {sum(len(v) for v in self.inputs.values())} inputs, "
                f"{sum(len(v) for v in self.output.values())} outputs (expected "
                f"{sum(len(v) for v in self.expected.values())}), {self.commits} commits, "
                f"{self.restored_records} changelog records restored, {self.dropped} late records dropped; "
                f"{self.check.summary()}{'' if self.drained else '; NOT drained'}")

    def story(self) -> str:
        return "\n".join(f"{t:8.1f} ms  {what}" for t, what in self.notes)


class StreamsRun:
    def __init__(self, topology: Topology, seed: int, *, guarantee: str, instances: int, partitions: int,
                 commit: Commit, restore: Restore, standbys: bool, commit_interval_ms: float,
                 max_poll_records: int, restart_after_ms: float) -> None:
        if guarantee not in GUARANTEES:
            raise ValueError(f"guarantee must be one of {GUARANTEES}, not {guarantee!r}")
        self.topology, self.seed, self.eos = topology, seed, guarantee == "exactly_once_v2"
        self.partitions, self.commit, self.restore = partitions, commit, restore
        self.standbys, self.commit_interval_ms = standbys, commit_interval_ms
        self.max_poll_records, self.restart_after_ms = max_poll_records, restart_after_ms
        self.cluster = Cluster(3, seed=seed, config=ClusterConfig.fast(min_insync_replicas=2))
        self.sim = self.cluster.sim
        for topic in topology.source_topics():
            self.cluster.create_topic(topic, partitions, 3)
        for name in topology.stores:
            self.cluster.create_topic(f"{topology.application_id}-{name}-changelog", partitions, 3)
        self.instances: list[Instance] = []
        self.restarts: list[tuple[float, int]] = []
        self.notes: list[tuple[float, str]] = []
        self.restored_records = 0
        self.restores: list[Restored] = []
        self.changelog_sends = 0
        self.commits = 0
        self._names = 0
        self.source = self.cluster.producer(client_id="source", enable_idempotence=True)

    def note(self, what: str) -> None:
        self.notes.append((self.sim.now, what))

    def create_output(self, topic: str) -> None:
        self.cluster.create_topic(topic, self.partitions, 3)

    def start(self, slot: int) -> None:
        self._names += 1
        inst = Instance(self, slot, f"instance-{self._names}")
        self.instances = [i for i in self.instances if i.slot != slot or i.alive] + [inst]
        self.note(f"{inst.name} starts")

    def live(self) -> list[Instance]:
        return [i for i in self.instances if i.alive]

    def standby_sources(self, me: Instance) -> list[Instance]:
        live = sorted(self.live(), key=lambda i: i.slot)
        if len(live) < 2 or me not in live:
            return []
        return [live[(live.index(me) - 1) % len(live)]]

    def round(self) -> None:
        for when, slot in [r for r in self.restarts if r[0] <= self.sim.now]:
            self.restarts.remove((when, slot))
            self.start(slot)
        before = self.sim.now
        for inst in list(self.live()):
            try:
                inst.step()
            except AppCrashed:
                self.restarts.append((self.sim.now + self.restart_after_ms, inst.slot))
            except ProducerFencedError:
                self.note(f"{inst.name} is fenced: it stops")
                inst.crash()
            except CommitFailedError as exc:
                self.note(f"{inst.name}: offset commit refused ({exc})")
                inst.generation = None
        if self.sim.now == before:
            self.sim.run(until=self.sim.now + 5.0)


def make_inputs(seed: int, *, keys: int = 4, records: int = 60, step_ms: int = 400, late_every: int = 7,
                lateness_ms: int = 2_500) -> list[tuple]:
    """Seeded ``(key, value, timestamp)`` records: timestamps mostly increasing, every ``late_every``-th one
    (about) from up to ``lateness_ms`` in the past."""
    rng = random.Random(f"streams-inputs/{seed}")
    out, now = [], 0
    for i in range(records):
        now += rng.randint(0, step_ms)
        ts = max(0, now - rng.randint(0, lateness_ms)) if late_every and rng.randrange(late_every) == 0 else now
        out.append((f"k{rng.randrange(keys)}", i, ts))
    return out


def run_streams(topology: Topology, inputs: dict[str, list[tuple]], *, outputs: list[str], seed: int = 0,
                guarantee: str = "exactly_once_v2", instances: int = 2, partitions: int = 2,
                crashes: list[Crash] | None = None, commit: Commit | None = None, restore: Restore | None = None,
                standbys: bool = False, commit_interval_ms: float = 60.0, max_poll_records: int = 5,
                restart_after_ms: float = 100.0, produce_every_ms: float = 25.0, burst: int = 3,
                drain_ms: float = 15_000.0, reference: Topology | None = None,
                topic_gap_ms: dict[str, float] | None = None) -> StreamsRunResult:
    """Run ``topology`` on ``inputs`` (``{topic: [(key, value, ts), ...]}``, produced in that order, topic by
    topic) under ``crashes``, then judge the committed ``outputs`` against the same topology run by the
    :class:`TestDriver` (or ``reference``, the same topology built with msglib's own functions)."""
    if commit is None:
        commit = exactly_once_commit if guarantee == "exactly_once_v2" else at_least_once_commit
    run = StreamsRun(topology, seed, guarantee=guarantee, instances=instances, partitions=partitions,
                     commit=commit, restore=restore or restore_from_changelog, standbys=standbys,
                     commit_interval_ms=commit_interval_ms, max_poll_records=max_poll_records,
                     restart_after_ms=restart_after_ms)
    for topic in outputs:
        run.create_output(topic)
    for topic in inputs:
        if topic not in topology.sources:
            raise ValueError(f"input topic {topic!r} is not a source of the topology ({topology.input_topics()})")
    crashes = sorted(crashes or [], key=lambda c: c.time)
    for c in crashes:
        if c.point is not None and c.point not in POINTS:
            raise ValueError(f"unknown crash point {c.point!r}; use one of {POINTS}")
    # The reference: the same records, in the same order per partition, through the test driver.
    driver = TestDriver(reference or topology, partitions)
    queue = [(topic, k, v, ts) for topic, recs in inputs.items() for k, v, ts in recs]
    for topic, k, v, ts in queue:
        driver.pipe(topic, k, v, ts)
    expected = {t: [tuple(o) for o in driver.read_output(t)] for t in outputs}

    acked = [0]

    def produce(batch: list) -> None:
        for topic, k, v, ts in batch:
            kb = encode(k)
            run.source.send(topic, encode(v), key=kb, timestamp_ms=ts,
                            partition=0 if kb is None else default_partition(kb, partitions)
                            ).add_callback(lambda _m: acked.__setitem__(0, acked[0] + 1))
    for slot in range(instances):
        run.start(slot)
    start = run.sim.now
    at, previous = 0.0, None
    for i in range(0, len(queue), burst):
        batch = queue[i:i + burst]
        if previous is not None and batch[0][0] != previous:
            at += (topic_gap_ms or {}).get(batch[0][0], 0.0)     # let the earlier topics be processed first
        previous = batch[-1][0]
        run.sim.schedule(at, produce, batch)
        at += produce_every_ms
    pending = list(crashes)
    duration = at + 2 * produce_every_ms
    drained = False
    while run.sim.now < start + duration + drain_ms:
        while pending and pending[0].time <= run.sim.now - start:
            c = pending.pop(0)
            live = run.live()
            if live:
                target = live[c.target % len(live)]
                target.fault, target._points = c, 0
                run.note(f"armed: {c.describe()} -> {target.name}")
        run.round()
        if run.sim.now - start >= duration and not pending and _settled(run, acked[0], len(queue)):
            drained = True
            break
    output = {t: _read(run, t) for t in outputs}
    stores: dict[str, dict] = {}
    for inst in run.live():
        for task in inst.tasks.values():
            for name, store in task.stores.items():
                stores.setdefault(name, {}).update(store.data)
    check = check_streams(expected, output)
    dropped = sum(t.dropped for t in driver.tasks.values())
    params = dict(seed=seed, guarantee=guarantee, instances=instances, partitions=partitions, standbys=standbys)
    return StreamsRunResult(params, inputs, expected, output, check, run.notes, crashes, drained,
                            run.restored_records, run.changelog_sends, run.commits, stores, dropped, run.restores,
                            run.cluster)


def end_offsets(consumer: Any, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    """``consumer.end_offsets(tps)``, waiting in short slices (the answer comes within a few ms of simulated
    time; the consumer's own wait would sit out its whole API timeout)."""
    for attempt in range(100):
        try:
            return consumer.end_offsets(tps, timeout_ms=20)
        except KafkaTimeoutError:
            continue
    return consumer.end_offsets(tps)


def _settled(run: StreamsRun, acked: int, total: int) -> bool:
    """Every input produced, every input partition owned by a live task that has processed and committed all
    of it (up to the end its isolation level reads: a transactional repartition topic ends with a marker)."""
    if acked < total or run.restarts:
        return False
    live = run.live()
    if not live or any(i.generation is None or i.in_txn or i.uncommitted for i in live):
        return False
    owned = {tp: (i, t) for i in live for t in i.tasks.values() for tp in t.inputs}
    every = {TopicPartition(t, p) for t in run.topology.source_topics() for p in range(run.partitions)}
    if set(owned) != every:
        return False
    ends = end_offsets(live[0].restorer, sorted(every))
    for tp, (inst, task) in owned.items():
        if task.queues[tp] or inst.real_consumer.position(tp) < ends[tp]:
            return False                                   # not everything fetched and processed yet
        committed = inst.real_consumer.committed(tp)
        if (0 if committed is None else committed) < task.positions.get(tp, 0):
            return False                                   # processed, but its offset never committed
    return True


def _read(run: StreamsRun, topic: str) -> list[tuple]:
    """Everything in ``topic`` a fresh consumer of the run's isolation level reads, in offset order per
    partition: ``[(key, value, timestamp)]``."""
    c = run.cluster.consumer(isolation_level="read_committed" if run.eos else "read_uncommitted",
                             auto_offset_reset="earliest")
    tps = [TopicPartition(topic, p) for p in range(run.partitions)]
    c.assign(tps)
    ends = end_offsets(c, tps)
    per: dict[int, list] = {p: [] for p in range(run.partitions)}
    deadline = run.sim.now + 5_000
    while any(c.position(tp) < ends[tp] for tp in tps) and run.sim.now < deadline:
        for tp, records in c.poll(timeout_ms=50).items():
            per[tp.partition] += [(decode_key(r.key), decode(r.value), r.timestamp) for r in records]
    c.close()
    return [r for p in sorted(per) for r in per[p]]
