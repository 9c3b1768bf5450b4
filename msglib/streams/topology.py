"""A topology: processors wired from source topics to sink topics, built with a small DSL.

::

    builder = StreamsBuilder("clicks-app")
    clicks = builder.stream("clicks")
    (clicks.filter(lambda k, v: v["page"] != "/health")
           .group_by_key()
           .windowed_by(TimeWindows(60_000, grace_ms=10_000))
           .count(emit="final")
           .to_stream().to("clicks-per-minute"))
    topology = builder.build()

Each node ``process(ctx, key, value, timestamp)``-es one record and ``forward``-s what it makes to its children.
Nodes hold no state: ``ctx`` is the task (its stores, its stream time, its local scratch), so one topology
serves every task. A grouping after the key changed (``map``, ``flat_map``, ``select_key``, ``group_by``)
writes the records to a *repartition topic* and reads them back in a new *sub-topology*: records of one key
then meet in one partition, hence in one task. Sub-topologies are the connected parts of the graph once the
repartition topics are cut; a task is one sub-topology on one partition number of its source topics.
"""
from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from operator import length_hint
from typing import Any, Callable, Iterable, Sequence

from msglib.streams.stores import KeyValueStore, VersionedKeyValueStore, value_as_of
from msglib.streams.windows import JoinWindows, SessionWindows, SlidingWindows, TimeWindows, windows_to_update


class TopologyError(ValueError):
    """A topology that cannot run (the message says why and how to fix it)."""


# ---------------------------------------------------------------------------------- nodes
class Node:
    def __init__(self, name: str) -> None:
        self.name = name
        self.children: list[Node] = []

    def forward(self, ctx: Any, key: Any, value: Any, ts: int) -> None:
        for child in self.children:
            child.process(ctx, key, value, ts)

    def process(self, ctx: Any, key: Any, value: Any, ts: int) -> None:
        self.forward(ctx, key, value, ts)

    def process_batch(self, ctx: Any, records: Sequence[tuple[Any, Any, int]]) -> None:
        """``(key, value, ts)`` records as the task would hand them one by one (stream time advanced first,
        offset -1). Nodes with a batch loop override it; this one calls ``process`` per record."""
        each_record(self.process)(ctx, records)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class Source(Node):
    def __init__(self, name: str, topic: str) -> None:
        super().__init__(name)
        self.topic = topic

    def entry(self) -> Callable[[Any, Any, Any, int], None]:
        """The function a task calls for each record of this topic: the only child's ``process`` when there is
        one child (a source only forwards, so skipping it changes nothing), else this node's ``process``."""
        return self.children[0].process if len(self.children) == 1 else self.process

    def batch_entry(self) -> Callable[[Any, Sequence[tuple[Any, Any, int]]], None]:
        """What a task calls for a batch of this topic's records: the only child's ``process_batch``, else a
        loop over this node's ``process``."""
        return self.children[0].process_batch if len(self.children) == 1 else each_record(self.process)


def each_record(process: Callable[[Any, Any, Any, int], None]) -> Callable[[Any, Sequence[tuple]], None]:
    """A batch function that does per record what ``StreamTask.process`` does, then calls ``process``."""
    def run(ctx: Any, records: Sequence[tuple[Any, Any, int]]) -> None:
        ctx.offset = -1
        for key, value, ts in records:
            if ts > ctx.stream_time:
                ctx.stream_time = ts
            ctx.processed += 1
            process(ctx, key, value, ts)
    return run


class Sink(Node):
    def __init__(self, name: str, topic: str, repartition: bool = False) -> None:
        super().__init__(name)
        self.topic = topic
        self.repartition = repartition

    def process(self, ctx: Any, key: Any, value: Any, ts: int) -> None:
        ctx.send(self.topic, key, value, ts)


class MapNode(Node):
    def __init__(self, name: str, fn: Callable[[Any, Any], tuple]) -> None:
        super().__init__(name)
        self.fn = fn

    def process(self, ctx: Any, key: Any, value: Any, ts: int) -> None:
        k, v = self.fn(key, value)
        self.forward(ctx, k, v, ts)


class MapValuesNode(Node):
    def __init__(self, name: str, fn: Callable[[Any], Any]) -> None:
        super().__init__(name)
        self.fn = fn

    def process(self, ctx: Any, key: Any, value: Any, ts: int) -> None:
        self.forward(ctx, key, self.fn(value), ts)


class FilterNode(Node):
    def __init__(self, name: str, predicate: Callable[[Any, Any], bool]) -> None:
        super().__init__(name)
        self.predicate = predicate

    def process(self, ctx: Any, key: Any, value: Any, ts: int) -> None:
        if self.predicate(key, value):
            self.forward(ctx, key, value, ts)


