"""The consumer's fetcher: finds where to start each partition, fetches records, buffers them, hands them out.

kafka-python's ``Fetcher``: it shares the consumer's :class:`SubscriptionState` (positions,
pauses) and its :class:`NetworkClient`. It asks the coordinator client for committed offsets,
the partition leaders for their bounds (ListOffsets) and records (Fetch), and applies the
consumer's two seams (``client/policies.py``): ``reset_position`` picks a starting offset,
``aborted_filter`` drops aborted transactions' batches under read_committed.

Two sources of records, with the same interface:

* :class:`ClusterSource` -- Fetch and ListOffsets to the partition leaders of a simulated
  :class:`~msglib.cluster.Cluster` (records below the high-water mark, or the LSO);
* :class:`TopicSource` -- a :class:`~msglib.groups.local.LocalBroker`'s logs, read directly.

A position moves when ``poll`` *returns* records (:meth:`Fetcher.collect`), not when they are
fetched; past the last record of a fetch it also moves past the markers and aborted batches
after it.
"""
from __future__ import annotations

import math
from collections import namedtuple
from typing import Any, Callable, Iterable

from msglib import protocol as proto
from msglib.client.network_client import NetworkClient
from msglib.client.policies import PartitionBounds, filter_aborted, starting_offset
from msglib.client.subscription_state import SubscriptionState
from msglib.groups.local import LocalBroker
from msglib.log import OffsetOutOfRangeError as LogOffsetOutOfRangeError
from msglib.protocol import TopicPartition, broker_node
from msglib.protocol.metadata import ClientMetadata

ConsumerRecord = namedtuple("ConsumerRecord", [
    "topic", "partition", "leader_epoch", "offset", "timestamp", "timestamp_type", "key", "value", "headers",
    "checksum", "serialized_key_size", "serialized_value_size", "serialized_header_size"])

OffsetAndTimestamp = namedtuple("OffsetAndTimestamp", ["offset", "timestamp", "leader_epoch"])

_MISSING = object()   # the committed offset has not been asked for / has not come back yet


def broker_ids(bootstrap_servers: Any, cluster: Any) -> list[int]:
    """The brokers to ask for metadata first: msglib's broker ids if given, else all of them (an address
    such as 'localhost:9092' names the whole cluster; ``embedded.resolve`` has checked it already)."""
    if isinstance(bootstrap_servers, (list, tuple)) and bootstrap_servers and all(
            isinstance(b, int) and not isinstance(b, bool) for b in bootstrap_servers):
        return list(bootstrap_servers)
    return list(cluster.broker_ids)


