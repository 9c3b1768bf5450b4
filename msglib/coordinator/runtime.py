"""The one coordinator runtime: a compacted state log, a state machine replayed from it, keyed timers.

Kafka's coordinators (the group coordinator, the transaction coordinator, the share coordinator) share one
runtime since the group coordinator was rewritten for KIP-848 (Apache Kafka ``coordinator-common``, 4.0):
each coordinator kind is a *shard* -- a state machine that changes only by replaying records -- and the
runtime owns what they all need around it. msglib's coordinators are built the same way:

* **a compacted state log** (:class:`msglib.log.Log`, ``cleanup_policy="compact"``): ``__consumer_offsets``,
  ``__transaction_state``, ``__share_group_state``. Records are JSON: the key a JSON list naming what the
  record is about (``["offset", group, topic, partition]``), the value a JSON object, or None for a
  tombstone that deletes the key.
* **persist, then reply**: :meth:`CoordinatorRuntime.write` appends the records, flushes them to the
  (simulated) disk, and only then replays them into the shard. A coordinator answers a request after its
  ``write`` returned, so every answer it gave survives a crash -- as Kafka's runtime completes a write
  operation only once its records are committed to the log.
* **load**: on boot and restart the shard is reset and every record of the log replayed, oldest first; the
  latest value of a key wins and a tombstone deletes it.
* **keyed timers** on the simulation clock (:meth:`~CoordinatorRuntime.schedule` /
  :meth:`~CoordinatorRuntime.cancel`): scheduling a key again replaces its timer, as Kafka's
  ``CoordinatorTimer`` does; a crash forgets them all (the timer wheel lives in memory).
* **the event record** (:meth:`~CoordinatorRuntime.record`, :attr:`~CoordinatorRuntime.trace`): what the
  coordinator did and when, for pictures and checkers.

:class:`CoordinatorNode` is a simulated :class:`~msglib.sim.network.Node` wired to a runtime: it dispatches
messages by type to ``handlers``, forwards crashes to the runtime, and reloads on restart.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterable, Iterator, Protocol, runtime_checkable

from msglib.log import Log, LogConfig, Record
from msglib.log.storage import MemoryStorage, Storage
from msglib.sim.core import Timer
from msglib.sim.network import Network, Node

Key = list  # a JSON list, e.g. ["offset", "g", "t", 0]
Value = dict  # a JSON object; None is a tombstone
RecordKV = tuple[Key, "Value | None"]

DEFAULT_SEGMENT_BYTES = 100 * 1024 * 1024


@runtime_checkable
class CoordinatorShard(Protocol):
    """The state machine of one coordinator kind. Its state changes only through :meth:`replay`."""

    def replay(self, key: Key, value: Value | None) -> None:
        """Apply one record (live after a write, and on load). ``value`` None deletes ``key``."""

    def reset(self) -> None:
        """Forget all in-memory state (before a load; on a crash)."""


class CompositeShard:
    """Several shards on one state log (the group coordinator's offsets and its KIP-848 groups share
    ``__consumer_offsets``, as in Kafka): every record is replayed into each; each ignores keys it does
    not own."""

    def __init__(self, *shards: CoordinatorShard) -> None:
        if not shards or not all(isinstance(s, CoordinatorShard) for s in shards):
            raise TypeError("CompositeShard takes one or more CoordinatorShards (replay(key, value), reset())")
        self.shards = list(shards)

    def add(self, shard: CoordinatorShard) -> None:
        if not isinstance(shard, CoordinatorShard):
            raise TypeError(f"{type(shard).__name__} is not a CoordinatorShard")
        self.shards.append(shard)

    def replay(self, key: Key, value: Value | None) -> None:
        for shard in self.shards:
            shard.replay(key, value)

    def reset(self) -> None:
        for shard in self.shards:
            shard.reset()


@dataclass
class CoordinatorResult:
    """What an operation produces: the records to persist and the answer to give once they are."""

    records: list[RecordKV] = field(default_factory=list)
    response: Any = None


def encode_key(key: Iterable[Any]) -> bytes:
    key = list(key)
    if not key:
        raise ValueError("a coordinator record key is a non-empty JSON list, e.g. ['offset', group, topic, p]")
    return json.dumps(key).encode()


def encode_value(value: Value | None) -> bytes | None:
    if value is not None and not isinstance(value, dict):
        raise TypeError(f"a coordinator record value is a JSON object (dict) or None for a tombstone, "
                        f"not {type(value).__name__}")
    return None if value is None else json.dumps(value).encode()


class CoordinatorRuntime:
    """One compacted state log, one shard replayed from it, and the shard's timers (see the module docstring).

    ``node`` gives the clock and the timers (its :meth:`~msglib.sim.network.Node.after`, so a crash kills
    them). ``storage`` is the coordinator's disk: it survives crashes; a power loss drops what was not
    flushed (nothing :meth:`write` returned from).
    """

    def __init__(self, node: Node, shard: CoordinatorShard, topic: str, *, storage: Storage | None = None,
                 segment_bytes: int = DEFAULT_SEGMENT_BYTES, partition: int = 0, flush: bool = True,
                 compact_dirty_ratio: float = 0.5) -> None:
        if not isinstance(shard, CoordinatorShard):
            raise TypeError(f"{type(shard).__name__} is not a CoordinatorShard: it needs replay(key, value) "
                            f"and reset()")
        if not 0.0 < compact_dirty_ratio <= 1.0:
            raise ValueError(f"compact_dirty_ratio must be in (0, 1], got {compact_dirty_ratio}")
        self.node = node
        self.shard = shard
        self.topic = topic
        self.partition = partition
        self.segment_bytes = segment_bytes
        self.flush = flush
        self.compact_dirty_ratio = compact_dirty_ratio
        self.storage: Storage = storage if storage is not None else MemoryStorage(f"{node.name}/{topic}-{partition}")
        self.log: Log | None = None
        self.trace: list[dict[str, Any]] = []
        self.loaded_records = 0
        self._timers: dict[Hashable, Timer] = {}

    # ------------------------------------------------------------------ the clock
    def now(self) -> float:
        return self.node.sim.now

    # ------------------------------------------------------------------ the state log
    def load(self) -> int:
        """(Re)open the log on ``storage``, reset the shard and replay every record. Returns how many."""
        if self.log is not None and not self.log.closed:
            self.log.abandon()
        config = LogConfig(cleanup_policy="compact", segment_bytes=self.segment_bytes, delete_retention_ms=0)
        self.log = Log(config=config, storage=self.storage, clock=self.now, topic=self.topic,
                       partition=self.partition)
        self.shard.reset()
        n = 0
        for key, value in self.records():
            self.shard.replay(key, value)
            n += 1
        self.loaded_records = n
        return n

    def records(self) -> Iterator[tuple[Key, Value | None]]:
        """Every record of the log, oldest first, decoded."""
        if self.log is None:
            raise RuntimeError("the coordinator's state log is not loaded yet: call runtime.load() first")
        for r in self.log.records():
            yield json.loads(r.key), (None if r.value is None else json.loads(r.value))

    def write(self, records: Iterable[RecordKV]) -> None:
        """Persist ``records`` (append as one batch, flush), then replay them into the shard.

        Call it before answering: an answer given after ``write`` returned survives any crash.
        """
        if self.log is None or self.log.closed:
            raise RuntimeError(f"the {self.topic} log is not open (the coordinator is down or not loaded)")
        records = [(list(k), v) for k, v in records]
        if not records:
            return
        ts = int(self.now())
        self.log.append([Record(encode_key(k), encode_value(v), ts) for k, v in records])
        if self.flush:
            self.log.flush()
        for key, value in records:
            self.shard.replay(key, value)

    def maybe_compact(self) -> bool:
        """Compact once enough of the closed segments' bytes are overwritten records. True if it did."""
        if self.log is not None and len(self.log.segments) > 1 and \
                self.log.dirty_ratio() >= self.compact_dirty_ratio:
            self.log.compact()
            return True
        return False

    # ------------------------------------------------------------------ timers
    def schedule(self, key: Hashable, delay_ms: float, fn: Callable[..., Any], *args: Any) -> Timer:
        """Run ``fn(*args)`` in ``delay_ms`` unless cancelled or the coordinator crashes; replaces ``key``'s timer."""
        if delay_ms < 0:
            raise ValueError(f"timer {key!r}: delay_ms must be >= 0, got {delay_ms}")
        self.cancel(key)
        holder: list[Timer] = []

        def fire() -> None:
            if self._timers.get(key) is holder[0]:
                del self._timers[key]
            fn(*args)

        timer = self.node.after(delay_ms, fire)
        holder.append(timer)
        self._timers[key] = timer
        return timer

    def cancel(self, key: Hashable) -> bool:
        """Cancel ``key``'s timer; False if there was none."""
        timer = self._timers.pop(key, None)
        if timer is None:
            return False
        timer.cancel()
        return True

    def is_scheduled(self, key: Hashable) -> bool:
        return key in self._timers

    def cancel_all(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    # ------------------------------------------------------------------ crash and restart
    def on_crash(self, power_loss: bool) -> None:
        """The process died: timers and in-memory state are gone; with ``power_loss`` unflushed bytes too."""
        self.cancel_all()
        if self.log is not None and not self.log.closed:
            self.log.abandon()
        if power_loss and hasattr(self.storage, "crash"):
            self.storage.crash()   # the simulated disk loses what was never flushed
        self.shard.reset()

    def on_restart(self) -> int:
        """Reload the state from the log (timers are the coordinator's to arm again)."""
        return self.load()

    # ------------------------------------------------------------------ the event record
    def record(self, event: str, **details: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {"time": self.now(), "event": event}
        entry.update(details)
        self.trace.append(entry)
        return entry


class CoordinatorNode(Node):
    """A coordinator process on the simulated network, built on a :class:`CoordinatorRuntime`.

    Subclasses fill ``handlers`` (message type -> ``fn(src, msg)``), and override :meth:`boot` (called at
    start and after every restart, after the state was reloaded from the log) to arm their timers.
    Messages of a type without a handler are ignored (a coordinator answers only what it serves).
    """

    def __init__(self, name: str, network: Network, shard: CoordinatorShard, topic: str, *,
                 segment_bytes: int = DEFAULT_SEGMENT_BYTES, flush: bool = True) -> None:
        super().__init__(name, network)
        self.runtime = CoordinatorRuntime(self, shard, topic, segment_bytes=segment_bytes, flush=flush)
        self.handlers: dict[type, Callable[[str, Any], None]] = {}

    # the disk and the event record belong to the runtime; these keep the coordinators' old attribute names
    @property
    def storage(self) -> Storage:
        return self.runtime.storage

    @storage.setter
    def storage(self, storage: Storage) -> None:
        self.runtime.storage = storage

    @property
    def trace(self) -> Any:
        return self.runtime.trace

    @trace.setter
    def trace(self, trace: Any) -> None:
        self.runtime.trace = trace

    def start(self) -> None:
        """Load the state log, then :meth:`boot`."""
        self.runtime.load()
        self.boot()

    def boot(self) -> None:
        """Arm timers and rebuild derived state after a load (override; Kafka's ``CoordinatorShard.onLoaded``)."""

    def complete(self, dst: str, result: CoordinatorResult) -> None:
        """Persist ``result.records``, then send ``result.response`` to ``dst`` (persist-then-reply)."""
        self.runtime.write(result.records)
        if result.response is not None:
            self.send(dst, result.response)

    def on_message(self, src: str, msg: Any) -> None:
        handler = self.handlers.get(type(msg))
        if handler is not None:
            handler(src, msg)

    def on_crash(self, power_loss: bool) -> None:
        self.runtime.on_crash(power_loss)

    def on_restart(self) -> None:
        self.start()
        self.runtime.record("coordinator restarted")