class FlatMapNode(Node):
    def __init__(self, name: str, fn: Callable[[Any, Any], Iterable[tuple]]) -> None:
        super().__init__(name)
        self.fn = fn

    def process(self, ctx: Any, key: Any, value: Any, ts: int) -> None:
        for k, v in self.fn(key, value):
            self.forward(ctx, k, v, ts)


class BranchNode(Node):
    """Each record goes to the first branch whose predicate holds (Kafka's ``split().branch()``), or nowhere."""

    def __init__(self, name: str, predicates: list[Callable[[Any, Any], bool]]) -> None:
        super().__init__(name)
        self.predicates = predicates
        self.branches: list[Node] = [Node(f"{name}-{i}") for i in range(len(predicates))]
        self.children = []

    def process(self, ctx: Any, key: Any, value: Any, ts: int) -> None:
        for pred, branch in zip(self.predicates, self.branches):
            if pred(key, value):
                branch.forward(ctx, key, value, ts)
                return


class AggregateNode(Node):
    """``store[key] = aggregator(key, value, store[key] or initializer())``; forwards the new value (a KTable
    update). Records without a key or value are skipped; an aggregate of None deletes the key."""

    def __init__(self, name: str, store: str, initializer: Callable[[], Any],
                 aggregator: Callable[[Any, Any, Any], Any]) -> None:
        super().__init__(name)
        self.store = store
        self.initializer = initializer
        self.aggregator = aggregator

    def process(self, ctx: Any, key: Any, value: Any, ts: int) -> None:
        if key is None or value is None:
            ctx.skipped += 1
            return
        store = ctx.stores[self.store]
        old = store.data.get(key)
        new = self.aggregator(key, value, self.initializer() if old is None else old)
        store.put(key, new)
        self.forward(ctx, key, new, ts)


WindowsFn = Callable[[int, int, int, int, int], tuple]


def count_initializer() -> int:
    """``count()``'s initializer (named, so a window aggregation can recognise a count)."""
    return 0


def count_aggregator(key: Any, value: Any, agg: int) -> int:
    """``count()``'s aggregator: one more record."""
    return agg + 1


