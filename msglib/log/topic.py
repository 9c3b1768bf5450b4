"""Topic: N partitions, each its own :class:`Log`, and a partitioner to choose among them.

Order exists only *within* a partition. Records with the same key land in
the same partition (see ``partitioner.py``), so they keep their order.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .config import LogConfig
from .errors import InvalidArgumentError, RecordTypeError
from .log import FetchData, Log
from .partitioner import DefaultPartitioner, RoundRobinPartitioner
from .records import Record


@dataclass(frozen=True)
class RecordMetadata:
    """Where a sent record landed (the shape of kafka-python's RecordMetadata)."""

    topic: str
    partition: int
    offset: int
    timestamp: int


class Topic:
    """A named set of partitions: ``Topic("orders", 3)`` in memory, or ``Topic(..., directory=...)``.

    On disk each partition is the directory ``<directory>/<topic>-<partition>``.
    Keys and values must be bytes unless a ``key_serializer`` /
    ``value_serializer`` turns them into bytes. Raises :class:`InvalidArgumentError`
    for a name or a partition count it cannot use, and what :class:`Log` raises.
    """

    def __init__(self, name: str, num_partitions: int = 1, *, directory: str | None = None,
                 config: LogConfig | None = None, partitioner: Callable[..., int] | None = None,
                 clock: Callable[[], float] | None = None,
                 key_serializer: Callable[[Any], bytes] | None = None,
                 value_serializer: Callable[[Any], bytes] | None = None, seed: int = 0,
                 **log_options: Any) -> None:
        if isinstance(num_partitions, bool) or not isinstance(num_partitions, int) or num_partitions < 1:
            raise InvalidArgumentError("num_partitions", num_partitions, "an int >= 1 (a topic needs a partition)")
        if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (".", ".."):
            raise InvalidArgumentError("topic name", name, "a non-empty str without '/' or '\\', not '.' or "
                                       "'..' (it names the partitions' folders), e.g. 'orders'")
        self.name = name
        self.config = config or LogConfig()
        self.partitioner = partitioner or DefaultPartitioner(seed=seed)
        self.key_serializer = key_serializer
        self.value_serializer = value_serializer
        self.partitions: list[Log] = [
            Log(directory=os.path.join(directory, f"{name}-{p}") if directory else None, config=self.config,
                clock=clock, topic=name, partition=p, **log_options)
            for p in range(num_partitions)
        ]

    @property
    def num_partitions(self) -> int:
        return len(self.partitions)

    def _to_bytes(self, field: str, obj: Any, serializer: Callable[[Any], bytes] | None) -> bytes | None:
        if obj is None:
            return None
        if serializer is not None:
            obj = serializer(obj)
        if isinstance(obj, (bytearray, memoryview)):
            obj = bytes(obj)
        if not isinstance(obj, bytes):
            raise RecordTypeError(field, obj)
        return obj

    def partition_for(self, key: bytes | None, size: int = 0) -> int:
        """The partition the partitioner chooses for ``key`` (already serialized).

        Raises :class:`InvalidArgumentError` when the partitioner returns anything but an int in range.
        """
        if isinstance(self.partitioner, (DefaultPartitioner, RoundRobinPartitioner)):
            p = self.partitioner(key, self.num_partitions, size)
        else:
            p = self.partitioner(key, self.num_partitions)
        if isinstance(p, bool) or not isinstance(p, int) or not 0 <= p < self.num_partitions:
            raise InvalidArgumentError("partition", p, message=f"the partitioner returned {p!r} for key {key!r}; "
                                       f"it must be an int in 0..{self.num_partitions - 1}")
        return p

    def send(self, value: Any = None, key: Any = None, *, partition: int | None = None,
             headers: Sequence[tuple[str, bytes | None]] = (), timestamp: int | None = None) -> RecordMetadata:
        """Append one record to the partition its key (or ``partition=``) picks.

        Raises :class:`RecordTypeError` for a key or value that is not bytes after its serializer,
        :class:`InvalidArgumentError` for a partition that does not exist or a bad timestamp or
        header, and what :meth:`Log.append` raises.
        """
        k = self._to_bytes("key", key, self.key_serializer)
        v = self._to_bytes("value", value, self.value_serializer)
        if partition is None:
            partition = self.partition_for(k, len(v or b"") + len(k or b""))
        else:
            self._check_partition(partition)
        log = self.partitions[partition]
        info = log.append([Record(k, v, timestamp, tuple(headers))])
        return RecordMetadata(self.name, partition, info.first_offset, info.max_timestamp)

    def read(self, partition: int, offset: int, max_bytes: int = 1_048_576) -> FetchData:
        """Read one partition (see :meth:`Log.read`, whose errors it raises; and
        :class:`InvalidArgumentError` for a partition that does not exist)."""
        self._check_partition(partition)
        return self.partitions[partition].read(offset, max_bytes)

    def _check_partition(self, partition: Any) -> None:
        if isinstance(partition, bool) or not isinstance(partition, int) or \
                not 0 <= partition < self.num_partitions:
            raise InvalidArgumentError("partition", partition, message=f"partition {partition!r} does not exist; "
                                       f"topic {self.name!r} has partitions 0..{self.num_partitions - 1}")

    def end_offsets(self) -> list[int]:
        return [log.log_end_offset for log in self.partitions]

    def close(self) -> None:
        for log in self.partitions:
            log.close()

    def __getitem__(self, partition: int) -> Log:
        return self.partitions[partition]

    def __repr__(self) -> str:
        return f"Topic({self.name!r}, {self.num_partitions} partitions, end offsets {self.end_offsets()})"
