"""Consumer lag: how many records a group still has to consume.

Per partition, ``lag = end offset - committed offset``: the end offset is the
high-water mark (the last record consumers may read, + 1); the committed
offset is the next record the group will process. Two edge cases decide
whether a lag number can be trusted:

* nothing committed yet: every record still in the log is unconsumed, so the
  lag is ``end - log_start_offset`` (not ``end - 0``: retention may have
  deleted the oldest records, and those can never be consumed);
* a committed offset below the log start (the group was away longer than
  the retention): the same, ``end - log_start_offset``.

A lag that grows without bound means the group cannot keep up (add members,
up to one per partition); a lag stuck above zero on one partition while the
others drain means its consumer is stuck or dead. ``kafka-consumer-groups.sh
--describe`` shows exactly these numbers.

(The consumer's own ``records-lag`` metric is ``high-water mark - position``:
the same idea, measured at the consumer before it commits.)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from msglib.groups.policies import consumer_lag
from msglib.protocol import TopicPartition

LagFn = Callable[[int | None, int, int], int]


def partition_view(source: Any, tp: TopicPartition) -> tuple[int, int]:
    """``(log_start_offset, end_offset)`` of a partition, read on the broker (what ListOffsets answers)."""
    if hasattr(source, "topics"):           # a LocalBroker: one replica, the end is the log end
        log = source.topics[tp.topic].partitions[tp.partition]
        return log.log_start_offset, log.log_end_offset
    leader = source.leader(tp.topic, tp.partition)     # a Cluster: the leader's high-water mark
    part = source.replica(leader, tp.topic, tp.partition) if leader is not None else None
    if part is None:
        return 0, 0
    return part.log.log_start_offset, part.high_watermark


@dataclass
class LagMonitor:
    """Samples a group's lag every ``interval_ms`` of simulated time, with ``lag_fn`` (a seam).

    ``series[tp]`` is a list of ``(time_ms, lag)``; :meth:`total` sums partitions.
    """

    source: Any                      # a LocalBroker or a Cluster
    coordinator: Any                 # the GroupCoordinator (committed offsets)
    group_id: str
    partitions: list[TopicPartition]
    interval_ms: float = 50.0
    lag_fn: LagFn = consumer_lag
    series: dict[TopicPartition, list[tuple[float, int]]] = field(default_factory=dict)

    def start(self) -> "LagMonitor":
        self.source.sim.schedule(0.0, self._tick)
        self._running = True
        return self

    def stop(self) -> None:
        self._running = False

    def sample(self) -> dict[TopicPartition, int]:
        now = self.source.sim.now
        out = {}
        for tp in self.partitions:
            start, end = partition_view(self.source, tp)
            committed = self.coordinator.committed(self.group_id, tp) if self.coordinator.alive else None
            out[tp] = self.lag_fn(committed, start, end)
            self.series.setdefault(tp, []).append((now, out[tp]))
        return out

    def _tick(self) -> None:
        if not getattr(self, "_running", False):
            return
        self.sample()
        self.source.sim.schedule(self.interval_ms, self._tick)

    def total(self) -> list[tuple[float, int]]:
        if not self.series:
            return []
        columns = list(self.series.values())
        return [(columns[0][i][0], sum(col[i][1] for col in columns)) for i in range(len(columns[0]))]