class WindowAggregateNode(Node):
    """A windowed aggregation over :class:`TimeWindows`; the store key is ``(key, window start)``.

    ``emit="update"`` forwards every new value of a window (Kafka's default, onWindowUpdate); ``emit="final"``
    forwards each window once, when it closes (stream time >= end + grace: ``suppress(untilWindowCloses)``,
    or Kafka 3.3's ``EmitStrategy.onWindowClose``). A window's state is removed from the store once it closed
    (Kafka keeps it for the store's retention, at least size + grace, for interactive queries). Windows close
    in the order ``(end, key, start)``.

    The task keeps the open windows in ``ctx.local[name]``, rebuilt from the store after a restore: a heap of
    ``(end, key, start)``; for tumbling windows (one start per end) a heap of ends and each end's keys."""

    def __init__(self, name: str, store: str, windows: TimeWindows, initializer: Callable[[], Any],
                 aggregator: Callable[[Any, Any, Any], Any], emit: str, windows_fn: WindowsFn | None) -> None:
        super().__init__(name)
        if emit not in ("update", "final"):
            raise TopologyError(f"emit must be 'update' or 'final', not {emit!r}")
        self.store, self.windows, self.emit = store, windows, emit
        self.initializer, self.aggregator = initializer, aggregator
        self.windows_fn = windows_fn or windows_to_update
        self._shape = (windows.size_ms, windows.advance, windows.grace_ms)
        self._tumbling = windows.advance == windows.size_ms
        # Fast path, same results: msglib's own windows_to_update on tumbling windows gives the one start
        # ts - ts % size for ts >= 0; count's aggregator adds 1 to the initializer's 0.
        self._counting = initializer is count_initializer and aggregator is count_aggregator
        if self._tumbling and windows_fn is None:
            self.process, self.process_batch = self._tumbling_process()      # type: ignore[method-assign]

    def _state(self, ctx: Any) -> tuple[KeyValueStore, Any]:
        """``(store, open windows)`` of this task, built from the store when missing (after a restore)."""
        state = ctx.local.get(self.name)
        if state is None:
            store = ctx.stores[self.store]
            size = self._shape[0]
            if self._tumbling:
                by_end: dict[int, list] = {}
                for k, s in store.data:
                    by_end.setdefault(s + size, []).append(k)
                ends = list(by_end)
                heapq.heapify(ends)
                state = ctx.local[self.name] = (store, (ends, by_end))
            else:
                closing = [(s + size, k, s) for k, s in store.data]
                heapq.heapify(closing)
                state = ctx.local[self.name] = (store, closing)
        return state

    def _opened(self, open_windows: Any, key: Any, start: int) -> None:
        end = start + self._shape[0]
        if self._tumbling:
            ends, by_end = open_windows
            keys = by_end.get(end)
            if keys is None:
                by_end[end] = [key]
                heapq.heappush(ends, end)
            else:
                keys.append(key)
        else:
            heapq.heappush(open_windows, (end, key, start))

    def _tumbling_process(self) -> tuple[Callable[[Any, Any, Any, int], None], Callable[[Any, Sequence], None]]:
        """``process`` and ``process_batch`` for tumbling windows with msglib's windows_to_update inlined (the
        hot path): a record updates one window, ``ts - ts % size``, or none if that window has closed. Same
        results as the general :meth:`process`, which takes the records this one does not (no key or value, a
        negative timestamp). The batch loop keeps the stream time in a local (written back to the task before
        anything else can read it) and the stream time at which the earliest open window closes."""
        size, _, grace = self._shape
        size_grace = size + grace
        never = float("inf")
        counting, initializer, aggregator = self._counting, self.initializer, self.aggregator
        update = self.emit == "update"
        general, forward, close, get_state = WindowAggregateNode.process, self.forward, self._close, self._state
        heappush = heapq.heappush
        # The state of the last task seen, found again by its ``local`` dict: a restore installs a new one
        # (and new store contents); the store's ``dirty`` dict is emptied in place by a flush, never replaced.
        last_local: Any = None
        store: Any = None
        open_windows: Any = None
        data: Any = None
        dirty: Any = None
        ends: Any = None
        by_end: Any = None

        def refresh(ctx: Any) -> None:
            nonlocal last_local, store, open_windows, data, dirty, ends, by_end
            store, open_windows = get_state(ctx)
            ends, by_end = open_windows
            data, dirty = store.data, store.dirty
            last_local = ctx.local

        def process(ctx: Any, key: Any, value: Any, ts: int) -> None:
            if key is None or value is None or ts < 0:
                return general(self, ctx, key, value, ts)
            if ctx.local is not last_local:
                refresh(ctx)
            start = ts - ts % size
            stream_time = ctx.stream_time
            if stream_time < start + size_grace:
                sk = (key, start)
                old = data.get(sk)
                if old is None:
                    end = start + size
                    keys = by_end.get(end)
                    if keys is None:
                        by_end[end] = [key]
                        heappush(ends, end)
                    else:
                        keys.append(key)
                    old = 0 if counting else initializer()
                new = old + 1 if counting else aggregator(key, value, old)
                data[sk] = dirty[sk] = new
                if update:
                    forward(ctx, (key, start, start + size), new, ts)
            else:
                ctx.dropped += 1                  # a late record
                ctx.late.append((key, value, ts))
            if ends and ends[0] <= stream_time - grace:
                close(ctx, store, open_windows, stream_time - grace)

        def process_batch(ctx: Any, records: Sequence[tuple[Any, Any, int]]) -> None:
            if ctx.local is not last_local:
                refresh(ctx)
            ctx.offset = -1
            stream_time = ctx.stream_time
            closes_at = ends[0] + grace if ends else never    # stream time that closes the earliest window
            if not isinstance(records, (list, tuple)):
                records = list(records)
            # records processed = taken from the iterator (its length hint: those not yet taken), so that an
            # exception in an aggregator counts the records up to the failing one, as process() per record would
            it = iter(records)
            try:
                for key, value, ts in it:
                    if ts > stream_time:
                        stream_time = ts
                    if key is None or value is None or ts < 0:
                        ctx.stream_time = stream_time
                        general(self, ctx, key, value, ts)
                        closes_at = ends[0] + grace if ends else never
                        continue
                    start = ts - ts % size
                    if stream_time < start + size_grace:
                        sk = (key, start)
                        old = data.get(sk)
                        if old is None:
                            end = start + size
                            keys = by_end.get(end)
                            if keys is None:
                                by_end[end] = [key]
                                heappush(ends, end)
                                if end + grace < closes_at:
                                    closes_at = end + grace
                            else:
                                keys.append(key)
                            old = 0 if counting else initializer()
                        new = old + 1 if counting else aggregator(key, value, old)
                        data[sk] = dirty[sk] = new
                        if update:
                            ctx.stream_time = stream_time
                            forward(ctx, (key, start, start + size), new, ts)
                    else:
                        ctx.dropped += 1          # a late record
                        ctx.late.append((key, value, ts))
                    if stream_time >= closes_at:
                        ctx.stream_time = stream_time
                        close(ctx, store, open_windows, stream_time - grace)
                        closes_at = ends[0] + grace if ends else never
            finally:
                ctx.stream_time = stream_time
                ctx.processed += len(records) - length_hint(it)
        return process, process_batch

    def process(self, ctx: Any, key: Any, value: Any, ts: int) -> None:
        size, advance, grace = self._shape
        store, open_windows = ctx.local.get(self.name) or self._state(ctx)
        if key is None or value is None:
            ctx.skipped += 1
            return
        starts, dropped = self.windows_fn(ts, ctx.stream_time, size, advance, grace)
        if dropped:
            ctx.dropped += 1                      # a late record: counted once, whatever the number of windows
            ctx.late.append((key, value, ts))
        data, dirty = store.data, store.dirty      # (store.put inlined)
        for start in starts:
            sk = (key, start)
            old = data.get(sk)
            if old is None:
                self._opened(open_windows, key, start)
                old = self.initializer()
            new = self.aggregator(key, value, old)
            data[sk] = dirty[sk] = new
            if self.emit == "update":
                self.forward(ctx, (key, start, start + size), new, ts)
        self._close(ctx, store, open_windows, ctx.stream_time - grace)   # windows with end <= horizon close

    def _close(self, ctx: Any, store: KeyValueStore, open_windows: Any, horizon: int) -> None:
        if self._tumbling:
            return self._close_tumbling(ctx, store, open_windows, horizon)
        else:
            due = []
            while open_windows and open_windows[0][0] <= horizon:
                due.append(heapq.heappop(open_windows))
        data, dirty = store.data, store.dirty
        final_emit = self.emit == "final"
        children = [child.process for child in self.children]     # self.forward, unrolled
        for end, k, start in due:
            sk = (k, start)
            final = data.get(sk)
            if final is None:
                continue
            if final_emit:
                for child in children:
                    child(ctx, (k, start, end), final, end - 1)
            data.pop(sk, None)                    # store.delete(sk), inlined: gone, and a tombstone for the
            dirty[sk] = None                      # changelog

    def _close_tumbling(self, ctx: Any, store: KeyValueStore, open_windows: Any, horizon: int) -> None:
        """:meth:`_close` for tumbling windows: each due end's keys in order, and a final result straight to the
        task's send function when the only child is a sink (what ``Sink.process`` and ``StreamTask.send`` do)."""
        ends, by_end = open_windows
        size = self._shape[0]
        data, dirty = store.data, store.dirty
        final_emit = self.emit == "final"
        children = [child.process for child in self.children]     # self.forward, unrolled
        sink = self.children[0] if len(self.children) == 1 and type(self.children[0]) is Sink else None
        send_fn = ctx.send_fn
        heappop = heapq.heappop
        while ends and ends[0] <= horizon:
            end = heappop(ends)
            start, last = end - size, end - 1
            for k in _sorted(by_end.pop(end)):
                sk = (k, start)
                final = data.get(sk)
                if final is None:
                    continue
                if final_emit:
                    if sink is None:
                        for child in children:
                            child(ctx, (k, start, end), final, last)
                    elif send_fn is not None:
                        send_fn(sink.topic, (k, start, end), final, last)
                del data[sk]                      # store.delete(sk), inlined: gone, and a tombstone for the
                dirty[sk] = None                  # changelog


