"""Committed offsets (and group metadata) kept in a compacted log, like Kafka's ``__consumer_offsets``.

Every commit appends records to the log; the coordinator's in-memory tables
are only a cache of it. After a coordinator restart, replaying the log gives
the tables back, so no commit that was acknowledged is lost.

Two kinds of record, told apart by their key (JSON here, where Kafka uses a
binary schema)::

    key ["offset", group, topic, partition]  value {"offset", "metadata", "leader_epoch", "commit_timestamp"}
    key ["group", group]                     value {"generation", "protocol", "leader", "members", ...}

A record with a null value (a *tombstone*) deletes its key: expired offsets,
a removed group. The log is compacted (module 02): only the latest record of
each key has to survive, so the log stays as small as the set of live keys.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from msglib.protocol import OffsetAndMetadata, TopicPartition
from msglib.log import Log, LogConfig, Record
from msglib.log.storage import Storage

TOPIC = "__consumer_offsets"


@dataclass(frozen=True)
class CommittedOffset:
    offset: int
    metadata: str
    leader_epoch: int
    commit_timestamp: float  # ms, the coordinator's clock when it was committed

    def as_offset_and_metadata(self) -> OffsetAndMetadata:
        return OffsetAndMetadata(self.offset, self.metadata, self.leader_epoch)


def offset_key(group_id: str, tp: TopicPartition) -> bytes:
    return json.dumps(["offset", group_id, tp.topic, tp.partition]).encode()


def group_key(group_id: str) -> bytes:
    return json.dumps(["group", group_id]).encode()


class OffsetStore:
    """The coordinator's durable state: one compacted log plus the tables rebuilt from it."""

    def __init__(self, storage: Storage | None = None, clock: Callable[[], float] = lambda: 0.0,
                 segment_bytes: int = 100 * 1024 * 1024) -> None:
        config = LogConfig(cleanup_policy="compact", segment_bytes=segment_bytes, delete_retention_ms=0)
        self.clock = clock
        self.log = Log(config=config, storage=storage, clock=clock, topic=TOPIC, partition=0)
        self.offsets: dict[str, dict[TopicPartition, CommittedOffset]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.load()

    # -- reading the log back ---------------------------------------------------------------
    def load(self) -> None:
        """Rebuild the tables from the log (the latest record of each key wins; tombstones delete)."""
        self.offsets, self.groups = {}, {}
        for r in self.log.records():
            key = json.loads(r.key)
            value = None if r.value is None else json.loads(r.value)
            if key[0] == "offset":
                _, group_id, topic, partition = key
                tp = TopicPartition(topic, partition)
                if value is None:
                    self.offsets.get(group_id, {}).pop(tp, None)
                else:
                    self.offsets.setdefault(group_id, {})[tp] = CommittedOffset(**value)
            elif key[0] == "group":
                if value is None:
                    self.groups.pop(key[1], None)
                else:
                    self.groups[key[1]] = value

    # -- writing ----------------------------------------------------------------------------
    def _append(self, records: list[Record]) -> None:
        if records:
            self.log.append(records)

    def commit(self, group_id: str, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        """Append one record per partition, then update the cache (the log first: it is the truth)."""
        now = self.clock()
        entries = {tp: CommittedOffset(int(om.offset), om.metadata or "", int(om.leader_epoch), now)
                   for tp, om in offsets.items()}
        self._append([Record(offset_key(group_id, tp), json.dumps(c.__dict__).encode(), int(now))
                      for tp, c in sorted(entries.items())])
        self.offsets.setdefault(group_id, {}).update(entries)

    def delete_offsets(self, group_id: str, tps: Iterable[TopicPartition]) -> None:
        tps = sorted(set(tps) & set(self.offsets.get(group_id, {})))
        self._append([Record(offset_key(group_id, tp), None, int(self.clock())) for tp in tps])
        for tp in tps:
            del self.offsets[group_id][tp]
        if group_id in self.offsets and not self.offsets[group_id]:
            del self.offsets[group_id]

    def store_group(self, group_id: str, metadata: dict[str, Any]) -> None:
        self._append([Record(group_key(group_id), json.dumps(metadata).encode(), int(self.clock()))])
        self.groups[group_id] = metadata

    def delete_group(self, group_id: str) -> None:
        if group_id in self.groups:
            self._append([Record(group_key(group_id), None, int(self.clock()))])
            del self.groups[group_id]

    def maybe_compact(self) -> None:
        """Compact once half the bytes of the closed segments are overwritten records."""
        if len(self.log.segments) > 1 and self.log.dirty_ratio() >= 0.5:
            self.log.compact()

    # -- reading ----------------------------------------------------------------------------
    def committed(self, group_id: str, tp: TopicPartition) -> CommittedOffset | None:
        return self.offsets.get(group_id, {}).get(tp)

    def group_offsets(self, group_id: str) -> dict[TopicPartition, CommittedOffset]:
        return dict(self.offsets.get(group_id, {}))
