"""KafkaConsumer over the simulated cluster (or a local Topic), shaped like kafka-python's.

::

    consumer = KafkaConsumer("orders", cluster=cluster, group_id="billing",
                             auto_offset_reset="earliest", enable_auto_commit=False)
    for tp, records in consumer.poll(timeout_ms=1_000).items():
        for record in records:
            handle(record.value)
    consumer.commit()            # the NEXT offsets to read: last returned + 1

The words that matter (section H of the semantics reference):

* **position** -- the next offset ``poll`` returns for a partition; it moves
  when ``poll`` *returns* records (not when they are fetched).
* **committed offset** -- the position a group stored with the coordinator;
  whoever gets the partition next starts there. Commit after processing:
  at-least-once. Commit before: at-most-once.
* **auto.offset.reset** -- where to start without a (valid) committed offset:
  ``earliest`` (log start), ``latest`` (the high-water mark) or ``none`` (raise).
  :func:`starting_offset` is that rule; a consumer takes another one through
  its ``reset_position`` setting (the seam an exercise plugs into).

What happens inside ``poll(timeout_ms)``, in order: group membership (join,
sync, revoke and assign partitions: ``msglib.groups.membership``), auto-commit
of the positions the *previous* poll reached, starting positions for new
partitions (committed offset, else the reset policy), then records: from the
buffer if there are some, else fetches to the partition leaders, waiting up
to ``timeout_ms`` of simulated time.

Two backends share all of this: a :class:`~msglib.cluster.Cluster` (fetches go
to partition leaders over the simulated network and see records below the
high-water mark) and a :class:`~msglib.groups.local.LocalBroker` or a bare
:class:`~msglib.log.Topic` (fetches read the logs directly).

**isolation_level** (module 06, cluster only): ``read_uncommitted`` reads up to
the high-water mark, records of open and aborted transactions included.
``read_committed`` reads only up to the *last stable offset* (nothing of a
transaction that may still abort, nor anything after it), and drops the
records of aborted transactions (:func:`filter_aborted`, the seam
``aborted_filter``). At both levels transaction markers (control batches) are
never returned, but the position moves past them: offsets seen by the
application have gaps.
"""
from __future__ import annotations

import math
import re
from collections import namedtuple
from typing import Any, Callable, Iterable, Iterator

from msglib import protocol as proto
from msglib.client.future import Future
from msglib.groups import errors as GE
from msglib.groups.assignors import make_assignor
from msglib.groups.coordinator import coordinator_for
from msglib.groups.local import FAST_CONSUMER_DEFAULTS, LocalBroker
from msglib.groups.membership import ConsumerCoordinator
from msglib.log import OffsetOutOfRangeError as LogOffsetOutOfRangeError, Topic
from msglib.log.records import ControlType
from msglib.protocol import ConsumerGroupMetadata, OffsetAndMetadata, TopicPartition, broker_node, errors as CE
from msglib.protocol.errors import IllegalStateError, KafkaConfigurationError, KafkaTimeoutError
from msglib.protocol.metadata import ClientMetadata
from msglib.sim.history import FAIL, OK
from msglib.sim.network import Endpoint

DEFAULT_CONFIG: dict[str, Any] = {
    "bootstrap_servers": None,
    "client_id": None,
    "group_id": None,
    "group_instance_id": None,
    "key_deserializer": None,
    "value_deserializer": None,
    "auto_offset_reset": "latest",
    "enable_auto_commit": True,
    "auto_commit_interval_ms": 5_000,
    "isolation_level": "read_uncommitted",
    "partition_assignment_strategy": ("range", "roundrobin"),   # kafka-python's default
    "max_poll_records": 500,
    "max_poll_interval_ms": 300_000,
    "session_timeout_ms": 45_000,
    "heartbeat_interval_ms": 3_000,
    "fetch_min_bytes": 1,
    "fetch_max_wait_ms": 500,
    "max_partition_fetch_bytes": 1_048_576,
    "consumer_timeout_ms": math.inf,
    "request_timeout_ms": 30_000,
    "retry_backoff_ms": 100,
    "default_api_timeout_ms": 60_000,
    # msglib
    "history": None,          # record polls and commits into this History
    "reset_position": None,   # the starting-offset rule (default: starting_offset)
    "aborted_filter": None,   # read_committed: drops aborted transactions' batches (default: filter_aborted)
}

ConsumerRecord = namedtuple("ConsumerRecord", [
    "topic", "partition", "leader_epoch", "offset", "timestamp", "timestamp_type", "key", "value", "headers",
    "checksum", "serialized_key_size", "serialized_value_size", "serialized_header_size"])

OffsetAndTimestamp = namedtuple("OffsetAndTimestamp", ["offset", "timestamp", "leader_epoch"])

PartitionBounds = namedtuple("PartitionBounds", ["log_start_offset", "high_watermark", "log_end_offset",
                                                 "last_stable_offset"], defaults=[None])
PartitionBounds.__doc__ = """Where a partition's log stands: the first offset still readable, the end consumers
may read to (the high-water mark), the end of the log (the next offset to be written), and the end
read_committed consumers may read to (the last stable offset; None where there are no transactions)."""

_MISSING = object()


def starting_offset(committed: int | None, bounds: PartitionBounds, policy: str) -> int:
    """Where a consumer starts reading a partition (``auto.offset.reset``, section H#78).

    The committed offset if there is one and it is still in the log
    (``log_start_offset <= committed <= log_end_offset``); otherwise the policy:
    ``earliest`` -> the log start, ``latest`` -> the high-water mark, ``none`` ->
    an error, because the consumer must not guess.
    """
    if committed is not None and bounds.log_start_offset <= committed <= bounds.log_end_offset:
        return committed
    if policy == "earliest":
        return bounds.log_start_offset
    if policy == "latest":
        return bounds.high_watermark
    if committed is None:
        raise GE.NoOffsetForPartitionError("no committed offset and auto_offset_reset='none'")
    raise CE.OffsetOutOfRangeError(f"offset {committed} is outside the log [{bounds.log_start_offset}, "
                                   f"{bounds.log_end_offset}] and auto_offset_reset='none'")