def _sorted(keys: list) -> list:
    """Keys in order (as a heap of ``(end, key, start)`` would pop them); as they came if they do not compare."""
    try:
        return sorted(keys)
    except TypeError:
        return keys


class SlidingAggregateNode(Node):
    """An aggregation over :class:`SlidingWindows`: the key's recent records are kept in the store
    (``("records", key)`` -> ``[[ts, value], ...]``) and every window whose contents changed is recomputed and
    forwarded as ``((key, start, end), aggregate)``."""

    def __init__(self, name: str, store: str, windows: SlidingWindows, initializer: Callable[[], Any],
                 aggregator: Callable[[Any, Any, Any], Any]) -> None:
        super().__init__(name)
        self.store, self.windows = store, windows
        self.initializer, self.aggregator = initializer, aggregator

    def _aggregates(self, records: list) -> dict:
        out = {}
        for start, end in self.windows.windows([ts for ts, _ in records]):
            agg = self.initializer()
            for ts, v in sorted(records, key=lambda r: r[0]):
                if start <= ts <= end:
                    agg = self.aggregator(None, v, agg)
            out[(start, end)] = agg
        return out

    def process(self, ctx: Any, key: Any, value: Any, ts: int) -> None:
        if key is None or value is None:
            ctx.skipped += 1
            return
        w = self.windows
        if not w.is_open(ts, ctx.stream_time):          # the record's own (left) window has closed
            ctx.dropped += 1
            ctx.late.append((key, value, ts))
            return
        store = ctx.stores[self.store]
        keep_from = ctx.stream_time - 2 * w.time_difference_ms - w.grace_ms - 1
        records = [r for r in store.get(("records", key), []) if r[0] >= keep_from]
        before = self._aggregates(records)
        records.append([ts, value])
        store.put(("records", key), records)
        for (start, end), agg in self._aggregates(records).items():
            if before.get((start, end)) != agg and w.is_open(end, ctx.stream_time):
                self.forward(ctx, (key, start, end), agg, ts)


