"""Consume-transform-produce under crashes and zombies, checked for exactly-once (docs/transactions.md T14, KIP-447).

:func:`run_eos` is what the tests, the exercise checks, the benchmark and the
notebook run:

1. a :class:`~msglib.cluster.Cluster` with an ``input`` and an ``output``
   topic; a producer appends the ids 0, 1, 2, ... (each once) to ``input``;
2. a group of *applications*, each a read_committed consumer of ``input``
   (group ``eos``) and a producer, looping ``step(consumer, producer,
   transform)``: poll, write ``transform(record)`` to ``output`` for each
   record, and get the input offsets committed. How ``step`` orders these
   decides the guarantee. :func:`eos_step` does all three in one
   transaction; :func:`at_least_once_step` writes, flushes, then commits the
   offsets (duplicates under crashes);
3. a schedule of :class:`EosEvent`: an application crashes (``kill -9``) or
   stalls (a GC pause: it comes back as a *zombie*) at some point inside its
   loop; a broker or a coordinator crashes. A crashed application is restarted
   with the same ``transactional.id``, which fences its old instance;
4. a read_committed *verifier* reads ``output`` throughout the run, and at
   the end everything is read once more;
5. :func:`msglib.check.eos.check_eos` judges: each input's output exactly
   once among the committed output, no aborted or precommitted reads.

The application's producer and consumer are the real clients, seen through
thin proxies that note each transaction and are where faults strike: before
a send, before ``send_offsets_to_transaction``, before ``commit_transaction``,
while the commit is on its way (EndTxn sent, no answer yet), after it.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any, Callable

from msglib.check.eos import (EosCheckResult, HangingTransaction, OutputRecord, Read, TxnRecord, check_eos,
                              find_hanging_transactions)
from msglib.cluster import Cluster, ClusterConfig
from msglib.groups.coordinator import coordinator_for
from msglib.groups.errors import CommitFailedError
from msglib.protocol import OffsetAndMetadata, TopicPartition
from msglib.protocol.errors import KafkaError, KafkaTimeoutError, ProducerFencedError
from msglib.txn.config import TxnConfig
from msglib.txn.coordinator import transaction_coordinator_for
from msglib.txn.group_offsets import group_coordinator_of
from msglib.txn.hanging import hold_produce_requests
from msglib.txn.states import ONGOING, PREPARE_ABORT, PREPARE_COMMIT

INPUT, OUTPUT, GROUP = "input", "output", "eos"

Step = Callable[[Any, Any, Callable[[Any], bytes]], None]


# ---------------------------------------------------------------------------------- the loop bodies
def eos_step(consumer: Any, producer: Any, transform: Callable[[Any], bytes]) -> None:
    """Exactly-once: outputs and input offsets in one transaction; on an error abort and rewind."""
    batch = consumer.poll(timeout_ms=20)
    if not batch:
        return
    producer.begin_transaction()
    try:
        for tp, records in batch.items():
            for record in records:
                producer.send(OUTPUT, transform(record), key=record.key)
        offsets = {tp: OffsetAndMetadata(records[-1].offset + 1) for tp, records in batch.items()}
        producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
        producer.commit_transaction()
    except ProducerFencedError:
        raise                                   # fatal: a newer instance took over; this one must stop
    except KafkaError:
        producer.abort_transaction()            # nothing of this batch becomes visible...
        for tp, records in batch.items():       # ...so it must be processed again: rewind
            if tp in consumer.assignment():
                consumer.seek(tp, records[0].offset)


def at_least_once_step(consumer: Any, producer: Any, transform: Callable[[Any], bytes]) -> None:
    """At-least-once: write, wait for the acknowledgements, then commit the offsets."""
    batch = consumer.poll(timeout_ms=20)
    for records in batch.values():
        for record in records:
            producer.send(OUTPUT, transform(record), key=record.key)
    if batch:
        producer.flush()
        consumer.commit()


# ---------------------------------------------------------------------------------- faults
class AppCrashed(BaseException):
    """An application process died (a BaseException: ``except Exception`` cannot swallow it)."""


POINTS = ("begin", "send", "send_offsets", "commit", "commit_sent", "poll", "flush", "consumer_commit")
EVENT_KINDS = ("crash", "pause", "error", "stuck", "broker_crash", "txn_coordinator_crash", "group_coordinator_crash")
ERROR_POINTS = ("send", "send_offsets", "commit")   # where an "error" may strike: inside the transaction
REPLACE_STALLED_MS = 1_000.0    # the supervisor replaces an application stalled longer than this


@dataclass(frozen=True)
class EosEvent:
    """At ``time`` (ms from the start), ``kind`` happens. For "crash", "pause" and "error", ``target``
    picks the application (an index into those running; None: drawn from the seed) and the fault
    strikes at its next loop point named ``point`` (None: the ``after``-th point from then on,
    counted across points). A "pause" lasts ``duration_ms``: longer than the session timeout, the
    group gives its partitions away (KIP-447 fences its offsets); longer than REPLACE_STALLED_MS, a
    replacement starts under the same transactional.id (the epoch fences it). An "error" makes the
    current transaction fail (as a send that ran out of retries would): only an abort may follow.
    A "stuck" strikes at the application's next send: the produce requests its producer sends in the
    next ``delivery_timeout_ms`` stay in the network (the batch expires, the transaction aborts)
    and arrive ``duration_ms`` after the fault struck: a late write of an aborted transaction
    (KIP-890; see ``msglib.txn.hanging``). A crashed broker or coordinator is down ``duration_ms``."""

    time: float
    kind: str
    target: int | None = None
    point: str | None = None
    after: int = 0
    duration_ms: float = 0.0

    def describe(self) -> str:
        where = f" at {self.point}" if self.point else (f" at its {self.after + 1}th step point" if self.after else "")
        who = "" if self.target is None else f" #{self.target}"
        extra = f" for {self.duration_ms:g} ms" if self.duration_ms else ""
        return f"t={self.time:g} ms: {self.kind}{who}{where}{extra}"


def random_events(seed: int, duration_ms: float, *, count: int = 3, kinds: tuple[str, ...] = ("crash",),
                  pause_ms: tuple[float, ...] = (600.0, 1_300.0), down_ms: float = 300.0,
                  points: tuple[str, ...] | None = None,
                  stuck_ms: tuple[float, ...] = (3_300.0, 4_500.0, 9_000.0)
                  ) -> list[EosEvent]:
    """``count`` seeded faults in the first 80% of the run, each at a seeded loop point."""
    rng = random.Random(f"eos-events/{seed}")
    out = []
    for _ in range(count):
        kind = rng.choice(kinds)
        duration = rng.choice(pause_ms) if kind == "pause" else 0.0 if kind in ("crash", "error") else \
            rng.choice(stuck_ms) if kind == "stuck" else down_ms
        point = rng.choice(points) if points else None
        out.append(EosEvent(round(rng.uniform(0.05, 0.8) * duration_ms), kind, rng.randrange(8), point,
                            rng.randrange(12), duration))
    return sorted(out, key=lambda e: e.time)


# ---------------------------------------------------------------------------------- the application
def output_value(input_id: Any, txn: str) -> bytes:
    return json.dumps({"in": input_id, "txn": txn}).encode()


def parse_output(value: bytes) -> tuple[Any, str]:
    d = json.loads(value)
    return d["in"], d["txn"]


class _Proxy:
    """Everything not overridden goes to the real client."""

    def __init__(self, app: "App", real: Any) -> None:
        self._app = app
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class AppProducer(_Proxy):
    """The application's producer: notes each transaction, and is where faults strike."""

    def begin_transaction(self) -> None:
        self._app.point("begin")
        self._real.begin_transaction()
        self._app.begin_txn()

    def send(self, topic: str, value: Any = None, key: Any = None, **kwargs: Any) -> Any:
        self._app.point("send")
        future = self._real.send(topic, value, key=key, **kwargs)
        self._app.note_output(value)
        return future

    def send_offsets_to_transaction(self, offsets: dict, group_metadata: Any) -> None:
        self._app.point("send_offsets")
        try:
            self._real.send_offsets_to_transaction(offsets, group_metadata)
        except KafkaError as exc:
            self._app.run.note(f"{self._app.name}: send_offsets_to_transaction refused: {exc}")
            raise

    def commit_transaction(self) -> None:
        app = self._app
        app.point("commit")
        app.commit_asked()
        txn = self._real.txn
        if txn is not None and app.fault is not None and app.fault.point == "commit_sent":
            # Strike with the commit on its way: EndTxn sent, its answer not yet received.
            txn.on_end_sent = lambda: app.point("commit_sent")
        try:
            self._real.commit_transaction()
        except BaseException:
            app.end_txn("failed")
            raise
        finally:
            if txn is not None:
                txn.on_end_sent = None          # (nothing to end: no EndTxn was sent)
        app.end_txn("committed")

    def abort_transaction(self) -> None:
        self._app.run.note(f"{self._app.name} aborts its transaction")
        try:
            self._real.abort_transaction()
        finally:
            self._app.end_txn("aborted")

    def flush(self, timeout: float | None = None) -> None:
        self._app.point("flush")
        self._real.flush(timeout)


