"""A test driver: runs a topology in this process, record by record, with no cluster (Kafka's
``TopologyTestDriver``). It is the reference the runs under faults are judged against, and what the tests use
to pin down the semantics on small hand-made inputs.

Records are routed to partitions as the producer would (murmur2 of the key bytes); each (sub-topology,
partition) gets its own :class:`StreamTask`; a repartition topic's records are processed by the downstream
task at once. Inputs of one partition are processed in the order they were piped.
"""
from __future__ import annotations

from collections import namedtuple
from typing import Any

from msglib.log.partitioner import default_partition
from msglib.protocol import TopicPartition
from msglib.streams.stores import encode
from msglib.streams.task import StreamTask, TaskId
from msglib.streams.topology import Topology

Output = namedtuple("Output", ["key", "value", "timestamp"])
_Rec = namedtuple("_Rec", ["key", "value", "timestamp", "offset"])


class TestDriver:
    __test__ = False          # (not a pytest class)

    def __init__(self, topology: Topology, partitions: int = 1) -> None:
        self.topology = topology
        self.partitions = partitions
        self.tasks: dict[TaskId, StreamTask] = {}
        self.outputs: dict[str, list[Output]] = {}
        self.offsets: dict[TopicPartition, int] = {}

    def task(self, topic: str, partition: int) -> StreamTask:
        tid = TaskId(self.topology.subtopology_of(topic), partition)
        if tid not in self.tasks:
            self.tasks[tid] = StreamTask(self.topology, tid, send=self._send)
        return self.tasks[tid]

    def partition_of(self, key: Any) -> int:
        data = encode(key)
        return 0 if data is None else default_partition(data, self.partitions)

    def pipe(self, topic: str, key: Any, value: Any, timestamp: int, partition: int | None = None) -> None:
        """Append one record to ``topic`` and process it (and whatever it causes) now."""
        if not isinstance(timestamp, int) or timestamp < 0:
            raise ValueError(f"timestamp must be an int >= 0 (ms), not {timestamp!r}")
        p = self.partition_of(key) if partition is None else partition
        tp = TopicPartition(topic, p)
        offset = self.offsets.get(tp, 0)
        self.offsets[tp] = offset + 1
        task = self.task(topic, p)
        task.add_records(tp, [_Rec(encode(key), encode(value), timestamp, offset)])
        task.process_all()

    def pipe_all(self, topic: str, records: list[tuple]) -> None:
        for key, value, ts in records:
            self.pipe(topic, key, value, ts)

    def _send(self, topic: str, key: Any, value: Any, ts: int) -> None:
        if topic in self.topology.repartition_topics:
            self.pipe(topic, key, value, ts)
        else:
            self.outputs.setdefault(topic, []).append(Output(key, value, ts))

    def read_output(self, topic: str) -> list[Output]:
        out = self.outputs.get(topic, [])
        self.outputs[topic] = []
        return out

    def store(self, name: str) -> dict:
        """Every task's content of store ``name``, merged."""
        merged: dict = {}
        for task in self.tasks.values():
            if name in task.stores:
                merged.update(task.stores[name].data)
        return merged

    @property
    def dropped(self) -> int:
        return sum(t.dropped for t in self.tasks.values())