class SessionAggregateNode(Node):
    """An aggregation over :class:`SessionWindows`. Sessions of a key are kept as ``[start, end, aggregate]``;
    a record merges every session it touches. A merged-away session is forwarded as a tombstone
    ``((key, start, end), None)``, the new one with its aggregate. ``merger(key, agg1, agg2)`` merges two."""

    def __init__(self, name: str, store: str, windows: SessionWindows, initializer: Callable[[], Any],
                 aggregator: Callable[[Any, Any, Any], Any], merger: Callable[[Any, Any, Any], Any]) -> None:
        super().__init__(name)
        self.store, self.windows = store, windows
        self.initializer, self.aggregator, self.merger = initializer, aggregator, merger

    def process(self, ctx: Any, key: Any, value: Any, ts: int) -> None:
        if key is None or value is None:
            ctx.skipped += 1
            return
        w = self.windows
        store = ctx.stores[self.store]
        sessions = store.get(("sessions", key), [])
        touching = [s for s in sessions if w.touches(s[0], s[1], ts)]
        start = min([ts] + [s[0] for s in touching])
        end = max([ts] + [s[1] for s in touching])
        if not w.is_open(end, ctx.stream_time):
            ctx.dropped += 1
            ctx.late.append((key, value, ts))
            return
        agg = self.initializer()
        for s in touching:
            agg = self.merger(key, agg, s[2])
            self.forward(ctx, (key, s[0], s[1]), None, ts)
        agg = self.aggregator(key, value, agg)
        rest = [s for s in sessions if s not in touching and w.is_open(s[1], ctx.stream_time)]
        store.put(("sessions", key), sorted(rest + [[start, end, agg]]))
        self.forward(ctx, (key, start, end), agg, ts)


class TableSourceNode(Node):
    """Materialises a topic as a table: each record is an upsert (value None: a delete). With ``versioned``
    every version is kept with its timestamp. It forwards nothing: in a stream-table join only the stream
    side makes output."""

    def __init__(self, name: str, topic: str, store: str, versioned: bool) -> None:
        super().__init__(name)
        self.topic, self.store, self.versioned = topic, store, versioned

    def process(self, ctx: Any, key: Any, value: Any, ts: int) -> None:
        if key is None:
            ctx.skipped += 1
            return
        store = ctx.stores[self.store]
        if self.versioned:
            store.put_version(key, value, ts)
        else:
            store.put(key, value)
        self.forward(ctx, key, value, ts)


class StreamTableJoinNode(Node):
    """Joins each stream record with the table row for its key, as of when the record is processed (a plain
    table: the latest value processed) or as of the record's timestamp (a versioned table, Kafka 3.5, KIP-914).
    Inner join: no row, no output; left join: ``joiner(value, None)``. Records without key or value are dropped."""

    def __init__(self, name: str, store: str, joiner: Callable[[Any, Any], Any], left: bool,
                 lookup: Callable[[list, int], Any] | None) -> None:
        super().__init__(name)
        self.store, self.joiner, self.left = store, joiner, left
        self.lookup = lookup

    def process(self, ctx: Any, key: Any, value: Any, ts: int) -> None:
        if key is None or value is None:
            ctx.skipped += 1
            return
        table = ctx.stores[self.store]
        if table.versioned:
            row = (self.lookup or value_as_of)(list(table.data.get(key, ())), ts)
        else:
            row = table.data.get(key)
        if row is None and not self.left:
            return
        self.forward(ctx, key, self.joiner(value, row), ts)

    def process_batch(self, ctx: Any, records: Sequence[tuple[Any, Any, int]]) -> None:
        """The records of a batch joined in one loop (a plain table; a versioned one goes record by record).
        With one child, a sink, each joined record goes straight to the task's send function (what
        ``Sink.process`` and ``StreamTask.send`` do)."""
        table = ctx.stores[self.store]
        if table.versioned:
            return each_record(self.process)(ctx, records)
        rows, joiner, left = table.data, self.joiner, self.left
        children = self.children
        sink = children[0] if len(children) == 1 and type(children[0]) is Sink else None
        send_fn, topic, forward = ctx.send_fn, sink.topic if sink else None, self.forward
        ctx.offset = -1
        stream_time = ctx.stream_time
        n = 0
        try:
            for key, value, ts in records:
                n += 1
                if ts > stream_time:
                    stream_time = ts
                if key is None or value is None:
                    ctx.skipped += 1
                    continue
                row = rows.get(key)
                if row is None and not left:
                    continue
                joined = joiner(value, row)
                if sink is None:
                    ctx.stream_time = stream_time
                    forward(ctx, key, joined, ts)
                elif send_fn is not None:
                    send_fn(topic, key, joined, ts)
        finally:
            ctx.stream_time = stream_time
            ctx.processed += n