class AppConsumer(_Proxy):
    """The application's consumer (faults strike after a poll that returned records, and before a commit)."""

    def poll(self, timeout_ms: float = 0, max_records: int | None = None, update_offsets: bool = True) -> dict:
        batch = self._real.poll(timeout_ms=timeout_ms, max_records=max_records, update_offsets=update_offsets)
        if batch:
            self._app.polled(batch)
            self._app.point("poll")
        return batch

    def commit(self, offsets: dict | None = None, timeout_ms: float | None = None) -> None:
        self._app.point("consumer_commit")
        self._real.commit(offsets, timeout_ms)
        self._app.end_txn("committed")


class App:
    """One application instance: a consumer, a producer (transactional or not), its pending fault."""

    def __init__(self, run: "EosRun", slot: int, name: str) -> None:
        self.run = run
        self.slot = slot
        self.name = name
        self.alive = True
        self.frozen = False
        self.fault: EosEvent | None = None
        self._points_since_armed = 0
        self.started = run.sim.now
        self.txn_count = 0
        self.current: TxnRecord | None = None
        self.real_consumer = run.cluster.consumer(
            INPUT, group_id=GROUP, client_id=name, auto_offset_reset="earliest", enable_auto_commit=False,
            isolation_level="read_committed", max_poll_records=run.max_poll_records, value_deserializer=int)
        config = dict(client_id=f"{name}-producer")
        if run.transactional:
            config["transactional_id"] = f"eos-app-{slot}"
        self.real_producer = run.cluster.producer(**config)
        self.consumer = AppConsumer(self, self.real_consumer)
        self.producer = AppProducer(self, self.real_producer)
        if run.transactional:
            self.real_producer.init_transactions()    # fences the previous instance of this slot

    # -- transactions as the app saw them ---------------------------------------------------
    def begin_txn(self) -> None:
        self.txn_count += 1
        self.current = TxnRecord(f"{self.name}#{self.txn_count}", self.name, self.run.sim.now)
        self.run.txns.append(self.current)

    def polled(self, batch: dict) -> None:
        if not self.run.transactional:   # without transactions, a "transaction" is one poll's batch
            self.begin_txn()

    def note_output(self, value: Any) -> None:
        if self.current is not None:
            try:
                self.current.outputs.append(parse_output(value)[0])
            except (TypeError, ValueError, KeyError):
                pass

    def commit_asked(self) -> None:
        if self.current is not None and self.current.commit_asked_ms is None:
            self.current.commit_asked_ms = self.run.sim.now

    def end_txn(self, outcome: str) -> None:
        if self.current is not None:
            if outcome == "committed" and self.current.commit_asked_ms is None:
                self.current.commit_asked_ms = self.run.sim.now
            self.current.outcome = outcome
            self.current = None

    def transform(self, record: Any) -> bytes:
        """The work on one record: its output names the input id and the transaction writing it."""
        self.point("transform")
        if not hasattr(record, "value") or not hasattr(record, "offset"):
            raise TypeError(f"transform() takes a record as poll() returned it, not {type(record).__name__}")
        txn = self.current.txn if self.current is not None else f"{self.name}#none"
        return output_value(record.value, txn)

    # -- faults ------------------------------------------------------------------------------
    def armed_for(self, point: str) -> bool:
        f = self.fault
        return f is not None and (f.point == point or (f.point is None and self._points_since_armed >= f.after))

    def point(self, name: str) -> None:
        """A place in the loop where an armed fault may strike."""
        fault = self.fault
        if fault is None or not self.alive:
            return
        if name == "commit_sent" and fault.point is None:
            self._points_since_armed += 1
            return                               # only strikes here when asked for by name
        if not self.armed_for(name) or (fault.kind == "error" and name not in ERROR_POINTS) or \
                (fault.kind == "stuck" and name != "send"):
            self._points_since_armed += 1
            return
        self.fault = None
        self._points_since_armed = 0
        run = self.run
        if fault.kind == "crash":
            run.note(f"{self.name} crashes at '{name}'")
            self.crash()
            raise AppCrashed(self.name)
        if fault.kind == "stuck":
            until = run.sim.now + fault.duration_ms
            window = run.sim.now + self.real_producer.config["delivery_timeout_ms"] + 100.0
            run.note(f"{self.name}: its produce requests sent before t={window:.0f} ms are stuck in the network "
                     f"until t={until:.0f} ms")
            hold_produce_requests(self.real_producer.node, until, hold_new_until_ms=window)
            run.held_until = max(run.held_until, until)
            return
        if fault.kind == "error":
            run.note(f"{self.name}: the transaction fails at '{name}' (a record could not be delivered)")
            error = KafkaTimeoutError(f"injected at '{name}': a record of this transaction could not be delivered "
                                      "in time; the transaction can only be aborted")
            if self.real_producer.txn is not None:
                self.real_producer.txn.abortable(error)
            raise error
        run.note(f"{self.name} stalls {fault.duration_ms:g} ms at '{name}' (GC pause)")
        if run.restart_after_ms is not None and fault.duration_ms > REPLACE_STALLED_MS:
            # The supervisor sees no sign of life and starts a replacement with the same
            # transactional.id: when this instance wakes up it is a *zombie*.
            run.restarts.append((run.sim.now + REPLACE_STALLED_MS, self.slot))
        nodes = [self.real_consumer.node, self.real_producer.node]
        for n in nodes:
            n.pause()
        self.frozen = True
        end = run.sim.now + fault.duration_ms
        while run.sim.now < end:
            run.round(until=end)
        self.frozen = False
        for n in nodes:
            n.resume()
        run.note(f"{self.name} wakes up")

    def crash(self) -> None:
        self.alive = False
        if self.current is not None:
            self.current.outcome = "crashed"
            self.current = None
        self.real_consumer.crash()
        self.real_producer.crash()