class Fetcher:
    """Starting offsets, fetches and the record buffer of one consumer. See the module docstring."""

    def __init__(self, client: NetworkClient, subscriptions: SubscriptionState, config: dict[str, Any],
                 backend: Any, fetch_committed: Callable[[list[TopicPartition], Callable], None]) -> None:
        """``backend``: the consumer's Cluster or LocalBroker (it picks the source of records)."""
        self.client = client
        self.subscriptions = subscriptions
        self.config = config
        self.fetch_committed = fetch_committed     # OffsetFetch through the coordinator client
        self.reset_position: Callable[..., int] = config["reset_position"] or starting_offset
        self.aborted_filter: Callable[..., list] = config["aborted_filter"] or filter_aborted
        self.read_committed = config["isolation_level"] == "read_committed"
        self.local = isinstance(backend, LocalBroker)
        self.source: TopicSource | ClusterSource = (TopicSource(self, backend) if self.local
                                                    else ClusterSource(self, backend))
        self.buffer: dict[TopicPartition, list[ConsumerRecord]] = {}
        self.buffer_end: dict[TopicPartition, int] = {}   # the position once the buffer is drained
        # update_offsets=False: (last record handed out, position after it) of a drained buffer
        self.drained_end: dict[TopicPartition, tuple[int, int]] = {}
        self.resolving: dict[TopicPartition, dict[str, Any]] = {}
        self.highwater: dict[TopicPartition, int] = {}
        self._offset_fetch_out = False
        self._rr = 0
        subscriptions.on_forget(self.forget)

    # ------------------------------------------------------------------ the seams, applied
    def visible_end(self, bounds: PartitionBounds) -> int:
        """The end a consumer may read to: the high-water mark, or the LSO under read_committed."""
        if self.read_committed and bounds.last_stable_offset is not None:
            return bounds.last_stable_offset
        return bounds.high_watermark

    def filter_batches(self, tp: TopicPartition, batches: list, aborted: list | None = None) -> list:
        """Batches that hold records for the application: never control batches (transaction markers);
        under read_committed, not the batches of aborted transactions either (``aborted_filter``)."""
        if self.read_committed:
            kept = self.aborted_filter(list(batches), list(aborted or []))
            if not isinstance(kept, list):
                raise TypeError(f"aborted_filter returned {type(kept).__name__}; it must return a list of batches")
            return [b for b in kept if not b.is_control]
        return [b for b in batches if not b.is_control]

    # ------------------------------------------------------------------ per-partition fetch state
    def forget(self, tp: TopicPartition) -> None:
        """The partition is gone (revoked, lost, unassigned): drop what was buffered or asked for it."""
        self.drop_buffer(tp)
        self.resolving.pop(tp, None)

    def drop_buffer(self, tp: TopicPartition) -> None:
        self.buffer.pop(tp, None)
        self.buffer_end.pop(tp, None)
        self.drained_end.pop(tp, None)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.subscriptions.positions[tp] = offset
        self.drop_buffer(tp)
        self.resolving.pop(tp, None)

    def reset(self, tp: TopicPartition, mode: str) -> None:
        """Find the position again at the next poll: ``earliest`` or ``latest``."""
        self.subscriptions.positions[tp] = None
        self.drop_buffer(tp)
        self.resolving[tp] = {"mode": mode, "committed": None, "bounds": None, "asked": False}

    # ------------------------------------------------------------------ positions
    def update_positions(self) -> None:
        """Give every assigned partition a position: its committed offset, else the reset policy."""
        subs = self.subscriptions
        positions = subs.positions
        for tp in list(self.resolving):
            if tp not in positions:
                del self.resolving[tp]
        for tp in subs.assignment:
            if positions.get(tp) is None and tp not in self.resolving:
                committed = _MISSING if self.config["group_id"] is not None else None
                self.resolving[tp] = {"mode": "committed", "committed": committed, "bounds": None, "asked": False}
        if not self.resolving:
            return
        missing = [tp for tp, r in self.resolving.items() if r["committed"] is _MISSING]
        if missing and not self._offset_fetch_out:
            self._offset_fetch_out = True
            self.fetch_committed(sorted(missing), self._on_offset_fetch)
        for tp, r in self.resolving.items():
            if r["bounds"] is None and not r["asked"]:
                r["asked"] = True
                self.source.list_offsets(tp)
        for tp, r in list(self.resolving.items()):
            if r["bounds"] is None or r["committed"] is _MISSING:
                continue
            del self.resolving[tp]
            mode, bounds = r["mode"], r["bounds"]
            if mode == "earliest":
                positions[tp] = bounds.log_start_offset
            elif mode == "latest":
                positions[tp] = self.visible_end(bounds)
            else:
                if self.read_committed:   # "latest" means the end this consumer may read to: the LSO
                    bounds = bounds._replace(high_watermark=self.visible_end(bounds))
                position = self.reset_position(r["committed"], bounds, self.config["auto_offset_reset"])
                if not isinstance(position, int) or isinstance(position, bool):
                    raise TypeError(f"reset_position returned {position!r} for {tp}; it must return an int offset")
                positions[tp] = position

    def _on_offset_fetch(self, error: str | None, resp: Any) -> None:
        self._offset_fetch_out = False
        if error is not None or resp is None:
            return
        for tp, om in resp.offsets.items():
            r = self.resolving.get(tp)
            if r is not None and r["committed"] is _MISSING:
                r["committed"] = None if om is None else om.offset

    def on_bounds(self, tp: TopicPartition, bounds: PartitionBounds | None) -> None:
        self.client.wakeup()
        r = self.resolving.get(tp)
        if r is None:
            return
        if bounds is None:
            r["asked"] = False        # the leader was not reachable: ask again at the next poll
        else:
            r["bounds"] = bounds

    # ------------------------------------------------------------------ bounds and times (blocking)
    def bounds(self, tps: list[TopicPartition], timeout_ms: float | None) -> dict[TopicPartition, PartitionBounds]:
        """ListOffsets for each partition, waiting for every answer."""
        got: dict[TopicPartition, PartitionBounds] = {}

        def keep(tp_: TopicPartition, b: PartitionBounds | None) -> None:
            if b is not None:
                got[tp_] = b
        for tp in tps:
            self.source.list_offsets(tp, keep)

        def done() -> bool:
            for tp in tps:
                if tp not in got and not self.source.bounds_pending(tp):
                    self.source.list_offsets(tp, keep)
            return all(tp in got for tp in tps)
        self.client.block_until(done, timeout_ms, "listing offsets")
        return got

    def offsets_for_times(self, wanted: dict[TopicPartition, int], timeout_ms: float | None) -> dict:
        """``{tp: OffsetAndTimestamp or None}``: the earliest record at or after each timestamp."""
        out: dict[TopicPartition, OffsetAndTimestamp | None] = {}
        if self.local:
            for tp, ts in wanted.items():
                log = self.source.log(tp)
                found = log.offsets_for_times(ts) if log is not None else None
                out[tp] = None if found is None else OffsetAndTimestamp(found[0], found[1], -1)
            return out
        got: dict[TopicPartition, Any] = {}

        def answered(tp: TopicPartition, found: Any, ok: bool) -> None:
            if ok:
                got[tp] = found
            self.client.wakeup()

        def done() -> bool:
            for tp, ts in wanted.items():
                if tp not in got and not self.source.times_pending(tp):
                    self.source.offset_for_time(tp, ts, answered)
            return all(tp in got for tp in wanted)
        self.client.block_until(done, timeout_ms, "offsets_for_times")
        for tp, found in got.items():
            out[tp] = None if found is None else OffsetAndTimestamp(found[0], found[1], -1)
        return out

    # ------------------------------------------------------------------ fetching
    def send_fetches(self) -> None:
        subs = self.subscriptions
        for tp in subs.assignment:
            pos = subs.positions.get(tp)
            if pos is None or tp in subs.paused or self.buffer.get(tp) or self.source.fetch_pending(tp):
                continue
            self.source.fetch(tp, pos)

    def on_fetch_response(self, tp: TopicPartition, fetch_offset: int, batches: list | None,
                          bounds: PartitionBounds | None, error: str | None, aborted: list | None = None) -> None:
        """A fetch came back (network thread): buffer its records, or note why it failed.

        The position moves past every batch of the response that lies below the
        visible end, records or not: control batches (markers) and aborted
        transactions' batches are skipped, never returned.
        """
        self.client.wakeup()
        positions = self.subscriptions.positions
        if tp not in positions or positions[tp] != fetch_offset or tp in self.subscriptions.paused:
            return          # stale: a seek, a revoke or a pause happened meanwhile
        if bounds is not None:
            self.highwater[tp] = self.visible_end(bounds)
        if error == proto.OFFSET_OUT_OF_RANGE and bounds is not None:
            # The position is not in the log (deleted by retention, or past the end): reset it.
            positions[tp] = None
            self.resolving[tp] = {"mode": "committed", "committed": fetch_offset, "bounds": bounds, "asked": True}
            return
        if error is not None:
            return
        end = self.visible_end(bounds) if bounds is not None else math.inf
        records = []
        for batch in self.filter_batches(tp, batches or [], aborted):
            for r in batch.records:
                if fetch_offset <= r.offset < end:   # a batch may start before the position: skip those
                    records.append(self.to_consumer_record(tp, batch, r))
        next_offset = fetch_offset
        for batch in batches or []:
            if batch.next_offset <= end:
                next_offset = max(next_offset, batch.next_offset)
        if records:
            self.buffer[tp] = records
            self.buffer_end[tp] = next_offset
        elif next_offset > fetch_offset:
            positions[tp] = next_offset   # only markers or aborted data: step over them

    def to_consumer_record(self, tp: TopicPartition, batch: Any, r: Any) -> ConsumerRecord:
        kd, vd = self.config["key_deserializer"], self.config["value_deserializer"]
        key = kd(r.key) if kd is not None and r.key is not None else r.key
        value = vd(r.value) if vd is not None and r.value is not None else r.value
        hsize = sum(len(k) + len(v or b"") for k, v in r.headers) if r.headers else -1
        return ConsumerRecord(tp.topic, tp.partition, batch.partition_leader_epoch, r.offset, r.timestamp,
                              int(batch.timestamp_type), key, value, list(r.headers), None,
                              len(r.key) if r.key is not None else -1, len(r.value) if r.value is not None else -1,
                              hsize)

    # ------------------------------------------------------------------ handing records out
    def buffered_ready(self) -> bool:
        subs = self.subscriptions
        return any(self.buffer.get(tp) for tp in subs.assignment if tp not in subs.paused)

    def collect(self, max_records: int, update_offsets: bool = True) -> dict[TopicPartition, list[ConsumerRecord]]:
        """Up to ``max_records`` buffered records, partitions taken in turn; positions move past them.

        With ``update_offsets=False`` (the consumer's iterator, as in kafka-python) the records still
        leave the buffer but positions stay: the iterator moves each position as it yields a record, and
        :attr:`drained_end` keeps, for a partition whose buffer emptied, where the position goes after
        its last record (past the markers and aborted batches behind it)."""
        out: dict[TopicPartition, list[ConsumerRecord]] = {}
        n = 0
        subs = self.subscriptions
        tps = subs.assignment
        if not tps:
            return out
        start = self._rr % len(tps)
        self._rr += 1
        for tp in tps[start:] + tps[:start]:   # rotate, so no partition waits behind a busy one
            buf = self.buffer.get(tp)
            if not buf or tp in subs.paused or n >= max_records:
                continue
            take = buf[:max_records - n]
            del buf[:len(take)]
            if update_offsets:
                subs.positions[tp] = take[-1].offset + 1
                if not buf:   # past the last record: also past the markers and aborted batches after it
                    subs.positions[tp] = max(subs.positions[tp], self.buffer_end.pop(tp, 0))
            elif not buf:
                self.drained_end[tp] = (take[-1].offset, self.buffer_end.pop(tp, 0))
            out[tp] = take
            n += len(take)
        return out

    # ------------------------------------------------------------------ metadata
    def partitions_for(self, topic: str) -> int | None:
        return self.source.partitions_for(topic)

    def topics(self) -> list[str]:
        return self.source.topics()

    def partition_counts(self, topics: Iterable[str]) -> dict[str, int] | None:
        """Partitions per topic (what an assignor needs), or None while a topic's metadata is missing."""
        counts = {}
        for t in topics:
            n = self.source.partitions_for(t)
            if n is None:
                return None
            counts[t] = n
        return counts

    def on_message(self, src: str, msg: Any) -> None:
        self.source.on_message(src, msg)