class StreamStreamJoinNode(Node):
    """One side of a windowed inner join: remembers its records (store key ``(key, ts, offset)``) and joins
    each new record with the other side's records within the :class:`JoinWindows`. The output's timestamp is
    the larger of the two. A record whose window closed (stream time > ts + after + grace) is dropped."""

    def __init__(self, name: str, this_store: str, other_store: str, windows: JoinWindows,
                 joiner: Callable[[Any, Any], Any], is_left: bool) -> None:
        super().__init__(name)
        self.this_store, self.other_store = this_store, other_store
        self.windows, self.joiner, self.is_left = windows, joiner, is_left

    def process(self, ctx: Any, key: Any, value: Any, ts: int) -> None:
        if key is None or value is None:
            ctx.skipped += 1
            return
        w = self.windows
        after = w.after if self.is_left else w.before_ms
        if ctx.stream_time > ts + after + w.grace_ms:
            ctx.dropped += 1
            ctx.late.append((key, value, ts))
            return
        mine, other = ctx.stores[self.this_store], ctx.stores[self.other_store]
        mine.put((key, ts, ctx.offset), value)
        horizon = ctx.stream_time - w.before_ms - w.after - w.grace_ms
        for (k, other_ts, off), other_value in sorted(other.data.items(), key=lambda kv: kv[0][1:]):
            if k == key and w.matches(ts, other_ts, self.is_left):
                left, right = (value, other_value) if self.is_left else (other_value, value)
                self.forward(ctx, key, self.joiner(left, right), max(ts, other_ts))
        for store in (mine, other):                          # forget records no window can match any more
            for sk in [sk for sk in store.data if sk[1] < horizon]:
                store.delete(sk)


# ---------------------------------------------------------------------------------- the DSL
@dataclass
class StoreSpec:
    name: str
    versioned: bool = False
    lookup: Callable[[list, int], Any] | None = None

    def make(self) -> KeyValueStore:
        return VersionedKeyValueStore(self.name, self.lookup) if self.versioned else KeyValueStore(self.name)


@dataclass
class Topology:
    """What :meth:`StreamsBuilder.build` returns: sources per topic, stores, repartition topics, sub-topologies."""

    application_id: str
    sources: dict[str, Node]
    stores: dict[str, StoreSpec]
    repartition_topics: list[str]
    subtopologies: list[set[str]]             # source topics of each sub-topology
    store_owner: dict[str, int] = field(default_factory=dict)   # store -> sub-topology

    def subtopology_of(self, topic: str) -> int:
        for i, topics in enumerate(self.subtopologies):
            if topic in topics:
                return i
        raise TopologyError(f"topic {topic!r} is not a source of this topology")

    def source_topics(self) -> list[str]:
        return sorted(self.sources)

    def input_topics(self) -> list[str]:
        """The source topics that are not the topology's own repartition topics."""
        return sorted(t for t in self.sources if t not in self.repartition_topics)

    def describe(self) -> str:
        lines = [f"topology {self.application_id!r}"]
        for i, topics in enumerate(self.subtopologies):
            stores = sorted(s for s, sub in self.store_owner.items() if sub == i)
            lines.append(f"  sub-topology {i}: sources {sorted(topics)}; stores {stores}")
            for t in sorted(topics):
                lines += _tree(self.sources[t], "    ")
        return "\n".join(lines)


def _tree(node: Node, indent: str) -> list[str]:
    what = f"{node!r}" + (f" -> topic {node.topic!r}" if isinstance(node, Sink) else "")
    out = [indent + what]
    kids = node.branches if isinstance(node, BranchNode) else node.children
    for child in kids:
        out += _tree(child, indent + "  ")
    return out