# ---------------------------------------------------------------------------------- the run
@dataclass
class EosRunResult:
    params: dict
    inputs: list[tuple[int, int, int]]          # (partition, offset, id) of every acknowledged input
    committed: list[OutputRecord]               # what a read_committed consumer reads at the end
    all_output: list[OutputRecord]              # every output record in the log (aborted ones included)
    reads: list[Read]                           # the verifier's reads during the run
    txns: list[TxnRecord]
    notes: list[tuple[float, str]]
    events: list[EosEvent]
    check: EosCheckResult
    drained: bool
    start_ms: float
    end_ms: float
    cluster: Any = None
    hanging: list[HangingTransaction] = field(default_factory=list)   # at the end (check.eos)

    @property
    def duplicates(self) -> int:
        return self.check.counts["duplicate"]

    @property
    def lost(self) -> int:
        return self.check.counts["lost"]

    @property
    def valid(self) -> bool:
        return self.check.valid and self.drained and not self.hanging

    def summary(self) -> str:
        mode = "transactions" if self.params.get("transactional") else "at-least-once"
        aborted = sum(1 for t in self.txns if t.outcome in ("aborted", "crashed", "failed"))
        return (f"seed {self.params['seed']} ({mode}): {len(self.inputs)} inputs, {len(self.committed)} committed "
                f"outputs, {len(self.all_output) - len(self.committed)} not committed, {len(self.txns)} "
                f"transactions ({aborted} not committed); {self.check.summary()}"
                f"{'' if self.drained else '; NOT drained'}"
                f"{''.join('; HANGING ' + str(h) for h in self.hanging)}")

    def story(self) -> str:
        return "\n".join(f"{t:8.1f} ms  {what}" for t, what in self.notes)

    def __repr__(self) -> str:
        return f"EosRunResult({self.summary()})"