# ---------------------------------------------------------------------------------- sources
class TopicSource:
    """Reads a LocalBroker's logs directly (a single replica: the high-water mark is the log end)."""

    def __init__(self, fetcher: Fetcher, broker: LocalBroker) -> None:
        self.fetcher = fetcher
        self.broker = broker
        broker._listeners.append(fetcher.client.wakeup)

    def log(self, tp: TopicPartition):
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
        log = self.log(tp)
        if log is None:
            return
        bounds = self._bounds_of(log)
        try:
            data = log.read(offset, self.fetcher.config["max_partition_fetch_bytes"])
        except LogOffsetOutOfRangeError:
            self.fetcher.on_fetch_response(tp, offset, None, bounds, proto.OFFSET_OUT_OF_RANGE)
            return
        self.fetcher.on_fetch_response(tp, offset, list(data), bounds, None)

    def fetch_pending(self, tp: TopicPartition) -> bool:
        return False

    def list_offsets(self, tp: TopicPartition, callback: Callable | None = None) -> None:
        log = self.log(tp)
        bounds = None if log is None else self._bounds_of(log)
        (callback or self.fetcher.on_bounds)(tp, bounds)

    def bounds_pending(self, tp: TopicPartition) -> bool:
        return False

    def on_message(self, src: str, msg: Any) -> None:
        pass


