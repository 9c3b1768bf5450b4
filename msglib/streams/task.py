"""A stream task: one sub-topology on one partition number of its source topics.

A task owns its state stores and its *stream time*. It buffers the records its instance fetched, one queue per
input partition, and processes them one at a time, always the queued head with the smallest timestamp (Kafka's
``PartitionGroup``). Stream time is the largest timestamp processed so far, per task: it never goes back, and
it decides which windows are closed.

What a task offers the commit step (exercise 4 writes it): :meth:`changelog_writes` (the buffered store writes,
to be sent to the changelog topics) and :meth:`offsets_to_commit` (the next offset of each input partition,
with the stream time in the commit metadata, so that a new owner resumes with the same stream time, as Kafka
Streams' StreamTask commits its partition time: KAFKA-7994; see docs/streams.md).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from msglib.protocol import OffsetAndMetadata, TopicPartition
from msglib.streams.stores import ChangelogWrite, KeyValueStore, changelog_topic, decode, decode_key
from msglib.streams.topology import Topology, TopologyError

NO_TIME = -1        # stream time before any record


@dataclass(frozen=True)
class TaskId:
    subtopology: int
    partition: int

    def __str__(self) -> str:
        return f"{self.subtopology}_{self.partition}"


def stream_time_of(metadata: str) -> int:
    """The stream time a committed offset's metadata carries (``"st=<ms>"``), or NO_TIME."""
    if metadata and metadata.startswith("st="):
        try:
            return int(metadata[3:])
        except ValueError:
            return NO_TIME
    return NO_TIME


class StreamTask:
    def __init__(self, topology: Topology, task_id: TaskId,
                 send: Callable[[str, Any, Any, int], None] | None = None) -> None:
        self.topology = topology
        self.id = task_id
        self.partition = task_id.partition
        topics = sorted(topology.subtopologies[task_id.subtopology])
        self.inputs = [TopicPartition(t, task_id.partition) for t in topics]
        self.stores: dict[str, KeyValueStore] = {
            name: spec.make() for name, spec in topology.stores.items()
            if topology.store_owner[name] == task_id.subtopology}
        self.queues: dict[TopicPartition, deque] = {tp: deque() for tp in self.inputs}
        self.positions: dict[TopicPartition, int] = {}      # next offset to process, per input partition
        self.stream_time = NO_TIME
        self.offset = -1                  # offset of the record being processed
        self.local: dict[str, Any] = {}   # per-processor scratch rebuilt from the stores (heaps of windows)
        self.send_fn = send
        self.dropped = 0                  # late records (Kafka's dropped-records metric)
        self.skipped = 0                  # records without a key or value where one is needed
        self.late: list[tuple] = []
        self.processed = 0
        self._entries = {topic: source.entry() for topic, source in topology.sources.items()}
        self._batch_entries = {topic: source.batch_entry() for topic, source in topology.sources.items()}

    # -- the commit step's view --------------------------------------------------------------
    def changelog_topics(self) -> dict[str, str]:
        return {name: changelog_topic(self.topology.application_id, name) for name in self.stores}

    def changelog_writes(self) -> list[ChangelogWrite]:
        """The store writes buffered since the last call (last value per key), as changelog records."""
        out: list[ChangelogWrite] = []
        for name, store in self.stores.items():
            out += store.flush_writes(changelog_topic(self.topology.application_id, name), self.partition)
        return out

    def offsets_to_commit(self) -> dict[TopicPartition, OffsetAndMetadata]:
        """``{input partition: OffsetAndMetadata(next offset to process, "st=<stream time>")}``."""
        return {tp: OffsetAndMetadata(pos, f"st={self.stream_time}", -1) for tp, pos in self.positions.items()}

    # -- processing -----------------------------------------------------------------------------
    def add_records(self, tp: TopicPartition, records: list) -> None:
        self.queues[tp].extend(records)

    def buffered(self) -> int:
        return sum(len(q) for q in self.queues.values())

    def send(self, topic: str, key: Any, value: Any, ts: int) -> None:
        if self.send_fn is not None:
            self.send_fn(topic, key, value, ts)

    def process_one(self) -> bool:
        """Process the queued record with the smallest timestamp; False if nothing is queued."""
        best = None
        for tp, q in self.queues.items():
            if q and (best is None or q[0].timestamp < self.queues[best][0].timestamp):
                best = tp
        if best is None:
            return False
        record = self.queues[best].popleft()
        self.process(best.topic, decode_key(record.key), decode(record.value), record.timestamp, record.offset)
        self.positions[best] = record.offset + 1
        return True

    def process(self, topic: str, key: Any, value: Any, ts: int, offset: int = -1) -> None:
        """One record through the sub-topology: stream time first, then the source node."""
        if ts > self.stream_time:
            self.stream_time = ts
        self.offset = offset
        self.processed += 1
        self._entries[topic](self, key, value, ts)

    def process_batch(self, topic: str, records: Sequence[tuple[Any, Any, int]]) -> None:
        """Decoded ``(key, value, timestamp)`` records of ``topic``, in order: the same as ``process(topic, key,
        value, ts)`` for each (offset -1), in one call, so that a node with a batch loop (the tumbling-window
        aggregation, the stream-table join) runs them without a Python call per record."""
        entry = self._batch_entries.get(topic)
        if entry is None:
            raise TopologyError(f"topic {topic!r} is not a source of this topology (its sources: "
                                f"{sorted(self._batch_entries)}); pass the topic the records were read from")
        entry(self, records)

    def process_all(self) -> int:
        n = 0
        while self.process_one():
            n += 1
        return n

    # -- state -----------------------------------------------------------------------------------
    def load(self, images: dict[str, Any], stream_time: int) -> None:
        """Install restored stores (``{store: {key bytes: value bytes}}`` or, for a versioned store, its
        changelog records) and the committed stream time."""
        for name, image in images.items():
            store = self.stores[name]
            if store.versioned:
                store.load_versions(image)
            else:
                store.load(image)
        self.local = {}
        self.stream_time = max(self.stream_time, stream_time)

    def describe(self) -> str:
        sizes = ", ".join(f"{n}: {len(s)} keys" for n, s in self.stores.items())
        return (f"task {self.id}: stream time {self.stream_time}, positions "
                f"{ {str(tp): p for tp, p in self.positions.items()} }, {sizes}, dropped {self.dropped}")