class EosRun:
    """Builds and drives one run; :func:`run_eos` is the usual entry point."""

    def __init__(self, seed: int, *, step: Step, transactional: bool, apps: int, records: int,
                 input_partitions: int, output_partitions: int, burst: int, produce_every_ms: float,
                 restart_after_ms: float | None, max_poll_records: int, transaction_version: int = 2,
                 verification: bool = False) -> None:
        self.seed = seed
        self.step = step
        self.transactional = transactional
        self.max_poll_records = max_poll_records
        self.restart_after_ms = restart_after_ms
        self.cluster = Cluster(3, seed=seed, config=ClusterConfig.fast(
            min_insync_replicas=2, transaction_partition_verification_enable=verification))
        self.sim = self.cluster.sim
        self.cluster.create_topic(INPUT, input_partitions, 3)
        self.cluster.create_topic(OUTPUT, output_partitions, 3)
        self.output_tps = [TopicPartition(OUTPUT, p) for p in range(output_partitions)]
        self.input_tps = [TopicPartition(INPUT, p) for p in range(input_partitions)]
        self.coordinator = transaction_coordinator_for(self.cluster,
                                                       TxnConfig.fast(transaction_version=transaction_version))
        self.held_until = 0.0       # when the last produce requests held by a "stuck" fault arrive
        self.source = self.cluster.producer(client_id="source", value_serializer=lambda v: str(v).encode())
        self.records = records
        self.burst = burst
        self.produce_every_ms = produce_every_ms
        self.inputs: list[tuple[int, int, int]] = []
        self.txns: list[TxnRecord] = []
        self.reads: list[Read] = []
        self.notes: list[tuple[float, str]] = []
        self.apps: list[App] = []
        self.restarts: list[tuple[float, int]] = []
        self.owner: dict[int, str] = {}              # slot -> the name of its newest instance
        self.rng = self.sim.random("eos-run")
        self._names = 0
        self.verifier = self.cluster.consumer(client_id="verifier", isolation_level="read_committed",
                                              auto_offset_reset="earliest")
        self.verifier.assign(self.output_tps)
        self._apps_wanted = apps

    def note(self, what: str) -> None:
        self.notes.append((self.sim.now, what))

    # -- pieces ------------------------------------------------------------------------------
    def start_app(self, slot: int) -> App:
        self._names += 1
        app = App(self, slot, f"app-{self._names}")
        self.apps.append(app)
        self.owner[slot] = app.name
        self.note(f"{app.name} starts (transactional.id eos-app-{slot})" if self.transactional
                  else f"{app.name} starts")
        return app

    def _produce(self, first: int) -> None:
        for i in range(first, min(first + self.burst, self.records)):
            def acked(meta: Any, value: int = i) -> None:
                self.inputs.append((meta.partition, meta.offset, value))
            self.source.send(INPUT, i, key=f"key-{i}".encode()).add_callback(acked)
        if first + self.burst < self.records:
            self.sim.schedule(self.produce_every_ms, self._produce, first + self.burst)

    def live(self) -> list[App]:
        return [a for a in self.apps if a.alive]

    def _apply(self, event: EosEvent) -> None:
        cl = self.cluster
        if event.kind == "broker_crash":
            b = self.rng.choice(cl.broker_ids) if event.target is None else event.target % len(cl.broker_ids)
            self.note(f"broker {b} crashes for {event.duration_ms:g} ms")
            cl.crash(b)
            self.sim.schedule(event.duration_ms, cl.restart, b)
            return
        if event.kind in ("txn_coordinator_crash", "group_coordinator_crash"):
            if event.kind == "txn_coordinator_crash":
                node = self.coordinator
            else:
                node = group_coordinator_of(cl)
            self.note(f"the {event.kind.split('_crash')[0].replace('_', ' ')} crashes for {event.duration_ms:g} ms")
            node.crash()
            self.sim.schedule(event.duration_ms, node.restart)
            return
        live = self.live()
        if not live:
            return
        app = live[event.target % len(live)] if event.target is not None else self.rng.choice(live)
        if event.kind in ("crash", "pause", "error", "stuck"):
            app.fault = event
            app._points_since_armed = 0
        else:
            raise ValueError(f"unknown event kind {event.kind!r}; use one of {EVENT_KINDS}")

    def _verify(self) -> None:
        """The verifier's poll: every output record it reads is noted with the time."""
        for records in self.verifier.poll(timeout_ms=0).values():
            for r in records:
                try:
                    input_id, txn = parse_output(r.value)
                except (TypeError, ValueError, KeyError):
                    input_id, txn = r.value, "?"
                self.reads.append(Read(self.sim.now, "verifier", OutputRecord(r.partition, r.offset, input_id, txn)))

    # -- the loop ----------------------------------------------------------------------------
    pending: list[EosEvent] = []
    tick_ms = 5.0

    def round(self, until: float | None = None) -> None:
        while self.pending and self.pending[0].time <= self.sim.now - self.start_ms:
            self._apply(self.pending.pop(0))
        due = [r for r in self.restarts if r[0] <= self.sim.now]
        for r in due:
            self.restarts.remove(r)
            self.start_app(r[1])
        before = self.sim.now
        for app in [a for a in self.apps if a.alive and not a.frozen]:
            if until is not None and self.sim.now >= until:
                break
            if app.alive and not app.frozen:       # (it may have died during another app's stall)
                self._step(app)
        self._verify()
        if self.sim.now == before:
            step_to = self.sim.now + self.tick_ms
            self.sim.run(until=step_to if until is None else min(step_to, until))

    def _step(self, app: App) -> None:
        try:
            self.step(app.consumer, app.producer, app.transform)
        except AppCrashed:
            self._ended(app, "crashed")
        except ProducerFencedError:
            self.note(f"{app.name} is fenced (a newer instance, or its transaction timed out): it stops")
            app.crash()
            self._ended(app, "fenced")
        except CommitFailedError as exc:
            self.note(f"{app.name}: offset commit refused ({exc.reason or 'the group moved on'})")
        except KafkaError as exc:
            self.note(f"{app.name}: {type(exc).__name__}: {exc}")

    def _ended(self, app: App, how: str) -> None:
        app.alive = False
        if self.restart_after_ms is not None and self.owner.get(app.slot) == app.name:   # not a zombie's slot
            self.restarts.append((self.sim.now + self.restart_after_ms, app.slot))

    def _settled(self) -> bool:
        """Every input produced and its offsets committed, no transaction still open, nobody restarting."""
        if len(self.inputs) < self.records or self.restarts or any(
                m.state in (ONGOING, PREPARE_COMMIT, PREPARE_ABORT) for m in self.coordinator.txns.values()):
            return False
        gc = coordinator_for(self.cluster)
        ends = {}
        for p, o, _ in self.inputs:
            ends[p] = max(ends.get(p, 0), o + 1)
        return all((gc.committed(GROUP, TopicPartition(INPUT, p)) or 0) >= end for p, end in ends.items())

    def run(self, events: list[EosEvent], duration_ms: float, drain_ms: float) -> bool:
        for slot in range(self._apps_wanted):
            self.start_app(slot)
        self.start_ms = self.sim.now
        self.sim.schedule(0.0, self._produce, 0)
        self.pending = sorted(events, key=lambda e: e.time)
        deadline = self.start_ms + duration_ms + drain_ms
        while self.sim.now < deadline:
            self.round()
            if self.sim.now - self.start_ms >= duration_ms and not self.pending and self._settled():
                return True
        return False

    def read_output(self, isolation: str) -> list[OutputRecord]:
        """Everything in ``output`` a fresh consumer of this isolation level reads."""
        c = self.cluster.consumer(isolation_level=isolation, auto_offset_reset="earliest")
        c.assign(self.output_tps)
        ends = c.end_offsets(self.output_tps)
        out: list[OutputRecord] = []
        deadline = self.sim.now + 5_000
        while any(c.position(tp) < ends[tp] for tp in self.output_tps) and self.sim.now < deadline:
            for records in c.poll(timeout_ms=50).values():
                for r in records:
                    try:
                        input_id, txn = parse_output(r.value)
                    except (TypeError, ValueError, KeyError):
                        input_id, txn = r.value, "?"
                    out.append(OutputRecord(r.partition, r.offset, input_id, txn))
        c.close()
        return out