def filter_aborted(batches: list, aborted_transactions: list) -> list:
    """The batches a read_committed consumer hands to the application (Kafka's CompletedFetch).

    ``batches``: one fetch's record batches, in offset order, all below the
    last stable offset. ``aborted_transactions``: ``(producer_id,
    first_offset)`` of every aborted transaction that overlaps them.

    Walking the batches in order, a producer's transaction counts as aborted
    from its ``first_offset`` on, until that producer's ABORT marker. Its
    transactional batches in between are dropped. Everything else stays:
    non-transactional batches, and the same producer's *other* transactions
    (before ``first_offset``, or after the marker: committed ones). Control
    batches (the markers) are never handed to the application.
    """
    pending = sorted(aborted_transactions, key=lambda a: a[1])   # by first offset
    aborting: set[int] = set()                                  # producers inside an aborted transaction
    out = []
    for batch in batches:
        while pending and pending[0][1] <= batch.last_offset:      # reached this transaction's first record
            aborting.add(pending.pop(0)[0])
        if batch.is_control:
            if batch.control_type == ControlType.ABORT:
                aborting.discard(batch.producer_id)                 # that aborted transaction ends here
            continue
        if batch.is_transactional and batch.producer_id in aborting:
            continue
        out.append(batch)
    return out


class ConsumerRebalanceListener:
    """Called in ``poll()`` around a rebalance. Override what you need (kafka-python's shape)."""

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        """Before the partitions go: commit what you processed (they may be someone else's next)."""

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        """The new partitions; positions come from the committed offsets (or the reset policy)."""

    def on_partitions_lost(self, lost: list[TopicPartition]) -> None:
        """The partitions were already taken away (this member was removed): committing is too late."""
        self.on_partitions_revoked(lost)