class StreamsBuilder:
    def __init__(self, application_id: str = "app") -> None:
        if not application_id or not isinstance(application_id, str):
            raise TopologyError(f"application_id must be a non-empty str, not {application_id!r}")
        self.application_id = application_id
        self.sources: dict[str, Node] = {}
        self.stores: dict[str, StoreSpec] = {}
        self.repartition: list[str] = []
        self.links: list[tuple[str, str]] = []     # (topic, store) / (store, store) used together in one task
        self.node_topic: dict[int, str] = {}       # id(node) -> the source topic it hangs under
        self._ids = itertools.count()

    def name(self, kind: str) -> str:
        return f"{kind.upper()}-{next(self._ids):010d}"

    def _source(self, topic: str) -> Node:
        if topic in self.sources:
            raise TopologyError(f"topic {topic!r} is already a source; read it once and reuse the KStream")
        node = self.sources[topic] = Source(self.name("source"), topic)
        return node

    def stream(self, topic: str) -> "KStream":
        return KStream(self, self._source(topic), topic, key_changed=False)

    def table(self, topic: str, *, versioned: bool = False, store: str | None = None,
              lookup: Callable[[list, int], Any] | None = None) -> "KTable":
        """A table materialised from ``topic`` (upserts by key; a value None deletes). ``versioned=True`` keeps
        each key's versions by timestamp, and ``lookup(versions, ts)`` picks the one a stream record sees."""
        src = self._source(topic)
        name = store or f"{topic}-table"
        self.add_store(StoreSpec(name, versioned, lookup))
        node = TableSourceNode(self.name("ktable-source"), topic, name, versioned)
        src.children.append(node)
        self.links.append((topic, name))
        return KTable(self, node, topic, name)

    def add_store(self, spec: StoreSpec) -> None:
        if spec.name in self.stores:
            raise TopologyError(f"a store named {spec.name!r} exists already; give this one another name")
        self.stores[spec.name] = spec

    def build(self) -> Topology:
        # Sub-topologies: union the source topics that share a store (a stream joined with a table).
        parent = {t: t for t in self.sources}

        def find(x: str) -> str:
            while parent[x] != x:
                x = parent[x]
            return x
        store_topics: dict[str, set[str]] = {}
        for topic, store in self.links:
            store_topics.setdefault(store, set()).add(topic)
        for topics in store_topics.values():
            first, *rest = sorted(topics)
            for t in rest:
                parent[find(t)] = find(first)
        groups: dict[str, set[str]] = {}
        for t in sorted(self.sources):
            groups.setdefault(find(t), set()).add(t)
        subs = sorted(groups.values(), key=lambda g: min(g))
        owner = {}
        for store, topics in store_topics.items():
            owner[store] = next(i for i, g in enumerate(subs) if topics & g)
        for store in self.stores:
            if store not in owner:
                raise TopologyError(f"store {store!r} is used by no source (internal error)")
        return Topology(self.application_id, dict(self.sources), dict(self.stores), list(self.repartition), subs,
                        owner)


class KStream:
    """A stream of records (each one an independent fact)."""

    def __init__(self, builder: StreamsBuilder, node: Node, topic: str, key_changed: bool) -> None:
        self.builder, self.node, self.topic, self.key_changed = builder, node, topic, key_changed

    def _then(self, node: Node, key_changed: bool | None = None) -> "KStream":
        self.node.children.append(node)
        return KStream(self.builder, node, self.topic, self.key_changed if key_changed is None else key_changed)

    def map(self, fn: Callable[[Any, Any], tuple]) -> "KStream":
        """``fn(key, value) -> (new_key, new_value)``; the key may change (a later grouping repartitions)."""
        return self._then(MapNode(self.builder.name("map"), fn), True)

    def select_key(self, fn: Callable[[Any, Any], Any]) -> "KStream":
        return self._then(MapNode(self.builder.name("select-key"), lambda k, v: (fn(k, v), v)), True)

    def map_values(self, fn: Callable[[Any], Any]) -> "KStream":
        return self._then(MapValuesNode(self.builder.name("map-values"), fn))

    def filter(self, predicate: Callable[[Any, Any], bool]) -> "KStream":
        return self._then(FilterNode(self.builder.name("filter"), predicate))

    def flat_map(self, fn: Callable[[Any, Any], Iterable[tuple]]) -> "KStream":
        return self._then(FlatMapNode(self.builder.name("flat-map"), fn), True)

    def branch(self, *predicates: Callable[[Any, Any], bool]) -> list["KStream"]:
        node = BranchNode(self.builder.name("branch"), list(predicates))
        self.node.children.append(node)
        return [KStream(self.builder, b, self.topic, self.key_changed) for b in node.branches]

    def to(self, topic: str) -> None:
        self.node.children.append(Sink(self.builder.name("sink"), topic))

    def group_by_key(self) -> "KGroupedStream":
        return KGroupedStream(self._repartitioned() if self.key_changed else self)

    def group_by(self, fn: Callable[[Any, Any], Any]) -> "KGroupedStream":
        return self.select_key(fn).group_by_key()

    def _repartitioned(self) -> "KStream":
        b = self.builder
        topic = f"{b.application_id}-{b.name('repartition').lower()}-repartition"
        b.repartition.append(topic)
        self.node.children.append(Sink(b.name("repartition-sink"), topic, repartition=True))
        return b.stream(topic)

    def join(self, table: "KTable", joiner: Callable[[Any, Any], Any], *, left: bool = False) -> "KStream":
        """Stream-table join (inner; ``left=True`` for a left join). Both topics must be co-partitioned."""
        stream = self._repartitioned() if self.key_changed else self
        lookup = table.builder.stores[table.store].lookup
        node = StreamTableJoinNode(self.builder.name("stream-table-join"), table.store, joiner, left, lookup)
        self.builder.links.append((stream.topic, table.store))
        return stream._then(node)

    def left_join(self, table: "KTable", joiner: Callable[[Any, Any], Any]) -> "KStream":
        return self.join(table, joiner, left=True)

    def join_stream(self, other: "KStream", joiner: Callable[[Any, Any], Any], windows: JoinWindows) -> "KStream":
        """Windowed inner stream-stream join: ``joiner(left value, right value)`` for every pair of records of a
        key whose timestamps are within ``windows``."""
        b = self.builder
        this = self._repartitioned() if self.key_changed else self
        that = other._repartitioned() if other.key_changed else other
        s1, s2 = b.name("join-this-store").lower(), b.name("join-other-store").lower()
        b.add_store(StoreSpec(s1))
        b.add_store(StoreSpec(s2))
        b.links += [(this.topic, s1), (this.topic, s2), (that.topic, s1), (that.topic, s2)]
        merged = Node(b.name("merge"))
        left = StreamStreamJoinNode(b.name("join-this"), s1, s2, windows, joiner, True)
        right = StreamStreamJoinNode(b.name("join-other"), s2, s1, windows, joiner, False)
        this.node.children.append(left)
        that.node.children.append(right)
        left.children.append(merged)
        right.children.append(merged)
        return KStream(b, merged, this.topic, False)