def run_eos(seed: int = 0, *, step: Step | None = None, transactional: bool = True, apps: int = 2,
            records: int = 40, input_partitions: int = 4, output_partitions: int = 2,
            events: list[EosEvent] | str | None = None, duration_ms: float = 1_500.0, drain_ms: float = 8_000.0,
            burst: int = 4, restart_after_ms: float | None = 100.0, max_poll_records: int = 4,
            transaction_version: int = 2, verification: bool = False) -> EosRunResult:
    """One seeded run (see the module docstring). ``events="random"`` draws three crashes at seeded points.

    ``step`` defaults to :func:`eos_step` with transactions and :func:`at_least_once_step` without.
    ``transaction_version`` is the cluster's (1: KIP-98, 2: KIP-890, Kafka 4.0's default);
    ``verification`` turns on KIP-890 part 1 for version 1. At the end, after every held request
    has arrived, :func:`msglib.check.eos.find_hanging_transactions` looks for hanging transactions.
    """
    if step is None:
        step = eos_step if transactional else at_least_once_step
    params = dict(seed=seed, transactional=transactional, apps=apps, records=records,
                  input_partitions=input_partitions, output_partitions=output_partitions, duration_ms=duration_ms,
                  transaction_version=transaction_version, verification=verification)
    if events == "random":
        events = random_events(seed, duration_ms)
    events = list(events or [])
    for e in events:
        if e.kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {e.kind!r}; use one of {EVENT_KINDS}")
        if e.point is not None and e.point not in POINTS + ("transform",):
            raise ValueError(f"unknown point {e.point!r}; use one of {POINTS + ('transform',)}")
        if e.kind == "error" and e.point is not None and e.point not in ERROR_POINTS:
            raise ValueError(f"an error strikes inside a transaction: use a point of {ERROR_POINTS}, not {e.point!r}")
    every = max(0.1, 0.8 * duration_ms * burst / max(1, records))
    run = EosRun(seed, step=step, transactional=transactional, apps=apps, records=records,
                 input_partitions=input_partitions, output_partitions=output_partitions, burst=burst,
                 produce_every_ms=every, restart_after_ms=restart_after_ms, max_poll_records=max_poll_records,
                 transaction_version=transaction_version, verification=verification)
    drained = run.run(events, duration_ms, drain_ms)
    while run.sim.now < run.held_until + 200.0:     # every stuck request arrives, and its answer settles
        run.round(until=run.held_until + 200.0)
    end = run.sim.now
    run._verify()
    hanging = find_hanging_transactions(run.cluster, run.coordinator) if transactional else []
    isolation = "read_committed" if transactional else "read_uncommitted"
    committed = run.read_output(isolation)
    everything = run.read_output("read_uncommitted") if transactional else committed
    check = check_eos([v for _, _, v in sorted(run.inputs, key=lambda x: x[2])], committed, run.reads, run.txns,
                      transactional=transactional)
    return EosRunResult(params, sorted(run.inputs, key=lambda x: x[2]), committed, everything, run.reads, run.txns,
                        run.notes, events, check, drained, run.start_ms, end, run.cluster, hanging)