class KafkaConsumer:
    """Consumes from a simulated cluster or a LocalBroker/Topic. See the module docstring."""

    def __init__(self, *topics: str, cluster: Any = None, **configs: Any) -> None:
        if cluster is None:
            raise ValueError("KafkaConsumer needs something to consume from: KafkaConsumer('orders', "
                             "cluster=cluster) with a msglib Cluster, a LocalBroker, or a msglib.log.Topic")
        if isinstance(cluster, Topic):
            cluster = LocalBroker.for_topic(cluster)
        unknown = set(configs) - set(DEFAULT_CONFIG)
        if unknown:
            raise KafkaConfigurationError(f"Unrecognized configs: {sorted(unknown)}")
        if isinstance(cluster, LocalBroker):
            defaults = cluster.client_defaults
        else:
            fast = getattr(cluster.config, "broker_heartbeat_interval_ms", 2_000) < 1_000
            defaults = FAST_CONSUMER_DEFAULTS if fast else {}
        self.config = c = dict(DEFAULT_CONFIG, **defaults)
        c.update(configs)
        self._validate_config()
        self.cluster = cluster
        name = c["client_id"] or cluster.next_client_name("consumer")
        c["client_id"] = self.name = name
        self.node = Endpoint(name, cluster.network, self._on_message)
        self.sim = self.node.sim
        self.history = c["history"]
        self.reset_position: Callable[..., int] = c["reset_position"] or starting_offset
        self.aborted_filter: Callable[..., list] = c["aborted_filter"] or filter_aborted
        self.read_committed = c["isolation_level"] == "read_committed"
        if self.read_committed and isinstance(cluster, LocalBroker):
            raise KafkaConfigurationError(
                "isolation_level='read_committed' needs a msglib Cluster: transactions (module 06, msglib.txn) "
                "run on the cluster's brokers, and a LocalBroker has no transaction markers. Use "
                "cluster.consumer(..., isolation_level='read_committed')")
        if isinstance(cluster, LocalBroker):
            self._fetcher: _Fetcher = _TopicFetcher(self, cluster)
            coordinator = cluster.coordinator
        else:
            self._fetcher = _ClusterFetcher(self, cluster)
            coordinator = coordinator_for(cluster)
        self.coordinator_node = coordinator
        assignors = [make_assignor(a) for a in c["partition_assignment_strategy"]]
        self._coordinator = ConsumerCoordinator(self, coordinator.name, assignors)
        self._request_ids = 0
        self._subscription: set[str] | None = None
        self._pattern: re.Pattern | None = None
        self._user_assignment = False
        self._assignment: list[TopicPartition] = []
        self._positions: dict[TopicPartition, int | None] = {}
        self._paused: set[TopicPartition] = set()
        self._buffer: dict[TopicPartition, list[ConsumerRecord]] = {}
        self._buffer_end: dict[TopicPartition, int] = {}   # the position once the buffer is drained
        self._resolving: dict[TopicPartition, dict[str, Any]] = {}
        self._offset_fetch_out = False
        self._highwater: dict[TopicPartition, int] = {}
        self._listener: ConsumerRebalanceListener | None = None
        self._next_auto_commit = self.sim.now + c["auto_commit_interval_ms"]
        self._closed = False
        self._crashed = False
        self._woken = False
        self._rr = 0
        self._iterator_records: list[ConsumerRecord] = []
        # (time, partitions owned from then on): who owned what when, for timelines and checks
        self.assignment_log: list[tuple[float, tuple[TopicPartition, ...]]] = [(self.sim.now, ())]
        self.stats = {"records": 0, "polls": 0, "commits": 0, "commit_failures": 0}
        if topics:
            self.subscribe(topics)

    # ------------------------------------------------------------------ configuration
    def _validate_config(self) -> None:
        c = self.config
        if c["auto_offset_reset"] not in ("earliest", "latest", "none"):
            raise KafkaConfigurationError(f"auto_offset_reset must be 'earliest', 'latest' or 'none', "
                                          f"not {c['auto_offset_reset']!r}")
        if c["isolation_level"] not in ("read_uncommitted", "read_committed"):
            raise KafkaConfigurationError(f"isolation_level must be 'read_uncommitted' or 'read_committed', "
                                          f"not {c['isolation_level']!r}")
        if not isinstance(c["max_poll_records"], int) or c["max_poll_records"] <= 0:
            raise KafkaConfigurationError(f"max_poll_records must be an int > 0, not {c['max_poll_records']!r}")
        if c["heartbeat_interval_ms"] >= c["session_timeout_ms"]:
            raise KafkaConfigurationError("heartbeat_interval_ms must be lower than session_timeout_ms, or the "
                                          "member is removed between two heartbeats")
        if c["request_timeout_ms"] <= c["fetch_max_wait_ms"]:
            raise KafkaConfigurationError("request_timeout_ms must be greater than fetch_max_wait_ms, or every "
                                          "long-polling fetch times out")
        if not c["partition_assignment_strategy"]:
            raise KafkaConfigurationError("partition_assignment_strategy needs at least one assignor")

    supports_read_committed = True    # on a Cluster (a LocalBroker refuses it in __init__)

    def _visible_end(self, bounds: PartitionBounds) -> int:
        """The end a consumer may read to: the high-water mark, or the LSO under read_committed."""
        if self.read_committed and bounds.last_stable_offset is not None:
            return bounds.last_stable_offset
        return bounds.high_watermark

    def _filter_batches(self, tp: TopicPartition, batches: list, aborted: list | None = None) -> list:
        """Batches that hold records for the application: never control batches (transaction markers);
        under read_committed, not the batches of aborted transactions either (``aborted_filter``)."""
        if self.read_committed:
            kept = self.aborted_filter(list(batches), list(aborted or []))
            if not isinstance(kept, list):
                raise TypeError(f"aborted_filter returned {type(kept).__name__}; it must return a list of batches")
            return [b for b in kept if not b.is_control]
        return [b for b in batches if not b.is_control]

    # ------------------------------------------------------------------ small helpers
    def _next_request_id(self) -> int:
        self._request_ids += 1
        return self._request_ids

    def _wakeup(self) -> None:
        self._woken = True

    def _wakeup_later(self, ms: float) -> None:
        self.node.after(ms, self._wakeup)

    def _check_open(self) -> None:
        if self._crashed:
            raise IllegalStateError(f"consumer {self.name} crashed; start a new consumer in its place")
        if self._closed:
            raise IllegalStateError("This consumer has been closed.")

    def _wait(self, until: float) -> None:
        """Let simulated time run until a response arrives or the clock reaches ``until``."""
        self._woken = False
        self.sim.run_until(lambda: self._woken, until=until)
        if not self._woken and self.sim.now < until:
            self.sim.run(until=until)   # nothing left to happen before then: just let the clock move

    def _block_until(self, done: Callable[[], bool], timeout_ms: float | None, what: str) -> None:
        deadline = self.sim.now + (self.config["default_api_timeout_ms"] if timeout_ms is None else timeout_ms)
        while not done():
            if self.sim.now >= deadline:
                raise KafkaTimeoutError(f"{what} did not finish within {deadline - self.sim.now:g} ms")
            self._wait(deadline)

    @property
    def _group_managed(self) -> bool:
        return self._subscription is not None

    def _partition_counts(self, topics: Iterable[str]) -> dict[str, int] | None:
        counts = {}
        for t in topics:
            n = self._fetcher.partitions_for(t)
            if n is None:
                return None
            counts[t] = n
        return counts

    def _on_message(self, src: str, msg: Any) -> None:
        if src == self._coordinator.coordinator:
            self._coordinator.on_response(msg)
        else:
            self._fetcher.on_message(src, msg)

    # ------------------------------------------------------------------ subscribe / assign
    def subscribe(self, topics: Iterable[str] = (), pattern: str | None = None,
                  listener: ConsumerRebalanceListener | None = None) -> None:
        """Join the group and let it assign partitions of ``topics`` (or of topics matching ``pattern``)."""
        self._check_open()
        if self._user_assignment:
            raise IllegalStateError("You must choose only one way to configure your consumer: subscribe() "
                                    "(the group assigns partitions) or assign() (you pick them).")
        if self.config["group_id"] is None:
            raise KafkaConfigurationError("subscribe() needs a group_id: the group coordinator assigns partitions "
                                          "to the members of a group. Use assign() for a consumer without a group.")
        if isinstance(topics, str):
            topics = [topics]
        topics = list(topics)
        if bool(topics) == bool(pattern):
            raise ValueError("subscribe() takes topics or a pattern (exactly one of them)")
        self._pattern = re.compile(pattern) if pattern else None
        wanted = set(topics) if topics else self._matching_topics()
        self._listener = listener
        if wanted != self._subscription:
            self._subscription = wanted
            self._coordinator.request_rejoin(f"subscribed to {sorted(wanted)}")

    def _matching_topics(self) -> set[str]:
        return {t for t in self._fetcher.topics() if self._pattern.fullmatch(t)} if self._pattern else set()

    def subscription(self) -> set[str] | None:
        return None if self._subscription is None else set(self._subscription)

    def unsubscribe(self) -> None:
        self._check_open()
        if self._assignment:
            self._maybe_auto_commit_sync()
            self._revoke(list(self._assignment))
        if self._group_managed:
            self._coordinator.leave_group("unsubscribed")
        self._subscription = None
        self._pattern = None
        self._user_assignment = False

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Consume exactly these partitions, without group membership (no rebalances)."""
        self._check_open()
        partitions = [TopicPartition(*tp) for tp in partitions]
        if self._subscription is not None:
            raise IllegalStateError("You must choose only one way to configure your consumer: subscribe() "
                                    "(the group assigns partitions) or assign() (you pick them).")
        if not partitions:
            return self.unsubscribe()
        if self._assignment:
            self._maybe_auto_commit_sync()
        self._user_assignment = True
        new = sorted(set(partitions))
        for tp in set(self._assignment) - set(new):
            self._forget(tp)
        for tp in new:
            self._positions.setdefault(tp, None)
        self._set_assignment(new)

    def assignment(self) -> set[TopicPartition]:
        return set(self._assignment)

    # ------------------------------------------------------------------ rebalance callbacks (from membership.py)

    def _set_assignment(self, tps: Iterable[TopicPartition]) -> None:
        self._assignment = sorted(set(tps))
        if tuple(self._assignment) != self.assignment_log[-1][1]:
            self.assignment_log.append((self.sim.now, tuple(self._assignment)))

    def _forget(self, tp: TopicPartition) -> None:
        self._positions.pop(tp, None)
        self._buffer.pop(tp, None)
        self._buffer_end.pop(tp, None)
        self._resolving.pop(tp, None)
        self._paused.discard(tp)

    def _revoke(self, tps: list[TopicPartition]) -> None:
        if self._listener is not None:
            self._listener.on_partitions_revoked(list(tps))
        for tp in tps:
            self._forget(tp)
        self._set_assignment(tp for tp in self._assignment if tp not in set(tps))

    def _lose(self, tps: list[TopicPartition], reason: str) -> None:
        if self._listener is not None:
            self._listener.on_partitions_lost(list(tps))
        for tp in tps:
            self._forget(tp)
        self._set_assignment(tp for tp in self._assignment if tp not in set(tps))

    def _on_join_complete(self, assignment: list[TopicPartition], cooperative: bool) -> None:
        owned = set(self._assignment)
        if cooperative:
            revoked = sorted(owned - set(assignment))
            if revoked:
                self._maybe_auto_commit_sync(revoked)
                self._revoke(revoked)
                self._coordinator.request_rejoin("revoked partitions go to their new owners in the next rebalance")
            added = sorted(set(assignment) - owned)
        else:
            for tp in owned - set(assignment):  # (eager members revoked everything before joining)
                self._forget(tp)
            added = sorted(set(assignment) - owned)
        self._set_assignment(assignment)
        for tp in added:
            self._positions[tp] = None
        if self._listener is not None:
            self._listener.on_partitions_assigned(added)

    # ------------------------------------------------------------------ poll
    def poll(self, timeout_ms: float = 0, max_records: int | None = None,
             update_offsets: bool = True) -> dict[TopicPartition, list[ConsumerRecord]]:
        """Records from the assigned partitions: ``{TopicPartition: [ConsumerRecord, ...]}`` ({} if none).

        Waits up to ``timeout_ms`` of simulated time for records (not from inside
        a simulation callback, where it never waits).
        """
        self._check_open()
        if not isinstance(timeout_ms, (int, float)) or timeout_ms < 0:
            raise ValueError(f"timeout_ms must be a number >= 0, not {timeout_ms!r}")
        if max_records is not None and (not isinstance(max_records, int) or isinstance(max_records, bool)):
            raise TypeError(f"max_records must be an int, not {type(max_records).__name__}")
        if max_records is not None and max_records <= 0:
            raise ValueError(f"max_records must be > 0, not {max_records}")
        if self._subscription is None and not self._user_assignment:
            raise IllegalStateError("Consumer is not subscribed to any topics or assigned any partitions: call "
                                    "subscribe() or assign() first")
        max_records = max_records or self.config["max_poll_records"]
        self.stats["polls"] += 1
        deadline = self.sim.now + timeout_ms
        blocking = timeout_ms > 0 and not self.sim.in_callback
        slice_ms = self.config["fetch_max_wait_ms"] if isinstance(self._fetcher, _TopicFetcher) else math.inf
        while True:
            self._group_step()
            self._maybe_auto_commit()
            self._update_positions()
            if not self._buffered_ready():
                self._send_fetches()
            records = self._collect(max_records, update_offsets)
            if records:
                return records
            if not blocking or self.sim.now >= deadline:
                return {}
            self._wait(min(deadline, self.sim.now + slice_ms))

    def _group_step(self) -> None:
        if self._pattern is not None:
            matched = self._matching_topics()
            if matched != self._subscription:
                self._subscription = matched
                self._coordinator.request_rejoin(f"the pattern now matches {sorted(matched)}")
        self._coordinator.poll()

    def _buffered_ready(self) -> bool:
        return any(self._buffer.get(tp) for tp in self._assignment if tp not in self._paused)

    def _collect(self, max_records: int, update_offsets: bool = True) -> dict[TopicPartition, list[ConsumerRecord]]:
        out: dict[TopicPartition, list[ConsumerRecord]] = {}
        n = 0
        tps = self._assignment
        if not tps:
            return out
        start = self._rr % len(tps)
        self._rr += 1
        for tp in tps[start:] + tps[:start]:   # rotate, so no partition waits behind a busy one
            buf = self._buffer.get(tp)
            if not buf or tp in self._paused or n >= max_records:
                continue
            take = buf[:max_records - n]
            if update_offsets:
                del buf[:len(take)]
                self._positions[tp] = take[-1].offset + 1
                if not buf:   # past the last record: also past the markers and aborted batches after it
                    self._positions[tp] = max(self._positions[tp], self._buffer_end.pop(tp, 0))
            out[tp] = take
            n += len(take)
        if out:
            self.stats["records"] += n
            self._record_poll(out)
        return out

    def _record_poll(self, out: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        if self.history is None:
            return
        start = {str(tp): recs[0].offset for tp, recs in out.items()}
        op = self.history.invoke(self.sim.now, self.name, "poll", {"from": start})
        reads = {str(tp): [[r.offset, _jsonable(r.value)] for r in recs] for tp, recs in out.items()}
        hw = {str(tp): self._highwater.get(tp) for tp in out}
        self.history.complete(op, self.sim.now, OK, {"reads": reads, "hw": hw})

    def __iter__(self) -> Iterator[ConsumerRecord]:
        return self

    def __next__(self) -> ConsumerRecord:
        """``for record in consumer``: poll until records come, or ``consumer_timeout_ms`` passes."""
        deadline = self.sim.now + self.config["consumer_timeout_ms"]
        while not self._iterator_records:
            if self.sim.now >= deadline:
                raise StopIteration
            wait = min(deadline - self.sim.now, self.config["fetch_max_wait_ms"] * 4)
            for recs in self.poll(timeout_ms=wait).values():
                self._iterator_records += recs
        return self._iterator_records.pop(0)

    # ------------------------------------------------------------------ positions
    def _update_positions(self) -> None:
        """Give every assigned partition a position: its committed offset, else the reset policy."""
        for tp in list(self._resolving):
            if tp not in self._positions:
                del self._resolving[tp]
        for tp in self._assignment:
            if self._positions.get(tp) is None and tp not in self._resolving:
                committed = _MISSING if self.config["group_id"] is not None else None
                self._resolving[tp] = {"mode": "committed", "committed": committed, "bounds": None,
                                       "asked": False}
        if not self._resolving:
            return
        missing = [tp for tp, r in self._resolving.items() if r["committed"] is _MISSING]
        if missing and not self._offset_fetch_out:
            self._offset_fetch_out = True
            self._coordinator.send_offset_fetch(sorted(missing), self._on_offset_fetch)
        for tp, r in self._resolving.items():
            if r["bounds"] is None and not r["asked"]:
                r["asked"] = True
                self._fetcher.list_offsets(tp)
        for tp, r in list(self._resolving.items()):
            if r["bounds"] is None or r["committed"] is _MISSING:
                continue
            del self._resolving[tp]
            mode, bounds = r["mode"], r["bounds"]
            if mode == "earliest":
                self._positions[tp] = bounds.log_start_offset
            elif mode == "latest":
                self._positions[tp] = self._visible_end(bounds)
            else:
                if self.read_committed:   # "latest" means the end this consumer may read to: the LSO
                    bounds = bounds._replace(high_watermark=self._visible_end(bounds))
                position = self.reset_position(r["committed"], bounds, self.config["auto_offset_reset"])
                if not isinstance(position, int) or isinstance(position, bool):
                    raise TypeError(f"reset_position returned {position!r} for {tp}; it must return an int offset")
                self._positions[tp] = position

    def _on_offset_fetch(self, error: str | None, resp: Any) -> None:
        self._offset_fetch_out = False
        if error is not None or resp is None:
            return
        for tp, om in resp.offsets.items():
            r = self._resolving.get(tp)
            if r is not None and r["committed"] is _MISSING:
                r["committed"] = None if om is None else om.offset

    def _on_bounds(self, tp: TopicPartition, bounds: PartitionBounds | None) -> None:
        self._wakeup()
        r = self._resolving.get(tp)
        if r is None:
            return
        if bounds is None:
            r["asked"] = False        # the leader was not reachable: ask again at the next poll
        else:
            r["bounds"] = bounds

    def position(self, partition: TopicPartition, timeout_ms: float | None = None) -> int:
        """The offset of the next record ``poll`` will return for ``partition``."""
        self._check_open()
        if not isinstance(partition, tuple):
            raise TypeError(f"position() takes a TopicPartition, not {type(partition).__name__}")
        tp = TopicPartition(*partition)
        if tp not in self._positions:
            raise IllegalStateError(f"{tp} is not assigned to this consumer")

        def known() -> bool:
            self._update_positions()
            return self._positions.get(tp) is not None
        self._block_until(known, timeout_ms, f"position({tp})")
        return self._positions[tp]

    def seek(self, partition: TopicPartition, offset: int) -> None:
        """The next poll returns records from ``offset`` (if it is out of range, the reset policy decides)."""
        self._check_open()
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise ValueError(f"offset must be an int >= 0, not {offset!r}")
        tp = TopicPartition(*partition)
        if tp not in self._positions:
            raise ValueError(f"{tp} is not assigned to this consumer; assign() it first")
        self._positions[tp] = offset
        self._buffer.pop(tp, None)
        self._buffer_end.pop(tp, None)
        self._resolving.pop(tp, None)

    def _seek_to(self, mode: str, partitions: tuple) -> None:
        self._check_open()
        tps = [TopicPartition(*tp) for tp in partitions] or list(self._assignment)
        for tp in tps:
            if tp not in self._positions:
                raise ValueError(f"{tp} is not assigned to this consumer")
        for tp in tps:
            self._positions[tp] = None
            self._buffer.pop(tp, None)
            self._buffer_end.pop(tp, None)
            self._resolving[tp] = {"mode": mode, "committed": None, "bounds": None, "asked": False}

    def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        """Next poll starts at the log start offset (all assigned partitions if none are named)."""
        self._seek_to("earliest", partitions)

    def seek_to_end(self, *partitions: TopicPartition) -> None:
        """Next poll starts at the end: the high-water mark (the LSO under read_committed)."""
        self._seek_to("latest", partitions)

    def _bounds(self, partitions: Iterable[TopicPartition], timeout_ms: float | None) -> dict:
        self._check_open()
        got: dict[TopicPartition, PartitionBounds] = {}
        tps = [TopicPartition(*tp) for tp in partitions]
        for tp in tps:
            self._fetcher.list_offsets(tp, lambda tp_, b: got.__setitem__(tp_, b) if b is not None else None)

        def done() -> bool:
            for tp in tps:
                if tp not in got and not self._fetcher.bounds_pending(tp):
                    self._fetcher.list_offsets(tp, lambda tp_, b: got.__setitem__(tp_, b) if b is not None else None)
            return all(tp in got for tp in tps)
        self._block_until(done, timeout_ms, "listing offsets")
        return got

    def beginning_offsets(self, partitions: Iterable[TopicPartition], timeout_ms: float | None = None
                          ) -> dict[TopicPartition, int]:
        return {tp: b.log_start_offset for tp, b in self._bounds(partitions, timeout_ms).items()}

    def end_offsets(self, partitions: Iterable[TopicPartition], timeout_ms: float | None = None
                    ) -> dict[TopicPartition, int]:
        """The high-water mark of each partition (the LSO under read_committed)."""
        return {tp: self._visible_end(b) for tp, b in self._bounds(partitions, timeout_ms).items()}

    def offsets_for_times(self, timestamps: dict, timeout_ms: float | None = None) -> dict:
        """``{tp: OffsetAndTimestamp(offset, timestamp, leader_epoch) or None}``: the earliest record of each
        partition with a timestamp >= the one given (on a cluster: ListOffsets to each leader, among the
        records this consumer's isolation level may read)."""
        self._check_open()
        wanted = {}
        for tp, ts in timestamps.items():
            tp = TopicPartition(*tp)
            if not isinstance(ts, int) or isinstance(ts, bool) or ts < 0:
                raise ValueError(f"timestamps must be ints >= 0 (ms), got {ts!r} for {tp}")
            wanted[tp] = ts
        out = {}
        if isinstance(self._fetcher, _TopicFetcher):
            for tp, ts in wanted.items():
                log = self._fetcher._log(tp)
                found = log.offsets_for_times(ts) if log is not None else None
                out[tp] = None if found is None else OffsetAndTimestamp(found[0], found[1], -1)
            return out
        got: dict[TopicPartition, Any] = {}

        def answered(tp: TopicPartition, found: Any, ok: bool) -> None:
            if ok:
                got[tp] = found
            self._wakeup()

        def done() -> bool:
            for tp, ts in wanted.items():
                if tp not in got and not self._fetcher._times_pending(tp):
                    self._fetcher.offset_for_time(tp, ts, answered)
            return all(tp in got for tp in wanted)
        self._block_until(done, timeout_ms, "offsets_for_times")
        for tp, found in got.items():
            out[tp] = None if found is None else OffsetAndTimestamp(found[0], found[1], -1)
        return out

    def highwater(self, partition: TopicPartition) -> int | None:
        """The high-water mark the last fetch of ``partition`` saw (None before the first)."""
        return self._highwater.get(TopicPartition(*partition))

    # ------------------------------------------------------------------ fetching
    def _send_fetches(self) -> None:
        for tp in self._assignment:
            pos = self._positions.get(tp)
            if pos is None or tp in self._paused or self._buffer.get(tp) or self._fetcher.fetch_pending(tp):
                continue
            self._fetcher.fetch(tp, pos)

    def _on_fetch_response(self, tp: TopicPartition, fetch_offset: int, batches: list | None,
                           bounds: PartitionBounds | None, error: str | None, aborted: list | None = None) -> None:
        """A fetch came back (network thread): buffer its records, or note why it failed.

        The position moves past every batch of the response that lies below the
        visible end, records or not: control batches (markers) and aborted
        transactions' batches are skipped, never returned.
        """
        self._wakeup()
        if tp not in self._positions or self._positions[tp] != fetch_offset or tp in self._paused:
            return          # stale: a seek, a revoke or a pause happened meanwhile
        if bounds is not None:
            self._highwater[tp] = self._visible_end(bounds)
        if error == proto.OFFSET_OUT_OF_RANGE and bounds is not None:
            # The position is not in the log (deleted by retention, or past the end): reset it.
            self._positions[tp] = None
            self._resolving[tp] = {"mode": "committed", "committed": fetch_offset, "bounds": bounds, "asked": True}
            return
        if error is not None:
            return
        end = self._visible_end(bounds) if bounds is not None else math.inf
        records = []
        for batch in self._filter_batches(tp, batches or [], aborted):
            for r in batch.records:
                if fetch_offset <= r.offset < end:   # a batch may start before the position: skip those
                    records.append(self._to_consumer_record(tp, batch, r))
        next_offset = fetch_offset
        for batch in batches or []:
            if batch.next_offset <= end:
                next_offset = max(next_offset, batch.next_offset)
        if records:
            self._buffer[tp] = records
            self._buffer_end[tp] = next_offset
        elif next_offset > fetch_offset:
            self._positions[tp] = next_offset   # only markers or aborted data: step over them

    def _to_consumer_record(self, tp: TopicPartition, batch: Any, r: Any) -> ConsumerRecord:
        kd, vd = self.config["key_deserializer"], self.config["value_deserializer"]
        key = kd(r.key) if kd is not None and r.key is not None else r.key
        value = vd(r.value) if vd is not None and r.value is not None else r.value
        hsize = sum(len(k) + len(v or b"") for k, v in r.headers) if r.headers else -1
        return ConsumerRecord(tp.topic, tp.partition, batch.partition_leader_epoch, r.offset, r.timestamp,
                              int(batch.timestamp_type), key, value, list(r.headers), None,
                              len(r.key) if r.key is not None else -1, len(r.value) if r.value is not None else -1,
                              hsize)

    # ------------------------------------------------------------------ pause / resume
    def pause(self, *partitions: TopicPartition) -> None:
        """Stop returning records from these partitions (no rebalance; positions stay)."""
        self._check_open()
        for tp in partitions:
            tp = TopicPartition(*tp)
            if tp not in self._positions:
                raise IllegalStateError(f"{tp} is not assigned to this consumer")
            self._paused.add(tp)
            self._buffer.pop(tp, None)
            self._buffer_end.pop(tp, None)

    def resume(self, *partitions: TopicPartition) -> None:
        self._check_open()
        for tp in partitions:
            self._paused.discard(TopicPartition(*tp))

    def paused(self) -> set[TopicPartition]:
        return set(self._paused)

    # ------------------------------------------------------------------ commits
    def _consumed_offsets(self, tps: Iterable[TopicPartition] | None = None) -> dict[TopicPartition, OffsetAndMetadata]:
        tps = self._assignment if tps is None else tps
        return {tp: OffsetAndMetadata(self._positions[tp], "", -1) for tp in tps
                if self._positions.get(tp) is not None}

    def _normalize(self, offsets: dict) -> dict[TopicPartition, OffsetAndMetadata]:
        out = {}
        for tp, om in offsets.items():
            if not isinstance(tp, tuple) or len(tp) != 2:
                raise TypeError(f"commit() offsets must be keyed by TopicPartition, got {tp!r}")
            if isinstance(om, int) and not isinstance(om, bool):
                om = OffsetAndMetadata(om, "", -1)
            if not isinstance(om, tuple) or not isinstance(om[0], int) or om[0] < 0:
                raise TypeError(f"commit() offsets must be OffsetAndMetadata(offset, metadata) with an int "
                                f"offset >= 0, got {om!r} for {tp}")
            out[TopicPartition(*tp)] = OffsetAndMetadata(*om)
        return out

    def _commit_invoke(self, offsets: dict[TopicPartition, OffsetAndMetadata]):
        if self.history is None:
            return None
        return self.history.invoke(self.sim.now, self.name, "commit",
                                   {"offsets": {str(tp): om.offset for tp, om in sorted(offsets.items())},
                                    "generation": self._coordinator.generation})

    def _commit_done(self, op, error: str | None) -> None:
        if error is None:
            self.stats["commits"] += 1
        else:
            self.stats["commit_failures"] += 1
        if op is not None:
            self.history.complete(op, self.sim.now, OK if error is None else FAIL, error=error)

    def commit(self, offsets: dict | None = None, timeout_ms: float | None = None) -> None:
        """Commit ``offsets`` (default: the current positions of every assigned partition) and wait.

        A committed offset is the next one to read: after processing the
        record at offset 41, commit 42. Raises :class:`CommitFailedError` when
        the group has moved on (this member's generation or id is stale).
        """
        self._check_open()
        if self.config["group_id"] is None:
            raise IllegalStateError("commit() needs a group_id: offsets are stored per group")
        offsets = self._consumed_offsets() if offsets is None else self._normalize(offsets)
        if not offsets:
            return
        if self._group_managed and self._coordinator.generation == proto.NO_GENERATION:
            self.stats["commit_failures"] += 1
            raise GE.CommitFailedError("this consumer is not a member of the group now (it was removed or left); "
                                       "poll() to rejoin")
        deadline = self.sim.now + (self.config["default_api_timeout_ms"] if timeout_ms is None else timeout_ms)
        while True:
            box: list = []
            op = self._commit_invoke(offsets)
            self._coordinator.send_commit(offsets, self._group_managed, lambda err, resp: box.append(err))
            while not box:
                if self.sim.now >= deadline:
                    self._commit_done(op, proto.REQUEST_TIMED_OUT)
                    raise KafkaTimeoutError("commit() timed out")
                self._wait(deadline)
            error = box[0]
            self._commit_done(op, error)
            if error is None:
                return
            if error in (proto.COORDINATOR_NOT_AVAILABLE, proto.REQUEST_TIMED_OUT) and self.sim.now < deadline:
                self._wait(min(deadline, self.sim.now + self.config["retry_backoff_ms"]))
                continue
            raise self._coordinator.commit_error(error)

    def commit_async(self, offsets: dict | None = None,
                     callback: Callable[[dict, Any], None] | None = None) -> Future:
        """Send a commit and return at once. ``callback(offsets, None or exception)`` runs when it completes."""
        self._check_open()
        if self.config["group_id"] is None:
            raise IllegalStateError("commit_async() needs a group_id: offsets are stored per group")
        offsets = self._consumed_offsets() if offsets is None else self._normalize(offsets)
        future = Future(self.sim)

        def finish(exc: BaseException | None) -> None:
            if exc is None:
                future.success(offsets)
            else:
                future.failure(exc)
            if callback is not None:
                callback(offsets, exc)
        if not offsets:
            finish(None)
            return future
        if self._group_managed and self._coordinator.generation == proto.NO_GENERATION:
            finish(GE.CommitFailedError("not a member of the group now"))
            return future
        op = self._commit_invoke(offsets)

        def done(error: str | None, resp: Any) -> None:
            self._commit_done(op, error)
            finish(None if error is None else self._coordinator.commit_error(error))
        self._coordinator.send_commit(offsets, self._group_managed, done)
        return future

    def _maybe_auto_commit(self) -> None:
        """At most once per auto_commit_interval_ms, at the start of poll: the positions the previous poll reached."""
        if not self.config["enable_auto_commit"] or self.config["group_id"] is None:
            return
        if self.sim.now < self._next_auto_commit:
            return
        self._next_auto_commit = self.sim.now + self.config["auto_commit_interval_ms"]
        offsets = self._consumed_offsets()
        if offsets and not (self._group_managed and self._coordinator.generation == proto.NO_GENERATION):
            self.commit_async(offsets)

    def _maybe_auto_commit_sync(self, tps: Iterable[TopicPartition] | None = None) -> None:
        """Auto-commit before a rebalance, an assign() change, unsubscribe and close (errors are only logged)."""
        if not self.config["enable_auto_commit"] or self.config["group_id"] is None:
            return
        offsets = self._consumed_offsets(tps)
        if not offsets:
            return
        try:
            if self.sim.in_callback:
                self.commit_async(offsets)
            else:
                self.commit(offsets)
        except (GE.CommitFailedError, CE.KafkaError) as exc:
            self._coordinator._log(f"auto-commit failed: {exc}")

    def committed(self, partition: TopicPartition, metadata: bool = False, timeout_ms: float | None = None):
        """The group's committed offset for ``partition`` (an int, or OffsetAndMetadata), or None."""
        self._check_open()
        if self.config["group_id"] is None:
            raise IllegalStateError("committed() needs a group_id: offsets are stored per group")
        tp = TopicPartition(*partition)
        box: list = []
        while not box or box[0][0] is not None:
            box.clear()
            self._coordinator.send_offset_fetch([tp], lambda err, resp: box.append((err, resp)))
            self._block_until(lambda: bool(box), timeout_ms, f"committed({tp})")
        om = box[0][1].offsets.get(tp)
        if om is None:
            return None
        return om if metadata else om.offset

    # ------------------------------------------------------------------ the group, metadata, life cycle
    def group_metadata(self) -> ConsumerGroupMetadata:
        co = self._coordinator
        return ConsumerGroupMetadata(self.config["group_id"], co.generation, co.member_id, co.group_instance_id)

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        n = self._fetcher.partitions_for(topic)
        if n is None:
            try:
                self._block_until(lambda: self._fetcher.partitions_for(topic) is not None, None, "metadata")
            except KafkaTimeoutError:
                return None
            n = self._fetcher.partitions_for(topic)
        return set(range(n)) if n else None

    def topics(self) -> set[str]:
        return set(self._fetcher.topics())

    def close(self, autocommit: bool = True, timeout_ms: float | None = None) -> None:
        """Commit (if auto-commit is on and ``autocommit``), leave the group, stop."""
        if self._closed:
            return
        if autocommit and not self._crashed:
            self._maybe_auto_commit_sync()
        if self._group_managed and not self._crashed:
            self._coordinator.leave_group("closed")
        self._closed = True
        self.node.crash()   # stops the heartbeat "thread" and every timer of this client
        self._set_assignment(())

    def crash(self) -> None:
        """msglib: the consumer's process dies now. No commit, no LeaveGroup: the group notices
        only when the session times out."""
        if self._closed:
            return
        self._crashed = self._closed = True
        self.node.crash()
        self._coordinator._log("crashed")
        self._set_assignment(())   # a dead process consumes nothing (the group finds out later)

    @property
    def member_id(self) -> str:
        return self._coordinator.member_id

    @property
    def generation(self) -> int:
        return self._coordinator.generation

    def metrics(self) -> dict[str, Any]:
        return dict(self.stats, rebalances=self._coordinator.rebalances)

    def __repr__(self) -> str:
        state = "crashed" if self._crashed else "closed" if self._closed else self._coordinator.state
        return (f"KafkaConsumer({self.name}, group={self.config['group_id']!r}, {state}, generation "
                f"{self._coordinator.generation}, assignment {[str(tp) for tp in self._assignment]})")


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (int, float, str, bool)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "backslashreplace")
    return repr(value)