class KGroupedStream:
    def __init__(self, stream: KStream) -> None:
        self.stream = stream

    def aggregate(self, initializer: Callable[[], Any], aggregator: Callable[[Any, Any, Any], Any], *,
                  store: str | None = None) -> "KTable":
        b = self.stream.builder
        name = store or b.name("aggregate-store").lower()
        b.add_store(StoreSpec(name))
        b.links.append((self.stream.topic, name))
        node = AggregateNode(b.name("aggregate"), name, initializer, aggregator)
        self.stream.node.children.append(node)
        return KTable(b, node, self.stream.topic, name)

    def count(self, *, store: str | None = None) -> "KTable":
        return self.aggregate(count_initializer, count_aggregator, store=store)

    def reduce(self, reducer: Callable[[Any, Any], Any], *, store: str | None = None) -> "KTable":
        return self.aggregate(lambda: None, lambda k, v, agg: v if agg is None else reducer(agg, v), store=store)

    def windowed_by(self, windows: Any, *, windows_fn: WindowsFn | None = None) -> "WindowedKStream":
        if not isinstance(windows, (TimeWindows, SlidingWindows, SessionWindows)):
            raise TopologyError(f"windowed_by takes TimeWindows, SlidingWindows or SessionWindows, not {windows!r}")
        return WindowedKStream(self.stream, windows, windows_fn)


class WindowedKStream:
    def __init__(self, stream: KStream, windows: Any, windows_fn: WindowsFn | None) -> None:
        self.stream, self.windows, self.windows_fn = stream, windows, windows_fn

    def aggregate(self, initializer: Callable[[], Any], aggregator: Callable[[Any, Any, Any], Any], *,
                  emit: str = "update", merger: Callable[[Any, Any, Any], Any] | None = None,
                  store: str | None = None) -> "KTable":
        b = self.stream.builder
        name = store or b.name("window-store").lower()
        b.add_store(StoreSpec(name))
        b.links.append((self.stream.topic, name))
        w = self.windows
        if isinstance(w, TimeWindows):
            node: Node = WindowAggregateNode(b.name("window-aggregate"), name, w, initializer, aggregator, emit,
                                             self.windows_fn)
        elif emit != "update":
            raise TopologyError("emit='final' is modelled for TimeWindows only")
        elif isinstance(w, SlidingWindows):
            node = SlidingAggregateNode(b.name("sliding-aggregate"), name, w, initializer, aggregator)
        else:
            if merger is None:
                raise TopologyError("session windows need merger(key, agg1, agg2) to merge two sessions")
            node = SessionAggregateNode(b.name("session-aggregate"), name, w, initializer, aggregator, merger)
        self.stream.node.children.append(node)
        return KTable(b, node, self.stream.topic, name)

    def count(self, *, emit: str = "update", store: str | None = None) -> "KTable":
        return self.aggregate(count_initializer, count_aggregator, emit=emit,
                              merger=lambda k, a, b: a + b, store=store)


class KTable:
    """A table: the latest value per key. Its updates can be read as a stream (``to_stream``)."""

    def __init__(self, builder: StreamsBuilder, node: Node, topic: str, store: str) -> None:
        self.builder, self.node, self.topic, self.store = builder, node, topic, store

    def to_stream(self) -> KStream:
        return KStream(self.builder, self.node, self.topic, key_changed=False)