class ClusterSource:
    """Fetches from partition leaders of a simulated Cluster (consumers see records below the HW,
    or below the LSO under read_committed). Bounds come from the leader's ListOffsets answer."""

    def __init__(self, fetcher: Fetcher, cluster: Any) -> None:
        self.fetcher = fetcher
        self.client = client = fetcher.client
        c = fetcher.config
        bootstrap = broker_ids(c["bootstrap_servers"], cluster)
        self.metadata = ClientMetadata(client.node, bootstrap, c["request_timeout_ms"], c["retry_backoff_ms"],
                                       on_update=client.wakeup)
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
        now = self.client.sim.now
        if self._backoff_until.get(tp, -1.0) > now:
            return None
        leader = self.metadata.leader(tp)
        if leader is None:
            self.metadata.request_update()
            self._backoff_until[tp] = now + self.metadata.backoff_ms
            self.client.wakeup_later(self.metadata.backoff_ms)
            return None
        c = self.fetcher.config
        rid = self.client.next_request_id()
        self._requests[rid] = (kind, tp, offset)
        epoch = self.metadata.leader_epoch(tp)
        if kind == "fetch":
            msg = proto.FetchRequest(rid, -1, tp, offset, epoch, c["max_partition_fetch_bytes"],
                                     c["fetch_max_wait_ms"], self.isolation)
        else:   # "probe": where the partition stands; "time": the first offset at/after a timestamp
            msg = proto.ListOffsetsRequest(rid, -1, tp, proto.LATEST_TIMESTAMP if kind == "probe" else offset,
                                           self.isolation, epoch)
        self.client.node.send(broker_node(leader), msg)
        self.client.node.after(c["request_timeout_ms"], self._timeout, rid)
        return rid

    def fetch(self, tp: TopicPartition, offset: int) -> None:
        rid = self._send("fetch", tp, offset)
        if rid is not None:
            self._fetches[tp] = rid

    def fetch_pending(self, tp: TopicPartition) -> bool:
        return tp in self._fetches

    def list_offsets(self, tp: TopicPartition, callback: Callable | None = None) -> None:
        callback = callback or self.fetcher.on_bounds
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

    def times_pending(self, tp: TopicPartition) -> bool:
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
                self.client.wakeup()
            else:
                self.fetcher.on_fetch_response(tp, offset, msg.batches, bounds, msg.error, msg.aborted_transactions)
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
            self._backoff_until[tp] = self.client.sim.now + self.metadata.backoff_ms
            self.client.wakeup_later(self.metadata.backoff_ms)
        self._finish(entry, msg, bounds, msg.request_id)


__all__ = ["Fetcher", "TopicSource", "ClusterSource", "ConsumerRecord", "OffsetAndTimestamp"]