# ---------------------------------------------------------------------------------- fetchers
class _Fetcher:
    """How a consumer reaches the records: fetch, list offsets, topic metadata."""

    def partitions_for(self, topic: str) -> int | None: ...
    def topics(self) -> list[str]: ...
    def fetch(self, tp: TopicPartition, offset: int) -> None: ...
    def fetch_pending(self, tp: TopicPartition) -> bool: ...
    def list_offsets(self, tp: TopicPartition, callback: Callable | None = None) -> None: ...
    def bounds_pending(self, tp: TopicPartition) -> bool: ...
    def on_message(self, src: str, msg: Any) -> None: ...


class _TopicFetcher(_Fetcher):
    """Reads a LocalBroker's logs directly (a single replica: the high-water mark is the log end)."""

    def __init__(self, consumer: KafkaConsumer, broker: LocalBroker) -> None:
        self.consumer = consumer
        self.broker = broker
        broker._listeners.append(consumer._wakeup)

    def _log(self, tp: TopicPartition):
        topic = self.broker.topics.get(tp.topic)
        if topic is None or not 0 <= tp.partition < topic.num_partitions:
            return None
        return topic.partitions[tp.partition]

    def _bounds_of(self, log) -> PartitionBounds:
        return PartitionBounds(log.log_start_offset, log.log_end_offset, log.log_end_offset)

    def partitions_for(self, topic: str) -> int | None:
        t = self.broker.topics.get(topic)
        return 0 if t is None else t.num_partitions

    def topics(self) -> list[str]:
        return list(self.broker.topics)

    def fetch(self, tp: TopicPartition, offset: int) -> None:
        log = self._log(tp)
        if log is None:
            return
        bounds = self._bounds_of(log)
        try:
            data = log.read(offset, self.consumer.config["max_partition_fetch_bytes"])
        except LogOffsetOutOfRangeError:
            self.consumer._on_fetch_response(tp, offset, None, bounds, proto.OFFSET_OUT_OF_RANGE)
            return
        self.consumer._on_fetch_response(tp, offset, list(data), bounds, None)

    def fetch_pending(self, tp: TopicPartition) -> bool:
        return False

    def list_offsets(self, tp: TopicPartition, callback: Callable | None = None) -> None:
        log = self._log(tp)
        bounds = None if log is None else self._bounds_of(log)
        (callback or self.consumer._on_bounds)(tp, bounds)

    def bounds_pending(self, tp: TopicPartition) -> bool:
        return False

    def on_message(self, src: str, msg: Any) -> None:
        pass


class _ClusterFetcher(_Fetcher):
    """Fetches from partition leaders of a simulated Cluster (consumers see records below the HW,
    or below the LSO under read_committed). Bounds come from the leader's ListOffsets answer."""

    def __init__(self, consumer: KafkaConsumer, cluster: Any) -> None:
        self.consumer = consumer
        c = consumer.config
        bootstrap = c["bootstrap_servers"] if c["bootstrap_servers"] is not None else cluster.broker_ids
        self.metadata = ClientMetadata(consumer.node, bootstrap, c["request_timeout_ms"], c["retry_backoff_ms"],
                                       on_update=consumer._wakeup)
        self.metadata.request_update()
        self._fetches: dict[TopicPartition, int] = {}                       # tp -> request id
        self._probes: dict[TopicPartition, tuple[int, list[Callable]]] = {}  # tp -> (request id, callbacks)
        self._requests: dict[int, tuple[str, TopicPartition, int]] = {}     # request id -> (kind, tp, offset)
        self._times: dict[int, Callable] = {}                              # request id -> callback (by timestamp)
        self.isolation = proto.ISOLATION_LEVELS[c["isolation_level"]]
        self._backoff_until: dict[TopicPartition, float] = {}

    def partitions_for(self, topic: str) -> int | None:
        n = self.metadata.num_partitions(topic)
        if n is None:
            self.metadata.request_update()
            if self.metadata.partitions:      # we have metadata, and this topic is not in it
                return 0
        return n

    def topics(self) -> list[str]:
        return sorted({tp.topic for tp in self.metadata.partitions})

    def _send(self, kind: str, tp: TopicPartition, offset: int) -> int | None:
        now = self.consumer.sim.now
        if self._backoff_until.get(tp, -1.0) > now:
            return None
        leader = self.metadata.leader(tp)
        if leader is None:
            self.metadata.request_update()
            self._backoff_until[tp] = now + self.metadata.backoff_ms
            self.consumer._wakeup_later(self.metadata.backoff_ms)
            return None
        c = self.consumer.config
        rid = self.consumer._next_request_id()
        self._requests[rid] = (kind, tp, offset)
        epoch = self.metadata.leader_epoch(tp)
        if kind == "fetch":
            msg = proto.FetchRequest(rid, -1, tp, offset, epoch, c["max_partition_fetch_bytes"], c["fetch_max_wait_ms"],
                                  self.isolation)
        else:   # "probe": where the partition stands; "time": the first offset at/after a timestamp
            msg = proto.ListOffsetsRequest(rid, -1, tp, proto.LATEST_TIMESTAMP if kind == "probe" else offset,
                                        self.isolation, epoch)
        self.consumer.node.send(broker_node(leader), msg)
        self.consumer.node.after(c["request_timeout_ms"], self._timeout, rid)
        return rid

    def fetch(self, tp: TopicPartition, offset: int) -> None:
        rid = self._send("fetch", tp, offset)
        if rid is not None:
            self._fetches[tp] = rid

    def fetch_pending(self, tp: TopicPartition) -> bool:
        return tp in self._fetches

    def list_offsets(self, tp: TopicPartition, callback: Callable | None = None) -> None:
        callback = callback or self.consumer._on_bounds
        if tp in self._probes:
            self._probes[tp][1].append(callback)
            return
        rid = self._send("probe", tp, -1)
        if rid is None:
            callback(tp, None)
        else:
            self._probes[tp] = (rid, [callback])

    def bounds_pending(self, tp: TopicPartition) -> bool:
        return tp in self._probes

    def _times_pending(self, tp: TopicPartition) -> bool:
        return any(self._requests.get(rid, ("", None))[1] == tp for rid in self._times)

    def offset_for_time(self, tp: TopicPartition, timestamp: int, callback: Callable) -> None:
        """``callback(tp, (offset, timestamp) or None, ok)``: ListOffsets by timestamp."""
        rid = self._send("time", tp, timestamp)
        if rid is None:
            callback(tp, None, False)
        else:
            self._times[rid] = callback

    def _timeout(self, rid: int) -> None:
        entry = self._requests.pop(rid, None)
        if entry is None:
            return
        self.metadata.request_update()
        self._finish(entry, None, None, rid)

    def _finish(self, entry: tuple[str, TopicPartition, int], msg: Any, bounds: PartitionBounds | None,
                rid: int = -1) -> None:
        kind, tp, offset = entry
        if kind == "fetch":
            self._fetches.pop(tp, None)
            if msg is None:
                self.consumer._wakeup()
            else:
                self.consumer._on_fetch_response(tp, offset, msg.batches, bounds, msg.error,
                                                 msg.aborted_transactions)
        elif kind == "time":
            callback = self._times.pop(rid, None)
            if callback is not None:
                ok = msg is not None and msg.error is None
                found = (msg.offset, msg.timestamp) if ok and msg.offset >= 0 else None
                callback(tp, found, ok)
        else:
            _, callbacks = self._probes.pop(tp, (None, []))
            for cb in callbacks:
                cb(tp, bounds)

    def on_message(self, src: str, msg: Any) -> None:
        if isinstance(msg, proto.MetadataResponse):
            self.metadata.on_response(msg)
            return
        if not isinstance(msg, (proto.FetchResponse, proto.ListOffsetsResponse)):
            return
        entry = self._requests.pop(msg.request_id, None)
        if entry is None:
            return
        kind, tp, _ = entry
        bounds = None
        if msg.error in (None, proto.OFFSET_OUT_OF_RANGE) and msg.high_watermark >= 0:
            lso = msg.last_stable_offset if msg.last_stable_offset >= 0 else None
            bounds = PartitionBounds(msg.log_start_offset, msg.high_watermark, msg.log_end_offset, lso)
        if msg.error not in (None, proto.OFFSET_OUT_OF_RANGE):
            # Not the leader (any more), or an epoch mismatch: refresh metadata, try again after a backoff.
            self.metadata.request_update()
            self._backoff_until[tp] = self.consumer.sim.now + self.metadata.backoff_ms
            self.consumer._wakeup_later(self.metadata.backoff_ms)
        self._finish(entry, msg, bounds, msg.request_id)


__all__ = ["KafkaConsumer", "ConsumerRecord", "OffsetAndTimestamp", "ConsumerRebalanceListener", "PartitionBounds",
           "starting_offset", "filter_aborted",
           "OffsetAndMetadata", "TopicPartition", "DEFAULT_CONFIG"]
